//! The scheduled handler over a fake poll and a fake run sink: paused with the ticket sync,
//! done, and a poll that stopped early.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;
use shared::domain::jobs::{Job, JobSettings, Paused};
use shared::runs::RunError;
use shared::services::alerts::{PollError, PollOptions, PollReport};
use shared::services::cycles::{AlertPoll, JobSwitches};
use shared::store::{RunRecord, StoreError};
use shared::testing::FakeRuns;

use super::*;

#[derive(Debug, Default)]
struct FakePoll {
    jobs: JobSettings,
    unpublished: usize,
    polls: AtomicU32,
}

impl JobSwitches for FakePoll {
    async fn job_settings(&self) -> Result<JobSettings, StoreError> {
        Ok(self.jobs.clone())
    }
}

impl AlertPoll for FakePoll {
    async fn poll(
        &self,
        _run: &mut RunRecord,
        _opts: &PollOptions,
    ) -> Result<PollReport, PollError> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.unpublished > 0 {
            return Err(PollError::Bus(self.unpublished));
        }
        Ok(PollReport {
            pages: 1,
            read: 5,
            published: 4,
            duplicates: 1,
            cursor_ns: 1_700_000_000_000_000_000,
            ..PollReport::default()
        })
    }
}

#[tokio::test]
async fn a_poll_answers_its_counts_and_is_recorded() {
    let (poll, runs) = (FakePoll::default(), FakeRuns::default());
    let reply = handle_with(&poll, &PollOptions::default(), &runs)
        .await
        .unwrap();
    assert_eq!(
        reply,
        json!({"pages": 1, "read": 5, "published": 4, "duplicates": 1,
               "skipped_unmapped_tenant": 0, "skipped_unmapped_type": 0,
               "cursor_ns": 1_700_000_000_000_000_000_i64})
    );
    assert_eq!(runs.finished()[0].function, "alert-poller");
}

#[tokio::test]
async fn the_poller_holds_while_the_ticket_sync_is_paused() {
    let mut jobs = JobSettings::default();
    jobs.paused.insert(
        Job::TicketSync,
        Paused {
            since: shared::clock::now(),
            by: None,
        },
    );
    let poll = FakePoll {
        jobs,
        ..FakePoll::default()
    };
    let runs = FakeRuns::default();
    let reply = handle_with(&poll, &PollOptions::default(), &runs)
        .await
        .unwrap();
    assert_eq!(reply["outcome"], "paused");
    assert_eq!(
        poll.polls.load(Ordering::SeqCst),
        0,
        "nothing read, the cursor held"
    );
}

#[tokio::test]
async fn events_left_off_the_bus_fail_the_invocation_after_the_record_says_how_many() {
    let poll = FakePoll {
        unpublished: 2,
        ..FakePoll::default()
    };
    let runs = FakeRuns::default();
    let e = handle_with(&poll, &PollOptions::default(), &runs)
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::Work(_)), "{e}");
    let run = &runs.finished()[0];
    assert!(
        run.failures[0]
            .reason
            .contains("2 event(s) not put on the bus")
    );
}
