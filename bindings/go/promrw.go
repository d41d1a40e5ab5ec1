package promrw

// // The module's own copy of promrw.h (include/, made by sync-native.sh) comes first, the
// // repository's (../../include) second: see promrw_cgo.h, which also checks the version.
// #cgo CFLAGS: -I${SRCDIR}/include -I${SRCDIR}/../../include
// #include <stdlib.h>
// #include <string.h>
// #include "promrw_cgo.h"
import "C"

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// BindingVersion is the major.minor version of the promrw C library this package was
// written for. The header it compiles against must have this version (checked when
// compiling) and the library it runs with must have the header's exact version (checked by
// New).
const BindingVersion = "0.1"

// headerVersion is the version of the promrw.h the package was compiled against.
var headerVersion = strconv.Itoa(C.PROMRW_VERSION_MAJOR) + "." +
	strconv.Itoa(C.PROMRW_VERSION_MINOR) + "." + strconv.Itoa(C.PROMRW_VERSION_PATCH)

// Version returns the version of the linked promrw library, such as "0.1.0".
func Version() string {
	return C.GoString(C.promrw_version())
}

var (
	versionOnce sync.Once
	versionErr  error
)

// checkVersion fails when the library linked at run time (which can differ from the header
// with the promrw_dynamic build tag) is not the header's version.
func checkVersion() error {
	versionOnce.Do(func() {
		if v := Version(); v != headerVersion {
			versionErr = newError(CodeInvalidArgument, "the promrw library is version "+v+
				" but this Go package was compiled against promrw.h "+headerVersion)
		}
	})
	return versionErr
}

// SeriesRef identifies a registered series (promrw_series_ref). The zero value is never a
// valid reference.
type SeriesRef uint64

// Sample is one sample for AppendBatch. It has the memory layout of promrw_sample, so a
// []Sample is handed to the library without a copy.
type Sample struct {
	// Series is the series, from Series or SeriesLabels.
	Series SeriesRef
	// TimestampMs is the sample's time in milliseconds since the Unix epoch.
	TimestampMs int64
	// Value is the value; its bits are sent unchanged.
	Value float64
}

// Label is one label of a series: a name and a value. The name __name__ holds the metric
// name. A label with an empty value is ignored.
type Label struct {
	Name  string
	Value string
}

// DefaultFinalizerTimeout is how long a Sender that became unreachable without Close is
// given to send what it still holds (see WithFinalizerTimeout).
const DefaultFinalizerTimeout = 5 * time.Second

// Option configures NewWithOptions.
type Option func(*options)

type options struct {
	logger           func(Level, string)
	logLevel         Level
	finalizerTimeout time.Duration
}

// WithLogger sends the library's log records at minLevel and above to fn. Without it the
// library is silent. fn is called on the library's own threads and on goroutines calling
// Append*, possibly concurrently: it must be safe for concurrent use, return quickly and not
// call methods of the Sender. A panic in fn is recovered and the record dropped.
func WithLogger(minLevel Level, fn func(level Level, msg string)) Option {
	return func(o *options) {
		o.logger = fn
		o.logLevel = minLevel
	}
}

// WithFinalizerTimeout sets how long the finalizer of a Sender that was never closed lets it
// send queued samples before freeing it (default DefaultFinalizerTimeout). The finalizer is
// only a backstop: call Close.
func WithFinalizerTimeout(d time.Duration) Option {
	return func(o *options) { o.finalizerTimeout = d }
}

// Sender sends samples to the Remote Write endpoints of its configuration. All its methods
// may be called from many goroutines at once. Call Close when done; a finalizer closes and
// frees a Sender that becomes unreachable without Close, as a backstop only.
type Sender struct {
	// mu is held for reading by every call that uses p and for writing only while p is
	// freed, so the handle is never freed under a running call.
	mu sync.RWMutex
	// p is the library's handle; nil once freed (by Close or the finalizer).
	p *C.promrw_sender
	// closeMu serialises Close calls.
	closeMu          sync.Mutex
	finalizerTimeout time.Duration
	// final is what Close read from the library before freeing it, returned by Stats,
	// MetricsText and LastReport afterwards; written under mu held for writing.
	final finalState
}

// finalState is a closed sender's last figures.
type finalState struct {
	stats   Stats
	metrics string
	report  Report
}

// finalized counts senders freed by their finalizer (for tests).
var finalized uint64

// errSenderClosed is returned by calls on a Sender after Close.
var errSenderClosed = &Error{code: CodeClosed, msg: "the sender was closed"}

// New parses a configuration in the Prometheus remote_write schema (YAML, or JSON when it
// starts with '{') and starts a Sender: one queue of shard threads per endpoint. The error
// is an *Error: CodeInvalidConfig with the field at fault, CodeIO when a thread could not be
// started, or CodeInvalidArgument when the linked library is not the version of the header
// this package was compiled against.
//
// Example configuration:
//
//	remote_write:
//	  - url: http://127.0.0.1:9090/api/v1/write
//	    queue_config:
//	      max_samples_per_send: 2000
//	external_labels:
//	  cluster: eu1
func New(config string) (*Sender, error) {
	return NewWithOptions(config)
}

// NewWithOptions is New with options (WithLogger, WithFinalizerTimeout).
func NewWithOptions(config string, opts ...Option) (*Sender, error) {
	var text *C.char
	if len(config) > 0 {
		text = C.CString(config)
		defer C.free(unsafe.Pointer(text))
	}
	return startSender(opts, func(cfg **C.promrw_config, cerr **C.promrw_error) C.promrw_status {
		return C.promrw_config_from_yaml(text, C.size_t(len(config)), cfg, cerr)
	})
}

// NewFromFile reads and validates a configuration file (the same schema, the same
// YAML-or-JSON choice and the same errors as New) and starts a Sender, with options as
// NewWithOptions. The file is read once, during the call. Errors as New, and
// CodeInvalidConfig when the file cannot be read (the message names the path and the
// system's error); CodeInvalidArgument when path is empty.
func NewFromFile(path string, opts ...Option) (*Sender, error) {
	var cpath *C.char
	if len(path) > 0 {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	}
	return startSender(opts, func(cfg **C.promrw_config, cerr **C.promrw_error) C.promrw_status {
		return C.promrw_config_from_file(cpath, C.size_t(len(path)), cfg, cerr)
	})
}

// startSender makes a configuration with parse, applies the options and starts a Sender.
func startSender(opts []Option, parse func(**C.promrw_config, **C.promrw_error) C.promrw_status) (*Sender, error) {
	o := options{finalizerTimeout: DefaultFinalizerTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := checkVersion(); err != nil {
		return nil, err
	}

	var cfg *C.promrw_config
	var cerr *C.promrw_error
	st := parse(&cfg, &cerr)
	if err := takeError(st, cerr); err != nil {
		return nil, err
	}
	defer C.promrw_config_free(cfg)

	if o.logger != nil {
		if err := setLogger(cfg, o.logLevel, o.logger); err != nil {
			return nil, err
		}
	}

	var p *C.promrw_sender
	cerr = nil
	st = C.promrw_sender_new(cfg, &p, &cerr)
	if err := takeError(st, cerr); err != nil {
		return nil, err
	}
	s := &Sender{p: p, finalizerTimeout: o.finalizerTimeout}
	runtime.SetFinalizer(s, finalizeSender)
	return s, nil
}

// finalizeSender is the backstop for a Sender that became unreachable without Close. It
// closes and frees it on a new goroutine, so a slow close never holds up other finalizers.
func finalizeSender(s *Sender) {
	go func() {
		_ = s.Close(s.finalizerTimeout)
		atomic.AddUint64(&finalized, 1)
	}()
}

// ptr returns the library handle, or nil once the sender was freed. The caller holds s.mu
// for reading. Built with -tags debug it first forces a garbage collection, to expose a
// missing runtime.KeepAlive.
func (s *Sender) ptr() *C.promrw_sender {
	if debugGC {
		runtime.GC()
	}
	return s.p
}

// Series registers a label set (validated, sorted, external labels added) and returns its
// reference; equal label sets give the same reference. Errors: CodeInvalidLabels (the
// message says which label and why), CodeClosed.
func (s *Sender) Series(labels map[string]string) (SeriesRef, error) {
	text := 0
	for name, value := range labels {
		text += len(name) + len(value)
	}
	buf := newLabelBuf(len(labels), text)
	defer buf.free()
	for name, value := range labels {
		buf.add(name, value)
	}
	return s.series(buf)
}

// SeriesLabels is Series for labels given as a slice: it keeps duplicate names, which the
// library refuses (CodeInvalidLabels), as it does with any other invalid label.
func (s *Sender) SeriesLabels(labels []Label) (SeriesRef, error) {
	text := 0
	for _, l := range labels {
		text += len(l.Name) + len(l.Value)
	}
	buf := newLabelBuf(len(labels), text)
	defer buf.free()
	for _, l := range labels {
		buf.add(l.Name, l.Value)
	}
	return s.series(buf)
}

func (s *Sender) series(buf *labelBuf) (SeriesRef, error) {
	var ref C.promrw_series_ref
	var cerr *C.promrw_error
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return 0, errSenderClosed
	}
	st := C.promrw_sender_series(p, buf.labels, C.size_t(buf.n), &ref, &cerr)
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	if err := takeError(st, cerr); err != nil {
		return 0, err
	}
	return SeriesRef(ref), nil
}

// labelBuf holds a promrw_label array and the bytes of all its names and values in one C
// allocation, so that no Go memory is passed to C (Go 1.19 has no unsafe.StringData).
type labelBuf struct {
	base   unsafe.Pointer
	labels *C.promrw_label
	n      int
	all    []C.promrw_label
	text   []byte
	off    int
}

func newLabelBuf(n, textBytes int) *labelBuf {
	b := &labelBuf{}
	b.init(n, textBytes)
	return b
}

// init sizes an empty labelBuf for n labels of textBytes bytes in all (a labelBuf on the
// caller's stack costs no Go allocation); free releases it.
func (b *labelBuf) init(n, textBytes int) {
	if n == 0 {
		return
	}
	head := n * C.sizeof_promrw_label
	b.base = C.malloc(C.size_t(head + textBytes))
	b.labels = (*C.promrw_label)(b.base)
	b.all = unsafe.Slice(b.labels, n)
	if textBytes > 0 {
		b.text = unsafe.Slice((*byte)(unsafe.Add(b.base, head)), textBytes)
	}
}

// add appends a label; newLabelBuf was sized for it.
func (b *labelBuf) add(name, value string) {
	l := &b.all[b.n]
	l.name, l.name_len = b.str(name)
	l.value, l.value_len = b.str(value)
	b.n++
}

func (b *labelBuf) str(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	p := (*C.char)(unsafe.Pointer(&b.text[b.off]))
	b.off += copy(b.text[b.off:], s)
	return p, C.size_t(len(s))
}

func (b *labelBuf) free() {
	if b.base != nil {
		C.free(b.base)
		b.base = nil
	}
}

// ReleaseSeries forgets a series so its memory can be reused; samples already queued are
// still sent, later appends with ref fail with CodeUnknownSeries.
func (s *Sender) ReleaseSeries(ref SeriesRef) error {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	st := C.promrw_sender_release_series(p, C.promrw_series_ref(ref))
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return statusError(st)
}

// Append appends one sample. tsMillis (milliseconds since the Unix epoch) must be later than
// the last accepted timestamp of the series. Errors: CodeOutOfOrder, CodeUnknownSeries,
// CodeQueueFull (not accepted; it may be appended again), CodeShardDead, CodeClosed.
func (s *Sender) Append(ref SeriesRef, tsMillis int64, v float64) error {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	st := C.promrw_sender_append(p, C.promrw_series_ref(ref), C.int64_t(tsMillis), C.double(v))
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return statusError(st)
}

// AppendStale appends a stale marker, telling receivers that the series ended at tsMillis.
// Errors as Append.
func (s *Sender) AppendStale(ref SeriesRef, tsMillis int64) error {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	st := C.promrw_sender_append_stale(p, C.promrw_series_ref(ref), C.int64_t(tsMillis))
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return statusError(st)
}

// AppendBatch appends samples in order in one call into the library (the slice is not
// copied), stopping at the first one refused. It returns how many were accepted: on error,
// samples[n] is the refused one and the error is as Append's for it (CodeClosed when the
// Sender was closed before or during the call).
func (s *Sender) AppendBatch(samples []Sample) (int, error) {
	var first *C.promrw_sample
	if len(samples) > 0 {
		first = (*C.promrw_sample)(unsafe.Pointer(&samples[0]))
	}
	var accepted C.size_t
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return 0, errSenderClosed
	}
	st := C.promrw_sender_append_batch(p, first, C.size_t(len(samples)), &accepted)
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	runtime.KeepAlive(samples)
	return acceptedCount(st, accepted, len(samples))
}

// AppendColumns appends samples given as columns: sample i is (series[i], timestampsMs[i],
// values[i]), or (series[0], timestampsMs[i], values[i]) when series has one element. None
// of the slices is copied. It returns and fails as AppendBatch; columns of mismatched
// lengths give CodeInvalidArgument with nothing appended.
func (s *Sender) AppendColumns(series []SeriesRef, timestampsMs []int64, values []float64) (int, error) {
	n := len(timestampsMs)
	if len(values) != n || !(len(series) == n || len(series) == 1) {
		return 0, newError(CodeInvalidArgument, "AppendColumns: series, timestamps and values must have the same length "+
			"(or series one element), got "+strconv.Itoa(len(series))+", "+strconv.Itoa(n)+" and "+strconv.Itoa(len(values)))
	}
	var refs *C.promrw_series_ref
	var ts *C.int64_t
	var vs *C.double
	if len(series) > 0 {
		refs = (*C.promrw_series_ref)(unsafe.Pointer(&series[0]))
	}
	if n > 0 {
		ts = (*C.int64_t)(unsafe.Pointer(&timestampsMs[0]))
		vs = (*C.double)(unsafe.Pointer(&values[0]))
	}
	var accepted C.size_t
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return 0, errSenderClosed
	}
	st := C.promrw_sender_append_columns(p, refs, C.size_t(len(series)), ts, vs, C.size_t(n), &accepted)
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	runtime.KeepAlive(series)
	runtime.KeepAlive(timestampsMs)
	runtime.KeepAlive(values)
	return acceptedCount(st, accepted, n)
}

// acceptedCount is the result of a batch call. accepted starts at 0 and the library writes
// it whenever it processed samples, including when a concurrent Close refused the rest of
// the batch with PROMRW_CLOSED; when it refused the call outright it stays 0.
func acceptedCount(st C.promrw_status, accepted C.size_t, n int) (int, error) {
	if st == C.PROMRW_OK {
		return n, nil
	}
	return int(accepted), statusError(st)
}

// Flush waits until every sample appended before the call is acknowledged (or failed for
// good), sending partial batches at once. Durations are rounded up to whole milliseconds.
//
// It returns nil only when every sample accepted before the call was acknowledged and
// nothing was rejected or dropped since the previous flush or close returned. Errors:
//   - a *SamplesLostError (errors.Is(err, ErrSamplesLost)) when some samples were rejected
//     by a receiver (a non-retryable status such as 400, 401 or 404; counted as failed) or
//     dropped (too old, queue full) since the previous flush or close returned;
//   - a *TimeoutError (errors.Is(err, ErrTimeout)) when timeout passed first (it takes
//     precedence; the report says what is still pending and the last error of each
//     endpoint);
//   - CodeClosed after Close.
//
// Both carry the call's Report (the same that LastReport returns afterwards).
func (s *Sender) Flush(timeout time.Duration) error {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	st := C.promrw_sender_flush(p, millis(timeout))
	var r Report
	if st == C.PROMRW_SAMPLES_LOST || st == C.PROMRW_TIMEOUT {
		r = lastReport(p)
	}
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return reportError(st, r)
}

// Sync makes every sample accepted before the call durable. With the durable queue
// (promrw.wal) it succeeds once every sample accepted before the call is written to the log
// files and fsync'd (whatever the fsync policy), else it fails with a timeout when the
// timeout passes first. In memory mode (no promrw.wal) it succeeds at once and guarantees
// nothing: the samples live in memory only. After close it fails as closed. The durability
// contract is stated in docs/DURABILITY.md.
//
// Unlike Flush it waits for no receiver and makes no report. Durations are rounded up to
// whole milliseconds. It returns nil on success; otherwise an *Error with
//   - CodeTimeout (errors.Is(err, ErrTimeout)) when timeout passed first;
//   - CodeClosed (errors.Is(err, ErrClosed)) after Close.
func (s *Sender) Sync(timeout time.Duration) error {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	st := C.promrw_sender_sync(p, millis(timeout))
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	if st == C.PROMRW_OK {
		return nil
	}
	return &Error{code: Code(st), msg: "sync: " + Code(st).String()}
}

// Close stops accepting samples, sends what is queued for up to timeout, stops and joins the
// shard threads and frees the library's resources (including the WithLogger function). It
// keeps the final Stats, MetricsText and LastReport, which those methods return afterwards.
//
// An HTTP attempt still in progress at the deadline is interrupted (its connection is shut
// down, a TCP connect is abandoned), so Close returns soon after the deadline even when
// remote_timeout is longer. A DNS lookup in progress is abandoned as well: it runs on a
// helper thread of its own, which holds nothing of the sender's and ends by itself when the
// system resolver answers, possibly after Close returns (a URL whose host is an IP address
// needs no lookup). When it returns, every shard thread has ended: the WithLogger function is
// not called for this Sender any more.
//
// It returns nil when everything queued was sent and nothing was rejected or dropped since
// the previous flush or close returned; a *SamplesLostError when some samples were (see
// Flush); a *TimeoutError when the deadline passed first (the samples still unsent are
// counted as failed). The Sender is closed in every case. Close is idempotent: later calls return nil. It waits for calls running on
// other goroutines to return; calls made afterwards fail with CodeClosed.
func (s *Sender) Close(timeout time.Duration) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()

	// Close under the read lock: calls racing with it get PROMRW_CLOSED or complete first.
	s.mu.RLock()
	p := s.p
	if p == nil {
		s.mu.RUnlock()
		return nil
	}
	st := C.promrw_sender_close(p, millis(timeout))
	// The read-only calls work on a closed sender: keep the final figures. Calls racing
	// with this one now fail with PROMRW_CLOSED, which stores no report.
	final := finalState{stats: stats(p), metrics: metricsText(p), report: lastReport(p)}
	s.mu.RUnlock()

	// Free under the write lock, once no call uses the handle any more.
	s.mu.Lock()
	C.promrw_sender_free(s.p)
	s.p = nil
	s.final = final
	s.mu.Unlock()
	runtime.SetFinalizer(s, nil)
	runtime.KeepAlive(s)

	if st == C.PROMRW_CLOSED {
		return nil
	}
	return reportError(st, final.report)
}

// Stats returns a snapshot of the sender's counters. After Close it returns the final
// counts, read when Close returned.
func (s *Sender) Stats() Stats {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		st := s.final.stats
		s.mu.RUnlock()
		return st
	}
	st := stats(p)
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return st
}

// stats reads the counters (the caller holds s.mu for reading); the zero Stats if the
// library refused.
func stats(p *C.promrw_sender) Stats {
	cs := newCStats()
	if C.promrw_sender_stats(p, &cs) != C.PROMRW_OK {
		return Stats{}
	}
	return statsFromC(&cs)
}

// MetricsText returns the sender's self-metrics in the Prometheus text exposition format
// (0.0.4). After Close it returns the final text, read when Close returned.
func (s *Sender) MetricsText() string {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		text := s.final.metrics
		s.mu.RUnlock()
		return text
	}
	text := metricsText(p)
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return text
}

// metricsText reads the self-metrics (the caller holds s.mu for reading); "" if the library
// refused.
func metricsText(p *C.promrw_sender) string {
	text, _ := readText(16<<10, func(buf *C.char, cap C.size_t, n *C.size_t) C.promrw_status {
		return C.promrw_sender_metrics_text(p, buf, cap, n)
	})
	return text
}

// millis converts a timeout to whole milliseconds, rounding up; negative means 0.
func millis(d time.Duration) C.uint64_t {
	if d <= 0 {
		return 0
	}
	return C.uint64_t((d + time.Millisecond - 1) / time.Millisecond)
}
