//! Account Management API v2: API client, tenants, children, MFA status and search.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::catalog::OfferingItem;
use super::state::{
    ApiError, ApiResult, Reply, Shared, SimState, Tenant, decode_cursor, default_contact,
    encode_cursor, ok, parse_body, parse_bool, parse_limit, query_get, query_pairs, rfc3339_secs,
    token_prefix_match,
};

const KINDS: [&str; 4] = ["partner", "folder", "customer", "unit"];

fn opt_string(body: &Value, key: &str) -> ApiResult<Option<Option<String>>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(ApiError::bad_request(format!("{key} must be a string"))),
    }
}

fn check_tag(tag: &Option<String>) -> ApiResult<()> {
    if tag.as_ref().is_some_and(|t| t.chars().count() > 256) {
        return Err(ApiError::bad_request(
            "internal_tag is longer than 256 characters",
        ));
    }
    Ok(())
}

impl SimState {
    fn name_taken(&self, name: &str, except: Option<&str>) -> bool {
        self.tenants.iter().any(|t| {
            t.deleted_at.is_none()
                && Some(t.id.as_str()) != except
                && t.name.to_lowercase() == name.to_lowercase()
        })
    }

    /// `POST /tenants` logic; `forced_id` lets seeding choose the uuid. Returns the new id.
    pub fn create_tenant(&mut self, body: &Value, forced_id: Option<String>) -> ApiResult<String> {
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::bad_request("name is required"))?
            .to_owned();
        let kind = body
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("kind is required"))?
            .to_owned();
        if !KINDS.contains(&kind.as_str()) {
            return Err(ApiError::bad_request(format!("invalid kind {kind:?}")));
        }
        let parent_id = body
            .get("parent_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("parent_id is required"))?
            .to_ascii_lowercase();
        let parent = self.tenant(&parent_id)?;
        let allowed = match parent.kind.as_str() {
            "partner" | "folder" => ["partner", "folder", "customer"].contains(&kind.as_str()),
            _ => kind == "unit",
        };
        if !allowed {
            return Err(ApiError::bad_request(format!(
                "a {kind} tenant cannot be created in a {} tenant",
                parent.kind
            )));
        }
        if self.name_taken(&name, None) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                1004,
                "Tenant with this name already exists",
            ));
        }
        let id = match forced_id {
            Some(id) => {
                let id = id.to_ascii_lowercase();
                if self.tenant_any(&id).is_some() {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        409,
                        format!("tenant {id} already exists"),
                    ));
                }
                id
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let customer_id = opt_string(body, "customer_id")?.flatten();
        let internal_tag = opt_string(body, "internal_tag")?.flatten();
        check_tag(&internal_tag)?;
        let language = opt_string(body, "language")?
            .flatten()
            .unwrap_or_else(|| "en".into());
        let now = crate::clock::now();
        let legacy_id = self.alloc_legacy_id();
        let offering_items = self
            .catalog
            .iter()
            .map(|c| OfferingItem::new(c.clone(), 0))
            .collect();
        let t = Tenant {
            id: id.clone(),
            legacy_id,
            version: 1,
            name,
            kind,
            parent_id,
            enabled: body.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            customer_id,
            internal_tag,
            language,
            contact: default_contact(body.get("contact").unwrap_or(&Value::Null), now),
            update_lock: body
                .get("update_lock")
                .filter(|v| v.is_object())
                .cloned()
                .unwrap_or_else(|| json!({"enabled": false, "owner_id": null})),
            ancestral_access: body
                .get("ancestral_access")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            mfa_enabled: false,
            pricing_mode: "trial".into(),
            pricing_version: now.timestamp_millis(),
            production_start_date: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            offering_items,
            usages: Vec::new(),
        };
        self.insert_tenant(t);
        Ok(id)
    }

    pub fn update_tenant(&mut self, id: &str, body: &Value) -> ApiResult<()> {
        let version = body
            .get("version")
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::bad_request("version is required"))?;
        let cur = self.tenant(id)?;
        if cur.version != version {
            return Err(ApiError::version_mismatch());
        }
        let tid = cur.id.clone();
        let cur_kind = cur.kind.clone();
        let name = match body.get("name") {
            None => None,
            Some(Value::String(n)) if !n.trim().is_empty() => {
                if self.name_taken(n.trim(), Some(&tid)) {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        1004,
                        "Tenant with this name already exists",
                    ));
                }
                Some(n.trim().to_owned())
            }
            Some(_) => return Err(ApiError::bad_request("name must be a non-empty string")),
        };
        let enabled = match body.get("enabled") {
            None => None,
            Some(v) => Some(
                v.as_bool()
                    .ok_or_else(|| ApiError::bad_request("enabled must be a boolean"))?,
            ),
        };
        let customer_id = opt_string(body, "customer_id")?;
        let internal_tag = opt_string(body, "internal_tag")?;
        if let Some(tag) = &internal_tag {
            check_tag(tag)?;
        }
        let language = opt_string(body, "language")?;
        let new_kind = match body.get("kind").and_then(Value::as_str) {
            Some(k) if k != cur_kind => {
                let pf = ["partner", "folder"];
                if !(pf.contains(&k) && pf.contains(&cur_kind.as_str())) {
                    return Err(ApiError::bad_request(
                        "kind can only change between partner and folder",
                    ));
                }
                Some(k.to_owned())
            }
            _ => None,
        };
        let now = crate::clock::now();
        let t = self.tenant_mut(id)?;
        if let Some(n) = name {
            t.name = n;
        }
        if let Some(e) = enabled {
            t.enabled = e;
        }
        if let Some(c) = customer_id {
            t.customer_id = c;
        }
        if let Some(tag) = internal_tag {
            t.internal_tag = tag;
        }
        if let Some(Some(l)) = language {
            t.language = l;
        }
        if let Some(c) = body.get("contact").filter(|c| c.is_object()) {
            let mut merged = default_contact(c, now);
            if let Some(m) = merged.as_object_mut() {
                m.insert("id".into(), t.contact["id"].clone());
                m.insert("created_at".into(), t.contact["created_at"].clone());
            }
            t.contact = merged;
        }
        if let Some(l) = body.get("update_lock").filter(|v| v.is_object()) {
            t.update_lock = l.clone();
        }
        if let Some(a) = body.get("ancestral_access").and_then(Value::as_bool) {
            t.ancestral_access = a;
        }
        if let Some(k) = new_kind {
            t.kind = k;
        }
        t.version += 1;
        t.updated_at = now;
        Ok(())
    }

    /// Marks a tenant, its subtree and their users deleted.
    pub fn delete_tenant(&mut self, id: &str, version: i64) -> ApiResult<()> {
        let t = self.tenant(id)?;
        if t.version != version {
            return Err(ApiError::version_mismatch());
        }
        if t.enabled {
            let lid = t.legacy_id.to_string();
            let mut e = ApiError::new(
                StatusCode::BAD_REQUEST,
                1006,
                "It is prohibited to delete a non-disabled tenant.",
            );
            e.extra = Some((
                json!({
                    "info": format!("It is prohibited to delete a non-disabled tenant \"{lid}\""),
                    "addition": [{"id": lid}]
                }),
                json!({"id": lid}),
            ));
            return Err(e);
        }
        let root = t.id.clone();
        let doomed: Vec<String> = self
            .tenants
            .iter()
            .filter(|x| x.deleted_at.is_none())
            .map(|x| x.id.clone())
            .filter(|x| self.in_subtree(x, &root))
            .collect();
        let now = crate::clock::now();
        let bump = self.switches.deletion_updates_tenant;
        for d in &doomed {
            if let Some(&i) = self.tenant_idx.get(d) {
                let t = &mut self.tenants[i];
                t.deleted_at = Some(now);
                if bump {
                    t.updated_at = now;
                }
                t.version += 1;
            }
        }
        for u in &mut self.users {
            if doomed.contains(&u.tenant_id) {
                u.deleted = true;
            }
        }
        Ok(())
    }
}

pub async fn create_tenant(State(app): State<Shared>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    let mut s = app.lock();
    let id = s.create_tenant(&body, None)?;
    let t = s.tenant(&id)?;
    Ok((StatusCode::CREATED, axum::Json(s.tenant_json(t))))
}

pub async fn get_tenant(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let allow_deleted = parse_bool(query_get(&pairs, "allow_deleted"), false)?;
    let s = app.lock();
    let t = match s.tenant_any(&id) {
        Some(t) if allow_deleted || t.deleted_at.is_none() => t,
        _ => return Err(ApiError::tenant_not_found(&id)),
    };
    ok(s.tenant_json(t))
}

pub async fn put_tenant(State(app): State<Shared>, Path(id): Path<String>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    let mut s = app.lock();
    s.update_tenant(&id, &body)?;
    let t = s.tenant(&id)?;
    ok(s.tenant_json(t))
}

pub async fn delete_tenant(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let pairs = query_pairs(q.as_deref());
    let version = query_get(&pairs, "version")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| ApiError::bad_request("version is required"))?;
    app.lock().delete_tenant(&id, version)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn children(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let details = parse_bool(query_get(&pairs, "include_details"), false)?;
    let s = app.lock();
    let t = s.tenant(&id)?;
    let kids = s
        .tenants
        .iter()
        .filter(|c| c.parent_id == t.id && c.deleted_at.is_none());
    let items: Vec<Value> = if details {
        kids.map(|c| s.tenant_json(c)).collect()
    } else {
        kids.map(|c| json!(c.id)).collect()
    };
    ok(json!({ "items": items }))
}

/// Filters of `GET /tenants`; they travel inside the paging cursor.
fn list_filter_keys() -> [&'static str; 5] {
    [
        "uuids",
        "parent_id",
        "subtree_root_id",
        "updated_since",
        "allow_deleted",
    ]
}

pub async fn list_tenants(State(app): State<Shared>, RawQuery(q): RawQuery) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let limit = parse_limit(query_get(&pairs, "limit"), 100, 1000)?;
    let (filters, after_pos): (Vec<(String, String)>, i64) = match query_get(&pairs, "after") {
        Some(c) if !c.is_empty() => {
            let cur = decode_cursor(c)?;
            let f = serde_json::from_value(cur["f"].clone())
                .map_err(|_| ApiError::bad_request("invalid paging cursor"))?;
            let p = cur["p"]
                .as_i64()
                .ok_or_else(|| ApiError::bad_request("invalid paging cursor"))?;
            (f, p)
        }
        _ => (
            pairs
                .iter()
                .filter(|(k, _)| list_filter_keys().contains(&k.as_str()))
                .cloned()
                .collect(),
            i64::MIN,
        ),
    };
    let uuids: Option<Vec<String>> = query_get(&filters, "uuids").map(|u| {
        u.split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let parent_id = query_get(&filters, "parent_id").map(str::to_ascii_lowercase);
    let subtree = query_get(&filters, "subtree_root_id").map(str::to_ascii_lowercase);
    if uuids.is_none() && parent_id.is_none() && subtree.is_none() {
        return Err(ApiError::bad_request(
            "one of uuids, parent_id or subtree_root_id is required",
        ));
    }
    let since: Option<DateTime<Utc>> = match query_get(&filters, "updated_since") {
        None | Some("") => None,
        Some(v) => Some(
            DateTime::parse_from_rfc3339(v)
                .map_err(|_| ApiError::bad_request("updated_since must be RFC 3339"))?
                .with_timezone(&Utc),
        ),
    };
    let allow_deleted = parse_bool(query_get(&filters, "allow_deleted"), false)?;
    let s = app.lock();
    let limit = match (&uuids, s.switches.id_list_page_size) {
        (Some(_), Some(n)) => n.max(1),
        _ => limit,
    };
    if let Some(p) = &parent_id {
        s.tenant(p)?;
    }
    if let Some(r) = &subtree {
        s.tenant(r)?;
    }
    let mut matching = s.tenants.iter().filter(|t| {
        t.legacy_id > after_pos
            && (allow_deleted || t.deleted_at.is_none())
            && uuids.as_ref().is_none_or(|u| u.contains(&t.id))
            && parent_id.as_ref().is_none_or(|p| &t.parent_id == p)
            && subtree.as_ref().is_none_or(|r| s.in_subtree(&t.id, r))
            && since.is_none_or(|since| t.updated_at >= since)
    });
    let page: Vec<&Tenant> = matching.by_ref().take(limit).collect();
    let more = matching.next().is_some();
    let mut cursors = serde_json::Map::new();
    if more && let Some(last) = page.last() {
        cursors.insert(
            "after".into(),
            json!(encode_cursor(&json!({"f": filters, "p": last.legacy_id}))),
        );
    }
    let items: Vec<Value> = page.iter().map(|t| s.tenant_json(t)).collect();
    ok(json!({
        "items": items,
        "paging": {"cursors": cursors},
        "timestamp": rfc3339_secs(crate::clock::now()),
    }))
}

fn mfa_json(s: &SimState, t: &Tenant) -> Value {
    let users = s
        .users
        .iter()
        .filter(|u| u.tenant_id == t.id && !u.deleted)
        .count();
    json!({
        "mfa_status": if t.mfa_enabled { "enabled" } else { "disabled" },
        "users_with_totp_enabled_count": 0,
        "users_count": users,
        "update_allowed": true,
    })
}

pub async fn get_mfa(State(app): State<Shared>, Path(id): Path<String>) -> Reply {
    let s = app.lock();
    let t = s.tenant(&id)?;
    ok(mfa_json(&s, t))
}

pub async fn put_mfa(State(app): State<Shared>, Path(id): Path<String>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    let enabled = body
        .get("enabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::bad_request("enabled (boolean) is required"))?;
    let mut s = app.lock();
    s.tenant_mut(&id)?.mfa_enabled = enabled;
    let t = s.tenant(&id)?;
    ok(mfa_json(&s, t))
}

fn pricing_json(t: &Tenant) -> Value {
    json!({
        "currency": null,
        "mode": t.pricing_mode,
        "production_start_date": t.production_start_date.map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string()),
        "version": t.pricing_version,
    })
}

pub async fn get_pricing(State(app): State<Shared>, Path(id): Path<String>) -> Reply {
    let s = app.lock();
    ok(pricing_json(s.tenant(&id)?))
}

/// `PUT /tenants/{id}/pricing` `{mode, currency?, version*}`; trial → production is one-way.
pub async fn put_pricing(State(app): State<Shared>, Path(id): Path<String>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    let version = body
        .get("version")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("version is required"))?;
    let mode = body
        .get("mode")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("mode is required"))?
        .to_owned();
    if !["trial", "production", "suspended"].contains(&mode.as_str()) {
        return Err(ApiError::bad_request(format!("invalid mode {mode:?}")));
    }
    let mut s = app.lock();
    let next_version = s.next_quota_version();
    let t = s.tenant_mut(&id)?;
    if t.pricing_version != version {
        return Err(ApiError::version_mismatch());
    }
    if mode == "trial" && t.pricing_mode != "trial" {
        return Err(ApiError::bad_request(
            "a tenant cannot return to trial mode",
        ));
    }
    if mode == "production" && t.production_start_date.is_none() {
        t.production_start_date = Some(crate::clock::now());
    }
    t.pricing_mode = mode;
    t.pricing_version = next_version.max(t.pricing_version + 1);
    t.updated_at = crate::clock::now();
    ok(pricing_json(t))
}

pub async fn get_client(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    let s = app.lock();
    if id != s.config.client_id {
        return ApiError::not_found("Client", &id).into_response();
    }
    axum::Json(json!({
        "client_id": s.config.client_id,
        "tenant_id": s.partner_id(),
        "type": "api_client",
        "data": {"client_name": "Simulated API client"},
        "token_endpoint_auth_method": "client_secret_basic",
        "status": "enabled",
        "created_by": null,
        "last_access_at": rfc3339_secs(crate::clock::now()),
    }))
    .into_response()
}

pub async fn search(State(app): State<Shared>, RawQuery(q): RawQuery) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let root = query_get(&pairs, "tenant")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("tenant is required"))?
        .to_ascii_lowercase();
    let text = query_get(&pairs, "text")
        .unwrap_or("")
        .trim()
        .to_lowercase();
    if text.chars().count() < 3 {
        return Err(ApiError::bad_request(
            "text must be at least 3 characters long",
        ));
    }
    let limit = parse_limit(query_get(&pairs, "limit"), 10, 300)?;
    let s = app.lock();
    s.tenant(&root)?;
    if !s.switches.search_finds_phrases && text.chars().any(|c| !c.is_alphanumeric()) {
        return ok(json!({"items": []}));
    }
    let path_of = |id: &str| -> Vec<String> {
        let lineage = s.lineage(id);
        let start = lineage.iter().position(|t| t.id == root).unwrap_or(0);
        lineage[start..].iter().map(|t| t.name.clone()).collect()
    };
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut items = Vec::new();
    for t in s
        .tenants
        .iter()
        .filter(|t| t.deleted_at.is_none() && s.in_subtree(&t.id, &root))
    {
        let fields = [
            Some(t.name.as_str()),
            t.customer_id.as_deref(),
            t.internal_tag.as_deref(),
            t.contact.get("email").and_then(Value::as_str),
            t.contact.get("firstname").and_then(Value::as_str),
            t.contact.get("lastname").and_then(Value::as_str),
        ];
        if fields
            .iter()
            .flatten()
            .any(|f| token_prefix_match(f, &text))
        {
            items.push(json!({
                "first_name": str_of(&t.contact, "firstname"),
                "id": t.id,
                "kind": t.kind,
                "last_name": str_of(&t.contact, "lastname"),
                "name": t.name,
                "obj_type": "tenant",
                "parent_id": t.parent_id,
                "path": path_of(&t.id),
            }));
        }
    }
    for u in s
        .users
        .iter()
        .filter(|u| !u.deleted && s.in_subtree(&u.tenant_id, &root))
    {
        let fields = [
            Some(u.login.as_str()),
            u.contact.get("email").and_then(Value::as_str),
            u.contact.get("firstname").and_then(Value::as_str),
            u.contact.get("lastname").and_then(Value::as_str),
        ];
        if fields
            .iter()
            .flatten()
            .any(|f| token_prefix_match(f, &text))
        {
            items.push(json!({
                "first_name": str_of(&u.contact, "firstname"),
                "id": u.id,
                "last_name": str_of(&u.contact, "lastname"),
                "login": u.login,
                "obj_type": "user",
                "parent_id": u.tenant_id,
                "path": path_of(&u.tenant_id),
            }));
        }
    }
    items.truncate(limit);
    ok(json!({ "items": items }))
}
