//! The scheduled jobs as one recorded run each, shared by their functions and by `acw sync`
//! (so the CLI runs exactly what the function runs, without depending on function crates).
//! A run that fails returns its error after its run record says why.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
use tracing::instrument;

use crate::acronis::Connections;
use crate::bus::EventBus;
use crate::domain::jobs::{Job, JobSettings};
use crate::functions::Function;
use crate::runs::{self, RunError, RunSink};
use crate::services::alerts::{self, PollError, PollOptions, PollReport};
use crate::services::usage::{CycleReport, Deadline, UsageError, UsagePush};
use crate::store::{RunRecord, Store, StoreError};

/// Kept free of reads at the end of a usage push invocation: publishing the shards and the
/// run record.
pub const USAGE_RESERVE: Duration = Duration::from_secs(60);
/// A usage plan never reads for longer than this, so it ends well inside a 15-minute cycle.
pub const USAGE_MAX_PLAN: Duration = Duration::from_secs(600);

/// The deadline of the reads of a usage push invocation that must end by `deadline_ms`.
pub fn usage_deadline(deadline_ms: u64) -> Deadline {
    Deadline::lambda(deadline_ms, USAGE_RESERVE, USAGE_MAX_PLAN)
}

/// Where a scheduled run reads whether its job is paused.
pub trait JobSwitches: Send + Sync {
    fn job_settings(&self) -> impl Future<Output = Result<JobSettings, StoreError>> + Send;
}

impl JobSwitches for Store {
    async fn job_settings(&self) -> Result<JobSettings, StoreError> {
        self.section().await
    }
}

/// When `job` is paused: what the run answers (its record counts `paused`); `None` when it
/// runs. Read at the start of every run, so a pause takes effect within one cycle.
pub async fn held(
    store: &impl JobSwitches,
    job: Job,
    run: &mut RunRecord,
) -> Result<Option<Value>, StoreError> {
    let jobs = store.job_settings().await?;
    Ok(jobs.paused.get(&job).map(|p| {
        run.count("paused", 1);
        tracing::info!(job = job.name(), "job paused: nothing read or written");
        json!({"outcome": "paused", "job": job.name(), "since": p.since})
    }))
}

/// The usage push's cycle as its scheduled run sees it ([`UsagePush`]; a fake in the
/// function's handler tests).
pub trait UsageCycle: JobSwitches {
    fn cycle(
        &self,
        bus: Option<&EventBus>,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> impl Future<Output = Result<CycleReport, UsageError>> + Send;
}

impl JobSwitches for UsagePush {
    async fn job_settings(&self) -> Result<JobSettings, StoreError> {
        self.store.section().await
    }
}

impl UsageCycle for UsagePush {
    async fn cycle(
        &self,
        bus: Option<&EventBus>,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<CycleReport, UsageError> {
        UsagePush::cycle(self, bus, run, deadline).await
    }
}

/// One alert poll as its scheduled run sees it ([`LivePoll`]; a fake in the function's
/// handler tests).
pub trait AlertPoll: JobSwitches {
    fn poll(
        &self,
        run: &mut RunRecord,
        opts: &PollOptions,
    ) -> impl Future<Output = Result<PollReport, PollError>> + Send;
}

/// The poll over the real client, table and bus.
#[derive(Debug, Clone, Copy)]
pub struct LivePoll<'a> {
    pub connections: &'a Connections,
    pub store: &'a Store,
    pub bus: &'a EventBus,
}

impl JobSwitches for LivePoll<'_> {
    async fn job_settings(&self) -> Result<JobSettings, StoreError> {
        self.store.section().await
    }
}

impl AlertPoll for LivePoll<'_> {
    async fn poll(&self, run: &mut RunRecord, opts: &PollOptions) -> Result<PollReport, PollError> {
        // Boxed as a trait object: nested in the Lambda's own futures, the poll's type is
        // deeper than the compiler's layout limit.
        futures::FutureExt::boxed(alerts::poll_all(
            self.connections,
            self.store,
            self.bus,
            run,
            opts,
        ))
        .await
    }
}

/// One usage push cycle, recorded. One company's failure is a line in the record and a
/// count in the `FailedItems` metric, not a failed run.
#[instrument(skip_all)]
pub async fn usage_push(
    svc: &impl UsageCycle,
    bus: Option<&EventBus>,
    recorder: &impl RunSink,
    deadline: Deadline,
) -> Result<Value, RunError> {
    runs::scheduled(recorder, Function::UsagePush, async |run| {
        if let Some(paused) = held(svc, Job::UsagePush, run).await? {
            return Ok(paused);
        }
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

/// One alert poll over the real client, table and bus, recorded ([`alert_poll_over`]).
pub async fn alert_poll(
    connections: &Connections,
    store: &Store,
    bus: &EventBus,
    opts: &PollOptions,
    recorder: &impl RunSink,
) -> Result<Value, RunError> {
    let poller = LivePoll {
        connections,
        store,
        bus,
    };
    alert_poll_over(&poller, opts, recorder).await
}

/// One alert poll, recorded. The cursor holds what was done, so the next poll goes on from
/// there.
#[instrument(skip_all)]
pub async fn alert_poll_over(
    poller: &impl AlertPoll,
    opts: &PollOptions,
    recorder: &impl RunSink,
) -> Result<Value, RunError> {
    runs::scheduled(recorder, Function::AlertPoller, async |run| {
        // Ticket sync paused: the poller reads nothing and holds its cursor.
        if let Some(paused) = held(poller, Job::TicketSync, run).await? {
            return Ok(paused);
        }
        let report = poller.poll(run, opts).await?;
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
