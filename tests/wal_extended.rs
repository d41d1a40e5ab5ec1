//! WAL mode with histograms, exemplars, start timestamps and metadata (issue 15): a child
//! process appends them to a WAL-mode sender whose receiver is down, syncs, and is killed with
//! SIGKILL; the log then holds every synced item bit for bit (read back with the log's own
//! reader, as a restarted sender's feeder reads it), and a new sender on the same directory
//! replays all of them and finishes each one: to a 1.0 endpoint without histograms and
//! exemplars (floats delivered, the rest dropped and counted by kind), and to a 2.0 endpoint,
//! read back exactly from the validating receiver.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{FaultReceiver, TempDir, free_port, now_ms, yaml};
use promrw::metrics::ExtraDropReason;
use promrw::wal::cursor::Position;
use promrw::wal::reader::{LogReader, ReadLimit};
use promrw::wal::recovery::recover;
use promrw::wal::segment::list_segments;
use promrw::{
    BucketSpan, Config, Exemplar, Histogram, HistogramCounts, Label, Metadata, MetricType,
    ResetHint, SampleOptions, Sender,
};

/// The child's log directory and first timestamp, passed in the environment.
const DIR_VAR: &str = "PROMRW_WAL_EXTENDED_DIR";
const T0_VAR: &str = "PROMRW_WAL_EXTENDED_T0";
/// Items per series.
const ROUNDS: i64 = 200;

/// A WAL-mode sender for `url`, its log in `dir`. Its endpoint is Remote Write 1.0 without
/// `send_native_histograms` and `send_exemplars`: it drops the histograms and exemplars it
/// reads from the log, counted, and sends the floats.
fn wal_sender(url: &str, dir: &Path) -> Sender {
    wal_sender_with(url, dir, "")
}

/// [`wal_sender`] with `extra` endpoint lines (4 spaces).
fn wal_sender_with(url: &str, dir: &Path, extra: &str) -> Sender {
    let text = format!(
        "{}promrw:\n  wal:\n    dir: {}\n",
        yaml(url, "      max_samples_per_send: 100\n", extra),
        dir.display()
    );
    Sender::new(Config::from_text(&text).expect("valid config")).expect("sender starts")
}

fn histogram(round: i64, float: bool) -> Histogram {
    let r = round as u64;
    Histogram {
        schema: if float { -53 } else { 2 },
        zero_threshold: if float { 0.0 } else { 0.001 },
        sum: round as f64 * 1.5,
        counts: if float {
            HistogramCounts::Float {
                count: (r + 3) as f64,
                zero_count: 0.0,
                positive_counts: vec![1.0, 2.0, r as f64],
                negative_counts: Vec::new(),
            }
        } else {
            HistogramCounts::Integer {
                count: r + 5,
                zero_count: 1,
                positive_deltas: vec![1, r as i64],
                negative_deltas: vec![2],
            }
        },
        positive_spans: vec![BucketSpan {
            offset: if float { 0 } else { -3 },
            length: if float { 3 } else { 2 },
        }],
        negative_spans: if float {
            Vec::new()
        } else {
            vec![BucketSpan {
                offset: 1,
                length: 1,
            }]
        },
        reset_hint: if round == 0 {
            ResetHint::Yes
        } else {
            ResetHint::No
        },
        custom_values: if float {
            vec![0.25, 0.5, 1.0]
        } else {
            Vec::new()
        },
    }
}

fn exemplar(round: i64, t: i64) -> Exemplar {
    Exemplar::new(
        vec![Label::new("trace_id", format!("{round:08x}"))],
        round as f64,
        Some(t - 1),
    )
    .unwrap()
}

fn metadata(name: &str) -> Metadata {
    Metadata {
        kind: MetricType::Histogram,
        help: format!("help of {name}"),
        unit: "seconds".to_string(),
    }
}

/// What the child appends: per round, an integer histogram with an exemplar, a float
/// (custom buckets) histogram with a start timestamp, a float with a start timestamp and an
/// exemplar, and a plain float; metadata for the first two series.
fn append_all(sender: &Sender, t0: i64) -> i64 {
    let ints = sender
        .series_from_pairs(&[("__name__", "ext_int_hist")])
        .unwrap();
    let floats = sender
        .series_from_pairs(&[("__name__", "ext_float_hist")])
        .unwrap();
    let counter = sender
        .series_from_pairs(&[("__name__", "ext_counter_total")])
        .unwrap();
    let plain = sender
        .series_from_pairs(&[("__name__", "ext_plain")])
        .unwrap();
    sender.set_metadata(ints, metadata("ext_int_hist")).unwrap();
    sender
        .set_metadata(floats, metadata("ext_float_hist"))
        .unwrap();
    let mut items = 0;
    for round in 0..ROUNDS {
        let t = t0 + round;
        sender
            .append_histogram(
                ints,
                t,
                &histogram(round, false),
                &SampleOptions::with_exemplar(exemplar(round, t)),
            )
            .unwrap();
        sender
            .append_histogram(
                floats,
                t,
                &histogram(round, true),
                &SampleOptions::with_start(t0 - 1000),
            )
            .unwrap();
        sender
            .append_with(
                counter,
                t,
                round as f64,
                &SampleOptions {
                    start_timestamp_ms: t0 - 5000,
                    exemplar: Some(exemplar(round, t)),
                },
            )
            .unwrap();
        sender.append(plain, t, -(round as f64)).unwrap();
        items += 4;
    }
    items
}

/// The appending part, run by the parent test in a child process (it does nothing when run
/// on its own): appends, syncs, says so in a file, and waits to be killed.
#[test]
#[ignore]
fn child_appends_extended_items_then_waits_to_be_killed() {
    let (Ok(dir), Ok(t0)) = (std::env::var(DIR_VAR), std::env::var(T0_VAR)) else {
        return;
    };
    let dir = Path::new(&dir);
    // Nothing listens there: everything stays in the log.
    let sender = wal_sender(&format!("http://127.0.0.1:{}/write", free_port()), dir);
    let items = append_all(&sender, t0.parse().unwrap());
    sender.sync(Duration::from_secs(30)).unwrap();
    std::fs::write(dir.join("synced"), items.to_string()).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Runs the child on `dir`, waits for its sync and kills it with SIGKILL; returns how many
/// items it synced.
fn run_and_kill_child(dir: &Path, t0: i64) -> i64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_appends_extended_items_then_waits_to_be_killed",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir)
        .env(T0_VAR, t0.to_string())
        .spawn()
        .expect("start the child");
    let marker = dir.join("synced");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before its sync: {status}");
        }
        assert!(Instant::now() < deadline, "the child did not sync in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    std::fs::read_to_string(&marker).unwrap().parse().unwrap()
}

#[test]
fn extended_items_and_metadata_survive_sigkill_and_are_replayed_by_the_next_sender() {
    let dir = TempDir::new("wal-extended");
    let t0 = now_ms() - 10_000;
    let synced = run_and_kill_child(dir.path(), t0);
    assert_eq!(synced, 4 * ROUNDS);

    // At the log's level: what the killed sender synced is all there, bit for bit.
    let wal_dir = dir.path().join("wal");
    let recovered = recover(&wal_dir).expect("the log opens");
    assert_eq!(recovered.damage.corrupt_stretches, 0);
    let counted: u64 = recovered.segments.iter().map(|s| s.samples_from(0)).sum();
    assert_eq!(counted, synced as u64, "items the log holds");
    let last = *list_segments(&wal_dir).unwrap().last().unwrap();
    let limit = ReadLimit {
        written_end: Position {
            segment: last,
            offset: std::fs::metadata(wal_dir.join(format!("{last:016x}")))
                .unwrap()
                .len(),
        },
        oldest_segment: 0,
    };
    let mut reader = LogReader::new(&wal_dir, Position::default());
    let mut by_name: std::collections::BTreeMap<String, Vec<(i64, u64, String)>> =
        Default::default();
    let mut with_metadata = std::collections::BTreeMap::new();
    while let Some(record) = reader.next_record(limit).unwrap() {
        let name_of = |reader: &LogReader, id| {
            let labels = reader.series_labels(id).unwrap();
            String::from_utf8_lossy(labels).to_string()
        };
        for (id, m) in &record.metadata {
            with_metadata.insert(name_of(&reader, *id), m.clone());
        }
        for (i, sample) in record.samples.iter().enumerate() {
            let extra = record
                .extras
                .get(i)
                .map(|e| format!("{e:?}"))
                .unwrap_or_default();
            by_name
                .entry(name_of(&reader, sample.id))
                .or_default()
                .push((sample.timestamp, sample.value_bits, extra));
        }
    }
    assert_eq!(by_name.len(), 4);
    for (name, items) in &by_name {
        assert_eq!(items.len() as i64, ROUNDS, "{name}");
        for (round, (ts, bits, extra)) in items.iter().enumerate() {
            let round = round as i64;
            let t = t0 + round;
            assert_eq!(*ts, t, "{name}");
            let want = if name.contains("ext_int_hist") {
                (
                    0,
                    format!(
                        "{:?}",
                        promrw::model::SampleExtra {
                            start_ms: 0,
                            histogram: Some(histogram(round, false)),
                            exemplar: Some(exemplar(round, t)),
                        }
                    ),
                )
            } else if name.contains("ext_float_hist") {
                (
                    0,
                    format!(
                        "{:?}",
                        promrw::model::SampleExtra {
                            start_ms: t0 - 1000,
                            histogram: Some(histogram(round, true)),
                            exemplar: None,
                        }
                    ),
                )
            } else if name.contains("ext_counter_total") {
                (
                    (round as f64).to_bits(),
                    format!(
                        "{:?}",
                        promrw::model::SampleExtra {
                            start_ms: t0 - 5000,
                            histogram: None,
                            exemplar: Some(exemplar(round, t)),
                        }
                    ),
                )
            } else {
                ((-(round as f64)).to_bits(), String::new())
            };
            assert_eq!((*bits, extra.clone()), want, "{name} round {round}");
        }
    }
    assert_eq!(with_metadata.len(), 2, "{with_metadata:?}");
    for (name, m) in &with_metadata {
        let metric = if name.contains("ext_int_hist") {
            "ext_int_hist"
        } else {
            "ext_float_hist"
        };
        assert_eq!(*m, metadata(metric));
    }

    // A new sender on the same directory replays every item and finishes each one exactly
    // once: the floats are delivered, the histograms and exemplars this 1.0 endpoint is not
    // configured for are dropped and counted by kind, and nothing is left behind.
    let receiver = FaultReceiver::start();
    let sender = wal_sender(&receiver.url(), dir.path());
    let stats = sender.stats();
    assert_eq!(stats.endpoints[0].wal_samples_replayed, synced as u64);
    sender.flush(Duration::from_secs(30)).unwrap();
    // The feeder recomputes the cursor within 50 ms of the last acknowledgement.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sender.stats().endpoints[0].wal_lag_samples > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = sender.stats();
    let endpoint = &stats.endpoints[0];
    assert_eq!((endpoint.wal_lag_samples, endpoint.wal_lag_bytes), (0, 0));
    let rounds = ROUNDS as u64;
    assert_eq!(endpoint.samples_acked, 2 * rounds, "{endpoint:?}");
    assert_eq!(
        endpoint
            .histograms
            .dropped(ExtraDropReason::NativeHistogramsDisabled),
        2 * rounds
    );
    assert_eq!(
        endpoint
            .exemplars
            .dropped(ExtraDropReason::NativeHistogramsDisabled),
        rounds
    );
    assert_eq!(
        endpoint
            .exemplars
            .dropped(ExtraDropReason::ExemplarsDisabled),
        rounds
    );
    for (name, sign) in [("ext_counter_total", 1.0), ("ext_plain", -1.0)] {
        let stored = receiver.store().samples(&[("__name__", name)]).unwrap();
        let want: Vec<(i64, u64)> = (0..ROUNDS)
            .map(|round| (t0 + round, (sign * round as f64).to_bits()))
            .collect();
        assert_eq!(stored, want, "{name}");
    }
    sender.close(Duration::from_secs(10)).unwrap();
    // Nothing is left to send: a third sender replays nothing.
    let sender = wal_sender(&receiver.url(), dir.path());
    assert_eq!(sender.stats().endpoints[0].wal_samples_replayed, 0);
    sender.close(Duration::from_secs(10)).unwrap();
}

/// End to end: what a SIGKILLed sender synced is replayed by the next one to a Remote Write
/// 2.0 endpoint and read back from the validating receiver exactly: floats with their start
/// timestamps, integer and float (custom-bucket) histograms, exemplars and metadata.
#[test]
fn extended_items_and_metadata_logged_before_sigkill_reach_a_2_0_receiver_exactly() {
    use promrw_tools::receiver::decode_v2::histogram_from_proto;
    use promrw_tools::receiver::server::validating_handler;
    use promrw_tools::receiver::{ProtocolMode, Receiver, ReceiverOptions, SampleStore};

    let dir = TempDir::new("wal-extended-e2e");
    let t0 = now_ms() - 10_000;
    let synced = run_and_kill_child(dir.path(), t0);
    let receiver = Receiver::start_with(
        "127.0.0.1:0",
        2,
        std::sync::Arc::new(SampleStore::new(true)),
        validating_handler(),
        None,
        ReceiverOptions {
            protocol: ProtocolMode::Both,
        },
    )
    .expect("start receiver");
    let sender = wal_sender_with(
        &receiver.url(),
        dir.path(),
        "    protobuf_message: io.prometheus.write.v2.Request\n    send_exemplars: true\n",
    );
    assert_eq!(
        sender.stats().endpoints[0].wal_samples_replayed,
        synced as u64
    );
    sender.flush(Duration::from_secs(30)).unwrap();
    let store = receiver.store();
    let rounds = ROUNDS as u64;
    for (name, float) in [("ext_int_hist", false), ("ext_float_hist", true)] {
        let got: Vec<(i64, Histogram)> = store
            .histograms(&[("__name__", name)])
            .expect("histograms stored")
            .iter()
            .map(|(t, h)| (*t, histogram_from_proto(h).expect("valid histogram")))
            .collect();
        let want: Vec<(i64, Histogram)> = (0..ROUNDS)
            .map(|round| (t0 + round, histogram(round, float)))
            .collect();
        assert_eq!(got, want, "{name}");
        let metadata_got = store
            .metadata(&[("__name__", name)])
            .expect("metadata sent with the series");
        assert_eq!(
            (
                metadata_got.metric_type,
                metadata_got.help.clone(),
                metadata_got.unit.clone()
            ),
            (3, format!("help of {name}"), "seconds".to_string())
        );
    }
    for (name, sign) in [("ext_counter_total", 1.0), ("ext_plain", -1.0)] {
        let stored = store.samples(&[("__name__", name)]).unwrap();
        let want: Vec<(i64, u64)> = (0..ROUNDS)
            .map(|round| (t0 + round, (sign * round as f64).to_bits()))
            .collect();
        assert_eq!(stored, want, "{name}");
    }
    for name in ["ext_int_hist", "ext_counter_total"] {
        let mut got: Vec<(String, u64, i64)> = store
            .exemplars(&[("__name__", name)])
            .expect("exemplars stored")
            .into_iter()
            .map(|e| (e.labels[0].1.clone(), e.value_bits, e.timestamp))
            .collect();
        got.sort();
        let mut want: Vec<(String, u64, i64)> = (0..ROUNDS)
            .map(|round| {
                (
                    format!("{round:08x}"),
                    (round as f64).to_bits(),
                    t0 + round - 1,
                )
            })
            .collect();
        want.sort();
        assert_eq!(got, want, "{name}");
    }
    let totals = store.totals();
    assert_eq!(totals.duplicates + totals.histogram_duplicates, 0);
    let stats = sender.stats();
    let endpoint = &stats.endpoints[0];
    assert_eq!(endpoint.samples_acked, 2 * rounds);
    assert_eq!(endpoint.histograms.acked, 2 * rounds);
    assert_eq!(endpoint.exemplars.acked, 2 * rounds);
    sender.close(Duration::from_secs(10)).unwrap();
}
