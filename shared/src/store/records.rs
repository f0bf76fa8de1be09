//! The records kept in the table.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a company came to be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingOrigin {
    /// Provisioned automatically from an agreement.
    Auto,
    /// Mapped by an administrator (`acw companies map`).
    Manual,
}

/// One ConnectWise company ↔ one Acronis customer tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyMapping {
    pub company_id: i64,
    pub tenant_id: String,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub tenant_name: Option<String>,
    pub origin: MappingOrigin,
    pub mapped_at: DateTime<Utc>,
    /// When the company was last seen qualifying (an agreement in force holding a mapped
    /// product) while mapped; `None` for a company mapped by hand that never has.
    #[serde(default)]
    pub qualified_at: Option<DateTime<Utc>>,
    /// The tenant exists but its first account, mode or two-factor setting are not done yet:
    /// a provisioning attempt failed after creating it. The mapping is stored as soon as the
    /// tenant exists, so that the tenant follows the company (quotas, grace periods) from
    /// then on; the provisioner finishes the setup while the company qualifies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub setup_pending: bool,
    /// Fields a newer version stored, kept when this one writes the record back.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "crate::unknown_fields::Unknown::is_empty"
    )]
    pub unknown: crate::unknown_fields::Unknown,
}

impl CompanyMapping {
    /// Whether it has qualified since it was mapped: a provisioned company has by
    /// definition; a hand-mapped one once it was seen qualifying.
    pub fn ever_qualified(&self) -> bool {
        self.origin == MappingOrigin::Auto || self.qualified_at.is_some()
    }
}

/// A mapped company seen not qualifying: since when, the steps run, and those waiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeprovisionClock {
    pub company_id: i64,
    pub tenant_id: String,
    pub reason: String,
    pub since: DateTime<Utc>,
    #[serde(default)]
    pub done: Vec<crate::domain::deprovisioning::DeprovisionStep>,
    #[serde(default)]
    pub pending: Vec<crate::domain::deprovisioning::PendingStep>,
    /// Fields a newer version stored, kept when this one writes the record back.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "crate::unknown_fields::Unknown::is_empty"
    )]
    pub unknown: crate::unknown_fields::Unknown,
}

/// A tenant that deprovisioning disabled: enabled again when its company qualifies again.
/// A tenant disabled by someone else carries no such mark and is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisabledTenant {
    pub company_id: i64,
    pub tenant_id: String,
    pub reason: String,
    pub disabled_at: DateTime<Utc>,
    /// Fields a newer version stored, kept when this one writes the record back.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "crate::unknown_fields::Unknown::is_empty"
    )]
    pub unknown: crate::unknown_fields::Unknown,
}

/// Which offering item a ConnectWise catalog product stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductMapping {
    /// Offering item name, e.g. `pw_base_servers`.
    pub offering_item: String,
    /// The storage, for `infra` items.
    #[serde(default)]
    pub infra_id: Option<String>,
    #[serde(default)]
    pub edition: Option<String>,
    /// The ConnectWise catalog product; none for a "Free" item.
    #[serde(default)]
    pub product_id: Option<i64>,
    #[serde(default)]
    pub product_identifier: Option<String>,
    /// Enabled for every tenant without a product.
    #[serde(default)]
    pub free: bool,
    /// The backup storage every tenant gets (one mapping at most).
    #[serde(default)]
    pub default_storage: bool,
    /// The Acronis application of the item (Cyber Protection when absent).
    #[serde(default)]
    pub application_id: Option<String>,
    /// `bytes`, `quantity`, `seconds` or `n/a`, as Acronis measures the item.
    #[serde(default)]
    pub measurement_unit: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Fields a newer version stored, kept when this one writes the record back.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "crate::unknown_fields::Unknown::is_empty"
    )]
    pub unknown: crate::unknown_fields::Unknown,
}

impl ProductMapping {
    /// An offering item mapped to a catalog product (`None`: a "free" item to be marked so),
    /// measured in `measurement_unit`; every other field at its default.
    pub fn new(offering_item: &str, product_id: Option<i64>, measurement_unit: &str) -> Self {
        Self {
            unknown: Default::default(),
            offering_item: offering_item.into(),
            infra_id: None,
            edition: None,
            product_id,
            product_identifier: None,
            free: false,
            default_storage: false,
            application_id: None,
            measurement_unit: Some(measurement_unit.into()),
            updated_at: crate::clock::now(),
        }
    }
}

/// The addition that carries one product on one agreement, and the last quantity pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdditionRecord {
    pub agreement_id: i64,
    pub product_id: i64,
    pub company_id: i64,
    pub addition_id: i64,
    #[serde(default)]
    pub last_pushed_quantity: Option<f64>,
    /// The agreement's `_info.lastUpdated` when its additions were last read.
    #[serde(default)]
    pub agreement_last_updated: Option<DateTime<Utc>>,
    /// First day the addition bills (agreement start, addition effective date); usage is
    /// not pushed before it.
    #[serde(default)]
    pub in_force_from: Option<NaiveDate>,
    /// Last day the addition bills (agreement end, the day before its cancellation); usage
    /// is not pushed after it, even when nobody edits the agreement.
    #[serde(default)]
    pub in_force_until: Option<NaiveDate>,
    /// Since when ConnectWise no longer holds the addition (a 404, or gone from a re-read):
    /// reported on every run, never written or recreated, until a re-read finds it again.
    #[serde(default)]
    pub missing_since: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Fields a newer version stored, kept when this one writes the record back.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "crate::unknown_fields::Unknown::is_empty"
    )]
    pub unknown: crate::unknown_fields::Unknown,
}

impl AdditionRecord {
    /// Whether the addition bills on `day`.
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.in_force_from.is_none_or(|d| d <= day) && self.in_force_until.is_none_or(|d| d >= day)
    }
}

/// An agreement one of whose recorded additions is gone from ConnectWise: the usage push
/// re-reads it now and then (a small partition, so finding them costs no scan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingAdditions {
    pub agreement_id: i64,
    pub company_id: i64,
    /// When its additions were last read (or the write that found one gone).
    pub checked_at: DateTime<Utc>,
    /// Fields a newer version stored, kept when this one writes the record back.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "crate::unknown_fields::Unknown::is_empty"
    )]
    pub unknown: crate::unknown_fields::Unknown,
}

/// Where the ticket of one alert key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Claimed; the ticket POST is under way or its outcome unknown (look up by externalXRef).
    Creating,
    Open,
    Closed,
}

/// The ticket of one alert key (tenant + alert type + resource).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTicket {
    pub alert_key: String,
    pub company_id: i64,
    #[serde(default)]
    pub ticket_id: Option<i64>,
    pub state: TicketState,
    #[serde(default)]
    pub last_alert_id: Option<String>,
    /// The alert's type and tenant, so that a cleared alert that vanished from the API can
    /// still be reported (records written before these fields have none).
    #[serde(default)]
    pub alert_type: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub occurrences: u32,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency counter, bumped by every write.
    #[serde(default)]
    pub revision: u64,
    pub updated_at: DateTime<Utc>,
    /// Fields a newer version stored, kept when this one writes the record back.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "crate::unknown_fields::Unknown::is_empty"
    )]
    pub unknown: crate::unknown_fields::Unknown,
}

/// One change a run made (or, in a dry run, would make).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// What changed, e.g. `company 12 / addition 88`.
    pub subject: String,
    pub field: String,
    #[serde(default)]
    pub old: Option<Value>,
    pub new: Value,
    /// Why, e.g. `storage usage 12.3 GB (absolute_value 13207024435 B)`.
    #[serde(default)]
    pub basis: Option<String>,
}

/// One thing a run could not do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub subject: String,
    pub reason: String,
    /// Expected to succeed on a later run.
    pub transient: bool,
}

/// What one run of a function did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub function: String,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub dry_run: bool,
    /// Counters, e.g. `companies`, `skipped_unmapped`.
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub failures: Vec<Failure>,
    /// Lists were cut to keep the item under DynamoDB's size limit (counts stay whole).
    #[serde(default)]
    pub truncated: bool,
}

impl RunRecord {
    pub fn start(function: &str) -> Self {
        Self {
            function: function.to_owned(),
            run_id: uuid::Uuid::new_v4().to_string(),
            started_at: crate::clock::now(),
            finished_at: None,
            dry_run: false,
            counts: BTreeMap::new(),
            changes: Vec::new(),
            failures: Vec::new(),
            truncated: false,
        }
    }

    pub fn count(&mut self, name: &str, n: u64) {
        *self.counts.entry(name.to_owned()).or_default() += n;
    }

    /// An empty record of the same run, for one of its steps that runs beside others;
    /// [`RunRecord::absorb`] takes it back.
    pub fn part(&self) -> Self {
        Self {
            function: self.function.clone(),
            run_id: self.run_id.clone(),
            started_at: self.started_at,
            finished_at: None,
            dry_run: self.dry_run,
            counts: BTreeMap::new(),
            changes: Vec::new(),
            failures: Vec::new(),
            truncated: false,
        }
    }

    /// Adds what a [`RunRecord::part`] recorded.
    pub fn absorb(&mut self, part: Self) {
        self.changes.extend(part.changes);
        self.failures.extend(part.failures);
        for (name, n) in part.counts {
            self.count(&name, n);
        }
        self.truncated |= part.truncated;
    }
}

/// An administrative action (settings, mappings), for `acw status` and audits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[serde(default)]
    pub detail: Value,
}

/// How a callback's signing key was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFetch {
    /// Fetched without credentials, as ConnectWise documents.
    Anonymous,
    /// The host refused an anonymous fetch; fetched with the API member's credentials.
    Authenticated,
}

/// A verified callback, as its dedupe record keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackSeen {
    /// `company` or `agreement`.
    pub kind: String,
    pub record_id: i64,
    /// The host (and port) of its `Metadata.key_url`: the configured site or an alias.
    pub key_host: String,
    pub key_fetch: KeyFetch,
    pub seen_at: DateTime<Utc>,
}
