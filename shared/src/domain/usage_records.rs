//! The usage planner's decisions, pure: which PAYG agreements need their additions read,
//! and which ConnectWise addition carries each mapped product's usage on an agreement.
//!
//! - **Read** ([`agreements_to_read`]): an open PAYG agreement is read when nothing is
//!   recorded for it, when its `lastUpdated` moved past our own last write (more than
//!   [`SELF_TOUCH`] after it), or when the caller forces it (the daily sweep, a deferred
//!   read, a missing-addition recheck). A recorded agreement that stops being open PAYG is
//!   marked inactive (never pushed) until it is again.
//! - **Which addition** ([`record_agreement`]): per mapped product, among the additions in
//!   force today, the one already recorded if ConnectWise still holds it, else the lowest
//!   id (adoption, reported); several candidates are reported (usage goes to one only).
//!   A recorded addition that is still there but cancelled stops billing yesterday; one
//!   that is gone is marked missing and reported on every run, never recreated.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::connectwise::models::{Addition, Agreement};
use crate::domain::calendar;
use crate::domain::records::{AdditionRecord, Failure};
use crate::domain::settings::BillingSettings;

/// An agreement `lastUpdated` this close after our own write counts as our write.
pub const SELF_TOUCH: Duration = Duration::seconds(2);

/// The agreement's `_info.lastUpdated`.
pub fn last_updated(a: &Agreement) -> Option<DateTime<Utc>> {
    a.info.as_ref().and_then(|i| i.last_updated)
}

/// A PAYG agreement that bills now or will (see [`calendar::agreement_open`]).
pub fn open_payg(a: &Agreement, billing: &BillingSettings, today: NaiveDate) -> bool {
    calendar::agreement_open(a, today)
        && billing.is_payg_type(a.agreement_type.as_ref().and_then(|t| t.name.as_deref()))
}

/// Whether someone other than the usage push changed `a` since its additions were read:
/// its `lastUpdated` is past the last one recorded (`known`, the agreement's records) by
/// more than [`SELF_TOUCH`]. Without both dates, it did (a read costs less than a miss).
pub fn changed_since_our_write(a: &Agreement, known: &[AdditionRecord]) -> bool {
    let stored = known.iter().filter_map(|r| r.agreement_last_updated).max();
    match (stored, last_updated(a)) {
        (Some(s), Some(now)) => now > s + SELF_TOUCH,
        _ => true,
    }
}

/// Which examined agreements to read, and how the set of inactive agreements changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadPlan {
    /// Agreements whose additions are read this cycle.
    pub read: Vec<Agreement>,
    /// Recorded agreements that are no longer open PAYG: not pushed from now on.
    pub now_inactive: BTreeSet<i64>,
    /// Open PAYG agreements: pushed again if they were inactive.
    pub active: BTreeSet<i64>,
}

/// The read decision for the agreements examined this cycle; `recorded` holds the stored
/// records of each (by agreement id), `forced` the agreements read whatever `lastUpdated` says.
pub fn agreements_to_read(
    examine: BTreeMap<i64, Agreement>,
    recorded: &HashMap<i64, Vec<AdditionRecord>>,
    forced: &BTreeSet<i64>,
    billing: &BillingSettings,
    today: NaiveDate,
) -> ReadPlan {
    let mut plan = ReadPlan::default();
    for a in examine.into_values() {
        let known = recorded.get(&a.id);
        if !open_payg(&a, billing, today) {
            if known.is_some() {
                plan.now_inactive.insert(a.id);
            }
            continue;
        }
        plan.active.insert(a.id);
        let changed = known.is_none_or(|rs| changed_since_our_write(&a, rs));
        if changed || forced.contains(&a.id) {
            plan.read.push(a);
        }
    }
    plan
}

/// The records of one agreement after reading its additions, and what to tell a person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgreementRecords {
    pub records: Vec<AdditionRecord>,
    pub problems: Vec<Failure>,
}

impl AgreementRecords {
    /// Whether a recorded addition of the agreement is gone from ConnectWise.
    pub fn has_missing(&self) -> bool {
        self.records.iter().any(|r| r.missing_since.is_some())
    }
}

/// The addition records of agreement `a` from the `additions` ConnectWise holds, given the
/// `known` records and the mapped `products` (see the module docs).
pub fn record_agreement(
    a: &Agreement,
    additions: &[Addition],
    known: &[AdditionRecord],
    products: &BTreeSet<i64>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> AgreementRecords {
    let company_id = a.company.as_ref().map_or(0, |c| c.id);
    let mut out = AgreementRecords::default();
    let mut by_product: BTreeMap<i64, Vec<&Addition>> = BTreeMap::new();
    for add in additions
        .iter()
        .filter(|x| calendar::addition_open(x, today))
    {
        if let Some(p) = add.product.as_ref().map(|p| p.id)
            && products.contains(&p)
        {
            by_product.entry(p).or_default().push(add);
        }
    }
    for (product, mut candidates) in by_product {
        candidates.sort_by_key(|x| x.id);
        let stored = known.iter().find(|r| r.product_id == product);
        let chosen = stored
            .and_then(|r| candidates.iter().find(|c| c.id == r.addition_id))
            .unwrap_or(&candidates[0]);
        if candidates.len() > 1 {
            out.problems.push(Failure {
                subject: format!("company {company_id} / agreement {}", a.id),
                reason: format!(
                    "{} additions of product {product} ({:?}): usage goes to addition {} only; remove the others",
                    candidates.len(),
                    candidates.iter().map(|c| c.id).collect::<Vec<_>>(),
                    chosen.id
                ),
                transient: false,
            });
        }
        if let Some(r) = stored
            && r.addition_id != chosen.id
        {
            out.problems.push(Failure {
                subject: format!("company {company_id} / agreement {} / addition {}", a.id, r.addition_id),
                reason: format!("addition {} of product {product} is gone; adopted addition {} that ConnectWise now holds", r.addition_id, chosen.id),
                transient: false,
            });
        }
        let (in_force_from, in_force_until) = calendar::billing_window(a, chosen);
        out.records.push(AdditionRecord {
            unknown: Default::default(),
            agreement_id: a.id,
            product_id: product,
            company_id,
            addition_id: chosen.id,
            last_pushed_quantity: chosen.quantity,
            agreement_last_updated: last_updated(a),
            in_force_from,
            in_force_until,
            missing_since: None,
            updated_at: now,
        });
    }
    for r in known {
        if out.records.iter().any(|o| o.product_id == r.product_id) {
            continue;
        }
        match additions.iter().find(|x| x.id == r.addition_id) {
            // Still there but cancelled: it ends; nothing to report.
            Some(ended) => {
                let (in_force_from, until) = calendar::billing_window(a, ended);
                let yesterday = today.pred_opt().unwrap_or(today);
                let in_force_until = Some(until.map_or(yesterday, |u| u.min(yesterday)));
                out.records.push(AdditionRecord {
                    in_force_from,
                    in_force_until,
                    agreement_last_updated: last_updated(a),
                    missing_since: None,
                    updated_at: now,
                    ..r.clone()
                });
            }
            None => {
                out.problems.push(missing_failure(r));
                out.records.push(AdditionRecord {
                    agreement_last_updated: last_updated(a),
                    missing_since: r.missing_since.or(Some(now)),
                    updated_at: now,
                    ..r.clone()
                });
            }
        }
    }
    out
}

/// What a run says about an addition gone from ConnectWise.
/// What the company's needs-attention ticket says of an agreement missing an addition (the
/// same words each time, so that a repeat adds nothing).
pub fn missing_notice(agreement_id: i64) -> String {
    format!(
        "agreement {agreement_id}: an addition billed by usage no longer exists in ConnectWise; it is not recreated: add it back (or map another product) to bill this usage"
    )
}

pub fn missing_failure(r: &AdditionRecord) -> Failure {
    Failure {
        subject: format!(
            "company {} / agreement {} / addition {}",
            r.company_id, r.agreement_id, r.addition_id
        ),
        reason: format!(
            "addition {} (product {}) no longer exists in ConnectWise: not recreated; add it back (or map another) to bill this usage",
            r.addition_id, r.product_id
        ),
        transient: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn agreement(id: i64, kind: &str, updated: &str) -> Agreement {
        serde_json::from_value(json!({
            "id": id, "company": {"id": 7}, "type": {"id": 1, "name": kind}, "agreementStatus": "Active",
            "noEndingDateFlag": true, "_info": {"lastUpdated": updated}
        }))
        .unwrap()
    }

    fn addition(id: i64, product: i64, quantity: f64) -> Addition {
        serde_json::from_value(json!({
            "id": id, "agreementId": 70, "product": {"id": product}, "quantity": quantity
        }))
        .unwrap()
    }

    fn record(agreement: i64, addition: i64, updated: &str) -> AdditionRecord {
        AdditionRecord {
            unknown: Default::default(),
            agreement_id: agreement,
            product_id: 500,
            company_id: 7,
            addition_id: addition,
            last_pushed_quantity: Some(1.0),
            agreement_last_updated: Some(updated.parse().unwrap()),
            in_force_from: None,
            in_force_until: None,
            missing_since: None,
            updated_at: Utc::now(),
        }
    }

    fn payg() -> BillingSettings {
        BillingSettings::default()
    }

    #[test]
    fn reads_new_changed_and_forced_agreements_only() {
        let kind = payg().payg_agreement_types[0].clone();
        let examine: BTreeMap<i64, Agreement> = [
            (1, agreement(1, &kind, "2026-03-01T10:00:00Z")), // never recorded
            (2, agreement(2, &kind, "2026-03-01T10:00:01Z")), // our own write
            (3, agreement(3, &kind, "2026-03-01T11:00:00Z")), // changed since
            (4, agreement(4, &kind, "2026-03-01T10:00:00Z")), // forced (sweep)
            (5, agreement(5, "Prepaid", "2026-03-01T10:00:00Z")), // no longer PAYG
        ]
        .into();
        let recorded: HashMap<i64, Vec<AdditionRecord>> = [2, 3, 4, 5]
            .into_iter()
            .map(|a| (a, vec![record(a, a * 10, "2026-03-01T10:00:00Z")]))
            .collect();
        let plan = agreements_to_read(examine, &recorded, &[4].into(), &payg(), day(2));
        let read: Vec<i64> = plan.read.iter().map(|a| a.id).collect();
        assert_eq!(read, vec![1, 3, 4]);
        assert_eq!(plan.now_inactive, [5].into());
        assert_eq!(plan.active, [1, 2, 3, 4].into());
    }

    #[test]
    fn keeps_the_recorded_addition_adopts_the_lowest_and_reports_what_is_gone() {
        let a = agreement(70, "Pay as you go", "2026-03-01T10:00:00Z");
        let products: BTreeSet<i64> = [500].into();
        let now = Utc::now();
        // Nothing recorded: the lowest id of two candidates, reported.
        let first = record_agreement(
            &a,
            &[addition(702, 500, 3.0), addition(701, 500, 2.0)],
            &[],
            &products,
            day(2),
            now,
        );
        assert_eq!(first.records.len(), 1);
        assert_eq!(first.records[0].addition_id, 701);
        assert_eq!(first.records[0].last_pushed_quantity, Some(2.0));
        assert_eq!(first.problems.len(), 1, "{:?}", first.problems);
        // The recorded one (702) is kept while ConnectWise holds it.
        let kept = record_agreement(
            &a,
            &[addition(701, 500, 2.0), addition(702, 500, 3.0)],
            &[record(70, 702, "2026-03-01T10:00:00Z")],
            &products,
            day(2),
            now,
        );
        assert_eq!(kept.records[0].addition_id, 702);
        // Gone, with another there: adopted and reported.
        let adopted = record_agreement(
            &a,
            &[addition(703, 500, 4.0)],
            &[record(70, 702, "2026-03-01T10:00:00Z")],
            &products,
            day(2),
            now,
        );
        assert_eq!(adopted.records[0].addition_id, 703);
        assert!(adopted.problems[0].reason.contains("adopted addition 703"));
        // Gone with nothing in its place: missing, reported, never recreated.
        let gone = record_agreement(
            &a,
            &[],
            &[record(70, 702, "2026-03-01T10:00:00Z")],
            &products,
            day(2),
            now,
        );
        assert!(gone.has_missing());
        assert_eq!(gone.records[0].addition_id, 702);
        assert!(gone.problems[0].reason.contains("no longer exists"));
    }

    #[test]
    fn a_cancelled_recorded_addition_stops_billing_yesterday() {
        let a = agreement(70, "Pay as you go", "2026-03-01T10:00:00Z");
        let mut cancelled = addition(702, 500, 3.0);
        cancelled.cancelled_date = Some("2026-03-01T00:00:00Z".parse().unwrap());
        let out = record_agreement(
            &a,
            &[cancelled],
            &[record(70, 702, "2026-03-01T10:00:00Z")],
            &[500].into(),
            day(5),
            Utc::now(),
        );
        assert!(out.problems.is_empty());
        assert!(out.records[0].in_force_until <= Some(day(4)));
        assert!(!out.records[0].in_force_on(day(5)));
    }
}
