package promrw

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSink is a `promrw sink` child process on 127.0.0.1 (a receiver that validates every
// request: headers, snappy, protobuf, label rules, per-series order) and what it reported.
type testSink struct {
	url string

	mu        sync.Mutex
	summaries int    // summary lines seen
	total     uint64 // "total samples=N": samples accepted so far
	series    uint64 // "series=N"
	rejected  uint64 // requests rejected, summed over summaries
	ooo       uint64 // out-of-order samples, summed
	dups      uint64 // duplicate samples, summed
	other     []string
	foreign   []string     // requests that were not Remote Write POSTs (another program probing)
	samples   []sinkSample // with startSinkPrintingSamples: every sample stored, in order
	// extras are, with startSinkPrintingSamples, the histogram, exemplar, series_metadata
	// and metadata lines the sink printed, in order.
	extras  []string
	changed *sync.Cond
}

// sinkSample is a sample as `promrw sink --print-samples` prints it.
type sinkSample struct {
	labels      string // {name="value",...}
	timestampMs int64
	bits        uint64 // the value's IEEE-754 bits
}

// A sample line of `promrw sink --print-samples`: labels, timestamp, the value's bits in hex.
var sampleLine = regexp.MustCompile(`^sample (\{.*\}) (-?\d+) ([0-9a-f]{16})$`)

// The per-interval summary line of `promrw sink` (tools/src/bin/promrw/sink.rs).
var summaryLine = regexp.MustCompile(`^\[\s*[0-9.]+s\] requests=(\d+) rejected=(\d+) samples=\d+ bytes=\d+ out_of_order=(\d+) duplicates=(\d+) \| total samples=(\d+) series=(\d+)(?: \w+=\d+)*$`)

// A request line the sink prints for a rejected request: "METHOD PATH -> STATUS: message".
var foreignRequest = regexp.MustCompile(`^[A-Z]+ /\S* -> \d+: `)

// sinkBinary is the promrw executable: $PROMRW_BIN, or target/release/promrw of the repo.
func sinkBinary(t testing.TB) string {
	if bin := os.Getenv("PROMRW_BIN"); bin != "" {
		return bin
	}
	bin, err := filepath.Abs(filepath.Join("..", "..", "target", "release", "promrw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `cargo build --release` in the repository (or set PROMRW_BIN)", bin)
	}
	return bin
}

// startSink starts `promrw sink --listen 127.0.0.1:0` and stops it (by its PID) when the test
// ends.
func startSink(t testing.TB) *testSink {
	t.Helper()
	return startSinkWith(t)
}

// startSinkPrintingSamples starts a sink with --print-samples: every sample it stores is
// kept in samples, in the order received.
func startSinkPrintingSamples(t testing.TB) *testSink {
	t.Helper()
	return startSinkWith(t, "--print-samples")
}

// startSinkWith starts a sink with extra arguments.
func startSinkWith(t testing.TB, args ...string) *testSink {
	t.Helper()
	args = append([]string{"sink", "--listen", "127.0.0.1:0", "--interval", "0.1", "--workers", "2"}, args...)
	cmd := exec.Command(sinkBinary(t), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	s := &testSink{}
	s.changed = sync.NewCond(&s.mu)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			line := sc.Text()
			if first {
				first = false
				urls <- strings.TrimPrefix(line, "listening on ")
				continue
			}
			s.record(line)
		}
		close(urls)
	}()
	select {
	case url, ok := <-urls:
		if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("promrw sink did not print its URL (got %q)", url)
		}
		s.url = url
	case <-time.After(10 * time.Second):
		t.Fatal("promrw sink did not start within 10 s")
	}
	return s
}

func (s *testSink) record(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := sampleLine.FindStringSubmatch(line); m != nil {
		ts, _ := strconv.ParseInt(m[2], 10, 64)
		bits, _ := strconv.ParseUint(m[3], 16, 64)
		s.samples = append(s.samples, sinkSample{labels: m[1], timestampMs: ts, bits: bits})
		s.changed.Broadcast()
		return
	}
	for _, prefix := range []string{"histogram ", "exemplar ", "series_metadata ", "metadata "} {
		if strings.HasPrefix(line, prefix) {
			s.extras = append(s.extras, line)
			s.changed.Broadcast()
			return
		}
	}
	m := summaryLine.FindStringSubmatch(line)
	if m == nil {
		// Other programs on this machine may probe the port (e.g. GET /-/ready): the sink
		// rejects and reports those requests, which are not ours.
		if !strings.HasPrefix(line, "POST /api/v1/write ") && foreignRequest.MatchString(line) {
			s.foreign = append(s.foreign, line)
		} else {
			s.other = append(s.other, line)
		}
	} else {
		n := func(i int) uint64 { v, _ := strconv.ParseUint(m[i], 10, 64); return v }
		s.summaries++
		s.rejected += n(2)
		s.ooo += n(3)
		s.dups += n(4)
		s.total = n(5)
		s.series = n(6)
	}
	s.changed.Broadcast()
}

// expectTotal waits until the sink has accepted `want` samples in all, then for two more
// summaries, and checks that it accepted exactly that many and reported nothing wrong.
func (s *testSink) expectTotal(t testing.TB, want uint64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.total < want && time.Now().Before(deadline) {
		s.waitLocked(deadline)
	}
	for seen := s.summaries; s.summaries < seen+2 && time.Now().Before(deadline); {
		s.waitLocked(deadline)
	}
	if s.total != want {
		t.Errorf("the sink accepted %d samples, want %d", s.total, want)
	}
	s.checkCleanLocked(t)
}

func (s *testSink) checkCleanLocked(t testing.TB) {
	t.Helper()
	if len(s.foreign) > 0 {
		t.Logf("the sink rejected requests from another program (ignored): %q", s.foreign)
	}
	if s.rejected != uint64(len(s.foreign)) || s.ooo != 0 || s.dups != 0 || len(s.other) != 0 {
		t.Errorf("the sink reported problems: rejected requests=%d out_of_order=%d duplicates=%d, other output: %q",
			s.rejected, s.ooo, s.dups, s.other)
	}
}

// storedSamples returns the samples the sink printed so far (--print-samples), by series
// labels, in the order received.
func (s *testSink) storedSamples() map[string][]sinkSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	bySeries := map[string][]sinkSample{}
	for _, sample := range s.samples {
		bySeries[sample.labels] = append(bySeries[sample.labels], sample)
	}
	return bySeries
}

// totals returns the sink's accepted samples and series so far.
func (s *testSink) totals() (samples, series uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, s.series
}

// waitLocked waits for the next line or until the deadline (s.mu held).
func (s *testSink) waitLocked(deadline time.Time) {
	timer := time.AfterFunc(time.Until(deadline), func() {
		s.mu.Lock()
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	s.changed.Wait()
	timer.Stop()
}

// runLabel is a label value unique to this test process, so that runs never repeat a series.
var runLabel = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

// testConfig is a configuration for url with extra queue_config lines (each "key: value");
// batch_send_deadline is 50ms unless given.
func testConfig(url string, queue ...string) string {
	var b strings.Builder
	b.WriteString("remote_write:\n  - url: " + url + "\n    queue_config:\n")
	deadline := false
	for _, q := range queue {
		b.WriteString("      " + q + "\n")
		deadline = deadline || strings.HasPrefix(q, "batch_send_deadline:")
	}
	if !deadline {
		b.WriteString("      batch_send_deadline: 50ms\n")
	}
	b.WriteString("external_labels:\n  binding: go\n")
	return b.String()
}

// deadURL is an address where nothing listens: samples queue up and are never acknowledged.
const deadURL = "http://127.0.0.1:1/api/v1/write"
