//! `acw dlq list | replay` through the real binary against dead-letter queues on moto, named
//! as the template names them (`<STACK_NAME>-<function>-dead-letters`), with the test's bus
//! routed to the provisioner's and the ticket sync's queues as the template's rules route it.
//! What a replay puts on the bus is then handled by the functions' own handlers, to show that
//! a replay run twice, or interrupted between publishing and deleting and run again, leaves
//! exactly one tenant and one ticket.
//!
//! moto must be running (`make test` starts it): `AWS_ENDPOINT_URL`, or `target/local/env`.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use integration_tests::{drain_queue, unique};
use serde_json::{Value, json};
use shared::functions::Function;

/// The company of the golden alert event.
const COMPANY: i64 = 1042;
const ALERT_RAISED: &str = include_str!("../../tests/golden/events/alert.raised.json");
const BOARD: i64 = 1;

/// A bus event as a rule delivers it (and as its dead letter holds it).
fn company_event(id: &str, origin: Value) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "company.updated", "source": shared::bus::SOURCE,
        "account": "123456789012", "time": chrono::Utc::now().to_rfc3339(), "region": "eu-west-1",
        "resources": [],
        "detail": {"version": shared::bus::VERSION, "company_id": COMPANY, "action": "updated",
                   "origin": origin, "observed_at": chrono::Utc::now().to_rfc3339()}
    })
}

/// Lambda's on-failure record of `event`, as an asynchronous invocation's destination gets it.
fn on_failure(event: &Value, function: &str) -> String {
    json!({
        "version": "1.0",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": format!("arn:aws:lambda:eu-west-1:123456789012:function:{function}:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "RetryableError", "errorMessage": "ConnectWise answered 503"}
    })
    .to_string()
}

struct Queues {
    sqs: aws_sdk_sqs::Client,
    dead: BTreeMap<Function, String>,
    /// The consumers' queues the bus routes to.
    consumer: BTreeMap<Function, String>,
}

impl Queues {
    async fn send(&self, f: Function, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.dead[&f])
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    /// Every message of a dead-letter queue (received with no visibility timeout, so left).
    async fn waiting(&self, f: Function) -> u64 {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.dead[&f])
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes().unwrap();
        let n = |k| {
            attrs
                .get(&k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        use aws_sdk_sqs::types::QueueAttributeName as A;
        n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible)
    }

    /// What the bus delivered to `f`'s queue since the last call (waiting for `want`, then a
    /// moment for anything more).
    async fn delivered(&self, f: Function, want: usize) -> Vec<Value> {
        let url = &self.consumer[&f];
        let mut got = drain_queue(&self.sqs, url, want, Duration::from_secs(15))
            .await
            .unwrap();
        got.extend(
            drain_queue(&self.sqs, url, 1, Duration::from_millis(1500))
                .await
                .unwrap(),
        );
        got
    }
}

/// The stack's dead-letter queues (created as `local-runner setup` creates the local stack's)
/// and the test bus routed to the consumers' queues; `STACK_NAME` set for `acw`.
async fn queues(s: &mut Stack) -> Queues {
    let stack = unique("st");
    let sqs = aws_sdk_sqs::Client::new(&s.config);
    let eb = aws_sdk_eventbridge::Client::new(&s.config);
    let dead = local_runner::ensure_dead_letter_queues(&sqs, &stack)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let bus = s
        .vars
        .iter()
        .find(|(k, _)| k == "EVENT_BUS_NAME")
        .unwrap()
        .1
        .clone();
    let mut consumer = BTreeMap::new();
    for route in local_runner::routes() {
        let name = unique(route.consumer.name());
        let url = local_runner::route_to_queue(&eb, &sqs, &bus, &name, &route.pattern, &name)
            .await
            .unwrap();
        consumer.insert(route.consumer, url);
    }
    s.vars.push(("STACK_NAME".into(), stack));
    Queues {
        sqs,
        dead,
        consumer,
    }
}

fn letters(j: &Value) -> Vec<&Value> {
    j["dead_letters"]
        .as_array()
        .or(j["items"].as_array())
        .unwrap()
        .iter()
        .collect()
}

fn by_message(j: &Value, pick: impl Fn(&Value) -> bool) -> &Value {
    letters(j)
        .into_iter()
        .find(|l| pick(l))
        .unwrap_or_else(|| panic!("no such dead letter in {j:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_replays_both_shapes_once_keeps_what_it_cannot_read_and_is_safe_to_repeat() {
    let mut s = stack().await;
    let q = queues(&mut s).await;
    s.seed_products().await;
    s.seed_customer(COMPANY, "Northwind", "Customer");
    s.cw.seed(json!({
        "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}],
        "boards": [{"id": BOARD, "name": "Acronis alerts",
            "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Closed", "closedStatus": true}],
            "types": [{"name": "Backup"}]}]
    }))
    .unwrap();
    s.acw(&["provisioning", "set", "auto_provisioning=true"])
        .await
        .ok();
    s.acw(&["alerts", "board", "Acronis alerts"]).await.ok();
    s.acw(&["alerts", "map", "BackupFailed", "--status", "New"])
        .await
        .ok();

    // A rule's dead letter (the event) and Lambda's on-failure record (the event under
    // requestPayload) of the same company; an alert the ticket sync failed on; an event of
    // the next VERSION (a rollback's leftover) and a body that is no event at all; a
    // reconciler's scheduled run.
    let rule = company_event("ev-rule", json!({"kind": "callback", "message_id": "cb-1"}));
    q.send(Function::Provisioner, &rule.to_string()).await;
    let lambda = company_event("ev-lambda", json!({"kind": "reconciler", "run_id": "r-1"}));
    q.send(Function::Provisioner, &on_failure(&lambda, "provisioner"))
        .await;
    let alert: Value = serde_json::from_str(ALERT_RAISED).unwrap();
    q.send(Function::TicketSync, &on_failure(&alert, "ticket-sync"))
        .await;
    let mut newer = company_event("ev-newer", json!({"kind": "admin"}));
    newer["detail"]["version"] = json!(shared::bus::VERSION + 1);
    newer["detail"]["a_field_of_the_next_version"] = json!(true);
    q.send(Function::Provisioner, &on_failure(&newer, "provisioner"))
        .await;
    q.send(Function::Provisioner, "<html>not an event</html>")
        .await;
    let tick = json!({"version": "0", "id": "ev-tick", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": chrono::Utc::now().to_rfc3339(),
        "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/x"], "detail": {}});
    q.send(Function::Reconciler, &tick.to_string()).await;

    // list: every dead letter, both shapes, what each is about; nothing taken.
    let list = s.acw(&["dlq", "list", "--json"]).await.ok().json();
    assert_eq!(letters(&list).len(), 6, "{list:#}");
    let r = by_message(&list, |l| l["event_id"] == "ev-rule");
    assert_eq!(r["shape"], "event");
    assert_eq!(r["function"], "provisioner");
    assert_eq!(r["content"]["subject"]["company_id"], COMPANY);
    let l = by_message(&list, |l| l["event_id"] == "ev-lambda");
    assert_eq!(l["shape"], "on_failure");
    assert_eq!(l["why"]["condition"], "RetriesExhausted");
    assert_eq!(l["content"]["detail_type"], "company.updated");
    let a = by_message(&list, |l| l["function"] == "ticket-sync");
    assert_eq!(
        a["content"]["subject"]["alert_key"],
        alert["detail"]["alert_key"]
    );
    let n = by_message(&list, |l| l["event_id"] == "ev-newer");
    assert_eq!(n["content"]["newer"], true, "{n}");
    assert!(
        by_message(&list, |l| l["shape"] == "unknown")["content"]["reason"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    assert_eq!(
        by_message(&list, |l| l["function"] == "reconciler")["content"]["kind"],
        "scheduled"
    );
    let table = s.acw(&["dlq", "list"]).await.ok().stdout;
    for says in [
        "rule's event",
        "Lambda on-failure record",
        "company 1042",
        "RetriesExhausted",
        "newer version",
    ] {
        assert!(table.contains(says), "{says}: {table}");
    }
    let status = s.acw(&["status", "--json"]).await.ok().json();
    let waiting = |j: &Value, f: &str| {
        j["dead_letters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["function"] == f)
            .unwrap_or_else(|| panic!("{f} in {j}"))["waiting"]
            .clone()
    };
    assert_eq!(waiting(&status, "provisioner"), 4, "{status:#}");
    assert_eq!(waiting(&status, "ticket-sync"), 1);
    assert_eq!(waiting(&status, "reconciler"), 1);
    assert_eq!(waiting(&status, "usage-push"), 0);

    // The dry run shows the plan and changes nothing.
    let plan = s
        .acw(&["dlq", "replay", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        plan["counts"],
        json!({"to_republish": 3, "to_leave": 3}),
        "{plan:#}"
    );
    assert_eq!(
        by_message(&plan, |l| l["event_id"] == "ev-rule")["plan"]["step"],
        "republish"
    );
    let kept = by_message(&plan, |l| l["function"] == "reconciler");
    assert!(
        kept["plan"]["reason"]
            .as_str()
            .unwrap()
            .contains("--function reconciler")
    );
    assert_eq!(q.waiting(Function::Provisioner).await, 4);
    assert_eq!(q.waiting(Function::TicketSync).await, 1);
    assert!(q.delivered(Function::Provisioner, 0).await.is_empty());
    assert!(!s.audit_actions().await.contains(&"dlq.replay".to_owned()));

    // A replay that dies between publishing and deleting: its receive hides the message for a
    // moment, the event reaches the bus, the message is never deleted.
    let crashed = q
        .sqs
        .receive_message()
        .queue_url(&q.dead[&Function::Provisioner])
        .max_number_of_messages(10)
        .visibility_timeout(2)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.body().unwrap_or_default().contains("ev-rule"))
        .expect("the rule's dead letter");
    let bus = shared::bus::EventBus::new(
        aws_sdk_eventbridge::Client::new(&s.config),
        s.vars
            .iter()
            .find(|(k, _)| k == "EVENT_BUS_NAME")
            .unwrap()
            .1
            .clone(),
    );
    let body: Value = serde_json::from_str(crashed.body().unwrap()).unwrap();
    assert!(
        bus.publish_raw(vec![shared::bus::RawEntry {
            detail_type: body["detail-type"].as_str().unwrap().into(),
            detail: body["detail"].to_string(),
        }])
        .await
        .all_published()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The provisioner's queue only: its two events go out (the crashed one once more), the
    // unreadable two stay; the ticket sync's and the reconciler's are not touched.
    let first = s
        .acw(&["dlq", "replay", "--function", "provisioner", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        first["counts"],
        json!({"republished": 2, "left": 2}),
        "{first:#}"
    );
    assert!(first["run_id"].is_string());
    let newer_left = by_message(&first, |l| l["event_id"] == "ev-newer");
    assert_eq!(newer_left["done"]["outcome"], "left");
    assert!(
        newer_left["plan"]["reason"]
            .as_str()
            .unwrap()
            .contains("newer version")
    );
    assert_eq!(q.waiting(Function::TicketSync).await, 1);
    assert_eq!(q.waiting(Function::Reconciler).await, 1);
    // Then every queue: the alert goes out; the reconciler's run is left (not named).
    let all = s.acw(&["dlq", "replay", "--json"]).await.ok().json();
    assert_eq!(
        all["counts"],
        json!({"republished": 1, "left": 3}),
        "{all:#}"
    );
    // Run again: nothing more reaches the bus.
    let again = s
        .acw(&["dlq", "replay", "--function", "provisioner"])
        .await
        .ok();
    assert!(again.stdout.contains("left: 2"), "{}", again.stdout);
    assert!(!again.stdout.contains("republished"), "{}", again.stdout);

    // Each event reached its consumer's queue (the crashed one twice), and nothing else.
    let company_events = q.delivered(Function::Provisioner, 3).await;
    let mut ids: Vec<&str> = company_events
        .iter()
        .map(|e| e["detail"]["origin"]["kind"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["callback", "callback", "reconciler"],
        "{company_events:#?}"
    );
    for e in &company_events {
        assert_eq!(e["detail"]["company_id"], COMPANY);
    }
    let alert_events = q.delivered(Function::TicketSync, 1).await;
    assert_eq!(alert_events.len(), 1, "{alert_events:#?}");
    assert_eq!(alert_events[0]["detail"], alert["detail"], "as it was sent");

    // The consumers handle what was delivered (as Lambda would, the alert twice): one tenant,
    // one ticket.
    let (cw, acronis) = integration_tests::sim_clients(&s.cw, &s.acronis, Duration::from_secs(5))
        .await
        .unwrap();
    let recorder = |store: &shared::store::Store| {
        shared::runs::Recorder::new(store.clone(), Duration::from_secs(3600))
            .with_log(shared::runs::MetricLog::Off)
    };
    let store = integration_tests::store_as(&s.store, Function::Provisioner)
        .await
        .unwrap();
    let provisioning =
        shared::services::provisioning::Provisioning::new(cw.clone(), acronis, store.clone());
    for e in &company_events {
        provisioner::handle_eventbridge(&provisioning, &recorder(&store), e)
            .await
            .unwrap();
    }
    let store = integration_tests::store_as(&s.store, Function::TicketSync)
        .await
        .unwrap();
    let tickets = shared::services::alerts::TicketSync::new(cw, store.clone());
    for e in [&alert_events[0], &alert_events[0]] {
        ticket_sync::handle_eventbridge(&tickets, &recorder(&store), e)
            .await
            .unwrap();
    }
    assert_eq!(s.customer_tenants("Northwind").len(), 1);
    assert!(s.store.mapping_by_company(COMPANY).await.unwrap().is_some());
    let writes = s.cw_writes();
    let posted = |suffix: &str| {
        writes
            .iter()
            .filter(|w| w.starts_with("POST") && w.ends_with(suffix))
            .count()
    };
    assert_eq!(posted("/service/tickets"), 1, "{writes:#?}");
    assert_eq!(
        posted("/notes"),
        0,
        "the same occurrence adds no note: {writes:#?}"
    );

    // Naming the reconciler deletes its scheduled run (the next run covers it), with why.
    let ticks = s
        .acw(&["dlq", "replay", "--function", "reconciler", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(ticks["counts"], json!({"deleted": 1}), "{ticks:#}");
    assert_eq!(q.waiting(Function::Reconciler).await, 0);

    // What stays is what this version cannot read, with its reason; status counts it.
    let left = s
        .acw(&["dlq", "list", "--function", "provisioner", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(letters(&left).len(), 2, "{left:#}");
    let status = s.acw(&["status", "--json"]).await.ok().json();
    assert_eq!(waiting(&status, "provisioner"), 2, "{status:#}");
    assert_eq!(waiting(&status, "ticket-sync"), 0);
    let acw_run = status["last_runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == "acw")
        .unwrap_or_else(|| panic!("{status:#}"));
    assert!(acw_run["counts"]["dead_letters_deleted"] == 1, "{acw_run}");
    assert!(
        status["recent_failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["function"] == "acw"
                && f["reason"].as_str().unwrap().contains("newer version")),
        "an unreadable dead letter left is a failure a person sees: {status:#}"
    );
    let audits = s.audit_actions().await;
    assert_eq!(
        audits.iter().filter(|a| *a == "dlq.replay").count(),
        4,
        "{audits:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_needs_the_stack_name_and_a_function_with_a_queue() {
    let mut s = stack().await;
    let out = s.acw(&["dlq", "list"]).await.failed();
    assert!(out.stderr.contains("STACK_NAME"), "{}", out.stderr);
    // acw status still answers, saying why it cannot count.
    let status = s.acw(&["status", "--json"]).await.ok().json();
    assert!(
        status["dead_letters"][0]["error"]
            .as_str()
            .unwrap()
            .contains("STACK_NAME"),
        "{status:#}"
    );
    let out = s
        .acw(&["dlq", "replay", "--function", "webhook"])
        .await
        .failed();
    assert!(out.stderr.contains("provisioner"), "{}", out.stderr);
    // A stack name whose queues do not exist: said, per queue.
    s.vars.push(("STACK_NAME".into(), unique("nostack")));
    let out = s
        .acw(&["dlq", "list", "--function", "ticket-sync"])
        .await
        .failed();
    assert!(out.stderr.contains("could not be read"), "{}", out.stderr);
    assert!(out.stdout.contains("does not exist"), "{}", out.stdout);
}
