//! Per-batch encoding benchmarks on workload W1: batches of 2,000 samples (the default
//! `max_samples_per_send`) taken in append order, so every sample of a batch belongs to a
//! different series, as in the end-to-end benchmark (`promrw bench`).
//!
//! * `promrw_batch_encoder`: [`BatchEncoder::encode`] (pre-encoded labels copied, samples
//!   written, snappy), the shard threads' per-batch work.
//! * `promrw_batch_encoder_v2`: the same batches as Remote Write 2.0 requests (labels
//!   mapped through the shard's label dictionary to the request's symbols, snappy), the
//!   series without metadata as in `promrw bench --rw2`.
//! * `naive_prost_snappy`: the baseline: prost `WriteRequest` messages with one `TimeSeries`
//!   per sample owning copies of its label strings (as Prometheus sends them), `encode_to_vec`,
//!   then snappy.
//! * `rw1_encode_labels`: [`rw1::encode_labels`] of 2,000 label sets, the one-off cost paid per
//!   series at registration.
//! * `snappy_only`: snappy of promrw's uncompressed body, to show how much of the batch
//!   encoder's time is compression.
//!
//! The first two come in two flavours: `hot` encodes the same batch (series 0..2000) again and
//! again, so its labels stay in cache; `w1_rotating` encodes the five batches that cover all
//! 10,000 W1 series in turn, which is the working set of a real run.
//!
//! Run with `cargo bench --bench encode -- --warm-up-time 1 --measurement-time 4`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promrw::Labels;
use promrw::config::ProtobufMessage;
use promrw::queue::series_cache::{BatchSample, QueuedSample, Resolved, SeriesCache};
use promrw::queue::{BatchEncoder, BatchView};
use promrw::series::SeriesRegistry;
use promrw::wire::rw2::{Rw2Encoder, Rw2Sample};
use promrw::wire::{proto, rw1, snappy_compress};
use promrw_tools::workload::Workload;
use prost::Message;

/// Samples per batch (the default `max_samples_per_send`).
const BATCH: usize = 2_000;

/// Milliseconds since the epoch of the samples (a fixed instant, for reproducibility).
const TIMESTAMP_MS: i64 = 1_700_000_000_000;

/// One batch of W1 samples (round 0 of `BATCH` consecutive series), with their label sets.
struct Batch {
    /// Label sets of the batch's series, in sample order.
    labels: Vec<Labels>,
    /// The batch as promrw's shard threads see it (series resolved in `cache`).
    queued: Vec<BatchSample>,
    /// `(timestamp, value)` of each sample, in sample order.
    samples: Vec<(i64, f64)>,
}

/// Registers every W1 series in one registry and returns the batches covering them, in order,
/// with the shard cache their series are resolved in.
fn w1_batches() -> (Vec<Batch>, SeriesCache) {
    let workload = Workload::W1;
    let registry = SeriesRegistry::new(Labels::default());
    let mut cache = SeriesCache::new();
    let batches = (0..workload.series)
        .step_by(BATCH)
        .map(|first| {
            let range = first..(first + BATCH).min(workload.series);
            let labels: Vec<Labels> = range.clone().map(|i| workload.labels(i)).collect();
            let samples: Vec<(i64, f64)> = range
                .map(|i| (TIMESTAMP_MS, workload.value(i, 0)))
                .collect();
            let queued = labels
                .iter()
                .zip(&samples)
                .map(|(l, &(timestamp, value))| {
                    let series_ref = registry.register(l.clone()).expect("W1 labels register");
                    let series = registry
                        .series(series_ref)
                        .expect("the series was just registered");
                    let queued = QueuedSample::announcing(series_ref, &series, timestamp, value);
                    match cache.resolve(queued) {
                        Resolved::Ready(sample) => sample,
                        other => panic!("a fresh series resolves: {other:?}"),
                    }
                })
                .collect();
            Batch {
                labels,
                queued,
                samples,
            }
        })
        .collect::<Vec<_>>();
    (batches, cache)
}

/// The baseline: prost messages (one `TimeSeries` per sample, label strings copied), encoded
/// and snappy-compressed; returns the compressed body.
fn naive_encode(
    labels: &[Labels],
    samples: &[(i64, f64)],
    snappy: &mut snap::raw::Encoder,
) -> Vec<u8> {
    let request = proto::WriteRequest {
        timeseries: labels
            .iter()
            .zip(samples)
            .map(|(l, &(timestamp, value))| proto::TimeSeries::single(l, timestamp, value))
            .collect(),
        metadata: Vec::new(),
    };
    let raw = request.encode_to_vec();
    snappy
        .compress_vec(&raw)
        .expect("snappy compresses any batch-sized input")
}

/// Registers the W1 batch-encoding benchmarks.
fn encode(c: &mut Criterion) {
    let (batches, cache) = w1_batches();
    let hot = &batches[0];
    let mut group = c.benchmark_group("w1_batch_2000");
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut encoder = BatchEncoder::default();
    group.bench_function("promrw_batch_encoder/hot", |b| {
        b.iter(|| {
            black_box(
                encoder
                    .encode(
                        black_box(&hot.queued),
                        &BatchView::plain(&cache),
                        ProtobufMessage::V1,
                    )
                    .len(),
            )
        })
    });
    let mut next = 0;
    group.bench_function("promrw_batch_encoder/w1_rotating", |b| {
        b.iter(|| {
            next = (next + 1) % batches.len();
            black_box(
                encoder
                    .encode(
                        black_box(&batches[next].queued),
                        &BatchView::plain(&cache),
                        ProtobufMessage::V1,
                    )
                    .len(),
            )
        })
    });

    let mut encoder_v2 = BatchEncoder::default();
    group.bench_function("promrw_batch_encoder_v2/w1_rotating", |b| {
        b.iter(|| {
            next = (next + 1) % batches.len();
            black_box(
                encoder_v2
                    .encode(
                        black_box(&batches[next].queued),
                        &BatchView {
                            metadata_set: false,
                            ..BatchView::plain(&cache)
                        },
                        ProtobufMessage::V2,
                    )
                    .len(),
            )
        })
    });

    let mut snappy = snap::raw::Encoder::new();
    group.bench_function("naive_prost_snappy/hot", |b| {
        b.iter(|| naive_encode(black_box(&hot.labels), black_box(&hot.samples), &mut snappy))
    });
    group.bench_function("naive_prost_snappy/w1_rotating", |b| {
        b.iter(|| {
            next = (next + 1) % batches.len();
            let batch = &batches[next];
            naive_encode(
                black_box(&batch.labels),
                black_box(&batch.samples),
                &mut snappy,
            )
        })
    });

    group.bench_function("rw1_encode_labels", |b| {
        b.iter(|| {
            black_box(&hot.labels)
                .iter()
                .map(|l| rw1::encode_labels(l).len())
                .sum::<usize>()
        })
    });

    // promrw's uncompressed body of the hot batch, to isolate the compression cost.
    let mut raw = Vec::new();
    for sample in &hot.queued {
        rw1::append_series(
            &mut raw,
            cache.series(sample.slot).encoded_labels(),
            [(sample.timestamp, sample.value)].into_iter(),
        );
    }
    let mut compressed = Vec::new();
    group.bench_function("snappy_only", |b| {
        b.iter(|| {
            snappy_compress(&mut snappy, black_box(&raw), &mut compressed);
            compressed.len()
        })
    });
    group.finish();

    let naive = naive_encode(&hot.labels, &hot.samples, &mut snappy);
    let ours = encoder
        .encode(&hot.queued, &BatchView::plain(&cache), ProtobufMessage::V1)
        .len();
    println!(
        "w1_batch_2000 sizes: promrw {ours} bytes ({:.2}/sample, uncompressed {}), naive {} bytes ({:.2}/sample)",
        ours as f64 / BATCH as f64,
        encoder.raw_len(),
        naive.len(),
        naive.len() as f64 / BATCH as f64
    );
    print_v2_breakdown(hot);
}

/// Prints where the wire bytes of the hot batch go in Remote Write 2.0: the whole request
/// compressed, its symbols and its `timeseries` entries compressed apart, and the entries
/// again with every value 0.0 (what the label refs, timestamps and framing cost alone).
fn print_v2_breakdown(batch: &Batch) {
    let per_sample = |bytes: &[u8]| {
        let compressed = snap::raw::Encoder::new()
            .compress_vec(bytes)
            .expect("snappy compresses any batch-sized input");
        compressed.len() as f64 / BATCH as f64
    };
    let request = |zero_values: bool| {
        let mut encoder = Rw2Encoder::new();
        encoder.begin();
        for (labels, &(timestamp, value)) in batch.labels.iter().zip(&batch.samples) {
            let sample = Rw2Sample {
                value: if zero_values { 0.0 } else { value },
                timestamp,
                start_timestamp: 0,
            };
            let pairs = labels
                .as_slice()
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()));
            encoder.add_series(pairs, &[sample], &[], &[], None);
        }
        // Each symbol is a key byte, its length's varint and its bytes.
        let symbols_len: usize = encoder
            .symbols()
            .iter()
            .map(|symbol| {
                1 + prost::encoding::encoded_len_varint(symbol.len() as u64) + symbol.len()
            })
            .sum();
        (encoder.finish().to_vec(), symbols_len)
    };
    let (body, symbols_len) = request(false);
    let (zeroed, _) = request(true);
    println!(
        "w1_batch_2000 2.0 bytes per sample: request {:.2} (uncompressed {:.2}); compressed apart: symbols {:.2}, timeseries {:.2}, timeseries with every value 0.0 {:.2}",
        per_sample(&body),
        body.len() as f64 / BATCH as f64,
        per_sample(&body[..symbols_len]),
        per_sample(&body[symbols_len..]),
        per_sample(&zeroed[symbols_len..]),
    );
}

criterion_group!(benches, encode);
criterion_main!(benches);
