package promrw

import (
	"testing"
	"time"
)

// TestRelabelAndTenantDropsAreCountedByReason checks that samples that write_relabel_configs
// and tenant routing drop are counted by reason in Stats, as the exposition counts them, and
// are no loss: Flush succeeds.
func TestRelabelAndTenantDropsAreCountedByReason(t *testing.T) {
	sink := startSink(t)
	config := "remote_write:\n  - url: " + sink.url + "\n    name: go\n" +
		"    queue_config:\n      batch_send_deadline: 50ms\n" +
		"    write_relabel_configs:\n" +
		"      - {source_labels: [__name__], regex: go_dropme, action: drop}\n" +
		"      - {source_labels: [__name__], regex: go_invalid_me, target_label: __name__, replacement: 1bad}\n" +
		"    tenant:\n      label: tenant\n"
	s := newSender(t, config)
	series := []struct {
		labels  map[string]string
		samples int
	}{
		{map[string]string{"__name__": "go_dropme", "tenant": "a", "run": runLabel}, 3},
		{map[string]string{"__name__": "go_invalid_me", "tenant": "a", "run": runLabel}, 5},
		{map[string]string{"__name__": "go_no_tenant", "run": runLabel}, 7},
		{map[string]string{"__name__": "go_kept", "tenant": "a", "run": runLabel}, 2},
	}
	t0 := nowMs()
	for _, one := range series {
		ref := mustSeries(t, s, one.labels)
		for i := 0; i < one.samples; i++ {
			if err := s.Append(ref, t0+int64(i), float64(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(5 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	st := s.Stats()
	if st.SamplesDroppedRelabel != 3 || st.SamplesDroppedRelabelInvalid != 5 || st.SamplesDroppedNoTenant != 7 || st.SamplesAcked != 2 {
		t.Fatalf("stats: %+v", st)
	}
	text := s.MetricsText()
	for _, f := range []struct {
		reason string
		value  uint64
	}{
		{"relabel", st.SamplesDroppedRelabel},
		{"relabel_invalid", st.SamplesDroppedRelabelInvalid},
		{"no_tenant", st.SamplesDroppedNoTenant},
	} {
		key := `prometheus_remote_storage_samples_dropped_total{reason="` + f.reason + `",`
		if got := exposedValue(t, text, key); got != float64(f.value) {
			t.Errorf("%s: stats say %d, the exposition %v", f.reason, f.value, got)
		}
	}
}
