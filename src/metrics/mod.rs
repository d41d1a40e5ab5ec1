//! Self-metrics: atomic counters per endpoint and per sender (no lock on the append path; the
//! last failed attempt is kept under a mutex taken only on failures), a snapshot struct, and the
//! Prometheus text exposition. Names and labels follow Prometheus's own remote-storage metrics
//! so that existing dashboards and alerts work; promrw-only figures use the `promrw_` prefix.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;

mod kinds;

pub use kinds::{
    EXTRA_DROP_REASONS, ExtraDropReason, KindMetrics, KindStats, MetadataMetrics, MetadataStats,
};

/// Upper bounds (seconds) of `sent_batch_duration_seconds`, as Prometheus.
pub const BATCH_DURATION_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0,
];

/// Why a sample was dropped after being accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Older than `sample_age_limit` while queued or retried.
    TooOld,
    /// The queue was full under the `drop_newest` policy (or under `fail` on one endpoint of
    /// several while another accepted the sample).
    QueueFull,
    /// WAL mode: deleted unsent with the oldest segments at `promrw.wal.max_bytes`.
    WalFull,
    /// WAL mode: deleted unsent with segments older than `promrw.wal.max_age`.
    WalTooOld,
    /// The endpoint's `write_relabel_configs` drop the series (`keep`, `drop`, `keepequal`,
    /// `dropequal`): by design, not a loss.
    Relabel,
    /// The endpoint's `write_relabel_configs` turn the series into one Remote Write cannot
    /// carry (no labels, or an invalid label name); logged once per endpoint.
    RelabelInvalid,
    /// `tenant` routing: the series has no tenant label and there is no `tenant.default`, or
    /// its tenant cannot be sent in a header (logged once per endpoint).
    NoTenant,
}

impl DropReason {
    /// All reasons, in exposition order.
    pub const ALL: [DropReason; 7] = [
        DropReason::TooOld,
        DropReason::QueueFull,
        DropReason::WalFull,
        DropReason::WalTooOld,
        DropReason::Relabel,
        DropReason::RelabelInvalid,
        DropReason::NoTenant,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooOld => "too_old",
            DropReason::QueueFull => "queue_full",
            DropReason::WalFull => "wal_full",
            DropReason::WalTooOld => "wal_too_old",
            DropReason::Relabel => "relabel",
            DropReason::RelabelInvalid => "relabel_invalid",
            DropReason::NoTenant => "no_tenant",
        }
    }
}

/// Why an append was refused (the caller got an error and still owns the sample).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Timestamp not after the series' last accepted one.
    OutOfOrder,
    /// Queue full under `fail`, or `block` timed out.
    QueueFull,
    /// Unknown or released series ref.
    UnknownSeries,
    /// The sender was closed.
    Closed,
    /// The series' shard thread had died (panicked).
    ShardDead,
    /// WAL mode: writing the log fails (`ENOSPC`, `EIO`) and has not recovered.
    Io,
}

impl RejectReason {
    /// All reasons, in exposition order.
    pub const ALL: [RejectReason; 6] = [
        RejectReason::OutOfOrder,
        RejectReason::QueueFull,
        RejectReason::UnknownSeries,
        RejectReason::Closed,
        RejectReason::ShardDead,
        RejectReason::Io,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out_of_order",
            RejectReason::QueueFull => "queue_full",
            RejectReason::UnknownSeries => "unknown_series",
            RejectReason::Closed => "closed",
            RejectReason::ShardDead => "shard_dead",
            RejectReason::Io => "io",
        }
    }
}

/// Live counters of one endpoint queue. Each counts samples (not requests) unless its name
/// says otherwise; see [`EndpointStats`] for what each one means.
#[derive(Debug, Default)]
pub struct EndpointMetrics {
    /// `prometheus_remote_storage_samples_total`: samples in send attempts (a retried batch
    /// counts again at every attempt).
    pub samples_total: AtomicU64,
    /// `promrw_samples_acked_total`: samples acknowledged with a 2xx (each once).
    pub samples_acked: AtomicU64,
    /// `prometheus_remote_storage_samples_failed_total`: samples lost to a non-recoverable
    /// response, a close deadline or a dead shard.
    pub samples_failed: AtomicU64,
    /// `prometheus_remote_storage_samples_retried_total`: samples in attempts that failed
    /// recoverably and were retried (per retry).
    pub samples_retried: AtomicU64,
    /// Samples that alone, with their series' labels, exceed `promrw.max_request_bytes`
    /// (also counted in `samples_failed`).
    pub samples_too_large: AtomicU64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="too_old"}`.
    pub samples_dropped_too_old: AtomicU64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="queue_full"}`.
    pub samples_dropped_queue_full: AtomicU64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="relabel"}`.
    pub samples_dropped_relabel: AtomicU64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="relabel_invalid"}`.
    pub samples_dropped_relabel_invalid: AtomicU64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="no_tenant"}`.
    pub samples_dropped_no_tenant: AtomicU64,
    /// `prometheus_remote_storage_bytes_total`: compressed bytes of each batch once, when its
    /// sending ended acknowledged or rejected for good (not per retry).
    pub bytes_total: AtomicU64,
    /// `promrw_batches_acked_total`: requests acknowledged with a 2xx.
    pub batches_acked: AtomicU64,
    /// `prometheus_remote_storage_enqueue_retries_total`: times an append waited for room
    /// under the `block` policy.
    pub enqueue_retries: AtomicU64,
    /// `prometheus_remote_storage_shards`: shards in the endpoint's current set.
    pub shards: AtomicU64,
    /// `prometheus_remote_storage_shards_desired`, an f64's bits: the shard count last
    /// computed before tolerance and clamping.
    pub shards_desired_bits: AtomicU64,
    /// `promrw_reshards_total`: shard set switches completed.
    pub reshards: AtomicU64,
    /// `promrw_shards_dead`: shards whose thread panicked.
    pub shards_dead: AtomicU64,
    /// Highest timestamp (ms) in an acknowledged batch, for
    /// `prometheus_remote_storage_queue_highest_sent_timestamp_seconds`. Unlike Prometheus,
    /// which also sets it after a batch rejected for good, only an acknowledged batch advances
    /// it, so lag dashboards show lag while every batch is rejected.
    pub highest_sent_ms: AtomicI64,
    /// `prometheus_remote_storage_sent_batch_duration_seconds`, one observation per attempt:
    /// per-bucket counts (non-cumulative), then +Inf.
    pub batch_duration_buckets: [AtomicU64; BATCH_DURATION_BUCKETS.len() + 1],
    /// Sum of attempt durations in nanoseconds.
    pub batch_duration_sum_ns: AtomicU64,
    /// The most recent failed attempt (rejected or retried), if any.
    pub last_error: Mutex<Option<AttemptError>>,
    /// Native histograms' counters.
    pub histograms: KindMetrics,
    /// Exemplars' counters.
    pub exemplars: KindMetrics,
    /// Metadata requests' counters (Remote Write 1.0).
    pub metadata: MetadataMetrics,
}

/// A failed send attempt, as remembered for reports and stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    /// The HTTP status; `None` when the attempt got no response (connection refused, timeout).
    pub status: Option<u16>,
    /// What went wrong: the status and the start of the response body, or the network error
    /// (secrets removed, control characters escaped).
    pub message: String,
    /// When the attempt ended, milliseconds since the Unix epoch.
    pub unix_ms: i64,
}

impl AttemptError {
    /// The status as a number, 0 when there was no response.
    pub fn status_code(&self) -> u32 {
        self.status.map_or(0, u32::from)
    }
}

impl EndpointMetrics {
    /// Sets `prometheus_remote_storage_shards_desired`.
    pub fn set_shards_desired(&self, desired: f64) {
        self.shards_desired_bits
            .store(desired.to_bits(), Ordering::Relaxed);
    }

    /// Adds `n` samples dropped for `reason`.
    pub fn add_dropped(&self, reason: DropReason, n: u64) {
        match reason {
            DropReason::TooOld => self.samples_dropped_too_old.fetch_add(n, Ordering::Relaxed),
            DropReason::QueueFull => self
                .samples_dropped_queue_full
                .fetch_add(n, Ordering::Relaxed),
            DropReason::Relabel => self.samples_dropped_relabel.fetch_add(n, Ordering::Relaxed),
            DropReason::RelabelInvalid => self
                .samples_dropped_relabel_invalid
                .fetch_add(n, Ordering::Relaxed),
            DropReason::NoTenant => self
                .samples_dropped_no_tenant
                .fetch_add(n, Ordering::Relaxed),
            // Counted by the WAL's writer, which deletes the segments.
            DropReason::WalFull | DropReason::WalTooOld => 0,
        };
    }

    /// Remembers `error` as the endpoint's most recent failed attempt.
    pub fn record_error(&self, error: AttemptError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }

    /// The endpoint's most recent failed attempt.
    pub fn last_error(&self) -> Option<AttemptError> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records one attempt's duration.
    pub fn observe_batch_duration(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = BATCH_DURATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BATCH_DURATION_BUCKETS.len());
        self.batch_duration_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.batch_duration_sum_ns
            .fetch_add(duration.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// A counter split over cache-padded stripes so that many appending threads do not contend on
/// one cache line; reading sums the stripes.
#[derive(Debug, Default)]
pub struct StripedCounter {
    stripes: [CachePadded<AtomicU64>; STRIPES],
}

/// Number of stripes of a [`StripedCounter`].
const STRIPES: usize = 16;

thread_local! {
    /// This thread's stripe.
    static STRIPE: usize = next_stripe();
}

/// Hands out stripes round-robin to threads.
fn next_stripe() -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % STRIPES
}

impl StripedCounter {
    /// Adds `n` on the calling thread's stripe.
    pub fn add(&self, n: u64) {
        let stripe = STRIPE.with(|s| *s);
        self.stripes[stripe].fetch_add(n, Ordering::Relaxed);
    }

    /// The total.
    pub fn sum(&self) -> u64 {
        self.stripes.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}

/// Live counters of a sender (all endpoints).
#[derive(Debug, Default)]
pub struct SenderMetrics {
    /// Samples accepted by append.
    pub appended: StripedCounter,
    /// Samples refused by append, by reason (indexed as `RejectReason::ALL`).
    pub rejected: [AtomicU64; RejectReason::ALL.len()],
    /// Samples accepted whose timestamp looks like seconds or microseconds rather than
    /// milliseconds, by kind (indexed as `SuspectTimestamp::ALL`).
    pub suspect_timestamps: [AtomicU64; 2],
}

/// Why an accepted sample's timestamp looks wrong (seconds or microseconds, not milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuspectTimestamp {
    /// Before 2001-01-01 (a timestamp in seconds is about 1.7e9, i.e. January 1970 in ms).
    Before2001,
    /// More than a day after now (a timestamp in microseconds is about 1.7e15).
    Future,
}

impl SuspectTimestamp {
    /// All kinds, in exposition order.
    pub const ALL: [SuspectTimestamp; 2] = [SuspectTimestamp::Before2001, SuspectTimestamp::Future];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SuspectTimestamp::Before2001 => "before_2001",
            SuspectTimestamp::Future => "over_a_day_ahead",
        }
    }
}

impl SenderMetrics {
    /// Counts `n` samples refused by append for `reason`.
    pub fn reject(&self, reason: RejectReason, n: u64) {
        let index = RejectReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.rejected[index].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one accepted sample with a suspect timestamp.
    pub fn suspect(&self, kind: SuspectTimestamp) {
        self.suspect_timestamps[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Samples refused by append for `reason`.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        let index = RejectReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.rejected[index].load(Ordering::Relaxed)
    }
}

/// A point-in-time copy of one endpoint's figures. Each field is named after its metric in
/// the text exposition ([`render_text`]) and means what Prometheus's metric of that name
/// means; promrw-only figures are marked so. Counters count samples unless named otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointStats {
    /// The `remote_name` label.
    pub remote_name: String,
    /// The `url` label (password removed).
    pub url: String,
    /// `prometheus_remote_storage_samples_total`: samples in send attempts; a retried batch
    /// counts again at every attempt.
    pub samples_total: u64,
    /// `promrw_samples_acked_total` (promrw only): samples acknowledged with a 2xx, each once.
    pub samples_acked: u64,
    /// `prometheus_remote_storage_samples_failed_total`: samples lost to a non-recoverable
    /// response (every sample of the refused batch), a close deadline or a dead shard.
    pub samples_failed: u64,
    /// `prometheus_remote_storage_samples_retried_total`: samples in attempts that failed
    /// recoverably (5xx, 429, network errors) and were retried, counted at every retry.
    pub samples_retried: u64,
    /// `promrw_samples_too_large_total`: samples that alone exceed `promrw.max_request_bytes`,
    /// never sent and counted in `samples_failed` too.
    pub samples_too_large: u64,
    /// `promrw_shard_cached_series`: series held in the shards' caches (a released series
    /// stays until its queued samples are resolved).
    pub series_cached: u64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="too_old"}`: samples dropped as
    /// older than `sample_age_limit`, on append or while queued or retried.
    pub samples_dropped_too_old: u64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="wal_full"}`: WAL mode, samples
    /// deleted unsent with the oldest segments at `promrw.wal.max_bytes` (`full: drop_oldest`).
    pub samples_dropped_wal_full: u64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="wal_too_old"}`: WAL mode,
    /// samples deleted unsent with segments older than `promrw.wal.max_age`.
    pub samples_dropped_wal_too_old: u64,
    /// `promrw_wal_cursor_lag_bytes`: WAL mode, log bytes from the endpoint's cursor to the
    /// end of the log (not yet done for this endpoint).
    pub wal_lag_bytes: u64,
    /// `promrw_wal_cursor_lag_samples`: WAL mode, samples from the endpoint's cursor to the
    /// end of the log.
    pub wal_lag_samples: u64,
    /// `promrw_wal_samples_replayed_total`: WAL mode, samples the log held at or after the
    /// endpoint's cursor when the sender opened it (sent first).
    pub wal_samples_replayed: u64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="queue_full"}` (a promrw
    /// reason): samples dropped because the queue was full under `drop_newest` (or under
    /// `fail` on one endpoint of several while another accepted the sample).
    pub samples_dropped_queue_full: u64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="relabel"}` (a promrw reason):
    /// samples of series the endpoint's `write_relabel_configs` drop, by design (not a loss).
    pub samples_dropped_relabel: u64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="relabel_invalid"}` (a promrw
    /// reason): samples of series whose relabeled labels Remote Write cannot carry.
    pub samples_dropped_relabel_invalid: u64,
    /// `prometheus_remote_storage_samples_dropped_total{reason="no_tenant"}` (a promrw reason):
    /// samples of series `tenant` routing cannot route (no tenant label, no default).
    pub samples_dropped_no_tenant: u64,
    /// `prometheus_remote_storage_bytes_total`: compressed bytes of each batch once (not per
    /// retry), when its sending ended, acknowledged or rejected for good.
    pub bytes_total: u64,
    /// `promrw_batches_acked_total` (promrw only): requests acknowledged with a 2xx.
    pub batches_acked: u64,
    /// `prometheus_remote_storage_enqueue_retries_total`: times an append waited for room
    /// under the `block` policy.
    pub enqueue_retries: u64,
    /// `prometheus_remote_storage_samples_pending` (gauge): samples queued or in flight, not
    /// yet acknowledged, failed or dropped.
    pub samples_pending: u64,
    /// `prometheus_remote_storage_shards` (gauge): shards in the current set.
    pub shards: u64,
    /// `prometheus_remote_storage_shards_desired` (gauge): the shard count last computed,
    /// before tolerance and clamping.
    pub shards_desired: f64,
    /// `promrw_reshards_total`: shard set switches completed.
    pub reshards: u64,
    /// `prometheus_remote_storage_samples_in_total`: items offered to the endpoint (queued,
    /// or dropped or refused before they were queued).
    pub samples_in: u64,
    /// `promrw_shards_dead` (gauge, promrw only).
    pub shards_dead: u64,
    /// `prometheus_remote_storage_queue_highest_timestamp_seconds` in ms: the highest
    /// timestamp queued (0 when none).
    pub highest_enqueued_ms: i64,
    /// `prometheus_remote_storage_queue_highest_sent_timestamp_seconds` in ms: the highest
    /// timestamp of an acknowledged batch (0 when none). A batch rejected for good does not
    /// advance it (Prometheus's does), so lag shows while every batch is rejected.
    pub highest_sent_ms: i64,
    /// The most recent failed attempt (rejected or retried), if any.
    pub last_error: Option<AttemptError>,
    /// `prometheus_remote_storage_histograms_*`: native histograms sent, failed, retried and
    /// dropped.
    pub histograms: KindStats,
    /// `prometheus_remote_storage_exemplars_*`: exemplars sent, failed, retried and dropped.
    pub exemplars: KindStats,
    /// `prometheus_remote_storage_metadata_*`: Remote Write 1.0 metadata entries.
    pub metadata: MetadataStats,
    /// `promrw_remote_write_protocol`: `"1.0"` or `"2.0"`, the protocol the endpoint's
    /// requests use now (a 2.0 endpoint whose receiver speaks only 1.0 falls back to 1.0).
    pub remote_write_protocol: &'static str,
}

impl EndpointStats {
    /// Total dropped samples across reasons.
    pub fn samples_dropped(&self) -> u64 {
        self.samples_dropped_too_old
            + self.samples_dropped_queue_full
            + self.samples_dropped_wal_full
            + self.samples_dropped_wal_too_old
            + self.samples_dropped_relabel
            + self.samples_dropped_relabel_invalid
            + self.samples_dropped_no_tenant
    }
}

/// A point-in-time copy of a sender's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderStats {
    /// `promrw_samples_appended_total`: samples accepted by append (once, whatever the number
    /// of endpoints).
    pub samples_appended: u64,
    /// `promrw_appends_rejected_total{reason="out_of_order"}`: samples refused by append (and
    /// left to the caller) as out of order. This and the other `rejected_*` count samples: a
    /// batch append refused whole (on a closed sender) counts each of its samples; one that
    /// stops at a refused sample counts that sample (the ones after it were not tried).
    pub rejected_out_of_order: u64,
    /// `promrw_appends_rejected_total{reason="queue_full"}`: samples refused because the queue
    /// was full (`fail`, or `block` timing out).
    pub rejected_queue_full: u64,
    /// `promrw_appends_rejected_total{reason="unknown_series"}`: samples refused for an
    /// unknown or released series.
    pub rejected_unknown_series: u64,
    /// `promrw_appends_rejected_total{reason="closed"}`: samples refused after close.
    pub rejected_closed: u64,
    /// `promrw_appends_rejected_total{reason="shard_dead"}`: samples refused because their
    /// shard's thread had died.
    pub rejected_shard_dead: u64,
    /// `promrw_appends_rejected_total{reason="io"}`: samples refused because writing the WAL
    /// failed (WAL mode).
    pub rejected_io: u64,
    /// Accepted samples whose timestamp was before 2001 (seconds rather than milliseconds?).
    pub suspect_timestamps_before_2001: u64,
    /// Accepted samples whose timestamp was over a day ahead (microseconds rather than
    /// milliseconds?).
    pub suspect_timestamps_future: u64,
    /// Live registered series.
    pub series: u64,
    /// Per-endpoint figures, in configuration order.
    pub endpoints: Vec<EndpointStats>,
    /// The durable queue's figures (WAL mode), `None` in memory mode.
    pub wal: Option<WalStats>,
}

/// The durable queue's figures (`promrw_wal_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalStats {
    /// `promrw_wal_bytes`: bytes of the log's segments on disk.
    pub bytes_on_disk: u64,
    /// `promrw_wal_segments`: segments on disk.
    pub segments: u64,
    /// `promrw_wal_records_written_total`: records written (series and samples records).
    pub records_written: u64,
    /// `promrw_wal_bytes_written_total`: bytes written to segments.
    pub bytes_written: u64,
    /// `promrw_wal_fsyncs_total`: successful fsyncs of segments.
    pub fsyncs: u64,
    /// `promrw_wal_write_errors_total`: write and fsync errors met (each retried).
    pub write_errors: u64,
    /// `promrw_wal_corrupt_records_skipped_total`: damaged stretches skipped, when the log was
    /// opened and by the feeders since, and torn tails cut at open.
    pub corrupt_records_skipped: u64,
}

/// Snapshot of one endpoint's live counters.
pub fn endpoint_stats(remote_name: &str, url: &str, m: &EndpointMetrics) -> EndpointStats {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    EndpointStats {
        remote_name: remote_name.to_string(),
        url: url.to_string(),
        samples_total: load(&m.samples_total),
        samples_acked: load(&m.samples_acked),
        samples_failed: load(&m.samples_failed),
        samples_retried: load(&m.samples_retried),
        samples_too_large: load(&m.samples_too_large),
        // Filled in from the shards by the caller, as `samples_pending`.
        series_cached: 0,
        samples_dropped_too_old: load(&m.samples_dropped_too_old),
        samples_dropped_queue_full: load(&m.samples_dropped_queue_full),
        samples_dropped_relabel: load(&m.samples_dropped_relabel),
        samples_dropped_relabel_invalid: load(&m.samples_dropped_relabel_invalid),
        samples_dropped_no_tenant: load(&m.samples_dropped_no_tenant),
        // Filled in from the WAL by the sender, in WAL mode.
        samples_dropped_wal_full: 0,
        samples_dropped_wal_too_old: 0,
        wal_lag_bytes: 0,
        wal_lag_samples: 0,
        wal_samples_replayed: 0,
        bytes_total: load(&m.bytes_total),
        batches_acked: load(&m.batches_acked),
        enqueue_retries: load(&m.enqueue_retries),
        // Filled in from the shard queues by the caller, which has them.
        samples_pending: 0,
        shards: load(&m.shards),
        shards_desired: f64::from_bits(m.shards_desired_bits.load(Ordering::Relaxed)),
        reshards: load(&m.reshards),
        // Filled in from the shard queues by the caller.
        samples_in: 0,
        shards_dead: load(&m.shards_dead),
        highest_enqueued_ms: 0,
        highest_sent_ms: m.highest_sent_ms.load(Ordering::Relaxed),
        last_error: m.last_error(),
        histograms: m.histograms.snapshot(),
        exemplars: m.exemplars.snapshot(),
        metadata: m.metadata.snapshot(),
        // Set by the caller, which knows the endpoint's protocol.
        remote_write_protocol: "1.0",
    }
}

/// Static settings of an endpoint shown as gauges.
#[derive(Debug, Clone, Copy)]
pub struct EndpointSettings {
    /// `queue_config.capacity`.
    pub capacity: usize,
    /// `queue_config.min_shards`.
    pub min_shards: usize,
    /// `queue_config.max_shards`.
    pub max_shards: usize,
    /// `queue_config.max_samples_per_send`.
    pub max_samples_per_send: usize,
}

/// One endpoint's input to the exposition.
pub struct EndpointExposition<'a> {
    /// Snapshot of counters.
    pub stats: EndpointStats,
    /// Settings shown as gauges.
    pub settings: EndpointSettings,
    /// Live counters (for the histogram).
    pub live: &'a EndpointMetrics,
}

/// Writes the Prometheus text exposition (format 0.0.4) of a sender.
pub fn render_text(stats: &SenderStats, endpoints: &[EndpointExposition<'_>]) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "promrw_samples_appended_total",
        "counter",
        "Samples accepted by append.",
    );
    let _ = writeln!(
        out,
        "promrw_samples_appended_total {}",
        stats.samples_appended
    );
    family(
        &mut out,
        "promrw_appends_rejected_total",
        "counter",
        "Samples refused by append and left to the caller, by reason.",
    );
    for (reason, value) in [
        (RejectReason::OutOfOrder, stats.rejected_out_of_order),
        (RejectReason::QueueFull, stats.rejected_queue_full),
        (RejectReason::UnknownSeries, stats.rejected_unknown_series),
        (RejectReason::Closed, stats.rejected_closed),
        (RejectReason::ShardDead, stats.rejected_shard_dead),
        (RejectReason::Io, stats.rejected_io),
    ] {
        let _ = writeln!(
            out,
            "promrw_appends_rejected_total{{reason=\"{}\"}} {value}",
            reason.as_str()
        );
    }
    family(
        &mut out,
        "promrw_samples_suspect_timestamp_total",
        "counter",
        "Samples accepted whose timestamp looks like seconds or microseconds, not milliseconds.",
    );
    for (reason, value) in [
        (
            SuspectTimestamp::Before2001,
            stats.suspect_timestamps_before_2001,
        ),
        (SuspectTimestamp::Future, stats.suspect_timestamps_future),
    ] {
        let _ = writeln!(
            out,
            "promrw_samples_suspect_timestamp_total{{reason=\"{}\"}} {value}",
            reason.as_str()
        );
    }
    family(&mut out, "promrw_series", "gauge", "Registered series.");
    let _ = writeln!(out, "promrw_series {}", stats.series);

    type Field = fn(&EndpointStats) -> u64;
    let counters: [(&str, &str, Field); 8] = [
        (
            "samples_total",
            "Samples in send attempts (a retried batch counts again).",
            |s| s.samples_total,
        ),
        (
            "samples_failed_total",
            "Samples that failed on send and were not retried.",
            |s| s.samples_failed,
        ),
        (
            "samples_retried_total",
            "Samples that failed on send and were retried.",
            |s| s.samples_retried,
        ),
        (
            "bytes_total",
            "Compressed bytes of each batch once, acknowledged or rejected for good.",
            |s| s.bytes_total,
        ),
        (
            "enqueue_retries_total",
            "Times an append waited for queue room.",
            |s| s.enqueue_retries,
        ),
        ("samples_pending", "Samples queued or in flight.", |s| {
            s.samples_pending
        }),
        ("shards", "Shards in the current set.", |s| s.shards),
        (
            "samples_in_total",
            "Samples offered to the queue: queued, or dropped or refused before queueing.",
            |s| s.samples_in,
        ),
    ];
    for (name, help, get) in counters {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let full = format!("prometheus_remote_storage_{name}");
        family(&mut out, &full, kind, help);
        for e in endpoints {
            let _ = writeln!(
                out,
                "{full}{{{}}} {}",
                endpoint_labels(&e.stats),
                get(&e.stats)
            );
        }
    }
    let name = "prometheus_remote_storage_samples_dropped_total";
    family(
        &mut out,
        name,
        "counter",
        "Samples dropped after being accepted, by reason.",
    );
    for e in endpoints {
        for reason in DropReason::ALL {
            let value = match reason {
                DropReason::TooOld => e.stats.samples_dropped_too_old,
                DropReason::QueueFull => e.stats.samples_dropped_queue_full,
                DropReason::WalFull => e.stats.samples_dropped_wal_full,
                DropReason::WalTooOld => e.stats.samples_dropped_wal_too_old,
                DropReason::Relabel => e.stats.samples_dropped_relabel,
                DropReason::RelabelInvalid => e.stats.samples_dropped_relabel_invalid,
                DropReason::NoTenant => e.stats.samples_dropped_no_tenant,
            };
            let _ = writeln!(
                out,
                "{name}{{reason=\"{}\",{}}} {value}",
                reason.as_str(),
                endpoint_labels(&e.stats)
            );
        }
    }
    type Setting = fn(&EndpointSettings) -> usize;
    let settings: [(&str, &str, Setting); 4] = [
        ("shard_capacity", "Capacity of each shard queue.", |s| {
            s.capacity
        }),
        ("shards_min", "Minimum shards.", |s| s.min_shards),
        ("shards_max", "Maximum shards.", |s| s.max_shards),
        (
            "max_samples_per_send",
            "Maximum samples per request.",
            |s| s.max_samples_per_send,
        ),
    ];
    for (name, help, get) in settings {
        let full = format!("prometheus_remote_storage_{name}");
        family(&mut out, &full, "gauge", help);
        for e in endpoints {
            let _ = writeln!(
                out,
                "{full}{{{}}} {}",
                endpoint_labels(&e.stats),
                get(&e.settings)
            );
        }
    }
    let name = "prometheus_remote_storage_shards_desired";
    family(
        &mut out,
        name,
        "gauge",
        "Shards wanted from the rates, before tolerance and clamping.",
    );
    for e in endpoints {
        let _ = writeln!(
            out,
            "{name}{{{}}} {}",
            endpoint_labels(&e.stats),
            e.stats.shards_desired
        );
    }
    for (name, help, get) in [
        (
            "queue_highest_timestamp_seconds",
            "Highest timestamp enqueued, in seconds.",
            (|s: &EndpointStats| s.highest_enqueued_ms) as fn(&EndpointStats) -> i64,
        ),
        (
            "queue_highest_sent_timestamp_seconds",
            "Highest timestamp in an acknowledged request, in seconds.",
            |s| s.highest_sent_ms,
        ),
    ] {
        let full = format!("prometheus_remote_storage_{name}");
        family(&mut out, &full, "gauge", help);
        for e in endpoints {
            let _ = writeln!(
                out,
                "{full}{{{}}} {}",
                endpoint_labels(&e.stats),
                get(&e.stats) as f64 / 1000.0
            );
        }
    }
    for (name, help, get) in [
        (
            "promrw_samples_acked_total",
            "Samples acknowledged by the receiver with a 2xx.",
            (|s: &EndpointStats| s.samples_acked) as Field,
        ),
        (
            "promrw_batches_acked_total",
            "Requests acknowledged with a 2xx.",
            |s| s.batches_acked,
        ),
        ("promrw_shards_dead", "Shards whose thread panicked.", |s| {
            s.shards_dead
        }),
        (
            "promrw_reshards_total",
            "Shard set switches completed.",
            |s| s.reshards,
        ),
        (
            "promrw_samples_too_large_total",
            "Samples never sent because one alone exceeds promrw.max_request_bytes (also counted failed).",
            |s| s.samples_too_large,
        ),
        (
            "promrw_shard_cached_series",
            "Series held in shard caches, released ones until their queued samples are resolved.",
            |s| s.series_cached,
        ),
    ] {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        family(&mut out, name, kind, help);
        for e in endpoints {
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                endpoint_labels(&e.stats),
                get(&e.stats)
            );
        }
    }
    kinds::render_kinds(&mut out, endpoints);
    if let Some(wal) = &stats.wal {
        render_wal(&mut out, wal, endpoints);
    }
    let name = "prometheus_remote_storage_sent_batch_duration_seconds";
    family(
        &mut out,
        name,
        "histogram",
        "Duration of send attempts, in seconds.",
    );
    for e in endpoints {
        let labels = endpoint_labels(&e.stats);
        let mut cumulative = 0u64;
        for (i, bound) in BATCH_DURATION_BUCKETS.iter().enumerate() {
            cumulative += e.live.batch_duration_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        cumulative +=
            e.live.batch_duration_buckets[BATCH_DURATION_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let sum = e.live.batch_duration_sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
    out
}

/// The durable queue's families (WAL mode only).
fn render_wal(out: &mut String, wal: &WalStats, endpoints: &[EndpointExposition<'_>]) {
    for (name, kind, help, value) in [
        (
            "promrw_wal_bytes",
            "gauge",
            "Bytes of the WAL's segments on disk.",
            wal.bytes_on_disk,
        ),
        (
            "promrw_wal_segments",
            "gauge",
            "WAL segments on disk.",
            wal.segments,
        ),
        (
            "promrw_wal_records_written_total",
            "counter",
            "WAL records written (series and samples records).",
            wal.records_written,
        ),
        (
            "promrw_wal_bytes_written_total",
            "counter",
            "Bytes written to WAL segments.",
            wal.bytes_written,
        ),
        (
            "promrw_wal_fsyncs_total",
            "counter",
            "Successful fsyncs of WAL segments.",
            wal.fsyncs,
        ),
        (
            "promrw_wal_write_errors_total",
            "counter",
            "WAL write and fsync errors (each retried).",
            wal.write_errors,
        ),
        (
            "promrw_wal_corrupt_records_skipped_total",
            "counter",
            "Damaged WAL stretches skipped or torn tails cut.",
            wal.corrupt_records_skipped,
        ),
    ] {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    type Field = fn(&EndpointStats) -> u64;
    let per_endpoint: [(&str, &str, &str, Field); 3] = [
        (
            "promrw_wal_cursor_lag_bytes",
            "gauge",
            "WAL bytes from the endpoint's cursor to the end of the log.",
            |s| s.wal_lag_bytes,
        ),
        (
            "promrw_wal_cursor_lag_samples",
            "gauge",
            "WAL samples from the endpoint's cursor to the end of the log.",
            |s| s.wal_lag_samples,
        ),
        (
            "promrw_wal_samples_replayed_total",
            "counter",
            "Samples the WAL held for the endpoint when the sender opened it.",
            |s| s.wal_samples_replayed,
        ),
    ];
    for (name, kind, help, get) in per_endpoint {
        family(out, name, kind, help);
        for e in endpoints {
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                endpoint_labels(&e.stats),
                get(&e.stats)
            );
        }
    }
}

/// Writes `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `remote_name="...",url="..."` with values escaped for the exposition format.
fn endpoint_labels(stats: &EndpointStats) -> String {
    format!(
        "remote_name=\"{}\",url=\"{}\"",
        escape_label_value(&stats.remote_name),
        escape_label_value(&stats.url)
    )
}

/// Escapes `\`, `"` and newlines in a label value.
pub fn escape_label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
