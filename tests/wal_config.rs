//! `promrw.wal`: parsed and validated with errors naming the field, the same settings through
//! the builder, and refused by `Sender::new` until the durable queue delivers (issue 12).

use std::time::Duration;

use promrw::config::{EndpointConfig, FsyncPolicy, FullPolicy, WalConfig};
use promrw::{Config, ErrorKind};

const URL: &str = "remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n";

fn parse(wal: &str) -> promrw::Result<Config> {
    Config::from_text(&format!("{URL}promrw:\n  wal:\n{wal}"))
}

#[test]
fn every_key_parses_with_its_defaults() {
    let config = parse("    dir: /var/lib/app/promrw\n").unwrap();
    assert_eq!(config.wal, Some(WalConfig::new("/var/lib/app/promrw")));
    let wal = WalConfig::new("/x");
    assert_eq!(wal.fsync, FsyncPolicy::Interval(Duration::from_secs(1)));
    assert_eq!(wal.max_bytes, 1 << 30);
    assert_eq!((wal.max_age, wal.full), (None, FullPolicy::DropOldest));
    let config = parse(
        "    dir: /d\n    fsync: interval\n    fsync_interval: 250ms\n    max_bytes: 10MB\n    max_age: 2h\n    full: fail\n",
    )
    .unwrap();
    let wal = config.wal.unwrap();
    assert_eq!(wal.fsync, FsyncPolicy::Interval(Duration::from_millis(250)));
    assert_eq!(wal.max_bytes, 10_000_000);
    assert_eq!(wal.max_age, Some(Duration::from_secs(7200)));
    assert_eq!(wal.full, FullPolicy::Fail);
    for (text, policy) in [
        ("always", FsyncPolicy::Always),
        ("never", FsyncPolicy::Never),
    ] {
        let wal = parse(&format!("    dir: /d\n    fsync: {text}\n"))
            .unwrap()
            .wal
            .unwrap();
        assert_eq!(wal.fsync, policy);
    }
    let wal = parse("    dir: /d\n    max_age: 0s\n    max_bytes: 512MiB\n")
        .unwrap()
        .wal
        .unwrap();
    assert_eq!((wal.max_age, wal.max_bytes), (None, 512 << 20));
}

#[test]
fn bad_values_and_unknown_keys_name_the_field() {
    for (wal, field, why) in [
        ("    fsync: always\n", "promrw.wal.dir", "required"),
        (
            "    dir: /d\n    fsync: sometimes\n",
            "promrw.wal.fsync",
            "unknown variant",
        ),
        (
            "    dir: /d\n    fsync: never\n    fsync_interval: 1s\n",
            "promrw.wal.fsync_interval",
            "only with fsync: interval",
        ),
        (
            "    dir: /d\n    fsync_interval: 0s\n",
            "promrw.wal.fsync_interval",
            "greater than 0s",
        ),
        (
            "    dir: /d\n    max_bytes: 1gib\n",
            "promrw.wal.max_bytes",
            "unknown size unit",
        ),
        (
            "    dir: /d\n    max_bytes: 100KiB\n",
            "promrw.wal.max_bytes",
            "at least 1MiB",
        ),
        ("    dir: /d\n    max_age: soon\n", "promrw.wal.max_age", ""),
        (
            "    dir: /d\n    full: block\n",
            "promrw.wal.full",
            "unknown variant",
        ),
        (
            "    dir: /d\n    segment_size: 1MiB\n",
            "promrw.wal",
            "segment_size",
        ),
    ] {
        let error = parse(wal).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidConfig, "{wal}");
        assert!(error.message().contains(field), "{wal}: {error}");
        assert!(error.message().contains(why), "{wal}: {error}");
    }
}

#[test]
fn the_builder_takes_the_same_settings_and_validation() {
    let endpoint = EndpointConfig::new("http://127.0.0.1:9/api/v1/write");
    let mut wal = WalConfig::new("/d");
    wal.max_bytes = 1000;
    let error = Config::builder()
        .endpoint(endpoint.clone())
        .wal(wal)
        .build()
        .unwrap_err();
    assert!(error.message().contains("promrw.wal.max_bytes"), "{error}");
    let config = Config::builder()
        .endpoint(endpoint)
        .wal(WalConfig::new("/d"))
        .build()
        .unwrap();
    assert_eq!(config.wal, Some(WalConfig::new("/d")));
}
