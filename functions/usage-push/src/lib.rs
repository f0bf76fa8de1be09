//! usage-push: the scheduled cycle (see `shared::services::usage`). It plans (every
//! ConnectWise read) and either pushes in process or, above `USAGE_SHARD_SIZE` companies,
//! publishes `usage.shard` events for the shard workers. The run record is stored whatever
//! happens; one company's failure is a line in it, not a failed run.

use std::time::Duration;

use serde_json::{Value, json};
use shared::bus::EventBus;
use shared::services::usage::{Deadline, FUNCTION, UsagePush};
use shared::store::{Failure, RunRecord};

/// Kept free of reads at the end of an invocation: publishing the shards and the run record.
pub const RESERVE: Duration = Duration::from_secs(60);
/// A plan never reads for longer than this, so it ends well inside a 15-minute cycle.
pub const MAX_PLAN: Duration = Duration::from_secs(600);

/// The deadline of the reads of an invocation that must end by `deadline_ms`.
pub fn deadline(deadline_ms: u64) -> Deadline {
    Deadline::lambda(deadline_ms, RESERVE, MAX_PLAN)
}

/// Runs one cycle and stores its run record.
pub async fn handle(
    svc: &UsagePush,
    bus: Option<&EventBus>,
    retention: Duration,
    deadline: Deadline,
) -> Value {
    let mut run = RunRecord::start(FUNCTION);
    let reply = match svc.cycle(bus, &mut run, deadline).await {
        Ok(report) => json!({
            "outcome": "done",
            "run_id": run.run_id,
            "companies": report.companies,
            "shards_published": report.shards_published,
            "writes": run.counts.get("writes").copied().unwrap_or(0),
            "failures": run.failures.len(),
        }),
        Err(e) => {
            tracing::error!(error = %e, "usage cycle failed");
            run.failures.push(Failure {
                subject: "usage cycle".into(),
                reason: e.to_string(),
                transient: true,
            });
            json!({"outcome": "failed", "run_id": run.run_id, "reason": e.to_string()})
        }
    };
    run.finished_at = Some(chrono::Utc::now());
    if let Err(e) = svc.store.put_run(&run, retention).await {
        tracing::error!(error = %e, "could not store the run record");
    }
    tracing::info!(run_id = %run.run_id, counts = ?run.counts, failures = run.failures.len(), "usage cycle done");
    reply
}
