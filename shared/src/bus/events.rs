//! The events on the bus. Each detail carries a `version`; a consumer refuses a version it
//! does not know rather than misread it.
//!
//! | detail-type | detail |
//! |---|---|
//! | `company.added` / `company.updated` / `company.deleted` | [`CompanyChanged`] |
//! | `agreement.added` / `agreement.updated` / `agreement.deleted` | [`AgreementChanged`] |
//! | `alert.raised` / `alert.cleared` | [`AlertChanged`] |
//! | `ticket.added` / `ticket.updated` / `ticket.deleted` | [`TicketChanged`] |
//! | `usage.shard` | [`UsageShard`] |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::acronis::models::Alert;

/// The `source` of every event this product puts on the bus.
pub const SOURCE: &str = "acronis-connectwise";
/// The detail version this code writes and reads.
pub const VERSION: u32 = 1;

/// The detail-type families, written as the `events:detail-type` patterns of the template's
/// PutEvents conditions (`functions::Function::publishes` says who sends which).
pub mod families {
    pub const COMPANY: &str = "company.*";
    pub const AGREEMENT: &str = "agreement.*";
    pub const ALERT: &str = "alert.*";
    pub const TICKET: &str = "ticket.*";
    pub const USAGE: &str = "usage.*";
}

/// What happened to a ConnectWise record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Added,
    Updated,
    Deleted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }

    /// ConnectWise's `Action` value, case-insensitively.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "added" => Some(Self::Added),
            "updated" => Some(Self::Updated),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// Who noticed the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A signed ConnectWise callback.
    Callback { message_id: String },
    /// The periodic reconciler.
    Reconciler { run_id: String },
    /// An administrator (`acw`).
    Admin,
}

/// A ConnectWise company changed. A hint: consumers re-read the company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyChanged {
    pub version: u32,
    pub company_id: i64,
    pub action: Action,
    pub origin: Origin,
    pub observed_at: DateTime<Utc>,
}

/// A ConnectWise ticket changed (a technician may have closed it). A hint: the ticket sync
/// re-reads the ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketChanged {
    pub version: u32,
    pub ticket_id: i64,
    pub action: Action,
    pub origin: Origin,
    pub observed_at: DateTime<Utc>,
}

/// A ConnectWise agreement (or one of its additions) changed. A hint: consumers re-read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementChanged {
    pub version: u32,
    pub agreement_id: i64,
    /// The agreement's company when the sender knew it.
    #[serde(default)]
    pub company_id: Option<i64>,
    pub action: Action,
    pub origin: Origin,
    pub observed_at: DateTime<Utc>,
}

/// An Acronis alert of a mapped tenant was raised (or raised again) or cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertChanged {
    pub version: u32,
    /// Stable key of the problem: tenant + alert type + resource.
    pub alert_key: String,
    pub company_id: i64,
    /// The alert's Acronis connection (`default` when an earlier version published it).
    #[serde(default, skip_serializing_if = "crate::domain::connection::is_default")]
    pub connection: crate::domain::connection::ConnectionName,
    #[serde(deserialize_with = "alert_of_any_version")]
    pub alert: Alert,
}

/// The alert of an event: one published before `updatedAt` was required may carry it
/// `null` (the poll then read it as `createdAt`), and is read the same way, so an event in
/// flight across the upgrade is not lost. An alert from Acronis itself must carry it.
fn alert_of_any_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Alert, D::Error> {
    let mut v = Value::deserialize(d)?;
    if let Some(o) = v.as_object_mut()
        && o.get("updatedAt").is_none_or(Value::is_null)
        && let Some(created) = o.get("createdAt").filter(|c| !c.is_null()).cloned()
    {
        o.insert("updatedAt".into(), created);
    }
    if v.get("updatedAt").is_none_or(Value::is_null) {
        return Err(serde::de::Error::custom(
            "the alert has neither updatedAt nor createdAt",
        ));
    }
    serde_json::from_value(v).map_err(serde::de::Error::custom)
}

/// One company of a usage shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCompany {
    pub company_id: i64,
    pub tenant_id: String,
    /// The tenant's Acronis connection (`default` when an earlier version published it).
    #[serde(default, skip_serializing_if = "crate::domain::connection::is_default")]
    pub connection: crate::domain::connection::ConnectionName,
}

/// A slice of one usage-push cycle, for a shard worker to push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageShard {
    pub version: u32,
    /// The planning run.
    pub run_id: String,
    pub shard: u32,
    pub shards: u32,
    pub companies: Vec<ShardCompany>,
    /// How many times this shard's leftover was handed on at once (0: as the planner
    /// published it; see `domain::usage_handoff`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub handoff: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl UsageShard {
    /// A cycle's companies in shards of at most `max_companies` each, and each small enough
    /// to be one event (`limits::MAX_ENTRY_BYTES`), numbered in order.
    pub fn split(run_id: &str, companies: &[ShardCompany], max_companies: usize) -> Vec<Self> {
        let shard = |companies: Vec<ShardCompany>| Self {
            version: VERSION,
            run_id: run_id.to_owned(),
            shard: u32::MAX,
            shards: u32::MAX,
            companies,
            handoff: 0,
        };
        // The detail of an empty shard (its numbers at their widest), then each company's
        // JSON and a comma.
        let fixed = serde_json::to_string(&shard(Vec::new())).map_or(0, |d| {
            super::limits::entry_size(super::SOURCE, "usage.shard", &d)
        });
        let sizes: Vec<usize> = companies
            .iter()
            .map(|c| serde_json::to_string(c).map_or(usize::MAX, |j| j.len() + 1))
            .collect();
        let room = super::limits::MAX_ENTRY_BYTES.saturating_sub(fixed);
        let runs = super::limits::pack(&sizes, max_companies, room);
        let total = u32::try_from(runs.len()).unwrap_or(u32::MAX);
        runs.into_iter()
            .enumerate()
            .map(|(i, r)| Self {
                shard: u32::try_from(i).unwrap_or(u32::MAX),
                shards: total,
                ..shard(companies[r].to_vec())
            })
            .collect()
    }
}

/// Every event, with its detail-type.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Company(CompanyChanged),
    Agreement(AgreementChanged),
    AlertRaised(AlertChanged),
    AlertCleared(AlertChanged),
    Ticket(TicketChanged),
    UsageShard(UsageShard),
}

/// An event that could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("unknown detail-type {0:?}")]
    UnknownType(String),
    #[error("detail of {detail_type} is not valid: {reason}")]
    BadDetail { detail_type: String, reason: String },
    #[error("detail of {detail_type} has version {version}, this code reads version {VERSION}")]
    UnsupportedVersion { detail_type: String, version: u64 },
    /// A value this code does not know, such as an enum variant a newer writer added
    /// without changing `VERSION`.
    #[error("detail of {detail_type} holds a value this code does not know: {reason}")]
    UnknownValue { detail_type: String, reason: String },
}

impl EventError {
    /// Written by a newer version (during a deploy or after a rollback): retried, and kept
    /// in a dead-letter queue for the version that reads it, never acknowledged unread.
    pub fn is_newer(&self) -> bool {
        match self {
            Self::UnsupportedVersion { version, .. } => *version > u64::from(VERSION),
            Self::UnknownValue { .. } => true,
            Self::UnknownType(_) | Self::BadDetail { .. } => false,
        }
    }
}

impl Event {
    /// Its detail-type's family (see [`families`]).
    pub fn family(&self) -> &'static str {
        match self {
            Self::Company(_) => families::COMPANY,
            Self::Agreement(_) => families::AGREEMENT,
            Self::AlertRaised(_) | Self::AlertCleared(_) => families::ALERT,
            Self::Ticket(_) => families::TICKET,
            Self::UsageShard(_) => families::USAGE,
        }
    }

    pub fn detail_type(&self) -> String {
        match self {
            Self::Company(c) => format!("company.{}", c.action.as_str()),
            Self::Agreement(a) => format!("agreement.{}", a.action.as_str()),
            Self::AlertRaised(_) => "alert.raised".into(),
            Self::AlertCleared(_) => "alert.cleared".into(),
            Self::Ticket(t) => format!("ticket.{}", t.action.as_str()),
            Self::UsageShard(_) => "usage.shard".into(),
        }
    }

    pub fn detail(&self) -> Result<String, serde_json::Error> {
        match self {
            Self::Company(c) => serde_json::to_string(c),
            Self::Agreement(a) => serde_json::to_string(a),
            Self::AlertRaised(a) | Self::AlertCleared(a) => serde_json::to_string(a),
            Self::Ticket(t) => serde_json::to_string(t),
            Self::UsageShard(u) => serde_json::to_string(u),
        }
    }

    /// Reads an event from its detail-type and detail, as EventBridge delivers them.
    pub fn parse(detail_type: &str, detail: Value) -> Result<Self, EventError> {
        let version = detail.get("version").and_then(Value::as_u64);
        match version {
            Some(v) if v == u64::from(VERSION) => {}
            Some(v) => {
                return Err(EventError::UnsupportedVersion {
                    detail_type: detail_type.into(),
                    version: v,
                });
            }
            None => {
                return Err(EventError::BadDetail {
                    detail_type: detail_type.into(),
                    reason: "no version".into(),
                });
            }
        }
        fn read<T: serde::de::DeserializeOwned>(
            detail_type: &str,
            detail: Value,
        ) -> Result<T, EventError> {
            serde_json::from_value(detail).map_err(|e| {
                let reason = e.to_string();
                if reason.contains("unknown variant") {
                    EventError::UnknownValue {
                        detail_type: detail_type.into(),
                        reason,
                    }
                } else {
                    EventError::BadDetail {
                        detail_type: detail_type.into(),
                        reason,
                    }
                }
            })
        }
        let event = match detail_type.split_once('.') {
            Some(("company", _)) => Self::Company(read(detail_type, detail)?),
            Some(("agreement", _)) => Self::Agreement(read(detail_type, detail)?),
            Some(("alert", "raised")) => Self::AlertRaised(read(detail_type, detail)?),
            Some(("alert", "cleared")) => Self::AlertCleared(read(detail_type, detail)?),
            Some(("ticket", _)) => Self::Ticket(read(detail_type, detail)?),
            Some(("usage", "shard")) => Self::UsageShard(read(detail_type, detail)?),
            _ => return Err(EventError::UnknownType(detail_type.into())),
        };
        // The detail-type must agree with the action inside the detail.
        if event.detail_type() != detail_type {
            return Err(EventError::BadDetail {
                detail_type: detail_type.into(),
                reason: format!("its action says {}", event.detail_type()),
            });
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_event_of_the_previous_version_without_updated_at_reads_its_created_at() {
        let event = |alert: Value| {
            serde_json::from_value::<AlertChanged>(serde_json::json!({
                "version": VERSION, "alert_key": "k", "company_id": 7, "alert": alert}))
        };
        let alert = |updated: Value| {
            serde_json::json!({"id": "a1", "type": "BackupFailed", "createdAt": "2026-12-01T10:00:00Z",
                "updatedAt": updated, "tenant": {"uuid": "t1"}, "details": {}})
        };
        let read = event(alert(Value::Null)).unwrap();
        assert_eq!(
            read.alert.updated_at.to_rfc3339(),
            "2026-12-01T10:00:00+00:00"
        );
        let current = event(alert("2026-12-02T10:00:00Z".into())).unwrap();
        assert_eq!(
            current.alert.updated_at.to_rfc3339(),
            "2026-12-02T10:00:00+00:00"
        );
        // Neither date: refused, naming the field.
        let mut neither = alert(Value::Null);
        neither["createdAt"] = Value::Null;
        let e = event(neither).unwrap_err().to_string();
        assert!(e.contains("updatedAt"), "{e}");
        // From Acronis itself, the field stays required.
        assert!(serde_json::from_value::<Alert>(alert(Value::Null)).is_err());
    }

    fn company(action: Action) -> Event {
        Event::Company(CompanyChanged {
            version: VERSION,
            company_id: 42,
            action,
            origin: Origin::Callback {
                message_id: "m-1".into(),
            },
            observed_at: Utc::now(),
        })
    }

    #[test]
    fn each_detail_type_is_in_its_family() {
        let a = Event::Agreement(AgreementChanged {
            version: VERSION,
            agreement_id: 7,
            company_id: None,
            action: Action::Added,
            origin: Origin::Admin,
            observed_at: Utc::now(),
        });
        let shard = Event::UsageShard(UsageShard {
            version: VERSION,
            run_id: "r".into(),
            shard: 0,
            shards: 1,
            companies: vec![],
            handoff: 0,
        });
        for e in [company(Action::Deleted), a, shard] {
            let prefix = e.family().trim_end_matches('*');
            assert!(e.detail_type().starts_with(prefix), "{}", e.detail_type());
        }
        assert_eq!(families::ALERT.trim_end_matches('*'), "alert.");
    }

    #[test]
    fn usage_shards_keep_their_count_and_fit_one_event_each() {
        let companies: Vec<ShardCompany> = (0..9_000)
            .map(|i| ShardCompany {
                connection: Default::default(),
                company_id: 1_000_000 + i,
                tenant_id: format!("{:08x}-0000-4000-8000-{i:012x}", i * 7),
            })
            .collect();
        let by_count = UsageShard::split("run-1", &companies, 1_000);
        assert_eq!(by_count.len(), 9);
        // A shard size past what one event carries: cut by bytes instead.
        let by_bytes = UsageShard::split("run-1", &companies, 100_000);
        assert!(by_bytes.len() > 1, "{}", by_bytes.len());
        for shards in [by_count, by_bytes] {
            let n = shards.len() as u32;
            let mut seen = Vec::new();
            for (i, s) in shards.iter().enumerate() {
                assert_eq!((s.shard, s.shards), (i as u32, n));
                let e = Event::UsageShard(s.clone());
                let size =
                    crate::bus::limits::entry_size(SOURCE, &e.detail_type(), &e.detail().unwrap());
                assert!(size <= crate::bus::limits::MAX_ENTRY_BYTES, "{size}");
                seen.extend(s.companies.iter().cloned());
            }
            assert_eq!(seen, companies);
        }
    }

    #[test]
    fn round_trips_through_detail_type_and_detail() {
        for action in [Action::Added, Action::Updated, Action::Deleted] {
            let e = company(action);
            let detail: Value = serde_json::from_str(&e.detail().unwrap()).unwrap();
            assert_eq!(Event::parse(&e.detail_type(), detail).unwrap(), e);
        }
        let a = Event::Agreement(AgreementChanged {
            version: VERSION,
            agreement_id: 7,
            company_id: Some(42),
            action: Action::Updated,
            origin: Origin::Admin,
            observed_at: Utc::now(),
        });
        assert_eq!(a.detail_type(), "agreement.updated");
        let detail: Value = serde_json::from_str(&a.detail().unwrap()).unwrap();
        assert_eq!(Event::parse("agreement.updated", detail).unwrap(), a);
    }

    #[test]
    fn refuses_unknown_versions_types_and_mismatches() {
        let e = company(Action::Added);
        let mut detail: Value = serde_json::from_str(&e.detail().unwrap()).unwrap();
        assert!(matches!(
            Event::parse("company.deleted", detail.clone()),
            Err(EventError::BadDetail { .. })
        ));
        assert_eq!(
            Event::parse("contact.added", detail.clone()),
            Err(EventError::UnknownType("contact.added".into()))
        );
        detail["version"] = 2.into();
        assert!(matches!(
            Event::parse("company.added", detail),
            Err(EventError::UnsupportedVersion { version: 2, .. })
        ));
        assert!(matches!(
            Event::parse("company.added", serde_json::json!({"version": 1})),
            Err(EventError::BadDetail { .. })
        ));
    }

    #[test]
    fn a_newer_writers_version_or_enum_value_is_told_apart_from_a_broken_event() {
        let e = company(Action::Added);
        let detail: Value = serde_json::from_str(&e.detail().unwrap()).unwrap();
        let mut newer = detail.clone();
        newer["version"] = (VERSION + 1).into();
        assert!(Event::parse("company.added", newer).unwrap_err().is_newer());
        let mut older = detail.clone();
        older["version"] = 0.into();
        assert!(!Event::parse("company.added", older).unwrap_err().is_newer());
        let mut origin = detail.clone();
        origin["origin"] = serde_json::json!({"kind": "scheduler"});
        let err = Event::parse("company.added", origin).unwrap_err();
        assert!(
            matches!(err, EventError::UnknownValue { .. }) && err.is_newer(),
            "{err:?}"
        );
        let mut broken = detail;
        broken["company_id"] = "twelve".into();
        assert!(
            !Event::parse("company.added", broken)
                .unwrap_err()
                .is_newer()
        );
    }
}
