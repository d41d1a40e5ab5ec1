//! The counters of what an endpoint sends besides float samples: native histograms,
//! exemplars and metadata, under Prometheus's names
//! (`prometheus_remote_storage_{histograms,exemplars,metadata}_{total,failed_total,
//! retried_total}`, `{histograms,exemplars}_dropped_total{reason}`), and the protocol each
//! endpoint speaks (`promrw_remote_write_protocol`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{DropReason, EndpointExposition, endpoint_labels, family};

/// Why a histogram or an exemplar was dropped: a sample's reasons, and three of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtraDropReason {
    /// As for samples.
    Sample(DropReason),
    /// A histogram for a Remote Write 1.0 endpoint without `send_native_histograms: true`.
    NativeHistogramsDisabled,
    /// An exemplar for an endpoint without `send_exemplars: true`.
    ExemplarsDisabled,
    /// A histogram with custom buckets (schema -53), which Remote Write 1.0 cannot carry.
    NhcbInRw1NotSupported,
}

/// Number of [`ExtraDropReason`]s.
pub const EXTRA_DROP_REASONS: usize = DropReason::ALL.len() + 3;

impl ExtraDropReason {
    /// All reasons, in exposition order.
    pub fn all() -> [ExtraDropReason; EXTRA_DROP_REASONS] {
        let mut all = [ExtraDropReason::NativeHistogramsDisabled; EXTRA_DROP_REASONS];
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            all[i] = ExtraDropReason::Sample(*reason);
        }
        all[DropReason::ALL.len() + 1] = ExtraDropReason::ExemplarsDisabled;
        all[DropReason::ALL.len() + 2] = ExtraDropReason::NhcbInRw1NotSupported;
        all
    }

    /// The reason's index in [`ExtraDropReason::all`].
    pub fn index(self) -> usize {
        match self {
            ExtraDropReason::Sample(reason) => DropReason::ALL
                .iter()
                .position(|r| *r == reason)
                .unwrap_or(0),
            ExtraDropReason::NativeHistogramsDisabled => DropReason::ALL.len(),
            ExtraDropReason::ExemplarsDisabled => DropReason::ALL.len() + 1,
            ExtraDropReason::NhcbInRw1NotSupported => DropReason::ALL.len() + 2,
        }
    }

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ExtraDropReason::Sample(reason) => reason.as_str(),
            ExtraDropReason::NativeHistogramsDisabled => "native_histograms_disabled",
            ExtraDropReason::ExemplarsDisabled => "exemplars_disabled",
            ExtraDropReason::NhcbInRw1NotSupported => "nhcb_in_rw1_not_supported",
        }
    }
}

/// Live counters of one kind (histograms or exemplars) on one endpoint.
#[derive(Debug, Default)]
pub struct KindMetrics {
    /// `_total`: in send attempts (a retried batch counts again).
    pub total: AtomicU64,
    /// Acknowledged with a 2xx, each once (promrw only).
    pub acked: AtomicU64,
    /// `_failed_total`: lost to a non-recoverable response, or not written by the receiver
    /// (Remote Write 2.0's Written headers).
    pub failed: AtomicU64,
    /// `_retried_total`: in attempts that failed recoverably and were retried.
    pub retried: AtomicU64,
    /// `_dropped_total{reason}`, indexed as [`ExtraDropReason::all`].
    pub dropped: [AtomicU64; EXTRA_DROP_REASONS],
}

impl KindMetrics {
    /// Adds `n` dropped for `reason`.
    pub fn add_dropped(&self, reason: ExtraDropReason, n: u64) {
        self.dropped[reason.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// A snapshot.
    pub fn snapshot(&self) -> KindStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut dropped = [0; EXTRA_DROP_REASONS];
        for (out, counter) in dropped.iter_mut().zip(&self.dropped) {
            *out = load(counter);
        }
        KindStats {
            total: load(&self.total),
            acked: load(&self.acked),
            failed: load(&self.failed),
            retried: load(&self.retried),
            dropped,
        }
    }
}

/// A snapshot of [`KindMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindStats {
    /// In send attempts (a retried batch counts again).
    pub total: u64,
    /// Acknowledged with a 2xx, each once.
    pub acked: u64,
    /// Lost to a non-recoverable response, or reported not written.
    pub failed: u64,
    /// In attempts that failed recoverably and were retried.
    pub retried: u64,
    /// Dropped, indexed as [`ExtraDropReason::all`].
    pub dropped: [u64; EXTRA_DROP_REASONS],
}

impl KindStats {
    /// Dropped for `reason`.
    pub fn dropped(&self, reason: ExtraDropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Dropped for every reason together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Dropped for the reasons that are losses (too old, queue full, the WAL's limits), not
    /// by the configuration (relabeling, tenants, disabled kinds).
    pub fn lost_dropped(&self) -> (u64, u64, u64) {
        let get = |r| self.dropped(ExtraDropReason::Sample(r));
        (
            get(DropReason::TooOld),
            get(DropReason::QueueFull),
            get(DropReason::WalFull) + get(DropReason::WalTooOld),
        )
    }
}

/// Live counters of metadata sending (Remote Write 1.0's metadata requests).
#[derive(Debug, Default)]
pub struct MetadataMetrics {
    /// `prometheus_remote_storage_metadata_total`: metadata entries acknowledged (as
    /// Prometheus, counted on success only).
    pub total: AtomicU64,
    /// `prometheus_remote_storage_metadata_failed_total`.
    pub failed: AtomicU64,
    /// `prometheus_remote_storage_metadata_retried_total`.
    pub retried: AtomicU64,
    /// `prometheus_remote_storage_metadata_bytes_total`: compressed bytes of acknowledged
    /// metadata requests.
    pub bytes: AtomicU64,
}

/// A snapshot of [`MetadataMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetadataStats {
    /// Entries acknowledged.
    pub total: u64,
    /// Entries lost to a non-recoverable response.
    pub failed: u64,
    /// Entries in attempts retried.
    pub retried: u64,
    /// Compressed bytes acknowledged.
    pub bytes: u64,
}

impl MetadataMetrics {
    /// A snapshot.
    pub fn snapshot(&self) -> MetadataStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetadataStats {
            total: load(&self.total),
            failed: load(&self.failed),
            retried: load(&self.retried),
            bytes: load(&self.bytes),
        }
    }
}

/// Writes the histogram, exemplar, metadata and protocol families.
pub fn render_kinds(out: &mut String, endpoints: &[EndpointExposition<'_>]) {
    type Field = fn(&KindStats) -> u64;
    let fields: [(&str, &str, Field); 3] = [
        (
            "total",
            "in send attempts (a retried batch counts again)",
            |k| k.total,
        ),
        (
            "failed_total",
            "that failed on send, or were reported not written, and were not retried",
            |k| k.failed,
        ),
        (
            "retried_total",
            "that failed on send and were retried",
            |k| k.retried,
        ),
    ];
    for (kind, title, get_kind) in [
        (
            "histograms",
            "Native histograms",
            (|s: &super::EndpointStats| s.histograms) as fn(&super::EndpointStats) -> KindStats,
        ),
        ("exemplars", "Exemplars", |s| s.exemplars),
    ] {
        for (suffix, help, get) in fields {
            let name = format!("prometheus_remote_storage_{kind}_{suffix}");
            family(out, &name, "counter", &format!("{title} {help}."));
            for e in endpoints {
                let labels = endpoint_labels(&e.stats);
                let _ = writeln!(out, "{name}{{{labels}}} {}", get(&get_kind(&e.stats)));
            }
        }
        let name = format!("prometheus_remote_storage_{kind}_dropped_total");
        family(
            out,
            &name,
            "counter",
            &format!("{title} dropped after being accepted, by reason."),
        );
        for e in endpoints {
            let stats = get_kind(&e.stats);
            for reason in ExtraDropReason::all() {
                let _ = writeln!(
                    out,
                    "{name}{{reason=\"{}\",{}}} {}",
                    reason.as_str(),
                    endpoint_labels(&e.stats),
                    stats.dropped(reason)
                );
            }
        }
    }
    type MetaField = fn(&MetadataStats) -> u64;
    let metadata: [(&str, &str, MetaField); 4] = [
        (
            "metadata_total",
            "Metadata entries acknowledged in Remote Write 1.0 metadata requests.",
            |m| m.total,
        ),
        (
            "metadata_failed_total",
            "Metadata entries that failed on send and were not retried.",
            |m| m.failed,
        ),
        (
            "metadata_retried_total",
            "Metadata entries that failed on send and were retried.",
            |m| m.retried,
        ),
        (
            "metadata_bytes_total",
            "Compressed bytes of acknowledged metadata requests.",
            |m| m.bytes,
        ),
    ];
    for (suffix, help, get) in metadata {
        let name = format!("prometheus_remote_storage_{suffix}");
        family(out, &name, "counter", help);
        for e in endpoints {
            let labels = endpoint_labels(&e.stats);
            let _ = writeln!(out, "{name}{{{labels}}} {}", get(&e.stats.metadata));
        }
    }
    let name = "promrw_remote_write_protocol";
    family(
        out,
        name,
        "gauge",
        "The Remote Write protocol an endpoint's requests use (1 for the one in use): 2.0 as configured, or 1.0 once a receiver has shown it speaks only 1.0.",
    );
    for e in endpoints {
        let labels = endpoint_labels(&e.stats);
        for protocol in ["1.0", "2.0"] {
            let value = u8::from(e.stats.remote_write_protocol == protocol);
            let _ = writeln!(out, "{name}{{{labels},protocol=\"{protocol}\"}} {value}");
        }
    }
}
