//! The one-off cost of an endpoint's `write_relabel_configs` per series: `route_series` of each
//! of W1's 10,000 series with the five rules of `promrw bench --relabel` (`workload::w1_relabel_rules`:
//! keep, drop, replace, hashmod, labeldrop), which is what the first sample of a series pays on an endpoint with rules.
//!
//! Run with `cargo bench --bench relabel -- --warm-up-time 1 --measurement-time 4`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promrw::queue::relabeling::route_series;
use promrw::relabel::compile_rules;
use promrw::series::Series;
use promrw::wire::rw1;
use promrw_tools::workload::{self, Workload};

fn relabel_per_series(c: &mut Criterion) {
    let workload = Workload::W1;
    let series: Vec<Arc<Series>> = (0..10_000)
        .map(|i| {
            let encoded = rw1::encode_labels(&workload.labels(i));
            Arc::new(Series::from_encoded(i as u64, Arc::from(encoded)))
        })
        .collect();
    let rules = compile_rules(&workload::w1_relabel_rules()).expect("valid rules");
    let mut group = c.benchmark_group("relabel");
    group.throughput(Throughput::Elements(series.len() as u64));
    group.bench_function("route_series_w1_5_rules", |b| {
        b.iter(|| {
            for s in &series {
                black_box(route_series(black_box(s), &rules, None));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, relabel_per_series);
criterion_main!(benches);
