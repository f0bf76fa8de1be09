//! `make bench-reconcile`: what one steady reconciler cycle costs against how many companies
//! are mapped (moto for the table, both simulators in process). Usage:
//! `bench_reconcile [mapped...]` (default 10000).
//!
//! Each size seeds that many mapped companies (agreement in force, tenant, mapping), runs a
//! first cycle (the cursors are set), then a steady cycle 15 minutes later: nothing changed
//! except one company and one tenant, and one slot of the daily sweep is due. Prints
//! `reconcile mapped=<n> calls=<api calls> candidates=<k> swept=<slot's companies> wall_ms=<t>`,
//! where `calls` counts the requests both simulators logged during the steady cycle.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::time::Instant;

use integration_tests::LocalStack;
use serde_json::json;
use shared::services::reconcile;
use shared::store::{CompanyMapping, RunRecord};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes = integration_tests::bench_sizes(10_000);
    let mut lines = Vec::new();
    for n in sizes {
        lines.push(bench(n).await?);
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

async fn bench(n: i64) -> anyhow::Result<String> {
    shared::clock::set_offset(chrono::Duration::zero());
    let s = LocalStack::start().await?;
    let bus_name = integration_tests::unique("bus");
    let eb = aws_sdk_eventbridge::Client::new(&s.config);
    local_runner::ensure_bus(&eb, &bus_name).await?;
    let bus = shared::bus::EventBus::new(eb, bus_name);

    let mut companies = Vec::new();
    let mut agreements = Vec::new();
    for id in 1..=n {
        companies
            .push(json!({"id": id, "identifier": format!("C{id}"), "name": format!("Co {id}")}));
        agreements.push(
            json!({"id": id, "name": "Backup", "type": {"id": 1, "name": "Managed Services"},
            "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": true}),
        );
    }
    s.cw_sim
        .seed(json!({"companies": companies, "agreements": agreements}))?;
    for id in 1..=n {
        s.acronis_sim.seed_tenant(
            json!({"id": integration_tests::bench_tenant(id), "name": format!("Co {id}")}),
        )?;
    }
    let mappings: Vec<CompanyMapping> = (1..=n)
        .map(|id| integration_tests::seed::mapped(id, &integration_tests::bench_tenant(id)))
        .collect();
    s.store.load_mappings_unchecked(&mappings).await?;
    // A table written by this version: nothing to file under the sweep's slots.
    s.store
        .advance_cursor(reconcile::SWEEP_INDEX_CURSOR, None, &true)
        .await?;

    let connections = shared::acronis::Connections::from(s.acronis.clone());
    let cycle = async || -> anyhow::Result<reconcile::ReconcileReport> {
        let mut run = RunRecord::start("reconciler");
        reconcile::reconcile(&s.cw, &connections, &s.store, &bus, &mut run, false).await
    };
    // An hour after the seeding, the first cycle sets the cursors (and sends every company
    // with an agreement).
    let at = |minutes: i64| {
        shared::clock::set_offset(chrono::Duration::minutes(minutes));
        simulators::clock::set_offset(chrono::Duration::minutes(minutes));
    };
    at(60);
    cycle().await?;

    // Fifteen minutes later: one company edited, one tenant disabled.
    at(75);
    s.cw_sim
        .seed(json!({"companies": [{"id": 1, "identifier": "C1", "name": "Co 1 renamed"}]}))?;
    s.acronis_sim
        .disable_tenant(&integration_tests::bench_tenant(2))?;
    s.cw_sim.control().clear_requests();
    s.acronis_sim.control().clear_requests();
    let started = Instant::now();
    let report = cycle().await?;
    let wall = started.elapsed();
    let calls = s.cw_sim.control().requests().len() + s.acronis_sim.control().requests().len();
    let swept = report
        .candidates
        .values()
        .filter(|r| **r == "daily re-derive")
        .count();
    anyhow::ensure!(
        report.candidates.get(&1) == Some(&"company changed")
            && report.candidates.get(&2) == Some(&"mapped tenant disabled"),
        "the steady cycle missed a change: {:?}",
        report.candidates.iter().take(5).collect::<Vec<_>>()
    );
    at(0);
    Ok(format!(
        "reconcile mapped={n} calls={calls} candidates={} swept={swept} wall_ms={}",
        report.candidates.len(),
        wall.as_millis()
    ))
}
