//! The reconciler (scheduled): one cycle of `shared::services::reconcile`, with its run record.

use serde_json::{Value, json};
use shared::bootstrap::Deps;
use shared::services::reconcile;
use shared::store::{Failure, RunRecord};
use tracing::instrument;

/// Runs one cycle. An error makes the scheduled invocation fail (and alarm); the cursor has
/// not moved, so the next cycle covers the same ground.
#[instrument(skip_all)]
pub async fn handle(deps: &Deps, retention: std::time::Duration) -> anyhow::Result<Value> {
    let mut run = RunRecord::start("reconciler");
    let result = reconcile::reconcile(
        &deps.cw,
        &deps.acronis,
        &deps.store,
        &deps.bus,
        &mut run,
        false,
    )
    .await;
    if let Err(e) = &result {
        run.failures.push(Failure {
            subject: "cycle".into(),
            reason: format!("{e:#}"),
            transient: true,
        });
    }
    run.finished_at = Some(chrono::Utc::now());
    if let Err(e) = deps.store.put_run(&run, retention).await {
        tracing::error!(error = %e, "could not store the run record");
    }
    let report = result?;
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
}
