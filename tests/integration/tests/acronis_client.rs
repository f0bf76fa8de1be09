//! The Acronis client against the Acronis simulator.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::net::SocketAddr;
use std::time::Duration;

use integration_tests::fast_transport;
use secrecy::SecretString;
use serde_json::json;
use shared::acronis::error::codes;
use shared::acronis::models::{
    CYBER_PROTECTION_APP, DesiredItem, NewTenant, QuotaLimit, TenantPatch,
};
use shared::acronis::{AcronisClient, AcronisError, AlertQuery};
use shared::secrets::AcronisCredentials;
use simulators::acronis::{AcronisSim, AcronisSimConfig};
use simulators::{FaultKind, FaultRule};

async fn sim() -> AcronisSim {
    simulators::acronis::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        AcronisSimConfig::default(),
    )
    .await
    .unwrap()
}

fn client_with_secret(sim: &AcronisSim, secret: &str) -> AcronisClient {
    let creds = AcronisCredentials {
        name: Default::default(),
        datacenter_url: sim.url(),
        client_id: "sim-client".into(),
        client_secret: SecretString::from(secret.to_owned()),
    };
    AcronisClient::new(&creds, fast_transport(4, Duration::from_secs(5))).unwrap()
}

fn client(sim: &AcronisSim) -> AcronisClient {
    client_with_secret(sim, "sim-secret")
}

fn fault(method: &str, path: &str, times: u32, fault: FaultKind) -> FaultRule {
    FaultRule {
        method: Some(method.into()),
        path_contains: Some(path.into()),
        times: Some(times),
        fault,
    }
}

fn statuses(sim: &AcronisSim, method: &str, path_contains: &str) -> Vec<u16> {
    sim.control()
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.contains(path_contains))
        .map(|r| r.status)
        .collect()
}

fn customer(name: &str, parent: &str) -> NewTenant {
    NewTenant {
        name: name.into(),
        kind: "customer".into(),
        parent_id: parent.into(),
        customer_id: None,
        internal_tag: Some(format!("cw-company-{name}")),
        language: None,
        contact: None,
    }
}

#[tokio::test]
async fn reuses_the_token_and_refreshes_it_after_expiry() {
    let sim = sim().await;
    let acronis = client(&sim);
    let partner = acronis.client_info().await.unwrap().tenant_id;
    for _ in 0..4 {
        acronis.tenant(&partner).await.unwrap();
    }
    assert_eq!(sim.tokens_issued(), 1, "one token for five calls");

    // Expired on the server side: the 401 triggers one refresh and the call succeeds.
    sim.expire_tokens();
    acronis.tenant(&partner).await.unwrap();
    assert_eq!(sim.tokens_issued(), 2);
    assert_eq!(
        statuses(&sim, "GET", &format!("/api/2/tenants/{partner}")),
        [200, 200, 200, 200, 401, 200]
    );

    // A short-lived token is renewed before it expires, without a 401.
    sim.set_token_ttl(2);
    let short = client(&sim);
    short.tenant(&partner).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    sim.control().clear_requests();
    short.tenant(&partner).await.unwrap();
    assert_eq!(sim.tokens_issued(), 4);
    assert!(!statuses(&sim, "GET", "/api/2/tenants/").contains(&401));
}

#[tokio::test]
async fn bad_credentials_say_so_without_the_secret() {
    let sim = sim().await;
    let err = client_with_secret(&sim, "WRONG-SECRET-9")
        .client_info()
        .await
        .unwrap_err();
    assert!(
        matches!(err, AcronisError::Auth { status: 401, .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("acronis_client_secret"), "{shown}");
    assert!(!shown.contains("WRONG-SECRET-9"), "{shown}");
}

#[tokio::test]
async fn stale_tenant_version_is_reread_and_retried() {
    let sim = sim().await;
    let acronis = client(&sim);
    let partner = acronis.client_info().await.unwrap().tenant_id;
    let t = acronis
        .create_tenant(&customer("Versioned", &partner))
        .await
        .unwrap();
    assert_eq!(t.version, 1);

    // Another writer moves the version between our read and our write.
    sim.control().add_fault(fault(
        "PUT",
        "/api/2/tenants/",
        1,
        FaultKind::Status {
            status: 409,
            retry_after: None,
            body: Some(json!({"error": {"code": 1001, "message": "Version mismatch", "domain": "PlatformAccountServer"}})),
        },
    ));
    let updated = acronis
        .update_tenant(
            &t.id,
            &TenantPatch {
                enabled: Some(false),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!updated.enabled);
    assert_eq!(updated.version, 2);
    assert_eq!(statuses(&sim, "PUT", &t.id), [409, 200]);
    assert_eq!(
        statuses(&sim, "GET", &format!("/api/2/tenants/{}", t.id)).len(),
        2,
        "re-read before retrying"
    );

    // The real platform's own check: a stale version from a second client.
    let other = client(&sim);
    other
        .update_tenant(
            &t.id,
            &TenantPatch {
                name: Some("Renamed".into()),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap();
    acronis.delete_tenant(&t.id).await.unwrap();
    assert!(acronis.tenant(&t.id).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn platform_errors_are_typed() {
    let sim = sim().await;
    let acronis = client(&sim);
    let partner = acronis.client_info().await.unwrap().tenant_id;
    let t = acronis
        .create_tenant(&customer("Taken", &partner))
        .await
        .unwrap();

    let err = acronis
        .create_tenant(&customer("Taken", &partner))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some(codes::TENANT_NAME_TAKEN))
    );
    assert!(!err.is_version_conflict());

    let err = acronis.delete_tenant(&t.id).await.unwrap_err();
    assert_eq!(err.code(), Some(codes::DELETE_ENABLED_TENANT), "{err}");

    sim.control()
        .add_fault(fault("GET", "/api/2/tenants/", 1, FaultKind::MalformedBody));
    let err = acronis.tenant(&t.id).await.unwrap_err();
    assert!(matches!(err, AcronisError::Decode { .. }), "{err:?}");

    sim.control().add_fault(fault(
        "GET",
        "/api/2/tenants/",
        10,
        FaultKind::Status {
            status: 500,
            retry_after: None,
            body: None,
        },
    ));
    let err = acronis.tenant(&t.id).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
}

#[tokio::test]
async fn pages_tenants_with_the_after_cursor() {
    let sim = sim().await;
    let acronis = client(&sim);
    let partner = acronis.client_info().await.unwrap().tenant_id;
    for i in 0..250 {
        sim.seed_tenant(json!({"name": format!("Paged {i:03}"), "kind": "customer"}))
            .unwrap();
    }
    let children = acronis.child_tenants(&partner).await.unwrap();
    assert_eq!(children.len(), 250);
    let mut ids: Vec<&str> = children.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 250);
    assert_eq!(
        statuses(&sim, "GET", "/api/2/tenants").len(),
        3,
        "three pages of 100"
    );

    let batch = acronis
        .tenants_by_ids(&children.iter().map(|t| t.id.clone()).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(batch.len(), 250);
}

#[tokio::test]
async fn offering_items_are_written_with_current_versions_and_skipped_when_equal() {
    let sim = sim().await;
    let acronis = client(&sim);
    let partner = acronis.client_info().await.unwrap().tenant_id;
    let t = acronis
        .create_tenant(&customer("Quotas", &partner))
        .await
        .unwrap();
    let desired = vec![
        DesiredItem {
            application_id: CYBER_PROTECTION_APP.into(),
            name: "pw_base_servers".into(),
            infra_id: None,
            enabled: true,
            quota: Some(QuotaLimit {
                value: 5,
                overage: Some(0),
            }),
        },
        DesiredItem {
            application_id: CYBER_PROTECTION_APP.into(),
            name: "pw_base_workstations".into(),
            infra_id: None,
            enabled: true,
            quota: None,
        },
    ];
    let first = acronis
        .set_offering_items(&t.id, |_| desired.clone())
        .await
        .unwrap();
    assert_eq!(first.changed.len(), 2);
    assert!(first.unknown.is_empty());

    // Same wish again: nothing written.
    sim.control().clear_requests();
    let again = acronis
        .set_offering_items(&t.id, |_| desired.clone())
        .await
        .unwrap();
    assert!(again.changed.is_empty());
    assert!(statuses(&sim, "PUT", "/offering_items").is_empty());

    // A 426 (stale quota version) makes it re-read and write again.
    let mut more = desired.clone();
    more[0].quota = Some(QuotaLimit {
        value: 8,
        overage: Some(0),
    });
    sim.control().add_fault(fault(
        "PUT",
        "/offering_items",
        1,
        FaultKind::Status {
            status: 426,
            retry_after: None,
            body: Some(json!({"error": {"code": 426, "message": "Upgrade Required"}})),
        },
    ));
    let changed = acronis
        .set_offering_items(&t.id, |_| more.clone())
        .await
        .unwrap();
    assert_eq!(changed.changed.len(), 1);
    assert_eq!(statuses(&sim, "PUT", "/offering_items"), [426, 200]);
    let items = acronis.offering_items(&t.id).await.unwrap();
    let servers = items.iter().find(|i| i.name == "pw_base_servers").unwrap();
    assert_eq!(
        servers.quota.map(|q| (q.value, q.overage)),
        Some((Some(8), Some(0)))
    );
}

#[tokio::test]
async fn pages_alerts_in_updated_order() {
    let sim = sim().await;
    let acronis = client(&sim);
    let partner = acronis.client_info().await.unwrap().tenant_id;
    let t = acronis
        .create_tenant(&customer("Alerted", &partner))
        .await
        .unwrap();
    let start_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    for i in 0..230 {
        let body = json!({"tenant": t.id, "type": "BackupFailed", "details": {"resourceId": format!("r{i}"), "resourceName": format!("srv{i}")}});
        let resp = reqwest::Client::new()
            .post(format!("{}/_sim/alerts", sim.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
    let mut query = AlertQuery {
        updated_since_ns: Some(start_ns),
        show_deleted: true,
        limit: 100,
        ..AlertQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = acronis.alerts_page(&query).await.unwrap();
        let after = page.after().map(str::to_owned);
        seen.extend(page.items);
        match after {
            Some(a) => query.after = Some(a),
            None => break,
        }
    }
    assert_eq!(seen.len(), 230);
    assert!(
        seen.windows(2).all(|w| w[0].updated_at <= w[1].updated_at),
        "ascending updated_at"
    );
}

/// The page size of Acronis reads by id list is not documented (simulator switch
/// `id_list_page_size`): under every setting, every tenant and every usage is read.
#[tokio::test]
async fn reads_by_id_list_are_whole_under_every_page_size() {
    for page_size in [None, Some(1), Some(7), Some(100)] {
        let sim = sim().await;
        sim.set_switches(simulators::acronis::Switches {
            id_list_page_size: page_size,
            ..Default::default()
        });
        let ids: Vec<String> = (0..23)
            .map(|i| {
                sim.seed_tenant(json!({"name": format!("Paged {i}")}))
                    .unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let c = client(&sim);
        let mut got: Vec<String> = c
            .tenants_by_ids(&ids)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        got.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(got, want, "tenants, page size {page_size:?}");
        let usages = c.usages(&ids).await.unwrap();
        assert_eq!(usages.len(), ids.len(), "usages, page size {page_size:?}");

        // Having seen the page size, the client asks that many ids per call, side by side,
        // and follows no cursor: the same whole answer in as many calls, none waiting on
        // another.
        sim.control().clear_requests();
        let again = c.tenants_by_ids(&ids).await.unwrap();
        assert_eq!(again.len(), ids.len(), "page size {page_size:?}");
        let reads: Vec<_> = sim
            .control()
            .requests()
            .into_iter()
            .filter(|r| r.route == "/api/2/tenants")
            .collect();
        let per_call = page_size.unwrap_or(100).min(100);
        assert_eq!(
            reads.len(),
            ids.len().div_ceil(per_call),
            "page size {page_size:?}"
        );
        assert!(
            reads
                .iter()
                .all(|r| !r.query.as_deref().unwrap_or("").contains("after=")),
            "no cursor followed, page size {page_size:?}"
        );
    }
}
