//! Turning a batch of queued samples into a compressed RW 1.0 request body: samples of one
//! series share one `TimeSeries`, in the order they were queued.

use std::sync::Arc;

use crate::series::Series;
use crate::wire::{rw1, snappy_compress};

/// One accepted sample waiting in a shard queue.
#[derive(Debug, Clone)]
pub struct QueuedSample {
    /// The series (kept alive until sent, even if released meanwhile).
    pub series: Arc<Series>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The value, bits preserved.
    pub value: f64,
}

/// Reusable buffers for encoding batches; one per shard.
pub struct BatchEncoder {
    order: Vec<(u64, u32)>,
    raw: Vec<u8>,
    compressed: Vec<u8>,
    compressed_len: usize,
    snappy: snap::raw::Encoder,
}

impl Default for BatchEncoder {
    fn default() -> Self {
        BatchEncoder {
            order: Vec::new(),
            raw: Vec::new(),
            compressed: Vec::new(),
            compressed_len: 0,
            snappy: snap::raw::Encoder::new(),
        }
    }
}

impl BatchEncoder {
    /// Encodes and compresses `batch`; the body stays valid until the next call.
    pub fn encode(&mut self, batch: &[QueuedSample]) -> &[u8] {
        self.order.clear();
        self.order.extend(
            batch
                .iter()
                .enumerate()
                .map(|(i, s)| (s.series.id(), i as u32)),
        );
        // Usually every series of a batch is distinct and already in id order; sort only when not.
        if !self.order.is_sorted() {
            self.order.sort_unstable();
        }
        self.raw.clear();
        let mut start = 0;
        while start < self.order.len() {
            let id = self.order[start].0;
            let end = self.order[start..]
                .iter()
                .position(|(other, _)| *other != id)
                .map_or(self.order.len(), |n| start + n);
            let run = &self.order[start..end];
            let series = &batch[run[0].1 as usize].series;
            rw1::append_series(
                &mut self.raw,
                series.encoded_labels(),
                run.iter().map(|(_, i)| {
                    let sample = &batch[*i as usize];
                    (sample.timestamp, sample.value)
                }),
            );
            start = end;
        }
        self.compressed_len = snappy_compress(&mut self.snappy, &self.raw, &mut self.compressed);
        &self.compressed[..self.compressed_len]
    }

    /// The body produced by the last `encode`.
    pub fn last_body(&self) -> &[u8] {
        &self.compressed[..self.compressed_len]
    }

    /// Size of the last uncompressed body.
    pub fn raw_len(&self) -> usize {
        self.raw.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::series::SeriesRegistry;
    use crate::wire::{proto, snappy_decompress};
    use prost::Message;

    #[test]
    fn groups_samples_of_a_series_in_order() {
        let reg = SeriesRegistry::new(Labels::default());
        let a = reg
            .register(Labels::from_pairs(&[("__name__", "a")]).unwrap())
            .unwrap();
        let b = reg
            .register(Labels::from_pairs(&[("__name__", "b")]).unwrap())
            .unwrap();
        let sa = reg.lock_live(a).unwrap().series().clone();
        let sb = reg.lock_live(b).unwrap().series().clone();
        let batch: Vec<QueuedSample> = [(&sa, 1), (&sb, 1), (&sa, 2), (&sb, 2), (&sa, 3)]
            .iter()
            .map(|(s, ts)| QueuedSample {
                series: (*s).clone(),
                timestamp: *ts,
                value: *ts as f64,
            })
            .collect();
        let mut enc = BatchEncoder::default();
        let body = enc.encode(&batch).to_vec();
        let req =
            proto::WriteRequest::decode(snappy_decompress(&body).unwrap().as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), 2);
        let total: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
        assert_eq!(total, 5);
        let a_series = req
            .timeseries
            .iter()
            .find(|t| t.labels[0].value == "a")
            .unwrap();
        let ts: Vec<i64> = a_series.samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(ts, [1, 2, 3]);
    }
}
