//! Acronis Cyber Cloud simulator: Account Management API v2 (`/api/2`) and Alert Manager
//! API v1 (`/api/alert_manager/v1`), stateful, on loopback. [`AcronisSim::url`] plays the
//! "data center URL".
//!
//! API routes need `Authorization: Bearer <token>` from `POST /api/2/idp/token` (HTTP Basic
//! client credentials); all of them, the token route included, go through
//! [`crate::control::observe`] (request log, counts, faults, latency).
//!
//! Control routes (no auth, not logged, not faulted), besides those of [`crate::control`]:
//! - `GET|PUT /_sim/switches` `{"id_list_page_size": n|null, "search_finds_phrases": bool,
//!   "cleared_alert_field": "deletedAt"|"deleted_at"|"gone", "deletion_updates_tenant": bool}`
//!   — behaviours no source
//!   confirms, which the product must handle under every setting (see `state::Switches`)
//! - `PUT  /_sim/token-ttl` `{"secs": n}` — lifetime of tokens issued from now on
//! - `POST /_sim/tokens/expire` — every issued token expires now
//! - `GET  /_sim/tokens` → `{"issued": n}`
//! - `POST /_sim/catalog` `{items:[{name, usage_name?, edition?, type?, measurement_unit?,
//!   infra_id?, infra_name?, application_id?, locked?}]}` — upsert partner catalog items
//!   by `(name, infra_id)`; every tenant gets new items (disabled; enabled on the partner)
//! - `POST /_sim/tenants` — one tenant (the `POST /tenants` body plus optional `id`,
//!   `offering_items` as in the offering-items PUT but unchecked, `pricing_mode`;
//!   `parent_id` defaults to the partner, `kind` to `customer`) → 201 tenant, or a list /
//!   `{items:[...]}` → 201 `{items}`
//! - `PUT  /_sim/usage` `{tenant, name, infra_id?, value, absolute_value?}` → 204 (for usages
//!   without a catalog item also `usage_name, edition, type, measurement_unit, application_id`)
//! - `PUT  /_sim/usage/bulk` `[...]` or `{items:[...]}` → `{updated: n}`
//! - `POST /_sim/alerts` `{id?, tenant, type, category?, severity?, details}` → the alert
//!   (an existing id is re-raised: new updatedAt and details, deletedAt cleared)
//! - `DELETE /_sim/alerts/{id}` → the alert, cleared (deletedAt + updatedAt)
//! - `POST /_sim/alert-types` `{items:[{id, category, severity, title?}]}` → 204
//! - `GET  /_sim/state` → tenants (incl. deleted, with offering items and usages), users,
//!   activation e-mails, MFA per tenant, catalog, alerts, token counts

mod account;
mod alerts;
mod auth;
mod catalog;
mod sim;
mod spec;
mod state;
mod users;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use serde_json::Value;

use crate::control::{self, Control, Running};

pub use alerts::{AlertType, RaiseAlert};
pub use catalog::{CatalogItem, INFRA_EU, INFRA_US};
pub use state::{CYBER_PROTECTION_APP, ClearedField, Switches, UsageRecord};

use state::{ApiError, Shared};

/// Identity of the simulated API client and its partner tenant.
#[derive(Debug, Clone)]
pub struct AcronisSimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// UUID of the partner tenant the API client belongs to.
    pub partner_tenant_id: String,
    pub partner_name: String,
    /// Lifetime of issued tokens (the real platform: 2 hours).
    pub token_ttl_secs: u64,
    /// What the partner may offer (editions, storages), which differs between data centres.
    pub catalog: Vec<CatalogItem>,
}

impl AcronisSimConfig {
    /// A second data centre: another API client and partner tenant, a US storage only and no
    /// Microsoft 365 seats (so that its items differ from the default one's).
    pub fn second_data_centre() -> Self {
        Self {
            client_id: "sim-client-us".into(),
            client_secret: "sim-secret-us".into(),
            partner_tenant_id: "8d1c5b2e-6f3a-4b7c-8e9d-0a1b2c3d4e5f".into(),
            partner_name: "Sim Partner US".into(),
            catalog: catalog::second_catalog(),
            ..Self::default()
        }
    }
}

impl Default for AcronisSimConfig {
    fn default() -> Self {
        Self {
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            partner_tenant_id: "3f2e7c1a-8b4d-4e6f-9a0b-1c2d3e4f5a6b".into(),
            partner_name: "Sim Partner".into(),
            token_ttl_secs: 7200,
            catalog: catalog::default_catalog(),
        }
    }
}

/// A running Acronis simulator.
#[derive(Debug, Clone)]
pub struct AcronisSim {
    pub running: Running,
    state: Shared,
    partner_tenant_id: String,
}

fn api_error(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} (code {}): {}", e.status, e.code, e.message)
}

impl AcronisSim {
    /// `http://127.0.0.1:PORT`, the data center URL.
    pub fn url(&self) -> String {
        self.running.url()
    }

    pub fn control(&self) -> &Control {
        &self.running.control
    }

    pub fn partner_tenant_id(&self) -> &str {
        &self.partner_tenant_id
    }

    /// Same document as `GET /_sim/state`.
    pub fn state(&self) -> Value {
        self.state.lock().snapshot()
    }

    pub fn tokens_issued(&self) -> u64 {
        self.state.lock().tokens_issued
    }

    pub fn expire_tokens(&self) {
        self.state.lock().expire_tokens();
    }

    /// Rotates the API client's secret, as an administrator does in the portal: the old
    /// secret is refused from now on and the tokens it got are revoked.
    pub fn rotate_client_secret(&self, secret: &str) {
        let mut s = self.state.lock();
        s.config.client_secret = secret.to_owned();
        s.expire_tokens();
    }

    /// Sets the unconfirmed behaviours (see [`Switches`]).
    pub fn set_switches(&self, switches: Switches) {
        self.state.lock().switches = switches;
    }

    pub fn set_token_ttl(&self, secs: u64) {
        self.state.lock().token_ttl_secs = secs;
    }

    /// Seeds a tenant like `POST /_sim/tenants` with one object; returns the tenant.
    pub fn seed_tenant(&self, spec: Value) -> anyhow::Result<Value> {
        self.state.lock().seed_tenant(&spec).map_err(api_error)
    }

    pub fn upsert_catalog(&self, items: Vec<CatalogItem>) {
        self.state.lock().upsert_catalog(items);
    }

    /// Sets a usage value (absolute_value = value).
    pub fn set_usage(
        &self,
        tenant: &str,
        name: &str,
        infra_id: Option<&str>,
        value: i64,
    ) -> anyhow::Result<()> {
        let rec = UsageRecord {
            name: name.into(),
            infra_id: infra_id.map(Into::into),
            value,
            absolute_value: None,
            usage_name: None,
            edition: None,
            kind: None,
            measurement_unit: None,
            application_id: None,
        };
        self.state.lock().set_usage(tenant, rec).map_err(api_error)
    }

    /// Raises (or re-raises) an alert; returns the alert object.
    pub fn raise_alert(&self, alert: RaiseAlert) -> anyhow::Result<Value> {
        let mut s = self.state.lock();
        let id = s.raise_alert(alert).map_err(api_error)?;
        let a = s
            .alerts
            .iter()
            .find(|a| a.id == id)
            .map(|a| s.alert_json(a))
            .unwrap_or(Value::Null);
        Ok(a)
    }

    /// Disables a tenant, as an operator does in the portal (an update: `updated_at` moves).
    pub fn disable_tenant(&self, id: &str) -> anyhow::Result<()> {
        let mut s = self.state.lock();
        let version = s.tenant(id).map_err(api_error)?.version;
        s.update_tenant(
            id,
            &serde_json::json!({"enabled": false, "version": version}),
        )
        .map_err(api_error)
    }

    /// Deletes a (disabled) tenant, as an operator does in the portal; whether `updated_at`
    /// moves is the `deletion_updates_tenant` switch.
    pub fn delete_tenant(&self, id: &str) -> anyhow::Result<()> {
        let mut s = self.state.lock();
        let version = s.tenant(id).map_err(api_error)?.version;
        s.delete_tenant(id, version).map_err(api_error)
    }

    /// Clears an alert (deletedAt + updatedAt), as the product does when the problem ends.
    pub fn clear_alert(&self, id: &str) -> anyhow::Result<()> {
        self.state.lock().dismiss_alert(id).map_err(api_error)
    }
}

fn api_routes() -> Router<Shared> {
    const T: &str = "/api/2/tenants";
    const AM: &str = "/api/alert_manager/v1";
    Router::new()
        .route("/api/2/clients/{client_id}", get(account::get_client))
        .route(T, get(account::list_tenants).post(account::create_tenant))
        .route(&format!("{T}/usages"), get(catalog::batch_usages))
        .route(
            &format!("{T}/{{id}}"),
            get(account::get_tenant)
                .put(account::put_tenant)
                .delete(account::delete_tenant),
        )
        .route(&format!("{T}/{{id}}/children"), get(account::children))
        .route(
            &format!("{T}/{{id}}/offering_items"),
            get(catalog::get_offering_items).put(catalog::put_offering_items),
        )
        .route(
            &format!("{T}/{{id}}/offering_items/available_for_child"),
            get(catalog::available_for_child),
        )
        .route(&format!("{T}/{{id}}/usages"), get(catalog::tenant_usages))
        .route(&format!("{T}/{{id}}/infra"), get(catalog::tenant_infra))
        .route(
            &format!("{T}/{{id}}/mfa/status"),
            get(account::get_mfa).put(account::put_mfa),
        )
        .route("/api/2/infra/{id}", get(catalog::get_infra))
        .route("/api/2/users", post(users::create_user))
        .route("/api/2/users/check_login", get(users::check_login))
        .route(
            "/api/2/users/{id}",
            get(users::get_user)
                .put(users::put_user)
                .delete(users::delete_user),
        )
        .route(&format!("{T}/{{id}}/users"), get(users::tenant_users))
        .route(
            &format!("{T}/{{id}}/pricing"),
            get(account::get_pricing).put(account::put_pricing),
        )
        .route(
            "/api/2/users/{id}/send-activation-email",
            post(users::send_activation_email),
        )
        .route(
            "/api/2/users/{id}/access_policies",
            put(users::put_access_policies),
        )
        .route("/api/2/search", get(account::search))
        .route(
            &format!("{AM}/alerts"),
            get(alerts::list_alerts).post(alerts::post_alert),
        )
        .route(
            &format!("{AM}/alerts/{{id}}"),
            get(alerts::get_alert).delete(alerts::dismiss_alert),
        )
        .route(&format!("{AM}/types"), get(alerts::list_types))
        .route(&format!("{AM}/types/{{id}}"), get(alerts::get_type))
        .route(&format!("{AM}/categories"), get(alerts::list_categories))
}

/// The whole router: API routes (bearer-checked and observed), the token route (observed),
/// and the `/_sim` control routes.
fn router(state: Shared, control: Control) -> Router {
    let api = api_routes()
        // Innermost: a body the vendor's spec refuses never reaches a handler.
        .route_layer(axum::middleware::from_fn(spec::validate))
        .route_layer(from_fn_with_state(state.clone(), auth::require_bearer))
        .route_layer(from_fn_with_state(control.clone(), control::observe));
    let token = Router::new()
        .route("/api/2/idp/token", post(auth::token))
        .route_layer(from_fn_with_state(control.clone(), control::observe));
    api.merge(token)
        .merge(sim::routes())
        .with_state(state)
        .merge(control.routes())
        .fallback(|| async {
            crate::control::acronis_error(StatusCode::NOT_FOUND, 404, "Not found").into_response()
        })
}

/// Starts the simulator on `addr` (port 0 for any free port).
pub async fn start(addr: SocketAddr, config: AcronisSimConfig) -> anyhow::Result<AcronisSim> {
    let partner_tenant_id = config.partner_tenant_id.to_ascii_lowercase();
    uuid::Uuid::parse_str(&partner_tenant_id)
        .map_err(|e| anyhow::anyhow!("partner_tenant_id must be a UUID: {e}"))?;
    let state = Shared::new(config);
    let control = Control::default();
    let running = control::serve(router(state.clone(), control.clone()), addr, control).await?;
    tracing::debug!(url = %running.url(), "acronis simulator listening");
    Ok(AcronisSim {
        running,
        state,
        partner_tenant_id,
    })
}
