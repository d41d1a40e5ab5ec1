//! The Remote Write 2.0 protobuf messages (`io.prometheus.write.v2.Request` and the types it
//! uses), field for field as `prompb/io/prometheus/write/v2/types.proto`: `Request` reserves
//! fields 1 ..= 3 (so a 1.0 receiver decodes a 2.0 body as an empty `WriteRequest`),
//! `TimeSeries` reserves field 6 (the old `created_timestamp`, now `start_timestamp` of
//! samples and histograms), and `Metadata` has no field 2. For decoding (the receivers) and
//! for checking promrw's encoder in tests.

pub use super::proto::{BucketSpan, Histogram, HistogramCount, HistogramZeroCount};

/// `io.prometheus.write.v2.Request`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// The symbol table: every string the request refers to, `""` first.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// `io.prometheus.write.v2.TimeSeries`: samples or histograms of one label set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Pairs of symbol refs (name, value), sorted by name.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples (empty when `histograms` is not).
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histograms (empty when `samples` is not).
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    /// Exemplars.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// The series' metadata.
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
}

/// `io.prometheus.write.v2.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Pairs of symbol refs (name, value).
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// The value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `io.prometheus.write.v2.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value, bits kept.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// Start (formerly "created") timestamp, ms; 0 is unset.
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

/// `io.prometheus.write.v2.Metadata`. Field 2 does not exist.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Metadata {
    /// `MetricType` (0 unspecified ..= 7 stateset).
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Symbol ref of the help text (0: none).
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// Symbol ref of the unit (0: none).
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_v2_body_is_an_empty_v1_write_request() {
        let request = Request {
            symbols: vec!["".into(), "__name__".into(), "up".into()],
            timeseries: vec![TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 5,
                    start_timestamp: 0,
                }],
                histograms: Vec::new(),
                exemplars: Vec::new(),
                metadata: None,
            }],
        };
        let bytes = request.encode_to_vec();
        let v1 = super::super::proto::WriteRequest::decode(&bytes[..]).unwrap();
        assert!(v1.timeseries.is_empty() && v1.metadata.is_empty());
        assert_eq!(Request::decode(&bytes[..]).unwrap(), request);
    }

    #[test]
    fn a_zero_float_count_survives_as_a_float() {
        let histogram = Histogram {
            count: Some(HistogramCount::CountFloat(0.0)),
            zero_count: Some(HistogramZeroCount::ZeroCountFloat(0.0)),
            ..Histogram::default()
        };
        let decoded = Histogram::decode(&histogram.encode_to_vec()[..]).unwrap();
        assert_eq!(decoded.count, Some(HistogramCount::CountFloat(0.0)));
    }
}
