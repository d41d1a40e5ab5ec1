//! The Remote Write 1.0 protobuf messages (`prometheus.WriteRequest` and the types it uses);
//! Remote Write 2.0's are in [`super::proto_v2`].
//!
//! Field numbers follow `prompb/remote.proto` and `prompb/types.proto`. Exemplars, histograms and
//! metadata are Prometheus extensions; they are declared so that decoding a request that carries
//! them keeps their bytes accounted for.

/// `prometheus.WriteRequest`. Field 2 is reserved.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series of this request.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (experimental in 1.0).
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: one label set and its samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in timestamp order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars (extension).
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histograms (extension).
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value; its bits are kept exactly (stale markers included).
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Exemplar labels (optional).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Exemplar value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`. Field 3 does not exist.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// Metric type (enum `MetricType`).
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Metric family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.BucketSpan` (the same message in `io.prometheus.write.v2`).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span (the first: the index of its first bucket).
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// `count` of a histogram: integer or float.
#[derive(Clone, Copy, PartialEq, prost::Oneof)]
pub enum HistogramCount {
    /// Integer histogram.
    #[prost(uint64, tag = "1")]
    CountInt(u64),
    /// Float histogram.
    #[prost(double, tag = "2")]
    CountFloat(f64),
}

/// `zero_count` of a histogram: integer or float.
#[derive(Clone, Copy, PartialEq, prost::Oneof)]
pub enum HistogramZeroCount {
    /// Integer histogram.
    #[prost(uint64, tag = "6")]
    ZeroCountInt(u64),
    /// Float histogram.
    #[prost(double, tag = "7")]
    ZeroCountFloat(f64),
}

/// `prometheus.Histogram` (fields 1 ..= 16) and `io.prometheus.write.v2.Histogram`, which
/// is the same message with `start_timestamp` (17): one struct serves both (a 1.0 body
/// never sets field 17, and 0 is not written).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// The count, integer or float.
    #[prost(oneof = "HistogramCount", tags = "1, 2")]
    pub count: Option<HistogramCount>,
    /// Sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// The schema.
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Width of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// The zero bucket's count, integer or float.
    #[prost(oneof = "HistogramZeroCount", tags = "6, 7")]
    pub zero_count: Option<HistogramZeroCount>,
    /// Negative spans.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Negative buckets of an integer histogram, as deltas.
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Negative buckets of a float histogram.
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Positive spans.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Positive buckets of an integer histogram, as deltas.
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Positive buckets of a float histogram.
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Reset hint (0 unknown, 1 yes, 2 no, 3 gauge).
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Custom bucket bounds (schema -53).
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
    /// Remote Write 2.0 only: the start (formerly "created") timestamp, ms; 0 is unset.
    #[prost(int64, tag = "17")]
    pub start_timestamp: i64,
}

impl TimeSeries {
    /// A series holding its own copies of `labels` and one sample: the shape Prometheus sends,
    /// used as the reference ("naive") encoding in tests and benchmarks.
    pub fn single(labels: &crate::model::Labels, timestamp: i64, value: f64) -> TimeSeries {
        TimeSeries {
            labels: labels
                .as_slice()
                .iter()
                .map(|l| Label {
                    name: l.name.clone(),
                    value: l.value.clone(),
                })
                .collect(),
            samples: vec![Sample { value, timestamp }],
            exemplars: Vec::new(),
            histograms: Vec::new(),
        }
    }
}
