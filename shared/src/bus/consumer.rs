//! One invocation of a bus consumer (the provisioner, the ticket sync, the usage shard
//! worker): read the EventBridge envelope, handle the event with a run record, store the
//! record whatever happens, and hand a retryable failure back to the Lambda service (which
//! retries the event, then dead-letters it) while acknowledging the rest.

use std::time::Duration;

use serde_json::{Value, json};

use super::Event;
use crate::store::{Failure, RunRecord, Store};

/// What the handler made of one event: the reply, and an error when a retry could help.
pub type Handled<E> = (Value, Result<(), E>);

/// Runs `handle` on the event in `payload` (`{"detail-type": ..., "detail": {...}}`).
pub async fn invoke<E, F>(
    store: &Store,
    function: &str,
    payload: &Value,
    retention: Duration,
    handle: F,
) -> Result<Value, E>
where
    F: AsyncFnOnce(Event, &mut RunRecord) -> Handled<E>,
{
    let detail_type = payload
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let detail = payload.get("detail").cloned().unwrap_or(Value::Null);
    let mut run = RunRecord::start(function);
    let (reply, result) = match Event::parse(detail_type, detail) {
        Err(e) => {
            // Retrying cannot make an unreadable event readable: record it and acknowledge.
            tracing::error!(error = %e, detail_type, outcome = "rejected", "unreadable event");
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
        Ok(event) => handle(event, &mut run).await,
    };
    run.finished_at = Some(chrono::Utc::now());
    if let Err(e) = store.put_run(&run, retention).await {
        tracing::error!(error = %e, "could not store the run record");
    }
    result.map(|()| reply)
}
