//! ConnectWise's request budget (`shared::request_budget`) shared through the table by
//! several instances, against the simulator's rate limit on a scaled minute: each instance
//! runs with the table access of a function's own role (moto, IAM enforced).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use integration_tests::{aws, aws_as, fast_transport, fresh_store};
use shared::connectwise::ConnectWiseClient;
use shared::domain::request_budget::Rate;
use shared::functions::Function;
use shared::request_budget::{TableBudget, product_clock};
use shared::store::Store;
use simulators::connectwise::{CwSim, CwSimConfig, CwSwitches};
use simulators::{FaultKind, FaultRule};

/// A limit on a minute of 1 s, low enough that three instances reading at once exceed it on
/// any machine.
const LIMIT: u32 = 40;
const MINUTE: Duration = Duration::from_secs(1);
/// The budget, 90% of the limit (as 900 of 1,000), in the same minute.
const BUDGET: u32 = 36;

async fn limited_sim() -> CwSim {
    let sim = simulators::connectwise::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        CwSimConfig::default(),
    )
    .await
    .unwrap();
    sim.set_switches(CwSwitches {
        rate_limit_per_minute: Some(LIMIT),
        rate_limit_minute_ms: MINUTE.as_millis() as u64,
        ..CwSwitches::default()
    });
    sim
}

/// An instance of `function`: its client, its budget in `table` (with its role's access).
async fn instance(sim: &CwSim, table: Option<&str>, function: Function) -> ConnectWiseClient {
    let mut transport = fast_transport(6, Duration::from_secs(5));
    if let Some(table) = table {
        let ddb = aws_sdk_dynamodb::Client::new(&aws_as(function).await.unwrap());
        let rate = Rate::per_scaled_minute(BUDGET, MINUTE.as_micros() as i64).unwrap();
        transport = transport.with_budget(Arc::new(TableBudget::new(
            Store::new(ddb, table),
            rate,
            function.budget_priority(),
            product_clock(),
        )));
    }
    ConnectWiseClient::connect(&integration_tests::cw_credentials(sim), transport)
        .await
        .unwrap()
}

const INSTANCES: [Function; 3] = [
    Function::Provisioner,
    Function::Reconciler,
    Function::UsageShardWorker,
];

/// Each instance sends `n` reads, eight at a time; how many failed.
async fn burst(clients: &[ConnectWiseClient], n: usize) -> usize {
    let runs = clients.iter().map(|cw| async move {
        futures::stream::iter(0..n)
            .map(|_| async { cw.system_info().await.is_err() })
            .buffer_unordered(8)
            .filter(|failed| std::future::ready(*failed))
            .count()
            .await
    });
    futures::future::join_all(runs).await.into_iter().sum()
}

#[tokio::test]
async fn instances_sharing_the_budget_stay_under_the_limit_and_without_it_do_not() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();

    let sim = limited_sim().await;
    let mut clients = Vec::new();
    for f in INSTANCES {
        clients.push(instance(&sim, Some(store.table()), f).await);
    }
    let failed = burst(&clients, 50).await;
    let (peak, throttled) = sim.rate();
    assert_eq!(failed, 0);
    assert_eq!(throttled, 0, "a request was refused with the budget on");
    assert!(peak <= LIMIT as usize, "{peak} requests in a minute");

    // The same work without the shared budget runs into the limit.
    let sim = limited_sim().await;
    let mut clients = Vec::new();
    for f in INSTANCES {
        clients.push(instance(&sim, None, f).await);
    }
    burst(&clients, 50).await;
    let (peak, throttled) = sim.rate();
    assert!(
        throttled > 0,
        "peak {peak} and nothing throttled without a budget"
    );
}

#[tokio::test]
async fn a_429_one_instance_receives_holds_every_instance_until_its_retry_after() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();
    let sim = simulators::connectwise::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        CwSimConfig::default(),
    )
    .await
    .unwrap();
    let refused = instance(&sim, Some(store.table()), Function::UsageShardWorker).await;
    let other = instance(&sim, Some(store.table()), Function::Provisioner).await;
    sim.control().add_fault(FaultRule {
        method: Some("GET".into()),
        path_contains: Some("/company/companies".into()),
        times: Some(1),
        fault: FaultKind::Status {
            status: 429,
            retry_after: Some(2),
            body: None,
        },
    });
    let first = tokio::spawn(async move { refused.companies(&Default::default()).await });
    // The other instance asks once the 429 is in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !sim.control().requests().iter().any(|r| r.status == 429) {
        assert!(tokio::time::Instant::now() < deadline, "no 429");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    other.system_info().await.unwrap();
    first.await.unwrap().unwrap();

    let log = sim.control().requests();
    let refused_at = log.iter().find(|r| r.status == 429).unwrap().at_ms;
    let other_at = log
        .iter()
        .filter(|r| r.route.ends_with("system/info") && r.at_ms > refused_at)
        .map(|r| r.at_ms)
        .min()
        .unwrap();
    assert!(
        other_at >= refused_at + 2000,
        "the other instance sent {} ms after the 429 that said 2 s",
        other_at - refused_at
    );
}
