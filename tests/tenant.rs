//! Per-tenant routing (`tenant`, a promrw extension): every request carries the series of
//! exactly one tenant, named in the tenant header; the tenant label is removed unless
//! `keep_label`; series without a tenant go to `default` or are dropped and counted; retries
//! keep their tenant; WAL mode routes what it reads back the same way.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Fault, FaultReceiver, TempDir, now_ms};
use promrw::{Config, Sender};

/// One endpoint routing by the `tenant` label; `tenant_extra` adds lines to the `tenant`
/// block (6 spaces), `extra` top-level lines.
fn config(url: &str, tenant_extra: &str, extra: &str) -> String {
    format!(
        "remote_write:
  - url: {url}
    name: mimir
    queue_config: {{batch_send_deadline: 20ms, min_backoff: 10ms, max_backoff: 50ms, max_samples_per_send: 50}}
    tenant:
      label: tenant
{tenant_extra}{extra}"
    )
}

/// Appends `rounds` rounds to series of tenants a, b, c and one without a tenant label, the
/// tenants interleaved within each round.
fn append_rounds(sender: &Sender, rounds: i64) {
    let pairs: [&[(&str, &str)]; 4] = [
        &[("__name__", "m_a"), ("tenant", "a")],
        &[("__name__", "m_b"), ("tenant", "b")],
        &[("__name__", "m_none")],
        &[("__name__", "m_c"), ("tenant", "c")],
    ];
    let refs: Vec<_> = pairs
        .iter()
        .map(|p| sender.series_from_pairs(p).unwrap())
        .collect();
    let t0 = now_ms() - 5_000;
    for round in 0..rounds {
        for r in &refs {
            sender.append(*r, t0 + round, round as f64).unwrap();
        }
    }
}

/// Checks that every acknowledged request named exactly one tenant in `header` and held only
/// that tenant's series (`m_<tenant>`, `m_none` for the default), and returns the samples
/// received per tenant.
fn by_tenant(receiver: &FaultReceiver, header: &str, default: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for seen in receiver.seen() {
        if !(200..300).contains(&seen.status) {
            continue;
        }
        let tenants: Vec<&String> = seen
            .headers
            .iter()
            .filter(|(name, _)| name == header)
            .map(|(_, value)| value)
            .collect();
        assert_eq!(
            tenants.len(),
            1,
            "one tenant header per request: {:?}",
            seen.headers
        );
        let tenant = tenants[0].clone();
        let expected_name = if tenant == default {
            "m_none".to_string()
        } else {
            format!("m_{tenant}")
        };
        for (name, _, _) in &seen.contents {
            assert_eq!(
                *name, expected_name,
                "a series of another tenant in {tenant}'s request"
            );
        }
        *counts.entry(tenant).or_insert(0) += seen.contents.len();
    }
    counts
}

/// The stored label sets, each as `name=value,...`.
fn label_sets(receiver: &FaultReceiver) -> BTreeSet<String> {
    receiver
        .store()
        .all_samples()
        .into_iter()
        .map(|(labels, _)| {
            labels
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

fn dropped_no_tenant(sender: &Sender) -> u64 {
    let needle = "prometheus_remote_storage_samples_dropped_total{reason=\"no_tenant\",remote_name=\"mimir\"";
    let text = sender.metrics_text();
    text.lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
}

#[test]
fn each_request_carries_one_tenant_and_the_label_is_removed() {
    let receiver = FaultReceiver::start();
    // Two 429s first: the retried requests keep their tenant.
    receiver.push_faults([
        Fault::Status(429, "slow down"),
        Fault::Status(429, "slow down"),
    ]);
    let sender = Sender::new(
        Config::from_text(&config(&receiver.url(), "      default: anonymous\n", "")).unwrap(),
    )
    .unwrap();
    append_rounds(&sender, 120);
    sender.flush(Duration::from_secs(10)).unwrap();
    let per_tenant = by_tenant(&receiver, "x-scope-orgid", "anonymous");
    let expected: BTreeMap<String, usize> =
        [("a", 120), ("anonymous", 120), ("b", 120), ("c", 120)]
            .into_iter()
            .map(|(t, n)| (t.to_string(), n))
            .collect();
    assert_eq!(per_tenant, expected, "every sample once, under its tenant");
    let sets = label_sets(&receiver);
    assert_eq!(
        sets,
        [
            "__name__=m_a",
            "__name__=m_b",
            "__name__=m_c",
            "__name__=m_none"
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        "the tenant label is not sent"
    );
    let totals = receiver.store().totals();
    assert_eq!((totals.duplicates, totals.out_of_order), (0, 0));
    assert_eq!(dropped_no_tenant(&sender), 0);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn without_a_default_series_without_a_tenant_are_dropped_and_counted_and_keep_label_keeps_it() {
    let receiver = FaultReceiver::start();
    let sender = Sender::new(
        Config::from_text(&config(
            &receiver.url(),
            "      header: X-Tenant\n      keep_label: true\n",
            "",
        ))
        .unwrap(),
    )
    .unwrap();
    append_rounds(&sender, 30);
    sender.flush(Duration::from_secs(10)).unwrap();
    let per_tenant: BTreeSet<String> = by_tenant(&receiver, "x-tenant", "").into_keys().collect();
    assert_eq!(
        per_tenant,
        ["a", "b", "c"].into_iter().map(String::from).collect()
    );
    assert!(label_sets(&receiver).contains("__name__=m_a,tenant=a"));
    assert_eq!(receiver.store().totals().accepted, 90);
    assert_eq!(
        dropped_no_tenant(&sender),
        30,
        "each sample of the series without one"
    );
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn wal_mode_routes_what_it_reads_back() {
    let dir = TempDir::new("tenant-wal");
    let down = FaultReceiver::start();
    down.push_faults((0..100_000).map(|_| Fault::Status(503, "down")));
    let wal = format!("promrw:\n  wal:\n    dir: {}\n", dir.path().display());
    let sender = Sender::new(
        Config::from_text(&config(&down.url(), "      default: anonymous\n", &wal)).unwrap(),
    )
    .unwrap();
    append_rounds(&sender, 25);
    sender.sync(Duration::from_secs(10)).unwrap();
    let _ = sender.close(Duration::from_millis(300));
    let up = FaultReceiver::start();
    let sender = Sender::new(
        Config::from_text(&config(&up.url(), "      default: anonymous\n", &wal)).unwrap(),
    )
    .unwrap();
    sender.flush(Duration::from_secs(20)).unwrap();
    let tenants: BTreeSet<String> = by_tenant(&up, "x-scope-orgid", "anonymous")
        .into_keys()
        .collect();
    assert_eq!(
        tenants,
        ["a", "anonymous", "b", "c"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(up.store().totals().accepted, 100);
    sender.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn bad_tenant_blocks_are_refused_naming_the_key() {
    let cases = [
        (
            "    tenant: {header: X-Scope-OrgID}\n",
            "remote_write[0].tenant.label: is required",
        ),
        (
            "    tenant: {label: bad-name}\n",
            "remote_write[0].tenant.label: \"bad-name\" is not a valid label name",
        ),
        (
            "    tenant: {label: t, header: Content-Type}\n",
            "remote_write[0].tenant.header: Content-Type is a reserved header",
        ),
        (
            "    tenant: {label: t, default: ''}\n",
            "remote_write[0].tenant.default",
        ),
        (
            "    tenant: {label: t, lable: x}\n",
            "remote_write[0].tenant.lable: unknown field",
        ),
        (
            "    tenant: {label: t}\n    headers: {X-Scope-OrgID: fixed}\n",
            "remote_write[0].tenant.header: X-Scope-OrgID is also set in headers",
        ),
    ];
    for (block, expected) in cases {
        let text = format!("remote_write:\n  - url: http://127.0.0.1:9/w\n{block}");
        let err = Config::from_text(&text).unwrap_err();
        assert!(
            err.message().contains(expected),
            "{:?} should contain {expected:?}",
            err.message()
        );
    }
}
