package promrw

import (
	"errors"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// newSender makes a sender or fails the test; the test closes it at the end.
func newSender(t *testing.T, config string, opts ...Option) *Sender {
	t.Helper()
	s, err := NewWithOptions(config, opts...)
	if err != nil {
		t.Fatalf("NewWithOptions: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(5 * time.Second) })
	return s
}

// mustSeries registers a series or fails the test.
func mustSeries(t testing.TB, s *Sender, labels map[string]string) SeriesRef {
	t.Helper()
	ref, err := s.Series(labels)
	if err != nil {
		t.Fatalf("Series(%v): %v", labels, err)
	}
	if ref == 0 {
		t.Fatalf("Series(%v) returned the zero reference", labels)
	}
	return ref
}

// expectCode checks that err is an *Error with the code (through errors.As and errors.Is)
// whose message contains every needle.
func expectCode(t *testing.T, what string, err error, code Code, sentinel error, needles ...string) {
	t.Helper()
	var perr *Error
	if !errors.As(err, &perr) {
		t.Errorf("%s: got %v (%T), want an *Error with code %d", what, err, err, code)
		return
	}
	if perr.Code() != code {
		t.Errorf("%s: got code %d (%v), want %d (%v): %v", what, perr.Code(), perr.Code(), code, code, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("%s: errors.Is(%v, %v) is false", what, err, sentinel)
	}
	for _, n := range needles {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("%s: message %q does not contain %q", what, err.Error(), n)
		}
	}
}

// nowMs is a timestamp a minute ago, so that a run's timestamps never reach the future.
func nowMs() int64 { return time.Now().UnixMilli() - 60_000 }

func TestVersion(t *testing.T) {
	if err := checkVersion(); err != nil {
		t.Fatal(err)
	}
	v := Version()
	if v != headerVersion {
		t.Errorf("library version %q, header version %q", v, headerVersion)
	}
	if !strings.HasPrefix(v, BindingVersion+".") {
		t.Errorf("library version %q is not %s.x", v, BindingVersion)
	}
}

func TestSampleLayout(t *testing.T) {
	l := sampleLayout()
	if l.goSize != l.cSize || l.goSize != 24 {
		t.Errorf("sizeof: Sample %d, promrw_sample %d (want 24)", l.goSize, l.cSize)
	}
	if l.goOffsets != l.cOffsets || l.goOffsets != [3]uintptr{0, 8, 16} {
		t.Errorf("offsets: Sample %v, promrw_sample %v", l.goOffsets, l.cOffsets)
	}
	if l.goRefSize != l.cRefSize || l.goRefSize != 8 {
		t.Errorf("sizeof: SeriesRef %d, promrw_series_ref %d", l.goRefSize, l.cRefSize)
	}
	if l.goAlign != l.cAlign {
		t.Errorf("alignment: Sample %d, promrw_sample %d", l.goAlign, l.cAlign)
	}
	if unsafe.Sizeof([2]Sample{}) != 2*l.cSize {
		t.Errorf("a []Sample does not have promrw_sample's stride")
	}
}

func TestCodesAndErrors(t *testing.T) {
	if got := CodeQueueFull.String(); got != "queue full" {
		t.Errorf("CodeQueueFull.String() = %q", got)
	}
	if got := Code(12345).String(); got != "unknown status" {
		t.Errorf("Code(12345).String() = %q", got)
	}
	codes := map[Code]uint32{CodeOK: 0, CodeInvalidArgument: 100, CodeInvalidConfig: 101, CodeInvalidLabels: 102,
		CodeUnknownSeries: 103, CodeBufferTooSmall: 104, CodeOutOfOrder: 200, CodeQueueFull: 201, CodeClosed: 202,
		CodeTimeout: 300, CodeShardDead: 301, CodeIO: 302, CodeSamplesLost: 303, CodeForked: 304,
		CodePanic: 900}
	for c, n := range codes {
		if uint32(c) != n {
			t.Errorf("code %v = %d, want %d", c, uint32(c), n)
		}
	}
	err := error(&Error{code: CodeOutOfOrder})
	if got := err.Error(); got != "promrw: out of order (out of order 200)" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(err, ErrOutOfOrder) || errors.Is(err, ErrQueueFull) {
		t.Errorf("errors.Is compares codes")
	}
	if errors.Is(err, (*Error)(nil)) {
		t.Errorf("errors.Is(err, nil *Error) is true")
	}
	if got := CodeSamplesLost.String(); got != "samples lost" {
		t.Errorf("CodeSamplesLost.String() = %q", got)
	}
	// Go programs do not fork, so no test forks: the mapping of PROMRW_FORKED is what exists.
	forked := error(&Error{code: CodeForked})
	if got := forked.Error(); got != "promrw: forked (forked 304)" {
		t.Errorf("CodeForked: Error() = %q", got)
	}
	if !errors.Is(forked, ErrForked) || errors.Is(forked, ErrClosed) || errors.Is(err, ErrForked) {
		t.Errorf("errors.Is(err, ErrForked) does not test for CodeForked")
	}
	lost := error(&SamplesLostError{Report: Report{SamplesFailed: 3, Message: "3 samples failed"}})
	if got := lost.Error(); got != "promrw: 3 samples failed (samples lost 303)" {
		t.Errorf("SamplesLostError.Error() = %q", got)
	}
	var perr *Error
	if !errors.Is(lost, ErrSamplesLost) || errors.Is(lost, ErrTimeout) || !errors.As(lost, &perr) ||
		perr.Code() != CodeSamplesLost || perr.Message() != "3 samples failed" {
		t.Errorf("SamplesLostError does not unwrap to its *Error (got %v)", perr)
	}
	if got := (&SamplesLostError{}).Error(); got != "promrw: samples lost (samples lost 303)" {
		t.Errorf("SamplesLostError{}.Error() = %q", got)
	}
	timeout := error(&TimeoutError{Report: Report{SamplesPending: 2, TimedOut: true}})
	var terr *TimeoutError
	if !errors.Is(timeout, ErrTimeout) || errors.Is(timeout, ErrSamplesLost) || !errors.As(timeout, &terr) ||
		terr.Report.SamplesPending != 2 || terr.Code() != CodeTimeout {
		t.Errorf("TimeoutError: errors.Is/As do not work (%v)", timeout)
	}
	for _, l := range []Level{LevelDebug, LevelInfo, LevelWarn, LevelError, Level(7)} {
		if l.String() == "" {
			t.Errorf("Level(%d) has no name", uint32(l))
		}
	}
}

func TestMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want uint64
	}{{-time.Second, 0}, {0, 0}, {time.Microsecond, 1}, {time.Millisecond, 1}, {1500 * time.Microsecond, 2}, {2 * time.Second, 2000}} {
		if got := uint64(millis(c.d)); got != c.want {
			t.Errorf("millis(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

// TestDelivery goes through the whole API against the sink and checks that everything
// appended arrived there.
func TestDelivery(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, testConfig(sink.url, "min_shards: 2"))
	up := mustSeries(t, s, map[string]string{"__name__": "go_up", "job": "go-test", "run": runLabel})
	temp := mustSeries(t, s, map[string]string{"__name__": "go_temperature_celsius", "job": "go-test", "run": runLabel, "room": "kitchen"})
	if again := mustSeries(t, s, map[string]string{"run": runLabel, "job": "go-test", "__name__": "go_up"}); again != up {
		t.Errorf("equal label sets gave references %d and %d", up, again)
	}
	slice, err := s.SeriesLabels([]Label{{"__name__", "go_slice_form"}, {"job", "go-test"}, {"run", runLabel}, {"empty", ""}})
	if err != nil {
		t.Fatal(err)
	}

	t0 := nowMs()
	want := 0
	for i := 0; i < 10; i++ {
		if err := s.Append(up, t0+int64(i)*1000, 1); err != nil {
			t.Fatalf("Append: %v", err)
		}
		want++
	}
	if err := s.AppendStale(up, t0+10_000); err != nil {
		t.Fatalf("AppendStale: %v", err)
	}
	want++
	batch := make([]Sample, 50)
	for i := range batch {
		batch[i] = Sample{Series: temp, TimestampMs: t0 + int64(i)*1000, Value: 20 + float64(i)/10}
	}
	if n, err := s.AppendBatch(batch); err != nil || n != len(batch) {
		t.Fatalf("AppendBatch: %d, %v", n, err)
	}
	want += len(batch)
	if n, err := s.AppendBatch(nil); err != nil || n != 0 {
		t.Fatalf("AppendBatch(nil): %d, %v", n, err)
	}
	ts := []int64{t0, t0 + 1000, t0 + 2000}
	if n, err := s.AppendColumns([]SeriesRef{slice}, ts, []float64{1, 2, 3}); err != nil || n != 3 {
		t.Fatalf("AppendColumns (one series): %d, %v", n, err)
	}
	want += 3
	if n, err := s.AppendColumns([]SeriesRef{slice, up}, []int64{t0 + 3000, t0 + 11_000}, []float64{4, math.Inf(1)}); err != nil || n != 2 {
		t.Fatalf("AppendColumns (a series each): %d, %v", n, err)
	}
	want += 2

	if err := s.Flush(10 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	st := s.Stats()
	if st.SamplesAppended != uint64(want) || st.SamplesAcked != uint64(want) || st.SamplesFailed != 0 || st.SamplesPending != 0 {
		t.Errorf("stats after flush: %+v, want %d appended and sent", st, want)
	}
	if st.Series != 3 || st.Endpoints != 1 || st.Shards != 2 || st.BatchesAcked == 0 || st.BytesTotal == 0 {
		t.Errorf("stats: %+v", st)
	}
	if st.HighestSentMs != t0+49_000 {
		t.Errorf("HighestSentMs = %d, want %d", st.HighestSentMs, t0+49_000)
	}
	text := s.MetricsText()
	for _, needle := range []string{"promrw_samples_appended_total", "promrw_samples_acked_total", strconv.Itoa(want)} {
		if !strings.Contains(text, needle) {
			t.Errorf("MetricsText does not contain %q:\n%s", needle, text)
		}
	}
	if err := s.Close(10 * time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sink.expectTotal(t, uint64(want))
	if _, series := sink.totals(); series != 3 {
		t.Errorf("the sink saw %d series, want 3", series)
	}
}

// TestConcurrentDelivery appends from 16 goroutines at once (Append and AppendBatch) and
// checks that the sender's counters and the sink agree with what was accepted.
func TestConcurrentDelivery(t *testing.T) {
	const goroutines, seriesEach = 16, 20
	rounds := 40
	if debugGC {
		rounds = 6 // every call runs a GC
	}
	sink := startSink(t)
	s := newSender(t, testConfig(sink.url, "min_shards: 2", "capacity: 20000"))
	t0 := nowMs() - int64(rounds)*1000
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			refs := make([]SeriesRef, seriesEach)
			for i := range refs {
				ref, err := s.Series(map[string]string{"__name__": "go_concurrent", "goroutine": strconv.Itoa(g),
					"series": strconv.Itoa(i), "run": runLabel})
				if err != nil {
					errs <- err
					return
				}
				refs[i] = ref
			}
			batch := make([]Sample, seriesEach)
			for r := 0; r < rounds; r++ {
				ts := t0 + int64(r)*1000
				if r%2 == 0 {
					for i, ref := range refs {
						batch[i] = Sample{Series: ref, TimestampMs: ts, Value: float64(g*1000 + r)}
					}
					if n, err := s.AppendBatch(batch); err != nil || n != len(batch) {
						errs <- err
						return
					}
				} else {
					for _, ref := range refs {
						if err := s.Append(ref, ts, float64(r)); err != nil {
							errs <- err
							return
						}
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a goroutine failed: %v", err)
	}
	want := uint64(goroutines * seriesEach * rounds)
	if err := s.Flush(20 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	st := s.Stats()
	if st.SamplesAppended != want || st.SamplesAcked != want || st.SamplesFailed != 0 || st.RejectedOutOfOrder != 0 {
		t.Errorf("stats: %+v, want %d appended and sent", st, want)
	}
	if st.Series != goroutines*seriesEach {
		t.Errorf("%d series registered, want %d", st.Series, goroutines*seriesEach)
	}
	sink.expectTotal(t, want)
}

func TestConfigErrors(t *testing.T) {
	_, err := New("remote_write: [\n  - url: {\n")
	expectCode(t, "bad YAML", err, CodeInvalidConfig, ErrInvalidConfig, "line")
	_, err = New("remote_write:\n  - url: http://127.0.0.1:9/w\n    queue_config:\n      capacityy: 10\n")
	expectCode(t, "unknown key", err, CodeInvalidConfig, ErrInvalidConfig, "remote_write[0].queue_config", "capacityy")
	_, err = New("remote_write:\n  - url: http://127.0.0.1:9/w\n    queue_config:\n      capacity: 0\n")
	expectCode(t, "invalid value", err, CodeInvalidConfig, ErrInvalidConfig, "capacity")
	_, err = New("")
	expectCode(t, "empty config", err, CodeInvalidConfig, ErrInvalidConfig)
	_, err = New("remote_write: []\n")
	expectCode(t, "no endpoint", err, CodeInvalidConfig, ErrInvalidConfig, "at least one endpoint")
	_, err = New("\xff\xfe")
	expectCode(t, "not UTF-8", err, CodeInvalidConfig, ErrInvalidConfig, "UTF-8")
	_, err = New(`{"remote_write": [{"url": "http://127.0.0.1:9/w"}], "bogus": 1}`)
	expectCode(t, "JSON with an unknown key", err, CodeInvalidConfig, ErrInvalidConfig, "bogus")
	freedBefore := atomic.LoadUint64(&logHandlesFreed)
	_, err = NewWithOptions(testConfig(deadURL), WithLogger(Level(9), func(Level, string) {}))
	expectCode(t, "bad log level", err, CodeInvalidArgument, ErrInvalidArgument, "log level")
	_, err = NewWithOptions("remote_write: 5\n", WithLogger(LevelInfo, func(Level, string) {}))
	expectCode(t, "bad config with a logger", err, CodeInvalidConfig, ErrInvalidConfig)
	if got := atomic.LoadUint64(&logHandlesFreed); got != freedBefore {
		t.Errorf("failed registrations released %d log handles through the library", got-freedBefore)
	}
	// A configuration that parses but cannot start a sender: the registered log function is
	// released when the configuration is freed.
	_, err = NewWithOptions("remote_write:\n  - url: https://127.0.0.1:9/w\n    tls_config:\n      ca_file: /nonexistent/ca.pem\n",
		WithLogger(LevelInfo, func(Level, string) {}))
	expectCode(t, "sender that cannot start", err, CodeInvalidConfig, ErrInvalidConfig, "ca_file")
	waitLogHandlesFreed(t, freedBefore+1)
}

func TestAppendErrors(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, testConfig(sink.url))

	_, err := s.Series(map[string]string{"__name__": "go_errors", "1bad-name": "x"})
	expectCode(t, "bad label name", err, CodeInvalidLabels, ErrInvalidLabels, "invalid label name", "1bad-name")
	_, err = s.SeriesLabels([]Label{{"__name__", "go_errors"}, {"job", "a"}, {"job", "b"}})
	expectCode(t, "duplicate labels", err, CodeInvalidLabels, ErrInvalidLabels, "duplicate label name", "job")
	_, err = s.SeriesLabels([]Label{{"__name__", "go_errors"}, {"job", "\xc3\x28"}})
	expectCode(t, "label value not UTF-8", err, CodeInvalidLabels, ErrInvalidLabels, "label 1", "UTF-8")
	_, err = s.Series(nil)
	expectCode(t, "no labels", err, CodeInvalidLabels, ErrInvalidLabels)
	_, err = s.Series(map[string]string{"job": ""})
	expectCode(t, "only empty values", err, CodeInvalidLabels, ErrInvalidLabels)
	_, err = s.Series(map[string]string{"": "x"})
	expectCode(t, "empty name", err, CodeInvalidLabels, ErrInvalidLabels)

	ref := mustSeries(t, s, map[string]string{"__name__": "go_errors", "job": "errors", "run": runLabel})
	t0 := nowMs()
	if err := s.Append(ref, t0, 1); err != nil {
		t.Fatalf("first append: %v", err)
	}
	expectCode(t, "same timestamp again", s.Append(ref, t0, 2), CodeOutOfOrder, ErrOutOfOrder, "out of order")
	expectCode(t, "older timestamp", s.Append(ref, t0-1, 2), CodeOutOfOrder, ErrOutOfOrder)
	expectCode(t, "stale marker out of order", s.AppendStale(ref, t0-1), CodeOutOfOrder, ErrOutOfOrder)
	expectCode(t, "unknown series", s.Append(987654321, t0, 2), CodeUnknownSeries, ErrUnknownSeries, "unknown series")

	// A batch stops at the first refused sample and says how many went in.
	batch := []Sample{{ref, t0 + 1, 1}, {ref, t0 + 2, 2}, {ref, t0 + 2, 3}, {ref, t0 + 3, 4}}
	n, err := s.AppendBatch(batch)
	expectCode(t, "batch with an out-of-order sample", err, CodeOutOfOrder, ErrOutOfOrder)
	if n != 2 {
		t.Errorf("AppendBatch accepted %d samples, want 2", n)
	}
	n, err = s.AppendBatch([]Sample{{ref, t0 + 10, 1}, {424242, t0 + 11, 1}})
	expectCode(t, "batch with an unknown series", err, CodeUnknownSeries, ErrUnknownSeries)
	if n != 1 {
		t.Errorf("AppendBatch accepted %d samples, want 1", n)
	}
	n, err = s.AppendColumns([]SeriesRef{ref}, []int64{t0 + 20, t0 + 19}, []float64{1, 2})
	expectCode(t, "columns with an out-of-order sample", err, CodeOutOfOrder, ErrOutOfOrder)
	if n != 1 {
		t.Errorf("AppendColumns accepted %d samples, want 1", n)
	}
	n, err = s.AppendColumns([]SeriesRef{ref}, []int64{t0 + 30, t0 + 31}, []float64{1})
	expectCode(t, "columns of different lengths", err, CodeInvalidArgument, ErrInvalidArgument, "same length")
	if n != 0 {
		t.Errorf("AppendColumns accepted %d samples, want 0", n)
	}
	n, err = s.AppendColumns([]SeriesRef{ref, ref, ref}, []int64{t0 + 30, t0 + 31}, []float64{1, 2})
	expectCode(t, "series column of a third length", err, CodeInvalidArgument, ErrInvalidArgument)
	if n != 0 {
		t.Errorf("AppendColumns accepted %d samples, want 0", n)
	}
	if n, err := s.AppendColumns(nil, nil, nil); n != 0 || err != nil {
		t.Errorf("AppendColumns with no samples: %d, %v", n, err)
	}

	// Released series.
	gone := mustSeries(t, s, map[string]string{"__name__": "go_released", "run": runLabel})
	if err := s.ReleaseSeries(gone); err != nil {
		t.Fatalf("ReleaseSeries: %v", err)
	}
	expectCode(t, "append to a released series", s.Append(gone, t0, 1), CodeUnknownSeries, ErrUnknownSeries)
	expectCode(t, "release twice", s.ReleaseSeries(gone), CodeUnknownSeries, ErrUnknownSeries)

	if err := s.Flush(10 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	st := s.Stats()
	// Accepted: 1 + 2 (batch) + 1 (batch) + 1 (columns) = 5.
	if st.SamplesAcked != 5 || st.RejectedOutOfOrder != 5 || st.RejectedUnknownSeries != 3 {
		t.Errorf("stats: %+v (want 5 sent, 5 out of order, 3 unknown series)", st)
	}
	if err := s.Close(5 * time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sink.expectTotal(t, 5)
}

// TestQueueFull fills the queue of an endpoint where nothing listens, under the fail policy.
func TestQueueFull(t *testing.T) {
	s := newSender(t, testConfig(deadURL, "capacity: 10", "max_samples_per_send: 5", "min_backoff: 10ms",
		"max_backoff: 50ms", "overflow: fail"))
	ref := mustSeries(t, s, map[string]string{"__name__": "go_queue_full", "run": runLabel})
	t0 := nowMs()
	appended := 0
	var err error
	for appended < 100 {
		if err = s.Append(ref, t0+int64(appended), 1); err != nil {
			break
		}
		appended++
	}
	expectCode(t, "append to a full queue", err, CodeQueueFull, ErrQueueFull, "queue full")
	if appended < 10 || appended > 15 {
		t.Errorf("%d samples fit before the queue was full, want 10..15", appended)
	}
	batch := make([]Sample, 20)
	for i := range batch {
		batch[i] = Sample{ref, t0 + int64(appended+i), float64(i)}
	}
	n, err := s.AppendBatch(batch)
	expectCode(t, "batch to a full queue", err, CodeQueueFull, ErrQueueFull)
	if n >= len(batch) {
		t.Errorf("the batch was accepted whole (%d)", n)
	}
	accepted := uint64(appended + n)
	err = s.Flush(50 * time.Millisecond)
	expectCode(t, "flush that cannot finish", err, CodeTimeout, ErrTimeout)
	var terr *TimeoutError
	if !errors.As(err, &terr) {
		t.Fatalf("Flush: %v (%T) is not a *TimeoutError", err, err)
	}
	if r := terr.Report; !r.TimedOut || r.SamplesPending != accepted || r.SamplesFailed != 0 || len(r.Endpoints) != 1 ||
		!r.Endpoints[0].TimedOut || r.Endpoints[0].SamplesPending != accepted || r.LastHTTPStatus != 0 {
		t.Errorf("Flush's timeout report: %+v, want %d pending", r, accepted)
	}
	if r := terr.Report; r.LastErrorUnixMs == 0 || !strings.Contains(r.Endpoints[0].LastError, "refused") {
		t.Errorf("Flush's timeout report does not show the refused connections: %+v", r)
	}
	if errors.Is(err, ErrSamplesLost) {
		t.Errorf("a timeout is also samples lost: %v", err)
	}
	st := s.Stats()
	if st.RejectedQueueFull != 2 || st.SamplesAcked != 0 || st.SamplesPending == 0 {
		t.Errorf("stats: %+v", st)
	}
	err = s.Close(200 * time.Millisecond)
	expectCode(t, "close with unsent samples", err, CodeTimeout, ErrTimeout, "timeout")
	if !errors.As(err, &terr) {
		t.Fatalf("Close: %v (%T) is not a *TimeoutError", err, err)
	}
	// Samples unsent at the close deadline are abandoned, counted as failed.
	if r := terr.Report; !r.TimedOut || r.SamplesFailed != accepted {
		t.Errorf("Close's timeout report: %+v, want %d failed", r, accepted)
	}
	if st := s.Stats(); st.SamplesFailed != accepted || st.SamplesPending != 0 || st.SamplesAppended != accepted {
		t.Errorf("Stats after Close: %+v, want %d appended and failed", st, accepted)
	}
	if err := s.Close(time.Second); err != nil {
		t.Errorf("Close after a timed-out Close: %v", err)
	}
}

// TestSyncInMemoryMode checks that without promrw.wal Sync returns nil at once and
// guarantees nothing: nothing queued can reach an endpoint where nothing listens, yet Sync
// (unlike Flush) does not wait for it; after Close it fails with CodeClosed.
func TestSyncInMemoryMode(t *testing.T) {
	s, err := New(testConfig(deadURL, "min_backoff: 10ms", "max_backoff: 50ms"))
	if err != nil {
		t.Fatal(err)
	}
	ref := mustSeries(t, s, map[string]string{"__name__": "go_sync_memory", "run": runLabel})
	t0 := nowMs()
	for i := 0; i < 10; i++ {
		if err := s.Append(ref, t0+int64(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now()
	if err := s.Sync(30 * time.Second); err != nil {
		t.Errorf("Sync in memory mode: %v", err)
	}
	if err := s.Sync(0); err != nil {
		t.Errorf("Sync(0) in memory mode: %v", err)
	}
	if took := time.Since(started); took > 5*time.Second {
		t.Errorf("Sync in memory mode waited %v", took)
	}
	if st := s.Stats(); st.SamplesAppended != 10 || st.SamplesAcked != 0 || st.SamplesPending == 0 {
		t.Errorf("stats after Sync: %+v, want 10 appended, none acknowledged, some pending", st)
	}
	err = s.Close(100 * time.Millisecond)
	expectCode(t, "Close with unsent samples", err, CodeTimeout, ErrTimeout)
	expectCode(t, "Sync after Close", s.Sync(time.Second), CodeClosed, ErrClosed, "closed")
}

// TestClose checks Close twice and every call after Close.
func TestClose(t *testing.T) {
	sink := startSink(t)
	s, err := New(testConfig(sink.url))
	if err != nil {
		t.Fatal(err)
	}
	ref := mustSeries(t, s, map[string]string{"__name__": "go_close", "run": runLabel})
	t0 := nowMs()
	for i := 0; i < 5; i++ {
		if err := s.Append(ref, t0+int64(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	// Close sends what is queued.
	if err := s.Close(10 * time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(10 * time.Second); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	expectCode(t, "Append after Close", s.Append(ref, t0+10, 1), CodeClosed, ErrClosed, "closed")
	expectCode(t, "AppendStale after Close", s.AppendStale(ref, t0+10), CodeClosed, ErrClosed)
	n, err := s.AppendBatch([]Sample{{ref, t0 + 10, 1}})
	expectCode(t, "AppendBatch after Close", err, CodeClosed, ErrClosed)
	if n != 0 {
		t.Errorf("AppendBatch after Close accepted %d", n)
	}
	_, err = s.AppendColumns([]SeriesRef{ref}, []int64{t0 + 10}, []float64{1})
	expectCode(t, "AppendColumns after Close", err, CodeClosed, ErrClosed)
	_, err = s.Series(map[string]string{"__name__": "x"})
	expectCode(t, "Series after Close", err, CodeClosed, ErrClosed)
	expectCode(t, "ReleaseSeries after Close", s.ReleaseSeries(ref), CodeClosed, ErrClosed)
	expectCode(t, "Flush after Close", s.Flush(time.Second), CodeClosed, ErrClosed)
	expectCode(t, "Sync after Close", s.Sync(time.Second), CodeClosed, ErrClosed, "closed")
	// The final figures stay readable.
	if st := s.Stats(); st.SamplesAppended != 5 || st.SamplesAcked != 5 || st.SamplesFailed != 0 ||
		st.SamplesPending != 0 || st.Series != 1 || st.Endpoints != 1 {
		t.Errorf("Stats after Close: %+v, want 5 appended and sent", st)
	}
	if text := s.MetricsText(); !hasSample(text, "promrw_samples_appended_total", 5) {
		t.Errorf("MetricsText after Close does not show 5 samples appended:\n%s", text)
	}
	if r := s.LastReport(); r.SamplesFailed != 0 || r.TimedOut || r.Message != "" || len(r.Endpoints) != 1 {
		t.Errorf("LastReport after a clean Close: %+v", r)
	}
	sink.expectTotal(t, 5)
}

// TestConcurrentClose closes a sender from 4 goroutines at once: one call closes it, all
// return nil (nothing was pending), and the sender is closed afterwards.
func TestConcurrentClose(t *testing.T) {
	sink := startSink(t)
	s, err := New(testConfig(sink.url))
	if err != nil {
		t.Fatal(err)
	}
	ref := mustSeries(t, s, map[string]string{"__name__": "go_concurrent_close", "run": runLabel})
	if err := s.Append(ref, nowMs(), 1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.Close(10 * time.Second)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Close #%d: %v", i, err)
		}
	}
	expectCode(t, "Append after the concurrent Close calls", s.Append(ref, nowMs()+1, 1), CodeClosed, ErrClosed)
	sink.expectTotal(t, 1)
}

// TestCloseWhileAppending closes a sender while 8 goroutines append to it: every append
// either succeeds or fails with CodeClosed, and every accepted sample reaches the sink.
func TestCloseWhileAppending(t *testing.T) {
	sink := startSink(t)
	s, err := New(testConfig(sink.url, "capacity: 100000"))
	if err != nil {
		t.Fatal(err)
	}
	const goroutines = 8
	var accepted uint64
	var each [goroutines]uint64 // samples accepted per goroutine
	var wg sync.WaitGroup
	start := make(chan struct{})
	bad := make(chan error, goroutines)
	t0 := nowMs() - 3_600_000
	for g := 0; g < goroutines; g++ {
		ref := mustSeries(t, s, map[string]string{"__name__": "go_close_race", "g": strconv.Itoa(g), "run": runLabel})
		wg.Add(1)
		go func(g int, ref SeriesRef) {
			defer wg.Done()
			<-start
			batch := make([]Sample, 4)
			for i := 0; ; i++ {
				var err error
				if g%2 == 0 {
					err = s.Append(ref, t0+int64(i), float64(i))
					if err == nil {
						atomic.AddUint64(&accepted, 1)
						atomic.AddUint64(&each[g], 1)
					}
				} else {
					for j := range batch {
						batch[j] = Sample{ref, t0 + int64(i*len(batch)+j), float64(j)}
					}
					var n int
					n, err = s.AppendBatch(batch)
					atomic.AddUint64(&accepted, uint64(n))
					atomic.AddUint64(&each[g], uint64(n))
				}
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						bad <- err
					}
					return
				}
			}
		}(g, ref)
	}
	close(start)
	// Close while every goroutine is appending: once each has had samples accepted.
	deadline := time.Now().Add(30 * time.Second)
	for g := 0; g < goroutines; g++ {
		for atomic.LoadUint64(&each[g]) < 10 {
			if time.Now().After(deadline) {
				t.Fatalf("goroutine %d did not get going", g)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := s.Close(10 * time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(bad)
	for err := range bad {
		t.Errorf("an append racing with Close failed with %v, want CodeClosed", err)
	}
	got := atomic.LoadUint64(&accepted)
	if got == 0 {
		t.Fatal("no sample was accepted before Close")
	}
	t.Logf("%d samples accepted before Close", got)
	sink.expectTotal(t, got)
}

// TestFinalizer drops a sender without closing it: its finalizer closes it (sending what
// was queued), frees it and releases its log function.
func TestFinalizer(t *testing.T) {
	sink := startSink(t)
	finalizedBefore := atomic.LoadUint64(&finalized)
	freedBefore := atomic.LoadUint64(&logHandlesFreed)
	const samples = 25
	func() {
		s, err := NewWithOptions(testConfig(sink.url, "batch_send_deadline: 1h"),
			WithLogger(LevelError, func(Level, string) {}), WithFinalizerTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ref := mustSeries(t, s, map[string]string{"__name__": "go_finalizer", "run": runLabel})
		t0 := nowMs()
		for i := 0; i < samples; i++ {
			if err := s.Append(ref, t0+int64(i), float64(i)); err != nil {
				t.Fatal(err)
			}
		}
		// No Flush, no Close: the samples wait for a 1 h batch deadline.
	}()
	deadline := time.Now().Add(20 * time.Second)
	for atomic.LoadUint64(&finalized) == finalizedBefore && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if atomic.LoadUint64(&finalized) == finalizedBefore {
		t.Fatal("the finalizer did not run within 20 s")
	}
	waitLogHandlesFreed(t, freedBefore+1)
	sink.expectTotal(t, samples)
}

// waitLogHandlesFreed waits until the library has released `want` log handles in all, and
// checks it released no more. The library releases a handle when it drops the last holder,
// which is usually in promrw_sender_free (Close) but can be a shard thread that Close saw
// exiting and did not join, a moment later.
func waitLogHandlesFreed(t *testing.T, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for atomic.LoadUint64(&logHandlesFreed) < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// A short grace for a surplus release ("no more"): a "nothing happened" check, made
	// sound by the counter being cumulative: every later call checks the exact total, and
	// this same counter has just been seen to count the expected releases.
	time.Sleep(10 * time.Millisecond)
	if got := atomic.LoadUint64(&logHandlesFreed); got != want {
		t.Errorf("%d log handles released in all, want %d", got, want)
	}
}

// TestLogger routes the library's log records to a Go function, which may panic without
// harm, and checks that Close releases it.
func TestLogger(t *testing.T) {
	sink := startSink(t)
	var mu sync.Mutex
	var records []string
	freedBefore := atomic.LoadUint64(&logHandlesFreed)
	s, err := NewWithOptions(testConfig(sink.url), WithLogger(LevelDebug, func(l Level, msg string) {
		mu.Lock()
		records = append(records, l.String()+": "+msg)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	ref := mustSeries(t, s, map[string]string{"__name__": "go_logger", "run": runLabel})
	if err := s.Append(ref, nowMs(), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(records)
	mu.Unlock()
	if n == 0 {
		t.Error("no log record arrived at debug level")
	} else {
		t.Logf("%d log records, first: %s", n, records[0])
	}
	waitLogHandlesFreed(t, freedBefore+1)

	// A logger that panics: the record is dropped, nothing else happens.
	var calls uint64
	s2 := newSender(t, testConfig(sink.url), WithLogger(LevelDebug, func(Level, string) {
		atomic.AddUint64(&calls, 1)
		panic("logger panic")
	}))
	ref2 := mustSeries(t, s2, map[string]string{"__name__": "go_logger_panics", "run": runLabel})
	if err := s2.Append(ref2, nowMs(), 1); err != nil {
		t.Fatal(err)
	}
	if err := s2.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if atomic.LoadUint64(&calls) == 0 {
		t.Error("the panicking logger was never called")
	}
	sink.expectTotal(t, 2)
}

// logRecords collects the records a WithLogger function is given.
type logRecords struct {
	mu      sync.Mutex
	records []string
}

func (r *logRecords) log(l Level, msg string) {
	r.mu.Lock()
	r.records = append(r.records, l.String()+": "+msg)
	r.mu.Unlock()
}

// matching returns the records containing text.
func (r *logRecords) matching(text string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.records {
		if strings.Contains(rec, text) {
			out = append(out, rec)
		}
	}
	return out
}

// TestSetLogLevel checks that SetLogLevel changes the level of a running sender: the
// per-request debug records ("request of N samples") start after SetLogLevel(LevelDebug)
// and stop after SetLogLevel(LevelWarn), which also stops the info record of Close.
func TestSetLogLevel(t *testing.T) {
	sink := startSink(t)
	var got logRecords
	// A long batch deadline: each request is one Flush, whatever the scheduling.
	s, err := NewWithOptions(testConfig(sink.url, "batch_send_deadline: 5s"), WithLogger(LevelInfo, got.log))
	if err != nil {
		t.Fatal(err)
	}
	t0 := nowMs()
	request := func(n int) {
		t.Helper()
		samples := make([]Sample, n)
		for i := range samples {
			ref := mustSeries(t, s, map[string]string{"__name__": "go_set_log_level", "run": runLabel,
				"n": strconv.Itoa(n), "i": strconv.Itoa(i)})
			samples[i] = Sample{Series: ref, TimestampMs: t0, Value: float64(i)}
		}
		if _, err := s.AppendBatch(samples); err != nil {
			t.Fatal(err)
		}
		// The debug record of a request is passed on before its samples count as
		// acknowledged, so it has arrived when Flush returns.
		if err := s.Flush(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}

	request(1) // at LevelInfo: no debug record
	if err := s.SetLogLevel(LevelDebug); err != nil {
		t.Fatalf("SetLogLevel(LevelDebug): %v", err)
	}
	request(2)
	if err := s.SetLogLevel(LevelWarn); err != nil {
		t.Fatalf("SetLogLevel(LevelWarn): %v", err)
	}
	request(3)
	if err := s.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	sink.expectTotal(t, 6)

	all := got.matching("")
	if len(got.matching("started 1 shards")) != 1 {
		t.Errorf("the info record of the start is missing: %q", all)
	}
	if debug := got.matching("request of"); len(debug) != 1 || !strings.Contains(debug[0], "debug: ") ||
		!strings.Contains(debug[0], "request of 2 samples") {
		t.Errorf("want exactly the debug record of the request of 2 samples, got %q (all: %q)", debug, all)
	}
	if closed := got.matching("closed"); len(closed) != 0 {
		t.Errorf("the info record of Close arrived at LevelWarn: %q", closed)
	}

	expectCode(t, "SetLogLevel after Close", s.SetLogLevel(LevelDebug), CodeClosed, ErrClosed)
}

// TestSetLogLevelErrors checks the level's validation and a sender without a log function.
func TestSetLogLevelErrors(t *testing.T) {
	s := newSender(t, testConfig(deadURL), WithLogger(LevelError, func(Level, string) {}))
	expectCode(t, "SetLogLevel(Level(4))", s.SetLogLevel(Level(4)), CodeInvalidArgument,
		ErrInvalidArgument, "SetLogLevel: invalid log level level(4)")
	for _, l := range []Level{LevelDebug, LevelInfo, LevelWarn, LevelError} {
		if err := s.SetLogLevel(l); err != nil {
			t.Errorf("SetLogLevel(%v): %v", l, err)
		}
	}
	silent := newSender(t, testConfig(deadURL))
	if err := silent.SetLogLevel(LevelDebug); err != nil {
		t.Errorf("SetLogLevel on a sender without WithLogger: %v", err)
	}
}

// TestMetricsTextGrows checks the retry on a too-small buffer by asking for the text of a
// sender with many endpoints (a longer text than the first buffer).
func TestMetricsTextGrows(t *testing.T) {
	var b strings.Builder
	b.WriteString("remote_write:\n")
	for i := 0; i < 60; i++ {
		b.WriteString("  - url: " + deadURL + "\n    name: endpoint-" + strconv.Itoa(i) + "\n")
	}
	s := newSender(t, b.String())
	text := s.MetricsText()
	if len(text) <= 16<<10 {
		t.Skipf("the metrics text is only %d bytes; the retry path is not exercised", len(text))
	}
	if !strings.Contains(text, "endpoint-59") || !strings.HasSuffix(text, "\n") {
		t.Errorf("truncated metrics text (%d bytes)", len(text))
	}
}
