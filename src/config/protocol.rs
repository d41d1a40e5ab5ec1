//! What a `remote_write` entry sends besides float samples: the protobuf message
//! (`protobuf_message`), exemplars, native histograms and metadata (`metadata_config`).

use std::time::Duration;

/// `protobuf_message`: the Remote Write protocol version of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtobufMessage {
    /// `prometheus.WriteRequest`: Remote Write 1.0 (the default).
    #[default]
    V1,
    /// `io.prometheus.write.v2.Request`: Remote Write 2.0.
    V2,
}

impl ProtobufMessage {
    /// Parses the message name as Prometheus spells it.
    pub fn parse(text: &str) -> Option<ProtobufMessage> {
        match text {
            "prometheus.WriteRequest" => Some(ProtobufMessage::V1),
            "io.prometheus.write.v2.Request" => Some(ProtobufMessage::V2),
            _ => None,
        }
    }

    /// The message name as Prometheus spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtobufMessage::V1 => "prometheus.WriteRequest",
            ProtobufMessage::V2 => "io.prometheus.write.v2.Request",
        }
    }

    /// The requests' `Content-Type`, as Prometheus sends it (1.0's is the one 1.x receivers
    /// know).
    pub fn content_type(self) -> &'static str {
        match self {
            ProtobufMessage::V1 => "application/x-protobuf",
            ProtobufMessage::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// The requests' `X-Prometheus-Remote-Write-Version`.
    pub fn version_header(self) -> &'static str {
        match self {
            ProtobufMessage::V1 => "0.1.0",
            ProtobufMessage::V2 => "2.0.0",
        }
    }

    /// The protocol's version as the `promrw_remote_write_protocol` metric labels it.
    pub fn version(self) -> &'static str {
        match self {
            ProtobufMessage::V1 => "1.0",
            ProtobufMessage::V2 => "2.0",
        }
    }
}

/// `metadata_config`: sending metric metadata (type, help, unit) with Remote Write 1.0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataConfig {
    /// `send` (default true).
    pub send: bool,
    /// `send_interval` (default 1m).
    pub send_interval: Duration,
    /// `max_samples_per_send` (default 2000).
    pub max_samples_per_send: usize,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 2000,
        }
    }
}
