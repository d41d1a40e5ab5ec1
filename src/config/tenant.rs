//! `tenant` (a promrw extension of a `remote_write` entry): per-tenant routing for
//! multi-tenant receivers (Mimir, Cortex, Thanos Receive, Loki-style `X-Scope-OrgID`). Each
//! series' tenant is the value of a label after relabeling; every request carries the series
//! of exactly one tenant, named in a header.

/// The header a tenant is named in unless `tenant.header` says otherwise.
pub(crate) const DEFAULT_TENANT_HEADER: &str = "X-Scope-OrgID";

/// `tenant`: which label names a series' tenant and how requests name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRouting {
    /// The label whose value (after relabeling) is the series' tenant.
    pub label: String,
    /// The request header naming the tenant (default `X-Scope-OrgID`).
    pub header: String,
    /// The tenant of series without the label; `None` drops them (counted,
    /// `reason="no_tenant"`).
    pub default: Option<String>,
    /// Keep the label in what is sent (default false: it is removed).
    pub keep_label: bool,
}

impl TenantRouting {
    /// Routing by `label`, with the default header, no default tenant, the label removed.
    pub fn new(label: impl Into<String>) -> TenantRouting {
        TenantRouting {
            label: label.into(),
            header: DEFAULT_TENANT_HEADER.to_string(),
            default: None,
            keep_label: false,
        }
    }
}
