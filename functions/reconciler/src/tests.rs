//! The reconciler's revival of disabled callbacks over a fake of ConnectWise's callbacks:
//! what the run record and its `CallbacksDisabled` count say.

use shared::connectwise::models::CallbackEntry;
use shared::runs::CALLBACKS_DISABLED_COUNT;
use shared::services::callbacks::DESCRIPTION_PREFIX;
use shared::store::RunRecord;
use shared::testing::FakeCallbacks;

use super::revive_callbacks;

const URL: &str = "https://hooks.example.com/cw?recordId=";

fn ours(id: i64, kind: &str, disabled: bool) -> CallbackEntry {
    CallbackEntry {
        id,
        url: Some(URL.into()),
        object_id: Some(1),
        callback_type: Some(kind.into()),
        level: Some("owner".into()),
        description: Some(format!("{DESCRIPTION_PREFIX}: {kind}")),
        inactive_flag: Some(disabled),
    }
}

async fn revive(cw: &FakeCallbacks) -> RunRecord {
    let mut run = RunRecord::start("reconciler");
    revive_callbacks(cw, &mut run).await;
    run
}

#[tokio::test]
async fn a_disabled_callback_registered_again_is_a_change_and_counted_for_the_alarm() {
    let cw = FakeCallbacks::default();
    cw.put(ours(1, "company", true));
    cw.put(ours(2, "agreement", false));
    let run = revive(&cw).await;
    assert_eq!(run.counts.get(CALLBACKS_DISABLED_COUNT), Some(&1));
    assert_eq!(run.changes.len(), 1);
    assert_eq!(
        run.changes[0].field,
        shared::domain::callbacks::REVIVED_FIELD
    );
    assert!(
        run.changes[0].subject.contains("company"),
        "{:?}",
        run.changes[0]
    );
    assert!(cw.entries().iter().all(|c| c.inactive_flag == Some(false)));
}

#[tokio::test]
async fn with_every_callback_active_the_count_is_zero_and_nothing_changes() {
    let cw = FakeCallbacks::default();
    cw.put(ours(1, "company", false));
    let run = revive(&cw).await;
    assert_eq!(run.counts.get(CALLBACKS_DISABLED_COUNT), Some(&0));
    assert!(run.changes.is_empty() && run.failures.is_empty());
    assert_eq!(cw.writes(), 0);
}

#[tokio::test]
async fn a_listing_that_fails_is_a_failure_the_next_cycle_retries() {
    let cw = FakeCallbacks::default();
    cw.fail_list();
    let run = revive(&cw).await;
    assert_eq!(run.failures.len(), 1);
    assert!(run.failures[0].transient);
}

#[tokio::test]
async fn a_callback_that_cannot_be_registered_again_needs_a_person() {
    let cw = FakeCallbacks::default();
    cw.put(ours(1, "company", true));
    cw.fail_create();
    let run = revive(&cw).await;
    assert_eq!(run.failures.len(), 1);
    assert!(!run.failures[0].transient);
    assert!(
        run.failures[0].reason.contains("acw setup"),
        "{:?}",
        run.failures
    );
}
