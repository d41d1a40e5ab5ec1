package promrw

// #include "promrw_cgo.h"
import "C"

import "unsafe"

// Stats is a snapshot of a Sender's counters (promrw_stats). Each field means what the metric
// of MetricsText named in its comment means (Prometheus's own remote-storage metrics, or
// promrw_* ones where Prometheus has none), summed over all endpoints unless said otherwise.
// Counters count samples unless named otherwise and only grow; SamplesPending, Shards,
// ShardsDead and Series are gauges. A snapshot taken under load is read counter by counter,
// not atomically as a whole.
type Stats struct {
	// SamplesAppended counts samples accepted by Append* (once, whatever the number of
	// endpoints) (promrw_samples_appended_total).
	SamplesAppended uint64
	// SamplesTotal counts samples in send attempts: a retried batch counts again at every
	// attempt (prometheus_remote_storage_samples_total).
	SamplesTotal uint64
	// SamplesAcked counts samples acknowledged by a receiver with a 2xx, each once
	// (promrw_samples_acked_total).
	SamplesAcked uint64
	// SamplesFailed counts samples lost to a non-recoverable response (every sample of the
	// refused batch), a close deadline or a dead shard
	// (prometheus_remote_storage_samples_failed_total).
	SamplesFailed uint64
	// SamplesRetried counts samples in attempts that failed recoverably (5xx, 429, network
	// errors) and were retried, counted at every retry
	// (prometheus_remote_storage_samples_retried_total).
	SamplesRetried uint64
	// SamplesDroppedTooOld counts samples dropped because they were older than
	// sample_age_limit (prometheus_remote_storage_samples_dropped_total{reason="too_old"}).
	SamplesDroppedTooOld uint64
	// SamplesDroppedQueueFull counts samples dropped because a queue was full under the
	// drop_newest policy, or refused by one endpoint of several while another accepted them
	// (prometheus_remote_storage_samples_dropped_total{reason="queue_full"}).
	SamplesDroppedQueueFull uint64
	// RejectedOutOfOrder counts samples refused with CodeOutOfOrder
	// (promrw_appends_rejected_total{reason="out_of_order"}). The Rejected* fields count
	// samples: a batch refused whole (closed sender) counts each of its samples, a batch that
	// stops at a refused sample counts that one. Calls after Close fail in this package
	// without reaching the library and are not counted (Stats then returns the final counts).
	RejectedOutOfOrder uint64
	// RejectedQueueFull counts samples refused with CodeQueueFull (reason="queue_full").
	RejectedQueueFull uint64
	// RejectedUnknownSeries counts samples refused with CodeUnknownSeries
	// (reason="unknown_series").
	RejectedUnknownSeries uint64
	// RejectedClosed counts samples refused with CodeClosed (reason="closed").
	RejectedClosed uint64
	// RejectedShardDead counts samples refused with CodeShardDead (reason="shard_dead").
	RejectedShardDead uint64
	// SamplesPending is the number of samples queued or in flight, not yet acknowledged,
	// failed or dropped (gauge, prometheus_remote_storage_samples_pending).
	SamplesPending uint64
	// BytesTotal counts compressed bytes of each batch once (not per retry), when its sending
	// ended, acknowledged or rejected for good (prometheus_remote_storage_bytes_total).
	BytesTotal uint64
	// BatchesAcked counts requests acknowledged with a 2xx (promrw_batches_acked_total).
	BatchesAcked uint64
	// EnqueueRetries counts the times an append waited for room under the block policy
	// (prometheus_remote_storage_enqueue_retries_total).
	EnqueueRetries uint64
	// Shards is the number of running shards (gauge, prometheus_remote_storage_shards).
	Shards uint64
	// ShardsDead is the number of shards whose thread died (gauge, promrw_shards_dead).
	ShardsDead uint64
	// Series is the number of live registered series (gauge, promrw_series).
	Series uint64
	// Endpoints is the number of configured endpoints.
	Endpoints uint64
	// HighestEnqueuedMs is the highest timestamp (ms) queued on any endpoint; 0 when none
	// (the highest prometheus_remote_storage_queue_highest_timestamp_seconds, in ms).
	HighestEnqueuedMs int64
	// HighestSentMs is the highest timestamp (ms) acknowledged on every endpoint, i.e. the
	// lowest over endpoints of each one's highest acknowledged timestamp; 0 when some endpoint
	// has acknowledged none (the lowest
	// prometheus_remote_storage_queue_highest_sent_timestamp_seconds, in ms). A rejected or
	// abandoned batch does not advance it.
	HighestSentMs int64
	// SamplesTooLarge counts samples that alone, with their series' labels, exceed
	// promrw.max_request_bytes: never sent, also counted in SamplesFailed
	// (promrw_samples_too_large_total).
	SamplesTooLarge uint64
	// SeriesCached is the number of series held in the shards' caches (gauge,
	// promrw_shard_cached_series): a released series stays until its queued samples are sent.
	SeriesCached uint64
	// RejectedIO counts samples refused with CodeIO because writing the WAL failed (WAL
	// mode) (promrw_appends_rejected_total{reason="io"}).
	RejectedIO uint64

	// The WAL-mode figures (promrw.wal set) follow, 0 in memory mode.

	// WALBytesOnDisk is the number of bytes of the log's segments on disk (gauge,
	// promrw_wal_bytes).
	WALBytesOnDisk uint64
	// WALSegments is the number of segments on disk (gauge, promrw_wal_segments).
	WALSegments uint64
	// WALRecordsWritten counts records written, series and samples records
	// (promrw_wal_records_written_total).
	WALRecordsWritten uint64
	// WALBytesWritten counts bytes written to segments (promrw_wal_bytes_written_total).
	WALBytesWritten uint64
	// WALFsyncs counts successful fsyncs of segments (promrw_wal_fsyncs_total).
	WALFsyncs uint64
	// WALWriteErrors counts write and fsync errors met, each retried
	// (promrw_wal_write_errors_total).
	WALWriteErrors uint64
	// WALCorruptRecordsSkipped counts damaged stretches skipped, when the log was opened and
	// by the feeders since, and torn tails cut at open
	// (promrw_wal_corrupt_records_skipped_total).
	WALCorruptRecordsSkipped uint64
	// SamplesDroppedWALFull counts samples deleted unsent with the oldest segments at
	// promrw.wal.max_bytes (full: drop_oldest)
	// (prometheus_remote_storage_samples_dropped_total{reason="wal_full"}).
	SamplesDroppedWALFull uint64
	// SamplesDroppedWALTooOld counts samples deleted unsent with segments older than
	// promrw.wal.max_age (prometheus_remote_storage_samples_dropped_total{reason="wal_too_old"}).
	SamplesDroppedWALTooOld uint64
	// WALLagBytes is the number of log bytes from an endpoint's cursor to the end of the log,
	// not yet done for that endpoint (gauge, promrw_wal_cursor_lag_bytes).
	WALLagBytes uint64
	// WALLagSamples is the number of samples from an endpoint's cursor to the end of the log
	// (gauge, promrw_wal_cursor_lag_samples).
	WALLagSamples uint64
	// WALSamplesReplayed counts samples the log held at or after an endpoint's cursor when
	// the sender opened it, sent first (promrw_wal_samples_replayed_total).
	WALSamplesReplayed uint64

	// Drops that the configuration asks for, not losses.

	// SamplesDroppedRelabel counts samples of series an endpoint's write_relabel_configs
	// drop, as configured (prometheus_remote_storage_samples_dropped_total{reason="relabel"}).
	SamplesDroppedRelabel uint64
	// SamplesDroppedRelabelInvalid counts samples of series whose relabeled labels Remote
	// Write cannot carry: no labels left, an invalid label or metric name
	// (reason="relabel_invalid").
	SamplesDroppedRelabelInvalid uint64
	// SamplesDroppedNoTenant counts samples of series an endpoint's tenant routing cannot
	// route: no tenant label and no default, or a tenant that cannot be sent in a header
	// (reason="no_tenant").
	SamplesDroppedNoTenant uint64

	// Native histograms, exemplars and metadata (the fifth version of promrw_stats).

	// HistogramsTotal: native histograms in send attempts, a retried batch counting again
	// at every attempt (prometheus_remote_storage_histograms_total).
	HistogramsTotal uint64
	// HistogramsAcked: native histograms acknowledged with a 2xx, each once
	// (promrw_histograms_acked_total).
	HistogramsAcked uint64
	// HistogramsFailed: native histograms lost to a non-recoverable response, a close
	// deadline or a dead shard, or reported not written by a Remote Write 2.0 receiver
	// (prometheus_remote_storage_histograms_failed_total).
	HistogramsFailed uint64
	// HistogramsRetried: native histograms in attempts that failed recoverably and were
	// retried (prometheus_remote_storage_histograms_retried_total).
	HistogramsRetried uint64
	// HistogramsDropped: native histograms dropped, for every reason together, including an
	// endpoint not configured to send them and custom buckets on Remote Write 1.0
	// (prometheus_remote_storage_histograms_dropped_total).
	HistogramsDropped uint64
	// ExemplarsTotal: exemplars in send attempts (prometheus_remote_storage_exemplars_total).
	ExemplarsTotal uint64
	// ExemplarsAcked: exemplars acknowledged with a 2xx, each once
	// (promrw_exemplars_acked_total).
	ExemplarsAcked uint64
	// ExemplarsFailed: exemplars lost to a non-recoverable response, or reported not written
	// (prometheus_remote_storage_exemplars_failed_total).
	ExemplarsFailed uint64
	// ExemplarsRetried: exemplars in attempts retried
	// (prometheus_remote_storage_exemplars_retried_total).
	ExemplarsRetried uint64
	// ExemplarsDropped: exemplars dropped, for every reason together, including an endpoint
	// without send_exemplars: true (prometheus_remote_storage_exemplars_dropped_total).
	ExemplarsDropped uint64
	// MetadataTotal: metadata entries of Remote Write 1.0 metadata requests acknowledged
	// (prometheus_remote_storage_metadata_total).
	MetadataTotal uint64
	// MetadataFailed: metadata entries lost to a non-recoverable response
	// (prometheus_remote_storage_metadata_failed_total).
	MetadataFailed uint64
	// MetadataRetried: metadata entries in attempts retried
	// (prometheus_remote_storage_metadata_retried_total).
	MetadataRetried uint64
	// MetadataBytes: compressed bytes of acknowledged metadata requests
	// (prometheus_remote_storage_metadata_bytes_total).
	MetadataBytes uint64
	// RemoteWriteProtocol (gauge): 1 or 2, the lowest protocol over the endpoints (a 2.0
	// endpoint whose receiver speaks only 1.0 falls back to 1); 0 with no endpoint
	// (promrw_remote_write_protocol).
	RemoteWriteProtocol uint64
}

// newCStats is a promrw_stats with struct_size set, ready for promrw_sender_stats.
func newCStats() C.promrw_stats {
	var cs C.promrw_stats
	cs.struct_size = C.size_t(unsafe.Sizeof(cs))
	return cs
}

func statsFromC(c *C.promrw_stats) Stats {
	return Stats{
		SamplesAppended:         uint64(c.samples_appended),
		SamplesTotal:            uint64(c.samples_total),
		SamplesAcked:            uint64(c.samples_acked),
		SamplesFailed:           uint64(c.samples_failed),
		SamplesRetried:          uint64(c.samples_retried),
		SamplesDroppedTooOld:    uint64(c.samples_dropped_too_old),
		SamplesDroppedQueueFull: uint64(c.samples_dropped_queue_full),
		RejectedOutOfOrder:      uint64(c.rejected_out_of_order),
		RejectedQueueFull:       uint64(c.rejected_queue_full),
		RejectedUnknownSeries:   uint64(c.rejected_unknown_series),
		RejectedClosed:          uint64(c.rejected_closed),
		RejectedShardDead:       uint64(c.rejected_shard_dead),
		SamplesPending:          uint64(c.samples_pending),
		BytesTotal:              uint64(c.bytes_total),
		BatchesAcked:            uint64(c.batches_acked),
		EnqueueRetries:          uint64(c.enqueue_retries),
		Shards:                  uint64(c.shards),
		ShardsDead:              uint64(c.shards_dead),
		Series:                  uint64(c.series),
		Endpoints:               uint64(c.endpoints),
		HighestEnqueuedMs:       int64(c.highest_enqueued_ms),
		HighestSentMs:           int64(c.highest_sent_ms),
		SamplesTooLarge:         uint64(c.samples_too_large),
		SeriesCached:            uint64(c.series_cached),
		RejectedIO:              uint64(c.rejected_io),

		WALBytesOnDisk:           uint64(c.wal_bytes_on_disk),
		WALSegments:              uint64(c.wal_segments),
		WALRecordsWritten:        uint64(c.wal_records_written),
		WALBytesWritten:          uint64(c.wal_bytes_written),
		WALFsyncs:                uint64(c.wal_fsyncs),
		WALWriteErrors:           uint64(c.wal_write_errors),
		WALCorruptRecordsSkipped: uint64(c.wal_corrupt_records_skipped),
		SamplesDroppedWALFull:    uint64(c.samples_dropped_wal_full),
		SamplesDroppedWALTooOld:  uint64(c.samples_dropped_wal_too_old),
		WALLagBytes:              uint64(c.wal_lag_bytes),
		WALLagSamples:            uint64(c.wal_lag_samples),
		WALSamplesReplayed:       uint64(c.wal_samples_replayed),

		SamplesDroppedRelabel:        uint64(c.samples_dropped_relabel),
		SamplesDroppedRelabelInvalid: uint64(c.samples_dropped_relabel_invalid),
		SamplesDroppedNoTenant:       uint64(c.samples_dropped_no_tenant),

		HistogramsTotal:     uint64(c.histograms_total),
		HistogramsAcked:     uint64(c.histograms_acked),
		HistogramsFailed:    uint64(c.histograms_failed),
		HistogramsRetried:   uint64(c.histograms_retried),
		HistogramsDropped:   uint64(c.histograms_dropped),
		ExemplarsTotal:      uint64(c.exemplars_total),
		ExemplarsAcked:      uint64(c.exemplars_acked),
		ExemplarsFailed:     uint64(c.exemplars_failed),
		ExemplarsRetried:    uint64(c.exemplars_retried),
		ExemplarsDropped:    uint64(c.exemplars_dropped),
		MetadataTotal:       uint64(c.metadata_total),
		MetadataFailed:      uint64(c.metadata_failed),
		MetadataRetried:     uint64(c.metadata_retried),
		MetadataBytes:       uint64(c.metadata_bytes),
		RemoteWriteProtocol: uint64(c.remote_write_protocol),
	}
}
