//! The reconciler (scheduled): one cycle of `shared::services::reconcile`, recorded by
//! `shared::runs`.

use serde_json::{Value, json};
use shared::bootstrap::Deps;
use shared::functions::Function;
use shared::runs::{Recorder, RunError};
use shared::services::reconcile;
use tracing::instrument;

/// Runs one cycle. An error makes the scheduled invocation fail (and alarm) after the run
/// record says why; the cursor has not moved, so the next cycle covers the same ground.
#[instrument(skip_all)]
pub async fn handle(deps: &Deps, recorder: &Recorder) -> Result<Value, RunError> {
    recorder
        .scheduled(Function::Reconciler, async |run| {
            let report =
                reconcile::reconcile(&deps.cw, &deps.acronis, &deps.store, &deps.bus, run, false)
                    .await?;
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
