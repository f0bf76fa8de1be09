//! `make bench-usage`: the usage push on the local stack (moto for the table, both
//! simulators in process at 50 ms per call). A cold run (everything new), then a steady run
//! with 1% of the usages changed. Usage: `bench_usage [companies...]` (default 1000).
//!
//! It runs what the deployed stack runs, on production's schedule, with the template's
//! defaults: every 15 minutes one planner (the usage-push Lambda, 2 ConnectWise requests in
//! flight, reads stopped 60 s before its 300 s limit) queues shards of 1,000 companies; 2
//! shard workers (the consumers' reserved concurrency), each on its own thread with its own
//! clients (2 ConnectWise and 8 Acronis requests in flight) and a 270 s write budget, take them in
//! order (the shard worker's own `process`); a shard out of time hands its leftover on to
//! the back of the queue, as the deployed worker does through the bus. A scenario ends when
//! a plan left nothing to read and every shard is done with nothing left for the next
//! cycle. Override with `BENCH_WORKERS`, `BENCH_CW_CONCURRENCY`, `BENCH_SHARD_SIZE`;
//! `BENCH_STEADY=0` runs the cold scenario alone.
//! Lambda's own delays (a throttled event's retry, cold starts) are not modelled.
//!
//! ConnectWise's rate limit is on (1,000 a minute per API member) and every instance takes
//! from the deployment's request budget (900 a minute, through the table, as deployed; the
//! planner ahead of the shards). A cold push at 10,000 companies needs about an hour at
//! that rate, so the bench scales time by `BENCH_SCALE` (default 4): the limit's minute,
//! the budget's minute, the schedule, the simulators' latency and the functions' time
//! limits are all divided by it, and times are printed scaled back to production seconds.
//! The table (moto) is not scaled: at a high scale its own time weighs more than it would
//! in production, so `production_s` is an upper bound.
//!
//! With `BENCH_MIGRATION=<n>` the cold scenario is `together`: `n` companies are migrated
//! at once beside it (`bench_usage/migration.rs`), and a `provisioning` line follows.
//!
//! Ends with one line per scenario:
//! `usage-push scenario=<cold|steady> companies=<n> calls=<c> minimum=<m> ratio=<c/m> writes=<w> changed=<k> wall_s=<t> peak_mb=<p> scale=<f> cw_calls=<n> cw_rpm_peak=<r> throttled=<t> floor_s=<s> production_s=<s> cycles=<k> handoffs=<h>`
//! where `cw_rpm_peak` is the most ConnectWise requests in any sliding (scaled) minute,
//! `throttled` the 429s received, `floor_s` the ConnectWise calls made divided by the
//! budget (the physical limit, in production seconds), `production_s` the time until the
//! last run that wrote (or read) anything ended, scaled back (`wall_s` includes the cycle
//! that found nothing left), `cycles` the planner runs it took and `handoffs` the shards
//! handed on.
//! The steady run is measured two cycles after the cold one (after the change cursor's lag),
//! as cycles 15 minutes apart would be.
//! `minimum` is the calls the work needs: cold = 1 token per worker + usage batches
//! (n/100) + agreement pages (n/1000) + one additions read per agreement + one write per
//! item; steady = usage batches + 1 change list + one write per changed item. `peak_mb` is
//! the whole process (simulators and every worker included), an upper bound for one Lambda.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

#[path = "bench_usage/migration.rs"]
mod migration;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use integration_tests::{LocalStack, sim_clients_with, transport_with};
use shared::bus::Event;
use shared::bus::events::UsageShard;
use shared::domain::request_budget::Rate;
use shared::functions::Function;
use shared::request_budget::{TableBudget, product_clock};
use shared::services::provisioning::Provisioning;
use shared::services::usage::{Deadline, FUNCTION, SHARD_FUNCTION, UsageOptions, UsagePush};
use shared::store::{RunRecord, Store};
use simulators::acronis::AcronisSim;
use simulators::connectwise::CwSim;
use usage_shard_worker::HandOn;

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
    /// Companies migrated at once beside the cold push (`BENCH_MIGRATION`; 0: none).
    migration: i64,
    /// Whether the steady scenario follows the cold one (`BENCH_STEADY=0`: not, for a cold
    /// run at a lower scale, which takes hours).
    steady: bool,
}

impl Topology {
    fn from_env() -> Self {
        let n = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let scale = n("BENCH_SCALE", 4).max(1);
        Self {
            scale: scale as u32,
            budget: n("BENCH_BUDGET", 1) != 0,
            workers: n("BENCH_WORKERS", 2),
            cw_concurrency: n("BENCH_CW_CONCURRENCY", 2),
            acronis_concurrency: 8,
            shard_size: n("BENCH_SHARD_SIZE", 1000),
            plan_budget: Duration::from_secs(n("BENCH_PLAN_BUDGET_S", 240) as u64) / scale as u32,
            shard_budget: Duration::from_secs(n("BENCH_SHARD_BUDGET_S", 270) as u64) / scale as u32,
            migration: n("BENCH_MIGRATION", 0) as i64,
            steady: n("BENCH_STEADY", 1) != 0,
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

/// One Lambda instance of the usage push: its own clients (own token, own in-flight caps).
async fn instance(
    function: Function,
    cw_sim: &CwSim,
    acronis_sim: &AcronisSim,
    store: &Store,
    t: Topology,
) -> anyhow::Result<UsagePush> {
    let (cw, acronis) = clients(function, cw_sim, acronis_sim, store, t).await?;
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

/// One instance's clients, taking from the request budget at `function`'s priority.
async fn clients(
    function: Function,
    cw_sim: &CwSim,
    acronis_sim: &AcronisSim,
    store: &Store,
    t: Topology,
) -> anyhow::Result<(
    shared::connectwise::ConnectWiseClient,
    shared::acronis::AcronisClient,
)> {
    let rate = Rate::per_scaled_minute(CW_BUDGET, 60_000_000 / i64::from(t.scale)).unwrap();
    let budget = TableBudget::new(
        store.clone(),
        rate,
        function.budget_priority(),
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
    Ok((cw, acronis))
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

    let planner = instance(Function::UsagePush, &cw_sim, &acronis_sim, &store, t).await?;
    let mut workers = Vec::new();
    for _ in 0..t.workers.max(1) {
        workers.push(instance(Function::UsageShardWorker, &cw_sim, &acronis_sim, &store, t).await?);
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
    if t.migration > 0 {
        let ids = migration::sell(&cw_sim, &store, t.migration, ITEMS[0].2).await?;
        let mut instances = Vec::new();
        for _ in 0..migration::INSTANCES {
            let (cw, acronis) =
                clients(Function::Provisioner, &cw_sim, &acronis_sim, &store, t).await?;
            instances.push(Provisioning::new(cw, acronis, store.clone()));
        }
        let both = Some(Migration {
            instances: &instances,
            ids: &ids,
        });
        out.extend(
            scenario(
                "together", n, &planner, &workers, t, sim, cold_min, items, both,
            )
            .await,
        );
        return Ok(out);
    }
    out.extend(scenario("cold", n, &planner, &workers, t, sim, cold_min, items, None).await);
    if !t.steady {
        return Ok(out);
    }
    // As on a live stack, where cycles are 15 minutes apart: the steady run must not see
    // the cold run's own writes as changes, so one unmeasured cycle runs after the change
    // cursor's lag (SKEW) has passed.
    tokio::time::sleep((shared::services::usage::SKEW + chrono::Duration::seconds(5)).to_std()?)
        .await;
    let settle = scenario("settle", n, &planner, &workers, t, sim, 1, 0, None).await;
    eprintln!("(not measured) {settle:?}");
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
    out.extend(
        scenario(
            "steady", n, &planner, &workers, t, sim, steady_min, changed, None,
        )
        .await,
    );
    Ok(out)
}

#[derive(Clone, Copy)]
struct Sims<'a> {
    cw: &'a CwSim,
    acronis: &'a AcronisSim,
}

/// The shards waiting for a worker, and how many workers are busy (one lock: a worker
/// takes a shard and becomes busy at once).
#[derive(Default)]
struct Queue {
    inner: Mutex<(VecDeque<UsageShard>, usize)>,
    /// Companies whose writes were left to the next cycle since the last plan.
    left: AtomicU64,
    handoffs: AtomicU64,
}

impl Queue {
    fn take(&self) -> Option<UsageShard> {
        let mut q = self.inner.lock().unwrap();
        let shard = q.0.pop_front()?;
        q.1 += 1;
        Some(shard)
    }
    fn done(&self) {
        self.inner.lock().unwrap().1 -= 1;
    }
    fn idle(&self) -> bool {
        let q = self.inner.lock().unwrap();
        q.0.is_empty() && q.1 == 0
    }
    fn extend(&self, shards: Vec<UsageShard>) {
        self.inner.lock().unwrap().0.extend(shards);
    }
}

impl HandOn for Queue {
    async fn hand_on(&self, shard: UsageShard) -> Result<(), String> {
        self.handoffs.fetch_add(1, Ordering::Relaxed);
        self.extend(vec![shard]);
        Ok(())
    }
}

/// Production's schedule on the scaled clock (see the module's doc), until a cycle leaves
/// nothing for the next.
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
    migration: Option<Migration<'_>>,
) -> Vec<String> {
    sim.cw.control().clear_requests();
    sim.acronis.control().clear_requests();
    sim.cw.reset_rate();
    let started = Instant::now();
    let period = Duration::from_secs(900) / t.scale;
    let queue = Queue::default();
    let stop = AtomicBool::new(false);
    let totals: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let failures = AtomicU64::new(0);
    // When the last run that wrote or read something ended (µs since the start): the work
    // is done then; later cycles only confirm that nothing is left.
    let last_progress = AtomicU64::new(0);
    let progressed = |run: &RunRecord| {
        let did = ["writes", "agreements_read"]
            .iter()
            .any(|k| run.counts.get(*k).is_some_and(|n| *n > 0));
        if did {
            last_progress.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    };
    let record = |run: &RunRecord| {
        failures.fetch_add(run.failures.len() as u64, Ordering::Relaxed);
        if let Some(f) = run.failures.first() {
            eprintln!("{name}: first failure of a run: {f:?}");
        }
        let mut totals = totals.lock().unwrap();
        for (k, v) in &run.counts {
            *totals.entry(k.clone()).or_default() += v;
        }
    };
    // `BENCH_TRACE=1`: one line per run (production seconds), to see where the budget idled.
    let trace = std::env::var("BENCH_TRACE").is_ok_and(|v| v == "1");
    let at = |i: Instant| i.duration_since(started).as_secs_f64() * f64::from(t.scale);
    let traced = |what: &str, from: Instant, run: &RunRecord| {
        if trace {
            let c = |k: &str| run.counts.get(k).copied().unwrap_or(0);
            eprintln!(
                "trace {name} {what} {:.0}..{:.0} read={} writes={} deferred={} handed_on={}",
                at(from),
                at(Instant::now()),
                c("agreements_read"),
                c("writes"),
                c("writes_deferred"),
                c("handed_on"),
            );
        }
    };
    let work = async |svc: &UsagePush| {
        while !stop.load(Ordering::Relaxed) {
            let Some(shard) = queue.take() else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let what = format!("shard handoff={}", shard.handoff);
            let from = Instant::now();
            let mut run = RunRecord::start(SHARD_FUNCTION);
            let (_, result) = usage_shard_worker::process(
                svc,
                &queue,
                Event::UsageShard(shard),
                &mut run,
                Deadline::after(t.shard_budget),
            )
            .await;
            result.expect("shard");
            queue.left.fetch_add(
                run.counts.get("left_to_next_cycle").copied().unwrap_or(0),
                Ordering::Relaxed,
            );
            record(&run);
            progressed(&run);
            traced(&what, from, &run);
            queue.done();
        }
    };
    let schedule = async {
        let mut cycles = 0;
        for tick in 0..40u32 {
            tokio::time::sleep_until((started + period * tick).into()).await;
            cycles += 1;
            queue.left.store(0, Ordering::Relaxed);
            let mut plan_run = RunRecord::start(FUNCTION);
            let plan_started = Instant::now();
            let companies = planner
                .plan(&mut plan_run, Deadline::after(t.plan_budget))
                .await
                .expect("plan");
            let unread = plan_run
                .counts
                .get("agreements_deferred")
                .copied()
                .unwrap_or(0);
            eprintln!(
                "{name}: cycle {cycles} at {:.0} s: plan {:.1} s, left to read {unread}, queued before {}",
                started.elapsed().as_secs_f64() * f64::from(t.scale),
                plan_started.elapsed().as_secs_f64(),
                queue.inner.lock().unwrap().0.len(),
            );
            queue.extend(UsageShard::split(
                &plan_run.run_id,
                &companies,
                t.shard_size.max(1),
            ));
            record(&plan_run);
            progressed(&plan_run);
            traced("plan", plan_started, &plan_run);
            let next = started + period * (tick + 1);
            while !queue.idle() && Instant::now() < next {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if queue.idle() && unread == 0 && queue.left.load(Ordering::Relaxed) == 0 {
                break;
            }
        }
        let wall = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        (wall, cycles)
    };
    let migrate = async {
        match migration {
            Some(m) => Some(migration::run(m.instances, m.ids, started).await),
            None => None,
        }
    };
    // Each instance on its own thread, as each is its own Lambda: polled in one task, a
    // worker planning a shard (CPU) held back the other's requests and budget grants.
    let handle = tokio::runtime::Handle::current();
    let ((wall, cycles), migrated) = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            for svc in workers {
                let (handle, work) = (handle.clone(), &work);
                s.spawn(move || handle.block_on(work(svc)));
            }
            let migrated = s.spawn(|| handle.block_on(migrate));
            let scheduled = handle.block_on(schedule);
            (scheduled, migrated.join().expect("the migration's thread"))
        })
    });
    let totals = totals.into_inner().unwrap();
    let failures = failures.into_inner();
    let handoffs = queue.handoffs.load(Ordering::Relaxed);
    let scenario = format!("usage-{n}-{name}");
    integration_tests::print_calls(&scenario, "connectwise", &sim.cw.control().counts());
    integration_tests::print_calls(&scenario, "acronis", &sim.acronis.control().counts());
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
    let production_s = last_progress.into_inner() as f64 / 1e6 * f64::from(t.scale);
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
    let mut lines = Vec::new();
    if let Some((times, failed)) = migrated {
        let p = |q| migration::percentile(&times, q).as_secs_f64() * f64::from(t.scale);
        lines.push(format!(
            "provisioning scenario={name} companies={} failed={failed} p50_s={:.0} p95_s={:.0} last_s={:.0} scale={} cw_rpm_peak={cw_rpm_peak} throttled={throttled}",
            times.len() + failed,
            p(50.0),
            p(95.0),
            p(100.0),
            t.scale,
        ));
    }
    lines.insert(0, format!(
        "usage-push scenario={name} companies={n} calls={calls} minimum={minimum} ratio={:.2} writes={writes} changed={changed} wall_s={wall:.1} peak_mb={:.0} scale={} cw_calls={cw_calls} cw_rpm_peak={cw_rpm_peak} throttled={throttled} floor_s={floor_s:.0} production_s={production_s:.0} cycles={cycles} handoffs={handoffs}",
        calls as f64 / minimum as f64,
        peak_mb(),
        t.scale,
    ));
    lines
}

/// The migration run beside a scenario (both together).
#[derive(Clone, Copy)]
struct Migration<'a> {
    instances: &'a [Provisioning],
    ids: &'a [i64],
}
