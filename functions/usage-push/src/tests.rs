//! The scheduled handler over a fake cycle and a fake run sink: paused, done, failed, and a
//! run record the table refuses.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;
use shared::bus::EventBus;
use shared::domain::jobs::{Job, JobSettings, Paused};
use shared::runs::RunError;
use shared::services::cycles::{JobSwitches, UsageCycle};
use shared::services::usage::{CycleReport, Deadline, UsageError};
use shared::store::{RunRecord, StoreError};
use shared::testing::FakeRuns;

use super::*;

#[derive(Debug, Default)]
struct FakeCycle {
    jobs: JobSettings,
    fail: bool,
    cycles: AtomicU32,
    bus_given: Mutex<Option<bool>>,
}

impl FakeCycle {
    fn paused() -> Self {
        let mut jobs = JobSettings::default();
        jobs.paused.insert(
            Job::UsagePush,
            Paused {
                since: shared::clock::now(),
                by: Some("acw:ops".into()),
            },
        );
        Self {
            jobs,
            ..Self::default()
        }
    }
}

impl JobSwitches for FakeCycle {
    async fn job_settings(&self) -> Result<JobSettings, StoreError> {
        Ok(self.jobs.clone())
    }
}

impl UsageCycle for FakeCycle {
    async fn cycle(
        &self,
        bus: Option<&EventBus>,
        run: &mut RunRecord,
        _deadline: Deadline,
    ) -> Result<CycleReport, UsageError> {
        self.cycles.fetch_add(1, Ordering::SeqCst);
        *self.bus_given.lock().unwrap() = Some(bus.is_some());
        if self.fail {
            return Err(StoreError::Conflict("the push state".into()).into());
        }
        run.count("writes", 3);
        Ok(CycleReport {
            companies: 12,
            shards_published: 0,
        })
    }
}

#[tokio::test]
async fn a_cycle_answers_what_it_did_and_is_recorded() {
    let (svc, runs) = (FakeCycle::default(), FakeRuns::default());
    let reply = handle(&svc, None, &runs, Deadline::none()).await.unwrap();
    let run = &runs.finished()[0];
    assert_eq!(
        reply,
        json!({"outcome": "done", "run_id": run.run_id, "companies": 12,
               "shards_published": 0, "writes": 3, "failures": 0})
    );
    assert_eq!(run.function, "usage-push");
    assert_eq!(*svc.bus_given.lock().unwrap(), Some(false));
}

#[tokio::test]
async fn a_paused_push_reads_nothing_and_says_so_in_its_record() {
    let (svc, runs) = (FakeCycle::paused(), FakeRuns::default());
    let reply = handle(&svc, None, &runs, Deadline::none()).await.unwrap();
    assert_eq!(reply["outcome"], "paused");
    assert_eq!(svc.cycles.load(Ordering::SeqCst), 0);
    assert_eq!(runs.finished()[0].counts.get("paused"), Some(&1));
}

#[tokio::test]
async fn a_failed_cycle_fails_the_invocation_after_its_record_says_why() {
    let svc = FakeCycle {
        fail: true,
        ..FakeCycle::default()
    };
    let runs = FakeRuns::default();
    let e = handle(&svc, None, &runs, Deadline::none())
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::Work(_)), "{e}");
    let run = &runs.finished()[0];
    assert_eq!(run.failures.len(), 1);
    assert!(run.failures[0].reason.contains("the push state"));
}

#[tokio::test]
async fn a_run_record_the_table_refuses_fails_the_invocation() {
    let (svc, runs) = (FakeCycle::default(), FakeRuns::default());
    runs.refuse();
    let e = handle(&svc, None, &runs, Deadline::none())
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::Record(_)), "{e}");
}
