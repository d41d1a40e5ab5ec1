//! The C ABI, called directly through `promrw::ffi::*` against a real loopback receiver:
//! status codes, NULL handling, label checks at the boundary, appends, flush, stats, metrics
//! text, close semantics, the panic boundary and the log callback's lifecycle.

use std::ffi::{CStr, c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use promrw::ErrorKind;
use promrw::ffi::*;
use promrw_tools::receiver::server::validating_handler;
use promrw_tools::receiver::{Handler, Receiver, Reply, RequestInfo, SampleStore};

mod common;

/// Every status code of this version with its published value.
const STATUSES: [(promrw_status, u32); 15] = [
    (PROMRW_OK, 0),
    (PROMRW_INVALID_ARGUMENT, 100),
    (PROMRW_INVALID_CONFIG, 101),
    (PROMRW_INVALID_LABELS, 102),
    (PROMRW_UNKNOWN_SERIES, 103),
    (PROMRW_BUFFER_TOO_SMALL, 104),
    (PROMRW_OUT_OF_ORDER, 200),
    (PROMRW_QUEUE_FULL, 201),
    (PROMRW_CLOSED, 202),
    (PROMRW_TIMEOUT, 300),
    (PROMRW_SHARD_DEAD, 301),
    (PROMRW_IO, 302),
    (PROMRW_SAMPLES_LOST, 303),
    (PROMRW_FORKED, 304),
    (PROMRW_PANIC, 900),
];

/// A receiver on 127.0.0.1 answering with `handler`.
fn receiver_with(handler: Handler) -> Receiver {
    Receiver::start(
        "127.0.0.1:0",
        2,
        Arc::new(SampleStore::new(true)),
        handler,
        None,
    )
    .expect("start receiver")
}

/// A validating receiver that accepts every valid request.
fn receiver() -> Receiver {
    receiver_with(validating_handler())
}

/// YAML for one endpoint at `url` with fast test timings; `queue` adds queue_config lines.
fn yaml(url: &str, queue: &str) -> String {
    format!(
        "remote_write:\n  - url: {url}\n    name: ffi\n    remote_timeout: 2s\n    queue_config:\n      min_backoff: 10ms\n      max_backoff: 100ms\n      batch_send_deadline: 50ms\n{queue}"
    )
}

/// Takes the message of an error and frees it.
fn take_error(err: *mut promrw_error) -> (promrw_status, String) {
    assert!(!err.is_null(), "an error was expected");
    // SAFETY: `err` is a live error from the library, freed exactly once here.
    unsafe {
        let code = promrw_error_code(err);
        let message = promrw_error_message(err);
        assert!(!message.is_null());
        let message = CStr::from_ptr(message).to_str().unwrap().to_string();
        promrw_error_free(err);
        (code, message)
    }
}

/// A config from text, asserting success.
fn config(text: &str) -> *mut promrw_config {
    let mut cfg = ptr::null_mut();
    let mut err = ptr::null_mut();
    // SAFETY: the text is borrowed for the call; `cfg` and `err` are valid out pointers.
    let status =
        unsafe { promrw_config_from_yaml(text.as_ptr().cast(), text.len(), &mut cfg, &mut err) };
    assert_eq!(
        status,
        PROMRW_OK,
        "{:?}",
        (!err.is_null()).then(|| take_error(err))
    );
    assert!(!cfg.is_null());
    assert!(err.is_null(), "err is left unchanged on success");
    cfg
}

/// A sender from text (the config is freed at once: the sender keeps its own copy).
fn sender(text: &str) -> *mut promrw_sender {
    let cfg = config(text);
    let mut s = ptr::null_mut();
    let mut err = ptr::null_mut();
    // SAFETY: `cfg` is live; `s` and `err` are valid out pointers; `cfg` is freed once.
    unsafe {
        let status = promrw_sender_new(cfg, &mut s, &mut err);
        assert_eq!(
            status,
            PROMRW_OK,
            "{:?}",
            (!err.is_null()).then(|| take_error(err))
        );
        promrw_config_free(cfg);
    }
    assert!(!s.is_null());
    s
}

/// A label from byte strings.
fn label(name: &[u8], value: &[u8]) -> promrw_label {
    promrw_label {
        name: name.as_ptr().cast(),
        name_len: name.len(),
        value: value.as_ptr().cast(),
        value_len: value.len(),
    }
}

/// Registers a series; returns the status, the ref (0 when not written) and the error.
fn try_series(
    s: *const promrw_sender,
    labels: &[promrw_label],
) -> (
    promrw_status,
    promrw_series_ref,
    Option<(promrw_status, String)>,
) {
    let mut out: promrw_series_ref = 0;
    let mut err = ptr::null_mut();
    // SAFETY: `labels` and the strings they point to live for the call; out pointers are valid.
    let status =
        unsafe { promrw_sender_series(s, labels.as_ptr(), labels.len(), &mut out, &mut err) };
    let error = (!err.is_null()).then(|| take_error(err));
    (status, out, error)
}

/// Registers a series, asserting success.
fn series(s: *const promrw_sender, pairs: &[(&str, &str)]) -> promrw_series_ref {
    let labels: Vec<promrw_label> = pairs
        .iter()
        .map(|(n, v)| label(n.as_bytes(), v.as_bytes()))
        .collect();
    let (status, r, error) = try_series(s, &labels);
    assert_eq!(status, PROMRW_OK, "{error:?}");
    assert_ne!(r, 0);
    r
}

/// A stats snapshot, asserting success.
fn stats(s: *const promrw_sender) -> promrw_stats {
    let mut out = promrw_stats {
        struct_size: size_of::<promrw_stats>(),
        ..Default::default()
    };
    // SAFETY: `s` is live; `out` is a valid out pointer.
    assert_eq!(unsafe { promrw_sender_stats(s, &mut out) }, PROMRW_OK);
    out
}

/// The metrics text, asserting success.
fn metrics_text(s: *const promrw_sender) -> String {
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0usize;
    // SAFETY: `buf` is writable for its length; `len` is a valid out pointer.
    let status =
        unsafe { promrw_sender_metrics_text(s, buf.as_mut_ptr().cast(), buf.len(), &mut len) };
    assert_eq!(status, PROMRW_OK);
    assert_eq!(buf[len], 0, "NUL-terminated");
    String::from_utf8(buf[..len].to_vec()).unwrap()
}

/// Closes (asserting `expected`) and frees a sender.
fn close_and_free(s: *mut promrw_sender, expected: promrw_status) {
    // SAFETY: `s` is live and not used after the free.
    unsafe {
        assert_eq!(promrw_sender_close(s, 5_000), expected);
        promrw_sender_free(s);
    }
}

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn config_from_yaml_and_json() {
    let recv = receiver();
    let cfg = config(&yaml(&recv.url(), "      capacity: 100\n"));
    let json = format!(r#"{{"remote_write": [{{"url": "{}"}}]}}"#, recv.url());
    let cfg_json = config(&json);
    // SAFETY: both configs are live and freed once.
    unsafe {
        promrw_config_free(cfg);
        promrw_config_free(cfg_json);
    }
}

#[test]
fn invalid_config_names_the_field_and_writes_no_output() {
    let text = "remote_write:\n  - url: http://127.0.0.1:1/write\n    queue_config:\n      capacityy: 10\n";
    let sentinel = ptr::dangling_mut::<promrw_config>();
    let mut cfg = sentinel;
    let mut err = ptr::null_mut();
    // SAFETY: the text lives for the call; out pointers are valid.
    let status =
        unsafe { promrw_config_from_yaml(text.as_ptr().cast(), text.len(), &mut cfg, &mut err) };
    assert_eq!(status, PROMRW_INVALID_CONFIG);
    assert_eq!(cfg, sentinel, "out is written only on success");
    let (code, message) = take_error(err);
    assert_eq!(code, PROMRW_INVALID_CONFIG);
    assert!(
        message.contains("remote_write[0].queue_config"),
        "{message}"
    );
    assert!(message.contains("capacityy"), "{message}");

    // err == NULL is accepted.
    // SAFETY: as above, with no error wanted.
    let status = unsafe {
        promrw_config_from_yaml(text.as_ptr().cast(), text.len(), &mut cfg, ptr::null_mut())
    };
    assert_eq!(status, PROMRW_INVALID_CONFIG);

    // Invalid UTF-8 in the text is an invalid config, not a crash.
    let bad = b"remote_write:\n  - url: http://\xff/\n";
    let mut err = ptr::null_mut();
    // SAFETY: as above.
    let status =
        unsafe { promrw_config_from_yaml(bad.as_ptr().cast(), bad.len(), &mut cfg, &mut err) };
    assert_eq!(status, PROMRW_INVALID_CONFIG);
    let (_, message) = take_error(err);
    assert!(message.contains("UTF-8"), "{message}");

    // NULL with length 0 is the empty text, which has no endpoint.
    let mut err = ptr::null_mut();
    // SAFETY: NULL with length 0 is allowed.
    let status = unsafe { promrw_config_from_yaml(ptr::null(), 0, &mut cfg, &mut err) };
    assert_eq!(status, PROMRW_INVALID_CONFIG);
    assert!(take_error(err).1.contains("at least one endpoint"));
    assert_eq!(cfg, sentinel);
}

#[test]
fn null_arguments_give_invalid_argument() {
    let recv = receiver();
    let text = yaml(&recv.url(), "");
    let cfg = config(&text);
    let s = sender(&text);
    let r = series(s, &[("__name__", "up")]);
    let mut cfg_out = ptr::null_mut();
    let mut s_out = ptr::null_mut();
    let mut ref_out: promrw_series_ref = 0;
    let mut n_out = 7usize;
    let mut st = promrw_stats {
        struct_size: size_of::<promrw_stats>(),
        ..Default::default()
    };
    let mut buf = [0u8; 16];
    let mut err = ptr::null_mut();
    let one = [label(b"__name__", b"x")];
    let sample = [promrw_sample {
        series: r,
        timestamp_ms: 1,
        value: 1.0,
    }];

    // SAFETY: every non-NULL pointer passed is valid; NULLs are what is being tested.
    unsafe {
        // config
        assert_eq!(
            promrw_config_from_yaml(text.as_ptr().cast(), text.len(), ptr::null_mut(), &mut err),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(take_error(err).0, PROMRW_INVALID_ARGUMENT);
        err = ptr::null_mut();
        assert_eq!(
            promrw_config_from_yaml(ptr::null(), 5, &mut cfg_out, ptr::null_mut()),
            PROMRW_INVALID_ARGUMENT
        );
        assert!(cfg_out.is_null());
        assert_eq!(
            promrw_config_set_log_callback(
                ptr::null_mut(),
                PROMRW_LOG_INFO,
                Some(record_log),
                ptr::null_mut(),
                None
            ),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_config_set_log_callback(cfg, PROMRW_LOG_INFO, None, ptr::null_mut(), None),
            PROMRW_INVALID_ARGUMENT
        );

        // sender_new
        assert_eq!(
            promrw_sender_new(ptr::null(), &mut s_out, &mut err),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(take_error(err).0, PROMRW_INVALID_ARGUMENT);
        err = ptr::null_mut();
        assert_eq!(
            promrw_sender_new(cfg, ptr::null_mut(), ptr::null_mut()),
            PROMRW_INVALID_ARGUMENT
        );
        assert!(s_out.is_null());

        // series
        assert_eq!(
            promrw_sender_series(ptr::null(), one.as_ptr(), 1, &mut ref_out, ptr::null_mut()),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_series(s, one.as_ptr(), 1, ptr::null_mut(), ptr::null_mut()),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_series(s, ptr::null(), 1, &mut ref_out, &mut err),
            PROMRW_INVALID_ARGUMENT
        );
        assert!(take_error(err).1.contains("labels"));
        let null_name = [promrw_label {
            name: ptr::null(),
            name_len: 3,
            value: b"v".as_ptr().cast(),
            value_len: 1,
        }];
        assert_eq!(
            promrw_sender_series(s, null_name.as_ptr(), 1, &mut ref_out, ptr::null_mut()),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(ref_out, 0, "out is written only on success");
        assert_eq!(
            promrw_sender_release_series(ptr::null(), r),
            PROMRW_INVALID_ARGUMENT
        );

        // appends
        assert_eq!(
            promrw_sender_append(ptr::null(), r, 1, 1.0),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_append_stale(ptr::null(), r, 1),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_append_batch(ptr::null(), sample.as_ptr(), 1, &mut n_out),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_append_batch(s, ptr::null(), 1, &mut n_out),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_append_batch(s, sample.as_ptr(), 1, ptr::null_mut()),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(n_out, 7, "accepted_out is not written on invalid arguments");

        // flush, close, stats, metrics
        assert_eq!(
            promrw_sender_flush(ptr::null(), 10),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(promrw_sender_sync(ptr::null(), 10), PROMRW_INVALID_ARGUMENT);
        assert_eq!(
            promrw_sender_close(ptr::null_mut(), 10),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_stats(ptr::null(), &mut st),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_stats(s, ptr::null_mut()),
            PROMRW_INVALID_ARGUMENT
        );
        let mut len = 0usize;
        assert_eq!(
            promrw_sender_metrics_text(ptr::null(), buf.as_mut_ptr().cast(), buf.len(), &mut len),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_metrics_text(s, buf.as_mut_ptr().cast(), buf.len(), ptr::null_mut()),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_metrics_text(s, ptr::null_mut(), 10, &mut len),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(len, 0);

        // errors
        assert_eq!(promrw_error_code(ptr::null()), PROMRW_INVALID_ARGUMENT);
        assert!(promrw_error_message(ptr::null()).is_null());

        // frees accept NULL
        promrw_config_free(ptr::null_mut());
        promrw_sender_free(ptr::null_mut());
        promrw_error_free(ptr::null_mut());
    }
    // Nothing was appended by the failed calls.
    assert_eq!(stats(s).samples_appended, 0);
    // SAFETY: `cfg` is live and freed once.
    unsafe { promrw_config_free(cfg) };
    close_and_free(s, PROMRW_OK);
}

#[test]
fn invalid_labels_are_refused_at_the_boundary() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let cases: Vec<(Vec<promrw_label>, &str)> = vec![
        (
            vec![label(b"__name__", b"up"), label(b"1bad", b"v")],
            "1bad",
        ),
        (
            vec![
                label(b"__name__", b"up"),
                label(b"job", b"a"),
                label(b"job", b"b"),
            ],
            "duplicate",
        ),
        (
            vec![label(b"__name__", b"up"), label(b"job", b"ok\xff")],
            "label 1: value is not valid UTF-8",
        ),
        (
            vec![label(b"na\xc3me", b"v")],
            "label 0: name is not valid UTF-8",
        ),
        (vec![], "empty"),
    ];
    for (labels, expected) in cases {
        let (status, r, error) = try_series(s, &labels);
        assert_eq!(status, PROMRW_INVALID_LABELS, "{expected}: {error:?}");
        assert_eq!(r, 0, "out is written only on success");
        let (code, message) = error.expect("an error object");
        assert_eq!(code, PROMRW_INVALID_LABELS);
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    // err == NULL is accepted.
    let bad = [label(b"1bad", b"v")];
    let mut r = 0;
    // SAFETY: valid pointers; no error wanted.
    let status = unsafe { promrw_sender_series(s, bad.as_ptr(), 1, &mut r, ptr::null_mut()) };
    assert_eq!(status, PROMRW_INVALID_LABELS);
    assert_eq!(stats(s).series, 0);
    close_and_free(s, PROMRW_OK);
}

#[test]
fn appends_reach_the_receiver_and_show_in_stats() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let r = series(s, &[("job", "ffi"), ("__name__", "ffi_up")]);
    assert_eq!(
        series(s, &[("__name__", "ffi_up"), ("job", "ffi")]),
        r,
        "same labels, same ref"
    );
    let t = now_ms();
    let batch = [
        promrw_sample {
            series: r,
            timestamp_ms: t + 1,
            value: 2.0,
        },
        promrw_sample {
            series: r,
            timestamp_ms: t + 2,
            value: 3.0,
        },
        promrw_sample {
            series: r,
            timestamp_ms: t + 3,
            value: 4.0,
        },
    ];
    let mut accepted = 0usize;
    // SAFETY: `s` is live; the batch and out pointers are valid for the calls.
    unsafe {
        assert_eq!(promrw_sender_append(s, r, t, 1.0), PROMRW_OK);
        assert_eq!(
            promrw_sender_append_batch(s, batch.as_ptr(), batch.len(), &mut accepted),
            PROMRW_OK
        );
        assert_eq!(accepted, 3);
        assert_eq!(
            promrw_sender_append_batch(s, ptr::null(), 0, &mut accepted),
            PROMRW_OK
        );
        assert_eq!(accepted, 0, "an empty batch accepts nothing");
        assert_eq!(promrw_sender_append_stale(s, r, t + 4), PROMRW_OK);
        assert_eq!(promrw_sender_flush(s, 10_000), PROMRW_OK);
    }
    let got = recv
        .store()
        .samples(&[("__name__", "ffi_up"), ("job", "ffi")])
        .expect("series stored");
    let values: Vec<(i64, u64)> = got.clone();
    assert_eq!(values.len(), 5, "{values:?}");
    assert_eq!(values[0], (t, 1.0f64.to_bits()));
    assert_eq!(values[3], (t + 3, 4.0f64.to_bits()));
    assert_eq!(
        values[4],
        (t + 4, promrw::STALE_NAN_BITS),
        "stale marker bits unchanged"
    );

    let st = stats(s);
    assert_eq!(st.samples_appended, 5);
    assert_eq!(st.samples_acked, 5);
    assert_eq!(st.samples_failed, 0);
    assert_eq!(st.samples_pending, 0);
    assert_eq!(st.series, 1);
    assert_eq!(st.endpoints, 1);
    assert!(st.shards >= 1);
    assert!(st.bytes_total > 0);
    assert!(st.batches_acked >= 1);
    assert_eq!(st.highest_enqueued_ms, t + 4);
    assert_eq!(st.highest_sent_ms, t + 4);
    close_and_free(s, PROMRW_OK);
}

#[test]
fn columns_append_one_or_many_series_and_stop_at_the_first_refusal() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let a = series(s, &[("__name__", "col_a")]);
    let b = series(s, &[("__name__", "col_b")]);
    let t = now_ms();
    let mut accepted = usize::MAX;
    // SAFETY: `s` is live; every array holds the length passed with it.
    unsafe {
        let one = [a];
        let ts = [t, t + 1, t + 2];
        let vs = [1.0, 2.0, 3.0];
        assert_eq!(
            promrw_sender_append_columns(
                s,
                one.as_ptr(),
                1,
                ts.as_ptr(),
                vs.as_ptr(),
                3,
                &mut accepted
            ),
            PROMRW_OK
        );
        assert_eq!(accepted, 3);
        let many = [b, a, b];
        let ts2 = [t, t + 3, t + 1];
        let vs2 = [10.0, 4.0, 11.0];
        assert_eq!(
            promrw_sender_append_columns(
                s,
                many.as_ptr(),
                3,
                ts2.as_ptr(),
                vs2.as_ptr(),
                3,
                &mut accepted
            ),
            PROMRW_OK
        );
        assert_eq!(accepted, 3);
        // The second sample is out of order: one accepted, then the refusal.
        let ts3 = [t + 5, t + 5];
        assert_eq!(
            promrw_sender_append_columns(
                s,
                one.as_ptr(),
                1,
                ts3.as_ptr(),
                vs.as_ptr(),
                2,
                &mut accepted
            ),
            PROMRW_OUT_OF_ORDER
        );
        assert_eq!(accepted, 1);
        let two = [a, b];
        accepted = 77;
        assert_eq!(
            promrw_sender_append_columns(
                s,
                two.as_ptr(),
                2,
                ts.as_ptr(),
                vs.as_ptr(),
                3,
                &mut accepted
            ),
            PROMRW_INVALID_ARGUMENT,
            "series_len must be 1 or n"
        );
        assert_eq!(accepted, 77, "nothing written on invalid arguments");
        assert_eq!(
            promrw_sender_append_columns(
                s,
                one.as_ptr(),
                1,
                ptr::null(),
                vs.as_ptr(),
                3,
                &mut accepted
            ),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_append_columns(
                s,
                ptr::null(),
                0,
                ptr::null(),
                ptr::null(),
                0,
                &mut accepted
            ),
            PROMRW_OK
        );
        assert_eq!(accepted, 0);
        assert_eq!(promrw_sender_flush(s, 10_000), PROMRW_OK);
    }
    let got_a = recv
        .store()
        .samples(&[("__name__", "col_a")])
        .expect("a stored");
    let got_b = recv
        .store()
        .samples(&[("__name__", "col_b")])
        .expect("b stored");
    let values = |v: &[(i64, u64)]| {
        v.iter()
            .map(|(t, bits)| (*t, f64::from_bits(*bits)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        values(&got_a),
        vec![
            (t, 1.0),
            (t + 1, 2.0),
            (t + 2, 3.0),
            (t + 3, 4.0),
            (t + 5, 1.0)
        ]
    );
    assert_eq!(values(&got_b), vec![(t, 10.0), (t + 1, 11.0)]);
    close_and_free(s, PROMRW_OK);
}

#[test]
fn refusals_map_to_their_status_codes() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let r = series(s, &[("__name__", "ordered")]);
    let t = now_ms();
    let mut accepted = 99usize;
    // SAFETY: `s` is live; the batch and out pointers are valid for the calls.
    unsafe {
        assert_eq!(promrw_sender_append(s, r, t, 1.0), PROMRW_OK);
        assert_eq!(promrw_sender_append(s, r, t, 2.0), PROMRW_OUT_OF_ORDER);
        assert_eq!(promrw_sender_append(s, r, t - 1, 2.0), PROMRW_OUT_OF_ORDER);
        assert_eq!(promrw_sender_append_stale(s, r, t), PROMRW_OUT_OF_ORDER);
        let batch = [
            promrw_sample {
                series: r,
                timestamp_ms: t + 1,
                value: 1.0,
            },
            promrw_sample {
                series: r,
                timestamp_ms: t + 1,
                value: 1.0,
            },
            promrw_sample {
                series: r,
                timestamp_ms: t + 2,
                value: 1.0,
            },
        ];
        assert_eq!(
            promrw_sender_append_batch(s, batch.as_ptr(), 3, &mut accepted),
            PROMRW_OUT_OF_ORDER
        );
        assert_eq!(accepted, 1, "the prefix before the refused sample");

        assert_eq!(promrw_sender_append(s, 0, t, 1.0), PROMRW_UNKNOWN_SERIES);
        assert_eq!(promrw_sender_release_series(s, r), PROMRW_OK);
        assert_eq!(promrw_sender_release_series(s, r), PROMRW_UNKNOWN_SERIES);
        assert_eq!(
            promrw_sender_append(s, r, t + 10, 1.0),
            PROMRW_UNKNOWN_SERIES
        );
    }
    let st = stats(s);
    assert_eq!(st.samples_appended, 2);
    assert_eq!(st.rejected_out_of_order, 4);
    assert_eq!(st.rejected_unknown_series, 2);
    assert_eq!(st.series, 0);
    close_and_free(s, PROMRW_OK);
}

#[test]
fn status_of_maps_every_error_kind_to_one_distinct_code() {
    let kinds = [
        (ErrorKind::InvalidArgument, PROMRW_INVALID_ARGUMENT),
        (ErrorKind::InvalidConfig, PROMRW_INVALID_CONFIG),
        (ErrorKind::InvalidLabels, PROMRW_INVALID_LABELS),
        (ErrorKind::UnknownSeries, PROMRW_UNKNOWN_SERIES),
        (ErrorKind::OutOfOrder, PROMRW_OUT_OF_ORDER),
        (ErrorKind::QueueFull, PROMRW_QUEUE_FULL),
        (ErrorKind::Closed, PROMRW_CLOSED),
        (ErrorKind::Timeout, PROMRW_TIMEOUT),
        (ErrorKind::ShardDead, PROMRW_SHARD_DEAD),
        (ErrorKind::Io, PROMRW_IO),
        (ErrorKind::SamplesLost, PROMRW_SAMPLES_LOST),
        (ErrorKind::Forked, PROMRW_FORKED),
    ];
    for (kind, code) in kinds {
        assert_eq!(status_of(kind), code, "{kind:?}");
    }
}

#[test]
fn metrics_text_reports_the_size_needed_and_leaves_a_small_buffer_untouched() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let r = series(s, &[("__name__", "m")]);
    // SAFETY: `s` is live.
    unsafe {
        assert_eq!(promrw_sender_append(s, r, now_ms(), 1.0), PROMRW_OK);
        assert_eq!(promrw_sender_flush(s, 10_000), PROMRW_OK);
    }
    let mut needed = 0usize;
    // SAFETY: NULL with capacity 0 asks for the size; `needed` is a valid out pointer.
    let status = unsafe { promrw_sender_metrics_text(s, ptr::null_mut(), 0, &mut needed) };
    assert_eq!(status, PROMRW_BUFFER_TOO_SMALL);
    assert!(needed > 100, "{needed}");

    let mut small = vec![0xAAu8; needed - 1];
    let mut len = 0usize;
    // SAFETY: `small` is writable for its length.
    let status =
        unsafe { promrw_sender_metrics_text(s, small.as_mut_ptr().cast(), small.len(), &mut len) };
    assert_eq!(status, PROMRW_BUFFER_TOO_SMALL);
    assert_eq!(len, needed, "size needed, NUL included");
    assert!(
        small.iter().all(|b| *b == 0xAA),
        "nothing written to a too-small buffer"
    );

    let mut exact = vec![0xAAu8; needed];
    // SAFETY: `exact` is writable for its length.
    let status =
        unsafe { promrw_sender_metrics_text(s, exact.as_mut_ptr().cast(), exact.len(), &mut len) };
    assert_eq!(status, PROMRW_OK);
    assert_eq!(len, needed - 1, "length without the NUL");
    assert_eq!(exact[len], 0);
    let text = std::str::from_utf8(&exact[..len]).unwrap();
    assert!(text.contains("promrw_samples_appended_total 1\n"), "{text}");
    assert!(!text.contains('\0'));

    let big = metrics_text(s);
    assert_eq!(big, text, "an idle sender's text is stable");
    close_and_free(s, PROMRW_OK);
}

#[test]
fn after_close_every_call_returns_closed() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let r = series(s, &[("__name__", "c")]);
    // SAFETY: `s` is live until the free at the end; other pointers are valid.
    unsafe {
        assert_eq!(promrw_sender_append(s, r, now_ms(), 1.0), PROMRW_OK);
        assert_eq!(promrw_sender_close(s, 5_000), PROMRW_OK);
        assert_eq!(
            recv.store().totals().accepted,
            1,
            "close sent what was queued"
        );

        let one = [label(b"__name__", b"other")];
        let mut out = 0;
        let mut err = ptr::null_mut();
        assert_eq!(
            promrw_sender_series(s, one.as_ptr(), 1, &mut out, &mut err),
            PROMRW_CLOSED
        );
        assert_eq!(take_error(err).0, PROMRW_CLOSED);
        assert_eq!(out, 0);
        assert_eq!(promrw_sender_release_series(s, r), PROMRW_CLOSED);
        assert_eq!(promrw_sender_append(s, r, now_ms() + 1, 1.0), PROMRW_CLOSED);
        assert_eq!(
            promrw_sender_append_stale(s, r, now_ms() + 2),
            PROMRW_CLOSED
        );
        let mut accepted = 5usize;
        assert_eq!(
            promrw_sender_append_batch(s, ptr::null(), 0, &mut accepted),
            PROMRW_CLOSED
        );
        let batch = [promrw_sample {
            series: r,
            timestamp_ms: now_ms() + 3,
            value: 1.0,
        }];
        assert_eq!(
            promrw_sender_append_batch(s, batch.as_ptr(), 1, &mut accepted),
            PROMRW_CLOSED
        );
        assert_eq!(accepted, 5, "nothing written after close");
        assert_eq!(promrw_sender_flush(s, 100), PROMRW_CLOSED);
        assert_eq!(promrw_sender_sync(s, 100), PROMRW_CLOSED);
        assert_eq!(promrw_sender_close(s, 100), PROMRW_CLOSED);
        // Read-only calls keep working after close: the final counts can be read.
        let mut st = promrw_stats {
            struct_size: size_of::<promrw_stats>(),
            ..Default::default()
        };
        assert_eq!(promrw_sender_stats(s, &mut st), PROMRW_OK);
        assert_eq!((st.samples_appended, st.samples_acked), (1, 1));
        assert_eq!((st.shards, st.endpoints), (0, 1));
        // Each sample refused after close is counted: append, append_stale, a batch of one
        // (the empty batch refuses none).
        assert_eq!(st.rejected_closed, 3);
        let mut len = 0usize;
        assert_eq!(
            promrw_sender_metrics_text(s, ptr::null_mut(), 0, &mut len),
            PROMRW_BUFFER_TOO_SMALL
        );
        let mut text = vec![0u8; len];
        assert_eq!(
            promrw_sender_metrics_text(s, text.as_mut_ptr().cast(), text.len(), &mut len),
            PROMRW_OK
        );
        let text = String::from_utf8_lossy(&text[..len]).into_owned();
        assert!(text.contains("promrw_samples_appended_total 1"), "{text}");
        let mut report = promrw_report {
            struct_size: size_of::<promrw_report>(),
            ..promrw_report::default()
        };
        assert_eq!(
            promrw_sender_last_report(s, PROMRW_ALL_ENDPOINTS, &mut report),
            PROMRW_OK
        );
        assert_eq!((report.samples_failed, report.timed_out), (0, 0));
        promrw_sender_free(s);
    }
}

/// The report of the sender's last flush or close for `endpoint`.
fn last_report(s: *const promrw_sender, endpoint: usize) -> promrw_report {
    let mut report = promrw_report {
        struct_size: size_of::<promrw_report>(),
        ..promrw_report::default()
    };
    // SAFETY: `s` is live; `report` is a valid, sized out struct.
    let status = unsafe { promrw_sender_last_report(s, endpoint, &mut report) };
    assert_eq!(status, PROMRW_OK);
    report
}

/// The text of the sender's last report for `endpoint`.
fn last_report_text(s: *const promrw_sender, endpoint: usize) -> String {
    let mut len = 0usize;
    // SAFETY: `s` is live; NULL with 0 asks for the size; `len` is writable.
    let status =
        unsafe { promrw_sender_last_report_text(s, endpoint, ptr::null_mut(), 0, &mut len) };
    assert_eq!(status, PROMRW_BUFFER_TOO_SMALL);
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` has `len` writable bytes.
    let status = unsafe {
        promrw_sender_last_report_text(s, endpoint, buf.as_mut_ptr().cast(), buf.len(), &mut len)
    };
    assert_eq!(status, PROMRW_OK);
    String::from_utf8(buf[..len].to_vec()).unwrap()
}

#[test]
fn flush_after_rejected_samples_returns_samples_lost_with_the_counts_and_the_body() {
    for (status, body) in [
        (404, "404 page not found"),
        (401, "unauthorized: bad token"),
        (400, "out of order sample"),
    ] {
        let recv = receiver_with(Arc::new(move |_: &RequestInfo| Reply::status(status, body)));
        let s = sender(&yaml(&recv.url(), ""));
        let r = series(s, &[("__name__", "lost")]);
        let t = now_ms();
        // SAFETY: `s` is live until close_and_free.
        unsafe {
            for i in 0..5 {
                assert_eq!(promrw_sender_append(s, r, t + i, 1.0), PROMRW_OK);
            }
            assert_eq!(
                promrw_sender_flush(s, 5_000),
                PROMRW_SAMPLES_LOST,
                "{status}"
            );
        }
        for endpoint in [0, PROMRW_ALL_ENDPOINTS] {
            let report = last_report(s, endpoint);
            assert_eq!(report.samples_failed, 5, "{status}");
            assert_eq!(report.last_http_status, u32::from(status));
            assert_eq!((report.samples_pending, report.timed_out), (0, 0));
            assert!(report.last_error_unix_ms >= t, "{report:?}");
        }
        let text = last_report_text(s, 0);
        assert!(
            text.contains(&status.to_string()) && text.contains(body),
            "{text}"
        );
        let whole = last_report_text(s, PROMRW_ALL_ENDPOINTS);
        assert!(whole.starts_with("flush: 5 samples lost"), "{whole}");
        assert!(whole.contains(body), "{whole}");
        let st = stats(s);
        assert_eq!((st.samples_failed, st.samples_acked), (5, 0));
        // SAFETY: `s` is live.
        unsafe {
            // Nothing new was lost: the next flush succeeds, and its report is empty.
            assert_eq!(promrw_sender_flush(s, 5_000), PROMRW_OK);
        }
        assert_eq!(last_report(s, 0).samples_failed, 0);
        assert_eq!(last_report(s, 0).last_http_status, u32::from(status));
        assert_eq!(last_report_text(s, PROMRW_ALL_ENDPOINTS), "");
        // SAFETY: `s` is live.
        unsafe {
            assert_eq!(promrw_sender_append(s, r, t + 10, 1.0), PROMRW_OK);
        }
        // Close reports what was lost since the previous flush.
        close_and_free(s, PROMRW_SAMPLES_LOST);
    }
}

#[test]
fn last_report_checks_its_arguments() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let report = last_report(s, 0);
    assert_eq!(report.samples_failed, 0, "all zero before the first flush");
    let mut small = promrw_report {
        struct_size: 8,
        ..promrw_report::default()
    };
    let mut len = 0usize;
    // SAFETY: `s` is live; the out pointers are valid.
    unsafe {
        assert_eq!(
            promrw_sender_last_report(s, 0, &mut small),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(small.samples_failed, 0);
        // The first version's size (a caller built before samples_dropped_wal): its fields
        // are written, the later one left alone, and struct_size says how much was written.
        let first_version =
            std::mem::offset_of!(promrw_report, last_error_unix_ms) + size_of::<i64>();
        assert_eq!(first_version + 8, size_of::<promrw_report>());
        let mut old = promrw_report {
            struct_size: first_version,
            samples_failed: 5,
            samples_dropped_wal: 66,
            ..promrw_report::default()
        };
        assert_eq!(promrw_sender_last_report(s, 0, &mut old), PROMRW_OK);
        assert_eq!(old.struct_size, first_version);
        assert_eq!((old.samples_failed, old.samples_dropped_wal), (0, 66));
        let mut short = promrw_report {
            struct_size: first_version - 8,
            samples_failed: 5,
            ..promrw_report::default()
        };
        assert_eq!(
            promrw_sender_last_report(s, 0, &mut short),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            (short.struct_size, short.samples_failed),
            (first_version - 8, 5)
        );
        // Larger (a caller with a newer header): what this version has is written, the rest
        // left alone.
        #[repr(C)]
        struct Newer {
            report: promrw_report,
            later_field: u64,
        }
        let mut newer = Newer {
            report: promrw_report {
                struct_size: size_of::<Newer>(),
                samples_dropped_wal: 66,
                ..promrw_report::default()
            },
            later_field: 0xdead_beef,
        };
        assert_eq!(
            promrw_sender_last_report(s, PROMRW_ALL_ENDPOINTS, &mut newer.report),
            PROMRW_OK
        );
        assert_eq!(newer.report.struct_size, size_of::<promrw_report>());
        assert_eq!(
            (newer.report.samples_dropped_wal, newer.later_field),
            (0, 0xdead_beef)
        );
        let mut report = last_report(s, 0);
        assert_eq!(
            promrw_sender_last_report(s, 1, &mut report),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_last_report(ptr::null(), 0, &mut report),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_last_report(s, 0, ptr::null_mut()),
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!(
            promrw_sender_last_report_text(s, 3, ptr::null_mut(), 0, &mut len),
            PROMRW_INVALID_ARGUMENT
        );
    }
    close_and_free(s, PROMRW_OK);
}

#[test]
fn config_from_file_reads_validates_and_names_the_path() {
    let dir = std::env::temp_dir().join(format!("promrw-ffi-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.yml");
    std::fs::write(&good, yaml("http://127.0.0.1:9/api/v1/write", "")).unwrap();
    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "remote_write:\n  - url: http://127.0.0.1:9/w\n    queue_config:\n      capacityy: 5\n",
    )
    .unwrap();
    let missing = dir.join("missing.yml");
    let load = |path: &std::path::Path| {
        let bytes = path.as_os_str().as_encoded_bytes();
        let mut cfg = ptr::null_mut();
        let mut err = ptr::null_mut();
        // SAFETY: `bytes` is borrowed for the call; `cfg` and `err` are valid out pointers.
        let status = unsafe {
            promrw_config_from_file(bytes.as_ptr().cast(), bytes.len(), &mut cfg, &mut err)
        };
        (status, cfg, err)
    };
    let (status, cfg, err) = load(&good);
    assert_eq!(status, PROMRW_OK);
    assert!(err.is_null());
    // SAFETY: `cfg` is a live config, freed once.
    unsafe { promrw_config_free(cfg) };
    let (status, cfg, err) = load(&bad);
    assert_eq!(status, PROMRW_INVALID_CONFIG);
    assert!(cfg.is_null());
    let (_, message) = take_error(err);
    assert!(message.contains("bad.yml"), "{message}");
    assert!(
        message.contains("remote_write[0].queue_config"),
        "{message}"
    );
    assert!(message.contains("capacityy"), "{message}");
    let (status, _, err) = load(&missing);
    assert_eq!(status, PROMRW_INVALID_CONFIG);
    let (_, message) = take_error(err);
    assert!(message.contains("missing.yml"), "{message}");
    let mut cfg = ptr::null_mut();
    // SAFETY: NULL path with length 0; `cfg` is a valid out pointer.
    let status = unsafe { promrw_config_from_file(ptr::null(), 0, &mut cfg, ptr::null_mut()) };
    assert_eq!(status, PROMRW_INVALID_ARGUMENT);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn in_a_forked_child_every_call_but_free_returns_forked_at_once() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let r = series(s, &[("__name__", "before_fork")]);
    // SAFETY: `s` is live; `fork` is called with no lock of ours held; the child only calls
    // the library (whose allocations are fork-safe in glibc) and leaves with `_exit`.
    unsafe {
        assert_eq!(promrw_sender_append(s, r, now_ms(), 1.0), PROMRW_OK);
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let started = std::time::Instant::now();
            let mut failures = 0;
            let mut check = |status: promrw_status| {
                if status != PROMRW_FORKED {
                    failures += 1;
                }
            };
            check(promrw_sender_append(s, r, now_ms() + 1, 1.0));
            let mut accepted = 0usize;
            check(promrw_sender_append_batch(s, ptr::null(), 0, &mut accepted));
            let one = [label(b"__name__", b"child")];
            let mut out = 0;
            check(promrw_sender_series(
                s,
                one.as_ptr(),
                1,
                &mut out,
                ptr::null_mut(),
            ));
            check(promrw_sender_release_series(s, r));
            check(promrw_sender_flush(s, 60_000));
            check(promrw_sender_sync(s, 60_000));
            let mut st = promrw_stats {
                struct_size: size_of::<promrw_stats>(),
                ..Default::default()
            };
            check(promrw_sender_stats(s, &mut st));
            let mut len = 0usize;
            check(promrw_sender_metrics_text(s, ptr::null_mut(), 0, &mut len));
            check(promrw_sender_close(s, 60_000));
            // Free frees without waiting for threads that do not exist here.
            promrw_sender_free(s);
            let quick = started.elapsed() < std::time::Duration::from_secs(5);
            libc::_exit(if failures == 0 && quick {
                0
            } else {
                10 + failures
            });
        }
        let mut wstatus = 0;
        assert_eq!(libc::waitpid(pid, &mut wstatus, 0), pid);
        assert!(libc::WIFEXITED(wstatus), "child status {wstatus}");
        assert_eq!(libc::WEXITSTATUS(wstatus), 0, "calls in the child");
        // The parent's sender is untouched.
        assert_eq!(promrw_sender_append(s, r, now_ms() + 2, 2.0), PROMRW_OK);
    }
    close_and_free(s, PROMRW_OK);
    assert_eq!(recv.store().totals().accepted, 2);
}

#[test]
fn sync_in_memory_mode_returns_ok_at_once_without_waiting_for_delivery() {
    // A receiver that never accepts: nothing queued can be delivered, so a sync that waited
    // for delivery (as flush does) would take its whole timeout.
    let recv = receiver_with(Arc::new(|_: &RequestInfo| Reply::status(503, "down")));
    let s = sender(&yaml(&recv.url(), ""));
    let r = series(s, &[("__name__", "sync_memory")]);
    let t = now_ms();
    // SAFETY: `s` is live until the free below.
    unsafe {
        for i in 0..10 {
            assert_eq!(promrw_sender_append(s, r, t + i, 1.0), PROMRW_OK);
        }
        let started = std::time::Instant::now();
        assert_eq!(promrw_sender_sync(s, 60_000), PROMRW_OK);
        assert_eq!(
            promrw_sender_sync(s, 0),
            PROMRW_OK,
            "a zero timeout is no timeout here"
        );
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(2),
            "sync in memory mode waited {took:?}"
        );
    }
    let st = stats(s);
    assert_eq!(st.samples_appended, 10);
    assert_eq!(st.samples_acked, 0, "sync delivers nothing");
    assert!(st.samples_pending > 0, "sync guarantees nothing: {st:?}");
    // SAFETY: `s` is live and freed once.
    unsafe {
        assert_eq!(promrw_sender_close(s, 100), PROMRW_TIMEOUT);
        promrw_sender_free(s);
    }
}

#[test]
fn fail_policy_against_an_unavailable_receiver_gives_queue_full() {
    let recv = receiver_with(Arc::new(|_: &RequestInfo| Reply::status(503, "down")));
    let s = sender(&yaml(
        &recv.url(),
        "      capacity: 10\n      max_samples_per_send: 5\n      overflow: fail\n",
    ));
    let r = series(s, &[("__name__", "refused")]);
    let t = now_ms();
    let mut accepted = 0i64;
    let refused = loop {
        // SAFETY: `s` is live.
        let status = unsafe { promrw_sender_append(s, r, t + accepted, 1.0) };
        if status != PROMRW_OK {
            break status;
        }
        accepted += 1;
        assert!(accepted < 100, "the queue never filled");
    };
    assert_eq!(refused, PROMRW_QUEUE_FULL);
    assert!((10..=15).contains(&accepted), "accepted {accepted}");
    let st = stats(s);
    assert_eq!(st.rejected_queue_full, 1);
    assert_eq!(st.samples_appended, accepted as u64);
    assert_eq!(st.samples_acked, 0);
    assert!(st.samples_pending > 0);
    // The receiver never accepts, so the close deadline passes.
    // SAFETY: `s` is live and freed once.
    unsafe {
        assert_eq!(promrw_sender_close(s, 200), PROMRW_TIMEOUT);
        promrw_sender_free(s);
    }
}

#[test]
fn status_codes_have_stable_values_and_distinct_names() {
    let mut names = Vec::new();
    for (code, value) in STATUSES {
        assert_eq!(code, value, "published status values never change");
        let name = promrw_status_str(code);
        assert!(!name.is_null());
        // SAFETY: status strings are static and NUL-terminated.
        let name = unsafe { CStr::from_ptr(name) }.to_str().unwrap();
        assert!(!name.is_empty(), "{code}");
        assert!(!names.contains(&name), "{name} repeats");
        names.push(name);
    }
    // SAFETY: as above.
    let unknown = unsafe { CStr::from_ptr(promrw_status_str(12_345)) }
        .to_str()
        .unwrap();
    assert_eq!(unknown, "unknown status");
    assert!(!names.contains(&unknown));
}

#[test]
fn version_is_the_crate_version() {
    let version = promrw_version();
    assert!(!version.is_null());
    // SAFETY: the version string is static and NUL-terminated.
    let version = unsafe { CStr::from_ptr(version) }.to_str().unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert_eq!(version, promrw::VERSION);
}

/// What the log callback test records.
#[derive(Default)]
struct LogState {
    messages: Mutex<Vec<(u32, String)>>,
    freed: AtomicUsize,
}

/// The log callback: records the level and message in the `LogState` behind `user_data`.
unsafe extern "C" fn record_log(
    user_data: *mut c_void,
    level: u32,
    message: *const c_char,
    len: usize,
) {
    // SAFETY: `user_data` is the `Arc<LogState>` registered with the callback, alive until
    // `free_log_state`; the message is readable for `len` bytes during the call.
    let (state, bytes) = unsafe {
        (
            &*(user_data as *const LogState),
            std::slice::from_raw_parts(message.cast::<u8>(), len),
        )
    };
    let text = String::from_utf8_lossy(bytes).into_owned();
    if let Ok(mut messages) = state.messages.lock() {
        messages.push((level, text));
    }
}

/// The free hook: counts the call and releases the callback's reference.
unsafe extern "C" fn free_log_state(user_data: *mut c_void) {
    // SAFETY: `user_data` came from `Arc::into_raw` and the library releases it exactly once.
    let state = unsafe { Arc::from_raw(user_data as *const LogState) };
    state.freed.fetch_add(1, Ordering::SeqCst);
}

/// Registers `state` as the log callback's user data on `cfg`.
fn set_log_callback(cfg: *mut promrw_config, level: u32, state: &Arc<LogState>) -> promrw_status {
    let user_data = Arc::into_raw(state.clone()) as *mut c_void;
    // SAFETY: `cfg` is live; the callback and hook match the contract.
    let status = unsafe {
        promrw_config_set_log_callback(
            cfg,
            level,
            Some(record_log),
            user_data,
            Some(free_log_state),
        )
    };
    if status != PROMRW_OK {
        // SAFETY: on failure the library kept nothing; the reference is ours to release.
        drop(unsafe { Arc::from_raw(user_data as *const LogState) });
    }
    status
}

#[test]
fn log_callback_receives_messages_and_its_free_hook_runs_once_after_the_last_holder() {
    let recv = receiver();
    let state = Arc::new(LogState::default());
    let cfg = config(&yaml(&recv.url(), ""));
    assert_eq!(set_log_callback(cfg, PROMRW_LOG_DEBUG, &state), PROMRW_OK);
    let mut s = ptr::null_mut();
    // SAFETY: `cfg` is live; `s` is a valid out pointer.
    unsafe {
        assert_eq!(promrw_sender_new(cfg, &mut s, ptr::null_mut()), PROMRW_OK);
        promrw_config_free(cfg);
    }
    assert_eq!(
        state.freed.load(Ordering::SeqCst),
        0,
        "the sender still holds the callback"
    );
    // SAFETY: `s` is live.
    assert_eq!(unsafe { promrw_sender_close(s, 5_000) }, PROMRW_OK);
    let messages = state.messages.lock().unwrap().clone();
    assert!(
        messages
            .iter()
            .any(|(level, m)| *level == PROMRW_LOG_INFO && m.contains("closed")),
        "{messages:?}"
    );
    assert_eq!(state.freed.load(Ordering::SeqCst), 0);
    // SAFETY: `s` is live and freed once.
    unsafe { promrw_sender_free(s) };
    assert_eq!(
        state.freed.load(Ordering::SeqCst),
        1,
        "free hook runs once after the last holder"
    );
    assert_eq!(
        Arc::strong_count(&state),
        1,
        "the library released its reference"
    );
}

#[test]
fn log_callback_on_a_config_alone_is_released_by_config_free_and_replaced_ones_are_released() {
    let first = Arc::new(LogState::default());
    let second = Arc::new(LogState::default());
    let cfg = config("remote_write:\n  - url: http://127.0.0.1:1/write\n");
    assert_eq!(set_log_callback(cfg, PROMRW_LOG_WARN, &first), PROMRW_OK);
    assert_eq!(set_log_callback(cfg, PROMRW_LOG_ERROR, &second), PROMRW_OK);
    assert_eq!(
        first.freed.load(Ordering::SeqCst),
        1,
        "a replaced callback is released"
    );
    assert_eq!(second.freed.load(Ordering::SeqCst), 0);
    // SAFETY: `cfg` is live and freed once.
    unsafe { promrw_config_free(cfg) };
    assert_eq!(second.freed.load(Ordering::SeqCst), 1);
    assert_eq!(first.freed.load(Ordering::SeqCst), 1);
}

#[test]
fn set_log_level_changes_what_one_sender_logs_from_the_next_record_on() {
    let recv = receiver();
    let state = Arc::new(LogState::default());
    let cfg = config(&yaml(&recv.url(), ""));
    assert_eq!(set_log_callback(cfg, PROMRW_LOG_WARN, &state), PROMRW_OK);
    let mut a = ptr::null_mut();
    let mut b = ptr::null_mut();
    // SAFETY: `cfg` is live; out pointers are valid; handles are freed once below.
    unsafe {
        assert_eq!(promrw_sender_new(cfg, &mut a, ptr::null_mut()), PROMRW_OK);
        assert_eq!(promrw_sender_new(cfg, &mut b, ptr::null_mut()), PROMRW_OK);
        promrw_config_free(cfg);
    }
    let debug_lines = || {
        state
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|(level, text)| *level == PROMRW_LOG_DEBUG && text.contains("request of"))
            .count()
    };
    let push = |s: *mut promrw_sender, ts: i64| {
        let r = series(s, &[("__name__", "lvl")]);
        // SAFETY: `s` is live.
        unsafe {
            assert_eq!(promrw_sender_append(s, r, ts, 1.0), PROMRW_OK);
            assert_eq!(promrw_sender_flush(s, 5_000), PROMRW_OK);
        }
    };
    let t = now_ms();
    push(a, t);
    assert_eq!(debug_lines(), 0, "WARN: no request lines");
    // SAFETY: `a` is live.
    unsafe {
        assert_eq!(promrw_sender_set_log_level(a, PROMRW_LOG_DEBUG), PROMRW_OK);
        assert_eq!(promrw_sender_set_log_level(a, 7), PROMRW_INVALID_ARGUMENT);
        assert_eq!(
            promrw_sender_set_log_level(ptr::null(), PROMRW_LOG_DEBUG),
            PROMRW_INVALID_ARGUMENT
        );
    }
    push(a, t + 1);
    assert_eq!(debug_lines(), 1, "DEBUG on sender a: one request line");
    push(b, t + 2);
    assert_eq!(debug_lines(), 1, "sender b keeps WARN");
    // SAFETY: `a` is live.
    unsafe { assert_eq!(promrw_sender_set_log_level(a, PROMRW_LOG_ERROR), PROMRW_OK) };
    push(a, t + 3);
    assert_eq!(debug_lines(), 1, "back to ERROR");
    close_and_free(a, PROMRW_OK);
    close_and_free(b, PROMRW_OK);
    assert_eq!(state.freed.load(Ordering::SeqCst), 1);
}

#[test]
fn log_callback_with_an_invalid_level_is_refused_and_keeps_nothing() {
    let state = Arc::new(LogState::default());
    let cfg = config("remote_write:\n  - url: http://127.0.0.1:1/write\n");
    assert_eq!(set_log_callback(cfg, 4, &state), PROMRW_INVALID_ARGUMENT);
    assert_eq!(
        set_log_callback(cfg, u32::MAX, &state),
        PROMRW_INVALID_ARGUMENT
    );
    // SAFETY: `cfg` is live and freed once.
    unsafe { promrw_config_free(cfg) };
    assert_eq!(
        state.freed.load(Ordering::SeqCst),
        0,
        "the free hook is not called on failure"
    );
    assert_eq!(Arc::strong_count(&state), 1);
}

#[test]
fn one_sender_is_shared_by_many_threads() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let handle = s as usize;
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let s = handle as *const promrw_sender;
                let name = format!("thread_{i}");
                let r = series(s, &[("__name__", name.as_str())]);
                let t = now_ms();
                for k in 0..500 {
                    // SAFETY: the sender outlives the threads (joined before the free).
                    assert_eq!(
                        unsafe { promrw_sender_append(s, r, t + k, k as f64) },
                        PROMRW_OK
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // SAFETY: `s` is live.
    assert_eq!(unsafe { promrw_sender_flush(s, 10_000) }, PROMRW_OK);
    let st = stats(s);
    assert_eq!(st.samples_appended, 2_000);
    assert_eq!(st.samples_acked, 2_000);
    assert_eq!(st.series, 4);
    assert_eq!(recv.store().totals().accepted, 2_000);
    close_and_free(s, PROMRW_OK);
}

#[test]
fn free_without_close_closes_and_sends_what_was_queued() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let r = series(s, &[("__name__", "freed")]);
    // SAFETY: `s` is live and freed once.
    unsafe {
        assert_eq!(promrw_sender_append(s, r, now_ms(), 1.0), PROMRW_OK);
        promrw_sender_free(s);
    }
    assert_eq!(recv.store().totals().accepted, 1);
}

/// The value of the line `key value` of a metrics text.
fn metric(text: &str, key: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{key} is not in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn c_stats_mean_what_the_exposition_says() {
    // 500, then 204 for the retry, then 400 for the next batch.
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    // The compressed size of the requests whose sending ended (the 204 and the 400): the
    // two batches need not compress to the same size.
    let ended_bytes = Arc::new(AtomicUsize::new(0));
    let ended = ended_bytes.clone();
    let recv = receiver_with(Arc::new(move |info: &RequestInfo| {
        let decoded = match &info.decoded {
            Ok(decoded) => decoded,
            Err(e) => return Reply::status(e.status, e.message.clone()),
        };
        match counter.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::status(500, "down"),
            n => {
                ended.fetch_add(decoded.compressed_bytes, Ordering::SeqCst);
                if n == 1 {
                    Reply::accept()
                } else {
                    Reply::status(400, "bad")
                }
            }
        }
    }));
    let s = sender(&yaml(&recv.url(), "      max_samples_per_send: 5\n"));
    let r = series(s, &[("__name__", "c_stats")]);
    let t = now_ms();
    // SAFETY: `s` is live.
    unsafe {
        for i in 0..5 {
            assert_eq!(promrw_sender_append(s, r, t + i, 1.0), PROMRW_OK);
        }
        assert_eq!(promrw_sender_flush(s, 10_000), PROMRW_OK);
        for i in 5..10 {
            assert_eq!(promrw_sender_append(s, r, t + i, 1.0), PROMRW_OK);
        }
        assert_eq!(promrw_sender_flush(s, 10_000), PROMRW_SAMPLES_LOST);
    }
    assert_eq!(answered.load(Ordering::SeqCst), 3);
    let st = stats(s);
    assert_eq!(st.struct_size, size_of::<promrw_stats>());
    assert_eq!(st.samples_appended, 10);
    assert_eq!(st.samples_total, 15, "per attempt: {st:?}");
    assert_eq!(st.samples_acked, 5, "{st:?}");
    assert_eq!(st.samples_retried, 5, "{st:?}");
    assert_eq!(st.samples_failed, 5, "every sample of the 400: {st:?}");
    assert_eq!(st.batches_acked, 1, "{st:?}");
    assert_eq!(st.samples_pending, 0);
    assert_eq!(st.highest_enqueued_ms, t + 9);
    assert_eq!(
        st.highest_sent_ms,
        t + 4,
        "the rejected batch does not advance it"
    );
    let text = metrics_text(s);
    let labels = format!("{{remote_name=\"ffi\",url=\"{}\"}}", recv.url());
    let m = |name: &str| metric(&text, &format!("prometheus_remote_storage_{name}{labels}"));
    let promrw = |name: &str| metric(&text, &format!("{name}{labels}"));
    assert_eq!(
        metric(&text, "promrw_samples_appended_total"),
        st.samples_appended as f64
    );
    assert_eq!(m("samples_total"), st.samples_total as f64);
    assert_eq!(
        promrw("promrw_samples_acked_total"),
        st.samples_acked as f64
    );
    assert_eq!(m("samples_failed_total"), st.samples_failed as f64);
    assert_eq!(m("samples_retried_total"), st.samples_retried as f64);
    assert_eq!(m("bytes_total"), st.bytes_total as f64);
    assert_eq!(
        promrw("promrw_batches_acked_total"),
        st.batches_acked as f64
    );
    assert_eq!(m("enqueue_retries_total"), st.enqueue_retries as f64);
    assert_eq!(m("samples_pending"), st.samples_pending as f64);
    assert_eq!(m("shards"), st.shards as f64);
    assert_eq!(promrw("promrw_shards_dead"), st.shards_dead as f64);
    assert_eq!(metric(&text, "promrw_series"), st.series as f64);
    assert_eq!(
        m("queue_highest_timestamp_seconds"),
        st.highest_enqueued_ms as f64 / 1000.0
    );
    assert_eq!(
        m("queue_highest_sent_timestamp_seconds"),
        st.highest_sent_ms as f64 / 1000.0
    );
    assert_eq!(
        promrw("promrw_samples_too_large_total"),
        st.samples_too_large as f64
    );
    assert_eq!(
        promrw("promrw_shard_cached_series"),
        st.series_cached as f64
    );
    assert_eq!(st.series_cached, 1, "the one series, cached by its shard");
    assert_eq!(
        metric(&text, "promrw_appends_rejected_total{reason=\"io\"}"),
        st.rejected_io as f64
    );
    // Memory mode: no log, so its figures (third version) are all 0, and the exposition has
    // no promrw_wal_* family.
    assert_eq!(wal_figures(&st), [0; 13], "{st:?}");
    assert!(!text.contains("promrw_wal_"), "{text}");
    // Both batches' bytes, once each (not per attempt).
    assert_eq!(
        st.bytes_total,
        ended_bytes.load(Ordering::SeqCst) as u64,
        "{st:?}"
    );
    close_and_free(s, PROMRW_OK);
}

#[test]
fn stats_checks_struct_size_and_writes_only_what_fits() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    // Too small (an old caller that does not set it, or a truncated struct): refused, and
    // nothing is written.
    let first_version = std::mem::offset_of!(promrw_stats, highest_sent_ms) + size_of::<i64>();
    for room in [0, 8, first_version - 8] {
        let mut st = promrw_stats {
            struct_size: room,
            samples_appended: 77,
            ..Default::default()
        };
        // SAFETY: `s` is live; `st` is a valid out pointer.
        assert_eq!(
            unsafe { promrw_sender_stats(s, &mut st) },
            PROMRW_INVALID_ARGUMENT
        );
        assert_eq!((st.struct_size, st.samples_appended), (room, 77));
    }
    // The first version's size (a caller built against the header before samples_too_large
    // and series_cached): its fields are written, the later ones left alone.
    let mut old = promrw_stats {
        struct_size: first_version,
        samples_too_large: 55,
        series_cached: 66,
        ..Default::default()
    };
    // SAFETY: `s` is live; `old` is a valid out pointer, larger than what is written.
    assert_eq!(unsafe { promrw_sender_stats(s, &mut old) }, PROMRW_OK);
    assert_eq!(old.struct_size, first_version);
    assert_eq!(old.endpoints, 1);
    assert_eq!((old.samples_too_large, old.series_cached), (55, 66));
    // The second version's size (before rejected_io and the WAL figures): its fields are
    // written, the third version's left alone.
    let second_version = std::mem::offset_of!(promrw_stats, series_cached) + size_of::<u64>();
    assert_eq!(second_version, first_version + 2 * 8);
    let mut v2 = promrw_stats {
        struct_size: second_version,
        series_cached: 66,
        rejected_io: 77,
        wal_segments: 88,
        wal_samples_replayed: 99,
        ..Default::default()
    };
    // SAFETY: `s` is live; `v2` is a valid out pointer, larger than what is written.
    assert_eq!(unsafe { promrw_sender_stats(s, &mut v2) }, PROMRW_OK);
    assert_eq!(v2.struct_size, second_version);
    assert_eq!((v2.endpoints, v2.series_cached), (1, 0));
    assert_eq!(
        (v2.rejected_io, v2.wal_segments, v2.wal_samples_replayed),
        (77, 88, 99)
    );
    // The third version ends with wal_samples_replayed: its fields are written, the fourth
    // version's left alone.
    let third_version = std::mem::offset_of!(promrw_stats, wal_samples_replayed) + size_of::<u64>();
    assert_eq!(third_version, second_version + 13 * 8);
    let mut v3 = promrw_stats {
        struct_size: third_version,
        wal_samples_replayed: 11,
        samples_dropped_relabel: 22,
        samples_dropped_no_tenant: 33,
        ..Default::default()
    };
    // SAFETY: `s` is live; `v3` is a valid out pointer, larger than what is written.
    assert_eq!(unsafe { promrw_sender_stats(s, &mut v3) }, PROMRW_OK);
    assert_eq!(v3.struct_size, third_version);
    assert_eq!(
        (
            v3.wal_samples_replayed,
            v3.samples_dropped_relabel,
            v3.samples_dropped_no_tenant
        ),
        (0, 22, 33)
    );
    // The fourth version ends with samples_dropped_no_tenant: a v4-sized caller gets its
    // fields, the fifth version's are left alone.
    let fourth_version =
        std::mem::offset_of!(promrw_stats, samples_dropped_no_tenant) + size_of::<u64>();
    assert_eq!(fourth_version, third_version + 3 * 8);
    let mut v4 = promrw_stats {
        struct_size: fourth_version,
        samples_dropped_no_tenant: 33,
        histograms_total: 44,
        exemplars_dropped: 55,
        remote_write_protocol: 66,
        ..Default::default()
    };
    // SAFETY: `s` is live; `v4` is a valid out pointer, larger than what is written.
    assert_eq!(unsafe { promrw_sender_stats(s, &mut v4) }, PROMRW_OK);
    assert_eq!(v4.struct_size, fourth_version);
    assert_eq!((v4.endpoints, v4.samples_dropped_no_tenant), (1, 0));
    assert_eq!(
        (
            v4.histograms_total,
            v4.exemplars_dropped,
            v4.remote_write_protocol
        ),
        (44, 55, 66)
    );
    // The fifth version is the whole struct, ending with remote_write_protocol.
    assert_eq!(
        size_of::<promrw_stats>(),
        std::mem::offset_of!(promrw_stats, remote_write_protocol) + size_of::<u64>()
    );
    assert_eq!(size_of::<promrw_stats>(), fourth_version + 15 * 8);
    assert_eq!(stats(s).remote_write_protocol, 1, "a 1.0 endpoint");
    // Larger (a caller with a newer header): the fields this version has are written, the
    // rest is left alone, and struct_size says how much was written.
    #[repr(C)]
    struct Newer {
        stats: promrw_stats,
        later_field: u64,
    }
    let mut newer = Newer {
        stats: promrw_stats {
            struct_size: size_of::<Newer>(),
            ..Default::default()
        },
        later_field: 0xdead_beef,
    };
    // SAFETY: `s` is live; `newer` holds `size_of::<Newer>()` writable bytes.
    assert_eq!(
        unsafe { promrw_sender_stats(s, &mut newer.stats) },
        PROMRW_OK
    );
    assert_eq!(newer.stats.struct_size, size_of::<promrw_stats>());
    assert_eq!((newer.stats.endpoints, newer.later_field), (1, 0xdead_beef));
    close_and_free(s, PROMRW_OK);
}

/// The third version's fields of `st`, in struct order.
fn wal_figures(st: &promrw_stats) -> [u64; 13] {
    [
        st.rejected_io,
        st.wal_bytes_on_disk,
        st.wal_segments,
        st.wal_records_written,
        st.wal_bytes_written,
        st.wal_fsyncs,
        st.wal_write_errors,
        st.wal_corrupt_records_skipped,
        st.samples_dropped_wal_full,
        st.samples_dropped_wal_too_old,
        st.wal_lag_bytes,
        st.wal_lag_samples,
        st.wal_samples_replayed,
    ]
}

/// YAML for a WAL-mode sender at `url` with the log in `dir`; `wal` adds `promrw.wal` lines.
fn wal_yaml(url: &str, dir: &common::TempDir, wal: &str) -> String {
    format!(
        "{}      max_samples_per_send: 500\npromrw:\n  wal:\n    dir: {}\n{wal}",
        yaml(url, ""),
        dir.path().display()
    )
}

/// Waits up to 10 s until `done` holds for the sender's stats; returns the last snapshot.
fn wait_stats(s: *const promrw_sender, done: impl Fn(&promrw_stats) -> bool) -> promrw_stats {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let st = stats(s);
        if done(&st) {
            return st;
        }
        assert!(std::time::Instant::now() < deadline, "{st:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The stats and the exposition of a moment when the WAL figures did not change: the same
/// before and after the text was read (the feeder may still be moving the cursor past a
/// series record, say; retries against a receiver that is down change other counters).
/// Tries for 10 s.
fn quiet_snapshot(s: *const promrw_sender) -> (promrw_stats, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let before = stats(s);
        let text = metrics_text(s);
        let after = stats(s);
        if wal_figures(&before) == wal_figures(&after) {
            return (before, text);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never quiet: {before:?} then {after:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Checks each WAL field of the sender's stats against its exposition, at a quiet moment;
/// returns those stats.
fn assert_wal_figures_match_the_exposition(s: *const promrw_sender, url: &str) -> promrw_stats {
    let (st, text) = quiet_snapshot(s);
    let text = text.as_str();
    let labels = format!("remote_name=\"ffi\",url=\"{url}\"");
    let dropped = |reason: &str| {
        format!("prometheus_remote_storage_samples_dropped_total{{reason=\"{reason}\",{labels}}}")
    };
    for (key, value) in [
        (
            "promrw_appends_rejected_total{reason=\"io\"}".to_string(),
            st.rejected_io,
        ),
        ("promrw_wal_bytes".to_string(), st.wal_bytes_on_disk),
        ("promrw_wal_segments".to_string(), st.wal_segments),
        (
            "promrw_wal_records_written_total".to_string(),
            st.wal_records_written,
        ),
        (
            "promrw_wal_bytes_written_total".to_string(),
            st.wal_bytes_written,
        ),
        ("promrw_wal_fsyncs_total".to_string(), st.wal_fsyncs),
        (
            "promrw_wal_write_errors_total".to_string(),
            st.wal_write_errors,
        ),
        (
            "promrw_wal_corrupt_records_skipped_total".to_string(),
            st.wal_corrupt_records_skipped,
        ),
        (dropped("wal_full"), st.samples_dropped_wal_full),
        (dropped("wal_too_old"), st.samples_dropped_wal_too_old),
        (
            format!("promrw_wal_cursor_lag_bytes{{{labels}}}"),
            st.wal_lag_bytes,
        ),
        (
            format!("promrw_wal_cursor_lag_samples{{{labels}}}"),
            st.wal_lag_samples,
        ),
        (
            format!("promrw_wal_samples_replayed_total{{{labels}}}"),
            st.wal_samples_replayed,
        ),
    ] {
        assert_eq!(metric(text, &key), value as f64, "{key}: {st:?}");
    }
    st
}

#[test]
fn c_relabel_and_tenant_drops_mean_what_the_exposition_says() {
    let recv = receiver();
    let text = format!(
        "{}    write_relabel_configs:\n      - {{source_labels: [__name__], regex: c_dropme, action: drop}}\n      - {{source_labels: [__name__], regex: c_invalid_me, target_label: __name__, replacement: 1bad}}\n    tenant:\n      label: tenant\n",
        yaml(&recv.url(), "")
    );
    let s = sender(&text);
    let refs = [
        (series(s, &[("__name__", "c_dropme"), ("tenant", "a")]), 3),
        (
            series(s, &[("__name__", "c_invalid_me"), ("tenant", "a")]),
            5,
        ),
        (series(s, &[("__name__", "c_no_tenant")]), 7),
        (series(s, &[("__name__", "c_kept"), ("tenant", "a")]), 2),
    ];
    let t = now_ms();
    // SAFETY: `s` is live until close_and_free.
    unsafe {
        for (r, samples) in refs {
            for i in 0..samples {
                assert_eq!(promrw_sender_append(s, r, t + i, i as f64), PROMRW_OK);
            }
        }
        assert_eq!(promrw_sender_flush(s, 5_000), PROMRW_OK);
    }
    let (st, text) = quiet_snapshot(s);
    assert_eq!(
        (
            st.samples_dropped_relabel,
            st.samples_dropped_relabel_invalid,
            st.samples_dropped_no_tenant,
            st.samples_acked
        ),
        (3, 5, 7, 2),
        "{st:?}"
    );
    let labels = format!("remote_name=\"ffi\",url=\"{}\"", recv.url());
    for (reason, value) in [
        ("relabel", st.samples_dropped_relabel),
        ("relabel_invalid", st.samples_dropped_relabel_invalid),
        ("no_tenant", st.samples_dropped_no_tenant),
    ] {
        let key = format!(
            "prometheus_remote_storage_samples_dropped_total{{reason=\"{reason}\",{labels}}}"
        );
        assert_eq!(metric(&text, &key), value as f64, "{key}");
    }
    close_and_free(s, PROMRW_OK);
}

#[test]
fn c_wal_stats_mean_what_the_exposition_says_across_a_restart() {
    let dir = common::TempDir::new("ffi-wal-stats");
    // Down: every request answered 503, so the samples wait on disk.
    let down = receiver_with(Arc::new(|_: &RequestInfo| Reply::status(503, "down")));
    let s = sender(&wal_yaml(&down.url(), &dir, ""));
    let refs = [
        series(s, &[("__name__", "c_wal_stats_a")]),
        series(s, &[("__name__", "c_wal_stats_b")]),
    ];
    let t = now_ms();
    // SAFETY: `s` is live until close_and_free.
    unsafe {
        for i in 0..500 {
            for r in refs {
                assert_eq!(promrw_sender_append(s, r, t + i, i as f64), PROMRW_OK);
            }
        }
        assert_eq!(promrw_sender_sync(s, 10_000), PROMRW_OK);
    }
    // The feeder recomputes the lag within moments of the write.
    wait_stats(s, |st| st.wal_lag_samples == 1000);
    let st = assert_wal_figures_match_the_exposition(s, &down.url());
    assert_eq!(st.wal_lag_samples, 1000, "{st:?}");
    assert_eq!(st.struct_size, size_of::<promrw_stats>());
    assert!(st.wal_bytes_on_disk > 0 && st.wal_segments >= 1, "{st:?}");
    assert!(
        st.wal_records_written >= 2,
        "a series and a samples record at least: {st:?}"
    );
    assert!(st.wal_bytes_written >= st.wal_lag_bytes, "{st:?}");
    assert!(st.wal_fsyncs >= 1, "sync fsyncs: {st:?}");
    assert!(st.wal_lag_bytes > 1000 * 9, "{st:?}");
    assert_eq!(
        (
            st.rejected_io,
            st.wal_write_errors,
            st.wal_corrupt_records_skipped
        ),
        (0, 0, 0)
    );
    assert_eq!(
        (
            st.samples_dropped_wal_full,
            st.samples_dropped_wal_too_old,
            st.wal_samples_replayed
        ),
        (0, 0, 0)
    );
    // Close leaves what it could not deliver on disk (not failed): Timeout.
    close_and_free(s, PROMRW_TIMEOUT);
    drop(down);

    // A new sender on the same dir replays the 1000 samples first.
    let up = receiver();
    let s = sender(&wal_yaml(&up.url(), &dir, ""));
    // SAFETY: `s` is live.
    assert_eq!(unsafe { promrw_sender_flush(s, 20_000) }, PROMRW_OK);
    wait_stats(s, |st| st.wal_lag_samples == 0 && st.wal_lag_bytes == 0);
    let st = assert_wal_figures_match_the_exposition(s, &up.url());
    assert_eq!((st.wal_lag_samples, st.wal_lag_bytes), (0, 0), "{st:?}");
    assert_eq!(st.wal_samples_replayed, 1000, "{st:?}");
    assert_eq!((st.samples_acked, st.samples_failed), (1000, 0), "{st:?}");
    assert!(st.wal_bytes_on_disk > 0 && st.wal_segments >= 1, "{st:?}");
    let expected: Vec<(i64, u64)> = (0..500).map(|i| (t + i, (i as f64).to_bits())).collect();
    for name in ["c_wal_stats_a", "c_wal_stats_b"] {
        assert_eq!(
            up.store().samples(&[("__name__", name)]).unwrap(),
            expected,
            "{name}"
        );
    }
    close_and_free(s, PROMRW_OK);
}

/// A WAL-mode sender with the smallest budget (eight segments of 128 KiB, the oldest dropped
/// when reached) against a receiver that is down, after appending far more than the budget
/// holds: some samples are dropped unsent. Returns the sender and the receiver.
fn sender_past_its_wal_budget(dir: &common::TempDir) -> (*mut promrw_sender, Receiver) {
    let down = receiver_with(Arc::new(|_: &RequestInfo| Reply::status(503, "down")));
    let s = sender(&wal_yaml(
        &down.url(),
        dir,
        "    max_bytes: 1MiB\n    full: drop_oldest\n",
    ));
    let r = series(s, &[("__name__", "c_wal_full")]);
    let t = now_ms();
    // SAFETY: `s` is live.
    unsafe {
        // Each sample takes several bytes on disk: 400k are several times the budget.
        for i in 0..400_000 {
            assert_eq!(promrw_sender_append(s, r, t + i, i as f64), PROMRW_OK);
        }
        assert_eq!(promrw_sender_sync(s, 10_000), PROMRW_OK);
    }
    wait_stats(s, |st| st.samples_dropped_wal_full > 0);
    (s, down)
}

#[test]
fn wal_budget_drops_show_in_c_stats_as_in_the_exposition() {
    let dir = common::TempDir::new("ffi-wal-full");
    let (s, down) = sender_past_its_wal_budget(&dir);
    let st = assert_wal_figures_match_the_exposition(s, &down.url());
    assert!(st.samples_dropped_wal_full > 0, "{st:?}");
    assert!(st.wal_bytes_on_disk <= 1 << 20, "{st:?}");
    assert_eq!(st.samples_dropped_wal_too_old, 0);
    close_and_free(s, PROMRW_TIMEOUT);
}

#[test]
fn wal_budget_drops_show_in_the_c_report_and_its_text() {
    let dir = common::TempDir::new("ffi-wal-full-report");
    let (s, _down) = sender_past_its_wal_budget(&dir);
    // SAFETY: `s` is live.
    assert_eq!(unsafe { promrw_sender_flush(s, 200) }, PROMRW_TIMEOUT);
    let dropped = stats(s).samples_dropped_wal_full;
    for endpoint in [0, PROMRW_ALL_ENDPOINTS] {
        let report = last_report(s, endpoint);
        assert_eq!(report.struct_size, size_of::<promrw_report>());
        assert_eq!(report.samples_dropped_wal, dropped, "{report:?}");
        assert_eq!((report.samples_failed, report.timed_out), (0, 1));
    }
    let text = last_report_text(s, PROMRW_ALL_ENDPOINTS);
    assert!(
        text.contains(&format!("{dropped} dropped from the WAL")),
        "{text}"
    );
    close_and_free(s, PROMRW_TIMEOUT);
}

/// Holds every request the receiver gets until dropped (then answers 503): a receiver that
/// reads a batch and never answers while the test runs.
struct StallingHandler {
    state: Arc<(Mutex<(usize, bool)>, std::sync::Condvar)>,
}

impl StallingHandler {
    fn new() -> StallingHandler {
        StallingHandler {
            state: Arc::default(),
        }
    }

    fn handler(&self) -> Handler {
        let state = self.state.clone();
        Arc::new(move |_info: &RequestInfo| {
            let (lock, changed) = &*state;
            let mut held = lock.lock().unwrap();
            held.0 += 1;
            changed.notify_all();
            while !held.1 {
                held = changed.wait(held).unwrap();
            }
            Reply::status(503, "stalled")
        })
    }

    /// Waits up to 10 s for a request to be held.
    fn wait_held(&self) -> bool {
        let (lock, changed) = &*self.state;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut held = lock.lock().unwrap();
        while held.0 == 0 {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            held = changed.wait_timeout(held, deadline - now).unwrap().0;
        }
        true
    }
}

impl Drop for StallingHandler {
    fn drop(&mut self) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        changed.notify_all();
    }
}

#[test]
fn close_interrupts_an_attempt_never_answered_and_no_callback_runs_after_free() {
    let stalling = StallingHandler::new();
    let recv = receiver_with(stalling.handler());
    // Dropped before the receiver (declared after it): held requests are let go first.
    let stalling = stalling;
    let state = Arc::new(LogState::default());
    let cfg = config(&yaml(&recv.url(), "").replace("remote_timeout: 2s", "remote_timeout: 60s"));
    assert_eq!(set_log_callback(cfg, PROMRW_LOG_DEBUG, &state), PROMRW_OK);
    let mut s = ptr::null_mut();
    // SAFETY: `cfg` is live; `s` is a valid out pointer; `cfg` is freed once.
    unsafe {
        assert_eq!(promrw_sender_new(cfg, &mut s, ptr::null_mut()), PROMRW_OK);
        promrw_config_free(cfg);
    }
    let r = series(s, &[("__name__", "stalled")]);
    let t0 = 1_700_000_000_000;
    for i in 0..10 {
        // SAFETY: `s` is live.
        assert_eq!(
            unsafe { promrw_sender_append(s, r, t0 + i, 1.0) },
            PROMRW_OK
        );
    }
    assert!(stalling.wait_held(), "the batch never reached the receiver");
    let started = std::time::Instant::now();
    // SAFETY: `s` is live.
    assert_eq!(unsafe { promrw_sender_close(s, 1_000) }, PROMRW_TIMEOUT);
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(2500),
        "close took {took:?} with remote_timeout 60s"
    );
    let st = stats(s);
    assert_eq!((st.samples_failed, st.samples_pending), (10, 0), "{st:?}");
    assert_eq!(state.freed.load(Ordering::SeqCst), 0, "the sender holds it");
    // SAFETY: `s` is live and freed once.
    unsafe { promrw_sender_free(s) };
    // The hook ran in promrw_sender_free, after the last callback: every shard thread has
    // ended, so nothing can call the callback any more.
    assert_eq!(
        state.freed.load(Ordering::SeqCst),
        1,
        "free_user_data did not run in promrw_sender_free: a shard thread still holds the callback"
    );
    assert_eq!(Arc::strong_count(&state), 1);
    drop(stalling);
}

// ---- Issue 15: native histograms, exemplars, start timestamps and metadata ----

/// A `promrw_histogram` of the current version with every array empty (an integer histogram
/// of schema 0 and no observations).
fn empty_histogram() -> promrw_histogram {
    promrw_histogram {
        struct_size: size_of::<promrw_histogram>(),
        schema: 0,
        kind: PROMRW_HISTOGRAM_INTEGER,
        zero_threshold: 0.0,
        sum: 0.0,
        count_int: 0,
        zero_count_int: 0,
        count_float: 0.0,
        zero_count_float: 0.0,
        positive_spans: ptr::null(),
        positive_spans_len: 0,
        negative_spans: ptr::null(),
        negative_spans_len: 0,
        positive_deltas: ptr::null(),
        positive_deltas_len: 0,
        negative_deltas: ptr::null(),
        negative_deltas_len: 0,
        positive_counts: ptr::null(),
        positive_counts_len: 0,
        negative_counts: ptr::null(),
        negative_counts_len: 0,
        custom_values: ptr::null(),
        custom_values_len: 0,
        reset_hint: PROMRW_RESET_HINT_UNKNOWN,
        start_timestamp_ms: 0,
        exemplar: ptr::null(),
    }
}

/// An exemplar over `labels` (kept alive by the caller).
fn exemplar(labels: &[promrw_label], value: f64, timestamp_ms: Option<i64>) -> promrw_exemplar {
    promrw_exemplar {
        labels: labels.as_ptr(),
        labels_len: labels.len(),
        value,
        timestamp_ms: timestamp_ms.unwrap_or(0),
        has_timestamp: u32::from(timestamp_ms.is_some()),
    }
}

/// Appends a histogram; the status and the error, if any.
fn try_histogram(
    s: *const promrw_sender,
    r: promrw_series_ref,
    t: i64,
    h: &promrw_histogram,
) -> (promrw_status, Option<(promrw_status, String)>) {
    let mut err = ptr::null_mut();
    // SAFETY: `h`, its arrays and exemplar live for the call; `err` is a valid out pointer.
    let status = unsafe { promrw_sender_append_histogram(s, r, t, h, &mut err) };
    (status, (!err.is_null()).then(|| take_error(err)))
}

/// Asserts that `got` failed with `code` and a message containing `needle`.
fn assert_refused(
    got: (promrw_status, Option<(promrw_status, String)>),
    code: promrw_status,
    needle: &str,
) {
    let (status, error) = got;
    assert_eq!(status, code, "{error:?}");
    let (error_code, message) = error.expect("an error message");
    assert_eq!(error_code, code);
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

/// Appends a sample with a start timestamp and an optional exemplar; status and error.
fn try_exemplar(
    s: *const promrw_sender,
    r: promrw_series_ref,
    t: i64,
    start: i64,
    value: f64,
    ex: Option<&promrw_exemplar>,
) -> (promrw_status, Option<(promrw_status, String)>) {
    let mut err = ptr::null_mut();
    let ex = ex.map_or(ptr::null(), |e| e as *const promrw_exemplar);
    // SAFETY: `ex` and its labels live for the call; `err` is a valid out pointer.
    let status = unsafe { promrw_sender_append_with_exemplar(s, r, t, start, value, ex, &mut err) };
    (status, (!err.is_null()).then(|| take_error(err)))
}

/// Sets metadata; status and error.
fn try_metadata(
    s: *const promrw_sender,
    r: promrw_series_ref,
    metric_type: u32,
    help: &str,
    unit: &str,
) -> (promrw_status, Option<(promrw_status, String)>) {
    let mut err = ptr::null_mut();
    // SAFETY: the texts live for the call; `err` is a valid out pointer.
    let status = unsafe {
        promrw_sender_set_metadata(
            s,
            r,
            metric_type,
            help.as_ptr().cast(),
            help.len(),
            unit.as_ptr().cast(),
            unit.len(),
            &mut err,
        )
    };
    (status, (!err.is_null()).then(|| take_error(err)))
}

#[test]
fn histogram_exemplar_and_metadata_arguments_are_checked_at_the_boundary() {
    let recv = receiver();
    let s = sender(&yaml(&recv.url(), ""));
    let r = series(s, &[("__name__", "ffi_hist")]);
    let t = now_ms();
    let spans = [promrw_bucket_span {
        offset: 0,
        length: 2,
    }];
    let deltas = [1i64, 1];

    // NULL handle, NULL histogram, wrong struct_size (too small, from a newer header).
    let h = empty_histogram();
    assert_refused(
        try_histogram(ptr::null(), r, t, &h),
        PROMRW_INVALID_ARGUMENT,
        "sender is NULL",
    );
    let mut err = ptr::null_mut();
    // SAFETY: `s` is live; a NULL histogram is checked; `err` is a valid out pointer.
    let status = unsafe { promrw_sender_append_histogram(s, r, t, ptr::null(), &mut err) };
    assert_refused(
        (status, (!err.is_null()).then(|| take_error(err))),
        PROMRW_INVALID_ARGUMENT,
        "histogram is NULL",
    );
    for size in [0, 8, size_of::<promrw_histogram>() - 8] {
        let h = promrw_histogram {
            struct_size: size,
            ..empty_histogram()
        };
        assert_refused(
            try_histogram(s, r, t, &h),
            PROMRW_INVALID_ARGUMENT,
            "histogram.struct_size",
        );
    }
    #[repr(C)]
    struct Newer {
        h: promrw_histogram,
        later: u64,
    }
    let newer = Newer {
        h: promrw_histogram {
            struct_size: size_of::<Newer>(),
            ..empty_histogram()
        },
        later: 1,
    };
    assert_refused(
        try_histogram(s, r, t, &newer.h),
        PROMRW_INVALID_ARGUMENT,
        "histogram.struct_size",
    );
    assert_eq!(newer.later, 1);

    // A NULL array with a non-zero length names the field.
    for (h, field) in [
        (
            promrw_histogram {
                positive_spans_len: 2,
                ..empty_histogram()
            },
            "histogram.positive_spans is NULL but its length is 2",
        ),
        (
            promrw_histogram {
                negative_deltas_len: 1,
                ..empty_histogram()
            },
            "histogram.negative_deltas is NULL",
        ),
        (
            promrw_histogram {
                kind: PROMRW_HISTOGRAM_FLOAT,
                positive_counts_len: 3,
                ..empty_histogram()
            },
            "histogram.positive_counts is NULL",
        ),
        (
            promrw_histogram {
                custom_values_len: 1,
                ..empty_histogram()
            },
            "histogram.custom_values is NULL",
        ),
    ] {
        assert_refused(try_histogram(s, r, t, &h), PROMRW_INVALID_ARGUMENT, field);
    }

    // Unknown kind or reset hint; arrays of the other kind.
    let h = promrw_histogram {
        kind: 2,
        ..empty_histogram()
    };
    assert_refused(
        try_histogram(s, r, t, &h),
        PROMRW_INVALID_ARGUMENT,
        "histogram.kind is 2",
    );
    let h = promrw_histogram {
        reset_hint: 4,
        ..empty_histogram()
    };
    assert_refused(
        try_histogram(s, r, t, &h),
        PROMRW_INVALID_ARGUMENT,
        "histogram.reset_hint is 4",
    );
    let h = promrw_histogram {
        kind: PROMRW_HISTOGRAM_FLOAT,
        positive_deltas: deltas.as_ptr(),
        positive_deltas_len: deltas.len(),
        ..empty_histogram()
    };
    assert_refused(
        try_histogram(s, r, t, &h),
        PROMRW_INVALID_ARGUMENT,
        "histogram.positive_deltas has 2 elements but kind is PROMRW_HISTOGRAM_FLOAT",
    );

    // Prometheus's rules: spans against buckets, schema, the count against the buckets.
    let h = promrw_histogram {
        count_int: 3,
        positive_spans: spans.as_ptr(),
        positive_spans_len: spans.len(),
        positive_deltas: deltas.as_ptr(),
        positive_deltas_len: 1,
        ..empty_histogram()
    };
    assert_refused(
        try_histogram(s, r, t, &h),
        PROMRW_INVALID_ARGUMENT,
        "histogram: ",
    );
    let h = promrw_histogram {
        schema: 9,
        ..empty_histogram()
    };
    assert_refused(
        try_histogram(s, r, t, &h),
        PROMRW_INVALID_ARGUMENT,
        "histogram: ",
    );
    let h = promrw_histogram {
        count_int: 7,
        positive_spans: spans.as_ptr(),
        positive_spans_len: spans.len(),
        positive_deltas: deltas.as_ptr(),
        positive_deltas_len: deltas.len(),
        ..empty_histogram()
    };
    assert_refused(
        try_histogram(s, r, t, &h),
        PROMRW_INVALID_ARGUMENT,
        "histogram: ",
    );
    // The start timestamp may not be after the histogram's.
    let h = promrw_histogram {
        start_timestamp_ms: t + 1,
        ..empty_histogram()
    };
    assert_refused(
        try_histogram(s, r, t, &h),
        PROMRW_INVALID_ARGUMENT,
        "start timestamp",
    );

    // Exemplars: over 128 runes (a label-rule refusal), a bad has_timestamp, NULL labels
    // with a length, a NULL label string with a length; on a sample and on a histogram.
    let long = "é".repeat(121);
    let over = [label(b"trace_id", long.as_bytes())];
    let ex = exemplar(&over, 1.0, None);
    assert_refused(
        try_exemplar(s, r, t, 0, 1.0, Some(&ex)),
        PROMRW_INVALID_LABELS,
        "128",
    );
    let h = promrw_histogram {
        exemplar: &ex,
        ..empty_histogram()
    };
    assert_refused(try_histogram(s, r, t, &h), PROMRW_INVALID_LABELS, "128");
    let fine = [label(b"trace_id", b"abc")];
    let ex = promrw_exemplar {
        has_timestamp: 2,
        ..exemplar(&fine, 1.0, None)
    };
    assert_refused(
        try_exemplar(s, r, t, 0, 1.0, Some(&ex)),
        PROMRW_INVALID_ARGUMENT,
        "exemplar.has_timestamp is 2",
    );
    let ex = promrw_exemplar {
        labels: ptr::null(),
        labels_len: 1,
        ..exemplar(&fine, 1.0, None)
    };
    let h = promrw_histogram {
        exemplar: &ex,
        ..empty_histogram()
    };
    assert_refused(
        try_histogram(s, r, t, &h),
        PROMRW_INVALID_ARGUMENT,
        "histogram.exemplar.labels is NULL",
    );
    let null_value = [promrw_label {
        value: ptr::null(),
        ..label(b"trace_id", b"abc")
    }];
    let ex = exemplar(&null_value, 1.0, None);
    assert_refused(
        try_exemplar(s, r, t, 0, 1.0, Some(&ex)),
        PROMRW_INVALID_ARGUMENT,
        "exemplar.labels[0].value is NULL",
    );
    assert_refused(
        try_exemplar(s, r, t, t + 1, 1.0, None),
        PROMRW_INVALID_ARGUMENT,
        "start timestamp",
    );

    // Metadata: an unknown metric type, NULL text with a length, an unknown series.
    assert_refused(
        try_metadata(s, r, 8, "", ""),
        PROMRW_INVALID_ARGUMENT,
        "metric_type is 8",
    );
    let mut err = ptr::null_mut();
    // SAFETY: `s` is live; NULL with a length is checked; `err` is a valid out pointer.
    let status = unsafe {
        promrw_sender_set_metadata(
            s,
            r,
            PROMRW_METRIC_TYPE_GAUGE,
            ptr::null(),
            3,
            ptr::null(),
            0,
            &mut err,
        )
    };
    assert_refused(
        (status, (!err.is_null()).then(|| take_error(err))),
        PROMRW_INVALID_ARGUMENT,
        "help is NULL",
    );
    let bad = [0xffu8];
    let mut err = ptr::null_mut();
    // SAFETY: as above, with a readable one-byte unit.
    let status = unsafe {
        promrw_sender_set_metadata(
            s,
            r,
            PROMRW_METRIC_TYPE_GAUGE,
            ptr::null(),
            0,
            bad.as_ptr().cast(),
            1,
            &mut err,
        )
    };
    assert_refused(
        (status, (!err.is_null()).then(|| take_error(err))),
        PROMRW_INVALID_ARGUMENT,
        "unit is not valid UTF-8",
    );
    assert_refused(
        try_metadata(s, r + 1000, PROMRW_METRIC_TYPE_GAUGE, "", ""),
        PROMRW_UNKNOWN_SERIES,
        "",
    );
    // The valid forms are accepted (NULL err is fine), and nothing refused was counted.
    assert_eq!(
        try_metadata(s, r, PROMRW_METRIC_TYPE_GAUGE, "h", "").0,
        PROMRW_OK
    );
    let ex = exemplar(&fine, 1.0, None);
    assert_eq!(try_exemplar(s, r, t, t - 5, 1.0, Some(&ex)).0, PROMRW_OK);
    // SAFETY: `s` is live.
    assert_eq!(
        unsafe { promrw_sender_append_stale_histogram(s, r, t + 1) },
        PROMRW_OK
    );
    let st = stats(s);
    assert_eq!(st.samples_appended, 2, "one sample and one stale histogram");
    // SAFETY: `s` is live; refused after close, counted as a closed refusal.
    unsafe {
        assert_eq!(promrw_sender_close(s, 5_000), PROMRW_OK);
        assert_eq!(
            try_histogram(s, r, t + 2, &empty_histogram()).0,
            PROMRW_CLOSED
        );
        assert_eq!(try_exemplar(s, r, t + 2, 0, 1.0, None).0, PROMRW_CLOSED);
        assert_eq!(
            try_metadata(s, r, PROMRW_METRIC_TYPE_GAUGE, "", "").0,
            PROMRW_CLOSED
        );
        promrw_sender_free(s);
    }
}

#[test]
fn histograms_exemplars_and_metadata_reach_a_remote_write_2_receiver_exactly() {
    use promrw::model::{BucketSpan, Histogram, HistogramCounts, ResetHint};
    use promrw_tools::receiver::decode_v2::histogram_from_proto;

    let recv = receiver();
    let s = sender(&yaml(
        &recv.url(),
        "    protobuf_message: io.prometheus.write.v2.Request\n    send_exemplars: true\n",
    ));
    let hist = series(s, &[("__name__", "ffi_latency_seconds"), ("job", "ffi")]);
    let fhist = series(s, &[("__name__", "ffi_float_seconds"), ("job", "ffi")]);
    let nhcb = series(s, &[("__name__", "ffi_custom_seconds"), ("job", "ffi")]);
    let counter = series(s, &[("__name__", "ffi_requests_total"), ("job", "ffi")]);
    let t = now_ms();

    // An integer histogram with a timestamped exemplar and a start timestamp.
    let spans = [
        promrw_bucket_span {
            offset: 0,
            length: 2,
        },
        promrw_bucket_span {
            offset: 1,
            length: 1,
        },
    ];
    let neg_spans = [promrw_bucket_span {
        offset: 1,
        length: 1,
    }];
    let deltas = [1i64, 1, -1];
    let neg_deltas = [2i64];
    let trace = [label(b"trace_id", b"4bf92f3577b34da6")];
    let hist_ex = exemplar(&trace, 0.25, Some(t - 3));
    let h = promrw_histogram {
        schema: 0,
        zero_threshold: 0.001,
        sum: 10.5,
        count_int: 7,
        zero_count_int: 1,
        positive_spans: spans.as_ptr(),
        positive_spans_len: spans.len(),
        negative_spans: neg_spans.as_ptr(),
        negative_spans_len: neg_spans.len(),
        positive_deltas: deltas.as_ptr(),
        positive_deltas_len: deltas.len(),
        negative_deltas: neg_deltas.as_ptr(),
        negative_deltas_len: neg_deltas.len(),
        reset_hint: PROMRW_RESET_HINT_NO,
        start_timestamp_ms: t - 60_000,
        exemplar: &hist_ex,
        ..empty_histogram()
    };
    assert_eq!(try_histogram(s, hist, t, &h), (PROMRW_OK, None));
    // A float histogram.
    let fspans = [promrw_bucket_span {
        offset: -1,
        length: 2,
    }];
    let fcounts = [2.0f64, 4.5];
    let fh = promrw_histogram {
        schema: 3,
        kind: PROMRW_HISTOGRAM_FLOAT,
        zero_threshold: 0.0,
        sum: 3.75,
        count_float: 7.0,
        zero_count_float: 0.5,
        positive_spans: fspans.as_ptr(),
        positive_spans_len: fspans.len(),
        positive_counts: fcounts.as_ptr(),
        positive_counts_len: fcounts.len(),
        reset_hint: PROMRW_RESET_HINT_GAUGE,
        ..empty_histogram()
    };
    assert_eq!(try_histogram(s, fhist, t, &fh), (PROMRW_OK, None));
    // A histogram with custom buckets (schema -53).
    let cspans = [promrw_bucket_span {
        offset: 0,
        length: 3,
    }];
    let cdeltas = [1i64, 0, 1];
    let bounds = [0.5f64, 1.0];
    let ch = promrw_histogram {
        schema: -53,
        sum: 2.0,
        count_int: 4,
        positive_spans: cspans.as_ptr(),
        positive_spans_len: cspans.len(),
        positive_deltas: cdeltas.as_ptr(),
        positive_deltas_len: cdeltas.len(),
        custom_values: bounds.as_ptr(),
        custom_values_len: bounds.len(),
        ..empty_histogram()
    };
    assert_eq!(try_histogram(s, nhcb, t, &ch), (PROMRW_OK, None));
    // A sample with an exemplar taking its timestamp, then one with a start timestamp only.
    let ex = exemplar(&trace, 1.0, None);
    assert_eq!(
        try_exemplar(s, counter, t, t - 60_000, 41.0, Some(&ex)),
        (PROMRW_OK, None)
    );
    assert_eq!(
        try_exemplar(s, counter, t + 1, t - 60_000, 42.0, None),
        (PROMRW_OK, None)
    );
    assert_eq!(
        try_metadata(
            s,
            counter,
            PROMRW_METRIC_TYPE_COUNTER,
            "Requests served.",
            "requests"
        ),
        (PROMRW_OK, None)
    );
    assert_eq!(
        try_metadata(s, hist, PROMRW_METRIC_TYPE_HISTOGRAM, "Latency.", "seconds"),
        (PROMRW_OK, None)
    );
    // Metadata set after the appends still goes with later requests: append once more.
    // SAFETY: `s` is live.
    unsafe {
        assert_eq!(promrw_sender_append(s, counter, t + 2, 43.0), PROMRW_OK);
        assert_eq!(
            promrw_sender_append_stale_histogram(s, hist, t + 2),
            PROMRW_OK
        );
        assert_eq!(promrw_sender_flush(s, 10_000), PROMRW_OK);
    }

    let store = recv.store();
    let got = |labels: &[(&str, &str)]| -> Vec<(i64, Histogram)> {
        store
            .histograms(labels)
            .unwrap_or_else(|| panic!("no histograms for {labels:?}"))
            .iter()
            .map(|(ts, h)| (*ts, histogram_from_proto(h).unwrap()))
            .collect()
    };
    let hist_labels = [("__name__", "ffi_latency_seconds"), ("job", "ffi")];
    let hists = got(&hist_labels);
    assert_eq!(hists.len(), 2, "{hists:?}");
    assert_eq!(
        hists[0],
        (
            t,
            Histogram {
                schema: 0,
                zero_threshold: 0.001,
                sum: 10.5,
                counts: HistogramCounts::Integer {
                    count: 7,
                    zero_count: 1,
                    positive_deltas: deltas.to_vec(),
                    negative_deltas: neg_deltas.to_vec(),
                },
                positive_spans: vec![
                    BucketSpan {
                        offset: 0,
                        length: 2
                    },
                    BucketSpan {
                        offset: 1,
                        length: 1
                    }
                ],
                negative_spans: vec![BucketSpan {
                    offset: 1,
                    length: 1
                }],
                reset_hint: ResetHint::No,
                custom_values: Vec::new(),
            }
        )
    );
    assert_eq!(hists[1].0, t + 2);
    assert!(hists[1].1.is_stale(), "the stale marker's sum is StaleNaN");
    assert_eq!(
        got(&[("__name__", "ffi_float_seconds"), ("job", "ffi")]),
        vec![(
            t,
            Histogram {
                schema: 3,
                zero_threshold: 0.0,
                sum: 3.75,
                counts: HistogramCounts::Float {
                    count: 7.0,
                    zero_count: 0.5,
                    positive_counts: fcounts.to_vec(),
                    negative_counts: Vec::new(),
                },
                positive_spans: vec![BucketSpan {
                    offset: -1,
                    length: 2
                }],
                negative_spans: Vec::new(),
                reset_hint: ResetHint::Gauge,
                custom_values: Vec::new(),
            }
        )]
    );
    assert_eq!(
        got(&[("__name__", "ffi_custom_seconds"), ("job", "ffi")]),
        vec![(
            t,
            Histogram {
                schema: -53,
                zero_threshold: 0.0,
                sum: 2.0,
                counts: HistogramCounts::Integer {
                    count: 4,
                    zero_count: 0,
                    positive_deltas: cdeltas.to_vec(),
                    negative_deltas: Vec::new(),
                },
                positive_spans: vec![BucketSpan {
                    offset: 0,
                    length: 3
                }],
                negative_spans: Vec::new(),
                reset_hint: ResetHint::Unknown,
                custom_values: bounds.to_vec(),
            }
        )]
    );
    let trace_labels = vec![("trace_id".to_string(), "4bf92f3577b34da6".to_string())];
    let hist_exemplars = store.exemplars(&hist_labels).unwrap();
    assert_eq!(hist_exemplars.len(), 1, "{hist_exemplars:?}");
    assert_eq!(hist_exemplars[0].labels, trace_labels);
    assert_eq!(hist_exemplars[0].value_bits, 0.25f64.to_bits());
    assert_eq!(hist_exemplars[0].timestamp, t - 3);
    let counter_labels = [("__name__", "ffi_requests_total"), ("job", "ffi")];
    let counter_exemplars = store.exemplars(&counter_labels).unwrap();
    assert_eq!(counter_exemplars.len(), 1, "{counter_exemplars:?}");
    assert_eq!(counter_exemplars[0].labels, trace_labels);
    assert_eq!(counter_exemplars[0].value_bits, 1.0f64.to_bits());
    assert_eq!(
        counter_exemplars[0].timestamp, t,
        "no timestamp: the sample's"
    );
    assert_eq!(
        store.samples(&counter_labels).unwrap(),
        vec![
            (t, 41.0f64.to_bits()),
            (t + 1, 42.0f64.to_bits()),
            (t + 2, 43.0f64.to_bits())
        ]
    );
    let meta = store.metadata(&counter_labels).expect("metadata sent");
    assert_eq!(
        (meta.metric_type, meta.help.as_str(), meta.unit.as_str()),
        (1, "Requests served.", "requests")
    );
    let meta = store.metadata(&hist_labels).expect("metadata sent");
    assert_eq!(
        (meta.metric_type, meta.help.as_str(), meta.unit.as_str()),
        (3, "Latency.", "seconds")
    );

    let st = stats(s);
    assert_eq!(st.remote_write_protocol, 2);
    assert_eq!((st.histograms_acked, st.histograms_failed), (4, 0));
    assert!(st.histograms_total >= 4);
    assert_eq!((st.exemplars_acked, st.exemplars_dropped), (2, 0));
    assert_eq!(st.histograms_dropped, 0);
    close_and_free(s, PROMRW_OK);
}
