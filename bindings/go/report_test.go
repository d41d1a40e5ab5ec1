package promrw

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// statusReceiver is an HTTP server on 127.0.0.1, in this process, that answers every request
// with one status and body, as a receiver that rejects Remote Write requests does.
type statusReceiver struct {
	url string

	mu       sync.Mutex
	requests int
	bad      []string // requests that were not Remote Write POSTs
}

// startStatusReceiver starts a statusReceiver and stops it when the test ends.
func startStatusReceiver(t *testing.T, status int, body string) *statusReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &statusReceiver{url: "http://" + ln.Addr().String() + "/api/v1/write"}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.requests++
		if req.Method != http.MethodPost || req.URL.Path != "/api/v1/write" ||
			req.Header.Get("Content-Encoding") != "snappy" {
			r.bad = append(r.bad, req.Method+" "+req.URL.Path+" encoding="+req.Header.Get("Content-Encoding"))
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return r
}

// check fails the test unless the receiver got at least one request and only Remote Write
// POSTs.
func (r *statusReceiver) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.requests == 0 {
		t.Error("the receiver got no request")
	}
	if len(r.bad) > 0 {
		t.Errorf("the receiver got requests that are not Remote Write POSTs: %q", r.bad)
	}
}

// samplesLost checks that err is a *SamplesLostError (through errors.Is and errors.As, both
// as *SamplesLostError and as *Error) and returns its report.
func samplesLost(t *testing.T, what string, err error) Report {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: nil error, want samples lost", what)
	}
	if !errors.Is(err, ErrSamplesLost) {
		t.Errorf("%s: errors.Is(%v, ErrSamplesLost) is false", what, err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Errorf("%s: errors.Is(%v, ErrTimeout) is true", what, err)
	}
	var perr *Error
	if !errors.As(err, &perr) || perr.Code() != CodeSamplesLost {
		t.Errorf("%s: errors.As(*Error) gives %v, want code %d", what, perr, CodeSamplesLost)
	}
	if !strings.Contains(err.Error(), "(samples lost 303)") {
		t.Errorf("%s: message %q does not name the code", what, err.Error())
	}
	var lost *SamplesLostError
	if !errors.As(err, &lost) {
		t.Fatalf("%s: %v (%T) is not a *SamplesLostError", what, err, err)
	}
	if lost.Code() != CodeSamplesLost {
		t.Errorf("%s: Code() = %v", what, lost.Code())
	}
	return lost.Report
}

// TestSamplesLost sends to a receiver that rejects every request with a status that is not
// retried: Flush reports the samples as lost, with the status and the receiver's message,
// once; Close reports the samples lost after that Flush; the counters stay readable after
// Close.
func TestSamplesLost(t *testing.T) {
	for _, status := range []int{404, 401, 400} {
		status := status
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			body := "go-test receiver says no (" + strconv.Itoa(status) + ")"
			recv := startStatusReceiver(t, status, body)
			s := newSender(t, testConfig(recv.url))
			ref := mustSeries(t, s, map[string]string{"__name__": "go_samples_lost", "run": runLabel})
			before := time.Now().UnixMilli() // the batch may go out before Flush
			t0 := nowMs()
			for i := 0; i < 3; i++ {
				if err := s.Append(ref, t0+int64(i), float64(i)); err != nil {
					t.Fatal(err)
				}
			}
			batch := []Sample{{ref, t0 + 3, 3}, {ref, t0 + 4, 4}, {ref, t0 + 5, 5}, {ref, t0 + 6, 6}}
			if n, err := s.AppendBatch(batch); err != nil || n != len(batch) {
				t.Fatalf("AppendBatch: %d, %v", n, err)
			}
			const appended = 7

			err := s.Flush(10 * time.Second)
			r := samplesLost(t, "Flush", err)
			if r.SamplesFailed != appended || r.SamplesPending != 0 || r.TimedOut ||
				r.SamplesDroppedTooOld != 0 || r.SamplesDroppedQueueFull != 0 {
				t.Errorf("report: %+v, want %d failed and nothing else", r, appended)
			}
			if r.LastHTTPStatus != uint32(status) {
				t.Errorf("LastHTTPStatus = %d, want %d", r.LastHTTPStatus, status)
			}
			if now := time.Now().UnixMilli(); r.LastErrorUnixMs < before || r.LastErrorUnixMs > now {
				t.Errorf("LastErrorUnixMs = %d, want between %d and %d", r.LastErrorUnixMs, before, now)
			}
			if !strings.Contains(r.Message, body) || !strings.Contains(err.Error(), body) {
				t.Errorf("the message does not contain the receiver's body %q: %q", body, r.Message)
			}
			if len(r.Endpoints) != 1 {
				t.Fatalf("%d endpoint reports, want 1: %+v", len(r.Endpoints), r)
			}
			e := r.Endpoints[0]
			if e.SamplesFailed != appended || e.LastHTTPStatus != uint32(status) || e.TimedOut ||
				e.LastErrorUnixMs != r.LastErrorUnixMs {
				t.Errorf("endpoint report: %+v, want %d failed with HTTP %d", e, appended, status)
			}
			if !strings.Contains(e.LastError, body) || !strings.Contains(e.LastError, strconv.Itoa(status)) {
				t.Errorf("endpoint LastError %q does not contain the status and %q", e.LastError, body)
			}
			if last := s.LastReport(); !reflect.DeepEqual(last, r) {
				t.Errorf("LastReport() = %+v,\nthe error's report %+v", last, r)
			}
			recv.check(t)

			// Nothing new since: the next flush has nothing to report.
			if err := s.Flush(10 * time.Second); err != nil {
				t.Fatalf("second Flush: %v", err)
			}
			if last := s.LastReport(); last.SamplesFailed != 0 || last.Message != "" || len(last.Endpoints) != 1 ||
				last.Endpoints[0].SamplesFailed != 0 {
				t.Errorf("report after a clean flush: %+v", last)
			}

			// Lost after the last flush: Close reports those.
			for i := 0; i < 2; i++ {
				if err := s.Append(ref, t0+10+int64(i), 1); err != nil {
					t.Fatal(err)
				}
			}
			r = samplesLost(t, "Close", s.Close(10*time.Second))
			if r.SamplesFailed != 2 || r.LastHTTPStatus != uint32(status) || !strings.Contains(r.Message, body) {
				t.Errorf("Close report: %+v, want 2 failed with HTTP %d", r, status)
			}
			if last := s.LastReport(); !reflect.DeepEqual(last, r) {
				t.Errorf("LastReport() after Close = %+v,\nClose's report %+v", last, r)
			}
			st := s.Stats()
			if st.SamplesAppended != appended+2 || st.SamplesFailed != appended+2 || st.SamplesAcked != 0 ||
				st.SamplesPending != 0 || st.Endpoints != 1 || st.Series != 1 {
				t.Errorf("Stats after Close: %+v, want %d appended and failed", st, appended+2)
			}
			if text := s.MetricsText(); !hasSample(text, "samples_failed_total", appended+2) {
				t.Errorf("MetricsText after Close does not show %d failed samples:\n%s", appended+2, text)
			}
			if err := s.Close(time.Second); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if last := s.LastReport(); !reflect.DeepEqual(last, r) {
				t.Errorf("LastReport() after a second Close = %+v, want Close's report", last)
			}
		})
	}
}

// hasSample reports whether the exposition text has a sample of a metric whose name contains
// name with the value want.
func hasSample(text, name string, want uint64) bool {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "#") && strings.Contains(line, name) &&
			strings.HasSuffix(line, " "+strconv.FormatUint(want, 10)) {
			return true
		}
	}
	return false
}

// TestReportPerEndpoint sends to two endpoints, one rejecting with 404 and one the sink: the
// report tells them apart, and the sink gets every sample.
func TestReportPerEndpoint(t *testing.T) {
	sink := startSink(t)
	recv := startStatusReceiver(t, 404, "no such tenant")
	s := newSender(t, "remote_write:\n"+
		"  - url: "+recv.url+"\n    name: rejecting\n    queue_config:\n      batch_send_deadline: 50ms\n"+
		"  - url: "+sink.url+"\n    name: sink\n    queue_config:\n      batch_send_deadline: 50ms\n")
	ref := mustSeries(t, s, map[string]string{"__name__": "go_report_per_endpoint", "run": runLabel})
	t0 := nowMs()
	const n = 5
	for i := 0; i < n; i++ {
		if err := s.Append(ref, t0+int64(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	r := samplesLost(t, "Flush", s.Flush(10*time.Second))
	if len(r.Endpoints) != 2 {
		t.Fatalf("%d endpoint reports, want 2: %+v", len(r.Endpoints), r)
	}
	if e := r.Endpoints[0]; e.SamplesFailed != n || e.LastHTTPStatus != 404 || !strings.Contains(e.LastError, "no such tenant") {
		t.Errorf("rejecting endpoint: %+v", e)
	}
	if e := r.Endpoints[1]; e.SamplesFailed != 0 || e.LastHTTPStatus != 0 || e.LastError != "" || e.LastErrorUnixMs != 0 {
		t.Errorf("sink endpoint: %+v", e)
	}
	if r.SamplesFailed != n || r.LastHTTPStatus != 404 || !strings.Contains(r.Message, "no such tenant") {
		t.Errorf("report: %+v", r)
	}
	if err := s.Close(10 * time.Second); err != nil {
		t.Errorf("Close: %v", err)
	}
	recv.check(t)
	sink.expectTotal(t, n)
}

// TestSamplesDroppedTooOld appends samples older than sample_age_limit: they are dropped,
// and Flush reports them as lost while the recent sample reaches the sink.
func TestSamplesDroppedTooOld(t *testing.T) {
	sink := startSink(t)
	s := newSender(t, testConfig(sink.url, "sample_age_limit: 10m"))
	ref := mustSeries(t, s, map[string]string{"__name__": "go_too_old", "run": runLabel})
	old := time.Now().Add(-time.Hour).UnixMilli()
	for i := 0; i < 3; i++ {
		if err := s.Append(ref, old+int64(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(ref, nowMs(), 2); err != nil {
		t.Fatal(err)
	}
	r := samplesLost(t, "Flush", s.Flush(10*time.Second))
	if r.SamplesDroppedTooOld != 3 || r.SamplesFailed != 0 || r.Endpoints[0].SamplesDroppedTooOld != 3 {
		t.Errorf("report: %+v, want 3 dropped as too old", r)
	}
	if err := s.Close(10 * time.Second); err != nil {
		t.Errorf("Close: %v", err)
	}
	if st := s.Stats(); st.SamplesDroppedTooOld != 3 || st.SamplesAcked != 1 {
		t.Errorf("Stats after Close: %+v", st)
	}
	sink.expectTotal(t, 1)
}

// TestNewFromFile starts senders from configuration files: a good one delivers to the sink,
// a bad one and a missing one fail with CodeInvalidConfig naming the field or the path.
func TestNewFromFile(t *testing.T) {
	sink := startSink(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	good := write("promrw.yml", testConfig(sink.url))
	s, err := NewFromFile(good, WithFinalizerTimeout(time.Second))
	if err != nil {
		t.Fatalf("NewFromFile(%s): %v", good, err)
	}
	t.Cleanup(func() { _ = s.Close(5 * time.Second) })
	ref := mustSeries(t, s, map[string]string{"__name__": "go_from_file", "run": runLabel})
	if err := s.Append(ref, nowMs(), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(10 * time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}

	json := write("promrw.json", `{"remote_write": [{"url": "`+sink.url+`"}]}`)
	s2, err := NewFromFile(json)
	if err != nil {
		t.Fatalf("NewFromFile(%s): %v", json, err)
	}
	if err := s2.Close(time.Second); err != nil {
		t.Errorf("Close: %v", err)
	}

	bad := write("bad.yml", "remote_write:\n  - url: "+sink.url+"\n    queue_config:\n      capacityy: 10\n")
	_, err = NewFromFile(bad)
	expectCode(t, "file with an unknown key", err, CodeInvalidConfig, ErrInvalidConfig, "remote_write[0].queue_config", "capacityy")
	badValue := write("bad-value.yml", "remote_write:\n  - url: "+sink.url+"\n    queue_config:\n      capacity: 0\n")
	_, err = NewFromFile(badValue)
	expectCode(t, "file with an invalid value", err, CodeInvalidConfig, ErrInvalidConfig, "capacity")
	missing := filepath.Join(dir, "missing.yml")
	_, err = NewFromFile(missing)
	expectCode(t, "missing file", err, CodeInvalidConfig, ErrInvalidConfig, missing)
	_, err = NewFromFile(dir)
	expectCode(t, "a directory", err, CodeInvalidConfig, ErrInvalidConfig, dir)
	sink.expectTotal(t, 1)
}
