//! `acw` through the real binary, spawned as a process against the local stack: moto (a
//! fresh table, bus and secret per test) and both simulators started in-process. Each test
//! asserts on the command's output and on the simulators' state or the store's contents.
//!
//! moto must be running (`make test` starts it): `AWS_ENDPOINT_URL`, or `target/local/env`.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

mod common;

use common::*;
use integration_tests::{fresh_store, unique};
use serde_json::{Value, json};
use shared::domain::settings::ProvisioningSettings;
use shared::store::ProductMapping;
use simulators::acronis::{INFRA_EU, INFRA_US};

/// What `acw` changes in ConnectWise or Acronis is a run record, as a function's run is
/// (`shared::runs`), so `acw status` shows what an operator ran; a dry run records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_changes_are_run_records_and_dry_runs_record_none() {
    let s = stack().await;
    let hook = "http://127.0.0.1:9/webhook";

    s.acw(&["setup", "--webhook-url", hook, "--dry-run"])
        .await
        .ok();
    assert!(
        s.store.latest_runs("acw", 5).await.unwrap().is_empty(),
        "a dry run records nothing"
    );

    s.acw(&["setup", "--webhook-url", hook]).await.ok();
    let runs = s.store.latest_runs("acw", 5).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert!(run.finished_at.is_some() && !run.dry_run, "{run:?}");
    let registered: Vec<&str> = run.changes.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(registered, ["company callback", "agreement callback"]);
    assert!(
        run.changes
            .iter()
            .all(|c| c.field == "registered" && c.new == json!(hook))
    );

    // `acw status` shows it as acw's last run.
    let status = s.acw(&["status", "--json"]).await.ok().json();
    let last = status["last_runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == "acw")
        .unwrap_or_else(|| panic!("no run of acw: {status}"));
    assert_eq!(last["run_id"], json!(run.run_id));
    assert_eq!(last["changes"].as_array().unwrap().len(), 2, "{last}");
    assert!(
        !status["never_ran"]
            .as_array()
            .unwrap()
            .contains(&json!("acw"))
    );

    // Nothing to change: no new run.
    s.acw(&["setup", "--webhook-url", hook]).await.ok();
    assert_eq!(s.store.latest_runs("acw", 5).await.unwrap().len(), 1);

    // Auto-map's dry run records nothing; the real run records the products it created.
    s.cw.seed(json!({
        "subcategories": [{"name": "Backup"}],
        "types": [{"name": "Service"}],
        "unitOfMeasures": [{"name": "Each"}],
    }))
    .unwrap();
    let mut settings = shared::domain::products::ProductSettings {
        editions: vec!["pck_per_workload".into()],
        ..Default::default()
    };
    settings.new_products.unit_of_measure = Some("Each".into());
    s.store.save_section(&settings).await.unwrap();
    s.acw(&["products", "auto-map", "--dry-run"]).await.ok();
    assert_eq!(s.store.latest_runs("acw", 5).await.unwrap().len(), 1);
    let j = s.acw(&["products", "auto-map", "--json"]).await.ok().json();
    let created = j["report"]["created"].as_array().unwrap().len() as u64;
    assert!(created > 0, "{j}");
    let runs = s.store.latest_runs("acw", 5).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].counts["products_created"], created, "{:?}", runs[0]);
    assert_eq!(runs[0].changes.len() as u64, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_checks_both_credentials_and_registers_callbacks_once() {
    let s = stack().await;
    let hook = "http://127.0.0.1:9/webhook";

    // Dry run: both checks pass, nothing is registered.
    let out = s
        .acw(&["setup", "--webhook-url", hook, "--dry-run"])
        .await
        .ok();
    assert!(out.stdout.contains("would create"), "{}", out.stdout);
    assert!(out.stdout.contains("ConnectWise") && out.stdout.contains("Acronis"));
    assert!(s.cw_writes().is_empty(), "{:?}", s.cw_writes());
    assert!(s.acronis_writes().is_empty());
    assert!(out.stdout.contains("would set"), "{}", out.stdout);
    let billing: shared::domain::settings::BillingSettings = s.store.section().await.unwrap();
    assert_eq!(billing.time_zone, None, "a dry run sets nothing");

    let out = s
        .acw(&["--json", "setup", "--webhook-url", hook])
        .await
        .ok();
    let j = out.json();
    assert_eq!(j["callbacks"]["created"], json!(["company", "agreement"]));
    assert!(
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true)
    );
    let posts = s.cw.control().counts()["POST /system/callbacks"];
    assert_eq!(posts, 2);
    // The MSP's time zone, never set: ConnectWise's (My Company's "US Eastern" setup,
    // "Eastern Standard Time") through CLDR's table; the dry run set nothing.
    assert_eq!(j["time_zone"]["outcome"], "set", "{j}");
    assert_eq!(
        j["time_zone"]["proposal"]["windows"],
        "Eastern Standard Time"
    );
    let billing: shared::domain::settings::BillingSettings = s.store.section().await.unwrap();
    assert_eq!(billing.zone().name(), "America/New_York");

    // Again: kept, nothing new.
    s.cw.control().clear_requests();
    let j = s
        .acw(&["setup", "--webhook-url", hook, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["callbacks"]["created"], json!([]));
    assert_eq!(j["callbacks"]["kept"].as_array().unwrap().len(), 2);
    assert!(s.cw_writes().is_empty(), "{:?}", s.cw_writes());
    // A zone set is kept, whatever ConnectWise says; setup only shows its own.
    s.acw(&["billing", "set", "time_zone=Asia/Tokyo"])
        .await
        .ok();
    s.cw.seed(json!({"myCompany": {"serverTimeZone": {"id": 2}}}))
        .unwrap();
    let out = s.acw(&["setup", "--webhook-url", hook]).await.ok();
    assert!(
        out.stdout.contains("America/Los_Angeles")
            && out.stdout.contains("time_zone=America/Los_Angeles"),
        "{}",
        out.stdout
    );
    let billing: shared::domain::settings::BillingSettings = s.store.section().await.unwrap();
    assert_eq!(billing.zone().name(), "Asia/Tokyo");

    // A plain-http public URL is refused by the service, with the reason.
    let out = s
        .acw(&["setup", "--webhook-url", "http://hooks.example.com/x"])
        .await
        .failed();
    assert!(out.stderr.contains("must use https"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_names_the_failing_credential_and_never_prints_secrets() {
    let s = stack().await;
    let sm = aws_sdk_secretsmanager::Client::new(&s.config);
    let mut bad_cw = local_runner::simulator_secret(&s.cw.url(), &s.acronis.url());
    bad_cw["cw_private_key"] = json!("TOPSECRET-cw-private");
    let bad_cw_id = unique("secret");
    local_runner::put_secret(&sm, &bad_cw_id, &bad_cw.to_string())
        .await
        .unwrap();
    let out = s
        .acw_with(
            &["setup", "--webhook-url", "http://127.0.0.1:9/h"],
            &[("SECRET_ID", &bad_cw_id)],
        )
        .await
        .failed();
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("ConnectWise"), "{}", out.stderr);
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(out.stderr.contains("cw_private_key"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("Acronis:"),
        "Acronis passed: {}",
        out.stderr
    );
    assert!(!all.contains("TOPSECRET"), "{all}");
    assert!(s.cw_writes().is_empty());

    let mut bad_acronis = local_runner::simulator_secret(&s.cw.url(), &s.acronis.url());
    bad_acronis["acronis_client_secret"] = json!("TOPSECRET-acronis");
    let bad_acronis_id = unique("secret");
    local_runner::put_secret(&sm, &bad_acronis_id, &bad_acronis.to_string())
        .await
        .unwrap();
    let out = s
        .acw_with(
            &["setup", "--webhook-url", "http://127.0.0.1:9/h"],
            &[("SECRET_ID", &bad_acronis_id)],
        )
        .await
        .failed();
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("Acronis"), "{}", out.stderr);
    assert!(
        out.stderr.contains("acronis_client_secret"),
        "{}",
        out.stderr
    );
    assert!(!all.contains("TOPSECRET"), "{all}");
    assert!(s.cw_writes().is_empty());

    // Missing environment and a missing secret: what to set.
    let out = s
        .acw_with(&["provisioning", "show"], &[("TABLE_NAME", "")])
        .await
        .failed();
    assert!(
        out.stderr.contains("TABLE_NAME is required"),
        "{}",
        out.stderr
    );
    let out = s
        .acw_with(
            &["setup", "--webhook-url", "http://127.0.0.1:9/h"],
            &[("SECRET_ID", "no-such-secret")],
        )
        .await
        .failed();
    assert!(out.stderr.contains("no-such-secret"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_show_and_set_validate_and_audit() {
    let s = stack().await;
    let j = s.acw(&["provisioning", "show", "--json"]).await.ok().json();
    assert_eq!(
        j,
        serde_json::to_value(ProvisioningSettings::default()).unwrap()
    );
    let out = s.acw(&["provisioning", "show"]).await.ok();
    assert!(
        out.stdout.contains("deprovisioning.quotas_to_zero"),
        "{}",
        out.stdout
    );

    let out = s
        .acw(&[
            "provisioning",
            "set",
            "auto_provisioning=true",
            "deprovisioning.disable=true",
            "two_factor=on",
        ])
        .await
        .ok();
    assert!(out.stdout.contains("auto_provisioning"), "{}", out.stdout);
    let stored: ProvisioningSettings = s.store.section().await.unwrap();
    assert!(stored.auto_provisioning && stored.deprovisioning.disable && stored.two_factor);
    assert_eq!(s.audit_actions().await, vec!["provisioning.set"]);

    // Bad input: a clear message, non-zero exit, nothing written.
    for (args, expect) in [
        (vec!["language=english"], "two-letter"),
        (
            vec!["deprovisioning.disable=false", "deprovisioning.delete=true"],
            "needs deprovisioning.disable",
        ),
        (vec!["auto_provision=true"], "unknown setting"),
        (vec!["two_factor=maybe"], "true or false"),
        (vec!["two_factor"], "KEY=VALUE"),
    ] {
        let mut full = vec!["provisioning", "set"];
        full.extend(args);
        let out = s.acw(&full).await.failed();
        assert!(out.stderr.contains(expect), "{full:?}: {}", out.stderr);
    }
    let after: ProvisioningSettings = s.store.section().await.unwrap();
    assert_eq!(after, stored);
    assert_eq!(s.audit_actions().await.len(), 1);

    // Unknown flags and commands: clap's usage error (exit 2).
    let out = s.acw(&["provisioning", "show", "--frobnicate"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--frobnicate"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_billing_settings_are_validated_saved_and_audited() {
    use shared::domain::settings::BillingSettings;
    use shared::domain::usage::{Rounding, Unit, UsageSettings};
    let s = stack().await;
    s.seed_products().await;
    let mut storage = ProductMapping::new("pw_base_storage", Some(504), "bytes");
    storage.infra_id = Some(INFRA_US.into());
    storage.product_identifier = Some("ACR-STORAGE-US".into());
    s.store.put_product_mapping(&storage).await.unwrap();
    let j = s.acw(&["usage", "show", "--json"]).await.ok().json();
    assert_eq!(j, serde_json::to_value(UsageSettings::default()).unwrap());

    s.acw(&[
        "usage",
        "set",
        "storage.base=1000",
        "storage.unit=tb",
        "storage.decimals=3",
    ])
    .await
    .ok();
    // A product by identifier: its own rule starts from the storage rule.
    let out = s
        .acw(&[
            "usage",
            "product",
            "acr-storage-us",
            "rounding=nearest",
            "--json",
        ])
        .await
        .ok();
    assert!(
        !out.json()["changes"].as_array().unwrap().is_empty(),
        "{}",
        out.stdout
    );
    let stored: UsageSettings = s.store.section().await.unwrap();
    assert_eq!(
        (
            stored.storage.base,
            stored.storage.unit,
            stored.storage.decimals
        ),
        (1000, Unit::Tb, 3)
    );
    let rule = stored.products[&504];
    assert_eq!(
        (rule.base, rule.unit, rule.rounding),
        (1000, Unit::Tb, Rounding::Nearest)
    );

    // Bad input: a clear message, non-zero exit, nothing written.
    for (args, expect) in [
        (vec!["usage", "set", "storage.base=1023"], "1000 or 1024"),
        (
            vec!["usage", "set", "storage.unit=furlongs"],
            "unknown variant",
        ),
        (vec!["usage", "set", "storage.decimals=9"], "at most 6"),
        (vec!["usage", "set", "base=1000"], "unknown setting"),
        (
            vec!["usage", "product", "nope", "base=1000"],
            "no mapped product",
        ),
        (vec!["usage", "product", "504"], "--reset"),
        (vec!["billing", "set", "payg=usage"], "unknown setting"),
    ] {
        let out = s.acw(&args).await.failed();
        assert!(out.stderr.contains(expect), "{args:?}: {}", out.stderr);
    }
    let after: UsageSettings = s.store.section().await.unwrap();
    assert_eq!(after, stored);

    s.acw(&["usage", "product", "504", "--reset"]).await.ok();
    let stored: UsageSettings = s.store.section().await.unwrap();
    assert!(stored.products.is_empty());
    let out = s.acw(&["usage", "product", "504", "--reset"]).await.ok();
    assert!(out.stdout.contains("nothing changed"), "{}", out.stdout);

    s.acw(&[
        "billing",
        "set",
        "payg_agreement_types=Metered, Usage billing",
    ])
    .await
    .ok();
    let billing: BillingSettings = s.store.section().await.unwrap();
    assert_eq!(
        billing.payg_agreement_types,
        vec!["Metered", "Usage billing"]
    );
    let j = s.acw(&["billing", "show", "--json"]).await.ok().json();
    assert_eq!(j["payg_agreement_types"][0], "Metered");
    assert_eq!(
        s.audit_actions().await,
        vec!["usage.set", "usage.product", "usage.product", "billing.set"]
    );
    // And the usage section travels in `config export`.
    let out = s.acw(&["config", "export"]).await.ok();
    assert!(
        out.stdout.contains("usage:") && out.stdout.contains("base: 1000"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn companies_list_map_and_unmap() {
    let s = stack().await;
    s.seed_products().await;
    s.seed_customer(21, "Northwind Traders", "Customer");
    s.seed_customer(22, "Contoso", "Customer");
    s.seed_customer(23, "Fabrikam", "Prospect");

    let ids = |j: &Value| -> Vec<i64> {
        j.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let j = s.acw(&["companies", "list", "--json"]).await.ok().json();
    for id in [21, 22, 23] {
        assert!(ids(&j).contains(&id), "{j}");
    }
    let j = s
        .acw(&["companies", "list", "--search", "north", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(ids(&j), [21]);
    let j = s
        .acw(&["companies", "list", "--type", "Prospect", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(ids(&j), [23]);

    // Dry listing writes nothing anywhere.
    assert!(s.acronis_writes().is_empty());

    // Two companies to new tenants.
    let out = s.acw(&["companies", "map", "21", "22"]).await.ok();
    assert!(out.stdout.contains("Northwind Traders"), "{}", out.stdout);
    assert_eq!(s.customer_tenants("Northwind Traders").len(), 1);
    assert_eq!(s.customer_tenants("Contoso").len(), 1);
    let m = s.store.mapping_by_company(21).await.unwrap().unwrap();
    assert_eq!(
        m.tenant_id,
        s.customer_tenants("Northwind Traders")[0]["id"]
    );
    let j = s
        .acw(&["companies", "list", "--mapping", "mapped", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(ids(&j), [21, 22]);
    assert_eq!(j[0]["tenant_id"], json!(m.tenant_id));
    let j = s
        .acw(&["companies", "list", "--mapping", "unmapped", "--json"])
        .await
        .ok()
        .json();
    assert!(!ids(&j).contains(&21));

    // Unknown and already-mapped ids: said, non-zero, the others still mapped.
    s.acronis.control().clear_requests();
    let out = s
        .acw(&["companies", "map", "999", "21", "23"])
        .await
        .failed();
    assert!(out.stderr.contains("no company 999"), "{}", out.stderr);
    assert!(out.stderr.contains("already mapped"), "{}", out.stderr);
    assert!(out.stderr.contains("2 of 3"), "{}", out.stderr);
    assert_eq!(s.customer_tenants("Northwind Traders").len(), 1);
    assert!(s.store.mapping_by_company(23).await.unwrap().is_some());
    assert!(s.store.mapping_by_company(999).await.unwrap().is_none());

    // One company to an existing tenant.
    s.seed_customer(24, "Lucerne", "Customer");
    let free = s
        .acronis
        .seed_tenant(json!({"name": "Lucerne Publishing", "kind": "customer"}))
        .unwrap();
    let free_id = free["id"].as_str().unwrap();
    let j = s
        .acw(&["companies", "map", "24", "--tenant", free_id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["mapped"][0]["tenant_id"], json!(free_id));
    let out = s
        .acw(&["companies", "map", "21", "22", "--tenant", free_id])
        .await
        .failed();
    assert!(out.stderr.contains("exactly one company"), "{}", out.stderr);

    // Unmap: the mapping goes both ways, the tenant stays.
    let out = s.acw(&["companies", "unmap", "24"]).await.ok();
    assert!(out.stdout.contains(free_id), "{}", out.stdout);
    assert!(s.store.mapping_by_company(24).await.unwrap().is_none());
    assert!(s.store.mapping_by_tenant(free_id).await.unwrap().is_none());
    assert_eq!(s.customer_tenants("Lucerne Publishing").len(), 1);
    let out = s.acw(&["companies", "unmap", "24"]).await.failed();
    assert!(
        out.stderr.contains("company 24 is not mapped"),
        "{}",
        out.stderr
    );

    let actions = s.audit_actions().await;
    assert_eq!(
        actions.iter().filter(|a| *a == "companies.map").count(),
        4,
        "{actions:?}"
    );
    assert!(actions.contains(&"companies.unmap".to_owned()));

    // Status: the runs of acw, their failures, the mapped companies.
    let j = s.acw(&["status", "--json"]).await.ok().json();
    assert_eq!(j["mapped_companies"], 3);
    assert_eq!(j["open_alert_tickets"], 0);
    assert!(
        j["last_runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["function"] == "acw"),
        "{j}"
    );
    assert!(
        j["recent_failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["subject"] == "company 999"),
        "{j}"
    );
    let out = s.acw(&["status"]).await.ok();
    assert!(out.stdout.contains("mapped companies: 3"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_list_map_free_default_storage_and_unmap() {
    let s = stack().await;
    s.seed_products().await;

    let j = s.acw(&["products", "list", "--json"]).await.ok().json();
    let row = |j: &Value, item: &str, infra: Option<&str>| -> Value {
        j.as_array()
            .unwrap()
            .iter()
            .find(|r| r["offering_item"] == item && r["infra_id"].as_str() == infra)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        row(&j, "pw_base_servers", None)["mapping"]["product_id"],
        SERVERS_PRODUCT
    );
    assert!(row(&j, "pw_base_vms", None)["mapping"].is_null());
    assert_eq!(
        row(&j, "pw_base_storage", Some(INFRA_EU))["mapping"]["default_storage"],
        true
    );
    // Storages by their Acronis names, not only their ids.
    assert_eq!(
        row(&j, "pw_base_storage", Some(INFRA_EU))["infra_name"],
        "Acronis Cloud EU"
    );
    let out = s.acw(&["products", "list"]).await.ok();
    assert!(out.stdout.contains("default storage"), "{}", out.stdout);
    assert!(out.stdout.contains("Acronis Cloud EU"), "{}", out.stdout);

    // Map by identifier: the unit and application come from Acronis. Previewed first: the
    // dry run saves nothing, and the real run saves the mapping it showed.
    let before = s.product_mappings().await;
    let preview = s
        .acw(&[
            "products",
            "map",
            "pw_base_vms",
            "ACR-VMS",
            "--dry-run",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        s.product_mappings().await,
        before,
        "a dry run saves nothing"
    );
    for args in [
        vec!["products", "free", "pw_pack_adv_security", "--dry-run"],
        vec!["products", "default-storage", INFRA_US, "--dry-run"],
        vec![
            "products",
            "unmap",
            "pw_base_storage",
            "--infra",
            INFRA_EU,
            "--dry-run",
        ],
    ] {
        let out = s.acw(&args).await.ok().stdout;
        assert!(out.contains("dry run"), "{args:?}: {out}");
        assert_eq!(s.product_mappings().await, before, "{args:?} saved");
    }
    s.acw(&["products", "map", "pw_base_vms", "ACR-VMS"])
        .await
        .ok();
    let stored = s
        .product_mappings()
        .await
        .into_iter()
        .find(|m| m.offering_item == "pw_base_vms")
        .unwrap();
    let shown = &preview["would_save"];
    assert_eq!(
        (
            json!(stored.product_id),
            json!(stored.product_identifier),
            json!(stored.edition),
            json!(stored.infra_id)
        ),
        (
            shown["product_id"].clone(),
            shown["product_identifier"].clone(),
            shown["edition"].clone(),
            shown["infra_id"].clone()
        ),
        "the real run saved what the preview showed: {preview}"
    );
    let vms = s
        .product_mappings()
        .await
        .into_iter()
        .find(|m| m.offering_item == "pw_base_vms")
        .unwrap();
    assert_eq!(vms.product_id, Some(VMS_PRODUCT));
    assert_eq!(vms.product_identifier.as_deref(), Some("ACR-VMS"));
    assert_eq!(vms.measurement_unit.as_deref(), Some("quantity"));
    assert_eq!(vms.edition.as_deref(), Some("pck_per_workload"));

    // Bad input: nothing written.
    let before = s.product_mappings().await;
    for (args, expect) in [
        (
            vec!["products", "map", "pw_nope", "ACR-VMS"],
            "offers no item",
        ),
        (
            vec!["products", "map", "pw_base_workstations", "NOPE"],
            "no product",
        ),
        (
            vec!["products", "map", "pw_base_workstations", "ACR-VMS"],
            "already mapped to pw_base_vms",
        ),
        (
            vec!["products", "map", "pw_base_storage", "501"],
            "storage item: give --infra",
        ),
        (
            vec![
                "products",
                "map",
                "pw_base_workstations",
                "501",
                "--edition",
                "pck_per_gigabyte",
            ],
            "belongs to edition",
        ),
        (
            vec!["products", "unmap", "pw_base_workstations"],
            "is not mapped",
        ),
        (
            vec!["products", "default-storage", "nowhere"],
            "has no storage nowhere",
        ),
    ] {
        let out = s.acw(&args).await.failed();
        assert!(out.stderr.contains(expect), "{args:?}: {}", out.stderr);
    }
    assert_eq!(s.product_mappings().await, before);

    // Free, default storage (moves), unmap.
    s.acw(&["products", "free", "pw_pack_adv_security"])
        .await
        .ok();
    let j = s
        .acw(&["products", "default-storage", INFRA_US, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["cleared"].as_array().unwrap().len(), 1);
    let mappings = s.product_mappings().await;
    let find = |item: &str, infra: Option<&str>| {
        mappings
            .iter()
            .find(|m| m.offering_item == item && m.infra_id.as_deref() == infra)
            .cloned()
            .unwrap()
    };
    assert!(find("pw_pack_adv_security", None).free);
    assert!(find("pw_base_storage", Some(INFRA_US)).default_storage);
    assert!(!find("pw_base_storage", Some(INFRA_EU)).default_storage);
    assert_eq!(mappings.iter().filter(|m| m.default_storage).count(), 1);

    s.acw(&["products", "unmap", "pw_base_vms"]).await.ok();
    assert!(
        !s.product_mappings()
            .await
            .iter()
            .any(|m| m.offering_item == "pw_base_vms")
    );
    // Mapping products never writes to either API.
    assert!(s.cw_writes().is_empty() && s.acronis_writes().is_empty());
    let actions = s.audit_actions().await;
    for a in [
        "products.map",
        "products.free",
        "products.default-storage",
        "products.unmap",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a}: {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_reconcile_dry_run_writes_nothing() {
    let s = stack().await;
    s.seed_products().await;
    s.seed_customer(31, "Adventure Works", "Customer");

    let out = s.acw(&["sync", "reconcile", "--dry-run"]).await.ok();
    assert!(out.stdout.contains("31"), "{}", out.stdout);
    assert!(out.stdout.contains("dry run"), "{}", out.stdout);
    assert!(s.cw_writes().is_empty() && s.acronis_writes().is_empty());
    assert!(
        s.store
            .cursor::<chrono::DateTime<chrono::Utc>>("reconciler")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.store
            .latest_runs("reconciler", 5)
            .await
            .unwrap()
            .is_empty()
    );

    let j = s.acw(&["sync", "reconcile", "--json"]).await.ok().json();
    assert_eq!(j["candidates"][0]["company_id"], 31);
    assert_eq!(j["published"], 1);
    assert_eq!(j["cursor_advanced"], true);
    let runs = s.store.latest_runs("reconciler", 5).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].counts.get("published"), Some(&1));
    let status = s.acw(&["status", "--json"]).await.ok().json();
    assert!(
        status["last_runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["function"] == "reconciler")
    );
    // Nothing is mapped with pay-as-you-go additions here: a usage run writes nothing.
    let j = s.acw(&["sync", "usage", "--json"]).await.ok().json();
    assert_eq!(j["writes"], 0, "{j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_export_apply_round_trips_idempotently_and_refuses_bad_files() {
    let s = stack().await;
    s.seed_products().await;
    s.acw(&[
        "provisioning",
        "set",
        "auto_provisioning=true",
        "language=de",
    ])
    .await
    .ok();
    s.seed_customer(41, "Tailspin Toys", "Customer");
    s.acw(&["companies", "map", "41"]).await.ok();

    let exported = s.acw(&["config", "export"]).await.ok().stdout;
    assert!(exported.contains("auto_provisioning: true"), "{exported}");
    assert!(exported.contains("pw_base_servers"), "{exported}");
    assert!(exported.contains("company_id: 41"), "{exported}");
    let file = s.file("config.yaml", &exported);

    // An empty store: the dry run shows the diff and writes nothing.
    let empty = fresh_store(&s.config).await.unwrap();
    let on_empty = [("TABLE_NAME", empty.table())];
    let out = s
        .acw_with(&["config", "apply", &file, "--dry-run"], &on_empty)
        .await
        .ok();
    assert!(
        out.stdout
            .contains("~ provisioning.auto_provisioning: false → true"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("+ companies.41"), "{}", out.stdout);
    assert!(out.stdout.contains("nothing was written"), "{}", out.stdout);
    assert!(empty.product_mappings().await.unwrap().is_empty());
    assert!(!empty.section_saved::<ProvisioningSettings>().await.unwrap());
    assert!(empty.mappings().await.unwrap().is_empty());

    let preview = s
        .acw_with(
            &["config", "apply", &file, "--dry-run", "--json"],
            &on_empty,
        )
        .await
        .ok()
        .json();

    // Applied: the same configuration comes back out, and the store holds exactly what the
    // preview's steps said (read from the store, not from the run's report).
    let j = s
        .acw_with(&["config", "apply", &file, "--json"], &on_empty)
        .await
        .ok()
        .json();
    assert!(!j["changes"].as_array().unwrap().is_empty());
    assert_eq!(
        j["changes"], preview["changes"],
        "the run applied the previewed plan"
    );
    let steps = preview["steps"].as_array().unwrap();
    let planned = |kind: &str| steps.iter().filter(|st| st["step"] == kind).count();
    assert_eq!(
        empty.product_mappings().await.unwrap().len(),
        planned("put_product")
    );
    assert_eq!(empty.mappings().await.unwrap().len(), planned("map"));
    assert_eq!(planned("save_provisioning"), 1);
    assert!(empty.section_saved::<ProvisioningSettings>().await.unwrap());
    let again = s
        .acw_with(&["config", "export"], &on_empty)
        .await
        .ok()
        .stdout;
    assert_eq!(again, exported);
    assert_eq!(
        empty
            .mapping_by_company(41)
            .await
            .unwrap()
            .unwrap()
            .tenant_id,
        s.store
            .mapping_by_company(41)
            .await
            .unwrap()
            .unwrap()
            .tenant_id
    );

    // Twice: nothing changes, nothing is written.
    let before = empty.product_mappings().await.unwrap();
    let out = s
        .acw_with(&["config", "apply", &file], &on_empty)
        .await
        .ok();
    assert!(out.stdout.contains("no changes"), "{}", out.stdout);
    assert_eq!(
        empty.product_mappings().await.unwrap(),
        before,
        "not even updated_at"
    );
    let audits = empty
        .audit_of_day(chrono::Utc::now().date_naive())
        .await
        .unwrap();
    assert_eq!(audits.len(), 1, "one apply that changed something");

    // An edited file: only the difference, with old → new.
    let edited = exported
        .replace("auto_provisioning: true", "auto_provisioning: false")
        .replace(&format!("product_id: {SERVERS_PRODUCT}"), "product_id: 501");
    let edited_file = s.file("edited.yaml", &edited);
    let j = s
        .acw_with(&["config", "apply", &edited_file, "--json"], &on_empty)
        .await
        .ok()
        .json();
    let keys: Vec<String> = j["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["op"].as_str().unwrap(),
                c["section"].as_str().unwrap(),
                c["key"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            "change provisioning auto_provisioning",
            "change products pw_base_servers"
        ]
    );

    // Bad files: a clear message, non-zero, nothing written.
    let snapshot = s
        .acw_with(&["config", "export"], &on_empty)
        .await
        .ok()
        .stdout;
    for (name, text, expect) in [
        (
            "broken.yaml",
            "provisioning: [auto_provisioning",
            "not a valid acw configuration",
        ),
        (
            "unknown.yaml",
            "provisioning:\n  auto_provision: true\n",
            "auto_provision",
        ),
        (
            "range.yaml",
            "provisioning:\n  language: english\nproducts: []\n",
            "two-letter",
        ),
        (
            "delete.yaml",
            "provisioning:\n  deprovisioning:\n    delete: true\n",
            "needs deprovisioning.disable",
        ),
        (
            "dup.yaml",
            "companies:\n- company_id: 1\n  tenant_id: a\n- company_id: 1\n  tenant_id: b\n",
            "listed twice",
        ),
        // Checked as `companies map --tenant` checks a pair.
        (
            "ghost.yaml",
            "companies:\n- company_id: 41\n  tenant_id: 00000000-0000-4000-8000-000000000999\n",
            "company 41 → tenant 00000000-0000-4000-8000-000000000999: Acronis has no tenant",
        ),
    ] {
        let f = s.file(name, text);
        let out = s
            .acw_with(&["config", "apply", &f], &on_empty)
            .await
            .failed();
        assert!(out.stderr.contains(expect), "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains("nothing was written"),
            "{name}: {}",
            out.stderr
        );
    }
    let out = s
        .acw_with(&["config", "apply", "/no/such/file.yaml"], &on_empty)
        .await
        .failed();
    assert!(out.stderr.contains("/no/such/file.yaml"), "{}", out.stderr);
    assert_eq!(
        s.acw_with(&["config", "export"], &on_empty)
            .await
            .ok()
            .stdout,
        snapshot
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn alerts_board_map_and_options_are_checked_against_the_board() {
    let s = stack().await;
    s.cw.seed(serde_json::json!({
        "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}, {"name": "Priority 1 - Critical"}],
        "boards": [{"name": "Acronis alerts",
            "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Resolved", "closedStatus": true}],
            "types": [{"name": "Backup"}]}]
    }))
    .unwrap();

    // Mapping before a board is chosen: says what to do first.
    let out = s
        .acw(&["alerts", "map", "BackupFailed", "--status", "New"])
        .await
        .failed();
    assert!(out.stderr.contains("acw alerts board"), "{}", out.stderr);

    let out = s.acw(&["alerts", "board", "No such board"]).await.failed();
    assert!(out.stderr.contains("no board named"), "{}", out.stderr);
    s.acw(&["alerts", "board", "acronis alerts"]).await.ok();

    // A status not on the board is refused and named; nothing is stored.
    let out = s
        .acw(&["alerts", "map", "BackupFailed", "--status", "Waiting"])
        .await
        .failed();
    assert!(out.stderr.contains("\"Waiting\""), "{}", out.stderr);
    let shown = s.acw(&["alerts", "show", "--json"]).await.ok().json();
    assert!(shown["types"].as_object().unwrap().is_empty());

    s.acw(&[
        "alerts",
        "map",
        "BackupFailed",
        "--status",
        "New",
        "--type",
        "Backup",
        "--priority",
        "Priority 1 - Critical",
    ])
    .await
    .ok();
    s.acw(&[
        "alerts",
        "set",
        "auto_close=on",
        "closing_status=Resolved",
        "renew_after_closed=on",
        "renew_after_days=3",
    ])
    .await
    .ok();
    // People read names, not ids.
    let human = s.acw(&["alerts", "show"]).await.ok().stdout;
    for name in [
        "Acronis alerts",
        "New (",
        "Backup (",
        "Priority 1 - Critical (",
        "Resolved (",
    ] {
        assert!(human.contains(name), "{name} missing: {human}");
    }
    let shown = s.acw(&["alerts", "show", "--json"]).await.ok().json();
    let mapping = &shown["types"]["BackupFailed"];
    assert!(
        mapping["status_id"].is_i64()
            && mapping["type_id"].is_i64()
            && mapping["priority_id"].is_i64(),
        "{shown}"
    );
    assert_eq!(shown["auto_close"], true);
    assert_eq!(shown["renew_after_days"], 3);

    let out = s
        .acw(&["alerts", "set", "renew_after_days=0"])
        .await
        .failed();
    assert!(out.stderr.contains("1 to 365"), "{}", out.stderr);
    let out = s.acw(&["alerts", "set", "reopen=yes"]).await.failed();
    assert!(out.stderr.contains("unknown setting"), "{}", out.stderr);
    assert_eq!(
        s.acw(&["alerts", "show", "--json"]).await.ok().json()["renew_after_days"],
        3,
        "nothing written"
    );

    // Every change previews: the dry run shows the change and saves nothing, and the real
    // run then saves exactly the settings the preview showed.
    let preview = s
        .acw(&["alerts", "set", "renew_after_days=9", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(preview["dry_run"], true);
    assert_eq!(
        preview["changes"],
        json!([{"setting": "renew_after_days", "old": 3, "new": 9}]),
        "{preview}"
    );
    let audits_before = s.audit_actions().await.len();
    assert_eq!(
        s.acw(&["alerts", "show", "--json"]).await.ok().json()["renew_after_days"],
        3,
        "a dry run saves nothing"
    );
    s.acw(&["alerts", "set", "renew_after_days=9"]).await.ok();
    assert_eq!(
        s.acw(&["alerts", "show", "--json"]).await.ok().json(),
        preview["settings"]
    );
    assert_eq!(s.audit_actions().await.len(), audits_before + 1);
    let preview = s
        .acw(&["alerts", "map", "BackupFailed", "--remove", "--dry-run"])
        .await
        .ok()
        .stdout;
    assert!(
        preview.contains("types.BackupFailed.status_id"),
        "{preview}"
    );
    assert!(preview.contains("dry run"), "{preview}");
    s.acw(&["alerts", "board", "acronis alerts", "--dry-run"])
        .await
        .ok();
    assert!(
        s.acw(&["alerts", "show", "--json"]).await.ok().json()["types"]["BackupFailed"].is_object()
    );

    s.acw(&["alerts", "map", "BackupFailed", "--remove"])
        .await
        .ok();
    let shown = s.acw(&["alerts", "show", "--json"]).await.ok().json();
    assert!(shown["types"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn sync_quotas_dry_run_shows_the_change_then_writes_it() {
    let s = stack().await;
    s.seed_products().await;
    s.seed_customer(31, "Tailspin Toys", "Customer");
    s.acw(&["companies", "map", "31"]).await.ok();
    let tenant = s.customer_tenants("Tailspin Toys")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The addition changes in ConnectWise (no callback reaches this stack).
    s.cw.seed(
        json!({"additions": [{"id": 31000, "agreementId": 3100, "product": {"id": SERVERS_PRODUCT},
                                     "quantity": 7.0, "billCustomer": "Billable"}]}),
    )
    .unwrap();
    s.acronis.control().clear_requests();
    let j = s
        .acw(&["sync", "quotas", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    let planned: Vec<Value> = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["item"].is_string())
        .cloned()
        .collect();
    assert_eq!(planned.len(), 1, "only the changed item: {j}");
    assert_eq!(planned[0]["item"], "pw_base_servers");
    assert_eq!(planned[0]["to"]["quota"]["value"], 7);
    assert!(
        s.acronis_writes().is_empty(),
        "dry run wrote: {:?}",
        s.acronis_writes()
    );
    let items_before = s.offering_items(&tenant);

    // The real run executes exactly the plan shown: one offering-items write (the simulator's
    // request log), after which each planned item is as planned and every other is as it was
    // (the simulator's state).
    s.acw(&["sync", "quotas", "--company", "31"]).await.ok();
    assert_eq!(
        s.acronis_writes()
            .iter()
            .filter(|w| w.contains("offering_items"))
            .count(),
        1,
        "{:?}",
        s.acronis_writes()
    );
    let items_after = s.offering_items(&tenant);
    for (before, after) in items_before.iter().zip(&items_after) {
        match planned
            .iter()
            .find(|p| p["item"] == after["name"] && p["infra_id"] == after["infra_id"])
        {
            Some(p) => {
                assert_eq!(after["status"], p["to"]["status"], "{after}");
                assert_eq!(
                    after["quota"]["value"], p["to"]["quota"]["value"],
                    "{after}"
                );
                assert_eq!(
                    after["quota"]["overage"], p["to"]["quota"]["overage"],
                    "{after}"
                );
            }
            None => assert_eq!(before, after, "not in the plan, not changed"),
        }
    }
}

impl Stack {
    /// A tenant's offering items as the Acronis simulator holds them.
    fn offering_items(&self, tenant: &str) -> Vec<Value> {
        self.acronis.state()["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == tenant)
            .and_then(|t| t["offering_items"].as_array().cloned())
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_every_function_and_a_shard_workers_failure() {
    use shared::functions::Function;
    let s = stack().await;
    // A shard worker (with its own role) given a shard it cannot read: a recorded failure.
    let shard_store = integration_tests::store_as(&s.store, Function::UsageShardWorker)
        .await
        .unwrap();
    let (cw, acronis) =
        integration_tests::sim_clients(&s.cw, &s.acronis, std::time::Duration::from_secs(5))
            .await
            .unwrap();
    let svc = shared::services::usage::UsagePush::new(
        cw,
        acronis,
        shard_store.clone(),
        Default::default(),
    );
    let recorder = shared::runs::Recorder::new(shard_store, std::time::Duration::from_secs(3600))
        .with_log(shared::runs::MetricLog::Off);
    let reply = usage_shard_worker::handle_eventbridge(
        &svc,
        &usage_shard_worker::NextCycle,
        &recorder,
        &json!({"detail-type": "usage.shard", "detail": {"version": 1}}),
        shared::services::usage::Deadline::none(),
    )
    .await
    .unwrap();
    assert_eq!(reply["outcome"], "rejected", "{reply}");

    let j = s.acw(&["status", "--json"]).await.ok().json();
    let listed: Vec<&str> = j["last_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["function"].as_str().unwrap())
        .chain(
            j["never_ran"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap()),
        )
        .chain(
            j["no_run_records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap()),
        )
        .collect();
    for f in Function::ALL {
        assert!(
            listed.contains(&f.name()),
            "{f} missing from acw status: {j}"
        );
    }
    let shard_run = j["last_runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == "usage-shard-worker")
        .unwrap_or_else(|| panic!("{j}"));
    assert_eq!(shard_run["failures"], 1);
    assert!(
        j["recent_failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["function"] == "usage-shard-worker" && f["subject"] == "event usage.shard"),
        "{j}"
    );
    let out = s.acw(&["status"]).await.ok();
    for f in Function::ALL {
        assert!(out.stdout.contains(f.name()), "{f}: {}", out.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_each_assumption_and_what_differs() {
    let s = stack().await;
    let hook = "https://hooks.example/webhook";
    for name in ["Northwind Traders, Inc.", "Contoso"] {
        s.acronis.seed_tenant(json!({"name": name})).unwrap();
    }
    s.acw(&["setup", "--webhook-url", hook]).await.ok();
    let status_of = |j: &Value, check: &str| -> String {
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["check"] == check)
            .unwrap_or_else(|| panic!("no {check} row: {j}"))["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let j = s
        .acw(&["doctor", "--webhook-url", hook, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["broken"], 0, "{j}");
    for r in j["checks"].as_array().unwrap() {
        assert_eq!(r["status"], "ok", "{r}");
        assert!(r["expected"].is_string() && r["found"].is_string(), "{r}");
    }
    let human = s.acw(&["doctor", "--webhook-url", hook]).await.ok();
    for column in ["check", "expected", "found", "status"] {
        assert!(human.stdout.contains(column), "{}", human.stdout);
    }

    // The unconfirmed behaviours the other way: reported as different, still exit 0.
    s.cw.set_switches(simulators::connectwise::CwSwitches {
        bad_credentials_status: 404,
        ..Default::default()
    });
    s.acronis.set_switches(simulators::acronis::Switches {
        id_list_page_size: Some(1),
        search_finds_phrases: false,
        ..Default::default()
    });
    let j = s
        .acw(&["doctor", "--webhook-url", hook, "--json"])
        .await
        .ok()
        .json();
    for check in [
        "ConnectWise refused credentials",
        "Acronis page size of reads by id",
        "Acronis search of a name with spaces",
    ] {
        assert_eq!(status_of(&j, check), "different", "{check}: {j}");
    }
    assert_eq!(j["broken"], 0, "{j}");

    // Callbacks pointing elsewhere: broken, and the command fails.
    let out = s
        .acw(&[
            "doctor",
            "--webhook-url",
            "https://elsewhere.example/x",
            "--json",
        ])
        .await
        .failed();
    assert_eq!(status_of(&out.json(), "ConnectWise callbacks"), "broken");
    assert!(out.stderr.contains("broken"), "{}", out.stderr);
}

impl Stack {
    fn var(&self, name: &str) -> String {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    /// The webhook, as deployed (its own role, the stack's table, bus and secret), served on
    /// loopback: its URL.
    async fn serve_webhook(&self) -> String {
        use shared::functions::Function;
        let own = integration_tests::aws_as(Function::Webhook).await.unwrap();
        let mut config = webhook::WebhookConfig::new(
            shared::connectwise::client::site_origin(&self.cw.url()).unwrap(),
        );
        config.client_id = Some(self.cw.config().client_id.clone());
        config.secret_id = Some(self.var("SECRET_ID"));
        let keys = webhook::HttpKeySource::from_config(reqwest::Client::new(), &config, || {
            aws_sdk_secretsmanager::Client::new(&own)
        });
        let hook = std::sync::Arc::new(webhook::Webhook::new(
            config,
            integration_tests::store_as(&self.store, Function::Webhook)
                .await
                .unwrap(),
            shared::bus::EventBus::new(
                aws_sdk_eventbridge::Client::new(&own),
                self.var("EVENT_BUS_NAME"),
            ),
            keys,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(webhook::local::serve(listener, hook));
        url
    }
}

fn check<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == name)
        .unwrap_or_else(|| panic!("no {name} row: {j}"))
}

/// `acw doctor --probe-company`: one reversible change on a sandbox company's addition, seen
/// (or not) as a moved `lastUpdated` and an agreement callback at the real webhook; and the
/// signing key as real callbacks get it, under every setting of the simulator's switches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_probes_a_sandbox_company_and_reports_how_callbacks_are_signed() {
    use simulators::connectwise::{CwSwitches, KeyFetchAuth, KeyUrlHost};
    let s = stack().await;
    let hook = s.serve_webhook().await;
    s.acw(&["setup", "--webhook-url", &hook]).await.ok();
    s.seed_customer(42, "Sandbox Co", "Customer");
    let quantity = |s: &Stack| -> f64 {
        s.cw.state()["additions"]["rows"]["42000"]["quantity"]
            .as_f64()
            .unwrap()
    };
    let doctor = |wait: &'static str| {
        [
            "doctor",
            "--json",
            "--webhook-url",
            hook.as_str(),
            "--probe-company",
            "42",
            "--probe-wait",
            wait,
        ]
    };

    // As documented: everything ok, the change put back.
    let j = s.acw(&doctor("10")).await.ok().json();
    assert_eq!(j["broken"], 0, "{j}");
    for name in [
        "ConnectWise signing key fetch",
        "signing key of a real callback",
        "an addition change updates its agreement",
        "an addition change fires a callback",
        "probe change put back",
    ] {
        assert_eq!(check(&j, name)["status"], "ok", "{name}: {j}");
    }
    assert_eq!(quantity(&s), 3.0);
    assert!(s.audit_actions().await.contains(&"doctor.probe".to_owned()));

    // Keys on the site's alias and only for the API member: the webhook copes, doctor says so.
    s.cw.set_switches(CwSwitches {
        key_url_host: KeyUrlHost::Alias,
        key_fetch: KeyFetchAuth::Authenticated,
        ..CwSwitches::default()
    });
    let j = s.acw(&doctor("10")).await.ok().json();
    assert_eq!(j["broken"], 0, "{j}");
    assert_eq!(
        check(&j, "ConnectWise signing key fetch")["status"],
        "different",
        "{j}"
    );
    let real = check(&j, "signing key of a real callback");
    assert_eq!(real["status"], "different", "{j}");
    let found = real["found"].as_str().unwrap();
    assert!(
        found.contains("localhost") && found.contains("credentials"),
        "{found}"
    );
    assert_eq!(
        check(&j, "an addition change fires a callback")["status"],
        "ok"
    );
    assert_eq!(quantity(&s), 3.0);

    // An addition change that neither moves its agreement nor fires a callback: broken
    // (the product would not see it), and still put back.
    s.cw.set_switches(CwSwitches {
        addition_bumps_agreement: false,
        ..CwSwitches::default()
    });
    let out = s.acw(&doctor("2")).await.failed();
    let j = out.json();
    for name in [
        "an addition change updates its agreement",
        "an addition change fires a callback",
    ] {
        assert_eq!(check(&j, name)["status"], "broken", "{name}: {j}");
    }
    assert_eq!(check(&j, "probe change put back")["status"], "ok", "{j}");
    assert_eq!(quantity(&s), 3.0);
}

/// A company that stops qualifying: quotas go to zero at once, the disable waits its days,
/// and `acw status` and `acw companies list` show what is pending and when.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_companies_list_show_pending_deprovisioning() {
    let s = stack().await;
    s.seed_products().await;
    s.seed_customer(71, "Wingtip Toys", "Customer");
    s.acw(&["provisioning", "set", "deprovisioning.disable=true"])
        .await
        .ok();
    s.acw(&["companies", "map", "71"]).await.ok();
    let j = s.acw(&["status", "--json"]).await.ok().json();
    assert_eq!(j["pending_deprovisioning"], json!([]), "{j}");

    s.cw.seed(json!({"agreements": [{"id": 7100, "name": "Managed backup", "type": {"id": 1, "name": "Managed Services"},
                                      "company": {"id": 71}, "agreementStatus": "Cancelled", "cancelledFlag": true}]}))
        .unwrap();
    // Previewed: quotas to zero now (the writes shown), disable in ten days; nothing is
    // written and no clock starts.
    s.acronis.control().clear_requests();
    let preview = s
        .acw(&["sync", "quotas", "--company", "71", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    let rows = preview["rows"].as_array().unwrap();
    let writes: Vec<&Value> = rows.iter().filter(|r| r["item"].is_string()).collect();
    assert!(!writes.is_empty(), "{preview}");
    assert!(
        writes.iter().all(|w| w["to"]["quota"]["value"] == 0),
        "{preview}"
    );
    let plan = &rows.iter().find(|r| r["plan"].is_object()).unwrap()["plan"];
    assert_eq!(plan["action"], "deprovision", "{preview}");
    assert_eq!(plan["steps"]["due"], json!(["quotas_to_zero"]), "{preview}");
    assert!(s.acronis_writes().is_empty(), "{:?}", s.acronis_writes());
    assert_eq!(
        s.acw(&["status", "--json"]).await.ok().json()["pending_deprovisioning"],
        json!([]),
        "a dry run starts no clock"
    );
    let tenant = s.customer_tenants("Wingtip Toys")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    s.acw(&["sync", "quotas", "--company", "71"]).await.ok();
    // What ran, from the simulator: one offering-items write, each planned item as planned.
    assert_eq!(
        s.acronis_writes()
            .iter()
            .filter(|w| w.contains("offering_items"))
            .count(),
        1,
        "{:?}",
        s.acronis_writes()
    );
    for w in &writes {
        let item = s
            .offering_items(&tenant)
            .into_iter()
            .find(|i| i["name"] == w["item"] && i["infra_id"] == w["infra_id"])
            .unwrap();
        assert_eq!(item["quota"]["value"], w["to"]["quota"]["value"], "{item}");
    }
    let j = s.acw(&["status", "--json"]).await.ok().json();
    assert_eq!(
        j["pending_deprovisioning"][0]["pending"][0]["step"], plan["steps"]["pending"][0]["step"],
        "the step the preview said waits"
    );
    let pending = &j["pending_deprovisioning"][0];
    assert_eq!(pending["company_id"], 71, "{j}");
    assert_eq!(pending["done"], json!(["quotas_to_zero"]));
    assert_eq!(pending["pending"][0]["step"], "disable");
    let human = s.acw(&["status"]).await.ok().stdout;
    let in_ten_days = (chrono::Utc::now() + chrono::Duration::days(10)).format("%Y-%m-%d");
    assert!(
        human.contains(&format!("disable on {in_ten_days}")),
        "{human}"
    );
    let j = s.acw(&["companies", "list", "--json"]).await.ok().json();
    let row = j
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 71)
        .unwrap();
    assert_eq!(row["pending_deprovisioning"][0]["step"], "disable", "{row}");
    let human = s.acw(&["companies", "list"]).await.ok().stdout;
    assert!(human.contains("deprovisioning"), "{human}");
    assert!(
        human.contains(&format!("disable on {in_ten_days}")),
        "{human}"
    );
}

/// `acw tenants production`: the dry run lists the mapped tenants still in trial and writes
/// nothing; the real run switches exactly those, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_production_previews_then_switches_trial_tenants_once() {
    let s = stack().await;
    s.seed_products().await;
    let mut tenants = Vec::new();
    for (id, name, mode) in [(81, "Litware", "trial"), (82, "Proseware", "production")] {
        s.seed_customer(id, name, "Customer");
        let t = s
            .acronis
            .seed_tenant(json!({"name": name, "kind": "customer", "pricing_mode": mode}))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        s.acw(&["companies", "map", &id.to_string(), "--tenant", &t])
            .await
            .ok();
        tenants.push(t);
    }
    let pricing_puts = || {
        s.acronis_writes()
            .iter()
            .filter(|w| w.contains("/pricing"))
            .count()
    };
    let j = s
        .acw(&["tenants", "production", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["checked"], 2, "{j}");
    let plan = j["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 1, "{j}");
    assert_eq!(
        (plan[0]["company_id"].as_i64(), plan[0]["from"].as_str()),
        (Some(81), Some("trial"))
    );
    assert_eq!(pricing_puts(), 0, "a dry run writes nothing");
    let human = s
        .acw(&["tenants", "production", "--dry-run"])
        .await
        .ok()
        .stdout;
    assert!(human.contains("would be put in production"), "{human}");

    let j = s
        .acw(&["tenants", "production", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["switched"], 1, "{j}");
    assert_eq!(
        j["plan"],
        json!(
            plan.iter()
                .map(|p| {
                    let mut p = p.clone();
                    p["switched"] = json!(true);
                    p
                })
                .collect::<Vec<_>>()
        ),
        "the run executed the plan it showed"
    );
    assert_eq!(pricing_puts(), 1);
    let state = s.acronis.state();
    let mode = |t: &str| {
        state["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == t)
            .unwrap()["pricing_mode"]
            .clone()
    };
    assert_eq!(mode(&tenants[0]), "production");
    assert!(
        s.audit_actions()
            .await
            .contains(&"tenants.production".to_owned())
    );

    let j = s
        .acw(&["tenants", "production", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (j["plan"].as_array().unwrap().len(), j["switched"].as_i64()),
        (0, Some(0))
    );
    assert_eq!(pricing_puts(), 1, "never again");
    s.acw(&["tenants", "production", "--company", "999"])
        .await
        .failed();
}

/// `acw companies map|unmap --dry-run`: the plan (tenant name, quotas) is shown and nothing
/// changes; the real run then does what the plan said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn companies_map_and_unmap_preview_then_do_what_they_showed() {
    let s = stack().await;
    s.seed_products().await;
    s.seed_customer(91, "Adventure Works", "Customer");
    let j = s
        .acw(&["companies", "map", "91", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    let plan = &j["plans"][0];
    assert_eq!(plan["to"], "new_tenant", "{j}");
    assert_eq!(plan["tenant_name"], "Adventure Works");
    let servers = plan["quotas"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["offering_item"] == "pw_base_servers")
        .cloned()
        .unwrap();
    assert!(s.acronis_writes().is_empty(), "{:?}", s.acronis_writes());
    assert!(s.store.mapping_by_company(91).await.unwrap().is_none());
    let human = s
        .acw(&["companies", "map", "91", "--dry-run"])
        .await
        .ok()
        .stdout;
    assert!(human.contains("new tenant \"Adventure Works\""), "{human}");

    s.acw(&["companies", "map", "91"]).await.ok();
    let tenants = s.customer_tenants("Adventure Works");
    assert_eq!(tenants.len(), 1, "the tenant the plan named");
    let tenant = tenants[0]["id"].as_str().unwrap().to_owned();
    let item = s
        .offering_items(&tenant)
        .into_iter()
        .find(|i| i["name"] == "pw_base_servers")
        .unwrap();
    assert_eq!(
        item["quota"]["value"], servers["target"]["Enabled"]["Hard"],
        "the quota the plan showed: {servers}"
    );

    let j = s
        .acw(&["companies", "unmap", "91", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["would_unmap"]["tenant_id"], tenant.as_str(), "{j}");
    assert!(s.store.mapping_by_company(91).await.unwrap().is_some());
    s.acw(&["companies", "unmap", "91"]).await.ok();
    assert!(s.store.mapping_by_company(91).await.unwrap().is_none());
    // A refused plan is an error for the dry run too.
    s.acw(&["companies", "map", "404404", "--dry-run"])
        .await
        .failed();
}

impl Stack {
    /// A company mapped by hand to a seeded tenant, with a pay-as-you-go agreement
    /// (`id*100`) whose servers addition (`id*1000`) holds `held`; the tenant reports
    /// `servers` servers.
    async fn seed_payg(&self, id: i64, held: f64, servers: i64) {
        let tenant = format!("00000000-0000-4000-8000-{id:012}");
        self.cw
            .seed(json!({
                "companies": [{"id": id, "identifier": format!("C{id}"), "name": format!("Payg {id}")}],
                "agreements": [{"id": id * 100, "name": "Backup usage", "type": {"id": 2, "name": "Pay As You Go"},
                                "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": true}],
                "additions": [{"id": id * 1000, "agreementId": id * 100, "product": {"id": SERVERS_PRODUCT},
                               "quantity": held, "billCustomer": "Billable"}]
            }))
            .unwrap();
        self.acronis
            .seed_tenant(json!({"id": tenant, "name": format!("Payg {id}")}))
            .unwrap();
        self.acronis
            .set_usage(&tenant, "pw_base_servers", None, servers)
            .unwrap();
        self.store
            .map_company(&shared::store::CompanyMapping {
                connection: Default::default(),
                unknown: Default::default(),
                company_id: id,
                tenant_id: tenant,
                company_name: None,
                tenant_name: None,
                origin: shared::store::MappingOrigin::Manual,
                mapped_at: chrono::Utc::now(),
                qualified_at: None,
                setup_pending: false,
            })
            .await
            .unwrap();
    }

    /// A ConnectWise addition's quantity as the simulator holds it.
    fn cw_quantity(&self, addition: i64) -> Option<f64> {
        let state = self.cw.state();
        let table = &state["additions"];
        let rows = table.get("rows").unwrap_or(table);
        let all: Vec<Value> = match rows {
            Value::Object(m) => m.values().cloned().collect(),
            Value::Array(v) => v.clone(),
            _ => Vec::new(),
        };
        all.iter()
            .find(|a| a["id"] == addition)
            .and_then(|a| a["quantity"].as_f64())
    }
}

/// `acw sync usage --dry-run`: the quantities it shows are the ones the next real run
/// writes, taken from the simulator's request log and state; the dry run writes nothing,
/// not even the records of what it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_usage_dry_run_shows_the_quantities_the_run_then_writes() {
    let s = stack().await;
    s.seed_products().await;
    s.seed_payg(41, 0.0, 4).await; // changes: 0 → 4
    s.seed_payg(42, 2.0, 2).await; // already right
    s.seed_payg(43, 5.0, 1).await; // changes: 5 → 1
    let j = s
        .acw(&["sync", "usage", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    let mut planned: Vec<(String, f64)> = j["writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                format!(
                    "PATCH agreements/{}/additions/{}",
                    w["agreement"], w["addition"]
                ),
                w["to"].as_f64().unwrap(),
            )
        })
        .collect();
    planned.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(planned.len(), 2, "{j}");
    assert_eq!(j["unchanged"], 1, "{j}");
    assert!(
        s.cw_writes().is_empty(),
        "dry run wrote {:?}",
        s.cw_writes()
    );
    assert!(
        s.store
            .additions_of_companies(41, 43)
            .await
            .unwrap()
            .is_empty(),
        "a dry run stores no records"
    );
    let human = s.acw(&["sync", "usage", "--dry-run"]).await.ok().stdout;
    assert!(human.contains("2 addition(s) to write"), "{human}");

    s.acw(&["sync", "usage"]).await.ok();
    // "PATCH <base>/finance/agreements/A/additions/B" → "PATCH agreements/A/additions/B"
    let mut executed: Vec<String> = s
        .cw_writes()
        .iter()
        .map(|w| {
            let (method, path) = w.split_once(' ').unwrap();
            let tail = path.split_once("/finance/").map_or(path, |(_, t)| t);
            format!("{method} {tail}")
        })
        .collect();
    executed.sort();
    assert_eq!(
        executed,
        planned.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        "the run wrote exactly the planned additions"
    );
    for (addition, (_, to)) in [41000, 43000].into_iter().zip(&planned) {
        assert_eq!(s.cw_quantity(addition), Some(*to), "addition {addition}");
    }
    assert_eq!(s.cw_quantity(42000), Some(2.0));
    // Nothing left to do: the next preview is empty.
    let j = s
        .acw(&["sync", "usage", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["writes"], json!([]), "{j}");
}

/// Provisioning previewed: with auto-provisioning on, an unmapped company that qualifies
/// shows the `provision` plan (its tenant's name, each quota); the real run creates that
/// tenant with those quotas, read back from the simulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_previews_the_tenant_and_quotas_it_then_creates() {
    let s = stack().await;
    s.seed_products().await;
    s.seed_customer(95, "Proseware", "Customer");
    s.acw(&["provisioning", "set", "auto_provisioning=true"])
        .await
        .ok();
    s.acronis.control().clear_requests();
    let preview = s
        .acw(&["sync", "quotas", "--company", "95", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    let plan = &preview["rows"][0]["plan"];
    assert_eq!(plan["action"], "provision", "{preview}");
    assert_eq!(plan["company"]["name"], "Proseware");
    assert!(s.acronis_writes().is_empty(), "{:?}", s.acronis_writes());
    assert!(s.customer_tenants("Proseware").is_empty());

    s.acw(&["sync", "quotas", "--company", "95"]).await.ok();
    let tenants = s.customer_tenants("Proseware");
    assert_eq!(tenants.len(), 1, "the tenant the plan named");
    let items = s.offering_items(tenants[0]["id"].as_str().unwrap());
    let mut compared = 0;
    for planned in plan["quotas"]["items"].as_array().unwrap() {
        let Some(hard) = planned["target"]["Enabled"]["Hard"].as_f64() else {
            continue;
        };
        let item = items
            .iter()
            .find(|i| i["name"] == planned["offering_item"])
            .unwrap_or_else(|| panic!("{planned} not on the tenant"));
        assert_eq!(
            item["quota"]["value"].as_f64(),
            Some(hard),
            "{item} / {planned}"
        );
        compared += 1;
    }
    assert!(compared > 0, "no hard quota in the plan: {plan}");
    assert!(s.store.mapping_by_company(95).await.unwrap().is_some());
}

/// Onboarding an MSP's existing tenants: 50 companies and 50 tenants, of which 20 share a
/// name, 15 share it normalised (case, punctuation, legal form), 3 groups of two are
/// ambiguous and 9 on each side have nothing in common. `tenants list` pages and filters;
/// `companies match --dry-run --json` proposes exactly the 35 pairs; the reviewed file is then
/// applied in bulk after one of its companies was mapped by other means: that pair is refused
/// by the checks of `companies map`, the other 34 are mapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_list_and_companies_match_propose_then_map_in_bulk() {
    let s = stack().await;
    let mut companies = Vec::new();
    let mut tenant_names = Vec::new();
    let mut expected: Vec<(i64, String)> = Vec::new();
    let mut add = |id: i64, company: String, tenant: Option<String>, pair: bool| {
        companies.push(
            json!({"id": id, "identifier": format!("C{id}"), "name": company,
                              "status": {"id": 1, "name": "Active"}}),
        );
        if let Some(t) = tenant {
            if pair {
                expected.push((id, t.clone()));
            }
            tenant_names.push(t);
        }
    };
    for i in 0..20 {
        add(
            100 + i,
            format!("Exact Co {i}"),
            Some(format!("Exact Co {i}")),
            true,
        );
    }
    for i in 0..15 {
        add(
            200 + i,
            format!("Norm {i} Ltd."),
            Some(format!("NORM {i}")),
            true,
        );
    }
    for k in 0..3 {
        add(
            300 + 2 * k,
            format!("Twin {k}"),
            Some(format!("twin {k} GmbH")),
            false,
        );
        add(
            301 + 2 * k,
            format!("Twin {k}, Inc."),
            Some(format!("Twin {k} AG")),
            false,
        );
    }
    for i in 0..9 {
        add(
            400 + i,
            format!("Lonely Company {i}"),
            Some(format!("Orphan Tenant {i}")),
            false,
        );
    }
    s.cw.seed(json!({ "companies": companies })).unwrap();
    let mut tenant_of = std::collections::BTreeMap::new();
    for name in &tenant_names {
        let t = s.acronis.seed_tenant(json!({"name": name})).unwrap();
        tenant_of.insert(name.clone(), t["id"].as_str().unwrap().to_owned());
    }
    assert_eq!((companies_len(&s).await, tenant_of.len()), (50, 50));

    // tenants list: paging, search, mapping filter.
    let j = s
        .acw(&[
            "tenants",
            "list",
            "--per-page",
            "20",
            "--page",
            "3",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(j["total"], 50, "{j}");
    assert_eq!(j["tenants"].as_array().unwrap().len(), 10, "{j}");
    let j = s
        .acw(&["tenants", "list", "--search", "orphan", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["total"], 9, "{j}");

    let out = s
        .acw(&["companies", "match", "--dry-run", "--json"])
        .await
        .ok();
    let j = out.json();
    let proposals: Vec<(i64, String, String)> = j["plan"]["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["company_id"].as_i64().unwrap(),
                p["tenant_id"].as_str().unwrap().to_owned(),
                p["evidence"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(i64, String, String)> = expected
        .iter()
        .map(|(id, t)| {
            let evidence = if *id < 200 {
                "exact_name"
            } else {
                "normalised_name"
            };
            (*id, tenant_of[t].clone(), evidence.to_owned())
        })
        .collect();
    assert_eq!(proposals, want);
    assert_eq!(j["plan"]["ambiguous"].as_array().unwrap().len(), 3, "{j}");
    assert_eq!(
        j["plan"]["unmatched_companies"].as_array().unwrap().len(),
        9
    );
    assert_eq!(j["plan"]["unmatched_tenants"].as_array().unwrap().len(), 9);
    assert!(
        s.store.mappings().await.unwrap().is_empty(),
        "a dry run maps nothing"
    );
    let table = s.acw(&["companies", "match", "--dry-run"]).await.ok();
    assert!(
        table
            .stdout
            .contains("35 proposed of 50 unmapped companies"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("ambiguous"), "{}", table.stdout);

    // Reviewed file; meanwhile company 100 gets another tenant by hand.
    let file = s.file("match.json", &out.stdout);
    let other = s
        .acronis
        .seed_tenant(json!({"name": "Hand Picked"}))
        .unwrap();
    s.acw(&[
        "companies",
        "map",
        "100",
        "--tenant",
        other["id"].as_str().unwrap(),
    ])
    .await
    .ok();
    let out = s
        .acw(&["companies", "match", "--from", &file, "--json"])
        .await
        .failed();
    assert!(
        out.stderr.contains("company 100") && out.stderr.contains("already mapped"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("1 of 35 companies were not mapped"),
        "{}",
        out.stderr
    );
    let mapped: std::collections::BTreeMap<i64, String> = s
        .store
        .mappings()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.company_id, m.tenant_id))
        .collect();
    assert_eq!(mapped.len(), 35, "34 matched and the one by hand");
    assert_eq!(mapped[&100], other["id"].as_str().unwrap());
    for (id, t) in &expected[1..] {
        assert_eq!(mapped[id], tenant_of[t], "company {id}");
    }
    // A file that is not what the dry run writes is refused, saying what to give.
    let bad = s.file("bad.json", r#"[{"company": 1}]"#);
    let out = s
        .acw(&["companies", "match", "--from", &bad])
        .await
        .failed();
    assert!(out.stderr.contains("company_id"), "{}", out.stderr);
}

async fn companies_len(s: &Stack) -> usize {
    s.acw(&["companies", "list", "--json"])
        .await
        .ok()
        .json()
        .as_array()
        .unwrap()
        .len()
}

/// `acw jobs`: a paused usage push reads and writes nothing (no PATCH in the simulator's
/// request log) and `acw status --json` says it is paused; resuming it, the next run writes
/// what waited. Unknown jobs are refused naming the jobs; pausing twice changes nothing; a
/// dry run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_pause_holds_the_usage_push_and_status_shows_it() {
    let s = stack().await;
    s.seed_products().await;
    s.seed_payg(51, 0.0, 4).await;
    let state = |j: &Value, job: &str| -> Value {
        j.as_array()
            .unwrap()
            .iter()
            .find(|r| r["job"] == job)
            .unwrap_or_else(|| panic!("{job} missing: {j}"))
            .clone()
    };
    let j = s.acw(&["jobs", "list", "--json"]).await.ok().json();
    assert_eq!(j.as_array().unwrap().len(), 4, "{j}");
    assert_eq!(state(&j, "usage_push")["paused"], false);

    let j = s
        .acw(&["jobs", "pause", "usage-push", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (j["changed"].clone(), j["dry_run"].clone()),
        (json!(true), json!(true))
    );
    let j = s.acw(&["jobs", "list", "--json"]).await.ok().json();
    assert_eq!(
        state(&j, "usage_push")["paused"],
        false,
        "a dry run pauses nothing"
    );

    let j = s
        .acw(&["jobs", "pause", "usage_push", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["changed"], true, "{j}");
    let j = s
        .acw(&["jobs", "pause", "usage_push", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(j["changed"], false, "already paused: {j}");
    let out = s.acw(&["jobs", "pause", "billing"]).await.failed();
    assert!(
        out.stderr
            .contains("provisioning, quota_sync, usage_push, ticket_sync"),
        "{}",
        out.stderr
    );

    let j = s.acw(&["sync", "usage", "--json"]).await.ok().json();
    assert_eq!(j["outcome"], "paused", "{j}");
    let patches: Vec<String> = s
        .cw_writes()
        .into_iter()
        .filter(|w| w.starts_with("PATCH"))
        .collect();
    assert!(patches.is_empty(), "a paused usage push wrote {patches:?}");
    let status = s.acw(&["status", "--json"]).await.ok().json();
    let usage = state(&status["jobs"], "usage_push");
    assert_eq!(usage["paused"], true, "{status}");
    assert!(
        usage["since"].is_string() && usage["by"].as_str().unwrap().starts_with("acw:"),
        "{usage}"
    );
    let human = s.acw(&["status"]).await.ok().stdout;
    assert!(
        human.contains("usage_push") && human.contains("PAUSED since"),
        "{human}"
    );

    s.acw(&["jobs", "resume", "usage_push"]).await.ok();
    s.acw(&["sync", "usage"]).await.ok();
    assert_eq!(
        s.cw_quantity(51000),
        Some(4.0),
        "the resumed push wrote what waited"
    );
    assert_eq!(
        s.audit_actions()
            .await
            .iter()
            .filter(|a| a.starts_with("jobs."))
            .count(),
        2,
        "one pause and one resume audited"
    );
}

/// `acw products settings`: shows the defaults; a change naming a subcategory, product type,
/// category or unit of measure ConnectWise does not have, or an edition the partner does not
/// offer, is refused saying what to fix and saves nothing; a dry run saves nothing; a valid
/// change is saved and audited, and config export carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_settings_are_checked_against_both_accounts() {
    let s = stack().await;
    s.cw.seed(json!({
        "categories": [{"name": "Cloud"}],
        "subcategories": [{"name": "Backup"}, {"name": "Protection"}],
        "types": [{"name": "Service"}],
        "unitOfMeasures": [{"name": "Each"}]
    }))
    .unwrap();
    let j = s.acw(&["products", "settings", "--json"]).await.ok().json();
    assert_eq!(j["new_products"]["subcategory"], "Backup", "{j}");
    assert_eq!(j["editions"], json!([]), "{j}");

    for (pair, says) in [
        (
            "new_products.subcategory=Nope",
            "no subcategory named \"Nope\"",
        ),
        (
            "new_products.product_type=Gadget",
            "no product_type named \"Gadget\"",
        ),
        (
            "new_products.category=Hardware",
            "no category named \"Hardware\"",
        ),
        (
            "new_products.unit_of_measure=Crate",
            "no unit_of_measure named \"Crate\"",
        ),
        ("new_products.product_class=Widget", "product_class"),
        ("editions=pck_platinum", "no edition \"pck_platinum\""),
    ] {
        let out = s.acw(&["products", "settings", pair]).await.failed();
        assert!(
            out.stderr.contains(says) && out.stderr.contains("nothing was saved"),
            "{pair}: {}",
            out.stderr
        );
    }
    let change = [
        "products",
        "settings",
        "editions=pck_per_workload",
        "new_products.subcategory=Protection",
        "new_products.category=Cloud",
        "new_products.unit_of_measure=Each",
    ];
    let mut dry = change.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let j = s.acw(&dry).await.ok().json();
    assert_eq!(j["changes"].as_array().unwrap().len(), 4, "{j}");
    assert!(
        !s.store
            .section_saved::<shared::domain::products::ProductSettings>()
            .await
            .unwrap()
    );

    s.acw(&change).await.ok();
    let saved: shared::domain::products::ProductSettings = s.store.section().await.unwrap();
    assert_eq!(saved.editions, ["pck_per_workload"]);
    assert_eq!(saved.new_products.subcategory, "Protection");
    assert_eq!(saved.new_products.unit_of_measure.as_deref(), Some("Each"));
    assert!(
        s.audit_actions()
            .await
            .contains(&"products.settings".to_owned())
    );

    // Config as code carries them, and checks them against the accounts the same way.
    let j = s.acw(&["config", "export", "--json"]).await.ok().json();
    assert_eq!(
        j["product_settings"]["new_products"]["subcategory"], "Protection",
        "{j}"
    );
    assert!(j["alerts"].is_object() && j["jobs"].is_object(), "{j}");
    let bad = s.file(
        "bad-products.yaml",
        "product_settings:\n  new_products:\n    subcategory: Nope\n",
    );
    let out = s.acw(&["config", "apply", &bad]).await.failed();
    assert!(
        out.stderr.contains("product_settings")
            && out.stderr.contains("no subcategory named \"Nope\""),
        "{}",
        out.stderr
    );
    let saved_after: shared::domain::products::ProductSettings = s.store.section().await.unwrap();
    assert_eq!(saved_after, saved, "a refused file writes nothing");
}

/// `acw attention`: off by default; a board that does not exist, or a status not on it, is
/// refused and nothing saved; a valid board is saved and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attention_board_is_checked_before_saving() {
    let s = stack().await;
    s.cw.seed(json!({"boards": [{"id": 77, "name": "Integration problems",
        "statuses": [{"id": 771, "name": "New", "defaultFlag": true},
                     {"id": 772, "name": "Closed", "closedStatus": true}]}]}))
        .unwrap();
    let j = s.acw(&["attention", "show", "--json"]).await.ok().json();
    assert_eq!(j["board_id"], Value::Null, "off by default: {j}");
    for (pairs, says) in [
        (
            vec!["board_id=99", "closing_status_id=772"],
            "board 99 does not exist",
        ),
        (
            vec!["board_id=77", "closing_status_id=5"],
            "closing_status_id 5 is not a status of board 77",
        ),
        (vec!["board_id=77"], "closing_status_id is required"),
    ] {
        let mut args = vec!["attention", "set"];
        args.extend(pairs);
        let out = s.acw(&args).await.failed();
        assert!(
            out.stderr.contains(says) && out.stderr.contains("nothing was saved"),
            "{}",
            out.stderr
        );
    }
    let j = s
        .acw(&[
            "attention",
            "set",
            "board_id=77",
            "closing_status_id=772",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(j["settings"]["board_id"], 77, "{j}");
    assert!(
        s.audit_actions()
            .await
            .contains(&"attention.set".to_owned())
    );
}
