//! The ConnectWise client against the ConnectWise simulator.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use integration_tests::fast_transport;
use secrecy::SecretString;
use serde_json::json;
use shared::connectwise::models::{NewAddition, NewTicket, Reference};
use shared::connectwise::{Conditions, ConnectWiseClient, CwError, ListQuery};
use shared::secrets::ConnectWiseCredentials;
use simulators::connectwise::{CwSim, CwSimConfig};
use simulators::{FaultKind, FaultRule};

async fn sim() -> CwSim {
    simulators::connectwise::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        CwSimConfig::default(),
    )
    .await
    .unwrap()
}

fn creds(sim: &CwSim, private_key: &str) -> ConnectWiseCredentials {
    ConnectWiseCredentials {
        private_key: SecretString::from(private_key.to_owned()),
        ..integration_tests::cw_credentials(sim)
    }
}

async fn client(sim: &CwSim) -> ConnectWiseClient {
    ConnectWiseClient::connect(
        &creds(sim, &sim.config().private_key),
        fast_transport(4, Duration::from_secs(5)),
    )
    .await
    .unwrap()
}

fn fault(method: &str, path: &str, times: u32, fault: FaultKind) -> FaultRule {
    FaultRule {
        method: Some(method.into()),
        path_contains: Some(path.into()),
        times: Some(times),
        fault,
    }
}

fn requests_to(sim: &CwSim, method: &str, route: &str) -> Vec<simulators::RequestRecord> {
    sim.control()
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.route == route)
        .collect()
}

#[tokio::test]
async fn discovers_the_codebase_and_pages_past_1000() {
    let sim = sim().await;
    let companies: Vec<_> = (1..=2345)
        .map(|i| json!({"identifier": format!("C{i}"), "name": format!("Company {i}")}))
        .collect();
    sim.seed(json!({ "companies": companies })).unwrap();

    // Built without a request: the codebase is discovered on first use, once for all clones.
    let cw = ConnectWiseClient::new(
        &creds(&sim, &sim.config().private_key),
        fast_transport(4, Duration::from_secs(5)),
    )
    .unwrap();
    assert!(requests_to(&sim, "GET", "/login/companyinfo/{company}").is_empty());
    let clone = cw.clone();
    let all = cw.companies(&ListQuery::default()).await.unwrap();
    let base = clone.base_url().await.unwrap();
    assert!(base.as_str().ends_with("/v2025_1/apis/3.0/"), "{base}");
    assert_eq!(all.len(), 2345);
    let mut ids: Vec<i64> = all.iter().map(|c| c.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 2345, "no record read twice");

    let pages = requests_to(&sim, "GET", "/company/companies");
    assert_eq!(pages.len(), 3);
    assert!(
        pages
            .iter()
            .all(|r| r.query.as_deref().unwrap_or("").contains("pageSize=1000"))
    );
    assert_eq!(
        requests_to(&sim, "GET", "/login/companyinfo/{company}").len(),
        1
    );
}

#[tokio::test]
async fn conditions_quote_strings_and_dates() {
    let sim = sim().await;
    sim.seed(json!({"companies": [
        {"identifier": "Q1", "name": "Acme \"Best\" Backup"},
        {"identifier": "Q2", "name": "Acme Best Backup"},
        {"identifier": "Q3", "name": "C:\\Share Ltd"}
    ]}))
    .unwrap();
    let cw = client(&sim).await;
    let hit = cw
        .companies(&ListQuery::conditions(
            Conditions::new().eq("name", "Acme \"Best\" Backup"),
        ))
        .await
        .unwrap();
    assert_eq!(
        hit.iter()
            .map(|c| c.identifier.as_deref().unwrap())
            .collect::<Vec<_>>(),
        ["Q1"]
    );
    let hit = cw
        .companies(&ListQuery::conditions(
            Conditions::new().eq("name", "C:\\Share Ltd"),
        ))
        .await
        .unwrap();
    assert_eq!(hit.len(), 1);
    let since = Utc::now() - chrono::Duration::hours(1);
    let recent = cw
        .companies(&ListQuery::conditions(
            Conditions::new().gt("_info/lastUpdated", since),
        ))
        .await
        .unwrap();
    assert_eq!(recent.len(), 3);
    let future = cw
        .companies(&ListQuery::conditions(
            Conditions::new().gt("_info/lastUpdated", Utc::now() + chrono::Duration::hours(1)),
        ))
        .await
        .unwrap();
    assert!(future.is_empty());
}

#[tokio::test]
async fn waits_out_a_429_retry_after() {
    let sim = sim().await;
    let cw = client(&sim).await;
    sim.control().add_fault(fault(
        "GET",
        "/company/companies",
        1,
        FaultKind::Status {
            status: 429,
            retry_after: Some(2),
            body: None,
        },
    ));
    cw.companies(&ListQuery::default()).await.unwrap();
    let seen = requests_to(&sim, "GET", "/company/companies");
    assert_eq!(
        seen.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let waited = seen[1].at_ms - seen[0].at_ms;
    assert!(
        waited >= 2000,
        "retried after {waited} ms, before Retry-After"
    );
}

#[tokio::test]
async fn retries_5xx_then_surfaces_a_typed_error() {
    let sim = sim().await;
    let cw = client(&sim).await;
    sim.control().add_fault(fault(
        "GET",
        "/company/companies/",
        100,
        FaultKind::Status {
            status: 503,
            retry_after: None,
            body: Some(json!({"code": "ServiceUnavailable", "message": "maintenance"})),
        },
    ));
    let err = cw.company(1).await.unwrap_err();
    match &err {
        CwError::Api {
            status,
            code,
            message,
            attempts,
            ..
        } => {
            assert_eq!(
                (*status, code.as_str(), message.as_str(), *attempts),
                (503, "ServiceUnavailable", "maintenance", 4)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    assert_eq!(requests_to(&sim, "GET", "/company/companies/{id}").len(), 4);

    // Once the outage ends, a 502 is retried through.
    sim.control().clear_faults();
    sim.seed(json!({"companies": [{"identifier": "A", "name": "A"}]}))
        .unwrap();
    sim.control().add_fault(fault(
        "GET",
        "/company/companies/",
        1,
        FaultKind::Status {
            status: 502,
            retry_after: None,
            body: None,
        },
    ));
    let id = cw.companies(&ListQuery::default()).await.unwrap()[0].id;
    assert_eq!(cw.company(id).await.unwrap().name.as_deref(), Some("A"));
}

#[tokio::test]
async fn a_post_is_never_retried_blind() {
    let sim = sim().await;
    let seeded = sim
        .seed(json!({
            "companies": [{"identifier": "T", "name": "T"}],
            "boards": [{"name": "Backup", "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Closed", "closedStatus": true}]}]
        }))
        .unwrap();
    let company = seeded["companies"][0]["id"].as_i64().unwrap();
    let board = seeded["boards"][0]["id"].as_i64().unwrap();
    let transport = fast_transport(4, Duration::from_millis(500));
    let cw = ConnectWiseClient::connect(&creds(&sim, "priv"), transport)
        .await
        .unwrap();
    let ticket = NewTicket {
        summary: "[machine:srv1] Backup failed".into(),
        board: Reference::id(board),
        company: Reference::id(company),
        status: None,
        ticket_type: None,
        sub_type: None,
        priority: None,
        external_x_ref: Some("tenant/BackupFailed/srv1".into()),
        initial_description: Some("details".into()),
    };

    // A 503 on a POST may have been applied: surfaced after one attempt.
    sim.control().add_fault(fault(
        "POST",
        "/service/tickets",
        1,
        FaultKind::Status {
            status: 503,
            retry_after: None,
            body: None,
        },
    ));
    let err = cw.create_ticket(&ticket).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(requests_to(&sim, "POST", "/service/tickets").len(), 1);

    // Created, but the answer comes too late: a timeout, one POST, one ticket.
    sim.control().clear_requests();
    sim.control().add_fault(fault(
        "POST",
        "/service/tickets",
        1,
        FaultKind::SlowAfterHandling { ms: 1500 },
    ));
    let err = cw.create_ticket(&ticket).await.unwrap_err();
    assert!(matches!(err, CwError::Timeout { .. }), "{err:?}");
    assert_eq!(requests_to(&sim, "POST", "/service/tickets").len(), 1);
    let found = cw
        .tickets(&ListQuery::conditions(
            Conditions::new().eq("externalXRef", "tenant/BackupFailed/srv1"),
        ))
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        1,
        "the lookup finds the ticket the timed-out POST created"
    );

    // A 429 was refused unprocessed: even a POST is retried.
    sim.control().clear_requests();
    sim.control().add_fault(fault(
        "POST",
        "/service/tickets",
        1,
        FaultKind::Status {
            status: 429,
            retry_after: Some(0),
            body: None,
        },
    ));
    cw.create_ticket(&ticket).await.unwrap();
    assert_eq!(
        requests_to(&sim, "POST", "/service/tickets")
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [429, 201]
    );
}

#[tokio::test]
async fn malformed_bodies_and_dropped_connections_are_typed() {
    let sim = sim().await;
    let cw = client(&sim).await;
    sim.control().add_fault(fault(
        "GET",
        "/company/companies",
        1,
        FaultKind::MalformedBody,
    ));
    let err = cw.companies(&ListQuery::default()).await.unwrap_err();
    assert!(matches!(err, CwError::Decode { .. }), "{err:?}");

    // A GET whose connection drops is retried.
    sim.control()
        .add_fault(fault("GET", "/company/companies", 1, FaultKind::Drop));
    assert!(cw.companies(&ListQuery::default()).await.is_ok());
    assert_eq!(requests_to(&sim, "GET", "/company/companies").len(), 3);
}

#[tokio::test]
async fn bad_keys_and_unknown_records_are_typed_errors() {
    let sim = sim().await;
    let bad = ConnectWiseClient::connect(
        &creds(&sim, "wrong"),
        fast_transport(2, Duration::from_secs(5)),
    )
    .await
    .unwrap();
    let err = bad.companies(&ListQuery::default()).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(
        !format!("{err} {err:?}").contains("wrong"),
        "the key leaked: {err:?}"
    );

    let cw = client(&sim).await;
    let err = cw.company(424242).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("NotFound"), "{err}");
}

#[tokio::test]
async fn patches_an_addition_quantity() {
    let sim = sim().await;
    let seeded = sim
        .seed(json!({
            "companies": [{"identifier": "P", "name": "P"}],
            "catalog": [{"identifier": "ACR-SERVERS", "description": "Servers", "customerDescription": "Servers",
                         "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}}],
        }))
        .unwrap();
    let company = seeded["companies"][0]["id"].as_i64().unwrap();
    let product = seeded["catalog"][0]["id"].as_i64().unwrap();
    let seeded = sim
        .seed(json!({"agreements": [{"name": "Backup", "company": {"id": company}, "agreementStatus": "Active"}]}))
        .unwrap();
    let agreement = seeded["agreements"][0]["id"].as_i64().unwrap();
    let cw = client(&sim).await;
    let added = cw
        .create_addition(
            agreement,
            &NewAddition {
                product: Reference::id(product),
                quantity: 1.0,
                bill_customer: "Billable".into(),
                effective_date: None,
                description: None,
            },
        )
        .await
        .unwrap();
    let patched = cw
        .set_addition_quantity(agreement, added.id, 12.5)
        .await
        .unwrap();
    assert_eq!(patched.quantity, Some(12.5));
    assert_eq!(
        cw.addition(agreement, added.id).await.unwrap().quantity,
        Some(12.5)
    );
    let all = cw
        .additions(agreement, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}

/// Whether ConnectWise answers refused credentials with 401 or 404 is unconfirmed (simulator
/// switch `bad_credentials_status`): under both, refused credentials are a 401-class error,
/// never "not found", and a record that is really gone is still "not found".
#[tokio::test]
async fn refused_credentials_are_never_read_as_a_missing_record() {
    for status in [401, 404] {
        let sim = sim().await;
        sim.set_switches(simulators::connectwise::CwSwitches {
            bad_credentials_status: status,
            ..Default::default()
        });
        sim.seed(json!({"companies": [{"id": 1, "identifier": "C1", "name": "Co 1"}]}))
            .unwrap();
        let mut with_codebase = creds(&sim, "wrong");
        with_codebase.codebase = Some("v2025_1/".into());
        let bad = ConnectWiseClient::new(&with_codebase, fast_transport(2, Duration::from_secs(5)))
            .unwrap();
        let err = bad.company(1).await.unwrap_err();
        assert!(!err.is_not_found(), "{status}: {err}");
        assert_eq!(err.status(), Some(401), "{status}: {err}");
        assert!(!err.is_transient(), "{status}: {err}");
        // With good credentials, a deleted company is still a 404.
        let good = client(&sim).await;
        assert!(
            good.company(404_404).await.unwrap_err().is_not_found(),
            "{status}"
        );
    }
}
