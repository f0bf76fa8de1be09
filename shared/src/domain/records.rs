//! The stored records that domain decisions read and make: mappings, the deprovisioning
//! clock, product mappings, addition records, alert tickets, deferred companies, the next
//! change day, and a run's failures. They live here, not in `store/`, so that `domain/`
//! depends on nothing outside it; `store/` re-exports them and only keeps them in the table.
//! Their serialized shape is what earlier versions stored: field names and `serde`
//! attributes do not change.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::jobs::Job;

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
    /// The Acronis connection the tenant is in; `default` for a mapping stored before there
    /// were several (and not written for it, so earlier versions read it as theirs).
    #[serde(default, skip_serializing_if = "crate::domain::connection::is_default")]
    pub connection: crate::domain::connection::ConnectionName,
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

/// Which offering item a ConnectWise catalog product stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductMapping {
    /// The Acronis connection whose offering item this is (partner tenants offer different
    /// items and storages); `default` for one stored before there were several.
    #[serde(default, skip_serializing_if = "crate::domain::connection::is_default")]
    pub connection: crate::domain::connection::ConnectionName,
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
        // The defaults are the config entry's, so that the two cannot drift apart.
        crate::domain::config::ProductEntry {
            measurement_unit: Some(measurement_unit.into()),
            ..crate::domain::config::ProductEntry::new(offering_item, product_id)
        }
        .to_mapping(crate::clock::now())
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
    /// The alert's Acronis connection; `default` for a ticket stored before there were
    /// several.
    #[serde(default, skip_serializing_if = "crate::domain::connection::is_default")]
    pub connection: crate::domain::connection::ConnectionName,
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
    /// The product closed the ticket because its alert cleared (so that close dismisses
    /// nothing in Acronis); false again once the ticket is reopened or renewed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed_by_product: bool,
    /// The last occurrence a technician's close dismissed in Acronis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dismissed: Option<crate::domain::alerts::dismissals::Dismissed>,
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

/// One thing a run could not do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub subject: String,
    pub reason: String,
    /// Expected to succeed on a later run.
    pub transient: bool,
}

/// A company whose decision waits for its job to be resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Deferred {
    pub company_id: i64,
    pub job: Job,
    pub since: DateTime<Utc>,
}

/// The next day a company's agreements change its state by themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NextChange {
    pub company_id: i64,
    pub on: chrono::NaiveDate,
}
