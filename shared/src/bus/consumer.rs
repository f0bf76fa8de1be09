//! One invocation of a bus consumer (the provisioner, the ticket sync, the usage shard
//! worker): read the EventBridge envelope, handle the event with a run record, finish the run
//! whatever happens (`runs::RunSink`: the table's `Recorder`), and hand a retryable failure back to the Lambda service
//! (which retries the event, then dead-letters it) while acknowledging the rest. A run whose
//! record cannot be stored fails too: the event is retried rather than its outcome lost.

use serde_json::{Value, json};

use super::Event;
use super::delivery::Delivery;
use crate::functions::Function;
use crate::runs::RunSink;
use crate::store::{Failure, RunRecord, StoreError};

/// What the handler made of one event: the reply, and an error when a retry could help.
pub type Handled<E> = (Value, Result<(), E>);

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Handler(E),
    #[error("could not store the run record: {0}")]
    RunRecord(#[source] StoreError),
    /// An event of a newer version than this code reads (written by the version after this
    /// one, as during a rollback): retried by Lambda, then kept in the on-failure queue for
    /// `acw dlq replay` once the newer version runs again. Never acknowledged unread.
    #[error(transparent)]
    NewerEvent(super::EventError),
}

/// Runs `handle` on the event `payload` carries (a [`Delivery`], or the JSON of one:
/// `{"detail-type": ..., "detail": {...}}`).
pub async fn invoke<E, F>(
    recorder: &impl RunSink,
    function: Function,
    payload: impl Into<Delivery>,
    handle: F,
) -> Result<Value, InvokeError<E>>
where
    E: std::error::Error + 'static,
    F: AsyncFnOnce(Event, &mut RunRecord) -> Handled<E>,
{
    let Delivery {
        detail_type,
        detail,
    } = payload.into();
    let detail_type = detail_type.as_str();
    let mut run = RunRecord::start(function.name());
    let mut newer = None;
    let (reply, result) = match Event::parse(detail_type, detail) {
        Err(e) if e.is_newer() => {
            tracing::warn!(error = %e, detail_type, outcome = "retried", "event of a newer version");
            run.failures.push(Failure {
                subject: format!("event {detail_type}"),
                reason: e.to_string(),
                transient: true,
            });
            let reply = json!({"outcome": "retried", "reason": e.to_string()});
            newer = Some(e);
            (reply, Ok(()))
        }
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
    let stored = recorder.finish(&mut run).await;
    result.map_err(InvokeError::Handler)?;
    stored.map_err(InvokeError::RunRecord)?;
    match newer {
        Some(e) => Err(InvokeError::NewerEvent(e)),
        None => Ok(reply),
    }
}
