package promrw

// #include <string.h>
// #include "promrw_cgo.h"
//
// /* A status and the error it came with: returned by value, so that the Go side passes no
//  * pointer to a Go variable (which would escape, one allocation per call). */
// typedef struct { promrw_status st; promrw_error *err; } promrw_go_result;
//
// /* Fills a promrw_exemplar on the C stack; NULL when has_exemplar is 0. */
// #define PROMRW_GO_EXEMPLAR(name) \
//     promrw_exemplar name##_struct = {ex_labels, ex_labels_len, ex_value, ex_ts, ex_has_ts}; \
//     const promrw_exemplar *name = has_exemplar ? &name##_struct : NULL
//
// /* Fills a promrw_histogram on the C stack from the Go slices' base pointers and lengths
//  * (cgo forbids Go pointers inside memory passed to C, and Go 1.19 has no runtime.Pinner),
//  * then appends it. */
// static promrw_go_result promrw_go_append_histogram(
//     const promrw_sender *s, promrw_series_ref series, int64_t ts,
//     int32_t schema, uint32_t kind, double zero_threshold, double sum,
//     uint64_t count_int, uint64_t zero_count_int, double count_float, double zero_count_float,
//     const promrw_bucket_span *ps, size_t ps_len, const promrw_bucket_span *ns, size_t ns_len,
//     const int64_t *pd, size_t pd_len, const int64_t *nd, size_t nd_len,
//     const double *pc, size_t pc_len, const double *nc, size_t nc_len,
//     const double *cv, size_t cv_len, uint32_t reset_hint, int64_t start_ts,
//     int has_exemplar, const promrw_label *ex_labels, size_t ex_labels_len,
//     double ex_value, int64_t ex_ts, uint32_t ex_has_ts) {
//     PROMRW_GO_EXEMPLAR(ex);
//     promrw_histogram h;
//     memset(&h, 0, sizeof h);
//     h.struct_size = sizeof h;
//     h.schema = schema;
//     h.kind = kind;
//     h.zero_threshold = zero_threshold;
//     h.sum = sum;
//     h.count_int = count_int;
//     h.zero_count_int = zero_count_int;
//     h.count_float = count_float;
//     h.zero_count_float = zero_count_float;
//     h.positive_spans = ps;
//     h.positive_spans_len = ps_len;
//     h.negative_spans = ns;
//     h.negative_spans_len = ns_len;
//     h.positive_deltas = pd;
//     h.positive_deltas_len = pd_len;
//     h.negative_deltas = nd;
//     h.negative_deltas_len = nd_len;
//     h.positive_counts = pc;
//     h.positive_counts_len = pc_len;
//     h.negative_counts = nc;
//     h.negative_counts_len = nc_len;
//     h.custom_values = cv;
//     h.custom_values_len = cv_len;
//     h.reset_hint = reset_hint;
//     h.start_timestamp_ms = start_ts;
//     h.exemplar = ex;
//     promrw_go_result r = {0, NULL};
//     r.st = promrw_sender_append_histogram(s, series, ts, &h, &r.err);
//     return r;
// }
//
// static promrw_go_result promrw_go_append_with_exemplar(
//     const promrw_sender *s, promrw_series_ref series, int64_t ts, int64_t start_ts,
//     double value, int has_exemplar, const promrw_label *ex_labels, size_t ex_labels_len,
//     double ex_value, int64_t ex_ts, uint32_t ex_has_ts) {
//     PROMRW_GO_EXEMPLAR(ex);
//     promrw_go_result r = {0, NULL};
//     r.st = promrw_sender_append_with_exemplar(s, series, ts, start_ts, value, ex, &r.err);
//     return r;
// }
//
// static promrw_go_result promrw_go_set_metadata(
//     const promrw_sender *s, promrw_series_ref series, uint32_t metric_type,
//     const char *help, size_t help_len, const char *unit, size_t unit_len) {
//     promrw_go_result r = {0, NULL};
//     r.st = promrw_sender_set_metadata(s, series, metric_type, help, help_len, unit, unit_len,
//         &r.err);
//     return r;
// }
import "C"

import (
	"runtime"
	"strconv"
	"unsafe"
)

// BucketSpan is a run of consecutive buckets of a native histogram (promrw_bucket_span, the
// same memory layout): Offset is the gap since the previous span's end (for the first span,
// the index of its first bucket), Length the number of buckets.
type BucketSpan struct {
	// Offset is the gap to the previous span (the first span: the index of its first bucket).
	Offset int32
	// Length is the number of consecutive buckets.
	Length uint32
}

// ResetHint says what the producer knows about counter resets (promrw_histogram.reset_hint).
type ResetHint uint32

// The reset hints (PROMRW_RESET_HINT_*).
const (
	// ResetHintUnknown: nothing known about counter resets.
	ResetHintUnknown ResetHint = C.PROMRW_RESET_HINT_UNKNOWN
	// ResetHintYes: a counter reset happened just before this histogram.
	ResetHintYes ResetHint = C.PROMRW_RESET_HINT_YES
	// ResetHintNo: no counter reset happened.
	ResetHintNo ResetHint = C.PROMRW_RESET_HINT_NO
	// ResetHintGauge: a gauge histogram, where counter resets do not apply.
	ResetHintGauge ResetHint = C.PROMRW_RESET_HINT_GAUGE
)

// Histogram is one native histogram observation, the fields of promrw_histogram. Float
// chooses which counts are read: false (an integer histogram) reads Count, ZeroCount and the
// *Deltas slices (each bucket the delta from the previous one, the first absolute), and
// requires the *Counts slices to be empty; true (a float histogram) reads CountFloat,
// ZeroCountFloat and the *Counts slices (absolute counts), and requires the *Deltas slices to
// be empty. The count fields of the other kind are ignored. The slices are borrowed for the
// call only.
type Histogram struct {
	// Schema is -4 to 8 (exponential buckets) or -53 (custom buckets).
	Schema int32
	// ZeroThreshold is the width of the zero bucket (0 with custom buckets).
	ZeroThreshold float64
	// Sum is the sum of the observations.
	Sum float64
	// Float makes this a float histogram (PROMRW_HISTOGRAM_FLOAT).
	Float bool
	// Count is an integer histogram's total number of observations.
	Count uint64
	// ZeroCount is an integer histogram's observations in the zero bucket.
	ZeroCount uint64
	// CountFloat is a float histogram's total number of observations.
	CountFloat float64
	// ZeroCountFloat is a float histogram's observations in the zero bucket.
	ZeroCountFloat float64
	// PositiveSpans are the spans of the positive buckets.
	PositiveSpans []BucketSpan
	// NegativeSpans are the spans of the negative buckets (none with custom buckets).
	NegativeSpans []BucketSpan
	// PositiveDeltas are an integer histogram's positive buckets as deltas.
	PositiveDeltas []int64
	// NegativeDeltas are an integer histogram's negative buckets as deltas.
	NegativeDeltas []int64
	// PositiveCounts are a float histogram's positive buckets' absolute counts.
	PositiveCounts []float64
	// NegativeCounts are a float histogram's negative buckets' absolute counts.
	NegativeCounts []float64
	// ResetHint is one of the ResetHint* constants.
	ResetHint ResetHint
	// CustomValues are the custom buckets' upper bounds, inclusive, strictly increasing,
	// without +Inf (schema -53 only).
	CustomValues []float64
}

// Exemplar is an exemplar (promrw_exemplar): labels (often trace_id), a value and, when
// HasTimestamp is true, its own timestamp; otherwise it takes the sample's timestamp. The
// labels follow the label rules (empty values are dropped; names must be valid, unique); an
// empty set is allowed; the names and values together may hold at most 128 UTF-8 runes.
type Exemplar struct {
	// Labels are the exemplar's labels.
	Labels []Label
	// Value is the exemplar's value.
	Value float64
	// TimestampMs is the exemplar's time in milliseconds since the Unix epoch, used only when
	// HasTimestamp is true.
	TimestampMs int64
	// HasTimestamp says whether TimestampMs is set.
	HasTimestamp bool
}

// MetricType is the type of a metric family for SetMetadata (PROMRW_METRIC_TYPE_*, the
// protocol's values 0 to 7, the same in Remote Write 1.0 and 2.0).
type MetricType uint32

// The metric types (PROMRW_METRIC_TYPE_*).
const (
	// MetricTypeUnknown: unknown (Remote Write 2.0's METRIC_TYPE_UNSPECIFIED).
	MetricTypeUnknown MetricType = C.PROMRW_METRIC_TYPE_UNKNOWN
	// MetricTypeCounter: a counter.
	MetricTypeCounter MetricType = C.PROMRW_METRIC_TYPE_COUNTER
	// MetricTypeGauge: a gauge.
	MetricTypeGauge MetricType = C.PROMRW_METRIC_TYPE_GAUGE
	// MetricTypeHistogram: a histogram (classic or native).
	MetricTypeHistogram MetricType = C.PROMRW_METRIC_TYPE_HISTOGRAM
	// MetricTypeGaugeHistogram: a gauge histogram.
	MetricTypeGaugeHistogram MetricType = C.PROMRW_METRIC_TYPE_GAUGEHISTOGRAM
	// MetricTypeSummary: a summary.
	MetricTypeSummary MetricType = C.PROMRW_METRIC_TYPE_SUMMARY
	// MetricTypeInfo: an info metric.
	MetricTypeInfo MetricType = C.PROMRW_METRIC_TYPE_INFO
	// MetricTypeStateSet: a state set.
	MetricTypeStateSet MetricType = C.PROMRW_METRIC_TYPE_STATESET
)

// metricTypeNames are the exposition formats' names of the metric types.
var metricTypeNames = map[string]MetricType{
	"unknown":        MetricTypeUnknown,
	"untyped":        MetricTypeUnknown,
	"counter":        MetricTypeCounter,
	"gauge":          MetricTypeGauge,
	"histogram":      MetricTypeHistogram,
	"gaugehistogram": MetricTypeGaugeHistogram,
	"summary":        MetricTypeSummary,
	"info":           MetricTypeInfo,
	"stateset":       MetricTypeStateSet,
}

// ParseMetricType returns the metric type named as in the exposition formats ("counter",
// "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown" or
// "untyped"); CodeInvalidArgument for any other name.
func ParseMetricType(name string) (MetricType, error) {
	if t, ok := metricTypeNames[name]; ok {
		return t, nil
	}
	return 0, newError(CodeInvalidArgument, "metric type "+strconv.Quote(name)+
		" is not one of counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown")
}

// spanPtr is the base pointer of a span slice (nil when empty); BucketSpan has the layout
// of promrw_bucket_span (checked in layout.go), so the slice is passed without a copy.
func spanPtr(s []BucketSpan) (*C.promrw_bucket_span, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.promrw_bucket_span)(unsafe.Pointer(&s[0])), C.size_t(len(s))
}

// int64Ptr is the base pointer of an int64 slice (nil when empty).
func int64Ptr(s []int64) (*C.int64_t, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.int64_t)(unsafe.Pointer(&s[0])), C.size_t(len(s))
}

// float64Ptr is the base pointer of a float64 slice (nil when empty).
func float64Ptr(s []float64) (*C.double, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.double)(unsafe.Pointer(&s[0])), C.size_t(len(s))
}

// exemplarArgs are an exemplar's arguments to the C shims; its labels are copied into C
// memory (buf), which the caller frees.
type exemplarArgs struct {
	has    C.int
	labels *C.promrw_label
	n      C.size_t
	value  C.double
	ts     C.int64_t
	hasTs  C.uint32_t
}

// exemplarOf fills args from ex (nil: no exemplar), copying its labels into buf.
func exemplarOf(ex *Exemplar, buf *labelBuf) exemplarArgs {
	if ex == nil {
		return exemplarArgs{}
	}
	text := 0
	for _, l := range ex.Labels {
		text += len(l.Name) + len(l.Value)
	}
	buf.init(len(ex.Labels), text)
	for _, l := range ex.Labels {
		buf.add(l.Name, l.Value)
	}
	args := exemplarArgs{
		has:    1,
		labels: buf.labels,
		n:      C.size_t(buf.n),
		value:  C.double(ex.Value),
		ts:     C.int64_t(ex.TimestampMs),
	}
	if ex.HasTimestamp {
		args.hasTs = 1
	}
	return args
}

// AppendHistogram appends one native histogram (promrw_sender_append_histogram), checked
// with Prometheus's rules first. startMs is the start timestamp (0: unset; otherwise not
// after tsMillis); ex is an exemplar or nil. Like a sample, its timestamp must be later than
// the last accepted one of the series (sample or histogram). An endpoint not configured for
// it drops it and counts it (HistogramsDropped): Remote Write 1.0 endpoints send histograms
// only with send_native_histograms: true, exemplars only with send_exemplars: true. Errors:
// CodeInvalidArgument when a field is malformed, slices of the other kind are not empty, the
// start timestamp is after tsMillis, or the histogram breaks Prometheus's rules (the message
// names the field or the rule: schema, spans against buckets, negative counts, the count
// against the buckets, custom bounds); CodeInvalidLabels when the exemplar's labels break the
// label rules or hold more than 128 runes; and the errors of Append. h and ex are borrowed
// for the call only; h is read without a copy and no Go memory is allocated for it.
func (s *Sender) AppendHistogram(ref SeriesRef, tsMillis int64, h *Histogram, startMs int64, ex *Exemplar) error {
	if h == nil {
		return newError(CodeInvalidArgument, "histogram is nil")
	}
	var buf labelBuf
	defer buf.free()
	exArgs := exemplarOf(ex, &buf)
	kind := C.uint32_t(C.PROMRW_HISTOGRAM_INTEGER)
	if h.Float {
		kind = C.PROMRW_HISTOGRAM_FLOAT
	}
	ps, psLen := spanPtr(h.PositiveSpans)
	ns, nsLen := spanPtr(h.NegativeSpans)
	pd, pdLen := int64Ptr(h.PositiveDeltas)
	nd, ndLen := int64Ptr(h.NegativeDeltas)
	pc, pcLen := float64Ptr(h.PositiveCounts)
	nc, ncLen := float64Ptr(h.NegativeCounts)
	cv, cvLen := float64Ptr(h.CustomValues)
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	r := C.promrw_go_append_histogram(p, C.promrw_series_ref(ref), C.int64_t(tsMillis),
		C.int32_t(h.Schema), kind, C.double(h.ZeroThreshold), C.double(h.Sum),
		C.uint64_t(h.Count), C.uint64_t(h.ZeroCount), C.double(h.CountFloat), C.double(h.ZeroCountFloat),
		ps, psLen, ns, nsLen, pd, pdLen, nd, ndLen, pc, pcLen, nc, ncLen, cv, cvLen,
		C.uint32_t(h.ResetHint), C.int64_t(startMs),
		exArgs.has, exArgs.labels, exArgs.n, exArgs.value, exArgs.ts, exArgs.hasTs)
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	runtime.KeepAlive(h)
	return takeError(r.st, r.err)
}

// AppendStaleHistogram appends a stale marker for a histogram series (an empty integer
// histogram whose sum is the stale NaN), telling receivers that the series ended at
// tsMillis. Errors as Append.
func (s *Sender) AppendStaleHistogram(ref SeriesRef, tsMillis int64) error {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	st := C.promrw_sender_append_stale_histogram(p, C.promrw_series_ref(ref), C.int64_t(tsMillis))
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return statusError(st)
}

// AppendWithExemplar appends one sample with a start timestamp and an exemplar
// (promrw_sender_append_with_exemplar). startMs 0 means unset; otherwise it must not be after
// tsMillis. ex may be nil: then this is an append with a start timestamp only. An endpoint
// without send_exemplars: true drops the exemplar (counted in ExemplarsDropped) and still
// sends the sample. Errors: CodeInvalidArgument when the start timestamp is after tsMillis or
// a label is not UTF-8; CodeInvalidLabels when the exemplar's labels break the label rules or
// hold more than 128 runes; and the errors of Append.
func (s *Sender) AppendWithExemplar(ref SeriesRef, tsMillis, startMs int64, v float64, ex *Exemplar) error {
	var buf labelBuf
	defer buf.free()
	exArgs := exemplarOf(ex, &buf)
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	r := C.promrw_go_append_with_exemplar(p, C.promrw_series_ref(ref), C.int64_t(tsMillis),
		C.int64_t(startMs), C.double(v),
		exArgs.has, exArgs.labels, exArgs.n, exArgs.value, exArgs.ts, exArgs.hasTs)
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return takeError(r.st, r.err)
}

// AppendWithStart appends one sample with a start timestamp (0: unset; otherwise not after
// tsMillis): AppendWithExemplar without an exemplar.
func (s *Sender) AppendWithStart(ref SeriesRef, tsMillis, startMs int64, v float64) error {
	return s.AppendWithExemplar(ref, tsMillis, startMs, v, nil)
}

// SetMetadata sets the metadata of a series (its metric family's type, help text and unit),
// replacing what was set before (promrw_sender_set_metadata). Remote Write 2.0 endpoints send
// it with every request carrying the series; 1.0 endpoints send it in metadata requests every
// metadata_config.send_interval, by metric family (the series' name without the suffix its
// type implies: _total, _bucket, _sum, _count, _created, _info). Errors: CodeInvalidArgument
// when typ is not one of the MetricType constants (0 to 7) or help or unit is not UTF-8;
// CodeUnknownSeries when ref is unknown or released; CodeClosed; CodeIO when writing the WAL
// failed (WAL mode).
func (s *Sender) SetMetadata(ref SeriesRef, typ MetricType, help, unit string) error {
	var buf labelBuf
	defer buf.free()
	buf.init(1, len(help)+len(unit))
	buf.add(help, unit)
	l := buf.all[0]
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	r := C.promrw_go_set_metadata(p, C.promrw_series_ref(ref), C.uint32_t(typ),
		l.name, l.name_len, l.value, l.value_len)
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return takeError(r.st, r.err)
}
