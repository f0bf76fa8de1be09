//! Needs-attention tickets over the fakes of their ports: open, note, close, the claim
//! that keeps two deliveries to one ticket, a lost answer, and problems a retry may fix.

use chrono::Duration;

use super::*;
use crate::testing::{FakeAttentionStore, FakeTicketApi, PostOutcome, open_ticket};

const BOARD: i64 = 3;
const CLOSING: i64 = 39;
const COMPANY: i64 = 42;
const JOB: Job = Job::Provisioning;

fn settings() -> AttentionSettings {
    AttentionSettings {
        board_id: Some(BOARD),
        status_id: Some(31),
        closing_status_id: Some(CLOSING),
        priority_id: None,
        prepaid_overage_notice: false,
    }
}

fn fakes(s: AttentionSettings) -> (FakeTicketApi, FakeAttentionStore) {
    (FakeTicketApi::new(), FakeAttentionStore::with_settings(s))
}

fn key() -> String {
    rules::key(JOB, COMPANY)
}

async fn tell(cw: &FakeTicketApi, store: &FakeAttentionStore, problem: Option<&str>) -> RunRecord {
    let mut run = RunRecord::start("provisioner");
    report(cw, store, JOB, COMPANY, problem, &mut run).await;
    run
}

#[tokio::test]
async fn a_problem_opens_one_ticket_on_the_chosen_board() {
    let (cw, store) = fakes(settings());
    let run = tell(&cw, &store, Some("no primary contact")).await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    let tickets = cw.tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].board.as_ref().map(|b| b.id), Some(BOARD));
    assert_eq!(tickets[0].external_x_ref.as_deref(), Some(key().as_str()));
    let r = store.record(&key()).unwrap();
    assert!(r.open);
    assert_eq!(r.ticket_id, Some(tickets[0].id));
    assert_eq!(run.changes.len(), 1);
}

#[tokio::test]
async fn without_a_board_nothing_is_opened() {
    let (cw, store) = fakes(AttentionSettings::default());
    tell(&cw, &store, Some("no primary contact")).await;
    assert!(cw.tickets().is_empty());
    assert!(store.record(&key()).is_none());
}

#[tokio::test]
async fn the_same_problem_again_adds_nothing_and_another_is_a_note() {
    let (cw, store) = fakes(settings());
    tell(&cw, &store, Some("no primary contact")).await;
    tell(&cw, &store, Some("no primary contact")).await;
    assert!(cw.notes().is_empty());
    tell(&cw, &store, Some("tenant name taken")).await;
    assert_eq!(cw.notes().len(), 1);
    assert_eq!(cw.tickets().len(), 1);
    assert_eq!(store.record(&key()).unwrap().problems.len(), 2);
}

#[tokio::test]
async fn a_success_closes_the_open_ticket_and_then_nothing() {
    let (cw, store) = fakes(settings());
    tell(&cw, &store, Some("no primary contact")).await;
    let id = store.record(&key()).unwrap().ticket_id.unwrap();
    let run = tell(&cw, &store, None).await;
    assert_eq!(
        cw.ticket_now(id).unwrap().status.map(|s| s.id),
        Some(CLOSING)
    );
    assert!(!store.record(&key()).unwrap().open);
    assert_eq!(run.changes.len(), 1);
    let again = tell(&cw, &store, None).await;
    assert!(again.changes.is_empty());
    assert_eq!(cw.calls("update_ticket"), 1);
}

#[tokio::test]
async fn a_success_with_no_record_touches_nothing() {
    let (cw, store) = fakes(settings());
    tell(&cw, &store, None).await;
    assert_eq!(cw.calls("ticket_by_xref") + cw.calls("create_ticket"), 0);
}

#[tokio::test]
async fn a_claim_another_delivery_holds_opens_no_second_ticket() {
    let (cw, store) = fakes(settings());
    store.lose_claims(1);
    tell(&cw, &store, Some("no primary contact")).await;
    assert!(cw.tickets().is_empty());
}

#[tokio::test]
async fn a_ticket_whose_answer_was_lost_is_adopted_by_key_not_created_again() {
    let (cw, store) = fakes(settings());
    // The POST went through but its answer was lost: the record stays open without ticket.
    cw.posts(&[PostOutcome::CreatedThenTimeout]);
    let run = tell(&cw, &store, Some("no primary contact")).await;
    assert_eq!(run.failures.len(), 1, "the lost answer is recorded");
    let r = store.record(&key()).unwrap();
    assert!(r.open && r.ticket_id.is_none());
    // The next report looks up by key and adopts the ticket.
    tell(&cw, &store, Some("no primary contact")).await;
    assert_eq!(cw.tickets().len(), 1, "one ticket");
    let id = cw.tickets()[0].id;
    assert_eq!(store.record(&key()).unwrap().ticket_id, Some(id));
}

#[tokio::test]
async fn a_closed_ticket_carrying_the_key_is_not_adopted() {
    let (cw, store) = fakes(settings());
    let mut old = open_ticket(5, &key(), CLOSING);
    old.closed_flag = Some(true);
    cw.put(old);
    tell(&cw, &store, Some("no primary contact")).await;
    let r = store.record(&key()).unwrap();
    assert_ne!(r.ticket_id, Some(5), "a new ticket, not the closed one");
    assert_eq!(cw.tickets().len(), 2);
}

#[tokio::test]
async fn a_problem_a_retry_may_fix_is_told_only_once_it_has_lasted() {
    let (cw, store) = fakes(settings());
    let mut run = RunRecord::start("provisioner");
    report_transient(&cw, &store, JOB, COMPANY, "malformed answer", &mut run).await;
    assert!(cw.tickets().is_empty(), "the first time, only since when");
    let since = store.record(&key()).unwrap().transient_since.unwrap();
    report_transient(&cw, &store, JOB, COMPANY, "malformed answer", &mut run).await;
    assert!(cw.tickets().is_empty(), "not long yet");
    // It has lasted: the record says so since an hour ago.
    let mut r = store.record(&key()).unwrap();
    r.transient_since = Some(since - rules::TRANSIENT_PERSISTS_AFTER - Duration::minutes(1));
    store.put(r);
    report_transient(&cw, &store, JOB, COMPANY, "malformed answer", &mut run).await;
    assert_eq!(cw.tickets().len(), 1);
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    // Its next success ends the episode and closes the ticket.
    tell(&cw, &store, None).await;
    let r = store.record(&key()).unwrap();
    assert!(r.transient_since.is_none() && !r.open);
}
