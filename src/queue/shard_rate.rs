//! The pure logic of Prometheus's resharding decision (`ewmaRate`, `calculateDesiredShards`
//! and `shouldReshard`), with no threads: the caller ticks the rates every shard update
//! interval, feeds them to [`desired_shards`] and asks a [`ReshardGate`] whether to act.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Prometheus's EWMA smoothing factor for the resharding rates.
pub const EWMA_ALPHA: f64 = 0.2;

/// Prometheus's shard update interval (`shardUpdateDuration`): how often rates are ticked and
/// the desired shard count recomputed, and how recent a send must be for a reshard.
pub const SHARD_UPDATE_INTERVAL: Duration = Duration::from_secs(10);

/// Prometheus's `shardToleranceFraction`: a desired count within ±30% of the current one
/// keeps the current one.
#[cfg(test)]
pub const DEFAULT_TOLERANCE: f64 = 0.3;

/// Lag (seconds) above which the shard count is never lowered.
pub const MAX_DOWNSHARD_DELAY_SECONDS: f64 = 10.0;

/// Fraction of the pending backlog to catch up on per second.
const BACKLOG_CATCHUP_PER_SECOND: f64 = 0.05;

/// An exponentially weighted moving rate of events per second, ticked at a fixed interval.
///
/// [`EwmaRate::add`] may be called from many threads at once; [`EwmaRate::tick`] and
/// [`EwmaRate::rate`] belong to the single owner that runs the update loop.
#[derive(Debug)]
pub struct EwmaRate {
    new_events: AtomicU64,
    alpha: f64,
    interval_seconds: f64,
    rate: f64,
    init: bool,
}

impl EwmaRate {
    /// A rate with Prometheus's alpha ([`EWMA_ALPHA`]) ticked every `interval`.
    ///
    /// # Panics
    ///
    /// If `interval` is zero.
    pub fn new(interval: Duration) -> Self {
        EwmaRate::with_alpha(EWMA_ALPHA, interval)
    }

    /// A rate with smoothing factor `alpha` ticked every `interval`.
    ///
    /// # Panics
    ///
    /// If `interval` is zero.
    pub fn with_alpha(alpha: f64, interval: Duration) -> Self {
        assert!(!interval.is_zero(), "EwmaRate interval must be non-zero");
        EwmaRate {
            new_events: AtomicU64::new(0),
            alpha,
            interval_seconds: interval.as_secs_f64(),
            rate: 0.0,
            init: false,
        }
    }

    /// Counts `n` events for the current interval.
    pub fn add(&self, n: u64) {
        self.new_events.fetch_add(n, Ordering::Relaxed);
    }

    /// Ends the interval: the events counted since the last tick, divided by the interval in
    /// seconds, become the rate on the first tick that saw any events, and are blended in
    /// with weight alpha afterwards (`rate += alpha * (instant - rate)`). Until the first
    /// tick with events the rate stays 0.
    pub fn tick(&mut self) {
        let events = self.new_events.swap(0, Ordering::Relaxed);
        let instant = events as f64 / self.interval_seconds;
        if self.init {
            self.rate += self.alpha * (instant - self.rate);
        } else if events > 0 {
            self.init = true;
            self.rate = instant;
        }
    }

    /// The smoothed rate, in events per second, as of the last tick.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

/// What [`desired_shards`] decides from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DesiredInputs {
    /// Items (samples, exemplars, histograms) appended per second.
    pub in_rate: f64,
    /// Items sent per second (counted per finished batch, whether it succeeded or failed).
    pub out_rate: f64,
    /// Items dropped per second (e.g. for dropped series).
    pub dropped_rate: f64,
    /// Seconds spent sending per second (the sum over shards, retries included).
    pub out_duration_rate: f64,
    /// How far sending lags appending, in seconds: no downsharding while it exceeds
    /// [`MAX_DOWNSHARD_DELAY_SECONDS`]. promrw gives the time to drain what is pending at the
    /// out rate (Prometheus: highest appended minus highest sent timestamp).
    pub delay_seconds: f64,
    /// Items pending (queued or in flight), of which 5 % per second are to be caught up.
    /// Prometheus estimates it as `delay × in × kept`; promrw counts it.
    pub pending: f64,
    /// The current shard count.
    pub current: usize,
    /// The lowest shard count allowed.
    pub min_shards: usize,
    /// The highest shard count allowed.
    pub max_shards: usize,
    /// A desired count within `current * (1 ± tolerance)` keeps `current`
    /// (Prometheus uses 0.3).
    pub tolerance: f64,
}

/// What [`desired_shards`] returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Desired {
    /// The computed desired shard count before rounding up, tolerance and clamping: the value
    /// Prometheus sets its `prometheus_remote_storage_shards_desired` gauge to. `None` when
    /// `out_rate` is not positive (nothing was computed; Prometheus leaves the gauge as it
    /// was). It can be NaN or infinite when an input is.
    pub raw: Option<f64>,
    /// The shard count to run.
    pub shards: usize,
}

/// Prometheus's `calculateDesiredShards`.
///
/// With `kept = out / (dropped + out)`, `pending` counted (Prometheus estimates it as
/// `delay * in * kept`), `time_per_item =
/// out_duration / out` and `desired = time_per_item * (in * kept + 0.05 * pending)`:
/// `ceil(desired)` within `current * (1 ± tolerance)` keeps `current`; a lower count while
/// `delay > 10 s` keeps `current`; otherwise `ceil(desired)` clamped to `min..=max`.
///
/// `out_rate` not greater than 0 (NaN included: nothing is known about sending) keeps
/// `current` with `raw` `None`. A NaN `desired` (from a NaN input, or an undefined kept
/// ratio such as 0/0) keeps `current`, with `raw` NaN; `+inf` is clamped to `max_shards` and
/// a negative value to `min_shards`. It never panics.
pub fn desired_shards(inputs: &DesiredInputs) -> Desired {
    let current = inputs.current;
    let keep = |raw| Desired {
        raw,
        shards: current,
    };
    if inputs.out_rate.is_nan() || inputs.out_rate <= 0.0 {
        return keep(None);
    }
    let kept_ratio = inputs.out_rate / (inputs.dropped_rate + inputs.out_rate);
    let backlog_catchup = BACKLOG_CATCHUP_PER_SECOND * inputs.pending;
    let time_per_item = inputs.out_duration_rate / inputs.out_rate;
    let raw = time_per_item * (inputs.in_rate * kept_ratio + backlog_catchup);
    if raw.is_nan() {
        return keep(Some(raw));
    }
    let ceiled = raw.ceil();
    let lower = current as f64 * (1.0 - inputs.tolerance);
    let upper = current as f64 * (1.0 + inputs.tolerance);
    if lower <= ceiled && ceiled <= upper {
        return keep(Some(raw));
    }
    // Saturating: +inf becomes usize::MAX, negative values 0; both are clamped below.
    let wanted = ceiled as usize;
    if wanted < current && inputs.delay_seconds > MAX_DOWNSHARD_DELAY_SECONDS {
        return keep(Some(raw));
    }
    let shards = if wanted > inputs.max_shards {
        inputs.max_shards
    } else if wanted < inputs.min_shards {
        inputs.min_shards
    } else {
        wanted
    };
    Desired {
        raw: Some(raw),
        shards,
    }
}

/// Prometheus's `shouldReshard`: whether to act on a desired shard count now. Its notes may
/// come from many threads at once.
#[derive(Debug)]
pub struct ReshardGate {
    /// Instants are stored as nanoseconds after this one.
    base: Instant,
    recent: Duration,
    /// The last send, as nanoseconds after `base` plus one; 0 for never.
    last_send: AtomicU64,
    /// Resharding is disabled before this many nanoseconds after `base`.
    disabled_until: AtomicU64,
}

impl Default for ReshardGate {
    /// A gate requiring a send within [`SHARD_UPDATE_INTERVAL`].
    fn default() -> Self {
        ReshardGate::new(SHARD_UPDATE_INTERVAL)
    }
}

impl ReshardGate {
    /// A gate requiring a send within the last `recent` (the shard update interval) for a
    /// reshard. Instants before its creation count as its creation.
    pub fn new(recent: Duration) -> Self {
        ReshardGate {
            base: Instant::now(),
            recent,
            last_send: AtomicU64::new(0),
            disabled_until: AtomicU64::new(0),
        }
    }

    /// Nanoseconds from `base` to `at` (saturating).
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records a send (successful or not, as Prometheus does) at `now`.
    pub fn note_send(&self, now: Instant) {
        self.last_send
            .fetch_max(self.nanos(now).saturating_add(1), Ordering::Relaxed);
    }

    /// Records a recoverable error that will be retried after `backoff`: resharding is
    /// disabled until `now + 2 * backoff`, or a later end already set.
    pub fn note_recoverable_error(&self, now: Instant, backoff: Duration) {
        let end = self.nanos(now).saturating_add(
            u64::try_from(backoff.as_nanos())
                .unwrap_or(u64::MAX)
                .saturating_mul(2),
        );
        self.disabled_until.fetch_max(end, Ordering::Relaxed);
    }

    /// Whether to reshard from `current` to `desired` at `now`: they differ, a send happened
    /// no longer than `recent` before `now`, and `now` is not before the end of any window
    /// set by [`ReshardGate::note_recoverable_error`].
    pub fn should_reshard(&self, now: Instant, desired: usize, current: usize) -> bool {
        if desired == current {
            return false;
        }
        let last_send = self.last_send.load(Ordering::Relaxed);
        if last_send == 0 {
            return false;
        }
        let now_nanos = self.nanos(now);
        let recent = u64::try_from(self.recent.as_nanos()).unwrap_or(u64::MAX);
        if last_send - 1 < now_nanos.saturating_sub(recent) {
            return false;
        }
        now_nanos >= self.disabled_until.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn ewma_stays_zero_until_events_then_first_tick_sets_rate() {
        let mut rate = EwmaRate::new(Duration::from_secs(10));
        rate.tick();
        assert_eq!(rate.rate(), 0.0);
        rate.add(300);
        rate.add(200);
        rate.tick();
        // 500 events / 10 s.
        assert!(close(rate.rate(), 50.0), "{}", rate.rate());
    }

    #[test]
    fn ewma_smooths_with_alpha_after_first_tick() {
        let mut rate = EwmaRate::new(Duration::from_secs(10));
        rate.add(1000);
        rate.tick(); // 100
        rate.add(2000);
        rate.tick(); // 100 + 0.2 * (200 - 100) = 120
        assert!(close(rate.rate(), 120.0), "{}", rate.rate());
        rate.tick(); // 120 + 0.2 * (0 - 120) = 96
        assert!(close(rate.rate(), 96.0), "{}", rate.rate());
        rate.add(500);
        rate.tick(); // 96 + 0.2 * (50 - 96) = 86.8
        assert!(close(rate.rate(), 86.8), "{}", rate.rate());
    }

    #[test]
    fn ewma_add_from_threads_counts_every_event() {
        let mut rate = EwmaRate::new(Duration::from_secs(1));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        rate.add(1);
                    }
                });
            }
        });
        rate.tick();
        assert!(close(rate.rate(), 4000.0), "{}", rate.rate());
    }

    fn inputs() -> DesiredInputs {
        DesiredInputs {
            in_rate: 0.0,
            out_rate: 0.0,
            dropped_rate: 0.0,
            out_duration_rate: 0.0,
            delay_seconds: 0.0,
            pending: 0.0,
            current: 1,
            min_shards: 1,
            max_shards: 50,
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    #[test]
    fn steady_state_within_tolerance_keeps_current() {
        // 10 shards each busy 0.8 s/s sending 10k/s: time per item 8 s / 100k = 80 us;
        // in 110k/s -> desired 8.8 -> ceil 9, inside [7, 13].
        let d = desired_shards(&DesiredInputs {
            in_rate: 110_000.0,
            out_rate: 100_000.0,
            out_duration_rate: 8.0,
            current: 10,
            ..inputs()
        });
        assert!(close(d.raw.unwrap(), 8.8), "{d:?}");
        assert_eq!(d.shards, 10);
    }

    #[test]
    fn higher_in_rate_needs_more_shards() {
        // 4 shards each sending 20k/s and busy 1 s/s: out 80k/s, 4 s/s of sending, so
        // 50 us per item; in 200k/s -> desired exactly 10 shards.
        let d = desired_shards(&DesiredInputs {
            in_rate: 200_000.0,
            out_rate: 80_000.0,
            out_duration_rate: 4.0,
            current: 4,
            ..inputs()
        });
        assert!(close(d.raw.unwrap(), 10.0), "{d:?}");
        assert_eq!(d.shards, 10);
        // 210k/s -> 10.5 -> ceil 11.
        let d = desired_shards(&DesiredInputs {
            in_rate: 210_000.0,
            out_rate: 80_000.0,
            out_duration_rate: 4.0,
            current: 4,
            ..inputs()
        });
        assert!(close(d.raw.unwrap(), 10.5), "{d:?}");
        assert_eq!(d.shards, 11);
    }

    #[test]
    fn backlog_adds_five_percent_per_second() {
        // Time per item 50 us; in 100k/s alone wants 5 shards. 8 s behind: pending 800k,
        // catch-up 40k/s -> 50e-6 * 140k = 7 shards.
        let base = DesiredInputs {
            in_rate: 100_000.0,
            out_rate: 80_000.0,
            out_duration_rate: 4.0,
            current: 2,
            ..inputs()
        };
        assert_eq!(desired_shards(&base).shards, 5);
        let d = desired_shards(&DesiredInputs {
            pending: 800_000.0,
            ..base
        });
        assert!(close(d.raw.unwrap(), 7.0), "{d:?}");
        assert_eq!(d.shards, 7);
    }

    #[test]
    fn dropped_items_lower_the_kept_ratio() {
        // Half dropped: kept ratio 0.5, so in 200k/s counts as 100k/s -> 5 shards.
        let d = desired_shards(&DesiredInputs {
            in_rate: 200_000.0,
            out_rate: 80_000.0,
            dropped_rate: 80_000.0,
            out_duration_rate: 4.0,
            current: 2,
            ..inputs()
        });
        assert!(close(d.raw.unwrap(), 5.0), "{d:?}");
        assert_eq!(d.shards, 5);
    }

    #[test]
    fn no_downshard_while_more_than_ten_seconds_behind() {
        // Time per item 10 us, in 10k/s: 0.1 + 0.05 * delay * 10k * 10us.
        let base = DesiredInputs {
            in_rate: 10_000.0,
            out_rate: 100_000.0,
            out_duration_rate: 1.0,
            current: 10,
            ..inputs()
        };
        // 11 s behind, 110k pending: 0.1 * (1 + 0.55) = 0.155 -> 1 < 10, but delay > 10: keep.
        let d = desired_shards(&DesiredInputs {
            delay_seconds: 11.0,
            pending: 110_000.0,
            ..base
        });
        assert!(close(d.raw.unwrap(), 0.155), "{d:?}");
        assert_eq!(d.shards, 10);
        // Exactly 10 s behind is not "more than 10 s": downshard to 1.
        let d = desired_shards(&DesiredInputs {
            delay_seconds: 10.0,
            ..base
        });
        assert_eq!(d.shards, 1);
        let d = desired_shards(&DesiredInputs {
            delay_seconds: 1.0,
            ..base
        });
        assert_eq!(d.shards, 1);
    }

    #[test]
    fn upshard_is_allowed_while_behind() {
        let d = desired_shards(&DesiredInputs {
            in_rate: 200_000.0,
            out_rate: 80_000.0,
            out_duration_rate: 4.0,
            delay_seconds: 60.0,
            pending: 12_000_000.0,
            current: 4,
            ..inputs()
        });
        // 50e-6 * (200k + 0.05 * 12M) = 50e-6 * 800k = 40.
        assert!(close(d.raw.unwrap(), 40.0), "{d:?}");
        assert_eq!(d.shards, 40);
    }

    #[test]
    fn clamped_to_min_and_max() {
        let high = DesiredInputs {
            in_rate: 2_000_000.0,
            out_rate: 80_000.0,
            out_duration_rate: 4.0,
            current: 4,
            max_shards: 20,
            ..inputs()
        };
        let d = desired_shards(&high);
        assert!(close(d.raw.unwrap(), 100.0), "{d:?}");
        assert_eq!(d.shards, 20);
        let low = DesiredInputs {
            in_rate: 1_000.0,
            out_rate: 80_000.0,
            out_duration_rate: 4.0,
            current: 10,
            min_shards: 3,
            ..inputs()
        };
        let d = desired_shards(&low);
        assert!(close(d.raw.unwrap(), 0.05), "{d:?}");
        assert_eq!(d.shards, 3);
    }

    #[test]
    fn no_output_keeps_current_without_raw() {
        for out_rate in [0.0, -1.0, f64::NAN] {
            let d = desired_shards(&DesiredInputs {
                in_rate: 100_000.0,
                out_rate,
                out_duration_rate: 4.0,
                delay_seconds: 100.0,
                current: 7,
                ..inputs()
            });
            assert_eq!(
                d,
                Desired {
                    raw: None,
                    shards: 7
                },
                "out_rate {out_rate}"
            );
        }
    }

    #[test]
    fn nan_inputs_keep_current() {
        let base = DesiredInputs {
            in_rate: 100_000.0,
            out_rate: 80_000.0,
            out_duration_rate: 4.0,
            current: 7,
            ..inputs()
        };
        for d in [
            DesiredInputs {
                in_rate: f64::NAN,
                ..base
            },
            DesiredInputs {
                pending: f64::NAN,
                ..base
            },
            DesiredInputs {
                dropped_rate: f64::NAN,
                ..base
            },
            DesiredInputs {
                out_duration_rate: f64::NAN,
                ..base
            },
        ] {
            let desired = desired_shards(&d);
            assert_eq!(desired.shards, 7, "{d:?}");
            assert!(desired.raw.unwrap().is_nan(), "{d:?}");
        }
    }

    #[test]
    fn infinite_desired_is_clamped_to_max() {
        let d = desired_shards(&DesiredInputs {
            in_rate: 100_000.0,
            out_rate: 80_000.0,
            out_duration_rate: f64::INFINITY,
            current: 7,
            ..inputs()
        });
        assert_eq!(d.shards, 50);
    }

    #[test]
    fn gate_needs_a_difference_and_a_recent_send() {
        let gate = ReshardGate::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(!gate.should_reshard(t0, 5, 3), "no send yet");
        gate.note_send(t0);
        assert!(!gate.should_reshard(t0, 3, 3), "same count");
        assert!(gate.should_reshard(t0, 5, 3));
        assert!(gate.should_reshard(t0 + Duration::from_secs(10), 5, 3));
        assert!(!gate.should_reshard(t0 + Duration::from_secs(11), 5, 3));
        gate.note_send(t0 + Duration::from_secs(11));
        assert!(gate.should_reshard(t0 + Duration::from_secs(12), 5, 3));
    }

    #[test]
    fn gate_is_closed_for_twice_the_backoff_after_a_recoverable_error() {
        let gate = ReshardGate::default();
        let t0 = Instant::now();
        gate.note_send(t0);
        gate.note_recoverable_error(t0, Duration::from_secs(2));
        assert!(!gate.should_reshard(t0, 5, 3));
        gate.note_send(t0 + Duration::from_millis(3_999));
        assert!(!gate.should_reshard(t0 + Duration::from_millis(3_999), 5, 3));
        assert!(gate.should_reshard(t0 + Duration::from_secs(4), 5, 3));
        // A shorter backoff later does not shorten a longer window.
        gate.note_recoverable_error(t0 + Duration::from_secs(4), Duration::from_secs(5));
        gate.note_recoverable_error(t0 + Duration::from_secs(5), Duration::from_millis(100));
        gate.note_send(t0 + Duration::from_secs(13));
        assert!(!gate.should_reshard(t0 + Duration::from_secs(13), 5, 3));
        assert!(gate.should_reshard(t0 + Duration::from_secs(14), 5, 3));
    }
}
