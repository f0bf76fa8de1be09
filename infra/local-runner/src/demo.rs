//! `make demo`: the scenario on the local stack, through the same settings, secret, clients,
//! store and bus the Lambdas use. It grows with the product; today it shows the foundation:
//! credentials from the secret, ConnectWise companies (codebase discovered, paged) and
//! Acronis tenants (token, cursor paging) read from the simulators, an event travelling
//! bus → rule → consumer queue, and a mapping stored one-to-one.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;
use shared::acronis::AcronisClient;
use shared::bus::{Action, CompanyChanged, Event, EventBus, Origin, VERSION};
use shared::connectwise::{Conditions, ConnectWiseClient, ListQuery};
use shared::http::{RetryPolicy, Transport, build_client};
use shared::secrets::Credentials;
use shared::settings::Settings;
use shared::store::{CompanyMapping, MappingOrigin, Store, StoreError};

#[allow(clippy::print_stdout)]
fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

pub async fn run() -> Result<()> {
    let settings = Settings::from_env()?;
    let aws = shared::aws::load_config().await;
    let creds = Credentials::load(
        &aws_sdk_secretsmanager::Client::new(&aws),
        &settings.secret_id,
    )
    .await?;
    let http = build_client(&settings.http)?;
    let policy = RetryPolicy::from_settings(&settings.http);
    let cw = ConnectWiseClient::connect(
        &creds.connectwise,
        Transport::new(
            http.clone(),
            policy.clone(),
            settings.http.connectwise_concurrency,
        ),
    )
    .await?;
    let acronis = AcronisClient::new(
        &creds.acronis,
        Transport::new(http.clone(), policy, settings.http.acronis_concurrency),
    )?;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), &settings.table_name);
    let bus = EventBus::new(
        aws_sdk_eventbridge::Client::new(&aws),
        &settings.event_bus_name,
    );

    say("== 1. seed the simulators (as an MSP's ConnectWise and Acronis would hold data)");
    let cw_sim = std::env::var("CW_SIM_URL").context("CW_SIM_URL")?;
    let acronis_sim = std::env::var("ACRONIS_SIM_URL").context("ACRONIS_SIM_URL")?;
    let companies: Vec<_> = (1..=1200)
        .map(|i| json!({"identifier": format!("Demo{i:04}"), "name": format!("Demo Customer {i:04}"), "status": {"id": 1, "name": "Active"}}))
        .collect();
    control(
        &http,
        &format!("{cw_sim}/_sim/seed"),
        json!({ "companies": companies }),
    )
    .await?;
    let partner = acronis.client_info().await?.tenant_id;
    for name in ["Demo Customer 0001", "Demo Customer 0002"] {
        control(
            &http,
            &format!("{acronis_sim}/_sim/tenants"),
            json!({"name": name, "kind": "customer", "parent_id": partner}),
        )
        .await?;
    }

    say(format!("== 2. ConnectWise at {}", cw.base_url()));
    let all = cw.companies(&ListQuery::default()).await?;
    say(format!("   {} companies read, 1000 per page", all.len()));
    let some = cw
        .companies(&ListQuery::conditions(
            Conditions::new().like("name", "Demo Customer 000%"),
        ))
        .await?;
    for c in &some {
        say(format!(
            "   #{:<5} {}",
            c.id,
            c.name.as_deref().unwrap_or("?")
        ));
    }

    say("== 3. Acronis");
    let tenants = acronis.child_tenants(&partner).await?;
    for t in &tenants {
        say(format!(
            "   tenant {} {}",
            t.id,
            t.name.as_deref().unwrap_or("?")
        ));
    }

    say("== 4. an event on the bus reaches the provisioner's queue");
    let first = some.first().context("no company seeded")?;
    let event = Event::Company(CompanyChanged {
        version: VERSION,
        company_id: first.id,
        action: Action::Updated,
        origin: Origin::Admin,
        observed_at: chrono::Utc::now(),
    });
    let report = bus.publish(std::slice::from_ref(&event)).await;
    if !report.all_published() {
        bail!("publish failed: {:?}", report.failed);
    }
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue = std::env::var("PROVISIONER_QUEUE_URL").context("PROVISIONER_QUEUE_URL")?;
    let received = receive_one(&sqs, &queue).await?;
    say(format!("   received {received}"));

    say("== 5. the company ↔ tenant mapping is one-to-one");
    let tenant = tenants.first().context("no tenant")?;
    let mapping = CompanyMapping {
        company_id: first.id,
        tenant_id: tenant.id.clone(),
        company_name: first.name.clone(),
        tenant_name: tenant.name.clone(),
        origin: MappingOrigin::Manual,
        mapped_at: chrono::Utc::now(),
    };
    match store.map_company(&mapping).await {
        Ok(()) | Err(StoreError::CompanyAlreadyMapped { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let second = CompanyMapping {
        company_id: first.id + 1,
        ..mapping.clone()
    };
    match store.map_company(&second).await {
        Err(e @ StoreError::TenantAlreadyMapped { .. }) => {
            say(format!("   refused as it must be: {e}"))
        }
        other => bail!("a second company was mapped to one tenant: {other:?}"),
    }
    say("demo finished");
    Ok(())
}

async fn control(http: &reqwest::Client, url: &str, body: serde_json::Value) -> Result<()> {
    let resp = http.post(url).json(&body).send().await?;
    if !resp.status().is_success() {
        bail!("{url} answered {}", resp.status());
    }
    Ok(())
}

async fn receive_one(sqs: &aws_sdk_sqs::Client, queue: &str) -> Result<String> {
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .wait_time_seconds(1)
            .send()
            .await?;
        if let Some(m) = out.messages.unwrap_or_default().into_iter().next() {
            if let Some(h) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(h)
                    .send()
                    .await?;
            }
            let v: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}"))?;
            return Ok(format!(
                "{} for company {}",
                v["detail-type"], v["detail"]["company_id"]
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("no event arrived on {queue}")
}
