//! `make bench-usage`: the usage push on the local stack (moto for the table, both
//! simulators in process at 50 ms per call). A cold run (everything new), then a steady run
//! with 1% of the usages changed. Usage: `bench_usage [companies...]` (default 1000).
//!
//! It runs what the deployed stack runs, with the template's defaults: one planner (the
//! usage-push Lambda, 2 ConnectWise requests in flight, reads stopped 60 s before its 300 s
//! limit) hands out shards of 1,000 companies to 2 shard workers working at once (the
//! consumers' reserved concurrency), each with its own clients (2 ConnectWise and 8 Acronis
//! requests in flight) and a 270 s write budget. Work left over by a deadline is done by
//! the next cycle, so a scenario runs cycles until nothing is left. Override with
//! `BENCH_WORKERS`, `BENCH_CW_CONCURRENCY`, `BENCH_SHARD_SIZE`.
//!
//! ConnectWise's rate limit is on (1,000 a minute per API member) and every instance takes
//! from the deployment's request budget (900 a minute, through the table, as deployed). A
//! cold push at 10,000 companies needs about an hour at that rate, so the bench scales
//! time by `BENCH_SCALE` (default 10): the limit's minute, the budget's minute, the
//! simulators' latency and the functions' time limits are all divided by it, and times are
//! printed scaled back to production seconds.
//!
//! Ends with one line per scenario:
//! `usage-push scenario=<cold|steady> companies=<n> calls=<c> minimum=<m> ratio=<c/m> writes=<w> changed=<k> wall_s=<t> peak_mb=<p> scale=<f> cw_calls=<n> cw_rpm_peak=<r> throttled=<t> floor_s=<s> production_s=<s>`
//! where `cw_rpm_peak` is the most ConnectWise requests in any sliding (scaled) minute,
//! `throttled` the 429s received, `floor_s` the ConnectWise calls made divided by the
//! budget (the physical limit, in production seconds) and `production_s` the wall time
//! scaled back.
//! The steady run is measured two cycles after the cold one (after the change cursor's lag),
//! as cycles 15 minutes apart would be.
//! `minimum` is the calls the work needs: cold = 1 token per worker + usage batches
//! (n/100) + agreement pages (n/1000) + one additions read per agreement + one write per
//! item; steady = usage batches + 1 change list + one write per changed item. `peak_mb` is
//! the whole process (simulators and every worker included), an upper bound for one Lambda.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use integration_tests::{LocalStack, sim_clients_with, transport_with};
use shared::domain::request_budget::Rate;
use shared::functions::Function;
use shared::request_budget::{TableBudget, product_clock};
use shared::services::usage::{Deadline, FUNCTION, UsageOptions, UsagePush};
use shared::store::{RunRecord, Store};
use simulators::acronis::AcronisSim;
use simulators::connectwise::CwSim;

const ITEMS: [(&str, bool, i64); 5] = integration_tests::seed::PAYG_ITEMS;

/// ConnectWise's limit and the deployment's budget (template defaults), a minute each.
const CW_LIMIT: u32 = 1000;
const CW_BUDGET: u32 = 900;

/// The deployed shape (template defaults), overridable from the environment.
#[derive(Debug, Clone, Copy)]
struct Topology {
    /// Time runs this many times faster than in production.
    scale: u32,
    /// Whether the instances take from the request budget (`BENCH_BUDGET=0`: not, to
    /// compare).
    budget: bool,
    workers: usize,
    cw_concurrency: usize,
    acronis_concurrency: usize,
    shard_size: usize,
    plan_budget: Duration,
    shard_budget: Duration,
}

impl Topology {
    fn from_env() -> Self {
        let n = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let scale = n("BENCH_SCALE", 10).max(1);
        Self {
            scale: scale as u32,
            budget: n("BENCH_BUDGET", 1) != 0,
            workers: n("BENCH_WORKERS", 2),
            cw_concurrency: n("BENCH_CW_CONCURRENCY", 2),
            acronis_concurrency: 8,
            shard_size: n("BENCH_SHARD_SIZE", 1000),
            plan_budget: Duration::from_secs(n("BENCH_PLAN_BUDGET_S", 240) as u64) / scale as u32,
            shard_budget: Duration::from_secs(n("BENCH_SHARD_BUDGET_S", 270) as u64) / scale as u32,
        }
    }
}

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes = integration_tests::bench_sizes(1000);
    let topology = Topology::from_env();
    eprintln!("{topology:?}");
    let mut lines = Vec::new();
    for n in sizes {
        lines.extend(bench(n, topology).await?);
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// One Lambda instance: its own clients (own token, own in-flight caps).
async fn instance(
    cw_sim: &CwSim,
    acronis_sim: &AcronisSim,
    store: &Store,
    t: Topology,
) -> anyhow::Result<UsagePush> {
    let rate = Rate::per_scaled_minute(CW_BUDGET, 60_000_000 / i64::from(t.scale)).unwrap();
    let budget = TableBudget::new(
        store.clone(),
        rate,
        Function::UsagePush.budget_priority(),
        product_clock(),
    );
    let mut cw_transport = transport_with(4, Duration::from_secs(10), t.cw_concurrency);
    if t.budget {
        cw_transport = cw_transport.with_budget(std::sync::Arc::new(budget));
    }
    let (cw, acronis) = sim_clients_with(
        cw_sim,
        acronis_sim,
        cw_transport,
        transport_with(4, Duration::from_secs(10), t.acronis_concurrency),
    )
    .await?;
    Ok(UsagePush::new(
        cw,
        acronis,
        store.clone(),
        UsageOptions {
            shard_size: t.shard_size,
            concurrency: 16,
        },
    ))
}

async fn bench(n: i64, t: Topology) -> anyhow::Result<Vec<String>> {
    // The stack's own clients go unused: each instance below has its own.
    let LocalStack {
        cw_sim,
        acronis_sim,
        store,
        ..
    } = LocalStack::start().await?;
    let seeding = Instant::now();
    integration_tests::seed::payg_companies(&cw_sim, &acronis_sim, &store, n).await?;
    eprintln!(
        "seeded {n} companies in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let planner = instance(&cw_sim, &acronis_sim, &store, t).await?;
    let mut workers = Vec::new();
    for _ in 0..t.workers.max(1) {
        workers.push(instance(&cw_sim, &acronis_sim, &store, t).await?);
    }
    let latency = (50 / u64::from(t.scale)).max(1);
    cw_sim.control().set_latency(latency);
    acronis_sim.control().set_latency(latency);
    cw_sim.set_switches(simulators::connectwise::CwSwitches {
        rate_limit_per_minute: Some(CW_LIMIT),
        rate_limit_minute_ms: 60_000 / u64::from(t.scale),
        ..Default::default()
    });
    let sim = Sims {
        cw: &cw_sim,
        acronis: &acronis_sim,
    };

    let mut out = Vec::new();
    let items = n * ITEMS.len() as i64;
    let shards = (n as usize).div_ceil(t.shard_size.max(1));
    let tokens = t.workers.max(1).min(shards) as i64;
    let cold_min = tokens + (n + 99) / 100 + (n + 999) / 1000 + n + items;
    out.push(scenario("cold", n, &planner, &workers, t, sim, cold_min, items).await);
    // As on a live stack, where cycles are 15 minutes apart: the steady run must not see
    // the cold run's own writes as changes, so one unmeasured cycle runs after the change
    // cursor's lag (SKEW) has passed.
    tokio::time::sleep((shared::services::usage::SKEW + chrono::Duration::seconds(5)).to_std()?)
        .await;
    let settle = scenario("settle", n, &planner, &workers, t, sim, 1, 0).await;
    eprintln!("(not measured) {settle}");
    // 1% of the usages change.
    let changed = (items / 100).max(1);
    for j in 0..changed {
        let id = (j * 97) % n + 1;
        let k = (j as usize) % 4; // count items
        acronis_sim.set_usage(
            &integration_tests::bench_tenant(id),
            ITEMS[k].0,
            None,
            1000 + j,
        )?;
    }
    let steady_min = (n + 99) / 100 + 1 + changed;
    out.push(scenario("steady", n, &planner, &workers, t, sim, steady_min, changed).await);
    Ok(out)
}

#[derive(Clone, Copy)]
struct Sims<'a> {
    cw: &'a CwSim,
    acronis: &'a AcronisSim,
}

/// Cycles (plan, then shards over the workers) until a cycle leaves nothing for the next.
#[allow(clippy::too_many_arguments)]
async fn scenario(
    name: &str,
    n: i64,
    planner: &UsagePush,
    workers: &[UsagePush],
    t: Topology,
    sim: Sims<'_>,
    minimum: i64,
    changed: i64,
) -> String {
    sim.cw.control().clear_requests();
    sim.acronis.control().clear_requests();
    sim.cw.reset_rate();
    let started = Instant::now();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures = 0;
    for cycle in 1..=10 {
        let mut plan_run = RunRecord::start(FUNCTION);
        let plan_started = Instant::now();
        let companies = planner
            .plan(&mut plan_run, Deadline::after(t.plan_budget))
            .await
            .expect("plan");
        let plan_s = plan_started.elapsed().as_secs_f64();
        let push_started = Instant::now();
        // Shards dealt round-robin to the workers; each worker pushes its shards in turn.
        let shards: Vec<&[_]> = companies.chunks(t.shard_size.max(1)).collect();
        let runs = futures::future::join_all(workers.iter().enumerate().map(|(w, svc)| {
            let mine: Vec<&[_]> = shards
                .iter()
                .copied()
                .skip(w)
                .step_by(workers.len())
                .collect();
            async move {
                let mut runs = Vec::new();
                for shard in mine {
                    let mut run = RunRecord::start(FUNCTION);
                    svc.push(shard, &mut run, Deadline::after(t.shard_budget))
                        .await
                        .expect("push");
                    runs.push(run);
                }
                runs
            }
        }))
        .await;
        let push_s = push_started.elapsed().as_secs_f64();
        let mut left = plan_run
            .counts
            .get("agreements_deferred")
            .copied()
            .unwrap_or(0);
        for run in std::iter::once(&plan_run).chain(runs.iter().flatten()) {
            failures += run.failures.len();
            if let Some(f) = run.failures.first() {
                eprintln!("{name}: cycle {cycle}: first failure: {f:?}");
            }
            for (k, v) in &run.counts {
                *totals.entry(k.clone()).or_default() += v;
            }
            left += run.counts.get("writes_deferred").copied().unwrap_or(0);
        }
        let mut cycle_counts: BTreeMap<&str, u64> = BTreeMap::new();
        for run in std::iter::once(&plan_run).chain(runs.iter().flatten()) {
            for (k, v) in &run.counts {
                *cycle_counts.entry(k.as_str()).or_default() += v;
            }
        }
        eprintln!(
            "{name}: cycle {cycle}: plan {plan_s:.1} s, push {push_s:.1} s ({} shards), left for the next cycle: {left}, counts {cycle_counts:?}",
            shards.len()
        );
        if left == 0 {
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let mut routes: BTreeMap<String, u64> = BTreeMap::new();
    for (k, v) in sim.cw.control().counts() {
        routes.insert(format!("connectwise {k}"), v);
    }
    for (k, v) in sim.acronis.control().counts() {
        routes.insert(format!("acronis {k}"), v);
    }
    let calls: u64 = routes.values().sum();
    let cw_calls: u64 = sim.cw.control().counts().values().sum();
    let (cw_rpm_peak, throttled) = sim.cw.rate();
    let floor_s = cw_calls as f64 * 60.0 / f64::from(CW_BUDGET);
    let production_s = wall * f64::from(t.scale);
    let writes = sim
        .cw
        .control()
        .counts()
        .iter()
        .filter(|(k, _)| k.starts_with("PATCH"))
        .map(|(_, v)| *v)
        .sum::<u64>();
    eprintln!("{name}: failures={failures} counts={totals:?}");
    for (r, c) in &routes {
        eprintln!("  {name} {r}: {c}");
    }
    format!(
        "usage-push scenario={name} companies={n} calls={calls} minimum={minimum} ratio={:.2} writes={writes} changed={changed} wall_s={wall:.1} peak_mb={:.0} scale={} cw_calls={cw_calls} cw_rpm_peak={cw_rpm_peak} throttled={throttled} floor_s={floor_s:.0} production_s={production_s:.0}",
        calls as f64 / minimum as f64,
        peak_mb(),
        t.scale,
    )
}
