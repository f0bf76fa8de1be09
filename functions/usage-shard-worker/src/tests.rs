//! The worker over fakes of its ports: a shard pushed, paused, superseded, out of time
//! (its leftover handed on, split, or left to the next cycle), and failures.

use std::sync::Mutex;

use serde_json::json;
use shared::bus::events::VERSION;
use shared::domain::usage_handoff::{MAX_HANDOFFS, SPLIT_FROM};
use shared::store::StoreError;
use shared::testing::FakeRuns;

use super::*;

/// The usage push as the worker sees it: writes every company but those listed as left by
/// the deadline.
#[derive(Default)]
struct FakePush {
    paused: bool,
    latest_plan: Option<String>,
    /// Companies whose writes the deadline leaves undone.
    leave: BTreeSet<i64>,
    fail: bool,
    pushed: Mutex<Vec<i64>>,
}

impl ShardPush for FakePush {
    async fn paused(&self, run: &mut RunRecord) -> Result<Option<Value>, UsageError> {
        if self.paused {
            run.count("paused", 1);
            return Ok(Some(json!({"outcome": "paused"})));
        }
        Ok(None)
    }
    async fn latest_plan(&self) -> Result<Option<String>, UsageError> {
        Ok(self.latest_plan.clone())
    }
    async fn push(
        &self,
        companies: &[ShardCompany],
        run: &mut RunRecord,
        _deadline: Deadline,
    ) -> Result<BTreeSet<i64>, UsageError> {
        if self.fail {
            return Err(UsageError::Store(StoreError::Conflict(
                "the table is down".into(),
            )));
        }
        let mut pushed = self.pushed.lock().unwrap();
        for c in companies
            .iter()
            .filter(|c| !self.leave.contains(&c.company_id))
        {
            pushed.push(c.company_id);
            run.count("writes", 1);
        }
        Ok(companies
            .iter()
            .map(|c| c.company_id)
            .filter(|c| self.leave.contains(c))
            .collect())
    }
}

/// The bus a hand-off goes to.
#[derive(Default)]
struct FakeBus {
    published: Mutex<Vec<UsageShard>>,
    refuse: bool,
}

impl HandOn for FakeBus {
    async fn hand_on(&self, shard: UsageShard) -> Result<(), String> {
        if self.refuse {
            return Err("EventBridge refused the entry".into());
        }
        self.published.lock().unwrap().push(shard);
        Ok(())
    }
}

fn shard(run_id: &str, ids: std::ops::RangeInclusive<i64>, handoff: u32) -> UsageShard {
    UsageShard {
        version: VERSION,
        run_id: run_id.into(),
        shard: 0,
        shards: 1,
        companies: ids
            .map(|id| ShardCompany {
                connection: Default::default(),
                company_id: id,
                tenant_id: format!("t{id}"),
            })
            .collect(),
        handoff,
    }
}

fn envelope(s: &UsageShard) -> Value {
    json!({"detail-type": "usage.shard", "detail": serde_json::to_value(s).unwrap()})
}

async fn run(push: &FakePush, bus: &FakeBus, s: &UsageShard) -> (Value, RunRecord) {
    let runs = FakeRuns::default();
    let reply = handle_eventbridge(push, bus, &runs, &envelope(s), Deadline::none())
        .await
        .unwrap();
    (reply, runs.finished().remove(0))
}

#[tokio::test]
async fn a_shard_is_pushed_whole_and_nothing_is_handed_on() {
    let push = FakePush::default();
    let bus = FakeBus::default();
    let (reply, run) = run(&push, &bus, &shard("plan-1", 1..=5, 0)).await;
    assert_eq!(reply["outcome"], "pushed", "{reply}");
    assert_eq!(reply["writes"], 5);
    assert_eq!(*push.pushed.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    assert!(bus.published.lock().unwrap().is_empty());
    assert!(run.failures.is_empty());
}

#[tokio::test]
async fn a_paused_push_writes_nothing() {
    let push = FakePush {
        paused: true,
        ..FakePush::default()
    };
    let (reply, _) = run(&push, &FakeBus::default(), &shard("plan-1", 1..=5, 0)).await;
    assert_eq!(reply["outcome"], "paused");
    assert!(push.pushed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_shard_of_an_older_plan_is_superseded_and_writes_nothing() {
    let push = FakePush {
        latest_plan: Some("plan-2".into()),
        ..FakePush::default()
    };
    for handoff in [0, 1] {
        let (reply, run) = run(&push, &FakeBus::default(), &shard("plan-1", 1..=5, handoff)).await;
        assert_eq!(reply["outcome"], "superseded", "{reply}");
        assert_eq!(run.counts.get("superseded"), Some(&1));
    }
    assert!(push.pushed.lock().unwrap().is_empty());
    // The latest plan's own shard runs.
    let (reply, _) = run(&push, &FakeBus::default(), &shard("plan-2", 1..=5, 0)).await;
    assert_eq!(reply["outcome"], "pushed");
}

#[tokio::test]
async fn the_writes_the_deadline_left_are_handed_on_at_once() {
    let push = FakePush {
        leave: [4, 5].into(),
        ..FakePush::default()
    };
    let bus = FakeBus::default();
    let (reply, run) = run(&push, &bus, &shard("plan-1", 1..=5, 0)).await;
    assert_eq!(reply["handed_on"], 2, "{reply}");
    assert_eq!(run.counts.get("handed_on"), Some(&2));
    let published = bus.published.lock().unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].handoff, 1);
    let ids: Vec<i64> = published[0]
        .companies
        .iter()
        .map(|c| c.company_id)
        .collect();
    assert_eq!(ids, vec![4, 5]);
}

#[tokio::test]
async fn a_large_leftover_is_handed_on_in_two_for_both_workers() {
    let n = SPLIT_FROM as i64;
    let push = FakePush {
        leave: (1..=n).collect(),
        ..FakePush::default()
    };
    let bus = FakeBus::default();
    let (_, run) = run(&push, &bus, &shard("plan-1", 1..=n, 0)).await;
    assert_eq!(run.counts.get("handed_on"), Some(&(n as u64)));
    let published = bus.published.lock().unwrap();
    assert_eq!(published.len(), 2);
    let total: usize = published.iter().map(|s| s.companies.len()).sum();
    assert_eq!(total, SPLIT_FROM);
}

#[tokio::test]
async fn past_the_last_hand_off_the_next_cycle_writes_the_rest() {
    let push = FakePush {
        leave: [5].into(),
        ..FakePush::default()
    };
    let bus = FakeBus::default();
    let (_, run) = run(&push, &bus, &shard("plan-1", 1..=5, MAX_HANDOFFS)).await;
    assert_eq!(run.counts.get("left_to_next_cycle"), Some(&1));
    assert!(bus.published.lock().unwrap().is_empty());
    assert!(
        run.failures.is_empty(),
        "the bound is chosen, not a failure"
    );
}

#[tokio::test]
async fn a_hand_off_the_bus_refuses_is_recorded_for_the_next_cycle() {
    let push = FakePush {
        leave: [5].into(),
        ..FakePush::default()
    };
    let bus = FakeBus {
        refuse: true,
        ..FakeBus::default()
    };
    let (_, run) = run(&push, &bus, &shard("plan-1", 1..=5, 0)).await;
    assert_eq!(run.counts.get("left_to_next_cycle"), Some(&1));
    assert_eq!(run.failures.len(), 1);
    assert!(
        run.failures[0].reason.contains("not handed on"),
        "{:?}",
        run.failures
    );
}

#[tokio::test]
async fn a_push_that_fails_whole_is_retried_by_lambda_after_its_run_is_recorded() {
    let push = FakePush {
        fail: true,
        ..FakePush::default()
    };
    let runs = FakeRuns::default();
    let e = handle_eventbridge(
        &push,
        &FakeBus::default(),
        &runs,
        &envelope(&shard("plan-1", 1..=5, 0)),
        Deadline::none(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, InvokeError::Handler(_)), "{e}");
    assert_eq!(runs.finished()[0].failures.len(), 1);
}

#[tokio::test]
async fn with_no_bus_the_leftover_waits_for_the_next_cycle_as_chosen() {
    let push = FakePush {
        leave: [5].into(),
        ..FakePush::default()
    };
    let runs = FakeRuns::default();
    handle_eventbridge(
        &push,
        &NextCycle,
        &runs,
        &envelope(&shard("plan-1", 1..=5, 0)),
        Deadline::none(),
    )
    .await
    .unwrap();
    let run = runs.finished().remove(0);
    assert_eq!(run.counts.get("left_to_next_cycle"), Some(&1));
    assert!(run.failures.is_empty());
}
