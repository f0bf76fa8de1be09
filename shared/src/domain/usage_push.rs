//! The usage push's decision, pure: from a shard's addition records and its tenants' usages
//! to the additions whose quantity to write.
//!
//! Per (company, product) one addition gets the usage: of the records billing today on
//! agreements still open PAYG, the one on the lowest agreement id (several are reported).
//! Its quantity is [`usage::product_quantities`]'s, zero when the tenant reported none, and
//! it is written only when it differs from what ConnectWise holds ([`usage::decide`]).
//! A company whose usages were not read is left out (nothing is written from no data).

use crate::domain::connection::ConnectionName;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

use crate::acronis::models::TenantUsages;
use crate::bus::events::ShardCompany;
use crate::domain::records::{AdditionRecord, Failure, ProductMapping};
use crate::domain::usage::{self, Decision, UsageSettings};
use crate::domain::usage_records::missing_failure;

/// One addition quantity to write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedWrite {
    /// The addition's record as stored (its `last_pushed_quantity` is what ConnectWise holds).
    pub record: AdditionRecord,
    pub quantity: f64,
    /// How the quantity was derived from the usages (for the run record's change).
    pub basis: String,
}

impl PlannedWrite {
    pub fn subject(&self) -> String {
        let r = &self.record;
        format!(
            "company {} / agreement {} / addition {}",
            r.company_id, r.agreement_id, r.addition_id
        )
    }
}

/// What a push does for one shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PushPlan {
    pub writes: Vec<PlannedWrite>,
    /// Companies whose usages were read.
    pub companies_pushed: u64,
    /// Additions decided (written or not).
    pub additions: u64,
    pub unchanged: u64,
    /// Records not billing today (before their start, after their end).
    pub not_in_force: u64,
    /// What a person should know (several agreements for a product, a missing addition).
    pub problems: Vec<Failure>,
    /// Usages above their prepaid quantity (for the overage notice).
    pub overages: Vec<crate::domain::attention::Overage>,
    /// Companies left out because an answer could not be read (a field missing, negative).
    pub malformed: u64,
}

/// The plan for `companies`, from their stored `records`, the agreements no longer pushed
/// (`inactive`), the usages read (by lower-case tenant id), the product mapping and the
/// usage settings, as of `today`.
pub fn plan_push(
    companies: &[ShardCompany],
    records: Vec<AdditionRecord>,
    inactive: &BTreeSet<i64>,
    usages: &HashMap<String, TenantUsages>,
    mappings: &[ProductMapping],
    settings: &UsageSettings,
    today: NaiveDate,
) -> PushPlan {
    let wanted: BTreeSet<i64> = companies.iter().map(|c| c.company_id).collect();
    let mut plan = PushPlan::default();
    let mut billing: BTreeMap<(i64, i64), Vec<AdditionRecord>> = BTreeMap::new();
    for r in records {
        if !wanted.contains(&r.company_id) || inactive.contains(&r.agreement_id) {
            continue;
        }
        if !r.in_force_on(today) {
            plan.not_in_force += 1;
            continue;
        }
        billing
            .entry((r.company_id, r.product_id))
            .or_default()
            .push(r);
    }
    // Each connection's own mappings: the same offering item is another product in each.
    let mut by_connection: BTreeMap<&ConnectionName, Vec<ProductMapping>> = BTreeMap::new();
    for m in mappings {
        by_connection
            .entry(&m.connection)
            .or_default()
            .push(m.clone());
    }
    for c in companies {
        let Some(tu) = usages.get(&c.tenant_id.to_ascii_lowercase()) else {
            continue;
        };
        plan.companies_pushed += 1;
        let own = by_connection
            .get(&c.connection)
            .map_or(&[][..], Vec::as_slice);
        let quantities = match usage::product_quantities(&tu.usages, own, settings) {
            Ok(q) => q,
            // Nothing is written for this company from an answer that cannot be read; the
            // next push reads it again.
            Err(e) => {
                plan.malformed += 1;
                plan.problems.push(Failure {
                    subject: format!("company {}", c.company_id),
                    reason: e.to_string(),
                    transient: true,
                });
                continue;
            }
        };
        plan.overages.extend(
            tu.usages
                .iter()
                .filter_map(|u| crate::domain::attention::prepaid_overage(c.company_id, u)),
        );
        for ((company, product), rs) in
            billing.range_mut((c.company_id, i64::MIN)..=(c.company_id, i64::MAX))
        {
            rs.sort_by_key(|r| r.agreement_id);
            if rs.len() > 1 {
                plan.problems.push(Failure {
                    subject: format!("company {company} / product {product}"),
                    reason: format!(
                        "on {} PAYG agreements {:?}: usage goes to agreement {} only",
                        rs.len(),
                        rs.iter().map(|r| r.agreement_id).collect::<Vec<_>>(),
                        rs[0].agreement_id
                    ),
                    transient: false,
                });
            }
            let r = &rs[0];
            let (new, basis) = quantities
                .get(product)
                .map_or((0.0, "no usage reported".to_owned()), |q| {
                    (q.quantity, q.basis.clone())
                });
            plan.additions += 1;
            match usage::decide(r.last_pushed_quantity, new, r.missing_since.is_none()) {
                Decision::Unchanged => plan.unchanged += 1,
                Decision::ReportMissing => plan.problems.push(missing_failure(r)),
                Decision::Write { .. } => plan.writes.push(PlannedWrite {
                    record: r.clone(),
                    quantity: new,
                    basis,
                }),
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn record(company: i64, agreement: i64, held: Option<f64>) -> AdditionRecord {
        AdditionRecord {
            unknown: Default::default(),
            agreement_id: agreement,
            product_id: 500,
            company_id: company,
            addition_id: agreement * 10,
            last_pushed_quantity: held,
            agreement_last_updated: None,
            in_force_from: None,
            in_force_until: None,
            missing_since: None,
            updated_at: Utc::now(),
        }
    }

    fn usages(tenant: &str, servers: f64) -> (String, TenantUsages) {
        let t: TenantUsages = serde_json::from_value(json!({
            "tenant": tenant,
            "usages": [{"name": "pw_base_servers", "value": servers, "absolute_value": servers,
                        "measurement_unit": "quantity", "edition": "pw_base", "usage_name": "servers",
                        "type": "count"}]
        }))
        .unwrap();
        (tenant.to_owned(), t)
    }

    fn shard(ids: &[(i64, &str)]) -> Vec<ShardCompany> {
        ids.iter()
            .map(|(c, t)| ShardCompany {
                connection: Default::default(),
                company_id: *c,
                tenant_id: (*t).to_owned(),
            })
            .collect()
    }

    fn servers() -> Vec<ProductMapping> {
        vec![ProductMapping::new(
            "pw_base_servers",
            Some(500),
            "quantity",
        )]
    }

    #[test]
    fn writes_changed_quantities_to_the_lowest_agreement_only() {
        let companies = shard(&[(1, "t1"), (2, "t2"), (3, "t3")]);
        let records = vec![
            record(1, 12, Some(1.0)),
            record(1, 11, Some(1.0)), // lower agreement id: gets the usage
            record(2, 21, Some(4.0)), // unchanged
            record(3, 31, Some(9.0)), // no usages read: left alone
            record(9, 91, Some(0.0)), // not in this shard
        ];
        let read: HashMap<String, TenantUsages> = [usages("t1", 5.0), usages("t2", 4.0)].into();
        let plan = plan_push(
            &companies,
            records,
            &BTreeSet::new(),
            &read,
            &servers(),
            &UsageSettings::default(),
            day(2),
        );
        assert_eq!(plan.writes.len(), 1, "{plan:?}");
        assert_eq!(plan.writes[0].record.agreement_id, 11);
        assert_eq!(plan.writes[0].quantity, 5.0);
        assert_eq!(
            (plan.companies_pushed, plan.additions, plan.unchanged),
            (2, 2, 1)
        );
        assert_eq!(plan.problems.len(), 1, "two PAYG agreements reported");
    }

    #[test]
    fn skips_inactive_agreements_records_out_of_force_and_reports_missing() {
        let companies = shard(&[(1, "t1")]);
        let mut ended = record(1, 11, Some(1.0));
        ended.in_force_until = Some(day(1));
        let mut missing = record(1, 12, Some(1.0));
        missing.missing_since = Some(Utc::now());
        missing.product_id = 501;
        let mut mappings = servers();
        mappings.push(ProductMapping::new(
            "pw_base_workstations",
            Some(501),
            "quantity",
        ));
        let read: HashMap<String, TenantUsages> = [usages("t1", 5.0)].into();
        let plan = plan_push(
            &companies,
            vec![ended, missing, record(1, 13, Some(1.0))],
            &[13].into(),
            &read,
            &mappings,
            &UsageSettings::default(),
            day(2),
        );
        assert!(plan.writes.is_empty(), "{plan:?}");
        assert_eq!(plan.not_in_force, 1);
        assert_eq!(plan.problems.len(), 1);
        assert!(plan.problems[0].reason.contains("no longer exists"));
    }

    #[test]
    fn no_usage_reported_writes_zero() {
        let companies = shard(&[(1, "t1")]);
        let read: HashMap<String, TenantUsages> = [(
            "t1".to_owned(),
            serde_json::from_value(json!({"tenant": "t1", "usages": []})).unwrap(),
        )]
        .into();
        let plan = plan_push(
            &companies,
            vec![record(1, 11, Some(3.0))],
            &BTreeSet::new(),
            &read,
            &servers(),
            &UsageSettings::default(),
            day(2),
        );
        assert_eq!(plan.writes.len(), 1, "{plan:?}");
        assert_eq!(plan.writes[0].quantity, 0.0);
    }
}
