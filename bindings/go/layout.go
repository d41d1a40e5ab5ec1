package promrw

// #include "promrw_cgo.h"
import "C"

import "unsafe"

// Compile-time checks that Sample has the layout of promrw_sample (size, and each field's
// offset and size) and SeriesRef the size of promrw_series_ref, which AppendBatch and
// AppendColumns rely on to pass Go slices to the library without a copy. Each check comes
// in a pair (a-b and b-a): a mismatch makes one of the two array lengths negative, and the
// package does not compile.
var (
	_ [unsafe.Sizeof(Sample{}) - uintptr(C.sizeof_promrw_sample)]struct{}
	_ [uintptr(C.sizeof_promrw_sample) - unsafe.Sizeof(Sample{})]struct{}
	_ [unsafe.Offsetof(Sample{}.Series) - unsafe.Offsetof(C.promrw_sample{}.series)]struct{}
	_ [unsafe.Offsetof(C.promrw_sample{}.series) - unsafe.Offsetof(Sample{}.Series)]struct{}
	_ [unsafe.Offsetof(Sample{}.TimestampMs) - unsafe.Offsetof(C.promrw_sample{}.timestamp_ms)]struct{}
	_ [unsafe.Offsetof(C.promrw_sample{}.timestamp_ms) - unsafe.Offsetof(Sample{}.TimestampMs)]struct{}
	_ [unsafe.Offsetof(Sample{}.Value) - unsafe.Offsetof(C.promrw_sample{}.value)]struct{}
	_ [unsafe.Offsetof(C.promrw_sample{}.value) - unsafe.Offsetof(Sample{}.Value)]struct{}
	_ [unsafe.Sizeof(Sample{}.Series) - unsafe.Sizeof(C.promrw_sample{}.series)]struct{}
	_ [unsafe.Sizeof(C.promrw_sample{}.series) - unsafe.Sizeof(Sample{}.Series)]struct{}
	_ [unsafe.Sizeof(Sample{}.TimestampMs) - unsafe.Sizeof(C.promrw_sample{}.timestamp_ms)]struct{}
	_ [unsafe.Sizeof(C.promrw_sample{}.timestamp_ms) - unsafe.Sizeof(Sample{}.TimestampMs)]struct{}
	_ [unsafe.Sizeof(Sample{}.Value) - unsafe.Sizeof(C.promrw_sample{}.value)]struct{}
	_ [unsafe.Sizeof(C.promrw_sample{}.value) - unsafe.Sizeof(Sample{}.Value)]struct{}
	_ [unsafe.Sizeof(SeriesRef(0)) - unsafe.Sizeof(C.promrw_series_ref(0))]struct{}
	_ [unsafe.Sizeof(C.promrw_series_ref(0)) - unsafe.Sizeof(SeriesRef(0))]struct{}
	_ [unsafe.Sizeof(BucketSpan{}) - uintptr(C.sizeof_promrw_bucket_span)]struct{}
	_ [uintptr(C.sizeof_promrw_bucket_span) - unsafe.Sizeof(BucketSpan{})]struct{}
	_ [unsafe.Offsetof(BucketSpan{}.Length) - unsafe.Offsetof(C.promrw_bucket_span{}.length)]struct{}
	_ [unsafe.Offsetof(C.promrw_bucket_span{}.length) - unsafe.Offsetof(BucketSpan{}.Length)]struct{}
	_ [unsafe.Sizeof(int64(0)) - unsafe.Sizeof(C.int64_t(0))]struct{}
	_ [unsafe.Sizeof(float64(0)) - unsafe.Sizeof(C.double(0))]struct{}
)

// layoutInfo reports the sizes and offsets the checks above compare, for the layout test
// (test files cannot use cgo).
type layoutInfo struct {
	goSize, cSize                        uintptr
	goOffsets, cOffsets                  [3]uintptr
	goRefSize, cRefSize, cAlign, goAlign uintptr
}

func sampleLayout() layoutInfo {
	var g Sample
	var c C.promrw_sample
	return layoutInfo{
		goSize:    unsafe.Sizeof(g),
		cSize:     uintptr(C.sizeof_promrw_sample),
		goOffsets: [3]uintptr{unsafe.Offsetof(g.Series), unsafe.Offsetof(g.TimestampMs), unsafe.Offsetof(g.Value)},
		cOffsets:  [3]uintptr{unsafe.Offsetof(c.series), unsafe.Offsetof(c.timestamp_ms), unsafe.Offsetof(c.value)},
		goRefSize: unsafe.Sizeof(SeriesRef(0)),
		cRefSize:  unsafe.Sizeof(C.promrw_series_ref(0)),
		goAlign:   unsafe.Alignof(g),
		cAlign:    unsafe.Alignof(c),
	}
}
