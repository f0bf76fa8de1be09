//! Malformed answers on the reads the reconciler finds changed tenants on, and on the lookup
//! the needs-attention service finds its own ticket with, never cause a wrong write: no
//! change skipped for good (the reconciler's cursor stays where it was), no company sent on
//! a misread to be unmapped, deprovisioned or disabled, no second needs-attention ticket, no
//! closed one adopted as open. After each corrupted answer, the tenants (`enabled`,
//! deleted, the servers' quota), the table's mappings, disabled-tenant marks and
//! deprovisioning clocks, or the needs-attention tickets (status, `closedFlag`, notes) and
//! record, are as before the cycle or as after the same cycle with clean answers; the cycle
//! is recorded as failed naming the field (or the read, for a body that is not JSON); the
//! next clean cycle completes.
//!
//! The corpus (answers replaced by the simulators; a fault on a path with a `?` matches its
//! query too, so `/api/2/tenants?parent_id=` is the change feed and `/api/2/tenants?uuids=`
//! the read by ids, not the other reads of `/api/2/tenants`):
//! - Acronis tenants changed since the reconciler's cursor (`GET /tenants?parent_id=…&
//!   updated_since=…&allow_deleted=true`, a mapped tenant disabled behind the product's
//!   back): `items` missing, `null`, a string; a tenant without `id`, without `enabled`, with
//!   it `null`, a string; `deleted_at` a number; HTML page; truncated body: the cycle fails,
//!   its cursors stay, nothing is sent, and the next cycle reads the change; an empty list
//!   once (that nothing changed is an answer like any other: the cycle completes, and the
//!   change it hid is read again within the cursor's overlap, or by the daily sweep);
//! - Acronis tenants by id (`GET /tenants?uuids=`, the daily sweep): the same corrupted
//!   lists and tenants; an empty list (every swept tenant reads as gone: its
//!   company is sent, as the sweep sends it anyway, and the provisioner's own read of the
//!   tenant finds it: nothing is unmapped or disabled);
//! - ConnectWise tickets by `externalXRef` as the needs-attention service looks its ticket
//!   up (`GET /service/tickets?conditions=`), its record left open without the ticket (the
//!   answer to its POST lost): not a list; a ticket without `externalXRef`, with another
//!   key, without `closedFlag`, with it `null`, a string; its `id` a string; HTML page;
//!   truncated body; an empty list once (confirmed by a fresh read before a ticket is made);
//! - the same lookup, the company's earlier ticket closed and a new problem reported: the
//!   closed ticket without `closedFlag`, with it `null`, a string (never adopted as open,
//!   and nothing claimed before the lookup answers).
//!
//! Ticket notes are never read: `ConnectWiseClient::add_ticket_note` (a POST) is the only
//! notes call, and which note to add is decided on the table's records (an alert ticket's
//! occurrences, a needs-attention record's problems), so no note answer is decided on.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use integration_tests::seed::{contact, customer, tenant_answer};
use integration_tests::{LocalStack, answer_with, html_with, last_run, untouched};
use serde_json::{Value, json};
use shared::domain::attention::key;
use shared::domain::jobs::Job;
use shared::functions::Function;
use shared::runs::{MetricLog, Recorder};
use shared::services::{attention, provisioning::Provisioning, reconcile};
use shared::store::RunRecord;
use simulators::FaultRule;

/// The reconciler (its own role, as its Lambda runs it) and the provisioner that takes the
/// companies it sends, over two provisioned companies.
struct Cycles {
    s: LocalStack,
    reconciler: shared::bootstrap::Deps,
    provisioner: Provisioning,
    recorder: Recorder,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    /// The companies, and their tenants.
    companies: [i64; 2],
    tenants: [String; 2],
    /// When the last of them was written: a cursor 5 minutes (its overlap) and a second
    /// after it reads no ConnectWise change, only what comes after.
    seeded: DateTime<Utc>,
}

async fn cycles(companies: [i64; 2]) -> Cycles {
    let s = LocalStack::start().await.unwrap();
    for (id, name) in companies
        .iter()
        .zip(["Lucerne Publishing", "Margie's Travel"])
    {
        customer(&s, *id, name, contact(*id, &format!("it@c{id}.example")))
            .await
            .unwrap();
    }
    let provisioner = Provisioning::new(
        s.cw.clone(),
        s.acronis.clone(),
        s.store_as(Function::Provisioner).await.unwrap(),
    );
    let mut tenants = Vec::new();
    for id in companies {
        provisioner
            .sync_company(id, &mut RunRecord::start("test"))
            .await
            .unwrap();
        tenants.push(
            s.store
                .mapping_by_company(id)
                .await
                .unwrap()
                .unwrap()
                .tenant_id,
        );
    }
    let seeded = Utc::now();
    let (bus, sqs, queue) = s.bus_to_queue(Function::Provisioner).await.unwrap();
    let reconciler = integration_tests::reconciler_deps(&s, bus.name(), None).await;
    Cycles {
        recorder: Recorder::new(provisioner.store.clone(), Duration::from_secs(3600))
            .with_log(MetricLog::Off),
        provisioner,
        reconciler,
        sqs,
        queue,
        companies,
        tenants: tenants.try_into().unwrap(),
        seeded,
        s,
    }
}

impl Cycles {
    /// Sets the reconciler's cursor to `cursor` and its sweep's to `swept`, whatever they
    /// hold (a test moving time).
    /// Puts the cycle's cursors back: ConnectWise's, the sweep's, and the Acronis change
    /// feed's (the connection `default`, which reads from its own cursor).
    async fn rewind(&self, cursor: DateTime<Utc>, swept: DateTime<Utc>) {
        let feed = reconcile::feed_cursor(&Default::default());
        for (name, at) in [
            (reconcile::CURSOR, cursor),
            (reconcile::SWEEP_CURSOR, swept),
            (feed.as_str(), cursor),
        ] {
            let now: Option<DateTime<Utc>> = self.s.store.cursor(name).await.unwrap();
            self.s
                .store
                .advance_cursor(name, now.as_ref(), &at)
                .await
                .unwrap();
        }
    }

    async fn cursors(&self) -> [Option<DateTime<Utc>>; 3] {
        let store = &self.s.store;
        let feed = reconcile::feed_cursor(&Default::default());
        [
            store.cursor(reconcile::CURSOR).await.unwrap(),
            store.cursor(reconcile::SWEEP_CURSOR).await.unwrap(),
            store.cursor(&feed).await.unwrap(),
        ]
    }

    /// One cycle as the reconciler's Lambda runs it (its run recorded).
    async fn cycle(&self) -> Result<(), String> {
        let recorder = self.reconciler.recorder().with_log(MetricLog::Off);
        reconciler::handle(&self.reconciler, &recorder)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// One cycle, its report (which companies it sent and why) and its run.
    async fn clean_cycle(&self) -> (reconcile::ReconcileReport, RunRecord) {
        let d = &self.reconciler;
        let mut run = RunRecord::start("reconciler");
        let report = reconcile::reconcile(&d.cw, &d.connections, &d.store, &d.bus, &mut run, false)
            .await
            .unwrap();
        (report, run)
    }

    /// Every company sent through the provisioner: how many.
    async fn pump(&self) -> usize {
        let mut total = 0;
        loop {
            let handled = local_runner::consume_batch(
                &self.sqs,
                &local_runner::invoke::AsyncTarget::unlimited(
                    Function::Provisioner,
                    self.queue.clone(),
                ),
                0,
                |envelope| async move {
                    provisioner::handle_eventbridge(&self.provisioner, &self.recorder, &envelope)
                        .await
                },
            )
            .await
            .unwrap();
            if handled == 0 {
                return total;
            }
            total += handled;
        }
    }

    /// What a cycle (and the provisioner after it) may change: the partner's tenants
    /// (enabled, deleted, the servers' quota), the companies' mappings, disabled-tenant
    /// marks and deprovisioning clocks.
    async fn state(&self) -> Value {
        let st = self.s.acronis_sim.state();
        let tenants: Vec<Value> = self
            .tenants
            .iter()
            .map(|id| {
                let t = st["tenants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| t["id"] == id.as_str())
                    .unwrap();
                let servers = t["offering_items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|i| i["name"] == "pw_base_servers" && i["status"] == 1)
                    .map(|i| i["quota"]["value"].clone());
                json!([id, t["enabled"], t["deleted_at"].is_null(), servers])
            })
            .collect();
        let mut companies = Vec::new();
        for id in self.companies {
            let store = &self.s.store;
            companies.push(json!([
                id,
                store
                    .mapping_by_company(id)
                    .await
                    .unwrap()
                    .map(|m| m.tenant_id),
                store
                    .disabled_tenant(id)
                    .await
                    .unwrap()
                    .map(|m| m.tenant_id),
            ]));
        }
        let clocks: Vec<Value> = self
            .s
            .store
            .deprovision_clocks()
            .await
            .unwrap()
            .iter()
            .map(|c| json!([c.company_id, c.done.len(), c.pending.len()]))
            .collect();
        json!({"tenants": tenants, "companies": companies, "clocks": clocks})
    }

    /// Runs `rules` against a cycle from cursors `at`: a failure names `field`, leaves the
    /// cursors and sends nothing; `None`: the cycle completes. Either way the provisioner
    /// leaves the state as it was (`before`, which a clean cycle keeps too).
    async fn check(
        &self,
        name: &str,
        rules: Vec<FaultRule>,
        field: Option<&str>,
        at: [DateTime<Utc>; 2],
        before: &Value,
    ) {
        self.rewind(at[0], at[1]).await;
        let control = self.s.acronis_sim.control();
        for rule in rules {
            control.add_fault(rule);
        }
        let result = self.cycle().await;
        control.clear_faults();
        let run = last_run(&self.s.store, Function::Reconciler).await;
        match field {
            Some(field) => {
                result.expect_err(name);
                assert!(
                    run.failures.iter().any(|f| f.reason.contains(field)),
                    "{name}: the run names `{field}`: {:?}",
                    run.failures
                );
                assert_eq!(
                    self.cursors().await,
                    [Some(at[0]), Some(at[1]), Some(at[0])],
                    "{name}: the cursors stay"
                );
                assert_eq!(self.pump().await, 0, "{name}: nothing sent");
            }
            None => {
                result.unwrap_or_else(|e| panic!("{name}: {e}"));
                self.pump().await;
            }
        }
        assert_eq!(&self.state().await, before, "{name}: nothing written");
    }
}

fn answer(path: &str, body: Option<Value>) -> Vec<FaultRule> {
    vec![untouched("/api/2/tenants/"), answer_with(path, body, None)]
}

fn html(path: &str) -> Vec<FaultRule> {
    vec![untouched("/api/2/tenants/"), html_with(path, None)]
}

/// A corrupted list of tenants: the case, its rules, the field its failure names.
type ListCase = (&'static str, Vec<FaultRule>, Option<&'static str>);

/// The corrupted answers both reads of tenants are given at `path`: the list itself, and
/// its tenants (`tenants`: the clean answer with each tenant `change`d).
fn corrupted_lists(
    path: &str,
    tenants: impl Fn(&dyn Fn(&mut Value)) -> Option<Value>,
) -> Vec<ListCase> {
    let mut corpus = vec![
        (
            "items missing",
            answer(path, Some(json!({}))),
            Some("items"),
        ),
        (
            "items null",
            answer(path, Some(json!({"items": null}))),
            Some("items"),
        ),
        (
            "items a string",
            answer(path, Some(json!({"items": "x"}))),
            Some("items"),
        ),
    ];
    for (name, change, field) in [
        (
            "a tenant without id",
            &remove("id") as &dyn Fn(&mut Value),
            "id",
        ),
        ("a tenant without enabled", &remove("enabled"), "enabled"),
        ("enabled null", &set("enabled", Value::Null), "enabled"),
        (
            "enabled a string",
            &set("enabled", json!("false")),
            "enabled",
        ),
        (
            "deleted_at a number",
            &set("deleted_at", json!(5)),
            "deleted_at",
        ),
    ] {
        corpus.push((name, answer(path, tenants(change)), Some(field)));
    }
    corpus.push(("HTML", html(path), Some("tenants")));
    corpus.push(("truncated", answer(path, None), Some("tenants")));
    corpus
}

fn remove(field: &'static str) -> impl Fn(&mut Value) {
    move |v: &mut Value| {
        v.as_object_mut().unwrap().remove(field);
    }
}

fn set(field: &'static str, value: Value) -> impl Fn(&mut Value) {
    move |v: &mut Value| v[field] = value.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_change_feed_never_skips_the_change_or_writes() {
    let c = cycles([23, 24]).await;
    // Margie's tenant is disabled by hand, in a later second than anything before (the
    // feed is read to the second): the one change the cycle can read.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.s.acronis_sim.disable_tenant(&c.tenants[1]).unwrap();
    let at = [
        c.seeded + chrono::Duration::minutes(5) + chrono::Duration::seconds(1),
        Utc::now(),
    ];
    let before = c.state().await;
    c.rewind(at[0], at[1]).await;
    let (clean, _) = c.clean_cycle().await;
    assert_eq!(
        clean.candidates.get(&24),
        Some(&"mapped tenant disabled"),
        "{clean:?}"
    );
    c.pump().await;
    assert_eq!(c.state().await, before, "left disabled: not ours");

    let feed = "/api/2/tenants?parent_id=";
    let changed = |change: &dyn Fn(&mut Value)| {
        Some(json!({"items": [tenant_answer(&c.s.acronis_sim, &c.tenants[1], change)]}))
    };
    let mut corpus = corrupted_lists(feed, changed);
    corpus.push((
        "an empty list once",
        vec![
            untouched("/api/2/tenants/"),
            answer_with(feed, Some(json!({"items": []})), Some(1)),
        ],
        None,
    ));
    let cases = corpus.len();
    for (name, rules, field) in corpus {
        c.check(name, rules, field, at, &before).await;
        // The next clean cycle, from where the cursor is now, reads the change (after the
        // empty list, within the overlap, beside the companies seeded just before).
        let (report, run) = c.clean_cycle().await;
        let changed = run.counts.get("tenants_changed").copied().unwrap_or(0);
        let reason = report.candidates.get(&24);
        match field {
            Some(_) => {
                assert_eq!(changed, 1, "{name}: {run:?}");
                assert_eq!(
                    reason,
                    Some(&"mapped tenant disabled"),
                    "{name}: {report:?}"
                );
            }
            None => assert!(changed >= 1 && reason.is_some(), "{name}: {report:?}"),
        }
        assert!(report.cursor_advanced, "{name}");
        c.pump().await;
        assert_eq!(c.state().await, before, "{name}: after a clean cycle");
    }
    println!("malformed change feeds: {cases} cases over 1 Acronis read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_sweep_of_tenants_by_id_never_unmaps_or_writes() {
    // Two companies of the sweep's slot now; its last sweep just before the slot began: no
    // change since the cursor, and the cycle sweeps this slot (and the next, should a
    // quarter hour pass meanwhile), not the day's 96.
    let now = Utc::now();
    let into_slot = i64::from(now.num_seconds_from_midnight() % 900);
    let slot = i64::from(now.num_seconds_from_midnight()) / 900;
    let c = cycles([slot + 96, slot + 192]).await;
    let at = [
        c.seeded + chrono::Duration::minutes(5) + chrono::Duration::seconds(1),
        now - chrono::Duration::seconds(into_slot + 1),
    ];
    let before = c.state().await;
    c.rewind(at[0], at[1]).await;
    let (clean, _) = c.clean_cycle().await;
    for id in c.companies {
        assert_eq!(
            clean.candidates.get(&id),
            Some(&"daily re-derive"),
            "{clean:?}"
        );
    }
    c.pump().await;
    assert_eq!(c.state().await, before);

    let by_ids = "/api/2/tenants?uuids=";
    let all = |change: &dyn Fn(&mut Value)| {
        let items: Vec<Value> = c
            .tenants
            .iter()
            .map(|t| tenant_answer(&c.s.acronis_sim, t, change))
            .collect();
        Some(json!({"items": items}))
    };
    let mut corpus = corrupted_lists(by_ids, all);
    corpus.push((
        "an empty list",
        answer(by_ids, Some(json!({"items": []}))),
        None,
    ));
    let cases = corpus.len();
    for (name, rules, field) in corpus {
        let gone = field.is_none();
        c.check(name, rules, field, at, &before).await;
        if gone {
            // Read as gone, sent, and found by the provisioner: nothing unmapped.
            let run = last_run(&c.s.store, Function::Reconciler).await;
            assert_eq!(run.counts.get("published"), Some(&2), "{name}: {run:?}");
        }
        c.rewind(at[0], at[1]).await;
        let (report, _) = c.clean_cycle().await;
        assert_eq!(report.candidates.len(), 2, "{name}: {report:?}");
        c.pump().await;
        assert_eq!(c.state().await, before, "{name}: after a clean cycle");
    }
    println!("malformed sweeps of tenants by id: {cases} cases over 1 Acronis read");
}

/// The needs-attention service over company `company`'s record and tickets.
struct Attention<'a> {
    s: &'a LocalStack,
    company: i64,
}

const PROBLEM: &str = "the primary contact has no e-mail";

impl Attention<'_> {
    fn key(&self) -> String {
        key(Job::Provisioning, self.company)
    }

    /// Reports `problem`: the failures the run recorded.
    async fn report(&self, problem: &str) -> Vec<String> {
        let mut run = RunRecord::start("test");
        attention::report(
            &self.s.cw,
            &self.s.store,
            Job::Provisioning,
            self.company,
            Some(problem),
            &mut run,
        )
        .await;
        run.failures.into_iter().map(|f| f.reason).collect()
    }

    /// The tickets carrying the key (status, whether closed, notes) and the record.
    async fn state(&self) -> Value {
        let mut tickets = Vec::new();
        for t in integration_tests::tickets_with_xref(&self.s.cw_sim, &self.key()).await {
            let notes = integration_tests::ticket_notes(&self.s.cw_sim, &t["id"]).await;
            tickets.push(json!([
                t["id"],
                t["status"]["id"],
                t["closedFlag"],
                notes.len()
            ]));
        }
        let record = self.s.store.attention_record(&self.key()).await.unwrap();
        json!({
            "tickets": tickets,
            "record": record.map(|r| json!([r.ticket_id, r.open, r.problems])),
        })
    }

    /// The lookup's answer: the tickets carrying the key now, `change`d.
    async fn lookup_answer(&self, change: &dyn Fn(&mut Value)) -> Value {
        let mut list =
            json!(integration_tests::tickets_with_xref(&self.s.cw_sim, &self.key()).await);
        change(&mut list);
        list
    }

    /// Runs one corrupted lookup from `before`: the failure names `field` (`None`: the
    /// report completes), the state is `before` or `clean`, and the next report brings it
    /// to `clean`.
    async fn check(
        &self,
        name: &str,
        rules: Vec<FaultRule>,
        field: Option<&str>,
        before: &Value,
        clean: &Value,
    ) {
        assert_eq!(&self.state().await, before, "{name}: the state before");
        for rule in rules {
            self.s.cw_sim.control().add_fault(rule);
        }
        let failures = self.report(PROBLEM).await;
        self.s.cw_sim.control().clear_faults();
        match field {
            Some(field) => assert!(
                failures.iter().any(|f| f.contains(field)),
                "{name}: the failure names `{field}`: {failures:?}"
            ),
            None => assert!(failures.is_empty(), "{name}: {failures:?}"),
        }
        let after = self.state().await;
        assert!(
            &after == before || &after == clean,
            "{name}: a third state\nbefore: {before}\nclean:  {clean}\nafter:  {after}"
        );
        let failures = self.report(PROBLEM).await;
        assert!(
            failures.is_empty(),
            "{name}: the clean report after: {failures:?}"
        );
        assert_eq!(&self.state().await, clean, "{name}: after a clean report");
    }
}

/// How a case changes a clean answer.
type Change = Box<dyn Fn(&mut Value)>;
/// A lookup case: its name, how it changes the clean answer (`None`: not JSON), what its
/// failure names (`None`: it completes), how many answers it changes (`None`: every one).
type LookupCase = (
    &'static str,
    Option<Change>,
    Option<&'static str>,
    Option<u32>,
);

fn lookup_rules(name: &str, body: Option<Value>, times: Option<u32>) -> Vec<FaultRule> {
    let below = "/service/tickets/";
    let list = "/service/tickets";
    match body {
        None if name.contains("HTML") => vec![untouched(below), html_with(list, None)],
        body => vec![untouched(below), answer_with(list, body, times)],
    }
}

fn on_first(change: impl Fn(&mut Value) + 'static) -> Option<Change> {
    Some(Box::new(move |l: &mut Value| change(&mut l[0])))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_lookup_never_makes_a_second_needs_attention_ticket() {
    let s = LocalStack::start().await.unwrap();
    integration_tests::choose_attention_board(&s.cw_sim, &s.store, 77).await;
    let a = Attention { s: &s, company: 85 };
    s.cw_sim
        .seed(json!({"companies": [{"id": 85, "identifier": "Wingtip", "name": "Wingtip Toys"}]}))
        .unwrap();
    // The problem opened its ticket; the answer to the POST was lost: the record is open
    // without it. A clean report adopts the ticket.
    assert_eq!(a.report(PROBLEM).await, Vec::<String>::new());
    let lost = async || {
        let mut r = s.store.attention_record(&a.key()).await.unwrap().unwrap();
        r.ticket_id = None;
        s.store.put_attention_record(&r).await.unwrap();
    };
    let clean = a.state().await;
    lost().await;
    let before = a.state().await;
    assert_ne!(before, clean);

    let corpus: Vec<LookupCase> = vec![
        (
            "not a list",
            Some(Box::new(|l: &mut Value| *l = l[0].clone())),
            Some("tickets"),
            None,
        ),
        (
            "without externalXRef",
            on_first(remove("externalXRef")),
            Some("externalXRef"),
            None,
        ),
        (
            "with another key",
            on_first(set("externalXRef", json!("attn:provisioning:86"))),
            Some("externalXRef"),
            None,
        ),
        (
            "without closedFlag",
            on_first(remove("closedFlag")),
            Some("closedFlag"),
            None,
        ),
        (
            "closedFlag null",
            on_first(set("closedFlag", Value::Null)),
            Some("closedFlag"),
            None,
        ),
        (
            "closedFlag a string",
            on_first(set("closedFlag", json!("false"))),
            Some("closedFlag"),
            None,
        ),
        (
            "id a string",
            on_first(set("id", json!("x"))),
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
    for (name, change, field, times) in corpus {
        let body = match change {
            Some(change) => Some(a.lookup_answer(&*change).await),
            None => None,
        };
        a.check(
            name,
            lookup_rules(name, body, times),
            field,
            &before,
            &clean,
        )
        .await;
        lost().await;
    }
    println!("malformed needs-attention lookups: {cases} cases over 1 ConnectWise read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_lookup_never_adopts_a_closed_needs_attention_ticket() {
    let s = LocalStack::start().await.unwrap();
    integration_tests::choose_attention_board(&s.cw_sim, &s.store, 78).await;
    let corpus: Vec<LookupCase> = vec![
        (
            "closed, without closedFlag",
            on_first(remove("closedFlag")),
            Some("closedFlag"),
            None,
        ),
        (
            "closed, closedFlag null",
            on_first(set("closedFlag", Value::Null)),
            Some("closedFlag"),
            None,
        ),
        (
            "closed, closedFlag a string",
            on_first(set("closedFlag", json!("true"))),
            Some("closedFlag"),
            None,
        ),
    ];
    let cases = corpus.len();
    for (i, (name, change, field, times)) in corpus.into_iter().enumerate() {
        // A company of its own each: its first problem's ticket closed once fixed; a new
        // problem comes. A clean report opens a second ticket.
        let company = 90 + i as i64;
        s.cw_sim
            .seed(json!({"companies": [{"id": company, "identifier": format!("C{company}"), "name": format!("Company {company}")}]}))
            .unwrap();
        let a = Attention { s: &s, company };
        assert_eq!(a.report("first problem").await, Vec::<String>::new());
        let mut run = RunRecord::start("test");
        attention::report(&s.cw, &s.store, Job::Provisioning, company, None, &mut run).await;
        assert!(run.failures.is_empty(), "{:?}", run.failures);
        let before = a.state().await;
        assert_eq!(before["tickets"][0][2], true, "closed: {before}");
        let body = a.lookup_answer(&*change.unwrap()).await;
        for rule in lookup_rules(name, Some(body), times) {
            s.cw_sim.control().add_fault(rule);
        }
        let failures = a.report(PROBLEM).await;
        s.cw_sim.control().clear_faults();
        let field = field.unwrap();
        assert!(
            failures.iter().any(|f| f.contains(field)),
            "{name}: the failure names `{field}`: {failures:?}"
        );
        assert_eq!(
            a.state().await,
            before,
            "{name}: nothing written, nothing claimed"
        );
        // The next clean report opens a second ticket, the closed one left closed.
        let failures = a.report(PROBLEM).await;
        assert!(
            failures.is_empty(),
            "{name}: the clean report after: {failures:?}"
        );
        let after = a.state().await;
        let tickets = after["tickets"].as_array().unwrap();
        let open: Vec<&Value> = tickets.iter().filter(|t| t[2] == false).collect();
        assert_eq!(tickets.len(), 2, "{name}: {after}");
        assert_eq!(open.len(), 1, "{name}: {after}");
        assert_eq!(
            after["record"],
            json!([open[0][0], true, [PROBLEM]]),
            "{name}"
        );
    }
    println!(
        "malformed needs-attention lookups of a closed ticket: {cases} cases over 1 ConnectWise read"
    );
}
