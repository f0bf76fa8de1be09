//! Seeding shared by the benchmarks: companies already mapped to tenants, each with a
//! pay-as-you-go agreement whose additions are the mapped items, and usage in Acronis.

use chrono::Utc;
use serde_json::json;
use shared::store::{CompanyMapping, MappingOrigin, ProductMapping, Store};
use simulators::acronis::{AcronisSim, INFRA_EU};
use simulators::connectwise::CwSim;

use crate::bench_tenant;

/// The mapped items: offering item, whether it is storage, ConnectWise product.
pub const PAYG_ITEMS: [(&str, bool, i64); 5] = [
    ("pw_base_servers", false, 500),
    ("pw_base_workstations", false, 501),
    ("pw_base_vms", false, 502),
    ("pw_base_mobiles", false, 503),
    ("pw_base_storage", true, 504),
];

/// Companies `1..=n`, each with one pay-as-you-go agreement holding an addition per item of
/// [`PAYG_ITEMS`] (quantity 0), its tenant with usage of each item, and its mapping.
pub async fn payg_companies(
    cw_sim: &CwSim,
    acronis_sim: &AcronisSim,
    store: &Store,
    n: i64,
) -> anyhow::Result<()> {
    let now = Utc::now();
    for (item, storage, product) in PAYG_ITEMS {
        store
            .put_product_mapping(&ProductMapping {
                unknown: Default::default(),
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
    let catalog: Vec<_> = PAYG_ITEMS
        .iter()
        .map(|(item, _, p)| json!({"id": *p, "identifier": format!("ACR{p}"), "description": item}))
        .collect();
    cw_sim.seed(json!({ "catalog": catalog }))?;
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
        for (k, (_, _, product)) in PAYG_ITEMS.iter().enumerate() {
            additions.push(
                json!({"id": id * 10 + k as i64, "agreementId": id, "product": {"id": product},
                "quantity": 0, "billCustomer": "Billable"}),
            );
        }
    }
    cw_sim
        .seed(json!({"companies": companies, "agreements": agreements, "additions": additions}))?;
    for id in 1..=n {
        acronis_sim.seed_tenant(json!({"id": bench_tenant(id), "name": format!("Co {id}")}))?;
        for (k, (item, storage, _)) in PAYG_ITEMS.iter().enumerate() {
            let v = if *storage {
                (id % 50 + 1) * 1_000_000_000
            } else {
                (id + k as i64) % 7 + 1
            };
            acronis_sim.set_usage(&bench_tenant(id), item, storage.then_some(INFRA_EU), v)?;
        }
    }
    let mappings: Vec<CompanyMapping> = (1..=n)
        .map(|id| CompanyMapping {
            unknown: Default::default(),
            company_id: id,
            tenant_id: bench_tenant(id),
            company_name: None,
            tenant_name: None,
            origin: MappingOrigin::Manual,
            mapped_at: now,
            qualified_at: None,
            setup_pending: false,
        })
        .collect();
    store.load_mappings_unchecked(&mappings).await?;
    Ok(())
}
