//! Offering items (catalog, per-tenant items and quotas), usages and storage infra.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use chrono::{Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::state::{
    ApiError, ApiResult, CYBER_PROTECTION_APP, Reply, Shared, SimState, Tenant, UsageRecord,
    decode_cursor, encode_cursor, ok, parse_body, query_get, query_pairs,
};

pub const INFRA_EU: &str = "019097a6-114f-4418-bd54-e01ef049f209";
pub const INFRA_US: &str = "5b0f7d3e-2c41-4a8e-9d6b-7e1f2a3c4d5e";

fn default_app() -> String {
    CYBER_PROTECTION_APP.to_owned()
}

/// One item of the partner's catalog (what it may give to children).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogItem {
    #[serde(default = "default_app")]
    pub application_id: String,
    pub name: String,
    #[serde(default)]
    pub edition: Option<String>,
    /// Defaults to `name` when absent.
    #[serde(default)]
    pub usage_name: String,
    /// `count` | `infra` | `feature`.
    #[serde(rename = "type", default = "default_kind")]
    pub kind: String,
    #[serde(default = "default_unit")]
    pub measurement_unit: String,
    #[serde(default)]
    pub infra_id: Option<String>,
    /// Location name of the storage (`GET /api/2/infra/{id}`).
    #[serde(default)]
    pub infra_name: Option<String>,
    #[serde(default)]
    pub locked: bool,
}

fn default_kind() -> String {
    "count".into()
}
fn default_unit() -> String {
    "quantity".into()
}

impl CatalogItem {
    pub fn same_key(&self, name: &str, infra_id: Option<&str>) -> bool {
        self.name == name && self.infra_id.as_deref() == infra_id
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Quota {
    pub value: Option<i64>,
    pub overage: Option<i64>,
    pub version: i64,
}

impl Quota {
    pub fn unlimited() -> Self {
        Self {
            value: None,
            overage: None,
            version: 0,
        }
    }
}

/// A tenant's copy of a catalog item.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OfferingItem {
    pub item: CatalogItem,
    pub status: i64,
    pub quota: Quota,
}

impl OfferingItem {
    pub fn new(item: CatalogItem, status: i64) -> Self {
        Self {
            item,
            status,
            quota: Quota::unlimited(),
        }
    }

    pub fn to_json(&self) -> Value {
        let i = &self.item;
        let mut o = Map::new();
        o.insert("application_id".into(), json!(i.application_id));
        o.insert("edition".into(), json!(i.edition));
        if let Some(infra) = &i.infra_id {
            o.insert("infra_id".into(), json!(infra));
        }
        o.insert("locked".into(), json!(i.locked));
        o.insert("measurement_unit".into(), json!(i.measurement_unit));
        o.insert("name".into(), json!(i.name));
        if self.status == 1 && i.kind != "feature" {
            o.insert("quota".into(), json!(self.quota));
        }
        o.insert("status".into(), json!(self.status));
        o.insert("type".into(), json!(i.kind));
        o.insert("usage_name".into(), json!(i.usage_name));
        Value::Object(o)
    }
}

fn item(
    name: &str,
    edition: Option<&str>,
    usage_name: &str,
    kind: &str,
    unit: &str,
    infra: Option<(&str, &str)>,
) -> CatalogItem {
    CatalogItem {
        application_id: default_app(),
        name: name.into(),
        edition: edition.map(Into::into),
        usage_name: usage_name.into(),
        kind: kind.into(),
        measurement_unit: unit.into(),
        infra_id: infra.map(|(id, _)| id.into()),
        infra_name: infra.map(|(_, n)| n.into()),
        locked: false,
    }
}

/// The second data centre's catalog: the default one without the EU storage and without
/// Microsoft 365 seats.
pub fn second_catalog() -> Vec<CatalogItem> {
    default_catalog()
        .into_iter()
        .filter(|i| i.infra_id.as_deref() != Some(INFRA_EU) && i.name != "pw_base_m365_seats")
        .collect()
}

pub fn default_catalog() -> Vec<CatalogItem> {
    let pw = Some("pck_per_workload");
    let pg = Some("pck_per_gigabyte");
    let eu = Some((INFRA_EU, "Acronis Cloud EU"));
    let us = Some((INFRA_US, "Acronis Cloud US"));
    vec![
        item(
            "pw_base_workstations",
            pw,
            "workstations",
            "count",
            "quantity",
            None,
        ),
        item("pw_base_servers", pw, "servers", "count", "quantity", None),
        item("pw_base_vms", pw, "vms", "count", "quantity", None),
        item(
            "pw_base_m365_seats",
            pw,
            "mailboxes",
            "count",
            "quantity",
            None,
        ),
        item("pw_base_storage", pw, "storage", "infra", "bytes", eu),
        item("pw_base_storage", pw, "storage", "infra", "bytes", us),
        item(
            "pw_pack_adv_backup_servers",
            pw,
            "pack_adv_backup_servers",
            "count",
            "quantity",
            None,
        ),
        item(
            "pw_pack_adv_security",
            pw,
            "pack_adv_security",
            "count",
            "quantity",
            None,
        ),
        item(
            "local_storage",
            None,
            "local_storage",
            "count",
            "bytes",
            None,
        ),
        item(
            "pg_base_workstations",
            pg,
            "workstations",
            "count",
            "quantity",
            None,
        ),
        item("pg_base_servers", pg, "servers", "count", "quantity", None),
        item("pg_base_storage", pg, "storage", "infra", "bytes", eu),
        item("pg_base_storage", pg, "storage", "infra", "bytes", us),
    ]
}

/// The `edition` query filter: `*` = all, default the legacy `standard` edition.
/// Edition-less items (e.g. `local_storage`) come with any explicit current edition.
fn edition_matches(filter: &str, edition: Option<&str>) -> bool {
    match (filter, edition) {
        ("*", _) => true,
        ("standard", e) => e == Some("standard"),
        (_, None) => true,
        (f, Some(e)) => f.split(',').any(|f| f == e),
    }
}

fn item_filter(pairs: &[(String, String)]) -> ApiResult<impl Fn(&OfferingItem) -> bool> {
    let edition = query_get(pairs, "edition").unwrap_or("standard").to_owned();
    let status = match query_get(pairs, "status") {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| ApiError::bad_request("status must be 0 or 1"))?,
        ),
    };
    let kind = query_get(pairs, "type")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(move |o: &OfferingItem| {
        edition_matches(&edition, o.item.edition.as_deref())
            && status.is_none_or(|s| s == o.status)
            && kind.as_deref().is_none_or(|k| k == o.item.kind)
    })
}

pub async fn get_offering_items(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let filter = item_filter(&pairs)?;
    let s = app.lock();
    let t = s.tenant(&id)?;
    let items: Vec<Value> = t
        .offering_items
        .iter()
        .filter(|o| filter(o))
        .map(OfferingItem::to_json)
        .collect();
    ok(json!({ "items": items }))
}

pub async fn available_for_child(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let kind = query_get(&pairs, "kind").unwrap_or("customer");
    if !["partner", "folder", "customer", "unit"].contains(&kind) {
        return Err(ApiError::bad_request(format!("invalid kind {kind:?}")));
    }
    let filter = item_filter(&pairs)?;
    let s = app.lock();
    let t = s.tenant(&id)?;
    let items: Vec<Value> = t
        .offering_items
        .iter()
        .filter(|o| o.status == 1)
        .map(|o| OfferingItem::new(o.item.clone(), 1))
        .filter(|o| filter(o))
        .map(|o| o.to_json())
        .collect();
    ok(json!({ "items": items }))
}

#[derive(Debug, Deserialize)]
struct ItemChange {
    #[serde(default)]
    application_id: Option<String>,
    name: String,
    #[serde(default)]
    infra_id: Option<String>,
    #[serde(default)]
    status: Option<i64>,
    #[serde(default)]
    quota: Option<QuotaChange>,
}

#[derive(Debug, Deserialize)]
struct QuotaChange {
    #[serde(default)]
    value: Option<i64>,
    #[serde(default)]
    overage: Option<i64>,
    #[serde(default)]
    version: Option<i64>,
}

impl SimState {
    pub fn usage_value(t: &Tenant, name: &str, infra_id: Option<&str>) -> i64 {
        t.usages
            .iter()
            .find(|u| u.name == name && u.infra_id.as_deref() == infra_id)
            .map_or(0, |u| u.value)
    }

    /// Applies `PUT /tenants/{id}/offering_items`. With `check_versions` false (seeding),
    /// quota versions are not compared and usage/business rules are not enforced.
    pub fn put_offering_items(
        &mut self,
        id: &str,
        body: &Value,
        check_versions: bool,
    ) -> ApiResult<Vec<Value>> {
        let list = body
            .get("offering_items")
            .or_else(|| body.get("items"))
            .cloned()
            .ok_or_else(|| ApiError::bad_request("offering_items is required"))?;
        let changes: Vec<ItemChange> = serde_json::from_value(list)
            .map_err(|e| ApiError::bad_request(format!("invalid offering_items: {e}")))?;
        let t = self.tenant(id)?;
        let is_customer = t.kind == "customer";
        let mut items = t.offering_items.clone();
        let mut touched = Vec::new();
        let mut planned = Vec::new();
        for ch in &changes {
            let candidates: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, o)| {
                    o.item.name == ch.name
                        && ch
                            .application_id
                            .as_deref()
                            .is_none_or(|a| a.eq_ignore_ascii_case(&o.item.application_id))
                        && match &ch.infra_id {
                            Some(i) => o.item.infra_id.as_deref() == Some(i.as_str()),
                            None => true,
                        }
                })
                .map(|(i, _)| i)
                .collect();
            let idx = match candidates.as_slice() {
                [one] => *one,
                [] => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        1021,
                        format!("Offering item {} is not available", ch.name),
                    ));
                }
                _ => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        1021,
                        format!("Offering item {} needs infra_id", ch.name),
                    ));
                }
            };
            let cur = &items[idx];
            let new_status = ch.status.unwrap_or(cur.status);
            if !(0..=1).contains(&new_status) {
                return Err(ApiError::bad_request("status must be 0 or 1"));
            }
            if check_versions
                && cur.status == 1
                && new_status == 1
                && let Some(q) = &ch.quota
                && q.version != Some(cur.quota.version)
            {
                return Err(ApiError::new(
                    StatusCode::UPGRADE_REQUIRED,
                    426,
                    format!(
                        "Quota version mismatch for offering item {}: expected {}, got {}",
                        ch.name,
                        cur.quota.version,
                        q.version.map_or("none".into(), |v| v.to_string())
                    ),
                ));
            }
            if check_versions && cur.status == 1 && new_status == 0 {
                let t = self.tenant(id)?;
                if Self::usage_value(t, &cur.item.name, cur.item.infra_id.as_deref()) > 0 {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        1023,
                        format!(
                            "Offering item {} cannot be disabled: it has usage",
                            cur.item.name
                        ),
                    ));
                }
            }
            planned.push((idx, new_status));
            items[idx].status = new_status;
            if new_status == 1
                && let Some(q) = &ch.quota
            {
                let cur_q = items[idx].quota.clone();
                let changed = q.value != cur_q.value || q.overage != cur_q.overage;
                if q.value.is_none() {
                    items[idx].quota = Quota::unlimited();
                } else if changed || !check_versions {
                    items[idx].quota = Quota {
                        value: q.value,
                        overage: q.overage,
                        version: 0, // set below, after validation
                    };
                    touched.push(idx);
                }
            }
        }
        if check_versions && is_customer {
            let mut seen: HashMap<&str, HashSet<&str>> = HashMap::new();
            for o in items
                .iter()
                .filter(|o| o.status == 1 && o.item.kind == "infra")
            {
                if let Some(infra) = &o.item.infra_id {
                    seen.entry(o.item.usage_name.as_str())
                        .or_default()
                        .insert(infra.as_str());
                }
            }
            if let Some((usage, _)) = seen.iter().find(|(_, set)| set.len() > 1) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    1027,
                    format!("Only one storage may be enabled for {usage} in a customer tenant"),
                ));
            }
        }
        for idx in touched {
            items[idx].quota.version = self.next_quota_version();
        }
        let answer = planned
            .iter()
            .map(|(idx, _)| items[*idx].to_json())
            .collect();
        self.tenant_mut(id)?.offering_items = items;
        Ok(answer)
    }

    /// Adds or replaces partner catalog items; every tenant gets the new items (disabled,
    /// enabled and unlimited on the partner).
    pub fn upsert_catalog(&mut self, items: Vec<CatalogItem>) {
        let partner = self.partner_id();
        for mut c in items {
            if c.usage_name.is_empty() {
                c.usage_name = c.name.clone();
            }
            match self
                .catalog
                .iter_mut()
                .find(|x| x.same_key(&c.name, c.infra_id.as_deref()))
            {
                Some(x) => *x = c.clone(),
                None => self.catalog.push(c.clone()),
            }
            for t in &mut self.tenants {
                match t
                    .offering_items
                    .iter_mut()
                    .find(|o| o.item.same_key(&c.name, c.infra_id.as_deref()))
                {
                    Some(o) => o.item = c.clone(),
                    None => {
                        let status = i64::from(t.id == partner);
                        t.offering_items.push(OfferingItem::new(c.clone(), status));
                    }
                }
            }
        }
    }

    /// Sets one usage value (control API).
    pub fn set_usage(&mut self, tenant: &str, rec: UsageRecord) -> ApiResult<()> {
        let t = self.tenant_mut(tenant)?;
        match t
            .usages
            .iter_mut()
            .find(|u| u.name == rec.name && u.infra_id == rec.infra_id)
        {
            Some(u) => *u = rec,
            None => t.usages.push(rec),
        }
        Ok(())
    }

    pub fn usages_json(&self, t: &Tenant) -> Vec<Value> {
        let now = crate::clock::now();
        let range_start = Utc
            .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
            .single()
            .map(super::state::rfc3339_secs)
            .unwrap_or_default();
        let mut out = Vec::new();
        let usage_of = |name: &str, infra: Option<&str>| {
            t.usages
                .iter()
                .find(|u| u.name == name && u.infra_id.as_deref() == infra)
        };
        let base = |app: &str,
                    name: &str,
                    usage_name: &str,
                    edition: Option<&str>,
                    kind: &str,
                    unit: &str,
                    infra: Option<&str>,
                    rec: Option<&UsageRecord>| {
            let value = rec.map_or(0, |u| u.value);
            let mut o = Map::new();
            o.insert(
                "absolute_value".into(),
                json!(rec.and_then(|u| u.absolute_value).unwrap_or(value)),
            );
            o.insert("application_id".into(), json!(app));
            o.insert("edition".into(), json!(edition));
            if let Some(i) = infra {
                o.insert("infra_id".into(), json!(i));
            }
            o.insert("measurement_unit".into(), json!(unit));
            o.insert("name".into(), json!(name));
            o.insert("range_start".into(), json!(range_start));
            o.insert("tenant_id".into(), json!(t.legacy_id));
            o.insert("tenant_uuid".into(), json!(t.id));
            o.insert("type".into(), json!(kind));
            o.insert("usage_name".into(), json!(usage_name));
            o.insert("value".into(), json!(value));
            o
        };
        for oi in &t.offering_items {
            let i = &oi.item;
            let rec = usage_of(&i.name, i.infra_id.as_deref());
            let mut o = base(
                &i.application_id,
                &i.name,
                &i.usage_name,
                i.edition.as_deref(),
                &i.kind,
                &i.measurement_unit,
                i.infra_id.as_deref(),
                rec,
            );
            let mut item = Map::new();
            if oi.status == 1 && i.kind != "feature" {
                item.insert("quota".into(), json!(oi.quota));
            }
            item.insert("status".into(), json!(oi.status));
            o.insert("offering_item".into(), Value::Object(item));
            out.push(Value::Object(o));
        }
        for u in &t.usages {
            let known = t
                .offering_items
                .iter()
                .any(|o| o.item.same_key(&u.name, u.infra_id.as_deref()));
            if known {
                continue;
            }
            let kind = u.kind.clone().unwrap_or_else(|| {
                if u.infra_id.is_some() {
                    "infra"
                } else {
                    "count"
                }
                .into()
            });
            let unit = u.measurement_unit.clone().unwrap_or_else(|| {
                if u.infra_id.is_some() {
                    "bytes"
                } else {
                    "quantity"
                }
                .into()
            });
            let o = base(
                u.application_id.as_deref().unwrap_or(CYBER_PROTECTION_APP),
                &u.name,
                u.usage_name.as_deref().unwrap_or(&u.name),
                u.edition.as_deref(),
                &kind,
                &unit,
                u.infra_id.as_deref(),
                Some(u),
            );
            out.push(Value::Object(o));
        }
        out
    }
}

fn csv_filter(pairs: &[(String, String)], key: &str) -> Option<HashSet<String>> {
    let set: HashSet<String> = pairs
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    (!set.is_empty()).then_some(set)
}

fn filter_usages(pairs: &[(String, String)], usages: Vec<Value>) -> Vec<Value> {
    let names = csv_filter(pairs, "usage_names");
    let editions = csv_filter(pairs, "editions");
    usages
        .into_iter()
        .filter(|u| {
            names.as_ref().is_none_or(|n| {
                u["usage_name"].as_str().is_some_and(|s| n.contains(s))
                    || u["name"].as_str().is_some_and(|s| n.contains(s))
            })
        })
        .filter(|u| {
            editions
                .as_ref()
                .is_none_or(|e| match u["edition"].as_str() {
                    Some(ed) => e.contains(ed),
                    None => e.contains("null") || e.contains("*"),
                })
        })
        .collect()
}

pub async fn put_offering_items(
    State(app): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    let items = app.lock().put_offering_items(&id, &body, true)?;
    ok(json!({ "items": items }))
}

pub async fn tenant_usages(
    State(app): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let s = app.lock();
    let t = s.tenant(&id)?;
    ok(json!({ "items": filter_usages(&pairs, s.usages_json(t)) }))
}

pub async fn batch_usages(State(app): State<Shared>, RawQuery(q): RawQuery) -> Reply {
    let pairs = query_pairs(q.as_deref());
    // A continuation carries the ids and the position in its cursor.
    let (ids, from): (Vec<String>, usize) = match query_get(&pairs, "after") {
        Some(c) if !c.is_empty() => {
            let cur = decode_cursor(c)?;
            let ids = serde_json::from_value(cur["f"].clone())
                .map_err(|_| ApiError::bad_request("invalid paging cursor"))?;
            let p = cur["p"]
                .as_u64()
                .ok_or_else(|| ApiError::bad_request("invalid paging cursor"))?;
            (ids, usize::try_from(p).unwrap_or(usize::MAX))
        }
        _ => (
            pairs
                .iter()
                .filter(|(k, _)| k == "tenants")
                .flat_map(|(_, v)| v.split(','))
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            0,
        ),
    };
    if ids.is_empty() {
        return Err(ApiError::bad_request("tenants is required"));
    }
    if ids.len() > 100 {
        return Err(ApiError::bad_request(format!(
            "too many tenants requested: {} (at most 100)",
            ids.len()
        )));
    }
    let s = app.lock();
    let size = s.switches.id_list_page_size.unwrap_or(ids.len()).max(1);
    let mut items = Vec::new();
    for id in ids.iter().skip(from).take(size) {
        let t = s.tenant(id)?;
        items.push(json!({
            "tenant": t.id,
            "usages": filter_usages(&pairs, s.usages_json(t)),
        }));
    }
    let mut cursors = Map::new();
    if from + size < ids.len() {
        cursors.insert(
            "after".into(),
            json!(encode_cursor(&json!({"f": ids, "p": from + size}))),
        );
    }
    ok(json!({ "items": items, "paging": {"cursors": cursors} }))
}

fn infra_json(s: &SimState, c: &CatalogItem) -> Value {
    // A stable location id derived from the infra id.
    let infra = c.infra_id.clone().unwrap_or_default();
    let location = format!("10ca7100{}", infra.get(8..).unwrap_or(""));
    json!({
        "id": c.infra_id,
        "owner_tenant_id": s.partner_id(),
        "location_id": location,
        "platform_owned": true,
        "name": c.infra_name,
        "url": "https://storage.example.invalid",
        "capabilities": ["backup"],
        "backend_type": "azure",
        "version": 1,
        "readonly": true,
    })
}

pub async fn get_infra(State(app): State<Shared>, Path(id): Path<String>) -> Reply {
    let s = app.lock();
    let c = s
        .catalog
        .iter()
        .find(|c| c.infra_id.as_deref() == Some(id.as_str()))
        .ok_or_else(|| ApiError::not_found("Infra", &id))?;
    ok(infra_json(&s, c))
}

pub async fn tenant_infra(State(app): State<Shared>, Path(id): Path<String>) -> Reply {
    let s = app.lock();
    let t = s.tenant(&id)?;
    let mut ids: Vec<&str> = Vec::new();
    for o in &t.offering_items {
        if let Some(i) = o.item.infra_id.as_deref()
            && !ids.contains(&i)
        {
            ids.push(i);
        }
    }
    ok(json!({ "infras": ids }))
}

/// `POST /_sim/catalog`: `{items:[CatalogItem]}` or a bare list, upserted by (name, infra_id).
pub async fn sim_catalog(State(app): State<Shared>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    let list = body.get("items").cloned().unwrap_or(body);
    let items: Vec<CatalogItem> = serde_json::from_value(list)
        .map_err(|e| ApiError::bad_request(format!("invalid catalog items: {e}")))?;
    let mut s = app.lock();
    s.upsert_catalog(items);
    let catalog: Vec<Value> = s
        .catalog
        .iter()
        .map(|c| OfferingItem::new(c.clone(), 1).to_json())
        .collect();
    ok(json!({ "items": catalog }))
}

#[derive(Debug, Deserialize)]
pub struct SimUsage {
    pub tenant: String,
    #[serde(flatten)]
    pub record: UsageRecord,
}

/// `PUT /_sim/usage`.
pub async fn sim_usage(State(app): State<Shared>, body: Bytes) -> ApiResult<StatusCode> {
    let u: SimUsage = serde_json::from_value(parse_body(&body)?)
        .map_err(|e| ApiError::bad_request(format!("invalid usage: {e}")))?;
    app.lock().set_usage(&u.tenant, u.record)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /_sim/usage/bulk`: `{items:[...]}` or a bare list.
pub async fn sim_usage_bulk(State(app): State<Shared>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    let list = body.get("items").cloned().unwrap_or(body);
    let list: Vec<SimUsage> = serde_json::from_value(list)
        .map_err(|e| ApiError::bad_request(format!("invalid usage list: {e}")))?;
    let n = list.len();
    let mut s = app.lock();
    for u in list {
        s.set_usage(&u.tenant, u.record)?;
    }
    Ok((StatusCode::OK, Json(json!({ "updated": n }))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acronis::AcronisSimConfig;

    fn customer(s: &mut SimState) -> String {
        let parent = s.partner_id();
        s.create_tenant(
            &json!({"name": "C1", "kind": "customer", "parent_id": parent}),
            None,
        )
        .expect("created")
    }

    #[test]
    fn editions() {
        assert!(edition_matches("*", None));
        assert!(!edition_matches("standard", Some("pck_per_workload")));
        assert!(!edition_matches("standard", None));
        assert!(edition_matches("pck_per_workload", None));
        assert!(edition_matches(
            "pck_per_workload",
            Some("pck_per_workload")
        ));
        assert!(!edition_matches(
            "pck_per_workload",
            Some("pck_per_gigabyte")
        ));
    }

    #[test]
    fn quota_versions_and_rules() {
        let mut s = SimState::new(AcronisSimConfig::default());
        let id = customer(&mut s);
        let enable = json!({"offering_items": [
            {"application_id": CYBER_PROTECTION_APP, "name": "pw_base_servers", "status": 1,
             "quota": {"value": 5, "overage": 0, "version": 0}}]});
        let out = s.put_offering_items(&id, &enable, true).expect("enabled");
        let v1 = out[0]["quota"]["version"].as_i64().expect("version");
        assert!(v1 > 0);
        // Stale version now.
        let err = s
            .put_offering_items(&id, &enable, true)
            .expect_err("stale version");
        assert_eq!(err.code, 426);
        // Unlimited resets version to 0.
        let unl = json!({"offering_items": [{"name": "pw_base_servers", "status": 1,
            "quota": {"value": null, "overage": 3, "version": v1}}]});
        let out = s.put_offering_items(&id, &unl, true).expect("unlimited");
        assert_eq!(
            out[0]["quota"],
            json!({"value": null, "overage": null, "version": 0})
        );
        // Usage blocks disabling.
        s.set_usage(
            &id,
            UsageRecord {
                name: "pw_base_servers".into(),
                infra_id: None,
                value: 2,
                absolute_value: None,
                usage_name: None,
                edition: None,
                kind: None,
                measurement_unit: None,
                application_id: None,
            },
        )
        .expect("usage set");
        let off = json!({"offering_items": [{"name": "pw_base_servers", "status": 0}]});
        assert_eq!(
            s.put_offering_items(&id, &off, true)
                .expect_err("usage")
                .code,
            1023
        );
        // Two storages for one customer.
        let two = json!({"offering_items": [
            {"name": "pw_base_storage", "infra_id": INFRA_EU, "status": 1},
            {"name": "pw_base_storage", "infra_id": INFRA_US, "status": 1}]});
        assert_eq!(
            s.put_offering_items(&id, &two, true).expect_err("two").code,
            1027
        );
        let unknown = json!({"offering_items": [{"name": "nope", "status": 1}]});
        assert_eq!(
            s.put_offering_items(&id, &unknown, true)
                .expect_err("unknown")
                .code,
            1021
        );
    }
}
