//! The router and the ConnectWise API handlers.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::callbacks::Origin;
use super::error::{ApiError, ApiResult, cw_json};
use super::listing::{self, ListQuery};
use super::patch::apply_patch;
use super::state::{API_MEMBER, Db, as_id, expand_strict, into_object, now, stamp};
use super::{App, sim};
use crate::control::{self, Control};

pub fn router(app: App, control: Control) -> Router {
    let api = Router::new()
        .route("/company/companies", get(companies_list))
        .route("/company/companies/count", get(companies_count))
        .route("/company/companies/statuses", get(company_statuses))
        .route("/company/companies/types", get(company_types))
        .route("/company/countries", get(countries))
        .route("/company/marketDescriptions", get(markets))
        .route("/system/locations", get(locations))
        .route(
            "/company/companies/{id}",
            get(company_get).patch(company_patch),
        )
        .route(
            "/company/companies/{id}/typeAssociations",
            get(company_type_associations),
        )
        .route("/company/contacts", get(contacts_list))
        .route("/company/contacts/count", get(contacts_count))
        .route("/company/contacts/{id}", get(contact_get))
        .route("/finance/agreements", get(agreements_list))
        .route("/finance/agreements/count", get(agreements_count))
        .route("/finance/agreements/{id}", get(agreement_get))
        .route(
            "/finance/agreements/{id}/additions",
            get(additions_list).post(addition_post),
        )
        .route(
            "/finance/agreements/{id}/additions/count",
            get(additions_count),
        )
        .route(
            "/finance/agreements/{id}/additions/{child_id}",
            get(addition_get)
                .put(addition_put)
                .patch(addition_patch)
                .delete(addition_delete),
        )
        .route("/procurement/catalog", get(catalog_list).post(catalog_post))
        .route("/procurement/catalog/count", get(catalog_count))
        .route("/procurement/catalog/{id}", get(catalog_get))
        .route("/procurement/categories", get(categories_list))
        .route("/procurement/subcategories", get(subcategories_list))
        .route("/procurement/types", get(product_types_list))
        .route("/procurement/unitOfMeasures", get(uoms_list))
        .route("/service/boards", get(boards_list))
        .route("/service/boards/{id}", get(board_get))
        .route("/service/boards/{id}/statuses", get(board_statuses))
        .route("/service/boards/{id}/types", get(board_types))
        .route("/service/boards/{id}/subtypes", get(board_subtypes))
        .route("/service/priorities", get(priorities_list))
        .route("/service/tickets", get(tickets_list).post(ticket_post))
        .route("/service/tickets/count", get(tickets_count))
        .route("/service/tickets/{id}", get(ticket_get).patch(ticket_patch))
        .route(
            "/service/tickets/{id}/notes",
            get(notes_list).post(note_post),
        )
        .route("/system/callbacks", get(callbacks_list).post(callback_post))
        .route(
            "/system/callbacks/{id}",
            get(callback_get).delete(callback_delete),
        )
        .route("/system/info", get(system_info))
        .route("/system/myCompany/other", get(my_company_other_list))
        .route("/system/myCompany/other/{id}", get(my_company_other_get))
        .route("/system/timeZoneSetups", get(time_zone_setups_list))
        .route("/system/timeZoneSetups/{id}", get(time_zone_setup_get))
        // Innermost: a body the vendor's spec refuses never reaches a handler.
        .route_layer(from_fn(super::spec::validate))
        .route_layer(from_fn_with_state(app.clone(), auth))
        // Counted before its credentials are checked, as a gateway in front would.
        .route_layer(from_fn_with_state(app.clone(), super::rate_limit::limit))
        .route_layer(from_fn_with_state(control.clone(), control::observe))
        .fallback(api_fallback)
        .with_state(app.clone());

    let unauthenticated = Router::new()
        .route("/login/companyinfo/{company}", get(company_info))
        .route(
            &format!("/{}system/callbackkey/index.rails", app.0.config.codebase),
            get(callback_key),
        )
        .route_layer(from_fn_with_state(control.clone(), control::observe))
        .with_state(app.clone());

    Router::new()
        .nest_service(&app.0.api_prefix, api)
        // Forget the outer router's nesting bookkeeping so that the API router logs route
        // templates relative to the API base (`/company/companies/{id}`).
        .route_layer(from_fn(fresh_request))
        .merge(unauthenticated)
        .merge(control.routes())
        .merge(sim::routes(app))
}

async fn fresh_request(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let mut fresh = Request::new(body);
    *fresh.method_mut() = parts.method;
    *fresh.uri_mut() = parts.uri;
    *fresh.version_mut() = parts.version;
    *fresh.headers_mut() = parts.headers;
    next.run(fresh).await
}

async fn api_fallback(uri: Uri) -> Response {
    ApiError::NotFound(format!("No API route matches {}", uri.path())).into_response()
}

// ---- auth -------------------------------------------------------------------------------

fn check_auth(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let config = &app.0.config;
    let rotated = app
        .0
        .rotated_keys
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let (public_key, private_key) =
        rotated.unwrap_or_else(|| (config.public_key.clone(), config.private_key.clone()));
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::Unauthorized(
            "No Authorization header was provided.".into(),
        ));
    };
    let decoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let ok = decoded.as_deref().is_some_and(|d| {
        let Some((user, private)) = d.split_once(':') else {
            return false;
        };
        let Some((company, public)) = user.split_once('+') else {
            return false;
        };
        company.eq_ignore_ascii_case(&config.company_id)
            && public == public_key
            && private == private_key
    });
    if !ok {
        return Err(ApiError::Unauthorized(
            "The provided credentials are invalid.".into(),
        ));
    }
    match headers.get("clientid").and_then(|v| v.to_str().ok()) {
        None => Err(ApiError::Unauthorized(
            "A clientId header is required. Visit https://developer.connectwise.com/ClientID to obtain one.".into(),
        )),
        Some(id) if id.trim().eq_ignore_ascii_case(&config.client_id) => Ok(()),
        Some(id) => Err(ApiError::Unauthorized(format!(
            "The clientId '{id}' is not valid."
        ))),
    }
}

async fn auth(State(app): State<App>, req: Request, next: Next) -> Response {
    match check_auth(&app, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let status = app.switches().bad_credentials_status;
            if status == 404 {
                ApiError::NotFound("The requested resource was not found.".into()).into_response()
            } else {
                e.into_response()
            }
        }
    }
}

// ---- helpers ----------------------------------------------------------------------------

fn parse_id(s: &str) -> Result<i64, ApiError> {
    s.trim()
        .parse()
        .map_err(|_| ApiError::bad(format!("Invalid id '{s}': expected an integer")))
}

fn parse_body(bytes: &[u8], resource: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad(format!(
            "The {resource} request body is not valid JSON: {e}"
        ))
    })
}

/// The absolute URL of the current collection (for `Link`), without query.
fn collection_url(app: &App, headers: &HeaderMap, uri: &Uri) -> String {
    let origin = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| app.url());
    format!("{origin}{}{}", app.0.api_prefix, uri.path())
}

/// Lists the rows `pick` chooses, honouring the query string.
fn list_with(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    pick: impl FnOnce(&Db, &ListQuery) -> Result<Vec<Value>, ApiError>,
) -> ApiResult {
    let q = ListQuery::parse(headers, uri.query())?;
    let rows = pick(&app.db(), &q)?;
    Ok(listing::page(&q, rows, &collection_url(app, headers, uri)))
}

fn count_with(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    pick: impl FnOnce(&Db, &ListQuery) -> Result<Vec<Value>, ApiError>,
) -> ApiResult {
    let q = ListQuery::parse(headers, uri.query())?;
    let rows = pick(&app.db(), &q)?;
    Ok(listing::count(rows.len()))
}

fn ok(v: &Value) -> ApiResult {
    Ok(cw_json(StatusCode::OK, v))
}

fn created(v: &Value) -> ApiResult {
    Ok(cw_json(StatusCode::CREATED, v))
}

fn get_one(table: &super::state::Table, id: &str, resource: &str) -> Result<Value, ApiError> {
    let id = parse_id(id)?;
    table
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(resource, id))
}

// ---- unauthenticated --------------------------------------------------------------------

async fn company_info(
    State(app): State<App>,
    headers: HeaderMap,
    Path(company): Path<String>,
) -> Response {
    let c = &app.0.config;
    if !company.eq_ignore_ascii_case(&c.company_id) {
        return ApiError::NotFound(format!("Company {company} not found")).into_response();
    }
    let site = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| app.url().trim_start_matches("http://").to_owned());
    cw_json(
        StatusCode::OK,
        &json!({
            "CompanyName": c.company_id,
            "Codebase": c.codebase,
            "VersionCode": "v2025.1",
            "VersionNumber": "v4.6.104231",
            "CompanyID": c.company_id,
            "IsCloud": true,
            "SiteUrl": site,
        }),
    )
}

async fn callback_key(State(app): State<App>, uri: Uri, headers: HeaderMap) -> Response {
    if app.switches().key_fetch == super::KeyFetchAuth::Authenticated
        && let Err(e) = check_auth(&app, &headers)
    {
        return e.into_response();
    }
    let id = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("id"))
        .map(|(_, v)| v.into_owned());
    match id {
        None => ApiError::bad("The id parameter is required").into_response(),
        Some(id) if id.eq_ignore_ascii_case(&app.0.key_id) => (
            StatusCode::OK,
            axum::Json(json!({"signing_key": app.0.config.signing_key})),
        )
            .into_response(),
        Some(id) => ApiError::NotFound(format!("Callback key {id} not found")).into_response(),
    }
}

async fn system_info(State(app): State<App>) -> ApiResult {
    let zone = app.db().my_company_time_zone();
    ok(&json!({
        "version": "v2025.1.104231",
        "isCloud": true,
        "serverTimeZone": zone.unwrap_or_default(),
    }))
}

// ---- my company, time zones ---------------------------------------------------------------

async fn my_company_other_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(std::iter::once(&db.my_company_other)))
    })
}

async fn my_company_other_get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let other = app.db().my_company_other.clone();
    if as_id(other.get("id")) != Some(id) {
        return Err(ApiError::not_found("Other", id));
    }
    ok(&other)
}

async fn time_zone_setups_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.time_zone_setups.rows.values()))
    })
}

async fn time_zone_setup_get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    ok(&get_one(&app.db().time_zone_setups, &id, "TimeZoneSetup")?)
}

// ---- companies --------------------------------------------------------------------------

async fn companies_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.companies.rows.values()))
    })
}

async fn companies_count(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    count_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.companies.rows.values()))
    })
}

async fn company_statuses(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.company_statuses.rows.values()))
    })
}

async fn company_types(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.company_types.rows.values()))
    })
}

async fn countries(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.countries.rows.values()))
    })
}

async fn markets(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.markets.rows.values()))
    })
}

async fn locations(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.locations.rows.values()))
    })
}

async fn company_get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    ok(&get_one(&app.db().companies, &id, "Company")?)
}

async fn company_type_associations(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id)?;
    list_with(&app, &headers, &uri, |db, q| {
        let company = db
            .companies
            .get(id)
            .ok_or_else(|| ApiError::not_found("Company", id))?;
        let company_ref = db.company_ref(id).unwrap_or(Value::Null);
        let rows: Vec<Value> = company
            .get("types")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                let type_id = as_id(t.get("id")).unwrap_or_default();
                json!({
                    "id": id * 1000 + type_id,
                    "type": t,
                    "company": company_ref,
                    "_info": company.get("_info").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        Ok(q.select(rows.iter()))
    })
}

async fn company_patch(
    State(app): State<App>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    const R: &str = "company";
    let id = parse_id(&id)?;
    let ops = parse_body(&body, R)?;
    let mut db = app.db();
    let current = db
        .companies
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Company", id))?;
    let mut next = current.clone();
    let touched = apply_patch(&mut next, &ops).map_err(|e| ApiError::bad(e.0))?;
    if touched.iter().any(|t| t.eq_ignore_ascii_case("types")) {
        return Err(ApiError::invalid_field(
            R,
            "types",
            "types can only be set when the company is created; use typeAssociations",
        ));
    }
    let mut m = into_object(next, R)?;
    for f in ["identifier", "name"] {
        if m.get(f)
            .and_then(Value::as_str)
            .is_none_or(|s| s.trim().is_empty())
        {
            return Err(ApiError::missing(R, f));
        }
    }
    let ident = m
        .get("identifier")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if db.companies.rows.values().any(|c| {
        as_id(c.get("id")) != Some(id)
            && c.get("identifier")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(&ident))
    }) {
        return Err(ApiError::exists(
            R,
            "identifier",
            format!("A company with identifier {ident} already exists"),
        ));
    }
    if touched.iter().any(|t| t.eq_ignore_ascii_case("status")) {
        expand_strict(
            &mut m,
            "status",
            &db.company_statuses,
            &["name"],
            R,
            "Status",
        )?;
    }
    m.insert(
        "_info".into(),
        current.get("_info").cloned().unwrap_or(json!({})),
    );
    let record = db.normalize_company(m, id, &now());
    db.companies.insert(id, record.clone());
    db.refresh_company_refs(id);
    app.fire(&mut db, "company", "updated", &record, Origin::Api);
    ok(&record)
}

// ---- contacts ---------------------------------------------------------------------------

async fn contacts_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.contacts.rows.values()))
    })
}

async fn contacts_count(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    count_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.contacts.rows.values()))
    })
}

async fn contact_get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    ok(&get_one(&app.db().contacts, &id, "Contact")?)
}

// ---- agreements & additions -------------------------------------------------------------

async fn agreements_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.agreements.rows.values()))
    })
}

async fn agreements_count(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    count_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.agreements.rows.values()))
    })
}

async fn agreement_get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    ok(&get_one(&app.db().agreements, &id, "Agreement")?)
}

fn agreement_exists(db: &Db, id: i64) -> Result<(), ApiError> {
    db.agreements
        .get(id)
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("Agreement", id))
}

async fn additions_list(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id)?;
    list_with(&app, &headers, &uri, |db, q| {
        agreement_exists(db, id)?;
        Ok(q.select(db.additions.children("agreementId", id)))
    })
}

async fn additions_count(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id)?;
    count_with(&app, &headers, &uri, |db, q| {
        agreement_exists(db, id)?;
        Ok(q.select(db.additions.children("agreementId", id)))
    })
}

fn addition_of(db: &Db, agreement: &str, addition: &str) -> Result<(i64, i64, Value), ApiError> {
    let agreement = parse_id(agreement)?;
    let addition = parse_id(addition)?;
    agreement_exists(db, agreement)?;
    let row = db
        .additions
        .get(addition)
        .filter(|a| as_id(a.get("agreementId")) == Some(agreement))
        .cloned()
        .ok_or_else(|| ApiError::not_found("Addition", addition))?;
    Ok((agreement, addition, row))
}

async fn addition_get(
    State(app): State<App>,
    Path((agreement, addition)): Path<(String, String)>,
) -> ApiResult {
    ok(&addition_of(&app.db(), &agreement, &addition)?.2)
}

/// Stores an addition, bumps its agreement and fires `agreement updated` (unless the switch
/// `addition_bumps_agreement` is off).
pub(crate) fn commit_addition(
    app: &App,
    db: &mut Db,
    agreement_id: i64,
    record: Value,
    origin: Origin,
) {
    let id = as_id(record.get("id")).unwrap_or_default();
    db.additions.insert(id, record);
    addition_changed(app, db, agreement_id, origin);
}

/// What a change of one of its additions does to an agreement: bumps its `lastUpdated` and
/// fires `agreement updated`, unless the switch `addition_bumps_agreement` is off.
pub(crate) fn addition_changed(app: &App, db: &mut Db, agreement_id: i64, origin: Origin) {
    if !app.switches().addition_bumps_agreement {
        return;
    }
    if let Some(agreement) = db.touch_agreement(agreement_id, &now()) {
        app.fire(db, "agreement", "updated", &agreement, origin);
    }
}

async fn addition_post(
    State(app): State<App>,
    Path(agreement): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let agreement = parse_id(&agreement)?;
    let m = into_object(parse_body(&body, "addition")?, "addition")?;
    let mut db = app.db();
    agreement_exists(&db, agreement)?;
    let id = db.additions.alloc(None);
    let record = match db.normalize_addition(m, id, agreement, &now(), true) {
        Ok(r) => r,
        Err(e) => return Err(e),
    };
    commit_addition(&app, &mut db, agreement, record.clone(), Origin::Api);
    created(&record)
}

async fn addition_put(
    State(app): State<App>,
    Path((agreement, addition)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult {
    let mut m = into_object(parse_body(&body, "addition")?, "addition")?;
    let mut db = app.db();
    let (agreement, id, current) = addition_of(&db, &agreement, &addition)?;
    m.insert(
        "_info".into(),
        current.get("_info").cloned().unwrap_or(json!({})),
    );
    for derived in ["extPrice", "extCost", "margin"] {
        m.remove(derived);
    }
    let record = db.normalize_addition(m, id, agreement, &now(), true)?;
    commit_addition(&app, &mut db, agreement, record.clone(), Origin::Api);
    ok(&record)
}

async fn addition_patch(
    State(app): State<App>,
    Path((agreement, addition)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult {
    let ops = parse_body(&body, "addition")?;
    let mut db = app.db();
    let (agreement, id, current) = addition_of(&db, &agreement, &addition)?;
    let mut next = current.clone();
    let touched = apply_patch(&mut next, &ops).map_err(|e| ApiError::bad(e.0))?;
    let mut m = into_object(next, "addition")?;
    m.insert(
        "_info".into(),
        current.get("_info").cloned().unwrap_or(json!({})),
    );
    if touched.iter().any(|t| t.eq_ignore_ascii_case("product")) {
        for f in ["description", "unitPrice", "unitCost", "uom"] {
            if !touched.iter().any(|t| t.eq_ignore_ascii_case(f)) {
                m.remove(f);
            }
        }
    }
    let record = db.normalize_addition(m, id, agreement, &now(), true)?;
    commit_addition(&app, &mut db, agreement, record.clone(), Origin::Api);
    ok(&record)
}

async fn addition_delete(
    State(app): State<App>,
    Path((agreement, addition)): Path<(String, String)>,
) -> ApiResult {
    let mut db = app.db();
    let (agreement, id, _) = addition_of(&db, &agreement, &addition)?;
    db.additions.rows.remove(&id);
    addition_changed(&app, &mut db, agreement, Origin::Api);
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- procurement ------------------------------------------------------------------------

async fn catalog_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.catalog.rows.values()))
    })
}

async fn catalog_count(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    count_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.catalog.rows.values()))
    })
}

async fn catalog_get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    ok(&get_one(&app.db().catalog, &id, "CatalogItem")?)
}

async fn catalog_post(State(app): State<App>, body: axum::body::Bytes) -> ApiResult {
    let m = into_object(parse_body(&body, "catalogItem")?, "catalogItem")?;
    let mut db = app.db();
    let id = db.catalog.alloc(None);
    let record = db.normalize_catalog_item(m, id, &now(), true)?;
    db.catalog.insert(id, record.clone());
    created(&record)
}

async fn categories_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.categories.rows.values()))
    })
}

async fn subcategories_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.subcategories.rows.values()))
    })
}

async fn product_types_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.product_types.rows.values()))
    })
}

async fn uoms_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.unit_of_measures.rows.values()))
    })
}

// ---- boards -----------------------------------------------------------------------------

async fn boards_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.boards.rows.values()))
    })
}

async fn board_get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    ok(&get_one(&app.db().boards, &id, "Board")?)
}

fn board_children(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    id: &str,
    table: fn(&Db) -> &super::state::Table,
) -> ApiResult {
    let id = parse_id(id)?;
    list_with(app, headers, uri, |db, q| {
        db.boards
            .get(id)
            .ok_or_else(|| ApiError::not_found("Board", id))?;
        Ok(q.select(table(db).children("board", id)))
    })
}

async fn board_statuses(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult {
    board_children(&app, &headers, &uri, &id, |db| &db.board_statuses)
}

async fn board_types(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult {
    board_children(&app, &headers, &uri, &id, |db| &db.board_types)
}

async fn board_subtypes(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult {
    board_children(&app, &headers, &uri, &id, |db| &db.board_subtypes)
}

async fn priorities_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.priorities.rows.values()))
    })
}

// ---- tickets ----------------------------------------------------------------------------

async fn tickets_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.tickets.rows.values()))
    })
}

async fn tickets_count(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    count_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.tickets.rows.values()))
    })
}

async fn ticket_get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    ok(&get_one(&app.db().tickets, &id, "Ticket")?)
}

fn add_note(db: &mut Db, ticket_id: i64, mut m: Map<String, Value>, now: &str) -> Value {
    let id = db.notes.alloc(None);
    m.insert("id".into(), json!(id));
    m.insert("ticketId".into(), json!(ticket_id));
    for f in [
        "detailDescriptionFlag",
        "internalAnalysisFlag",
        "resolutionFlag",
    ] {
        if !m.get(f).is_some_and(Value::is_boolean) {
            m.insert(f.into(), json!(false));
        }
    }
    m.insert("dateCreated".into(), json!(now));
    m.insert("createdBy".into(), json!(API_MEMBER));
    stamp(&mut m, now, API_MEMBER);
    let note = Value::Object(m);
    db.notes.insert(id, note.clone());
    note
}

async fn ticket_post(State(app): State<App>, body: axum::body::Bytes) -> ApiResult {
    let m = into_object(parse_body(&body, "ticket")?, "ticket")?;
    let initial: Vec<(&str, String)> = [
        ("detailDescriptionFlag", "initialDescription"),
        ("internalAnalysisFlag", "initialInternalAnalysis"),
        ("resolutionFlag", "initialResolution"),
    ]
    .into_iter()
    .filter_map(|(flag, field)| {
        m.get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| (flag, s.to_owned()))
    })
    .collect();
    let mut db = app.db();
    let id = db.tickets.alloc(None);
    let t = now();
    let record = db.normalize_ticket(m, id, None, &t)?;
    db.tickets.insert(id, record.clone());
    app.fire(&mut db, "ticket", "added", &record, Origin::Api);
    for (flag, text) in initial {
        let mut note = Map::new();
        note.insert("text".into(), json!(text));
        note.insert(flag.into(), json!(true));
        add_note(&mut db, id, note, &t);
    }
    created(&record)
}

async fn ticket_patch(
    State(app): State<App>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let id = parse_id(&id)?;
    let ops = parse_body(&body, "ticket")?;
    let mut db = app.db();
    let current = db
        .tickets
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Ticket", id))?;
    let mut next = current.clone();
    apply_patch(&mut next, &ops).map_err(|e| ApiError::bad(e.0))?;
    let mut m = into_object(next, "ticket")?;
    m.insert(
        "_info".into(),
        current.get("_info").cloned().unwrap_or(json!({})),
    );
    let record = db.normalize_ticket(m, id, Some(&current), &now())?;
    db.tickets.insert(id, record.clone());
    app.fire(&mut db, "ticket", "updated", &record, Origin::Api);
    ok(&record)
}

async fn notes_list(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id)?;
    list_with(&app, &headers, &uri, |db, q| {
        db.tickets
            .get(id)
            .ok_or_else(|| ApiError::not_found("Ticket", id))?;
        Ok(q.select(
            db.notes
                .rows
                .values()
                .filter(|n| as_id(n.get("ticketId")) == Some(id)),
        ))
    })
}

async fn note_post(
    State(app): State<App>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let id = parse_id(&id)?;
    let m = into_object(parse_body(&body, "serviceNote")?, "serviceNote")?;
    if m.get("text")
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(ApiError::missing("serviceNote", "text"));
    }
    let mut db = app.db();
    db.tickets
        .get(id)
        .ok_or_else(|| ApiError::not_found("Ticket", id))?;
    let t = now();
    let note = add_note(&mut db, id, m, &t);
    if let Some(ticket) = db.tickets.rows.get_mut(&id) {
        ticket["_info"]["lastUpdated"] = json!(t);
    }
    created(&note)
}

// ---- callbacks --------------------------------------------------------------------------

/// Levels per callback type (ConnectWise "PSA Callbacks" documentation).
const CALLBACK_LEVELS: &[(&str, &[&str])] = &[
    (
        "activity",
        &["owner", "status", "type", "company", "activity"],
    ),
    ("agreement", &["owner", "type", "company", "agreement"]),
    (
        "company",
        &[
            "owner",
            "status",
            "type",
            "territory",
            "company",
            "integratortag",
        ],
    ),
    (
        "contact",
        &["owner", "type", "territory", "company", "contact"],
    ),
    (
        "configuration",
        &["owner", "type", "status", "configuration"],
    ),
    ("invoice", &["owner", "status", "company", "invoice"]),
    (
        "expense",
        &[
            "owner",
            "chargetotype",
            "type",
            "class",
            "company",
            "expense",
        ],
    ),
    ("member", &["owner", "location", "securityrole", "member"]),
    (
        "opportunity",
        &["owner", "statusid", "company", "opportunity"],
    ),
    ("productcatalog", &["owner"]),
    ("project", &["owner", "status", "board", "project"]),
    (
        "purchaseorder",
        &["owner", "status", "vendor", "company", "purchaseorder"],
    ),
    (
        "schedule",
        &["owner", "status", "type", "location", "member", "schedule"],
    ),
    (
        "ticket",
        &[
            "owner",
            "board",
            "project",
            "phase",
            "status",
            "ticket",
            "integratortag",
        ],
    ),
    ("time", &["owner", "company", "time"]),
];

async fn callbacks_list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> ApiResult {
    list_with(&app, &headers, &uri, |db, q| {
        Ok(q.select(db.callbacks.rows.values()))
    })
}

async fn callback_get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    ok(&get_one(&app.db().callbacks, &id, "CallbackEntry")?)
}

async fn callback_delete(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    match app.db().callbacks.rows.remove(&id) {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(ApiError::not_found("CallbackEntry", id)),
    }
}

async fn callback_post(State(app): State<App>, body: axum::body::Bytes) -> ApiResult {
    const R: &str = "callbackEntry";
    let mut m = into_object(parse_body(&body, R)?, R)?;
    let text = |m: &Map<String, Value>, f: &str| {
        m.get(f)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let url = text(&m, "url").ok_or_else(|| ApiError::missing(R, "url"))?;
    if !m.contains_key("objectId") {
        return Err(ApiError::missing(R, "objectId"));
    }
    if !m["objectId"].is_null() && as_id(m.get("objectId")).is_none() {
        return Err(ApiError::invalid_field(
            R,
            "objectId",
            "objectId must be an integer",
        ));
    }
    let kind = text(&m, "type").ok_or_else(|| ApiError::missing(R, "type"))?;
    let level = text(&m, "level").ok_or_else(|| ApiError::missing(R, "level"))?;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url::Url::parse(&url).is_err()
    {
        return Err(ApiError::invalid_field(R, "url", "Invalid URL"));
    }
    let Some((_, levels)) = CALLBACK_LEVELS
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(&kind))
    else {
        return Err(ApiError::invalid_field(
            R,
            "type",
            format!("Unrecognized type {kind}"),
        ));
    };
    if !levels.iter().any(|l| l.eq_ignore_ascii_case(&level)) {
        return Err(ApiError::invalid_object(
            R,
            "level",
            "Unrecognized level for type, see documentation for supported levels for each type",
        ));
    }
    if let Some(d) = m.get("description").and_then(Value::as_str)
        && d.chars().count() > 100
    {
        return Err(ApiError::invalid_field(
            R,
            "description",
            "description must be 100 characters or fewer",
        ));
    }
    let mut db = app.db();
    let object_id = as_id(m.get("objectId"));
    let duplicate = db.callbacks.rows.values().any(|cb| {
        let s = |k: &str| cb.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        s("url") == url
            && s("type").eq_ignore_ascii_case(&kind)
            && s("level").eq_ignore_ascii_case(&level)
            && as_id(cb.get("objectId")) == object_id
    });
    if duplicate {
        return Err(ApiError::exists(
            R,
            "objectId",
            "A matching callback entry already exists",
        ));
    }
    let id = db.callbacks.alloc(None);
    m.insert("id".into(), json!(id));
    m.insert("url".into(), json!(url));
    m.insert("type".into(), json!(kind));
    m.insert("level".into(), json!(level));
    m.entry("description").or_insert(json!(""));
    m.insert("memberId".into(), json!(1));
    let pv = m
        .get("payloadVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("3.0.0")
        .to_owned();
    m.insert("payloadVersion".into(), json!(pv));
    for f in ["inactiveFlag", "isSoapCallbackFlag", "isSelfSuppressedFlag"] {
        if !m.get(f).is_some_and(Value::is_boolean) {
            m.insert(f.into(), json!(false));
        }
    }
    m.insert(
        "connectWiseID".into(),
        json!(uuid::Uuid::new_v4().to_string()),
    );
    m.insert(
        "_info".into(),
        json!({"lastUpdated": now(), "updatedBy": API_MEMBER}),
    );
    let record = Value::Object(m);
    db.callbacks.insert(id, record.clone());
    created(&record)
}
