//! Alerts → tickets against the local stack: moto (table, bus, queue), the Acronis
//! simulator raising and clearing alerts, the ConnectWise simulator holding the tickets.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use integration_tests::{
    LocalStack, StackOptions, bus_as, bus_to_queue, drain_queue, fast_transport, store_as,
};
use serde_json::{Value, json};
use shared::acronis::AcronisClient;
use shared::acronis::connections::Connections;
use shared::acronis::models::Alert;
use shared::bus::{AlertChanged, Event, EventBus, VERSION};
use shared::connectwise::models::{PatchOp, Reference};
use shared::domain::alerts::{self as rules, AlertSettings, TypeMapping};
use shared::functions::Function;
use shared::runs::{MetricLog, Recorder};
use shared::services::alerts::{
    self as svc, PollOptions, SaveError, TicketError, TicketOutcome, TicketSync,
};
use shared::store::{RunRecord, Store};
use simulators::acronis::{AcronisSim, RaiseAlert};
use simulators::connectwise::CwSim;
use simulators::{FaultKind, FaultRule};

const COMPANY: i64 = 7;
const OTHER_COMPANY: i64 = 8;
const BOARD: i64 = 1;
const NEW: i64 = 1;
const CLOSED: i64 = 2;
const IN_PROGRESS: i64 = 3;
const BACKUP_TYPE: i64 = 1;
const FAILED_SUBTYPE: i64 = 1;
const P1: i64 = 2;
const RETENTION: Duration = Duration::from_secs(3600);

struct Stack {
    cw_sim: CwSim,
    acronis_sim: AcronisSim,
    acronis: AcronisClient,
    /// The ticket sync, with the ticket-sync role (dismissing through the stack's Acronis).
    sync: TicketSync<shared::connectwise::ConnectWiseClient, Store, Connections>,
    config: aws_config::SdkConfig,
    /// The bus routed to the ticket sync's queue.
    bus: EventBus,
    sync_recorder: Recorder,
    /// The operator's view of the table (seeding and checks).
    store: Store,
    /// The table and bus with the alert poller's role.
    poller_store: Store,
    poller_bus: EventBus,
    poller_recorder: Recorder,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    tenant: String,
    unmapped_tenant: String,
}

fn settings(auto_close: bool) -> AlertSettings {
    let mut s = AlertSettings {
        board_id: Some(BOARD),
        auto_close,
        closing_status_id: Some(CLOSED),
        ..AlertSettings::default()
    };
    for t in ["BackupFailed", "NoBackupForXDays"] {
        s.types.insert(
            t.into(),
            TypeMapping {
                status_id: NEW,
                type_id: Some(BACKUP_TYPE),
                subtype_id: Some(FAILED_SUBTYPE),
                priority_id: Some(P1),
            },
        );
    }
    s
}

async fn stack_with(cw_timeout: Duration, alert_settings: AlertSettings) -> Stack {
    let LocalStack {
        config,
        cw_sim,
        acronis_sim,
        cw,
        acronis,
        store,
    } = LocalStack::start_with(StackOptions {
        cw_transport: fast_transport(3, cw_timeout),
        ..StackOptions::default()
    })
    .await
    .unwrap();
    cw_sim
        .seed(json!({
            "companies": [
                {"id": COMPANY, "identifier": "Northwind", "name": "Northwind Traders"},
                {"id": OTHER_COMPANY, "identifier": "Contoso", "name": "Contoso"}
            ],
            "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}, {"name": "Priority 1 - Critical"}],
            "boards": [{"id": BOARD, "name": "Acronis alerts",
                "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Closed", "closedStatus": true}, {"name": "In Progress"}],
                "types": [{"name": "Backup"}],
                "subtypes": [{"name": "Failed", "typeAssociationIds": [BACKUP_TYPE]}]}]
        }))
        .unwrap();
    let tenant = acronis_sim
        .seed_tenant(json!({"name": "Northwind"}))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unmapped_tenant = acronis_sim
        .seed_tenant(json!({"name": "Stranger"}))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    store
        .map_company(&integration_tests::seed::mapped(COMPANY, &tenant))
        .await
        .unwrap();
    svc::save_settings(&cw, &store, &alert_settings)
        .await
        .unwrap();
    let (bus, sqs, queue) = bus_to_queue(&config, Function::TicketSync).await.unwrap();
    let sync_store = store_as(&store, Function::TicketSync).await.unwrap();
    let poller_store = store_as(&store, Function::AlertPoller).await.unwrap();
    let recorder = |store: &Store| Recorder::new(store.clone(), RETENTION).with_log(MetricLog::Off);
    Stack {
        sync: TicketSync::new(cw, sync_store.clone())
            .with_acronis(Connections::from(acronis.clone())),
        config: config.clone(),
        bus: bus.clone(),
        sync_recorder: recorder(&sync_store),
        poller_recorder: recorder(&poller_store),
        poller_bus: bus_as(&bus, Function::AlertPoller).await.unwrap(),
        poller_store,
        store,
        cw_sim,
        acronis_sim,
        acronis,
        sqs,
        queue,
        tenant,
        unmapped_tenant,
    }
}

async fn stack(auto_close: bool) -> Stack {
    stack_with(Duration::from_secs(5), settings(auto_close)).await
}

impl Stack {
    fn raise(&self, id: &str, kind: &str, resource: &str) -> Alert {
        self.raise_for(&self.tenant.clone(), id, kind, resource)
    }

    fn raise_for(&self, tenant: &str, id: &str, kind: &str, resource: &str) -> Alert {
        let v = self
            .acronis_sim
            .raise_alert(RaiseAlert {
                id: Some(id.into()),
                tenant: tenant.into(),
                kind: kind.into(),
                category: None,
                severity: None,
                details: json!({"resourceId": resource, "resourceName": format!("srv-{resource}"),
                                "resourceType": "machine", "planName": "Daily",
                                "errorMessage": {"message": "disk full"}}),
            })
            .unwrap();
        serde_json::from_value(v).unwrap()
    }

    fn clear(&self, id: &str) -> Alert {
        self.acronis_sim.clear_alert(id).unwrap();
        self.alert_api(id)
    }

    /// The alert as the API shows it (dismissed ones included).
    fn alert_api(&self, id: &str) -> Alert {
        let url = format!(
            "{}/api/alert_manager/v1/alerts/{id}?show_deleted=true",
            self.acronis_sim.url()
        );
        let token = self.token();
        let v: Value = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                reqwest::Client::new()
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap()
            })
        });
        serde_json::from_value(v).unwrap()
    }

    fn token(&self) -> String {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let v: Value = reqwest::Client::new()
                    .post(format!("{}/api/2/idp/token", self.acronis_sim.url()))
                    .basic_auth("sim-client", Some("sim-secret"))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v["access_token"].as_str().unwrap().to_owned()
            })
        })
    }

    fn event(&self, alert: &Alert) -> Event {
        let changed = AlertChanged {
            connection: Default::default(),
            version: VERSION,
            alert_key: rules::alert_key(alert),
            company_id: COMPANY,
            alert: alert.clone(),
        };
        if alert.deleted_at.is_some() {
            Event::AlertCleared(changed)
        } else {
            Event::AlertRaised(changed)
        }
    }

    async fn poll(&self) -> svc::PollReport {
        self.poll_with(
            &PollOptions::default(),
            &mut RunRecord::start("alert-poller"),
        )
        .await
        .unwrap()
    }

    async fn poll_with(
        &self,
        opts: &PollOptions,
        run: &mut RunRecord,
    ) -> Result<svc::PollReport, svc::PollError> {
        svc::poll(
            &self.acronis,
            &self.poller_store,
            &self.poller_bus,
            run,
            opts,
        )
        .await
    }

    /// Feeds every queued event to the ticket sync until the queue stays empty.
    async fn pump(&self) -> usize {
        integration_tests::pump_ticket_sync(&self.sqs, &self.queue, &self.sync, &self.sync_recorder)
            .await
    }

    async fn tickets(&self) -> Vec<Value> {
        integration_tests::sim_tickets(&self.cw_sim).await
    }

    async fn notes(&self, ticket_id: i64) -> Vec<Value> {
        let v: Value = reqwest::get(format!(
            "{}/_sim/tickets/{ticket_id}/notes",
            self.cw_sim.url()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        // The first note is the ticket's description (initialDescription).
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| {
                !n["text"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("Acronis alert:")
            })
            .collect()
    }

    async fn ticket(&self, id: i64) -> Value {
        self.tickets()
            .await
            .into_iter()
            .find(|t| t["id"] == id)
            .unwrap()
    }

    async fn set_status(&self, ticket_id: i64, status: i64) {
        self.sync
            .cw
            .update_ticket(
                ticket_id,
                &[PatchOp::replace("status", Reference::id(status))],
            )
            .await
            .unwrap();
    }

    fn ticket_posts(&self) -> u64 {
        self.cw_sim
            .control()
            .counts()
            .get("POST /service/tickets")
            .copied()
            .unwrap_or(0)
    }
}

fn ticket_id(o: &TicketOutcome) -> i64 {
    match o {
        TicketOutcome::Created { ticket_id, .. }
        | TicketOutcome::Noted { ticket_id }
        | TicketOutcome::Reopened { ticket_id }
        | TicketOutcome::Renewed { ticket_id, .. }
        | TicketOutcome::Closed { ticket_id }
        | TicketOutcome::NotedCleared { ticket_id } => *ticket_id,
        other => panic!("no ticket in {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alert_becomes_ticket_repeat_becomes_note_clear_closes_it() {
    let s = stack(true).await;
    let alert = s.raise("A-1", "BackupFailed", "res-1");
    let key = rules::alert_key(&alert);
    assert_eq!(s.poll().await.published, 1);
    assert_eq!(s.pump().await, 1);

    let tickets = s.tickets().await;
    assert_eq!(tickets.len(), 1);
    let t = &tickets[0];
    assert_eq!(
        t["summary"],
        "[Machine with an agent:srv-res-1] Backup failed"
    );
    assert_eq!(t["externalXRef"], key.as_str());
    assert_eq!(t["board"]["id"], BOARD);
    assert_eq!(t["company"]["id"], COMPANY);
    assert_eq!(t["status"]["id"], NEW);
    assert_eq!(t["type"]["id"], BACKUP_TYPE);
    assert_eq!(t["subType"]["id"], FAILED_SUBTYPE);
    assert_eq!(t["priority"]["id"], P1);
    let id = t["id"].as_i64().unwrap();
    let record = s.store.alert_ticket(&key).await.unwrap().unwrap();
    assert_eq!(record.ticket_id, Some(id));

    // The same alert again (re-raised: new updatedAt) → a note, no new ticket.
    s.raise("A-1", "BackupFailed", "res-1");
    assert_eq!(s.poll().await.published, 1);
    s.pump().await;
    assert_eq!(s.tickets().await.len(), 1);
    let notes = s.notes(id).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0]["text"].as_str().unwrap().contains("again"));

    // Another alert id about the same resource and type → the same ticket.
    s.raise("A-2", "BackupFailed", "res-1");
    s.poll().await;
    s.pump().await;
    assert_eq!(s.tickets().await.len(), 1);
    assert_eq!(s.notes(id).await.len(), 2);

    // Cleared, auto-close on, status still ours → closed.
    s.clear("A-2");
    assert_eq!(s.poll().await.published, 1);
    s.pump().await;
    let t = s.ticket(id).await;
    assert_eq!(t["status"]["id"], CLOSED);
    assert_eq!(t["closedFlag"], true);

    // A run record says what was done.
    let runs = s.store.latest_runs("ticket-sync", 10).await.unwrap();
    let total = |name: &str| -> u64 { runs.iter().filter_map(|r| r.counts.get(name)).sum() };
    assert_eq!(
        (total("created"), total("noted"), total("closed")),
        (1, 2, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_close_off_leaves_the_ticket_and_a_moved_ticket_is_not_closed() {
    let s = stack(false).await;
    let a = s.raise("B-1", "BackupFailed", "res-b");
    let created = s
        .sync
        .handle(&s.event(&a), &mut RunRecord::start("t"))
        .await
        .unwrap();
    let id = ticket_id(&created);
    let cleared = s.clear("B-1");
    let out = s
        .sync
        .handle(&s.event(&cleared), &mut RunRecord::start("t"))
        .await
        .unwrap();
    assert!(matches!(out, TicketOutcome::Left { .. }), "{out:?}");
    assert_eq!(s.ticket(id).await["status"]["id"], NEW);
    assert!(s.notes(id).await.is_empty());

    // Auto-close on, but a technician moved the ticket to In Progress: left, with a note.
    svc::save_settings(&s.sync.cw, &s.store, &settings(true))
        .await
        .unwrap();
    s.raise("B-1", "BackupFailed", "res-b");
    let again = s.alert_api("B-1");
    s.sync
        .handle(&s.event(&again), &mut RunRecord::start("t"))
        .await
        .unwrap();
    s.set_status(id, IN_PROGRESS).await;
    let cleared = s.clear("B-1");
    let out = s
        .sync
        .handle(&s.event(&cleared), &mut RunRecord::start("t"))
        .await
        .unwrap();
    assert_eq!(out, TicketOutcome::NotedCleared { ticket_id: id });
    let t = s.ticket(id).await;
    assert_eq!(t["status"]["id"], IN_PROGRESS);
    assert_eq!(t["closedFlag"], false);
    let notes = s.notes(id).await;
    assert!(
        notes
            .iter()
            .any(|n| n["text"].as_str().unwrap().contains("In Progress"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closed_ticket_is_reopened_or_renewed_at_the_n_day_edge() {
    let mut st = settings(false);
    st.renew_after_closed = true;
    st.renew_after_days = 2;
    let s = stack_with(Duration::from_secs(5), st).await;
    let mut run = RunRecord::start("t");
    let a = s.raise("C-1", "BackupFailed", "res-c");
    let first = ticket_id(&s.sync.handle(&s.event(&a), &mut run).await.unwrap());

    let closed_date =
        |t: &Value| -> DateTime<Utc> { t["closedDate"].as_str().unwrap().parse().unwrap() };

    // Closed by a technician; the alert comes back 1 s short of N days → reopened.
    s.set_status(first, CLOSED).await;
    let closed_at = closed_date(&s.ticket(first).await);
    s.raise("C-1", "BackupFailed", "res-c");
    let again = s.alert_api("C-1");
    let out = s
        .sync
        .handle_at(
            &s.event(&again),
            &mut run,
            closed_at + chrono::Duration::days(2) - chrono::Duration::seconds(1),
        )
        .await
        .unwrap();
    assert_eq!(out, TicketOutcome::Reopened { ticket_id: first });
    let t = s.ticket(first).await;
    assert_eq!(
        (t["status"]["id"].as_i64(), t["closedFlag"].as_bool()),
        (Some(NEW), Some(false))
    );

    // Closed again; back exactly N days later → a new ticket.
    s.set_status(first, CLOSED).await;
    let closed_at = closed_date(&s.ticket(first).await);
    s.raise("C-1", "BackupFailed", "res-c");
    let again = s.alert_api("C-1");
    let out = s
        .sync
        .handle_at(
            &s.event(&again),
            &mut run,
            closed_at + chrono::Duration::days(2),
        )
        .await
        .unwrap();
    let TicketOutcome::Renewed {
        ticket_id: second,
        previous,
    } = out
    else {
        panic!("{out:?}");
    };
    assert_eq!(previous, Some(first));
    assert_ne!(second, first);
    assert_eq!(s.ticket(first).await["closedFlag"], true);
    assert_eq!(s.ticket(second).await["closedFlag"], false);
    let record = s
        .store
        .alert_ticket(&rules::alert_key(&a))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.ticket_id, Some(second));

    // Renew off: even 30 days closed → reopened.
    svc::save_settings(&s.sync.cw, &s.store, &settings(false))
        .await
        .unwrap();
    s.set_status(second, CLOSED).await;
    s.raise("C-1", "BackupFailed", "res-c");
    let again = s.alert_api("C-1");
    let out = s
        .sync
        .handle_at(
            &s.event(&again),
            &mut run,
            Utc::now() + chrono::Duration::days(30),
        )
        .await
        .unwrap();
    assert_eq!(out, TicketOutcome::Reopened { ticket_id: second });
    assert_eq!(s.tickets().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_deliveries_make_one_ticket() {
    let s = stack(false).await;
    // The same event ten times at once.
    let a = s.raise("D-0", "BackupFailed", "res-d");
    let event = s.event(&a);
    let outs = futures_join(&s, vec![event; 10]).await;
    assert_eq!(s.tickets().await.len(), 1);
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o, TicketOutcome::Created { .. }))
            .count(),
        1
    );

    // Ten occurrences (alert ids) of one problem at once: the claim makes one ticket, the
    // others wait and become notes.
    let s = stack(false).await;
    let events: Vec<Event> = (0..10)
        .map(|i| s.event(&s.raise(&format!("E-{i}"), "BackupFailed", "res-e")))
        .collect();
    let outs = futures_join(&s, events).await;
    let tickets = s.tickets().await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(s.ticket_posts(), 1);
    let created = outs
        .iter()
        .filter(|o| matches!(o, TicketOutcome::Created { .. }))
        .count();
    let noted = outs
        .iter()
        .filter(|o| matches!(o, TicketOutcome::Noted { .. }))
        .count();
    assert_eq!((created, noted), (1, 9));
    assert_eq!(s.notes(tickets[0]["id"].as_i64().unwrap()).await.len(), 9);
}

/// Delivers the events concurrently; a delivery refused as busy is delivered again (as the
/// Lambda service would), until each has an outcome.
async fn futures_join(s: &Stack, events: Vec<Event>) -> Vec<TicketOutcome> {
    let mut pending: Vec<Event> = events;
    let mut outcomes = Vec::new();
    for _round in 0..50 {
        let results = futures::future::join_all(pending.iter().map(|e| async {
            let mut run = RunRecord::start("t");
            s.sync.handle(e, &mut run).await
        }))
        .await;
        let mut retry = Vec::new();
        for (e, r) in pending.into_iter().zip(results) {
            match r {
                Ok(o) => outcomes.push(o),
                Err(TicketError::Busy(_)) => retry.push(e),
                Err(other) => panic!("{other}"),
            }
        }
        if retry.is_empty() {
            return outcomes;
        }
        pending = retry;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries still busy after 50 rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_that_failed_is_forgotten_so_its_retry_makes_the_ticket() {
    let s = stack(false).await;
    // ConnectWise refuses the ticket POST once (a POST is not retried blind).
    s.cw_sim.control().add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: Some("/service/tickets".into()),
        times: Some(1),
        fault: FaultKind::Status {
            status: 503,
            retry_after: None,
            body: None,
        },
    });
    let a = s.raise("R-1", "BackupFailed", "res-r");
    let event = s.event(&a);
    // The first delivery fails, to be retried (the ticket sync's role deletes its dedupe
    // record); the retry of the same event creates the ticket, once.
    let mut run = RunRecord::start("t");
    let err = s.sync.handle(&event, &mut run).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(s.tickets().await.is_empty());
    let out = s.sync.handle(&event, &mut run).await.unwrap();
    assert!(matches!(out, TicketOutcome::Created { .. }), "{out:?}");
    assert_eq!(s.tickets().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ticket_post_that_times_out_after_creating_still_makes_one_ticket() {
    let s = stack_with(Duration::from_millis(800), settings(false)).await;
    s.cw_sim.control().add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: Some("/service/tickets".into()),
        times: Some(1),
        fault: FaultKind::SlowAfterHandling { ms: 2000 },
    });
    let a = s.raise("F-1", "BackupFailed", "res-f");
    let mut run = RunRecord::start("t");
    let out = s.sync.handle(&s.event(&a), &mut run).await.unwrap();
    let TicketOutcome::Created { ticket_id, adopted } = out else {
        panic!("{out:?}");
    };
    assert!(
        adopted,
        "the timed-out POST's ticket is found by externalXRef"
    );
    assert_eq!(s.tickets().await.len(), 1);
    assert_eq!(s.ticket_posts(), 1, "the POST is not repeated");
    assert_eq!(run.counts.get("post_timeouts"), Some(&1));
    // The next occurrence notes that ticket.
    s.raise("F-1", "BackupFailed", "res-f");
    let again = s.alert_api("F-1");
    let out = s.sync.handle(&s.event(&again), &mut run).await.unwrap();
    assert_eq!(out, TicketOutcome::Noted { ticket_id });
    assert_eq!(s.tickets().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unmapped_tenant_or_alert_type_writes_nothing_and_is_counted() {
    let s = stack(true).await;
    let t = s.unmapped_tenant.clone();
    s.raise_for(&t, "G-1", "BackupFailed", "res-g");
    let other = s.raise("G-2", "EDRIncidentDetected", "res-g");
    let out = alert_poller::handle(
        &s.acronis.clone().into(),
        &s.poller_store,
        &s.poller_bus,
        &PollOptions::default(),
        &s.poller_recorder,
    )
    .await
    .unwrap();
    assert_eq!(out["published"], 0);
    let run = &s.store.latest_runs("alert-poller", 1).await.unwrap()[0];
    assert_eq!(run.counts.get("skipped_unmapped_tenant"), Some(&1));
    assert_eq!(run.counts.get("skipped_unmapped_type"), Some(&1));
    assert_eq!(s.pump().await, 0);
    // An event of an unmapped type reaching the ticket sync anyway writes nothing either.
    let mut run = RunRecord::start("t");
    let out = s.sync.handle(&s.event(&other), &mut run).await.unwrap();
    assert!(matches!(out, TicketOutcome::Left { .. }));
    assert_eq!(run.counts.get("skipped_unmapped_type"), Some(&1));
    assert!(
        s.store
            .alert_ticket(&rules::alert_key(&other))
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.tickets().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mapping_naming_what_is_not_on_the_board_is_refused() {
    let s = stack(true).await;
    let cw = &s.sync.cw;
    let refused = |e: SaveError| match e {
        SaveError::Invalid(m) => m,
        other => panic!("{other}"),
    };
    let mut bad = settings(true);
    bad.types.get_mut("BackupFailed").unwrap().status_id = 99;
    let m = refused(svc::save_settings(cw, &s.store, &bad).await.unwrap_err());
    assert!(
        m.contains("BackupFailed: status 99 is not a status of board"),
        "{m}"
    );
    let mut bad = settings(true);
    bad.types.get_mut("NoBackupForXDays").unwrap().type_id = Some(98);
    let m = refused(svc::save_settings(cw, &s.store, &bad).await.unwrap_err());
    assert!(m.contains("NoBackupForXDays: type 98 is not a type"), "{m}");
    let mut bad = settings(true);
    bad.types.get_mut("BackupFailed").unwrap().subtype_id = Some(97);
    let m = refused(svc::save_settings(cw, &s.store, &bad).await.unwrap_err());
    assert!(m.contains("subtype 97"), "{m}");
    let mut bad = settings(true);
    bad.types.get_mut("BackupFailed").unwrap().priority_id = Some(96);
    let m = refused(svc::save_settings(cw, &s.store, &bad).await.unwrap_err());
    assert!(m.contains("priority 96"), "{m}");
    let mut bad = settings(true);
    bad.closing_status_id = Some(IN_PROGRESS);
    let m = refused(svc::save_settings(cw, &s.store, &bad).await.unwrap_err());
    assert!(
        m.contains("\"In Progress\" (3) is not a closed status"),
        "{m}"
    );
    let mut bad = settings(true);
    bad.board_id = Some(55);
    let m = refused(svc::save_settings(cw, &s.store, &bad).await.unwrap_err());
    assert!(m.contains("board 55 does not exist"), "{m}");
    // Nothing refused was stored: the saved mapping is still the good one.
    assert_eq!(svc::load_settings(&s.store).await.unwrap(), settings(true));
}

/// Every `(alert id, updatedAt, detail-type)` the bus carried to the ticket-sync queue.
async fn carried(s: &Stack, at_least: usize) -> Vec<(String, String, String)> {
    let msgs = drain_queue(&s.sqs, &s.queue, at_least, Duration::from_secs(20))
        .await
        .unwrap();
    let mut more = drain_queue(&s.sqs, &s.queue, usize::MAX, Duration::from_secs(2))
        .await
        .unwrap();
    let mut all = msgs;
    all.append(&mut more);
    all.iter()
        .map(|m| {
            (
                m["detail"]["alert"]["id"].as_str().unwrap().to_owned(),
                m["detail"]["alert"]["updatedAt"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                m["detail-type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn no_doubles(events: &[(String, String, String)]) {
    let mut seen = BTreeSet::new();
    for e in events {
        assert!(seen.insert(e.clone()), "published twice: {e:?}");
    }
}

/// A ticket-sync invocation out of time hands its alert back (a retryable error, the run
/// saying why) without keeping the delivery's dedupe mark, so Lambda's retry makes the
/// ticket, once.
#[tokio::test]
async fn a_ticket_sync_stopped_at_its_deadline_is_finished_by_its_retry_once() {
    let s = stack(true).await;
    s.raise("T-1", "BackupFailed", "res-t");
    let r = s
        .poll_with(&PollOptions::default(), &mut RunRecord::start("p"))
        .await
        .unwrap();
    assert_eq!(r.published, 1);
    let events = drain_queue(&s.sqs, &s.queue, 1, Duration::from_secs(20))
        .await
        .unwrap();
    let envelope = &events[0];
    let out_of_time = s
        .sync
        .with_deadline(shared::deadline::Deadline::after(Duration::ZERO));
    let err = ticket_sync::handle_eventbridge(&out_of_time, &s.sync_recorder, envelope)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(s.tickets().await.is_empty());
    let reply = ticket_sync::handle_eventbridge(&s.sync, &s.sync_recorder, envelope)
        .await
        .unwrap();
    assert_eq!(reply["outcome"], "created", "{reply}");
    let again = ticket_sync::handle_eventbridge(&s.sync, &s.sync_recorder, envelope)
        .await
        .unwrap();
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert_eq!(s.tickets().await.len(), 1);
    let runs = s
        .store
        .latest_runs(Function::TicketSync.name(), 5)
        .await
        .unwrap();
    assert!(runs.iter().any(|r| {
        r.failures
            .iter()
            .any(|f| f.transient && f.reason.contains("deadline"))
    }));
}

/// A poll that reaches its deadline stops starting pages and keeps what it finished; the
/// following polls go on from there until every alert is published, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polls_stopped_at_their_deadline_finish_over_the_next_ones_and_publish_once() {
    let s = stack(true).await;
    for i in 0..60 {
        s.raise(&format!("D-{i:03}"), "BackupFailed", &format!("r{i}"));
    }
    s.acronis_sim.control().set_latency(60);
    let mut total = 0;
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls <= 30, "the polls made no progress");
        let opts = PollOptions {
            page_size: 5,
            // Time for a page or two: far less than the work.
            deadline: shared::deadline::Deadline::after(Duration::from_millis(150)),
            ..PollOptions::default()
        };
        let mut run = RunRecord::start("p");
        let r = s.poll_with(&opts, &mut run).await.unwrap();
        total += r.published;
        if !run.counts.contains_key("stopped_at_deadline") {
            break;
        }
    }
    assert!(polls > 2, "the deadline stopped the first polls ({polls})");
    assert_eq!(total, 60, "every alert published once over {polls} polls");
    s.acronis_sim.control().set_latency(0);
    assert_eq!(
        s.poll_with(&PollOptions::default(), &mut RunRecord::start("p"))
            .await
            .unwrap()
            .published,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cursor_pages_overlaps_and_failures_lose_nothing_and_double_nothing() {
    let s = stack(true).await;
    for i in 0..120 {
        s.raise(&format!("H-{i:03}"), "BackupFailed", &format!("r{i}"));
    }
    // Many pages; a large overlap makes every poll re-read what it already sent.
    let opts = PollOptions {
        page_size: 7,
        overlap: chrono::Duration::hours(1),
        ..PollOptions::default()
    };
    // Stopped after 4 pages (as a timeout would), then a poll that fails on its first page.
    let partial = PollOptions {
        max_pages: 4,
        ..opts.clone()
    };
    let r = s
        .poll_with(&partial, &mut RunRecord::start("p"))
        .await
        .unwrap();
    assert_eq!(r.published, 28);
    s.acronis_sim.control().add_fault(FaultRule {
        method: Some("GET".into()),
        path_contains: Some("/alerts".into()),
        times: Some(1),
        fault: FaultKind::Status {
            status: 400,
            retry_after: None,
            body: None,
        },
    });
    assert!(
        s.poll_with(&opts, &mut RunRecord::start("p"))
            .await
            .is_err()
    );

    // The next poll goes on: the overlap re-reads the first pages, none is sent twice.
    let r = s
        .poll_with(&opts, &mut RunRecord::start("p"))
        .await
        .unwrap();
    assert_eq!((r.published, r.duplicates), (92, 28), "{r:?}");

    // A poll while alerts are re-raised and cleared under it.
    let mutate = async {
        for i in 0..40 {
            if i % 2 == 0 {
                s.raise(&format!("H-{i:03}"), "BackupFailed", &format!("r{i}"));
            } else {
                s.acronis_sim.clear_alert(&format!("H-{i:03}")).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    };
    let mut run = RunRecord::start("p");
    let (r, ()) = tokio::join!(s.poll_with(&opts, &mut run), mutate);
    let r = r.unwrap();
    assert!(
        r.duplicates >= 28,
        "the overlap re-read the first pages: {r:?}"
    );
    // One more poll catches whatever changed after its pages went by.
    s.poll_with(&opts, &mut RunRecord::start("p"))
        .await
        .unwrap();
    // And a poll with nothing new publishes nothing.
    assert_eq!(
        s.poll_with(&opts, &mut RunRecord::start("p"))
            .await
            .unwrap()
            .published,
        0
    );

    let events = carried(&s, 160).await;
    no_doubles(&events);
    // Every alert's latest state went out.
    let state = s.acronis_sim.state();
    let mut latest: BTreeMap<String, bool> = BTreeMap::new();
    for a in state["alerts"].as_array().unwrap() {
        latest.insert(
            a["id"].as_str().unwrap().to_owned(),
            a["deleted_ns"].is_null(),
        );
    }
    assert_eq!(latest.len(), 120);
    for i in 0..120 {
        let id = format!("H-{i:03}");
        let current = s.alert_api(&id);
        let want = (
            id.clone(),
            current
                .updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            if current.deleted_at.is_some() {
                "alert.cleared"
            } else {
                "alert.raised"
            }
            .to_owned(),
        );
        let found = events.iter().any(|(eid, upd, dt)| {
            eid == &want.0
                && dt == &want.2
                && upd.parse::<DateTime<Utc>>().unwrap() == current.updated_at
        });
        assert!(found, "latest state of {id} never published: {want:?}");
    }
    assert!(events.len() >= 120 + 40);
}

/// No vendor source shows how a cleared alert shows (simulator switch `cleared_alert_field`):
/// marked with `deletedAt`, with `deleted_at`, or gone from the API. Under each, the clear
/// closes the ticket, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cleared_alert_closes_its_ticket_however_it_shows() {
    let sweep_now = PollOptions {
        sweep_every: chrono::Duration::zero(),
        ..PollOptions::default()
    };
    for shows in [
        simulators::acronis::ClearedField::DeletedAt,
        simulators::acronis::ClearedField::DeletedAtSnake,
        simulators::acronis::ClearedField::Gone,
    ] {
        let s = stack(true).await;
        s.acronis_sim.set_switches(simulators::acronis::Switches {
            cleared_alert_field: shows,
            ..Default::default()
        });
        s.raise("C-1", "BackupFailed", "res-c");
        let r = s
            .poll_with(&sweep_now, &mut RunRecord::start("p"))
            .await
            .unwrap();
        assert_eq!(r.published, 1, "{shows:?}");
        assert_eq!(s.pump().await, 1, "{shows:?}");
        let id = s.tickets().await[0]["id"].as_i64().unwrap();
        s.acronis_sim.clear_alert("C-1").unwrap();
        let r = s
            .poll_with(&sweep_now, &mut RunRecord::start("p"))
            .await
            .unwrap();
        assert_eq!(r.published, 1, "{shows:?}: {r:?}");
        s.pump().await;
        assert_eq!(s.ticket(id).await["status"]["id"], CLOSED, "{shows:?}");
        // Nothing more to report on later polls.
        let r = s
            .poll_with(&sweep_now, &mut RunRecord::start("p"))
            .await
            .unwrap();
        assert_eq!(r.published, 0, "{shows:?}: {r:?}");
    }
}

/// What the ticket writes in the ConnectWise simulator's request log since `from` did, as
/// `(action, ticket)`: a new ticket is `create`; a status PATCH with a note is `reopen`,
/// without one `close`; a note alone is `note`.
fn executed_ticket_actions(
    log: &[simulators::RequestRecord],
    from: u64,
) -> Vec<(String, Option<i64>)> {
    let mut created = 0;
    let mut patched: BTreeSet<i64> = BTreeSet::new();
    let mut noted: BTreeSet<i64> = BTreeSet::new();
    for r in log.iter().filter(|r| r.seq >= from && r.status < 300) {
        let tail = r.path.split_once("/service/").map_or("", |(_, t)| t);
        let parts: Vec<&str> = tail.split('/').collect();
        match (r.method.as_str(), parts.as_slice()) {
            ("POST", ["tickets"]) => created += 1,
            ("PATCH", ["tickets", id]) => {
                patched.insert(id.parse().unwrap());
            }
            ("POST", ["tickets", id, "notes"]) => {
                noted.insert(id.parse().unwrap());
            }
            _ => {}
        }
    }
    let mut out: Vec<(String, Option<i64>)> =
        (0..created).map(|_| ("create".into(), None)).collect();
    for id in &patched {
        let kind = if noted.contains(id) {
            "reopen"
        } else {
            "close"
        };
        out.push((kind.into(), Some(*id)));
    }
    for id in noted.difference(&patched) {
        out.push(("note".into(), Some(*id)));
    }
    out.sort();
    out
}

/// `acw sync alerts --dry-run`'s plan (the service it prints) names the ticket actions the
/// next poll and ticket sync then execute, taken from the simulator's request log; the
/// preview writes nothing, publishes nothing and leaves the cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_alert_preview_is_what_the_poll_and_ticket_sync_then_do() {
    let s = stack(true).await;
    s.raise("P-1", "BackupFailed", "res-1");
    s.raise("P-2", "BackupFailed", "res-2");
    s.poll().await;
    s.pump().await;
    let by_resource = |tickets: &[Value], res: &str| -> i64 {
        tickets
            .iter()
            .find(|t| t["summary"].as_str().unwrap().contains(res))
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let tickets = s.tickets().await;
    let (t1, t2) = (
        by_resource(&tickets, "res-1"),
        by_resource(&tickets, "res-2"),
    );

    s.raise("P-3", "BackupFailed", "res-1"); // a repeat: a note on t1
    s.clear("P-2"); // cleared: t2 closed
    s.raise("P-4", "BackupFailed", "res-3"); // new: a ticket
    s.raise_for(&s.unmapped_tenant.clone(), "P-5", "BackupFailed", "res-9"); // skipped
    let cursor_before: Option<svc::AlertCursor> = s.store.cursor(svc::CURSOR).await.unwrap();
    let from = s
        .cw_sim
        .control()
        .requests()
        .last()
        .map_or(0, |r| r.seq + 1);
    let mut run = RunRecord::start("alert-poller");
    let plan = svc::preview(&s.acronis, &s.sync, &PollOptions::default(), &mut run)
        .await
        .unwrap();
    let mut planned: Vec<(String, Option<i64>)> = plan
        .tickets
        .iter()
        .map(|t| (t.action.to_owned(), t.ticket_id))
        .collect();
    planned.sort();
    assert_eq!(
        planned,
        vec![
            ("close".to_owned(), Some(t2)),
            ("create".to_owned(), None),
            ("note".to_owned(), Some(t1)),
        ],
        "{plan:#?}"
    );
    assert_eq!(plan.unmapped_tenant, 1);
    assert!(
        executed_ticket_actions(&s.cw_sim.control().requests(), from).is_empty(),
        "the preview wrote to ConnectWise"
    );
    assert_eq!(
        s.store
            .cursor::<svc::AlertCursor>(svc::CURSOR)
            .await
            .unwrap(),
        cursor_before,
        "the preview moved the cursor"
    );
    assert_eq!(s.pump().await, 0, "the preview published events");

    s.poll().await;
    s.pump().await;
    assert_eq!(
        executed_ticket_actions(&s.cw_sim.control().requests(), from),
        planned,
        "the run did what the preview said"
    );
}

impl Stack {
    /// The webhook served over HTTP with its own role, publishing to the ticket sync's bus,
    /// and the callbacks `acw setup` registers for `settings` pointing at it.
    async fn serve_webhook(&self, settings: &AlertSettings) -> String {
        use shared::settings::HttpSettings;
        use webhook::{HttpKeySource, KEY_FETCH_TIMEOUT, Webhook, WebhookConfig};
        let mut config = WebhookConfig::new(
            shared::connectwise::client::site_origin(&self.cw_sim.url()).unwrap(),
        );
        config.client_id = Some(self.cw_sim.config().client_id.clone());
        config.secret_id = Some(
            integration_tests::fresh_secret(&self.config, &self.cw_sim)
                .await
                .unwrap(),
        );
        let own = integration_tests::aws_as(Function::Webhook).await.unwrap();
        let keys = HttpKeySource::from_config(
            shared::http::build_client(&HttpSettings {
                timeout: KEY_FETCH_TIMEOUT,
                ..HttpSettings::default()
            })
            .unwrap(),
            &config,
            || aws_sdk_secretsmanager::Client::new(&own),
        );
        let hook = std::sync::Arc::new(Webhook::new(
            config,
            store_as(&self.store, Function::Webhook).await.unwrap(),
            bus_as(&self.bus, Function::Webhook).await.unwrap(),
            keys,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(webhook::local::serve(listener, hook));
        let wanted = shared::services::callbacks::wanted(settings);
        shared::services::callbacks::register_wanted(&self.sync.cw, &url, &wanted, false)
            .await
            .unwrap();
        url
    }

    /// An alert raised and ticketed, then its ticket closed by a technician (through the
    /// API, in the board's Closed status); the alert's key.
    async fn ticket_closed_by_a_technician(&self, alert: &str) -> String {
        self.raise(alert, "BackupFailed", "r1");
        self.poll().await;
        self.pump().await;
        let key = rules::alert_key(&self.alert_api(alert));
        let record = self.store.alert_ticket(&key).await.unwrap().unwrap();
        self.sync
            .cw
            .update_ticket(
                record.ticket_id.unwrap(),
                &[PatchOp::replace("status", Reference::id(CLOSED))],
            )
            .await
            .unwrap();
        key
    }

    /// Pumps the ticket sync until `done` holds (callbacks arrive on their own time).
    async fn pump_until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        for _ in 0..20 {
            self.pump().await;
            if done(self) {
                return;
            }
        }
        panic!("never: {what}");
    }

    /// How many dismissals Acronis was asked for.
    fn dismissals(&self) -> u64 {
        self.acronis_sim
            .control()
            .counts()
            .into_iter()
            .filter(|(route, _)| route.starts_with("DELETE /api/alert_manager/v1/alerts"))
            .map(|(_, n)| n)
            .sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_closing_the_ticket_dismisses_its_alert_and_the_products_own_close_does_not() {
    let settings = AlertSettings {
        clear_alert_on_close: true,
        fixed_statuses: vec!["closed".into()],
        ..settings(true)
    };
    let s = stack_with(Duration::from_secs(5), settings.clone()).await;
    s.serve_webhook(&settings).await;

    // A technician closes the ticket of an alert still active: the ticket callback reaches
    // the webhook, its event the ticket sync, and the alert is dismissed in Acronis.
    let key = s.ticket_closed_by_a_technician("al-fixed").await;
    s.pump_until("the alert dismissed", |s| {
        s.alert_api("al-fixed").deleted_at.is_some()
    })
    .await;
    assert_eq!(s.dismissals(), 1);
    let record = s.store.alert_ticket(&key).await.unwrap().unwrap();
    assert_eq!(
        record.dismissed.unwrap().alert_id,
        s.alert_api("al-fixed").id
    );

    // An alert that clears: the product closes its ticket (auto-close), which fires a
    // callback too; that close dismisses nothing.
    s.raise("al-cleared", "BackupFailed", "r2");
    s.poll().await;
    s.pump().await;
    s.clear("al-cleared");
    s.poll().await;
    s.pump().await;
    let key2 = rules::alert_key(&s.alert_api("al-cleared"));
    let closed = s.store.alert_ticket(&key2).await.unwrap().unwrap();
    assert!(closed.closed_by_product, "{closed:?}");
    // Its callback (the close's `updated`) is delivered to the webhook and handled: no
    // dismissal.
    let ticket2 = closed.ticket_id.unwrap();
    let delivered = |s: &Stack| {
        s.cw_sim
            .sent_callbacks()
            .iter()
            .filter(|e| e.kind == "ticket" && e.id == ticket2 && e.state == "delivered")
            .count()
    };
    s.pump_until("the close's callback delivered", |s| delivered(s) >= 2)
        .await;
    s.pump().await;
    assert_eq!(
        s.dismissals(),
        1,
        "the product's own close dismissed an alert"
    );
    let after = s.store.alert_ticket(&key2).await.unwrap().unwrap();
    assert!(after.dismissed.is_none(), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_ticket_callback_is_made_up_for_by_the_reconcilers_backstop() {
    let settings = AlertSettings {
        clear_alert_on_close: true,
        fixed_statuses: vec!["Closed".into()],
        ..settings(false)
    };
    // No webhook and no callback registered: every ticket callback is lost.
    let s = stack_with(Duration::from_secs(5), settings).await;
    s.ticket_closed_by_a_technician("al-lost").await;
    // The reconciler's cycle, with its role: the close becomes a ticket event.
    let store = store_as(&s.store, Function::Reconciler).await.unwrap();
    let bus = bus_as(&s.bus, Function::Reconciler).await.unwrap();
    let backstop = || async {
        svc::closed_tickets(&s.sync.cw, &store, &bus, "run-1", shared::clock::now())
            .await
            .unwrap()
    };
    assert_eq!(backstop().await.published, 1);
    s.pump().await;
    assert!(s.alert_api("al-lost").deleted_at.is_some(), "dismissed");
    assert_eq!(s.dismissals(), 1);
    // The next cycle re-reads its overlap and finds the same close: nothing more.
    assert_eq!(backstop().await.published, 1);
    s.pump().await;
    assert_eq!(s.dismissals(), 1);
}
