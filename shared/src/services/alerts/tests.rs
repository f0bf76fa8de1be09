//! The ticket sync's branches over the fakes of its ports (`crate::testing`): no network,
//! each case in milliseconds. The local stack's `tests/integration/tests/tickets.rs` proves
//! the same with the real client, store and simulators.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::*;
use crate::acronis::models::AlertTenant;
use crate::testing::{FakeTicketApi, FakeTicketStore, PostOutcome, open_ticket};

const BOARD: i64 = 1;
const NEW: i64 = 11;
const IN_PROGRESS: i64 = 12;
const CLOSING: i64 = 19;
const TYPE: &str = "BackupFailed";

fn settings(auto_close: bool, renew: bool) -> AlertSettings {
    AlertSettings {
        board_id: Some(BOARD),
        types: [(
            TYPE.to_owned(),
            TypeMapping {
                status_id: NEW,
                type_id: None,
                subtype_id: None,
                priority_id: None,
            },
        )]
        .into(),
        renew_after_closed: renew,
        renew_after_days: 1,
        auto_close,
        closing_status_id: Some(CLOSING),
        clear_alert_on_close: false,
        fixed_statuses: Vec::new(),
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The product's clock: the sync stamps its records with it.
fn now() -> DateTime<Utc> {
    crate::clock::now()
}

/// An occurrence of the one alert (same id; `minute` tells occurrences apart).
fn alert(minute: u32, alert_type: &str) -> Alert {
    Alert {
        id: "alert-1".into(),
        alert_type: alert_type.into(),
        category: None,
        severity: Some("critical".into()),
        created_at: None,
        updated_at: at("2026-03-02T10:00:00Z") + Duration::minutes(i64::from(minute)),
        deleted_at: None,
        tenant: AlertTenant {
            uuid: Some("tenant-1".into()),
            ..AlertTenant::default()
        },
        details: Value::Null,
    }
}

fn changed(a: Alert) -> AlertChanged {
    AlertChanged {
        connection: Default::default(),
        version: VERSION,
        alert_key: rules::alert_key(&a),
        company_id: 7,
        alert: a,
    }
}

fn raised(minute: u32) -> Event {
    Event::AlertRaised(changed(alert(minute, TYPE)))
}

fn cleared(minute: u32) -> Event {
    let mut a = alert(minute, TYPE);
    a.deleted_at = Some(a.updated_at);
    Event::AlertCleared(changed(a))
}

fn key() -> String {
    rules::alert_key(&alert(0, TYPE))
}

struct Fixture {
    cw: FakeTicketApi,
    store: FakeTicketStore,
    sync: TicketSync<FakeTicketApi, FakeTicketStore>,
}

fn fixture(s: AlertSettings) -> Fixture {
    let cw = FakeTicketApi::new();
    let store = FakeTicketStore::with_settings(s);
    Fixture {
        sync: TicketSync::new(cw.clone(), store.clone()),
        cw,
        store,
    }
}

impl Fixture {
    async fn handle(
        &self,
        event: &Event,
        at: DateTime<Utc>,
    ) -> (Result<TicketOutcome, TicketError>, RunRecord) {
        let mut run = RunRecord::start("ticket-sync");
        let result = self.sync.handle_at(event, &mut run, at).await;
        (result, run)
    }

    async fn ok(&self, event: &Event, at: DateTime<Utc>) -> TicketOutcome {
        let (result, run) = self.handle(event, at).await;
        assert!(run.failures.is_empty(), "{:?}", run.failures);
        result.expect("handled")
    }

    /// The ticket of the first occurrence, created.
    async fn created(&self) -> i64 {
        match self.ok(&raised(0), now()).await {
            TicketOutcome::Created {
                ticket_id,
                adopted: false,
            } => ticket_id,
            other => panic!("{other:?}"),
        }
    }

    fn close_in_connectwise(&self, id: i64, closed_at: DateTime<Utc>) {
        let mut t = self.cw.ticket_now(id).expect("the ticket");
        t.closed_flag = Some(true);
        t.closed_date = Some(closed_at);
        t.status = Some(crate::connectwise::models::Reference::id(CLOSING));
        self.cw.put(t);
    }
}

#[tokio::test]
async fn a_first_alert_creates_one_ticket_on_the_board_and_records_it_open() {
    let f = fixture(settings(false, false));
    let id = f.created().await;
    let t = f.cw.ticket_now(id).unwrap();
    assert_eq!(t.external_x_ref.as_deref(), Some(key().as_str()));
    assert_eq!(t.status.map(|s| s.id), Some(NEW));
    assert_eq!(t.board.map(|b| b.id), Some(BOARD));
    let r = f.store.record(&key()).unwrap();
    assert_eq!(
        (r.state, r.ticket_id, r.occurrences),
        (TicketState::Open, Some(id), 1)
    );
    assert_eq!(f.cw.calls("create_ticket"), 1);
    assert_eq!(
        f.cw.calls("ticket_by_xref"),
        0,
        "a first claim looks nothing up"
    );
}

#[tokio::test]
async fn the_same_delivery_twice_is_handled_once() {
    let f = fixture(settings(false, false));
    f.created().await;
    assert_eq!(f.ok(&raised(0), now()).await, TicketOutcome::Duplicate);
    assert_eq!(f.cw.tickets().len(), 1);
    assert!(f.cw.notes().is_empty());
}

#[tokio::test]
async fn a_repeat_while_the_ticket_is_open_is_a_note() {
    let f = fixture(settings(false, false));
    let id = f.created().await;
    assert_eq!(
        f.ok(&raised(5), now()).await,
        TicketOutcome::Noted { ticket_id: id }
    );
    assert_eq!(f.cw.notes().len(), 1);
    assert_eq!(f.cw.notes()[0].0, id);
    assert_eq!(f.store.record(&key()).unwrap().occurrences, 2);
    assert_eq!(f.cw.tickets().len(), 1, "no second ticket");
}

#[tokio::test]
async fn a_repeat_after_a_technician_closed_it_reopens_the_ticket_in_the_mapped_status() {
    let f = fixture(settings(false, false));
    let id = f.created().await;
    f.close_in_connectwise(id, now() - Duration::hours(2));
    assert_eq!(
        f.ok(&raised(5), now()).await,
        TicketOutcome::Reopened { ticket_id: id }
    );
    assert_eq!(f.cw.ticket_now(id).unwrap().status.map(|s| s.id), Some(NEW));
    assert_eq!(f.store.record(&key()).unwrap().state, TicketState::Open);
    assert_eq!(f.cw.notes().len(), 1, "the reopening says why");
}

#[tokio::test]
async fn a_repeat_long_after_the_close_renews_with_a_new_ticket_when_set() {
    let f = fixture(settings(false, true));
    let id = f.created().await;
    f.close_in_connectwise(id, now() - Duration::days(3));
    let TicketOutcome::Renewed {
        ticket_id,
        previous,
    } = f.ok(&raised(5), now()).await
    else {
        panic!("renewed");
    };
    assert_ne!(ticket_id, id);
    assert_eq!(previous, Some(id));
    assert_eq!(f.store.record(&key()).unwrap().ticket_id, Some(ticket_id));
    assert_eq!(f.cw.tickets().len(), 2);
}

#[tokio::test]
async fn a_ticket_deleted_in_connectwise_is_renewed() {
    let f = fixture(settings(false, false));
    let id = f.created().await;
    f.cw.delete(id);
    let outcome = f.ok(&raised(5), now()).await;
    assert!(
        matches!(outcome, TicketOutcome::Renewed { previous: Some(p), .. } if p == id),
        "{outcome:?}"
    );
    assert_eq!(f.cw.tickets().len(), 1, "one ticket again");
}

#[tokio::test]
async fn a_cleared_alert_leaves_the_ticket_when_auto_close_is_off() {
    let f = fixture(settings(false, false));
    let id = f.created().await;
    assert!(matches!(
        f.ok(&cleared(5), now()).await,
        TicketOutcome::Left { .. }
    ));
    assert_eq!(f.cw.ticket_now(id).unwrap().closed_flag, Some(false));
    assert_eq!(
        f.cw.calls("ticket"),
        0,
        "nothing to read when nothing is to be done"
    );
}

#[tokio::test]
async fn a_cleared_alert_closes_a_ticket_still_in_our_status() {
    let f = fixture(settings(true, false));
    let id = f.created().await;
    f.cw.put(open_ticket(id, &key(), NEW));
    let (result, run) = f.handle(&cleared(5), now()).await;
    assert_eq!(result.unwrap(), TicketOutcome::Closed { ticket_id: id });
    assert_eq!(
        f.cw.ticket_now(id).unwrap().status.map(|s| s.id),
        Some(CLOSING)
    );
    assert_eq!(f.store.record(&key()).unwrap().state, TicketState::Closed);
    assert_eq!(run.changes.len(), 1, "the close is in the run record");
    assert_eq!(run.counts.get("closed"), Some(&1));
}

#[tokio::test]
async fn a_cleared_alert_only_notes_a_ticket_a_technician_took_over() {
    let f = fixture(settings(true, false));
    let id = f.created().await;
    f.cw.put(open_ticket(id, &key(), IN_PROGRESS));
    assert_eq!(
        f.ok(&cleared(5), now()).await,
        TicketOutcome::NotedCleared { ticket_id: id }
    );
    assert_eq!(
        f.cw.ticket_now(id).unwrap().status.map(|s| s.id),
        Some(IN_PROGRESS),
        "the technician's status is kept"
    );
    assert_eq!(f.cw.notes().len(), 1);
}

#[tokio::test]
async fn a_post_that_timed_out_after_creating_is_adopted_not_repeated() {
    let f = fixture(settings(false, false));
    f.cw.posts(&[PostOutcome::CreatedThenTimeout]);
    let (result, run) = f.handle(&raised(0), now()).await;
    let outcome = result.unwrap();
    assert!(
        matches!(outcome, TicketOutcome::Created { adopted: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(f.cw.tickets().len(), 1, "one ticket");
    assert_eq!(
        f.cw.calls("create_ticket"),
        1,
        "the POST is never repeated blind"
    );
    assert_eq!(run.counts.get("post_timeouts"), Some(&1));
}

#[tokio::test]
async fn a_post_that_timed_out_with_nothing_created_keeps_the_claim_and_fails_for_a_retry() {
    let f = fixture(settings(false, false));
    f.cw.posts(&[PostOutcome::Timeout]);
    let (result, run) = f.handle(&raised(0), now()).await;
    assert!(
        matches!(result, Err(TicketError::Unconfirmed(_))),
        "{result:?}"
    );
    assert_eq!(run.failures.len(), 1);
    assert!(run.failures[0].transient);
    assert_eq!(f.store.record(&key()).unwrap().state, TicketState::Creating);
    assert_eq!(
        f.store.remembered(),
        0,
        "the delivery is forgotten, so its retry runs"
    );
    // The retry after the claim's lease looks up first, then creates the one ticket.
    let later = now() + Duration::seconds(rules::CREATING_LEASE_SECS + 1);
    let outcome = f.ok(&raised(0), later).await;
    assert!(
        matches!(outcome, TicketOutcome::Created { .. }),
        "{outcome:?}"
    );
    assert_eq!(f.cw.tickets().len(), 1);
    assert!(
        f.cw.calls("ticket_by_xref") >= 1,
        "the take-over looked up first"
    );
}

#[tokio::test]
async fn a_fresh_claim_of_another_delivery_makes_this_one_wait() {
    let f = fixture(settings(false, false));
    f.cw.posts(&[PostOutcome::Timeout]);
    let _ = f.handle(&raised(0), now()).await;
    // Another occurrence while the claim is fresh: busy, retried later.
    let (result, _) = f.handle(&raised(5), now() + Duration::seconds(10)).await;
    assert!(matches!(result, Err(TicketError::Busy(_))), "{result:?}");
    assert!(f.cw.tickets().is_empty());
}

#[tokio::test]
async fn a_write_that_loses_to_a_concurrent_delivery_is_decided_again() {
    let f = fixture(settings(false, false));
    let id = f.created().await;
    f.store.conflicts(1);
    assert_eq!(
        f.ok(&raised(5), now()).await,
        TicketOutcome::Noted { ticket_id: id }
    );
    assert_eq!(
        f.cw.notes().len(),
        1,
        "the note is not repeated by the retry"
    );
}

#[tokio::test]
async fn an_unmapped_alert_type_makes_no_ticket() {
    let f = fixture(settings(false, false));
    let event = Event::AlertRaised(changed(alert(0, "SomethingElse")));
    let (result, run) = f.handle(&event, now()).await;
    assert!(matches!(result.unwrap(), TicketOutcome::Left { .. }));
    assert_eq!(run.counts.get("skipped_unmapped_type"), Some(&1));
    assert!(f.cw.tickets().is_empty());
}

#[tokio::test]
async fn a_ticket_answered_without_its_closed_flag_is_refused_not_read_as_open() {
    let f = fixture(settings(false, false));
    let id = f.created().await;
    let mut t = f.cw.ticket_now(id).unwrap();
    t.closed_flag = None;
    f.cw.put(t);
    let (result, run) = f.handle(&raised(5), now()).await;
    assert!(
        matches!(result, Err(TicketError::Malformed(_))),
        "{result:?}"
    );
    assert_eq!(
        run.counts.get(crate::runs::MALFORMED_ANSWERS_COUNT),
        Some(&1)
    );
    assert!(
        f.cw.notes().is_empty(),
        "nothing written on a malformed answer"
    );
    // The next delivery of the same occurrence is handled again.
    assert_eq!(
        f.store.remembered(),
        1,
        "only the first occurrence's delivery is kept"
    );
}

// ---- a technician's close dismisses the alert ---------------------------------------------

/// Acronis as the dismissal sees it: the dismissals asked for, and an outage switch.
#[derive(Debug, Clone, Default)]
struct FakeDismiss {
    calls: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl AlertDismiss for FakeDismiss {
    async fn dismiss(
        &self,
        connection: &crate::domain::connection::ConnectionName,
        alert_id: &str,
    ) -> Result<bool, AcronisError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(AcronisError::Unreachable {
                method: "DELETE".into(),
                path: format!("alerts/{alert_id}"),
                attempts: 3,
                reason: "down".into(),
            });
        }
        self.calls
            .lock()
            .unwrap()
            .push((connection.to_string(), alert_id.to_owned()));
        Ok(true)
    }
}

const COMPLETED: &str = "Completed";

fn dismissing(auto_close: bool) -> AlertSettings {
    AlertSettings {
        clear_alert_on_close: true,
        fixed_statuses: vec![COMPLETED.into()],
        ..settings(auto_close, false)
    }
}

fn ticket_changed(id: i64) -> Event {
    Event::Ticket(crate::bus::TicketChanged {
        version: VERSION,
        ticket_id: id,
        action: crate::bus::Action::Updated,
        origin: crate::bus::Origin::Admin,
        observed_at: now(),
    })
}

impl Fixture {
    fn with_acronis(
        self,
    ) -> (
        Self,
        FakeDismiss,
        TicketSync<FakeTicketApi, FakeTicketStore, FakeDismiss>,
    ) {
        let acronis = FakeDismiss::default();
        let sync = self.sync.with_acronis(acronis.clone());
        (self, acronis, sync)
    }

    /// A technician moves the ticket to `status` (closed).
    fn technician_closes(&self, id: i64, status: &str) {
        let mut t = self.cw.ticket_now(id).expect("the ticket");
        t.closed_flag = Some(true);
        t.closed_date = Some(now());
        t.status = Some(crate::connectwise::models::Reference {
            id: 30,
            name: Some(status.into()),
            identifier: None,
        });
        self.cw.put(t);
    }
}

async fn on(
    sync: &TicketSync<FakeTicketApi, FakeTicketStore, FakeDismiss>,
    event: &Event,
) -> (Result<TicketOutcome, TicketError>, RunRecord) {
    let mut run = RunRecord::start("ticket-sync");
    let result = sync.handle_at(event, &mut run, now()).await;
    (result, run)
}

#[tokio::test]
async fn a_technicians_close_dismisses_the_alert_once() {
    let (f, acronis, sync) = fixture(dismissing(false)).with_acronis();
    let id = f.created().await;
    f.technician_closes(id, "completed");
    let (outcome, run) = on(&sync, &ticket_changed(id)).await;
    assert_eq!(
        outcome.unwrap(),
        TicketOutcome::Dismissed {
            ticket_id: id,
            alert_id: "alert-1".into()
        }
    );
    assert_eq!(run.changes.len(), 1, "{:?}", run.changes);
    assert_eq!(
        *acronis.calls.lock().unwrap(),
        [("default".to_owned(), "alert-1".to_owned())]
    );
    assert!(f.store.record(&key()).unwrap().dismissed.is_some());
    // The same close again (a redelivered callback, the backstop): nothing more.
    let (again, _) = on(&sync, &ticket_changed(id)).await;
    assert!(matches!(again.unwrap(), TicketOutcome::Left { .. }));
    assert_eq!(acronis.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_products_own_close_dismisses_nothing_and_a_raise_after_a_dismissal_counts_again() {
    let (f, acronis, sync) = fixture(dismissing(true)).with_acronis();
    let id = f.created().await;
    // The alert clears: the product closes the ticket; its callback dismisses nothing.
    assert_eq!(
        f.ok(&cleared(1), now()).await,
        TicketOutcome::Closed { ticket_id: id }
    );
    let mut t = f.cw.ticket_now(id).unwrap();
    t.closed_flag = Some(true);
    t.closed_date = Some(now());
    t.status = Some(crate::connectwise::models::Reference {
        id: CLOSING,
        name: Some(COMPLETED.into()),
        identifier: None,
    });
    f.cw.put(t);
    let (left, _) = on(&sync, &ticket_changed(id)).await;
    assert_eq!(
        left.unwrap(),
        TicketOutcome::Left {
            reason: crate::domain::alerts::dismissals::Leave::ClosedByUs
                .as_str()
                .into()
        }
    );
    assert!(acronis.calls.lock().unwrap().is_empty());
    // Raised again (same id): reopened; a technician's close now dismisses it.
    assert_eq!(
        f.ok(&raised(2), now()).await,
        TicketOutcome::Reopened { ticket_id: id }
    );
    f.technician_closes(id, COMPLETED);
    let (dismissed, _) = on(&sync, &ticket_changed(id)).await;
    assert!(matches!(
        dismissed.unwrap(),
        TicketOutcome::Dismissed { .. }
    ));
    assert_eq!(acronis.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn off_reads_nothing_and_an_acronis_outage_is_retried_with_nothing_remembered() {
    let (f, acronis, sync) = fixture(settings(false, false)).with_acronis();
    let id = f.created().await;
    f.technician_closes(id, COMPLETED);
    let reads = f.cw.calls("ticket");
    let (left, _) = on(&sync, &ticket_changed(id)).await;
    assert!(matches!(left.unwrap(), TicketOutcome::Left { .. }));
    assert_eq!(f.cw.calls("ticket"), reads, "off: the ticket is not read");

    let (f, acronis2, sync) = fixture(dismissing(false)).with_acronis();
    drop(acronis);
    let id = f.created().await;
    f.technician_closes(id, COMPLETED);
    acronis2
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (failed, _) = on(&sync, &ticket_changed(id)).await;
    let e = failed.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(f.store.record(&key()).unwrap().dismissed.is_none());
    acronis2
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (retried, _) = on(&sync, &ticket_changed(id)).await;
    assert!(matches!(retried.unwrap(), TicketOutcome::Dismissed { .. }));
}

#[tokio::test]
async fn a_sync_without_acronis_refuses_a_dismissal_rather_than_skip_it() {
    let f = fixture(dismissing(false));
    let id = f.created().await;
    f.technician_closes(id, COMPLETED);
    let (result, _) = f.handle(&ticket_changed(id), now()).await;
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("no Acronis connections")
    );
}
