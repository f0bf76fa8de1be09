//! Alerts → tickets: the alert key, the ticket's summary and texts, the alert-mapping
//! settings (with the vendor's defaults and their validation against a board), and the
//! decision "what to do with this alert event, given the stored ticket record and the
//! ticket's current state". No network here.
//!
//! ## The decision table ([`decide`])
//!
//! | event | stored record | ticket now (ConnectWise) | settings | action |
//! |---|---|---|---|---|
//! | raised | none | – | – | [`TicketAction::Create`] |
//! | raised | `creating`, claim fresh | – | – | [`TicketAction::Wait`] (retry later; the creator is at work) |
//! | raised | `creating`, claim stale | – | – | [`TicketAction::TakeOver`] (look up by `externalXRef`, then create) |
//! | raised | with ticket | open | – | [`TicketAction::Note`] |
//! | raised | with ticket | closed < N days ago, or renew off | – | [`TicketAction::Reopen`] |
//! | raised | with ticket | closed ≥ N days ago | renew on | [`TicketAction::Renew`] |
//! | raised | with ticket | deleted in ConnectWise | – | [`TicketAction::Renew`] |
//! | cleared | any | any | auto-close off | [`TicketAction::Leave`] |
//! | cleared | none | – | auto-close on | [`TicketAction::Leave`] |
//! | cleared | `creating` | – | auto-close on | [`TicketAction::Wait`] (close it once it exists) |
//! | cleared | with ticket | closed or deleted | auto-close on | [`TicketAction::Leave`] |
//! | cleared | with ticket | open, in the status we set | auto-close on | [`TicketAction::Close`] |
//! | cleared | with ticket | open, moved to another status | auto-close on | [`TicketAction::NoteCleared`] |
//!
//! **A ticket a technician moved to another status is not closed.** The status we set is
//! the alert type's mapped status (on create and on reopen). A technician who moved the
//! ticket on (e.g. "In Progress", "Waiting on client") has taken it over: the alert
//! clearing does not mean their work is done, and closing under them would hide it. So
//! the ticket keeps its status and gets a note saying the alert cleared; they close it.
//!
//! "Closed at least N days" is measured from the ticket's `closedDate` in ConnectWise
//! (a technician may have closed it), falling back to the record's `closed_at`; exactly N
//! days counts as "at least".

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::acronis::models::Alert;
use crate::connectwise::models::{BoardStatus, BoardSubType, Named};
use crate::domain::records::{AlertTicket, TicketState};

pub mod clears;
pub mod dismissals;
mod settings;
mod texts;

pub use settings::*;
pub use texts::*;

/// The settings section of the alert mapping.
pub const SECTION: &str = "alerts";
/// ConnectWise's limit on a ticket summary and on `externalXRef`.
pub const MAX_SUMMARY: usize = 100;
pub const MAX_XREF: usize = 100;
/// How long a `creating` claim holds before another delivery may take over.
pub const CREATING_LEASE_SECS: i64 = 120;

// ---- the decision ----------------------------------------------------------------------

/// What happened to the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertEvent {
    Raised,
    Cleared,
}

/// The ticket as ConnectWise has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketNow {
    Open {
        status_id: Option<i64>,
    },
    Closed {
        closed_at: Option<DateTime<Utc>>,
    },
    /// Deleted in ConnectWise (404).
    Missing,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketAction {
    /// No ticket yet: create one (after claiming the alert key).
    Create,
    /// Open ticket: add a note for this occurrence.
    Note { ticket_id: i64 },
    /// Closed ticket: back to the mapped status, with a note.
    Reopen { ticket_id: i64, status_id: i64 },
    /// Closed long enough (or gone): a new ticket, which the record then points to.
    Renew { record: AlertTicket, previous: i64 },
    /// Cleared with auto-close: from the mapped status to the closing status.
    Close {
        ticket_id: i64,
        from_status_id: i64,
        closing_status_id: i64,
    },
    /// Cleared with auto-close, but a technician moved the ticket: note only.
    NoteCleared { ticket_id: i64 },
    /// Another delivery is creating the ticket: retry later.
    Wait,
    /// A creation claim went stale: look up by `externalXRef`, adopt or create.
    TakeOver { record: AlertTicket },
    /// Nothing to do, and why.
    Leave(&'static str),
}

impl TicketAction {
    /// The action's name, for plans and run records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Note { .. } => "note",
            Self::Reopen { .. } => "reopen",
            Self::Renew { .. } => "renew",
            Self::Close { .. } => "close",
            Self::NoteCleared { .. } => "note_cleared",
            Self::Wait => "wait",
            Self::TakeOver { .. } => "take_over",
            Self::Leave(_) => "leave",
        }
    }

    /// The ticket it acts on, when there is one already.
    pub fn ticket_id(&self) -> Option<i64> {
        match self {
            Self::Note { ticket_id }
            | Self::Reopen { ticket_id, .. }
            | Self::Close { ticket_id, .. }
            | Self::NoteCleared { ticket_id } => Some(*ticket_id),
            Self::Renew { previous, .. } => Some(*previous),
            Self::Create | Self::Wait | Self::TakeOver { .. } | Self::Leave(_) => None,
        }
    }

    /// What it does, in words.
    pub fn describe(&self) -> String {
        match self {
            Self::Create => "create a ticket".into(),
            Self::Note { ticket_id } => format!("add a note to ticket {ticket_id}"),
            Self::Reopen {
                ticket_id,
                status_id,
            } => format!("reopen ticket {ticket_id} (status {status_id}) with a note"),
            Self::Renew { previous, .. } => {
                format!("create a new ticket (ticket {previous} is closed long enough, or deleted)")
            }
            Self::Close {
                ticket_id,
                closing_status_id,
                ..
            } => format!("close ticket {ticket_id} (status {closing_status_id})"),
            Self::NoteCleared { ticket_id } => {
                format!("note on ticket {ticket_id} that the alert cleared (a technician moved it)")
            }
            Self::Wait => "wait: another delivery is creating the ticket".into(),
            Self::TakeOver { .. } => {
                "take over a stale creation: find the ticket by externalXRef, else create".into()
            }
            Self::Leave(why) => format!("nothing: {why}"),
        }
    }
}

/// What the poller does with one alert it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStep {
    /// Already carried within the overlap window.
    Duplicate,
    /// Its tenant is mapped to no company.
    UnmappedTenant,
    /// Its type has no ticket mapping.
    UnmappedType,
    /// A ticket event for the company.
    Publish { company_id: i64, event: AlertEvent },
}

/// The poller's decision for `alert`: `seen` when its `(id, updatedAt)` was carried already,
/// `company` the company its tenant is mapped to.
pub fn poll_step(alert: &Alert, seen: bool, company: Option<i64>, s: &AlertSettings) -> PollStep {
    if seen {
        return PollStep::Duplicate;
    }
    let Some(company_id) = company else {
        return PollStep::UnmappedTenant;
    };
    if s.mapping(&alert.alert_type).is_none() {
        return PollStep::UnmappedType;
    }
    let event = if alert.deleted_at.is_some() {
        AlertEvent::Cleared
    } else {
        AlertEvent::Raised
    };
    PollStep::Publish { company_id, event }
}

/// Whether the ticket must be read from ConnectWise before deciding.
pub fn needs_ticket(event: AlertEvent, record: Option<&AlertTicket>, s: &AlertSettings) -> bool {
    let has_ticket =
        record.is_some_and(|r| r.state != TicketState::Creating && r.ticket_id.is_some());
    has_ticket && (event == AlertEvent::Raised || s.auto_close)
}

/// The decision (see the table in the module docs). `ticket` is `None` when it was not
/// read; the record's own state is then taken as the ticket's.
pub fn decide(
    event: AlertEvent,
    record: Option<&AlertTicket>,
    ticket: Option<&TicketNow>,
    mapping: &TypeMapping,
    s: &AlertSettings,
    now: DateTime<Utc>,
) -> TicketAction {
    if event == AlertEvent::Cleared && !s.auto_close {
        return TicketAction::Leave("auto-close is off");
    }
    let Some(record) = record else {
        return match event {
            AlertEvent::Raised => TicketAction::Create,
            AlertEvent::Cleared => TicketAction::Leave("no ticket for this alert"),
        };
    };
    let (TicketState::Open | TicketState::Closed, Some(ticket_id)) =
        (record.state, record.ticket_id)
    else {
        let stale = now - record.updated_at >= Duration::seconds(CREATING_LEASE_SECS);
        return match (event, stale) {
            (AlertEvent::Raised, true) => TicketAction::TakeOver {
                record: record.clone(),
            },
            _ => TicketAction::Wait,
        };
    };
    let assumed = match record.state {
        TicketState::Closed => TicketNow::Closed {
            closed_at: record.closed_at,
        },
        _ => TicketNow::Open { status_id: None },
    };
    let now_state = ticket.unwrap_or(&assumed);
    let renew = || TicketAction::Renew {
        record: record.clone(),
        previous: ticket_id,
    };
    match (event, now_state) {
        (AlertEvent::Raised, TicketNow::Open { .. }) => TicketAction::Note { ticket_id },
        (AlertEvent::Raised, TicketNow::Missing) => renew(),
        (AlertEvent::Raised, TicketNow::Closed { closed_at }) => {
            let closed_at = closed_at.or(record.closed_at);
            let long_enough = closed_at
                .is_some_and(|c| now - c >= Duration::days(i64::from(s.renew_after_days.max(1))));
            if s.renew_after_closed && long_enough {
                renew()
            } else {
                TicketAction::Reopen {
                    ticket_id,
                    status_id: mapping.status_id,
                }
            }
        }
        (AlertEvent::Cleared, TicketNow::Closed { .. }) => {
            TicketAction::Leave("ticket already closed")
        }
        (AlertEvent::Cleared, TicketNow::Missing) => {
            TicketAction::Leave("ticket deleted in ConnectWise")
        }
        (AlertEvent::Cleared, TicketNow::Open { status_id }) => {
            let Some(closing_status_id) = s.closing_status_id else {
                // Refused by validation; kept safe for a section saved behind our back.
                return TicketAction::Leave("auto-close has no closing status");
            };
            match status_id {
                // Not read: the record says open and we cannot tell who moved it; close.
                None if ticket.is_none() => TicketAction::Close {
                    ticket_id,
                    from_status_id: mapping.status_id,
                    closing_status_id,
                },
                Some(id) if *id == mapping.status_id => TicketAction::Close {
                    ticket_id,
                    from_status_id: mapping.status_id,
                    closing_status_id,
                },
                _ => TicketAction::NoteCleared { ticket_id },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acronis::models::AlertTenant;
    use serde_json::json;

    fn alert(kind: &str, details: Value) -> Alert {
        Alert {
            id: "A1".into(),
            alert_type: kind.into(),
            category: Some("Backup".into()),
            severity: Some("critical".into()),
            created_at: None,
            updated_at: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
            deleted_at: None,
            tenant: AlertTenant {
                id: Some("104".into()),
                uuid: Some("AAAA-TENANT".into()),
                locator: None,
            },
            details,
        }
    }

    #[test]
    fn summaries_name_the_resource_kind_readably_with_the_raw_value_as_fallback() {
        let title = |details| ticket_summary(&alert("BackupFailed", details));
        assert!(
            title(json!({"backupSourcesType": "machines", "resourceName": "syslog"}))
                .starts_with("[Machine with an agent:syslog] ")
        );
        assert!(
            title(json!({"resourceType": "virtual_machine", "resourceName": "cicw1"}))
                .starts_with("[Virtual machine with an agent:cicw1] ")
        );
        assert!(
            title(json!({"resourceType": "quantum_fridge", "resourceName": "f1"}))
                .starts_with("[quantum_fridge:f1] ")
        );
        assert!(title(json!({"resourceName": "srv"})).starts_with("[Workload:srv] "));
    }

    #[test]
    fn key_is_tenant_type_resource_and_fits_xref() {
        let a = alert(
            "BackupFailed",
            json!({"resourceId": "RES-1", "resourceName": "srv01"}),
        );
        assert_eq!(alert_key(&a), "acr:aaaa-tenant:BackupFailed:res-1");
        // The title and the alert id do not take part; the resource does.
        let mut b = a.clone();
        b.id = "A2".into();
        b.details = json!({"resourceId": "res-1", "resourceName": "renamed", "title": "x"});
        assert_eq!(alert_key(&a), alert_key(&b));
        let c = alert("BackupFailed", json!({"resourceId": "RES-2"}));
        assert_ne!(alert_key(&a), alert_key(&c));
        let d = alert("NoBackupForXDays", json!({"resourceId": "RES-1"}));
        assert_ne!(alert_key(&a), alert_key(&d));
        let none = alert("BackupFailed", json!({}));
        assert_eq!(alert_key(&none), "acr:aaaa-tenant:BackupFailed:-");
        let long = alert(
            &format!("cti.a.p.am.alert.v1.0~{}", "x".repeat(90)),
            json!({}),
        );
        let k = alert_key(&long);
        assert!(
            k.starts_with("acr#") && k.chars().count() <= MAX_XREF,
            "{k}"
        );
        assert_eq!(k, alert_key(&long));
    }

    #[test]
    fn occurrence_is_id_and_updated_ns() {
        let a = alert("BackupFailed", json!({}));
        assert_eq!(occurrence_id(&a), "A1@1700000000000000005");
    }

    #[test]
    fn summaries() {
        let cases = [
            (
                alert(
                    "BackupFailed",
                    json!({"resourceName": "srv01", "resourceType": "machine"}),
                ),
                "[Machine with an agent:srv01] Backup failed",
            ),
            (
                alert("NoBackupForXDays", json!({"resourceName": "pc-7"})),
                "[Workload:pc-7] Backup is missing",
            ),
            (
                alert("SomethingNew", json!({"resourceId": "r1"})),
                "[Workload:r1] SomethingNew",
            ),
            (
                alert(
                    "cti.x",
                    json!({"title": "Custom thing", "resourceName": "a"}),
                ),
                "[Workload:a] Custom thing",
            ),
        ];
        for (a, want) in cases {
            assert_eq!(ticket_summary(&a), want);
        }
        let long = alert("BackupFailed", json!({"resourceName": "n".repeat(150)}));
        let s = ticket_summary(&long);
        assert_eq!(s.chars().count(), 100);
        assert!(s.ends_with('…') && s.starts_with("[Workload:nnn"));
        // Multi-byte characters are counted as characters, not bytes.
        let wide = alert("BackupFailed", json!({"resourceName": "é".repeat(99)}));
        assert_eq!(ticket_summary(&wide).chars().count(), 100);
        assert_eq!(cut("short", 100), "short");
    }

    #[test]
    fn description_and_notes_carry_the_details() {
        let a = alert(
            "BackupFailed",
            json!({"resourceName": "srv01", "planName": "Daily", "errorMessage": {"message": "disk full"}}),
        );
        let d = ticket_description(&a, "acr:k");
        for want in [
            "Backup failed",
            "srv01",
            "Daily",
            "disk full",
            "acr:k",
            "critical",
        ] {
            assert!(d.contains(want), "{want} missing from {d}");
        }
        assert!(occurrence_note(&a, true).contains("reopened"));
        assert!(occurrence_note(&a, false).contains("again"));
        assert!(cleared_note(&a, Some("In Progress")).contains("In Progress"));
    }

    fn board() -> BoardCatalog {
        let status = |id: i64, name: &str, closed: bool| BoardStatus {
            id,
            name: Some(name.into()),
            board: None,
            closed_status: Some(closed),
            default_flag: None,
            inactive: None,
        };
        BoardCatalog {
            board_id: 1,
            board_name: Some("Alerts".into()),
            statuses: vec![
                status(1, "New", false),
                status(2, "Closed", true),
                status(3, "In Progress", false),
            ],
            types: vec![
                Named {
                    id: 10,
                    name: Some("Backup".into()),
                },
                Named {
                    id: 11,
                    name: Some("Other".into()),
                },
            ],
            subtypes: vec![BoardSubType {
                id: 20,
                name: Some("Failed".into()),
                board: None,
                type_association_ids: Some(vec![10]),
            }],
            priorities: vec![Named {
                id: 30,
                name: Some("P1".into()),
            }],
        }
    }

    fn mapped() -> AlertSettings {
        let mut s = AlertSettings {
            board_id: Some(1),
            auto_close: true,
            closing_status_id: Some(2),
            ..AlertSettings::default()
        };
        s.types.insert(
            "BackupFailed".into(),
            TypeMapping {
                status_id: 1,
                type_id: Some(10),
                subtype_id: Some(20),
                priority_id: Some(30),
            },
        );
        s
    }

    #[test]
    fn defaults_are_the_vendors() {
        let s = AlertSettings::default();
        assert!(!s.renew_after_closed && s.renew_after_days == 1 && !s.auto_close);
        assert!(s.types.is_empty() && s.board_id.is_none());
        assert!(s.validate().is_ok());
        assert!(s.mapping("BackupFailed").is_none());
    }

    #[test]
    fn another_versions_keys_are_read_and_missing_ones_default() {
        let s: AlertSettings = serde_json::from_str(r#"{"auto_close": false}"#).unwrap();
        assert_eq!(s, AlertSettings::default());
        let later: AlertSettings = serde_json::from_str(
            r#"{"autoclose": true, "types": {"BackupFailed": {"status_id": 1, "colour": 2}}}"#,
        )
        .unwrap();
        assert_eq!(later.types["BackupFailed"].status_id, 1);
        assert!(!later.auto_close);
    }

    #[test]
    fn validation_against_the_board_names_the_culprit() {
        assert!(mapped().validate_against(&board()).is_ok());
        type Edit = fn(&mut AlertSettings);
        let cases: [(Edit, &str); 10] = [
            (
                |s| s.types.get_mut("BackupFailed").unwrap().status_id = 99,
                "status 99 is not a status of board \"Alerts\" (1)",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().status_id = 2,
                "status \"Closed\" (2) is a closed status",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().type_id = Some(98),
                "BackupFailed: type 98 is not a type of board",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().subtype_id = Some(97),
                "subtype 97 is not a subtype",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().type_id = Some(11),
                "subtype \"Failed\" (20) does not go with type 11",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().priority_id = Some(96),
                "priority 96 does not exist",
            ),
            (
                |s| s.closing_status_id = Some(95),
                "closing status 95 is not a status",
            ),
            (
                |s| s.closing_status_id = Some(3),
                "closing status \"In Progress\" (3) is not a closed status",
            ),
            (|s| s.board_id = Some(7), "board 7 does not exist"),
            (
                |s| s.closing_status_id = None,
                "auto_close needs closing_status_id",
            ),
        ];
        for (edit, want) in cases {
            let mut s = mapped();
            edit(&mut s);
            let err = s.validate_against(&board()).unwrap_err();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        let mut s = mapped();
        s.renew_after_days = 0;
        assert!(s.validate().unwrap_err().contains("renew_after_days"));
        let mut s = mapped();
        s.board_id = None;
        assert!(s.validate().unwrap_err().contains("board_id"));
    }

    fn record(
        state: TicketState,
        closed_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> AlertTicket {
        AlertTicket {
            connection: Default::default(),
            unknown: Default::default(),
            alert_key: "k".into(),
            company_id: 1,
            ticket_id: (state != TicketState::Creating).then_some(5),
            state,
            last_alert_id: None,
            alert_type: None,
            tenant_id: None,
            occurrences: 1,
            closed_at,
            closed_by_product: false,
            dismissed: None,
            revision: 1,
            updated_at: at,
        }
    }

    #[test]
    fn decision_table() {
        use AlertEvent::{Cleared, Raised};
        use TicketAction as A;
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let day = Duration::days(1);
        let sec = Duration::seconds(1);
        let base = mapped();
        let renew3 = AlertSettings {
            renew_after_closed: true,
            renew_after_days: 3,
            ..mapped()
        };
        let no_close = AlertSettings {
            auto_close: false,
            ..mapped()
        };
        let open = record(TicketState::Open, None, now - day);
        let closed_rec = record(TicketState::Closed, Some(now - day * 3), now - day * 3);
        let creating_fresh = record(TicketState::Creating, None, now - sec);
        let creating_stale = record(
            TicketState::Creating,
            None,
            now - Duration::seconds(CREATING_LEASE_SECS),
        );
        let ours = TicketNow::Open { status_id: Some(1) };
        let moved = TicketNow::Open { status_id: Some(3) };
        let closed_at = |d: Duration| TicketNow::Closed {
            closed_at: Some(now - d),
        };
        type Case<'a> = (
            &'a str,
            AlertEvent,
            Option<&'a AlertTicket>,
            Option<TicketNow>,
            &'a AlertSettings,
            A,
        );
        let cases: Vec<Case> = vec![
            ("new alert", Raised, None, None, &base, A::Create),
            (
                "creating, fresh",
                Raised,
                Some(&creating_fresh),
                None,
                &base,
                A::Wait,
            ),
            (
                "creating, stale",
                Raised,
                Some(&creating_stale),
                None,
                &base,
                A::TakeOver {
                    record: creating_stale.clone(),
                },
            ),
            (
                "open ticket",
                Raised,
                Some(&open),
                Some(ours.clone()),
                &base,
                A::Note { ticket_id: 5 },
            ),
            (
                "open, moved",
                Raised,
                Some(&open),
                Some(moved.clone()),
                &base,
                A::Note { ticket_id: 5 },
            ),
            (
                "closed, renew off",
                Raised,
                Some(&open),
                Some(closed_at(day * 30)),
                &base,
                A::Reopen {
                    ticket_id: 5,
                    status_id: 1,
                },
            ),
            (
                "closed N days - 1s",
                Raised,
                Some(&open),
                Some(closed_at(day * 3 - sec)),
                &renew3,
                A::Reopen {
                    ticket_id: 5,
                    status_id: 1,
                },
            ),
            (
                "closed exactly N days",
                Raised,
                Some(&open),
                Some(closed_at(day * 3)),
                &renew3,
                A::Renew {
                    record: open.clone(),
                    previous: 5,
                },
            ),
            (
                "closed, date from record",
                Raised,
                Some(&closed_rec),
                Some(TicketNow::Closed { closed_at: None }),
                &renew3,
                A::Renew {
                    record: closed_rec.clone(),
                    previous: 5,
                },
            ),
            (
                "record closed, not read",
                Raised,
                Some(&closed_rec),
                None,
                &base,
                A::Reopen {
                    ticket_id: 5,
                    status_id: 1,
                },
            ),
            (
                "deleted in CW",
                Raised,
                Some(&open),
                Some(TicketNow::Missing),
                &base,
                A::Renew {
                    record: open.clone(),
                    previous: 5,
                },
            ),
            (
                "cleared, auto-close off",
                Cleared,
                Some(&open),
                Some(ours.clone()),
                &no_close,
                A::Leave("auto-close is off"),
            ),
            (
                "cleared, no record",
                Cleared,
                None,
                None,
                &base,
                A::Leave("no ticket for this alert"),
            ),
            (
                "cleared while creating",
                Cleared,
                Some(&creating_fresh),
                None,
                &base,
                A::Wait,
            ),
            (
                "cleared, ours",
                Cleared,
                Some(&open),
                Some(ours.clone()),
                &base,
                A::Close {
                    ticket_id: 5,
                    from_status_id: 1,
                    closing_status_id: 2,
                },
            ),
            (
                "cleared, moved by a technician",
                Cleared,
                Some(&open),
                Some(moved),
                &base,
                A::NoteCleared { ticket_id: 5 },
            ),
            (
                "cleared, already closed",
                Cleared,
                Some(&open),
                Some(closed_at(day)),
                &base,
                A::Leave("ticket already closed"),
            ),
            (
                "cleared, deleted",
                Cleared,
                Some(&open),
                Some(TicketNow::Missing),
                &base,
                A::Leave("ticket deleted in ConnectWise"),
            ),
        ];
        let m = &base.types["BackupFailed"];
        for (name, event, rec, now_state, s, want) in cases {
            assert_eq!(
                decide(event, rec, now_state.as_ref(), m, s, now),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn ticket_is_read_only_when_it_matters() {
        let now = Utc::now();
        let open = record(TicketState::Open, None, now);
        let creating = record(TicketState::Creating, None, now);
        let mut s = mapped();
        assert!(needs_ticket(AlertEvent::Raised, Some(&open), &s));
        assert!(needs_ticket(AlertEvent::Cleared, Some(&open), &s));
        assert!(!needs_ticket(AlertEvent::Raised, None, &s));
        assert!(!needs_ticket(AlertEvent::Raised, Some(&creating), &s));
        s.auto_close = false;
        assert!(!needs_ticket(AlertEvent::Cleared, Some(&open), &s));
    }

    #[test]
    fn the_poller_publishes_mapped_alerts_once_and_skips_the_rest() {
        let s = AlertSettings {
            types: [(
                "BackupFailed".to_owned(),
                TypeMapping {
                    status_id: 1,
                    type_id: None,
                    subtype_id: None,
                    priority_id: None,
                },
            )]
            .into(),
            board_id: Some(1),
            ..AlertSettings::default()
        };
        let raised = alert("BackupFailed", json!({}));
        assert_eq!(poll_step(&raised, true, Some(7), &s), PollStep::Duplicate);
        assert_eq!(
            poll_step(&raised, false, None, &s),
            PollStep::UnmappedTenant
        );
        assert_eq!(
            poll_step(&alert("Other", json!({})), false, Some(7), &s),
            PollStep::UnmappedType
        );
        assert_eq!(
            poll_step(&raised, false, Some(7), &s),
            PollStep::Publish {
                company_id: 7,
                event: AlertEvent::Raised
            }
        );
        let mut cleared = raised.clone();
        cleared.deleted_at = Some(Utc::now());
        assert_eq!(
            poll_step(&cleared, false, Some(7), &s),
            PollStep::Publish {
                company_id: 7,
                event: AlertEvent::Cleared
            }
        );
        assert_eq!(TicketAction::Note { ticket_id: 4 }.ticket_id(), Some(4));
        assert_eq!(TicketAction::Create.kind(), "create");
    }
}
