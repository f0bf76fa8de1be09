//! A ticket a technician closed dismisses its alert in Acronis (Acronis' PSA guidance:
//! "Automatically clear alert" when the PSA ticket reaches a chosen status, default off).
//!
//! ## The decision table ([`on_ticket_change`])
//!
//! Before anything is read ([`before_reading`]): off, a ticket just added (the product
//! creates its own in the type's new status) or deleted → leave, with no request.
//!
//! | setting | ticket now | stored record | decision |
//! |---|---|---|---|
//! | off | – | – | leave: off |
//! | on | gone (404) | – | leave: gone |
//! | on | not in a fixed status | – | leave: not fixed |
//! | on | fixed, no alert key in `externalXRef` | – | leave: not an alert ticket |
//! | on | fixed | none, or another ticket's | leave: not ours |
//! | on | fixed | closed by the product (its alert cleared) | leave: closed by us |
//! | on | fixed | no alert id known | leave: no alert id |
//! | on | fixed | this occurrence dismissed already | leave: dismissed already |
//! | on | fixed | open (or closed by a technician) | **dismiss** the record's last alert |
//!
//! **No loops.** The product closes a ticket only when its alert cleared; it marks that
//! close on the record (`closed_by_product`), and such a close dismisses nothing. A
//! dismissal is remembered with the occurrence it dismissed, so a repeated callback (or the
//! backstop seeing the same close) dismisses nothing more, while an alert raised again
//! after it (Acronis keeps the alert's id) follows the reopen-or-renew rule as any other, and
//! its next close dismisses it again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bus::Action;
use crate::domain::connection::ConnectionName;
use crate::domain::records::AlertTicket;

use super::AlertSettings;

/// What the decision reads of the ticket, as ConnectWise shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketNow {
    pub id: i64,
    /// The status's name (the setting names fixed statuses by name).
    pub status: Option<String>,
    /// `externalXRef`: the alert key of a ticket the product created.
    pub xref: Option<String>,
}

/// A dismissal done: which alert and which of its occurrences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dismissed {
    pub alert_id: String,
    /// The record's occurrence count when it was dismissed.
    pub occurrences: u32,
    pub at: DateTime<Utc>,
}

/// Why a ticket change dismisses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leave {
    Off,
    /// Added just now, deleted, or no longer found.
    NotAClose,
    NotFixed,
    NotAnAlertTicket,
    NotOurs,
    ClosedByUs,
    NoAlertId,
    DismissedAlready,
}

impl Leave {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "clear_alert_on_close is off",
            Self::NotAClose => "a ticket added or deleted is not a close",
            Self::NotFixed => "not in a status that counts as fixed",
            Self::NotAnAlertTicket => "not an alert ticket",
            Self::NotOurs => "no alert ticket record for this ticket",
            Self::ClosedByUs => "closed by the product because its alert cleared",
            Self::NoAlertId => "the record knows no alert id",
            Self::DismissedAlready => "this occurrence was dismissed already",
        }
    }
}

/// What to do about a changed ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dismissal {
    /// Dismiss `alert_id` in `connection`, then remember it on the record of `alert_key`.
    Dismiss {
        alert_key: String,
        connection: ConnectionName,
        alert_id: String,
        /// The occurrence dismissed (the record's count when decided: an occurrence
        /// raised meanwhile is not taken for dismissed).
        occurrences: u32,
    },
    Leave(Leave),
}

/// Whether a ticket event can lead to a dismissal at all, decided before any read.
pub fn before_reading(settings: &AlertSettings, action: Action) -> Option<Leave> {
    if !settings.clear_alert_on_close {
        return Some(Leave::Off);
    }
    match action {
        Action::Updated => None,
        Action::Added | Action::Deleted => Some(Leave::NotAClose),
    }
}

/// Whether `status` is one the MSP counts as fixed (names compared case-insensitively).
pub fn is_fixed(settings: &AlertSettings, status: Option<&str>) -> bool {
    status.is_some_and(|s| {
        settings
            .fixed_statuses
            .iter()
            .any(|f| f.trim().eq_ignore_ascii_case(s.trim()))
    })
}

/// The alert key a ticket carries, when it is one of the product's alert tickets.
pub fn alert_key_of(ticket: &TicketNow) -> Option<&str> {
    ticket
        .xref
        .as_deref()
        .map(str::trim)
        .filter(|x| super::is_alert_key(x))
}

/// The decision (see the module's table). `record` is the stored record of the ticket's
/// alert key.
pub fn on_ticket_change(
    settings: &AlertSettings,
    ticket: &TicketNow,
    record: Option<&AlertTicket>,
) -> Dismissal {
    if !settings.clear_alert_on_close {
        return Dismissal::Leave(Leave::Off);
    }
    if !is_fixed(settings, ticket.status.as_deref()) {
        return Dismissal::Leave(Leave::NotFixed);
    }
    let Some(key) = alert_key_of(ticket) else {
        return Dismissal::Leave(Leave::NotAnAlertTicket);
    };
    let Some(r) = record.filter(|r| r.alert_key == key && r.ticket_id == Some(ticket.id)) else {
        return Dismissal::Leave(Leave::NotOurs);
    };
    if r.closed_by_product {
        return Dismissal::Leave(Leave::ClosedByUs);
    }
    let Some(alert_id) = r.last_alert_id.clone() else {
        return Dismissal::Leave(Leave::NoAlertId);
    };
    if r.dismissed
        .as_ref()
        .is_some_and(|d| d.alert_id == alert_id && d.occurrences >= r.occurrences)
    {
        return Dismissal::Leave(Leave::DismissedAlready);
    }
    Dismissal::Dismiss {
        alert_key: r.alert_key.clone(),
        connection: r.connection.clone(),
        alert_id,
        occurrences: r.occurrences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::TicketState;

    fn settings(on: bool) -> AlertSettings {
        AlertSettings {
            clear_alert_on_close: on,
            fixed_statuses: vec!["Completed".into(), "Closed (resolved)".into()],
            ..AlertSettings::default()
        }
    }

    fn record(key: &str) -> AlertTicket {
        AlertTicket {
            alert_key: key.into(),
            company_id: 7,
            connection: ConnectionName::parse("us").unwrap(),
            ticket_id: Some(41),
            state: TicketState::Open,
            last_alert_id: Some("a-1".into()),
            alert_type: Some("BackupFailed".into()),
            tenant_id: Some("t".into()),
            occurrences: 2,
            closed_at: None,
            closed_by_product: false,
            dismissed: None,
            revision: 3,
            updated_at: Utc::now(),
            unknown: Default::default(),
        }
    }

    fn ticket(status: &str, xref: &str) -> TicketNow {
        TicketNow {
            id: 41,
            status: Some(status.into()),
            xref: Some(xref.into()),
        }
    }

    #[test]
    fn the_table() {
        let key = "acr@us:abc";
        let fixed = ticket("completed", key);
        let r = record(key);
        let dismiss = |occurrences| Dismissal::Dismiss {
            alert_key: key.into(),
            connection: ConnectionName::parse("us").unwrap(),
            alert_id: "a-1".into(),
            occurrences,
        };
        let leave = |l| Dismissal::Leave(l);
        let closed_by_us = AlertTicket {
            closed_by_product: true,
            state: TicketState::Closed,
            ..r.clone()
        };
        let no_alert_id = AlertTicket {
            last_alert_id: None,
            ..r.clone()
        };
        let dismissed = AlertTicket {
            dismissed: Some(Dismissed {
                alert_id: "a-1".into(),
                occurrences: 2,
                at: Utc::now(),
            }),
            ..r.clone()
        };
        // Raised again after its dismissal (same id, one more occurrence): dismissed again.
        let raised_again = AlertTicket {
            occurrences: 3,
            ..dismissed.clone()
        };
        let another_ticket = AlertTicket {
            ticket_id: Some(99),
            ..r.clone()
        };
        // A technician's close the product noticed on an alert event (state closed, but
        // not by us) still dismisses.
        let closed_by_technician = AlertTicket {
            state: TicketState::Closed,
            ..r.clone()
        };
        let rows: Vec<(
            &str,
            AlertSettings,
            TicketNow,
            Option<&AlertTicket>,
            Dismissal,
        )> = vec![
            (
                "off",
                settings(false),
                fixed.clone(),
                Some(&r),
                leave(Leave::Off),
            ),
            (
                "not fixed",
                settings(true),
                ticket("In Progress", key),
                Some(&r),
                leave(Leave::NotFixed),
            ),
            (
                "no xref",
                settings(true),
                TicketNow {
                    xref: None,
                    ..fixed.clone()
                },
                Some(&r),
                leave(Leave::NotAnAlertTicket),
            ),
            (
                "foreign xref",
                settings(true),
                ticket("Completed", "RMM-1"),
                Some(&r),
                leave(Leave::NotAnAlertTicket),
            ),
            (
                "no record",
                settings(true),
                fixed.clone(),
                None,
                leave(Leave::NotOurs),
            ),
            (
                "another ticket",
                settings(true),
                fixed.clone(),
                Some(&another_ticket),
                leave(Leave::NotOurs),
            ),
            (
                "closed by us",
                settings(true),
                fixed.clone(),
                Some(&closed_by_us),
                leave(Leave::ClosedByUs),
            ),
            (
                "no alert id",
                settings(true),
                fixed.clone(),
                Some(&no_alert_id),
                leave(Leave::NoAlertId),
            ),
            (
                "dismissed",
                settings(true),
                fixed.clone(),
                Some(&dismissed),
                leave(Leave::DismissedAlready),
            ),
            (
                "raised again",
                settings(true),
                fixed.clone(),
                Some(&raised_again),
                dismiss(3),
            ),
            (
                "by technician",
                settings(true),
                fixed.clone(),
                Some(&closed_by_technician),
                dismiss(2),
            ),
            (
                "open",
                settings(true),
                ticket(" Closed (Resolved) ", key),
                Some(&r),
                dismiss(2),
            ),
        ];
        for (name, s, t, rec, want) in rows {
            assert_eq!(on_ticket_change(&s, &t, rec), want, "{name}");
        }
    }

    #[test]
    fn nothing_is_read_when_off_or_for_a_ticket_added_or_deleted() {
        let on = AlertSettings {
            clear_alert_on_close: true,
            fixed_statuses: vec!["Completed".into()],
            ..AlertSettings::default()
        };
        assert_eq!(
            before_reading(&AlertSettings::default(), Action::Updated),
            Some(Leave::Off)
        );
        assert_eq!(before_reading(&on, Action::Added), Some(Leave::NotAClose));
        assert_eq!(before_reading(&on, Action::Deleted), Some(Leave::NotAClose));
        assert_eq!(before_reading(&on, Action::Updated), None);
    }

    #[test]
    fn every_form_of_the_alert_key_is_one_of_ours() {
        for key in [
            "acr:t:BackupFailed:r",
            "acr@us:t:BackupFailed:r",
            "acr#00ff",
            "acr@us#00ff",
        ] {
            let t = TicketNow {
                id: 1,
                status: None,
                xref: Some(key.into()),
            };
            assert_eq!(alert_key_of(&t), Some(key), "{key}");
        }
        for other in ["RMM-1", "acronis:x", "", "ACR"] {
            let t = TicketNow {
                id: 1,
                status: None,
                xref: Some(other.into()),
            };
            assert_eq!(alert_key_of(&t), None, "{other}");
        }
    }
}
