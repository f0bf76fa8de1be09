//! The store against DynamoDB (moto).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::time::Duration;

use chrono::Utc;
use integration_tests::{aws, fresh_store};
use shared::store::*;

fn mapping(company_id: i64, tenant_id: &str) -> CompanyMapping {
    CompanyMapping {
        connection: Default::default(),
        unknown: Default::default(),
        company_id,
        tenant_id: tenant_id.into(),
        company_name: Some(format!("Company {company_id}")),
        tenant_name: None,
        origin: MappingOrigin::Auto,
        mapped_at: Utc::now(),
        qualified_at: None,
        setup_pending: false,
    }
}

#[tokio::test]
async fn mapping_is_one_to_one_both_ways() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();
    store.map_company(&mapping(1, "tenant-a")).await.unwrap();

    let err = store
        .map_company(&mapping(1, "tenant-b"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::CompanyAlreadyMapped { company_id: 1, tenant_id } if tenant_id == "tenant-a"),
        "{err}"
    );
    let err = store
        .map_company(&mapping(2, "tenant-a"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TenantAlreadyMapped { company_id: 1, .. }),
        "{err}"
    );

    // Neither refused write left half a mapping behind.
    assert!(store.mapping_by_tenant("tenant-b").await.unwrap().is_none());
    assert!(store.mapping_by_company(2).await.unwrap().is_none());
    assert_eq!(
        store
            .mapping_by_tenant("tenant-a")
            .await
            .unwrap()
            .unwrap()
            .company_id,
        1
    );
    assert_eq!(store.mappings().await.unwrap().len(), 1);

    // Unmapped, both sides are free again.
    assert!(store.unmap_company(1).await.unwrap().is_some());
    assert!(store.mapping_by_tenant("tenant-a").await.unwrap().is_none());
    store.map_company(&mapping(2, "tenant-a")).await.unwrap();
}

#[tokio::test]
async fn concurrent_mappings_of_one_company_let_exactly_one_win() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        set.spawn(async move { store.map_company(&mapping(7, &format!("tenant-{i}"))).await });
    }
    let results = set.join_all().await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(store.mappings().await.unwrap().len(), 1);
}

#[tokio::test]
async fn dedupe_remembers_until_its_ttl() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();
    assert!(
        store
            .remember_once("callback", "m-1", Duration::from_secs(600))
            .await
            .unwrap()
    );
    assert!(
        !store
            .remember_once("callback", "m-1", Duration::from_secs(600))
            .await
            .unwrap()
    );
    assert!(
        store
            .remember_once("callback", "m-2", Duration::from_secs(600))
            .await
            .unwrap()
    );
    // An expired record counts as absent even before DynamoDB deletes it.
    assert!(
        store
            .remember_once("short", "m-3", Duration::from_secs(0))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        store
            .remember_once("short", "m-3", Duration::from_secs(600))
            .await
            .unwrap()
    );
    // Forgetting lets the work be redone.
    store.forget("callback", "m-1").await.unwrap();
    assert!(
        store
            .remember_once("callback", "m-1", Duration::from_secs(600))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn claims_are_exclusive_until_released_or_expired() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();
    let claim = |owner: &'static str, secs: u64| {
        let store = store.clone();
        async move {
            store
                .claim_company(5, owner, Duration::from_secs(secs))
                .await
                .unwrap()
        }
    };
    assert_eq!(claim("run-a", 300).await, Claim::Acquired);
    assert_eq!(claim("run-b", 300).await, Claim::Busy);
    assert_eq!(
        claim("run-a", 300).await,
        Claim::AlreadyHeld,
        "the holder may renew, and knows it held it"
    );
    store.release_claim(5, "run-b").await.unwrap(); // not the holder: no effect
    assert_eq!(claim("run-b", 300).await, Claim::Busy);
    store.release_claim(5, "run-a").await.unwrap();
    assert_eq!(claim("run-b", 0).await, Claim::Acquired);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(claim("run-c", 300).await, Claim::Acquired, "expired lease");
}

/// The single flight of a company's runs: a change read by a finished run is covered; a
/// change that arrives while a run holds the company is handed to it, which reads once more
/// when its reads started before the change; a run that failed records no read; a run for a
/// fresh change waits for the rest of the edit's callbacks.
#[tokio::test]
async fn a_company_run_covers_or_takes_over_the_changes_of_other_deliveries() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();
    let lease = Duration::from_secs(300);
    let margin = Duration::from_millis(500);
    let settle = Duration::ZERO;
    let now = chrono::Utc::now;
    let ago = |ms: i64| now() - chrono::Duration::milliseconds(ms);

    // A change seen 2 s ago: run A claims and reads from now.
    let SyncClaim::Claimed { since: a_since } = store
        .claim_sync(7, "run-a", ago(2000), (margin, settle), lease)
        .await
        .unwrap()
    else {
        panic!("a free company is claimed");
    };
    // A change seen 3 s ago is older than A's reads by more than the margin: A sees it.
    assert_eq!(
        store
            .claim_sync(7, "run-b", ago(3000), (margin, settle), lease)
            .await
            .unwrap(),
        SyncClaim::Handed
    );
    assert_eq!(
        store
            .finish_sync(7, "run-a", (a_since, margin), true)
            .await
            .unwrap(),
        None,
        "nothing newer was handed over: A lets go"
    );
    // A change seen before A's reads started is covered by A's finished run.
    assert_eq!(
        store
            .claim_sync(7, "run-c", ago(2000), (margin, settle), lease)
            .await
            .unwrap(),
        SyncClaim::Covered
    );

    // A change seen now is newer than A's reads: run D claims.
    let SyncClaim::Claimed { since: d_since } = store
        .claim_sync(7, "run-d", now(), (margin, settle), lease)
        .await
        .unwrap()
    else {
        panic!("a change newer than the last read is claimed");
    };
    // While D holds it, a newer change is handed over; D must read once more.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        store
            .claim_sync(7, "run-e", now(), (margin, settle), lease)
            .await
            .unwrap(),
        SyncClaim::Handed
    );
    let again = store
        .finish_sync(7, "run-d", (d_since, margin), true)
        .await
        .unwrap()
        .expect("a change was handed over: D reads again");
    assert!(again >= d_since);
    assert_eq!(
        store
            .claim_sync(7, "run-f", now(), (margin, settle), lease)
            .await
            .unwrap(),
        SyncClaim::Handed,
        "D still holds the company while it reads again"
    );
    let third = store
        .finish_sync(7, "run-d", (again, margin), true)
        .await
        .unwrap()
        .expect("F's change came after D's second reads started");
    assert_eq!(
        store
            .finish_sync(7, "run-d", (third, margin), true)
            .await
            .unwrap(),
        None
    );

    // A run that failed (transient) lets go without recording a read: the change it was
    // handling is claimed again by its retry.
    let seen = now();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let SyncClaim::Claimed { since: g_since } = store
        .claim_sync(7, "run-g", seen, (margin, settle), lease)
        .await
        .unwrap()
    else {
        panic!("claimed");
    };
    assert_eq!(
        store
            .finish_sync(7, "run-g", (g_since, margin), false)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store
            .claim_sync(7, "run-g2", seen, (margin, settle), lease)
            .await
            .unwrap(),
        SyncClaim::Claimed { .. }
    ));

    // With a settling time, a fresh change's run reads a second after it: the other
    // callbacks of the same edit, a moment later, are handed over as they are.
    let settle = Duration::from_secs(1);
    let edit = now();
    let SyncClaim::Claimed { since } = store
        .claim_sync(8, "run-h", edit, (margin, settle), lease)
        .await
        .unwrap()
    else {
        panic!("claimed");
    };
    assert_eq!(since, edit + chrono::Duration::seconds(1));
    let later = edit + chrono::Duration::milliseconds(300);
    assert_eq!(
        store
            .claim_sync(8, "run-i", later, (margin, settle), lease)
            .await
            .unwrap(),
        SyncClaim::Handed
    );
    assert_eq!(
        store
            .finish_sync(8, "run-h", (since, margin), true)
            .await
            .unwrap(),
        None,
        "its reads start after the later callback: nothing to read again"
    );

    // An administrator's provisioning holds the company without a single flight: it reads
    // nothing handed over, so a delivery waits its turn instead.
    assert_eq!(
        store.claim_company(9, "acw-run", lease).await.unwrap(),
        Claim::Acquired
    );
    assert_eq!(
        store
            .claim_sync(9, "run-j", now(), (margin, settle), lease)
            .await
            .unwrap(),
        SyncClaim::Contended
    );
}

#[tokio::test]
async fn every_key_pattern_round_trips() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();
    let now = Utc::now();

    // A section never saved reads as its defaults; once saved, as saved.
    use shared::domain::settings::ProvisioningSettings;
    assert_eq!(
        store.section::<ProvisioningSettings>().await.unwrap(),
        ProvisioningSettings::default()
    );
    let p = ProvisioningSettings {
        auto_provisioning: true,
        language: "de".into(),
        ..ProvisioningSettings::default()
    };
    store.save_section(&p).await.unwrap();
    assert_eq!(store.section::<ProvisioningSettings>().await.unwrap(), p);

    let pm = ProductMapping {
        connection: Default::default(),
        unknown: Default::default(),
        offering_item: "pw_base_storage".into(),
        infra_id: Some("infra-eu".into()),
        edition: Some("pck_per_workload".into()),
        product_id: Some(31),
        product_identifier: Some("ACR-STORAGE-EU".into()),
        free: false,
        default_storage: false,
        application_id: None,
        measurement_unit: Some("bytes".into()),
        updated_at: now,
    };
    store.put_product_mapping(&pm).await.unwrap();
    let free = ProductMapping {
        connection: Default::default(),
        unknown: Default::default(),
        offering_item: "local_storage".into(),
        infra_id: None,
        product_id: None,
        product_identifier: None,
        free: true,
        default_storage: false,
        application_id: None,
        measurement_unit: None,
        edition: None,
        updated_at: now,
    };
    store.put_product_mapping(&free).await.unwrap();
    let mut all = store.product_mappings().await.unwrap();
    all.sort_by(|a, b| a.offering_item.cmp(&b.offering_item));
    assert_eq!(all, vec![free.clone(), pm.clone()]);
    // The same item in another connection is a mapping of its own, kept apart.
    let us = shared::secrets::ConnectionName::parse("us").unwrap();
    let pm_us = ProductMapping {
        connection: us.clone(),
        product_id: Some(pm.product_id.unwrap_or_default() + 1),
        ..pm.clone()
    };
    store.put_product_mapping(&pm_us).await.unwrap();
    assert_eq!(store.product_mappings().await.unwrap().len(), 3);
    store
        .delete_product_mapping(&Default::default(), "local_storage", None)
        .await
        .unwrap();
    let mut left = store.product_mappings().await.unwrap();
    left.sort_by(|a, b| a.connection.cmp(&b.connection));
    assert_eq!(left, vec![pm.clone(), pm_us]);
    store
        .delete_product_mapping(&us, &pm.offering_item, pm.infra_id.as_deref())
        .await
        .unwrap();
    assert_eq!(store.product_mappings().await.unwrap(), vec![pm]);

    let add = AdditionRecord {
        unknown: Default::default(),
        agreement_id: 9,
        product_id: 31,
        company_id: 4,
        addition_id: 88,
        last_pushed_quantity: Some(12.5),
        agreement_last_updated: Some(now),
        in_force_from: Some(now.date_naive()),
        in_force_until: None,
        missing_since: Some(now),
        updated_at: now,
    };
    store.put_addition(&add).await.unwrap();
    assert_eq!(store.addition(9, 31).await.unwrap(), Some(add.clone()));
    assert_eq!(
        store.additions_of_agreement(9).await.unwrap(),
        vec![add.clone()]
    );
    assert_eq!(store.all_additions().await.unwrap(), vec![add.clone()]);

    // Batches beyond one BatchWriteItem, and a shard's range of companies.
    let many: Vec<AdditionRecord> = (1..=60)
        .map(|c| AdditionRecord {
            agreement_id: 1000 + c,
            company_id: c,
            addition_id: 5000 + c,
            missing_since: None,
            ..add.clone()
        })
        .collect();
    store.put_additions(&many).await.unwrap();
    assert_eq!(store.all_additions().await.unwrap().len(), 61);
    let shard = store.additions_of_companies(3, 10).await.unwrap();
    let companies: Vec<i64> = shard.iter().map(|r| r.company_id).collect();
    // Company 4 has two records (agreements 9 and 1004), in agreement order.
    assert_eq!(companies, vec![3, 4, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(store.additions_of_companies(61, 99).await.unwrap(), vec![]);
    store.put_additions(&[]).await.unwrap();
    // By key, over more than one BatchGetItem (60 agreements × 2 products = 120 keys).
    let agreements: Vec<i64> = (1001..=1060).chain([9, 4242]).collect();
    let got = store
        .additions_of_agreements(&agreements, &[31, 99])
        .await
        .unwrap();
    assert_eq!(got.len(), 61);
    assert!(got.iter().all(|r| r.product_id == 31));
    assert!(
        store
            .additions_of_agreements(&[], &[31])
            .await
            .unwrap()
            .is_empty()
    );

    let mut ticket = AlertTicket {
        connection: Default::default(),
        unknown: Default::default(),
        alert_key: "tenant-a/BackupFailed/res-1".into(),
        company_id: 4,
        ticket_id: None,
        state: TicketState::Creating,
        last_alert_id: Some("A-1".into()),
        occurrences: 1,
        closed_at: None,
        closed_by_product: false,
        dismissed: None,
        alert_type: None,
        tenant_id: None,
        revision: 0,
        updated_at: now,
    };
    assert!(store.create_alert_ticket(&ticket).await.unwrap());
    assert!(
        !store.create_alert_ticket(&ticket).await.unwrap(),
        "one record per alert key"
    );
    ticket.ticket_id = Some(501);
    ticket.state = TicketState::Open;
    ticket.revision = 1;
    store.update_alert_ticket(&ticket).await.unwrap();
    assert!(
        matches!(
            store.update_alert_ticket(&ticket).await,
            Err(StoreError::Conflict(_))
        ),
        "stale revision"
    );
    assert_eq!(
        store.alert_ticket(&ticket.alert_key).await.unwrap(),
        Some(ticket.clone())
    );
    assert_eq!(
        store.open_alert_tickets().await.unwrap(),
        vec![ticket.clone()]
    );
    ticket.state = TicketState::Closed;
    ticket.revision = 2;
    store.update_alert_ticket(&ticket).await.unwrap();
    assert!(store.open_alert_tickets().await.unwrap().is_empty());

    assert_eq!(store.cursor::<i64>("alerts").await.unwrap(), None);
    store
        .advance_cursor::<i64>("alerts", None, &100)
        .await
        .unwrap();
    assert!(matches!(
        store.advance_cursor::<i64>("alerts", None, &50).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .advance_cursor("alerts", Some(&100i64), &200)
        .await
        .unwrap();
    assert!(matches!(
        store.advance_cursor("alerts", Some(&100i64), &300).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.cursor::<i64>("alerts").await.unwrap(), Some(200));

    let mut first = RunRecord::start("usage-push");
    first.count("companies", 3);
    first.changes.push(Change {
        subject: "company 4 / addition 88".into(),
        field: "quantity".into(),
        old: Some(1.into()),
        new: 2.into(),
        basis: Some("servers 2".into()),
    });
    store
        .put_run(&first, Duration::from_secs(86_400))
        .await
        .unwrap();
    let mut second = RunRecord::start("usage-push");
    second.started_at = first.started_at + chrono::Duration::seconds(1);
    second.failures.push(Failure {
        subject: "company 5".into(),
        reason: "429".into(),
        transient: true,
    });
    store
        .put_run(&second, Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(
        store.latest_runs("usage-push", 1).await.unwrap(),
        vec![second.clone()]
    );
    assert_eq!(
        store.latest_runs("usage-push", 5).await.unwrap(),
        vec![second, first]
    );

    let entry = AuditEntry {
        id: "e-1".into(),
        at: now,
        actor: "acw".into(),
        action: "settings.put".into(),
        subject: "provisioning".into(),
        detail: serde_json::json!({"auto": true}),
    };
    store
        .append_audit(&entry, Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(
        store.audit_of_day(now.date_naive()).await.unwrap(),
        vec![entry]
    );
}

#[tokio::test]
async fn long_run_records_are_cut_not_refused() {
    let store = fresh_store(&aws().await.unwrap()).await.unwrap();
    let mut run = RunRecord::start("usage-push");
    for i in 0..2000 {
        run.changes.push(Change {
            subject: format!("company {i} / addition {i}"),
            field: "quantity".into(),
            old: Some(i.into()),
            new: (i + 1).into(),
            basis: Some("storage 1 GB (absolute_value 1000000000 B)".into()),
        });
    }
    run.count("changed", 2000);
    store.put_run(&run, Duration::from_secs(60)).await.unwrap();
    let stored = &store.latest_runs("usage-push", 1).await.unwrap()[0];
    assert!(stored.truncated);
    assert_eq!(stored.changes.len(), 500);
    assert_eq!(stored.counts["changed"], 2000);
}
