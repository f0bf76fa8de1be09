//! The usage push against the local stack: moto (table, bus, queue) and both simulators.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use integration_tests::seed::{SERVERS, mapped, payg_servers};
use integration_tests::{
    LocalStack, StackOptions, aws, aws_as, bench_tenant, bus_as, bus_to_queue, cw_additions,
    drain_queue, fast_transport, store_as,
};
use serde_json::{Value, json};
use shared::connectwise::ConnectWiseClient;
use shared::domain::request_budget::Rate;
use shared::functions::Function;
use shared::request_budget::{TableBudget, product_clock};
use shared::runs::{MetricLog, Recorder};
use shared::services::reconcile;
use shared::services::usage::{Deadline, FUNCTION, UsageOptions, UsagePush};
use shared::store::{ProductMapping, RunRecord, Store};
use simulators::acronis::{AcronisSim, INFRA_EU};
use simulators::connectwise::CwSim;
use simulators::{FaultKind, FaultRule};

const STORAGE_EU: i64 = 502;
const GIB: i64 = 1024 * 1024 * 1024;

struct Stack {
    cw_sim: CwSim,
    acronis_sim: AcronisSim,
    /// The usage push with the usage-push role (the planner, and the push in process).
    svc: UsagePush,
    /// The same service with the shard worker's role, and its run bookkeeping.
    shard: UsagePush,
    shard_recorder: Recorder,
    /// The operator's view of the table (seeding and checks).
    store: Store,
    acronis: shared::acronis::AcronisClient,
}

async fn stack(options: UsageOptions) -> Stack {
    let LocalStack {
        cw_sim,
        acronis_sim,
        cw,
        acronis,
        store,
        ..
    } = LocalStack::start_with(StackOptions::timeouts(Duration::from_secs(2)))
        .await
        .unwrap();
    let now = Utc::now();
    for (item, infra, product, unit) in [
        ("pw_base_servers", None, SERVERS, "quantity"),
        ("pw_base_storage", Some(INFRA_EU), STORAGE_EU, "bytes"),
    ] {
        store
            .put_product_mapping(&ProductMapping {
                connection: Default::default(),
                unknown: Default::default(),
                offering_item: item.into(),
                infra_id: infra.map(Into::into),
                edition: Some("pck_per_workload".into()),
                product_id: Some(product),
                product_identifier: None,
                free: false,
                default_storage: false,
                application_id: None,
                measurement_unit: Some(unit.into()),
                updated_at: now,
            })
            .await
            .unwrap();
    }
    cw_sim
        .seed(json!({"catalog": [
            {"id": SERVERS, "identifier": "ACR-SERVERS", "description": "Acronis servers"},
            {"id": STORAGE_EU, "identifier": "ACR-STORAGE-EU", "description": "Acronis storage EU"}
        ]}))
        .unwrap();
    let shard_store = store_as(&store, Function::UsageShardWorker).await.unwrap();
    Stack {
        svc: UsagePush::new(
            cw.clone(),
            acronis.clone(),
            store_as(&store, Function::UsagePush).await.unwrap(),
            options,
        ),
        shard: UsagePush::new(cw, acronis.clone(), shard_store.clone(), options),
        acronis,
        shard_recorder: Recorder::new(shard_store, Duration::from_secs(3600))
            .with_log(MetricLog::Off),
        store,
        cw_sim,
        acronis_sim,
    }
}

impl Stack {
    /// A mapped company with a PAYG agreement (`company*100`) holding a servers addition
    /// (`company*1000`) and a storage addition (`company*1000+1`), and its tenant.
    async fn customer(&self, company: i64) {
        self.customer_with(company, json!({"noEndingDateFlag": true}), json!({}))
            .await;
    }

    /// [`Stack::customer`] with extra agreement fields and extra servers-addition fields.
    async fn customer_with(&self, company: i64, agreement: Value, servers: Value) {
        let mut a = json!({"id": company * 100, "name": "Backup usage", "type": {"id": 2, "name": "Pay As You Go"},
                           "company": {"id": company}, "agreementStatus": "Active"});
        a.as_object_mut()
            .unwrap()
            .extend(agreement.as_object().unwrap().clone());
        let mut add = json!({"id": company * 1000, "agreementId": company * 100, "product": {"id": SERVERS}, "quantity": 0, "billCustomer": "Billable"});
        add.as_object_mut()
            .unwrap()
            .extend(servers.as_object().unwrap().clone());
        self.cw_sim
            .seed(json!({
                "companies": [{"id": company, "identifier": format!("C{company}"), "name": format!("Co {company}")}],
                "agreements": [a],
                "additions": [
                    add,
                    {"id": company * 1000 + 1, "agreementId": company * 100, "product": {"id": STORAGE_EU}, "quantity": 0, "billCustomer": "Billable"}
                ]
            }))
            .unwrap();
        let tenant = bench_tenant(company);
        self.acronis_sim
            .seed_tenant(json!({"id": tenant, "name": format!("Co {company}")}))
            .unwrap();
        self.store
            .map_company(&mapped(company, &tenant))
            .await
            .unwrap();
    }

    fn usage(&self, company: i64, servers: i64, storage_bytes: i64) {
        let t = bench_tenant(company);
        self.acronis_sim
            .set_usage(&t, "pw_base_servers", None, servers)
            .unwrap();
        self.acronis_sim
            .set_usage(&t, "pw_base_storage", Some(INFRA_EU), storage_bytes)
            .unwrap();
    }

    fn additions(&self) -> Vec<Value> {
        cw_additions(&self.cw_sim)
    }

    fn quantity(&self, addition: i64) -> Option<f64> {
        self.additions()
            .iter()
            .find(|a| a["id"] == addition)
            .and_then(|a| a["quantity"].as_f64())
    }

    fn cw_count(&self, prefix: &str) -> u64 {
        self.cw_sim
            .control()
            .counts()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| *v)
            .sum()
    }

    async fn cycle(&self) -> RunRecord {
        self.cycle_by(Deadline::none()).await
    }

    async fn cycle_by(&self, deadline: Deadline) -> RunRecord {
        let mut run = RunRecord::start(FUNCTION);
        self.svc.cycle(None, &mut run, deadline).await.unwrap();
        run
    }
}

#[tokio::test]
async fn pushes_converted_usage_then_an_unchanged_run_writes_nothing() {
    let s = stack(UsageOptions::default()).await;
    s.customer(1).await;
    s.customer(2).await;
    // Company 1 also has a prepaid agreement with servers: PAYG still shows all usage.
    s.cw_sim
        .seed(json!({
            "agreements": [{"id": 199, "name": "Servers prepaid", "type": {"id": 1, "name": "Managed Services"},
                            "company": {"id": 1}, "agreementStatus": "Active", "noEndingDateFlag": true}],
            "additions": [{"id": 1999, "agreementId": 199, "product": {"id": SERVERS}, "quantity": 2, "billCustomer": "Billable"}]
        }))
        .unwrap();
    s.usage(1, 5, 13_217_024_435); // 12.309 GiB → 12.31 (up)
    s.usage(2, 1, 2 * GIB);

    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(s.quantity(1000), Some(5.0), "PAYG shows the common usage");
    assert_eq!(s.quantity(1001), Some(12.31));
    assert_eq!(s.quantity(2000), Some(1.0));
    assert_eq!(s.quantity(2001), Some(2.0));
    assert_eq!(s.quantity(1999), Some(2.0), "prepaid addition untouched");
    assert_eq!(run.counts["writes"], 4);
    let change = run
        .changes
        .iter()
        .find(|c| c.subject.contains("addition 1001"))
        .unwrap();
    assert_eq!(change.old, Some(json!(0.0)));
    assert_eq!(change.new, json!(12.31));
    assert!(
        change.basis.as_deref().unwrap().contains("absolute_value"),
        "{change:?}"
    );
    s.store
        .put_run(&run, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        s.store.latest_runs(FUNCTION, 1).await.unwrap()[0]
            .changes
            .len(),
        4
    );

    // Unchanged usage: zero writes, no per-agreement read.
    s.cw_sim.control().clear_requests();
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert!(run.changes.is_empty());
    assert_eq!(s.cw_count("PATCH"), 0, "{:?}", s.cw_sim.control().counts());
    assert_eq!(s.cw_count("POST"), 0);
    assert_eq!(
        s.cw_count("GET /finance/agreements/{id}"),
        0,
        "{:?}",
        s.cw_sim.control().counts()
    );
    assert_eq!(s.cw_count("GET"), 1, "only the change list");

    // One usage changes: exactly one write.
    s.acronis_sim
        .set_usage(&bench_tenant(2), "pw_base_servers", None, 3)
        .unwrap();
    s.cw_sim.control().clear_requests();
    let run = s.cycle().await;
    assert_eq!(s.cw_count("PATCH"), 1);
    assert_eq!(run.changes.len(), 1);
    assert_eq!(s.quantity(2000), Some(3.0));
}

#[tokio::test]
async fn faults_are_retried_or_recorded_and_the_next_run_converges() {
    let s = stack(UsageOptions {
        shard_size: 1000,
        concurrency: 4,
    })
    .await;
    for c in 1..=6 {
        s.customer(c).await;
        s.usage(c, c, c * GIB);
    }
    let before = s.additions().len();
    // A 429 storm, 5xx and timeouts on some companies' writes.
    let ctl = s.cw_sim.control();
    ctl.add_fault(FaultRule {
        method: Some("PATCH".into()),
        path_contains: Some("/agreements/100/".into()),
        times: None,
        fault: FaultKind::Status {
            status: 429,
            retry_after: Some(0),
            body: None,
        },
    });
    ctl.add_fault(FaultRule {
        method: Some("PATCH".into()),
        path_contains: Some("/agreements/200/".into()),
        times: None,
        fault: FaultKind::Status {
            status: 503,
            retry_after: None,
            body: None,
        },
    });
    ctl.add_fault(FaultRule {
        method: Some("PATCH".into()),
        path_contains: Some("/agreements/300/".into()),
        times: None,
        fault: FaultKind::Latency { ms: 3000 },
    });
    // A single 429 on another company: retried within the run.
    ctl.add_fault(FaultRule {
        method: Some("PATCH".into()),
        path_contains: Some("/agreements/400/".into()),
        times: Some(1),
        fault: FaultKind::Status {
            status: 429,
            retry_after: Some(0),
            body: None,
        },
    });
    let run = s.cycle().await;
    for c in [1, 2, 3] {
        assert!(
            run.failures
                .iter()
                .any(|f| f.subject.contains(&format!("agreement {}", c * 100)) && f.transient),
            "company {c} recorded: {:?}",
            run.failures
        );
    }
    for c in 4..=6 {
        assert_eq!(s.quantity(c * 1000), Some(c as f64), "company {c} pushed");
        assert_eq!(s.quantity(c * 1000 + 1), Some(c as f64));
    }
    ctl.clear_faults();
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    for c in 1..=6 {
        assert_eq!(
            s.quantity(c * 1000),
            Some(c as f64),
            "company {c} converged"
        );
    }
    assert_eq!(s.additions().len(), before, "no addition created");
    assert_eq!(s.cw_count("POST"), 0);
    // And then nothing more to do.
    ctl.clear_requests();
    let run = s.cycle().await;
    assert!(run.changes.is_empty(), "{:?}", run.changes);
    assert_eq!(s.cw_count("PATCH"), 0);
}

#[tokio::test]
async fn a_deleted_addition_is_reported_not_recreated() {
    let s = stack(UsageOptions::default()).await;
    s.customer(7).await;
    s.usage(7, 2, GIB);
    s.cycle().await;
    assert_eq!(s.quantity(7000), Some(2.0));
    // Deleted in ConnectWise (the "UI" route: bumps the agreement, fires a callback).
    let resp = reqwest::Client::new()
        .delete(format!(
            "{}/_sim/agreements/700/additions/7000",
            s.cw_sim.url()
        ))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    s.usage(7, 3, 2 * GIB);
    s.cw_sim.control().clear_requests();
    let run = s.cycle().await;
    let missing: Vec<_> = run
        .failures
        .iter()
        .filter(|f| f.subject.contains("addition 7000"))
        .collect();
    assert!(!missing.is_empty(), "{:?}", run.failures);
    assert!(missing[0].reason.contains("not recreated"));
    assert!(!missing[0].transient);
    assert_eq!(s.cw_count("POST"), 0);
    assert!(s.quantity(7000).is_none());
    // The other addition of the agreement is still pushed.
    assert_eq!(s.quantity(7001), Some(2.0));
    // Still reported on later runs, still never created.
    let run = s.cycle().await;
    assert!(
        run.failures
            .iter()
            .any(|f| f.subject.contains("addition 7000"))
    );
    assert_eq!(s.cw_count("POST"), 0);

    // Put back by someone (without touching the agreement): the hourly re-read adopts it.
    s.cw_sim
        .seed(json!({"additions": [{"id": 7002, "agreementId": 700, "product": {"id": SERVERS}, "quantity": 0, "billCustomer": "Billable"}]}))
        .unwrap();
    let mut s = s;
    s.svc.clock_offset = shared::services::usage::MISSING_RECHECK;
    let run = s.cycle().await;
    assert!(
        run.failures
            .iter()
            .any(|f| f.reason.contains("adopted addition 7002")),
        "{:?}",
        run.failures
    );
    assert_eq!(s.quantity(7002), Some(3.0));
    assert!(s.store.missing_additions().await.unwrap().is_empty());
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
}

#[tokio::test]
async fn additions_stop_being_pushed_when_their_agreement_or_they_end_by_date() {
    let mut s = stack(UsageOptions::default()).await;
    let today = Utc::now().date_naive();
    let at = |d: chrono::NaiveDate| format!("{d}T00:00:00Z");
    let tomorrow = today.succ_opt().unwrap();
    // Company 8: the servers addition is cancelled tomorrow (bills through today).
    s.customer_with(
        8,
        json!({"noEndingDateFlag": true}),
        json!({"cancelledDate": at(tomorrow)}),
    )
    .await;
    // Company 9: the agreement ends today.
    s.customer_with(9, json!({"endDate": at(today)}), json!({}))
        .await;
    // Company 10: the agreement starts tomorrow.
    s.customer_with(
        10,
        json!({"startDate": at(tomorrow), "noEndingDateFlag": true}),
        json!({}),
    )
    .await;
    for c in [8, 9, 10] {
        s.usage(c, 2, GIB);
    }
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    for a in [8000, 8001, 9000, 9001] {
        assert_eq!(
            s.quantity(a),
            Some(if a % 1000 == 0 { 2.0 } else { 1.0 }),
            "{a}"
        );
    }
    assert_eq!(s.quantity(10000), Some(0.0), "not in force yet");
    let servers_8 = s.store.addition(800, SERVERS).await.unwrap().unwrap();
    assert_eq!(servers_8.in_force_until, Some(today));
    let servers_10 = s.store.addition(1000, SERVERS).await.unwrap().unwrap();
    assert_eq!(servers_10.in_force_from, Some(tomorrow));

    // The next day, nobody having edited anything.
    for c in [8, 9, 10] {
        s.usage(c, 3, 3 * GIB);
    }
    s.svc.clock_offset = chrono::Duration::days(1);
    s.cw_sim.control().clear_requests();
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(s.quantity(8000), Some(2.0), "cancelled: no longer pushed");
    assert_eq!(s.quantity(8001), Some(3.0), "its sibling still is");
    assert_eq!(s.quantity(9000), Some(2.0), "agreement ended");
    assert_eq!(s.quantity(9001), Some(1.0), "agreement ended");
    assert_eq!(s.quantity(10000), Some(3.0), "in force from today");
    assert_eq!(s.quantity(10001), Some(3.0));
    assert_eq!(s.cw_count("PATCH"), 3, "{:?}", s.cw_sim.control().counts());
    // A day on, the daily sweep re-reads the additions of each open pay-as-you-go agreement
    // (8's and 10's; 9's has ended), once: nothing else is read.
    assert_eq!(s.cw_count("GET /finance/agreements/{id}/additions"), 2);
    s.cw_sim.control().clear_requests();
    s.cycle().await;
    assert_eq!(s.cw_count("GET /finance/agreements/{id}/additions"), 0);
}

/// ConnectWise changes an addition without touching its agreement and fires nothing (the
/// simulator's "neither" setting): the daily sweep re-reads it, so usage goes to the right
/// addition within a day.
#[tokio::test]
async fn a_silent_addition_change_reaches_usage_through_the_daily_sweep() {
    let mut s = stack(UsageOptions::default()).await;
    s.customer(7).await;
    s.usage(7, 4, GIB);
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(s.quantity(7000), Some(4.0));
    s.cw_sim.set_switches(simulators::connectwise::CwSwitches {
        addition_bumps_agreement: false,
        ..Default::default()
    });
    // Someone sets the quantity by hand, silently: the product's record no longer matches.
    let resp = reqwest::Client::new()
        .patch(format!(
            "{}/_sim/agreements/700/additions/7000",
            s.cw_sim.url()
        ))
        .json(&json!({"quantity": 1.0}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    s.cycle().await;
    assert_eq!(s.quantity(7000), Some(1.0), "unseen within the day");
    s.svc.clock_offset = chrono::Duration::days(1);
    s.cycle().await;
    assert_eq!(
        s.quantity(7000),
        Some(4.0),
        "a day later the sweep re-read it"
    );
}

#[tokio::test]
async fn a_missing_addition_costs_one_failed_write_then_is_only_reported() {
    let mut s = stack(UsageOptions::default()).await;
    s.customer(7).await;
    s.customer(8).await;
    s.usage(7, 2, GIB);
    s.usage(8, 2, GIB);
    s.cycle().await;
    // The agreement of company 7 is deleted in ConnectWise: no change shows it.
    let resp = reqwest::Client::new()
        .delete(format!("{}/_sim/agreements/700", s.cw_sim.url()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    s.usage(7, 3, 2 * GIB);
    s.usage(8, 3, 2 * GIB);
    s.cw_sim.control().clear_requests();
    let run = s.cycle().await;
    let missing = |run: &RunRecord| {
        run.failures
            .iter()
            .filter(|f| f.subject.contains("agreement 700 /") && f.reason.contains("not recreated"))
            .count()
    };
    assert_eq!(missing(&run), 2, "{:?}", run.failures);
    assert_eq!(s.cw_count("PATCH"), 4, "2 refused, 2 of company 8");
    let record = s.store.addition(700, SERVERS).await.unwrap().unwrap();
    assert!(record.missing_since.is_some());

    // Later cycles report it without writing.
    s.usage(7, 4, 3 * GIB);
    s.cw_sim.control().clear_requests();
    let run = s.cycle().await;
    assert_eq!(missing(&run), 2, "{:?}", run.failures);
    assert_eq!(
        s.cw_count("PATCH /finance/agreements/{id}/additions/{child_id}"),
        0
    );
    assert_eq!(s.cw_count("GET /finance/agreements/{id}"), 0);

    // An hour on, the agreement is re-read once: gone, so it is dropped with one line.
    s.svc.clock_offset = shared::services::usage::MISSING_RECHECK;
    s.cw_sim.control().clear_requests();
    let run = s.cycle().await;
    // The agreement itself (exactly this route: the hour also moves the daily sweep, which
    // may reach company 7's or 8's slot and read their additions, depending on the time of
    // day the test runs).
    let agreement_reads = |s: &Stack| {
        s.cw_sim
            .control()
            .counts()
            .get("GET /finance/agreements/{id}")
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(agreement_reads(&s), 1, "{:?}", s.cw_sim.control().counts());
    assert!(
        run.failures
            .iter()
            .any(|f| f.subject == "agreement 700" && f.reason.contains("gone")),
        "{:?}",
        run.failures
    );
    s.cw_sim.control().clear_requests();
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(agreement_reads(&s), 0);
    assert_eq!(s.cw_count("PATCH"), 0);
    assert_eq!(s.cw_count("POST"), 0);
}

#[tokio::test]
async fn a_cycle_out_of_time_leaves_its_reads_and_writes_to_the_next() {
    use shared::services::usage::MIN_PROGRESS;
    let s = stack(UsageOptions::default()).await;
    let n = MIN_PROGRESS as i64 + 3;
    for c in 1..=n {
        s.customer(c).await;
        s.usage(c, c, GIB);
    }
    // No time left: the companies are discovered, only the first MIN_PROGRESS agreements
    // are read, and only MIN_PROGRESS quantities written.
    let run = s.cycle_by(Deadline::after(Duration::ZERO)).await;
    assert_eq!(run.counts["agreements_deferred"], 3, "{:?}", run.counts);
    assert_eq!(
        s.cw_count("GET /finance/agreements/{id}/additions"),
        MIN_PROGRESS as u64
    );
    assert_eq!(s.cw_count("PATCH"), MIN_PROGRESS as u64);
    assert_eq!(run.counts["writes_deferred"], MIN_PROGRESS as u64);
    // Never read, so nothing is recorded for them: the next plan does not look them up.
    let state: shared::services::usage::PushState =
        s.store.cursor("usage-push").await.unwrap().unwrap();
    assert_eq!(state.pending_reads.len(), 3);
    assert_eq!(state.pending_fresh, state.pending_reads);
    // The next cycle reads exactly the rest (one list call by id) and writes the rest.
    s.cw_sim.control().clear_requests();
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert!(!run.counts.contains_key("agreements_deferred"));
    assert_eq!(s.cw_count("GET /finance/agreements/{id}/additions"), 3);
    let state: shared::services::usage::PushState =
        s.store.cursor("usage-push").await.unwrap().unwrap();
    assert!(state.pending_reads.is_empty() && state.pending_fresh.is_empty());
    assert_eq!(s.cw_count("PATCH"), MIN_PROGRESS as u64 + 6);
    for c in 1..=n {
        assert_eq!(s.quantity(c * 1000), Some(c as f64));
        assert_eq!(s.quantity(c * 1000 + 1), Some(1.0));
    }
    // Usage changes, and the writes run out of time: nothing lost.
    for c in 1..=n {
        s.usage(c, c + 100, GIB);
    }
    s.cw_sim.control().clear_requests();
    let run = s.cycle_by(Deadline::after(Duration::ZERO)).await;
    assert_eq!(run.counts["writes_deferred"], 3, "{:?}", run.counts);
    assert_eq!(s.cw_count("PATCH"), MIN_PROGRESS as u64);
    let run = s.cycle().await;
    assert_eq!(run.counts["writes"], 3, "{:?}", run.counts);
    for c in 1..=n {
        assert_eq!(s.quantity(c * 1000), Some((c + 100) as f64));
    }
}

#[tokio::test]
async fn a_failed_shard_is_handed_back_and_its_redelivery_writes_once() {
    let s = stack(UsageOptions {
        shard_size: 2,
        concurrency: 4,
    })
    .await;
    for c in 1..=3 {
        s.customer(c).await;
        s.usage(c, c, GIB);
    }
    let config = aws().await.unwrap();
    let (bus, sqs, queue) = bus_to_queue(&config, Function::UsageShardWorker)
        .await
        .unwrap();
    let bus = bus_as(&bus, Function::UsagePush).await.unwrap();
    let mut run = RunRecord::start(FUNCTION);
    assert_eq!(
        s.svc
            .cycle(Some(&bus), &mut run, Deadline::none())
            .await
            .unwrap()
            .shards_published,
        2
    );
    let messages = drain_queue(&sqs, &queue, 2, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    let first = messages
        .iter()
        .find(|m| m["detail"]["companies"].as_array().map(Vec::len) == Some(2))
        .unwrap();

    // The store is unreachable: the whole shard fails and is handed back to Lambda.
    let shard_config = aws_as(Function::UsageShardWorker).await.unwrap();
    let broken = UsagePush {
        store: Store::new(
            aws_sdk_dynamodb::Client::new(&shard_config),
            "no-such-table",
        ),
        ..s.shard.clone()
    };
    let err = usage_shard_worker::handle_eventbridge(
        &broken,
        &usage_shard_worker::NextCycle,
        &s.shard_recorder,
        first,
        Deadline::none(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("no-such-table") || err.to_string().contains("DynamoDB"),
        "{err}"
    );
    assert_eq!(s.cw_count("PATCH"), 0);

    // Redelivered (Lambda's retry), then delivered once more (at-least-once): one write each.
    let reply = usage_shard_worker::handle_eventbridge(
        &s.shard,
        &usage_shard_worker::NextCycle,
        &s.shard_recorder,
        first,
        Deadline::none(),
    )
    .await
    .unwrap();
    assert_eq!(reply["outcome"], "pushed", "{reply}");
    let writes = s.cw_count("PATCH");
    assert_eq!(writes, 4, "two companies, two additions each");
    let reply = usage_shard_worker::handle_eventbridge(
        &s.shard,
        &usage_shard_worker::NextCycle,
        &s.shard_recorder,
        first,
        Deadline::none(),
    )
    .await
    .unwrap();
    assert_eq!(reply["writes"], 0, "{reply}");
    assert_eq!(s.cw_count("PATCH"), writes);
    assert_eq!(s.cw_count("POST"), 0);
}

#[tokio::test]
async fn large_partners_fan_out_into_shards_over_the_bus() {
    let s = stack(UsageOptions {
        shard_size: 2,
        concurrency: 4,
    })
    .await;
    for c in 1..=5 {
        s.customer(c).await;
        s.usage(c, c, GIB);
    }
    let config = aws().await.unwrap();
    let (bus, sqs, queue) = bus_to_queue(&config, Function::UsageShardWorker)
        .await
        .unwrap();
    let bus = bus_as(&bus, Function::UsagePush).await.unwrap();
    let mut run = RunRecord::start(FUNCTION);
    let report = s
        .svc
        .cycle(Some(&bus), &mut run, Deadline::none())
        .await
        .unwrap();
    assert_eq!(report.shards_published, 3);
    assert_eq!(s.cw_count("PATCH"), 0, "the planner only reads");
    let messages = drain_queue(&sqs, &queue, 3, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(messages.len(), 3);
    for m in &messages {
        let reply = usage_shard_worker::handle_eventbridge(
            &s.shard,
            &usage_shard_worker::NextCycle,
            &s.shard_recorder,
            m,
            Deadline::none(),
        )
        .await
        .unwrap();
        assert_eq!(reply["outcome"], "pushed", "{reply}");
    }
    for c in 1..=5 {
        assert_eq!(s.quantity(c * 1000), Some(c as f64));
    }
    assert_eq!(s.cw_count("PATCH"), 10);
    let runs = s
        .svc
        .store
        .latest_runs(shared::services::usage::SHARD_FUNCTION, 5)
        .await
        .unwrap();
    assert_eq!(runs.len(), 3);
}

/// Enough companies that the template's shards (1,000 companies, about 70 KB each) add up
/// past one `PutEvents` request's limit (256 KB, enforced by the local moto as by AWS): the
/// bus packs its requests by bytes, so every shard is published and every addition written.
#[tokio::test]
async fn a_fan_out_larger_than_one_put_events_request_reaches_every_addition() {
    const COMPANIES: i64 = 3_800;
    let options = UsageOptions {
        shard_size: 1_000,
        concurrency: 16,
    };
    let mut s = stack(options).await;
    // ConnectWise's limit and the deployment's budget as deployed, on a minute of 3 s: the
    // push's 7,600 calls take 25 s instead of 8 minutes, and none may be refused.
    const MINUTE_MS: u64 = 3_000;
    s.cw_sim.set_switches(simulators::connectwise::CwSwitches {
        rate_limit_per_minute: Some(1000),
        rate_limit_minute_ms: MINUTE_MS,
        ..Default::default()
    });
    let rate = Rate::per_scaled_minute(900, MINUTE_MS as i64 * 1000).unwrap();
    let budgeted = |function: Function| {
        let (cw_sim, store) = (&s.cw_sim, &s.store);
        async move {
            let transport =
                fast_transport(4, Duration::from_secs(10)).with_budget(Arc::new(TableBudget::new(
                    store_as(store, function).await.unwrap(),
                    rate,
                    function.budget_priority(),
                    product_clock(),
                )));
            ConnectWiseClient::connect(&integration_tests::cw_credentials(cw_sim), transport)
                .await
                .unwrap()
        }
    };
    let (push_cw, shard_cw) = (
        budgeted(Function::UsagePush).await,
        budgeted(Function::UsageShardWorker).await,
    );
    s.svc = UsagePush::new(
        push_cw,
        s.acronis.clone(),
        store_as(&s.store, Function::UsagePush).await.unwrap(),
        options,
    );
    s.shard = UsagePush::new(
        shard_cw,
        s.acronis.clone(),
        store_as(&s.store, Function::UsageShardWorker)
            .await
            .unwrap(),
        options,
    );
    payg_servers(&s.cw_sim, &s.acronis_sim, &s.store, COMPANIES, |c| {
        c % 9 + 1
    })
    .await
    .unwrap();

    let config = aws().await.unwrap();
    let (bus, sqs, queue) = bus_to_queue(&config, Function::UsageShardWorker)
        .await
        .unwrap();
    let bus = bus_as(&bus, Function::UsagePush).await.unwrap();
    let mut run = RunRecord::start(FUNCTION);
    let report = s
        .svc
        .cycle(Some(&bus), &mut run, Deadline::none())
        .await
        .unwrap();
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(report.companies, COMPANIES as usize);
    assert_eq!(report.shards_published, 4);
    let messages = drain_queue(&sqs, &queue, 4, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(messages.len(), 4);
    for m in &messages {
        let reply = usage_shard_worker::handle_eventbridge(
            &s.shard,
            &usage_shard_worker::NextCycle,
            &s.shard_recorder,
            m,
            Deadline::none(),
        )
        .await
        .unwrap();
        assert_eq!(reply["outcome"], "pushed", "{reply}");
    }
    let quantities: std::collections::HashMap<i64, f64> = s
        .additions()
        .iter()
        .filter_map(|a| Some((a["id"].as_i64()?, a["quantity"].as_f64()?)))
        .collect();
    for c in 1..=COMPANIES {
        assert_eq!(
            quantities.get(&(c * 1000)),
            Some(&((c % 9 + 1) as f64)),
            "company {c}"
        );
    }
    assert_eq!(
        s.cw_count("PATCH"),
        COMPANIES as u64,
        "one write per addition"
    );
    let (peak, throttled) = s.cw_sim.rate();
    assert_eq!(throttled, 0, "requests refused (peak {peak} in a minute)");
    assert!(peak <= 1000, "{peak} requests in a minute");
}

/// The scheduled handler as Lambda calls it, with its metric lines captured.
async fn handle_logged(s: &Stack) -> (Result<Value, shared::runs::RunError>, Vec<Value>) {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorder = Recorder::new(s.svc.store.clone(), Duration::from_secs(3600))
        .with_log(MetricLog::Buffer(log.clone()));
    let reply = usage_push::handle(&s.svc, None, &recorder, Deadline::none()).await;
    let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (reply, lines)
}

#[tokio::test]
async fn a_failed_cycle_fails_the_handler_after_its_run_record_says_why() {
    let s = stack(UsageOptions::default()).await;
    s.customer(1).await;
    // Settings the cycle cannot read (written behind the product's back).
    {
        use aws_sdk_dynamodb::types::AttributeValue::{N, S};
        aws_sdk_dynamodb::Client::new(&integration_tests::aws().await.unwrap())
            .put_item()
            .table_name(s.store.table())
            .item("pk", S(shared::store::keys::SETTINGS.into()))
            .item("sk", S(shared::domain::settings::BILLING.into()))
            .item("payg_agreement_types", N("5".into()))
            .send()
            .await
            .unwrap();
    }
    let (reply, _) = handle_logged(&s).await;
    let err = reply.unwrap_err();
    let run = &s.store.latest_runs(FUNCTION, 1).await.unwrap()[0];
    assert!(run.finished_at.is_some());
    assert_eq!(run.failures.len(), 1, "{:?}", run.failures);
    assert_eq!(run.failures[0].reason, err.to_string());
    assert!(err.to_string().contains("billing"), "{err}");
}

#[tokio::test]
async fn a_run_with_a_failed_item_logs_the_metric_the_template_alarms_on() {
    let s = stack(UsageOptions::default()).await;
    s.customer(1).await;
    s.usage(1, 2, GIB);
    s.cycle().await;
    // The addition is deleted in ConnectWise: the next run fails that item, and only it.
    let resp = reqwest::Client::new()
        .delete(format!(
            "{}/_sim/agreements/100/additions/1000",
            s.cw_sim.url()
        ))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    s.usage(1, 3, GIB);
    let (reply, lines) = handle_logged(&s).await;
    let reply = reply.unwrap();
    assert_eq!(reply["failures"], 1, "{reply}");

    let expanded = integration_tests::expanded_template().unwrap();
    let alarm = &expanded["Resources"]["FailedItemsAlarm"]["Properties"];
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 1, "{lines:?}");
    let record = emf[0];
    let directive = &record["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], alarm["Namespace"]);
    let metric = alarm["MetricName"].as_str().unwrap();
    assert_eq!(directive["Metrics"][0]["Name"], metric);
    assert_eq!(record[metric], 1);
    // The alarm's dimensions are one of the record's dimension sets.
    let alarm_dims: Vec<Value> = alarm["Dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Name"].clone())
        .collect();
    assert!(
        directive["Dimensions"]
            .as_array()
            .unwrap()
            .contains(&Value::from(alarm_dims)),
        "{directive}"
    );
    assert_eq!(record["Function"], FUNCTION);
}

/// Under every setting of the Acronis simulator's `id_list_page_size` (the undocumented page
/// size of `GET /tenants/usages?tenants=`), every company's usage is pushed.
#[tokio::test]
async fn every_usage_is_pushed_whatever_the_page_size_of_usage_reads() {
    for page_size in [None, Some(2)] {
        let s = stack(UsageOptions::default()).await;
        s.acronis_sim.set_switches(simulators::acronis::Switches {
            id_list_page_size: page_size,
            ..Default::default()
        });
        for c in 1..=5 {
            s.customer(c).await;
            s.usage(c, c, GIB);
        }
        let run = s.cycle().await;
        assert!(run.failures.is_empty(), "{page_size:?}: {:?}", run.failures);
        for c in 1..=5 {
            assert_eq!(
                s.quantity(c * 1000),
                Some(c as f64),
                "{page_size:?}, company {c}"
            );
        }
    }
}

/// The prepaid overage notice: a prepaid company (hard quota 2) whose tenant uses 3 servers.
/// Off, nothing; on, the company's needs-attention ticket gets the notice once, and the
/// next cycles (the same overage) add nothing. The prepaid addition is never written.
#[tokio::test]
async fn usage_above_a_prepaid_quantity_gives_one_notice_and_a_repeat_none() {
    use shared::domain::attention::AttentionSettings;
    let s = stack(UsageOptions::default()).await;
    s.cw_sim
        .seed(json!({
            "boards": [{"id": 77, "name": "Integration problems",
                "statuses": [{"id": 771, "name": "New", "defaultFlag": true},
                             {"id": 772, "name": "Closed", "closedStatus": true}]}],
            "companies": [{"id": 61, "identifier": "C61", "name": "Co 61"}],
            "agreements": [{"id": 6100, "name": "Backup", "type": {"id": 1, "name": "Managed Services"},
                            "company": {"id": 61}, "agreementStatus": "Active", "noEndingDateFlag": true}],
            "additions": [{"id": 61000, "agreementId": 6100, "product": {"id": SERVERS}, "quantity": 2, "billCustomer": "Billable"}]
        }))
        .unwrap();
    s.acronis_sim
        .seed_tenant(json!({"id": bench_tenant(61), "name": "Co 61", "offering_items": [
            {"name": "pw_base_servers", "status": 1, "quota": {"value": 2, "overage": 0, "version": 0}}
        ]}))
        .unwrap();
    s.store
        .map_company(&mapped(61, &bench_tenant(61)))
        .await
        .unwrap();
    s.acronis_sim
        .set_usage(&bench_tenant(61), "pw_base_servers", None, 3)
        .unwrap();
    let ui = reqwest::Client::new();
    let get = async |path: String| -> Vec<Value> {
        let v: Value = ui
            .get(format!("{}{path}", s.cw_sim.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().unwrap().clone()
    };
    let notices = async || -> Vec<Value> {
        let tickets: Vec<Value> = get("/_sim/tickets".into())
            .await
            .into_iter()
            .filter(|t| t["externalXRef"] == "attn:usage_push:61")
            .collect();
        let mut notes = Vec::new();
        for t in &tickets {
            notes.extend(get(format!("/_sim/tickets/{}/notes", t["id"])).await);
        }
        assert!(tickets.len() <= 1, "one ticket per company: {tickets:?}");
        notes
    };

    let mut settings = AttentionSettings {
        board_id: Some(77),
        closing_status_id: Some(772),
        ..AttentionSettings::default()
    };
    s.store.save_section(&settings).await.unwrap();
    s.cycle().await;
    assert!(notices().await.is_empty(), "the notice is off by default");

    settings.prepaid_overage_notice = true;
    s.store.save_section(&settings).await.unwrap();
    let run = s.cycle().await;
    assert_eq!(
        run.counts.get("prepaid_overages"),
        Some(&1),
        "{:?}",
        run.counts
    );
    let notes = notices().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let text = notes[0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("pw_base_servers uses 3 where the agreement prepays 2"),
        "{text}"
    );
    for _ in 0..2 {
        s.cycle().await;
    }
    assert_eq!(notices().await.len(), 1, "a repeat adds nothing");
    assert_eq!(
        s.quantity(61000),
        Some(2.0),
        "a prepaid addition is not written"
    );
}

/// With a needs-attention board chosen, an addition deleted in ConnectWise opens one ticket
/// for its company (later cycles add nothing); once an addition is put back, the re-read
/// closes it.
#[tokio::test]
async fn a_deleted_addition_opens_one_needs_attention_ticket_closed_once_it_is_back() {
    let mut s = stack(UsageOptions::default()).await;
    integration_tests::choose_attention_board(&s.cw_sim, &s.store, 77).await;
    s.customer(9).await;
    s.usage(9, 2, GIB);
    s.cycle().await;
    let resp = reqwest::Client::new()
        .delete(format!(
            "{}/_sim/agreements/900/additions/9000",
            s.cw_sim.url()
        ))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let tickets = async || -> Vec<Value> {
        let v: Value = reqwest::get(format!("{}/_sim/tickets", s.cw_sim.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|t| t["externalXRef"] == "attn:usage_push:9")
            .cloned()
            .collect()
    };
    s.usage(9, 3, 2 * GIB);
    for _ in 0..3 {
        s.cycle().await;
    }
    let open = tickets().await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["closedFlag"], false);

    s.cw_sim
        .seed(json!({"additions": [{"id": 9002, "agreementId": 900, "product": {"id": SERVERS}, "quantity": 0, "billCustomer": "Billable"}]}))
        .unwrap();
    s.svc.clock_offset = shared::services::usage::MISSING_RECHECK;
    s.cycle().await;
    let closed = tickets().await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["status"]["id"], 772, "{closed:?}");
}

/// A usage Acronis reports below zero is refused naming the field: never written into the
/// addition (a negative quantity is a credit on the customer's invoice); the next clean
/// answer is pushed.
#[tokio::test]
async fn a_negative_usage_is_refused_naming_the_field_and_never_written() {
    let s = stack(UsageOptions::default()).await;
    s.customer(1).await;
    s.usage(1, 5, 2 * GIB);
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(s.quantity(1000), Some(5.0));

    s.usage(1, -2, 2 * GIB);
    let run = s.cycle().await;
    assert_eq!(s.quantity(1000), Some(5.0), "not written");
    assert_eq!(
        s.quantity(1001),
        Some(2.0),
        "the company's other writes wait too"
    );
    assert_eq!(run.counts["malformed_answers"], 1, "{:?}", run.counts);
    assert!(
        run.failures
            .iter()
            .any(|f| f.transient && f.reason.contains("`value`") && f.reason.contains("negative")),
        "{:?}",
        run.failures
    );

    s.usage(1, 3, 2 * GIB);
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(s.quantity(1000), Some(3.0));
}

/// Corrupted usage answers from Acronis (the corpus of `malformed.rs`, for the usage push):
/// for each, the company's additions keep the quantities they had (never a third value),
/// the run records the company's failure naming what was wrong, and the next clean cycle
/// writes the new usage.
#[tokio::test]
async fn a_corrupted_usage_answer_writes_nothing_and_names_what_was_wrong() {
    let s = stack(UsageOptions::default()).await;
    s.customer(1).await;
    s.usage(1, 5, 2 * GIB);
    let run = s.cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    let tenant = bench_tenant(1);
    let usages = |usages: Value| Some(json!({"items": [{"tenant": tenant, "usages": usages}]}));
    let servers = |value: Value| {
        let mut u = json!({"name": "pw_base_servers", "type": "count", "edition": "pck_per_workload",
                           "measurement_unit": "quantity", "offering_item": {"status": 1, "quota": null}});
        if !value.is_null() {
            u["value"] = value;
        }
        u
    };
    let corpus: Vec<(&str, Option<Value>, &str)> = vec![
        (
            "value missing",
            usages(json!([servers(Value::Null)])),
            "value",
        ),
        (
            "value a string",
            usages(json!([servers(json!("4"))])),
            "value",
        ),
        (
            "value below zero",
            usages(json!([servers(json!(-1))])),
            "negative",
        ),
        (
            "offering item without status",
            usages(
                json!([{"name": "pw_base_servers", "value": 4, "offering_item": {"quota": null}}]),
            ),
            "status",
        ),
        ("the tenant left out", Some(json!({"items": []})), "usage"),
        ("not JSON", None, ""),
    ];
    let cases = corpus.len();
    for (round, (name, body, named)) in corpus.into_iter().enumerate() {
        // What a clean cycle would write now: a new usage each round.
        let servers_now = 6 + round as i64;
        s.usage(1, servers_now, 2 * GIB);
        let before = (s.quantity(1000), s.quantity(1001));
        s.acronis_sim
            .control()
            .add_fault(integration_tests::answer_with(
                "/tenants/usages",
                body,
                None,
            ));
        let run = s.cycle().await;
        s.acronis_sim.control().clear_faults();
        assert_eq!(
            (s.quantity(1000), s.quantity(1001)),
            before,
            "{name}: nothing written"
        );
        assert!(
            run.failures.iter().any(|f| f.reason.contains(named)),
            "{name}: a failure naming `{named}`: {:?}",
            run.failures
        );
        let run = s.cycle().await;
        assert!(run.failures.is_empty(), "{name}: after: {:?}", run.failures);
        assert_eq!(
            s.quantity(1000),
            Some(servers_now as f64),
            "{name}: the next clean cycle writes"
        );
    }
    println!("corrupted usage answers: {cases} cases over the usage read");
}

/// Our own PATCH bumps the agreement's `lastUpdated`: the reconciler (with its role, the
/// `_info` projection, the records) tells that from a person's edit after it
/// (`domain::reconcile::changed_by_others` decides, tested there).
#[tokio::test]
async fn the_reconciler_leaves_out_agreements_only_our_usage_writes_changed() {
    let s = stack(UsageOptions::default()).await;
    s.customer(1).await;
    s.customer(2).await;
    let reconciler = store_as(&s.store, Function::Reconciler).await.unwrap();
    let bus = shared::bus::EventBus::new(
        aws_sdk_eventbridge::Client::new(&aws_as(Function::Reconciler).await.unwrap()),
        "unused",
    );
    // A reconciler that has run before (its cursor) and swept today.
    let since = Utc::now() - chrono::Duration::minutes(1);
    let store = &s.store;
    store
        .advance_cursor(reconcile::CURSOR, None, &since)
        .await
        .unwrap();
    store
        .advance_cursor(reconcile::SWEEP_CURSOR, None, &Utc::now())
        .await
        .unwrap();
    s.usage(1, 5, GIB);
    s.usage(2, 1, GIB);
    let run = s.cycle().await;
    assert_eq!(run.counts["writes"], 4, "{:?}", run.failures);

    // Past SELF_TOUCH, a person renames company 2's agreement.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let edited = reqwest::Client::new()
        .patch(format!("{}/_sim/agreements/200", s.cw_sim.url()))
        .json(&json!({"name": "Backup usage (renamed)"}))
        .send()
        .await
        .unwrap();
    assert!(edited.status().is_success());

    let mut run = RunRecord::start("reconciler");
    let found = reconcile::reconcile(
        &s.svc.cw,
        &s.acronis.clone().into(),
        &reconciler,
        &bus,
        &mut run,
        true,
    )
    .await
    .unwrap();
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    // Both agreements were listed as changed; only company 1's was ours alone. (Both
    // companies are candidates anyway here: they were created within the cursor's overlap.)
    assert_eq!(run.counts["agreements_changed_by_usage_push"], 1, "{run:?}");
    assert!(found.candidates.contains_key(&2));
}
