//! Provisioning against the local stack: moto (table, bus, queue) and both simulators.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::time::Duration;

use integration_tests::{LocalStack, bus_as, bus_to_queue, store_as};
use serde_json::{Value, json};
use shared::bus::{Action, CompanyChanged, Event, EventBus, Origin, VERSION};
use shared::domain::provisioning::DeprovisionStep;
use shared::domain::settings::{DeprovisionSettings, ProvisioningSettings};
use shared::functions::Function;
use shared::runs::{MetricLog, Recorder};
use shared::services::provisioning::{Outcome, ProvisionError, Provisioning};
use shared::services::{companies, reconcile};
use shared::store::{Claim, ProductMapping, RunRecord, Store};
use simulators::acronis::{AcronisSim, INFRA_EU};
use simulators::connectwise::CwSim;
use simulators::{FaultKind, FaultRule};

const SERVERS_PRODUCT: i64 = 500;
const WORKSTATIONS_PRODUCT: i64 = 501;

struct Stack {
    cw_sim: CwSim,
    acronis_sim: AcronisSim,
    /// Provisioning with the provisioner's role, and its run bookkeeping.
    svc: Provisioning,
    recorder: Recorder,
    /// Provisioning as `acw` does it, with the operator's keys.
    admin: Provisioning,
    /// The operator's view of the table (seeding and checks) and the bus.
    store: Store,
    bus: EventBus,
    /// The table and bus with the reconciler's role.
    reconciler_store: Store,
    reconciler_bus: EventBus,
    sqs: aws_sdk_sqs::Client,
    queue: String,
}

async fn stack(settings: ProvisioningSettings) -> Stack {
    let LocalStack {
        config,
        cw_sim,
        acronis_sim,
        cw,
        acronis,
        store,
    } = LocalStack::start().await.unwrap();
    store.save_section(&settings).await.unwrap();
    let mapping = ProductMapping::new;
    store
        .put_product_mapping(&mapping(
            "pw_base_servers",
            Some(SERVERS_PRODUCT),
            "quantity",
        ))
        .await
        .unwrap();
    store
        .put_product_mapping(&mapping(
            "pw_base_workstations",
            Some(WORKSTATIONS_PRODUCT),
            "quantity",
        ))
        .await
        .unwrap();
    let mut storage = mapping("pw_base_storage", None, "bytes");
    storage.infra_id = Some(INFRA_EU.into());
    storage.default_storage = true;
    store.put_product_mapping(&storage).await.unwrap();

    let (bus, sqs, queue) = bus_to_queue(&config, Function::Provisioner).await.unwrap();
    cw_sim
        .seed(json!({"catalog": [
            {"id": SERVERS_PRODUCT, "identifier": "ACR-SERVERS", "description": "Acronis servers", "customerDescription": "Backup for servers",
             "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}},
            {"id": WORKSTATIONS_PRODUCT, "identifier": "ACR-WS", "description": "Acronis workstations", "customerDescription": "Backup for PCs",
             "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}}
        ]}))
        .unwrap();
    let provisioner_store = store_as(&store, Function::Provisioner).await.unwrap();
    Stack {
        svc: Provisioning::new(cw.clone(), acronis.clone(), provisioner_store.clone()),
        recorder: Recorder::new(provisioner_store, Duration::from_secs(3600))
            .with_log(MetricLog::Off),
        admin: Provisioning::new(cw, acronis, store.clone()),
        reconciler_store: store_as(&store, Function::Reconciler).await.unwrap(),
        reconciler_bus: bus_as(&bus, Function::Reconciler).await.unwrap(),
        store,
        bus,
        cw_sim,
        acronis_sim,
        sqs,
        queue,
    }
}

fn auto() -> ProvisioningSettings {
    ProvisioningSettings {
        auto_provisioning: true,
        two_factor: true,
        ..ProvisioningSettings::default()
    }
}

impl Stack {
    /// A company with a primary contact and an active agreement holding `servers` servers.
    fn seed_customer(&self, id: i64, name: &str, email: Option<&str>, servers: f64) {
        let mut contact = json!({"id": id * 10, "firstName": "Pat", "lastName": "Lee", "company": {"id": id}, "defaultFlag": true});
        if let Some(e) = email {
            contact["communicationItems"] = json!([{"type": {"id": 1, "name": "Email"}, "value": e, "defaultFlag": true, "communicationType": "Email"}]);
        }
        self.cw_sim
            .seed(json!({
                "companies": [{"id": id, "identifier": format!("C{id}"), "name": name, "status": {"id": 1, "name": "Active"}}],
                "contacts": [contact],
                "agreements": [{"id": id * 100, "name": "Managed backup", "type": {"id": 1, "name": "Managed Services"},
                                "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": true}],
                "additions": [{"id": id * 1000, "agreementId": id * 100, "product": {"id": SERVERS_PRODUCT},
                               "quantity": servers, "billCustomer": "Billable"}]
            }))
            .unwrap();
    }

    /// Re-derives a company now (the provisioner's role) and returns its tenant.
    async fn provision_now(&self, company_id: i64) -> String {
        let mut run = RunRecord::start("test");
        self.svc.sync_company(company_id, &mut run).await.unwrap();
        self.store
            .mapping_by_company(company_id)
            .await
            .unwrap()
            .unwrap()
            .tenant_id
    }

    /// One reconciler cycle with the reconciler's role (`dry_run`: find, send nothing).
    async fn reconcile(&self, dry_run: bool) -> reconcile::ReconcileReport {
        let mut run = RunRecord::start("reconciler");
        reconcile::reconcile(
            &self.svc.cw,
            &self.svc.acronis.clone().into(),
            &self.reconciler_store,
            &self.reconciler_bus,
            &mut run,
            dry_run,
        )
        .await
        .unwrap()
    }

    fn acronis_state(&self) -> Value {
        self.acronis_sim.state()
    }

    /// Customer tenants (not deleted) with this name.
    fn tenants_named(&self, name: &str) -> Vec<Value> {
        self.acronis_state()["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["name"] == name && t["kind"] == "customer" && t["deleted_at"].is_null())
            .cloned()
            .collect()
    }

    /// The tenant the company is mapped to (it must be mapped).
    async fn tenant_of(&self, company_id: i64) -> String {
        self.store
            .mapping_by_company(company_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("company {company_id} is not mapped"))
            .tenant_id
    }

    fn quota(&self, tenant_id: &str, item: &str) -> Value {
        let tenant = self.acronis_state()["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == tenant_id)
            .cloned()
            .unwrap();
        tenant["offering_items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == item && i["status"] == 1)
            .map(|i| i["quota"].clone())
            .unwrap_or(Value::Null)
    }

    async fn publish_company(&self, id: i64, action: Action) {
        let report = self
            .bus
            .publish(&[Event::Company(CompanyChanged {
                version: VERSION,
                company_id: id,
                action,
                origin: Origin::Admin,
                observed_at: chrono::Utc::now(),
            })])
            .await;
        assert!(report.all_published());
    }

    /// Feeds every queued event to the provisioner until the queue stays empty.
    async fn pump(&self) -> usize {
        let mut total = 0;
        loop {
            let handled = local_runner::consume_batch(
                &self.sqs,
                &local_runner::invoke::AsyncTarget::unlimited(
                    shared::functions::Function::Provisioner,
                    self.queue.clone(),
                ),
                1,
                |envelope| async move {
                    provisioner::handle_eventbridge(&self.svc, &self.recorder, &envelope).await
                },
            )
            .await
            .unwrap();
            if handled == 0 {
                return total;
            }
            total += handled;
        }
    }
}

#[tokio::test]
async fn event_to_ready_tenant_with_account_2fa_quotas_and_mapping() {
    let s = stack(auto()).await;
    s.seed_customer(
        7,
        "Northwind Traders",
        Some("Pat.Lee@northwind.example"),
        5.0,
    );
    s.publish_company(7, Action::Added).await;
    assert_eq!(s.pump().await, 1);

    let tenants = s.tenants_named("Northwind Traders");
    assert_eq!(tenants.len(), 1);
    let tenant = &tenants[0];
    let tenant_id = tenant["id"].as_str().unwrap();
    assert_eq!(tenant["internal_tag"], "cw-company-7");
    assert_eq!(
        tenant["pricing_mode"], "production",
        "switched out of Acronis's trial: {tenant}"
    );

    let state = s.acronis_state();
    let users: Vec<&Value> = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["tenant_id"] == tenant_id)
        .collect();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["login"], "pat.lee@northwind.example");
    let emails = state["activation_emails"].as_array().unwrap();
    assert!(
        emails
            .iter()
            .any(|e| e["login"] == "pat.lee@northwind.example"),
        "{emails:?}"
    );
    assert_eq!(state["mfa"][tenant_id], true, "2FA set: {}", state["mfa"]);

    assert_eq!(s.quota(tenant_id, "pw_base_servers")["value"], 5);
    assert_eq!(s.quota(tenant_id, "pw_base_servers")["overage"], 0);
    assert!(
        s.quota(tenant_id, "pw_base_storage")["value"].is_null(),
        "default storage, unlimited"
    );
    assert!(
        s.quota(tenant_id, "pw_base_workstations").is_null(),
        "no addition: not enabled"
    );

    let mapping = s.store.mapping_by_company(7).await.unwrap().unwrap();
    assert_eq!(mapping.tenant_id, tenant_id);
    assert_eq!(
        s.store
            .mapping_by_tenant(tenant_id)
            .await
            .unwrap()
            .unwrap()
            .company_id,
        7
    );

    // The same event again: the tenant is in sync, nothing is written.
    s.acronis_sim.control().clear_requests();
    s.publish_company(7, Action::Updated).await;
    s.pump().await;
    let writes: Vec<_> = s
        .acronis_sim
        .control()
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.contains("idp/token"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(s.tenants_named("Northwind Traders").len(), 1);
}

/// A provisioner invocation that reaches its deadline in the middle of a sale hands the
/// company back with a retryable error and a run record saying why; Lambda's retries (given
/// more time each, as a slow platform might allow) finish the sale with one tenant, one
/// account and one tenant POST.
#[tokio::test]
async fn a_sale_stopped_at_its_deadline_is_finished_by_the_retries_once() {
    let s = stack(auto()).await;
    s.seed_customer(8, "Deadline Dental", Some("ann@dental.example"), 3.0);
    s.cw_sim.control().set_latency(40);
    s.acronis_sim.control().set_latency(40);
    let envelope = json!({
        "detail-type": "company.updated",
        "detail": {"version": VERSION, "company_id": 8, "action": "updated",
                   "origin": {"kind": "admin"}, "observed_at": chrono::Utc::now()},
    });
    let mut stopped = 0;
    for attempt in 1..=40u64 {
        let svc = s
            .svc
            .with_deadline(shared::deadline::Deadline::after(Duration::from_millis(
                60 * attempt,
            )));
        match provisioner::handle_eventbridge(&svc, &s.recorder, &envelope).await {
            Ok(reply) => {
                // Made now, adopted (posted by an attempt that ran out of time), or finished
                // (an attempt got as far as the mapping): the state below is what counts.
                assert!(
                    ["provisioned", "adopted", "quotas_synced"]
                        .contains(&reply["outcome"].as_str().unwrap_or("")),
                    "{reply}"
                );
                break;
            }
            Err(e) => {
                assert!(e.to_string().contains("deadline"), "{e}");
                stopped += 1;
            }
        }
    }
    assert!(stopped >= 1, "the first attempts stopped at their deadline");
    let tenants = s.tenants_named("Deadline Dental");
    assert_eq!(tenants.len(), 1, "one tenant");
    let tenant_id = tenants[0]["id"].as_str().unwrap();
    assert_eq!(s.tenant_of(8).await, tenant_id);
    let state = s.acronis_state();
    let users = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["tenant_id"] == tenant_id)
        .count();
    assert_eq!(users, 1, "one account");
    let posts = s
        .acronis_sim
        .control()
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.route == "/api/2/tenants")
        .count();
    assert_eq!(posts, 1, "one tenant POST");
    assert_eq!(s.quota(tenant_id, "pw_base_servers")["value"], 3);
    let runs = s
        .store
        .latest_runs(Function::Provisioner.name(), 50)
        .await
        .unwrap();
    assert!(
        runs.iter().any(|r| r
            .failures
            .iter()
            .any(|f| f.transient && f.reason.contains("deadline"))),
        "a run says it stopped at its deadline"
    );
}

#[tokio::test]
async fn concurrent_deliveries_make_exactly_one_tenant() {
    let s = stack(auto()).await;
    s.seed_customer(8, "Contoso", Some("it@contoso.example"), 2.0);
    s.acronis_sim.control().set_latency(30);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let svc = s.svc.clone();
        set.spawn(async move {
            let mut run = RunRecord::start("test");
            svc.sync_company(8, &mut run).await
        });
    }
    let results = set.join_all().await;
    let provisioned = results
        .iter()
        .filter(|r| matches!(r, Ok(Outcome::Provisioned { .. })))
        .count();
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(ProvisionError::Busy(8))))
        .count();
    assert!(provisioned >= 1 && provisioned + busy == 6, "{results:?}");
    assert_eq!(s.tenants_named("Contoso").len(), 1);
    // The ones that were busy are retried (as the Lambda service would): nothing new is made.
    let mut run = RunRecord::start("test");
    assert!(matches!(
        s.svc.sync_company(8, &mut run).await.unwrap(),
        Outcome::QuotasSynced { .. }
    ));
    assert_eq!(s.tenants_named("Contoso").len(), 1);
    let users = s.acronis_state()["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["login"] == "it@contoso.example")
        .count();
    assert_eq!(users, 1);
}

/// A sale fires several callbacks within a second (company, contact, agreement, addition).
/// Delivered together, one run holds the company, waits for the edit to settle, and the
/// others hand their changes to it: one tenant, and the company is read once, not once per
/// callback (the store's test shows a run reading once more for a change handed over after
/// its reads began). A late redelivery of a change seen before its reads is covered:
/// nothing is read again.
#[tokio::test]
async fn a_sales_callbacks_coalesce_into_one_run_that_reads_once() {
    let s = stack(auto()).await;
    s.seed_customer(18, "Tailspin", Some("it@tailspin.example"), 2.0);
    s.cw_sim.control().clear_requests();
    let seen = chrono::Utc::now();
    // As the webhook publishes them: the company and its agreement created, the contact and
    // the addition as updates of their company and agreement.
    let callback = |n: u32| Origin::Callback {
        message_id: format!("m-18-{n}"),
    };
    let events: Vec<Event> = [Action::Added, Action::Updated]
        .into_iter()
        .enumerate()
        .flat_map(|(i, action)| {
            [
                Event::Company(CompanyChanged {
                    version: VERSION,
                    company_id: 18,
                    action,
                    origin: callback(2 * i as u32),
                    observed_at: seen,
                }),
                Event::Agreement(shared::bus::AgreementChanged {
                    version: VERSION,
                    agreement_id: 1800,
                    company_id: Some(18),
                    action,
                    origin: callback(2 * i as u32 + 1),
                    observed_at: seen,
                }),
            ]
        })
        .collect();
    assert!(s.bus.publish(&events).await.all_published());
    assert_eq!(s.pump().await, 4);
    assert_eq!(s.tenants_named("Tailspin").len(), 1);
    let mapping = s.store.mapping_by_company(18).await.unwrap().unwrap();
    assert!(!mapping.setup_pending);
    let company_reads = |s: &Stack| {
        s.cw_sim
            .control()
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/company/companies/18")
            .count()
    };
    let reads = company_reads(&s);
    assert_eq!(reads, 1, "read {reads} times for 4 callbacks");

    // A change observed two seconds before, delivered late: the finished run read after it.
    let late = Event::Company(CompanyChanged {
        version: VERSION,
        company_id: 18,
        action: Action::Updated,
        origin: Origin::Admin,
        observed_at: seen - chrono::Duration::seconds(2),
    });
    assert!(s.bus.publish(&[late]).await.all_published());
    assert_eq!(s.pump().await, 1);
    assert_eq!(company_reads(&s), reads, "a covered change reads nothing");
}

/// An attempt died after its tenant POST was applied and before the mapping was stored, and
/// the company was renamed before the retry. The attempt had noted its POST on the company's
/// claim, so the retry looks for the tagged tenant first and adopts it instead of creating
/// a second one under the new name.
#[tokio::test]
async fn a_tenant_posted_by_an_attempt_that_died_is_adopted_after_a_rename() {
    let s = stack(auto()).await;
    // The company as it is now, renamed since the dead attempt made its tenant.
    s.seed_customer(19, "Wingtip Toys Ltd", Some("it@wingtip.example"), 2.0);
    // What the dead attempt left: its note on the claim, and the tenant it made.
    assert_eq!(
        s.store
            .claim_company(19, "dead-run", std::time::Duration::from_secs(0))
            .await
            .unwrap(),
        Claim::Acquired
    );
    s.store.note_tenant_post(19, "dead-run").await.unwrap();
    let made = s
        .acronis_sim
        .seed_tenant(json!({"name": "Wingtip Toys", "internal_tag": "cw-company-19"}))
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // its lease passes

    let tenant = s.provision_now(19).await;
    assert_eq!(
        tenant,
        made["id"].as_str().unwrap(),
        "adopted, not duplicated"
    );
    assert!(s.tenants_named("Wingtip Toys Ltd").is_empty());
}

/// How Acronis refuses a taken login on `POST /users` is not documented (a simulator
/// switch). Under every setting: an account an earlier attempt made in the company's tenant
/// (which then stopped before giving it its role) is adopted and given its role; a login
/// used by someone else's account is a clear error.
#[tokio::test]
async fn a_taken_login_is_told_apart_however_the_create_refuses_it() {
    for (n, status) in [409u16, 400, 422].into_iter().enumerate() {
        let s = stack(auto()).await;
        s.acronis_sim.set_switches(simulators::acronis::Switches {
            taken_login_status: status,
            ..Default::default()
        });
        let id = 30 + 2 * n as i64;
        let name = format!("Northwind {status}");
        let login = format!("it@northwind{status}.example");
        s.seed_customer(id, &name, Some(&login), 1.0);
        // The user is made, then its role is refused once (not retried): the attempt stops
        // there.
        s.acronis_sim.control().add_fault(FaultRule {
            method: Some("PUT".into()),
            path_contains: Some("/access_policies".into()),
            times: Some(1),
            fault: FaultKind::Status {
                status: 400,
                retry_after: None,
                body: None,
            },
        });
        let mut run = RunRecord::start("test");
        assert!(s.svc.sync_company(id, &mut run).await.is_err());
        let mut run = RunRecord::start("test");
        let outcome = s.svc.sync_company(id, &mut run).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Provisioned { adopted: true, .. }),
            "{status}: {outcome:?}"
        );
        let users: Vec<Value> = s.acronis_state()["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["login"] == login.as_str())
            .cloned()
            .collect();
        assert_eq!(users.len(), 1, "{status}");
        assert!(
            !users[0]["access_policies"].as_array().unwrap().is_empty(),
            "{status}: the adopted account got its role: {users:?}"
        );

        // The same login for another company: someone else's account.
        s.seed_customer(id + 1, &format!("Fabrikam {status}"), Some(&login), 1.0);
        let mut run = RunRecord::start("test");
        let err = s.svc.sync_company(id + 1, &mut run).await.unwrap_err();
        assert!(
            err.to_string().contains("already used in Acronis"),
            "{status}: {err}"
        );
    }
}

/// The next account creation fails after the tenant was made (a POST is not retried).
fn fail_the_next_account_creation(s: &Stack) {
    s.acronis_sim.control().add_fault(FaultRule {
        method: Some("POST".into()),
        path_contains: Some("/api/2/users".into()),
        times: Some(1),
        fault: FaultKind::Status {
            status: 503,
            retry_after: None,
            body: None,
        },
    });
}

#[tokio::test]
async fn a_crash_after_tenant_creation_is_adopted_on_retry() {
    let s = stack(auto()).await;
    s.seed_customer(9, "Fabrikam", Some("ops@fabrikam.example"), 3.0);
    fail_the_next_account_creation(&s);
    let mut run = RunRecord::start("test");
    let err = s.svc.sync_company(9, &mut run).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(s.tenants_named("Fabrikam").len(), 1);
    let pending = s.store.mapping_by_company(9).await.unwrap().unwrap();
    assert!(pending.setup_pending, "mapped as soon as the tenant exists");

    let mut run = RunRecord::start("test");
    let outcome = s.svc.sync_company(9, &mut run).await.unwrap();
    assert!(
        matches!(outcome, Outcome::Provisioned { adopted: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(
        s.tenants_named("Fabrikam").len(),
        1,
        "adopted, not duplicated"
    );
    let done = s.store.mapping_by_company(9).await.unwrap().unwrap();
    assert!(!done.setup_pending, "{done:?}");
    assert_eq!(done.tenant_id, pending.tenant_id);
    let users = s.acronis_state()["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["login"] == "ops@fabrikam.example")
        .count();
    assert_eq!(users, 1, "the retry finished the account");
}

/// An attempt fails after the tenant was made and quotas set; before any retry succeeds the
/// company stops qualifying. The tenant is mapped already, so it is deprovisioned like any
/// other (its quotas go to zero) and no account is made for a company that left.
#[tokio::test]
async fn a_tenant_left_half_set_up_follows_its_company_when_it_stops_qualifying() {
    let s = stack(auto()).await;
    s.seed_customer(19, "Northwind", Some("ops@northwind.example"), 2.0);
    fail_the_next_account_creation(&s);
    let mut run = RunRecord::start("test");
    s.svc.sync_company(19, &mut run).await.unwrap_err();
    let tenant_id = s.tenant_of(19).await;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 2);

    cancel_agreement(&s, 19);
    let mut run = RunRecord::start("test");
    let outcome = s.svc.sync_company(19, &mut run).await.unwrap();
    assert!(
        matches!(outcome, Outcome::Deprovisioned { .. }),
        "{outcome:?}"
    );
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 0);
    let users = s.acronis_state()["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["login"] == "ops@northwind.example")
        .count();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn the_first_account_comes_from_the_chosen_contact_type_or_says_there_is_none() {
    let s = stack(ProvisioningSettings {
        account_contact_type: "Billing".into(),
        ..auto()
    })
    .await;
    s.seed_customer(51, "Margie's Travel", Some("primary@margie.example"), 1.0);
    let email = |v: &str| json!([{"type": {"id": 1, "name": "Email"}, "value": v, "defaultFlag": true, "communicationType": "Email"}]);
    s.cw_sim
        .seed(json!({"contacts": [
            {"id": 519, "firstName": "Old", "lastName": "Billing", "company": {"id": 51}, "inactiveFlag": true,
             "types": [{"id": 2, "name": "Billing"}], "communicationItems": email("old@margie.example")},
            {"id": 521, "firstName": "Bill", "lastName": "Ing", "company": {"id": 51},
             "types": [{"id": 2, "name": "Billing"}], "communicationItems": email("Billing@Margie.example")},
            {"id": 522, "firstName": "Later", "lastName": "Billing", "company": {"id": 51},
             "types": [{"id": 2, "name": "Billing"}], "communicationItems": email("later@margie.example")}
        ]}))
        .unwrap();
    let mut run = RunRecord::start("test");
    s.svc.sync_company(51, &mut run).await.unwrap();
    let tenant = &s.tenants_named("Margie's Travel")[0];
    let logins: Vec<Value> = s.acronis_state()["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["tenant_id"] == tenant["id"])
        .map(|u| u["login"].clone())
        .collect();
    assert_eq!(logins, [json!("billing@margie.example")]);

    // No contact of the type: the clear error, and nothing is created.
    s.store
        .save_section(&ProvisioningSettings {
            account_contact_type: "Owner".into(),
            ..auto()
        })
        .await
        .unwrap();
    s.seed_customer(52, "Humongous Insurance", Some("h@humongous.example"), 1.0);
    let mut run = RunRecord::start("test");
    let err = s.svc.sync_company(52, &mut run).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no active contact of type \"Owner\""),
        "{err}"
    );
    assert!(s.tenants_named("Humongous Insurance").is_empty());
}

#[tokio::test]
async fn taken_names_and_logins_are_clear_errors_that_do_not_block_a_retry() {
    let s = stack(auto()).await;
    // Someone made a tenant of that name by hand.
    s.acronis_sim
        .seed_tenant(json!({"name": "Adatum", "kind": "customer"}))
        .unwrap();
    s.seed_customer(11, "Adatum", Some("a@adatum.example"), 1.0);
    let mut run = RunRecord::start("test");
    let err = s.svc.sync_company(11, &mut run).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(
        err.to_string()
            .contains("already has a tenant named \"Adatum\""),
        "{err}"
    );
    assert!(s.store.mapping_by_company(11).await.unwrap().is_none());
    // Renamed in ConnectWise: the next attempt goes through (no claim left behind).
    s.cw_sim.seed(json!({"companies": [{"id": 11, "identifier": "C11", "name": "Adatum Corp", "status": {"id": 1, "name": "Active"}, "defaultContact": {"id": 110}}]})).unwrap();
    let mut run = RunRecord::start("test");
    assert!(matches!(
        s.svc.sync_company(11, &mut run).await.unwrap(),
        Outcome::Provisioned { .. }
    ));

    // The contact's email is already a login elsewhere.
    s.seed_customer(12, "Tailspin", Some("a@adatum.example"), 1.0);
    let mut run = RunRecord::start("test");
    let err = s.svc.sync_company(12, &mut run).await.unwrap_err();
    assert!(err.to_string().contains("already used in Acronis"), "{err}");
    assert!(
        s.store
            .mapping_by_company(12)
            .await
            .unwrap()
            .unwrap()
            .setup_pending,
        "its tenant is mapped, its setup pending"
    );
    // Fixed in ConnectWise: the retry adopts the tenant made the first time.
    s.seed_customer(12, "Tailspin", Some("it@tailspin.example"), 1.0);
    let mut run = RunRecord::start("test");
    assert!(matches!(
        s.svc.sync_company(12, &mut run).await.unwrap(),
        Outcome::Provisioned { adopted: true, .. }
    ));
    assert_eq!(s.tenants_named("Tailspin").len(), 1);

    // No email at all.
    s.seed_customer(13, "Wingtip", None, 1.0);
    let mut run = RunRecord::start("test");
    let err = s.svc.sync_company(13, &mut run).await.unwrap_err();
    assert!(err.to_string().contains("has no email address"), "{err}");
    assert!(
        s.tenants_named("Wingtip").is_empty(),
        "checked before anything is created"
    );
}

#[tokio::test]
async fn auto_provisioning_off_leaves_companies_alone_but_manual_mapping_works() {
    let s = stack(ProvisioningSettings::default()).await;
    s.seed_customer(14, "Proseware", Some("x@proseware.example"), 1.0);
    let mut run = RunRecord::start("test");
    assert!(matches!(
        s.svc.sync_company(14, &mut run).await.unwrap(),
        Outcome::Nothing { .. }
    ));
    assert!(s.tenants_named("Proseware").is_empty());

    let mapping = companies::map_to_new_tenant(&s.admin, 14, &mut run)
        .await
        .unwrap();
    assert_eq!(s.tenants_named("Proseware").len(), 1);
    let err = companies::map_to_new_tenant(&s.admin, 14, &mut run)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already mapped"), "{err}");

    // An existing tenant: refused when taken, accepted when free.
    s.seed_customer(15, "Lucerne", Some("y@lucerne.example"), 2.0);
    let err = companies::map_to_existing_tenant(&s.admin, 15, &mapping.tenant_id, &mut run)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("already mapped to company 14"),
        "{err}"
    );
    let free = s
        .acronis_sim
        .seed_tenant(json!({"name": "Lucerne Publishing", "kind": "customer"}))
        .unwrap();
    let free_id = free["id"].as_str().unwrap();
    companies::map_to_existing_tenant(&s.admin, 15, free_id, &mut run)
        .await
        .unwrap();
    assert_eq!(
        s.quota(free_id, "pw_base_servers")["value"],
        2,
        "quotas follow the agreement"
    );
    let err = companies::map_to_existing_tenant(&s.admin, 404_404, free_id, &mut run)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no company 404404"), "{err}");

    let listed = companies::list(
        &s.admin,
        &companies::CompanyFilter {
            mapping: companies::MappingFilter::Mapped,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        listed.iter().map(|r| r.company.id).collect::<Vec<_>>(),
        [14, 15]
    );
    let found = companies::list(
        &s.admin,
        &companies::CompanyFilter {
            search: Some("lucer".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);

    companies::unmap(&s.admin, 15, &mut run).await.unwrap();
    assert!(s.store.mapping_by_tenant(free_id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_new_tenant_is_in_production_unless_trial_is_chosen_and_is_switched_once() {
    use shared::domain::settings::TenantMode;
    let s = stack(ProvisioningSettings {
        tenant_mode: TenantMode::Trial,
        ..auto()
    })
    .await;
    s.seed_customer(41, "Trey Research", Some("t@trey.example"), 1.0);
    let mut run = RunRecord::start("test");
    s.svc.sync_company(41, &mut run).await.unwrap();
    let tenant = &s.tenants_named("Trey Research")[0];
    assert_eq!(tenant["pricing_mode"], "trial", "{tenant}");
    let pricing_puts = || {
        s.acronis_sim
            .control()
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/pricing"))
            .count()
    };
    assert_eq!(pricing_puts(), 0);

    // Production: switched once; asked again, it reads and writes nothing.
    let id = tenant["id"].as_str().unwrap();
    let mut run = RunRecord::start("test");
    let (was, switched) = s
        .svc
        .ensure_tenant_mode(id, TenantMode::Production, "t", &mut run)
        .await
        .unwrap();
    assert_eq!((was.as_str(), switched), ("trial", true));
    assert_eq!(s.svc.acronis.pricing(id).await.unwrap().mode, "production");
    let (was, switched) = s
        .svc
        .ensure_tenant_mode(id, TenantMode::Production, "t", &mut run)
        .await
        .unwrap();
    assert_eq!((was.as_str(), switched), ("production", false));
    assert_eq!(pricing_puts(), 1, "never a PUT for a tenant in production");
}

/// Backdates a company's deprovisioning clock by `days`, as if that long had passed since
/// it was first seen not qualifying.
async fn days_pass(s: &Stack, company_id: i64, days: i64) {
    let mut clock = s
        .store
        .deprovision_clock(company_id)
        .await
        .unwrap()
        .unwrap();
    let days = chrono::Duration::days(days);
    clock.since -= days;
    for p in &mut clock.pending {
        p.on -= days;
    }
    s.store.put_deprovision_clock(&clock).await.unwrap();
}

fn cancel_agreement(s: &Stack, company_id: i64) {
    s.cw_sim
        .seed(json!({"agreements": [{"id": company_id * 100, "name": "Managed backup", "type": {"id": 1, "name": "Managed Services"},
                                      "company": {"id": company_id}, "agreementStatus": "Cancelled", "cancelledFlag": true}]}))
        .unwrap();
}

fn renew_agreement(s: &Stack, company_id: i64) {
    s.cw_sim
        .seed(json!({"agreements": [{"id": company_id * 100, "name": "Managed backup", "type": {"id": 1, "name": "Managed Services"},
                                      "company": {"id": company_id}, "agreementStatus": "Active", "noEndingDateFlag": true}]}))
        .unwrap();
}

#[tokio::test]
async fn deprovisioning_runs_each_step_on_its_day_and_a_new_agreement_cancels_the_rest() {
    use DeprovisionStep::*;
    let grace = ProvisioningSettings {
        auto_provisioning: true,
        deprovisioning: DeprovisionSettings {
            disable: true,
            ..DeprovisionSettings::default()
        },
        ..ProvisioningSettings::default()
    };
    let s = stack(grace.clone()).await;
    s.seed_customer(16, "Coho Winery", Some("c@coho.example"), 4.0);
    let sync = async |id: i64| {
        let mut run = RunRecord::start("test");
        let outcome = s.svc.sync_company(id, &mut run).await.unwrap();
        (outcome, run)
    };
    sync(16).await;
    let tenant_id = s.tenant_of(16).await;
    let enabled = async || s.svc.acronis.tenant(&tenant_id).await.unwrap().enabled;

    // Cancelled: quotas to zero at once; disabling waits its 10 days, and says so.
    cancel_agreement(&s, 16);
    let (outcome, run) = sync(16).await;
    let Outcome::Deprovisioned { steps, pending, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(steps, [QuotasToZero]);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].step, Disable);
    let clock = s.store.deprovision_clock(16).await.unwrap().unwrap();
    assert_eq!(pending[0].on, clock.since + chrono::Duration::days(10));
    assert!(run.changes.iter().any(|c| c.field == "deprovisioning"));
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 0);
    assert!(enabled().await);

    // Nine days later: still waiting (and nothing is written again); the reconciler, which
    // sends a company whose step has reached its day, does not send it yet.
    days_pass(&s, 16, 9).await;
    // No daily sweep slot due: the company's own slot would send it at its time of day.
    changes_from_now_on(&s).await;
    let due = async || s.reconcile(true).await.candidates.get(&16).copied();
    assert_eq!(due().await, None);
    let (outcome, run) = sync(16).await;
    assert!(
        matches!(&outcome, Outcome::Deprovisioned { steps, .. } if steps.is_empty()),
        "{outcome:?}"
    );
    assert!(run.changes.is_empty(), "{:?}", run.changes);
    assert!(enabled().await);

    // A stale write (a delivery that read the company while it still qualified) puts a
    // quota back: the next re-derive sets it to zero again.
    s.svc
        .acronis
        .set_offering_items(&tenant_id, |current| {
            let mut back = shared::domain::quotas::zero_quotas(current);
            for item in &mut back {
                item.quota = Some(shared::acronis::models::QuotaLimit {
                    value: 4,
                    overage: Some(0),
                });
            }
            back
        })
        .await
        .unwrap();
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 4);
    sync(16).await;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 0);

    // The tenth day: the reconciler sends it, and it is disabled.
    days_pass(&s, 16, 1).await;
    assert_eq!(due().await, Some("deprovisioning step due"));
    let (outcome, _) = sync(16).await;
    assert!(
        matches!(&outcome, Outcome::Deprovisioned { steps, .. } if steps == &[Disable]),
        "{outcome:?}"
    );
    assert!(!enabled().await);
    assert!(s.store.mapping_by_company(16).await.unwrap().is_some());

    // It qualifies again: the tenant we disabled is enabled, its quotas come back, the
    // clock stops.
    renew_agreement(&s, 16);
    let (_, run) = sync(16).await;
    assert!(enabled().await);
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 4);
    let change = run.changes.iter().find(|c| c.field == "enabled").unwrap();
    assert!(
        change.basis.as_deref().unwrap().contains("qualifies again"),
        "{change:?}"
    );
    assert!(s.store.disabled_tenant(16).await.unwrap().is_none());
    assert!(s.store.deprovision_clock(16).await.unwrap().is_none());

    // Cancelled again, then a new agreement before the tenth day: the pending disable is
    // cancelled and never runs.
    cancel_agreement(&s, 16);
    sync(16).await;
    days_pass(&s, 16, 5).await;
    renew_agreement(&s, 16);
    let (_, run) = sync(16).await;
    let cancelled = run
        .changes
        .iter()
        .find(|c| c.field == "deprovisioning")
        .unwrap();
    assert!(
        cancelled.basis.as_deref().unwrap().contains("cancelled"),
        "{cancelled:?}"
    );
    assert!(s.store.deprovision_clock(16).await.unwrap().is_none());
    assert!(enabled().await);

    // A tenant someone else disabled stays disabled.
    s.svc.acronis.disable_tenant(&tenant_id).await.unwrap();
    let (_, run) = sync(16).await;
    assert!(!enabled().await);
    assert!(!run.changes.iter().any(|c| c.field == "enabled"));

    // Delete refused by the API while enabled: handled by disabling first.
    s.seed_customer(17, "Alpine Ski House", Some("d@alpine.example"), 1.0);
    let (_, mut run) = sync(17).await;
    let mapping = s.store.mapping_by_company(17).await.unwrap().unwrap();
    s.svc
        .lifecycle()
        .deprovision(&mapping, &[Delete], "test", &mut run)
        .await
        .unwrap();
    assert!(
        s.svc
            .acronis
            .tenant(&mapping.tenant_id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        s.store.mapping_by_company(17).await.unwrap().is_none(),
        "deleted tenant is unmapped"
    );

    // The company deleted in ConnectWise, delete configured: nothing is deleted before the
    // 30th day; then the tenant is disabled and deleted, and unmapped.
    let delete_too = ProvisioningSettings {
        deprovisioning: DeprovisionSettings {
            disable: true,
            delete: true,
            ..DeprovisionSettings::default()
        },
        ..grace
    };
    s.store.save_section(&delete_too).await.unwrap();
    s.seed_customer(18, "Blue Yonder", Some("e@blueyonder.example"), 1.0);
    sync(18).await;
    let tenant_id = s.tenant_of(18).await;
    let resp = reqwest::Client::new()
        .delete(format!("{}/_sim/companies/18", s.cw_sim.url()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    sync(18).await;
    days_pass(&s, 18, 29).await;
    let (outcome, _) = sync(18).await;
    assert!(
        matches!(&outcome, Outcome::Deprovisioned { steps, .. } if steps == &[Disable]),
        "{outcome:?}"
    );
    assert!(
        s.svc.acronis.tenant(&tenant_id).await.is_ok(),
        "not deleted before its day"
    );
    days_pass(&s, 18, 1).await;
    let (outcome, _) = sync(18).await;
    assert!(
        matches!(&outcome, Outcome::Deprovisioned { steps, .. } if steps == &[Delete]),
        "{outcome:?}"
    );
    assert!(
        s.svc
            .acronis
            .tenant(&tenant_id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(s.store.mapping_by_company(18).await.unwrap().is_none());
    assert!(s.store.deprovision_clock(18).await.unwrap().is_none());
}

#[tokio::test]
async fn a_company_mapped_by_hand_before_its_agreement_is_left_alone() {
    let s = stack(auto()).await;
    s.cw_sim
        .seed(json!({"companies": [{"id": 31, "identifier": "C31", "name": "Fourth Coffee", "status": {"id": 1, "name": "Active"}}]}))
        .unwrap();
    let tenant = s
        .acronis_sim
        .seed_tenant(json!({"name": "Fourth Coffee", "kind": "customer"}))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut run = RunRecord::start("test");
    companies::map_to_existing_tenant(&s.admin, 31, &tenant, &mut run)
        .await
        .unwrap();
    let mut run = RunRecord::start("test");
    let outcome = s.svc.sync_company(31, &mut run).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Nothing { reason } if reason.contains("since the company was mapped")),
        "{outcome:?}"
    );
    assert!(s.store.deprovision_clock(31).await.unwrap().is_none());
    assert!(s.svc.acronis.tenant(&tenant).await.unwrap().enabled);
    // Its agreement arrives: it qualifies, and from then on losing it deprovisions it.
    s.seed_customer(31, "Fourth Coffee", Some("f@fourth.example"), 2.0);
    let mut run = RunRecord::start("test");
    s.svc.sync_company(31, &mut run).await.unwrap();
    assert!(
        s.store
            .mapping_by_company(31)
            .await
            .unwrap()
            .unwrap()
            .qualified_at
            .is_some()
    );
    cancel_agreement(&s, 31);
    let mut run = RunRecord::start("test");
    let outcome = s.svc.sync_company(31, &mut run).await.unwrap();
    assert!(
        matches!(outcome, Outcome::Deprovisioned { .. }),
        "{outcome:?}"
    );
}

/// One reconciler cycle (with its role) that learns nothing from `lastUpdated` (its cursor
/// is past every change), the daily sweep having last run at `swept`.
async fn reconcile_blind(
    s: &Stack,
    swept: chrono::DateTime<chrono::Utc>,
) -> reconcile::ReconcileReport {
    set_cursor(
        s,
        reconcile::CURSOR,
        chrono::Utc::now() + chrono::Duration::minutes(10),
    )
    .await;
    set_cursor(s, reconcile::SWEEP_CURSOR, swept).await;
    s.reconcile(false).await
}

/// Sets a reconciler cursor whatever it holds (a test moving time); ConnectWise's cursor
/// moves the Acronis change feed's (the connection `default`'s own cursor) with it.
async fn set_cursor(s: &Stack, name: &str, at: chrono::DateTime<chrono::Utc>) {
    let feed = reconcile::feed_cursor(&Default::default());
    let names = if name == reconcile::CURSOR {
        vec![name, feed.as_str()]
    } else {
        vec![name]
    };
    for name in names {
        let current: Option<chrono::DateTime<chrono::Utc>> = s.store.cursor(name).await.unwrap();
        s.store
            .advance_cursor(name, current.as_ref(), &at)
            .await
            .unwrap();
    }
}

/// The next cycle reads only what changes from now on (its cursor's overlap ends now) and
/// sweeps no slot.
async fn changes_from_now_on(s: &Stack) {
    let now = chrono::Utc::now();
    set_cursor(s, reconcile::CURSOR, now + chrono::Duration::minutes(5)).await;
    set_cursor(s, reconcile::SWEEP_CURSOR, now).await;
}

/// An agreement that ends by date: no callback, no `lastUpdated` change; the provisioner
/// kept the day it ends, and on that day the reconciler sends the company and its quotas
/// go to zero within the cycle.
#[tokio::test]
async fn an_agreement_ending_by_date_zeroes_quotas_within_one_cycle() {
    let s = stack(auto()).await;
    let today = chrono::Utc::now().date_naive();
    s.seed_customer(61, "Graphic Design Institute", Some("g@gdi.example"), 3.0);
    let ends = |day: chrono::NaiveDate| {
        json!({"agreements": [{"id": 6100, "name": "Managed backup", "type": {"id": 1, "name": "Managed Services"},
               "company": {"id": 61}, "agreementStatus": "Active", "noEndingDateFlag": false,
               "startDate": "2026-01-01T00:00:00Z", "endDate": format!("{day}T00:00:00Z")}]})
    };
    s.cw_sim.seed(ends(today)).unwrap();
    let mut run = RunRecord::start("test");
    s.svc.sync_company(61, &mut run).await.unwrap();
    let tenant_id = s.tenant_of(61).await;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 3);
    let tomorrow = today + chrono::Duration::days(1);
    assert_eq!(
        s.store.next_change(61).await.unwrap().map(|n| n.on),
        Some(tomorrow),
        "in force through today: it changes tomorrow"
    );

    // A day later (the agreement ended yesterday): what the provisioner kept then is today.
    s.cw_sim
        .seed(ends(today - chrono::Duration::days(1)))
        .unwrap();
    s.store.set_next_change(61, Some(today)).await.unwrap();
    // Nothing changed since the reconciler's last cycle, as far as lastUpdated tells.
    let report = reconcile_blind(&s, chrono::Utc::now()).await;
    assert_eq!(
        report.candidates.get(&61),
        Some(&"a date in its agreements came"),
        "{report:?}"
    );
    s.pump().await;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 0);
    assert_eq!(
        s.store.next_change(61).await.unwrap(),
        None,
        "no day ahead changes it any more"
    );
}

/// The MSP's days, through the services: with `billing.time_zone` set to a zone whose day is
/// another than UTC's right now, an agreement ending on the MSP's today still counts (a
/// tenant with its quotas, changing on the MSP's tomorrow) and one that ended on its
/// yesterday does not, and the reconciler takes a change day as due on the MSP's day, not
/// UTC's. West of UTC (Pago Pago, UTC-11) the MSP's day is UTC's yesterday until 11:00 UTC;
/// east (Kiritimati, UTC+14) it is UTC's tomorrow from 10:00 UTC: at any hour one of them
/// differs, and each that does is run (a UTC product fails one half in each).
#[tokio::test]
async fn agreements_end_at_the_msps_midnight_not_utcs() {
    use shared::domain::calendar::{Zone, local_day};
    use shared::domain::settings::BillingSettings;
    let now = chrono::Utc::now();
    let soon = now + chrono::Duration::minutes(5);
    let zones: Vec<Zone> = ["Pacific/Pago_Pago", "Pacific/Kiritimati"]
        .iter()
        .map(|z| z.parse().unwrap())
        .filter(|z| {
            // Another day than UTC's, and not about to turn (either of them).
            local_day(now, *z) != now.date_naive()
                && local_day(soon, *z) == local_day(now, *z)
                && soon.date_naive() == now.date_naive()
        })
        .collect();
    // (Only within five minutes of UTC's midnight is neither safe to run.)
    assert!(
        !zones.is_empty() || soon.date_naive() != now.date_naive(),
        "a zone whose day differs from UTC's"
    );
    for zone in zones {
        let s = stack(auto()).await;
        s.store
            .save_section(&BillingSettings {
                time_zone: Some(zone),
                ..BillingSettings::default()
            })
            .await
            .unwrap();
        let today = local_day(chrono::Utc::now(), zone);
        // (Effective since long ago: the simulator dates an addition without one UTC's today.)
        let ends = |id: i64, day: chrono::NaiveDate| {
            json!({"agreements": [{"id": id * 100, "name": "Managed backup", "type": {"id": 1, "name": "Managed Services"},
                   "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": false,
                   "startDate": "2026-01-01T00:00:00Z", "endDate": format!("{day}T00:00:00Z")}],
                   "additions": [{"id": id * 1000, "agreementId": id * 100, "product": {"id": SERVERS_PRODUCT},
                                  "quantity": 3 - (id - 71), "billCustomer": "Billable",
                                  "effectiveDate": "2026-01-01T00:00:00Z"}]})
        };
        // Ends on the MSP's today (for UTC west of it: yesterday, over).
        s.seed_customer(71, "Northwind Traders", Some("n@nw.example"), 3.0);
        s.cw_sim.seed(ends(71, today)).unwrap();
        // Ended on the MSP's yesterday (for UTC east of it: today, in force).
        s.seed_customer(72, "Tailspin Toys", Some("t@tt.example"), 2.0);
        s.cw_sim
            .seed(ends(72, today - chrono::Duration::days(1)))
            .unwrap();

        let tenant = s.provision_now(71).await;
        assert_eq!(s.quota(&tenant, "pw_base_servers")["value"], 3, "{zone}");
        assert_eq!(
            s.store.next_change(71).await.unwrap().map(|n| n.on),
            Some(today + chrono::Duration::days(1)),
            "{zone}: in force through the MSP's today"
        );
        let mut run = RunRecord::start("test");
        s.svc.sync_company(72, &mut run).await.unwrap();
        assert_eq!(
            s.store.mapping_by_company(72).await.unwrap(),
            None,
            "{zone}: ended on the MSP's yesterday: no tenant"
        );

        // The reconciler: the MSP's tomorrow is not due, its today is.
        let report = reconcile_blind(&s, chrono::Utc::now()).await;
        assert_eq!(report.candidates.get(&71), None, "{zone}: {report:?}");
        s.store.set_next_change(71, Some(today)).await.unwrap();
        let report = reconcile_blind(&s, chrono::Utc::now()).await;
        assert_eq!(
            report.candidates.get(&71),
            Some(&"a date in its agreements came"),
            "{zone}: {report:?}"
        );
    }
}

/// ConnectWise changes an addition without touching its agreement and fires nothing (the
/// simulator's "neither" setting): the daily sweep re-derives every mapped company, so the
/// quota follows within a day.
#[tokio::test]
async fn a_silent_addition_change_reaches_quotas_through_the_daily_sweep() {
    let s = stack(auto()).await;
    s.seed_customer(62, "School of Fine Art", Some("s@fineart.example"), 3.0);
    let tenant_id = s.provision_now(62).await;
    s.cw_sim.set_switches(simulators::connectwise::CwSwitches {
        addition_bumps_agreement: false,
        ..Default::default()
    });
    let before = s.cw_sim.sent_callbacks().len();
    let resp = reqwest::Client::new()
        .patch(format!(
            "{}/_sim/agreements/6200/additions/62000",
            s.cw_sim.url()
        ))
        .json(&json!({"quantity": 7.0}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    assert_eq!(s.cw_sim.sent_callbacks().len(), before, "no callback");

    // Nothing tells: the cursor is past every lastUpdated. A day of cycles sweeps it.
    let report = reconcile_blind(&s, chrono::Utc::now() - chrono::Duration::days(1)).await;
    assert_eq!(
        report.candidates.get(&62),
        Some(&"daily re-derive"),
        "{report:?}"
    );
    s.pump().await;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 7);
}

#[tokio::test]
async fn the_reconciler_repairs_a_lost_callback() {
    let s = stack(auto()).await;
    // Nothing was delivered for this company: no callback, no event.
    s.seed_customer(19, "Trey Research", Some("t@trey.example"), 1.0);
    let report = s.reconcile(false).await;
    assert!(report.candidates.contains_key(&19), "{report:?}");
    assert!(report.cursor_advanced);
    s.pump().await;
    assert_eq!(s.tenants_named("Trey Research").len(), 1);

    // Next cycle: a change after the cursor is picked up, an untouched company is not.
    s.seed_customer(20, "Humongous Insurance", Some("h@humongous.example"), 1.0);
    let report = s.reconcile(false).await;
    assert!(report.candidates.contains_key(&20), "{report:?}");
    s.pump().await;
    assert_eq!(s.tenants_named("Humongous Insurance").len(), 1);

    // A mapped company deleted in ConnectWise (its callback lost): not a change any listing
    // shows, so found when the sweep reaches its slot.
    let resp = reqwest::Client::new()
        .delete(format!("{}/_sim/companies/19", s.cw_sim.url()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    changes_from_now_on(&s).await;
    let report = s.reconcile(false).await;
    assert!(!report.candidates.contains_key(&19), "{report:?}");
    let report = reconcile_blind(&s, chrono::Utc::now() - chrono::Duration::days(1)).await;
    assert_eq!(
        report.candidates.get(&19),
        Some(&"mapped company deleted in ConnectWise")
    );
}

/// A mapped tenant deleted or disabled behind the product's back: the next cycle sees it
/// among the tenants Acronis lists as changed; where a deletion does not show as a change
/// (the simulator's `deletion_updates_tenant` off), the sweep finds it in its slot.
#[tokio::test]
async fn a_tenant_deleted_or_disabled_in_acronis_is_noticed_under_every_setting() {
    for deletion_updates_tenant in [true, false] {
        let s = stack(auto()).await;
        s.acronis_sim.set_switches(simulators::acronis::Switches {
            deletion_updates_tenant,
            ..Default::default()
        });
        s.seed_customer(23, "Lucerne Publishing", Some("l@lucerne.example"), 1.0);
        s.seed_customer(24, "Margie's Travel", Some("m@margie.example"), 1.0);
        s.reconcile(false).await;
        s.pump().await;
        let tenant = |name: &str| s.tenants_named(name)[0]["id"].as_str().unwrap().to_owned();
        let (lucerne, margie) = (tenant("Lucerne Publishing"), tenant("Margie's Travel"));

        // By hand: Lucerne's disabled (before the cursor, so not a change the next cycle
        // reads), then Margie's disabled and Lucerne's deleted.
        s.acronis_sim.disable_tenant(&lucerne).unwrap();
        // `updated_since` is read to the second, rounded down: let that second pass.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        changes_from_now_on(&s).await;
        s.acronis_sim.disable_tenant(&margie).unwrap();
        s.acronis_sim.delete_tenant(&lucerne).unwrap();
        let report = s.reconcile(false).await;
        assert_eq!(
            report.candidates.get(&24),
            Some(&"mapped tenant disabled"),
            "{report:?}"
        );
        if deletion_updates_tenant {
            assert_eq!(
                report.candidates.get(&23),
                Some(&"mapped tenant gone in Acronis"),
                "{report:?}"
            );
        } else {
            // Unlisted as a change: the sweep finds it in its slot.
            assert!(!report.candidates.contains_key(&23), "{report:?}");
            let report = reconcile_blind(&s, chrono::Utc::now() - chrono::Duration::days(1)).await;
            assert_eq!(
                report.candidates.get(&23),
                Some(&"mapped tenant gone in Acronis"),
                "{report:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_addition_change_moves_the_quota_and_a_change_without_effect_writes_nothing() {
    let s = stack(auto()).await;
    s.seed_customer(21, "Wide World Importers", Some("w@wwi.example"), 2.0);
    s.publish_company(21, Action::Added).await;
    s.pump().await;
    let tenant_id = s
        .svc
        .store
        .mapping_by_company(21)
        .await
        .unwrap()
        .unwrap()
        .tenant_id;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 2);

    let patch = |body: Value| {
        let url = format!("{}/_sim/agreements/2100/additions/21000", s.cw_sim.url());
        async move {
            let resp = reqwest::Client::new()
                .patch(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success());
        }
    };
    let agreement_event = || async {
        let report = s
            .bus
            .publish(&[Event::Agreement(shared::bus::AgreementChanged {
                version: VERSION,
                agreement_id: 2100,
                company_id: None,
                action: Action::Updated,
                origin: Origin::Admin,
                observed_at: chrono::Utc::now(),
            })])
            .await;
        assert!(report.all_published());
    };
    patch(json!({"quantity": 6})).await;
    agreement_event().await;
    s.pump().await;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 6);

    // A change that does not touch quotas (the invoice text): read, nothing written.
    s.acronis_sim.control().clear_requests();
    patch(json!({"invoiceDescription": "Backup, monthly"})).await;
    agreement_event().await;
    s.pump().await;
    let requests = s.acronis_sim.control().requests();
    assert!(
        requests.iter().any(|r| r.path.contains("offering_items")),
        "the tenant was checked"
    );
    let writes: Vec<_> = requests
        .iter()
        .filter(|r| r.method != "GET" && !r.path.contains("idp/token"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn signed_callback_to_ready_tenant_through_the_webhook() {
    let s = stack(auto()).await;
    // The webhook, serving the same core as the Lambda, in front of this stack's bus.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook_url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let hook = std::sync::Arc::new(webhook::Webhook::new(
        webhook::WebhookConfig::new(
            shared::connectwise::client::site_origin(&s.cw_sim.url()).unwrap(),
        ),
        store_as(&s.store, Function::Webhook).await.unwrap(),
        bus_as(&s.bus, Function::Webhook).await.unwrap(),
        webhook::HttpKeySource::new(reqwest::Client::new(), None),
    ));
    tokio::spawn(webhook::local::serve(listener, hook));
    let registered = shared::services::callbacks::register(&s.svc.cw, &webhook_url, false)
        .await
        .unwrap();
    assert_eq!(registered.created.len(), 2);
    let again = shared::services::callbacks::register(&s.svc.cw, &webhook_url, false)
        .await
        .unwrap();
    assert!(
        again.created.is_empty() && again.removed.is_empty(),
        "{again:?}"
    );

    // Sold in ConnectWise: each step fires its signed callback.
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let req = http.post(format!("{}{path}", s.cw_sim.url())).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert!(resp.status().is_success());
            resp.json::<Value>().await.unwrap()
        }
    };
    post("/_sim/companies", json!({"id": 30, "identifier": "C30", "name": "Margie's Travel", "status": {"id": 1, "name": "Active"}})).await;
    s.cw_sim
        .seed(json!({"contacts": [{"firstName": "Margie", "company": {"id": 30}, "defaultFlag": true,
            "communicationItems": [{"type": {"id": 1, "name": "Email"}, "value": "margie@travel.example", "defaultFlag": true, "communicationType": "Email"}]}]}))
        .unwrap();
    let agreement = post(
        "/_sim/agreements",
        json!({"name": "Backup", "type": {"id": 1, "name": "Managed Services"}, "company": {"id": 30}, "agreementStatus": "Active", "noEndingDateFlag": true}),
    )
    .await;
    let agreement_id = agreement["id"].as_i64().unwrap();
    post(
        &format!("/_sim/agreements/{agreement_id}/additions"),
        json!({"product": {"id": SERVERS_PRODUCT}, "quantity": 4, "billCustomer": "Billable"}),
    )
    .await;

    let mut mapping = None;
    for _ in 0..40 {
        s.pump().await;
        mapping = s.store.mapping_by_company(30).await.unwrap();
        if mapping.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tenant_id = mapping
        .expect("provisioned through the callbacks")
        .tenant_id;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 4);
    let sent = s.cw_sim.sent_callbacks();
    assert!(sent.len() >= 3, "{sent:?}");
    assert_eq!(s.tenants_named("Margie's Travel").len(), 1);
}

/// Under both settings of the ConnectWise simulator's `bad_credentials_status` (401 or 404 for
/// refused credentials, unconfirmed), a run with refused credentials fails and leaves the
/// customer's tenant, quotas and mapping alone: a 404 is not taken for a deleted company.
#[tokio::test]
async fn refused_credentials_never_deprovision_under_either_status() {
    for status in [401, 404] {
        let s = stack(auto()).await;
        s.seed_customer(40, "Fabrikam", Some("it@fabrikam.example"), 3.0);
        let mut run = RunRecord::start("test");
        assert!(matches!(
            s.svc.sync_company(40, &mut run).await.unwrap(),
            Outcome::Provisioned { .. }
        ));
        let tenant_id = s.tenant_of(40).await;
        s.cw_sim.set_switches(simulators::connectwise::CwSwitches {
            bad_credentials_status: status,
            ..Default::default()
        });
        let refused = shared::connectwise::ConnectWiseClient::new(
            &shared::secrets::ConnectWiseCredentials {
                private_key: secrecy::SecretString::from("rotated".to_owned()),
                codebase: Some(s.cw_sim.config().codebase.clone()),
                ..integration_tests::cw_credentials(&s.cw_sim)
            },
            integration_tests::fast_transport(2, Duration::from_secs(5)),
        )
        .unwrap();
        let bad = Provisioning::new(refused, s.svc.acronis.clone(), s.svc.store.clone());
        let mut run = RunRecord::start("test");
        let err = bad.sync_company(40, &mut run).await.unwrap_err();
        assert!(
            matches!(&err, ProvisionError::ConnectWise(e) if e.status() == Some(401)),
            "{status}: {err}"
        );
        let tenant = s.svc.acronis.tenant(&tenant_id).await.unwrap();
        assert!(tenant.enabled, "{status}: the tenant was disabled");
        assert_eq!(
            s.quota(&tenant_id, "pw_base_servers")["value"],
            3,
            "{status}"
        );
        assert!(
            s.store.mapping_by_company(40).await.unwrap().is_some(),
            "{status}"
        );
    }
}

/// A tenant POST that timed out after creating is adopted, not duplicated. Whether Acronis
/// `/search` finds a name of several words with punctuation is unconfirmed (simulator switch
/// `search_finds_phrases`): this holds under both settings.
#[tokio::test]
async fn a_timed_out_tenant_post_is_adopted_whatever_search_finds() {
    for finds_phrases in [true, false] {
        let s = stack(auto()).await;
        s.acronis_sim.set_switches(simulators::acronis::Switches {
            search_finds_phrases: finds_phrases,
            ..Default::default()
        });
        s.seed_customer(
            41,
            "Northwind Traders, Inc.",
            Some("it@northwind.example"),
            1.0,
        );
        s.acronis_sim.control().add_fault(FaultRule {
            method: Some("POST".into()),
            path_contains: Some("/api/2/tenants".into()),
            times: Some(1),
            fault: FaultKind::SlowAfterHandling { ms: 6000 },
        });
        let mut run = RunRecord::start("test");
        let outcome = s.svc.sync_company(41, &mut run).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Provisioned { adopted: true, .. }),
            "{finds_phrases}: {outcome:?}"
        );
        assert_eq!(
            s.tenants_named("Northwind Traders, Inc.").len(),
            1,
            "{finds_phrases}"
        );
    }
}

/// The reconciler's dry run (what `acw sync reconcile --dry-run` prints) names the events
/// the next real cycle puts on the bus, read back from the provisioner's queue: the same
/// companies, a deleted company as `deleted`. The dry run sends nothing and leaves the
/// cursor.
#[tokio::test]
async fn the_reconcile_preview_is_what_the_cycle_then_sends() {
    let s = stack(auto()).await;
    s.seed_customer(81, "Fourth Coffee", Some("f@fourth.example"), 1.0);
    s.seed_customer(82, "Lucerne Publishing", Some("l@lucerne.example"), 1.0);
    s.publish_company(82, Action::Added).await;
    s.pump().await;
    s.reconcile(false).await;
    integration_tests::drain_queue(&s.sqs, &s.queue, 100, Duration::from_secs(2))
        .await
        .unwrap();
    // Since that cycle: 83 is new, mapped 82 is deleted in ConnectWise.
    s.seed_customer(83, "Litware", Some("l@litware.example"), 1.0);
    let resp = reqwest::Client::new()
        .delete(format!("{}/_sim/companies/82", s.cw_sim.url()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    // A day since the last sweep: every slot is due, deleted 82's included.
    set_cursor(
        &s,
        reconcile::SWEEP_CURSOR,
        chrono::Utc::now() - chrono::Duration::days(1),
    )
    .await;
    let cursor: Option<chrono::DateTime<chrono::Utc>> =
        s.store.cursor(reconcile::CURSOR).await.unwrap();
    let preview = s.reconcile(true).await;
    assert!(preview.candidates.contains_key(&83), "{preview:?}");
    assert_eq!(
        preview.candidates.get(&82),
        Some(&"mapped company deleted in ConnectWise")
    );
    assert_eq!(preview.published, 0);
    assert!(
        integration_tests::drain_queue(&s.sqs, &s.queue, 1, Duration::from_secs(2))
            .await
            .unwrap()
            .is_empty(),
        "the dry run sent events"
    );
    assert_eq!(s.store.cursor(reconcile::CURSOR).await.unwrap(), cursor);

    let report = s.reconcile(false).await;
    let sent =
        integration_tests::drain_queue(&s.sqs, &s.queue, report.published, Duration::from_secs(10))
            .await
            .unwrap();
    let sent: std::collections::BTreeMap<i64, Action> = sent
        .iter()
        .map(|m| {
            match Event::parse(m["detail-type"].as_str().unwrap(), m["detail"].clone()).unwrap() {
                Event::Company(c) => (c.company_id, c.action),
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect();
    assert_eq!(
        sent.keys().collect::<Vec<_>>(),
        preview.candidates.keys().collect::<Vec<_>>(),
        "the cycle sent what the preview named"
    );
    assert_eq!(sent[&82], Action::Deleted);
    assert_eq!(sent[&83], Action::Updated);
}

/// With auto-provisioning on, a company that qualifies but whose callbacks were all lost
/// and that nobody edits is still provisioned within a day: the daily sweep covers the
/// unmapped companies with an active agreement. With it off, they are left alone.
#[tokio::test]
async fn the_daily_sweep_provisions_an_unmapped_company_that_qualifies() {
    let s = stack(auto()).await;
    s.seed_customer(
        96,
        "Blue Yonder Airlines",
        Some("b@blueyonder.example"),
        2.0,
    );
    // Nothing tells: no callback, and the change cursor is past its lastUpdated.
    let report = reconcile_blind(&s, chrono::Utc::now() - chrono::Duration::days(1)).await;
    assert_eq!(
        report.candidates.get(&96),
        Some(&"daily re-derive (unmapped, auto-provisioning)"),
        "{report:?}"
    );
    s.pump().await;
    assert_eq!(s.tenants_named("Blue Yonder Airlines").len(), 1);

    let off = stack(ProvisioningSettings::default()).await;
    off.seed_customer(97, "Alpine Ski House", Some("a@alpine.example"), 2.0);
    let report = reconcile_blind(&off, chrono::Utc::now() - chrono::Duration::days(1)).await;
    assert!(!report.candidates.contains_key(&97), "{report:?}");
}

/// A paused quota sync writes nothing and defers the company (the provisioner's role);
/// while paused the reconciler does not send it again; once resumed, the reconciler's next
/// cycle sends it, its quota follows the changed addition and the deferral is gone.
#[tokio::test]
async fn a_paused_quota_sync_defers_the_company_until_it_is_resumed() {
    use shared::domain::jobs::{Job, JobSettings};
    let s = stack(auto()).await;
    s.seed_customer(71, "Coho Winery", Some("c@coho.example"), 2.0);
    let tenant_id = s.provision_now(71).await;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 2);

    let paused = JobSettings::default()
        .with(Job::QuotaSync, true, chrono::Utc::now(), None)
        .unwrap();
    s.store.save_section(&paused).await.unwrap();
    let resp = reqwest::Client::new()
        .patch(format!(
            "{}/_sim/agreements/7100/additions/71000",
            s.cw_sim.url()
        ))
        .json(&json!({"quantity": 5.0}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let offering_puts = || {
        s.acronis_sim
            .control()
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/offering_items"))
            .count()
    };
    let puts_before = offering_puts();
    s.publish_company(71, Action::Updated).await;
    s.pump().await;
    assert_eq!(
        offering_puts(),
        puts_before,
        "a paused quota sync wrote quotas"
    );
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 2);
    let deferred = s.store.deferred().await.unwrap();
    assert_eq!(deferred.len(), 1);
    assert_eq!(
        (deferred[0].company_id, deferred[0].job),
        (71, Job::QuotaSync)
    );

    changes_from_now_on(&s).await;
    let report = s.reconcile(false).await;
    assert!(
        !report.candidates.contains_key(&71),
        "still paused: {report:?}"
    );

    s.store.save_section(&JobSettings::default()).await.unwrap();
    changes_from_now_on(&s).await;
    let report = s.reconcile(false).await;
    assert_eq!(
        report.candidates.get(&71),
        Some(&"deferred while its job was paused"),
        "{report:?}"
    );
    s.pump().await;
    assert_eq!(s.quota(&tenant_id, "pw_base_servers")["value"], 5);
    assert!(s.store.deferred().await.unwrap().is_empty());
}

/// Mappings stored by a version before the sweep's index: their tenant-side items carry no
/// index keys, so the sweep's slots would miss them. The first reconciler cycle (with the
/// reconciler's role) files them under their slots, once; the sweep then finds them.
#[tokio::test]
async fn mappings_from_before_the_sweep_index_are_filed_by_the_first_cycle() {
    use shared::domain::calendar::sweep_slot;
    let s = stack(auto()).await;
    let ddb = aws_sdk_dynamodb::Client::new(&integration_tests::aws().await.unwrap());
    for (company, tenant) in [(31, "t31"), (32, "t32")] {
        s.store
            .map_company(&shared::store::CompanyMapping {
                connection: Default::default(),
                unknown: Default::default(),
                company_id: company,
                tenant_id: tenant.into(),
                company_name: None,
                tenant_name: None,
                origin: shared::store::MappingOrigin::Manual,
                mapped_at: chrono::Utc::now(),
                qualified_at: None,
                setup_pending: false,
            })
            .await
            .unwrap();
        // As the earlier version wrote it.
        ddb.update_item()
            .table_name(s.store.table())
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("TENANT#{tenant}")),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("MAPPING".into()),
            )
            .update_expression("REMOVE gsi1pk, gsi1sk")
            .send()
            .await
            .unwrap();
    }
    let slots = [sweep_slot(31), sweep_slot(32)];
    assert!(s.store.mappings_in_slots(&slots).await.unwrap().is_empty());

    let cycle = async || {
        let mut run = RunRecord::start("reconciler");
        reconcile::reconcile(
            &s.svc.cw,
            &s.svc.acronis.clone().into(),
            &s.reconciler_store,
            &s.reconciler_bus,
            &mut run,
            false,
        )
        .await
        .unwrap();
        run
    };
    let run = cycle().await;
    assert_eq!(
        run.counts.get("mappings_indexed"),
        Some(&2),
        "{:?}",
        run.counts
    );
    let mut found: Vec<i64> = s
        .store
        .mappings_in_slots(&slots)
        .await
        .unwrap()
        .iter()
        .map(|m| m.company_id)
        .collect();
    found.sort();
    assert_eq!(found, [31, 32]);
    // Once: the next cycle indexes nothing.
    let run = cycle().await;
    assert_eq!(run.counts.get("mappings_indexed"), None);
}

/// A problem that needs a person (no contact email for the first account) opens one ticket
/// on the needs-attention board, naming the company and what to fix; the same problem again
/// adds nothing; once fixed, the next delivery provisions the company and closes the ticket.
/// Off (no board), nothing is ticketed.
#[tokio::test]
async fn a_problem_that_needs_a_person_opens_one_ticket_and_its_fix_closes_it() {
    let s = stack(auto()).await;
    let tickets = || integration_tests::tickets_with_xref(&s.cw_sim, "attn:provisioning:85");

    // Off: the problem is only in the run record.
    s.seed_customer(85, "Wingtip Toys", None, 1.0);
    s.publish_company(85, Action::Added).await;
    s.pump().await;
    assert!(tickets().await.is_empty());

    integration_tests::choose_attention_board(&s.cw_sim, &s.store, 77).await;
    for _ in 0..2 {
        s.publish_company(85, Action::Updated).await;
        s.pump().await;
    }
    let open = tickets().await;
    assert_eq!(
        open.len(),
        1,
        "one ticket for the problem and its repeat: {open:?}"
    );
    let t = &open[0];
    assert_eq!(t["board"]["id"], 77);
    assert_eq!(t["company"]["id"], 85);
    // The description (what to fix) and nothing more: a repeat adds nothing.
    let notes = integration_tests::ticket_notes(&s.cw_sim, &t["id"]).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("email"),
        "names what to fix: {notes:?}"
    );

    // Fixed: the contact gets an email; the next delivery provisions and closes the ticket.
    s.seed_customer(85, "Wingtip Toys", Some("it@wingtip.example"), 1.0);
    s.publish_company(85, Action::Updated).await;
    s.pump().await;
    assert_eq!(s.tenants_named("Wingtip Toys").len(), 1);
    let closed = tickets().await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["status"]["id"], 772, "{closed:?}");
}

/// ConnectWise keeps answering additions without `quantity`: each run fails, retried, and
/// nothing is written; after an hour of it (the record's clock moved back an hour here) the
/// company's needs-attention ticket tells a person once, and the next clean run closes it.
#[tokio::test]
async fn an_answer_that_stays_malformed_reaches_a_person_after_an_hour() {
    use shared::domain::attention::key;
    let s = stack(auto()).await;
    integration_tests::choose_attention_board(&s.cw_sim, &s.store, 78).await;
    s.seed_customer(86, "Fabrikam", Some("it@fabrikam.example"), 2.0);
    s.publish_company(86, Action::Added).await;
    s.pump().await;
    assert_eq!(s.tenants_named("Fabrikam").len(), 1);
    let tickets = || integration_tests::tickets_with_xref(&s.cw_sim, "attn:provisioning:86");
    let additions = json!([{"id": 86000, "agreementId": 8600, "product": {"id": SERVERS_PRODUCT},
                            "billCustomer": "Billable"}]);
    s.cw_sim.control().add_fault(integration_tests::answer_with(
        "/finance/agreements/8600/additions",
        Some(additions),
        None,
    ));
    let attention = key(shared::domain::jobs::Job::Provisioning, 86);
    s.publish_company(86, Action::Updated).await;
    s.pump().await;
    assert!(tickets().await.is_empty(), "not told the first time");
    let mut record = s.store.attention_record(&attention).await.unwrap().unwrap();
    let since = record.transient_since.expect("remembered since when");

    // An hour later it is still so.
    record.transient_since = Some(since - chrono::Duration::minutes(61));
    s.store.put_attention_record(&record).await.unwrap();
    for _ in 0..2 {
        s.publish_company(86, Action::Updated).await;
        s.pump().await;
    }
    let open = tickets().await;
    assert_eq!(open.len(), 1, "{open:?}");
    let notes = integration_tests::ticket_notes(&s.cw_sim, &open[0]["id"]).await;
    assert_eq!(notes.len(), 1, "told once: {notes:?}");
    let text = notes[0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("quantity") && text.contains("failing since"),
        "{text}"
    );

    // The answers are whole again: the run succeeds and closes the ticket.
    s.cw_sim.control().clear_faults();
    s.publish_company(86, Action::Updated).await;
    s.pump().await;
    let closed = tickets().await;
    assert_eq!(closed[0]["status"]["id"], 782, "{closed:?}");
    let record = s.store.attention_record(&attention).await.unwrap().unwrap();
    assert_eq!(record.transient_since, None);
}
