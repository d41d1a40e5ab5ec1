package promrw

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// walConfig is a configuration for one endpoint at url (named, so that its cursor is found
// again whatever the URL) in WAL mode with the log in dir.
func walConfig(url, dir string) string {
	return "remote_write:\n  - url: " + url + "\n    name: go-wal\n    queue_config:\n" +
		"      batch_send_deadline: 20ms\n      min_backoff: 10ms\n      max_backoff: 100ms\n" +
		"promrw:\n  wal:\n    dir: " + dir + "\n"
}

// exposedValue returns the value of the one sample line of the exposition text whose name
// and labels start with key (key is a whole name unless it ends with "{" or ",").
func exposedValue(t *testing.T, text, key string) float64 {
	t.Helper()
	var found []float64
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		name := line[:i]
		partial := strings.HasSuffix(key, "{") || strings.HasSuffix(key, ",")
		if name == key || (partial && strings.HasPrefix(name, key)) {
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d sample lines (%v) in\n%s", key, len(found), found, text)
	}
	return found[0]
}

// walFigures lists the Stats fields of the third version of promrw_stats with the
// exposition metric each one means (per-endpoint ones with the endpoint's labels; the tests
// have one endpoint).
func walFigures(st Stats) []struct {
	field, metric string
	value         uint64
} {
	return []struct {
		field, metric string
		value         uint64
	}{
		{"RejectedIO", `promrw_appends_rejected_total{reason="io"}`, st.RejectedIO},
		{"WALBytesOnDisk", "promrw_wal_bytes", st.WALBytesOnDisk},
		{"WALSegments", "promrw_wal_segments", st.WALSegments},
		{"WALRecordsWritten", "promrw_wal_records_written_total", st.WALRecordsWritten},
		{"WALBytesWritten", "promrw_wal_bytes_written_total", st.WALBytesWritten},
		{"WALFsyncs", "promrw_wal_fsyncs_total", st.WALFsyncs},
		{"WALWriteErrors", "promrw_wal_write_errors_total", st.WALWriteErrors},
		{"WALCorruptRecordsSkipped", "promrw_wal_corrupt_records_skipped_total", st.WALCorruptRecordsSkipped},
		{"SamplesDroppedWALFull", `prometheus_remote_storage_samples_dropped_total{reason="wal_full",`, st.SamplesDroppedWALFull},
		{"SamplesDroppedWALTooOld", `prometheus_remote_storage_samples_dropped_total{reason="wal_too_old",`, st.SamplesDroppedWALTooOld},
		{"WALLagBytes", "promrw_wal_cursor_lag_bytes{", st.WALLagBytes},
		{"WALLagSamples", "promrw_wal_cursor_lag_samples{", st.WALLagSamples},
		{"WALSamplesReplayed", "promrw_wal_samples_replayed_total{", st.WALSamplesReplayed},
	}
}

// checkWALFigures checks every WAL figure of Stats against MetricsText at a moment they did
// not change (the same before and after the text was read: the feeder may still be moving
// the cursor past a series record, say; retries change other counters) and returns the
// stats.
func checkWALFigures(t *testing.T, s *Sender) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var st Stats
	var text string
	for {
		st = s.Stats()
		text = s.MetricsText()
		after := s.Stats()
		if reflect.DeepEqual(walFigures(st), walFigures(after)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL figures never stayed still: %+v, then %+v", st, after)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, f := range walFigures(st) {
		if got := exposedValue(t, text, f.metric); got != float64(f.value) {
			t.Errorf("%s = %d, but %s is %v", f.field, f.value, f.metric, got)
		}
	}
	return st
}

// waitStats polls Stats until done holds (10 s at most) and returns them.
func waitStats(t *testing.T, s *Sender, done func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats()
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats did not get there: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWALStatsMatchTheExposition runs WAL mode against a receiver that is down: the samples
// wait on disk and show in the lag; every WAL field of Stats equals its exposition metric;
// Close leaves them on disk (a timeout, nothing failed); the next sender on the directory
// replays them (WALSamplesReplayed), delivers them to the sink and the lag drops to 0. In
// memory mode the WAL fields are 0 and the exposition has no promrw_wal_* family.
func TestWALStatsMatchTheExposition(t *testing.T) {
	dir := t.TempDir()
	s := newSender(t, walConfig(deadURL, dir))
	ref := mustSeries(t, s, map[string]string{"__name__": "go_wal_stats", "run": runLabel})
	t0 := nowMs()
	const n = 500
	for i := 0; i < n; i++ {
		if err := s.Append(ref, t0+int64(i), float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(10 * time.Second); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	waitStats(t, s, func(st Stats) bool { return st.WALLagSamples == n })
	st := checkWALFigures(t, s)
	if st.WALLagSamples != n || st.WALBytesOnDisk == 0 || st.WALSegments == 0 || st.WALRecordsWritten < 2 || st.WALFsyncs == 0 ||
		st.WALLagBytes <= n*9 || st.WALBytesWritten < st.WALLagBytes {
		t.Errorf("WAL figures after %d samples synced: %+v", n, st)
	}
	if st.RejectedIO != 0 || st.WALWriteErrors != 0 || st.WALCorruptRecordsSkipped != 0 ||
		st.SamplesDroppedWALFull != 0 || st.SamplesDroppedWALTooOld != 0 || st.WALSamplesReplayed != 0 {
		t.Errorf("WAL figures that should be 0: %+v", st)
	}
	if err := s.Close(200 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("Close with the receiver down: %v, want a timeout", err)
	}
	if st := s.Stats(); st.SamplesFailed != 0 {
		t.Errorf("left on disk, not failed: %+v", st)
	}

	sink := startSink(t)
	again := newSender(t, walConfig(sink.url, dir))
	if err := again.Flush(20 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	waitStats(t, again, func(st Stats) bool { return st.WALLagSamples == 0 })
	st = checkWALFigures(t, again)
	if st.WALSamplesReplayed != n || st.SamplesAcked != n || st.WALLagSamples != 0 || st.WALLagBytes != 0 {
		t.Errorf("after the restart: %+v, want %d replayed and acknowledged", st, n)
	}
	if err := again.Close(10 * time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sink.expectTotal(t, n)

	memory := newSender(t, testConfig(deadURL))
	st = memory.Stats()
	for _, f := range walFigures(st) {
		if f.value != 0 {
			t.Errorf("memory mode: %s = %d, want 0", f.field, f.value)
		}
	}
	text := memory.MetricsText()
	if got := exposedValue(t, text, `promrw_appends_rejected_total{reason="io"}`); got != 0 {
		t.Errorf(`promrw_appends_rejected_total{reason="io"} = %v`, got)
	}
	if strings.Contains(text, "promrw_wal_") {
		t.Errorf("memory mode exposes promrw_wal_* figures:\n%s", text)
	}
}

// The environment of the child of TestSyncedSamplesSurviveSIGKILL (this test binary run
// again): the WAL directory, the URL (a receiver that is down) and the label run.
const (
	walChildDir = "PROMRW_GO_WAL_CHILD_DIR"
	walChildURL = "PROMRW_GO_WAL_CHILD_URL"
	walChildRun = "PROMRW_GO_WAL_CHILD_RUN"
)

// The kill test's series and samples per series.
var walKillSeries = []string{"go_wal_kill_a", "go_wal_kill_b"}

const walKillSamples = 3000

// walKillValue is the value of sample i of series k: distinct, using all of a double's
// mantissa bits (so a value changed on the way shows).
func walKillValue(k, i int) float64 { return float64(i+1)/7 + float64(k)*1000.5 }

// walKillT0 is the first timestamp of the kill test (fixed: the child and the parent agree).
const walKillT0 = int64(1_700_000_000_000)

// TestWALKillChild is the child process of TestSyncedSamplesSurviveSIGKILL, and skips
// unless run as such: it opens a WAL-mode sender against a receiver that is down, appends
// the samples, syncs, prints "synced" and sleeps until it is killed.
func TestWALKillChild(t *testing.T) {
	dir := os.Getenv(walChildDir)
	if dir == "" {
		t.Skip("the child process of TestSyncedSamplesSurviveSIGKILL")
	}
	fail := func(format string, args ...interface{}) {
		fmt.Fprintf(os.Stderr, "wal child: "+format+"\n", args...)
		os.Exit(2)
	}
	s, err := New(walConfig(os.Getenv(walChildURL), dir))
	if err != nil {
		fail("New: %v", err)
	}
	refs := make([]SeriesRef, len(walKillSeries))
	for k, name := range walKillSeries {
		if refs[k], err = s.Series(map[string]string{"__name__": name, "run": os.Getenv(walChildRun)}); err != nil {
			fail("Series: %v", err)
		}
	}
	for i := 0; i < walKillSamples; i++ {
		for k, ref := range refs {
			if err := s.Append(ref, walKillT0+int64(i), walKillValue(k, i)); err != nil {
				fail("Append: %v", err)
			}
		}
	}
	if err := s.Sync(30 * time.Second); err != nil {
		fail("Sync: %v", err)
	}
	fmt.Fprintln(os.Stdout, "synced")
	time.Sleep(10 * time.Minute)
	fail("not killed")
}

// TestSyncedSamplesSurviveSIGKILL runs TestWALKillChild in a child process (this test binary
// again) against a receiver that is down, waits for "synced" and kills the child with
// SIGKILL (by its PID); a new sender on the same directory against the validating sink then
// delivers every synced sample: once, per series in order, with its exact value bits.
func TestSyncedSamplesSurviveSIGKILL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	run := runLabel + "-kill"
	child := exec.Command(os.Args[0], "-test.run=^TestWALKillChild$")
	child.Env = append(os.Environ(), walChildDir+"="+dir, walChildURL+"="+deadURL, walChildRun+"="+run)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the child exited without printing synced")
			}
			if line == "synced" {
				break wait
			}
		case <-deadline:
			t.Fatal("the child did not print synced within 60 s")
		}
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = child.Wait()
	reaped = true
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the child ended with %v, want killed", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, want killed by SIGKILL", err)
	}

	sink := startSinkPrintingSamples(t)
	s := newSender(t, walConfig(sink.url, dir))
	if err := s.Flush(30 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	total := uint64(len(walKillSeries) * walKillSamples)
	if st := s.Stats(); st.WALSamplesReplayed != total || st.SamplesAcked != total || st.SamplesFailed != 0 {
		t.Errorf("after the restart: %+v, want %d replayed and acknowledged", st, total)
	}
	if err := s.Close(10 * time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sink.expectTotal(t, total)
	stored := sink.storedSamples()
	if len(stored) != len(walKillSeries) {
		t.Errorf("the sink got %d series, want %d: %v", len(stored), len(walKillSeries), keys(stored))
	}
	for k, name := range walKillSeries {
		labels := fmt.Sprintf("{__name__=%q,run=%q}", name, run)
		got := stored[labels]
		if len(got) != walKillSamples {
			t.Errorf("%s: %d samples arrived, want %d", labels, len(got), walKillSamples)
			continue
		}
		for i, sample := range got {
			want := sinkSample{labels: labels, timestampMs: walKillT0 + int64(i), bits: math.Float64bits(walKillValue(k, i))}
			if sample != want {
				t.Errorf("%s: sample %d is %+v, want %+v", labels, i, sample, want)
				break
			}
		}
	}
}

// keys returns the keys of a map of series.
func keys(m map[string][]sinkSample) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
