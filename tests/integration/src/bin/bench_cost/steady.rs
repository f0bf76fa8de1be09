//! A steady day at `n` companies: every company mapped, with a pay-as-you-go agreement of
//! five additions and usage in Acronis (`integration_tests::seed`). After an unmeasured
//! warm-up (the cold push, the reconciler's first cycle, a settling push) one cycle of each
//! scheduled function is measured, 15 minutes after the last, and multiplied by how often
//! the template schedules it: the usage push (and its shards) and the reconciler 96 times a
//! day, the provisioner for the companies of the daily sweep's slot 96 times, the alert
//! poller (polled `POLLS` times) 1,440 times. Each cycle, 1% of the usage items change.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use integration_tests::cost::bill::Day;
use integration_tests::cost::dynamodb::{INDEX_KEY, ITEM_OVERHEAD};
use integration_tests::cost::template::DECLARED;
use integration_tests::cost::units::item_bytes;
use integration_tests::meter::Meter;
use integration_tests::seed::{PAYG_ITEMS, payg_companies};
use integration_tests::{bench_tenant, sim_clients_with, transport_with};
use shared::services::reconcile;
use shared::services::usage::{Deadline, UsageOptions, UsagePush};
use shared::store::RunRecord;

use crate::cycles::{alert_poll, at, provisioner, reconciler, usage};
use crate::harness::Metered;

/// Alert polls measured (of the 1,440 a day).
const POLLS: i64 = 3;

pub struct Steady {
    pub day: Day,
    /// The table at steady state: what the run leaves plus `RunRetentionDays` of run records.
    pub table_gb: f64,
    /// Functions that wrote run records (each adds its embedded metrics).
    pub recording: Vec<String>,
}

pub async fn measure(n: i64, meter: &Meter, scale: u32) -> Result<Steady> {
    at(0);
    let m = Metered::start(meter, scale).await?;
    m.unthrottled();
    let s = &m.stack;
    payg_companies(&s.cw_sim, &s.acronis_sim, &m.store, n).await?;
    // A table written by this version: nothing to file under the sweep's slots.
    m.store
        .advance_cursor(reconcile::SWEEP_INDEX_CURSOR, None, &true)
        .await?;
    // The warm-up runs without the budget, the limit or latency: not measured.
    let (cw, acronis) = sim_clients_with(
        &s.cw_sim,
        &s.acronis_sim,
        transport_with(4, Duration::from_secs(10), 8),
        transport_with(4, Duration::from_secs(10), 8),
    )
    .await?;
    let warm = UsagePush::new(cw, acronis, m.store.clone(), UsageOptions::default());
    push_all(&warm).await?;
    at(60);
    reconciler(&m, &m.quiet_bus().await?).await?;
    alert_poll(&m).await?;
    push_all(&warm).await?;
    change_usages(&m, n)?;
    m.day(&BTreeMap::new());
    eprintln!("steady {n}: warmed up");

    at(75);
    m.production_like();
    let svc = UsagePush::new(
        m.cw.clone(),
        m.acronis.clone(),
        m.store.clone(),
        UsageOptions::default(),
    );
    let shards = usage(&m, &svc).await?;
    let candidates = reconciler(&m, &m.bus).await?;
    let (swept, failed) = provisioner(&m, 2).await?;
    for minute in 0..POLLS {
        at(76 + minute);
        alert_poll(&m).await?;
    }
    eprintln!(
        "steady {n}: {shards} usage shards, {candidates} reconciler candidates, {swept} provisioner runs ({failed} failed)"
    );
    let per_day: BTreeMap<&str, f64> = [
        ("usage-push", 96.0),
        ("usage-shard-worker", 96.0),
        ("reconciler", 96.0),
        ("provisioner", 96.0),
        ("alert-poller", 1440.0 / POLLS as f64),
    ]
    .into();
    let (mut day, run_record_bytes) = m.day(&per_day);
    day.secret_calls += crate::SECRET_READS_PER_FUNCTION_DAY * day.functions.len() as f64;
    let retention = f64::from(DECLARED.log_retention_days);
    let table_gb = (table_bytes(&m).await? + run_record_bytes * retention) / GB;
    let recording = day.functions.keys().cloned().collect();
    at(0);
    Ok(Steady {
        day,
        table_gb,
        recording,
    })
}

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Cycles of plan and push, one shard after another, until nothing is left.
async fn push_all(svc: &UsagePush) -> Result<()> {
    let forever = || Deadline::after(Duration::from_secs(3600));
    for _ in 0..5 {
        let mut run = RunRecord::start("setup");
        let companies = svc.plan(&mut run, forever()).await?;
        let mut left = run.counts.get("agreements_deferred").copied().unwrap_or(0);
        for shard in companies.chunks(1000) {
            let mut run = RunRecord::start("setup");
            svc.push(shard, &mut run, forever()).await?;
            left += run.counts.get("writes_deferred").copied().unwrap_or(0);
        }
        if left == 0 {
            return Ok(());
        }
    }
    anyhow::bail!("the warm-up push did not finish")
}

/// 1% of the usage items (counts, not storage) change, spread over the companies.
fn change_usages(m: &Metered, n: i64) -> Result<()> {
    let items = n * PAYG_ITEMS.len() as i64;
    for j in 0..(items / 100).max(1) {
        let id = (j * 97) % n + 1;
        let item = PAYG_ITEMS[(j as usize) % 4].0;
        m.stack
            .acronis_sim
            .set_usage(&bench_tenant(id), item, None, 1000 + j)?;
    }
    Ok(())
}

/// What the table stores: each item with DynamoDB's overhead, and its index copy.
async fn table_bytes(m: &Metered) -> Result<f64> {
    let ddb = aws_sdk_dynamodb::Client::new(&m.stack.config);
    let mut pages = ddb
        .scan()
        .table_name(m.store.table())
        .into_paginator()
        .send();
    let mut bytes = 0.0;
    while let Some(page) = pages.next().await {
        for item in page?.items() {
            let json = serde_json::to_value(
                item.iter()
                    .map(|(k, v)| (k.clone(), attribute_json(v)))
                    .collect::<serde_json::Map<_, _>>(),
            )?;
            let size = (item_bytes(json.as_object().unwrap_or(&Default::default())) + ITEM_OVERHEAD)
                as f64;
            bytes += if item.contains_key(INDEX_KEY) {
                2.0 * size
            } else {
                size
            };
        }
    }
    Ok(bytes)
}

/// An attribute value in DynamoDB's JSON form, as far as sizes go.
fn attribute_json(v: &aws_sdk_dynamodb::types::AttributeValue) -> serde_json::Value {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    use serde_json::json;
    match v {
        A::S(s) => json!({"S": s}),
        A::N(n) => json!({"N": n}),
        A::Bool(b) => json!({"BOOL": b}),
        A::Null(_) => json!({"NULL": true}),
        A::Ss(ss) => json!({"SS": ss}),
        A::Ns(ns) => json!({"NS": ns}),
        A::L(l) => json!({"L": l.iter().map(attribute_json).collect::<Vec<_>>()}),
        A::M(m) => {
            json!({"M": m.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect::<serde_json::Map<_, _>>()})
        }
        // Binaries: their length, as a string of that many bytes would count.
        A::B(b) => json!({"S": "x".repeat(b.as_ref().len())}),
        _ => json!({"NULL": true}),
    }
}
