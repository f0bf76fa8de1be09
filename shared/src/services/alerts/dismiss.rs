//! A technician's close → the ticket's alert dismissed in Acronis, as
//! [`crate::domain::alerts::dismissals`] decides: read the ticket and its record, decide,
//! dismiss, then remember the dismissed occurrence on the record.

use std::future::Future;

use serde_json::Value;

use super::*;
use crate::acronis::connections::Connections;
use crate::bus::TicketChanged;
use crate::domain::alerts::dismissals::{self, Dismissal, Dismissed, Leave};
use crate::domain::connection::ConnectionName;

/// The Acronis side of a dismissal: one alert of one connection.
pub trait AlertDismiss: Clone + Send + Sync + std::fmt::Debug {
    /// `Ok(false)` when Acronis no longer knows the alert (as good as dismissed).
    fn dismiss(
        &self,
        connection: &ConnectionName,
        alert_id: &str,
    ) -> impl Future<Output = Result<bool, AcronisError>> + Send;
}

/// A ticket sync built without Acronis (tools and tests that never dismiss): a dismissal it
/// is asked for fails loudly rather than being skipped.
impl AlertDismiss for () {
    async fn dismiss(
        &self,
        connection: &ConnectionName,
        alert_id: &str,
    ) -> Result<bool, AcronisError> {
        Err(AcronisError::Config(format!(
            "this ticket sync has no Acronis connections: alert {alert_id} of {connection} not dismissed"
        )))
    }
}

impl AlertDismiss for Connections {
    async fn dismiss(
        &self,
        connection: &ConnectionName,
        alert_id: &str,
    ) -> Result<bool, AcronisError> {
        let client = self
            .client(connection)
            .await
            .map_err(|e| AcronisError::Config(e.to_string()))?;
        client.dismiss_alert(alert_id).await
    }
}

impl<C: TicketApi, S: TicketStore, D: AlertDismiss> TicketSync<C, S, D> {
    /// A ticket changed: when a technician moved an alert ticket to a fixed status, its
    /// alert is dismissed in Acronis (once per occurrence).
    pub async fn on_ticket(
        &self,
        changed: &TicketChanged,
        run: &mut RunRecord,
        now: DateTime<Utc>,
    ) -> Result<TicketOutcome, TicketError> {
        let left = |reason: &str| TicketOutcome::Left {
            reason: reason.into(),
        };
        let settings = self.store.alert_settings().await?;
        // Off (the default), a ticket added or deleted: not even the ticket is read.
        if let Some(l) = dismissals::before_reading(&settings, changed.action) {
            return Ok(left(l.as_str()));
        }
        let ticket = match self.cw.ticket(changed.ticket_id).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(left(Leave::NotAClose.as_str())),
            Err(e) => return Err(e.into()),
        };
        let seen = dismissals::TicketNow {
            id: ticket.id,
            status: ticket.status.and_then(|s| s.name),
            xref: ticket.external_x_ref,
        };
        let record = match dismissals::alert_key_of(&seen) {
            Some(key) => self.store.alert_ticket(key).await?,
            None => None,
        };
        let (alert_key, connection, alert_id, occurrences) =
            match dismissals::on_ticket_change(&settings, &seen, record.as_ref()) {
                Dismissal::Leave(l) => return Ok(left(l.as_str())),
                Dismissal::Dismiss {
                    alert_key,
                    connection,
                    alert_id,
                    occurrences,
                } => (alert_key, connection, alert_id, occurrences),
            };
        let known = self.acronis.dismiss(&connection, &alert_id).await?;
        self.bump(&alert_key, now, |r| {
            r.dismissed = Some(Dismissed {
                alert_id: alert_id.clone(),
                occurrences,
                at: now,
            });
        })
        .await?;
        run.changes.push(Change {
            subject: format!("alert {alert_key}"),
            field: "dismissed".into(),
            old: None,
            new: Value::String(alert_id.clone()),
            basis: Some(format!(
                "ticket {} moved to {} (a fixed status){}",
                seen.id,
                seen.status.as_deref().unwrap_or("?"),
                if known {
                    ""
                } else {
                    "; Acronis no longer knew the alert"
                }
            )),
        });
        Ok(TicketOutcome::Dismissed {
            ticket_id: seen.id,
            alert_id,
        })
    }
}
