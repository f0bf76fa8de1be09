//! Seeding shared by the benchmarks and tests: companies already mapped to tenants, each with
//! a pay-as-you-go agreement whose additions are the mapped items ([`payg_companies`], or
//! servers only: [`payg_servers`]), and usage in Acronis; a mapping made by hand
//! ([`mapped`]); a company for the provisioner to make a tenant for ([`customer`]); a tenant
//! as Acronis answers it ([`tenant_answer`]).

use chrono::Utc;
use serde_json::{Value, json};
use shared::store::{CompanyMapping, MappingOrigin, ProductMapping, Store};
use simulators::acronis::{AcronisSim, INFRA_EU};
use simulators::connectwise::CwSim;

use crate::{LocalStack, bench_tenant};

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
                connection: Default::default(),
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
    let mappings: Vec<CompanyMapping> = (1..=n).map(|id| mapped(id, &bench_tenant(id))).collect();
    store.load_mappings_unchecked(&mappings).await?;
    Ok(())
}

/// Company `company` mapped to `tenant` by hand, as `acw companies map --tenant` stores it.
pub fn mapped(company: i64, tenant: &str) -> CompanyMapping {
    CompanyMapping {
        connection: Default::default(),
        unknown: Default::default(),
        company_id: company,
        tenant_id: tenant.to_owned(),
        company_name: None,
        tenant_name: None,
        origin: MappingOrigin::Manual,
        mapped_at: Utc::now(),
        qualified_at: None,
        setup_pending: false,
    }
}

/// Companies `1..=n`, each with a pay-as-you-go agreement (`c * 100`) holding one servers
/// addition (`c * 1000`, quantity 0, product [`SERVERS`]), its tenant ([`bench_tenant`])
/// using `servers(c)` servers, and its mapping: what a usage cycle pushes.
pub async fn payg_servers(
    cw_sim: &CwSim,
    acronis_sim: &AcronisSim,
    store: &Store,
    n: i64,
    servers: impl Fn(i64) -> i64,
) -> anyhow::Result<()> {
    let (mut companies, mut agreements, mut additions, mut mappings) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in 1..=n {
        companies.push(json!({"id": c, "identifier": format!("C{c}"), "name": format!("Co {c}")}));
        agreements.push(json!({"id": c * 100, "name": "Backup usage", "type": {"id": 2, "name": "Pay As You Go"},
                               "company": {"id": c}, "agreementStatus": "Active", "noEndingDateFlag": true}));
        additions.push(
            json!({"id": c * 1000, "agreementId": c * 100, "product": {"id": SERVERS},
                              "quantity": 0, "billCustomer": "Billable"}),
        );
        acronis_sim.seed_tenant(json!({"id": bench_tenant(c), "name": format!("Co {c}")}))?;
        acronis_sim.set_usage(&bench_tenant(c), "pw_base_servers", None, servers(c))?;
        mappings.push(mapped(c, &bench_tenant(c)));
    }
    cw_sim
        .seed(json!({"companies": companies, "agreements": agreements, "additions": additions}))?;
    store.load_mappings_unchecked(&mappings).await?;
    Ok(())
}

/// The ConnectWise product that sells `pw_base_servers` in [`customer`].
pub const SERVERS: i64 = 500;

/// Company `id` (named `name`, its primary contact `contact`) with an active agreement
/// (`id * 100`) selling 5 servers (addition `id * 1000`), the servers' product mapping, and
/// automatic provisioning on: one company for the provisioner to make a tenant for.
pub async fn customer(s: &LocalStack, id: i64, name: &str, contact: Value) -> anyhow::Result<()> {
    s.store
        .put_product_mapping(&ProductMapping::new(
            "pw_base_servers",
            Some(SERVERS),
            "quantity",
        ))
        .await?;
    s.cw_sim.seed(json!({
        "catalog": [{"id": SERVERS, "identifier": "ACR-SERVERS", "description": "Acronis servers"}],
        "companies": [{"id": id, "identifier": name, "name": name, "status": {"id": 1, "name": "Active"}}],
        "contacts": [contact],
        "agreements": [{"id": id * 100, "name": "Backup", "type": {"id": 1, "name": "Managed Services"},
                        "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": true}],
        "additions": [{"id": id * 1000, "agreementId": id * 100, "product": {"id": SERVERS},
                       "quantity": 5.0, "billCustomer": "Billable"}]
    }))?;
    s.store
        .save_section(&shared::domain::settings::ProvisioningSettings {
            auto_provisioning: true,
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Company `company`'s primary contact (id `company * 10`), with `email` as its default
/// e-mail.
pub fn contact(company: i64, email: &str) -> Value {
    json!({"id": company * 10, "firstName": "Pat", "lastName": "Lee", "company": {"id": company}, "defaultFlag": true,
           "communicationItems": [{"type": {"id": 1, "name": "Email"}, "value": email,
                                   "defaultFlag": true, "communicationType": "Email"}]})
}

/// Tenant `id` as `GET /tenants/{id}` (or a list of tenants) answers it now, changed by
/// `change`.
pub fn tenant_answer(acronis_sim: &AcronisSim, id: &str, change: impl Fn(&mut Value)) -> Value {
    let mut t = acronis_sim.state()["tenants"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no tenant {id} in the simulator"));
    if let Some(o) = t.as_object_mut() {
        for extra in ["offering_items", "usages", "legacy_id", "mfa_enabled"] {
            o.remove(extra);
        }
    }
    change(&mut t);
    t
}
