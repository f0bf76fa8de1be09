//! `make demo`: the integration end to end on the local stack, through the same settings,
//! secret, clients, store, bus and handlers the Lambdas use. The simulators stand in for
//! an MSP's ConnectWise and Acronis; everything else is the product.
//!
//! 1. configure: auto-provisioning on, products mapped, callbacks registered (twice: the
//!    second registration changes nothing);
//! 2. an MSP sells Acronis in ConnectWise: a company, its primary contact, an agreement with
//!    an addition → signed callbacks → webhook → bus → provisioner → a ready tenant;
//! 3. the addition's quantity changes → callback → the tenant's quota follows;
//! 4. alerts become tickets; 5. pay-as-you-go usage flows into an addition;
//! 6. what was done, from the run records;
//! 7. a second data centre ([`second_dc`]): a company of another country provisioned in
//!    the secret's connection `us`, with that connection's product mappings.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use shared::acronis::AcronisClient;
use shared::bootstrap::Deps;
use shared::domain::settings::ProvisioningSettings;
use shared::services::callbacks;
use shared::store::ProductMapping;

pub const SERVERS_PRODUCT: i64 = 9001;
pub const WORKSTATIONS_PRODUCT: i64 = 9002;

mod second_dc;
/// The simulator's first storage (Acronis Cloud EU).
const STORAGE_EU: &str = "019097a6-114f-4418-bd54-e01ef049f209";

#[allow(clippy::print_stdout)]
pub fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

/// Control-API call to a simulator.
pub async fn control(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Value,
) -> Result<Value> {
    let resp = http.request(method, url).json(&body).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Auto-provisioning on, two products mapped, the EU storage as every tenant's default.
pub async fn configure(deps: &Deps, http: &reqwest::Client, cw_sim: &str) -> Result<()> {
    let store = &deps.store;
    store
        .save_section(&ProvisioningSettings {
            auto_provisioning: true,
            ..ProvisioningSettings::default()
        })
        .await?;
    control(
        http,
        reqwest::Method::POST,
        &format!("{cw_sim}/_sim/seed"),
        json!({"catalog": [
            {"id": SERVERS_PRODUCT, "identifier": "ACR-PW-SERVERS", "description": "Acronis Cyber Protect - servers",
             "customerDescription": "Backup for servers", "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}},
            {"id": WORKSTATIONS_PRODUCT, "identifier": "ACR-PW-WORKSTATIONS", "description": "Acronis Cyber Protect - workstations",
             "customerDescription": "Backup for PCs", "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}}
        ]}),
    )
    .await?;
    let mapping = ProductMapping::new;
    store
        .put_product_mapping(&mapping(
            "pw_base_servers",
            Some(SERVERS_PRODUCT),
            "quantity",
        ))
        .await?;
    store
        .put_product_mapping(&mapping(
            "pw_base_workstations",
            Some(WORKSTATIONS_PRODUCT),
            "quantity",
        ))
        .await?;
    let mut storage = mapping("pw_base_storage", None, "bytes");
    storage.infra_id = Some(STORAGE_EU.into());
    storage.default_storage = true;
    store.put_product_mapping(&storage).await?;
    Ok(())
}

/// A company sold Acronis through ConnectWise's UI (each step fires its callbacks).
/// Returns the agreement and addition ids.
pub async fn sell(
    http: &reqwest::Client,
    cw_sim: &str,
    company_id: i64,
    name: &str,
    servers: u32,
) -> Result<(i64, i64)> {
    let company = json!({"id": company_id, "identifier": format!("CO{company_id}"), "name": name,
                         "status": {"id": 1, "name": "Active"}});
    sell_product(http, cw_sim, company, SERVERS_PRODUCT, servers).await
}

/// [`sell`] of `company` (its ConnectWise record, `id` included) with `quantity` of
/// `product`.
pub async fn sell_product(
    http: &reqwest::Client,
    cw_sim: &str,
    company: Value,
    product: i64,
    quantity: u32,
) -> Result<(i64, i64)> {
    let post = reqwest::Method::POST;
    let company_id = company["id"].as_i64().context("the company's id")?;
    control(
        http,
        post.clone(),
        &format!("{cw_sim}/_sim/companies"),
        company,
    )
    .await?;
    control(
        http,
        post.clone(),
        &format!("{cw_sim}/_sim/seed"),
        json!({"contacts": [{"firstName": "Robin", "lastName": "Admin", "company": {"id": company_id}, "defaultFlag": true,
                             "communicationItems": [{"type": {"id": 1, "name": "Email"}, "value": format!("robin@co{company_id}.example"),
                                                     "defaultFlag": true, "communicationType": "Email"}]}]}),
    )
    .await?;
    let agreement = control(
        http,
        post.clone(),
        &format!("{cw_sim}/_sim/agreements"),
        json!({"name": "Managed backup", "type": {"id": 1, "name": "Managed Services"}, "company": {"id": company_id},
               "agreementStatus": "Active", "noEndingDateFlag": true}),
    )
    .await?;
    let agreement_id = agreement["id"].as_i64().context("agreement id")?;
    let addition = control(
        http,
        post,
        &format!("{cw_sim}/_sim/agreements/{agreement_id}/additions"),
        json!({"product": {"id": product}, "quantity": quantity, "billCustomer": "Billable"}),
    )
    .await?;
    Ok((
        agreement_id,
        addition["id"].as_i64().context("addition id")?,
    ))
}

/// Waits until `check` returns `Some`, up to `within`.
pub async fn wait_for<T, F, Fut>(within: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("gave up after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (30 s at most) until the company is mapped to a tenant: how each sale of the demo
/// sees its company provisioned.
pub async fn provisioned(deps: &Deps, company_id: i64) -> Result<shared::store::CompanyMapping> {
    wait_for(Duration::from_secs(30), || async {
        Ok(deps.store.mapping_by_company(company_id).await?)
    })
    .await
}

/// The company's tenant, read through the client of the connection it is in (the one the
/// demo then reads its quotas with).
pub async fn tenant_of(
    deps: &Deps,
    mapping: &shared::store::CompanyMapping,
) -> Result<(AcronisClient, shared::acronis::models::Tenant)> {
    let acronis = deps.connections.client(&mapping.connection).await?;
    let tenant = acronis.tenant(&mapping.tenant_id).await?;
    Ok((acronis, tenant))
}

pub async fn run() -> Result<()> {
    // The operator's side, as `acw`: urgent in ConnectWise's budget.
    let mut settings = shared::settings::Settings::from_env()?;
    settings.http.budget_priority = shared::domain::request_budget::Priority::Urgent;
    let deps = Deps::build(settings, &shared::aws::lambda_config()?).await?;
    let http = reqwest::Client::new();
    let cw_sim = std::env::var("CW_SIM_URL").context("CW_SIM_URL")?;
    let webhook_url = std::env::var("WEBHOOK_URL").context("WEBHOOK_URL")?;

    say("== 1. configure");
    configure(&deps, &http, &cw_sim).await?;
    for attempt in ["first", "second"] {
        let r = callbacks::register(&deps.cw, &webhook_url, false).await?;
        say(format!(
            "   callbacks, {attempt} registration: created {:?}, kept {:?}, removed {:?}",
            r.created, r.kept, r.removed
        ));
    }

    say("== 2. a company gets an agreement with Acronis servers in ConnectWise");
    let company_id = 4242;
    let started = Instant::now();
    let (agreement_id, addition_id) =
        sell(&http, &cw_sim, company_id, "Northwind Traders", 5).await?;
    let mapping = provisioned(&deps, company_id)
        .await
        .context("the company was not provisioned")?;
    say(format!(
        "   provisioned in {} ms: company {company_id} ↔ tenant {}",
        started.elapsed().as_millis(),
        mapping.tenant_id
    ));
    // Through the client of the connection the company's tenant is in (`default` here).
    let (acronis, tenant) = tenant_of(&deps, &mapping).await?;
    say(format!(
        "   tenant {:?} tagged {:?}",
        tenant.name.as_deref().unwrap_or(""),
        tenant.internal_tag.as_deref().unwrap_or("")
    ));
    for id in acronis.tenant_user_ids(&tenant.id).await? {
        let user = acronis.user(&id).await?;
        say(format!(
            "   account {} (activated: {})",
            user.login,
            user.activated.unwrap_or(false)
        ));
    }
    print_quotas(&acronis, &tenant.id).await?;

    say("== 3. the addition goes from 5 to 8 servers");
    control(
        &http,
        reqwest::Method::PATCH,
        &format!("{cw_sim}/_sim/agreements/{agreement_id}/additions/{addition_id}"),
        json!({"quantity": 8}),
    )
    .await?;
    let tenant_id = tenant.id.clone();
    wait_for(Duration::from_secs(30), || async {
        let items = acronis.offering_items(&tenant_id).await?;
        Ok(items
            .iter()
            .find(|i| i.name == "pw_base_servers")
            .and_then(|i| i.quota)
            .filter(|q| q.value == Some(8))
            .map(|_| ()))
    })
    .await
    .context("the quota did not follow the addition")?;
    print_quotas(&acronis, &tenant.id).await?;

    alerts(&deps, &http, &cw_sim, &tenant.id).await?;
    usage(&deps, &acronis, &http, &cw_sim, company_id, &tenant.id).await?;

    say("== 6. run records of the provisioner");
    for run in deps
        .store
        .latest_runs("provisioner", 10)
        .await?
        .iter()
        .rev()
    {
        for c in &run.changes {
            say(format!(
                "   {} {}: {} → {} ({})",
                c.subject,
                c.field,
                c.old.as_ref().map_or("-".to_owned(), Value::to_string),
                c.new,
                c.basis.as_deref().unwrap_or("")
            ));
        }
    }
    second_dc::run(&deps, &http, &cw_sim).await?;
    say("demo finished");
    Ok(())
}

async fn print_quotas(acronis: &AcronisClient, tenant_id: &str) -> Result<()> {
    for i in acronis
        .offering_items(tenant_id)
        .await?
        .iter()
        .filter(|i| i.status == 1)
    {
        let quota = match i.quota {
            Some(q) if q.value.is_some() => format!(
                "{} ({})",
                q.value.unwrap_or_default(),
                if q.overage == Some(0) { "hard" } else { "soft" }
            ),
            _ => "unlimited".into(),
        };
        say(format!("   quota {:<22} {quota}", i.name));
    }
    Ok(())
}

/// A backup problem becomes one ticket, a repeat a note, and the clear closes it.
async fn alerts(deps: &Deps, http: &reqwest::Client, cw_sim: &str, tenant_id: &str) -> Result<()> {
    use shared::domain::alerts::{AlertSettings, TypeMapping};
    let acronis_sim = std::env::var("ACRONIS_SIM_URL").context("ACRONIS_SIM_URL")?;
    say("== 4. alerts become tickets");
    let seeded = control(
        http,
        reqwest::Method::POST,
        &format!("{cw_sim}/_sim/seed"),
        json!({
            "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}, {"name": "Priority 1 - Critical"}],
            "boards": [{"name": "Acronis alerts",
                "statuses": [{"name": "New", "defaultFlag": true}, {"name": "In Progress"}, {"name": "Resolved", "closedStatus": true}],
                "types": [{"name": "Backup"}]}]
        }),
    )
    .await?;
    let board = &seeded["boards"][0];
    let id_of = |list: &Value, name: &str| -> Result<i64> {
        list.as_array()
            .and_then(|l| l.iter().find(|x| x["name"] == name))
            .and_then(|x| x["id"].as_i64())
            .with_context(|| format!("{name} not seeded"))
    };
    let new_status = id_of(&board["statuses"], "New")?;
    let settings = AlertSettings {
        board_id: board["id"].as_i64(),
        types: [(
            "BackupFailed".to_owned(),
            TypeMapping {
                status_id: new_status,
                type_id: Some(id_of(&board["types"], "Backup")?),
                subtype_id: None,
                priority_id: Some(id_of(&seeded["priorities"], "Priority 1 - Critical")?),
            },
        )]
        .into(),
        auto_close: true,
        closing_status_id: Some(id_of(&board["statuses"], "Resolved")?),
        ..AlertSettings::default()
    };
    shared::services::alerts::save_settings(&deps.cw, &deps.store, &settings)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    say(
        "   mapping saved: BackupFailed → board \"Acronis alerts\", New, Backup, Priority 1, auto-close to Resolved",
    );

    let raise = json!({"tenant": tenant_id, "type": "BackupFailed", "severity": "critical",
        "details": {"resourceId": "srv-01", "resourceName": "SRV-01", "resourceType": "machine", "planName": "Nightly",
                    "errorMessage": {"reason": "The backup location is not accessible"}}});
    let alert = control(
        http,
        reqwest::Method::POST,
        &format!("{acronis_sim}/_sim/alerts"),
        raise.clone(),
    )
    .await?;
    let alert_id = alert["id"].as_str().context("alert id")?.to_owned();
    let tickets = || async {
        let all = control(
            http,
            reqwest::Method::GET,
            &format!("{cw_sim}/_sim/tickets"),
            Value::Null,
        )
        .await?;
        Ok::<_, anyhow::Error>(all.as_array().cloned().unwrap_or_default())
    };
    let ticket = wait_for(Duration::from_secs(30), || async {
        Ok(tickets().await?.into_iter().next())
    })
    .await
    .context("no ticket was created")?;
    let ticket_id = ticket["id"].as_i64().unwrap_or_default();
    say(format!(
        "   ticket #{ticket_id} {:?} status {} priority {} xref {}",
        ticket["summary"].as_str().unwrap_or(""),
        ticket["status"]["name"],
        ticket["priority"]["name"],
        ticket["externalXRef"]
    ));

    control(http, reqwest::Method::POST, &format!("{acronis_sim}/_sim/alerts"), json!({"id": alert_id, "tenant": tenant_id, "type": "BackupFailed", "details": raise["details"]})).await?;
    let notes_url = format!("{cw_sim}/_sim/tickets/{ticket_id}/notes");
    let notes = wait_for(Duration::from_secs(30), || async {
        let notes = control(http, reqwest::Method::GET, &notes_url, Value::Null).await?;
        let n = notes.as_array().map_or(0, Vec::len);
        Ok((n >= 2).then_some(n))
    })
    .await
    .context("the repeat did not become a note")?;
    say(format!(
        "   the alert again: still {} ticket(s), {notes} notes on #{ticket_id}",
        tickets().await?.len()
    ));

    control(
        http,
        reqwest::Method::DELETE,
        &format!("{acronis_sim}/_sim/alerts/{alert_id}"),
        Value::Null,
    )
    .await?;
    let closed = wait_for(Duration::from_secs(30), || async {
        Ok(tickets()
            .await?
            .into_iter()
            .find(|t| t["id"] == ticket_id && t["closedFlag"] == true))
    })
    .await
    .context("the clear did not close the ticket")?;
    say(format!(
        "   the alert cleared: ticket #{ticket_id} is {}",
        closed["status"]["name"]
    ));
    Ok(())
}

/// Pay-as-you-go: usage lands in the addition, and a second run writes nothing.
async fn usage(
    deps: &Deps,
    acronis: &AcronisClient,
    http: &reqwest::Client,
    cw_sim: &str,
    company_id: i64,
    tenant_id: &str,
) -> Result<()> {
    let acronis_sim = std::env::var("ACRONIS_SIM_URL").context("ACRONIS_SIM_URL")?;
    say("== 5. pay-as-you-go usage flows into the agreement addition");
    let agreement = control(
        http,
        reqwest::Method::POST,
        &format!("{cw_sim}/_sim/agreements"),
        json!({"name": "Backup usage", "type": {"id": 2, "name": "Acronis Pay As You Go"}, "company": {"id": company_id},
               "agreementStatus": "Active", "noEndingDateFlag": true}),
    )
    .await?;
    let agreement_id = agreement["id"].as_i64().context("agreement id")?;
    let addition = control(
        http,
        reqwest::Method::POST,
        &format!("{cw_sim}/_sim/agreements/{agreement_id}/additions"),
        json!({"product": {"id": WORKSTATIONS_PRODUCT}, "quantity": 0, "billCustomer": "Billable"}),
    )
    .await?;
    let addition_id = addition["id"].as_i64().context("addition id")?;
    wait_for(Duration::from_secs(30), || async {
        let items = acronis.offering_items(tenant_id).await?;
        Ok(items
            .iter()
            .find(|i| i.name == "pw_base_workstations" && i.status == 1)
            .map(|_| ()))
    })
    .await
    .context("the PAYG item was not enabled")?;
    say("   PAYG agreement added: workstations enabled with an unlimited quota");
    control(
        http,
        reqwest::Method::PUT,
        &format!("{acronis_sim}/_sim/usage"),
        json!({"tenant": tenant_id, "name": "pw_base_workstations", "value": 12}),
    )
    .await?;
    let svc = deps.usage_push();
    let recorder = deps.recorder().with_log(shared::runs::MetricLog::Off);
    for attempt in ["first", "second"] {
        let reply = usage_push::handle(
            &svc,
            Some(&deps.bus),
            &recorder,
            shared::services::usage::Deadline::none(),
        )
        .await?;
        let quantity = deps.cw.addition(agreement_id, addition_id).await?.quantity;
        say(format!(
            "   usage push, {attempt} run: {} write(s); addition {addition_id} quantity = {}",
            reply["writes"],
            quantity.map_or("-".to_owned(), |q| q.to_string())
        ));
    }
    if let Some(run) = deps.store.latest_runs("usage-push", 2).await?.last() {
        for c in &run.changes {
            say(format!(
                "   run record: {} {}: {} → {} ({})",
                c.subject,
                c.field,
                c.old.as_ref().map_or("-".to_owned(), Value::to_string),
                c.new,
                c.basis.as_deref().unwrap_or("")
            ));
        }
    }
    Ok(())
}
