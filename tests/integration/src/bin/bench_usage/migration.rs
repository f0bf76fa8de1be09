//! Both together: a migration at once beside the cold usage push (`BENCH_MIGRATION=<n>`).
//! The `n` companies are sold (a managed-services agreement with a prepaid servers
//! addition, and a primary contact) before the scenario starts, and provisioned from its
//! start by the template's default provisioner instances (`ConsumerConcurrency` 2, 2
//! ConnectWise requests in flight each), taking from the same request budget as urgent
//! work, ahead of the usage push. Each company's time is from the scenario's start to its
//! tenant's quotas written.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::domain::settings::ProvisioningSettings;
use shared::functions::Function;
use shared::services::provisioning::Provisioning;
use shared::store::{RunRecord, Store};
use simulators::connectwise::CwSim;

/// Migrated companies' ids, far from the usage companies'.
const FIRST: i64 = 900_000_000;
/// The provisioner's reserved concurrency (the template's `ConsumerConcurrency`).
pub const INSTANCES: usize = 2;

/// The companies to migrate, sold in ConnectWise; auto-provisioning on.
pub async fn sell(cw_sim: &CwSim, store: &Store, n: i64, servers: i64) -> anyhow::Result<Vec<i64>> {
    let ids: Vec<i64> = (FIRST..FIRST + n).collect();
    let (mut companies, mut contacts, mut agreements, mut additions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in &ids {
        companies.push(
            json!({"id": id, "identifier": format!("M{id}"), "name": format!("Migrated {id}"),
                              "status": {"id": 1, "name": "Active"}}),
        );
        contacts.push(
            json!({"id": id, "firstName": "Pat", "lastName": format!("Lee{id}"),
                             "company": {"id": id}, "defaultFlag": true,
                             "communicationItems": [{"type": {"id": 1, "name": "Email"},
                                 "value": format!("it{id}@migrated.example"), "defaultFlag": true,
                                 "communicationType": "Email"}]}),
        );
        agreements.push(json!({"id": id, "name": "Backup", "type": {"id": 1, "name": "Managed Services"},
                               "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": true}));
        additions.push(
            json!({"id": id, "agreementId": id, "product": {"id": servers},
                              "quantity": 5.0, "billCustomer": "Billable"}),
        );
    }
    cw_sim.seed(json!({"companies": companies, "contacts": contacts,
                       "agreements": agreements, "additions": additions}))?;
    store
        .save_section(&ProvisioningSettings {
            auto_provisioning: true,
            ..Default::default()
        })
        .await?;
    Ok(ids)
}

/// Provisions `ids` over the `instances` (each takes the next company, as a consumer takes
/// the next event); returns each company's time from `started` (failed ones: none).
pub async fn run(
    instances: &[Provisioning],
    ids: &[i64],
    started: Instant,
) -> (Vec<Duration>, usize) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = async |svc: &Provisioning| {
        let mut done = Vec::new();
        let mut failed = 0;
        while let Some(id) = ids.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            let mut run = RunRecord::start(Function::Provisioner.name());
            match svc.sync_company(*id, &mut run).await {
                Ok(_) if run.failures.is_empty() => done.push(started.elapsed()),
                Ok(_) | Err(_) => {
                    failed += 1;
                    if failed == 1 {
                        eprintln!("migration: company {id}: {:?}", run.failures.first());
                    }
                }
            }
        }
        (done, failed)
    };
    let all = futures::future::join_all(instances.iter().map(work)).await;
    let mut times: Vec<Duration> = all.iter().flat_map(|(d, _)| d.iter().copied()).collect();
    times.sort_unstable();
    (times, all.iter().map(|(_, f)| f).sum())
}

/// The `p`th percentile of sorted `times`.
pub fn percentile(times: &[Duration], p: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * times.len() as f64).ceil() as usize;
    times[rank.clamp(1, times.len()) - 1]
}
