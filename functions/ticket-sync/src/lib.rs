//! The ticket sync: one `alert.raised` / `alert.cleared` event from the bus → the alert's
//! one ticket created, noted, reopened, renewed or closed (see
//! `shared::services::alerts`).
//!
//! Failures a retry can fix (another delivery creating the ticket, throttling, a POST whose
//! outcome is unknown) are returned as errors, so the Lambda service retries the event and,
//! after its retries, sends it to the dead-letter queue; others are recorded in the run
//! record and acknowledged.

use serde_json::{Value, json};
use shared::bus::Event;
use shared::services::alerts::{TicketError, TicketSync};
use shared::store::{Failure, RunRecord};
use tracing::instrument;

/// A failure worth retrying: the event goes back to the Lambda service.
#[derive(Debug, thiserror::Error)]
#[error("alert {alert_key}: {source}")]
pub struct RetryableError {
    pub alert_key: String,
    #[source]
    pub source: TicketError,
}

/// Handles an EventBridge invocation (`{"detail-type": ..., "detail": {...}}`).
pub async fn handle_eventbridge(
    svc: &TicketSync,
    payload: &Value,
    retention: std::time::Duration,
) -> Result<Value, RetryableError> {
    let detail_type = payload
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let detail = payload.get("detail").cloned().unwrap_or(Value::Null);
    handle(svc, detail_type, detail, retention).await
}

/// Handles one event; the run record is stored whatever happens.
#[instrument(skip_all, fields(detail_type))]
pub async fn handle(
    svc: &TicketSync,
    detail_type: &str,
    detail: Value,
    retention: std::time::Duration,
) -> Result<Value, RetryableError> {
    let mut run = RunRecord::start("ticket-sync");
    let (reply, result) = match Event::parse(detail_type, detail) {
        Err(e) => {
            tracing::error!(error = %e, outcome = "rejected", "unreadable event");
            run.failures.push(Failure {
                subject: format!("event {detail_type}"),
                reason: e.to_string(),
                transient: false,
            });
            (
                json!({"outcome": "rejected", "reason": e.to_string()}),
                Ok(()),
            )
        }
        Ok(event) => {
            let key = match &event {
                Event::AlertRaised(c) | Event::AlertCleared(c) => c.alert_key.clone(),
                _ => String::new(),
            };
            match svc.handle(&event, &mut run).await {
                Ok(outcome) => {
                    tracing::info!(alert_key = %key, outcome = outcome.name(), "alert handled");
                    (json!({"outcome": outcome.name(), "alert_key": key}), Ok(()))
                }
                Err(e) => {
                    let transient = e.is_transient();
                    tracing::warn!(alert_key = %key, error = %e, transient, "alert not handled");
                    let reply =
                        json!({"outcome": "failed", "alert_key": key, "reason": e.to_string()});
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
    };
    run.finished_at = Some(chrono::Utc::now());
    if let Err(e) = svc.store.put_run(&run, retention).await {
        tracing::error!(error = %e, "could not store the run record");
    }
    result.map(|()| reply)
}
