//! The ticket sync: one `alert.raised` / `alert.cleared` event from the bus → the alert's
//! one ticket created, noted, reopened, renewed or closed; one `ticket.*` event (a
//! technician's change) → its alert dismissed in Acronis when the ticket reached a fixed
//! status (see `shared::services::alerts`).
//!
//! Failures a retry can fix (another delivery creating the ticket, throttling, a POST whose
//! outcome is unknown) are returned as errors, so the Lambda service retries the event and,
//! after its retries, sends it to the dead-letter queue; others are recorded in the run
//! record and acknowledged.
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

use serde_json::{Value, json};
use shared::bus::Event;
use shared::bus::consumer::{self, InvokeError};
use shared::bus::delivery::Delivery;
use shared::functions::Function;
use shared::runs::RunSink;
use shared::services::alerts::{AlertDismiss, TicketApi, TicketError, TicketStore, TicketSync};
use shared::store::RunRecord;
use tracing::instrument;

/// A failure worth retrying: the event goes back to the Lambda service.
#[derive(Debug, thiserror::Error)]
#[error("alert {alert_key}: {source}")]
pub struct RetryableError {
    pub alert_key: String,
    #[source]
    pub source: TicketError,
}

/// Handles an EventBridge invocation (`{"detail-type": ..., "detail": {...}}`); the run
/// record is stored whatever happens.
#[instrument(skip_all)]
pub async fn handle_eventbridge<C: TicketApi, S: TicketStore, D: AlertDismiss>(
    svc: &TicketSync<C, S, D>,
    recorder: &impl RunSink,
    payload: impl Into<Delivery>,
) -> Result<Value, InvokeError<RetryableError>> {
    consumer::invoke(
        recorder,
        Function::TicketSync,
        payload,
        async |event, run| process(svc, &event, run).await,
    )
    .await
}

async fn process<C: TicketApi, S: TicketStore, D: AlertDismiss>(
    svc: &TicketSync<C, S, D>,
    event: &Event,
    run: &mut RunRecord,
) -> (Value, Result<(), RetryableError>) {
    let key = match event {
        Event::AlertRaised(c) | Event::AlertCleared(c) => c.alert_key.clone(),
        Event::Ticket(t) => format!("ticket {}", t.ticket_id),
        _ => String::new(),
    };
    match svc.handle(event, run).await {
        Ok(outcome) => {
            tracing::info!(alert_key = %key, outcome = outcome.name(), "alert handled");
            (json!({"outcome": outcome.name(), "alert_key": key}), Ok(()))
        }
        Err(e) => {
            let transient = e.is_transient();
            tracing::warn!(alert_key = %key, error = %e, transient, "alert not handled");
            let reply = json!({"outcome": "failed", "alert_key": key, "reason": e.to_string()});
            if transient {
                (
                    reply,
                    Err(RetryableError {
                        alert_key: key,
                        source: e,
                    }),
                )
            } else {
                (reply, Ok(()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
