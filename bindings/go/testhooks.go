package promrw

// #include "promrw_cgo.h"
//
// // The baseline of BenchmarkAppendBatch: a C function with append_batch's arguments that
// // reads every sample, so the benchmark can show what a cgo call and a pass over the
// // batch cost by themselves.
// static uint64_t promrw_go_baseline_batch(const promrw_sample *samples, size_t n)
// {
//     uint64_t sum = 0;
//     size_t i;
//     for (i = 0; i < n; i++)
//         sum += samples[i].series + (uint64_t)samples[i].timestamp_ms;
//     return sum;
// }
import "C"

import "unsafe"

// Hooks for this package's tests and benchmarks (test files cannot use cgo). The one that
// needs the library's test-only exports is in testhooks_panic.go (build tag
// promrw_test_hooks).

// baselineBatch passes a batch to a trivial C function, as AppendBatch passes it to the
// library.
func baselineBatch(samples []Sample) uint64 {
	if len(samples) == 0 {
		return 0
	}
	return uint64(C.promrw_go_baseline_batch((*C.promrw_sample)(unsafe.Pointer(&samples[0])), C.size_t(len(samples))))
}
