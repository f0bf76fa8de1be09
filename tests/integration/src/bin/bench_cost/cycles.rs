//! The scheduled functions' invocations as their handlers run them, on the metered stack,
//! and the clocks moved as a day's cycles would move them.

use std::time::Duration;

use anyhow::Result;
use serde_json::Value;
use shared::bus::EventBus;
use shared::functions::Function;
use shared::services::alerts::PollOptions;
use shared::services::provisioning::Provisioning;
use shared::services::reconcile;
use shared::services::usage::{Deadline, UsagePush};

use crate::harness::Metered;

/// Both clocks (the product's and the simulators') `minutes` after the run's start.
pub fn at(minutes: i64) {
    shared::clock::set_offset(chrono::Duration::minutes(minutes));
    simulators::clock::set_offset(chrono::Duration::minutes(minutes));
}

/// One reconciler invocation, as `reconciler::handle_until` runs it (cycle, redrive of the
/// consumers' dead letters, callbacks revived), publishing on `bus`; the candidates it found.
pub async fn reconciler(m: &Metered, bus: &EventBus) -> Result<usize> {
    let cycle = m.recorder.scheduled(Function::Reconciler, async |run| {
        let report =
            reconcile::reconcile(&m.cw, &m.acronis.clone().into(), &m.store, bus, run, false)
                .await?;
        reconciler::redrive(&m.dead_letters, bus, run).await;
        reconciler::revive_callbacks(&m.cw, run).await;
        Ok(report.candidates.len())
    });
    Ok(m.invoke(Function::Reconciler, cycle).await?)
}

/// One usage-push invocation (its plan, and the shards it publishes), then a shard-worker
/// invocation per shard on the bus; the shards.
pub async fn usage(m: &Metered, svc: &UsagePush) -> Result<usize> {
    let limit = |secs: u64| Deadline::after(Duration::from_secs(secs) / m.scale);
    // The template's 300 s, less usage-push's and the shard worker's reserves.
    let push = shared::services::cycles::usage_push(svc, Some(&m.bus), &m.recorder, limit(240));
    m.invoke(Function::UsagePush, push).await?;
    let shards = m.delivered(Function::UsageShardWorker).await?;
    for event in &shards {
        let work =
            usage_shard_worker::handle_eventbridge(svc, &m.bus, &m.recorder, event, limit(270));
        if let Err(e) = m.invoke(Function::UsageShardWorker, work).await {
            eprintln!("usage shard failed: {e}");
        }
    }
    Ok(shards.len())
}

/// A provisioner invocation per company event on the bus, `concurrency` at a time (its
/// reserved concurrency); the events and how many failed.
pub async fn provisioner(m: &Metered, concurrency: usize) -> Result<(usize, usize)> {
    use futures::StreamExt;
    let svc = Provisioning::new(m.cw.clone(), m.acronis.clone(), m.store.clone());
    let events = m.delivered(Function::Provisioner).await?;
    let failed = std::sync::atomic::AtomicUsize::new(0);
    futures::stream::iter(&events)
        .for_each_concurrent(concurrency, |event: &Value| {
            let (svc, failed) = (&svc, &failed);
            async move {
                let work = provisioner::handle_eventbridge(svc, &m.recorder, event);
                if m.invoke(Function::Provisioner, work).await.is_err() {
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
        .await;
    Ok((events.len(), failed.into_inner()))
}

/// One alert-poller invocation.
pub async fn alert_poll(m: &Metered) -> Result<()> {
    let options = PollOptions::default();
    let connections = m.acronis.clone().into();
    let poll = alert_poller::handle(&connections, &m.store, &m.bus, &options, &m.recorder);
    m.invoke(Function::AlertPoller, poll).await?;
    Ok(())
}
