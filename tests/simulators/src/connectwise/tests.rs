//! In-process HTTP tests against a simulator on a loopback port.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;

async fn sim() -> CwSim {
    start("127.0.0.1:0".parse().expect("addr"), CwSimConfig::default())
        .await
        .expect("simulator starts")
}

/// A client that sends the headers the simulator accepts.
fn client(sim: &CwSim) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        sim.auth_header().parse().expect("header value"),
    );
    headers.insert(
        "clientId",
        sim.config().client_id.parse().expect("header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.expect("JSON body")
}

#[tokio::test]
async fn refuses_bad_credentials_and_missing_client_id() {
    let sim = sim().await;
    let url = format!("{}/company/companies", sim.api_base());
    let plain = reqwest::Client::new();

    let resp = plain.get(&url).send().await.expect("sends");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.connectwise.com+json; version=2025.8"
    );
    assert_eq!(json_of(resp).await["code"], "Unauthorized");

    let resp = plain
        .get(&url)
        .basic_auth("acme+pub", Some("wrong"))
        .header("clientId", &sim.config().client_id)
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let resp = plain
        .get(&url)
        .basic_auth("acme+pub", Some("priv"))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body = json_of(resp).await;
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("clientId"),
        "{body}"
    );

    let resp = plain
        .get(&url)
        .basic_auth("ACME+pub", Some("priv"))
        .header("CLIENTID", &sim.config().client_id)
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::OK);

    // companyinfo needs no credentials; an unknown company is a 404.
    let info = json_of(
        plain
            .get(format!("{}/login/companyinfo/acme", sim.url()))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(info["Codebase"], "v2025_1/");
    assert_eq!(info["IsCloud"], true);
    let resp = plain
        .get(format!("{}/login/companyinfo/other", sim.url()))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let log = sim.control().requests();
    assert_eq!(log[0].route, "/company/companies");
    assert_eq!(log[0].status, 401);
    assert_eq!(
        sim.control().counts().get("GET /company/companies"),
        Some(&4)
    );
    assert_eq!(
        sim.control()
            .counts()
            .get("GET /login/companyinfo/{company}"),
        Some(&2)
    );
}

#[tokio::test]
async fn pages_1500_companies_at_1000_with_link_next() {
    let sim = sim().await;
    let http = client(&sim);
    let companies: Vec<Value> = (1..=1500)
        .map(|i| json!({"name": format!("Company {i}"), "identifier": format!("C{i}")}))
        .collect();
    let seeded = json_of(
        reqwest::Client::new()
            .post(format!("{}/_sim/seed", sim.url()))
            .json(&json!({ "companies": companies }))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(seeded["companies"][1499]["id"], 1500);

    let base = format!("{}/company/companies", sim.api_base());
    let resp = http
        .get(&base)
        .query(&[("pageSize", "1000")])
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::OK);
    let link = resp.headers()["link"].to_str().expect("ascii").to_owned();
    let page1 = json_of(resp).await;
    assert_eq!(page1.as_array().expect("array").len(), 1000);
    assert_eq!(page1[0]["id"], 1);
    let next = link
        .split(", ")
        .find(|l| l.ends_with("rel=\"next\""))
        .and_then(|l| l.strip_prefix('<'))
        .and_then(|l| l.split_once('>'))
        .map(|(u, _)| u.to_owned())
        .expect("a next link");
    assert_eq!(next, format!("{base}?pageSize=1000&page=2"));

    let resp = http.get(&next).send().await.expect("sends");
    let link = resp.headers()["link"].to_str().expect("ascii").to_owned();
    assert!(!link.contains("rel=\"next\""), "{link}");
    assert!(link.contains("rel=\"prev\""), "{link}");
    let page2 = json_of(resp).await;
    assert_eq!(page2.as_array().expect("array").len(), 500);
    assert_eq!(page2[499]["id"], 1500);

    let count = json_of(
        http.get(format!("{base}/count"))
            .query(&[("conditions", "id > 1000 and identifier like \"c1%\"")])
            .send()
            .await
            .expect("sends"),
    )
    .await;
    // 1000 < id: C1001..C1500 all start with "C1".
    assert_eq!(count, json!({"count": 500}));

    let resp = http
        .get(&base)
        .query(&[("pageSize", "1001")])
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(resp).await["code"], "InvalidObject");

    let resp = http
        .get(&base)
        .query(&[("conditions", "name = Acme")])
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = json_of(resp).await;
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("position 7"),
        "{body}"
    );
}

fn seed_service_desk(sim: &CwSim) -> Value {
    sim.seed(json!({
        "companies": [{"name": "Acme Corp", "identifier": "AcmeCorp"}],
        "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}, {"name": "Priority 1 - Critical"}],
        "boards": [
            {"name": "Alerts",
             "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Closed", "closedStatus": true}],
             "types": [{"name": "Backup"}],
             "subtypes": [{"name": "Failed", "typeAssociationIds": [1]}]},
            {"name": "Other", "statuses": [{"name": "Open", "defaultFlag": true}]}
        ]
    }))
    .expect("seeds")
}

#[tokio::test]
async fn ticket_validation_and_lifecycle() {
    let sim = sim().await;
    let seeded = seed_service_desk(&sim);
    assert_eq!(seeded["boards"][1]["statuses"][0]["id"], 3);
    let http = client(&sim);
    let url = format!("{}/service/tickets", sim.api_base());

    let resp = http
        .post(&url)
        .json(&json!({"summary": "x".repeat(101), "board": {"id": 1}, "company": {"id": 1}}))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = json_of(resp).await;
    assert_eq!(body["code"], "InvalidObject");
    assert_eq!(body["errors"][0]["code"], "InvalidField");
    assert_eq!(body["errors"][0]["field"], "summary");

    let resp = http
        .post(&url)
        .json(
            &json!({"summary": "s", "board": {"id": 1}, "company": {"id": 1}, "status": {"id": 3}}),
        )
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(resp).await["errors"][0]["field"], "status");

    let resp = http
        .post(&url)
        .json(&json!({"summary": "s", "board": {"id": 1}}))
        .send()
        .await
        .expect("sends");
    let body = json_of(resp).await;
    assert_eq!(body["errors"][0]["code"], "MissingRequiredField");
    assert_eq!(body["errors"][0]["field"], "company");

    let resp = http
        .post(&url)
        .json(&json!({
            "summary": "Backup failed", "board": {"id": 1}, "company": {"id": 1},
            "type": {"id": 1}, "subType": {"id": 1}, "externalXRef": "alert-42",
            "initialDescription": "details"
        }))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let ticket = json_of(resp).await;
    assert_eq!(ticket["status"], json!({"id": 1, "name": "New"}));
    assert_eq!(ticket["company"]["identifier"], "AcmeCorp");
    assert_eq!(ticket["priority"]["name"], "Priority 3 - Normal");
    assert_eq!(ticket["closedFlag"], false);
    assert!(ticket.get("initialDescription").is_none());
    let id = ticket["id"].as_i64().expect("id");

    let found = json_of(
        http.get(&url)
            .query(&[(
                "conditions",
                "externalXRef=\"ALERT-42\" and closedFlag=false",
            )])
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(found.as_array().expect("array").len(), 1);

    let closed = json_of(
        http.patch(format!("{url}/{id}"))
            .json(&json!([{"op": "replace", "path": "/status", "value": {"id": 2}}]))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(closed["closedFlag"], true);
    assert_eq!(closed["status"]["name"], "Closed");
    assert!(closed["closedDate"].is_string());

    let resp = http
        .patch(format!("{url}/{id}"))
        .json(&json!({"op": "replace", "path": "summary", "value": "x"}))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let resp = http
        .post(format!("{url}/{id}/notes"))
        .json(&json!({"text": "again", "internalAnalysisFlag": true}))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let notes = json_of(
        http.get(format!("{url}/{id}/notes"))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(notes[0]["text"], "details");
    assert_eq!(notes[0]["detailDescriptionFlag"], true);
    assert_eq!(notes[1]["internalAnalysisFlag"], true);

    let resp = http.get(format!("{url}/999")).send().await.expect("sends");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(resp).await["message"], "Ticket 999 not found");
}

#[tokio::test]
async fn catalog_and_additions() {
    let sim = sim().await;
    sim.seed(json!({
        "categories": [{"name": "Cloud"}],
        "subcategories": [{"name": "Backup", "category": {"id": 1}}],
        "types": [{"name": "Service"}],
        "companies": [{"name": "Acme"}],
        "agreements": [{"name": "MSA", "company": {"id": 1}}]
    }))
    .expect("seeds");
    let http = client(&sim);
    let api = sim.api_base();
    let item = json!({"identifier": "ACR-BACKUP", "description": "Backup", "customerDescription": "Backup",
                      "subcategory": {"id": 1}, "type": {"id": 1}, "price": 5.0});
    let resp = http
        .post(format!("{api}/procurement/catalog"))
        .json(&item)
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created = json_of(resp).await;
    assert_eq!(created["category"], json!({"id": 1, "name": "Cloud"}));
    let mut dup = item.clone();
    dup["identifier"] = json!("acr-backup");
    let body = json_of(
        http.post(format!("{api}/procurement/catalog"))
            .json(&dup)
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "ObjectExists");
    let body = json_of(
        http.post(format!("{api}/procurement/catalog"))
            .json(&json!({"identifier": "X", "description": "d", "subcategory": {"id": 1}, "type": {"id": 1}}))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "customerDescription");

    let additions = format!("{api}/finance/agreements/1/additions");
    let body = json_of(
        http.post(&additions)
            .json(&json!({"product": {"id": 99}, "billCustomer": "Billable"}))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "InvalidField");
    let resp = http
        .post(&additions)
        .json(&json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": 3}))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let addition = json_of(resp).await;
    assert_eq!(
        addition["product"],
        json!({"id": 1, "identifier": "ACR-BACKUP"})
    );
    assert_eq!(addition["unitPrice"], 5.0);
    let patched = json_of(
        http.patch(format!("{additions}/{}", addition["id"]))
            .json(&json!([{"op": "replace", "path": "quantity", "value": 7}]))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(patched["quantity"], 7);
    let found = json_of(
        http.get(&additions)
            .query(&[(
                "conditions",
                "product/identifier=\"ACR-BACKUP\" and cancelledDate=null",
            )])
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(found[0]["quantity"], 7);
    let count = json_of(
        http.get(format!("{additions}/count"))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(count["count"], 1);
}

type Received = (HeaderMap, Bytes);

async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel::<Received>();
    // Any path: ConnectWise adds the record id to the registered URL (`/hook` + id).
    let app = Router::new()
        .route(
            "/{*path}",
            post(
                |State(tx): State<mpsc::UnboundedSender<Received>>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let _ = tx.send((headers, body));
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

async fn next_delivery(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a callback arrives in time")
        .expect("channel open")
}

#[tokio::test]
async fn delivers_signed_callbacks() {
    let sim = sim().await;
    sim.seed(json!({"companies": [{"name": "Acme", "identifier": "Acme"}], "catalog": [{"identifier": "P1"}]}))
        .expect("seeds");
    let http = client(&sim);
    let (hook, mut rx) = receiver().await;

    let bad = json_of(
        http.post(format!("{}/system/callbacks", sim.api_base()))
            .json(&json!({"url": hook, "objectId": 1, "type": "company", "level": "board"}))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .expect("message")
            .starts_with("Unrecognized level for type")
    );

    let resp = http
        .post(format!("{}/system/callbacks", sim.api_base()))
        .json(&json!({"url": hook, "objectId": 1, "type": "company", "level": "owner"}))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cb = json_of(resp).await;
    assert_eq!(cb["payloadVersion"], "3.0.0");
    assert_eq!(cb["isSelfSuppressedFlag"], false);
    http.post(format!("{}/system/callbacks", sim.api_base()))
        .json(&json!({"url": hook, "objectId": 1, "type": "Agreement", "level": "Company"}))
        .send()
        .await
        .expect("sends");

    // A "UI" change fires company/updated.
    let resp = reqwest::Client::new()
        .patch(format!("{}/_sim/companies/1", sim.url()))
        .json(&json!({"name": "Acme Renamed"}))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::OK);
    let (headers, body) = next_delivery(&mut rx).await;
    let payload: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(payload["Action"], "updated");
    assert_eq!(payload["Type"], "company");
    assert_eq!(payload["ID"], 1);
    assert_eq!(payload["CompanyId"], "acme");
    assert_eq!(payload["CallbackObjectRecId"], cb["id"]);
    let entity: Value =
        serde_json::from_str(payload["Entity"].as_str().expect("Entity is a string"))
            .expect("JSON");
    assert_eq!(entity["name"], "Acme Renamed");

    // Verify the signature the way a receiver would: fetch the key, HMAC the raw body.
    let key_url = payload["Metadata"]["key_url"].as_str().expect("key_url");
    assert!(key_url.starts_with(&format!(
        "{}/v2025_1/system/callbackkey/index.rails?id=",
        sim.url()
    )));
    let key = json_of(reqwest::get(key_url).await.expect("sends")).await;
    let signing_key = key["signing_key"].as_str().expect("signing_key");
    let expected = sign(signing_key, &body);
    assert_eq!(
        headers["x-content-signature"].to_str().expect("ascii"),
        expected
    );
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        sim.control()
            .requests()
            .iter()
            .any(|r| r.route == "/v2025_1/system/callbackkey/index.rails" && r.status == 200)
    );

    // An agreement-level callback at company level fires for an addition change via the API.
    let agreement = reqwest::Client::new()
        .post(format!("{}/_sim/agreements", sim.url()))
        .json(&json!({"name": "MSA", "company": {"id": 1}}))
        .send()
        .await
        .expect("sends");
    assert_eq!(agreement.status(), StatusCode::CREATED);
    let (_, body) = next_delivery(&mut rx).await;
    let payload: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        (payload["Type"].as_str(), payload["Action"].as_str()),
        (Some("agreement"), Some("added"))
    );
    http.post(format!("{}/finance/agreements/1/additions", sim.api_base()))
        .json(&json!({"product": {"id": 1}, "billCustomer": "Billable", "quantity": 2}))
        .send()
        .await
        .expect("sends");
    let (_, body) = next_delivery(&mut rx).await;
    let payload: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        (payload["Type"].as_str(), payload["Action"].as_str()),
        (Some("agreement"), Some("updated"))
    );

    // Outbox, redelivery and suppression.
    let sent = sim.sent_callbacks();
    assert_eq!(sent.len(), 3);
    let first = sent[0].message_id.clone();
    let redelivered = json_of(
        reqwest::Client::new()
            .post(format!(
                "{}/_sim/callbacks/sent/{first}/redeliver",
                sim.url()
            ))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(redelivered["status"], 204);
    let (headers, body2) = next_delivery(&mut rx).await;
    assert_eq!(body2, Bytes::from(sent[0].body.clone()));
    assert_eq!(
        headers["x-content-signature"].to_str().expect("ascii"),
        sent[0].signature
    );

    sim.set_delivery(false);
    reqwest::Client::new()
        .delete(format!("{}/_sim/companies/1", sim.url()))
        .send()
        .await
        .expect("sends");
    let sent = sim.sent_callbacks();
    assert_eq!(sent.len(), 4);
    assert!(sent[3].suppressed);
    assert_eq!(sent[3].action, "deleted");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err()
    );
    let resp = http
        .get(format!("{}/company/companies/1", sim.api_base()))
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(resp).await["message"], "Company 1 not found");
}

#[tokio::test]
async fn generates_bulk_data_quickly() {
    let sim = sim().await;
    sim.seed(json!({"catalog": [{"identifier": "P1", "price": 2.0}, {"identifier": "P2"}]}))
        .expect("seeds");
    let started = std::time::Instant::now();
    let ranges = json_of(
        reqwest::Client::new()
            .post(format!("{}/_sim/generate", sim.url()))
            .json(&json!({"companies": 2000, "agreements_per_company": 1, "additions_per_agreement": 2, "product_ids": [1, 2]}))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        ranges["companies"],
        json!({"first": 1, "last": 2000, "count": 2000})
    );
    assert_eq!(ranges["additions"]["count"], 4000);
    let http = client(&sim);
    let company = json_of(
        http.get(format!("{}/company/companies/7", sim.api_base()))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    let contact_id = company["defaultContact"]["id"]
        .as_i64()
        .expect("default contact");
    let contact = json_of(
        http.get(format!("{}/company/contacts/{contact_id}", sim.api_base()))
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(
        contact["communicationItems"][0]["communicationType"],
        "Email"
    );
    assert_eq!(contact["communicationItems"][0]["type"]["name"], "Email");
    assert_eq!(contact["company"]["id"], 7);
    let agreements = json_of(
        http.get(format!("{}/finance/agreements", sim.api_base()))
            .query(&[("conditions", "company/id=7 and agreementStatus=\"Active\"")])
            .send()
            .await
            .expect("sends"),
    )
    .await;
    assert_eq!(agreements.as_array().expect("array").len(), 1);
    assert_eq!(sim.state()["outbox"], json!([]));
    assert!(sim.sent_callbacks().is_empty());
}

/// Each class of constraint from the vendor's OpenAPI (length, required, type, enum) on the
/// POST, PUT and PATCH the product sends, answered as ConnectWise answers: 400, the vendor
/// content type, `{code: InvalidObject, message, errors: [{code, message, resource, field}]}`.
#[tokio::test]
async fn refuses_what_the_spec_refuses_with_the_vendor_error_body() {
    let sim = sim().await;
    sim.seed(json!({
        "subcategories": [{"name": "Backup"}], "types": [{"name": "Service"}],
        "companies": [{"id": 1, "identifier": "C1", "name": "Co 1"}],
        "catalog": [{"id": 500, "identifier": "ACR-S", "description": "servers", "customerDescription": "s",
                     "subcategory": {"id": 1}, "type": {"id": 1}}],
        "agreements": [{"id": 10, "name": "A", "company": {"id": 1}, "agreementStatus": "Active"}],
        "additions": [{"id": 100, "agreementId": 10, "product": {"id": 500}, "quantity": 1, "billCustomer": "Billable"}]
    }))
    .expect("seed");
    let http = client(&sim);
    let api = sim.api_base();
    let good = json!({"identifier": "ACR-1", "description": "Acronis servers", "customerDescription": "x",
                      "subcategory": {"id": 1}, "type": {"id": 1}, "productClass": "Service"});
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        if value.is_null() {
            b.as_object_mut().expect("object").remove(field);
        } else {
            b[field] = value;
        }
        b
    };
    let cases = [
        (
            "POST",
            format!("{api}/procurement/catalog"),
            with("description", json!("x".repeat(61))),
            "InvalidField",
            "description",
            "catalogItem",
        ),
        (
            "POST",
            format!("{api}/procurement/catalog"),
            with("identifier", Value::Null),
            "MissingRequiredField",
            "identifier",
            "catalogItem",
        ),
        (
            "POST",
            format!("{api}/procurement/catalog"),
            with("inactiveFlag", json!("no")),
            "InvalidField",
            "inactiveFlag",
            "catalogItem",
        ),
        (
            "POST",
            format!("{api}/procurement/catalog"),
            with("productClass", json!("Gadget")),
            "InvalidField",
            "productClass",
            "catalogItem",
        ),
        (
            "POST",
            format!("{api}/finance/agreements/10/additions"),
            json!({"product": {"id": 500}, "billCustomer": "Sometimes"}),
            "InvalidField",
            "billCustomer",
            "addition",
        ),
        (
            "PUT",
            format!("{api}/finance/agreements/10/additions/100"),
            json!({"product": {"id": 500}}),
            "MissingRequiredField",
            "billCustomer",
            "addition",
        ),
        (
            "PATCH",
            format!("{api}/finance/agreements/10/additions/100"),
            json!([{"op": "replace", "path": "quantity", "value": "five"}]),
            "InvalidField",
            "quantity",
            "addition",
        ),
        (
            "POST",
            format!("{api}/system/callbacks"),
            json!({"url": "http://x", "objectId": 1, "type": "company", "level": "owner", "description": "d".repeat(101)}),
            "InvalidField",
            "description",
            "callbackEntry",
        ),
    ];
    for (method, url, body, code, field, resource) in cases {
        let resp = http
            .request(method.parse().expect("method"), &url)
            .json(&body)
            .send()
            .await
            .expect("sends");
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "{method} {url} {body}"
        );
        assert_eq!(
            resp.headers()["content-type"],
            "application/vnd.connectwise.com+json; version=2025.8"
        );
        let got = json_of(resp).await;
        assert_eq!(got["code"], "InvalidObject", "{got}");
        assert_eq!(
            got["message"],
            format!("{resource} object is invalid"),
            "{got}"
        );
        let e = &got["errors"][0];
        assert_eq!(
            (e["code"].as_str(), e["field"].as_str()),
            (Some(code), Some(field)),
            "{got}"
        );
        assert_eq!(e["resource"], resource, "{got}");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{got}"
        );
    }
    // The good body passes (nothing was stored by the refused ones).
    let resp = http
        .post(format!("{api}/procurement/catalog"))
        .json(&good)
        .send()
        .await
        .expect("sends");
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn answers_429_with_retry_after_and_the_documented_body_over_the_rate_limit() {
    let sim = sim().await;
    sim.set_switches(CwSwitches {
        rate_limit_per_minute: Some(3),
        ..CwSwitches::default()
    });
    let url = format!("{}/company/companies", sim.api_base());
    let http = client(&sim);
    for _ in 0..3 {
        let resp = http.get(&url).send().await.expect("sends");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = http.get(&url).send().await.expect("sends");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let body = json_of(resp).await;
    assert_eq!(body["error"], "ConnectWiseAPI");
    assert_eq!(
        body["message"],
        format!("Too many requests. Please try again in {wait} seconds.")
    );
    assert_eq!(sim.rate(), (3, 1));
}
