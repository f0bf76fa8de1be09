//! `make bench-provisioning`: latency from a company's sale in ConnectWise (company,
//! contact, agreement, addition, each firing its signed callbacks) to its ready tenant (its
//! mapping stored with the setup finished, the provisioner's last step), on the local stack
//! with both simulators answering every API call after a set latency; and the API calls each
//! company costs, beside the least a sale can cost (`shared::domain::sale_calls`, from what
//! each company was sold and the settings). Run paced (one company a second) and as a burst
//! (all at once). Ends with one line per run for comparison:
//! `provisioning companies=<n> p50_ms=<a> p95_ms=<b> calls_per_company=<c> minimum=<m> ratio=<c/m> cw_calls=<n> cw_rpm_peak=<r> throttled=<t> floor_s=<s>`
//! with ConnectWise's rate limit on (the simulator's default) and the deployment's request
//! budget (`CW_REQUESTS_PER_MINUTE`, 900 unless set): `cw_rpm_peak` is the most ConnectWise
//! requests in any sliding minute, `throttled` the 429s, `floor_s` the ConnectWise calls
//! divided by the budget (the least time the work can take).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use shared::bootstrap::Deps;
use shared::domain::sale_calls::{Sale, unavoidable_calls};
use shared::domain::settings::ProvisioningSettings;
use shared::services::callbacks;

use crate::demo::{SERVERS_PRODUCT, configure, control, say, sell};

fn percentile(sorted: &[u128], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The API calls recorded by a simulator, without the alert poller's, which runs on its
/// timer in the local runner whatever is sold.
async fn api_calls(http: &reqwest::Client, sim: &str) -> Result<u64> {
    let counts: BTreeMap<String, u64> = serde_json::from_value(
        control(
            http,
            reqwest::Method::GET,
            &format!("{sim}/_sim/counts"),
            Value::Null,
        )
        .await?,
    )?;
    Ok(counts
        .iter()
        .filter(|(route, _)| !route.contains("/alert_manager/"))
        .map(|(_, n)| n)
        .sum())
}

/// With `BENCH_CALLS` set: one line per route each simulator counted, the alert poller's
/// aside, `calls <scenario> <simulator> <METHOD> <route template> <n>` (as the integration
/// benches print them; `infra/call-counts.sh`).
async fn print_calls(
    http: &reqwest::Client,
    scenario: &str,
    sims: [(&str, &str); 2],
) -> Result<()> {
    if std::env::var_os("BENCH_CALLS").is_none() {
        return Ok(());
    }
    for (simulator, sim) in sims {
        let url = format!("{sim}/_sim/counts");
        let counts: BTreeMap<String, u64> =
            serde_json::from_value(control(http, reqwest::Method::GET, &url, Value::Null).await?)?;
        for (route, n) in counts
            .iter()
            .filter(|(r, _)| !r.contains("/alert_manager/"))
        {
            println!("calls {scenario} {simulator} {route} {n}");
        }
    }
    Ok(())
}

/// A run's name in `calls` lines: `provisioning-i<instances>-cw<ConnectWise requests in
/// flight>-<companies>-<paced|burst>`.
fn calls_scenario(companies: usize, pace_ms: u64, instances: &str, deps: &Deps) -> String {
    let kind = if pace_ms > 0 { "paced" } else { "burst" };
    let cw = deps.settings.http.connectwise_concurrency;
    format!("provisioning-i{instances}-cw{cw}-{companies}-{kind}")
}

/// Each simulated call's latency.
async fn set_latency(http: &reqwest::Client, sim: &str, ms: u64) -> Result<()> {
    control(
        http,
        reqwest::Method::PUT,
        &format!("{sim}/_sim/latency"),
        json!({ "ms": ms }),
    )
    .await?;
    Ok(())
}

/// Notes when each company's mapping first appears (setup done) while the companies are
/// being sold, until all have or their time is up.
async fn watch(store: shared::store::Store, ids: Vec<i64>) -> BTreeMap<i64, Instant> {
    let mut seen: BTreeMap<i64, Instant> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120 + ids.len() as u64 * 3);
    while seen.len() < ids.len() && Instant::now() < deadline {
        // Read by key, only the companies not ready yet: a query of the mappings' index
        // would make moto walk the whole table each time and slow the stack measured.
        let waiting: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !seen.contains_key(id))
            .collect();
        // A batch at a time, each timed when it is asked (100 keys per read).
        for batch in waiting.chunks(100) {
            let asked = Instant::now();
            if let Ok(mappings) = store.mappings_of_companies(batch).await {
                for m in mappings.iter().filter(|m| !m.setup_pending) {
                    seen.entry(m.company_id).or_insert(asked);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

pub async fn run(companies: usize, latency_ms: u64, pace_ms: u64) -> Result<()> {
    // The operator's side, as `acw`: urgent in ConnectWise's budget.
    let mut settings = shared::settings::Settings::from_env()?;
    settings.http.budget_priority = shared::domain::request_budget::Priority::Urgent;
    let deps = Deps::build(settings, &shared::aws::lambda_config()?).await?;
    let http = reqwest::Client::new();
    let cw_sim = std::env::var("CW_SIM_URL").context("CW_SIM_URL")?;
    let acronis_sim = std::env::var("ACRONIS_SIM_URL").context("ACRONIS_SIM_URL")?;
    let webhook_url = std::env::var("WEBHOOK_URL").context("WEBHOOK_URL")?;
    configure(&deps, &http, &cw_sim).await?;
    callbacks::register(&deps.cw, &webhook_url, false).await?;
    for sim in [&cw_sim, &acronis_sim] {
        set_latency(&http, sim, latency_ms).await?;
        control(
            &http,
            reqwest::Method::DELETE,
            &format!("{sim}/_sim/requests"),
            Value::Null,
        )
        .await?;
    }
    control(
        &http,
        reqwest::Method::DELETE,
        &format!("{cw_sim}/_sim/rate"),
        Value::Null,
    )
    .await?;
    let instances = std::env::var("RUNNER_INSTANCES").unwrap_or_else(|_| "8".into());
    say(format!(
        "bench: {companies} companies sold {pace_ms} ms apart, simulators at {latency_ms} ms per call, \
         {instances} instances per consumer, CW_MAX_CONCURRENCY {}",
        deps.settings.http.connectwise_concurrency
    ));
    let settings: ProvisioningSettings = deps.store.section().await?;
    let mapped_products = deps.store.product_mappings().await?;

    let base = 1_000_000 + (chrono::Utc::now().timestamp() % 100_000) * 1_000;
    let wanted: Vec<i64> = (0..companies as i64).map(|i| base + i).collect();
    let watcher = tokio::spawn(watch(deps.store.clone(), wanted.clone()));
    // Each company is sold as an MSP would (fresh ids and names per run, so runs can follow
    // each other on one stack); its clock starts when its sale starts.
    let mut started = BTreeMap::new();
    let mut minimum = 0;
    for id in &wanted {
        started.insert(*id, Instant::now());
        sell(&http, &cw_sim, *id, &format!("Bench Customer {id}"), 3).await?;
        // What it was sold: one agreement holding one addition of the servers product.
        let sale = Sale {
            agreements: 1,
            maps_to_items: mapped_products
                .iter()
                .any(|m| m.product_id == Some(SERVERS_PRODUCT)),
        };
        minimum += unavoidable_calls(&settings, sale).len();
        if pace_ms > 0 {
            tokio::time::sleep(Duration::from_millis(pace_ms)).await;
        }
    }
    let seen = watcher.await?;
    if seen.len() < companies {
        bail!(
            "only {} of {companies} companies were provisioned in time",
            seen.len()
        );
    }
    let ready: BTreeMap<i64, u128> = seen
        .iter()
        .filter_map(|(id, at)| {
            started
                .get(id)
                .map(|t0| (*id, at.saturating_duration_since(*t0).as_millis()))
        })
        .collect();
    // Every company is ready; runs still finishing (a last round, a coalesced delivery)
    // count too: wait until the simulators' counts stop moving.
    let mut calls = 0;
    loop {
        let now = api_calls(&http, &cw_sim).await? + api_calls(&http, &acronis_sim).await?;
        if now == calls {
            break;
        }
        calls = now;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for sim in [&cw_sim, &acronis_sim] {
        set_latency(&http, sim, 0).await?;
    }
    let scenario = calls_scenario(companies, pace_ms, &instances, &deps);
    let sims = [("connectwise", cw_sim.as_str()), ("acronis", &acronis_sim)];
    print_calls(&http, &scenario, sims).await?;
    let cw_calls = api_calls(&http, &cw_sim).await?;
    let rate = control(
        &http,
        reqwest::Method::GET,
        &format!("{cw_sim}/_sim/rate"),
        Value::Null,
    )
    .await?;
    let budget = deps.settings.http.connectwise_requests_per_minute.max(1);
    let mut latencies: Vec<u128> = ready.values().copied().collect();
    latencies.sort_unstable();
    say(format!(
        "provisioning companies={companies} p50_ms={} p95_ms={} calls_per_company={:.1} minimum={:.1} ratio={:.2} cw_calls={cw_calls} cw_rpm_peak={} throttled={} floor_s={:.0}",
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        calls as f64 / companies as f64,
        minimum as f64 / companies as f64,
        calls as f64 / minimum.max(1) as f64,
        rate["peak"],
        rate["throttled"],
        cw_calls as f64 * 60.0 / f64::from(budget),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_by_rank() {
        let v: Vec<u128> = (1..=100).collect();
        assert_eq!(super::percentile(&v, 50.0), 50);
        assert_eq!(super::percentile(&v, 95.0), 95);
        assert_eq!(super::percentile(&[7], 95.0), 7);
        assert_eq!(super::percentile(&[], 50.0), 0);
    }
}
