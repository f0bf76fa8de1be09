//! usage-shard-worker: one `usage.shard` event → the usage of its companies pushed
//! (`shared::services::usage::UsagePush::push`). Per-company failures are recorded in the
//! run record and acknowledged: the next cycle converges. A failure of the whole shard (the
//! store unreachable) is returned so that the Lambda service retries the event.

use std::time::Duration;

use serde_json::{Value, json};
use shared::bus::Event;
use shared::bus::consumer::{self, InvokeError};
use shared::domain::jobs::Job;
use shared::functions::Function;
use shared::runs::Recorder;
use shared::services::usage::{Deadline, UsageError, UsagePush};
use shared::store::{Failure, RunRecord};
use tracing::instrument;

/// Kept free of writes at the end of an invocation: recording what was written. Writes
/// left undone are written by the next cycle (their stored quantity is unchanged).
pub const RESERVE: Duration = Duration::from_secs(30);

/// The deadline of the writes of an invocation that must end by `deadline_ms`.
pub fn deadline(deadline_ms: u64) -> Deadline {
    Deadline::lambda(deadline_ms, RESERVE, Duration::MAX)
}

/// Handles an EventBridge invocation (`{"detail-type": ..., "detail": {...}}`); the run
/// record is stored whatever happens.
#[instrument(skip_all)]
pub async fn handle_eventbridge(
    svc: &UsagePush,
    recorder: &Recorder,
    payload: &Value,
    deadline: Deadline,
) -> Result<Value, InvokeError<UsageError>> {
    consumer::invoke(
        recorder,
        Function::UsageShardWorker,
        payload,
        async |event, run| process(svc, event, run, deadline).await,
    )
    .await
}

async fn process(
    svc: &UsagePush,
    event: Event,
    run: &mut RunRecord,
    deadline: Deadline,
) -> (Value, Result<(), UsageError>) {
    let Event::UsageShard(shard) = event else {
        run.count("ignored", 1);
        return (json!({"outcome": "ignored"}), Ok(()));
    };
    run.count("shard", u64::from(shard.shard));
    // Paused after the plan was published: this shard writes nothing (the next cycle after
    // resuming plans again from what is current).
    match shared::services::cycles::held(&svc.store, Job::UsagePush, run).await {
        Ok(Some(paused)) => return (paused, Ok(())),
        Ok(None) => {}
        Err(e) => {
            let e = UsageError::from(e);
            return (
                json!({"outcome": "failed", "reason": e.to_string()}),
                Err(e),
            );
        }
    }
    match svc.push(&shard.companies, run, deadline).await {
        Ok(()) => (
            json!({"outcome": "pushed", "plan_run_id": shard.run_id, "shard": shard.shard,
                   "writes": run.counts.get("writes").copied().unwrap_or(0)}),
            Ok(()),
        ),
        Err(e) => {
            run.failures.push(Failure {
                subject: format!("usage shard {}", shard.shard),
                reason: e.to_string(),
                transient: true,
            });
            (
                json!({"outcome": "failed", "reason": e.to_string()}),
                Err(e),
            )
        }
    }
}
