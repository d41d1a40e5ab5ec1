//! Retry policy: which responses are retried, exponential backoff with a jitter that never
//! shortens the gap between attempts, and `Retry-After` parsing (seconds or HTTP-date).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

/// How a send attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the batch is acknowledged; with what the receiver says it wrote (Remote Write
    /// 2.0's `X-Prometheus-Remote-Write-*-Written` headers).
    Success(Written),
    /// Network error, timeout, 5xx, 408 or (when enabled) 429: send the batch again.
    Recoverable {
        /// What went wrong, for logs (never contains secrets).
        reason: String,
        /// The HTTP status, when the receiver answered.
        status: Option<u16>,
        /// Delay the receiver asked for with `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Any other status: the batch is dropped and counted as failed.
    Permanent {
        /// Status and the first 1 KiB of the response body (control characters escaped).
        reason: String,
        /// The HTTP status.
        status: u16,
    },
}

impl Outcome {
    /// A short account for the per-request log line: `HTTP 204`, `HTTP 400, not retried`,
    /// `HTTP 503, will retry` or the network error.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Success(_) => "accepted".to_string(),
            Outcome::Permanent { status, .. } => format!("HTTP {status}, not retried"),
            Outcome::Recoverable {
                status: Some(status),
                ..
            } => format!("HTTP {status}, will retry"),
            Outcome::Recoverable { reason, .. } => format!("{reason}, will retry"),
        }
    }
}

/// What a receiver reports it wrote of a request: the
/// `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written` headers, `None` when
/// absent (a value that is not an integer counts as 0, as Prometheus reads it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// `X-Prometheus-Remote-Write-Samples-Written`.
    pub samples: Option<u64>,
    /// `X-Prometheus-Remote-Write-Histograms-Written`.
    pub histograms: Option<u64>,
    /// `X-Prometheus-Remote-Write-Exemplars-Written`.
    pub exemplars: Option<u64>,
}

impl Written {
    /// Reads the three headers through `header` (a lookup by lower-case name).
    pub fn from_headers<'h>(header: impl Fn(&str) -> Option<&'h str>) -> Written {
        let read = |name: &str| header(name).map(|v| v.trim().parse::<u64>().unwrap_or(0));
        Written {
            samples: read("x-prometheus-remote-write-samples-written"),
            histograms: read("x-prometheus-remote-write-histograms-written"),
            exemplars: read("x-prometheus-remote-write-exemplars-written"),
        }
    }

    /// True when none of the headers came back.
    pub fn is_absent(&self) -> bool {
        self.samples.is_none() && self.histograms.is_none() && self.exemplars.is_none()
    }
}

/// Classifies an HTTP status: `None` for success, `Some(true)` for retryable, `Some(false)` for
/// permanent failure.
pub fn classify_status(status: u16, retry_on_http_429: bool) -> Option<bool> {
    match status {
        200..=299 => None,
        500..=599 | 408 => Some(true),
        429 => Some(retry_on_http_429),
        _ => Some(false),
    }
}

/// Parses a `Retry-After` value: a number of seconds, or an HTTP-date (time until that date,
/// whole seconds). Unparseable, zero or past values give `None` (normal backoff applies).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return (seconds > 0).then(|| Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let until = date.duration_since(now).ok()?;
    let whole = Duration::from_secs(until.as_secs());
    (!whole.is_zero()).then_some(whole)
}

/// The shortest cap on a receiver's `Retry-After`: 5 minutes.
pub const MIN_RETRY_AFTER_CAP: Duration = Duration::from_secs(300);

/// The longest a receiver's `Retry-After` may make a shard wait: the larger of 10 ×
/// `max_backoff` and 5 minutes. A longer (or absurd, e.g. 2^64 s) value is cut to it, so a
/// hostile or broken receiver cannot stall a shard for ever or overflow a clock.
pub fn retry_after_cap(max_backoff: Duration) -> Duration {
    max_backoff.saturating_mul(10).max(MIN_RETRY_AFTER_CAP)
}

/// Exponential backoff from `min` to `max` with an up-to-10% jitter. Delays never decrease:
/// each is at least the previous one, whatever the jitter or `Retry-After` say.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    retry_after_cap: Duration,
    previous: Duration,
    random: RandomState,
    draws: u64,
}

impl Backoff {
    /// A fresh backoff starting at `min`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            next: min,
            max,
            retry_after_cap: retry_after_cap(max),
            previous: Duration::ZERO,
            random: RandomState::new(),
            draws: 0,
        }
    }

    /// The delay before the next attempt. `retry_after` (from the receiver) replaces the
    /// computed base delay and is not capped by `max`, only by [`retry_after_cap`]; a delay
    /// never exceeds that cap plus its jitter.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let base = retry_after
            .map_or(self.next, |asked| asked.min(self.retry_after_cap))
            .min(self.retry_after_cap);
        let jitter = base.mul_f64(self.unit_random() * 0.1);
        let delay = base.saturating_add(jitter).max(self.previous);
        self.previous = delay;
        self.next = base.saturating_mul(2).min(self.max);
        delay
    }

    /// A uniformly distributed number in [0, 1), from std's randomly keyed hasher.
    fn unit_random(&mut self) -> f64 {
        self.draws += 1;
        let mut hasher = self.random.build_hasher();
        hasher.write_u64(self.draws);
        (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify_status(204, true), None);
        assert_eq!(classify_status(503, false), Some(true));
        assert_eq!(classify_status(408, false), Some(true));
        assert_eq!(classify_status(429, true), Some(true));
        assert_eq!(classify_status(429, false), Some(false));
        assert_eq!(classify_status(400, true), Some(false));
        assert_eq!(classify_status(302, true), Some(false));
    }

    #[test]
    fn retry_after_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), None);
    }

    #[test]
    fn delays_grow_to_max_and_never_shrink() {
        let min = Duration::from_millis(30);
        let max = Duration::from_millis(500);
        let mut b = Backoff::new(min, max);
        let mut last = Duration::ZERO;
        let mut delays = Vec::new();
        for i in 0..40 {
            let retry_after = (i == 20).then(|| Duration::from_millis(10));
            let d = b.next_delay(retry_after);
            assert!(d >= last, "delay {i} shrank: {d:?} < {last:?}");
            assert!(d <= max.mul_f64(1.1) + Duration::from_millis(1), "{d:?}");
            last = d;
            delays.push(d);
        }
        assert!(delays[0] >= min && delays[0] <= min.mul_f64(1.1));
        assert!(delays[39] >= max);
    }

    #[test]
    fn hostile_retry_after_values_never_panic_and_are_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let values = [
            "18446744073709551615",
            "9300000000000000000",
            "99999999999999999999999",
            "-1",
            "-18446744073709551615",
            "1e9",
            "0x10",
            " 7 ",
            "",
            "\u{0}",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Mon, 99 Foo 2024 99:99:99 GMT",
            "Wed, 21 Oct 2015 07:28:00 GMT garbage",
        ];
        let cap = retry_after_cap(Duration::from_secs(5));
        assert_eq!(cap, MIN_RETRY_AFTER_CAP);
        for value in values {
            let parsed = parse_retry_after(value, now);
            let mut b = Backoff::new(Duration::from_millis(30), Duration::from_secs(5));
            let delay = b.next_delay(parsed);
            assert!(
                delay <= cap.mul_f64(1.1) + Duration::from_millis(1),
                "{value:?}: {delay:?}"
            );
            // The shard adds the delay to now: that must not overflow.
            assert!(std::time::Instant::now().checked_add(delay).is_some());
        }
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("-1", now), None);
        let far = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).unwrap();
        let mut b = Backoff::new(Duration::from_millis(30), Duration::from_secs(5));
        assert!(
            b.next_delay(Some(far)) >= cap,
            "a far date waits the whole cap"
        );
        let mut long = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert!(
            long.next_delay(Some(Duration::from_secs(3600))) >= Duration::from_secs(600),
            "10 x max_backoff when that is more than 5 minutes"
        );
    }

    #[test]
    fn retry_after_is_honoured_beyond_max() {
        let mut b = Backoff::new(Duration::from_millis(30), Duration::from_secs(1));
        assert!(b.next_delay(Some(Duration::from_secs(2))) >= Duration::from_secs(2));
    }
}
