//! The simulated month's oracle: from the simulators' own records only (their state and
//! each record's dates and `lastUpdated`; none of the product's code), what every quota,
//! pay-as-you-go addition quantity, tenant state and ticket should be at the end, and every
//! place where the simulators hold something else.
//!
//! The rules, as the integration promises them (README, "How it behaves"):
//! - Days are the MSP's: a record's date is the calendar day it names, and "today" at an
//!   instant is the day in the MSP's time zone (`Rules::time_zone`).
//! - A company qualifies at an instant when its status is not inactive and an agreement in
//!   force (active, not cancelled, started, not ended) holds an addition in force (effective,
//!   not cancelled) of a mapped product. A company that ever qualified has exactly one
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

/// What the oracle needs to know about the product's settings.
#[derive(Debug, Clone)]
pub struct Rules {
    /// ConnectWise product id → Acronis offering item.
    pub products: BTreeMap<i64, String>,
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
                                .is_some_and(|p| rules.products.contains_key(&p))
                    })
                    .map(move |x| (*x, payg))
            })
            .collect()
    }

    fn qualifies_at(&self, rules: &Rules, t: DateTime<Utc>) -> bool {
        !self.inactive_at(t) && !self.in_force(rules, t).is_empty()
    }
}

/// Judges the end state of both simulators (`cw` and `acronis` are their `/_sim/state`).
pub fn judge(cw: &Value, acronis: &Value, rules: &Rules) -> Verdict {
    let mut v = Verdict::default();
    let agreements = rows(cw, "agreements");
    let additions = rows(cw, "additions");
    let companies_rows = rows(cw, "companies");
    let tickets = rows(cw, "tickets");
    let tenants: Vec<&Value> = acronis["tenants"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|t| t["kind"] == "customer" && t["deleted_at"].is_null())
                .collect()
        })
        .unwrap_or_default();
    let alerts: Vec<&Value> = acronis["alerts"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let companies: Vec<Company<'_>> = companies_rows
        .iter()
        .map(|c| Company {
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
        })
        .collect();
    let end = rules.end;
    for c in &companies {
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
            continue;
        };
        if named.len() > 1 {
            v.duplicates += named.len() - 1;
        }
        let Some(tenant) = named.first() else {
            v.discrepancies
                .push(format!("company {} qualified but has no tenant", c.id()));
            continue;
        };
        let items: Vec<&Value> = tenant["offering_items"]
            .as_array()
            .map(|i| i.iter().collect())
            .unwrap_or_default();
        let qualifies = last + rules.cycle > end;
        if qualifies {
            check_tenant_enabled(&mut v, c.id(), tenant, true);
            check_quotas(&mut v, c, rules, &items);
            check_usage(&mut v, c, rules, tenant, &additions);
        } else {
            let stopped = last + rules.cycle;
            let days = (end - stopped).num_minutes() as f64 / 1440.0;
            let disable = rules.disable_after_days as f64;
            if (days - disable).abs() > 1.05 {
                check_tenant_enabled(&mut v, c.id(), tenant, days < disable);
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
        check_tickets(&mut v, c, rules, tenant, &alerts, &tickets);
    }
    v
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
    for (product, item) in &rules.products {
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
        let Some(item) = x["product"]["id"]
            .as_i64()
            .and_then(|p| rules.products.get(&p))
        else {
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
