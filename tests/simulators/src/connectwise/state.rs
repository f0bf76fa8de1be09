//! The simulator's records: one table of JSON objects per entity type, and the rules that
//! normalize records into the shapes the API returns (defaults, expanded references, `_info`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::callbacks::OutboxEntry;
use super::conditions::get_field;
use super::error::ApiError;

/// The current time as ConnectWise writes it: RFC 3339, second precision, `Z`.
pub fn now() -> String {
    crate::clock::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Today at midnight UTC, the shape of ConnectWise date fields.
pub fn today() -> String {
    crate::clock::now().format("%Y-%m-%dT00:00:00Z").to_string()
}

/// The reference fields a child list is selected by (`/finance/agreements/{id}/additions`,
/// a board's statuses): indexed, so such a list does not scan every row of the table.
const PARENT_FIELDS: [&str; 2] = ["agreementId", "board"];

/// Records of one entity type keyed by id, with sequential id assignment.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Table {
    pub rows: BTreeMap<i64, Value>,
    #[serde(skip)]
    last_id: i64,
    /// (parent field, parent id) → the ids of rows inserted with it. Rows removed or moved
    /// since stay listed; [`Table::children`] checks each against its row.
    #[serde(skip)]
    by_parent: HashMap<(&'static str, i64), BTreeSet<i64>>,
}

/// The id a reference field holds: `{"id": n, ...}` or `n`.
fn parent_id(row: &Value, field: &str) -> Option<i64> {
    let v = row.get(field);
    as_id(v.and_then(|x| x.get("id"))).or_else(|| as_id(v))
}

impl Table {
    /// The requested id (remembered so later ids don't collide) or the next free one.
    pub fn alloc(&mut self, requested: Option<i64>) -> i64 {
        match requested {
            Some(id) => {
                self.last_id = self.last_id.max(id);
                id
            }
            None => {
                self.last_id += 1;
                self.last_id
            }
        }
    }

    pub fn get(&self, id: i64) -> Option<&Value> {
        self.rows.get(&id)
    }

    pub fn insert(&mut self, id: i64, v: Value) {
        for field in PARENT_FIELDS {
            if let Some(parent) = parent_id(&v, field) {
                self.by_parent
                    .entry((field, parent))
                    .or_default()
                    .insert(id);
            }
        }
        self.rows.insert(id, v);
    }

    /// The rows whose reference `field` names `parent`, in id order.
    pub fn children<'a>(
        &'a self,
        field: &'a str,
        parent: i64,
    ) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        let belongs = move |r: &&Value| parent_id(r, field) == Some(parent);
        match PARENT_FIELDS.iter().find(|f| **f == field) {
            Some(f) => Box::new(
                self.by_parent
                    .get(&(*f, parent))
                    .into_iter()
                    .flatten()
                    .filter_map(|id| self.rows.get(id))
                    .filter(belongs),
            ),
            None => Box::new(self.rows.values().filter(belongs)),
        }
    }

    pub fn values(&self) -> Vec<Value> {
        self.rows.values().cloned().collect()
    }

    /// First row whose `field` equals `value` case-insensitively.
    pub fn find_by(&self, field: &str, value: &str) -> Option<&Value> {
        self.rows.values().find(|r| {
            r.get(field)
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(value))
        })
    }
}

/// Every record the simulator holds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Db {
    pub companies: Table,
    pub contacts: Table,
    pub agreements: Table,
    pub additions: Table,
    pub catalog: Table,
    pub categories: Table,
    pub subcategories: Table,
    pub product_types: Table,
    pub unit_of_measures: Table,
    pub boards: Table,
    pub board_statuses: Table,
    pub board_types: Table,
    pub board_subtypes: Table,
    pub priorities: Table,
    pub company_statuses: Table,
    pub company_types: Table,
    /// What a company's `country`, `market` and `territory` name (a connection rule's values).
    pub countries: Table,
    pub markets: Table,
    pub locations: Table,
    pub tickets: Table,
    pub notes: Table,
    pub callbacks: Table,
    /// Time zone setups (`/system/timeZoneSetups`): a name, and the zone as Windows names
    /// it under `timeZone.name`.
    pub time_zone_setups: Table,
    /// My Company's "Other" setup (`/system/myCompany/other`), the one row: its
    /// `serverTimeZone` refers to a time zone setup (null: none set).
    pub my_company_other: Value,
    pub outbox: Vec<OutboxEntry>,
    pub delivery_enabled: bool,
    /// One in `n` callbacks (the first, the `n+1`th, ...) is lost on the way (recorded `lost`, never sent): a network
    /// that drops deliveries, for the simulated month.
    pub lose_one_in: Option<u32>,
    /// Callbacks fired so far (counts toward `lose_one_in`).
    pub fired: u64,
    /// The waits before ConnectWise's two retries of a callback (2 s and 4 s; a test may
    /// shorten them).
    pub retry_delays: [std::time::Duration; 2],
    /// Per callback entry: since when its deliveries have failed without a success in
    /// between (simulation clock); three days disable it.
    pub failing_since: std::collections::BTreeMap<i64, chrono::DateTime<chrono::Utc>>,
}

impl Default for Db {
    fn default() -> Self {
        let mut db = Db {
            companies: Table::default(),
            contacts: Table::default(),
            agreements: Table::default(),
            additions: Table::default(),
            catalog: Table::default(),
            categories: Table::default(),
            subcategories: Table::default(),
            product_types: Table::default(),
            unit_of_measures: Table::default(),
            boards: Table::default(),
            board_statuses: Table::default(),
            board_types: Table::default(),
            board_subtypes: Table::default(),
            priorities: Table::default(),
            company_statuses: Table::default(),
            company_types: Table::default(),
            countries: Table::default(),
            markets: Table::default(),
            locations: Table::default(),
            tickets: Table::default(),
            notes: Table::default(),
            callbacks: Table::default(),
            time_zone_setups: Table::default(),
            my_company_other: Value::Null,
            outbox: Vec::new(),
            delivery_enabled: true,
            lose_one_in: None,
            fired: 0,
            retry_delays: super::callbacks::RETRY_DELAYS,
            failing_since: Default::default(),
        };
        for name in ["Active", "Inactive"] {
            let id = db.company_statuses.alloc(None);
            db.company_statuses.insert(
                id,
                json!({"id": id, "name": name, "defaultFlag": id == 1, "inactiveFlag": name == "Inactive"}),
            );
        }
        // A few of the setups a US partner's ConnectWise holds; My Company in US Eastern.
        for (name, zone, offset) in [
            ("US Eastern", "Eastern Standard Time", -5.0),
            ("US Pacific", "Pacific Standard Time", -8.0),
            ("Japan", "Tokyo Standard Time", 9.0),
        ] {
            let id = db.time_zone_setups.alloc(None);
            db.time_zone_setups.insert(
                id,
                json!({"id": id, "name": name, "timeZone": {"id": id, "name": zone},
                       "offset": offset, "defaultFlag": id == 1, "daylightSavingsFlag": id != 3}),
            );
        }
        db.my_company_other = json!({
            "id": 1,
            "defaultFromAddress": "service@msp.example",
            "portalUrlOverride": "",
            "siteUrl": "na.myconnectwise.net",
            "serverTimeZone": {"id": 1, "name": "US Eastern"},
            "defaultCalendar": {"id": 1, "name": "Standard"},
            "defaultAddressFormat": {"id": 1, "name": "US"},
            "locale": {"id": 1, "name": "English (United States)"},
        });
        db
    }
}

impl Db {
    /// My Company's time zone as Windows names it (its setup's `timeZone.name`), if set.
    pub fn my_company_time_zone(&self) -> Option<String> {
        let setup = as_id(self.my_company_other["serverTimeZone"].get("id"))?;
        self.time_zone_setups.get(setup)?["timeZone"]["name"]
            .as_str()
            .map(str::to_owned)
    }
}

/// Reads an integer id from a JSON value (number or numeric string).
pub fn as_id(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `{id, fields...}` of a row, for embedding as a reference.
fn reference(row: &Value, fields: &[&str]) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), row.get("id").cloned().unwrap_or(Value::Null));
    for f in fields {
        if let Some(v) = row.get(*f) {
            m.insert((*f).into(), v.clone());
        }
    }
    Value::Object(m)
}

/// Resolves a reference given as `{id}` (or `{name}` / `{identifier}` without id) against `table`.
pub fn lookup<'a>(table: &'a Table, r: &Value) -> Option<&'a Value> {
    if let Some(id) = as_id(r.get("id")).or_else(|| as_id(Some(r))) {
        return table.get(id);
    }
    for key in ["identifier", "name"] {
        if let Some(s) = r.get(key).and_then(Value::as_str)
            && let Some(row) = table.find_by(key, s)
        {
            return Some(row);
        }
    }
    None
}

/// Expands the reference stored at `obj[field]` from `table` (strict: unknown → error).
pub fn expand_strict(
    obj: &mut Map<String, Value>,
    field: &str,
    table: &Table,
    fields: &[&str],
    resource: &str,
    label: &str,
) -> Result<Option<Value>, ApiError> {
    let Some(r) = obj.get(field).filter(|v| !v.is_null()).cloned() else {
        obj.remove(field);
        return Ok(None);
    };
    let Some(row) = lookup(table, &r) else {
        let shown = as_id(r.get("id"))
            .map(|i| i.to_string())
            .or_else(|| r.get("name").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| r.to_string());
        return Err(ApiError::invalid_field(
            resource,
            field,
            format!("{label} {shown} not found"),
        ));
    };
    let row = row.clone();
    obj.insert(field.into(), reference(&row, fields));
    Ok(Some(row))
}

/// Expands the reference at `obj[field]` if it is known; keeps it as given otherwise.
pub fn expand_lenient(obj: &mut Map<String, Value>, field: &str, table: &Table, fields: &[&str]) {
    if let Some(r) = obj.get(field).filter(|v| !v.is_null()).cloned()
        && let Some(row) = lookup(table, &r)
    {
        let row = row.clone();
        obj.insert(field.into(), reference(&row, fields));
    }
}

fn set_default(obj: &mut Map<String, Value>, key: &str, v: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj.insert(key.into(), v);
    }
}

/// Sets `_info` (keeps `dateEntered`, stamps `lastUpdated`).
pub fn stamp(obj: &mut Map<String, Value>, now: &str, by: &str) {
    let entered = obj
        .get("_info")
        .and_then(|i| i.get("dateEntered"))
        .cloned()
        .unwrap_or_else(|| Value::String(now.to_owned()));
    obj.insert(
        "_info".into(),
        json!({"lastUpdated": now, "dateEntered": entered, "updatedBy": by}),
    );
}

pub fn into_object(v: Value, resource: &str) -> Result<Map<String, Value>, ApiError> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad(format!(
            "The {resource} body must be a JSON object"
        ))),
    }
}

/// The member name the simulator attributes changes to.
pub const API_MEMBER: &str = "apiuser";

impl Db {
    // ---- companies -------------------------------------------------------------------

    pub fn company_ref(&self, id: i64) -> Option<Value> {
        self.companies
            .get(id)
            .map(|c| reference(c, &["identifier", "name"]))
    }

    /// Normalizes a company record (defaults, expanded status/types).
    pub fn normalize_company(&self, mut m: Map<String, Value>, id: i64, now: &str) -> Value {
        m.insert("id".into(), json!(id));
        if m.get("identifier").is_none_or(Value::is_null) {
            let name = m.get("name").and_then(Value::as_str).unwrap_or("Company");
            let ident: String = name
                .chars()
                .filter(|c| c.is_alphanumeric())
                .take(25)
                .collect();
            m.insert("identifier".into(), json!(format!("{ident}{id}")));
        }
        set_default(&mut m, "name", json!(format!("Company {id}")));
        if m.get("status").is_none_or(Value::is_null) {
            let default = self
                .company_statuses
                .rows
                .values()
                .find(|s| s.get("defaultFlag") == Some(&Value::Bool(true)))
                .or_else(|| self.company_statuses.rows.values().next())
                .map(|s| reference(s, &["name"]))
                .unwrap_or_else(|| json!({"id": 1, "name": "Active"}));
            m.insert("status".into(), default);
        }
        expand_lenient(&mut m, "status", &self.company_statuses, &["name"]);
        let types = m
            .get("types")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                lookup(&self.company_types, &t)
                    .map(|row| reference(row, &["name"]))
                    .unwrap_or(t)
            })
            .collect::<Vec<_>>();
        m.insert("types".into(), Value::Array(types));
        if let Some(dc) = m.get("defaultContact").filter(|v| !v.is_null()).cloned()
            && let Some(contact) = lookup(&self.contacts, &dc)
        {
            m.insert("defaultContact".into(), contact_ref(contact));
        }
        set_default(&mut m, "deletedFlag", json!(false));
        stamp(&mut m, now, API_MEMBER);
        Value::Object(m)
    }

    /// Re-embeds a company's identifier/name wherever it is referenced.
    pub fn refresh_company_refs(&mut self, company_id: i64) {
        let Some(r) = self.company_ref(company_id) else {
            return;
        };
        for table in [&mut self.contacts, &mut self.agreements, &mut self.tickets] {
            for row in table.rows.values_mut() {
                if as_id(row.get("company").and_then(|c| c.get("id"))) == Some(company_id) {
                    row["company"] = r.clone();
                }
            }
        }
    }

    // ---- contacts --------------------------------------------------------------------

    pub fn normalize_contact(&self, mut m: Map<String, Value>, id: i64, now: &str) -> Value {
        m.insert("id".into(), json!(id));
        set_default(&mut m, "firstName", json!("Contact"));
        set_default(&mut m, "lastName", json!(id.to_string()));
        expand_lenient(&mut m, "company", &self.companies, &["identifier", "name"]);
        set_default(&mut m, "defaultFlag", json!(false));
        let mut items = m
            .get("communicationItems")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(email) = m
            .remove("email")
            .and_then(|e| e.as_str().map(str::to_owned))
        {
            items.retain(|i| i.get("communicationType").and_then(Value::as_str) != Some("Email"));
            items.insert(
                0,
                json!({"value": email, "defaultFlag": true, "communicationType": "Email"}),
            );
        }
        let items: Vec<Value> = items
            .into_iter()
            .enumerate()
            .map(|(i, mut item)| {
                if let Some(o) = item.as_object_mut() {
                    set_default(o, "id", json!(id * 100 + i as i64 + 1));
                    set_default(o, "communicationType", json!("Email"));
                    let kind = o
                        .get("communicationType")
                        .and_then(Value::as_str)
                        .unwrap_or("Email")
                        .to_owned();
                    let type_id = match kind.as_str() {
                        "Email" => 1,
                        "Phone" => 2,
                        "Fax" => 3,
                        _ => 4,
                    };
                    set_default(o, "type", json!({"id": type_id, "name": kind}));
                    set_default(o, "defaultFlag", json!(i == 0));
                }
                item
            })
            .collect();
        m.insert("communicationItems".into(), Value::Array(items));
        stamp(&mut m, now, API_MEMBER);
        Value::Object(m)
    }

    /// Makes a contact marked `defaultFlag` its company's `defaultContact`.
    pub fn link_default_contact(&mut self, contact: &Value, now: &str) {
        if contact.get("defaultFlag") != Some(&Value::Bool(true)) {
            return;
        }
        let Some(cid) = as_id(contact.get("company").and_then(|c| c.get("id"))) else {
            return;
        };
        if let Some(company) = self.companies.rows.get_mut(&cid) {
            company["defaultContact"] = contact_ref(contact);
            company["_info"]["lastUpdated"] = json!(now);
        }
    }

    // ---- agreements & additions ------------------------------------------------------

    pub fn normalize_agreement(&self, mut m: Map<String, Value>, id: i64, now: &str) -> Value {
        m.insert("id".into(), json!(id));
        set_default(&mut m, "name", json!(format!("Agreement {id}")));
        set_default(&mut m, "type", json!({"id": 1, "name": "Managed Services"}));
        expand_lenient(&mut m, "company", &self.companies, &["identifier", "name"]);
        if let Some(c) = m.get("contact").filter(|v| !v.is_null()).cloned()
            && let Some(contact) = lookup(&self.contacts, &c)
        {
            m.insert("contact".into(), contact_ref(contact));
        }
        set_default(&mut m, "agreementStatus", json!("Active"));
        let cancelled = m.get("agreementStatus").and_then(Value::as_str) == Some("Cancelled");
        set_default(&mut m, "cancelledFlag", json!(cancelled));
        set_default(&mut m, "startDate", json!(today()));
        let has_end = m.get("endDate").is_some_and(|v| !v.is_null());
        set_default(&mut m, "noEndingDateFlag", json!(!has_end));
        set_default(&mut m, "billingCycle", json!({"id": 1, "name": "Monthly"}));
        stamp(&mut m, now, API_MEMBER);
        Value::Object(m)
    }

    /// Normalizes an addition; the product must exist in the catalog when `strict`.
    pub fn normalize_addition(
        &self,
        mut m: Map<String, Value>,
        id: i64,
        agreement_id: i64,
        now: &str,
        strict: bool,
    ) -> Result<Value, ApiError> {
        m.insert("id".into(), json!(id));
        m.insert("agreementId".into(), json!(agreement_id));
        let product = if strict {
            if m.get("product").is_none_or(Value::is_null) {
                return Err(ApiError::missing("addition", "product"));
            }
            expand_strict(
                &mut m,
                "product",
                &self.catalog,
                &["identifier"],
                "addition",
                "Product",
            )?
        } else {
            expand_lenient(&mut m, "product", &self.catalog, &["identifier"]);
            m.get("product")
                .and_then(|p| lookup(&self.catalog, p))
                .cloned()
        };
        if let Some(p) = &product {
            set_default(
                &mut m,
                "description",
                p.get("description").cloned().unwrap_or(json!("")),
            );
            set_default(
                &mut m,
                "unitPrice",
                p.get("price").cloned().unwrap_or(json!(0.0)),
            );
            set_default(
                &mut m,
                "unitCost",
                p.get("cost").cloned().unwrap_or(json!(0.0)),
            );
            if let Some(uom) = p.get("unitOfMeasure").and_then(|u| u.get("name")) {
                set_default(&mut m, "uom", uom.clone());
            }
        }
        set_default(&mut m, "quantity", json!(0.0));
        set_default(&mut m, "lessIncluded", json!(0.0));
        set_default(&mut m, "unitPrice", json!(0.0));
        set_default(&mut m, "unitCost", json!(0.0));
        if !strict {
            set_default(&mut m, "billCustomer", json!("Billable"));
        }
        match m.get("billCustomer") {
            Some(Value::String(s))
                if ["Billable", "DoNotBill", "NoCharge"].contains(&s.as_str()) => {}
            None | Some(Value::Null) => return Err(ApiError::missing("addition", "billCustomer")),
            Some(other) => {
                return Err(ApiError::invalid_field(
                    "addition",
                    "billCustomer",
                    format!("billCustomer {other} is not one of Billable, DoNotBill, NoCharge"),
                ));
            }
        }
        for f in ["quantity", "lessIncluded", "unitPrice", "unitCost"] {
            if !m.get(f).is_some_and(Value::is_number) {
                return Err(ApiError::invalid_field(
                    "addition",
                    f,
                    format!("{f} must be a number"),
                ));
            }
        }
        let num = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let (q, price, cost) = (num("quantity"), num("unitPrice"), num("unitCost"));
        m.insert("extPrice".into(), json!(q * price));
        m.insert("extCost".into(), json!(q * cost));
        m.insert("margin".into(), json!(q * (price - cost)));
        let status = self
            .agreements
            .get(agreement_id)
            .and_then(|a| a.get("agreementStatus"))
            .cloned()
            .unwrap_or(json!("Active"));
        set_default(&mut m, "agreementStatus", status);
        set_default(&mut m, "effectiveDate", json!(today()));
        set_default(&mut m, "taxableFlag", json!(false));
        stamp(&mut m, now, API_MEMBER);
        Ok(Value::Object(m))
    }

    /// Bumps an agreement's `_info.lastUpdated` (an addition of it changed).
    pub fn touch_agreement(&mut self, agreement_id: i64, now: &str) -> Option<Value> {
        let a = self.agreements.rows.get_mut(&agreement_id)?;
        a["_info"]["lastUpdated"] = json!(now);
        Some(a.clone())
    }

    // ---- procurement -----------------------------------------------------------------

    pub fn normalize_simple(m: &mut Map<String, Value>, id: i64, now: &str) {
        m.insert("id".into(), json!(id));
        set_default(m, "name", json!(format!("Item {id}")));
        set_default(m, "inactiveFlag", json!(false));
        stamp(m, now, API_MEMBER);
    }

    pub fn normalize_subcategory(&self, mut m: Map<String, Value>, id: i64, now: &str) -> Value {
        Self::normalize_simple(&mut m, id, now);
        expand_lenient(&mut m, "category", &self.categories, &["name"]);
        Value::Object(m)
    }

    /// Normalizes a catalog item; with `strict`, applies the API's POST validation.
    pub fn normalize_catalog_item(
        &self,
        mut m: Map<String, Value>,
        id: i64,
        now: &str,
        strict: bool,
    ) -> Result<Value, ApiError> {
        const R: &str = "catalogItem";
        m.insert("id".into(), json!(id));
        if strict {
            for f in [
                "identifier",
                "description",
                "subcategory",
                "type",
                "customerDescription",
            ] {
                let missing = match m.get(f) {
                    None | Some(Value::Null) => true,
                    Some(Value::String(s)) => s.trim().is_empty(),
                    _ => false,
                };
                if missing {
                    return Err(ApiError::missing(R, f));
                }
            }
        } else {
            set_default(&mut m, "identifier", json!(format!("ITEM-{id}")));
            let ident = m.get("identifier").cloned().unwrap_or(Value::Null);
            set_default(&mut m, "description", ident.clone());
            set_default(&mut m, "customerDescription", ident);
        }
        let ident = m
            .get("identifier")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_field(R, "identifier", "identifier must be a string"))?
            .to_owned();
        if self.catalog.rows.values().any(|r| {
            r["id"] != json!(id)
                && r["identifier"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&ident))
        }) {
            return Err(ApiError::exists(
                R,
                "identifier",
                format!("A catalog item with identifier {ident} already exists"),
            ));
        }
        let subcategory = if strict {
            expand_strict(
                &mut m,
                "subcategory",
                &self.subcategories,
                &["name"],
                R,
                "Subcategory",
            )?;
            expand_strict(
                &mut m,
                "type",
                &self.product_types,
                &["name"],
                R,
                "Product type",
            )?;
            expand_strict(
                &mut m,
                "unitOfMeasure",
                &self.unit_of_measures,
                &["name"],
                R,
                "Unit of measure",
            )?;
            m.get("subcategory")
                .and_then(|s| lookup(&self.subcategories, s))
                .cloned()
        } else {
            expand_lenient(&mut m, "subcategory", &self.subcategories, &["name"]);
            expand_lenient(&mut m, "type", &self.product_types, &["name"]);
            expand_lenient(&mut m, "unitOfMeasure", &self.unit_of_measures, &["name"]);
            m.get("subcategory")
                .and_then(|s| lookup(&self.subcategories, s))
                .cloned()
        };
        if m.get("category").is_none_or(Value::is_null)
            && let Some(cat) = subcategory.as_ref().and_then(|s| s.get("category"))
        {
            m.insert("category".into(), cat.clone());
        }
        if strict {
            expand_strict(
                &mut m,
                "category",
                &self.categories,
                &["name"],
                R,
                "Category",
            )?;
        } else {
            expand_lenient(&mut m, "category", &self.categories, &["name"]);
        }
        if let Some(pc) = m.get("productClass").filter(|v| !v.is_null())
            && !pc.as_str().is_some_and(|s| {
                [
                    "Agreement",
                    "Bundle",
                    "Inventory",
                    "NonInventory",
                    "Service",
                ]
                .contains(&s)
            })
        {
            return Err(ApiError::invalid_field(
                R,
                "productClass",
                format!("productClass {pc} is not valid"),
            ));
        }
        set_default(&mut m, "productClass", json!("NonInventory"));
        set_default(&mut m, "inactiveFlag", json!(false));
        set_default(&mut m, "price", json!(0.0));
        set_default(&mut m, "cost", json!(0.0));
        stamp(&mut m, now, API_MEMBER);
        Ok(Value::Object(m))
    }

    // ---- service ---------------------------------------------------------------------

    pub fn board_children(table: &Table, board_id: i64) -> Vec<Value> {
        table
            .rows
            .values()
            .filter(|r| as_id(r.get("board").and_then(|b| b.get("id"))) == Some(board_id))
            .cloned()
            .collect()
    }

    /// Validates and normalizes a ticket (`previous` is the stored ticket on PATCH).
    pub fn normalize_ticket(
        &self,
        mut m: Map<String, Value>,
        id: i64,
        previous: Option<&Value>,
        now: &str,
    ) -> Result<Value, ApiError> {
        const R: &str = "ticket";
        m.insert("id".into(), json!(id));
        match m.get("summary") {
            None | Some(Value::Null) => return Err(ApiError::missing(R, "summary")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(ApiError::missing(R, "summary"));
            }
            Some(Value::String(s)) if s.chars().count() > 100 => {
                return Err(ApiError::invalid_field(
                    R,
                    "summary",
                    "summary must be 100 characters or fewer",
                ));
            }
            Some(Value::String(_)) => {}
            Some(_) => {
                return Err(ApiError::invalid_field(
                    R,
                    "summary",
                    "summary must be a string",
                ));
            }
        }
        if let Some(x) = m.get("externalXRef").filter(|v| !v.is_null()) {
            match x.as_str() {
                Some(s) if s.chars().count() <= 100 => {}
                Some(_) => {
                    return Err(ApiError::invalid_field(
                        R,
                        "externalXRef",
                        "externalXRef must be 100 characters or fewer",
                    ));
                }
                None => {
                    return Err(ApiError::invalid_field(
                        R,
                        "externalXRef",
                        "externalXRef must be a string",
                    ));
                }
            }
        }
        if m.get("company").is_none_or(Value::is_null) {
            return Err(ApiError::missing(R, "company"));
        }
        expand_strict(
            &mut m,
            "company",
            &self.companies,
            &["identifier", "name"],
            R,
            "Company",
        )?;
        if m.get("board").is_none_or(Value::is_null) {
            return Err(ApiError::missing(R, "board"));
        }
        let board = expand_strict(&mut m, "board", &self.boards, &["name"], R, "Board")?
            .ok_or_else(|| ApiError::missing(R, "board"))?;
        let board_id = as_id(board.get("id")).unwrap_or_default();
        let board_changed = previous
            .is_some_and(|p| as_id(p.get("board").and_then(|b| b.get("id"))) != Some(board_id));

        let statuses = Self::board_children(&self.board_statuses, board_id);
        let status_given = m.get("status").is_some_and(|v| !v.is_null());
        let status_unchanged = previous.is_some_and(|p| p.get("status") == m.get("status"));
        if !status_given || (board_changed && status_unchanged) {
            match statuses
                .iter()
                .find(|s| s.get("defaultFlag") == Some(&Value::Bool(true)))
                .or_else(|| statuses.first())
            {
                Some(s) => {
                    m.insert("status".into(), reference(s, &["name"]));
                }
                None => {
                    m.remove("status");
                }
            }
        }
        let mut closed = None;
        if let Some(s) = m.get("status").cloned() {
            let found = lookup_child(&statuses, &s).ok_or_else(|| {
                ApiError::invalid_field(
                    R,
                    "status",
                    format!(
                        "Status {} is not valid for board {}",
                        show_ref(&s),
                        board_id
                    ),
                )
            })?;
            closed = Some(found.get("closedStatus") == Some(&Value::Bool(true)));
            m.insert("status".into(), reference(&found, &["name"]));
        }
        let types = Self::board_children(&self.board_types, board_id);
        let mut type_id = None;
        if let Some(t) = m.get("type").filter(|v| !v.is_null()).cloned() {
            let found = lookup_child(&types, &t).ok_or_else(|| {
                ApiError::invalid_field(
                    R,
                    "type",
                    format!("Type {} is not valid for board {}", show_ref(&t), board_id),
                )
            })?;
            type_id = as_id(found.get("id"));
            m.insert("type".into(), reference(&found, &["name"]));
        } else {
            m.remove("type");
        }
        if let Some(st) = m.get("subType").filter(|v| !v.is_null()).cloned() {
            let subtypes = Self::board_children(&self.board_subtypes, board_id);
            let found = lookup_child(&subtypes, &st).ok_or_else(|| {
                ApiError::invalid_field(
                    R,
                    "subType",
                    format!(
                        "SubType {} is not valid for board {}",
                        show_ref(&st),
                        board_id
                    ),
                )
            })?;
            let assoc: Vec<i64> = found
                .get("typeAssociationIds")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| as_id(Some(v))).collect())
                .unwrap_or_default();
            if let Some(t) = type_id
                && !assoc.is_empty()
                && !assoc.contains(&t)
            {
                return Err(ApiError::invalid_field(
                    R,
                    "subType",
                    format!("SubType {} is not valid for type {t}", show_ref(&st)),
                ));
            }
            m.insert("subType".into(), reference(&found, &["name"]));
        } else {
            m.remove("subType");
        }
        if m.get("priority").is_none_or(Value::is_null) {
            if let Some(p) = self
                .priorities
                .rows
                .values()
                .find(|p| p.get("defaultFlag") == Some(&Value::Bool(true)))
            {
                m.insert("priority".into(), reference(p, &["name"]));
            }
        } else {
            expand_strict(
                &mut m,
                "priority",
                &self.priorities,
                &["name"],
                R,
                "Priority",
            )?;
        }
        m.insert("recordType".into(), json!("ServiceTicket"));
        m.remove("initialDescription");
        m.remove("initialInternalAnalysis");
        m.remove("initialResolution");
        let was_closed = previous.is_some_and(|p| p.get("closedFlag") == Some(&Value::Bool(true)));
        match closed {
            Some(true) if !was_closed => {
                m.insert("closedFlag".into(), json!(true));
                m.insert("closedDate".into(), json!(now));
                m.insert("dateResolved".into(), json!(now));
                m.insert("closedBy".into(), json!(API_MEMBER));
            }
            Some(true) => {}
            _ => {
                m.insert("closedFlag".into(), json!(false));
                m.remove("closedDate");
                m.remove("dateResolved");
                m.remove("closedBy");
            }
        }
        stamp(&mut m, now, API_MEMBER);
        Ok(Value::Object(m))
    }
}

fn lookup_child(rows: &[Value], r: &Value) -> Option<Value> {
    if let Some(id) = as_id(r.get("id")) {
        return rows
            .iter()
            .find(|s| as_id(s.get("id")) == Some(id))
            .cloned();
    }
    let name = r.get("name").and_then(Value::as_str)?;
    rows.iter()
        .find(|s| {
            s.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .cloned()
}

fn show_ref(r: &Value) -> String {
    as_id(r.get("id"))
        .map(|i| i.to_string())
        .or_else(|| r.get("name").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| r.to_string())
}

/// `{id, name}` of a contact.
pub fn contact_ref(contact: &Value) -> Value {
    let first = get_field(contact, "firstName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let last = get_field(contact, "lastName")
        .and_then(Value::as_str)
        .unwrap_or("");
    json!({"id": contact.get("id").cloned().unwrap_or(Value::Null), "name": format!("{first} {last}").trim()})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids<'a>(rows: impl Iterator<Item = &'a Value>) -> Vec<i64> {
        rows.filter_map(|r| as_id(r.get("id"))).collect()
    }

    #[test]
    fn children_come_from_the_index_and_follow_removals_and_moves() {
        let mut t = Table::default();
        t.insert(3, json!({"id": 3, "agreementId": 7}));
        t.insert(1, json!({"id": 1, "agreementId": {"id": 7}}));
        t.insert(2, json!({"id": 2, "agreementId": 8}));
        assert_eq!(ids(t.children("agreementId", 7)), [1, 3], "in id order");
        t.rows.remove(&3);
        t.insert(1, json!({"id": 1, "agreementId": 8}));
        assert_eq!(ids(t.children("agreementId", 7)), Vec::<i64>::new());
        assert_eq!(ids(t.children("agreementId", 8)), [1, 2]);
        // A field that is not indexed is scanned.
        t.insert(4, json!({"id": 4, "company": {"id": 8}}));
        assert_eq!(ids(t.children("company", 8)), [4]);
    }
}
