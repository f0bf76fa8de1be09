//! The demo's step 7: a second data centre. The local stack's secret has two Acronis
//! connections, `default` (the flat keys) and `us` (`acronis.us.*`, the second simulator:
//! another partner tenant, a US storage only). A rule sends new customers of the United
//! States to `us`; `us` has product mappings of its own (the same offering items, other
//! ConnectWise products). A company of the United States is sold Acronis and provisioned
//! there, with that connection's quotas, and nothing in the default data centre.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use shared::bootstrap::Deps;
use shared::domain::connection::{CompanyField, ConnectionName, NewCustomerRule};
use shared::domain::settings::ProvisioningSettings;
use shared::store::ProductMapping;

use super::{control, print_quotas, provisioned, say, sell_product, tenant_of};

pub const US_SERVERS_PRODUCT: i64 = 9011;
pub const US_WORKSTATIONS_PRODUCT: i64 = 9012;
/// The second simulator's only storage (Acronis Cloud US).
const STORAGE_US: &str = "5b0f7d3e-2c41-4a8e-9d6b-7e1f2a3c4d5e";
const COMPANY: i64 = 4343;
const NAME: &str = "Contoso Inc";

pub async fn run(deps: &Deps, http: &reqwest::Client, cw_sim: &str) -> Result<()> {
    let us_sim = std::env::var("ACRONIS2_SIM_URL")
        .context("ACRONIS2_SIM_URL (the local stack's second data centre; make local-up)")?;
    let default_sim = std::env::var("ACRONIS_SIM_URL").context("ACRONIS_SIM_URL")?;
    let us = ConnectionName::parse(local_runner::SECOND_CONNECTION)?;
    say("== 7. a second data centre: new customers in the United States go to connection us");
    let names: Vec<String> = deps
        .connections
        .current()
        .await
        .keys()
        .map(ToString::to_string)
        .collect();
    say(format!(
        "   the secret's Acronis connections: {}",
        names.join(", ")
    ));
    configure(deps, http, cw_sim, &us).await?;

    let company = json!({"id": COMPANY, "identifier": format!("CO{COMPANY}"), "name": NAME,
                         "status": {"id": 1, "name": "Active"},
                         "country": {"id": 1, "name": "United States"}});
    let started = Instant::now();
    sell_product(http, cw_sim, company, US_SERVERS_PRODUCT, 3).await?;
    let mapping = provisioned(deps, COMPANY)
        .await
        .context("the company of the United States was not provisioned")?;
    say(format!(
        "   {NAME} (country United States, 3 × ACR-US-SERVERS) provisioned in {} ms: company {COMPANY} ↔ tenant {} in connection {}",
        started.elapsed().as_millis(),
        mapping.tenant_id,
        mapping.connection
    ));
    anyhow::ensure!(
        mapping.connection == us,
        "provisioned in connection {}, not us",
        mapping.connection
    );
    let (acronis, tenant) = tenant_of(deps, &mapping).await?;
    say(format!(
        "   tenant {:?} under the us partner tenant {}",
        tenant.name.as_deref().unwrap_or(""),
        tenant.parent_id
    ));
    print_quotas(&acronis, &tenant.id).await?;

    // Where it is, from the simulators themselves.
    let (in_us, in_default) = (
        tenants_named(http, &us_sim, NAME).await?,
        tenants_named(http, &default_sim, NAME).await?,
    );
    say(format!(
        "   tenants named {NAME:?}: {in_us} in the us data centre ({us_sim}), {in_default} in the default one ({default_sim})"
    ));
    anyhow::ensure!(
        in_us == 1 && in_default == 0,
        "the tenant must be in the us data centre only"
    );
    Ok(())
}

/// The rule (United States → `us`, every other country → `default`) and `us`'s products:
/// the same servers and workstations items as `default`'s, other ConnectWise products, and
/// its US storage for every tenant.
async fn configure(
    deps: &Deps,
    http: &reqwest::Client,
    cw_sim: &str,
    us: &ConnectionName,
) -> Result<()> {
    let mut provisioning: ProvisioningSettings = deps.store.section().await?;
    provisioning.new_customers = NewCustomerRule {
        connection: Some(ConnectionName::default_name()),
        by: Some(CompanyField::Country),
        values: [("United States".to_owned(), us.clone())].into(),
    };
    deps.store.save_section(&provisioning).await?;
    say("   provisioning.new_customers: by country, United States → us, any other → default");
    control(
        http,
        reqwest::Method::POST,
        &format!("{cw_sim}/_sim/seed"),
        json!({"catalog": [
            {"id": US_SERVERS_PRODUCT, "identifier": "ACR-US-SERVERS", "description": "Acronis Cyber Protect - servers (US)",
             "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}},
            {"id": US_WORKSTATIONS_PRODUCT, "identifier": "ACR-US-WORKSTATIONS", "description": "Acronis Cyber Protect - workstations (US)",
             "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}}
        ]}),
    )
    .await?;
    for (item, product) in [
        ("pw_base_servers", US_SERVERS_PRODUCT),
        ("pw_base_workstations", US_WORKSTATIONS_PRODUCT),
    ] {
        let mut m = ProductMapping::new(item, Some(product), "quantity");
        m.connection = us.clone();
        deps.store.put_product_mapping(&m).await?;
    }
    let mut storage = ProductMapping::new("pw_base_storage", None, "bytes");
    storage.connection = us.clone();
    storage.infra_id = Some(STORAGE_US.into());
    storage.default_storage = true;
    deps.store.put_product_mapping(&storage).await?;
    say(
        "   products of us: pw_base_servers → ACR-US-SERVERS, pw_base_workstations → ACR-US-WORKSTATIONS, storage Acronis Cloud US (default's: ACR-PW-SERVERS, ACR-PW-WORKSTATIONS, Acronis Cloud EU)",
    );
    Ok(())
}

/// How many live customer tenants named `name` the simulator at `url` holds.
async fn tenants_named(http: &reqwest::Client, url: &str, name: &str) -> Result<usize> {
    let state = control(
        http,
        reqwest::Method::GET,
        &format!("{url}/_sim/state"),
        Value::Null,
    )
    .await?;
    Ok(state["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["name"] == name && t["kind"] == "customer" && t["deleted_at"].is_null())
        .count())
}
