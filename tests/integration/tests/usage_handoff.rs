//! A usage shard whose invocation runs out of time hands the writes it did not make on at
//! once, through the bus under the shard worker's own role, and a newer cycle's plan
//! supersedes a hand-off or shard of an older plan still waiting (`domain::usage_handoff`).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::collections::HashMap;
use std::time::Duration;

use integration_tests::seed::{SERVERS, payg_servers};
use integration_tests::{
    LocalStack, StackOptions, aws, bench_tenant, bus_as, bus_to_queue, cw_additions, drain_queue,
    store_as,
};
use serde_json::{Value, json};
use shared::functions::Function;
use shared::runs::{MetricLog, Recorder};
use shared::services::usage::{Deadline, FUNCTION, MIN_PROGRESS, UsageOptions, UsagePush};
use shared::store::{ProductMapping, RunRecord};

/// One servers addition each; a shard of 14 companies makes [`MIN_PROGRESS`] writes past
/// its deadline and leaves the other 4.
const COMPANIES: i64 = 15;
const SHARD: usize = 14;

fn quantities(cw_sim: &simulators::connectwise::CwSim) -> HashMap<i64, f64> {
    cw_additions(cw_sim)
        .iter()
        .filter_map(|a| Some((a["id"].as_i64()?, a["quantity"].as_f64()?)))
        .collect()
}

#[tokio::test]
async fn a_shard_out_of_time_hands_its_leftover_on_and_a_newer_plan_supersedes_it() {
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
    store
        .put_product_mapping(&ProductMapping::new(
            "pw_base_servers",
            Some(SERVERS),
            "quantity",
        ))
        .await
        .unwrap();
    cw_sim
        .seed(json!({"catalog": [{"id": SERVERS, "identifier": "ACR-SERVERS", "description": "Acronis servers"}]}))
        .unwrap();
    payg_servers(&cw_sim, &acronis_sim, &store, COMPANIES, |c| c)
        .await
        .unwrap();

    let options = UsageOptions {
        shard_size: SHARD,
        concurrency: 4,
    };
    let planner = UsagePush::new(
        cw.clone(),
        acronis.clone(),
        store_as(&store, Function::UsagePush).await.unwrap(),
        options,
    );
    let shard_store = store_as(&store, Function::UsageShardWorker).await.unwrap();
    let worker = UsagePush::new(cw, acronis, shard_store.clone(), options);
    let recorder = Recorder::new(shard_store, Duration::from_secs(3600)).with_log(MetricLog::Off);
    let config = aws().await.unwrap();
    let (bus, sqs, queue) = bus_to_queue(&config, Function::UsageShardWorker)
        .await
        .unwrap();
    // Each publishes under its own role: the hand-off proves the worker's PutEvents grant.
    let (planner_bus, worker_bus) = (
        bus_as(&bus, Function::UsagePush).await.unwrap(),
        bus_as(&bus, Function::UsageShardWorker).await.unwrap(),
    );
    let plan = async || {
        let mut run = RunRecord::start(FUNCTION);
        let report = planner
            .cycle(Some(&planner_bus), &mut run, Deadline::none())
            .await
            .unwrap();
        assert!(run.failures.is_empty(), "{:?}", run.failures);
        assert_eq!(report.shards_published, 2);
        let mut shards = drain_queue(&sqs, &queue, 2, Duration::from_secs(30))
            .await
            .unwrap();
        shards.sort_by_key(|m| m["detail"]["shard"].as_u64());
        shards
    };
    let handle = async |event: &Value, deadline: Deadline| {
        usage_shard_worker::handle_eventbridge(&worker, &worker_bus, &recorder, event, deadline)
            .await
            .unwrap()
    };
    let out_of_time = || Deadline::after(Duration::ZERO);
    let patches = || {
        cw_sim
            .control()
            .counts()
            .iter()
            .filter(|(k, _)| k.starts_with("PATCH"))
            .map(|(_, v)| *v)
            .sum::<u64>()
    };

    // The first shard runs out of time: MIN_PROGRESS writes, the other 4 handed on at once.
    let shards = plan().await;
    let reply = handle(&shards[0], out_of_time()).await;
    assert_eq!(reply["writes"], MIN_PROGRESS as u64, "{reply}");
    assert_eq!(
        reply["handed_on"],
        SHARD as u64 - MIN_PROGRESS as u64,
        "{reply}"
    );
    let handed = drain_queue(&sqs, &queue, 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(handed.len(), 1, "one hand-off");
    assert_eq!(handed[0]["detail"]["handoff"], 1, "{}", handed[0]);
    assert_eq!(
        handed[0]["detail"]["companies"].as_array().unwrap().len(),
        SHARD - MIN_PROGRESS
    );
    assert_eq!(handle(&shards[1], Deadline::none()).await["writes"], 1);
    let reply = handle(&handed[0], Deadline::none()).await;
    assert_eq!(reply["outcome"], "pushed", "{reply}");
    assert_eq!(
        reply["writes"],
        SHARD as u64 - MIN_PROGRESS as u64,
        "{reply}"
    );
    let q = quantities(&cw_sim);
    for c in 1..=COMPANIES {
        assert_eq!(q.get(&(c * 1000)), Some(&(c as f64)), "company {c}");
    }

    // Every usage changes; the first shard runs out of time again, and before its hand-off
    // is delivered the next cycle plans: the hand-off writes nothing, the new shards do it.
    for c in 1..=COMPANIES {
        acronis_sim
            .set_usage(&bench_tenant(c), "pw_base_servers", None, c + 100)
            .unwrap();
    }
    let shards = plan().await;
    handle(&shards[0], out_of_time()).await;
    let stale = drain_queue(&sqs, &queue, 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(stale.len(), 1);
    let newer = plan().await;
    let before = patches();
    let reply = handle(&stale[0], Deadline::none()).await;
    assert_eq!(reply["outcome"], "superseded", "{reply}");
    assert_eq!(patches(), before, "a superseded hand-off writes nothing");
    // So does the older plan's own second shard, still waiting when the newer plan came.
    let reply = handle(&shards[1], Deadline::none()).await;
    assert_eq!(reply["outcome"], "superseded", "{reply}");
    assert_eq!(patches(), before, "a superseded shard writes nothing");
    for shard in &newer {
        assert_eq!(handle(shard, Deadline::none()).await["outcome"], "pushed");
    }
    let q = quantities(&cw_sim);
    for c in 1..=COMPANIES {
        assert_eq!(q.get(&(c * 1000)), Some(&((c + 100) as f64)), "company {c}");
    }
}
