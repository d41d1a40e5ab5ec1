//! Reading samples back from the real receivers: Prometheus through `/api/v1/query` with a
//! range selector (raw samples, stale markers hidden), VictoriaMetrics through
//! `/api/v1/export` (raw samples, stale markers shown as `null`), and instant queries on both.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::time::Duration;

use super::{Kind, RealReceiver};

/// A label set as returned by a receiver.
pub type LabelMap = BTreeMap<String, String>;

/// A sample value as a receiver shows it.
#[derive(Clone, Copy)]
pub enum Shown {
    /// A number (compared bit for bit, so `0` and `-0` differ).
    Num(f64),
    /// `NaN` (the payload is not visible through the HTTP APIs).
    NaN,
    /// `null`: how VictoriaMetrics' export shows a stale marker.
    Null,
}

impl PartialEq for Shown {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Shown::Num(a), Shown::Num(b)) => a.to_bits() == b.to_bits(),
            (Shown::NaN, Shown::NaN) | (Shown::Null, Shown::Null) => true,
            _ => false,
        }
    }
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Num(v) => write!(f, "{v:e} ({:#018x})", v.to_bits()),
            Shown::NaN => f.write_str("NaN"),
            Shown::Null => f.write_str("null"),
        }
    }
}

/// One series read back: labels and `(timestamp_ms, value)` in the receiver's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// All labels, `__name__` included.
    pub labels: LabelMap,
    /// Samples in the order returned.
    pub samples: Vec<(i64, Shown)>,
}

/// A ureq agent that returns every status as a response, with `timeout` per request.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// GET `url` with query parameters; returns the status and the whole body (no size limit).
/// Panics on a transport error.
pub fn get(url: &str, params: &[(&str, &str)]) -> (u16, String) {
    let mut request = agent(Duration::from_secs(120)).get(url);
    for (k, v) in params {
        request = request.query(*k, *v);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let mut body = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut body)
        .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
    (status, body)
}

/// Seconds with millisecond precision, as both query APIs take them.
pub fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Parses a value string of the Prometheus query API (`"NaN"`, `"+Inf"`, `"-Inf"`, `"-0"`,
/// Go's shortest round-trip float text).
pub fn parse_prometheus_value(text: &str) -> Shown {
    match text {
        "NaN" => Shown::NaN,
        "+Inf" => Shown::Num(f64::INFINITY),
        "-Inf" => Shown::Num(f64::NEG_INFINITY),
        _ => Shown::Num(
            text.parse()
                .unwrap_or_else(|e| panic!("value {text:?}: {e}")),
        ),
    }
}

/// Milliseconds from a query API timestamp (float seconds).
fn millis(value: &serde_json::Value) -> i64 {
    let secs = value
        .as_f64()
        .unwrap_or_else(|| panic!("timestamp {value}"));
    (secs * 1000.0).round() as i64
}

/// The labels of a `metric` object.
fn labels(metric: &serde_json::Value) -> LabelMap {
    metric
        .as_object()
        .unwrap_or_else(|| panic!("metric {metric}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("label value").to_string()))
        .collect()
}

/// Runs an instant query at `at_ms`; returns the `data.result` array after checking success.
fn instant_result(receiver: &RealReceiver, query: &str, at_ms: i64) -> Vec<serde_json::Value> {
    let url = format!("{}/api/v1/query", receiver.base_url());
    let time = seconds(at_ms);
    let (status, body) = get(&url, &[("query", query), ("time", &time)]);
    assert_eq!(
        status,
        200,
        "{} query {query}: {body}",
        receiver.kind().name()
    );
    let json: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("query answer {e}: {body}"));
    assert_eq!(json["status"], "success", "{body}");
    json["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result array: {body}"))
        .clone()
}

/// An instant query (a vector result): each series' labels and value at `at_ms`.
pub fn instant(receiver: &RealReceiver, query: &str, at_ms: i64) -> Vec<(LabelMap, Shown)> {
    receiver.make_queryable();
    instant_result(receiver, query, at_ms)
        .iter()
        .map(|r| {
            let value = r["value"][1].as_str().expect("value string");
            (labels(&r["metric"]), parse_prometheus_value(value))
        })
        .collect()
}

/// Prometheus: every raw sample of the series matching `selector` in `(at_ms - range, at_ms]`,
/// read with an instant query of the range selector `selector[range]` (a range selector
/// returns raw samples; stale markers are left out).
pub fn prometheus_raw(
    receiver: &RealReceiver,
    selector: &str,
    range: &str,
    at_ms: i64,
) -> Vec<Series> {
    let query = format!("{selector}[{range}]");
    instant_result(receiver, &query, at_ms)
        .iter()
        .map(|r| Series {
            labels: labels(&r["metric"]),
            samples: r["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|p| {
                    (
                        millis(&p[0]),
                        parse_prometheus_value(p[1].as_str().expect("value string")),
                    )
                })
                .collect(),
        })
        .collect()
}

/// Parses one number of a VictoriaMetrics export line: `null` (stale marker), `+Inf`, `-Inf`,
/// `NaN`, or decimal text (which may have hundreds of digits, as for 1e308).
pub fn parse_victoriametrics_value(text: &str) -> Shown {
    match text {
        "null" => Shown::Null,
        "NaN" => Shown::NaN,
        "+Inf" | "Inf" => Shown::Num(f64::INFINITY),
        "-Inf" => Shown::Num(f64::NEG_INFINITY),
        _ => Shown::Num(
            text.parse()
                .unwrap_or_else(|e| panic!("value {text:?}: {e}")),
        ),
    }
}

/// Parses one line of `/api/v1/export` (`{"metric":{..},"values":[..],"timestamps":[..]}`).
/// The values are not always valid JSON (`+Inf`), so they are split by hand; the marker
/// `,"values":[` cannot occur inside the metric's strings, where quotes are escaped.
pub fn parse_export_line(line: &str) -> Series {
    let values_at = line
        .rfind(",\"values\":[")
        .unwrap_or_else(|| panic!("export line without values: {line}"));
    let head: serde_json::Value = serde_json::from_str(&format!("{}}}", &line[..values_at]))
        .unwrap_or_else(|e| panic!("export metric {e}: {line}"));
    let rest = &line[values_at + ",\"values\":[".len()..];
    let values_end = rest
        .find("],\"timestamps\":[")
        .unwrap_or_else(|| panic!("export line without timestamps: {line}"));
    let values: Vec<Shown> = if values_end == 0 {
        Vec::new()
    } else {
        rest[..values_end]
            .split(',')
            .map(parse_victoriametrics_value)
            .collect()
    };
    let ts_text = &rest[values_end + "],\"timestamps\":[".len()..];
    let ts_end = ts_text.find(']').expect("end of timestamps");
    let timestamps: Vec<i64> = serde_json::from_str(&format!("[{}]", &ts_text[..ts_end]))
        .unwrap_or_else(|e| panic!("export timestamps {e}: {line}"));
    assert_eq!(values.len(), timestamps.len(), "{line}");
    Series {
        labels: labels(&head["metric"]),
        samples: timestamps.into_iter().zip(values).collect(),
    }
}

/// VictoriaMetrics: every raw sample of the series matching `selector` with a timestamp in
/// `[start_ms, end_ms]`, through `/api/v1/export` after `/internal/force_flush`.
pub fn victoriametrics_export(
    receiver: &RealReceiver,
    selector: &str,
    start_ms: i64,
    end_ms: i64,
) -> Vec<Series> {
    receiver.make_queryable();
    let url = format!("{}/api/v1/export", receiver.base_url());
    let (start, end) = (seconds(start_ms), seconds(end_ms));
    let (status, body) = get(
        &url,
        &[("match[]", selector), ("start", &start), ("end", &end)],
    );
    assert_eq!(status, 200, "export {selector}: {body}");
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_export_line)
        .collect()
}

/// Every raw sample stored for `selector` with a timestamp in `[start_ms, end_ms]`, read the
/// receiver's way (see [`prometheus_raw`] and [`victoriametrics_export`]). The window must be
/// shorter than 1 h.
pub fn read_back(
    receiver: &RealReceiver,
    selector: &str,
    start_ms: i64,
    end_ms: i64,
) -> Vec<Series> {
    match receiver.kind() {
        Kind::Prometheus => {
            let range_ms = end_ms - start_ms + 1;
            assert!(range_ms <= 3_600_000, "window too long: {range_ms} ms");
            prometheus_raw(receiver, selector, &format!("{range_ms}ms"), end_ms)
        }
        Kind::VictoriaMetrics => victoriametrics_export(receiver, selector, start_ms, end_ms),
    }
}
