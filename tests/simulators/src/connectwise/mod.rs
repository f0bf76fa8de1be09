//! ConnectWise Manage REST 3.0 simulator.
//!
//! API routes live under `/{codebase}apis/3.0` (e.g. `/v2025_1/apis/3.0/company/companies`)
//! and need `Authorization: Basic base64("{company}+{public}:{private}")` plus a `clientId`
//! header. Unauthenticated: `GET /login/companyinfo/{company}` and
//! `GET /{codebase}system/callbackkey/index.rails?id=..`. The request log records API routes
//! by their template relative to the API base (`GET /company/companies/{id}`).
//!
//! Control routes (besides those of [`crate::control`]), all JSON:
//! - `POST   /_sim/seed`                         seed records (no callbacks); returns them with ids
//! - `POST   /_sim/reset`                        forget every record, callback and outbox entry
//! - `POST   /_sim/companies`, `PATCH|DELETE /_sim/companies/{id}`            (fire callbacks)
//! - `POST   /_sim/agreements`, `PATCH|DELETE /_sim/agreements/{id}`          (fire callbacks)
//! - `POST   /_sim/agreements/{id}/additions`, `PATCH|DELETE /_sim/agreements/{id}/additions/{addition_id}`
//! - `POST   /_sim/generate`                     bulk data for benchmarks (no callbacks)
//! - `GET    /_sim/tickets`, `GET /_sim/tickets/{id}/notes`
//! - `GET    /_sim/callbacks/sent`               the outbox
//! - `POST   /_sim/callbacks/sent/{message_id}/redeliver`
//! - `PUT    /_sim/callbacks/delivery`           `{"enabled": false}`
//! - `GET|PUT /_sim/switches` `{"bad_credentials_status": 401|404, "key_url_host":
//!   "site"|"alias", "key_fetch": "anonymous"|"authenticated", "addition_bumps_agreement":
//!   true|false}` — behaviours no source confirms, which the product must handle under every
//!   setting (see [`CwSwitches`])
//! - `GET    /_sim/state`                        every table

mod callbacks;
pub mod conditions;
mod error;
mod listing;
pub mod patch;
pub mod rate_limit;
mod routes;
mod sim;
mod spec;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

pub use callbacks::{CallbackUrlForm, OutboxEntry, sign};
pub use error::CW_CONTENT_TYPE;

use crate::control::{self, Control, Running};

/// Tenant identity and keys the simulator accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CwSimConfig {
    pub company_id: String,
    pub public_key: String,
    pub private_key: String,
    pub client_id: String,
    /// The codebase path segment with its trailing slash, e.g. `v2025_1/`.
    pub codebase: String,
    /// The key callbacks are signed with (served at the callback key URL).
    pub signing_key: String,
}

impl Default for CwSimConfig {
    fn default() -> Self {
        Self {
            company_id: "acme".into(),
            public_key: "pub".into(),
            private_key: "priv".into(),
            client_id: "00000000-0000-0000-0000-000000000001".into(),
            codebase: "v2025_1/".into(),
            signing_key: "sim-signing-key".into(),
        }
    }
}

/// Behaviours of ConnectWise that no source confirms; the product must be right under every
/// setting (`PUT /_sim/switches`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CwSwitches {
    /// The status of an answer to refused credentials: 401 (documented) or 404 (seen by
    /// some integrations), whose body is then a plain `NotFound`.
    pub bad_credentials_status: u16,
    /// The host of a callback's `Metadata.key_url`: the site the API is called on, or its
    /// alias (here `localhost` for `127.0.0.1`, as `na.` for `api-na.` in the cloud).
    pub key_url_host: KeyUrlHost,
    /// Whether the callback key endpoint serves keys to anyone (documented) or only to a
    /// request with the API member's credentials (seen by some integrations).
    pub key_fetch: KeyFetchAuth,
    /// Whether a change of an addition bumps its agreement's `lastUpdated` and fires an
    /// agreement callback (assumed; unconfirmed).
    pub addition_bumps_agreement: bool,
    /// How a callback's URL carries the record id and action (unconfirmed).
    pub callback_url: callbacks::CallbackUrlForm,
    /// Requests a member may make in a sliding minute (the guide's 1,000; `None`: no limit).
    pub rate_limit_per_minute: Option<u32>,
    /// The limit's minute in milliseconds (60,000; a test that scales time shortens it, and
    /// the product's budget minute with it).
    pub rate_limit_minute_ms: u64,
}

impl Default for CwSwitches {
    fn default() -> Self {
        Self {
            bad_credentials_status: 401,
            key_url_host: KeyUrlHost::Site,
            key_fetch: KeyFetchAuth::Anonymous,
            addition_bumps_agreement: true,
            callback_url: callbacks::CallbackUrlForm::default(),
            rate_limit_per_minute: Some(1000),
            rate_limit_minute_ms: 60_000,
        }
    }
}

/// See [`CwSwitches::key_url_host`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUrlHost {
    Site,
    Alias,
}

/// See [`CwSwitches::key_fetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFetchAuth {
    Anonymous,
    Authenticated,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub config: CwSimConfig,
    pub switches: Mutex<CwSwitches>,
    pub db: Mutex<state::Db>,
    pub url: OnceLock<String>,
    /// `/v2025_1/apis/3.0`
    pub api_prefix: String,
    pub http: reqwest::Client,
    pub queues: Mutex<HashMap<String, mpsc::UnboundedSender<callbacks::Job>>>,
    pub product_instance_id: String,
    pub key_id: String,
    /// The API member's keys after a rotation (public, private); the configured ones before.
    pub rotated_keys: Mutex<Option<(String, String)>>,
    /// The rate limit's sliding minutes.
    pub rate_windows: Mutex<rate_limit::RateWindows>,
}

/// Shared simulator state handed to every handler.
#[derive(Debug, Clone)]
pub(crate) struct App(pub Arc<Inner>);

impl App {
    pub fn switches(&self) -> CwSwitches {
        self.0
            .switches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn db(&self) -> MutexGuard<'_, state::Db> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.0.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.0.url.get().cloned().unwrap_or_default()
    }
}

/// A running ConnectWise simulator.
#[derive(Debug, Clone)]
pub struct CwSim {
    pub running: Running,
    app: App,
}

/// Binds `addr` (port 0 for any free port) and serves the simulator in the background.
pub async fn start(addr: SocketAddr, config: CwSimConfig) -> anyhow::Result<CwSim> {
    let codebase = normalize_codebase(&config.codebase);
    let config = CwSimConfig { codebase, ..config };
    let http = reqwest::Client::builder()
        .timeout(callbacks::DELIVERY_TIMEOUT)
        .build()
        .context("building the callback HTTP client")?;
    let app = App(Arc::new(Inner {
        api_prefix: format!("/{}apis/3.0", config.codebase),
        config,
        switches: Mutex::new(CwSwitches::default()),
        db: Mutex::new(state::Db::default()),
        url: OnceLock::new(),
        http,
        queues: Mutex::new(HashMap::new()),
        product_instance_id: uuid::Uuid::new_v4().to_string(),
        key_id: uuid::Uuid::new_v4().to_string(),
        rotated_keys: Mutex::new(None),
        rate_windows: Mutex::new(rate_limit::RateWindows::default()),
    }));
    let control = Control::default();
    let router = routes::router(app.clone(), control.clone());
    let running = control::serve(router, addr, control).await?;
    let host = if running.addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", running.addr.port())
    } else {
        running.addr.to_string()
    };
    // Only this function sets it, once.
    let _ = app.0.url.set(format!("http://{host}"));
    Ok(CwSim { running, app })
}

/// `v2025_1` / `/v2025_1/` → `v2025_1/`.
fn normalize_codebase(codebase: &str) -> String {
    let trimmed = codebase.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

impl CwSim {
    /// Sets the unconfirmed behaviours (see [`CwSwitches`]).
    pub fn set_switches(&self, switches: CwSwitches) {
        *self
            .app
            .0
            .switches
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = switches;
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.app.url()
    }

    /// `{url}/{codebase}apis/3.0`
    pub fn api_base(&self) -> String {
        format!("{}{}", self.url(), self.app.0.api_prefix)
    }

    pub fn control(&self) -> &Control {
        &self.running.control
    }

    pub fn config(&self) -> &CwSimConfig {
        &self.app.0.config
    }

    /// Rotates the API member's keys, as an administrator does in ConnectWise: the old pair
    /// is refused from now on.
    pub fn rotate_keys(&self, public: &str, private: &str) {
        *self
            .app
            .0
            .rotated_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((public.to_owned(), private.to_owned()));
    }

    /// The `Authorization` header value the simulator accepts.
    pub fn auth_header(&self) -> String {
        use base64::Engine as _;
        let c = &self.app.0.config;
        let raw = format!("{}+{}:{}", c.company_id, c.public_key, c.private_key);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// Same as `POST /_sim/seed`: returns the seeded records with their ids.
    pub fn seed(&self, seed: Value) -> anyhow::Result<Value> {
        sim::seed(&self.app, &seed).map_err(|e| anyhow::anyhow!("seed refused: {e:?}"))
    }

    /// Same as `POST /_sim/generate`.
    pub fn generate(&self, spec: Value) -> anyhow::Result<Value> {
        sim::generate(&self.app, &spec).map_err(|e| anyhow::anyhow!("generate refused: {e:?}"))
    }

    /// Same as `GET /_sim/state`.
    pub fn state(&self) -> Value {
        serde_json::to_value(&*self.app.db()).unwrap_or(Value::Null)
    }

    /// Same as `GET /_sim/callbacks/sent`.
    pub fn sent_callbacks(&self) -> Vec<OutboxEntry> {
        self.app.db().outbox.clone()
    }

    /// Same as `PUT /_sim/callbacks/delivery`.
    pub fn set_delivery(&self, enabled: bool) {
        self.app.db().delivery_enabled = enabled;
    }

    /// Loses every `one_in`th callback on the way (`None`: none), as a network might.
    pub fn lose_callbacks(&self, one_in: Option<u32>) {
        self.app.db().lose_one_in = one_in;
    }

    /// The most requests one member made in a sliding minute, and the requests refused for
    /// the rate limit.
    pub fn rate(&self) -> (usize, u64) {
        let w = self
            .app
            .0
            .rate_windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (w.peak, w.throttled)
    }

    /// Starts the rate figures ([`Self::rate`]) again (a bench's next scenario).
    pub fn reset_rate(&self) {
        *self
            .app
            .0
            .rate_windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Default::default();
    }

    /// Shortens (or lengthens) the waits before ConnectWise's two retries of a callback.
    pub fn set_callback_retry_delays(&self, delays: [std::time::Duration; 2]) {
        self.app.db().retry_delays = delays;
    }

    /// Same as `POST /_sim/reset`.
    pub fn reset(&self) {
        *self.app.db() = state::Db::default();
    }
}
