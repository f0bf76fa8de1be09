//! Acronis-specific `/_sim/` control routes (never logged, never faulted, no auth).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::state::{ApiError, ApiResult, Reply, Shared, SimState, now_ms, ok, parse_body};
use super::{alerts, catalog};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_sim/token-ttl", put(token_ttl))
        .route("/_sim/switches", get(switches).put(set_switches))
        .route("/_sim/tokens/expire", post(expire_tokens))
        .route("/_sim/tokens", get(tokens))
        .route("/_sim/catalog", post(catalog::sim_catalog))
        .route("/_sim/tenants", post(seed_tenants))
        .route("/_sim/usage", put(catalog::sim_usage))
        .route("/_sim/usage/bulk", put(catalog::sim_usage_bulk))
        .route("/_sim/alerts", post(alerts::sim_raise))
        .route("/_sim/alerts/{id}", delete(alerts::sim_clear))
        .route("/_sim/alert-types", post(alerts::sim_types))
        .route("/_sim/state", get(state))
}

async fn switches(State(app): State<Shared>) -> Json<Value> {
    Json(json!(app.lock().switches))
}

/// `PUT /_sim/switches` with the whole set (absent fields: the default).
async fn set_switches(State(app): State<Shared>, body: Bytes) -> Reply {
    let switches: super::state::Switches = serde_json::from_value(parse_body(&body)?)
        .map_err(|e| ApiError::bad_request(format!("invalid switches: {e}")))?;
    app.lock().switches = switches.clone();
    ok(json!(switches))
}

async fn token_ttl(State(app): State<Shared>, body: Bytes) -> ApiResult<StatusCode> {
    let body = parse_body(&body)?;
    let secs = body
        .get("secs")
        .and_then(Value::as_u64)
        .ok_or_else(|| ApiError::bad_request("secs (unsigned integer) is required"))?;
    app.lock().token_ttl_secs = secs;
    Ok(StatusCode::NO_CONTENT)
}

impl SimState {
    pub fn expire_tokens(&mut self) {
        let now = now_ms();
        for t in self.tokens.values_mut() {
            t.expires_at_ms = t.expires_at_ms.min(now);
        }
    }

    /// Seeds one tenant: the `POST /tenants` body plus optional `id`, and `offering_items`
    /// (as in the offering-items PUT, applied without version checks). `parent_id` defaults
    /// to the partner and `kind` to `customer`. Returns the tenant object.
    pub fn seed_tenant(&mut self, spec: &Value) -> ApiResult<Value> {
        let mut body = spec.clone();
        let obj = body
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("a tenant must be a JSON object"))?;
        obj.entry("parent_id")
            .or_insert_with(|| json!(self.partner_id()));
        obj.entry("kind").or_insert_with(|| json!("customer"));
        let forced = obj.get("id").and_then(Value::as_str).map(str::to_owned);
        let id = self.create_tenant(&body, forced)?;
        if let Some(items) = spec.get("offering_items") {
            self.put_offering_items(&id, &json!({ "offering_items": items }), false)?;
        }
        if let Some(mode) = spec.get("pricing_mode").and_then(Value::as_str) {
            let t = self.tenant_mut(&id)?;
            t.pricing_mode = mode.to_owned();
            if mode != "trial" {
                t.production_start_date = Some(t.created_at);
            }
        }
        let t = self.tenant(&id)?;
        Ok(self.tenant_json(t))
    }

    /// Everything, for assertions: tenants (incl. deleted) with offering items and usages,
    /// users with access policies, activation e-mails, alerts, token counts.
    pub fn snapshot(&self) -> Value {
        let tenants: Vec<Value> = self
            .tenants
            .iter()
            .map(|t| {
                let mut j = self.tenant_json(t);
                j["legacy_id"] = json!(t.legacy_id);
                j["mfa_enabled"] = json!(t.mfa_enabled);
                j["offering_items"] = Value::Array(
                    t.offering_items
                        .iter()
                        .map(catalog::OfferingItem::to_json)
                        .collect(),
                );
                j["usages"] = json!(t.usages);
                j
            })
            .collect();
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|u| {
                let mut j = self.user_json(u);
                j["deleted"] = json!(u.deleted);
                j["access_policies"] = json!(u.access_policies);
                j
            })
            .collect();
        let mfa: serde_json::Map<String, Value> = self
            .tenants
            .iter()
            .map(|t| (t.id.clone(), json!(t.mfa_enabled)))
            .collect();
        let alerts: Vec<Value> = self.alerts.iter().map(|a| self.alert_json(a)).collect();
        json!({
            "partner_tenant_id": self.partner_id(),
            "token_ttl_secs": self.token_ttl_secs,
            "tokens_issued": self.tokens_issued,
            "tenants": tenants,
            "users": users,
            "activation_emails": self.activation_emails,
            "mfa": mfa,
            "catalog": self.catalog,
            "alerts": alerts,
            "alert_types": self.alert_types,
        })
    }
}

async fn expire_tokens(State(app): State<Shared>) -> StatusCode {
    app.lock().expire_tokens();
    StatusCode::NO_CONTENT
}

async fn tokens(State(app): State<Shared>) -> Json<Value> {
    Json(json!({ "issued": app.lock().tokens_issued }))
}

/// `POST /_sim/tenants`: one tenant object (answers the tenant), or a list / `{items:[...]}`
/// (answers `{items:[...]}`).
async fn seed_tenants(State(app): State<Shared>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    let mut s = app.lock();
    let list = match &body {
        Value::Array(a) => a.clone(),
        Value::Object(o)
            if o.get("items").is_some_and(Value::is_array) && !o.contains_key("name") =>
        {
            o.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        }
        _ => return Ok((StatusCode::CREATED, Json(s.seed_tenant(&body)?))),
    };
    let mut out = Vec::new();
    for spec in &list {
        out.push(s.seed_tenant(spec)?);
    }
    Ok((StatusCode::CREATED, Json(json!({ "items": out }))))
}

async fn state(State(app): State<Shared>) -> Reply {
    ok(app.lock().snapshot())
}
