//! The round trip of `tests/real_prometheus.rs` and `tests/real_victoriametrics.rs` (1,000
//! series x 300 samples with special floats and awkward labels), driven through the C ABI
//! (`promrw::ffi::promrw_*`) with one sender writing to both real receivers at once.

mod real_receivers;

use std::ffi::CStr;
use std::ptr;

use promrw::ffi::*;
use real_receivers::Kind::{Prometheus, VictoriaMetrics};
use real_receivers::data::{assert_stored, expected, round_trip_dataset};
use real_receivers::scenarios::{selector, sender_yaml, window};
use real_receivers::{RealReceiver, now_ms, skip};

/// Panics with the error's code and message (freeing it) unless `status` is `PROMRW_OK`.
fn check(status: promrw_status, err: *mut promrw_error, what: &str) {
    if status == PROMRW_OK {
        assert!(err.is_null(), "{what}: error set on success");
        return;
    }
    let message = if err.is_null() {
        String::from("(no error object)")
    } else {
        // SAFETY: `err` is a live error from the library, freed exactly once here.
        unsafe {
            let text = CStr::from_ptr(promrw_error_message(err))
                .to_string_lossy()
                .into_owned();
            promrw_error_free(err);
            text
        }
    };
    panic!("{what}: status {status}: {message}");
}

#[test]
fn round_trip_through_the_c_abi_to_both_receivers_is_exact() {
    if skip("real_c_abi::round_trip") {
        return;
    }
    let prometheus = RealReceiver::start(Prometheus);
    let victoria = RealReceiver::start(VictoriaMetrics);
    let metric = "promrw_c_abi_round_trip";
    let specs = round_trip_dataset(metric, 1000, 300, now_ms() - 1000);
    let yaml = sender_yaml(
        &[
            ("prometheus", &prometheus.write_url()),
            ("victoriametrics", &victoria.write_url()),
        ],
        "      min_shards: 4\n      capacity: 100000\n",
    );

    let mut err: *mut promrw_error = ptr::null_mut();
    let mut cfg: *mut promrw_config = ptr::null_mut();
    // SAFETY: the text is borrowed for the call; `cfg` and `err` are valid out pointers.
    let status =
        unsafe { promrw_config_from_yaml(yaml.as_ptr().cast(), yaml.len(), &mut cfg, &mut err) };
    check(status, err, "promrw_config_from_yaml");
    let mut sender: *mut promrw_sender = ptr::null_mut();
    // SAFETY: `cfg` is live and freed once, after the sender copied it.
    unsafe {
        let status = promrw_sender_new(cfg, &mut sender, &mut err);
        promrw_config_free(cfg);
        check(status, err, "promrw_sender_new");
    }

    let refs: Vec<promrw_series_ref> = specs
        .iter()
        .map(|spec| {
            let labels: Vec<promrw_label> = spec
                .labels
                .iter()
                .map(|(n, v)| promrw_label {
                    name: n.as_ptr().cast(),
                    name_len: n.len(),
                    value: v.as_ptr().cast(),
                    value_len: v.len(),
                })
                .collect();
            let mut r: promrw_series_ref = 0;
            // SAFETY: `labels` and the strings they point to outlive the call.
            let status = unsafe {
                promrw_sender_series(sender, labels.as_ptr(), labels.len(), &mut r, &mut err)
            };
            check(status, err, "promrw_sender_series");
            r
        })
        .collect();
    let mut appended = 0u64;
    for j in 0..300 {
        for (spec, r) in specs.iter().zip(&refs) {
            let (t, v) = spec.samples[j];
            // SAFETY: `sender` is live.
            let status = unsafe { promrw_sender_append(sender, *r, t, v) };
            assert_eq!(status, PROMRW_OK, "append");
            appended += 1;
        }
    }
    assert_eq!(appended, 300_000);
    // SAFETY: `sender` is live.
    assert_eq!(unsafe { promrw_sender_flush(sender, 120_000) }, PROMRW_OK);
    let mut stats = promrw_stats {
        struct_size: size_of::<promrw_stats>(),
        ..Default::default()
    };
    // SAFETY: `sender` is live; `stats` is a valid out pointer.
    assert_eq!(
        unsafe { promrw_sender_stats(sender, &mut stats) },
        PROMRW_OK
    );
    assert_eq!(stats.samples_appended, appended, "{stats:?}");
    assert_eq!(stats.endpoints, 2, "{stats:?}");
    assert_eq!(stats.samples_failed, 0, "{stats:?}");
    assert_eq!(stats.samples_pending, 0, "{stats:?}");
    // SAFETY: `sender` is live and not used after the free.
    unsafe {
        assert_eq!(promrw_sender_close(sender, 10_000), PROMRW_OK);
        promrw_sender_free(sender);
    }

    let (start, end) = window(&specs);
    for receiver in [&prometheus, &victoria] {
        let kind = receiver.kind();
        assert_stored(
            &format!("{} through the C ABI", kind.name()),
            receiver,
            &selector(metric),
            (start, end),
            &expected(kind, &specs),
        );
    }
}
