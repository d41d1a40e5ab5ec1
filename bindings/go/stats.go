package promrw

// #include "promrw_cgo.h"
import "C"

// Stats is a snapshot of a Sender's counters (promrw_stats). Endpoint figures are summed
// over all endpoints. Counters only grow, except the gauges SamplesPending, Shards,
// ShardsDead and Series. A snapshot taken under load is read counter by counter, not
// atomically as a whole.
type Stats struct {
	// SamplesAppended counts samples accepted by Append* (once, whatever the number of
	// endpoints).
	SamplesAppended uint64
	// SamplesSent counts samples acknowledged by a receiver with a 2xx (retries not counted).
	SamplesSent uint64
	// SamplesFailed counts samples lost to a non-recoverable response or a close deadline.
	SamplesFailed uint64
	// SamplesRetried counts samples in retried attempts.
	SamplesRetried uint64
	// SamplesDroppedTooOld counts samples dropped for being older than sample_age_limit.
	SamplesDroppedTooOld uint64
	// SamplesDroppedQueueFull counts samples dropped by the drop_newest overflow policy.
	SamplesDroppedQueueFull uint64
	// RejectedOutOfOrder counts appends refused with CodeOutOfOrder.
	RejectedOutOfOrder uint64
	// RejectedQueueFull counts appends refused with CodeQueueFull.
	RejectedQueueFull uint64
	// RejectedUnknownSeries counts appends refused with CodeUnknownSeries.
	RejectedUnknownSeries uint64
	// RejectedClosed counts appends refused with CodeClosed.
	RejectedClosed uint64
	// SamplesPending is the number of samples queued and not yet finished (gauge).
	SamplesPending uint64
	// BytesSent counts compressed bytes of acknowledged requests.
	BytesSent uint64
	// BatchesSent counts requests acknowledged with a 2xx.
	BatchesSent uint64
	// EnqueueRetries counts the times an append waited for room under the block policy.
	EnqueueRetries uint64
	// Shards is the number of running shards (gauge).
	Shards uint64
	// ShardsDead is the number of shards whose thread died (gauge).
	ShardsDead uint64
	// Series is the number of live registered series (gauge).
	Series uint64
	// Endpoints is the number of configured endpoints.
	Endpoints uint64
	// HighestEnqueuedMs is the highest timestamp (ms) queued on any endpoint; 0 when none.
	HighestEnqueuedMs int64
	// HighestSentMs is the highest timestamp (ms) acknowledged on every endpoint, i.e. the
	// lowest over endpoints of each one's highest acknowledged timestamp; 0 when some endpoint
	// has acknowledged none. A rejected or abandoned batch does not advance it.
	HighestSentMs int64
}

func statsFromC(c *C.promrw_stats) Stats {
	return Stats{
		SamplesAppended:         uint64(c.samples_appended),
		SamplesSent:             uint64(c.samples_sent),
		SamplesFailed:           uint64(c.samples_failed),
		SamplesRetried:          uint64(c.samples_retried),
		SamplesDroppedTooOld:    uint64(c.samples_dropped_too_old),
		SamplesDroppedQueueFull: uint64(c.samples_dropped_queue_full),
		RejectedOutOfOrder:      uint64(c.rejected_out_of_order),
		RejectedQueueFull:       uint64(c.rejected_queue_full),
		RejectedUnknownSeries:   uint64(c.rejected_unknown_series),
		RejectedClosed:          uint64(c.rejected_closed),
		SamplesPending:          uint64(c.samples_pending),
		BytesSent:               uint64(c.bytes_sent),
		BatchesSent:             uint64(c.batches_sent),
		EnqueueRetries:          uint64(c.enqueue_retries),
		Shards:                  uint64(c.shards),
		ShardsDead:              uint64(c.shards_dead),
		Series:                  uint64(c.series),
		Endpoints:               uint64(c.endpoints),
		HighestEnqueuedMs:       int64(c.highest_enqueued_ms),
		HighestSentMs:           int64(c.highest_sent_ms),
	}
}
