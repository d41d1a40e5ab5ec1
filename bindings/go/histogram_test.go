package promrw

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// intHistogram is a valid integer histogram: 1 + 2 + 1 in the positive buckets, 1 in the
// zero bucket.
func intHistogram() *Histogram {
	return &Histogram{
		Schema:         0,
		ZeroThreshold:  0.001,
		Sum:            10.5,
		Count:          5,
		ZeroCount:      1,
		PositiveSpans:  []BucketSpan{{0, 2}, {1, 1}},
		PositiveDeltas: []int64{1, 1, -1},
		ResetHint:      ResetHintNo,
	}
}

// floatHistogram is a valid float histogram.
func floatHistogram() *Histogram {
	return &Histogram{
		Schema:         3,
		Sum:            3.75,
		Float:          true,
		CountFloat:     7,
		ZeroCountFloat: 0.5,
		PositiveSpans:  []BucketSpan{{-1, 2}},
		PositiveCounts: []float64{2, 4.5},
		ResetHint:      ResetHintGauge,
	}
}

func TestHistogramValidation(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, testConfig(sink.url))
	ref := mustSeries(t, s, map[string]string{"__name__": "go_hist", "run": runLabel})
	t0 := nowMs()

	expectCode(t, "nil histogram", s.AppendHistogram(ref, t0, nil, 0, nil), CodeInvalidArgument, ErrInvalidArgument, "histogram is nil")
	bad := []struct {
		what   string
		h      *Histogram
		needle string
	}{
		{"spans against buckets", &Histogram{Count: 1, PositiveSpans: []BucketSpan{{0, 2}}, PositiveDeltas: []int64{1}}, "histogram: "},
		{"schema", &Histogram{Schema: 9}, "histogram: "},
		{"count against buckets", func() *Histogram { h := intHistogram(); h.Count = 9; return h }(), "histogram: "},
		{"deltas on a float histogram", &Histogram{Float: true, PositiveDeltas: []int64{1}}, "histogram.positive_deltas has 1 elements but kind is PROMRW_HISTOGRAM_FLOAT"},
		{"counts on an integer histogram", &Histogram{NegativeCounts: []float64{1}}, "histogram.negative_counts"},
		{"reset hint", &Histogram{ResetHint: 4}, "histogram.reset_hint is 4"},
	}
	for _, c := range bad {
		expectCode(t, c.what, s.AppendHistogram(ref, t0, c.h, 0, nil), CodeInvalidArgument, ErrInvalidArgument, c.needle)
	}
	expectCode(t, "start after the timestamp", s.AppendHistogram(ref, t0, intHistogram(), t0+1, nil), CodeInvalidArgument, ErrInvalidArgument, "start timestamp")
	long := &Exemplar{Labels: []Label{{"trace_id", strings.Repeat("é", 121)}}, Value: 1}
	expectCode(t, "exemplar over 128 runes", s.AppendHistogram(ref, t0, intHistogram(), 0, long), CodeInvalidLabels, ErrInvalidLabels, "128")
	expectCode(t, "exemplar over 128 runes on a sample", s.AppendWithExemplar(ref, t0, 0, 1, long), CodeInvalidLabels, ErrInvalidLabels, "128")
	expectCode(t, "exemplar label not UTF-8", s.AppendWithExemplar(ref, t0, 0, 1, &Exemplar{Labels: []Label{{"trace_id", "\xc3\x28"}}}), CodeInvalidArgument, ErrInvalidArgument, "exemplar.labels[0].value", "UTF-8")
	expectCode(t, "sample start after the timestamp", s.AppendWithStart(ref, t0, t0+1, 1), CodeInvalidArgument, ErrInvalidArgument, "start timestamp")
	expectCode(t, "unknown series", s.AppendHistogram(987654321, t0, intHistogram(), 0, nil), CodeUnknownSeries, ErrUnknownSeries)

	expectCode(t, "unknown metric type", s.SetMetadata(ref, 8, "", ""), CodeInvalidArgument, ErrInvalidArgument, "metric_type is 8")
	expectCode(t, "help not UTF-8", s.SetMetadata(ref, MetricTypeGauge, "\xff", ""), CodeInvalidArgument, ErrInvalidArgument, "help is not valid UTF-8")
	expectCode(t, "metadata of an unknown series", s.SetMetadata(987654321, MetricTypeGauge, "", ""), CodeUnknownSeries, ErrUnknownSeries)
	_, err := ParseMetricType("countr")
	expectCode(t, "unknown metric type name", err, CodeInvalidArgument, ErrInvalidArgument, `"countr"`)
	for name, want := range map[string]MetricType{"counter": MetricTypeCounter, "gaugehistogram": MetricTypeGaugeHistogram, "untyped": MetricTypeUnknown} {
		if got, err := ParseMetricType(name); err != nil || got != want {
			t.Errorf("ParseMetricType(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if st := s.Stats(); st.SamplesAppended != 0 {
		t.Errorf("refused appends were counted: SamplesAppended = %d", st.SamplesAppended)
	}

	if err := s.SetMetadata(ref, MetricTypeHistogram, "Latency.", "seconds"); err != nil {
		t.Fatalf("SetMetadata: %v", err)
	}
	if err := s.AppendHistogram(ref, t0, intHistogram(), t0-1000, &Exemplar{Labels: []Label{{"trace_id", "abc"}}, Value: 0.5}); err != nil {
		t.Fatalf("AppendHistogram: %v", err)
	}
	if err := s.AppendHistogram(ref, t0+1, floatHistogram(), 0, nil); err != nil {
		t.Fatalf("AppendHistogram (float): %v", err)
	}
	if err := s.AppendStaleHistogram(ref, t0+2); err != nil {
		t.Fatalf("AppendStaleHistogram: %v", err)
	}
	if err := s.Close(5 * time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	expectCode(t, "histogram after close", s.AppendHistogram(ref, t0+3, intHistogram(), 0, nil), CodeClosed, ErrClosed)
	expectCode(t, "metadata after close", s.SetMetadata(ref, MetricTypeGauge, "", ""), CodeClosed, ErrClosed)
}

func TestHistogramStatsOnAnUnconfiguredEndpoint(t *testing.T) {
	// A Remote Write 1.0 endpoint without send_native_histograms / send_exemplars drops them
	// (counted) and still sends the sample an exemplar came with.
	sink := startSink(t)
	s := newSender(t, testConfig(sink.url))
	h := mustSeries(t, s, map[string]string{"__name__": "go_latency_seconds", "run": runLabel})
	c := mustSeries(t, s, map[string]string{"__name__": "go_requests_total", "run": runLabel})
	t0 := nowMs()
	if err := s.AppendHistogram(h, t0, intHistogram(), 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendWithExemplar(c, t0, t0-1000, 1, &Exemplar{Labels: []Label{{"trace_id", "abc"}}, Value: 1, TimestampMs: t0, HasTimestamp: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.SamplesAcked != 1 || st.HistogramsDropped != 1 || st.ExemplarsDropped != 1 || st.HistogramsAcked != 0 {
		t.Errorf("stats: acked %d, histograms dropped %d, exemplars dropped %d, histograms acked %d; want 1, 1, 1, 0",
			st.SamplesAcked, st.HistogramsDropped, st.ExemplarsDropped, st.HistogramsAcked)
	}
	if st.RemoteWriteProtocol != 1 {
		t.Errorf("RemoteWriteProtocol = %d, want 1", st.RemoteWriteProtocol)
	}
}

// bitsHex is a float's bits as the sink prints them.
func bitsHex(v float64) string { return fmt.Sprintf("%016x", math.Float64bits(v)) }

func TestHistogramsReachARemoteWrite2Sink(t *testing.T) {
	sink := startSinkPrintingSamples(t)
	config := "remote_write:\n  - url: " + sink.url + "\n    protobuf_message: io.prometheus.write.v2.Request\n" +
		"    send_exemplars: true\n    queue_config:\n      batch_send_deadline: 50ms\n"
	s := newSender(t, config)
	h := mustSeries(t, s, map[string]string{"__name__": "go_latency_seconds", "run": runLabel})
	c := mustSeries(t, s, map[string]string{"__name__": "go_requests_total", "run": runLabel})
	t0 := nowMs()
	if err := s.SetMetadata(h, MetricTypeHistogram, "Latency.", "seconds"); err != nil {
		t.Fatal(err)
	}
	ex := &Exemplar{Labels: []Label{{"trace_id", "4bf92f3577b34da6"}}, Value: 0.25, TimestampMs: t0 - 3, HasTimestamp: true}
	if err := s.AppendHistogram(h, t0, intHistogram(), t0-60_000, ex); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistogram(h, t0+1, floatHistogram(), 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendWithExemplar(c, t0, t0-60_000, 41, &Exemplar{Labels: []Label{{"trace_id", "a"}}, Value: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.RemoteWriteProtocol != 2 || st.SamplesAcked != 1 || st.HistogramsAcked != 2 || st.ExemplarsAcked != 2 ||
		st.HistogramsDropped != 0 || st.ExemplarsDropped != 0 || st.HistogramsFailed != 0 {
		t.Errorf("stats after a 2.0 flush: %+v", st)
	}
	sink.expectTotal(t, 1)

	hist := `{__name__="go_latency_seconds",run=` + strconv.Quote(runLabel) + `}`
	counter := `{__name__="go_requests_total",run=` + strconv.Quote(runLabel) + `}`
	sink.mu.Lock()
	extras := append([]string(nil), sink.extras...)
	sink.mu.Unlock()
	var histograms []map[string]any
	var others []string
	for _, line := range extras {
		prefix := "histogram " + hist + " "
		if !strings.HasPrefix(line, prefix) {
			others = append(others, line)
			continue
		}
		rest := strings.SplitN(strings.TrimPrefix(line, prefix), " ", 2)
		var body map[string]any
		if err := json.Unmarshal([]byte(rest[1]), &body); err != nil {
			t.Fatalf("histogram line %q: %v", line, err)
		}
		body["timestamp"] = rest[0]
		histograms = append(histograms, body)
	}
	spans := func(pairs ...float64) []any {
		out := []any{}
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, []any{pairs[i], pairs[i+1]})
		}
		return out
	}
	want := []map[string]any{
		{
			"timestamp": strconv.FormatInt(t0, 10), "schema": 0.0, "zero_threshold_bits": bitsHex(0.001),
			"sum_bits": bitsHex(10.5), "count_int": 5.0, "zero_count_int": 1.0,
			"positive_spans": spans(0, 2, 1, 1), "negative_spans": []any{},
			"positive_deltas": []any{1.0, 1.0, -1.0}, "negative_deltas": []any{},
			"positive_counts_bits": []any{}, "negative_counts_bits": []any{},
			"reset_hint": 2.0, "custom_values_bits": []any{}, "start_timestamp": float64(t0 - 60_000),
		},
		{
			"timestamp": strconv.FormatInt(t0+1, 10), "schema": 3.0, "zero_threshold_bits": bitsHex(0),
			"sum_bits": bitsHex(3.75), "count_float_bits": bitsHex(7), "zero_count_float_bits": bitsHex(0.5),
			"positive_spans": spans(-1, 2), "negative_spans": []any{},
			"positive_deltas": []any{}, "negative_deltas": []any{},
			"positive_counts_bits": []any{bitsHex(2), bitsHex(4.5)}, "negative_counts_bits": []any{},
			"reset_hint": 3.0, "custom_values_bits": []any{}, "start_timestamp": 0.0,
		},
	}
	if !reflect.DeepEqual(histograms, want) {
		t.Errorf("histograms received:\n%v\nwant:\n%v", histograms, want)
	}
	sort.Strings(others)
	// A 2.0 series' metadata comes with every request that carries the series: when the
	// appends above were split into two requests (a slow run, e.g. -tags debug), it is
	// printed twice. Each distinct line counts once.
	others = uniqueSorted(others)
	wantOthers := []string{
		fmt.Sprintf(`exemplar %s {trace_id="4bf92f3577b34da6"} %d %s`, hist, t0-3, bitsHex(0.25)),
		fmt.Sprintf(`exemplar %s {trace_id="a"} %d %s`, counter, t0, bitsHex(1)),
		fmt.Sprintf(`series_metadata %s 3 "Latency." "seconds"`, hist),
		// A 2.0 series without metadata set is sent with the unspecified type, no help or unit.
		fmt.Sprintf(`series_metadata %s 0 "" ""`, counter),
	}
	sort.Strings(wantOthers)
	if !reflect.DeepEqual(others, wantOthers) {
		t.Errorf("exemplar and metadata lines:\n%q\nwant:\n%q", others, wantOthers)
	}
}

func TestHistogramAppendsDoNotAllocate(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, testConfig(sink.url, "capacity: 100000", "max_samples_per_send: 1000"))
	ref := mustSeries(t, s, map[string]string{"__name__": "go_hist_allocs", "run": runLabel})
	h := intHistogram()
	ex := &Exemplar{Labels: []Label{{"trace_id", "abc"}}, Value: 1}
	ts := nowMs()
	measure := func(what string, f func() error) float64 {
		t.Helper()
		return testing.AllocsPerRun(200, func() {
			ts++
			if err := f(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		})
	}
	// The baseline is a plain Append: whatever one cgo call of this binding costs (Go 1.19
	// shows one allocation per call in AllocsPerRun even for Append); the histogram and
	// exemplar calls must cost nothing more (no copy of the histogram, no Go-allocated
	// labels or error out-parameter).
	baseline := measure("Append", func() error { return s.Append(ref, ts, 1) })
	if baseline > 1 {
		t.Errorf("Append: %v Go allocations per call, want at most 1", baseline)
	}
	for _, c := range []struct {
		what string
		f    func() error
	}{
		{"AppendHistogram", func() error { return s.AppendHistogram(ref, ts, h, 0, nil) }},
		{"AppendHistogram with an exemplar", func() error { return s.AppendHistogram(ref, ts, h, ts-1, ex) }},
		{"AppendWithExemplar", func() error { return s.AppendWithExemplar(ref, ts, ts-1, 1, ex) }},
	} {
		if allocs := measure(c.what, c.f); allocs > baseline {
			t.Errorf("%s: %v Go allocations per call, more than Append's %v", c.what, allocs, baseline)
		}
	}
}

// uniqueSorted drops the repeats of a sorted slice.
func uniqueSorted(lines []string) []string {
	out := lines[:0]
	for i, l := range lines {
		if i == 0 || l != lines[i-1] {
			out = append(out, l)
		}
	}
	return out
}
