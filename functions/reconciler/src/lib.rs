//! The reconciler (scheduled): one cycle of `shared::services::reconcile`, recorded by
//! `shared::runs`.
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]
// The cycle, the redrive and the callbacks nest deeper than the default layout depth.
#![recursion_limit = "256"]

use serde_json::{Value, json};
use shared::bootstrap::Deps;
use shared::deadline::Deadline;
use shared::functions::Function;
use shared::runs::{Recorder, RunError};
use shared::services::{dead_letters, reconcile};
use tracing::instrument;

/// The functions whose dead letters each cycle puts back on the bus: the bus consumers,
/// whose events the sources do not send again (a scheduled function's next run does its
/// work instead).
pub const REDRIVEN: [Function; 3] = [
    Function::Provisioner,
    Function::TicketSync,
    Function::UsageShardWorker,
];

/// Puts the bus consumers' dead letters back on the bus (`acw dlq replay` without a
/// person), recorded in `run`. The consumers are idempotent (a company is re-derived, an
/// alert's delivery is remembered), so a letter replayed twice does no harm; one this
/// version cannot read (a newer `VERSION`) stays for the version that can.
pub async fn redrive<Q: dead_letters::Queues, P: dead_letters::Republish>(
    queues: &Q,
    bus: &P,
    run: &mut shared::store::RunRecord,
) {
    let report = dead_letters::replay(queues, bus, &REDRIVEN, None, false).await;
    report.record(run);
}

/// Registers again the callbacks ConnectWise disabled after three days of failed
/// deliveries, recorded in `run`: each as a change, counted for the `CallbacksDisabled`
/// metric (its alarm: something refused or lost every callback for three days).
pub async fn revive_callbacks(
    cw: &impl shared::services::callbacks::CallbackApi,
    run: &mut shared::store::RunRecord,
) {
    use shared::services::callbacks::{ReviveError, revive_disabled};
    match revive_disabled(cw).await {
        Ok(revived) => {
            run.count(shared::runs::CALLBACKS_DISABLED_COUNT, revived.len() as u64);
            for r in revived {
                tracing::warn!(url = %r.url, kind = %r.callback_type, "ConnectWise had disabled our callback; registered again");
                run.changes.push(shared::store::Change {
                    subject: format!("callback {} at {}", r.callback_type, r.url),
                    field: shared::domain::callbacks::REVIVED_FIELD.into(),
                    old: Some(json!(true)),
                    new: json!(false),
                    basis: Some(
                        "ConnectWise disabled it after three days of failed deliveries; registered again"
                            .into(),
                    ),
                });
            }
        }
        Err(e) => run.failures.push(shared::store::Failure {
            subject: "callbacks".into(),
            reason: e.to_string(),
            transient: matches!(e, ReviveError::List(_)),
        }),
    }
}

/// The backstop of the ticket callbacks (`shared::services::alerts::closed_tickets`),
/// recorded in `run`: what it found, or why it could not look (its cursor then holds).
pub async fn tickets_backstop(deps: &Deps, run: &mut shared::store::RunRecord) {
    let now = shared::clock::now();
    let run_id = run.run_id.clone();
    match shared::services::alerts::closed_tickets(&deps.cw, &deps.store, &deps.bus, &run_id, now)
        .await
    {
        Ok(b) if b.published > 0 => run.count("closed_tickets_republished", b.published as u64),
        Ok(_) => {}
        Err(e) => run.failures.push(shared::store::Failure {
            subject: "closed tickets".into(),
            reason: format!("{e:#}"),
            transient: true,
        }),
    }
}

/// Runs one cycle. An error makes the scheduled invocation fail (and alarm) after the run
/// record says why; the cursor has not moved, so the next cycle covers the same ground.
#[instrument(skip_all)]
pub async fn handle(deps: &Deps, recorder: &Recorder) -> Result<Value, RunError> {
    handle_until(deps, recorder, Deadline::none()).await
}

/// [`handle`] stopping at `deadline` (a margin before Lambda's limit): a cycle out of time
/// records that it stopped, and its cursor holds, instead of being killed with no record.
pub async fn handle_until(
    deps: &Deps,
    recorder: &Recorder,
    deadline: Deadline,
) -> Result<Value, RunError> {
    recorder
        .scheduled(Function::Reconciler, async |run| {
            // Boxed as a trait object: the cycle's future is large, and its type deeper
            // than the compiler's layout limit nested in the Lambda's own.
            let cycle: std::pin::Pin<Box<dyn Future<Output = _> + Send + '_>> =
                Box::pin(reconcile::reconcile(
                    &deps.cw,
                    &deps.connections,
                    &deps.store,
                    &deps.bus,
                    run,
                    false,
                ));
            let cycle = deadline.race(cycle).await;
            let Some(report) = cycle else {
                anyhow::bail!("stopped at the invocation's deadline; the next cycle goes on");
            };
            let report = report?;
            // Both vendors answered this cycle: what the consumers failed on during an
            // outage longer than Lambda's retries goes back on the bus.
            if let Some(queues) = &deps.dead_letters {
                redrive(queues.as_ref(), &deps.bus, run).await;
            }
            // ConnectWise answered this cycle: a callback it disabled is registered again.
            revive_callbacks(&deps.cw, run).await;
            // A lost ticket callback: the technician's closes since the last cycle.
            tickets_backstop(deps, run).await;
            tracing::info!(
                candidates = report.candidates.len(),
                published = report.published,
                failed = report.failed,
                cursor_advanced = report.cursor_advanced,
                "reconciled"
            );
            Ok(json!({
                "candidates": report.candidates.len(),
                "published": report.published,
                "failed": report.failed,
                "cursor_advanced": report.cursor_advanced,
            }))
        })
        .await
}

/// A cycle's deadline from its invocation's (ms since the epoch): 20 s kept for the redrive
/// and the run record.
pub fn deadline(deadline_ms: u64) -> Deadline {
    Deadline::lambda(
        deadline_ms,
        std::time::Duration::from_secs(20),
        std::time::Duration::MAX,
    )
}

#[cfg(test)]
mod tests;
