//! Golden fixtures (`tests/golden`, see its README): every stored item kind and every event
//! kind as this version writes them, read back through the code the functions use, so that a
//! later version's tests prove it reads this one's data. Their SHA-256 sums are committed and
//! checked, so a fixture is never edited, only added. Also: a settings section keeps the
//! fields it does not know when saved back, and an event of a newer version is retried.
//!
//! The fixtures are written by `write_fixtures` (ignored; run on demand, alone):
//! `cargo test -p integration-tests --test golden -- --ignored write_fixtures`.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, Utc};
use integration_tests::{LocalStack, aws, fresh_store};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use shared::acronis::models::Alert;
use shared::bus::consumer::InvokeError;
use shared::bus::events::{ShardCompany, UsageShard};
use shared::bus::{
    Action, AgreementChanged, AlertChanged, CompanyChanged, Event, Origin, SOURCE, TicketChanged,
    VERSION,
};
use shared::domain::alerts::{AlertSettings, TypeMapping};
use shared::domain::attention::{AttentionRecord, AttentionSettings};
use shared::domain::calendar::Zone;
use shared::domain::deprovisioning::{DeprovisionStep, PendingStep};
use shared::domain::jobs::{Job, JobSettings, Paused};
use shared::domain::products::{NewProductAttributes, ProductSettings};
use shared::domain::settings::{
    BillingSettings, DeprovisionSettings, ProvisioningSettings, Section, TenantMode,
};
use shared::domain::usage::{Rounding, Unit, UnitRule, UsageField, UsageSettings};
use shared::functions::Function;
use shared::runs::{MetricLog, Recorder};
use shared::services::alerts::AlertCursor;
use shared::services::provisioning::Provisioning;
use shared::services::usage::PushState;
use shared::store::*;

type Item = HashMap<String, AttributeValue>;

// ---- the fixtures' values ------------------------------------------------------------------

const COMPANY: i64 = 1042;
const TENANT: &str = "5a3e9c1d-2b7f-4e8a-9c6d-1f0e2d3c4b5a";
const AGREEMENT: i64 = 88017;
/// The ConnectWise ticket of the ticket events.
const TICKET: i64 = 73402;
const MISSING_AGREEMENT: i64 = 88021;
const PRODUCT: i64 = 502;
const ADDITION: i64 = 310045;
const ALERT_ID: &str = "9d2f4b1e-6a7c-4e3d-8b5a-0c1d2e3f4a5b";
const ALERT_KEY: &str = "acr:5a3e9c1d-2b7f-4e8a-9c6d-1f0e2d3c4b5a:BackupFailed:srv-fs01";
/// An alert ticket a technician closed, its alert dismissed in Acronis.
const DISMISSED_KEY: &str = "acr:5a3e9c1d-2b7f-4e8a-9c6d-1f0e2d3c4b5a:BackupFailed:srv-fs02";
const CALLBACK_MESSAGE: &str = "b7c1e0f2-3d4a-4c5b-9e8f-7a6b5c4d3e2f";
/// `occurrence_id` of the raised alert.
const OCCURRENCE: &str = "9D2F4B1E-6A7C-4E3D-8B5A-0C1D2E3F4A5B@1793614200000000000";
const TICKET_SYNC_DEDUPE: &str = "9D2F4B1E-6A7C-4E3D-8B5A-0C1D2E3F4A5B@1793614200000000000@raised";
const RUN_ID: &str = "c0a8f3e1-52b4-4d6e-9f70-8a1b2c3d4e5f";
const AUDIT_ID: &str = "e4d3c2b1-a0f9-4e8d-b7c6-5a4b3c2d1e0f";
const DAY: &str = "2026-11-02";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a fixed time")
        .with_timezone(&Utc)
}

fn day(ymd: &str) -> NaiveDate {
    NaiveDate::parse_from_str(ymd, "%Y-%m-%d").expect("a fixed day")
}

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../golden")
}

fn provisioning_settings() -> ProvisioningSettings {
    ProvisioningSettings {
        new_customers: Default::default(),
        auto_provisioning: true,
        create_account_from_primary_contact: true,
        account_contact_type: "Billing".into(),
        send_activation_email: true,
        two_factor: true,
        language: "de".into(),
        tenant_mode: TenantMode::Trial,
        deprovisioning: DeprovisionSettings {
            quotas_to_zero: true,
            quotas_to_zero_after_days: 0,
            disable: true,
            disable_after_days: 10,
            delete: true,
            delete_after_days: 30,
        },
    }
}

fn billing_settings() -> BillingSettings {
    BillingSettings {
        payg_agreement_types: vec![
            "pay as you go".into(),
            "payg".into(),
            "Acronis Usage".into(),
        ],
        time_zone: Some("America/New_York".parse().unwrap()),
    }
}

fn usage_settings() -> UsageSettings {
    UsageSettings {
        storage: UnitRule {
            unit: Unit::Gb,
            base: 1024,
            rounding: Rounding::Up,
            decimals: 2,
            field: UsageField::AbsoluteValue,
        },
        products: BTreeMap::from([(
            PRODUCT,
            UnitRule {
                unit: Unit::Tb,
                base: 1000,
                rounding: Rounding::Nearest,
                decimals: 3,
                field: UsageField::Value,
            },
        )]),
    }
}

fn alert_settings() -> AlertSettings {
    AlertSettings {
        board_id: Some(12),
        types: BTreeMap::from([(
            "BackupFailed".to_owned(),
            TypeMapping {
                status_id: 101,
                type_id: Some(31),
                subtype_id: Some(47),
                priority_id: Some(8),
            },
        )]),
        renew_after_closed: true,
        renew_after_days: 3,
        auto_close: true,
        closing_status_id: Some(106),
        // Added later (read from the older fixture as their defaults).
        clear_alert_on_close: false,
        fixed_statuses: Vec::new(),
    }
}

fn attention_settings() -> AttentionSettings {
    AttentionSettings {
        board_id: Some(14),
        status_id: Some(120),
        closing_status_id: Some(125),
        priority_id: Some(9),
        prepaid_overage_notice: true,
    }
}

fn job_settings() -> JobSettings {
    JobSettings {
        paused: BTreeMap::from([(
            Job::UsagePush,
            Paused {
                since: at("2026-11-01T18:00:00Z"),
                by: Some("ops@example.com".into()),
            },
        )]),
    }
}

fn product_settings() -> ProductSettings {
    ProductSettings {
        editions: vec!["pw_base".into()],
        new_products: NewProductAttributes {
            identifier_prefix: "ACR-".into(),
            category: Some("Cloud Services".into()),
            subcategory: "Backup".into(),
            product_type: "Service".into(),
            product_class: "NonInventory".into(),
            unit_of_measure: Some("Each".into()),
        },
    }
}

fn alert(cleared: bool) -> Alert {
    let mut raw = json!({
        "id": ALERT_ID,
        "type": "BackupFailed",
        "category": "Backup",
        "severity": "error",
        "createdAt": "2026-11-02T09:58:12Z",
        "updatedAt": "2026-11-02T10:10:00Z",
        "tenant": {"id": "1188230", "uuid": TENANT, "locator": "/1/1188001/1188230/"},
        "details": {
            "resourceId": "SRV-FS01",
            "resourceName": "srv-fs01.northwind.local",
            "resourceType": "machine",
            "planName": "Daily backup",
            "errorMessage": "The backup location is not available."
        }
    });
    if cleared {
        raw["updatedAt"] = json!("2026-11-02T11:40:00Z");
        raw["deletedAt"] = json!("2026-11-02T11:40:00Z");
    }
    serde_json::from_value(raw).expect("an Acronis alert")
}

/// Every event kind, by detail-type.
fn events() -> Vec<Event> {
    let observed = at("2026-11-02T10:15:00Z");
    let callback = || Origin::Callback {
        message_id: CALLBACK_MESSAGE.into(),
    };
    let reconciler = || Origin::Reconciler {
        run_id: RUN_ID.into(),
    };
    let company = |action, origin| {
        Event::Company(CompanyChanged {
            version: VERSION,
            company_id: COMPANY,
            action,
            origin,
            observed_at: observed,
        })
    };
    let agreement = |action, company_id, origin| {
        Event::Agreement(AgreementChanged {
            version: VERSION,
            agreement_id: AGREEMENT,
            company_id,
            action,
            origin,
            observed_at: observed,
        })
    };
    let ticket = |action, origin| {
        Event::Ticket(TicketChanged {
            version: VERSION,
            ticket_id: TICKET,
            action,
            origin,
            observed_at: observed,
        })
    };
    let alert_changed = |cleared| AlertChanged {
        connection: Default::default(),
        version: VERSION,
        alert_key: ALERT_KEY.into(),
        company_id: COMPANY,
        alert: alert(cleared),
    };
    vec![
        company(Action::Added, callback()),
        company(Action::Updated, reconciler()),
        company(Action::Deleted, Origin::Admin),
        agreement(Action::Added, Some(COMPANY), callback()),
        agreement(Action::Updated, Some(COMPANY), reconciler()),
        agreement(Action::Deleted, None, callback()),
        Event::AlertRaised(alert_changed(false)),
        Event::AlertCleared(alert_changed(true)),
        ticket(Action::Added, callback()),
        ticket(Action::Updated, reconciler()),
        ticket(Action::Deleted, callback()),
        Event::UsageShard(UsageShard {
            version: VERSION,
            run_id: RUN_ID.into(),
            shard: 0,
            shards: 2,
            handoff: 0,
            companies: vec![
                ShardCompany {
                    connection: Default::default(),
                    company_id: COMPANY,
                    tenant_id: TENANT.into(),
                },
                ShardCompany {
                    connection: Default::default(),
                    company_id: 1057,
                    tenant_id: "7c2b9e4f-1a3d-4f6b-8e2c-5d9a0b1c2e3f".into(),
                },
            ],
        }),
    ]
}

/// The detail-types the code knows, each with a fixture.
const DETAIL_TYPES: [&str; 12] = [
    "company.added",
    "company.updated",
    "company.deleted",
    "agreement.added",
    "agreement.updated",
    "agreement.deleted",
    "alert.raised",
    "alert.cleared",
    "ticket.added",
    "ticket.updated",
    "ticket.deleted",
    "usage.shard",
];

/// An event as a rule delivers it to a Lambda target.
fn envelope(event: &Event, index: usize) -> Value {
    let detail: Value = serde_json::from_str(&event.detail().expect("detail")).expect("JSON");
    json!({
        "version": "0",
        "id": format!("6f1d2c3b-4a5e-4f60-8b7a-9c8d7e6f5a{index:02}"),
        "detail-type": event.detail_type(),
        "source": SOURCE,
        "account": "123456789012",
        "time": "2026-11-02T10:15:03Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    })
}

// ---- DynamoDB JSON ---------------------------------------------------------------------------

/// An attribute value as DynamoDB JSON (`{"S": ...}`), maps sorted by key.
fn av_to_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(av_to_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item_to_json(m) }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        other => panic!("attribute type not used by the product: {other:?}"),
    }
}

fn item_to_json(item: &Item) -> Value {
    let sorted: BTreeMap<&String, Value> = item.iter().map(|(k, v)| (k, av_to_json(v))).collect();
    Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
}

/// Plain JSON as serde_dynamo stores it (numbers as `N`, objects as `M`).
fn plain_to_av(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(plain_to_av).collect()),
        Value::Object(o) => {
            AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), plain_to_av(v))).collect())
        }
    }
}

fn av_to_plain(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => serde_json::from_str(n).expect("a number"),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.iter().map(av_to_plain).collect()),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), av_to_plain(v)))
                .collect::<Map<_, _>>(),
        ),
        other => panic!("attribute type not used by settings: {other:?}"),
    }
}

fn value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("JSON")
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON") + "\n"
}

// ---- the fixture files -----------------------------------------------------------------------

/// Every fixture file under `items/` and `events/`, relative to `tests/golden`, sorted.
fn fixture_files() -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.expect("a directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{rel}/{name}");
            if entry.file_type().expect("a file type").is_dir() {
                walk(&entry.path(), &rel, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    for top in ["items", "events"] {
        walk(&golden().join(top), top, &mut out);
    }
    out.sort();
    out
}

/// The stems of the fixtures in `dir` (`items` or `events`) with their JSON.
fn fixtures(dir: &str) -> Vec<(String, Value)> {
    fixture_files()
        .into_iter()
        .filter_map(|rel| {
            let stem = rel
                .strip_prefix(&format!("{dir}/"))?
                .strip_suffix(".json")?;
            let text = std::fs::read_to_string(golden().join(&rel)).expect("a fixture");
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"));
            Some((stem.to_owned(), json))
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `SHA256SUMS` as path → sum.
fn listed_sums() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(golden().join("SHA256SUMS")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (sum, path) = l
                .split_once("  ")
                .unwrap_or_else(|| panic!("SHA256SUMS line {l:?} is not `<sum>  <path>`"));
            (path.to_owned(), sum.to_owned())
        })
        .collect()
}

// ---- (c) the sums ----------------------------------------------------------------------------

#[test]
fn fixtures_are_never_edited_and_all_listed() {
    let listed = listed_sums();
    let files = fixture_files();
    assert!(
        files.iter().any(|f| f.starts_with("items/"))
            && files.iter().any(|f| f.starts_with("events/")),
        "no fixtures under tests/golden"
    );
    for (path, sum) in &listed {
        let bytes = std::fs::read(golden().join(path))
            .unwrap_or_else(|e| panic!("{path} is listed in SHA256SUMS but cannot be read: {e}"));
        assert_eq!(
            &sha256_hex(&bytes),
            sum,
            "{path} was edited: a fixture is never edited, only added (tests/golden/README.md)"
        );
    }
    let unlisted: Vec<&String> = files.iter().filter(|f| !listed.contains_key(*f)).collect();
    assert!(
        unlisted.is_empty(),
        "fixtures not in SHA256SUMS: {unlisted:?} (the generator lists what it adds)"
    );
}

// ---- (b) events ------------------------------------------------------------------------------

#[test]
fn every_event_fixture_is_read_as_consumers_read_it() {
    let found = fixtures("events");
    let names: BTreeSet<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    for dt in DETAIL_TYPES {
        assert!(names.contains(dt), "no fixture of detail-type {dt}");
    }
    for (name, envelope) in &found {
        for field in [
            "version",
            "id",
            "source",
            "account",
            "time",
            "region",
            "resources",
        ] {
            assert!(envelope.get(field).is_some(), "{name}: no {field}");
        }
        assert_eq!(envelope["source"], SOURCE, "{name}");
        let detail_type = envelope["detail-type"].as_str().expect("a detail-type");
        assert!(
            name == detail_type || name.starts_with(&format!("{detail_type}-")),
            "{name}: detail-type {detail_type}"
        );
        let event = Event::parse(detail_type, envelope["detail"].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(event.detail_type(), detail_type);
        match event {
            Event::Company(c) => assert_eq!(c.company_id, COMPANY, "{name}"),
            Event::Agreement(a) => assert_eq!(a.agreement_id, AGREEMENT, "{name}"),
            Event::AlertRaised(a) => {
                assert_eq!(
                    (a.alert_key.as_str(), a.alert.id.as_str()),
                    (ALERT_KEY, ALERT_ID)
                );
                assert!(a.alert.deleted_at.is_none(), "{name}");
            }
            Event::AlertCleared(a) => {
                assert_eq!(a.alert_key, ALERT_KEY, "{name}");
                assert!(a.alert.deleted_at.is_some(), "{name}");
            }
            Event::Ticket(t) => assert_eq!(t.ticket_id, TICKET, "{name}"),
            Event::UsageShard(u) => {
                assert_eq!((u.shard, u.shards, u.companies.len()), (0, 2, 2), "{name}");
                assert_eq!(u.companies[0].tenant_id, TENANT);
            }
        }
    }
}

// ---- (a) items -------------------------------------------------------------------------------

#[tokio::test]
async fn every_item_fixture_is_read_by_the_store() {
    let config = aws().await.unwrap();
    let store = fresh_store(&config).await.unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let found = fixtures("items");
    for (name, json) in &found {
        let item =
            integration_tests::dynamodb_item(json).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        ddb.put_item()
            .table_name(store.table())
            .set_item(Some(item))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    let mut failed = Vec::new();
    for (name, _) in &found {
        match check_item(&store, name).await {
            Ok(true) => {}
            Ok(false) => failed.push(format!("{name}: no check reads it (add one to check_item)")),
            Err(e) => failed.push(format!("{name}: {e:#}")),
        }
    }
    let names: BTreeSet<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    for (kind, _, _) in item_keys() {
        if !names.contains(kind.as_str()) {
            failed.push(format!("{kind}: no fixture"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Reads the item of fixture `name` through the Store's reads the functions use; `false`
/// when no check knows the name.
async fn check_item(store: &Store, name: &str) -> Result<bool> {
    match name {
        "company-mapping" => {
            let m = store
                .mapping_by_company(COMPANY)
                .await?
                .context("mapping")?;
            ensure!(
                m.tenant_id == TENANT && m.origin == MappingOrigin::Auto,
                "{m:?}"
            );
            ensure!(m.setup_pending && m.qualified_at.is_some(), "{m:?}");
            let all = store.mappings().await?;
            ensure!(
                all.iter().any(|m| m.company_id == COMPANY),
                "mappings(): {all:?}"
            );
            let some = store.mappings_of_companies(&[COMPANY]).await?;
            ensure!(some.len() == 1, "mappings_of_companies: {some:?}");
            let records = store.company_records(COMPANY).await?;
            ensure!(
                records.mapping.is_some_and(|m| m.tenant_id == TENANT),
                "company_records"
            );
        }
        "tenant-mapping" => {
            let m = store.mapping_by_tenant(TENANT).await?.context("mapping")?;
            ensure!(m.company_id == COMPANY, "{m:?}");
            let slot = shared::domain::calendar::sweep_slot(COMPANY);
            let in_slot = store.mappings_in_slots(&[slot]).await?;
            ensure!(
                in_slot.iter().any(|m| m.tenant_id == TENANT),
                "slot {slot}: {in_slot:?}"
            );
            let some = store.mappings_of_tenants(&[TENANT.to_owned()]).await?;
            ensure!(some.len() == 1, "mappings_of_tenants: {some:?}");
        }
        "claim" => {
            ensure!(store.tenant_post_noted(COMPANY).await?, "tenant POST noted");
            // A change seen long before the last run's reads is covered (the claim is read,
            // not written).
            let covered = store
                .claim_sync(
                    COMPANY,
                    "golden-check",
                    at("2026-11-02T09:00:00Z"),
                    (Duration::from_secs(2), Duration::ZERO),
                    Duration::from_secs(60),
                )
                .await?;
            ensure!(covered == SyncClaim::Covered, "{covered:?}");
        }
        "disabled" => {
            let d = store.disabled_tenant(COMPANY).await?.context("disabled")?;
            ensure!(d.tenant_id == TENANT, "{d:?}");
        }
        "not-qualifying" => {
            let c = store.deprovision_clock(COMPANY).await?.context("clock")?;
            ensure!(c.tenant_id == TENANT && c.pending.len() == 1, "{c:?}");
            ensure!(c.done == [DeprovisionStep::QuotasToZero, DeprovisionStep::Disable]);
            let all = store.deprovision_clocks().await?;
            ensure!(all.iter().any(|c| c.company_id == COMPANY), "{all:?}");
            ensure!(store.company_records(COMPANY).await?.clock.is_some());
        }
        "deferred" => {
            let all = store.deferred().await?;
            ensure!(
                all.iter()
                    .any(|d| d.company_id == COMPANY && d.job == Job::QuotaSync),
                "{all:?}"
            );
        }
        "next-change" => {
            let on = day("2026-12-01");
            let n = store.next_change(COMPANY).await?.context("next change")?;
            ensure!(n.on == on, "{n:?}");
            let due = store.changes_due(on).await?;
            ensure!(due.iter().any(|n| n.company_id == COMPANY), "{due:?}");
            let records = store.company_records(COMPANY).await?;
            ensure!(records.next_change.is_some_and(|n| n.on == on));
        }
        "settings-provisioning" => {
            let s: ProvisioningSettings = store.section().await?;
            ensure!(
                s.auto_provisioning && s.tenant_mode == TenantMode::Trial,
                "{s:?}"
            );
            ensure!(s.deprovisioning.delete && s.language == "de", "{s:?}");
            ensure!(store.company_records(COMPANY).await?.provisioning == s);
        }
        "settings-billing" => {
            let s: BillingSettings = store.section().await?;
            ensure!(s.is_payg_type(Some("Acronis Usage monthly")), "{s:?}");
            // Stored before `time_zone` existed: the MSP's days are UTC's, as they were.
            ensure!(s.time_zone.is_none() && s.zone() == Zone::UTC, "{s:?}");
            ensure!(store.company_records(COMPANY).await?.billing == s);
        }
        "settings-usage" => {
            let s: UsageSettings = store.section().await?;
            ensure!(
                s.rule(PRODUCT).unit == Unit::Tb && s.storage.base == 1024,
                "{s:?}"
            );
        }
        "settings-alerts" => {
            let s: AlertSettings = store.section().await?;
            ensure!(
                s.mapping("BackupFailed")
                    .is_some_and(|m| m.status_id == 101),
                "{s:?}"
            );
        }
        "settings-attention" => {
            let s: AttentionSettings = store.section().await?;
            ensure!(s.board_id == Some(14) && s.prepaid_overage_notice, "{s:?}");
        }
        "settings-jobs" => {
            let s: JobSettings = store.section().await?;
            ensure!(
                s.is_paused(Job::UsagePush) && !s.is_paused(Job::Provisioning),
                "{s:?}"
            );
            ensure!(store.company_records(COMPANY).await?.jobs == s);
        }
        "settings-products" => {
            let s: ProductSettings = store.section().await?;
            ensure!(s.new_products.product_class == "NonInventory", "{s:?}");
        }
        "product-mapping" => {
            let all = store.product_mappings().await?;
            let m = all
                .iter()
                .find(|m| m.offering_item == "pw_base_storage")
                .with_context(|| format!("{all:?}"))?;
            ensure!(m.product_id == Some(PRODUCT) && m.default_storage, "{m:?}");
        }
        "addition" => {
            let a = store
                .addition(AGREEMENT, PRODUCT)
                .await?
                .context("addition")?;
            ensure!(
                a.addition_id == ADDITION && a.company_id == COMPANY,
                "{a:?}"
            );
            ensure!(a.last_pushed_quantity == Some(12.31), "{a:?}");
            ensure!(store.additions_of_agreement(AGREEMENT).await?.len() == 1);
            ensure!(
                store
                    .additions_of_agreements(&[AGREEMENT], &[PRODUCT])
                    .await?
                    .len()
                    == 1
            );
            ensure!(store.all_additions().await?.len() == 1);
            ensure!(store.additions_of_companies(COMPANY, COMPANY).await?.len() == 1);
        }
        "missing-additions" => {
            let all = store.missing_additions().await?;
            ensure!(
                all.iter()
                    .any(|m| m.agreement_id == MISSING_AGREEMENT && m.company_id == COMPANY),
                "{all:?}"
            );
        }
        "attention-ticket" => {
            let key = shared::domain::attention::key(Job::Provisioning, COMPANY);
            let r = store.attention_record(&key).await?.context("record")?;
            ensure!(
                r.open && r.ticket_id == Some(73311) && r.problems.len() == 1,
                "{r:?}"
            );
        }
        "alert-ticket-dismissed" => {
            let t = store.alert_ticket(DISMISSED_KEY).await?.context("ticket")?;
            let d = t.dismissed.as_ref().context("dismissed")?;
            ensure!(
                d.alert_id == "b51e0f7a-3c2d-4e1f-8a9b-0c1d2e3f4a5b"
                    && d.occurrences == 3
                    && !t.closed_by_product,
                "{t:?}"
            );
        }
        "alert-ticket" => {
            let t = store.alert_ticket(ALERT_KEY).await?.context("ticket")?;
            ensure!(
                t.state == TicketState::Open && t.ticket_id == Some(73402),
                "{t:?}"
            );
            let open = store.open_alert_tickets().await?;
            ensure!(open.iter().any(|t| t.alert_key == ALERT_KEY), "{open:?}");
        }
        "cursor-reconciler" => {
            let c: Option<DateTime<Utc>> =
                store.cursor(shared::services::reconcile::CURSOR).await?;
            ensure!(c == Some(at("2026-11-02T10:10:00Z")), "{c:?}");
        }
        "cursor-reconciler-sweep" => {
            let c: Option<DateTime<Utc>> = store
                .cursor(shared::services::reconcile::SWEEP_CURSOR)
                .await?;
            ensure!(c == Some(at("2026-11-02T10:00:00Z")), "{c:?}");
        }
        "cursor-reconciler-tickets" => {
            let c: Option<DateTime<Utc>> = store
                .cursor(shared::services::alerts::TICKETS_CURSOR)
                .await?;
            ensure!(c == Some(at("2026-11-02T10:10:00Z")), "{c:?}");
        }
        "cursor-reconciler-sweep-index" => {
            let c: Option<bool> = store
                .cursor(shared::services::reconcile::SWEEP_INDEX_CURSOR)
                .await?;
            ensure!(c == Some(true), "{c:?}");
        }
        "cursor-alert-poller" => {
            let c: AlertCursor = store
                .cursor(shared::services::alerts::CURSOR)
                .await?
                .context("cursor")?;
            ensure!(c.seen.len() == 1 && c.high_water_ns > 0, "{c:?}");
        }
        "cursor-usage-push" => {
            let c: PushState = store.cursor("usage-push").await?.context("cursor")?;
            ensure!(
                c.discovered.contains(&COMPANY) && c.pending_reads.len() == 1,
                "{c:?}"
            );
        }
        "dedupe" | "dedupe-overage" => {
            let (scope, id) = dedupe_key(name);
            // Remembered until its ttl (a number of epoch seconds) passes.
            let item = raw_item(store, &shared::store::keys::dedupe(scope, id), "DEDUPE").await?;
            let ttl: i64 = item["ttl"].as_i64().context("ttl")?;
            let expired = ttl < shared::clock::now().timestamp();
            let put = store
                .remember_once(scope, id, Duration::from_secs(3600))
                .await?;
            ensure!(put == expired, "remember_once gave {put}, ttl {ttl}");
        }
        "callback" => {
            let since = store.callbacks_since(at("2026-11-01T00:00:00Z")).await?;
            ensure!(
                since.len() == 1 && since[0].record_id == AGREEMENT,
                "{since:?}"
            );
            let last = store.last_callback().await?.context("last callback")?;
            ensure!(last.key_fetch == KeyFetch::Anonymous, "{last:?}");
        }
        "run" => {
            let runs = store.latest_runs(Function::Provisioner.name(), 10).await?;
            let run = runs
                .iter()
                .find(|r| r.run_id == RUN_ID)
                .with_context(|| format!("{runs:?}"))?;
            ensure!(run.changes.len() == 1 && run.failures.len() == 1, "{run:?}");
        }
        "audit" => {
            let entries = store.audit_of_day(day(DAY)).await?;
            ensure!(
                entries
                    .iter()
                    .any(|e| e.id == AUDIT_ID && e.subject == "provisioning"),
                "{entries:?}"
            );
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn dedupe_key(name: &str) -> (&'static str, &'static str) {
    match name {
        "dedupe-overage" => (
            "overage",
            "1042:pw_base_storage (019097a6-114f-4418-bd54-e01ef049f209):500:2026-11",
        ),
        _ => ("ticket-sync", TICKET_SYNC_DEDUPE),
    }
}

/// An item as plain JSON, read with the operator's keys.
async fn raw_item(store: &Store, pk: &str, sk: &str) -> Result<Value> {
    let config = aws().await?;
    let out = aws_sdk_dynamodb::Client::new(&config)
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await?;
    let item = out.item.with_context(|| format!("no item {pk}/{sk}"))?;
    Ok(av_to_plain(&AttributeValue::M(item)))
}

// ---- (d) unknown fields survive a save -------------------------------------------------------

/// Stores section `T` as `raw` (this version's value with fields it does not know) by
/// `PutItem`, reads it, changes a known field with `change`, saves it through this version's
/// code, and checks the stored item: every `(pointer, value)` of `expect` (the unknown fields
/// and the changed one).
async fn unknown_fields_survive<T: Section + std::fmt::Debug>(
    store: &Store,
    raw: Value,
    change: impl FnOnce(&mut T),
    expect: &[(&str, Value)],
) {
    let mut item = match plain_to_av(&raw) {
        AttributeValue::M(m) => m,
        _ => unreachable!("a section is an object"),
    };
    item.insert("pk".into(), AttributeValue::S(keys::SETTINGS.into()));
    item.insert("sk".into(), AttributeValue::S(T::NAME.into()));
    let config = aws().await.unwrap();
    aws_sdk_dynamodb::Client::new(&config)
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    let mut section: T = store
        .section()
        .await
        .unwrap_or_else(|e| panic!("{}: a section with unknown fields is read: {e}", T::NAME));
    change(&mut section);
    store.save_section(&section).await.unwrap();
    let stored = raw_item(store, keys::SETTINGS, T::NAME).await.unwrap();
    for (pointer, value) in expect {
        assert_eq!(
            stored.pointer(pointer),
            Some(value),
            "{}{pointer} after save: {stored:#}",
            T::NAME
        );
    }
}

/// `value` with `extra` set at each JSON pointer (its parent object must exist).
fn with(mut value: Value, extra: &[(&str, Value)]) -> Value {
    for (pointer, v) in extra {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        value
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no object at {parent}"))
            .insert(key.to_owned(), v.clone());
    }
    value
}

#[tokio::test]
async fn every_settings_section_keeps_fields_it_does_not_know() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();
    let top = (
        "/added_by_next_version",
        json!({"mode": "strict", "limit": 5}),
    );

    let extra = [
        top.clone(),
        ("/deprovisioning/archive_after_days", json!(90)),
    ];
    let raw = with(value(&provisioning_settings()), &extra);
    let changed = ("/two_factor", json!(false));
    unknown_fields_survive::<ProvisioningSettings>(
        &store,
        raw,
        |s| s.two_factor = false,
        &[extra[0].clone(), extra[1].clone(), changed],
    )
    .await;

    // Billing and attention hold no object of their own: an unknown one at the top.
    let extra = [top.clone(), ("/currency_rules", json!({"EUR": "payg"}))];
    let raw = with(value(&billing_settings()), &extra);
    unknown_fields_survive::<BillingSettings>(
        &store,
        raw,
        |s| s.payg_agreement_types.push("metered".into()),
        &[
            extra[0].clone(),
            extra[1].clone(),
            ("/payg_agreement_types/3", json!("metered")),
        ],
    )
    .await;

    let product = format!("/products/{PRODUCT}/minimum");
    let extra = [
        top.clone(),
        ("/storage/minimum", json!(1)),
        (product.as_str(), json!(0.5)),
    ];
    let raw = with(value(&usage_settings()), &extra);
    unknown_fields_survive::<UsageSettings>(
        &store,
        raw,
        |s| s.storage.decimals = 3,
        &[
            extra[0].clone(),
            extra[1].clone(),
            extra[2].clone(),
            ("/storage/decimals", json!(3)),
        ],
    )
    .await;

    let extra = [top.clone(), ("/types/BackupFailed/team_id", json!(4))];
    let raw = with(value(&alert_settings()), &extra);
    unknown_fields_survive::<AlertSettings>(
        &store,
        raw,
        |s| s.renew_after_days = 5,
        &[
            extra[0].clone(),
            extra[1].clone(),
            ("/renew_after_days", json!(5)),
        ],
    )
    .await;

    let extra = [top.clone(), ("/escalation", json!({"after_days": 2}))];
    let raw = with(value(&attention_settings()), &extra);
    unknown_fields_survive::<AttentionSettings>(
        &store,
        raw,
        |s| s.priority_id = Some(10),
        &[
            extra[0].clone(),
            extra[1].clone(),
            ("/priority_id", json!(10)),
        ],
    )
    .await;

    let extra = [
        top.clone(),
        ("/paused/usage_push/reason", json!("month end")),
    ];
    let raw = with(value(&job_settings()), &extra);
    unknown_fields_survive::<JobSettings>(
        &store,
        raw,
        |s| {
            s.paused.insert(
                Job::TicketSync,
                Paused {
                    since: at("2026-11-02T12:00:00Z"),
                    by: None,
                },
            );
        },
        &[
            extra[0].clone(),
            extra[1].clone(),
            ("/paused/ticket_sync/since", json!("2026-11-02T12:00:00Z")),
        ],
    )
    .await;

    let extra = [top.clone(), ("/new_products/tax_code", json!("SaaS"))];
    let raw = with(value(&product_settings()), &extra);
    unknown_fields_survive::<ProductSettings>(
        &store,
        raw,
        |s| s.editions.push("pw_advanced".into()),
        &[
            extra[0].clone(),
            extra[1].clone(),
            ("/editions/1", json!("pw_advanced")),
        ],
    )
    .await;
}

// ---- (e) an event of a newer version is retried ----------------------------------------------

#[tokio::test]
async fn an_event_of_a_newer_version_is_retried_not_dropped() {
    let stack = LocalStack::start().await.unwrap();
    let svc = Provisioning::new(stack.cw.clone(), stack.acronis.clone(), stack.store.clone());
    let recorder =
        Recorder::new(stack.store.clone(), Duration::from_secs(3600)).with_log(MetricLog::Off);
    let mut payload = fixtures("events")
        .into_iter()
        .find(|(n, _)| n == "company.updated")
        .expect("the company.updated fixture")
        .1;
    payload["detail"]["version"] = json!(VERSION + 1);
    let result = provisioner::handle_eventbridge(&svc, &recorder, &payload).await;
    assert!(
        matches!(result, Err(InvokeError::NewerEvent(_))),
        "a newer event must be handed back for a retry: {result:?}"
    );
    let runs = stack
        .store
        .latest_runs(Function::Provisioner.name(), 5)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let failure = &runs[0].failures[..];
    assert!(
        matches!(failure, [f] if f.transient && f.reason.contains(&format!("version {}", VERSION + 1))),
        "{failure:?}"
    );
    assert!(
        runs[0].counts.is_empty(),
        "nothing was done: {:?}",
        runs[0].counts
    );
    assert!(
        stack
            .store
            .mapping_by_company(COMPANY)
            .await
            .unwrap()
            .is_none(),
        "no tenant for an event it cannot read"
    );
}

// ---- the generator ---------------------------------------------------------------------------

/// Moves the product's clock to `t` (the writes that stamp `now` stamp it, to within the
/// time a write takes; `normalize` drops that fraction of a second).
fn set_clock(t: &str) {
    shared::clock::set_offset(at(t) - Utc::now());
}

/// Writes every item kind through this version's Store methods.
async fn write_items(store: &Store) -> Result<()> {
    set_clock("2026-11-02T10:15:00Z");
    store
        .map_company(&CompanyMapping {
            connection: Default::default(),
            unknown: Default::default(),
            company_id: COMPANY,
            tenant_id: TENANT.into(),
            company_name: Some("Northwind Traders".into()),
            tenant_name: Some("Northwind Traders".into()),
            origin: MappingOrigin::Auto,
            mapped_at: at("2026-10-01T09:30:00Z"),
            qualified_at: Some(at("2026-11-02T06:00:00Z")),
            setup_pending: true,
        })
        .await?;

    // The claim: a run read the company (read_ms), a later one holds it (owner, flight,
    // lease, since_ms), noted its tenant POST, and was handed a change (dirty_ms).
    let margin = (Duration::from_secs(2), Duration::ZERO);
    let lease = Duration::from_secs(300);
    set_clock("2026-11-02T10:14:00Z");
    let SyncClaim::Claimed { since } = store
        .claim_sync(COMPANY, "run-a", at("2026-11-02T10:13:58Z"), margin, lease)
        .await?
    else {
        bail!("run-a did not claim");
    };
    store
        .finish_sync(COMPANY, "run-a", (since, margin.0), true)
        .await?;
    set_clock("2026-11-02T10:15:00Z");
    let claimed = store
        .claim_sync(COMPANY, "run-b", at("2026-11-02T10:15:00Z"), margin, lease)
        .await?;
    ensure!(matches!(claimed, SyncClaim::Claimed { .. }), "{claimed:?}");
    set_clock("2026-11-02T10:15:01Z");
    store.note_tenant_post(COMPANY, "run-b").await?;
    set_clock("2026-11-02T10:15:02Z");
    let handed = store
        .claim_sync(COMPANY, "run-c", at("2026-11-02T10:15:02Z"), margin, lease)
        .await?;
    ensure!(handed == SyncClaim::Handed, "{handed:?}");

    store
        .put_disabled_tenant(&DisabledTenant {
            unknown: Default::default(),
            company_id: COMPANY,
            tenant_id: TENANT.into(),
            reason: "no agreement in force holds a mapped product".into(),
            disabled_at: at("2026-11-02T08:00:05Z"),
        })
        .await?;
    store
        .put_deprovision_clock(&DeprovisionClock {
            unknown: Default::default(),
            company_id: COMPANY,
            tenant_id: TENANT.into(),
            reason: "no agreement in force holds a mapped product".into(),
            since: at("2026-10-23T08:00:00Z"),
            done: vec![DeprovisionStep::QuotasToZero, DeprovisionStep::Disable],
            pending: vec![PendingStep {
                step: DeprovisionStep::Delete,
                on: at("2026-11-22T08:00:00Z"),
            }],
        })
        .await?;
    set_clock("2026-11-02T10:15:00Z");
    store.defer(COMPANY, Job::QuotaSync).await?;
    store
        .set_next_change(COMPANY, Some(day("2026-12-01")))
        .await?;

    store.save_section(&provisioning_settings()).await?;
    store.save_section(&billing_settings()).await?;
    store.save_section(&usage_settings()).await?;
    store.save_section(&alert_settings()).await?;
    store.save_section(&attention_settings()).await?;
    store.save_section(&job_settings()).await?;
    store.save_section(&product_settings()).await?;

    store
        .put_product_mapping(&ProductMapping {
            connection: Default::default(),
            unknown: Default::default(),
            offering_item: "pw_base_storage".into(),
            infra_id: Some("019097a6-114f-4418-bd54-e01ef049f209".into()),
            edition: Some("pw_base".into()),
            product_id: Some(PRODUCT),
            product_identifier: Some("ACR-PW-BASE-STORAGE".into()),
            free: false,
            default_storage: true,
            application_id: Some(shared::acronis::models::CYBER_PROTECTION_APP.into()),
            measurement_unit: Some("bytes".into()),
            updated_at: at("2026-10-01T09:00:00Z"),
        })
        .await?;
    store
        .put_addition(&AdditionRecord {
            unknown: Default::default(),
            agreement_id: AGREEMENT,
            product_id: PRODUCT,
            company_id: COMPANY,
            addition_id: ADDITION,
            last_pushed_quantity: Some(12.31),
            agreement_last_updated: Some(at("2026-10-28T14:03:11Z")),
            in_force_from: Some(day("2026-10-01")),
            in_force_until: Some(day("2027-09-30")),
            missing_since: None,
            updated_at: at("2026-11-02T10:05:00Z"),
        })
        .await?;
    store
        .put_missing_additions(&MissingAdditions {
            unknown: Default::default(),
            agreement_id: MISSING_AGREEMENT,
            company_id: COMPANY,
            checked_at: at("2026-11-02T10:05:00Z"),
        })
        .await?;
    let key = shared::domain::attention::key(Job::Provisioning, COMPANY);
    let claimed = store
        .claim_attention(&AttentionRecord {
            unknown: Default::default(),
            key,
            company_id: COMPANY,
            job: Job::Provisioning,
            ticket_id: Some(73311),
            problems: vec![
                "company 1042 has no active contact of type Billing with an email address".into(),
            ],
            open: true,
            updated_at: at("2026-11-02T10:15:00Z"),
            transient_since: None,
        })
        .await?;
    ensure!(claimed, "attention record");
    let raised = alert(false);
    ensure!(shared::domain::alerts::alert_key(&raised) == ALERT_KEY);
    ensure!(shared::domain::alerts::occurrence_id(&raised) == OCCURRENCE);
    ensure!(format!("{OCCURRENCE}@raised") == TICKET_SYNC_DEDUPE);
    store
        .create_alert_ticket(&AlertTicket {
            connection: Default::default(),
            unknown: Default::default(),
            alert_key: ALERT_KEY.into(),
            company_id: COMPANY,
            ticket_id: Some(73402),
            state: TicketState::Open,
            last_alert_id: Some(ALERT_ID.into()),
            alert_type: Some("BackupFailed".into()),
            tenant_id: Some(TENANT.into()),
            occurrences: 2,
            closed_at: None,
            closed_by_product: false,
            dismissed: None,
            revision: 3,
            updated_at: at("2026-11-02T10:15:00Z"),
        })
        .await?;

    store
        .create_alert_ticket(&AlertTicket {
            connection: Default::default(),
            unknown: Default::default(),
            alert_key: DISMISSED_KEY.into(),
            company_id: COMPANY,
            ticket_id: Some(73403),
            state: TicketState::Closed,
            last_alert_id: Some("b51e0f7a-3c2d-4e1f-8a9b-0c1d2e3f4a5b".into()),
            alert_type: Some("BackupFailed".into()),
            tenant_id: Some(TENANT.into()),
            occurrences: 3,
            closed_at: Some(at("2026-11-02T10:12:00Z")),
            closed_by_product: false,
            dismissed: Some(shared::domain::alerts::dismissals::Dismissed {
                alert_id: "b51e0f7a-3c2d-4e1f-8a9b-0c1d2e3f4a5b".into(),
                occurrences: 3,
                at: at("2026-11-02T10:13:00Z"),
            }),
            revision: 4,
            updated_at: at("2026-11-02T10:13:00Z"),
        })
        .await?;

    use shared::services::reconcile::{CURSOR, SWEEP_CURSOR, SWEEP_INDEX_CURSOR};
    store
        .advance_cursor(CURSOR, None, &at("2026-11-02T10:10:00Z"))
        .await?;
    store
        .advance_cursor(SWEEP_CURSOR, None, &at("2026-11-02T10:00:00Z"))
        .await?;
    store
        .advance_cursor(SWEEP_INDEX_CURSOR, None, &true)
        .await?;
    store
        .advance_cursor(
            shared::services::alerts::TICKETS_CURSOR,
            None,
            &at("2026-11-02T10:10:00Z"),
        )
        .await?;
    store
        .advance_cursor(
            shared::services::alerts::CURSOR,
            None,
            &AlertCursor {
                high_water_ns: 1_793_614_200_000_000_000,
                seen: vec![OCCURRENCE.into()],
                swept_ns: 1_793_613_600_000_000_000,
                gone: vec![],
                resume: None,
            },
        )
        .await?;
    store
        .advance_cursor(
            "usage-push",
            None,
            &PushState {
                agreements_since: Some(at("2026-11-02T09:58:00Z")),
                discovered: BTreeSet::from([COMPANY, 1057]),
                inactive_agreements: BTreeSet::from([87950]),
                pending_reads: BTreeSet::from([MISSING_AGREEMENT]),
                pending_fresh: BTreeSet::new(),
                swept_at: Some(at("2026-11-02T03:00:00Z")),
                latest_plan: None,
            },
        )
        .await?;

    for name in ["dedupe", "dedupe-overage"] {
        let (scope, id) = dedupe_key(name);
        ensure!(
            store
                .remember_once(scope, id, Duration::from_secs(14 * 86_400))
                .await?
        );
    }
    ensure!(
        store
            .remember_callback(
                "callback",
                CALLBACK_MESSAGE,
                Duration::from_secs(168 * 3600),
                &CallbackSeen {
                    kind: "agreement".into(),
                    record_id: AGREEMENT,
                    key_host: "api-eu.myconnectwise.net".into(),
                    key_fetch: KeyFetch::Anonymous,
                    seen_at: at("2026-11-02T10:14:58Z"),
                },
            )
            .await?
    );

    set_clock("2026-11-02T10:15:04Z");
    store
        .put_run(
            &RunRecord {
                function: Function::Provisioner.name().into(),
                run_id: RUN_ID.into(),
                started_at: at("2026-11-02T10:15:00Z"),
                finished_at: Some(at("2026-11-02T10:15:04Z")),
                dry_run: false,
                counts: BTreeMap::from([("companies".to_owned(), 1)]),
                changes: vec![Change {
                    subject: "company 1042 / tenant 5a3e9c1d-2b7f-4e8a-9c6d-1f0e2d3c4b5a".into(),
                    field: "quota pw_base_servers".into(),
                    old: Some(json!(2)),
                    new: json!(3),
                    basis: Some("agreement 88017: 3 × ACR-SERVERS".into()),
                }],
                failures: vec![Failure {
                    subject: "company 1042".into(),
                    reason: "account: no active contact of type Billing with an email address"
                        .into(),
                    transient: false,
                }],
                truncated: false,
            },
            Duration::from_secs(30 * 86_400),
        )
        .await?;
    set_clock("2026-11-02T10:20:00Z");
    store
        .append_audit(
            &AuditEntry {
                id: AUDIT_ID.into(),
                at: at("2026-11-02T10:20:00Z"),
                actor: "ops@example.com".into(),
                action: "settings.set".into(),
                subject: "provisioning".into(),
                detail: json!({"two_factor": {"old": false, "new": true}}),
            },
            Duration::from_secs(365 * 86_400),
        )
        .await?;
    shared::clock::set_offset(chrono::Duration::zero());
    Ok(())
}

/// Each item fixture's name, with its key.
fn item_keys() -> Vec<(String, String, String)> {
    use shared::services::reconcile::{CURSOR, SWEEP_CURSOR, SWEEP_INDEX_CURSOR};
    let company = keys::company(COMPANY);
    let mut out = vec![
        ("company-mapping", company.clone(), keys::MAPPING.to_owned()),
        ("tenant-mapping", keys::tenant(TENANT), keys::MAPPING.into()),
        ("claim", company.clone(), keys::CLAIM.into()),
        ("disabled", company.clone(), keys::DISABLED.into()),
        (
            "not-qualifying",
            company.clone(),
            keys::NOT_QUALIFYING.into(),
        ),
        ("deferred", company.clone(), keys::DEFERRED.into()),
        ("next-change", company.clone(), keys::NEXT_CHANGE.into()),
        (
            "product-mapping",
            keys::PRODUCT_MAP.into(),
            keys::product_item(
                &Default::default(),
                "pw_base_storage",
                Some("019097a6-114f-4418-bd54-e01ef049f209"),
            ),
        ),
        (
            "addition",
            keys::agreement(AGREEMENT),
            keys::addition(PRODUCT),
        ),
        (
            "missing-additions",
            keys::MISSING_ADDITIONS.into(),
            keys::agreement(MISSING_AGREEMENT),
        ),
        (
            "attention-ticket",
            keys::attention(&shared::domain::attention::key(Job::Provisioning, COMPANY)),
            keys::TICKET.into(),
        ),
        ("alert-ticket", keys::alert(ALERT_KEY), keys::TICKET.into()),
        (
            "alert-ticket-dismissed",
            keys::alert(DISMISSED_KEY),
            keys::TICKET.into(),
        ),
        ("cursor-reconciler", keys::CURSOR.into(), CURSOR.into()),
        (
            "cursor-reconciler-sweep",
            keys::CURSOR.into(),
            SWEEP_CURSOR.into(),
        ),
        (
            "cursor-reconciler-sweep-index",
            keys::CURSOR.into(),
            SWEEP_INDEX_CURSOR.into(),
        ),
        (
            "cursor-reconciler-tickets",
            keys::CURSOR.into(),
            shared::services::alerts::TICKETS_CURSOR.into(),
        ),
        (
            "cursor-alert-poller",
            keys::CURSOR.into(),
            shared::services::alerts::CURSOR.into(),
        ),
        (
            "cursor-usage-push",
            keys::CURSOR.into(),
            "usage-push".into(),
        ),
        (
            "callback",
            keys::dedupe("callback", CALLBACK_MESSAGE),
            keys::DEDUPE.into(),
        ),
        (
            "run",
            keys::run(Function::Provisioner.name()),
            format!("{}#{RUN_ID}", at("2026-11-02T10:15:00Z").to_rfc3339()),
        ),
        (
            "audit",
            keys::audit_day(day(DAY)),
            format!("{}#{AUDIT_ID}", at("2026-11-02T10:20:00Z").to_rfc3339()),
        ),
    ];
    for name in ["dedupe", "dedupe-overage"] {
        let (scope, id) = dedupe_key(name);
        out.push((name, keys::dedupe(scope, id), keys::DEDUPE.into()));
    }
    let mut out: Vec<(String, String, String)> = out
        .into_iter()
        .map(|(n, pk, sk)| (n.to_owned(), pk, sk))
        .collect();
    for section in [
        ProvisioningSettings::NAME,
        BillingSettings::NAME,
        UsageSettings::NAME,
        AlertSettings::NAME,
        AttentionSettings::NAME,
        JobSettings::NAME,
        ProductSettings::NAME,
    ] {
        out.push((
            format!("settings-{section}"),
            keys::SETTINGS.into(),
            section.into(),
        ));
    }
    out
}

/// Drops the fraction of a second a write's `now` took past the clock it was set to: in
/// epoch milliseconds (`*_ms`) and in RFC 3339 times stamped from `now`.
fn normalize(name: &str, item: &mut Item) {
    let stamped: &[&str] = match name {
        "claim" => &["since_ms", "read_ms", "tenant_post_ms", "dirty_ms"],
        "deferred" => &["since"],
        "dedupe" | "dedupe-overage" => &["seen_at"],
        n if n.starts_with("cursor-") => &["updated_at"],
        _ => &[],
    };
    for attr in stamped {
        match item.get_mut(*attr) {
            Some(AttributeValue::N(ms)) => {
                let v: i64 = ms.parse().expect("epoch ms");
                *ms = (v - v.rem_euclid(1000)).to_string();
            }
            Some(AttributeValue::S(t)) => {
                if let Some(dot) = t.find('.') {
                    let digits = t[dot + 1..]
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(t.len() - dot - 1);
                    t.replace_range(dot..=dot + digits, "");
                }
            }
            Some(other) => panic!("{name}.{attr}: {other:?}"),
            None => panic!("{name} has no {attr}"),
        }
    }
}

/// Writes the fixtures this version has that `tests/golden` does not, and lists them in
/// `SHA256SUMS`. An existing fixture is never rewritten: one this version writes differently
/// is reported (give the new shape a fixture of its own, see the README).
#[tokio::test]
#[ignore = "writes tests/golden; run on demand, alone (tests/golden/README.md)"]
async fn write_fixtures() {
    let config = aws().await.unwrap();
    let store = fresh_store(&config).await.unwrap();
    write_items(&store).await.unwrap();

    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let mut items: Vec<Item> = Vec::new();
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name(store.table())
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let key_of = |item: &Item, k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let mut files: Vec<(String, String)> = Vec::new();
    let names = item_keys();
    for item in &items {
        let (pk, sk) = (key_of(item, "pk"), key_of(item, "sk"));
        assert!(
            names
                .iter()
                .any(|(_, p, s)| Some(p) == pk.as_ref() && Some(s) == sk.as_ref()),
            "an item with no fixture name: {pk:?}/{sk:?} (add it to item_keys)"
        );
    }
    for (name, pk, sk) in &names {
        let mut item = items
            .iter()
            .find(|i| key_of(i, "pk").as_ref() == Some(pk) && key_of(i, "sk").as_ref() == Some(sk))
            .unwrap_or_else(|| panic!("{name}: no item {pk}/{sk} was written"))
            .clone();
        normalize(name, &mut item);
        files.push((format!("items/{name}.json"), pretty(&item_to_json(&item))));
    }
    for (i, event) in events().iter().enumerate() {
        files.push((
            format!("events/{}.json", event.detail_type()),
            pretty(&sorted(envelope(event, i))),
        ));
    }

    let mut sums = listed_sums();
    let mut differ = Vec::new();
    for (rel, text) in files {
        let path = golden().join(&rel);
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == text => {}
            Ok(_) => differ.push(rel),
            Err(_) => {
                std::fs::create_dir_all(path.parent().expect("a parent")).unwrap();
                std::fs::write(&path, &text).unwrap();
                println!("added {rel}");
                sums.insert(rel, sha256_hex(text.as_bytes()));
            }
        }
    }
    let listing: String = sums
        .iter()
        .map(|(path, sum)| format!("{sum}  {path}\n"))
        .collect();
    std::fs::write(golden().join("SHA256SUMS"), listing).unwrap();
    for rel in &differ {
        println!("kept {rel}: this version writes it differently (see tests/golden/README.md)");
    }
}

/// `v` with every object's keys in order.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let m: BTreeMap<String, Value> = o.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(m.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}
