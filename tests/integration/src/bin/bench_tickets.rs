//! `make bench-tickets`: alert-to-ticket latency and calls per alert on the local stack
//! (moto for table, bus and queue; both simulators in process), poll interval aside: each
//! batch of alerts is raised, polled at once, carried by the bus to the ticket-sync queue
//! and handled. Latency runs from the raise to the ticket-sync handler's return.
//!
//! Ends with `tickets alerts=<n> p50_ms=<a> p95_ms=<b> calls_per_alert=<c> duplicates=<d>`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::collections::HashMap;
use std::time::{Duration, Instant};

use integration_tests::{LocalStack, StackOptions, bus_to_queue};
use serde_json::{Value, json};
use shared::domain::alerts::{AlertSettings, TypeMapping};
use shared::functions::Function;
use shared::runs::{MetricLog, Recorder};
use shared::services::alerts::{self as svc, PollOptions, TicketSync};
use shared::store::RunRecord;
use simulators::acronis::RaiseAlert;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let alerts: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(120);
    let batch = 10;
    let tenants = 4;
    let LocalStack {
        config,
        cw_sim,
        acronis_sim,
        cw,
        acronis,
        store,
    } = LocalStack::start_with(StackOptions::timeouts(Duration::from_secs(10))).await?;
    let companies: Vec<Value> = (0..tenants)
        .map(|i| json!({"id": 100 + i, "identifier": format!("C{i}"), "name": format!("Customer {i}")}))
        .collect();
    cw_sim.seed(json!({
        "companies": companies,
        "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}],
        "boards": [{"id": 1, "name": "Acronis alerts",
            "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Closed", "closedStatus": true}],
            "types": [{"name": "Backup"}]}]
    }))?;
    let mut tenant_ids = Vec::new();
    for i in 0..tenants {
        let t = acronis_sim.seed_tenant(json!({"name": format!("Customer {i}")}))?;
        let id = t["id"].as_str().expect("tenant id").to_owned();
        store
            .map_company(&integration_tests::seed::mapped(100 + i as i64, &id))
            .await?;
        tenant_ids.push(id);
    }
    let mut settings = AlertSettings {
        board_id: Some(1),
        ..AlertSettings::default()
    };
    settings.types.insert(
        "BackupFailed".into(),
        TypeMapping {
            status_id: 1,
            type_id: Some(1),
            subtype_id: None,
            priority_id: None,
        },
    );
    svc::save_settings(&cw, &store, &settings).await?;
    let (bus, sqs, queue) = bus_to_queue(&config, Function::TicketSync).await?;
    let sync = TicketSync::new(cw, store.clone());
    // Start the poll window now; the setup's requests do not count.
    svc::poll(
        &acronis,
        &store,
        &bus,
        &mut RunRecord::start("bench"),
        &PollOptions::default(),
    )
    .await?;
    cw_sim.control().clear_requests();
    acronis_sim.control().clear_requests();

    let recorder = Recorder::new(store.clone(), Duration::from_secs(3600)).with_log(MetricLog::Off);
    let mut raised_at: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let mut n = 0;
    while n < alerts {
        for _ in 0..batch.min(alerts - n) {
            let id = format!("BENCH-{n:05}");
            acronis_sim
                .raise_alert(RaiseAlert {
                    id: Some(id.clone()),
                    tenant: tenant_ids[n % tenants].clone(),
                    kind: "BackupFailed".into(),
                    category: None,
                    severity: None,
                    details: json!({"resourceId": format!("res-{n}"), "resourceName": format!("srv-{n}")}),
                })
                ?;
            raised_at.insert(id, Instant::now());
            n += 1;
        }
        svc::poll(
            &acronis,
            &store,
            &bus,
            &mut RunRecord::start("bench"),
            &PollOptions::default(),
        )
        .await?;
        let mut idle = 0;
        while idle < 2 && latencies.len() < n {
            let done = std::sync::Mutex::new(Vec::new());
            let handled = local_runner::consume_batch(
                &sqs,
                &local_runner::invoke::AsyncTarget::unlimited(
                    shared::functions::Function::TicketSync,
                    queue.clone(),
                ),
                1,
                |envelope| {
                    let sync = &sync;
                    let recorder = &recorder;
                    let done = &done;
                    async move {
                        let id = envelope["detail"]["alert"]["id"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned();
                        let r = ticket_sync::handle_eventbridge(sync, recorder, &envelope).await;
                        if r.is_ok() {
                            done.lock().expect("lock").push((id, Instant::now()));
                        }
                        r
                    }
                },
            )
            .await?;
            for (id, at) in done.into_inner().expect("lock") {
                if let Some(t0) = raised_at.remove(&id) {
                    latencies.push(at.duration_since(t0).as_secs_f64() * 1000.0);
                }
            }
            idle = if handled == 0 { idle + 1 } else { 0 };
        }
    }
    let scenario = format!("tickets-{alerts}");
    integration_tests::print_calls(&scenario, "connectwise", &cw_sim.control().counts());
    integration_tests::print_calls(&scenario, "acronis", &acronis_sim.control().counts());
    let calls: u64 = cw_sim.control().counts().values().sum::<u64>()
        + acronis_sim.control().counts().values().sum::<u64>();
    let tickets: Value = reqwest::get(format!("{}/_sim/tickets", cw_sim.url()))
        .await?
        .json()
        .await?;
    let tickets: Vec<shared::connectwise::models::Ticket> = serde_json::from_value(tickets)?;
    let per_key = svc::tickets_per_key(&tickets);
    let duplicates: usize = per_key.values().map(|c| c.saturating_sub(1)).sum();
    let missing = alerts.saturating_sub(per_key.len());
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i]
    };
    eprintln!(
        "{} alerts raised in batches of {batch} over {tenants} tenants; {} tickets ({missing} missing); {calls} API calls",
        alerts,
        tickets.len()
    );
    println!(
        "tickets alerts={} p50_ms={:.0} p95_ms={:.0} calls_per_alert={:.2} duplicates={}",
        latencies.len(),
        pct(0.50),
        pct(0.95),
        calls as f64 / alerts as f64,
        duplicates
    );
    if missing > 0 || duplicates > 0 {
        anyhow::bail!("{missing} alert(s) without a ticket, {duplicates} duplicate ticket(s)");
    }
    Ok(())
}
