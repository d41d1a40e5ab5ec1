//! Turning a batch of queued samples into a compressed RW 1.0 request body: samples of one
//! series share one `TimeSeries`, in the order they were queued.

use super::series_cache::{BatchSample, SeriesCache};
use crate::wire::{rw1, snappy_compress};

/// Reusable buffers for encoding batches; one per shard.
pub struct BatchEncoder {
    order: Vec<(u32, u32)>,
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
    /// Encodes and compresses `batch`, whose series are in `cache`; the body stays valid
    /// until the next call.
    pub fn encode(&mut self, batch: &[BatchSample], cache: &SeriesCache) -> &[u8] {
        self.order.clear();
        self.order
            .extend(batch.iter().enumerate().map(|(i, s)| (s.slot, i as u32)));
        // Usually every series of a batch is distinct and already in slot order; sort only when not.
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
            let series = cache.series(id);
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
    use crate::queue::series_cache::{QueuedSample, Resolved};
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
        let sa = reg.series(a).unwrap();
        let sb = reg.series(b).unwrap();
        let mut cache = SeriesCache::new();
        let batch: Vec<BatchSample> = [
            (a, &sa, 1),
            (b, &sb, 1),
            (a, &sa, 2),
            (b, &sb, 2),
            (a, &sa, 3),
        ]
        .iter()
        .map(
            |(r, s, ts)| match cache.resolve(QueuedSample::announcing(*r, s, *ts, *ts as f64)) {
                Resolved::Ready(sample) => sample,
                other => panic!("resolves: {other:?}"),
            },
        )
        .collect();
        let mut enc = BatchEncoder::default();
        let body = enc.encode(&batch, &cache).to_vec();
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
