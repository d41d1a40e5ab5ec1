package bridge

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	promrw "github.com/promrw/promrw/bindings/go"
)

// Bytes that never occur in UTF-8, so they separate the parts of a cache key unambiguously.
const (
	keyLabel = 0xff // before each label
	keyValue = 0xfe // between a label's name and value
	keyExtra = 0xfd // before the le or quantile label
)

// entry is a cached series.
type entry struct {
	ref promrw.SeriesRef
	// gen is the collection that saw the series last.
	gen uint64
	// native is set for a native histogram series (stale markers are histograms).
	native bool
}

// state is what a Collector keeps between collections: the series cache and the buffers
// reused by every collection.
type state struct {
	sender *promrw.Sender
	logf   func(format string, args ...any)

	series map[string]*entry // cache key -> series
	gen    uint64            // the current collection
	lastMs int64             // the previous collection's time

	// Per collection.
	now   int64
	seen  int // distinct cached series seen by this collection
	res   Result
	batch []promrw.Sample

	// Per family.
	family string
	mtype  promrw.MetricType
	help   string
	unit   string

	// Reused buffers.
	key      []byte
	num      []byte
	sorted   labelPairs
	regLabel []promrw.Label
	exLabels []promrw.Label
	ex       promrw.Exemplar
	hist     promrw.Histogram
	posSpans []promrw.BucketSpan
	negSpans []promrw.BucketSpan
}

func newState(sender *promrw.Sender, logf func(format string, args ...any)) *state {
	return &state{sender: sender, logf: logf, series: map[string]*entry{}}
}

// errStop carries an error that ends the collection (the sender was closed).
type errStop struct{ err error }

// push is one collection of families at tsMs (0: now).
func (st *state) push(families []*dto.MetricFamily, tsMs int64) (res Result, err error) {
	now := tsMs
	if now == 0 {
		// Two collections within one ms: the later one is stamped 1 ms later.
		now = time.Now().UnixMilli()
		if now <= st.lastMs {
			now = st.lastMs + 1
		}
	}
	st.lastMs = now
	st.now = now
	st.gen++
	st.seen = 0
	st.res = Result{TimestampMs: now}
	st.batch = st.batch[:0]
	defer func() {
		if r := recover(); r != nil {
			stop, ok := r.(errStop)
			if !ok {
				panic(r)
			}
			res, err = st.res, stop.err
		}
	}()
	for _, f := range families {
		st.convertFamily(f)
	}
	st.appendBatch()
	st.sweep()
	st.res.Series = st.seen
	if st.res.Refused > 0 && st.logf != nil {
		st.logf("promrw bridge: %d sample(s) of the collection at %d ms not appended; first: %s",
			st.res.Refused, now, st.res.FirstRefusal)
	}
	return st.res, nil
}

// check sorts out the error of a call into the sender: nil and out of order (skipped, as a
// scrape's duplicate) are nothing, a closed sender ends the collection, anything else is a
// refusal of what describe names. It returns whether the call succeeded.
func (st *state) check(err error, describe func() string) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, promrw.ErrClosed) {
		panic(errStop{err})
	}
	if !errors.Is(err, promrw.ErrOutOfOrder) {
		st.refuse(describe() + ": " + err.Error())
	}
	return false
}

func (st *state) refuse(what string) {
	if st.res.Refused == 0 {
		st.res.FirstRefusal = what
	}
	st.res.Refused++
}

// metricTypes maps dto's types to the metadata types.
var metricTypes = map[dto.MetricType]promrw.MetricType{
	dto.MetricType_COUNTER:         promrw.MetricTypeCounter,
	dto.MetricType_GAUGE:           promrw.MetricTypeGauge,
	dto.MetricType_SUMMARY:         promrw.MetricTypeSummary,
	dto.MetricType_UNTYPED:         promrw.MetricTypeUnknown,
	dto.MetricType_HISTOGRAM:       promrw.MetricTypeHistogram,
	dto.MetricType_GAUGE_HISTOGRAM: promrw.MetricTypeGaugeHistogram,
}

// unitOf is the family's unit, with a client_model that has one (0.6.0 and later).
func unitOf(f any) string {
	if u, ok := f.(interface{ GetUnit() string }); ok {
		return u.GetUnit()
	}
	return ""
}

// createdMs is the created timestamp (ms) of a Counter, Histogram or Summary, with a
// client_model that has them (0.4.0 and later); 0 when unset or absent.
func createdMs(v any) int64 {
	if c, ok := v.(interface {
		GetCreatedTimestamp() *timestamppb.Timestamp
	}); ok {
		if ts := c.GetCreatedTimestamp(); ts != nil {
			return ts.AsTime().UnixMilli()
		}
	}
	return 0
}

// createdOf is createdMs; the tests replace it to stand for a client_model with created
// timestamps.
var createdOf = createdMs

// startFor is the start timestamp of a sample at ts: created, unless it is after ts or
// negative.
func startFor(created, ts int64) int64 {
	if created > ts || created < 0 {
		return 0
	}
	return created
}

func (st *state) convertFamily(f *dto.MetricFamily) {
	typ := f.GetType()
	mtype, known := metricTypes[typ]
	st.family = f.GetName()
	st.mtype = mtype
	st.help = f.GetHelp()
	st.unit = unitOf(f)
	for _, m := range f.Metric {
		ts := st.now
		if m.TimestampMs != nil {
			ts = *m.TimestampMs
		}
		labels := st.sortLabels(m.Label)
		if !known {
			st.refuse(fmt.Sprintf("%s: family type %v is not converted", st.family, typ))
			continue
		}
		switch typ {
		case dto.MetricType_COUNTER:
			c := m.Counter
			if c == nil {
				st.refuseMissing("counter")
				continue
			}
			suffix := "_total"
			if strings.HasSuffix(st.family, suffix) {
				suffix = ""
			}
			st.sample(suffix, labels, "", nil, ts, c.GetValue(), startFor(createdOf(c), ts), c.Exemplar)
		case dto.MetricType_GAUGE:
			if m.Gauge == nil {
				st.refuseMissing("gauge")
				continue
			}
			st.sample("", labels, "", nil, ts, m.Gauge.GetValue(), 0, nil)
		case dto.MetricType_UNTYPED:
			if m.Untyped == nil {
				st.refuseMissing("untyped")
				continue
			}
			st.sample("", labels, "", nil, ts, m.Untyped.GetValue(), 0, nil)
		case dto.MetricType_SUMMARY:
			s := m.Summary
			if s == nil {
				st.refuseMissing("summary")
				continue
			}
			start := startFor(createdOf(s), ts)
			for _, q := range s.Quantile {
				st.num = appendFloat(st.num[:0], q.GetQuantile())
				st.sample("", labels, "quantile", st.num, ts, q.GetValue(), 0, nil)
			}
			st.sample("_sum", labels, "", nil, ts, s.GetSampleSum(), start, nil)
			st.sample("_count", labels, "", nil, ts, float64(s.GetSampleCount()), start, nil)
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			h := m.Histogram
			if h == nil {
				st.refuseMissing("histogram")
				continue
			}
			gauge := typ == dto.MetricType_GAUGE_HISTOGRAM
			start := startFor(createdOf(h), ts)
			native := isNative(h)
			if native {
				st.native(labels, ts, h, start, gauge)
			}
			if !native || len(h.Bucket) > 0 {
				st.classic(labels, ts, h, start, gauge)
			}
		}
	}
}

func (st *state) refuseMissing(kind string) {
	st.refuse(fmt.Sprintf("%s: a metric of this %s family has no %s value", st.family, kind, kind))
}

// isNative tells whether a histogram has native buckets: Prometheus's test when it scrapes
// protobuf (spans, a zero threshold or a zero count), or a schema set, which client_golang
// sets only for native histograms (an empty one may have none of the others).
func isNative(h *dto.Histogram) bool {
	return h.Schema != nil || len(h.PositiveSpan) > 0 || len(h.NegativeSpan) > 0 ||
		h.GetZeroThreshold() > 0 || h.GetZeroCount() > 0 || h.GetZeroCountFloat() > 0
}

// classic appends a histogram's classic series: the buckets (+Inf added when missing), then
// _sum and _count (_gsum and _gcount for a gauge histogram).
func (st *state) classic(labels []*dto.LabelPair, ts int64, h *dto.Histogram, start int64, gauge bool) {
	floatCounts := h.GetSampleCountFloat() > 0
	count := float64(h.GetSampleCount())
	if floatCounts {
		count = h.GetSampleCountFloat()
	}
	inf := false
	for _, b := range h.Bucket {
		bound := b.GetUpperBound()
		inf = inf || math.IsInf(bound, +1)
		v := float64(b.GetCumulativeCount())
		if b.GetCumulativeCountFloat() > 0 {
			v = b.GetCumulativeCountFloat()
		}
		st.num = appendFloat(st.num[:0], bound)
		st.sample("_bucket", labels, "le", st.num, ts, v, start, b.Exemplar)
	}
	if !inf {
		st.num = appendFloat(st.num[:0], math.Inf(+1))
		st.sample("_bucket", labels, "le", st.num, ts, count, start, nil)
	}
	sum, cnt := "_sum", "_count"
	if gauge {
		sum, cnt = "_gsum", "_gcount"
	}
	st.sample(sum, labels, "", nil, ts, h.GetSampleSum(), start, nil)
	st.sample(cnt, labels, "", nil, ts, count, start, nil)
}

// native appends a native histogram on the series <name>.
func (st *state) native(labels []*dto.LabelPair, ts int64, h *dto.Histogram, start int64, gauge bool) {
	e := st.lookup("", labels, "", nil, true)
	if e == nil {
		return
	}
	hist := &st.hist
	st.posSpans = appendSpans(st.posSpans[:0], h.PositiveSpan)
	st.negSpans = appendSpans(st.negSpans[:0], h.NegativeSpan)
	*hist = promrw.Histogram{
		Schema:        h.GetSchema(),
		ZeroThreshold: h.GetZeroThreshold(),
		Sum:           h.GetSampleSum(),
		PositiveSpans: st.posSpans,
		NegativeSpans: st.negSpans,
		ResetHint:     promrw.ResetHintUnknown,
	}
	if gauge {
		hist.ResetHint = promrw.ResetHintGauge
	}
	// A float histogram as Prometheus decides when it scrapes protobuf.
	if h.GetSampleCountFloat() > 0 || h.GetZeroCountFloat() > 0 {
		hist.Float = true
		hist.CountFloat = h.GetSampleCountFloat()
		hist.ZeroCountFloat = h.GetZeroCountFloat()
		hist.PositiveCounts = h.PositiveCount
		hist.NegativeCounts = h.NegativeCount
	} else {
		hist.Count = h.GetSampleCount()
		hist.ZeroCount = h.GetZeroCount()
		hist.PositiveDeltas = h.PositiveDelta
		hist.NegativeDeltas = h.NegativeDelta
	}
	err := st.sender.AppendHistogram(e.ref, ts, hist, start, nil)
	*hist = promrw.Histogram{} // holds no dto slices between collections
	if st.check(err, func() string { return st.describe("", labels, "", nil) + " (native histogram)" }) {
		st.res.Histograms++
	}
}

func appendSpans(dst []promrw.BucketSpan, spans []*dto.BucketSpan) []promrw.BucketSpan {
	for _, s := range spans {
		dst = append(dst, promrw.BucketSpan{Offset: s.GetOffset(), Length: s.GetLength()})
	}
	return dst
}

// sample appends one float sample of the series <family><suffix>{labels, extra=extraValue}:
// in the collection's batch, or at once when it has a start timestamp or an exemplar.
func (st *state) sample(suffix string, labels []*dto.LabelPair, extra string, extraValue []byte,
	ts int64, v float64, start int64, ex *dto.Exemplar) {
	e := st.lookup(suffix, labels, extra, extraValue, false)
	if e == nil {
		return
	}
	if start == 0 && ex == nil {
		st.batch = append(st.batch, promrw.Sample{Series: e.ref, TimestampMs: ts, Value: v})
		return
	}
	var pex *promrw.Exemplar
	if ex != nil {
		st.exLabels = st.exLabels[:0]
		for _, l := range ex.Label {
			st.exLabels = append(st.exLabels, promrw.Label{Name: l.GetName(), Value: l.GetValue()})
		}
		st.ex = promrw.Exemplar{Labels: st.exLabels, Value: ex.GetValue()}
		if t := ex.GetTimestamp(); t != nil {
			// Debian's client_model 0.3.0 has golang/protobuf's own Timestamp type (no AsTime),
			// newer ones timestamppb's: both have GetSeconds and GetNanos.
			st.ex.TimestampMs = t.GetSeconds()*1000 + int64(t.GetNanos())/1e6
			st.ex.HasTimestamp = true
		}
		pex = &st.ex
	}
	err := st.sender.AppendWithExemplar(e.ref, ts, start, v, pex)
	st.ex = promrw.Exemplar{}
	if st.check(err, func() string { return st.describe(suffix, labels, extra, extraValue) }) {
		st.res.Samples++
	}
}

// appendBatch appends the collection's batch in one call, skipping each refused sample.
func (st *state) appendBatch() {
	batch := st.batch
	for first := 0; first < len(batch); {
		n, err := st.sender.AppendBatch(batch[first:])
		st.res.Samples += n
		if err == nil {
			break
		}
		ref := batch[first+n].Series
		st.check(err, func() string { return fmt.Sprintf("series %d", ref) })
		first += n + 1
	}
	st.batch = batch[:0]
}

// sweep marks stale and releases the cached series this collection did not see.
func (st *state) sweep() {
	if st.seen == len(st.series) {
		return // every cached series was seen
	}
	for key, e := range st.series {
		if e.gen == st.gen {
			continue
		}
		var err error
		if e.native {
			err = st.sender.AppendStaleHistogram(e.ref, st.now)
		} else {
			err = st.sender.AppendStale(e.ref, st.now)
		}
		if st.check(err, func() string { return "the stale marker of " + describeKey(key) }) {
			st.res.Stale++
		}
		err = st.sender.ReleaseSeries(e.ref)
		if err != nil && errors.Is(err, promrw.ErrClosed) {
			panic(errStop{err})
		}
		delete(st.series, key)
	}
}

// lookup returns the cached series <family><suffix>{labels, extra}, registering it (with its
// metadata) when it is not cached; nil when the library refused it. It builds the key in a
// reused buffer and looks it up without a copy.
func (st *state) lookup(suffix string, labels []*dto.LabelPair, extra string, extraValue []byte, native bool) *entry {
	k := append(st.key[:0], st.family...)
	k = append(k, suffix...)
	for _, l := range labels {
		if l.GetValue() == "" {
			continue // the library ignores labels with empty values
		}
		k = append(k, keyLabel)
		k = append(k, l.GetName()...)
		k = append(k, keyValue)
		k = append(k, l.GetValue()...)
	}
	if extra != "" {
		k = append(k, keyExtra)
		k = append(k, extra...)
		k = append(k, keyValue)
		k = append(k, extraValue...)
	}
	st.key = k
	e := st.series[string(k)]
	if e == nil {
		e = st.register(suffix, labels, extra, extraValue, native)
		if e == nil {
			return nil
		}
		st.series[string(k)] = e
	}
	if e.gen != st.gen {
		e.gen = st.gen
		st.seen++
	}
	return e
}

// register registers a series and sets its metadata (a refused metadata is logged, the series
// kept).
func (st *state) register(suffix string, labels []*dto.LabelPair, extra string, extraValue []byte, native bool) *entry {
	ls := append(st.regLabel[:0], promrw.Label{Name: "__name__", Value: st.family + suffix})
	for _, l := range labels {
		ls = append(ls, promrw.Label{Name: l.GetName(), Value: l.GetValue()})
	}
	if extra != "" {
		ls = append(ls, promrw.Label{Name: extra, Value: string(extraValue)})
	}
	st.regLabel = ls[:0]
	ref, err := st.sender.SeriesLabels(ls)
	describe := func() string { return st.describe(suffix, labels, extra, extraValue) }
	if !st.check(err, describe) {
		return nil
	}
	st.res.Registered++
	err = st.sender.SetMetadata(ref, st.mtype, st.help, st.unit)
	st.check(err, func() string { return "the metadata of " + describe() })
	return &entry{ref: ref, native: native}
}

// describe names a series for a refusal message: name{label="value",...}.
func (st *state) describe(suffix string, labels []*dto.LabelPair, extra string, extraValue []byte) string {
	var b strings.Builder
	b.WriteString(st.family + suffix + "{")
	sep := ""
	for _, l := range labels {
		b.WriteString(sep + l.GetName() + "=" + strconv.Quote(l.GetValue()))
		sep = ","
	}
	if extra != "" {
		b.WriteString(sep + extra + "=" + strconv.Quote(string(extraValue)))
	}
	b.WriteString("}")
	return b.String()
}

// describeKey names a series by its cache key.
func describeKey(key string) string {
	r := strings.NewReplacer(string([]byte{keyLabel}), " ", string([]byte{keyValue}), "=", string([]byte{keyExtra}), " ")
	return r.Replace(key)
}

// labelPairs sorts label pairs by name.
type labelPairs []*dto.LabelPair

func (p labelPairs) Len() int           { return len(p) }
func (p labelPairs) Less(i, j int) bool { return p[i].GetName() < p[j].GetName() }
func (p labelPairs) Swap(i, j int)      { p[i], p[j] = p[j], p[i] }

// sortLabels returns the labels sorted by name: themselves when they are (client_golang sorts
// them), else a sorted copy in a reused buffer.
func (st *state) sortLabels(labels []*dto.LabelPair) []*dto.LabelPair {
	for i := 1; i < len(labels); i++ {
		if labels[i-1].GetName() > labels[i].GetName() {
			st.sorted = append(st.sorted[:0], labels...)
			sort.Stable(&st.sorted)
			return st.sorted
		}
	}
	return labels
}

// appendFloat appends a le or quantile value as Prometheus formats it when it scrapes (and
// as prometheus_client does): the shortest representation, ".0" added to integers, +Inf,
// -Inf and NaN.
func appendFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsInf(v, +1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst
		}
	}
	return append(dst, ".0"...)
}
