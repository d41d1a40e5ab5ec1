//! An endpoint's `write_relabel_configs` and `tenant` routing applied to a series, once per
//! series and endpoint: when its first sample is queued for the endpoint. In memory mode that
//! is on the append path, and the registry slot remembers a drop
//! ([`LockedSlot::mark_relabel_dropped`]) while the relabeled series travels to the shard as
//! the announcing sample's series, which the shard caches; in WAL mode the endpoint's feeder
//! relabels each series it reads back once and keeps the result in its own table. The
//! per-sample path never relabels.
//!
//! [`LockedSlot::mark_relabel_dropped`]: crate::series::LockedSlot::mark_relabel_dropped

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use crate::config::TenantRouting;
use crate::metrics::DropReason;
use crate::relabel::{LabelPair, PairsOutcome, RelabelRule, relabel_pairs};
use crate::series::Series;
use crate::wire::rw1::{collect_label_pairs, describe_labels, encode_label_pairs_into};

thread_local! {
    /// The encoding of a relabeled series before it is copied into its own block: kept per
    /// thread, so relabeling allocates only the blocks the series keeps (its labels and
    /// itself), which then sit side by side. The shard reads every series' labels for every
    /// batch: relabeled series scattered between freed scratch blocks cost it about 5% more
    /// CPU per sample in `promrw bench --relabel`.
    static ENCODE_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The largest scratch buffer a thread keeps between series (a huge label set's is freed).
const ENCODE_SCRATCH_KEPT: usize = 64 << 10;

/// What an endpoint's rules make of a series.
#[derive(Debug)]
pub enum Relabeled {
    /// Sent with its own labels.
    Unchanged,
    /// Sent with these labels and tenant (the same id as the registry's series).
    Changed(Arc<Series>),
    /// Not sent: a rule dropped it ([`DropReason::Relabel`]), the result is not a series
    /// Remote Write can carry ([`DropReason::RelabelInvalid`]), or it has no tenant
    /// ([`DropReason::NoTenant`]); with what is wrong, for the log, where that helps.
    Dropped(DropReason, Option<String>),
}

/// Applies `rules` and then `tenant` routing to `series`, whose labels include the external
/// labels, as in Prometheus, where write relabeling runs after external labels are added.
/// Labels stay borrowed from the series and the rules until the result is encoded.
pub fn route_series(
    series: &Arc<Series>,
    rules: &[RelabelRule],
    tenant: Option<&TenantRouting>,
) -> Relabeled {
    let base = collect_label_pairs(series.encoded_labels());
    let (mut kept, relabeled, mut invalid): (Vec<LabelPair<'_>>, bool, _) = if rules.is_empty() {
        let borrowed = base
            .iter()
            .map(|&(name, value)| (Cow::Borrowed(name), Cow::Borrowed(value)))
            .collect();
        (borrowed, false, None)
    } else {
        match relabel_pairs(&base, rules) {
            PairsOutcome::Dropped { .. } => {
                return Relabeled::Dropped(DropReason::Relabel, None);
            }
            PairsOutcome::Kept {
                labels,
                changed,
                invalid,
            } => (labels, changed, invalid),
        }
    };
    let mut tenant_name = None;
    if let Some(routing) = tenant {
        let position = kept.iter().position(|l| l.0 == routing.label.as_str());
        let value: Cow<'_, str> = match position {
            Some(index) if routing.keep_label => kept[index].1.clone(),
            Some(index) => {
                let (_, value) = kept.remove(index);
                if kept.is_empty() && invalid.is_none() {
                    invalid = Some("no labels left after the tenant label is removed".to_owned());
                }
                value
            }
            None => match &routing.default {
                Some(default) => Cow::Borrowed(default.as_str()),
                None => return Relabeled::Dropped(DropReason::NoTenant, None),
            },
        };
        if !crate::config::is_tenant_value(&value) {
            let message = format!(
                "series {}: tenant {value:?} cannot be sent in the {} header (visible ASCII only)",
                describe_labels(series.encoded_labels()),
                routing.header
            );
            return Relabeled::Dropped(DropReason::NoTenant, Some(message));
        }
        tenant_name = Some(Arc::<str>::from(value.as_ref()));
    }
    if !relabeled && tenant_name.is_none() {
        return Relabeled::Unchanged;
    }
    let pairs = kept.iter().map(|(n, v)| (n.as_ref(), v.as_ref()));
    let encoded = ENCODE_SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        encode_label_pairs_into(pairs, scratch);
        let result = match invalid {
            Some(problem) => Err(format!(
                "series {} relabeled to {}: {problem}",
                describe_labels(series.encoded_labels()),
                describe_labels(scratch)
            )),
            None => Ok(Arc::<[u8]>::from(&scratch[..])),
        };
        if scratch.capacity() > ENCODE_SCRATCH_KEPT {
            *scratch = Vec::new();
        }
        result
    });
    let encoded = match encoded {
        Ok(encoded) => encoded,
        Err(message) => return Relabeled::Dropped(DropReason::RelabelInvalid, Some(message)),
    };
    let mut routed = Series::from_encoded(series.id(), encoded).sharing_metadata_of(series);
    if let Some(tenant) = tenant_name {
        routed = routed.with_tenant(tenant);
    }
    Relabeled::Changed(Arc::new(routed))
}
