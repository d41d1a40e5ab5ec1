package bridge

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	promrw "github.com/promrw/promrw/bindings/go"
)

// benchRegistry is the Python bridge benchmark's registry (bindings/python/bench/
// bench_bridge.py) scaled by n/10,000: for n = 10,000, 4,000 counter children, 4,000 gauge
// children, 187 histogram children of 5 buckets (8 series each) and 250 summary children
// without quantiles (2 series each): 9,996 series. With exemplars, every counter child and
// every histogram carries one (on a bucket). It returns the registry and its series count.
func benchRegistry(n int, exemplars bool) (*prometheus.Registry, int) {
	reg := prometheus.NewRegistry()
	counters := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bench_requests_total", Help: "Requests."}, []string{"id"})
	gauges := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bench_temperature", Help: "Temperature."}, []string{"id"})
	hists := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bench_latency_seconds", Help: "Latency.",
		Buckets: []float64{0.01, 0.1, 1, 10, 100}}, []string{"id"})
	sums := prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "bench_size_bytes", Help: "Sizes."}, []string{"id"})
	reg.MustRegister(counters, gauges, hists, sums)
	series := 0
	for i := 0; i < n*4/10; i++ {
		id := fmt.Sprintf("%05d", i)
		c := counters.WithLabelValues(id)
		if exemplars {
			c.(prometheus.ExemplarAdder).AddWithExemplar(float64(i), prometheus.Labels{"trace_id": id})
		} else {
			c.Add(float64(i))
		}
		gauges.WithLabelValues(id).Set(float64(i) / 2)
		series += 2
	}
	for i := 0; i < n*187/10_000; i++ {
		h := hists.WithLabelValues(fmt.Sprintf("%05d", i))
		for j := 0; j < 10; j++ {
			h.Observe(float64(j) * 0.37)
		}
		if exemplars {
			h.(prometheus.ExemplarObserver).ObserveWithExemplar(0.5, prometheus.Labels{"trace_id": "x"})
		}
		series += 8
	}
	for i := 0; i < n/40; i++ {
		sums.WithLabelValues(fmt.Sprintf("%05d", i)).Observe(float64(i))
		series += 2
	}
	return reg, series
}

// benchConfig: one shard, room for many collections between flushes.
func benchConfig(url string) string {
	return "remote_write:\n  - url: " + url + "\n    queue_config:\n      capacity: 1000000\n" +
		"      max_shards: 1\n      min_shards: 1\n      max_samples_per_send: 5000\n      batch_send_deadline: 50ms\n"
}

// BenchmarkBridge measures, on the same registry in the same run, Gather() alone (the
// baseline: what client_golang spends producing the samples), the bridge's conversion of a
// pre-gathered registry (its own cost, steady state: every series cached) and Push (both).
// Figures per collected sample: ns/sample (wall time of the calling goroutine) and
// allocs/sample; the sender flushes to `promrw sink` between rounds, untimed.
func BenchmarkBridge(b *testing.B) {
	sink := startQuietSink(b)
	s := newSender(b, benchConfig(sink.url))
	for _, ex := range []bool{false, true} {
		reg, series := benchRegistry(10_000, ex)
		families, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		c := mustNew(b, reg, s, WithLogger(b.Fatalf))
		if _, err := c.PushFamilies(families, 0); err != nil { // registration, not measured
			b.Fatal(err)
		}
		flush(b, s)
		suffix := ""
		if ex {
			suffix = "/exemplars"
		}
		round := func(b *testing.B, op func() int) {
			var before, after runtime.MemStats
			var mallocs uint64
			var elapsed time.Duration
			samples := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				start := time.Now()
				samples += op()
				elapsed += time.Since(start)
				b.StopTimer()
				runtime.ReadMemStats(&after)
				mallocs += after.Mallocs - before.Mallocs
				flush(b, s)
				b.StartTimer()
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(samples), "ns/sample")
			b.ReportMetric(float64(mallocs)/float64(samples), "allocs/sample")
		}
		b.Run("gather"+suffix, func(b *testing.B) {
			round(b, func() int {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
				return series
			})
		})
		b.Run("convert"+suffix, func(b *testing.B) {
			round(b, func() int {
				res, err := c.PushFamilies(families, 0)
				if err != nil || res.Samples != series || res.Registered != 0 {
					b.Fatalf("PushFamilies: %+v, %v", res, err)
				}
				return series
			})
		})
		b.Run("push"+suffix, func(b *testing.B) {
			round(b, func() int {
				res, err := c.Push()
				if err != nil || res.Samples != series || res.Registered != 0 {
					b.Fatalf("Push: %+v, %v", res, err)
				}
				return series
			})
		})
	}
}

// steadyAllocs returns the Go allocations of one steady-state conversion of families (after
// two collections: every series cached).
func steadyAllocs(t *testing.T, c *Collector, families []*dto.MetricFamily, want int) float64 {
	t.Helper()
	for i := 0; i < 2; i++ {
		if _, err := c.PushFamilies(families, 0); err != nil {
			t.Fatal(err)
		}
	}
	return testing.AllocsPerRun(20, func() {
		res, err := c.PushFamilies(families, 0)
		if err != nil || res.Samples != want || res.Registered != 0 || res.Refused != 0 {
			t.Fatalf("PushFamilies: %+v, %v", res, err)
		}
	})
}

func TestSteadyStateAllocatesNothingPerSample(t *testing.T) {
	sink := startQuietSink(t)
	s := newSender(t, benchConfig(sink.url))
	var per [2]float64
	var sizes [2]int
	for i, n := range []int{400, 4000} {
		reg, series := benchRegistry(n, false)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		per[i] = steadyAllocs(t, mustNew(t, reg, s, WithLogger(t.Fatalf)), families, series)
		sizes[i] = series
		flush(t, s)
	}
	// The same small number of allocations per collection (at most 2: the binding's batch
	// call), whatever the number of samples.
	if per[0] != per[1] || per[1] > 2 {
		t.Errorf("Go allocations per steady-state collection: %v for %d samples, %v for %d; want the same, at most 2",
			per[0], sizes[0], per[1], sizes[1])
	}
	t.Logf("allocations per collection: %v (%d samples), %v (%d samples)", per[0], sizes[0], per[1], sizes[1])

	// Samples with an exemplar take one call each: the bridge adds nothing to what the
	// binding's AppendWithExemplar costs.
	reg, series := benchRegistry(400, true)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	withEx := steadyAllocs(t, mustNew(t, reg, s, WithLogger(t.Fatalf)), families, series)
	t.Logf("with exemplars: %v allocations per collection of %d samples", withEx, series)
	exemplarSamples := 400*4/10 + 400*187/10_000
	if withEx > per[0]+float64(exemplarSamples)*bindingExemplarAllocs(t, s) {
		t.Errorf("with exemplars: %v allocations per collection, more than %v + %d samples x the binding's own",
			withEx, per[0], exemplarSamples)
	}
}

// bindingExemplarAllocs is what one AppendWithExemplar call of the binding allocates.
func bindingExemplarAllocs(t *testing.T, s *promrw.Sender) float64 {
	t.Helper()
	ref, err := s.SeriesLabels([]promrw.Label{{Name: "__name__", Value: "bridge_alloc_probe_total"}, {Name: "run", Value: runLabel}})
	if err != nil {
		t.Fatal(err)
	}
	ex := &promrw.Exemplar{Labels: []promrw.Label{{Name: "trace_id", Value: "abc"}}, Value: 1}
	ts := time.Now().UnixMilli() - 60_000
	allocs := testing.AllocsPerRun(100, func() {
		ts++
		if err := s.AppendWithExemplar(ref, ts, 0, 1, ex); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("the binding's AppendWithExemplar: %v allocations per call", allocs)
	return allocs
}
