//! Validation and decoding of one Remote Write request, 1.0 or 2.0 (chosen by the
//! Content-Type's `proto` parameter): headers, snappy block format, protobuf, label rules and
//! in-request timestamp order; 1.0's extensions too (histograms, validated as 2.0's are,
//! exemplars and `WriteRequest.metadata`). The 2.0 checks are in [`super::decode_v2`].

use prost::Message;

use promrw::model::{MetricType, is_valid_label_name, is_valid_metric_name};
use promrw::wire::{proto, proto_v2, snappy_decompress};

/// The protocol a request was decoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WireProtocol {
    /// Remote Write 1.0 (`prometheus.WriteRequest`).
    #[default]
    V1,
    /// Remote Write 2.0 (`io.prometheus.write.v2.Request`).
    V2,
    /// A 2.0 request decoded as a 1.0 `WriteRequest` by a receiver in
    /// [`ProtocolMode::V1Ignore`] (it decodes as empty: 2.0 reserves fields 1 ..= 3).
    V2IgnoredAsV1,
}

/// Which protocols a receiver speaks: both, or 1.0 only in one of two ways, so that a
/// sender's fallback to 1.0 can be seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolMode {
    /// 1.0 and 2.0 (the default).
    #[default]
    Both,
    /// 1.0 only, answering 415 to every 2.0 request (as the spec asks of a 1.0 receiver).
    V1Refuse415,
    /// 1.0 only, broken: a 2.0 body is decoded as a 1.0 `WriteRequest` (empty), nothing is
    /// stored and the answer is a 2xx without the Written headers.
    V1Ignore,
}

impl ProtocolMode {
    /// The name used by `promrw sink --protocol`.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolMode::Both => "both",
            ProtocolMode::V1Refuse415 => "1.0-415",
            ProtocolMode::V1Ignore => "1.0-ignore",
        }
    }
}

impl std::str::FromStr for ProtocolMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "both" => Ok(ProtocolMode::Both),
            "1.0-415" => Ok(ProtocolMode::V1Refuse415),
            "1.0-ignore" => Ok(ProtocolMode::V1Ignore),
            other => Err(format!(
                "unknown protocol mode {other:?}: use both, 1.0-415 or 1.0-ignore"
            )),
        }
    }
}

/// One exemplar of a series (1.0 or 2.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedExemplar {
    /// Labels in the order sent (resolved from the symbol table for 2.0).
    pub labels: Vec<(String, String)>,
    /// The value's bits.
    pub value_bits: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
}

/// The metadata of a 2.0 series, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivedMetadata {
    /// `MetricType` (0 unspecified ..= 7 stateset).
    pub metric_type: i32,
    /// The help text (`""` for none).
    pub help: String,
    /// The unit (`""` for none).
    pub unit: String,
}

/// One 1.0 `MetricMetadata` entry (metadata of a metric family, sent in
/// `WriteRequest.metadata`, often in a request without series).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivedFamilyMetadata {
    /// The metric family name (`metric_family_name`; checked non-empty).
    pub family: String,
    /// `MetricType` (0 unknown ..= 7 stateset; checked).
    pub metric_type: i32,
    /// The help text (`""` for none).
    pub help: String,
    /// The unit (`""` for none).
    pub unit: String,
}

/// One series of a decoded request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReceivedSeries {
    /// Labels as sent (already checked to be sorted and valid), resolved from the symbol
    /// table for 2.0.
    pub labels: Vec<(String, String)>,
    /// `(timestamp_ms, value bits)` in the order sent.
    pub samples: Vec<(i64, u64)>,
    /// `(timestamp_ms, histogram as sent)` in the order sent (already checked with
    /// `promrw::Histogram::validate` and to be in timestamp order). A 1.0 series may carry
    /// samples and histograms; a 2.0 series carries one kind.
    pub histograms: Vec<(i64, proto_v2::Histogram)>,
    /// Exemplars in the order sent.
    pub exemplars: Vec<ReceivedExemplar>,
    /// 2.0 only: the series' metadata, when sent.
    pub metadata: Option<ReceivedMetadata>,
}

/// A decoded, valid request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedRequest {
    /// The series.
    pub series: Vec<ReceivedSeries>,
    /// Total samples.
    pub samples: usize,
    /// Total histograms.
    pub histograms: usize,
    /// Total exemplars.
    pub exemplars: usize,
    /// Series with metadata (2.0).
    pub metadata: usize,
    /// The 1.0 `WriteRequest.metadata` entries (per metric family), in the order sent; empty
    /// for 2.0, whose metadata is per series.
    pub family_metadata: Vec<ReceivedFamilyMetadata>,
    /// The protocol it was decoded as.
    pub protocol: WireProtocol,
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
    pub(crate) fn bad(message: impl Into<String>) -> Self {
        RequestError {
            status: 400,
            message: message.into(),
        }
    }
}

/// The message type a Content-Type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// `application/x-protobuf` without `proto`, or `proto=prometheus.WriteRequest`.
    V1,
    /// `application/x-protobuf;proto=io.prometheus.write.v2.Request`.
    V2,
}

/// Parses a Content-Type as the spec allows: media type `application/x-protobuf` (case
/// insensitive), optional whitespace around `;` and `=`, a `proto` parameter (name case
/// insensitive, value optionally quoted); other parameters are ignored. `None` for anything
/// else (answered 415).
pub fn content_kind(content_type: &str) -> Option<ContentKind> {
    let mut parts = content_type.split(';');
    let media = parts.next()?.trim();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return None;
    }
    let mut kind = ContentKind::V1;
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        kind = match value {
            "prometheus.WriteRequest" => ContentKind::V1,
            "io.prometheus.write.v2.Request" => ContentKind::V2,
            _ => return None,
        };
    }
    Some(kind)
}

/// Checks the headers (looked up case-insensitively through `header`) and decodes `body`,
/// speaking 1.0 and 2.0 ([`ProtocolMode::Both`]).
pub fn decode_request(
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<DecodedRequest, RequestError> {
    decode_request_with(header, body, ProtocolMode::Both)
}

/// [`decode_request`] for a receiver speaking the protocols of `mode`.
pub fn decode_request_with(
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    mode: ProtocolMode,
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
    let content_type = header("content-type");
    let kind = match content_type.as_deref().and_then(content_kind) {
        Some(kind) => kind,
        None => {
            return Err(unsupported(format!(
                "Content-Type must be application/x-protobuf (proto=prometheus.WriteRequest or proto=io.prometheus.write.v2.Request), got {content_type:?}"
            )));
        }
    };
    if kind == ContentKind::V2 && mode == ProtocolMode::V1Refuse415 {
        return Err(unsupported(format!(
            "Content-Type {:?} is not supported: this receiver speaks Remote Write 1.0 only (application/x-protobuf;proto=prometheus.WriteRequest)",
            content_type.unwrap_or_default()
        )));
    }
    let version = header("x-prometheus-remote-write-version");
    match (kind, version.as_deref()) {
        (ContentKind::V1, Some(v)) if v.starts_with("0.1.") => {}
        (ContentKind::V1, other) => {
            return Err(RequestError::bad(format!(
                "X-Prometheus-Remote-Write-Version must be 0.1.0, got {other:?}"
            )));
        }
        (ContentKind::V2, Some(v)) if v.starts_with("2.") => {}
        (ContentKind::V2, other) => {
            return Err(RequestError::bad(format!(
                "X-Prometheus-Remote-Write-Version must be 2.x (2.0.0) with proto=io.prometheus.write.v2.Request, got {other:?}"
            )));
        }
    }
    if header("user-agent").is_none_or(|v| v.is_empty()) {
        return Err(RequestError::bad("User-Agent header is missing"));
    }
    let raw = snappy_decompress(body)
        .map_err(|e| RequestError::bad(format!("body is not snappy block format: {e}")))?;
    if kind == ContentKind::V2 && mode == ProtocolMode::Both {
        return super::decode_v2::decode_v2(&raw, body.len());
    }
    let request = proto::WriteRequest::decode(raw.as_slice())
        .map_err(|e| RequestError::bad(format!("body is not a prometheus.WriteRequest: {e}")))?;
    let mut decoded = DecodedRequest {
        series: Vec::with_capacity(request.timeseries.len()),
        compressed_bytes: body.len(),
        raw_bytes: raw.len(),
        protocol: match kind {
            ContentKind::V1 => WireProtocol::V1,
            ContentKind::V2 => WireProtocol::V2IgnoredAsV1,
        },
        ..DecodedRequest::default()
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
        super::decode_v2::check_histograms(&series.histograms)
            .map_err(|m| RequestError::bad(format!("timeseries[{index}]: {m}")))?;
        let exemplars: Vec<ReceivedExemplar> = series
            .exemplars
            .into_iter()
            .map(|e| ReceivedExemplar {
                labels: e.labels.into_iter().map(|l| (l.name, l.value)).collect(),
                value_bits: e.value.to_bits(),
                timestamp: e.timestamp,
            })
            .collect();
        decoded.samples += samples.len();
        decoded.histograms += series.histograms.len();
        decoded.exemplars += exemplars.len();
        decoded.series.push(ReceivedSeries {
            labels: series
                .labels
                .into_iter()
                .map(|l| (l.name, l.value))
                .collect(),
            samples,
            histograms: series
                .histograms
                .into_iter()
                .map(|h| (h.timestamp, h))
                .collect(),
            exemplars,
            metadata: None,
        });
    }
    for (index, metadata) in request.metadata.into_iter().enumerate() {
        if metadata.metric_family_name.is_empty() {
            return Err(RequestError::bad(format!(
                "metadata[{index}]: metric_family_name is empty"
            )));
        }
        if MetricType::from_i32(metadata.r#type).is_none() {
            return Err(RequestError::bad(format!(
                "metadata[{index}] ({:?}): type {} is not a MetricType (0 ..= 7)",
                metadata.metric_family_name, metadata.r#type
            )));
        }
        decoded.family_metadata.push(ReceivedFamilyMetadata {
            family: metadata.metric_family_name,
            metric_type: metadata.r#type,
            help: metadata.help,
            unit: metadata.unit,
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

    /// Compresses a 1.0 request.
    fn encode(req: &proto::WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap()
    }

    #[test]
    fn a_1_0_series_may_carry_samples_histograms_and_exemplars() {
        let histogram = proto::Histogram {
            count: Some(proto::HistogramCount::CountInt(2)),
            zero_count: Some(proto::HistogramZeroCount::ZeroCountInt(2)),
            timestamp: 5,
            ..proto::Histogram::default()
        };
        let req = proto::WriteRequest {
            timeseries: vec![proto::TimeSeries {
                labels: vec![proto::Label {
                    name: "__name__".into(),
                    value: "a".into(),
                }],
                samples: vec![proto::Sample {
                    value: 1.0,
                    timestamp: 9,
                }],
                exemplars: vec![proto::Exemplar {
                    labels: vec![],
                    value: 2.0,
                    timestamp: 3,
                }],
                histograms: vec![histogram.clone()],
            }],
            metadata: vec![proto::MetricMetadata {
                r#type: 2,
                metric_family_name: "a".into(),
                help: "h".into(),
                unit: "u".into(),
            }],
        };
        let ok = decode_request(headers, &encode(&req)).unwrap();
        assert_eq!((ok.samples, ok.histograms, ok.exemplars), (1, 1, 1));
        assert_eq!(ok.series[0].histograms, vec![(5, histogram)]);
        assert_eq!(ok.series[0].exemplars[0].value_bits, 2.0f64.to_bits());
        assert_eq!(
            ok.family_metadata,
            vec![ReceivedFamilyMetadata {
                family: "a".into(),
                metric_type: 2,
                help: "h".into(),
                unit: "u".into(),
            }]
        );
        let mut bad = req.clone();
        bad.timeseries[0].histograms[0].count = Some(proto::HistogramCount::CountInt(3));
        let err = decode_request(headers, &encode(&bad)).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(
            err.message.starts_with("timeseries[0]: histograms[0]: "),
            "{err:?}"
        );
        let metadata_only = proto::WriteRequest {
            timeseries: vec![],
            ..req
        };
        let ok = decode_request(headers, &encode(&metadata_only)).unwrap();
        assert!(ok.series.is_empty());
        assert_eq!(ok.family_metadata.len(), 1);
    }

    #[test]
    fn a_2_0_body_decoded_as_1_0_stays_empty() {
        let v2 = proto_v2::Request {
            symbols: vec![String::new(), "__name__".into(), "a".into()],
            timeseries: vec![proto_v2::TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![proto_v2::Sample {
                    value: 1.0,
                    timestamp: 1,
                    start_timestamp: 0,
                }],
                histograms: vec![],
                exemplars: vec![],
                metadata: None,
            }],
        };
        let v2_headers = |name: &str| match name {
            "content-type" => {
                Some("application/x-protobuf;proto=io.prometheus.write.v2.Request".into())
            }
            "x-prometheus-remote-write-version" => Some("2.0.0".into()),
            other => headers(other),
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&v2.encode_to_vec())
            .unwrap();
        let ignored = decode_request_with(v2_headers, &body, ProtocolMode::V1Ignore).unwrap();
        assert_eq!(ignored.protocol, WireProtocol::V2IgnoredAsV1);
        assert!(ignored.series.is_empty() && ignored.family_metadata.is_empty());
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
