//! A migration day's extra work at `m` companies: companies that exist in ConnectWise, each
//! with a prepaid agreement of a mapped product, none mapped yet, when the MSP turns on
//! automatic provisioning. The reconciler's next cycle sends every company (one event
//! each) and the provisioner makes each tenant (2 invocations at a time, its reserved
//! concurrency). ConnectWise sends no callbacks for companies that do not change, so the
//! webhook has no part in it.

use std::collections::BTreeMap;

use anyhow::Result;
use integration_tests::cost::bill::Day;
use integration_tests::meter::Meter;
use serde_json::json;
use shared::domain::settings::ProvisioningSettings;
use shared::services::reconcile;
use shared::store::ProductMapping;

use crate::cycles::{at, provisioner, reconciler};
use crate::harness::Metered;

const SERVERS: i64 = 500;

pub async fn measure(m_companies: i64, meter: &Meter, scale: u32) -> Result<Day> {
    at(0);
    let m = Metered::start(meter, scale).await?;
    m.unthrottled();
    m.store
        .save_section(&ProvisioningSettings {
            auto_provisioning: true,
            // The first admin account is an Acronis call, not an AWS cost.
            create_account_from_primary_contact: false,
            ..ProvisioningSettings::default()
        })
        .await?;
    m.store
        .put_product_mapping(&ProductMapping::new(
            "pw_base_servers",
            Some(SERVERS),
            "quantity",
        ))
        .await?;
    let mut companies = Vec::new();
    let mut agreements = Vec::new();
    let mut additions = Vec::new();
    for id in 1..=m_companies {
        companies.push(
            json!({"id": id, "identifier": format!("C{id}"), "name": format!("Co {id}"),
            "status": {"id": 1, "name": "Active"}}),
        );
        agreements.push(
            json!({"id": id, "name": "Backup", "type": {"id": 1, "name": "Managed Services"},
            "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": true}),
        );
        additions.push(
            json!({"id": id * 10, "agreementId": id, "product": {"id": SERVERS},
            "quantity": 2, "billCustomer": "Billable"}),
        );
    }
    m.stack.cw_sim.seed(json!({
        "catalog": [{"id": SERVERS, "identifier": "ACR-SERVERS", "description": "Acronis servers"}],
        "companies": companies, "agreements": agreements, "additions": additions
    }))?;
    m.store
        .advance_cursor(reconcile::SWEEP_INDEX_CURSOR, None, &true)
        .await?;
    m.day(&BTreeMap::new());

    at(60);
    m.production_like();
    let candidates = reconciler(&m, &m.bus).await?;
    let (events, failed) = provisioner(&m, 2).await?;
    let mapped = m.store.mappings().await?.len();
    eprintln!(
        "migration {m_companies}: {candidates} candidates, {events} provisioner runs ({failed} failed), {mapped} companies mapped"
    );
    anyhow::ensure!(
        mapped as i64 == m_companies,
        "only {mapped} of {m_companies} companies were provisioned"
    );
    let (day, _) = m.day(&BTreeMap::new());
    at(0);
    Ok(day)
}
