//! `make bench-usage`: the usage push on the local stack (moto for the table, both
//! simulators in process at 50 ms per call). A cold run (everything new), then a steady run
//! with 1% of the usages changed. Usage: `bench_usage [companies...]` (default 1000).
//!
//! Ends with one line per scenario:
//! `usage-push scenario=<cold|steady> companies=<n> calls=<c> minimum=<m> ratio=<c/m> writes=<w> changed=<k> wall_s=<t> peak_mb=<p>`
//! where `minimum` is the calls the work needs: cold = 1 token + usage batches (n/100) +
//! agreement pages (n/1000) + one additions read per agreement + one write per item;
//! steady = usage batches + 1 change list + one write per changed item.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use integration_tests::{aws, fast_transport, fresh_store};
use secrecy::SecretString;
use serde_json::json;
use shared::acronis::AcronisClient;
use shared::connectwise::ConnectWiseClient;
use shared::secrets::{AcronisCredentials, ConnectWiseCredentials};
use shared::services::usage::{FUNCTION, UsageOptions, UsagePush};
use shared::store::{CompanyMapping, MappingOrigin, ProductMapping, RunRecord};
use simulators::acronis::INFRA_EU;

const ITEMS: [(&str, bool, i64); 5] = [
    ("pw_base_servers", false, 500),
    ("pw_base_workstations", false, 501),
    ("pw_base_vms", false, 502),
    ("pw_base_mobiles", false, 503),
    ("pw_base_storage", true, 504),
];

fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn tenant_of(company: i64) -> String {
    format!("00000000-0000-4000-8000-{company:012}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<i64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() { vec![1000] } else { sizes };
    let mut lines = Vec::new();
    for n in sizes {
        lines.extend(bench(n).await?);
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

async fn bench(n: i64) -> anyhow::Result<Vec<String>> {
    let config = aws().await?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let cw_sim = simulators::connectwise::start(loopback, Default::default()).await?;
    let acronis_sim = simulators::acronis::start(loopback, Default::default()).await?;
    let c = cw_sim.config();
    let transport = || fast_transport(4, Duration::from_secs(10));
    let cw = ConnectWiseClient::connect(
        &ConnectWiseCredentials {
            site: cw_sim.url(),
            company_id: c.company_id.clone(),
            public_key: SecretString::from(c.public_key.clone()),
            private_key: SecretString::from(c.private_key.clone()),
            client_id: c.client_id.clone(),
            codebase: None,
        },
        transport(),
    )
    .await?;
    let acronis = AcronisClient::new(
        &AcronisCredentials {
            datacenter_url: acronis_sim.url(),
            client_id: "sim-client".into(),
            client_secret: SecretString::from("sim-secret".to_owned()),
        },
        transport(),
    )?;
    let store = fresh_store(&config).await?;
    let now = Utc::now();
    for (item, storage, product) in ITEMS {
        store
            .put_product_mapping(&ProductMapping {
                offering_item: item.into(),
                infra_id: storage.then(|| INFRA_EU.into()),
                edition: Some("pck_per_workload".into()),
                product_id: Some(product),
                product_identifier: None,
                free: false,
                default_storage: false,
                application_id: None,
                measurement_unit: Some(if storage { "bytes" } else { "quantity" }.into()),
                updated_at: now,
            })
            .await?;
    }
    let catalog: Vec<_> = ITEMS
        .iter()
        .map(|(item, _, p)| json!({"id": *p, "identifier": format!("ACR{p}"), "description": item}))
        .collect();
    cw_sim.seed(json!({ "catalog": catalog }))?;
    eprintln!("seeding {n} companies");
    let mut companies = Vec::new();
    let mut agreements = Vec::new();
    let mut additions = Vec::new();
    for id in 1..=n {
        companies
            .push(json!({"id": id, "identifier": format!("C{id}"), "name": format!("Co {id}")}));
        agreements.push(
            json!({"id": id, "name": "Usage", "type": {"id": 2, "name": "Pay As You Go"},
            "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": true}),
        );
        for (k, (_, _, product)) in ITEMS.iter().enumerate() {
            additions.push(
                json!({"id": id * 10 + k as i64, "agreementId": id, "product": {"id": product},
                "quantity": 0, "billCustomer": "Billable"}),
            );
        }
    }
    cw_sim
        .seed(json!({"companies": companies, "agreements": agreements, "additions": additions}))?;
    let mappings: Vec<CompanyMapping> = (1..=n)
        .map(|id| CompanyMapping {
            company_id: id,
            tenant_id: tenant_of(id),
            company_name: None,
            tenant_name: None,
            origin: MappingOrigin::Manual,
            mapped_at: now,
        })
        .collect();
    for id in 1..=n {
        acronis_sim.seed_tenant(json!({"id": tenant_of(id), "name": format!("Co {id}")}))?;
        for (k, (item, storage, _)) in ITEMS.iter().enumerate() {
            let v = if *storage {
                (id % 50 + 1) * 1_000_000_000
            } else {
                (id + k as i64) % 7 + 1
            };
            acronis_sim.set_usage(&tenant_of(id), item, storage.then_some(INFRA_EU), v)?;
        }
    }
    for m in &mappings {
        // moto answers 500 under load now and then: try again.
        let mut tries = 0;
        while let Err(e) = store.map_company(m).await {
            tries += 1;
            if tries > 5 || matches!(e, shared::store::StoreError::CompanyAlreadyMapped { .. }) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    cw_sim.control().set_latency(50);
    acronis_sim.control().set_latency(50);
    let svc = UsagePush::new(
        cw,
        acronis,
        store,
        UsageOptions {
            shard_size: usize::MAX,
            concurrency: 16,
        },
    );

    let mut out = Vec::new();
    let items = n * ITEMS.len() as i64;
    let cold_min = 1 + (n + 99) / 100 + (n + 999) / 1000 + n + items;
    out.push(scenario("cold", n, &svc, &cw_sim, &acronis_sim, cold_min, items).await);
    // 1% of the usages change.
    let changed = (items / 100).max(1);
    for j in 0..changed {
        let id = (j * 97) % n + 1;
        let k = (j as usize) % 4; // count items
        acronis_sim.set_usage(&tenant_of(id), ITEMS[k].0, None, 1000 + j)?;
    }
    let steady_min = (n + 99) / 100 + 1 + changed;
    out.push(
        scenario(
            "steady",
            n,
            &svc,
            &cw_sim,
            &acronis_sim,
            steady_min,
            changed,
        )
        .await,
    );
    Ok(out)
}

async fn scenario(
    name: &str,
    n: i64,
    svc: &UsagePush,
    cw_sim: &simulators::connectwise::CwSim,
    acronis_sim: &simulators::acronis::AcronisSim,
    minimum: i64,
    changed: i64,
) -> String {
    cw_sim.control().clear_requests();
    acronis_sim.control().clear_requests();
    let started = Instant::now();
    let mut run = RunRecord::start(FUNCTION);
    svc.cycle(None, &mut run).await.expect("cycle");
    let wall = started.elapsed().as_secs_f64();
    if let Some(f) = run.failures.first() {
        eprintln!("{name}: first failure: {f:?}");
    }
    let mut routes: BTreeMap<String, u64> = BTreeMap::new();
    for (k, v) in cw_sim.control().counts() {
        routes.insert(format!("connectwise {k}"), v);
    }
    for (k, v) in acronis_sim.control().counts() {
        routes.insert(format!("acronis {k}"), v);
    }
    let calls: u64 = routes.values().sum();
    let writes = cw_sim
        .control()
        .counts()
        .iter()
        .filter(|(k, _)| k.starts_with("PATCH"))
        .map(|(_, v)| *v)
        .sum::<u64>();
    eprintln!(
        "{name}: failures={} counts={:?}",
        run.failures.len(),
        run.counts
    );
    for (r, c) in &routes {
        eprintln!("  {name} {r}: {c}");
    }
    format!(
        "usage-push scenario={name} companies={n} calls={calls} minimum={minimum} ratio={:.2} writes={writes} changed={changed} wall_s={wall:.1} peak_mb={:.0}",
        calls as f64 / minimum as f64,
        peak_mb()
    )
}
