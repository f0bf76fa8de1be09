//! The simulated month's oracle: from the simulators' own records only (their state and
//! each record's dates and `lastUpdated`; none of the product's code), what every quota,
//! pay-as-you-go addition quantity, tenant state and ticket should be at the end, and every
//! place where the simulators hold something else.
//!
//! The rules, as the integration promises them (README, "How it behaves"):
//! - Each company belongs to one Acronis connection (partner tenant and data centre), by a
//!   field of its ConnectWise record (`Rules::connections`); its tenant is in that
//!   connection's simulator, and no other connection's holds one named after it. Products
//!   map to offering items per connection (the same item is another product in each).
//! - Days are the MSP's: a record's date is the calendar day it names, and "today" at an
//!   instant is the day in the MSP's time zone (`Rules::time_zone`).
//! - A company qualifies at an instant when its status is not inactive and an agreement in
//!   force (active, not cancelled, started, not ended) holds an addition in force (effective,
//!   not cancelled) of a product mapped in its connection. A company that ever qualified has exactly one
//!   customer tenant, named after it; one that never did has none.
//! - Qualifying now: each mapped item's quota is the prepaid quantities summed (hard), or
//!   unlimited (pay-as-you-go only), or the prepaid part, soft (both); an item with neither
//!   is zero if enabled. The tenant is enabled.
//! - Not qualifying now (having qualified): every enabled item is at zero; the tenant is
//!   disabled once it has not qualified for `disable_after_days` (a day of tolerance either
//!   side, since the product may notice up to a day late); deleted after `delete_after_days`.
//! - Each pay-as-you-go addition in force of a qualifying company holds its tenant's usage
//!   of the item its product maps to.
//! - Each alert of a qualifying company's tenant of a mapped type has exactly one ticket
//!   (found by the resource name in its summary), closed when the alert is cleared.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

/// Which connection a company belongs to: by the `name` of one reference field of its
/// ConnectWise record (`country`, `market`, `territory`), as `provisioning.new_customers`
/// says.
#[derive(Debug, Clone)]
pub struct ConnectionRule {
    pub field: String,
    /// The field's name → connection (exact).
    pub values: BTreeMap<String, String>,
    /// The connection of every other company.
    pub otherwise: String,
}

impl ConnectionRule {
    /// Every company in connection `name`.
    pub fn single(name: &str) -> Self {
        Self {
            field: "country".into(),
            values: BTreeMap::new(),
            otherwise: name.into(),
        }
    }

    /// The connection of `company` (its ConnectWise record).
    pub fn of<'a>(&'a self, company: &Value) -> &'a str {
        company[self.field.as_str()]["name"]
            .as_str()
            .and_then(|v| self.values.get(v))
            .unwrap_or(&self.otherwise)
    }
}

/// What the oracle needs to know about the product's settings.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Per connection: ConnectWise product id → Acronis offering item.
    pub products: BTreeMap<String, BTreeMap<i64, String>>,
    /// Which connection each company's tenant belongs in.
    pub connections: ConnectionRule,
    /// An agreement type whose name contains one of these (case-insensitive) is pay-as-you-go.
    pub payg_types: Vec<String>,
    pub disable_after_days: i64,
    pub delete_after_days: i64,
    /// Alert types that make tickets.
    pub alert_types: Vec<String>,
    /// The first and last instant of the run, and the cycle length (qualification is
    /// sampled at every cycle).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub cycle: Duration,
    /// The MSP's time zone: the day of an instant is taken there.
    pub time_zone: chrono_tz::Tz,
}

/// What the oracle found.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Values compared.
    pub checked: usize,
    /// Each value that differs, in words.
    pub discrepancies: Vec<String>,
    /// Tenants or tickets beyond the one each should have.
    pub duplicates: usize,
}

/// The rows of a simulator state's `table`.
pub fn rows(state: &Value, table: &str) -> Vec<Value> {
    let t = &state[table];
    match t.get("rows").unwrap_or(t) {
        Value::Object(m) => m.values().cloned().collect(),
        Value::Array(v) => v.clone(),
        _ => Vec::new(),
    }
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

fn day(v: &Value) -> Option<NaiveDate> {
    time(v).map(|t| t.date_naive())
}

fn last_updated(v: &Value) -> Option<DateTime<Utc>> {
    time(&v["_info"]["lastUpdated"])
}

fn active_status(v: &Value) -> bool {
    v.as_str().is_none_or(|s| s.eq_ignore_ascii_case("active"))
}

impl Rules {
    fn is_payg(&self, agreement: &Value) -> bool {
        let name = agreement["type"]["name"]
            .as_str()
            .unwrap_or("")
            .to_lowercase();
        self.payg_types
            .iter()
            .any(|t| name.contains(&t.to_lowercase()))
    }

    /// The MSP's day at `t`.
    pub fn day_at(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.time_zone).date_naive()
    }

    /// Whether the agreement bills at `t` (cancelled: from its last update on).
    fn agreement_in_force(&self, a: &Value, t: DateTime<Utc>) -> bool {
        let today = self.day_at(t);
        let cancelled =
            a["cancelledFlag"] == Value::Bool(true) || !active_status(&a["agreementStatus"]);
        if cancelled && last_updated(a).is_none_or(|u| u <= t) {
            return false;
        }
        let started = day(&a["startDate"]).is_none_or(|d| d <= today);
        let ended = a["noEndingDateFlag"] != Value::Bool(true)
            && day(&a["endDate"]).is_some_and(|d| d < today);
        started && !ended
    }

    fn addition_in_force(&self, x: &Value, t: DateTime<Utc>) -> bool {
        let today = self.day_at(t);
        // (An addition's `agreementStatus` mirrors its agreement's, whose cancellation
        // counts from when it happened, in `agreement_in_force`.)
        day(&x["effectiveDate"]).is_none_or(|d| d <= today)
            && day(&x["cancelledDate"]).is_none_or(|d| d > today)
    }
}

/// One company as the oracle sees it.
struct Company<'a> {
    record: &'a Value,
    agreements: Vec<(&'a Value, Vec<&'a Value>)>,
    /// Its connection, and that connection's products.
    connection: &'a str,
    products: &'a BTreeMap<i64, String>,
}

impl Company<'_> {
    fn id(&self) -> i64 {
        self.record["id"].as_i64().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.record["name"].as_str().unwrap_or_default()
    }

    /// Inactive at `t` (its status is inactive, since its last update).
    fn inactive_at(&self, t: DateTime<Utc>) -> bool {
        let inactive = self.record["status"]["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case("inactive"));
        inactive && last_updated(self.record).is_none_or(|u| u <= t)
    }

    /// The additions of mapped products in force at `t`, with whether each is PAYG.
    fn in_force<'b>(&'b self, rules: &Rules, t: DateTime<Utc>) -> Vec<(&'b Value, bool)> {
        self.agreements
            .iter()
            .filter(|(a, _)| rules.agreement_in_force(a, t))
            .flat_map(|(a, xs)| {
                let payg = rules.is_payg(a);
                xs.iter()
                    .filter(move |x| {
                        rules.addition_in_force(x, t)
                            && x["product"]["id"]
                                .as_i64()
                                .is_some_and(|p| self.products.contains_key(&p))
                    })
                    .map(move |x| (*x, payg))
            })
            .collect()
    }

    fn qualifies_at(&self, rules: &Rules, t: DateTime<Utc>) -> bool {
        !self.inactive_at(t) && !self.in_force(rules, t).is_empty()
    }
}

/// A simulator state's live customer tenants.
fn live_tenants(acronis: &Value) -> Vec<&Value> {
    acronis["tenants"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|t| t["kind"] == "customer" && t["deleted_at"].is_null())
                .collect()
        })
        .unwrap_or_default()
}

/// Judges the end state of ConnectWise (`cw`, its `/_sim/state`) and of each Acronis
/// connection's simulator (`acronis`: connection name → its `/_sim/state`).
pub fn judge(cw: &Value, acronis: &[(&str, &Value)], rules: &Rules) -> Verdict {
    let mut v = Verdict::default();
    let agreements = rows(cw, "agreements");
    let additions = rows(cw, "additions");
    let companies_rows = rows(cw, "companies");
    let tickets = rows(cw, "tickets");
    let tenants: BTreeMap<&str, Vec<&Value>> = acronis
        .iter()
        .map(|(name, state)| (*name, live_tenants(state)))
        .collect();
    let alerts: BTreeMap<&str, Vec<&Value>> = acronis
        .iter()
        .map(|(name, state)| {
            let alerts = state["alerts"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            (*name, alerts)
        })
        .collect();
    let no_products = BTreeMap::new();
    let companies: Vec<Company<'_>> = companies_rows
        .iter()
        .map(|c| {
            let connection = rules.connections.of(c);
            Company {
                record: c,
                agreements: agreements
                    .iter()
                    .filter(|a| a["company"]["id"] == c["id"])
                    .map(|a| {
                        let xs = additions
                            .iter()
                            .filter(|x| x["agreementId"] == a["id"])
                            .collect();
                        (a, xs)
                    })
                    .collect(),
                connection,
                products: rules.products.get(connection).unwrap_or(&no_products),
            }
        })
        .collect();
    for c in &companies {
        // Nothing in another connection's data centre.
        for (other, theirs) in tenants.iter().filter(|(n, _)| **n != c.connection) {
            v.checked += 1;
            let n = theirs.iter().filter(|t| t["name"] == c.name()).count();
            if n > 0 {
                v.discrepancies.push(format!(
                    "company {}: {n} tenant(s) in connection {other}, not its own ({})",
                    c.id(),
                    c.connection
                ));
            }
        }
        let Some(own) = tenants.get(c.connection) else {
            v.checked += 1;
            v.discrepancies.push(format!(
                "company {}: its connection {} was not judged",
                c.id(),
                c.connection
            ));
            continue;
        };
        let own_alerts = alerts.get(c.connection).map_or(&[][..], Vec::as_slice);
        judge_company(&mut v, c, rules, own, own_alerts, &additions, &tickets);
    }
    v
}

/// One company against its own connection's tenants and alerts.
fn judge_company(
    v: &mut Verdict,
    c: &Company<'_>,
    rules: &Rules,
    tenants: &[&Value],
    alerts: &[&Value],
    additions: &[Value],
    tickets: &[Value],
) {
    let end = rules.end;
    // When it qualified, sampled at every cycle.
    let mut last_qualified = None;
    let mut t = rules.start;
    while t <= end {
        if c.qualifies_at(rules, t) {
            last_qualified = Some(t);
        }
        t += rules.cycle;
    }
    let named: Vec<&&Value> = tenants.iter().filter(|t| t["name"] == c.name()).collect();
    v.checked += 1;
    let Some(last) = last_qualified else {
        if !named.is_empty() {
            v.discrepancies.push(format!(
                "company {} never qualified but has {} tenant(s)",
                c.id(),
                named.len()
            ));
        }
        return;
    };
    if named.len() > 1 {
        v.duplicates += named.len() - 1;
    }
    let Some(tenant) = named.first() else {
        v.discrepancies.push(format!(
            "company {} qualified but has no tenant in connection {}",
            c.id(),
            c.connection
        ));
        return;
    };
    let items: Vec<&Value> = tenant["offering_items"]
        .as_array()
        .map(|i| i.iter().collect())
        .unwrap_or_default();
    let qualifies = last + rules.cycle > end;
    if qualifies {
        check_tenant_enabled(v, c.id(), tenant, true);
        check_quotas(v, c, rules, &items);
        check_usage(v, c, rules, tenant, additions);
    } else {
        let stopped = last + rules.cycle;
        let days = (end - stopped).num_minutes() as f64 / 1440.0;
        let disable = rules.disable_after_days as f64;
        if (days - disable).abs() > 1.05 {
            check_tenant_enabled(v, c.id(), tenant, days < disable);
        }
        if days < rules.delete_after_days as f64 - 1.05 {
            for item in items
                .iter()
                .filter(|i| i["status"] == 1 && !i["quota"].is_null())
            {
                v.checked += 1;
                if item["quota"]["value"] != 0 {
                    v.discrepancies.push(format!(
                        "company {} stopped qualifying {days:.1} days ago: {} quota {} instead of 0",
                        c.id(),
                        item["name"],
                        item["quota"]["value"]
                    ));
                }
            }
        }
    }
    check_tickets(v, c, rules, tenant, alerts, tickets);
}

fn check_tenant_enabled(v: &mut Verdict, company: i64, tenant: &Value, want: bool) {
    v.checked += 1;
    if tenant["enabled"].as_bool() != Some(want) {
        v.discrepancies.push(format!(
            "company {company}: tenant enabled={} instead of {want}",
            tenant["enabled"]
        ));
    }
}

fn check_quotas(v: &mut Verdict, c: &Company<'_>, rules: &Rules, items: &[&Value]) {
    let in_force = c.in_force(rules, rules.end);
    for (product, item) in c.products {
        let mine: Vec<&(&Value, bool)> = in_force
            .iter()
            .filter(|(x, _)| x["product"]["id"].as_i64() == Some(*product))
            .collect();
        let prepaid: f64 = mine
            .iter()
            .filter(|(_, payg)| !payg)
            .map(|(x, _)| x["quantity"].as_f64().unwrap_or(0.0))
            .sum();
        let has_prepaid = mine.iter().any(|(_, payg)| !payg);
        let has_payg = mine.iter().any(|(_, payg)| *payg);
        let got = items.iter().find(|i| i["name"] == item.as_str());
        let enabled = got.is_some_and(|i| i["status"] == 1);
        let (value, overage) = got.map_or((Value::Null, Value::Null), |i| {
            (i["quota"]["value"].clone(), i["quota"]["overage"].clone())
        });
        // (value, overage) wanted; `None` when a disabled item is as good as zero.
        let want: Option<(Value, Value)> = match (has_prepaid, has_payg) {
            (true, false) => Some((Value::from(prepaid.floor() as i64), Value::from(0))),
            (false, true) => Some((Value::Null, Value::Null)),
            (true, true) => Some((Value::from(prepaid.floor() as i64), Value::Null)),
            (false, false) if enabled => Some((Value::from(0), Value::from(0))),
            (false, false) => None,
        };
        v.checked += 1;
        if let Some((wv, wo)) = want {
            let over_ok = wo == overage || (wo.is_null() && overage.is_null());
            if !enabled || wv != value || !over_ok {
                v.discrepancies.push(format!(
                    "company {}: {item} enabled={enabled} quota {value}/{overage} instead of {wv}/{wo}",
                    c.id()
                ));
            }
        }
    }
}

fn check_usage(
    v: &mut Verdict,
    c: &Company<'_>,
    rules: &Rules,
    tenant: &Value,
    additions: &[Value],
) {
    for (x, payg) in c.in_force(rules, rules.end) {
        if !payg {
            continue;
        }
        let Some(item) = x["product"]["id"].as_i64().and_then(|p| c.products.get(&p)) else {
            continue;
        };
        let usage: i64 = tenant["usages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["name"] == item.as_str())
            .map(|u| {
                u["absolute_value"]
                    .as_i64()
                    .or(u["value"].as_i64())
                    .unwrap_or(0)
            })
            .sum();
        // The addition as it is now (the in-force view is of the same record).
        let now = additions.iter().find(|a| a["id"] == x["id"]).unwrap_or(x);
        v.checked += 1;
        if now["quantity"].as_f64() != Some(usage as f64) {
            v.discrepancies.push(format!(
                "company {}: addition {} ({item}) holds {} instead of the usage {usage}",
                c.id(),
                x["id"],
                now["quantity"]
            ));
        }
    }
}

fn check_tickets(
    v: &mut Verdict,
    c: &Company<'_>,
    rules: &Rules,
    tenant: &Value,
    alerts: &[&Value],
    tickets: &[Value],
) {
    for a in alerts.iter().filter(|a| {
        a["tenant"]["uuid"] == tenant["id"]
            && a["type"]
                .as_str()
                .is_some_and(|t| rules.alert_types.iter().any(|m| m == t))
    }) {
        let resource = a["details"]["resourceName"].as_str().unwrap_or_default();
        let mine: Vec<&Value> = tickets
            .iter()
            .filter(|t| {
                t["company"]["id"].as_i64() == Some(c.id())
                    && t["summary"].as_str().is_some_and(|s| s.contains(resource))
            })
            .collect();
        v.checked += 1;
        match mine.as_slice() {
            [] => v.discrepancies.push(format!(
                "company {}: no ticket for alert {} ({resource})",
                c.id(),
                a["id"]
            )),
            [t, rest @ ..] => {
                v.duplicates += rest.len();
                let cleared = !a["deletedAt"].is_null() || !a["deleted_at"].is_null();
                let closed = t["closedFlag"] == Value::Bool(true);
                if cleared != closed {
                    v.discrepancies.push(format!(
                        "company {}: ticket {} of alert {} closed={closed}, alert cleared={cleared}",
                        c.id(),
                        t["id"],
                        a["id"]
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Two companies sold servers (another product in each connection): one of Germany
    /// (`default`), one of the United States (`us`).
    fn connectwise() -> Value {
        let company = |id: i64, country: &str| {
            json!({"id": id, "name": format!("Co {id}"), "status": {"name": "Active"},
                   "country": {"name": country}})
        };
        let agreement = |id: i64| {
            json!({"id": id * 10, "company": {"id": id}, "type": {"name": "Managed Services"},
                   "agreementStatus": "Active", "startDate": "2026-01-01T00:00:00Z", "noEndingDateFlag": true})
        };
        let addition = |id: i64, product: i64| {
            json!({"id": id * 100, "agreementId": id * 10, "product": {"id": product}, "quantity": 2.0,
                   "effectiveDate": "2026-01-01T00:00:00Z"})
        };
        json!({
            "companies": [company(1, "Germany"), company(2, "United States")],
            "agreements": [agreement(1), agreement(2)],
            "additions": [addition(1, 500), addition(2, 510)],
        })
    }

    fn tenant(name: &str) -> Value {
        json!({"id": name, "name": name, "kind": "customer", "deleted_at": null, "enabled": true,
               "offering_items": [{"name": "pw_base_servers", "status": 1, "quota": {"value": 2, "overage": 0}}]})
    }

    fn rules() -> Rules {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("a time")
                .with_timezone(&Utc)
        };
        Rules {
            products: [
                ("default".into(), [(500, "pw_base_servers".into())].into()),
                ("us".into(), [(510, "pw_base_servers".into())].into()),
            ]
            .into(),
            connections: ConnectionRule {
                field: "country".into(),
                values: [("United States".into(), "us".into())].into(),
                otherwise: "default".into(),
            },
            payg_types: Vec::new(),
            disable_after_days: 10,
            delete_after_days: 30,
            alert_types: Vec::new(),
            start: at("2026-02-01T12:00:00Z"),
            end: at("2026-02-01T13:00:00Z"),
            cycle: Duration::minutes(15),
            time_zone: chrono_tz::UTC,
        }
    }

    #[test]
    fn each_company_is_judged_in_its_own_connection() {
        let cw = connectwise();
        let (eu, us) = (
            json!({"tenants": [tenant("Co 1")]}),
            json!({"tenants": [tenant("Co 2")]}),
        );
        let v = judge(&cw, &[("default", &eu), ("us", &us)], &rules());
        assert_eq!(v.discrepancies, Vec::<String>::new());
        assert_eq!(v.duplicates, 0);
    }

    #[test]
    fn a_tenant_in_the_wrong_data_centre_is_a_discrepancy() {
        let cw = connectwise();
        let (eu, us) = (
            json!({"tenants": [tenant("Co 1"), tenant("Co 2")]}),
            json!({"tenants": []}),
        );
        let v = judge(&cw, &[("default", &eu), ("us", &us)], &rules());
        assert_eq!(
            v.discrepancies,
            [
                "company 2: 1 tenant(s) in connection default, not its own (us)",
                "company 2 qualified but has no tenant in connection us",
            ]
        );
    }

    #[test]
    fn a_product_of_another_connection_does_not_qualify() {
        let mut cw = connectwise();
        // Company 2 (us) sold the default connection's servers product: not mapped in us.
        cw["additions"][1]["product"]["id"] = json!(500);
        let (eu, us) = (
            json!({"tenants": [tenant("Co 1")]}),
            json!({"tenants": [tenant("Co 2")]}),
        );
        let v = judge(&cw, &[("default", &eu), ("us", &us)], &rules());
        assert_eq!(
            v.discrepancies,
            ["company 2 never qualified but has 1 tenant(s)"]
        );
    }
}
