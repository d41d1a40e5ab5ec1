package promrw

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// Workload W1 (tools/src/workload.rs): 10,000 series of 8 labels, rounds 1 s apart.
const (
	w1Series = 10_000
	w1StepMs = 1_000
)

// w1Labels returns the label set of W1 series i, as tools/src/workload.rs builds it.
func w1Labels(i int) map[string]string {
	methods := [...]string{"GET", "POST", "PUT", "DELETE"}
	codes := [...]string{"200", "201", "404", "500", "503"}
	regions := [...]string{"eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"}
	return map[string]string{
		"__name__":  fmt.Sprintf("http_server_requests_metric_%03d_total", i%100),
		"job":       fmt.Sprintf("payments-api-%d", i%7),
		"instance":  fmt.Sprintf("10.%d.%d.%d:9100", (i/65536)%256, (i/256)%256, i%256),
		"region":    regions[i%len(regions)],
		"pod":       fmt.Sprintf("payments-api-deployment-7d9f8c6b5-%05d", i/5),
		"container": fmt.Sprintf("payments-container-%d", i%3),
		"method":    methods[i%len(methods)],
		"code":      codes[i%len(codes)],
	}
}

// w1Value is the value of series i at a round (tools/src/workload.rs).
func w1Value(i, round int) float64 { return float64(i)*0.5 + float64(round)*3.0 }

// threadCPU returns the CPU time used by the calling OS thread (CLOCK_THREAD_CPUTIME_ID).
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// processCPU returns user + system time of the whole process (all threads).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSender starts a sink and a sender configured as examples-c/bench.c (1 shard, capacity
// 100,000, 2,000 samples per request, block policy) and registers W1's series, untimed.
func benchSender(b *testing.B) (*testSink, *Sender, []SeriesRef) {
	b.Helper()
	sink := startSink(b)
	s, err := New(testConfig(sink.url, "capacity: 100000", "max_samples_per_send: 2000", "min_shards: 1",
		"max_shards: 1", "overflow: block", "batch_send_deadline: 5s"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(time.Minute) })
	refs := make([]SeriesRef, w1Series)
	for i := range refs {
		if refs[i], err = s.Series(w1Labels(i)); err != nil {
			b.Fatal(err)
		}
	}
	return sink, s, refs
}

// BenchmarkAppendBatch appends W1 rounds with AppendBatch: one op is one round, a batch of
// 10,000 samples (one per series). Run it with -benchtime 100x to push exactly W1 (100
// rounds, 1,000,000 samples):
//
//	go test -run '^$' -bench AppendBatch -benchtime 100x
//
// Metrics, over the AppendBatch calls only (filling the batch is not counted):
//
//	ns/sample            CPU time of the calling thread per sample: the caller-side cost
//	                     (time blocked waiting for queue room is not CPU time)
//	wall-ns/sample       wall time of the calls per sample; it includes waiting for room in
//	                     the queue (the block policy), so it follows the pipeline's throughput
//	baseline-ns/sample   the same calls to a trivial C function that reads every sample: the
//	                     cost of cgo and of one pass over the batch
//	proc-cpu-ns/sample   CPU of the whole process (all threads: encoding, compression, HTTP,
//	                     Go runtime) per sample, from the first call to the end of a flush
//	blocked-appends      appends that waited for queue room (Stats.EnqueueRetries)
func BenchmarkAppendBatch(b *testing.B) {
	sink, s, refs := benchSender(b)
	batch := make([]Sample, len(refs))
	t0 := time.Now().UnixMilli() - int64(b.N+1)*w1StepMs
	fill := func(round int) {
		for i, ref := range refs {
			batch[i] = Sample{Series: ref, TimestampMs: t0 + int64(round)*w1StepMs, Value: w1Value(i, round)}
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// Baseline: a cgo call that reads the batch, same loop.
	var baseCPU time.Duration
	var sum uint64
	for r := 0; r < b.N; r++ {
		fill(r)
		c0 := threadCPU()
		sum += baselineBatch(batch)
		baseCPU += threadCPU() - c0
	}
	if sum == 42 {
		b.Log("unlikely")
	}

	retriesBefore := s.Stats().EnqueueRetries
	var callCPU, callWall time.Duration
	proc0 := processCPU()
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		fill(r)
		w0, c0 := time.Now(), threadCPU()
		n, err := s.AppendBatch(batch)
		callCPU += threadCPU() - c0
		callWall += time.Since(w0)
		if err != nil || n != len(batch) {
			b.Fatalf("AppendBatch: %d of %d, %v", n, len(batch), err)
		}
	}
	if err := s.Flush(5 * time.Minute); err != nil {
		b.Fatalf("Flush: %v", err)
	}
	procCPU := processCPU() - proc0
	b.StopTimer()

	samples := float64(b.N * len(batch))
	b.ReportMetric(float64(callCPU.Nanoseconds())/samples, "ns/sample")
	b.ReportMetric(float64(callWall.Nanoseconds())/samples, "wall-ns/sample")
	b.ReportMetric(float64(baseCPU.Nanoseconds())/samples, "baseline-ns/sample")
	b.ReportMetric(float64(procCPU.Nanoseconds())/samples, "proc-cpu-ns/sample")
	st := s.Stats()
	b.ReportMetric(float64(st.EnqueueRetries-retriesBefore), "blocked-appends")
	want := uint64(b.N * len(batch))
	if st.SamplesAppended != want || st.SamplesAcked != want || st.SamplesFailed != 0 {
		b.Fatalf("stats after flush: %+v, want %d appended and sent", st, want)
	}
	sink.expectTotal(b, want)
}

// BenchmarkAppend is BenchmarkAppendBatch with one Append call per sample (10,000 calls per
// op), for comparison: each call pays the cgo transition. Metrics as BenchmarkAppendBatch.
func BenchmarkAppend(b *testing.B) {
	sink, s, refs := benchSender(b)
	t0 := time.Now().UnixMilli() - int64(b.N+1)*w1StepMs
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	retriesBefore := s.Stats().EnqueueRetries
	var callCPU, callWall time.Duration
	proc0 := processCPU()
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		ts := t0 + int64(r)*w1StepMs
		w0, c0 := time.Now(), threadCPU()
		for i, ref := range refs {
			if err := s.Append(ref, ts, w1Value(i, r)); err != nil {
				b.Fatalf("Append: %v", err)
			}
		}
		callCPU += threadCPU() - c0
		callWall += time.Since(w0)
	}
	if err := s.Flush(5 * time.Minute); err != nil {
		b.Fatalf("Flush: %v", err)
	}
	procCPU := processCPU() - proc0
	b.StopTimer()
	samples := float64(b.N * len(refs))
	b.ReportMetric(float64(callCPU.Nanoseconds())/samples, "ns/sample")
	b.ReportMetric(float64(callWall.Nanoseconds())/samples, "wall-ns/sample")
	b.ReportMetric(float64(procCPU.Nanoseconds())/samples, "proc-cpu-ns/sample")
	st := s.Stats()
	b.ReportMetric(float64(st.EnqueueRetries-retriesBefore), "blocked-appends")
	want := uint64(b.N * len(refs))
	if st.SamplesAppended != want || st.SamplesAcked != want || st.SamplesFailed != 0 {
		b.Fatalf("stats after flush: %+v, want %d appended and sent", st, want)
	}
	sink.expectTotal(b, want)
}
