package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	promrw "github.com/promrw/promrw/bindings/go"
)

// staleNaN is Prometheus's stale marker (value.StaleNaN).
const staleNaN = 0x7ff0000000000002

// line is the sink's sample line of the series name{labels} (label pairs, any order; pairs
// with an empty value left out as the library leaves them out) at ts with value v.
func line(name string, ts int64, v float64, labels ...string) string {
	return lineBits(name, ts, math.Float64bits(v), labels...)
}

func lineBits(name string, ts int64, bits uint64, labels ...string) string {
	return fmt.Sprintf("sample %s %d %016x", labelSet(name, labels...), ts, bits)
}

// labelSet is {__name__="name",k="v",...} sorted by name, as the sink prints it.
func labelSet(name string, labels ...string) string {
	pairs := []string{`__name__=` + strconv.Quote(name)}
	for i := 0; i < len(labels); i += 2 {
		if labels[i+1] != "" {
			pairs = append(pairs, labels[i]+"="+strconv.Quote(labels[i+1]))
		}
	}
	sort.Strings(pairs)
	return "{" + strings.Join(pairs, ",") + "}"
}

// collectorFunc is a prometheus.Collector of const metrics (unchecked: no Describe).
type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// recordingLogger collects what the bridge logs.
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recordingLogger) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *recordingLogger) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// mustNew is New or a failed test.
func mustNew(t testing.TB, g prometheus.Gatherer, s *promrw.Sender, opts ...Option) *Collector {
	t.Helper()
	c, err := New(g, s, time.Hour, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mustPush is c.PushAt(ts) or a failed test.
func mustPush(t testing.TB, c *Collector, ts int64) Result {
	t.Helper()
	res, err := c.PushAt(ts)
	if err != nil {
		t.Fatalf("PushAt(%d): %v", ts, err)
	}
	return res
}

// gaugeHistogramFamily is a GAUGE_HISTOGRAM with classic buckets (client_golang makes none
// itself: a Gatherer may).
func gaugeHistogramFamily() *dto.MetricFamily {
	return &dto.MetricFamily{
		Name: proto.String("bt_queue_size"),
		Help: proto.String("Queue size."),
		Type: dto.MetricType_GAUGE_HISTOGRAM.Enum(),
		Metric: []*dto.Metric{{
			Label: []*dto.LabelPair{{Name: proto.String("run"), Value: proto.String(runLabel)}},
			Histogram: &dto.Histogram{
				SampleCount: proto.Uint64(4),
				SampleSum:   proto.Float64(9),
				Bucket: []*dto.Bucket{
					{UpperBound: proto.Float64(1), CumulativeCount: proto.Uint64(1)},
					{UpperBound: proto.Float64(5), CumulativeCount: proto.Uint64(4)},
				},
			},
		}},
	}
}

func TestEveryKindReachesTheSink(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, v2Config(sink.url))
	reg := prometheus.NewRegistry()
	run := prometheus.Labels{"run": runLabel}

	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bt_jobs_total", Help: "Jobs done.", ConstLabels: run}, []string{"kind"})
	jobs.WithLabelValues("a").Add(3)
	jobs.WithLabelValues("b").(prometheus.ExemplarAdder).AddWithExemplar(2, prometheus.Labels{"trace_id": "t1"})
	events := prometheus.NewCounter(prometheus.CounterOpts{Name: "bt_events", Help: "Events.", ConstLabels: run})
	events.Inc()
	temp := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bt_temperature_celsius", Help: "Temperature.", ConstLabels: run},
		[]string{"room", "zone"})
	temp.WithLabelValues("kitchen", "").Set(21.5)
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bt_latency_seconds", Help: "Latency.",
		ConstLabels: run, Buckets: []float64{0.1, 1}})
	observations := []float64{0.05, 0.5, 2}
	sum := 0.0
	for _, v := range observations {
		sum += v
	}
	lat.Observe(observations[0])
	before := time.Now().UnixMilli()
	lat.(prometheus.ExemplarObserver).ObserveWithExemplar(observations[1], prometheus.Labels{"trace_id": "t2"})
	after := time.Now().UnixMilli()
	lat.Observe(observations[2])
	native := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bt_native_seconds", Help: "Native.",
		ConstLabels: run, NativeHistogramBucketFactor: 1.1})
	native.Observe(1)
	native.Observe(3)
	untyped := prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "bt_untyped", Help: "Untyped.", ConstLabels: run},
		func() float64 { return 7 })
	t0 := time.Now().UnixMilli() - 60_000
	rpcDesc := prometheus.NewDesc("bt_rpc_seconds", "RPC latency.", []string{"svc"}, run)
	stampDesc := prometheus.NewDesc("bt_stamped", "A gauge with its own timestamp.", nil, run)
	consts := collectorFunc(func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstSummary(rpcDesc, 3, 6.5, map[float64]float64{0.5: 2, 0.99: 3}, "api")
		ch <- prometheus.NewMetricWithTimestamp(time.UnixMilli(t0-5000),
			prometheus.MustNewConstMetric(stampDesc, prometheus.GaugeValue, 5))
	})
	reg.MustRegister(jobs, events, temp, lat, native, untyped, consts)
	g := prometheus.Gatherers{reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return []*dto.MetricFamily{gaugeHistogramFamily()}, nil
	})}

	c := mustNew(t, g, s)
	res := mustPush(t, c, t0)
	flush(t, s)
	r := runLabel
	want := []string{
		line("bt_jobs_total", t0, 3, "kind", "a", "run", r),
		line("bt_jobs_total", t0, 2, "kind", "b", "run", r),
		line("bt_events_total", t0, 1, "run", r),
		line("bt_temperature_celsius", t0, 21.5, "room", "kitchen", "run", r),
		line("bt_latency_seconds_bucket", t0, 1, "le", "0.1", "run", r),
		line("bt_latency_seconds_bucket", t0, 2, "le", "1.0", "run", r),
		line("bt_latency_seconds_bucket", t0, 3, "le", "+Inf", "run", r),
		line("bt_latency_seconds_sum", t0, sum, "run", r),
		line("bt_latency_seconds_count", t0, 3, "run", r),
		line("bt_rpc_seconds", t0, 2, "quantile", "0.5", "svc", "api", "run", r),
		line("bt_rpc_seconds", t0, 3, "quantile", "0.99", "svc", "api", "run", r),
		line("bt_rpc_seconds_sum", t0, 6.5, "svc", "api", "run", r),
		line("bt_rpc_seconds_count", t0, 3, "svc", "api", "run", r),
		line("bt_untyped", t0, 7, "run", r),
		line("bt_stamped", t0-5000, 5, "run", r),
		line("bt_queue_size_bucket", t0, 1, "le", "1.0", "run", r),
		line("bt_queue_size_bucket", t0, 4, "le", "5.0", "run", r),
		line("bt_queue_size_bucket", t0, 4, "le", "+Inf", "run", r),
		line("bt_queue_size_gsum", t0, 9, "run", r),
		line("bt_queue_size_gcount", t0, 4, "run", r),
	}
	got := sink.waitSamples(t, len(want))
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the sink stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Samples != len(want) || res.Histograms != 1 || res.Registered != len(want)+1 ||
		res.Series != len(want)+1 || res.Stale != 0 || res.Refused != 0 || res.TimestampMs != t0 {
		t.Errorf("result %+v", res)
	}

	// The native histogram: one, with the two observations (1 and 3, schema 3 for factor 1.1).
	var hists, exemplars []string
	metadata := map[string]string{}
	for _, l := range sink.extraLines() {
		switch {
		case strings.HasPrefix(l, "histogram "):
			hists = append(hists, l)
		case strings.HasPrefix(l, "exemplar "):
			exemplars = append(exemplars, l)
		case strings.HasPrefix(l, "series_metadata "):
			f := strings.SplitN(l, " ", 3)
			metadata[f[1]] = f[2]
		}
	}
	nativeLabels := labelSet("bt_native_seconds", "run", r)
	if len(hists) != 1 || !strings.HasPrefix(hists[0], "histogram "+nativeLabels+" "+strconv.FormatInt(t0, 10)+" ") {
		t.Fatalf("histogram lines: %q", hists)
	}
	for _, part := range []string{`"schema":3`, `"count_int":2`, `"sum_bits":"` + fmt.Sprintf("%016x", math.Float64bits(4)) + `"`,
		`"reset_hint":0`, `"negative_spans":[]`} {
		if !strings.Contains(hists[0], part) {
			t.Errorf("the native histogram %q lacks %s", hists[0], part)
		}
	}
	// Exemplars: the counter's and the bucket's, with client_golang's timestamps.
	sort.Strings(exemplars)
	if len(exemplars) != 2 {
		t.Fatalf("exemplar lines: %q", exemplars)
	}
	wantEx := []string{
		"exemplar " + labelSet("bt_jobs_total", "kind", "b", "run", r) + ` {trace_id="t1"} `,
		"exemplar " + labelSet("bt_latency_seconds_bucket", "le", "1.0", "run", r) + ` {trace_id="t2"} `,
	}
	wantValues := []float64{2, 0.5}
	for i, l := range exemplars {
		if !strings.HasPrefix(l, wantEx[i]) {
			t.Errorf("exemplar %q, want the prefix %q", l, wantEx[i])
			continue
		}
		f := strings.Fields(strings.TrimPrefix(l, wantEx[i]))
		ts, _ := strconv.ParseInt(f[0], 10, 64)
		if f[1] != fmt.Sprintf("%016x", math.Float64bits(wantValues[i])) {
			t.Errorf("exemplar %q: value bits %s, want %v", l, f[1], wantValues[i])
		}
		if i == 1 && (ts < before || ts > after) {
			t.Errorf("exemplar %q: timestamp %d not in [%d, %d]", l, ts, before, after)
		}
	}
	// Metadata: type number, help, unit (Debian's client_model has no units).
	for series, md := range map[string]string{
		labelSet("bt_jobs_total", "kind", "a", "run", r):                `1 "Jobs done." ""`,
		labelSet("bt_events_total", "run", r):                           `1 "Events." ""`,
		labelSet("bt_temperature_celsius", "room", "kitchen", "run", r): `2 "Temperature." ""`,
		labelSet("bt_latency_seconds_bucket", "le", "0.1", "run", r):    `3 "Latency." ""`,
		labelSet("bt_latency_seconds_count", "run", r):                  `3 "Latency." ""`,
		nativeLabels:                             `3 "Native." ""`,
		labelSet("bt_queue_size_gsum", "run", r): `4 "Queue size." ""`,
		labelSet("bt_rpc_seconds", "quantile", "0.5", "svc", "api", "run", r): `5 "RPC latency." ""`,
		labelSet("bt_untyped", "run", r):                                      `0 "Untyped." ""`,
	} {
		if metadata[series] != md {
			t.Errorf("metadata of %s: %q, want %q", series, metadata[series], md)
		}
	}

	// The second collection: everything cached, nothing registered, nothing stale; bt_stamped
	// repeats its own timestamp: skipped as out of order, not refused.
	lat.Observe(0.2)
	res = mustPush(t, c, t0+1000)
	flush(t, s)
	if res.Registered != 0 || res.Stale != 0 || res.Series != len(want)+1 || res.Samples != len(want)-1 ||
		res.Histograms != 1 || res.Refused != 0 {
		t.Errorf("second result %+v", res)
	}
	got = sink.waitSamples(t, 2*len(want)-1)
	if !contains(got, line("bt_latency_seconds_bucket", t0+1000, 3, "le", "1.0", "run", r)) ||
		!contains(got, line("bt_latency_seconds_count", t0+1000, 4, "run", r)) {
		t.Errorf("the second collection's histogram is not in the sink: %q", got[len(want):])
	}
	if st := c.Stats(); st.Collections != 2 || st.Errors != 0 || st.Last.TimestampMs != t0+1000 {
		t.Errorf("collector stats %+v", st)
	}
}

func contains(lines []string, l string) bool {
	for _, x := range lines {
		if x == l {
			return true
		}
	}
	return false
}

func TestVanishedSeriesAreMarkedStaleAndReleased(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, v2Config(sink.url))
	reg := prometheus.NewRegistry()
	run := prometheus.Labels{"run": runLabel}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "st_requests_total", Help: "Requests.", ConstLabels: run}, []string{"code"})
	vec.WithLabelValues("200").Add(5)
	vec.WithLabelValues("500").Add(1)
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "st_up", Help: "Up.", ConstLabels: run})
	gauge.Set(1)
	native := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "st_native", Help: "Native.",
		ConstLabels: run, NativeHistogramBucketFactor: 1.1})
	native.Observe(2)
	reg.MustRegister(vec, gauge, native)
	c := mustNew(t, reg, s)
	t0 := time.Now().UnixMilli() - 60_000
	if res := mustPush(t, c, t0); res.Registered != 4 || res.Samples != 3 || res.Histograms != 1 {
		t.Fatalf("first result %+v", res)
	}
	flush(t, s)
	if got := s.Stats().Series; got != 4 {
		t.Errorf("the sender has %d live series, want 4", got)
	}

	vec.DeleteLabelValues("500")
	reg.Unregister(gauge)
	reg.Unregister(native)
	res := mustPush(t, c, t0+1000)
	if res.Stale != 3 || res.Samples != 1 || res.Registered != 0 || res.Series != 1 || res.Refused != 0 {
		t.Errorf("second result %+v", res)
	}
	flush(t, s)
	if got := s.Stats().Series; got != 1 {
		t.Errorf("after the stale markers the sender has %d live series, want 1 (the others released)", got)
	}
	r := runLabel
	want := []string{
		line("st_requests_total", t0, 5, "code", "200", "run", r),
		line("st_requests_total", t0, 1, "code", "500", "run", r),
		line("st_up", t0, 1, "run", r),
		line("st_requests_total", t0+1000, 5, "code", "200", "run", r),
		lineBits("st_requests_total", t0+1000, staleNaN, "code", "500", "run", r),
		lineBits("st_up", t0+1000, staleNaN, "run", r),
	}
	got := sink.waitSamples(t, len(want))
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the sink stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var staleHist bool
	for _, l := range sink.extraLines() {
		prefix := "histogram " + labelSet("st_native", "run", r) + " " + strconv.FormatInt(t0+1000, 10) + " "
		if strings.HasPrefix(l, prefix) {
			staleHist = strings.Contains(l, fmt.Sprintf(`"sum_bits":"%016x"`, uint64(staleNaN)))
		}
	}
	if !staleHist {
		t.Errorf("no stale histogram marker for st_native: %q", sink.extraLines())
	}

	// A third collection: nothing left to mark; a series that comes back is registered anew.
	if res := mustPush(t, c, t0+2000); res.Stale != 0 || res.Registered != 0 {
		t.Errorf("third result %+v", res)
	}
	reg.MustRegister(gauge)
	if res := mustPush(t, c, t0+3000); res.Stale != 0 || res.Registered != 1 || res.Samples != 2 {
		t.Errorf("fourth result %+v", res)
	}
	flush(t, s)
	got = sink.waitSamples(t, len(want)+3)
	if !contains(got, line("st_up", t0+3000, 1, "run", r)) {
		t.Errorf("st_up did not come back: %q", got[len(want):])
	}
}

func TestAFailedGatherAppendsAndMarksNothing(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, v2Config(sink.url))
	fail := false
	fam := func() []*dto.MetricFamily {
		return []*dto.MetricFamily{{
			Name: proto.String("fg_up"), Type: dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{
				Label: []*dto.LabelPair{{Name: proto.String("run"), Value: proto.String(runLabel)}},
				Gauge: &dto.Gauge{Value: proto.Float64(1)},
			}},
		}}
	}
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		if fail {
			return nil, errors.New("broken collector")
		}
		return fam(), nil
	})
	c := mustNew(t, g, s)
	t0 := time.Now().UnixMilli() - 60_000
	mustPush(t, c, t0)
	fail = true
	_, err := c.PushAt(t0 + 1000)
	if err == nil || !strings.Contains(err.Error(), "broken collector") {
		t.Fatalf("PushAt with a failing gatherer: %v", err)
	}
	fail = false
	if res := mustPush(t, c, t0+2000); res.Stale != 0 || res.Registered != 0 || res.Samples != 1 {
		t.Errorf("after the failure: %+v", res)
	}
	flush(t, s)
	want := []string{line("fg_up", t0, 1, "run", runLabel), line("fg_up", t0+2000, 1, "run", runLabel)}
	if got := sink.waitSamples(t, 2); !reflect.DeepEqual(got, want) {
		t.Errorf("the sink stored %q, want %q", got, want)
	}
	if st := c.Stats(); st.Collections != 2 || st.Errors != 1 || st.LastError == nil {
		t.Errorf("collector stats %+v", st)
	}
}

func TestRefusedAndDuplicateSamples(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, v2Config(sink.url))
	lp := func(pairs ...string) []*dto.LabelPair {
		var out []*dto.LabelPair
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, &dto.LabelPair{Name: proto.String(pairs[i]), Value: proto.String(pairs[i+1])})
		}
		return out
	}
	gauge := func(v float64, labels ...string) *dto.Metric {
		return &dto.Metric{Label: lp(labels...), Gauge: &dto.Gauge{Value: proto.Float64(v)}}
	}
	families := []*dto.MetricFamily{{
		Name: proto.String("rf_value"), Help: proto.String("Values."), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{
			gauge(1, "run", runLabel, "a", "x"),
			gauge(2, "run", runLabel, "a", "x"),        // a duplicate (unsorted labels, same set): skipped
			gauge(3, "run", runLabel, "bad-name", "y"), // refused by the library
			gauge(4, "run", runLabel, "a", "z"),
			{Label: lp("run", runLabel)}, // no gauge value: refused
		},
	}, {
		Name: proto.String("rf_weird"), Type: dto.MetricType(42).Enum(),
		Metric: []*dto.Metric{gauge(1, "run", runLabel)},
	}}
	var logs recordingLogger
	c := mustNew(t, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, nil }), s,
		WithLogger(logs.logf))
	t0 := time.Now().UnixMilli() - 60_000
	res := mustPush(t, c, t0)
	if res.Samples != 2 || res.Refused != 3 || res.Registered != 2 || res.Series != 2 {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(res.FirstRefusal, "bad-name") {
		t.Errorf("first refusal %q does not name the bad label", res.FirstRefusal)
	}
	lines := logs.get()
	if len(lines) != 1 || !strings.Contains(lines[0], "3 sample(s) of the collection at "+strconv.FormatInt(t0, 10)) {
		t.Errorf("logged %q, want one line about 3 samples", lines)
	}
	flush(t, s)
	want := []string{line("rf_value", t0, 1, "run", runLabel, "a", "x"), line("rf_value", t0, 4, "run", runLabel, "a", "z")}
	got := sink.waitSamples(t, 2)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the sink stored %q, want %q", got, want)
	}
}

func TestCollectorStartStopAndClosedSender(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, v2Config(sink.url))
	reg := prometheus.NewRegistry()
	ticks := prometheus.NewCounter(prometheus.CounterOpts{Name: "cs_ticks_total", Help: "Ticks.",
		ConstLabels: prometheus.Labels{"run": runLabel}})
	reg.MustRegister(ticks)
	var logs recordingLogger
	c, err := New(reg, s, 20*time.Millisecond, WithLogger(logs.logf))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err == nil {
		t.Error("a second Start returned nil")
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Collections < 3 && time.Now().Before(deadline) {
		ticks.Inc()
		time.Sleep(5 * time.Millisecond)
	}
	c.Stop()
	n := c.Stats().Collections
	if n < 3 {
		t.Fatalf("%d collections in 10 s", n)
	}
	time.Sleep(100 * time.Millisecond)
	if m := c.Stats().Collections; m != n {
		t.Errorf("%d collections after Stop, %d at Stop", m, n)
	}
	c.Stop() // a second Stop does nothing

	// A closed sender ends the goroutine; the error is ErrClosed.
	c2 := mustNew(t, reg, s, WithLogger(logs.logf))
	if err := s.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Push(); !errors.Is(err, promrw.ErrClosed) {
		t.Errorf("Push on a closed sender: %v, want ErrClosed", err)
	}
	c3, _ := New(reg, s, time.Millisecond, WithLogger(logs.logf))
	_ = c3.Start()
	for time.Now().Before(deadline) && c3.Stats().Errors == 0 {
		time.Sleep(time.Millisecond)
	}
	c3.Stop()
	if st := c3.Stats(); st.Errors != 1 || !errors.Is(st.LastError, promrw.ErrClosed) {
		t.Errorf("the collector on a closed sender: %+v (one failed collection, then the goroutine ends)", st)
	}
	found := false
	for _, l := range logs.get() {
		found = found || strings.Contains(l, "the sender was closed")
	}
	if !found {
		t.Errorf("nothing logged about the closed sender: %q", logs.get())
	}
}

func TestOneShotPush(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, v2Config(sink.url))
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "os_value", Help: "A value.", ConstLabels: prometheus.Labels{"run": runLabel}})
	g.Set(42)
	reg.MustRegister(g)
	res, err := Push(reg, s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Samples != 1 || res.Registered != 1 {
		t.Errorf("result %+v", res)
	}
	flush(t, s)
	if got := sink.waitSamples(t, 1); len(got) != 1 || got[0] != line("os_value", res.TimestampMs, 42, "run", runLabel) {
		t.Errorf("the sink stored %q", got)
	}
	if _, err := New(nil, s, time.Second); err == nil {
		t.Error("New with a nil gatherer returned no error")
	}
	if _, err := New(reg, s, 0); err == nil {
		t.Error("New with interval 0 returned no error")
	}
}

// nativeFamily is a family of native histograms as client_golang 1.14 gathers them: an
// integer one (deltas), a float one (counts) and, with gauge, of type GAUGE_HISTOGRAM.
func nativeFamily(name string, typ dto.MetricType) *dto.MetricFamily {
	span := func(offset int32, length uint32) *dto.BucketSpan {
		return &dto.BucketSpan{Offset: proto.Int32(offset), Length: proto.Uint32(length)}
	}
	return &dto.MetricFamily{
		Name: proto.String(name), Help: proto.String("Native."), Type: typ.Enum(),
		Metric: []*dto.Metric{{
			Label: []*dto.LabelPair{{Name: proto.String("kind"), Value: proto.String("int")}, {Name: proto.String("run"), Value: proto.String(runLabel)}},
			Histogram: &dto.Histogram{
				SampleCount: proto.Uint64(5), SampleSum: proto.Float64(10.5),
				Schema: proto.Int32(0), ZeroThreshold: proto.Float64(0.001), ZeroCount: proto.Uint64(1),
				PositiveSpan: []*dto.BucketSpan{span(0, 2), span(1, 1)}, PositiveDelta: []int64{1, 1, -1},
			},
		}, {
			Label: []*dto.LabelPair{{Name: proto.String("kind"), Value: proto.String("float")}, {Name: proto.String("run"), Value: proto.String(runLabel)}},
			Histogram: &dto.Histogram{
				SampleCountFloat: proto.Float64(7), SampleSum: proto.Float64(3.75),
				Schema: proto.Int32(3), ZeroThreshold: proto.Float64(0), ZeroCountFloat: proto.Float64(0.5),
				NegativeSpan: []*dto.BucketSpan{span(-1, 2)}, NegativeCount: []float64{2, 4.5},
			},
		}},
	}
}

func TestNativeHistograms(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, v2Config(sink.url))
	families := []*dto.MetricFamily{
		nativeFamily("nh_latency_seconds", dto.MetricType_HISTOGRAM),
		nativeFamily("nh_queue_size", dto.MetricType_GAUGE_HISTOGRAM),
	}
	c := mustNew(t, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, nil }), s)
	t0 := time.Now().UnixMilli() - 60_000
	if res := mustPush(t, c, t0); res.Histograms != 4 || res.Samples != 0 || res.Refused != 0 {
		t.Fatalf("result %+v", res)
	}
	flush(t, s)
	hex := func(v float64) string { return fmt.Sprintf("%016x", math.Float64bits(v)) }
	want := map[string]string{}
	for _, name := range []string{"nh_latency_seconds", "nh_queue_size"} {
		hint := 0
		if name == "nh_queue_size" {
			hint = 3
		}
		want[labelSet(name, "kind", "int", "run", runLabel)] = fmt.Sprintf(
			`{"schema":0,"zero_threshold_bits":"%s","sum_bits":"%s","count_int":5,"zero_count_int":1,`+
				`"positive_spans":[[0,2],[1,1]],"negative_spans":[],"positive_deltas":[1,1,-1],"negative_deltas":[],`+
				`"positive_counts_bits":[],"negative_counts_bits":[],"reset_hint":%d,"custom_values_bits":[],"start_timestamp":0}`,
			hex(0.001), hex(10.5), hint)
		want[labelSet(name, "kind", "float", "run", runLabel)] = fmt.Sprintf(
			`{"schema":3,"zero_threshold_bits":"%s","sum_bits":"%s","count_float_bits":"%s","zero_count_float_bits":"%s",`+
				`"positive_spans":[],"negative_spans":[[-1,2]],"positive_deltas":[],"negative_deltas":[],`+
				`"positive_counts_bits":[],"negative_counts_bits":["%s","%s"],"reset_hint":%d,"custom_values_bits":[],"start_timestamp":0}`,
			hex(0), hex(3.75), hex(7), hex(0.5), hex(2), hex(4.5), hint)
	}
	deadline := time.Now().Add(10 * time.Second)
	var got map[string]string
	for time.Now().Before(deadline) {
		got = map[string]string{}
		for _, l := range sink.extraLines() {
			if f := strings.SplitN(l, " ", 4); f[0] == "histogram" && f[2] == strconv.FormatInt(t0, 10) {
				got[f[1]] = f[3]
			}
		}
		if len(got) >= len(want) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for series, body := range want {
		if !sameJSON(t, got[series], body) {
			t.Errorf("histogram of %s:\n%s\nwant:\n%s", series, got[series], body)
		}
	}
	if len(got) != len(want) {
		t.Errorf("histograms received: %v", got)
	}
}

func TestLabelAndFloatFormatting(t *testing.T) {
	for v, want := range map[float64]string{
		1: "1.0", 0.25: "0.25", 1e6: "1e+06", 100000: "100000.0", 1e-05: "1e-05", 0.005: "0.005",
		math.Inf(1): "+Inf", math.Inf(-1): "-Inf", -2: "-2.0", 0: "0.0",
	} {
		if got := string(appendFloat(nil, v)); got != want {
			t.Errorf("appendFloat(%v) = %q, want %q", v, got, want)
		}
	}
	if got := string(appendFloat(nil, math.NaN())); got != "NaN" {
		t.Errorf("appendFloat(NaN) = %q", got)
	}
}

// withCreated and withUnit stand for the dto types of newer client_model versions (0.4.0
// and later: CreatedTimestamp; 0.6.0 and later: MetricFamily.Unit), which Debian's 0.3.0 does
// not have.
type withCreated struct{ ts *timestamppb.Timestamp }

func (w withCreated) GetCreatedTimestamp() *timestamppb.Timestamp { return w.ts }

type withUnit struct{}

func (withUnit) GetUnit() string { return "seconds" }

func TestCreatedTimestampsAndUnitsOfNewerClientModels(t *testing.T) {
	created := time.UnixMilli(1_700_000_000_123)
	if got := createdMs(withCreated{timestamppb.New(created)}); got != 1_700_000_000_123 {
		t.Errorf("createdMs = %d", got)
	}
	if got := createdMs(withCreated{}); got != 0 {
		t.Errorf("createdMs of an unset timestamp = %d", got)
	}
	if got := createdMs(&dto.Counter{}); got != 0 {
		t.Errorf("createdMs of Debian's dto.Counter = %d", got)
	}
	if got := unitOf(withUnit{}); got != "seconds" {
		t.Errorf("unitOf = %q", got)
	}
	if got := unitOf(&dto.MetricFamily{}); got != "" {
		t.Errorf("unitOf of Debian's dto.MetricFamily = %q", got)
	}
	// The start timestamp rule: created, unless after the sample or negative.
	for _, c := range []struct{ created, ts, want int64 }{{10, 20, 10}, {20, 20, 20}, {21, 20, 0}, {-5, 20, 0}, {0, 20, 0}} {
		if got := startFor(c.created, c.ts); got != c.want {
			t.Errorf("startFor(%d, %d) = %d, want %d", c.created, c.ts, got, c.want)
		}
	}
}

// sameJSON tells whether two JSON texts hold the same value.
func sameJSON(t testing.TB, a, b string) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func TestCreatedTimestampsAreStartTimestamps(t *testing.T) {
	// Debian's client_model has no created timestamps: stand for one that has (createdOf
	// reads CreatedTimestamp there), with created = the sample's time - 60 s for histograms.
	t0 := time.Now().UnixMilli() - 60_000
	createdOf = func(v any) int64 {
		if _, ok := v.(*dto.Histogram); ok {
			return t0 - 60_000
		}
		return 0
	}
	defer func() { createdOf = createdMs }()
	sink := startSink(t)
	s := newSender(t, v2Config(sink.url))
	families := []*dto.MetricFamily{nativeFamily("ct_latency_seconds", dto.MetricType_HISTOGRAM)}
	families[0].Metric = families[0].Metric[:1]
	early := t0 - 120_001 // before its created time: the start timestamp is left unset
	families = append(families, nativeFamily("ct_old_seconds", dto.MetricType_HISTOGRAM))
	families[1].Metric = families[1].Metric[:1]
	families[1].Metric[0].TimestampMs = &early
	c := mustNew(t, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, nil }), s)
	if res := mustPush(t, c, t0); res.Histograms != 2 {
		t.Fatalf("result %+v", res)
	}
	flush(t, s)
	want := map[string]string{
		labelSet("ct_latency_seconds", "kind", "int", "run", runLabel): fmt.Sprintf(`"start_timestamp":%d`, t0-60_000),
		labelSet("ct_old_seconds", "kind", "int", "run", runLabel):     `"start_timestamp":0`,
	}
	deadline := time.Now().Add(10 * time.Second)
	got := map[string]string{}
	for len(got) < len(want) && time.Now().Before(deadline) {
		for _, l := range sink.extraLines() {
			if f := strings.SplitN(l, " ", 4); f[0] == "histogram" {
				got[f[1]] = f[3]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for series, part := range want {
		if !strings.Contains(got[series], part) {
			t.Errorf("histogram of %s: %s, want %s", series, got[series], part)
		}
	}
}
