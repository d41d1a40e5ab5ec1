//! Remote Write 1.0's metadata requests, as Prometheus's metadata watcher sends them: every
//! `metadata_config.send_interval` (1m), the metadata of every family the endpoint knows, in
//! `WriteRequest { metadata }` requests of at most `metadata_config.max_samples_per_send`
//! entries, sent by the endpoint's first shard between its batches. A recoverable failure is
//! retried after a backoff without holding up the shard's batches; a 2.0 endpoint sends none
//! (its requests carry each series' metadata) until it falls back to 1.0.

use std::sync::atomic::Ordering;
use std::time::Instant;

use prost::Message;

use super::EndpointContext;
use crate::config::ProtobufMessage;
use crate::log::LogLevel;
use crate::metrics::AttemptError;
use crate::transport::{Backoff, Outcome, Transport};
use crate::wire::{proto, snappy_compress};

/// When shard 0 sends the endpoint's metadata next.
pub struct MetadataSchedule {
    next: Option<Instant>,
    backoff: Backoff,
}

impl MetadataSchedule {
    /// The schedule of shard `index` of the endpoint: only shard 0 sends metadata, and only
    /// with `metadata_config.send` (the default) and without tenant routing (a metadata
    /// request belongs to no tenant).
    pub fn new(ctx: &EndpointContext, index: usize) -> MetadataSchedule {
        let config = ctx.config.metadata_config.clone().unwrap_or_default();
        let sends = index == 0 && config.send && ctx.config.tenant.is_none();
        MetadataSchedule {
            next: sends.then(|| crate::deadline_after(config.send_interval)),
            backoff: Backoff::new(ctx.config.queue.min_backoff, ctx.config.queue.max_backoff),
        }
    }

    /// When the next metadata requests are due; `None` when the shard sends none now.
    pub fn due(&self, ctx: &EndpointContext) -> Option<Instant> {
        self.next
            .filter(|_| ctx.protocol.current() == ProtobufMessage::V1)
    }

    /// Sends the metadata of every family the endpoint knows, then schedules the next round
    /// (after `send_interval`, or after a backoff when a request failed recoverably: the
    /// round is then sent again whole).
    pub fn send(&mut self, ctx: &EndpointContext, transport: &Transport) {
        let config = ctx.config.metadata_config.clone().unwrap_or_default();
        let entries = ctx.metadata_book.entries();
        let per_request = config.max_samples_per_send.max(1);
        let mut retry = None;
        for chunk in entries.chunks(per_request) {
            let request = proto::WriteRequest {
                timeseries: Vec::new(),
                metadata: chunk
                    .iter()
                    .map(|(family, metadata)| proto::MetricMetadata {
                        r#type: metadata.kind.as_i32(),
                        metric_family_name: family.clone(),
                        help: metadata.help.clone(),
                        unit: metadata.unit.clone(),
                    })
                    .collect(),
            };
            let mut body = Vec::new();
            let len = snappy_compress(
                &mut snap::raw::Encoder::new(),
                &request.encode_to_vec(),
                &mut body,
            );
            body.truncate(len);
            let n = chunk.len() as u64;
            let metrics = &ctx.metrics.metadata;
            match transport.send_for(&body, ProtobufMessage::V1, 0, ctx.attempt_timeout(), None) {
                Outcome::Success(_) => {
                    metrics.total.fetch_add(n, Ordering::Relaxed);
                    metrics
                        .bytes
                        .fetch_add(body.len() as u64, Ordering::Relaxed);
                }
                Outcome::Permanent { reason, status } => {
                    metrics.failed.fetch_add(n, Ordering::Relaxed);
                    ctx.logger.log(LogLevel::Error, || {
                        format!(
                            "{}: receiver rejected a metadata request of {n} families with HTTP {status} (not retried): {reason}",
                            ctx.describe()
                        )
                    });
                    ctx.metrics.record_error(AttemptError {
                        status: Some(status),
                        message: reason,
                        unix_ms: super::shard::now_ms(),
                    });
                }
                Outcome::Recoverable {
                    reason,
                    status,
                    retry_after,
                } => {
                    metrics.retried.fetch_add(n, Ordering::Relaxed);
                    let delay = self.backoff.next_delay(retry_after);
                    ctx.logger.log(LogLevel::Warn, || {
                        format!(
                            "{}: failed to send a metadata request of {n} families, retrying in {delay:?}: {reason}",
                            ctx.describe()
                        )
                    });
                    ctx.metrics.record_error(AttemptError {
                        status,
                        message: reason,
                        unix_ms: super::shard::now_ms(),
                    });
                    retry = Some(delay);
                    break;
                }
            }
        }
        self.next = Some(match retry {
            Some(delay) => crate::deadline_after(delay),
            None => {
                self.backoff =
                    Backoff::new(ctx.config.queue.min_backoff, ctx.config.queue.max_backoff);
                crate::deadline_after(config.send_interval)
            }
        });
    }
}
