//! The alert poller (scheduled): one poll of `shared::services::alerts::poll`, with its
//! run record. An error makes the invocation fail (and alarm) after the record says why; the
//! cursor holds what was done, so the next poll goes on from there.

use serde_json::{Value, json};
use shared::acronis::AcronisClient;
use shared::bus::EventBus;
use shared::functions::Function;
use shared::runs::{Recorder, RunError};
use shared::services::alerts::{self, PollOptions};
use shared::store::Store;
use tracing::instrument;

/// Runs one poll, recorded by `shared::runs`.
#[instrument(skip_all)]
pub async fn handle(
    acronis: &AcronisClient,
    store: &Store,
    bus: &EventBus,
    opts: &PollOptions,
    recorder: &Recorder,
) -> Result<Value, RunError> {
    recorder
        .scheduled(Function::AlertPoller, async |run| {
            let report = alerts::poll(acronis, store, bus, run, opts).await?;
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
        })
        .await
}
