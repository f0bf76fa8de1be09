//! Which open tickets' alerts are gone, and the cleared alert each then reports: a cleared
//! alert may not show as cleared (whether the API marks it with `deletedAt` or drops it is
//! not documented), so the poller's sweep looks the alert of each open ticket up.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::occurrence_id;
use crate::acronis::models::{Alert, AlertTenant};
use crate::domain::records::{AlertTicket, TicketState};

/// The open tickets whose alert is not reported gone already (`gone` holds alert ids).
pub fn unreported<'a>(open: &'a [AlertTicket], gone: &BTreeSet<String>) -> Vec<&'a AlertTicket> {
    open.iter()
        .filter(|t| t.state == TicketState::Open)
        .filter(|t| {
            t.last_alert_id
                .as_ref()
                .is_some_and(|id| !gone.contains(id))
        })
        .collect()
}

/// Of `unreported`, the tickets whose alert the listing of active alerts (`active`) does
/// not show, with that alert's id: the ones to look up by id (one listing narrows the
/// lookups, instead of a call per open ticket).
pub fn to_look_up<'a>(
    unreported: &[&'a AlertTicket],
    active: &BTreeSet<String>,
) -> Vec<(&'a AlertTicket, String)> {
    unreported
        .iter()
        .filter_map(|t| {
            let id = t.last_alert_id.clone()?;
            (!active.contains(&id)).then_some((*t, id))
        })
        .collect()
}

/// What looking an alert up by id found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(Box<Alert>),
    /// The API answered 404.
    NotFound,
}

/// The cleared alert ticket `t` reports, given what the lookup of its alert found:
/// - listed as cleared and no longer within the poll's overlap (`recent`, the occurrences
///   the poll still remembers): its cleared event was lost (a ConnectWise outage longer
///   than Lambda's retries), so it is reported again (the ticket sync drops a delivery it
///   already carried out);
/// - gone (404): cleared as of `now`, with the type and tenant the ticket recorded;
/// - active, or cleared within the overlap (the poll reports it): nothing.
///
/// A ticket recorded before its alert's type and tenant were kept reports nothing.
pub fn clears_for(
    t: &AlertTicket,
    lookup: Lookup,
    recent: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Option<Alert> {
    let (Some(id), Some(alert_type), Some(tenant)) =
        (&t.last_alert_id, &t.alert_type, &t.tenant_id)
    else {
        return None;
    };
    match lookup {
        Lookup::Found(alert)
            if alert.deleted_at.is_some() && !recent.contains(&occurrence_id(&alert)) =>
        {
            Some(*alert)
        }
        Lookup::Found(_) => None,
        Lookup::NotFound => Some(Alert {
            id: id.clone(),
            alert_type: alert_type.clone(),
            category: None,
            severity: None,
            created_at: None,
            updated_at: now,
            deleted_at: Some(now),
            tenant: AlertTenant {
                uuid: Some(tenant.clone()),
                ..AlertTenant::default()
            },
            details: Value::Null,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn ticket(alert: Option<&str>, state: TicketState) -> AlertTicket {
        AlertTicket {
            connection: Default::default(),
            alert_key: "acr:t1:backup:res".into(),
            company_id: 7,
            ticket_id: Some(70),
            state,
            last_alert_id: alert.map(str::to_owned),
            alert_type: Some("BackupFailed".into()),
            tenant_id: Some("t1".into()),
            occurrences: 1,
            closed_at: None,
            closed_by_product: false,
            dismissed: None,
            revision: 1,
            updated_at: at("2026-03-01T00:00:00Z"),
            unknown: Default::default(),
        }
    }

    fn alert(id: &str, cleared: bool) -> Alert {
        Alert {
            id: id.into(),
            alert_type: "BackupFailed".into(),
            category: None,
            severity: None,
            created_at: None,
            updated_at: at("2026-03-01T10:00:00Z"),
            deleted_at: cleared.then(|| at("2026-03-01T10:00:00Z")),
            tenant: AlertTenant {
                uuid: Some("t1".into()),
                ..AlertTenant::default()
            },
            details: Value::Null,
        }
    }

    #[test]
    fn only_open_tickets_not_reported_and_not_active_are_looked_up() {
        let open = [
            ticket(Some("a1"), TicketState::Open),
            ticket(Some("a2"), TicketState::Open), // reported gone already
            ticket(Some("a3"), TicketState::Open), // still active
            ticket(None, TicketState::Open),       // no alert recorded
            ticket(Some("a5"), TicketState::Closed),
        ];
        let gone: BTreeSet<String> = ["a2".to_owned()].into();
        let active: BTreeSet<String> = ["a3".to_owned()].into();
        let unreported = unreported(&open, &gone);
        assert_eq!(unreported.len(), 2, "a1 and a3");
        let ids: Vec<String> = to_look_up(&unreported, &active)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        assert_eq!(ids, vec!["a1".to_owned()]);
    }

    #[test]
    fn a_gone_alert_clears_now_and_a_cleared_one_only_once_out_of_the_overlap() {
        let now = at("2026-03-01T12:00:00Z");
        let t = ticket(Some("a1"), TicketState::Open);
        let none = BTreeSet::new();
        // 404: cleared as of now, with the recorded type and tenant.
        let gone = clears_for(&t, Lookup::NotFound, &none, now).expect("cleared");
        assert_eq!(
            (gone.id.as_str(), gone.alert_type.as_str(), gone.deleted_at),
            ("a1", "BackupFailed", Some(now))
        );
        assert_eq!(gone.tenant.uuid.as_deref(), Some("t1"));
        // Listed as cleared, out of the overlap: reported again, as listed.
        let cleared = alert("a1", true);
        assert_eq!(
            clears_for(&t, Lookup::Found(Box::new(cleared.clone())), &none, now),
            Some(cleared.clone())
        );
        // Within the overlap: the poll reports it; still active: nothing.
        let recent: BTreeSet<String> = [occurrence_id(&cleared)].into();
        assert_eq!(
            clears_for(&t, Lookup::Found(Box::new(cleared)), &recent, now),
            None
        );
        assert_eq!(
            clears_for(&t, Lookup::Found(Box::new(alert("a1", false))), &none, now),
            None
        );
        // A record from before the type and tenant were kept: nothing to report with.
        let old = AlertTicket {
            alert_type: None,
            ..t
        };
        assert_eq!(clears_for(&old, Lookup::NotFound, &none, now), None);
    }
}
