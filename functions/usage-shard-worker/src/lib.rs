//! usage-shard-worker: one `usage.shard` event → the usage of its companies pushed
//! (`shared::services::usage::UsagePush::push`). Per-company failures are recorded in the
//! run record and acknowledged: the next cycle converges. A failure of the whole shard (the
//! store unreachable) is returned so that the Lambda service retries the event. Writes its
//! time ran out on are handed on at once as new shards (`domain::usage_handoff`).
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use shared::bus::consumer::{self, InvokeError};
use shared::bus::delivery::Delivery;
use shared::bus::events::{ShardCompany, UsageShard};
use shared::bus::{Event, EventBus};
use shared::domain::jobs::Job;
use shared::domain::usage_handoff::{self, Handoff};
use shared::functions::Function;
use shared::runs::RunSink;
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

/// Where a hand-off goes: the bus in a deployment ([`EventBus`]), nowhere when the next
/// cycle is to write the leftover ([`NextCycle`]), a queue in the bench.
pub trait HandOn {
    /// Publishes `shard`; the error says why it was not.
    fn hand_on(&self, shard: UsageShard) -> impl Future<Output = Result<(), String>> + Send;

    /// Whether leftover is handed on at all (else it is the next cycle's, as chosen, not as
    /// a failure).
    fn hands_on(&self) -> bool {
        true
    }
}

impl HandOn for EventBus {
    async fn hand_on(&self, shard: UsageShard) -> Result<(), String> {
        let report = self.publish(&[Event::UsageShard(shard)]).await;
        match report.failed.first() {
            None if report.published == 1 => Ok(()),
            None => Err("not published".into()),
            Some(f) => Err(format!("{} {}", f.code, f.message)),
        }
    }
}

/// No hand-off: what the deadline leaves waits for the next cycle.
#[derive(Debug, Clone, Copy)]
pub struct NextCycle;

impl HandOn for NextCycle {
    async fn hand_on(&self, _: UsageShard) -> Result<(), String> {
        Err("no bus to hand it on".into())
    }

    fn hands_on(&self) -> bool {
        false
    }
}

/// What the worker needs of the usage push: whether the job is paused, the latest plan, and
/// the push of a shard's companies ([`UsagePush`] in a deployment, a fake in the tests).
pub trait ShardPush: Send + Sync {
    /// `Some(reply)` while the usage push is paused (the shard writes nothing).
    fn paused(
        &self,
        run: &mut RunRecord,
    ) -> impl Future<Output = Result<Option<Value>, UsageError>> + Send;
    /// The run id of the last plan that fanned out shards.
    fn latest_plan(&self) -> impl Future<Output = Result<Option<String>, UsageError>> + Send;
    /// Pushes `companies`; returns those whose writes the deadline left undone.
    fn push(
        &self,
        companies: &[ShardCompany],
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> impl Future<Output = Result<BTreeSet<i64>, UsageError>> + Send;
}

impl ShardPush for UsagePush {
    async fn paused(&self, run: &mut RunRecord) -> Result<Option<Value>, UsageError> {
        Ok(shared::services::cycles::held(&self.store, Job::UsagePush, run).await?)
    }
    async fn latest_plan(&self) -> Result<Option<String>, UsageError> {
        UsagePush::latest_plan(self).await
    }
    async fn push(
        &self,
        companies: &[ShardCompany],
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<BTreeSet<i64>, UsageError> {
        UsagePush::push(self, companies, run, deadline).await
    }
}

/// Handles an EventBridge invocation (`{"detail-type": ..., "detail": {...}}`); the run
/// record is stored whatever happens.
#[instrument(skip_all)]
pub async fn handle_eventbridge(
    svc: &impl ShardPush,
    bus: &impl HandOn,
    recorder: &impl RunSink,
    payload: impl Into<Delivery>,
    deadline: Deadline,
) -> Result<Value, InvokeError<UsageError>> {
    consumer::invoke(
        recorder,
        Function::UsageShardWorker,
        payload,
        async |event, run| process(svc, bus, event, run, deadline).await,
    )
    .await
}

/// One event of a consumer invocation (the bench calls it with its own [`HandOn`]).
pub async fn process(
    svc: &impl ShardPush,
    bus: &impl HandOn,
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
    match svc.paused(run).await {
        Ok(Some(paused)) => return (paused, Ok(())),
        Ok(None) => {}
        Err(e) => {
            return (
                json!({"outcome": "failed", "reason": e.to_string()}),
                Err(e),
            );
        }
    }
    if shard.handoff > 0 {
        run.count("handoff", u64::from(shard.handoff));
    }
    // A newer plan's shards cover these companies again, from fresher reads.
    match svc.latest_plan().await {
        Ok(latest) if usage_handoff::superseded(&shard, latest.as_deref()) => {
            run.count("superseded", 1);
            return (
                json!({"outcome": "superseded", "plan_run_id": shard.run_id,
                       "latest_plan": latest}),
                Ok(()),
            );
        }
        Ok(_) => {}
        Err(e) => {
            return (
                json!({"outcome": "failed", "reason": e.to_string()}),
                Err(e),
            );
        }
    }
    match svc.push(&shard.companies, run, deadline).await {
        Ok(deferred) => {
            hand_on(bus, &shard, &deferred, run).await;
            (
                json!({"outcome": "pushed", "plan_run_id": shard.run_id, "shard": shard.shard,
                       "handoff": shard.handoff,
                       "writes": run.counts.get("writes").copied().unwrap_or(0),
                       "handed_on": run.counts.get("handed_on").copied().unwrap_or(0)}),
                Ok(()),
            )
        }
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

/// Publishes the hand-off of the writes the deadline left undone. Not published, they are
/// the next cycle's (their stored quantities are unchanged), and the run record says so.
async fn hand_on(
    bus: &impl HandOn,
    shard: &UsageShard,
    deferred: &BTreeSet<i64>,
    run: &mut RunRecord,
) {
    match usage_handoff::after_push(shard, deferred) {
        Handoff::Done => {}
        Handoff::LeaveToNextCycle { companies } => {
            run.count("left_to_next_cycle", companies as u64);
        }
        Handoff::HandOn(parts) if !bus.hands_on() => {
            let companies: usize = parts.iter().map(|p| p.companies.len()).sum();
            run.count("left_to_next_cycle", companies as u64);
        }
        Handoff::HandOn(parts) => {
            for next in parts {
                let companies = next.companies.len() as u64;
                match bus.hand_on(next).await {
                    Ok(()) => run.count("handed_on", companies),
                    Err(reason) => {
                        run.count("left_to_next_cycle", companies);
                        run.failures.push(Failure {
                            subject: format!("usage shard {}", shard.shard),
                            reason: format!(
                                "the writes left for {companies} companies were not handed on \
                                 ({reason}); the next cycle writes them"
                            ),
                            transient: true,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
