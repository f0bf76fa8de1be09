//! The apply step over a fake bus and fake cursors: cursors move only when every event is
//! on the bus.

use chrono::TimeZone;

use super::*;
use crate::bus::Action;
use crate::testing::{FakeBus, FakeReconcileStore};

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()
}

/// A plan of companies 1 (changed) and 2 (deleted in ConnectWise), 2 deferred while paused,
/// made at 10:00 over cursors last moved at 09:00.
fn plan() -> ReconcilePlan {
    let candidates = BTreeMap::from([
        (
            1,
            Candidate {
                reason: "company changed",
                action: Action::Updated,
            },
        ),
        (
            2,
            Candidate {
                reason: "deleted in ConnectWise",
                action: Action::Deleted,
            },
        ),
    ]);
    ReconcilePlan {
        advance_sweep: true,
        failed_connections: Vec::new(),
        feeds: Default::default(),
        started: at(10),
        candidates,
        cursor: Some(at(9)),
        swept: Some(at(9)),
        resumed: vec![2],
    }
}

fn store() -> FakeReconcileStore {
    let store = FakeReconcileStore::default();
    store.set_cursor(CURSOR, at(9));
    store.set_cursor(SWEEP_CURSOR, at(9));
    store.defer(2);
    store
}

#[tokio::test]
async fn every_event_on_the_bus_moves_both_cursors_and_clears_what_was_deferred() {
    let (store, bus) = (store(), FakeBus::default());
    let mut run = RunRecord::start("reconciler");
    let report = apply(plan(), &store, &bus, &mut run).await.unwrap();
    assert_eq!((report.published, report.failed), (2, 0));
    assert!(report.cursor_advanced);
    assert_eq!(store.cursor(CURSOR), Some(at(10)));
    assert_eq!(store.cursor(SWEEP_CURSOR), Some(at(10)));
    assert!(store.deferred().is_empty());
    let sent: Vec<_> = bus
        .events()
        .into_iter()
        .map(|e| match e {
            Event::Company(c) => (c.company_id, c.action, c.observed_at, c.origin),
            other => panic!("{other:?}"),
        })
        .collect();
    let origin = Origin::Reconciler {
        run_id: run.run_id.clone(),
    };
    assert_eq!(
        sent,
        vec![
            (1, Action::Updated, at(10), origin.clone()),
            (2, Action::Deleted, at(10), origin)
        ]
    );
}

#[tokio::test]
async fn an_event_the_bus_refused_keeps_the_cursors_so_the_next_cycle_finds_it_again() {
    let (store, bus) = (store(), FakeBus::default());
    bus.refuse_company(2);
    let mut run = RunRecord::start("reconciler");
    let report = apply(plan(), &store, &bus, &mut run).await.unwrap();
    assert_eq!((report.published, report.failed), (1, 1));
    assert!(!report.cursor_advanced);
    assert_eq!(store.cursor(CURSOR), Some(at(9)));
    assert_eq!(store.cursor(SWEEP_CURSOR), Some(at(9)));
    assert_eq!(store.deferred(), vec![2], "still deferred: not sent");
    assert_eq!(run.failures.len(), 1);
    assert!(run.failures[0].transient);
    assert!(run.failures[0].reason.starts_with("InternalFailure"));
}

#[tokio::test]
async fn a_cursor_another_cycle_moved_meanwhile_fails_the_run_instead_of_going_back() {
    let (store, bus) = (store(), FakeBus::default());
    store.set_cursor(CURSOR, at(11));
    let mut run = RunRecord::start("reconciler");
    let err = apply(plan(), &store, &bus, &mut run).await.unwrap_err();
    assert!(err.to_string().contains("changed concurrently"), "{err}");
    assert_eq!(store.cursor(CURSOR), Some(at(11)), "never moved back");
    assert_eq!(
        bus.events().len(),
        2,
        "the events were sent; their companies are re-derived"
    );
}
