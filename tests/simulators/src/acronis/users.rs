//! Account Management API v2: users, activation e-mails and access policies.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::state::{
    ActivationEmail, ApiError, ApiResult, Reply, Shared, SimState, User, ok, parse_body, query_get,
    query_pairs, rfc3339_secs, user_contact,
};

const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// Logins: at least 3 characters of ASCII letters, digits and `.@_-+:!#$%^*={}'/?` or backtick.
pub fn valid_login(login: &str) -> bool {
    login.chars().count() >= 3
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".@_-+:!#$%^*={}'/?`".contains(c))
}

fn invalid_login(login: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        1033,
        format!("Invalid login {login:?}"),
    )
}

fn login_taken() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, 409, "Login is already taken")
}

impl SimState {
    pub fn login_taken(&self, login: &str) -> bool {
        self.users
            .iter()
            .any(|u| !u.deleted && u.login.eq_ignore_ascii_case(login))
    }

    pub fn create_user(&mut self, body: &Value) -> ApiResult<String> {
        let tenant_id = body
            .get("tenant_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("tenant_id is required"))?
            .to_ascii_lowercase();
        let login = body
            .get("login")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("login is required"))?
            .trim()
            .to_owned();
        let contact = body.get("contact").cloned().unwrap_or(Value::Null);
        let email = contact
            .get("email")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| ApiError::bad_request("contact.email is required"))?;
        if !email.contains('@') {
            return Err(ApiError::bad_request(
                "contact.email is not an e-mail address",
            ));
        }
        if !valid_login(&login) {
            return Err(invalid_login(&login));
        }
        self.tenant(&tenant_id)?;
        if self.login_taken(&login) {
            let status = StatusCode::from_u16(self.switches.taken_login_status)
                .unwrap_or(StatusCode::CONFLICT);
            return Err(ApiError::new(
                status,
                i64::from(status.as_u16()),
                "Login is already taken",
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let user = User {
            id: id.clone(),
            version: 1,
            tenant_id,
            login,
            contact: user_contact(&contact),
            language: body
                .get("language")
                .and_then(Value::as_str)
                .unwrap_or("en")
                .to_owned(),
            activated: false,
            enabled: true,
            created_at: crate::clock::now(),
            deleted: false,
            access_policies: Vec::new(),
        };
        self.user_idx.insert(id.clone(), self.users.len());
        self.users.push(user);
        Ok(id)
    }
}

pub async fn check_login(
    State(app): State<Shared>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let pairs = query_pairs(q.as_deref());
    let login = query_get(&pairs, "username")
        .ok_or_else(|| ApiError::bad_request("username is required"))?
        .trim()
        .to_owned();
    if !valid_login(&login) {
        return Err(invalid_login(&login));
    }
    if app.lock().login_taken(&login) {
        return Err(login_taken());
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_user(State(app): State<Shared>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    let mut s = app.lock();
    let id = s.create_user(&body)?;
    let u = s.user(&id)?;
    ok(s.user_json(u))
}

pub async fn get_user(State(app): State<Shared>, Path(id): Path<String>) -> Reply {
    let s = app.lock();
    let u = s.user(&id)?;
    ok(s.user_json(u))
}

/// `PUT /users/{id}`: `version*` plus any of `enabled, contact, language`.
pub async fn put_user(State(app): State<Shared>, Path(id): Path<String>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    let version = body
        .get("version")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("version is required"))?;
    let mut s = app.lock();
    let u = s.user_mut(&id)?;
    if u.version != version {
        return Err(ApiError::version_mismatch());
    }
    if let Some(e) = body.get("enabled") {
        u.enabled = e
            .as_bool()
            .ok_or_else(|| ApiError::bad_request("enabled must be a boolean"))?;
    }
    if let Some(c) = body.get("contact").filter(|c| c.is_object()) {
        let mut merged = u.contact.clone();
        if let (Some(m), Some(c)) = (merged.as_object_mut(), c.as_object()) {
            for (k, v) in c {
                m.insert(k.clone(), v.clone());
            }
        }
        u.contact = merged;
    }
    if let Some(l) = body.get("language").and_then(Value::as_str) {
        u.language = l.to_owned();
    }
    u.version += 1;
    let u = s.user(&id)?;
    ok(s.user_json(u))
}

/// `DELETE /users/{id}?version=N`: the user must be disabled first.
pub async fn delete_user(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let pairs = query_pairs(q.as_deref());
    let version = query_get(&pairs, "version")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| ApiError::bad_request("version is required"))?;
    let mut s = app.lock();
    let u = s.user_mut(&id)?;
    if u.version != version {
        return Err(ApiError::version_mismatch());
    }
    if u.enabled {
        return Err(ApiError::bad_request(
            "It is prohibited to delete a non-disabled user.",
        ));
    }
    u.deleted = true;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /tenants/{id}/users` → `{items:[user uuid]}`.
pub async fn tenant_users(State(app): State<Shared>, Path(id): Path<String>) -> Reply {
    let s = app.lock();
    let t = s.tenant(&id)?;
    let items: Vec<&str> = s
        .users
        .iter()
        .filter(|u| !u.deleted && u.tenant_id == t.id)
        .map(|u| u.id.as_str())
        .collect();
    ok(json!({ "items": items }))
}

pub async fn send_activation_email(
    State(app): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    parse_body(&body)?;
    let mut s = app.lock();
    let u = s.user(&id)?;
    let rec = ActivationEmail {
        user_id: u.id.clone(),
        login: u.login.clone(),
        email: u
            .contact
            .get("email")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        at: rfc3339_secs(crate::clock::now()),
    };
    s.activation_emails.push(rec);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn put_access_policies(
    State(app): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("items is required"))?;
    let mut s = app.lock();
    let user_id = s.user(&id)?.id.clone();
    let partner = s.partner_id();
    let mut out = Vec::new();
    for p in items {
        let role = p
            .get("role_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("role_id is required"))?;
        let tenant_id = p
            .get("tenant_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("tenant_id is required"))?;
        s.tenant(tenant_id)?;
        let pid = p
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| *i != NIL_UUID)
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let issuer = p
            .get("issuer_id")
            .and_then(Value::as_str)
            .filter(|i| *i != NIL_UUID)
            .map_or_else(|| partner.clone(), str::to_owned);
        out.push(json!({
            "id": pid,
            "issuer_id": issuer,
            "role_id": role,
            "tenant_id": tenant_id,
            "trustee_id": user_id,
            "trustee_type": p.get("trustee_type").and_then(Value::as_str).unwrap_or("user"),
            "version": p.get("version").and_then(Value::as_i64).unwrap_or(0) + 1,
        }));
    }
    s.user_mut(&id)?.access_policies = out.clone();
    ok(json!({ "items": out }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins() {
        assert!(valid_login("john.doe@example.com"));
        assert!(valid_login("abc"));
        assert!(!valid_login("ab"));
        assert!(!valid_login("john doe"));
        assert!(!valid_login("jöhn"));
    }
}
