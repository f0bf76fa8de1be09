//! Malformed answers on the reads alert tickets are decided on never cause a wrong write:
//! no duplicate ticket, no ticket noted instead of reopened (or reopened, or closed,
//! wrongly), no alert skipped for good. After each corrupted answer the tickets (their
//! status, `closedFlag`, notes) and the table's ticket record are as before the cycle, or
//! as after the same cycle with clean answers; the cycle fails naming the field (or the
//! read, for a body that is not JSON); the next clean cycle completes.
//!
//! The corpus (answers replaced by the simulators; `untouched` keeps a fault on a path off
//! the longer paths under it):
//! - Acronis alerts (`GET /alert_manager/v1/alerts`, the poll): `items` missing, `null`, a
//!   string; an alert without `id`, `type`, `tenant`, `tenant.uuid`, `updatedAt`, with
//!   `tenant.uuid` or `updatedAt` `null`, `updatedAt` or `deletedAt` a number; HTML page;
//!   truncated body; an empty list (nothing published, the next poll reads the alert).
//!   `updatedAt` is in every alert Acronis documents answering (only the body one POSTs to
//!   inject an alert goes without): the poll's mark and an occurrence's identity rest on
//!   it, so an alert without it is refused, not read as its `createdAt`;
//! - ConnectWise ticket (`GET /service/tickets/{id}`, an alert raised again on its closed
//!   ticket): `closedFlag` missing, `null`, a string; `status` missing, `null`, its `id` a
//!   string; HTML page; truncated body;
//! - ConnectWise tickets by `externalXRef` (`GET /service/tickets?conditions=`, taking over
//!   a claim whose POST may have been made): not a list; a ticket without `externalXRef`,
//!   with another key, without `closedFlag`, its `id` a string; HTML page; truncated body;
//!   once an empty list (a fresh read confirms it);
//! - Acronis active alerts and an alert by id (`GET /alert_manager/v1/alerts?type=` and
//!   `/alerts/{id}`, the sweep of the open tickets' alerts): the list without `items`, HTML
//!   page, truncated body, empty (then looked up one by one); the alert by id with
//!   `deletedAt` a number, without `id`, HTML page, truncated body: the failure is recorded
//!   and the ticket of the still active alert stays open.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::time::Duration;

use chrono::{DateTime, Utc};
use integration_tests::{LocalStack, answer_with, bus_to_queue, html_with, untouched};
use serde_json::{Value, json};
use shared::acronis::models::Alert;
use shared::bus::{AlertChanged, Event, EventBus, VERSION};
use shared::domain::alerts::{self as rules, AlertSettings, TypeMapping};
use shared::functions::Function;
use shared::runs::{MetricLog, Recorder};
use shared::services::alerts::{self as svc, PollOptions, TicketOutcome, TicketSync};
use shared::store::RunRecord;
use simulators::FaultRule;

const COMPANY: i64 = 7;
const BOARD: i64 = 1;
const NEW: i64 = 1;
const CLOSED: i64 = 2;

struct Stack {
    s: LocalStack,
    sync: TicketSync,
    recorder: Recorder,
    bus: EventBus,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    tenant: String,
}

async fn stack() -> Stack {
    let s = LocalStack::start().await.unwrap();
    s.cw_sim
        .seed(json!({
            "companies": [{"id": COMPANY, "identifier": "Northwind", "name": "Northwind Traders"}],
            "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}],
            "boards": [{"id": BOARD, "name": "Acronis alerts",
                "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Closed", "closedStatus": true}]}]
        }))
        .unwrap();
    let tenant = s
        .acronis_sim
        .seed_tenant(json!({"name": "Northwind"}))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.map(COMPANY, &tenant).await.unwrap();
    let mut settings = AlertSettings {
        board_id: Some(BOARD),
        auto_close: true,
        closing_status_id: Some(CLOSED),
        ..AlertSettings::default()
    };
    settings.types.insert(
        "BackupFailed".into(),
        TypeMapping {
            status_id: NEW,
            type_id: None,
            subtype_id: None,
            priority_id: None,
        },
    );
    svc::save_settings(&s.cw, &s.store, &settings)
        .await
        .unwrap();
    let (bus, sqs, queue) = bus_to_queue(&s.config, Function::TicketSync).await.unwrap();
    Stack {
        sync: TicketSync::new(s.cw.clone(), s.store.clone()),
        recorder: Recorder::new(s.store.clone(), Duration::from_secs(3600))
            .with_log(MetricLog::Off),
        bus,
        sqs,
        queue,
        tenant,
        s,
    }
}

impl Stack {
    /// Every queued event through the ticket sync, until the queue is empty (moto queues
    /// an event as it is put, so nothing is waited for).
    async fn pump(&self) {
        loop {
            let handled = local_runner::consume_batch(
                &self.sqs,
                &local_runner::invoke::AsyncTarget::unlimited(
                    Function::TicketSync,
                    self.queue.clone(),
                ),
                0,
                |envelope| async move {
                    ticket_sync::handle_eventbridge(&self.sync, &self.recorder, &envelope).await
                },
            )
            .await
            .unwrap();
            if handled == 0 {
                return;
            }
        }
    }

    async fn tickets(&self) -> Vec<Value> {
        let v: Value = reqwest::get(format!("{}/_sim/tickets", self.s.cw_sim.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().unwrap().clone()
    }

    /// The tickets (key, status, whether closed, notes) and the table's ticket records.
    async fn state(&self) -> Value {
        let mut out = Vec::new();
        for t in self.tickets().await {
            let notes = integration_tests::ticket_notes(&self.s.cw_sim, &t["id"]).await;
            let record = match t["externalXRef"].as_str() {
                Some(key) => self.s.store.alert_ticket(key).await.unwrap(),
                None => None,
            };
            out.push(json!({
                "id": t["id"], "key": t["externalXRef"], "status": t["status"]["id"],
                "closed": t["closedFlag"], "notes": notes.len(),
                "record": record.map(|r| json!([r.ticket_id, r.state, r.occurrences])),
            }));
        }
        Value::Array(out)
    }

    fn alert(&self, id: &str, resource: &str, at: DateTime<Utc>, cleared: bool) -> Event {
        let alert: Alert = serde_json::from_value(json!({
            "id": id, "type": "BackupFailed", "createdAt": at, "updatedAt": at,
            "deletedAt": if cleared { json!(at) } else { Value::Null },
            "tenant": {"uuid": self.tenant},
            "details": {"resourceId": resource, "resourceName": format!("srv-{resource}")}
        }))
        .unwrap();
        let changed = AlertChanged {
            connection: Default::default(),
            version: VERSION,
            alert_key: rules::alert_key(&alert),
            company_id: COMPANY,
            alert,
        };
        if cleared {
            Event::AlertCleared(changed)
        } else {
            Event::AlertRaised(changed)
        }
    }

    /// The ticket's answer as ConnectWise gives it, changed by `change`.
    async fn ticket_body(&self, id: i64, change: &dyn Fn(&mut Value)) -> Value {
        let mut t = self
            .tickets()
            .await
            .into_iter()
            .find(|t| t["id"] == id)
            .unwrap();
        change(&mut t);
        t
    }
}

/// How a case changes a clean answer.
type Change = Box<dyn Fn(&mut Value)>;
/// A lookup case: its name, change, the field its failure names (`None`: it completes) and
/// how many answers it changes (`None`: every one).
type LookupCase = (
    &'static str,
    Option<Change>,
    Option<&'static str>,
    Option<u32>,
);

fn remove(field: &'static str) -> impl Fn(&mut Value) {
    move |v: &mut Value| {
        v.as_object_mut().unwrap().remove(field);
    }
}

fn set(field: &'static str, value: Value) -> impl Fn(&mut Value) {
    move |v: &mut Value| v[field] = value.clone()
}

fn html(longer: &str, path: &str) -> Vec<FaultRule> {
    vec![untouched(longer), html_with(path, None)]
}

fn answer(longer: &str, path: &str, body: Option<Value>) -> Vec<FaultRule> {
    vec![untouched(longer), answer_with(path, body, None)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_alert_list_never_loses_or_doubles_a_ticket() {
    let st = stack().await;
    // The poll's result, and how many events it published.
    let poll = || async {
        let mut run = RunRecord::start("alert-poller");
        let result = svc::poll(
            &st.s.acronis,
            &st.s.store,
            &st.bus,
            &mut run,
            &PollOptions::default(),
        )
        .await;
        let published = run.counts.get("published").copied().unwrap_or(0);
        result.map(|_| published).map_err(|e| e.to_string())
    };
    let list = "/alert_manager/v1/alerts";
    let by_id = "/alert_manager/v1/alerts/";
    let mut corpus: Vec<(&str, Option<Change>, Option<&str>)> = vec![
        (
            "items missing",
            Some(Box::new(|p: &mut Value| *p = json!({}))),
            Some("items"),
        ),
        (
            "items null",
            Some(Box::new(|p: &mut Value| p["items"] = Value::Null)),
            Some("items"),
        ),
        (
            "items a string",
            Some(Box::new(|p: &mut Value| p["items"] = json!("x"))),
            Some("items"),
        ),
        (
            "an empty list",
            Some(Box::new(|p: &mut Value| p["items"] = json!([]))),
            None,
        ),
    ];
    let on_alert = |change: Box<dyn Fn(&mut Value)>| -> Option<Change> {
        Some(Box::new(move |p: &mut Value| {
            p["items"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .for_each(&*change)
        }))
    };
    corpus.extend([
        (
            "alert without id",
            on_alert(Box::new(remove("id"))),
            Some("id"),
        ),
        (
            "alert without type",
            on_alert(Box::new(remove("type"))),
            Some("type"),
        ),
        (
            "alert without tenant",
            on_alert(Box::new(remove("tenant"))),
            Some("tenant.uuid"),
        ),
        (
            "alert without tenant.uuid",
            on_alert(Box::new(|a: &mut Value| {
                a["tenant"].as_object_mut().unwrap().remove("uuid");
            })),
            Some("tenant.uuid"),
        ),
        (
            "alert tenant.uuid null",
            on_alert(Box::new(|a: &mut Value| a["tenant"]["uuid"] = Value::Null)),
            Some("tenant.uuid"),
        ),
        (
            "alert without updatedAt",
            on_alert(Box::new(remove("updatedAt"))),
            Some("updatedAt"),
        ),
        (
            "alert updatedAt null",
            on_alert(Box::new(set("updatedAt", Value::Null))),
            Some("updatedAt"),
        ),
        (
            "alert updatedAt a number",
            on_alert(Box::new(set("updatedAt", json!(5)))),
            Some("updatedAt"),
        ),
        (
            "alert deletedAt a number",
            on_alert(Box::new(set("deletedAt", json!(5)))),
            Some("deletedAt"),
        ),
        ("alerts HTML", None, Some("alerts")),
        ("alerts truncated", None, Some("alerts")),
    ]);
    let cases = corpus.len();
    for (i, (name, change, field)) in corpus.into_iter().enumerate() {
        // A new alert each: before, no ticket for it; after a clean poll, one.
        let raised = st
            .s
            .acronis_sim
            .raise_alert(simulators::acronis::RaiseAlert {
                id: Some(format!("M-{i}")),
                tenant: st.tenant.clone(),
                kind: "BackupFailed".into(),
                category: None,
                severity: None,
                details: json!({"resourceId": format!("res-{i}"), "resourceName": format!("srv-{i}")}),
            })
            .unwrap();
        let key = rules::alert_key(&serde_json::from_value(raised.clone()).unwrap());
        let before = st.state().await;
        let rules = match (name, change) {
            ("alerts HTML", _) => html(by_id, list),
            (_, None) => answer(by_id, list, None),
            (_, Some(change)) => {
                let mut page = json!({"items": [raised], "paging": {"cursors": {}}});
                change(&mut page);
                answer(by_id, list, Some(page))
            }
        };
        for rule in rules {
            st.s.acronis_sim.control().add_fault(rule);
        }
        let result = poll().await;
        st.s.acronis_sim.control().clear_faults();
        match field {
            Some(field) => {
                let err = result.expect_err(name);
                assert!(
                    err.contains(field),
                    "{name}: the failure names `{field}`: {err}"
                );
            }
            None => assert_eq!(result, Ok(0), "{name}: nothing to publish"),
        }
        st.pump().await;
        assert_eq!(st.state().await, before, "{name}: no ticket yet");
        let published = poll()
            .await
            .unwrap_or_else(|e| panic!("{name}: the clean poll after: {e}"));
        assert_eq!(published, 1, "{name}: the alert, once");
        st.pump().await;
        let after = st.state().await;
        let for_key: Vec<&Value> = after
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["key"] == key.as_str())
            .collect();
        assert_eq!(
            for_key.len(),
            1,
            "{name}: one ticket for the alert: {after}"
        );
        assert_eq!(
            after.as_array().unwrap().len(),
            before.as_array().unwrap().len() + 1,
            "{name}: and no other"
        );
    }
    println!("malformed alert lists: {cases} cases over 1 Acronis read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_ticket_read_never_notes_reopens_or_closes_wrongly() {
    let st = stack().await;
    let t0 = Utc::now() - chrono::Duration::hours(1);
    let mut corpus: Vec<(&str, Option<Change>, &str)> = vec![
        (
            "closedFlag missing",
            Some(Box::new(remove("closedFlag"))),
            "closedFlag",
        ),
        (
            "closedFlag null",
            Some(Box::new(set("closedFlag", Value::Null))),
            "closedFlag",
        ),
        (
            "closedFlag a string",
            Some(Box::new(set("closedFlag", json!("true")))),
            "closedFlag",
        ),
        ("status missing", Some(Box::new(remove("status"))), "status"),
        (
            "status null",
            Some(Box::new(set("status", Value::Null))),
            "status",
        ),
        (
            "status id a string",
            Some(Box::new(|t: &mut Value| t["status"]["id"] = json!("2"))),
            "status",
        ),
    ];
    corpus.push(("ticket HTML", None, "tickets"));
    corpus.push(("ticket truncated", None, "tickets"));
    let cases = corpus.len();
    for (i, (name, change, field)) in corpus.into_iter().enumerate() {
        // The alert's ticket, closed when it cleared; the alert is raised again.
        let id = format!("T-{i}");
        let resource = format!("res-t{i}");
        let at = |m: i64| t0 + chrono::Duration::minutes(m);
        let created = st
            .sync
            .handle(
                &st.alert(&id, &resource, at(0), false),
                &mut RunRecord::start("t"),
            )
            .await
            .unwrap();
        let TicketOutcome::Created { ticket_id, .. } = created else {
            panic!("{created:?}")
        };
        let closed = st
            .sync
            .handle(
                &st.alert(&id, &resource, at(1), true),
                &mut RunRecord::start("t"),
            )
            .await
            .unwrap();
        assert_eq!(closed, TicketOutcome::Closed { ticket_id });
        let before = st.state().await;
        let read = format!("/service/tickets/{ticket_id}");
        let longer = format!("/service/tickets/{ticket_id}/");
        let rules = match (name, change) {
            ("ticket HTML", _) => html(&longer, &read),
            (_, None) => answer(&longer, &read, None),
            (_, Some(change)) => answer(
                &longer,
                &read,
                Some(st.ticket_body(ticket_id, &*change).await),
            ),
        };
        for rule in rules {
            st.s.cw_sim.control().add_fault(rule);
        }
        let again = st.alert(&id, &resource, at(2), false);
        let mut run = RunRecord::start("t");
        let result = st.sync.handle(&again, &mut run).await;
        st.s.cw_sim.control().clear_faults();
        let err = result.expect_err(name).to_string();
        assert!(
            err.contains(field),
            "{name}: the failure names `{field}`: {err}"
        );
        assert!(
            run.failures.iter().any(|f| f.reason.contains(field)),
            "{name}: recorded: {:?}",
            run.failures
        );
        assert_eq!(st.state().await, before, "{name}: nothing written");
        let out = st
            .sync
            .handle(&again, &mut RunRecord::start("t"))
            .await
            .unwrap_or_else(|e| panic!("{name}: the clean delivery after: {e}"));
        assert_eq!(out, TicketOutcome::Reopened { ticket_id }, "{name}");
    }
    println!("malformed ticket reads: {cases} cases over 1 ConnectWise read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_ticket_lookup_never_makes_a_second_ticket() {
    let st = stack().await;
    let t0 = Utc::now() - chrono::Duration::hours(1);
    let corpus: Vec<LookupCase> = vec![
        (
            "not a list",
            Some(Box::new(|l: &mut Value| *l = l[0].clone())),
            Some("tickets"),
            None,
        ),
        (
            "without externalXRef",
            Some(Box::new(|l: &mut Value| remove("externalXRef")(&mut l[0]))),
            Some("externalXRef"),
            None,
        ),
        (
            "with another key",
            Some(Box::new(|l: &mut Value| {
                l[0]["externalXRef"] = json!("acr:other")
            })),
            Some("externalXRef"),
            None,
        ),
        (
            "without closedFlag",
            Some(Box::new(|l: &mut Value| remove("closedFlag")(&mut l[0]))),
            Some("closedFlag"),
            None,
        ),
        (
            "id a string",
            Some(Box::new(|l: &mut Value| l[0]["id"] = json!("x"))),
            Some("id"),
            None,
        ),
        ("HTML", None, Some("tickets"), None),
        ("truncated", None, Some("tickets"), None),
        (
            "once an empty list",
            Some(Box::new(|l: &mut Value| *l = json!([]))),
            None,
            Some(1),
        ),
    ];
    let cases = corpus.len();
    for (i, (name, change, field, times)) in corpus.into_iter().enumerate() {
        // A claim taken over: its ticket was made, but the record does not say which.
        let id = format!("X-{i}");
        let resource = format!("res-x{i}");
        let at = |m: i64| t0 + chrono::Duration::minutes(m);
        let first = st.alert(&id, &resource, at(0), false);
        let created = st
            .sync
            .handle(&first, &mut RunRecord::start("t"))
            .await
            .unwrap();
        let TicketOutcome::Created { ticket_id, .. } = created else {
            panic!("{created:?}")
        };
        let key = rules::alert_key(match &first {
            Event::AlertRaised(c) => &c.alert,
            _ => unreachable!(),
        });
        let mut r = st.s.store.alert_ticket(&key).await.unwrap().unwrap();
        r.ticket_id = None;
        r.state = shared::store::TicketState::Creating;
        r.revision += 1;
        r.updated_at = DateTime::<Utc>::UNIX_EPOCH;
        st.s.store.update_alert_ticket(&r).await.unwrap();
        let before = st.state().await;
        let list = "/service/tickets";
        let below = "/service/tickets/";
        let rules = match (name, change) {
            ("HTML", _) => html(below, list),
            (_, None) => answer(below, list, None),
            (_, Some(change)) => {
                let mut l = json!([st.ticket_body(ticket_id, &|_| {}).await]);
                change(&mut l);
                vec![untouched(below), answer_with(list, Some(l), times)]
            }
        };
        for rule in rules {
            st.s.cw_sim.control().add_fault(rule);
        }
        let again = st.alert(&id, &resource, at(1), false);
        let mut run = RunRecord::start("t");
        let result = st.sync.handle(&again, &mut run).await;
        st.s.cw_sim.control().clear_faults();
        let adopted = TicketOutcome::Created {
            ticket_id,
            adopted: true,
        };
        match field {
            Some(field) => {
                let err = result.expect_err(name).to_string();
                assert!(
                    err.contains(field),
                    "{name}: the failure names `{field}`: {err}"
                );
                assert!(
                    run.failures.iter().any(|f| f.reason.contains(field)),
                    "{name}: recorded: {:?}",
                    run.failures
                );
                assert_eq!(st.state().await, before, "{name}: nothing written");
                let out = st
                    .sync
                    .handle(&again, &mut RunRecord::start("t"))
                    .await
                    .unwrap_or_else(|e| panic!("{name}: the clean delivery after: {e}"));
                assert_eq!(out, adopted, "{name}");
            }
            None => assert_eq!(result.unwrap(), adopted, "{name}"),
        }
        let tickets = integration_tests::tickets_with_xref(&st.s.cw_sim, &key).await;
        assert_eq!(tickets.len(), 1, "{name}: one ticket");
        let r = st.s.store.alert_ticket(&key).await.unwrap().unwrap();
        assert_eq!(r.ticket_id, Some(ticket_id), "{name}: the record has it");
    }
    println!("malformed ticket lookups: {cases} cases over 1 ConnectWise read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_sweep_never_closes_the_ticket_of_an_active_alert() {
    let st = stack().await;
    // Every poll looks up the alerts of the open tickets.
    let opts = PollOptions {
        sweep_every: chrono::Duration::zero(),
        ..PollOptions::default()
    };
    let poll = || async {
        let mut run = RunRecord::start("alert-poller");
        let result = svc::poll(&st.s.acronis, &st.s.store, &st.bus, &mut run, &opts).await;
        (result.map(drop).map_err(|e| e.to_string()), run)
    };
    let raised =
        st.s.acronis_sim
            .raise_alert(simulators::acronis::RaiseAlert {
                id: Some("S-1".into()),
                tenant: st.tenant.clone(),
                kind: "BackupFailed".into(),
                category: None,
                severity: None,
                details: json!({"resourceId": "res-s", "resourceName": "srv-s"}),
            })
            .unwrap();
    poll().await.0.unwrap();
    st.pump().await;
    // The alert is still active: its ticket stays open, whatever the sweep is answered.
    let before = st.state().await;
    assert_eq!(before[0]["closed"], false, "{before}");

    let list = "/alert_manager/v1/alerts";
    let by_id = "/alert_manager/v1/alerts/";
    let lookup = "/alert_manager/v1/alerts/S-1";
    // The poll reads the list once, then the sweep reads the active alerts: the second
    // read of the list is the sweep's.
    let sweep_list = |body: Option<Value>| match body {
        Some(b) if b == json!("html") => html_with(list, Some(1)),
        b => answer_with(list, b, Some(1)),
    };
    let mut alert = raised.clone();
    alert["deletedAt"] = json!(5);
    let mut without_id = raised.clone();
    without_id.as_object_mut().unwrap().remove("id");
    let empty = Some(json!({"items": []}));
    let corpus: Vec<(&str, FaultRule, Option<FaultRule>, Option<&str>)> = vec![
        (
            "active list without items",
            sweep_list(Some(json!({}))),
            None,
            Some("items"),
        ),
        (
            "active list HTML",
            sweep_list(Some(json!("html"))),
            None,
            Some("alerts"),
        ),
        (
            "active list truncated",
            sweep_list(None),
            None,
            Some("alerts"),
        ),
        (
            "lookup deletedAt a number",
            sweep_list(empty.clone()),
            Some(answer_with(lookup, Some(alert), None)),
            Some("deletedAt"),
        ),
        (
            "lookup without id",
            sweep_list(empty.clone()),
            Some(answer_with(lookup, Some(without_id), None)),
            Some("id"),
        ),
        (
            "lookup HTML",
            sweep_list(empty.clone()),
            Some(html_with(lookup, None)),
            Some("alerts"),
        ),
        (
            "lookup truncated",
            sweep_list(empty.clone()),
            Some(answer_with(lookup, None, None)),
            Some("alerts"),
        ),
        ("active list empty", sweep_list(empty.clone()), None, None),
    ];
    let cases = corpus.len();
    for (name, list_rule, lookup_rule, field) in corpus {
        let control = st.s.acronis_sim.control();
        // A lookup's fault first: the first matching rule applies.
        if let Some(rule) = lookup_rule {
            control.add_fault(rule);
        }
        control.add_fault(untouched(by_id));
        control.add_fault_one_in(list_rule, 2, 1);
        let (result, run) = poll().await;
        control.clear_faults();
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let reasons: Vec<&str> = run.failures.iter().map(|f| f.reason.as_str()).collect();
        match field {
            Some(field) => assert!(
                reasons.iter().any(|r| r.contains(field)),
                "{name}: a failure names `{field}`: {reasons:?}"
            ),
            None => assert!(reasons.is_empty(), "{name}: {reasons:?}"),
        }
        st.pump().await;
        assert_eq!(st.state().await, before, "{name}: the ticket stays open");
        let (clean, run) = poll().await;
        clean.unwrap_or_else(|e| panic!("{name}: the clean poll after: {e}"));
        assert!(run.failures.is_empty(), "{name}: {:?}", run.failures);
        st.pump().await;
        assert_eq!(st.state().await, before, "{name}: after a clean poll");
    }
    println!("malformed sweeps: {cases} cases over 2 Acronis reads");
}
