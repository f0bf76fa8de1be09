//! In-process HTTP tests against a simulator on a free loopback port.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn new(sim: &AcronisSim) -> Self {
        Self::new_with_ttl(sim, 7200).await
    }

    async fn new_with_ttl(sim: &AcronisSim, ttl: u64) -> Self {
        let http = reqwest::Client::new();
        let base = sim.url();
        let resp = http
            .post(format!("{base}/api/2/idp/token"))
            .basic_auth("sim-client", Some("sim-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request");
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.expect("token json");
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], ttl);
        let token = body["access_token"].as_str().expect("token").to_owned();
        Self { http, base, token }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("json body")
        };
        (status, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

async fn sim() -> AcronisSim {
    start(
        "127.0.0.1:0".parse().expect("addr"),
        AcronisSimConfig::default(),
    )
    .await
    .expect("simulator starts")
}

#[tokio::test]
async fn token_errors_and_expiry() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/2/idp/token", sim.url());
    let bad = http
        .post(&url)
        .basic_auth("sim-client", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
    let grant = http
        .post(&url)
        .basic_auth("sim-client", Some("sim-secret"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("sent");
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    let body: Value = grant.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_grant_type");

    let c = Client::new(&sim).await;
    let partner = sim.partner_tenant_id().to_owned();
    let (st, client) = c.get("/api/2/clients/sim-client").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(client["tenant_id"], partner.as_str());

    let (st, body) = c.get("/api/2/tenants/nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], 1005);

    sim.expire_tokens();
    let (st, body) = c.get(&format!("/api/2/tenants/{partner}")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "Unauthorized: token is expired");
    assert_eq!(sim.tokens_issued(), 1);

    let no_auth = http
        .get(format!("{}/api/2/tenants/{partner}", sim.url()))
        .send()
        .await
        .expect("sent");
    assert_eq!(no_auth.status(), StatusCode::UNAUTHORIZED);

    // The request log saw the token calls too.
    let counts = sim.control().counts();
    assert_eq!(counts.get("POST /api/2/idp/token"), Some(&3));
}

#[tokio::test]
async fn tenant_lifecycle() {
    let sim = sim().await;
    let c = Client::new(&sim).await;
    let partner = sim.partner_tenant_id().to_owned();
    let create = json!({"name": "Customer, Inc", "kind": "customer", "parent_id": partner,
        "internal_tag": "cw-company-12345", "contact": {"email": "foo.bar@example.com"}});
    let (st, t) = c.post("/api/2/tenants", create.clone()).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(t["version"], 1);
    assert_eq!(t["pricing_mode"], "trial");
    assert_eq!(t["mfa_status"], "disabled");
    assert_eq!(t["language"], "en");
    assert_eq!(t["contact"]["email"], "foo.bar@example.com");
    let id = t["id"].as_str().expect("id").to_owned();

    let (st, dup) = c.post("/api/2/tenants", create).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(dup["error"]["code"], 1004);

    let (st, got) = c.get(&format!("/api/2/tenants/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["name"], "Customer, Inc");

    let (st, put) = c
        .put(
            &format!("/api/2/tenants/{id}"),
            json!({"version": 1, "customer_id": "C-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(put["version"], 2);
    assert_eq!(put["customer_id"], "C-1");

    let (st, stale) = c
        .put(
            &format!("/api/2/tenants/{id}"),
            json!({"version": 1, "enabled": false}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(stale["error"]["code"], 1001);
    let (st, _) = c
        .put(&format!("/api/2/tenants/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let (st, err) = c.delete(&format!("/api/2/tenants/{id}?version=2")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], 1006);
    assert_eq!(
        err["error"]["message"],
        "It is prohibited to delete a non-disabled tenant."
    );

    let (st, _) = c
        .put(
            &format!("/api/2/tenants/{id}"),
            json!({"version": 2, "enabled": false}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, err) = c.delete(&format!("/api/2/tenants/{id}?version=2")).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(err["error"]["code"], 1001);
    let (st, _) = c.delete(&format!("/api/2/tenants/{id}?version=3")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = c.get(&format!("/api/2/tenants/{id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = c
        .get(&format!("/api/2/tenants/{id}?allow_deleted=true"))
        .await;
    assert_eq!(st, StatusCode::OK);

    // Search finds by tag prefix; users.
    let (_, t2) = c
        .post(
            "/api/2/tenants",
            json!({"name": "Acme Widgets", "kind": "customer", "parent_id": partner, "customer_id": "acme-42"}),
        )
        .await;
    let t2id = t2["id"].as_str().expect("id").to_owned();
    let (st, _) = c.get("/api/2/users/check_login?username=johndoe").await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, user) = c
        .post(
            "/api/2/users",
            json!({"tenant_id": t2id, "login": "johndoe", "contact": {"email": "john@acme.test", "firstname": "John"}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(user["activated"], false);
    let uid = user["id"].as_str().expect("id").to_owned();
    let (st, _) = c.get("/api/2/users/check_login?username=JohnDoe").await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, bad) = c
        .post(
            "/api/2/users",
            json!({"tenant_id": t2id, "login": "jd", "contact": {"email": "j@acme.test"}}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["code"], 1033);
    let (st, _) = c
        .post(
            &format!("/api/2/users/{uid}/send-activation-email"),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = c
        .put(
            &format!("/api/2/tenants/{t2id}/mfa/status"),
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, mfa) = c.get(&format!("/api/2/tenants/{t2id}/mfa/status")).await;
    assert_eq!(mfa["mfa_status"], "enabled");
    assert_eq!(mfa["users_count"], 1);

    let (st, found) = c
        .get(&format!("/api/2/search?tenant={partner}&text=acme"))
        .await;
    assert_eq!(st, StatusCode::OK);
    let kinds: Vec<&str> = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["obj_type"].as_str())
        .collect();
    assert_eq!(kinds, ["tenant", "user"]);
    assert_eq!(
        found["items"][0]["path"],
        json!(["Sim Partner", "Acme Widgets"])
    );
    let (st, _) = c
        .get(&format!("/api/2/search?tenant={partner}&text=ac"))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let state = sim.state();
    assert_eq!(state["activation_emails"][0]["login"], "johndoe");
    assert_eq!(state["mfa"][&t2id], true);
}

#[tokio::test]
async fn offering_items_and_usages() {
    let sim = sim().await;
    let c = Client::new(&sim).await;
    let partner = sim.partner_tenant_id().to_owned();
    let (_, avail) = c
        .get(&format!(
            "/api/2/tenants/{partner}/offering_items/available_for_child?kind=customer&edition=*"
        ))
        .await;
    assert_eq!(avail["items"].as_array().map(Vec::len), Some(13));
    let (_, legacy) = c
        .get(&format!("/api/2/tenants/{partner}/offering_items"))
        .await;
    assert_eq!(legacy["items"], json!([]));

    let (_, t) = c
        .post(
            "/api/2/tenants",
            json!({"name": "Quota Co", "kind": "customer", "parent_id": partner}),
        )
        .await;
    let id = t["id"].as_str().expect("id").to_owned();
    let path = format!("/api/2/tenants/{id}/offering_items");
    let (_, items) = c.get(&format!("{path}?edition=*")).await;
    assert!(
        items["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["status"] == 0 && i.get("quota").is_none())
    );
    let enable = json!({"offering_items": [{"application_id": CYBER_PROTECTION_APP,
        "name": "pw_base_servers", "status": 1}]});
    let (st, out) = c.put(&path, enable).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        out["items"][0]["quota"],
        json!({"value": null, "overage": null, "version": 0})
    );
    let set = |version: i64| {
        json!({"offering_items": [{"application_id": CYBER_PROTECTION_APP,
            "name": "pw_base_servers", "status": 1,
            "quota": {"value": 10, "overage": 0, "version": version}}]})
    };
    let (st, out) = c.put(&path, set(0)).await;
    assert_eq!(st, StatusCode::OK);
    let v = out["items"][0]["quota"]["version"]
        .as_i64()
        .expect("version");
    assert!(v > 0);
    let (st, err) = c.put(&path, set(0)).await;
    assert_eq!(st, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(err["error"]["code"], 426);

    sim.set_usage(&id, "pw_base_servers", None, 3)
        .expect("usage");
    let (_, usages) = c
        .get(&format!(
            "/api/2/tenants/usages?tenants={id}&usage_names=servers"
        ))
        .await;
    let u = &usages["items"][0]["usages"][0];
    assert_eq!(usages["items"][0]["tenant"], id.as_str());
    assert_eq!(u["value"], 3);
    assert_eq!(u["absolute_value"], 3);
    assert_eq!(u["offering_item"]["quota"]["version"], v);
    let many: Vec<String> = (0..101).map(|_| id.clone()).collect();
    let (st, _) = c
        .get(&format!("/api/2/tenants/usages?tenants={}", many.join(",")))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tenants_paged() {
    let sim = sim().await;
    let partner = sim.partner_tenant_id().to_owned();
    for i in 0..250 {
        sim.seed_tenant(json!({"name": format!("Tenant {i:03}")}))
            .expect("seeded");
    }
    let c = Client::new(&sim).await;
    let mut seen = Vec::new();
    let mut next = format!("/api/2/tenants?parent_id={partner}&limit=100");
    let mut pages = 0;
    loop {
        let (st, page) = c.get(&next).await;
        assert_eq!(st, StatusCode::OK);
        pages += 1;
        for t in page["items"].as_array().expect("items") {
            seen.push(t["name"].as_str().expect("name").to_owned());
        }
        match page["paging"]["cursors"]["after"].as_str() {
            Some(after) => {
                let enc: String = url::form_urlencoded::byte_serialize(after.as_bytes()).collect();
                next = format!("/api/2/tenants?limit=100&after={enc}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 250);
    assert_eq!(seen[0], "Tenant 000");
    assert_eq!(seen[249], "Tenant 249");
    let (_, kids) = c.get(&format!("/api/2/tenants/{partner}/children")).await;
    assert_eq!(kids["items"].as_array().map(Vec::len), Some(250));
}

#[tokio::test]
async fn alerts_filtered_and_paged() {
    let sim = sim().await;
    let partner = sim.partner_tenant_id().to_owned();
    let raise = |id: &str, kind: &str| RaiseAlert {
        id: Some(id.into()),
        tenant: partner.clone(),
        kind: kind.into(),
        category: None,
        severity: None,
        details: json!({"resourceId": "r1", "resourceName": "pc-1"}),
    };
    let first = sim
        .raise_alert(raise("a0", "BackupFailed"))
        .expect("raised");
    let ts = chrono::DateTime::parse_from_rfc3339(first["updatedAt"].as_str().expect("ts"))
        .expect("rfc3339")
        .timestamp_nanos_opt()
        .expect("ns");
    for i in 1..5 {
        sim.raise_alert(raise(&format!("a{i}"), "BackupCanceled"))
            .expect("raised");
    }
    sim.clear_alert("a2").expect("cleared");

    let c = Client::new(&sim).await;
    let base = "/api/alert_manager/v1/alerts";
    let (_, all) = c.get(&format!("{base}?updated_at=gt({ts})")).await;
    // a1..a4 updated after a0; a2 is dismissed and hidden.
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(all["paging"]["cursors"], json!({}));

    // Walk with show_deleted, two per page; a re-raise mid-walk is not skipped.
    let mut ids = Vec::new();
    let mut next =
        format!("{base}?updated_at=gt({ts})&show_deleted=true&order=asc(updated_at)&limit=2");
    let mut page_no = 0;
    loop {
        let (st, page) = c.get(&next).await;
        assert_eq!(st, StatusCode::OK);
        for a in page["items"].as_array().expect("items") {
            ids.push((
                a["id"].as_str().expect("id").to_owned(),
                a.get("deletedAt").is_some(),
            ));
        }
        page_no += 1;
        if page_no == 1 {
            sim.raise_alert(raise("a4", "BackupCanceled"))
                .expect("re-raised");
        }
        match page["paging"]["cursors"]["after"].as_str() {
            Some(after) => {
                let enc: String = url::form_urlencoded::byte_serialize(after.as_bytes()).collect();
                next = format!("{base}?limit=2&after={enc}");
            }
            None => break,
        }
    }
    let names: Vec<&str> = ids.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(names, ["A1", "A3", "A2", "A4"]);
    assert!(ids[2].1, "a2 carries deletedAt");

    let (st, _) = c.delete(&format!("{base}/a1")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, only) = c.get(&format!("{base}?show_deleted_only=true")).await;
    assert_eq!(only["items"].as_array().map(Vec::len), Some(2));
    let (_, sev) = c.get(&format!("{base}?severity=ge(error)")).await;
    assert_eq!(sev["items"][0]["id"], "A0");
    let (_, types) = c.get("/api/alert_manager/v1/types").await;
    assert_eq!(types["items"].as_array().map(Vec::len), Some(10));
    let (st, _) = c.get(&format!("{base}?updated_at=gt(abc)")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn control_routes_over_http() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let base = sim.url();
    let sim_call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http.request(method, format!("{base}{path}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let resp = sim_call(
        reqwest::Method::PUT,
        "/_sim/token-ttl",
        Some(json!({"secs": 60})),
    )
    .await
    .expect("sent");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let c = Client::new_with_ttl(&sim, 60).await;

    let seeded: Value = sim_call(
        reqwest::Method::POST,
        "/_sim/tenants",
        Some(
            json!({"name": "Seeded", "id": "aaaaaaaa-0000-4000-8000-000000000001",
            "pricing_mode": "production",
            "offering_items": [{"name": "pw_base_storage", "infra_id": INFRA_US, "status": 1,
                "quota": {"value": 1073741824, "overage": null, "version": 0}}]}),
        ),
    )
    .await
    .expect("sent")
    .json()
    .await
    .expect("json");
    let id = seeded["id"].as_str().expect("id").to_owned();
    assert_eq!(id, "aaaaaaaa-0000-4000-8000-000000000001");

    let resp = sim_call(
        reqwest::Method::PUT,
        "/_sim/usage/bulk",
        Some(json!([
            {"tenant": id, "name": "pw_base_storage", "infra_id": INFRA_US, "value": 500, "absolute_value": 700},
            {"tenant": id, "name": "immutable_storage", "infra_id": INFRA_US, "value": 9}
        ])),
    )
    .await
    .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, usages) = c.get(&format!("/api/2/tenants/{id}/usages")).await;
    let items = usages["items"].as_array().expect("items");
    let storage = items
        .iter()
        .find(|u| u["name"] == "pw_base_storage" && u["infra_id"] == INFRA_US)
        .expect("storage usage");
    assert_eq!(storage["absolute_value"], 700);
    assert_eq!(storage["offering_item"]["status"], 1);
    let immutable = items
        .iter()
        .find(|u| u["name"] == "immutable_storage")
        .expect("extra usage");
    assert!(immutable.get("offering_item").is_none());
    assert_eq!(immutable["type"], "infra");

    // Disabling storage with usage fails; switching storage is a business-rule error.
    let path = format!("/api/2/tenants/{id}/offering_items");
    let (st, err) = c
        .put(&path, json!({"offering_items": [{"application_id": CYBER_PROTECTION_APP, "name": "pw_base_storage", "infra_id": INFRA_US, "status": 0}]}))
        .await;
    assert_eq!(
        (st, err["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(1023))
    );
    let (st, err) = c
        .put(&path, json!({"offering_items": [{"application_id": CYBER_PROTECTION_APP, "name": "pw_base_storage", "infra_id": INFRA_EU, "status": 1}]}))
        .await;
    assert_eq!(
        (st, err["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(1027))
    );
    let (_, infra) = c.get(&format!("/api/2/infra/{INFRA_EU}")).await;
    assert_eq!(infra["name"], "Acronis Cloud EU");

    // Pricing.
    let (_, pricing) = c.get(&format!("/api/2/tenants/{id}/pricing")).await;
    assert_eq!(pricing["mode"], "production");
    let v = pricing["version"].as_i64().expect("version");
    let (st, _) = c
        .put(
            &format!("/api/2/tenants/{id}/pricing"),
            json!({"mode": "trial", "version": v}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Alerts over HTTP.
    let alert: Value = sim_call(
        reqwest::Method::POST,
        "/_sim/alerts",
        Some(json!({"tenant": id, "type": "NoBackupForXDays",
            "details": {"resourceId": "r", "resourceName": "db", "daysPassed": 3}})),
    )
    .await
    .expect("sent")
    .json()
    .await
    .expect("json");
    assert_eq!(alert["category"], "Backup");
    assert_eq!(alert["tenant"]["uuid"], id.as_str());
    let aid = alert["id"].as_str().expect("id").to_owned();
    let cleared: Value = sim_call(
        reqwest::Method::DELETE,
        &format!("/_sim/alerts/{aid}"),
        None,
    )
    .await
    .expect("sent")
    .json()
    .await
    .expect("json");
    assert!(cleared.get("deletedAt").is_some());
    assert_eq!(cleared["deletedAt"], cleared["updatedAt"]);

    let resp = sim_call(reqwest::Method::POST, "/_sim/tokens/expire", None)
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (st, _) = c.get(&format!("/api/2/tenants/{id}")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let tokens: Value = sim_call(reqwest::Method::GET, "/_sim/tokens", None)
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(tokens["issued"], 1);
    let state: Value = sim_call(reqwest::Method::GET, "/_sim/state", None)
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(state["tenants"].as_array().map(Vec::len), Some(2));
    assert_eq!(state["alerts"][0]["id"], aid.as_str());
    // Control routes are not logged.
    assert!(
        sim.control()
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/_sim"))
    );
}

#[tokio::test]
async fn users_update_and_delete() {
    let sim = sim().await;
    let c = Client::new(&sim).await;
    let t = sim
        .seed_tenant(json!({"name": "Users Co"}))
        .expect("seeded");
    let tid = t["id"].as_str().expect("id");
    let (_, u) = c
        .post("/api/2/users", json!({"tenant_id": tid, "login": "admin@users.co", "contact": {"email": "admin@users.co"}}))
        .await;
    let uid = u["id"].as_str().expect("id").to_owned();
    let (st, policies) = c
        .put(
            &format!("/api/2/users/{uid}/access_policies"),
            json!({"items": [{"id": "00000000-0000-0000-0000-000000000000",
                "issuer_id": "00000000-0000-0000-0000-000000000000", "role_id": "company_admin",
                "tenant_id": tid, "trustee_id": uid, "trustee_type": "user", "version": 0}]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(policies["items"][0]["role_id"], "company_admin");
    let (_, ids) = c.get(&format!("/api/2/tenants/{tid}/users")).await;
    assert_eq!(ids["items"], json!([uid]));
    let (st, _) = c.delete(&format!("/api/2/users/{uid}?version=1")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, u2) = c
        .put(
            &format!("/api/2/users/{uid}"),
            json!({"version": 1, "enabled": false}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(u2["version"], 2);
    let (st, _) = c.delete(&format!("/api/2/users/{uid}?version=2")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = c
        .get("/api/2/users/check_login?username=admin@users.co")
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}

/// Each class of constraint from the Account Management document (required, length, type,
/// allowed values), answered as Acronis answers: 400 with its `{"error": {...}}` body.
#[tokio::test]
async fn refuses_what_the_spec_refuses_with_the_vendor_error_body() {
    let sim = sim().await;
    let c = Client::new(&sim).await;
    let parent = sim.partner_tenant_id().to_owned();
    let good = json!({"name": "Spec Co", "kind": "customer", "parent_id": parent});
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        if value.is_null() {
            b.as_object_mut().expect("object").remove(field);
        } else {
            b[field] = value;
        }
        b
    };
    for (body, field) in [
        (with("name", Value::Null), "name"),
        (with("parent_id", json!("too-short")), "parent_id"),
        (with("enabled", json!("yes")), "enabled"),
        (with("kind", json!("galaxy")), "kind"),
        (with("contact", json!({"email": 5})), "contact/email"),
    ] {
        let (st, err) = c.post("/api/2/tenants", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(err["error"]["code"], 400, "{err}");
        assert_eq!(err["error"]["details"]["field"], field, "{err}");
        assert_eq!(err["error"]["domain"], "PlatformAccountServer", "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "{err}"
        );
    }
    // A user whose role is not one the document names.
    let (st, t) = c.post("/api/2/tenants", good).await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let (_, u) = c
        .post("/api/2/users", json!({"tenant_id": t["id"], "login": "spec@spec.co", "contact": {"email": "spec@spec.co"}}))
        .await;
    let uid = u["id"].as_str().expect("id");
    let (st, err) = c
        .put(
            &format!("/api/2/users/{uid}/access_policies"),
            json!({"items": [{"id": "00000000-0000-0000-0000-000000000000",
                "issuer_id": "00000000-0000-0000-0000-000000000000", "role_id": "emperor",
                "tenant_id": t["id"], "trustee_id": uid, "trustee_type": "user", "version": 0}]}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["details"]["field"], "items/0/role_id", "{err}");
}
