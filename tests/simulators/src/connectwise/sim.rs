//! The ConnectWise simulator's own `/_sim/` control routes: seeding, UI-like changes that
//! fire callbacks, bulk generation, inspection of tickets and the callback outbox.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::App;
use super::callbacks::Origin;
use super::error::ApiError;
use super::patch::merge;
use super::routes::{addition_changed, commit_addition};
use super::state::{Db, Table, as_id, into_object, now};

pub fn routes(app: App) -> Router {
    Router::new()
        .route("/_sim/seed", post(seed_route))
        .route("/_sim/reset", post(reset_route))
        .route("/_sim/generate", post(generate_route))
        .route("/_sim/state", get(state_route))
        .route("/_sim/companies", post(company_create))
        .route(
            "/_sim/companies/{id}",
            axum::routing::patch(company_update).delete(company_delete),
        )
        .route("/_sim/agreements", post(agreement_create))
        .route(
            "/_sim/agreements/{id}",
            axum::routing::patch(agreement_update).delete(agreement_delete),
        )
        .route("/_sim/agreements/{id}/additions", post(addition_create))
        .route(
            "/_sim/agreements/{id}/additions/{addition_id}",
            axum::routing::patch(addition_update).delete(addition_delete),
        )
        .route("/_sim/tickets", get(tickets_route))
        .route("/_sim/tickets/{id}/notes", get(ticket_notes_route))
        .route("/_sim/callbacks/sent", get(outbox_route))
        .route(
            "/_sim/callbacks/sent/{message_id}/redeliver",
            post(redeliver_route),
        )
        .route("/_sim/callbacks/delivery", put(delivery_route))
        .route("/_sim/rate", get(rate_route).delete(rate_reset_route))
        .route(
            "/_sim/switches",
            get(switches_route).put(set_switches_route),
        )
        .with_state(app)
}

type SimResult = Result<Response, ApiError>;

async fn switches_route(State(app): State<App>) -> SimResult {
    let s = app
        .0
        .switches
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    json_ok(json!(s))
}

/// `PUT /_sim/switches` with the whole set (absent fields: the default).
async fn set_switches_route(State(app): State<App>, body: axum::body::Bytes) -> SimResult {
    let s: super::CwSwitches = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("invalid switches: {e}")))?;
    if !matches!(s.bad_credentials_status, 401 | 404) {
        return Err(ApiError::bad("bad_credentials_status is 401 or 404"));
    }
    *app.0.switches.lock().unwrap_or_else(|e| e.into_inner()) = s.clone();
    json_ok(json!(s))
}

fn json_ok(v: Value) -> SimResult {
    Ok(Json(v).into_response())
}

fn items(seed: &Value, key: &str) -> Result<Vec<Map<String, Value>>, ApiError> {
    items_of(seed.get(key), key)
}

fn items_of(v: Option<&Value>, key: &str) -> Result<Vec<Map<String, Value>>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|v| into_object(v.clone(), key)).collect(),
        Some(_) => Err(ApiError::bad(format!("seed.{key} must be an array"))),
    }
}

fn requested_id(m: &Map<String, Value>) -> Option<i64> {
    as_id(m.get("id"))
}

fn seed_simple(table: &mut Table, list: Vec<Map<String, Value>>, t: &str) -> Vec<Value> {
    list.into_iter()
        .map(|mut m| {
            let id = table.alloc(requested_id(&m));
            Db::normalize_simple(&mut m, id, t);
            let v = Value::Object(m);
            table.insert(id, v.clone());
            v
        })
        .collect()
}

/// Seeds records (no callbacks), returning them as stored.
pub fn seed(app: &App, seed: &Value) -> Result<Value, ApiError> {
    if !seed.is_object() {
        return Err(ApiError::bad("The seed must be a JSON object"));
    }
    let t = now();
    let mut db = app.db();
    let db = &mut *db;
    let mut out = Map::new();

    let list = items(seed, "companyStatuses")?;
    if !list.is_empty() {
        out.insert(
            "companyStatuses".into(),
            json!(seed_simple(&mut db.company_statuses, list, &t)),
        );
    }
    let list = items(seed, "companyTypes")?;
    if !list.is_empty() {
        out.insert(
            "companyTypes".into(),
            json!(seed_simple(&mut db.company_types, list, &t)),
        );
    }
    for (key, table) in [
        ("countries", &mut db.countries),
        ("markets", &mut db.markets),
        ("locations", &mut db.locations),
    ] {
        let list = items(seed, key)?;
        if !list.is_empty() {
            out.insert(key.into(), json!(seed_simple(table, list, &t)));
        }
    }
    let list = items(seed, "categories")?;
    if !list.is_empty() {
        out.insert(
            "categories".into(),
            json!(seed_simple(&mut db.categories, list, &t)),
        );
    }
    let list = items(seed, "subcategories")?;
    if !list.is_empty() {
        let mut done = Vec::new();
        for m in list {
            let id = db.subcategories.alloc(requested_id(&m));
            let v = db.normalize_subcategory(m, id, &t);
            db.subcategories.insert(id, v.clone());
            done.push(v);
        }
        out.insert("subcategories".into(), json!(done));
    }
    let list = items(seed, "types")?;
    if !list.is_empty() {
        out.insert(
            "types".into(),
            json!(seed_simple(&mut db.product_types, list, &t)),
        );
    }
    let list = items(seed, "unitOfMeasures")?;
    if !list.is_empty() {
        out.insert(
            "unitOfMeasures".into(),
            json!(seed_simple(&mut db.unit_of_measures, list, &t)),
        );
    }
    let list = items(seed, "timeZoneSetups")?;
    if !list.is_empty() {
        out.insert(
            "timeZoneSetups".into(),
            json!(seed_simple(&mut db.time_zone_setups, list, &t)),
        );
    }
    // My Company's time zone: `{"myCompany": {"serverTimeZone": {"id": N}}}` (null: none).
    if let Some(zone) = seed.get("myCompany").and_then(|m| m.get("serverTimeZone")) {
        let zone = match as_id(zone.get("id")) {
            None => Value::Null,
            Some(id) => {
                let setup = db
                    .time_zone_setups
                    .get(id)
                    .ok_or_else(|| ApiError::not_found("TimeZoneSetup", id))?;
                json!({"id": id, "name": setup["name"]})
            }
        };
        db.my_company_other["serverTimeZone"] = zone;
        out.insert("myCompany".into(), db.my_company_other.clone());
    }
    let list = items(seed, "catalog")?;
    if !list.is_empty() {
        let mut done = Vec::new();
        for m in list {
            let id = db.catalog.alloc(requested_id(&m));
            let v = db.normalize_catalog_item(m, id, &t, false)?;
            db.catalog.insert(id, v.clone());
            done.push(v);
        }
        out.insert("catalog".into(), json!(done));
    }
    let list = items(seed, "priorities")?;
    if !list.is_empty() {
        let mut done = Vec::new();
        for (i, mut m) in list.into_iter().enumerate() {
            let id = db.priorities.alloc(requested_id(&m));
            Db::normalize_simple(&mut m, id, &t);
            m.entry("sortOrder").or_insert(json!(i + 1));
            let v = Value::Object(m);
            db.priorities.insert(id, v.clone());
            done.push(v);
        }
        out.insert("priorities".into(), json!(done));
    }
    let list = items(seed, "boards")?;
    if !list.is_empty() {
        let mut done = Vec::new();
        for mut m in list {
            let statuses = m.remove("statuses");
            let types = m.remove("types");
            let subtypes = m.remove("subtypes");
            let id = db.boards.alloc(requested_id(&m));
            Db::normalize_simple(&mut m, id, &t);
            let board_ref =
                json!({"id": id, "name": m.get("name").cloned().unwrap_or(Value::Null)});
            db.boards.insert(id, Value::Object(m.clone()));
            let mut out_board = m;
            let seed_children =
                |table: &mut Table, list: Option<Value>, key: &str, full_ref: bool| {
                    let list = items_of(list.as_ref(), key)?;
                    let mut rows = Vec::new();
                    for (i, mut c) in list.into_iter().enumerate() {
                        let cid = table.alloc(requested_id(&c));
                        Db::normalize_simple(&mut c, cid, &t);
                        c.insert(
                            "board".into(),
                            if full_ref {
                                board_ref.clone()
                            } else {
                                json!({"id": id})
                            },
                        );
                        if key == "statuses" {
                            c.entry("closedStatus").or_insert(json!(false));
                            c.entry("defaultFlag").or_insert(json!(i == 0));
                            c.entry("sortOrder").or_insert(json!(i));
                            let inactive = c.remove("inactiveFlag").unwrap_or(json!(false));
                            c.entry("inactive").or_insert(inactive);
                        }
                        if key == "subtypes" {
                            c.entry("typeAssociationIds").or_insert(json!([]));
                        }
                        let v = Value::Object(c);
                        table.insert(cid, v.clone());
                        rows.push(v);
                    }
                    Ok::<_, ApiError>(Value::Array(rows))
                };
            let s = seed_children(&mut db.board_statuses, statuses, "statuses", true)?;
            let ty = seed_children(&mut db.board_types, types, "types", false)?;
            let st = seed_children(&mut db.board_subtypes, subtypes, "subtypes", false)?;
            out_board.insert("statuses".into(), s);
            out_board.insert("types".into(), ty);
            out_board.insert("subtypes".into(), st);
            done.push(Value::Object(out_board));
        }
        out.insert("boards".into(), json!(done));
    }
    let list = items(seed, "companies")?;
    if !list.is_empty() {
        let mut done = Vec::new();
        for m in list {
            let id = db.companies.alloc(requested_id(&m));
            let v = db.normalize_company(m, id, &t);
            db.companies.insert(id, v.clone());
            done.push(v);
        }
        out.insert("companies".into(), json!(done));
    }
    let list = items(seed, "contacts")?;
    if !list.is_empty() {
        let mut done = Vec::new();
        for m in list {
            let id = db.contacts.alloc(requested_id(&m));
            let v = db.normalize_contact(m, id, &t);
            db.contacts.insert(id, v.clone());
            db.link_default_contact(&v, &t);
            done.push(v);
        }
        out.insert("contacts".into(), json!(done));
    }
    let list = items(seed, "agreements")?;
    if !list.is_empty() {
        let mut done = Vec::new();
        for m in list {
            let id = db.agreements.alloc(requested_id(&m));
            let v = db.normalize_agreement(m, id, &t);
            db.agreements.insert(id, v.clone());
            done.push(v);
        }
        out.insert("agreements".into(), json!(done));
    }
    let list = items(seed, "additions")?;
    if !list.is_empty() {
        let mut done = Vec::new();
        for m in list {
            let Some(agreement) = as_id(m.get("agreementId")) else {
                return Err(ApiError::bad("every seeded addition needs an agreementId"));
            };
            if db.agreements.get(agreement).is_none() {
                return Err(ApiError::not_found("Agreement", agreement));
            }
            let id = db.additions.alloc(requested_id(&m));
            let v = db.normalize_addition(m, id, agreement, &t, false)?;
            db.additions.insert(id, v.clone());
            done.push(v);
        }
        out.insert("additions".into(), json!(done));
    }
    Ok(Value::Object(out))
}

/// Bulk-creates companies (each with a default contact having an email), agreements and
/// additions, without callbacks. Returns the id ranges.
pub fn generate(app: &App, spec: &Value) -> Result<Value, ApiError> {
    let n = spec.get("companies").and_then(Value::as_u64).unwrap_or(0);
    let per_company = spec
        .get("agreements_per_company")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let per_agreement = spec
        .get("additions_per_agreement")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let products: Vec<i64> = spec
        .get("product_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| as_id(Some(v))).collect())
        .unwrap_or_default();
    if per_agreement > 0 && products.is_empty() {
        return Err(ApiError::bad(
            "product_ids is required when additions_per_agreement > 0",
        ));
    }
    let t = now();
    let mut db = app.db();
    let db = &mut *db;
    let mut ranges: Map<String, Value> = Map::new();
    let mut note = |key: &str, id: i64| {
        let e = ranges
            .entry(key.to_owned())
            .or_insert_with(|| json!({"first": id, "last": id, "count": 0}));
        e["last"] = json!(id);
        e["count"] = json!(e["count"].as_u64().unwrap_or(0) + 1);
    };
    for _ in 0..n {
        let cid = db.companies.alloc(None);
        let name = format!("Generated Company {cid}");
        let company = db.normalize_company(
            into_object(
                json!({"name": name, "identifier": format!("GEN{cid}")}),
                "company",
            )?,
            cid,
            &t,
        );
        db.companies.insert(cid, company);
        note("companies", cid);
        let kid = db.contacts.alloc(None);
        let contact = db.normalize_contact(
            into_object(
                json!({
                    "firstName": "Admin",
                    "lastName": format!("Company{cid}"),
                    "company": {"id": cid},
                    "defaultFlag": true,
                    "email": format!("admin{cid}@gen{cid}.example"),
                }),
                "contact",
            )?,
            kid,
            &t,
        );
        db.contacts.insert(kid, contact.clone());
        db.link_default_contact(&contact, &t);
        note("contacts", kid);
        for a in 0..per_company {
            let aid = db.agreements.alloc(None);
            let agreement = db.normalize_agreement(
                into_object(
                    json!({"name": format!("Managed Services {}", a + 1), "company": {"id": cid}}),
                    "agreement",
                )?,
                aid,
                &t,
            );
            db.agreements.insert(aid, agreement);
            note("agreements", aid);
            for k in 0..per_agreement {
                let product = products[(k as usize) % products.len()];
                let did = db.additions.alloc(None);
                let addition = db.normalize_addition(
                    into_object(
                        json!({"product": {"id": product}, "quantity": 0, "billCustomer": "Billable"}),
                        "addition",
                    )?,
                    did,
                    aid,
                    &t,
                    false,
                )?;
                db.additions.insert(did, addition);
                note("additions", did);
            }
        }
    }
    Ok(Value::Object(ranges))
}

async fn seed_route(State(app): State<App>, Json(body): Json<Value>) -> SimResult {
    json_ok(seed(&app, &body)?)
}

async fn generate_route(State(app): State<App>, Json(body): Json<Value>) -> SimResult {
    json_ok(generate(&app, &body)?)
}

async fn reset_route(State(app): State<App>) -> StatusCode {
    *app.db() = Db::default();
    StatusCode::NO_CONTENT
}

async fn state_route(State(app): State<App>) -> SimResult {
    json_ok(serde_json::to_value(&*app.db()).unwrap_or(Value::Null))
}

fn parse_id(s: &str) -> Result<i64, ApiError> {
    s.trim()
        .parse()
        .map_err(|_| ApiError::bad(format!("Invalid id '{s}'")))
}

// ---- UI-like changes (fire callbacks) -----------------------------------------------------

async fn company_create(State(app): State<App>, Json(body): Json<Value>) -> SimResult {
    let m = into_object(body, "company")?;
    let mut db = app.db();
    let id = db.companies.alloc(requested_id(&m));
    let record = db.normalize_company(m, id, &now());
    db.companies.insert(id, record.clone());
    app.fire(&mut db, "company", "added", &record, Origin::Ui);
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

async fn company_update(
    State(app): State<App>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> SimResult {
    let id = parse_id(&id)?;
    let mut db = app.db();
    let mut current = db
        .companies
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Company", id))?;
    merge(&mut current, &body);
    let record = db.normalize_company(into_object(current, "company")?, id, &now());
    db.companies.insert(id, record.clone());
    db.refresh_company_refs(id);
    app.fire(&mut db, "company", "updated", &record, Origin::Ui);
    json_ok(record)
}

async fn company_delete(State(app): State<App>, Path(id): Path<String>) -> SimResult {
    let id = parse_id(&id)?;
    let mut db = app.db();
    let record = db
        .companies
        .rows
        .remove(&id)
        .ok_or_else(|| ApiError::not_found("Company", id))?;
    app.fire(&mut db, "company", "deleted", &record, Origin::Ui);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn agreement_create(State(app): State<App>, Json(body): Json<Value>) -> SimResult {
    let m = into_object(body, "agreement")?;
    let mut db = app.db();
    let id = db.agreements.alloc(requested_id(&m));
    let record = db.normalize_agreement(m, id, &now());
    db.agreements.insert(id, record.clone());
    app.fire(&mut db, "agreement", "added", &record, Origin::Ui);
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

async fn agreement_update(
    State(app): State<App>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> SimResult {
    let id = parse_id(&id)?;
    let mut db = app.db();
    let mut current = db
        .agreements
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Agreement", id))?;
    // Derived flags follow agreementStatus unless given explicitly.
    if body.get("agreementStatus").is_some() && body.get("cancelledFlag").is_none() {
        current["cancelledFlag"] = json!(body["agreementStatus"] == json!("Cancelled"));
    }
    merge(&mut current, &body);
    let t = now();
    let record = db.normalize_agreement(into_object(current, "agreement")?, id, &t);
    db.agreements.insert(id, record.clone());
    // Additions mirror their agreement's status.
    let status = record
        .get("agreementStatus")
        .cloned()
        .unwrap_or(Value::Null);
    for a in db.additions.rows.values_mut() {
        if as_id(a.get("agreementId")) == Some(id) && a.get("agreementStatus") != Some(&status) {
            a["agreementStatus"] = status.clone();
            a["_info"]["lastUpdated"] = json!(t);
        }
    }
    app.fire(&mut db, "agreement", "updated", &record, Origin::Ui);
    json_ok(record)
}

async fn agreement_delete(State(app): State<App>, Path(id): Path<String>) -> SimResult {
    let id = parse_id(&id)?;
    let mut db = app.db();
    let record = db
        .agreements
        .rows
        .remove(&id)
        .ok_or_else(|| ApiError::not_found("Agreement", id))?;
    db.additions
        .rows
        .retain(|_, a| as_id(a.get("agreementId")) != Some(id));
    app.fire(&mut db, "agreement", "deleted", &record, Origin::Ui);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn addition_create(
    State(app): State<App>,
    Path(agreement): Path<String>,
    Json(body): Json<Value>,
) -> SimResult {
    let agreement = parse_id(&agreement)?;
    let m = into_object(body, "addition")?;
    let mut db = app.db();
    if db.agreements.get(agreement).is_none() {
        return Err(ApiError::not_found("Agreement", agreement));
    }
    let id = db.additions.alloc(requested_id(&m));
    let record = db.normalize_addition(m, id, agreement, &now(), false)?;
    commit_addition(&app, &mut db, agreement, record.clone(), Origin::Ui);
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

fn find_addition(db: &Db, agreement: &str, addition: &str) -> Result<(i64, i64, Value), ApiError> {
    let agreement = parse_id(agreement)?;
    let addition = parse_id(addition)?;
    let row = db
        .additions
        .get(addition)
        .filter(|a| as_id(a.get("agreementId")) == Some(agreement))
        .cloned()
        .ok_or_else(|| ApiError::not_found("Addition", addition))?;
    Ok((agreement, addition, row))
}

async fn addition_update(
    State(app): State<App>,
    Path((agreement, addition)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> SimResult {
    let mut db = app.db();
    let (agreement, id, mut current) = find_addition(&db, &agreement, &addition)?;
    merge(&mut current, &body);
    let record = db.normalize_addition(
        into_object(current, "addition")?,
        id,
        agreement,
        &now(),
        false,
    )?;
    commit_addition(&app, &mut db, agreement, record.clone(), Origin::Ui);
    json_ok(record)
}

async fn addition_delete(
    State(app): State<App>,
    Path((agreement, addition)): Path<(String, String)>,
) -> SimResult {
    let mut db = app.db();
    let (agreement, id, _) = find_addition(&db, &agreement, &addition)?;
    db.additions.rows.remove(&id);
    addition_changed(&app, &mut db, agreement, Origin::Ui);
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- inspection -----------------------------------------------------------------------

async fn tickets_route(State(app): State<App>) -> SimResult {
    json_ok(json!(app.db().tickets.values()))
}

async fn ticket_notes_route(State(app): State<App>, Path(id): Path<String>) -> SimResult {
    let id = parse_id(&id)?;
    let db = app.db();
    if db.tickets.get(id).is_none() {
        return Err(ApiError::not_found("Ticket", id));
    }
    let notes: Vec<Value> = db
        .notes
        .rows
        .values()
        .filter(|n| as_id(n.get("ticketId")) == Some(id))
        .cloned()
        .collect();
    json_ok(json!(notes))
}

async fn outbox_route(State(app): State<App>) -> SimResult {
    json_ok(serde_json::to_value(&app.db().outbox).unwrap_or(Value::Null))
}

async fn redeliver_route(State(app): State<App>, Path(message_id): Path<String>) -> SimResult {
    match app.redeliver(&message_id).await {
        Some(v) => json_ok(v),
        None => Err(ApiError::NotFound(format!(
            "Message {message_id} not found"
        ))),
    }
}

/// `GET /_sim/rate`: the most requests one member made in a sliding minute, and the 429s.
async fn rate_route(State(app): State<App>) -> SimResult {
    let w = app.0.rate_windows.lock().unwrap_or_else(|e| e.into_inner());
    json_ok(json!({ "peak": w.peak, "throttled": w.throttled }))
}

/// `DELETE /_sim/rate`: starts those figures again.
async fn rate_reset_route(State(app): State<App>) -> SimResult {
    *app.0.rate_windows.lock().unwrap_or_else(|e| e.into_inner()) = Default::default();
    json_ok(json!({}))
}

async fn delivery_route(State(app): State<App>, Json(body): Json<Value>) -> SimResult {
    let Some(enabled) = body.get("enabled").and_then(Value::as_bool) else {
        return Err(ApiError::bad("expected {\"enabled\": bool}"));
    };
    app.db().delivery_enabled = enabled;
    json_ok(json!({ "enabled": enabled }))
}
