//! Validation and decoding of one Remote Write 1.0 request: headers, snappy block format,
//! protobuf, label rules and in-request timestamp order.

use prost::Message;

use promrw::model::{is_valid_label_name, is_valid_metric_name};
use promrw::wire::{proto, snappy_decompress};

/// One series of a decoded request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSeries {
    /// Labels as sent (already checked to be sorted and valid).
    pub labels: Vec<(String, String)>,
    /// `(timestamp_ms, value bits)` in the order sent.
    pub samples: Vec<(i64, u64)>,
}

/// A decoded, valid request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedRequest {
    /// The series.
    pub series: Vec<ReceivedSeries>,
    /// Total samples.
    pub samples: usize,
    /// Compressed body size.
    pub compressed_bytes: usize,
    /// Decompressed body size.
    pub raw_bytes: usize,
}

/// Why a request was refused, with the HTTP status a receiver answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// 400 for bad data, 415 for a wrong content type or encoding.
    pub status: u16,
    /// What is wrong.
    pub message: String,
}

impl RequestError {
    /// A 400 with `message`.
    fn bad(message: impl Into<String>) -> Self {
        RequestError {
            status: 400,
            message: message.into(),
        }
    }
}

/// Checks the headers (looked up case-insensitively through `header`) and decodes `body`.
pub fn decode_request(
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<DecodedRequest, RequestError> {
    let unsupported = |message: String| RequestError {
        status: 415,
        message,
    };
    match header("content-encoding").as_deref() {
        Some(v) if v.eq_ignore_ascii_case("snappy") => {}
        other => {
            return Err(unsupported(format!(
                "Content-Encoding must be snappy, got {other:?}"
            )));
        }
    }
    match header("content-type").as_deref() {
        Some("application/x-protobuf")
        | Some("application/x-protobuf;proto=prometheus.WriteRequest") => {}
        other => {
            return Err(unsupported(format!(
                "Content-Type must be application/x-protobuf, got {other:?}"
            )));
        }
    }
    match header("x-prometheus-remote-write-version").as_deref() {
        Some(v) if v.starts_with("0.1.") => {}
        other => {
            return Err(RequestError::bad(format!(
                "X-Prometheus-Remote-Write-Version must be 0.1.0, got {other:?}"
            )));
        }
    }
    if header("user-agent").is_none_or(|v| v.is_empty()) {
        return Err(RequestError::bad("User-Agent header is missing"));
    }
    let raw = snappy_decompress(body)
        .map_err(|e| RequestError::bad(format!("body is not snappy block format: {e}")))?;
    let request = proto::WriteRequest::decode(raw.as_slice())
        .map_err(|e| RequestError::bad(format!("body is not a prometheus.WriteRequest: {e}")))?;
    let mut decoded = DecodedRequest {
        series: Vec::with_capacity(request.timeseries.len()),
        samples: 0,
        compressed_bytes: body.len(),
        raw_bytes: raw.len(),
    };
    for (index, series) in request.timeseries.into_iter().enumerate() {
        check_labels(&series.labels)
            .map_err(|m| RequestError::bad(format!("timeseries[{index}]: {m}")))?;
        let samples: Vec<(i64, u64)> = series
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value.to_bits()))
            .collect();
        if let Some(w) = samples.windows(2).find(|w| w[1].0 <= w[0].0) {
            return Err(RequestError::bad(format!(
                "timeseries[{index}]: samples out of order ({} then {})",
                w[0].0, w[1].0
            )));
        }
        decoded.samples += samples.len();
        decoded.series.push(ReceivedSeries {
            labels: series
                .labels
                .into_iter()
                .map(|l| (l.name, l.value))
                .collect(),
            samples,
        });
    }
    Ok(decoded)
}

/// Checks the RW 1.0 label rules on one series.
fn check_labels(labels: &[proto::Label]) -> Result<(), String> {
    if labels.is_empty() {
        return Err("series has no labels".to_string());
    }
    for label in labels {
        if label.name.is_empty() {
            return Err("empty label name".to_string());
        }
        if label.value.is_empty() {
            return Err(format!("label {:?} has an empty value", label.name));
        }
        if !is_valid_label_name(&label.name) {
            return Err(format!("invalid label name {:?}", label.name));
        }
        if label.name == "__name__" && !is_valid_metric_name(&label.value) {
            return Err(format!("invalid metric name {:?}", label.value));
        }
    }
    if let Some(w) = labels
        .windows(2)
        .find(|w| w[0].name.as_bytes() >= w[1].name.as_bytes())
    {
        return Err(format!(
            "labels not sorted or duplicated: {:?} then {:?}",
            w[0].name, w[1].name
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &str) -> Option<String> {
        match name {
            "content-encoding" => Some("snappy".into()),
            "content-type" => Some("application/x-protobuf".into()),
            "x-prometheus-remote-write-version" => Some("0.1.0".into()),
            "user-agent" => Some("t/1".into()),
            _ => None,
        }
    }

    fn body(labels: &[(&str, &str)]) -> Vec<u8> {
        let req = proto::WriteRequest {
            timeseries: vec![proto::TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| proto::Label {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                samples: vec![proto::Sample {
                    value: 1.0,
                    timestamp: 1,
                }],
                exemplars: vec![],
                histograms: vec![],
            }],
            metadata: vec![],
        };
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap()
    }

    #[test]
    fn accepts_valid_and_rejects_unsorted() {
        let ok = decode_request(headers, &body(&[("__name__", "a"), ("b", "c")])).unwrap();
        assert_eq!(ok.samples, 1);
        let err = decode_request(headers, &body(&[("b", "c"), ("__name__", "a")])).unwrap_err();
        assert!(err.message.contains("not sorted"), "{err:?}");
        let err = decode_request(|_| None, &body(&[("__name__", "a")])).unwrap_err();
        assert_eq!(err.status, 415);
        let err = decode_request(headers, b"not snappy").unwrap_err();
        assert!(err.message.contains("snappy"), "{err:?}");
    }
}
