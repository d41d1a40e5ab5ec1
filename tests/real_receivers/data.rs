//! Test data and what each receiver shows of it: the round-trip data set (special floats,
//! awkward label values), how a pushed value reads back from each receiver, pushing through
//! the Rust API, and an exact comparison with a readable report.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use promrw::{STALE_NAN_BITS, Sender};

use super::query::{LabelMap, Series, Shown, read_back};
use super::{Kind, RealReceiver};

/// Prometheus's "normal" NaN (`value.NormalNaN`), a different payload from Rust's `f64::NAN`.
pub const PROMETHEUS_NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// A label value with Unicode, quotes, a backslash, a newline and a tab.
pub const AWKWARD_VALUE: &str = "ünïcödé ✓ 日本語 \"quoted\" back\\slash\nnew line\ttab";

/// One series to push: its labels and `(timestamp_ms, value)` in push order. A value whose
/// bits are `STALE_NAN_BITS` is pushed with `append_stale`.
#[derive(Debug, Clone)]
pub struct SeriesSpec {
    /// Labels, `__name__` included.
    pub labels: Vec<(String, String)>,
    /// Samples in timestamp order.
    pub samples: Vec<(i64, f64)>,
}

impl SeriesSpec {
    /// A series with `labels` and no samples yet.
    pub fn new(labels: &[(&str, &str)]) -> SeriesSpec {
        SeriesSpec {
            labels: labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            samples: Vec::new(),
        }
    }

    /// The labels as a receiver returns them.
    pub fn label_map(&self) -> LabelMap {
        self.labels.iter().cloned().collect()
    }

    /// The labels as `(&str, &str)` pairs.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}

/// The stale marker as an `f64`.
pub fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// The value kinds of the round-trip data set, one per series (series `i` has kind `i % 8`).
pub const KINDS: [&str; 8] = [
    "plain", "negative", "zeros", "huge", "tiny", "infinite", "nan", "fraction",
];

/// Sample `j` of a series of kind `kind` number `i`.
fn value(kind: &str, i: usize, j: usize) -> f64 {
    let n = (i * 1000 + j) as f64;
    match kind {
        "plain" => n + 0.25,
        "negative" => -n - 0.5,
        "zeros" => [0.0, -0.0][j % 2],
        "huge" => [1e308, -1e308][j % 2],
        "tiny" => [5e-324, -5e-324][j % 2],
        "infinite" => [f64::INFINITY, f64::NEG_INFINITY, j as f64][j % 3],
        "nan" => [
            f64::NAN,
            f64::from_bits(PROMETHEUS_NORMAL_NAN_BITS),
            j as f64,
        ][j % 3],
        "fraction" => j as f64 / 8.0 - 10.0,
        _ => unreachable!("kind {kind}"),
    }
}

/// The round-trip data set: `series` series named `metric` with `per_series` samples each,
/// 1 s apart, the last at `end_ms`. Labels: `series` (zero-padded index), `kind` (the value
/// kind); every 50th series (from 3) has `text` = [`AWKWARD_VALUE`]; every 250th (from 11)
/// has a 4 KiB `long` value. Values: 0 and -0, ±1e308, ±5e-324, ±Inf, NaN (two payloads),
/// negatives and fractions.
pub fn round_trip_dataset(
    metric: &str,
    series: usize,
    per_series: usize,
    end_ms: i64,
) -> Vec<SeriesSpec> {
    let long: String = "ü".repeat(16) + &"long-label-value-".repeat(256)[..4096 - 32];
    assert_eq!(long.len(), 4096);
    let start = end_ms - (per_series as i64 - 1) * 1000;
    (0..series)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let index = format!("{i:04}");
            let mut labels = vec![
                ("__name__", metric),
                ("series", index.as_str()),
                ("kind", kind),
            ];
            if i % 50 == 3 {
                labels.push(("text", AWKWARD_VALUE));
            }
            if i % 250 == 11 {
                labels.push(("long", long.as_str()));
            }
            let mut spec = SeriesSpec::new(&labels);
            spec.samples = (0..per_series)
                .map(|j| (start + j as i64 * 1000, value(kind, i, j)))
                .collect();
            spec
        })
        .collect()
}

/// How `kind` shows a pushed value when read back (see `docs/COMPATIBILITY.md`), or `None`
/// when the sample is not shown at all.
///
/// - Prometheus (range selector of `/api/v1/query`): every value exactly (`-0`, `5e-324`,
///   `1e+308`, `+Inf`), NaN of any payload as `NaN`; stale markers are not returned.
/// - VictoriaMetrics (`/api/v1/export`): NaN is not stored; a stale marker shows as `null`;
///   -0 shows as 0; ±5e-324 show as 0; the other values of these tests exactly.
pub fn shown(kind: Kind, v: f64) -> Option<Shown> {
    let is_stale = v.to_bits() == STALE_NAN_BITS;
    match kind {
        Kind::Prometheus if is_stale => None,
        Kind::Prometheus if v.is_nan() => Some(Shown::NaN),
        Kind::Prometheus => Some(Shown::Num(v)),
        Kind::VictoriaMetrics if is_stale => Some(Shown::Null),
        Kind::VictoriaMetrics if v.is_nan() => None,
        Kind::VictoriaMetrics if v == 0.0 || v.abs() == 5e-324 => Some(Shown::Num(0.0)),
        Kind::VictoriaMetrics => Some(Shown::Num(v)),
    }
}

/// What `kind` should return for `specs`: each series' shown samples in timestamp order.
/// Series with no shown sample are left out, as receivers return none for them.
pub fn expected(kind: Kind, specs: &[SeriesSpec]) -> BTreeMap<LabelMap, Vec<(i64, Shown)>> {
    let mut out: BTreeMap<LabelMap, Vec<(i64, Shown)>> = BTreeMap::new();
    for spec in specs {
        let samples: Vec<(i64, Shown)> = spec
            .samples
            .iter()
            .filter_map(|(t, v)| shown(kind, *v).map(|s| (*t, s)))
            .collect();
        if !samples.is_empty() {
            out.entry(spec.label_map()).or_default().extend(samples);
        }
    }
    out
}

/// A short form of a label set for messages (long values cut).
fn short(labels: &LabelMap) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(n, v)| {
            let v: String = if v.chars().count() > 40 {
                v.chars().take(40).collect::<String>() + "..."
            } else {
                v.clone()
            };
            format!("{n}={v:?}")
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Compares `actual` with `expected`: exactly the expected series, each with exactly the
/// expected samples in order, no series or sample more or less. On a difference, the error
/// lists the first ones.
pub fn check_exact(
    expected: &BTreeMap<LabelMap, Vec<(i64, Shown)>>,
    actual: &[Series],
) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for series in actual {
        if !seen.insert(series.labels.clone()) {
            problems.push(format!("series returned twice: {}", short(&series.labels)));
            continue;
        }
        let Some(want) = expected.get(&series.labels) else {
            problems.push(format!(
                "unexpected series {} with {} samples",
                short(&series.labels),
                series.samples.len()
            ));
            continue;
        };
        if &series.samples != want {
            let first = want
                .iter()
                .zip(&series.samples)
                .position(|(a, b)| a != b)
                .unwrap_or(want.len().min(series.samples.len()));
            problems.push(format!(
                "{}: {} samples, expected {}; first difference at #{first}: got {:?}, expected {:?}",
                short(&series.labels),
                series.samples.len(),
                want.len(),
                series.samples.get(first),
                want.get(first)
            ));
        }
    }
    for labels in expected.keys() {
        if !seen.contains(labels) {
            problems.push(format!("missing series {}", short(labels)));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let samples: usize = expected.values().map(Vec::len).sum();
    Err(format!(
        "{} problem(s) over {} expected series / {samples} samples; first ones:\n  {}",
        problems.len(),
        expected.len(),
        problems
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
}

/// Asserts [`check_exact`].
pub fn assert_exact(
    what: &str,
    expected: &BTreeMap<LabelMap, Vec<(i64, Shown)>>,
    actual: &[Series],
) {
    if let Err(problems) = check_exact(expected, actual) {
        panic!("{what}: {problems}");
    }
}

/// How long stored samples may take to become visible to reads. Prometheus shows them at
/// once; VictoriaMetrics registers new series in its index asynchronously, so right after a
/// write (even after `/internal/force_flush`) some or all new series may be missing for a
/// moment.
const VISIBLE_WITHIN: Duration = Duration::from_secs(30);

/// Asserts that `receiver` stores exactly `expected` for `selector` in `[start_ms, end_ms]`
/// (see [`read_back`] and [`check_exact`]). Reads again every 200 ms until the data matches or
/// 30 s have passed, then fails with the last difference. Reading again only waits for data
/// to become visible: a sample too many never goes away, so it still fails the test.
pub fn assert_stored(
    what: &str,
    receiver: &RealReceiver,
    selector: &str,
    (start_ms, end_ms): (i64, i64),
    expected: &BTreeMap<LabelMap, Vec<(i64, Shown)>>,
) {
    let began = Instant::now();
    let mut reads = 0;
    loop {
        let actual = read_back(receiver, selector, start_ms, end_ms);
        reads += 1;
        match check_exact(expected, &actual) {
            Ok(()) => {
                if reads > 1 {
                    eprintln!(
                        "{what}: complete after {reads} reads ({:?})",
                        began.elapsed()
                    );
                }
                return;
            }
            Err(problems) if began.elapsed() >= VISIBLE_WITHIN => {
                panic!("{what} (after {reads} reads over {VISIBLE_WITHIN:?}): {problems}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Registers every series and appends all samples through the Rust API, interleaved across
/// series (sample 0 of every series, then sample 1, ...), as a scraper would. Returns the
/// number of samples appended.
pub fn push(sender: &Sender, specs: &[SeriesSpec]) -> u64 {
    let refs: Vec<_> = specs
        .iter()
        .map(|s| sender.series_from_pairs(&s.pairs()).expect("series"))
        .collect();
    let longest = specs.iter().map(|s| s.samples.len()).max().unwrap_or(0);
    let mut appended = 0;
    for j in 0..longest {
        for (spec, r) in specs.iter().zip(&refs) {
            if let Some((t, v)) = spec.samples.get(j) {
                if v.to_bits() == STALE_NAN_BITS {
                    sender.append_stale(*r, *t).expect("append_stale");
                } else {
                    sender.append(*r, *t, *v).expect("append");
                }
                appended += 1;
            }
        }
    }
    appended
}
