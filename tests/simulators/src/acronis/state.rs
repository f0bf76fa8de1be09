//! The simulator's in-memory world: tenants (with their offering items and usages),
//! users, tokens, alerts, plus the shared error type and small helpers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::AcronisSimConfig;
use super::alerts::{Alert, AlertType, default_alert_types};
use super::catalog::{CatalogItem, OfferingItem};

/// Cyber Protection application id.
pub const CYBER_PROTECTION_APP: &str = "6e6d758d-8e74-3ae3-ac84-50eb0dff12eb";
/// Parent of the partner tenant (the platform root; not itself readable).
pub const ROOT_TENANT_ID: &str = "00000000-0000-4000-8000-000000000001";
pub const DEFAULT_IDP_ID: &str = "11111111-1111-1111-1111-111111111111";
pub const BRAND_UUID: &str = "14dc11ca-2b16-43bb-8ba4-2a3545c214a0";

/// An answer in the Acronis error envelope.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
    /// Replaces the default `details` (`{info: message}`) and `context` (`{}`).
    pub extra: Option<(Value, Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 400, message)
    }
    pub fn tenant_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            1005,
            format!("Tenant with id {id} not found"),
        )
    }
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, format!("{what} {id} not found"))
    }
    pub fn version_mismatch() -> Self {
        Self::new(StatusCode::CONFLICT, 1001, "Version mismatch")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.extra {
            None => crate::control::acronis_error(self.status, self.code, self.message),
            Some((details, context)) => (
                self.status,
                Json(json!({"error": {
                    "code": self.code,
                    "message": self.message,
                    "details": details,
                    "context": context,
                    "domain": "PlatformAccountServer"
                }})),
            )
                .into_response(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON handler answer: status + body, or an error envelope.
pub type Reply = ApiResult<(StatusCode, Json<Value>)>;

pub fn ok(v: Value) -> Reply {
    Ok((StatusCode::OK, Json(v)))
}

/// Parses a JSON request body; an empty body reads as `{}`.
pub fn parse_body(body: &Bytes) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Decoded query pairs, keeping repeats and order.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

pub fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub fn parse_bool(v: Option<&str>, default: bool) -> ApiResult<bool> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!("invalid boolean {other:?}"))),
    }
}

pub fn parse_limit(v: Option<&str>, default: usize, max: usize) -> ApiResult<usize> {
    match v {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be an integer between 1 and {max}"
            ))),
        },
    }
}

/// Opaque paging cursor: standard base64 of a JSON document.
pub fn encode_cursor(v: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

pub fn decode_cursor(s: &str) -> ApiResult<Value> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| ApiError::bad_request("invalid paging cursor"))?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::bad_request("invalid paging cursor"))
}

pub fn rfc3339_secs(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn rfc3339_ns(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// An issued access token.
#[derive(Debug, Clone, Serialize)]
pub struct Token {
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: String,
    pub legacy_id: i64,
    pub version: i64,
    pub name: String,
    pub kind: String,
    pub parent_id: String,
    pub enabled: bool,
    pub customer_id: Option<String>,
    pub internal_tag: Option<String>,
    pub language: String,
    pub contact: Value,
    pub update_lock: Value,
    pub ancestral_access: bool,
    pub mfa_enabled: bool,
    pub pricing_mode: String,
    pub pricing_version: i64,
    pub production_start_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub offering_items: Vec<OfferingItem>,
    pub usages: Vec<UsageRecord>,
}

/// A usage value set through the control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageRecord {
    pub name: String,
    #[serde(default)]
    pub infra_id: Option<String>,
    pub value: i64,
    #[serde(default)]
    pub absolute_value: Option<i64>,
    /// Only for usages without a catalog item (e.g. `immutable_storage`).
    #[serde(default)]
    pub usage_name: Option<String>,
    #[serde(default)]
    pub edition: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub measurement_unit: Option<String>,
    #[serde(default)]
    pub application_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub version: i64,
    pub tenant_id: String,
    pub login: String,
    pub contact: Value,
    pub language: String,
    pub activated: bool,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub deleted: bool,
    pub access_policies: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActivationEmail {
    pub user_id: String,
    pub login: String,
    pub email: String,
    pub at: String,
}

/// Behaviours of the platform that no source confirms; the product must be right under every
/// setting (`PUT /_sim/switches`).
/// How a cleared (dismissed or resolved) alert shows: no vendor source shows it. With a time
/// field (`deletedAt` or `deleted_at`) in `show_deleted` reads, or not at all (`gone`: left
/// out of every read, `GET /alerts/{id}` answers 404).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClearedField {
    #[default]
    #[serde(rename = "deletedAt")]
    DeletedAt,
    #[serde(rename = "deleted_at")]
    DeletedAtSnake,
    #[serde(rename = "gone")]
    Gone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Switches {
    /// Where a cleared alert says when it was cleared.
    pub cleared_alert_field: ClearedField,
    /// Whether `GET /search` finds a text with several words or punctuation
    /// (`Northwind Traders, Inc.`); `false`: such a text finds nothing.
    pub search_finds_phrases: bool,
    /// The page size of reads by id list (`GET /tenants?uuids=`, `GET /tenants/usages?tenants=`),
    /// whatever `limit` the client asks; the rest follows through `paging.cursors.after`.
    /// `None`: every id in one answer.
    pub id_list_page_size: Option<usize>,
    /// Whether deleting a tenant moves its `updated_at`, so that
    /// `GET /tenants?updated_since=…&allow_deleted=true` lists it (no source says);
    /// `false`: a deletion leaves `updated_at` as it was.
    pub deletion_updates_tenant: bool,
    /// How `POST /users` refuses a login already taken: `GET /users/check_login` is
    /// documented (409), the create is not. 409 here; another status (400, 422) for a
    /// platform that answers the create otherwise.
    pub taken_login_status: u16,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            cleared_alert_field: ClearedField::DeletedAt,
            search_finds_phrases: true,
            id_list_page_size: None,
            deletion_updates_tenant: true,
            taken_login_status: 409,
        }
    }
}

#[derive(Debug)]
pub struct SimState {
    pub config: AcronisSimConfig,
    pub switches: Switches,
    pub token_ttl_secs: u64,
    pub tokens: HashMap<String, Token>,
    pub tokens_issued: u64,
    pub tenants: Vec<Tenant>,
    pub tenant_idx: HashMap<String, usize>,
    pub next_legacy_id: i64,
    pub catalog: Vec<CatalogItem>,
    pub users: Vec<User>,
    pub user_idx: HashMap<String, usize>,
    pub activation_emails: Vec<ActivationEmail>,
    pub alerts: Vec<Alert>,
    pub alert_idx: HashMap<String, usize>,
    pub alert_types: Vec<AlertType>,
    last_ns: i64,
    last_quota_version: i64,
}

/// Handle on the state shared by all handlers.
#[derive(Debug, Clone)]
pub struct Shared(Arc<Mutex<SimState>>);

impl Shared {
    pub fn new(config: AcronisSimConfig) -> Self {
        Self(Arc::new(Mutex::new(SimState::new(config))))
    }

    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn now_ms() -> i64 {
    crate::clock::now().timestamp_millis()
}

impl SimState {
    pub fn new(config: AcronisSimConfig) -> Self {
        let now = crate::clock::now();
        let mut s = Self {
            switches: Switches::default(),
            token_ttl_secs: config.token_ttl_secs,
            tokens: HashMap::new(),
            tokens_issued: 0,
            tenants: Vec::new(),
            tenant_idx: HashMap::new(),
            next_legacy_id: 1000,
            catalog: config.catalog.clone(),
            users: Vec::new(),
            user_idx: HashMap::new(),
            activation_emails: Vec::new(),
            alerts: Vec::new(),
            alert_idx: HashMap::new(),
            alert_types: default_alert_types(),
            last_ns: 0,
            last_quota_version: 0,
            config,
        };
        let offering_items = s
            .catalog
            .iter()
            .map(|c| OfferingItem::new(c.clone(), 1))
            .collect();
        let partner = Tenant {
            id: s.config.partner_tenant_id.to_ascii_lowercase(),
            legacy_id: 100,
            version: 1,
            name: s.config.partner_name.clone(),
            kind: "partner".into(),
            parent_id: ROOT_TENANT_ID.into(),
            enabled: true,
            customer_id: None,
            internal_tag: None,
            language: "en".into(),
            contact: default_contact(&json!({}), now),
            update_lock: json!({"enabled": false, "owner_id": null}),
            ancestral_access: true,
            mfa_enabled: false,
            pricing_mode: "production".into(),
            pricing_version: now.timestamp_millis(),
            production_start_date: Some(now),
            created_at: now,
            updated_at: now,
            deleted_at: None,
            offering_items,
            usages: Vec::new(),
        };
        s.insert_tenant(partner);
        s
    }

    /// A strictly increasing nanosecond clock (alert timestamps).
    pub fn tick_ns(&mut self) -> i64 {
        let now = crate::clock::now()
            .timestamp_nanos_opt()
            .unwrap_or(i64::MAX / 2);
        self.last_ns = now.max(self.last_ns + 1);
        self.last_ns
    }

    /// A strictly increasing quota version (unix milliseconds, bumped on collisions).
    pub fn next_quota_version(&mut self) -> i64 {
        self.last_quota_version = now_ms().max(self.last_quota_version + 1);
        self.last_quota_version
    }

    pub fn alloc_legacy_id(&mut self) -> i64 {
        let id = self.next_legacy_id;
        self.next_legacy_id += 1;
        id
    }

    pub fn insert_tenant(&mut self, t: Tenant) {
        self.tenant_idx.insert(t.id.clone(), self.tenants.len());
        self.tenants.push(t);
    }

    pub fn partner_id(&self) -> String {
        self.config.partner_tenant_id.to_ascii_lowercase()
    }

    /// Any tenant, deleted or not.
    pub fn tenant_any(&self, id: &str) -> Option<&Tenant> {
        self.tenant_idx
            .get(&id.to_ascii_lowercase())
            .map(|&i| &self.tenants[i])
    }

    /// A non-deleted tenant or 404 code 1005.
    pub fn tenant(&self, id: &str) -> ApiResult<&Tenant> {
        match self.tenant_any(id) {
            Some(t) if t.deleted_at.is_none() => Ok(t),
            _ => Err(ApiError::tenant_not_found(id)),
        }
    }

    pub fn tenant_mut(&mut self, id: &str) -> ApiResult<&mut Tenant> {
        match self.tenant_idx.get(&id.to_ascii_lowercase()) {
            Some(&i) if self.tenants[i].deleted_at.is_none() => Ok(&mut self.tenants[i]),
            _ => Err(ApiError::tenant_not_found(id)),
        }
    }

    pub fn has_children(&self, id: &str) -> bool {
        self.tenants
            .iter()
            .any(|t| t.parent_id == id && t.deleted_at.is_none())
    }

    /// Ancestors from the topmost known tenant down to `id` (inclusive).
    pub fn lineage(&self, id: &str) -> Vec<&Tenant> {
        let mut chain = Vec::new();
        let mut cur = self.tenant_any(id);
        while let Some(t) = cur {
            chain.push(t);
            if chain.len() > 64 {
                break;
            }
            cur = self.tenant_any(&t.parent_id);
        }
        chain.reverse();
        chain
    }

    /// `/1/<legacy ids>/` as in alert tenant locators.
    pub fn locator(&self, id: &str) -> String {
        let mut s = String::from("/1/");
        for t in self.lineage(id) {
            s.push_str(&format!("{}/", t.legacy_id));
        }
        s
    }

    /// Whether `id` is `root` or one of its descendants.
    pub fn in_subtree(&self, id: &str, root: &str) -> bool {
        self.lineage(id).iter().any(|t| t.id == root)
    }

    pub fn user(&self, id: &str) -> ApiResult<&User> {
        match self.user_idx.get(&id.to_ascii_lowercase()) {
            Some(&i) if !self.users[i].deleted => Ok(&self.users[i]),
            _ => Err(ApiError::not_found("User", id)),
        }
    }

    pub fn user_mut(&mut self, id: &str) -> ApiResult<&mut User> {
        match self.user_idx.get(&id.to_ascii_lowercase()) {
            Some(&i) if !self.users[i].deleted => Ok(&mut self.users[i]),
            _ => Err(ApiError::not_found("User", id)),
        }
    }

    pub fn tenant_json(&self, t: &Tenant) -> Value {
        json!({
            "ancestral_access": t.ancestral_access,
            "brand_id": 1,
            "brand_uuid": BRAND_UUID,
            "contact": t.contact,
            "customer_id": t.customer_id,
            "customer_type": "default",
            "default_idp_id": DEFAULT_IDP_ID,
            "enabled": t.enabled,
            "has_children": self.has_children(&t.id),
            "id": t.id,
            "internal_tag": t.internal_tag,
            "kind": t.kind,
            "language": t.language,
            "name": t.name,
            "owner_id": null,
            "parent_id": t.parent_id,
            "update_lock": t.update_lock,
            "version": t.version,
            "mfa_status": if t.mfa_enabled { "enabled" } else { "disabled" },
            "pricing_mode": t.pricing_mode,
            "production_start_date": t.production_start_date.map(rfc3339_secs),
            "external_operation_status": "no_operation",
            "created_at": rfc3339_secs(t.created_at),
            "updated_at": rfc3339_secs(t.updated_at),
            "deleted_at": t.deleted_at.map(rfc3339_secs),
        })
    }

    pub fn user_json(&self, u: &User) -> Value {
        json!({
            "activated": u.activated,
            "business_types": [],
            "contact": u.contact,
            "created_at": u.created_at.to_rfc3339_opts(SecondsFormat::Micros, false),
            "enabled": u.enabled,
            "id": u.id,
            "idp_id": DEFAULT_IDP_ID,
            "language": u.language,
            "login": u.login,
            "mfa_status": "disabled",
            "notifications": ["quota", "reports", "backup_daily_report"],
            "personal_tenant_id": null,
            "tenant_id": u.tenant_id,
            "terms_accepted": false,
            "version": u.version,
        })
    }
}

/// A tenant contact with every field of the real object, `given` merged over the defaults.
pub fn default_contact(given: &Value, now: DateTime<Utc>) -> Value {
    let mut c: Map<String, Value> = json!({
        "firstname": "", "lastname": "", "email": "", "email_confirmed": null,
        "address1": "", "address2": "", "city": "", "country": "", "phone": "",
        "state": "", "zipcode": "", "title": null, "website": null, "industry": null,
        "organization_size": null, "aan": null,
        "id": uuid::Uuid::new_v4().to_string(),
        "created_at": rfc3339_secs(now), "updated_at": rfc3339_secs(now),
        "types": [],
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    if let Some(g) = given.as_object() {
        for (k, v) in g {
            c.insert(k.clone(), v.clone());
        }
    }
    Value::Object(c)
}

/// A user contact (examples/user.json), `given` merged over the defaults.
pub fn user_contact(given: &Value) -> Value {
    let mut c: Map<String, Value> = json!({
        "address1": "", "address2": "", "city": "", "country": "", "email": "",
        "firstname": "", "lastname": "", "phone": "", "state": "", "zipcode": "",
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    if let Some(g) = given.as_object() {
        for (k, v) in g {
            c.insert(k.clone(), v.clone());
        }
    }
    Value::Object(c)
}

/// Case-insensitive match of `text` (already lower-case) at the start of `field`
/// or at any word boundary inside it.
pub fn token_prefix_match(field: &str, text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    let field = field.to_lowercase();
    let mut prev_alnum = false;
    for (i, ch) in field.char_indices() {
        if !prev_alnum && field[i..].starts_with(text) {
            return true;
        }
        prev_alnum = ch.is_alphanumeric();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_prefix() {
        assert!(token_prefix_match("Acme Corp, Ltd", "corp"));
        assert!(token_prefix_match("Acme Corp, Ltd", "acme corp"));
        assert!(token_prefix_match("cw-company-12345", "cw-company-1"));
        assert!(token_prefix_match("foo.bar@example.com", "exam"));
        assert!(!token_prefix_match("Acme Corp", "cme"));
        assert!(!token_prefix_match("Acme", ""));
    }

    #[test]
    fn clocks_strictly_increase() {
        let mut s = SimState::new(AcronisSimConfig::default());
        let a = s.tick_ns();
        let b = s.tick_ns();
        assert!(b > a);
        let v1 = s.next_quota_version();
        let v2 = s.next_quota_version();
        assert!(v2 > v1);
    }

    #[test]
    fn cursor_roundtrip() {
        let v = json!({"p": 5, "q": [["a", "b"]]});
        assert_eq!(decode_cursor(&encode_cursor(&v)).expect("decodes"), v);
        assert!(decode_cursor("!!!").is_err());
    }

    #[test]
    fn ns_formatting() {
        assert_eq!(rfc3339_ns(1_000_000_001), "1970-01-01T00:00:01.000000001Z");
    }
}
