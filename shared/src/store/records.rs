//! The records kept in the table. Those domain decisions read and make are defined in
//! [`crate::domain::records`] (the domain depends on nothing here) and re-exported, so
//! `store::CompanyMapping` and the rest keep their paths.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::domain::records::{
    AdditionRecord, AlertTicket, CompanyMapping, Deferred, DeprovisionClock, Failure,
    MappingOrigin, NextChange, ProductMapping, TicketState,
};

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
