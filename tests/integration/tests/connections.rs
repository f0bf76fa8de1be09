//! Several Acronis connections against the local stack: moto (table, bus, queue), the
//! ConnectWise simulator and two Acronis simulators (two data centres, each with its own API
//! client, partner tenant and catalog). A company goes to the connection the MSP's rule
//! chooses, each connection's product mappings make its quotas and usage, each connection's
//! alerts become tickets, one data centre failing leaves the other's work untouched, and a
//! stack deployed with one connection keeps working across the upgrade.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::net::SocketAddr;
use std::time::Duration;

use integration_tests::{LocalStack, bus_as, bus_to_queue, cw_additions, fast_transport, store_as};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::acronis::{AcronisClient, Connections};
use shared::bus::EventBus;
use shared::domain::alerts::{AlertSettings, TypeMapping};
use shared::domain::connection::{CompanyField, ConnectionName, NewCustomerRule};
use shared::domain::settings::ProvisioningSettings;
use shared::functions::Function;
use shared::runs::{MetricLog, Recorder};
use shared::secrets::AcronisCredentials;
use shared::services::alerts::{self as alerts, PollOptions, TicketSync};
use shared::services::provisioning::{ProvisionError, Provisioning};
use shared::services::usage::{Deadline, FUNCTION, UsageOptions, UsagePush};
use shared::store::{ProductMapping, RunRecord, Store};
use simulators::acronis::{AcronisSim, AcronisSimConfig, INFRA_EU, INFRA_US, RaiseAlert};
use simulators::connectwise::CwSim;
use simulators::{FaultKind, FaultRule};

/// Companies: one in Germany (connection `default`), one in the United States (`us`), one in
/// France (no rule: a person decides).
const DE: i64 = 1;
const US: i64 = 2;
const FR: i64 = 3;
/// The same offering items, another product in each data centre.
const SERVERS_EU: i64 = 500;
const STORAGE_EU: i64 = 501;
const SERVERS_US: i64 = 600;
const STORAGE_US: i64 = 601;
const BOARD: i64 = 1;
const NEW: i64 = 1;
const RETENTION: Duration = Duration::from_secs(3600);

fn us() -> ConnectionName {
    ConnectionName::parse("us").unwrap()
}

struct Two {
    cw_sim: CwSim,
    eu: AcronisSim,
    us: AcronisSim,
    /// Provisioning with the provisioner's role.
    svc: Provisioning,
    /// The usage push with its role.
    usage: UsagePush,
    /// The operator's view of the table.
    store: Store,
    connections: Connections,
    sync: TicketSync,
    sync_recorder: Recorder,
    poller_store: Store,
    poller_bus: EventBus,
    /// The operator's bus (the reconciler's events).
    bus: EventBus,
    sqs: aws_sdk_sqs::Client,
    queue: String,
}

/// The second data centre's simulator and a client of it (connection `us`).
async fn second_data_centre() -> (AcronisSim, AcronisClient) {
    let sim = simulators::acronis::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        AcronisSimConfig::second_data_centre(),
    )
    .await
    .unwrap();
    let client = AcronisClient::new(
        &AcronisCredentials {
            name: us(),
            datacenter_url: sim.url(),
            client_id: "sim-client-us".into(),
            client_secret: SecretString::from("sim-secret-us"),
        },
        fast_transport(2, Duration::from_secs(3)),
    )
    .unwrap();
    (sim, client)
}

fn mapping(
    connection: &ConnectionName,
    item: &str,
    infra: Option<&str>,
    product: i64,
) -> ProductMapping {
    let unit = if infra.is_some() { "bytes" } else { "quantity" };
    ProductMapping {
        connection: connection.clone(),
        infra_id: infra.map(Into::into),
        default_storage: infra.is_some(),
        ..ProductMapping::new(item, Some(product), unit)
    }
}

/// The board alert tickets go to, and the priority they get.
fn alert_board() -> Value {
    json!({
        "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}],
        "boards": [{"id": BOARD, "name": "Acronis alerts",
            "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Closed", "closedStatus": true}]}]
    })
}

fn alert_settings() -> AlertSettings {
    let mut s = AlertSettings {
        board_id: Some(BOARD),
        ..AlertSettings::default()
    };
    s.types.insert(
        "BackupFailed".into(),
        TypeMapping {
            status_id: NEW,
            type_id: None,
            subtype_id: None,
            priority_id: None,
        },
    );
    s
}

async fn two() -> Two {
    let LocalStack {
        config,
        cw_sim,
        acronis_sim: eu,
        cw,
        acronis,
        store,
    } = LocalStack::start().await.unwrap();
    let (us_sim, us_client) = second_data_centre().await;
    let connections = Connections::of(acronis, [us_client]);
    let default = ConnectionName::default();
    for m in [
        mapping(&default, "pw_base_servers", None, SERVERS_EU),
        mapping(&default, "pw_base_storage", Some(INFRA_EU), STORAGE_EU),
        mapping(&us(), "pw_base_servers", None, SERVERS_US),
        mapping(&us(), "pw_base_storage", Some(INFRA_US), STORAGE_US),
    ] {
        store.put_product_mapping(&m).await.unwrap();
    }
    store
        .save_section(&ProvisioningSettings {
            auto_provisioning: true,
            create_account_from_primary_contact: false,
            new_customers: NewCustomerRule {
                connection: None,
                by: Some(CompanyField::Country),
                values: [
                    ("Germany".to_string(), default.clone()),
                    ("United States".to_string(), us()),
                ]
                .into(),
            },
            ..ProvisioningSettings::default()
        })
        .await
        .unwrap();
    let catalog: Vec<Value> = [SERVERS_EU, STORAGE_EU, SERVERS_US, STORAGE_US]
        .iter()
        .map(|p| json!({"id": p, "identifier": format!("ACR-{p}"), "description": format!("Acronis {p}")}))
        .collect();
    let mut companies = Vec::new();
    let mut agreements = Vec::new();
    let mut additions = Vec::new();
    for (id, country, servers, storage) in [
        (DE, "Germany", SERVERS_EU, STORAGE_EU),
        (US, "United States", SERVERS_US, STORAGE_US),
        (FR, "France", SERVERS_EU, STORAGE_EU),
    ] {
        companies.push(json!({"id": id, "identifier": format!("C{id}"), "name": format!("Customer {country}"),
                              "status": {"id": 1, "name": "Active"}, "country": {"id": id, "name": country}}));
        agreements.push(json!({"id": id * 100, "name": "Backup usage", "type": {"id": 2, "name": "Pay As You Go"},
                               "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": true}));
        additions.push(json!({"id": id * 1000, "agreementId": id * 100, "product": {"id": servers}, "quantity": 0, "billCustomer": "Billable"}));
        additions.push(json!({"id": id * 1000 + 1, "agreementId": id * 100, "product": {"id": storage}, "quantity": 0, "billCustomer": "Billable"}));
    }
    cw_sim
        .seed(json!({
            "catalog": catalog, "companies": companies, "agreements": agreements, "additions": additions,
        }))
        .unwrap();
    cw_sim.seed(alert_board()).unwrap();
    alerts::save_settings(&cw, &store, &alert_settings())
        .await
        .unwrap();
    let (bus, sqs, queue) = bus_to_queue(&config, Function::TicketSync).await.unwrap();
    let sync_store = store_as(&store, Function::TicketSync).await.unwrap();
    let svc = Provisioning::new(
        cw.clone(),
        connections.clone(),
        store_as(&store, Function::Provisioner).await.unwrap(),
    );
    let usage = UsagePush::new(
        cw.clone(),
        connections.clone(),
        store_as(&store, Function::UsagePush).await.unwrap(),
        UsageOptions::default(),
    );
    Two {
        sync: TicketSync::new(cw, sync_store.clone()),
        sync_recorder: Recorder::new(sync_store, RETENTION).with_log(MetricLog::Off),
        poller_store: store_as(&store, Function::AlertPoller).await.unwrap(),
        poller_bus: bus_as(&bus, Function::AlertPoller).await.unwrap(),
        bus,
        svc,
        usage,
        store,
        connections,
        cw_sim,
        eu,
        us: us_sim,
        sqs,
        queue,
    }
}

impl Two {
    async fn provision(&self, company: i64) -> Result<(), ProvisionError> {
        let mut run = RunRecord::start("test");
        self.svc.sync_company(company, &mut run).await.map(|_| ())
    }

    async fn tenant_of(&self, company: i64) -> (ConnectionName, String) {
        let m = self
            .store
            .mapping_by_company(company)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("company {company} is not mapped"));
        (m.connection, m.tenant_id)
    }

    async fn reconcile(&self) -> anyhow::Result<shared::services::reconcile::ReconcileReport> {
        self.reconcile_into(&mut RunRecord::start("reconciler"))
            .await
    }

    async fn reconcile_into(
        &self,
        run: &mut RunRecord,
    ) -> anyhow::Result<shared::services::reconcile::ReconcileReport> {
        shared::services::reconcile::reconcile(
            &self.svc.cw,
            &self.connections,
            &self.store,
            &self.bus,
            run,
            false,
        )
        .await
    }

    async fn usage_cycle(&self) -> RunRecord {
        let mut run = RunRecord::start(FUNCTION);
        self.usage
            .cycle(None, &mut run, Deadline::none())
            .await
            .unwrap();
        run
    }

    async fn poll(&self) -> (Result<alerts::PollReport, alerts::PollError>, RunRecord) {
        let mut run = RunRecord::start("alert-poller");
        let report = alerts::poll_all(
            &self.connections,
            &self.poller_store,
            &self.poller_bus,
            &mut run,
            &PollOptions::default(),
        )
        .await;
        (report, run)
    }

    /// Feeds every queued alert event to the ticket sync.
    async fn pump(&self) -> usize {
        integration_tests::pump_ticket_sync(&self.sqs, &self.queue, &self.sync, &self.sync_recorder)
            .await
    }

    async fn tickets(&self) -> Vec<Value> {
        integration_tests::sim_tickets(&self.cw_sim).await
    }

    fn quantity(&self, addition: i64) -> Option<f64> {
        cw_additions(&self.cw_sim)
            .iter()
            .find(|a| a["id"] == addition)
            .and_then(|a| a["quantity"].as_f64())
    }
}

fn refuse_everything() -> FaultRule {
    FaultRule {
        method: None,
        path_contains: None,
        times: None,
        fault: FaultKind::Status {
            status: 503,
            retry_after: None,
            body: None,
        },
    }
}

fn customer_tenants(sim: &AcronisSim) -> Vec<Value> {
    sim.state()["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "customer" && t["deleted_at"].is_null())
        .cloned()
        .collect()
}

fn enabled_items(sim: &AcronisSim, tenant: &str) -> Vec<(String, Option<String>)> {
    let t = customer_tenants(sim)
        .into_iter()
        .find(|t| t["id"] == tenant)
        .unwrap_or_else(|| panic!("no tenant {tenant} in {}", sim.url()));
    t["offering_items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == 1)
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["infra_id"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn raise(sim: &AcronisSim, tenant: &str, id: &str, resource: &str) {
    sim.raise_alert(RaiseAlert {
        id: Some(id.into()),
        tenant: tenant.into(),
        kind: "BackupFailed".into(),
        category: None,
        severity: None,
        details: json!({"resourceId": resource, "resourceName": resource, "resourceType": "machine",
                        "planName": "Daily", "errorMessage": {"message": "disk full"}}),
    })
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connection_gets_its_companies_products_tickets_and_usage() {
    let s = two().await;
    s.provision(DE).await.unwrap();
    s.provision(US).await.unwrap();
    // France matches no value of the rule: not provisioned anywhere, a person decides.
    match s.provision(FR).await {
        Err(ProvisionError::NeedsAttention(why)) => {
            assert!(why.contains("country (France) matches no value"), "{why}");
        }
        other => panic!("France: {other:?}"),
    }
    assert!(s.store.mapping_by_company(FR).await.unwrap().is_none());

    let (de_conn, de_tenant) = s.tenant_of(DE).await;
    let (us_conn, us_tenant) = s.tenant_of(US).await;
    assert!(de_conn.is_default());
    assert_eq!(us_conn, us());
    // Each tenant in its own data centre, and only there.
    let eu_names: Vec<Value> = customer_tenants(&s.eu)
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    let us_names: Vec<Value> = customer_tenants(&s.us)
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(eu_names, vec![json!("Customer Germany")]);
    assert_eq!(us_names, vec![json!("Customer United States")]);
    // Each with its own connection's items: the EU storage here, the US storage there.
    let de_items = enabled_items(&s.eu, &de_tenant);
    let us_items = enabled_items(&s.us, &us_tenant);
    assert!(
        de_items.contains(&("pw_base_storage".into(), Some(INFRA_EU.into()))),
        "{de_items:?}"
    );
    assert!(
        us_items.contains(&("pw_base_storage".into(), Some(INFRA_US.into()))),
        "{us_items:?}"
    );
    assert!(de_items.iter().any(|(n, _)| n == "pw_base_servers"));
    assert!(us_items.iter().any(|(n, _)| n == "pw_base_servers"));

    // Usage from each data centre into its company's additions (the same item is product
    // 500 in one and 600 in the other).
    s.eu.set_usage(&de_tenant, "pw_base_servers", None, 3)
        .unwrap();
    s.us.set_usage(&us_tenant, "pw_base_servers", None, 9)
        .unwrap();
    let run = s.usage_cycle().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(s.quantity(DE * 1000), Some(3.0));
    assert_eq!(s.quantity(US * 1000), Some(9.0));

    // An alert in each data centre: one ticket each, for the right company; a repeat is a
    // note, not a second ticket.
    raise(&s.eu, &de_tenant, "a-eu-1", "srv-eu");
    raise(&s.us, &us_tenant, "a-us-1", "srv-us");
    let (polled, run) = s.poll().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(polled.unwrap().published, 2);
    assert_eq!(s.pump().await, 2);
    let tickets = s.tickets().await;
    let mut companies: Vec<i64> = tickets
        .iter()
        .map(|t| t["company"]["id"].as_i64().unwrap())
        .collect();
    companies.sort();
    assert_eq!(companies, vec![DE, US]);
    let keys: Vec<String> = s
        .store
        .open_alert_tickets()
        .await
        .unwrap()
        .into_iter()
        .map(|t| format!("{}|{}", t.connection, t.alert_key))
        .collect();
    assert!(
        keys.iter().any(|k| k.starts_with("default|acr:")),
        "{keys:?}"
    );
    assert!(keys.iter().any(|k| k.starts_with("us|acr@us:")), "{keys:?}");
    raise(&s.us, &us_tenant, "a-us-2", "srv-us");
    let (polled, _) = s.poll().await;
    assert_eq!(polled.unwrap().published, 1);
    s.pump().await;
    assert_eq!(s.tickets().await.len(), 2, "the repeat is a note");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_data_centre_refusing_every_request_leaves_the_other_untouched() {
    let s = two().await;
    s.provision(DE).await.unwrap();
    s.provision(US).await.unwrap();
    let (_, de_tenant) = s.tenant_of(DE).await;
    let (_, us_tenant) = s.tenant_of(US).await;
    s.eu.set_usage(&de_tenant, "pw_base_servers", None, 4)
        .unwrap();
    s.us.set_usage(&us_tenant, "pw_base_servers", None, 6)
        .unwrap();
    raise(&s.eu, &de_tenant, "b-eu-1", "srv-eu");
    raise(&s.us, &us_tenant, "b-us-1", "srv-us");
    // The US data centre answers every request with 503 for this cycle.
    s.us.control().add_fault(refuse_everything());

    let run = s.usage_cycle().await;
    assert_eq!(s.quantity(DE * 1000), Some(4.0), "the EU company is pushed");
    assert_eq!(
        s.quantity(US * 1000),
        Some(0.0),
        "nothing written from no answer"
    );
    assert!(
        run.failures
            .iter()
            .any(|f| f.subject.contains(&format!("company {US}")) && f.transient),
        "{:?}",
        run.failures
    );

    // The poll fails (the alarm fires) after polling the EU data centre all the same.
    let (polled, run) = s.poll().await;
    assert!(polled.is_err());
    assert!(
        run.failures.iter().any(|f| f.subject == "connection us"),
        "{:?}",
        run.failures
    );
    assert_eq!(s.pump().await, 1);
    let tickets = s.tickets().await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["company"]["id"], DE);

    // The EU company is re-derived as usual.
    s.provision(DE).await.unwrap();
    // The reconciler reads the EU feed and fails its cycle (the alarm) for the US one, whose
    // feed cursor stays where it was.
    s.us.control().clear_faults();
    s.reconcile().await.unwrap(); // the first cycle sets the cursors
    let us_cursor = shared::services::reconcile::feed_cursor(&us());
    let before: Option<chrono::DateTime<chrono::Utc>> = s.store.cursor(&us_cursor).await.unwrap();
    let eu_cursor = shared::services::reconcile::feed_cursor(&ConnectionName::default());
    let eu_before: Option<chrono::DateTime<chrono::Utc>> =
        s.store.cursor(&eu_cursor).await.unwrap();
    s.us.control().add_fault(refuse_everything());
    let mut run = RunRecord::start("reconciler");
    let cycle = s.reconcile_into(&mut run).await;
    s.us.control().clear_faults();
    assert!(cycle.is_err());
    assert!(
        run.failures.iter().any(|f| f.subject == "connection us"),
        "{:?}",
        run.failures
    );
    assert_eq!(
        s.store.cursor(&us_cursor).await.unwrap(),
        before,
        "the US feed stays"
    );
    let eu_after: Option<chrono::DateTime<chrono::Utc>> = s.store.cursor(&eu_cursor).await.unwrap();
    assert!(eu_after > eu_before, "the EU feed moves on");

    // The data centre is back: its usage and its alert follow, once.
    s.usage_cycle().await;
    assert_eq!(s.quantity(US * 1000), Some(6.0));
    let (polled, run) = s.poll().await;
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(polled.unwrap().published, 1);
    s.pump().await;
    assert_eq!(s.tickets().await.len(), 2);
}

/// What the version before several connections stored, loaded as it is.
async fn load_golden(
    store: &Store,
    config: &aws_config::SdkConfig,
    name: &str,
    change: impl Fn(&mut Value),
) {
    let mut item = integration_tests::golden_fixture(&format!("items/{name}.json")).unwrap();
    change(&mut item);
    aws_sdk_dynamodb::Client::new(config)
        .put_item()
        .table_name(store.table())
        .set_item(Some(integration_tests::dynamodb_item(&item).unwrap()))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_connection_stack_keeps_its_mappings_and_tickets_across_the_upgrade() {
    const COMPANY: i64 = 1042;
    const TENANT: &str = "5a3e9c1d-2b7f-4e8a-9c6d-1f0e2d3c4b5a";
    const KEY: &str = "acr:5a3e9c1d-2b7f-4e8a-9c6d-1f0e2d3c4b5a:BackupFailed:srv-fs01";
    let LocalStack {
        config,
        cw_sim,
        acronis_sim,
        cw,
        store,
        ..
    } = LocalStack::start().await.unwrap();
    // The secret as it was: the flat keys, which are the connection `default`.
    let secret = local_runner::simulator_secret(&cw_sim.url(), &acronis_sim.url());
    let creds = shared::secrets::Credentials::parse("upgrade", &secret.to_string()).unwrap();
    let names: Vec<&str> = creds.acronis.keys().map(ConnectionName::as_str).collect();
    assert_eq!(names, ["default"]);
    let connections = Connections::new(
        &creds.acronis,
        std::sync::Arc::new(|| fast_transport(2, Duration::from_secs(3))),
    )
    .unwrap();

    // Today's stored data: the mapping both ways, a product mapping, and an alert ticket open
    // in ConnectWise.
    acronis_sim
        .seed_tenant(json!({"id": TENANT, "name": "Northwind Traders"}))
        .unwrap();
    cw_sim
        .seed(json!({
            "companies": [{"id": COMPANY, "identifier": "Northwind", "name": "Northwind Traders"}],
        }))
        .unwrap();
    cw_sim.seed(alert_board()).unwrap();
    alerts::save_settings(&cw, &store, &alert_settings())
        .await
        .unwrap();
    let reference = |id| shared::connectwise::models::Reference {
        id,
        name: None,
        identifier: None,
    };
    let ticket = cw
        .create_ticket(&shared::connectwise::models::NewTicket {
            summary: "[Machine:srv-fs01] Backup failed".into(),
            board: reference(BOARD),
            company: reference(COMPANY),
            status: Some(reference(NEW)),
            ticket_type: None,
            sub_type: None,
            priority: None,
            external_x_ref: Some(KEY.into()),
            initial_description: None,
        })
        .await
        .unwrap();
    for name in ["company-mapping", "tenant-mapping", "product-mapping"] {
        load_golden(&store, &config, name, |_| {}).await;
    }
    load_golden(&store, &config, "alert-ticket", |item| {
        item["ticket_id"] = json!({"N": ticket.id.to_string()});
    })
    .await;
    let mapping = store.mapping_by_company(COMPANY).await.unwrap().unwrap();
    assert!(mapping.connection.is_default());
    assert!(
        store.product_mappings().await.unwrap()[0]
            .connection
            .is_default()
    );

    // The alert happens again after the upgrade: the poll of the default connection gives
    // it the key the ticket was stored under, and the ticket sync adds a note.
    acronis_sim
        .raise_alert(RaiseAlert {
            id: Some("upgrade-1".into()),
            tenant: TENANT.into(),
            kind: "BackupFailed".into(),
            category: None,
            severity: None,
            details: json!({"resourceId": "srv-fs01", "resourceName": "srv-fs01", "resourceType": "machine",
                            "planName": "Daily", "errorMessage": {"message": "disk full"}}),
        })
        .unwrap();
    let (bus, sqs, queue) = bus_to_queue(&config, Function::TicketSync).await.unwrap();
    let poller_store = store_as(&store, Function::AlertPoller).await.unwrap();
    let mut run = RunRecord::start("alert-poller");
    let report = alerts::poll_all(
        &connections,
        &poller_store,
        &bus_as(&bus, Function::AlertPoller).await.unwrap(),
        &mut run,
        &PollOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.published, 1, "{:?}", run.failures);
    let sync_store = store_as(&store, Function::TicketSync).await.unwrap();
    let sync = TicketSync::new(cw.clone(), sync_store.clone());
    let recorder = Recorder::new(sync_store, RETENTION).with_log(MetricLog::Off);
    let handled = integration_tests::pump_ticket_sync(&sqs, &queue, &sync, &recorder).await;
    assert_eq!(handled, 1);
    let tickets = integration_tests::sim_tickets(&cw_sim).await;
    assert_eq!(tickets.len(), 1, "no second ticket");
    let notes = integration_tests::ticket_notes(&cw_sim, &json!(ticket.id)).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let stored = store.alert_ticket(KEY).await.unwrap().unwrap();
    assert_eq!(stored.ticket_id, Some(ticket.id));
    assert!(stored.connection.is_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_added_to_or_removed_from_the_secret_is_noticed_without_a_redeploy() {
    let config = integration_tests::aws().await.unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let (us_sim, _) = second_data_centre().await;
    let eu_sim = simulators::acronis::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        AcronisSimConfig::default(),
    )
    .await
    .unwrap();
    let name = integration_tests::unique("connections");
    let mut secret = local_runner::simulator_secret("http://127.0.0.1:9", &eu_sim.url());
    local_runner::put_secret(&sm, &name, &secret.to_string())
        .await
        .unwrap();
    let creds = shared::secrets::Credentials::load(&sm, &name)
        .await
        .unwrap();
    // Read again on every use here (a function: every four minutes).
    let reloader =
        shared::secrets::SecretReloader::new(sm.clone(), &name, creds.clone(), Duration::ZERO);
    let connections = Connections::new(
        &creds.acronis,
        std::sync::Arc::new(|| fast_transport(2, Duration::from_secs(3))),
    )
    .unwrap()
    .with_reloader(reloader, Duration::ZERO);
    let names = |c: &std::collections::BTreeMap<ConnectionName, AcronisClient>| {
        c.keys().map(|n| n.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(&connections.current().await.as_ref().clone()),
        vec!["default"]
    );
    let default_client = connections
        .client(&ConnectionName::default())
        .await
        .unwrap();
    default_client.partner_tenant_id().await.unwrap();

    // The MSP adds a connection: the next use has a client of it, which works.
    secret["acronis.us.datacenter_url"] = json!(us_sim.url());
    secret["acronis.us.client_id"] = json!("sim-client-us");
    secret["acronis.us.client_secret"] = json!("sim-secret-us");
    local_runner::put_secret(&sm, &name, &secret.to_string())
        .await
        .unwrap();
    assert_eq!(
        names(&connections.current().await.as_ref().clone()),
        vec!["default", "us"]
    );
    let us_client = connections.client(&us()).await.unwrap();
    assert_eq!(
        us_client.partner_tenant_id().await.unwrap(),
        AcronisSimConfig::second_data_centre().partner_tenant_id
    );
    // The default connection kept its client: its token and what it learnt (the partner
    // tenant, read once) are not asked again.
    let before = eu_sim.control().counts();
    connections
        .client(&ConnectionName::default())
        .await
        .unwrap()
        .partner_tenant_id()
        .await
        .unwrap();
    assert_eq!(eu_sim.control().counts(), before);

    // And removes it: gone at the next use, with a clear error for whoever asks for it.
    let obj = secret.as_object_mut().unwrap();
    obj.retain(|k, _| !k.starts_with("acronis.us."));
    local_runner::put_secret(&sm, &name, &secret.to_string())
        .await
        .unwrap();
    assert_eq!(
        names(&connections.current().await.as_ref().clone()),
        vec!["default"]
    );
    let err = connections.client(&us()).await.unwrap_err().to_string();
    assert!(err.contains("no Acronis connection named us"), "{err}");
}
