//! Provisioning: brings one ConnectWise company's Acronis tenant to what its current data
//! says (provision, sync quotas, deprovision, or nothing). Used by the provisioner and
//! reconciler Lambdas and by `acw`.
//!
//! It decides from current data only: the company and its agreements are re-read; the
//! event that triggered the work is a hint. Every step is idempotent so a retry after a
//! crash or timeout converges without duplicates:
//! - the company is claimed in the store first (a lease), so concurrent deliveries do not
//!   both create;
//! - the tenant is tagged with the company id (`internal_tag`), so a retry adopts the one
//!   a previous attempt made;
//! - the account is looked up by login when its creation is refused; quotas are written
//!   only where they differ;
//! - the mapping is stored both ways in one transaction as soon as the tenant exists.
//!
//! The plan itself is the domain's ([`crate::domain::company_plan`]); the service is split
//! by job, each file adding to [`Provisioning`]:
//! - `read.rs`: what a company's plan is made from (ConnectWise and the table);
//! - `apply.rs`: one company's run: read, plan, hold back a paused job, confirm
//!   what takes something away, carry it out;
//! - `provision.rs`: the tenant made or adopted, mapped, and set up;
//! - `account.rs`: the tenant's first account;
//! - `sync.rs`: quotas, and a company that qualifies again;
//! - `deprovision.rs`: the deprovisioning steps and their clock;
//! - `ports.rs`: what a company's lifecycle (`deprovision.rs`, and enabling again in
//!   `sync.rs`) needs of Acronis and the table, so its branches are unit-tested with fakes
//!   (`tests.rs`).

mod account;
mod apply;
mod deprovision;
mod ports;
mod provision;
mod read;
mod sync;
#[cfg(test)]
mod tests;

pub use ports::{Lifecycle, LifecycleStore, TenantLifecycle};

use std::time::Duration;

use crate::acronis::{AcronisClient, AcronisError, Connections, UnknownConnection};
use crate::connectwise::{ConnectWiseClient, CwError};
use crate::domain::connection::ConnectionName;
use crate::domain::deprovisioning::PendingStep;
use crate::domain::jobs::Job;
use crate::domain::provisioning::DeprovisionStep;
use crate::domain::quotas;
use crate::store::{Store, StoreError};

// The plan and the view it is made from are the domain's; re-exported where callers have
// always found them.
pub use crate::domain::company_plan::{CompanyPlan, CompanyView};

/// How long a provisioning claim holds.
pub const CLAIM_LEASE: Duration = Duration::from_secs(300);

/// Why a company could not be brought to its target.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Another run is provisioning this company right now.
    #[error("company {0} is being provisioned by another run")]
    Busy(i64),
    /// Data that someone must fix (no contact email, a name taken by another tenant...).
    #[error("{0}")]
    NeedsAttention(String),
    #[error(transparent)]
    ConnectWise(#[from] CwError),
    #[error(transparent)]
    Acronis(#[from] AcronisError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The invocation reached its deadline in the middle of this company; its retry (or the
    /// reconciler) goes on from what the stores show (a tenant POST is noted on the claim
    /// first, so it is looked for before another is made).
    #[error("company {0}: stopped at the invocation's deadline")]
    Deadline(i64),
    /// A vendor answer the plan cannot be decided on (a field missing, `null` or out of
    /// range): nothing is written; retried, as the next answer may be whole.
    #[error("company {0}: {1}")]
    Malformed(i64, quotas::Malformed),
    /// A plan that takes something away was not made again from a fresh read: nothing was
    /// taken; the next run decides on new answers.
    #[error(
        "company {company_id}: {planned} not confirmed by a fresh read (it planned {fresh}): \
         nothing taken away; the next run decides again"
    )]
    Unconfirmed {
        company_id: i64,
        planned: &'static str,
        fresh: &'static str,
    },
}

impl From<UnknownConnection> for ProvisionError {
    /// A mapping through a connection the secret no longer has: a person must put the
    /// connection back or unmap the company.
    fn from(e: UnknownConnection) -> Self {
        Self::NeedsAttention(e.to_string())
    }
}

impl ProvisionError {
    /// A failure a retry may fix, but that a person must look at when it keeps coming back
    /// (the vendor keeps answering what no decision can rest on).
    pub fn needs_a_person_if_it_persists(&self) -> bool {
        matches!(self, Self::Malformed(..) | Self::Unconfirmed { .. })
    }

    /// Worth retrying soon (throttling, outages, a concurrent run).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Busy(_) | Self::Deadline(_) | Self::Malformed(..) | Self::Unconfirmed { .. } => {
                true
            }
            Self::NeedsAttention(_) => false,
            Self::ConnectWise(e) => e.is_transient(),
            Self::Acronis(e) => e.is_transient(),
            Self::Store(e) => e.is_transient(),
        }
    }
}

/// What happened to a company.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Provisioned {
        tenant_id: String,
        adopted: bool,
    },
    QuotasSynced {
        tenant_id: String,
        changed: usize,
    },
    /// The due steps ran (possibly none); `pending` wait for their day.
    Deprovisioned {
        tenant_id: String,
        steps: Vec<DeprovisionStep>,
        pending: Vec<PendingStep>,
    },
    Nothing {
        reason: String,
    },
    /// Its decision belongs to a paused job: nothing written, the company deferred until the
    /// job is resumed (nothing fixed either: a needs-attention ticket stays as it is).
    Deferred {
        job: Job,
        reason: String,
    },
}

/// The provisioning service. Cheap to clone; build once per cold start.
#[derive(Debug, Clone)]
pub struct Provisioning {
    pub cw: ConnectWiseClient,
    /// Every Acronis connection of the deployment.
    pub connections: Connections,
    /// The connection of the company being worked on ([`Provisioning::on`]); the `default`
    /// one (else the first) until then.
    pub acronis: AcronisClient,
    pub store: Store,
    /// When the invocation must stop (none unless set: tests, `acw`, the reconciler).
    pub deadline: crate::deadline::Deadline,
}

impl Provisioning {
    pub fn new(cw: ConnectWiseClient, connections: impl Into<Connections>, store: Store) -> Self {
        let connections = connections.into();
        Self {
            cw,
            acronis: connections.fallback(),
            connections,
            store,
            deadline: crate::deadline::Deadline::none(),
        }
    }

    /// The same service for one invocation that must stop at `deadline`.
    pub fn with_deadline(&self, deadline: crate::deadline::Deadline) -> Self {
        Self {
            deadline,
            ..self.clone()
        }
    }

    /// The same service working in connection `name`.
    pub async fn on(&self, name: &ConnectionName) -> Result<Self, UnknownConnection> {
        Ok(Self {
            acronis: self.connections.client(name).await?,
            ..self.clone()
        })
    }

    /// The partner tenant (the API client's tenant), read once.
    pub async fn partner_id(&self) -> Result<String, AcronisError> {
        self.acronis.partner_tenant_id().await
    }
}
