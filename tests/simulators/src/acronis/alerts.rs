//! Alert Manager API v1 (`/api/alert_manager/v1`): alerts, types, categories.

use std::cmp::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::state::{
    ApiError, ApiResult, ClearedField, Reply, Shared, SimState, decode_cursor, encode_cursor, ok,
    parse_body, parse_bool, parse_limit, query_get, query_pairs, rfc3339_ns,
};

pub const SEVERITIES: [&str; 5] = ["ok", "information", "warning", "error", "critical"];

fn severity_rank(s: &str) -> Option<i64> {
    SEVERITIES.iter().position(|x| *x == s).map(|p| p as i64)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertType {
    pub id: String,
    pub category: String,
    pub severity: String,
    #[serde(default)]
    pub title: String,
}

pub fn default_alert_types() -> Vec<AlertType> {
    [
        ("BackupFailed", "Backup", "critical", "Backup failed"),
        ("BackupCanceled", "Backup", "warning", "Backup is canceled"),
        (
            "BackupDidNotStart",
            "Backup",
            "error",
            "Backup did not start",
        ),
        (
            "BackupNotResponding",
            "Backup",
            "warning",
            "Backup is not responding",
        ),
        (
            "BackupStatusUnknown",
            "Backup",
            "warning",
            "Backup status is unknown",
        ),
        ("NoBackupForXDays", "Backup", "warning", "Backup is missing"),
        (
            "AgentAutoUpdateFailed",
            "System",
            "warning",
            "Automatic update failed",
        ),
        (
            "PlanDeploymentFailed",
            "System",
            "error",
            "Plan deployment failed",
        ),
        (
            "EDRIncidentDetected",
            "EDR",
            "critical",
            "EDR incident detected",
        ),
        (
            "DrStorageHardQuotaExceeds",
            "Disaster recovery",
            "error",
            "Disaster recovery storage hard quota exceeded",
        ),
    ]
    .into_iter()
    .map(|(id, category, severity, title)| AlertType {
        id: id.into(),
        category: category.into(),
        severity: severity.into(),
        title: title.into(),
    })
    .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub category: String,
    pub severity: String,
    pub created_ns: i64,
    pub received_ns: i64,
    pub updated_ns: i64,
    pub deleted_ns: Option<i64>,
    pub tenant_uuid: String,
    pub details: Value,
}

/// Body of `POST /_sim/alerts` (and, with `tenantID`, of `POST /alerts`).
#[derive(Debug, Clone, Deserialize)]
pub struct RaiseAlert {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(alias = "tenantID", alias = "tenant_id")]
    pub tenant: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub details: Value,
}

impl SimState {
    pub fn alert_json(&self, a: &Alert) -> Value {
        let legacy = self
            .tenant_any(&a.tenant_uuid)
            .map(|t| t.legacy_id.to_string())
            .unwrap_or_default();
        let mut o = Map::new();
        o.insert("id".into(), json!(a.id));
        o.insert("type".into(), json!(a.kind));
        o.insert("category".into(), json!(a.category));
        o.insert("severity".into(), json!(a.severity));
        o.insert("createdAt".into(), json!(rfc3339_ns(a.created_ns)));
        o.insert("receivedAt".into(), json!(rfc3339_ns(a.received_ns)));
        o.insert("updatedAt".into(), json!(rfc3339_ns(a.updated_ns)));
        if let Some(d) = a.deleted_ns {
            let field = match self.switches.cleared_alert_field {
                ClearedField::DeletedAt | ClearedField::Gone => "deletedAt",
                ClearedField::DeletedAtSnake => "deleted_at",
            };
            o.insert(field.into(), json!(rfc3339_ns(d)));
        }
        o.insert(
            "tenant".into(),
            json!({"id": legacy, "uuid": a.tenant_uuid, "locator": self.locator(&a.tenant_uuid)}),
        );
        o.insert("details".into(), a.details.clone());
        Value::Object(o)
    }

    fn alert_pos(&self, id: &str) -> Option<usize> {
        self.alert_idx.get(&id.to_ascii_uppercase()).copied()
    }

    /// Raises a new alert or re-raises an existing id (new updatedAt and details,
    /// deletedAt cleared). Returns the alert's id.
    pub fn raise_alert(&mut self, r: RaiseAlert) -> ApiResult<String> {
        let tenant = self.tenant_any(&r.tenant).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                400,
                format!("unknown tenant {}", r.tenant),
            )
        })?;
        let tenant_uuid = tenant.id.clone();
        let known = self.alert_types.iter().find(|t| t.id == r.kind).cloned();
        let severity = r
            .severity
            .clone()
            .or_else(|| known.as_ref().map(|t| t.severity.clone()))
            .unwrap_or_else(|| "warning".into());
        if severity_rank(&severity).is_none() {
            return Err(ApiError::bad_request(format!(
                "invalid severity {severity:?}"
            )));
        }
        let category = r
            .category
            .clone()
            .or_else(|| known.as_ref().map(|t| t.category.clone()))
            .unwrap_or_else(|| "Monitoring".into());
        let details = if r.details.is_null() {
            json!({})
        } else {
            r.details
        };
        let now = self.tick_ns();
        let id =
            r.id.map(|i| i.to_ascii_uppercase())
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_ascii_uppercase());
        match self.alert_pos(&id) {
            Some(i) => {
                let a = &mut self.alerts[i];
                a.kind = r.kind;
                a.category = category;
                a.severity = severity;
                a.tenant_uuid = tenant_uuid;
                a.details = details;
                a.received_ns = now;
                a.updated_ns = now;
                a.deleted_ns = None;
            }
            None => {
                self.alert_idx.insert(id.clone(), self.alerts.len());
                self.alerts.push(Alert {
                    id: id.clone(),
                    kind: r.kind,
                    category,
                    severity,
                    created_ns: now,
                    received_ns: now,
                    updated_ns: now,
                    deleted_ns: None,
                    tenant_uuid,
                    details,
                });
            }
        }
        Ok(id)
    }

    /// Dismisses (or clears) an alert: sets deletedAt and updatedAt. Idempotent.
    pub fn dismiss_alert(&mut self, id: &str) -> ApiResult<()> {
        let i = self
            .alert_pos(id)
            .ok_or_else(|| ApiError::not_found("Alert", id))?;
        if self.alerts[i].deleted_ns.is_none() {
            let now = self.tick_ns();
            let a = &mut self.alerts[i];
            a.deleted_ns = Some(now);
            a.updated_ns = now;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Lt => a < b,
            Op::Gt => a > b,
            Op::Le => a <= b,
            Op::Ge => a >= b,
        }
    }
}

/// Splits `op(args)` into `("op", "args")`.
fn func(v: &str) -> Option<(&str, &str)> {
    let open = v.find('(')?;
    let inner = v[open + 1..].strip_suffix(')')?;
    Some((&v[..open], inner))
}

fn parse_op(name: &str) -> Option<Op> {
    Some(match name {
        "eq" => Op::Eq,
        "lt" => Op::Lt,
        "gt" => Op::Gt,
        "le" => Op::Le,
        "ge" => Op::Ge,
        _ => return None,
    })
}

/// Values of a list filter given as repeats, csv and/or `or(a,b)`.
fn list_values(pairs: &[(String, String)], key: &str) -> Option<Vec<String>> {
    let vals: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == key || k == &format!("{key}[]"))
        .flat_map(|(_, v)| {
            let inner = match func(v) {
                Some(("or" | "eq" | "in", inner)) => inner,
                _ => v.as_str(),
            };
            inner
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    (!vals.is_empty()).then_some(vals)
}

type QueryPairs = Vec<(String, String)>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeField {
    Created,
    Updated,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(untagged)]
enum SortKey {
    Num(i64),
    Text(String),
}

#[derive(Debug)]
struct AlertQuery {
    ids: Option<Vec<String>>,
    skip: Option<Vec<String>>,
    types: Option<Vec<String>>,
    categories: Option<Vec<String>>,
    tenants: Option<Vec<String>>,
    severity: Option<(Option<Op>, Vec<i64>)>,
    show_deleted: bool,
    show_deleted_only: bool,
    times: Vec<(TimeField, Op, i64)>,
    order_field: String,
    desc: bool,
}

const ORDER_FIELDS: [&str; 13] = [
    "created_at",
    "updated_at",
    "deleted_at",
    "received_at",
    "severity",
    "type",
    "category",
    "id",
    "planId",
    "planName",
    "resourceId",
    "resourceName",
    "tenant",
];

/// Query keys that are filters (they travel inside the cursor).
fn is_filter_key(k: &str) -> bool {
    !matches!(k, "limit" | "after" | "before")
}

fn parse_alert_query(pairs: &[(String, String)]) -> ApiResult<AlertQuery> {
    let bad = |m: String| ApiError::bad_request(m);
    let mut times = Vec::new();
    for (k, v) in pairs {
        let field = match k.as_str() {
            "created_at" => TimeField::Created,
            "updated_at" => TimeField::Updated,
            "deleted_at" => TimeField::Deleted,
            _ => continue,
        };
        let (op, arg) = match func(v) {
            Some((op, arg)) => (
                parse_op(op).ok_or_else(|| bad(format!("invalid operator in {k}={v}")))?,
                arg,
            ),
            None => (Op::Eq, v.as_str()),
        };
        let ns = arg
            .trim()
            .parse::<i64>()
            .map_err(|_| bad(format!("{k} needs a UNIX timestamp in nanoseconds: {v}")))?;
        times.push((field, op, ns));
    }
    let severity = match query_get(pairs, "severity") {
        None | Some("") => None,
        Some(v) => {
            let (op, args) = match func(v) {
                Some(("or" | "in", a)) => (None, a),
                Some((op, a)) => (
                    Some(parse_op(op).ok_or_else(|| bad(format!("invalid severity filter {v}")))?),
                    a,
                ),
                None => (None, v),
            };
            let ranks = args
                .split(',')
                .map(|s| {
                    severity_rank(s.trim()).ok_or_else(|| bad(format!("invalid severity {s}")))
                })
                .collect::<ApiResult<Vec<i64>>>()?;
            if op.is_some() && ranks.len() != 1 {
                return Err(bad(format!("invalid severity filter {v}")));
            }
            Some((op, ranks))
        }
    };
    let (order_field, desc) = match query_get(pairs, "order") {
        None | Some("") => ("created_at".to_owned(), false),
        Some(v) => match func(v) {
            Some((dir @ ("asc" | "desc"), f)) => (f.trim().to_owned(), dir == "desc"),
            None if v == "asc" || v == "desc" => ("created_at".to_owned(), v == "desc"),
            _ => return Err(bad(format!("invalid order {v}"))),
        },
    };
    if !ORDER_FIELDS.contains(&order_field.as_str()) {
        return Err(bad(format!("cannot order by {order_field}")));
    }
    Ok(AlertQuery {
        ids: list_values(pairs, "id").map(|v| v.iter().map(|s| s.to_ascii_uppercase()).collect()),
        skip: list_values(pairs, "skip")
            .map(|v| v.iter().map(|s| s.to_ascii_uppercase()).collect()),
        types: list_values(pairs, "type"),
        categories: list_values(pairs, "category"),
        tenants: list_values(pairs, "tenant")
            .map(|v| v.iter().map(|s| s.to_ascii_lowercase()).collect()),
        severity,
        show_deleted: parse_bool(query_get(pairs, "show_deleted"), false)?,
        show_deleted_only: parse_bool(query_get(pairs, "show_deleted_only"), false)?,
        times,
        order_field,
        desc,
    })
}

impl AlertQuery {
    fn matches(&self, a: &Alert) -> bool {
        if self.show_deleted_only {
            if a.deleted_ns.is_none() {
                return false;
            }
        } else if !self.show_deleted && a.deleted_ns.is_some() {
            return false;
        }
        let rank = severity_rank(&a.severity).unwrap_or(0);
        self.ids.as_ref().is_none_or(|v| v.contains(&a.id))
            && !self.skip.as_ref().is_some_and(|v| v.contains(&a.id))
            && self.types.as_ref().is_none_or(|v| v.contains(&a.kind))
            && self
                .categories
                .as_ref()
                .is_none_or(|v| v.contains(&a.category))
            && self
                .tenants
                .as_ref()
                .is_none_or(|v| v.contains(&a.tenant_uuid))
            && self.severity.as_ref().is_none_or(|(op, ranks)| match op {
                None => ranks.contains(&rank),
                Some(op) => op.holds(rank, ranks[0]),
            })
            && self.times.iter().all(|(f, op, ns)| {
                let v = match f {
                    TimeField::Created => Some(a.created_ns),
                    TimeField::Updated => Some(a.updated_ns),
                    TimeField::Deleted => a.deleted_ns,
                };
                v.is_some_and(|v| op.holds(v, *ns))
            })
    }

    fn key(&self, a: &Alert) -> SortKey {
        let detail = |k: &str| {
            SortKey::Text(
                a.details
                    .get(k)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .unwrap_or_default(),
            )
        };
        match self.order_field.as_str() {
            "created_at" => SortKey::Num(a.created_ns),
            "updated_at" => SortKey::Num(a.updated_ns),
            "deleted_at" => SortKey::Num(a.deleted_ns.unwrap_or(i64::MIN)),
            "received_at" => SortKey::Num(a.received_ns),
            "severity" => SortKey::Num(severity_rank(&a.severity).unwrap_or(0)),
            "type" => SortKey::Text(a.kind.clone()),
            "category" => SortKey::Text(a.category.clone()),
            "tenant" => SortKey::Text(a.tenant_uuid.clone()),
            "id" => SortKey::Text(a.id.clone()),
            other => detail(other),
        }
    }

    /// Ordering of `(key, id)` pairs in walk direction.
    fn cmp(&self, a: &(SortKey, String), b: &(SortKey, String)) -> Ordering {
        let o =
            a.0.partial_cmp(&b.0)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.1.cmp(&b.1));
        if self.desc { o.reverse() } else { o }
    }
}

pub async fn list_alerts(State(app): State<Shared>, RawQuery(q): RawQuery) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let limit = parse_limit(query_get(&pairs, "limit"), 100, 10_000)?;
    let (filters, position): (QueryPairs, Option<(SortKey, String)>) =
        match query_get(&pairs, "after") {
            Some(c) if !c.is_empty() => {
                let cur = decode_cursor(c)?;
                let invalid = || ApiError::bad_request("invalid paging cursor");
                let f = serde_json::from_value(cur["f"].clone()).map_err(|_| invalid())?;
                let k: SortKey = serde_json::from_value(cur["k"].clone()).map_err(|_| invalid())?;
                let id = cur["id"].as_str().ok_or_else(invalid)?.to_owned();
                (f, Some((k, id)))
            }
            _ => (
                pairs
                    .iter()
                    .filter(|(k, _)| is_filter_key(k))
                    .cloned()
                    .collect(),
                None,
            ),
        };
    let query = parse_alert_query(&filters)?;
    let s = app.lock();
    let gone = s.switches.cleared_alert_field == ClearedField::Gone;
    let mut rows: Vec<((SortKey, String), &Alert)> = s
        .alerts
        .iter()
        .filter(|a| query.matches(a))
        .filter(|a| !(gone && a.deleted_ns.is_some()))
        .map(|a| ((query.key(a), a.id.clone()), a))
        .filter(|(k, _)| {
            position
                .as_ref()
                .is_none_or(|p| query.cmp(k, p) == Ordering::Greater)
        })
        .collect();
    rows.sort_by(|a, b| query.cmp(&a.0, &b.0));
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut cursors = Map::new();
    if more && let Some(((k, id), _)) = rows.last() {
        cursors.insert(
            "after".into(),
            json!(encode_cursor(&json!({"f": filters, "k": k, "id": id}))),
        );
    }
    let items: Vec<Value> = rows.iter().map(|(_, a)| s.alert_json(a)).collect();
    ok(json!({ "items": items, "paging": { "cursors": cursors } }))
}

pub async fn get_alert(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let show_deleted = parse_bool(query_get(&pairs, "show_deleted"), false)?;
    let s = app.lock();
    let gone = s.switches.cleared_alert_field == ClearedField::Gone;
    match s.alert_pos(&id).map(|i| &s.alerts[i]) {
        Some(a) if (show_deleted && !gone) || a.deleted_ns.is_none() => ok(s.alert_json(a)),
        _ => Err(ApiError::not_found("Alert", &id)),
    }
}

pub async fn dismiss_alert(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.lock().dismiss_alert(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /alerts` (inject): `{type, category?, severity?, details, tenantID, id?}` → `{id}`.
pub async fn post_alert(State(app): State<Shared>, body: Bytes) -> Reply {
    let raise: RaiseAlert = serde_json::from_value(parse_body(&body)?)
        .map_err(|e| ApiError::bad_request(format!("invalid alert: {e}")))?;
    let id = app.lock().raise_alert(raise)?;
    ok(json!({ "id": id }))
}

pub async fn list_types(State(app): State<Shared>, RawQuery(q): RawQuery) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let cats = list_values(&pairs, "category");
    let s = app.lock();
    let items: Vec<Value> = s
        .alert_types
        .iter()
        .filter(|t| cats.as_ref().is_none_or(|c| c.contains(&t.category)))
        .map(|t| {
            json!({
                "id": t.id,
                "category": t.category,
                "severity": t.severity,
                "title": t.title,
                "os_type": ["windows", "linux", "macos"],
                "enabled": true,
            })
        })
        .collect();
    ok(json!({ "items": items }))
}

pub async fn get_type(State(app): State<Shared>, Path(id): Path<String>) -> Reply {
    let s = app.lock();
    let t = s
        .alert_types
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::not_found("Alert type", &id))?;
    ok(
        json!({"id": t.id, "category": t.category, "severity": t.severity, "title": t.title,
              "os_type": ["windows", "linux", "macos"], "enabled": true}),
    )
}

pub async fn list_categories(State(app): State<Shared>) -> Reply {
    let s = app.lock();
    let mut cats: Vec<String> = [
        "Backup",
        "Disaster recovery",
        "Antimalware protection",
        "URL Filtering",
        "Licensing",
        "EDR",
        "Device Control",
        "System",
        "Public clouds connection",
        "Software deployment",
        "Management",
        "Search",
        "Monitoring",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for t in &s.alert_types {
        if !cats.contains(&t.category) {
            cats.push(t.category.clone());
        }
    }
    let items: Vec<Value> = cats
        .iter()
        .map(|c| json!({"id": c, "name": c, "enabled": true}))
        .collect();
    ok(json!({ "items": items }))
}

/// `POST /_sim/alerts`: raises or re-raises and returns the alert object.
pub async fn sim_raise(State(app): State<Shared>, body: Bytes) -> Reply {
    let raise: RaiseAlert = serde_json::from_value(parse_body(&body)?)
        .map_err(|e| ApiError::bad_request(format!("invalid alert: {e}")))?;
    let mut s = app.lock();
    let id = s.raise_alert(raise)?;
    let a = s
        .alert_pos(&id)
        .map(|i| s.alert_json(&s.alerts[i]))
        .unwrap_or(Value::Null);
    ok(a)
}

/// `DELETE /_sim/alerts/{id}`: the problem went away (deletedAt + updatedAt).
pub async fn sim_clear(State(app): State<Shared>, Path(id): Path<String>) -> Reply {
    let mut s = app.lock();
    s.dismiss_alert(&id)?;
    let a = s
        .alert_pos(&id)
        .map(|i| s.alert_json(&s.alerts[i]))
        .unwrap_or(Value::Null);
    ok(a)
}

/// `POST /_sim/alert-types`: adds or replaces alert types `{items:[{id, category, severity, title?}]}`.
pub async fn sim_types(State(app): State<Shared>, body: Bytes) -> ApiResult<StatusCode> {
    let body = parse_body(&body)?;
    let list = body.get("items").cloned().unwrap_or(body);
    let types: Vec<AlertType> = serde_json::from_value(list)
        .map_err(|e| ApiError::bad_request(format!("invalid alert types: {e}")))?;
    let mut s = app.lock();
    for t in types {
        if severity_rank(&t.severity).is_none() {
            return Err(ApiError::bad_request(format!(
                "invalid severity {}",
                t.severity
            )));
        }
        match s.alert_types.iter_mut().find(|x| x.id == t.id) {
            Some(x) => *x = t,
            None => s.alert_types.push(t),
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        query_pairs(Some(q))
    }

    #[test]
    fn parses_filters() {
        let q = parse_alert_query(&pairs(
            "updated_at=gt(5)&type=BackupFailed,BackupCanceled&type=EDRIncidentDetected&tenant=or(A,b)&severity=ge(warning)&order=desc(updated_at)",
        ))
        .expect("parses");
        assert_eq!(q.times, vec![(TimeField::Updated, Op::Gt, 5)]);
        assert_eq!(q.types.as_ref().map(Vec::len), Some(3));
        assert_eq!(q.tenants, Some(vec!["a".into(), "b".into()]));
        assert_eq!(q.severity, Some((Some(Op::Ge), vec![2])));
        assert!(q.desc);
        assert!(parse_alert_query(&pairs("updated_at=xx(5)")).is_err());
        assert!(parse_alert_query(&pairs("severity=eq(bad)")).is_err());
        assert!(parse_alert_query(&pairs("order=asc(nope)")).is_err());
    }

    #[test]
    fn raise_reraise_dismiss() {
        let mut s = SimState::new(super::super::AcronisSimConfig::default());
        let tenant = s.partner_id();
        let r = RaiseAlert {
            id: Some("abc".into()),
            tenant,
            kind: "BackupFailed".into(),
            category: None,
            severity: None,
            details: json!({"resourceName": "pc1"}),
        };
        let id = s.raise_alert(r.clone()).expect("raised");
        assert_eq!(id, "ABC");
        let first = s.alerts[0].updated_ns;
        assert_eq!(s.alerts[0].severity, "critical");
        s.dismiss_alert("abc").expect("dismissed");
        let dismissed = s.alerts[0].updated_ns;
        assert!(dismissed > first);
        assert_eq!(s.alerts[0].deleted_ns, Some(dismissed));
        s.raise_alert(r).expect("re-raised");
        assert!(s.alerts[0].updated_ns > dismissed);
        assert_eq!(s.alerts[0].deleted_ns, None);
        assert_eq!(s.alerts.len(), 1);
    }
}
