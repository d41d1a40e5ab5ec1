package bridge

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

	promrw "github.com/promrw/promrw/bindings/go"
)

// testSink is a `promrw sink --print-samples` child process on 127.0.0.1 (a receiver that
// validates every request) and the lines it printed (as bindings/go/sink_test.go).
type testSink struct {
	url string

	mu       sync.Mutex
	total    uint64   // "total samples=N": float samples accepted so far
	problems []string // rejected requests, out-of-order or duplicate samples, other output
	samples  []string // "sample <labels> <ts> <bits>" lines
	extras   []string // histogram, exemplar and metadata lines
	changed  *sync.Cond
}

// The per-interval summary line of `promrw sink` (tools/src/bin/promrw/sink.rs).
var summaryLine = regexp.MustCompile(`^\[\s*[0-9.]+s\] requests=(\d+) rejected=(\d+) samples=\d+ bytes=\d+ out_of_order=(\d+) duplicates=(\d+) \| total samples=(\d+) series=(\d+)(?: \w+=\d+)*$`)

// A request line the sink prints for a rejected request that is not ours (another program
// probing the port, e.g. GET /-/ready).
var foreignRequest = regexp.MustCompile(`^[A-Z]+ /\S* -> \d+: `)

// sinkBinary is the promrw executable: $PROMRW_BIN, or target/release/promrw of the repo.
func sinkBinary(t testing.TB) string {
	if bin := os.Getenv("PROMRW_BIN"); bin != "" {
		return bin
	}
	bin, err := filepath.Abs(filepath.Join("..", "..", "..", "target", "release", "promrw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `cargo build --release` in the repository (or set PROMRW_BIN)", bin)
	}
	return bin
}

// startSink starts `promrw sink --listen 127.0.0.1:0 --print-samples`, killed (by its PID)
// when the test ends.
func startSink(t testing.TB) *testSink {
	t.Helper()
	return startSinkWith(t, "--interval", "0.1", "--print-samples")
}

// startQuietSink starts a sink that prints only its summaries: the goroutine reading them
// allocates next to nothing while allocations are counted.
func startQuietSink(t testing.TB) *testSink {
	t.Helper()
	return startSinkWith(t, "--interval", "60")
}

func startSinkWith(t testing.TB, args ...string) *testSink {
	t.Helper()
	args = append([]string{"sink", "--listen", "127.0.0.1:0", "--workers", "2"}, args...)
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
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
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
	defer s.changed.Broadcast()
	if strings.HasPrefix(line, "sample ") {
		s.samples = append(s.samples, line)
		return
	}
	for _, prefix := range []string{"histogram ", "exemplar ", "series_metadata ", "metadata "} {
		if strings.HasPrefix(line, prefix) {
			s.extras = append(s.extras, line)
			return
		}
	}
	m := summaryLine.FindStringSubmatch(line)
	if m == nil {
		if strings.HasPrefix(line, "POST /api/v1/write ") || !foreignRequest.MatchString(line) {
			s.problems = append(s.problems, line)
		}
		return
	}
	n := func(i int) uint64 { v, _ := strconv.ParseUint(m[i], 10, 64); return v }
	if n(3) != 0 || n(4) != 0 {
		s.problems = append(s.problems, line)
	}
	s.total = n(5)
}

// waitSamples waits (15 s at most) until the sink has printed at least n sample lines and
// returns them all; it fails the test when the sink reported a problem.
func (s *testSink) waitSamples(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.samples) < n && time.Now().Before(deadline) {
		timer := time.AfterFunc(time.Until(deadline), func() {
			s.mu.Lock()
			s.changed.Broadcast()
			s.mu.Unlock()
		})
		s.changed.Wait()
		timer.Stop()
	}
	if len(s.problems) > 0 {
		t.Errorf("the sink reported problems: %q", s.problems)
	}
	return append([]string(nil), s.samples...)
}

// extraLines returns the histogram, exemplar and metadata lines printed so far.
func (s *testSink) extraLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.extras...)
}

// runLabel is a label value unique to this test process.
var runLabel = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

// v2Config is a Remote Write 2.0 configuration for url (exemplars, histograms, metadata and
// start timestamps are all sent).
func v2Config(url string) string {
	return "remote_write:\n  - url: " + url + "\n    protobuf_message: io.prometheus.write.v2.Request\n" +
		"    send_exemplars: true\n    queue_config:\n      batch_send_deadline: 50ms\n      capacity: 100000\n"
}

// newSender makes a sender closed when the test ends.
func newSender(t testing.TB, config string) *promrw.Sender {
	t.Helper()
	s, err := promrw.New(config)
	if err != nil {
		t.Fatalf("promrw.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(5 * time.Second) })
	return s
}

// flush flushes the sender or fails the test.
func flush(t testing.TB, s *promrw.Sender) {
	t.Helper()
	if err := s.Flush(10 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}
