//! usage-push: the scheduled cycle (see `shared::services::usage`). It plans (every
//! ConnectWise read) and either pushes in process or, above `USAGE_SHARD_SIZE` companies,
//! publishes `usage.shard` events for the shard workers. The run record is stored whatever
//! happens (`shared::runs`).

use std::time::Duration;

use serde_json::{Value, json};
use shared::bus::EventBus;
use shared::functions::Function;
use shared::runs::{Recorder, RunError};
use shared::services::usage::{Deadline, UsagePush};

/// Kept free of reads at the end of an invocation: publishing the shards and the run record.
pub const RESERVE: Duration = Duration::from_secs(60);
/// A plan never reads for longer than this, so it ends well inside a 15-minute cycle.
pub const MAX_PLAN: Duration = Duration::from_secs(600);

/// The deadline of the reads of an invocation that must end by `deadline_ms`.
pub fn deadline(deadline_ms: u64) -> Deadline {
    Deadline::lambda(deadline_ms, RESERVE, MAX_PLAN)
}

/// Runs one cycle and records it; a cycle that fails returns its error after its run record
/// says why (so the function's errors alarm fires). One company's failure is a line in the
/// record and a count in the `FailedItems` metric, not a failed run.
pub async fn handle(
    svc: &UsagePush,
    bus: Option<&EventBus>,
    recorder: &Recorder,
    deadline: Deadline,
) -> Result<Value, RunError> {
    recorder
        .scheduled(Function::UsagePush, async |run| {
            let report = svc.cycle(bus, run, deadline).await?;
            tracing::info!(run_id = %run.run_id, counts = ?run.counts, failures = run.failures.len(), "usage cycle done");
            Ok(json!({
                "outcome": "done",
                "run_id": run.run_id,
                "companies": report.companies,
                "shards_published": report.shards_published,
                "writes": run.counts.get("writes").copied().unwrap_or(0),
                "failures": run.failures.len(),
            }))
        })
        .await
}
