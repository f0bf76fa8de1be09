//! Records a newer version stored keep what it added when this version writes them back
//! (a rollback, or `acw` one version behind the stack): every record kind that is read,
//! changed and written again, through the Store's own reads and writes. Settings sections
//! are covered in `golden.rs`. Cursors are the writer's own state and are rewritten whole
//! (ARCHITECTURE.md, "Versions side by side").

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{NaiveDate, Utc};
use integration_tests::{aws, fresh_store};
use shared::domain::attention::AttentionRecord;
use shared::domain::deprovisioning::{DeprovisionStep, PendingStep};
use shared::domain::jobs::Job;
use shared::store::*;

const EXTRA: &str = "from_next_version";

fn extra_value() -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("note".to_owned(), AttributeValue::S("kept".into())),
        ("count".to_owned(), AttributeValue::N("3".into())),
    ]))
}

async fn ddb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws().await.unwrap())
}

async fn items(store: &Store) -> Vec<HashMap<String, AttributeValue>> {
    ddb()
        .await
        .scan()
        .table_name(store.table())
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

/// Adds a field this version does not know to every item of the table, as the next version
/// would write it.
async fn add_unknown_field_everywhere(store: &Store) -> usize {
    let all = items(store).await;
    for item in &all {
        ddb()
            .await
            .update_item()
            .table_name(store.table())
            .key("pk", item["pk"].clone())
            .key("sk", item["sk"].clone())
            .update_expression("SET #x = :x")
            .expression_attribute_names("#x", EXTRA)
            .expression_attribute_values(":x", extra_value())
            .send()
            .await
            .unwrap();
    }
    all.len()
}

async fn assert_kept(store: &Store, kind: &str, written: usize) {
    let all = items(store).await;
    assert_eq!(all.len(), written, "{kind}: {all:?}");
    for item in all {
        assert_eq!(
            item.get(EXTRA),
            Some(&extra_value()),
            "{kind}: written back without the newer field: {item:?}"
        );
    }
}

#[tokio::test]
async fn every_record_written_back_keeps_the_fields_a_newer_version_added() {
    let config = aws().await.unwrap();
    let now = Utc::now();
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();

    // A company mapping (both of its items), its setup finished by this version.
    let store = fresh_store(&config).await.unwrap();
    let mapping = CompanyMapping {
        connection: Default::default(),
        company_id: 7,
        tenant_id: "t-7".into(),
        company_name: Some("Contoso".into()),
        tenant_name: Some("Contoso".into()),
        origin: MappingOrigin::Auto,
        mapped_at: now,
        qualified_at: Some(now),
        setup_pending: true,
        unknown: Default::default(),
    };
    store.map_company(&mapping).await.unwrap();
    let n = add_unknown_field_everywhere(&store).await;
    let read = store.mapping_by_company(7).await.unwrap().unwrap();
    assert!(
        !read.unknown.is_empty(),
        "read with the field it does not know"
    );
    store.finish_setup(&read).await.unwrap();
    assert!(
        !store
            .mapping_by_tenant("t-7")
            .await
            .unwrap()
            .unwrap()
            .setup_pending
    );
    assert_kept(&store, "company mapping", n).await;

    // A product mapping changed by `acw products map`.
    let store = fresh_store(&config).await.unwrap();
    store
        .put_product_mapping(&ProductMapping::new(
            "pw_base_servers",
            Some(500),
            "quantity",
        ))
        .await
        .unwrap();
    let n = add_unknown_field_everywhere(&store).await;
    let mut m = store.product_mappings().await.unwrap().remove(0);
    m.product_id = Some(501);
    store.put_product_mapping(&m).await.unwrap();
    assert_kept(&store, "product mapping", n).await;

    // An addition record after a push, and an agreement re-read for a missing addition.
    let store = fresh_store(&config).await.unwrap();
    let addition = AdditionRecord {
        agreement_id: 70,
        product_id: 500,
        company_id: 7,
        addition_id: 700,
        last_pushed_quantity: Some(2.0),
        agreement_last_updated: Some(now),
        in_force_from: Some(day),
        in_force_until: None,
        missing_since: None,
        updated_at: now,
        unknown: Default::default(),
    };
    store.put_addition(&addition).await.unwrap();
    store
        .put_missing_additions(&MissingAdditions {
            agreement_id: 70,
            company_id: 7,
            checked_at: now,
            unknown: Default::default(),
        })
        .await
        .unwrap();
    let n = add_unknown_field_everywhere(&store).await;
    let mut a = store.addition(70, 500).await.unwrap().unwrap();
    a.last_pushed_quantity = Some(3.0);
    store.put_addition(&a).await.unwrap();
    let mut missing = store.missing_additions().await.unwrap().remove(0);
    missing.checked_at = Utc::now();
    store.put_missing_additions(&missing).await.unwrap();
    assert_kept(&store, "addition records", n).await;

    // Deprovisioning: the clock after a step, and the disabled mark.
    let store = fresh_store(&config).await.unwrap();
    store
        .put_deprovision_clock(&DeprovisionClock {
            company_id: 7,
            tenant_id: "t-7".into(),
            reason: "no agreement in force".into(),
            since: now,
            done: vec![],
            pending: vec![PendingStep {
                step: DeprovisionStep::Disable,
                on: now,
            }],
            unknown: Default::default(),
        })
        .await
        .unwrap();
    store
        .put_disabled_tenant(&DisabledTenant {
            company_id: 7,
            tenant_id: "t-7".into(),
            reason: "no agreement in force".into(),
            disabled_at: now,
            unknown: Default::default(),
        })
        .await
        .unwrap();
    let n = add_unknown_field_everywhere(&store).await;
    let mut clock = store.deprovision_clock(7).await.unwrap().unwrap();
    clock.done.push(DeprovisionStep::QuotasToZero);
    store.put_deprovision_clock(&clock).await.unwrap();
    let mut disabled = store.disabled_tenant(7).await.unwrap().unwrap();
    disabled.disabled_at = Utc::now();
    store.put_disabled_tenant(&disabled).await.unwrap();
    assert_kept(&store, "deprovisioning", n).await;

    // An alert ticket updated by the ticket sync (its revision checked), and a
    // needs-attention record.
    let store = fresh_store(&config).await.unwrap();
    let ticket = AlertTicket {
        connection: Default::default(),
        alert_key: "acr:t-7:BackupFailed:srv".into(),
        company_id: 7,
        ticket_id: Some(4242),
        state: TicketState::Open,
        last_alert_id: Some("A-1".into()),
        alert_type: Some("BackupFailed".into()),
        tenant_id: Some("t-7".into()),
        occurrences: 1,
        closed_at: None,
        closed_by_product: false,
        dismissed: None,
        revision: 0,
        updated_at: now,
        unknown: Default::default(),
    };
    assert!(store.create_alert_ticket(&ticket).await.unwrap());
    store
        .put_attention_record(&AttentionRecord {
            key: "attention:7:quota_sync".into(),
            company_id: 7,
            job: Job::QuotaSync,
            ticket_id: Some(4343),
            problems: vec!["quota".into()],
            open: true,
            updated_at: now,
            transient_since: None,
            unknown: Default::default(),
        })
        .await
        .unwrap();
    let n = add_unknown_field_everywhere(&store).await;
    let mut t = store
        .alert_ticket(&ticket.alert_key)
        .await
        .unwrap()
        .unwrap();
    t.occurrences += 1;
    store.update_alert_ticket(&t).await.unwrap();
    let mut r = store
        .attention_record("attention:7:quota_sync")
        .await
        .unwrap()
        .unwrap();
    r.problems.push("usage".into());
    store.put_attention_record(&r).await.unwrap();
    assert_kept(&store, "tickets", n).await;
}
