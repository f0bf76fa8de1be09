//! The alert poller (scheduled): one poll of `shared::services::alerts::poll`, with its
//! run record. An error makes the invocation fail (and alarm); the cursor holds what was
//! done, so the next poll goes on from there.

use serde_json::{Value, json};
use shared::acronis::AcronisClient;
use shared::bus::EventBus;
use shared::services::alerts::{self, PollOptions};
use shared::store::{Failure, RunRecord, Store};
use tracing::instrument;

/// Runs one poll and stores its run record.
#[instrument(skip_all)]
pub async fn handle(
    acronis: &AcronisClient,
    store: &Store,
    bus: &EventBus,
    opts: &PollOptions,
    retention: std::time::Duration,
) -> anyhow::Result<Value> {
    let mut run = RunRecord::start("alert-poller");
    let result = alerts::poll(acronis, store, bus, &mut run, opts).await;
    if let Err(e) = &result {
        run.failures.push(Failure {
            subject: "poll".into(),
            reason: e.to_string(),
            transient: true,
        });
    }
    run.finished_at = Some(chrono::Utc::now());
    if let Err(e) = store.put_run(&run, retention).await {
        tracing::error!(error = %e, "could not store the run record");
    }
    let report = result?;
    tracing::info!(
        read = report.read,
        published = report.published,
        duplicates = report.duplicates,
        unmapped_tenant = report.unmapped_tenant,
        unmapped_type = report.unmapped_type,
        "polled"
    );
    Ok(json!({
        "pages": report.pages,
        "read": report.read,
        "published": report.published,
        "duplicates": report.duplicates,
        "skipped_unmapped_tenant": report.unmapped_tenant,
        "skipped_unmapped_type": report.unmapped_type,
        "cursor_ns": report.cursor_ns,
    }))
}
