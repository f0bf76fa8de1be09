//! The handler over the fakes of its ports: what Lambda is answered (acknowledged or
//! retried) and what the run record holds, for each way an event can go.

use serde_json::{Value, json};
use shared::acronis::models::{Alert, AlertTenant};
use shared::bus::consumer::InvokeError;
use shared::bus::{AlertChanged, Event, VERSION};
use shared::domain::alerts::{AlertSettings, TypeMapping, alert_key};
use shared::services::alerts::TicketSync;
use shared::testing::{FakeRuns, FakeTicketApi, FakeTicketStore, PostOutcome};

use super::handle_eventbridge;

const TYPE: &str = "BackupFailed";

fn settings() -> AlertSettings {
    AlertSettings {
        board_id: Some(1),
        types: [(
            TYPE.to_owned(),
            TypeMapping {
                status_id: 11,
                type_id: None,
                subtype_id: None,
                priority_id: None,
            },
        )]
        .into(),
        ..AlertSettings::default()
    }
}

fn raised() -> Event {
    let alert = Alert {
        id: "alert-1".into(),
        alert_type: TYPE.into(),
        category: None,
        severity: None,
        created_at: None,
        updated_at: shared::clock::now(),
        deleted_at: None,
        tenant: AlertTenant {
            uuid: Some("tenant-1".into()),
            ..AlertTenant::default()
        },
        details: Value::Null,
    };
    Event::AlertRaised(AlertChanged {
        connection: Default::default(),
        version: VERSION,
        alert_key: alert_key(&alert),
        company_id: 7,
        alert,
    })
}

/// As EventBridge delivers it.
fn envelope(event: &Event) -> Value {
    let detail: Value = serde_json::from_str(&event.detail().unwrap()).unwrap();
    json!({"detail-type": event.detail_type(), "detail": detail})
}

struct Fixture {
    cw: FakeTicketApi,
    runs: FakeRuns,
    sync: TicketSync<FakeTicketApi, FakeTicketStore>,
}

fn fixture() -> Fixture {
    let cw = FakeTicketApi::new();
    Fixture {
        sync: TicketSync::new(cw.clone(), FakeTicketStore::with_settings(settings())),
        cw,
        runs: FakeRuns::default(),
    }
}

#[tokio::test]
async fn an_alert_makes_its_ticket_and_the_run_is_recorded() {
    let f = fixture();
    let reply = handle_eventbridge(&f.sync, &f.runs, &envelope(&raised()))
        .await
        .unwrap();
    assert_eq!(reply["outcome"], "created", "{reply}");
    assert_eq!(f.cw.tickets().len(), 1);
    let runs = f.runs.finished();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].function, "ticket-sync");
    assert_eq!(runs[0].counts.get("created"), Some(&1));
    assert!(runs[0].finished_at.is_some());
}

#[tokio::test]
async fn a_failure_a_retry_can_fix_goes_back_to_lambda_after_its_run_is_recorded() {
    let f = fixture();
    f.cw.posts(&[PostOutcome::Timeout]);
    let e = handle_eventbridge(&f.sync, &f.runs, &envelope(&raised()))
        .await
        .unwrap_err();
    assert!(matches!(e, InvokeError::Handler(_)), "{e}");
    let runs = f.runs.finished();
    assert_eq!(runs.len(), 1, "recorded before Lambda retries");
    assert_eq!(runs[0].failures.len(), 1);
    assert!(runs[0].failures[0].transient);
    assert!(
        f.cw.tickets().is_empty(),
        "nothing created; the retry looks up first"
    );
}

#[tokio::test]
async fn an_unreadable_event_is_recorded_and_acknowledged() {
    let f = fixture();
    let reply = handle_eventbridge(
        &f.sync,
        &f.runs,
        &json!({"detail-type": "alert.raised", "detail": {"version": VERSION, "nonsense": true}}),
    )
    .await
    .unwrap();
    assert_eq!(reply["outcome"], "rejected", "{reply}");
    let runs = f.runs.finished();
    assert_eq!(runs[0].failures.len(), 1);
    assert!(!runs[0].failures[0].transient);
    assert!(f.cw.tickets().is_empty());
}

#[tokio::test]
async fn an_event_of_a_newer_version_is_never_acknowledged_unread() {
    let f = fixture();
    let mut detail = envelope(&raised());
    detail["detail"]["version"] = json!(VERSION + 1);
    let e = handle_eventbridge(&f.sync, &f.runs, &detail)
        .await
        .unwrap_err();
    assert!(matches!(e, InvokeError::NewerEvent(_)), "{e}");
    assert_eq!(f.runs.finished().len(), 1);
    assert!(f.cw.tickets().is_empty());
}

#[tokio::test]
async fn a_run_record_the_table_refuses_fails_the_invocation() {
    let f = fixture();
    f.runs.refuse();
    let e = handle_eventbridge(&f.sync, &f.runs, &envelope(&raised()))
        .await
        .unwrap_err();
    assert!(matches!(e, InvokeError::RunRecord(_)), "{e}");
}

#[tokio::test]
async fn another_family_of_event_is_left_alone() {
    let f = fixture();
    let shard = json!({"detail-type": "usage.shard", "detail": {
        "version": VERSION, "run_id": "r", "shard": 0, "shards": 1, "companies": [], "handoff": 0
    }});
    let reply = handle_eventbridge(&f.sync, &f.runs, &shard).await.unwrap();
    assert_eq!(reply["outcome"], "left", "{reply}");
    assert!(f.cw.tickets().is_empty());
}

/// Acronis down for every dismissal.
#[derive(Debug, Clone)]
struct AcronisDown;

impl shared::services::alerts::AlertDismiss for AcronisDown {
    async fn dismiss(
        &self,
        _: &shared::domain::connection::ConnectionName,
        alert_id: &str,
    ) -> Result<bool, shared::acronis::AcronisError> {
        Err(shared::acronis::AcronisError::Unreachable {
            method: "DELETE".into(),
            path: format!("alerts/{alert_id}"),
            attempts: 3,
            reason: "down".into(),
        })
    }
}

fn ticket_changed(id: i64) -> Event {
    Event::Ticket(shared::bus::TicketChanged {
        version: VERSION,
        ticket_id: id,
        action: shared::bus::Action::Updated,
        origin: shared::bus::Origin::Admin,
        observed_at: shared::clock::now(),
    })
}

#[tokio::test]
async fn a_ticket_event_is_left_when_off_and_retried_after_its_failure_is_recorded() {
    // Off (the default): acknowledged, nothing read.
    let f = fixture();
    let reply = handle_eventbridge(&f.sync, &f.runs, &envelope(&ticket_changed(5)))
        .await
        .unwrap();
    assert_eq!(reply["outcome"], "left", "{reply}");

    // On, a technician's close, Acronis down: the failure is recorded, then Lambda retries.
    let on = AlertSettings {
        clear_alert_on_close: true,
        fixed_statuses: vec!["Completed".into()],
        ..settings()
    };
    let cw = FakeTicketApi::new();
    let runs = FakeRuns::default();
    let sync =
        TicketSync::new(cw.clone(), FakeTicketStore::with_settings(on)).with_acronis(AcronisDown);
    handle_eventbridge(&sync, &runs, &envelope(&raised()))
        .await
        .unwrap();
    let id = cw.tickets()[0].id;
    let mut t = cw.ticket_now(id).unwrap();
    t.closed_flag = Some(true);
    t.status = Some(shared::connectwise::models::Reference {
        id: 30,
        name: Some("Completed".into()),
        identifier: None,
    });
    cw.put(t);
    let e = handle_eventbridge(&sync, &runs, &envelope(&ticket_changed(id)))
        .await
        .unwrap_err();
    assert!(matches!(e, InvokeError::Handler(_)), "{e}");
    let last = runs.finished().pop().unwrap();
    assert_eq!(last.failures.len(), 1, "{last:?}");
    assert!(last.failures[0].transient && last.failures[0].reason.contains("down"));
}
