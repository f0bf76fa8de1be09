//! Quota rules: from a company's agreements and the product mapping to what each Acronis
//! offering item of its tenant should be. Pure: data in, plan out.
//!
//! - An addition counts when its agreement is active and in force today, and the addition
//!   itself is in force (effective on or before today, not cancelled on or before today).
//!   Everything else counts as absent. A pay-as-you-go addition usually starts at quantity 0
//!   (usage fills it), so quantity plays no part in whether an addition is present.
//! - Prepaid additions of a product: quota = their Total Quantity (summed), **hard**.
//! - Pay-as-you-go additions of a product: quota **unlimited** (usage is pushed back).
//! - Both under one product: quota value = the prepaid part, **soft** (no hard stop, the
//!   usage above it is billed through the PAYG addition, which shows the common usage).
//! - A mapped item with no addition any more: quota **zero** if it is enabled (not disabled:
//!   it may hold usage), left alone if disabled.
//! - "Free" items and the default storage: enabled, unlimited, for every tenant.
//!
//! Quantities become quota values per the item's unit: counts are rounded down (never more
//! than was sold), storage sold in GB becomes bytes at 1024³ per GB (Acronis counts binary
//! gigabytes).
//!
//! An answer the plan cannot be decided on is refused, never read as a default that would
//! lower a quota ([`Malformed`]): an addition in force without its `product` (required by
//! ConnectWise's schema), a prepaid addition of a mapped product without a `quantity` (the
//! schema has no default for it), or prepaid quantities of a product that add up below zero.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::calendar::{addition_in_force, agreement_in_force};
use super::settings::BillingSettings;
use crate::acronis::models::{CYBER_PROTECTION_APP, DesiredItem, OfferingItem, QuotaLimit};
use crate::connectwise::models::{Addition, Agreement};
use crate::domain::records::ProductMapping;

/// A vendor answer a decision cannot be made on: a field missing, `null` or out of range.
/// The company's run fails naming it and writes nothing; the next clean read decides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("malformed answer: {what}: `{field}` {problem}")]
pub struct Malformed {
    /// What was read, e.g. `ConnectWise addition 7 of agreement 70`.
    pub what: String,
    /// The field, as the vendor names it.
    pub field: &'static str,
    pub problem: String,
}

/// Bytes per GB of storage quota.
pub const BYTES_PER_GB: i64 = 1024 * 1024 * 1024;

/// An agreement and its additions, as read from ConnectWise.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementWithAdditions {
    pub agreement: Agreement,
    pub additions: Vec<Addition>,
}

/// How an addition is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BillingKind {
    Prepaid,
    PayAsYouGo,
}

/// What an item's quota should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Limit {
    Unlimited,
    /// A warning level with no hard stop.
    Soft(i64),
    /// A hard stop at exactly this value.
    Hard(i64),
}

/// The target of one offering item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Target {
    Enabled(Limit),
    /// No addition any more: quota zero if it is enabled, else leave it.
    ZeroIfEnabled,
}

/// One offering item of the plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemPlan {
    pub application_id: String,
    pub offering_item: String,
    pub infra_id: Option<String>,
    pub target: Target,
    /// Why, for run records: `prepaid 5 + payg (agreement 12)`.
    pub basis: String,
}

/// The plan of one company.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct QuotaPlan {
    pub items: Vec<ItemPlan>,
    /// At least one addition in force holds a mapped product: the company qualifies.
    pub has_mapped_products: bool,
}

/// The quota value of `quantity` units of a mapped product.
pub fn quota_value(quantity: f64, measurement_unit: Option<&str>) -> i64 {
    match measurement_unit {
        Some("bytes") => (quantity * BYTES_PER_GB as f64).round() as i64,
        _ => quantity.floor() as i64,
    }
}

#[derive(Debug, Default)]
struct Tally {
    prepaid: f64,
    has_prepaid: bool,
    payg: bool,
    agreements: Vec<i64>,
}

/// The plan for one company's tenant.
pub fn plan(
    agreements: &[AgreementWithAdditions],
    mappings: &[ProductMapping],
    billing: &BillingSettings,
    today: NaiveDate,
) -> Result<QuotaPlan, Malformed> {
    let by_product: BTreeMap<i64, Vec<&ProductMapping>> = mappings
        .iter()
        .filter_map(|m| m.product_id.map(|p| (p, m)))
        .fold(BTreeMap::new(), |mut acc, (p, m)| {
            acc.entry(p).or_insert_with(Vec::new).push(m);
            acc
        });
    let tallies = tally(agreements, &by_product, billing, today)?;
    let mut items = Vec::new();
    for (product, ms) in &by_product {
        for m in ms {
            let (target, basis) = target_of(tallies.get(product), m);
            items.push(item_plan(m, target, basis));
        }
    }
    for m in mappings.iter().filter(|m| m.free || m.default_storage) {
        if items
            .iter()
            .any(|i| i.offering_item == m.offering_item && i.infra_id == m.infra_id)
        {
            continue;
        }
        let basis = if m.free {
            "free item"
        } else {
            "default storage"
        };
        items.push(item_plan(
            m,
            Target::Enabled(Limit::Unlimited),
            basis.into(),
        ));
    }
    Ok(QuotaPlan {
        has_mapped_products: !tallies.is_empty(),
        items,
    })
}

fn item_plan(m: &ProductMapping, target: Target, basis: String) -> ItemPlan {
    ItemPlan {
        application_id: m
            .application_id
            .clone()
            .unwrap_or_else(|| CYBER_PROTECTION_APP.into()),
        offering_item: m.offering_item.clone(),
        infra_id: m.infra_id.clone(),
        target,
        basis,
    }
}

/// What the additions in force of the agreements in force hold of each mapped product.
/// An addition without its product, a prepaid one without its quantity, or a product whose
/// prepaid quantities add up below zero is refused, never read as zero.
fn tally(
    agreements: &[AgreementWithAdditions],
    by_product: &BTreeMap<i64, Vec<&ProductMapping>>,
    billing: &BillingSettings,
    today: NaiveDate,
) -> Result<BTreeMap<i64, Tally>, Malformed> {
    let mut tallies: BTreeMap<i64, Tally> = BTreeMap::new();
    for a in agreements
        .iter()
        .filter(|a| agreement_in_force(&a.agreement, today))
    {
        let kind = if billing.is_payg_type(
            a.agreement
                .agreement_type
                .as_ref()
                .and_then(|t| t.name.as_deref()),
        ) {
            BillingKind::PayAsYouGo
        } else {
            BillingKind::Prepaid
        };
        for add in a.additions.iter().filter(|x| addition_in_force(x, today)) {
            let what = || {
                format!(
                    "ConnectWise addition {} of agreement {}",
                    add.id, a.agreement.id
                )
            };
            let Some(product) = add.product.as_ref().map(|p| p.id) else {
                return Err(Malformed {
                    what: what(),
                    field: "product",
                    problem: "is missing (required)".into(),
                });
            };
            if !by_product.contains_key(&product) {
                continue;
            }
            let t = tallies.entry(product).or_default();
            match kind {
                BillingKind::Prepaid => {
                    let quantity =
                        add.quantity
                            .filter(|q| q.is_finite())
                            .ok_or_else(|| Malformed {
                                what: what(),
                                field: "quantity",
                                problem: "is missing or null on a prepaid addition".into(),
                            })?;
                    t.prepaid += quantity;
                    t.has_prepaid = true;
                }
                BillingKind::PayAsYouGo => t.payg = true,
            }
            if !t.agreements.contains(&a.agreement.id) {
                t.agreements.push(a.agreement.id);
            }
        }
    }
    // A credit line may be negative; a product sold below zero is not an answer to act on.
    if let Some((product, t)) = tallies.iter().find(|(_, t)| t.prepaid < 0.0) {
        return Err(Malformed {
            what: format!("ConnectWise prepaid additions of product {product}"),
            field: "quantity",
            problem: format!("adds up to {} (below zero)", t.prepaid),
        });
    }
    Ok(tallies)
}

/// The target of mapping `m` from its product's tally (none: no addition in force), and
/// the basis the run record shows.
fn target_of(tally: Option<&Tally>, m: &ProductMapping) -> (Target, String) {
    let Some(t) = tally else {
        return (Target::ZeroIfEnabled, "no addition in force".to_owned());
    };
    let value = quota_value(t.prepaid, m.measurement_unit.as_deref());
    let limit = match (t.has_prepaid, t.payg) {
        (true, false) => Limit::Hard(value),
        (true, true) => Limit::Soft(value),
        (false, _) => Limit::Unlimited,
    };
    let basis = format!(
        "{}{} (agreements {:?})",
        if t.has_prepaid {
            format!("prepaid {}", t.prepaid)
        } else {
            String::new()
        },
        if t.payg {
            if t.has_prepaid { " + payg" } else { "payg" }
        } else {
            ""
        },
        t.agreements
    );
    (Target::Enabled(limit), basis)
}

/// The writes that bring a tenant's `current` items to the plan.
pub fn desired_items(plan: &QuotaPlan, current: &[OfferingItem]) -> Vec<DesiredItem> {
    plan.items
        .iter()
        .filter_map(|i| {
            let limit = match i.target {
                Target::Enabled(l) => l,
                Target::ZeroIfEnabled => {
                    let enabled = current.iter().any(|c| {
                        c.name == i.offering_item && c.infra_id == i.infra_id && c.status == 1
                    });
                    if !enabled {
                        return None;
                    }
                    Limit::Hard(0)
                }
            };
            Some(DesiredItem {
                application_id: i.application_id.clone(),
                name: i.offering_item.clone(),
                infra_id: i.infra_id.clone(),
                enabled: true,
                quota: match limit {
                    Limit::Unlimited => None,
                    Limit::Soft(v) => Some(QuotaLimit {
                        value: v,
                        overage: None,
                    }),
                    Limit::Hard(v) => Some(QuotaLimit {
                        value: v,
                        overage: Some(0),
                    }),
                },
            })
        })
        .collect()
}

/// Every enabled item of a tenant at a hard zero (deprovisioning).
pub fn zero_quotas(current: &[OfferingItem]) -> Vec<DesiredItem> {
    current
        .iter()
        .filter(|c| c.status == 1 && c.quota.is_some())
        .map(|c| DesiredItem {
            application_id: c
                .application_id
                .clone()
                .unwrap_or_else(|| CYBER_PROTECTION_APP.into()),
            name: c.name.clone(),
            infra_id: c.infra_id.clone(),
            enabled: true,
            quota: Some(QuotaLimit {
                value: 0,
                overage: Some(0),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectwise::models::Reference;
    use chrono::{TimeZone, Utc};

    const TODAY: (i32, u32, u32) = (2026, 11, 25);

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).unwrap()
    }

    fn day(offset: i64) -> chrono::DateTime<Utc> {
        Utc.from_utc_datetime(&today().and_hms_opt(0, 0, 0).unwrap())
            + chrono::Duration::days(offset)
    }

    fn agreement(id: i64, type_name: &str) -> Agreement {
        Agreement {
            id,
            name: Some(format!("Agreement {id}")),
            agreement_type: Some(Reference {
                id: 1,
                name: Some(type_name.into()),
                identifier: None,
            }),
            company: Some(Reference::id(1)),
            agreement_status: Some("Active".into()),
            cancelled_flag: Some(false),
            start_date: Some(day(-30)),
            end_date: None,
            no_ending_date_flag: Some(true),
            billing_cycle: None,
            info: None,
        }
    }

    fn addition(id: i64, product: i64, qty: f64) -> Addition {
        Addition {
            id,
            product: Some(Reference::id(product)),
            quantity: Some(qty),
            less_included: None,
            unit_price: None,
            unit_cost: None,
            bill_customer: Some("Billable".into()),
            effective_date: Some(day(-10)),
            cancelled_date: None,
            agreement_status: Some("Active".into()),
            description: None,
            invoice_description: None,
            agreement_id: None,
            info: None,
        }
    }

    fn mapping(item: &str, product: Option<i64>, unit: &str) -> ProductMapping {
        ProductMapping {
            connection: Default::default(),
            unknown: Default::default(),
            offering_item: item.into(),
            infra_id: None,
            edition: Some("pck_per_workload".into()),
            product_id: product,
            product_identifier: None,
            free: false,
            default_storage: false,
            application_id: None,
            measurement_unit: Some(unit.into()),
            updated_at: Utc::now(),
        }
    }

    fn mappings() -> Vec<ProductMapping> {
        vec![
            mapping("pw_base_servers", Some(10), "quantity"),
            mapping("pw_base_workstations", Some(11), "quantity"),
            mapping("pw_base_storage", Some(12), "bytes"),
        ]
    }

    fn target_of(plan: &QuotaPlan, item: &str) -> Option<Target> {
        plan.items
            .iter()
            .find(|i| i.offering_item == item)
            .map(|i| i.target)
    }

    fn with(agreement: Agreement, additions: Vec<Addition>) -> AgreementWithAdditions {
        AgreementWithAdditions {
            agreement,
            additions,
        }
    }

    /// Each row: the agreements, then the expected target of servers, workstations, storage.
    #[test]
    fn quota_rules_table() {
        let b = BillingSettings::default();
        let prepaid = || agreement(1, "Managed Backup");
        let payg = || agreement(2, "Acronis Pay As You Go");
        let cancelled_agreement = {
            let mut a = agreement(3, "Managed Backup");
            a.agreement_status = Some("Cancelled".into());
            a.cancelled_flag = Some(true);
            a
        };
        let future_agreement = {
            let mut a = agreement(4, "Managed Backup");
            a.start_date = Some(day(1));
            a
        };
        let expired_agreement = {
            let mut a = agreement(5, "Managed Backup");
            a.no_ending_date_flag = Some(false);
            a.end_date = Some(day(-1));
            a
        };
        let ends_today = {
            let mut a = agreement(6, "Managed Backup");
            a.no_ending_date_flag = Some(false);
            a.end_date = Some(day(0));
            a
        };
        let mut cancelled_today = addition(20, 10, 4.0);
        cancelled_today.cancelled_date = Some(day(0));
        let mut cancelled_tomorrow = addition(21, 10, 4.0);
        cancelled_tomorrow.cancelled_date = Some(day(1));
        let mut effective_tomorrow = addition(22, 10, 4.0);
        effective_tomorrow.effective_date = Some(day(1));
        let mut effective_today = addition(23, 10, 4.0);
        effective_today.effective_date = Some(day(0));
        let mut addition_cancelled_status = addition(24, 10, 4.0);
        addition_cancelled_status.agreement_status = Some("Cancelled".into());

        use Limit::*;
        use Target::*;
        let z = ZeroIfEnabled;
        let rows: Vec<(&str, Vec<AgreementWithAdditions>, [Target; 3], bool)> = vec![
            ("nothing", vec![], [z, z, z], false),
            (
                "prepaid → hard quota",
                vec![with(prepaid(), vec![addition(1, 10, 5.0)])],
                [Enabled(Hard(5)), z, z],
                true,
            ),
            (
                "several prepaid additions of one product add up",
                vec![with(
                    prepaid(),
                    vec![addition(1, 10, 5.0), addition(2, 10, 3.0)],
                )],
                [Enabled(Hard(8)), z, z],
                true,
            ),
            (
                "payg → unlimited",
                vec![with(payg(), vec![addition(3, 11, 1.0)])],
                [z, Enabled(Unlimited), z],
                true,
            ),
            (
                "prepaid + payg under one product → soft at the prepaid part",
                vec![
                    with(prepaid(), vec![addition(1, 10, 5.0)]),
                    with(payg(), vec![addition(3, 10, 1.0)]),
                ],
                [Enabled(Soft(5)), z, z],
                true,
            ),
            (
                "storage in GB → bytes",
                vec![with(prepaid(), vec![addition(4, 12, 2.5)])],
                [z, z, Enabled(Hard(2_684_354_560))],
                true,
            ),
            (
                "fractional seats round down",
                vec![with(prepaid(), vec![addition(5, 11, 2.9)])],
                [z, Enabled(Hard(2)), z],
                true,
            ),
            (
                "cancelled agreement counts as absent",
                vec![with(cancelled_agreement, vec![addition(6, 10, 5.0)])],
                [z, z, z],
                false,
            ),
            (
                "agreement not yet started",
                vec![with(future_agreement, vec![addition(7, 10, 5.0)])],
                [z, z, z],
                false,
            ),
            (
                "agreement ended yesterday",
                vec![with(expired_agreement, vec![addition(8, 10, 5.0)])],
                [z, z, z],
                false,
            ),
            (
                "agreement ending today still counts",
                vec![with(ends_today, vec![addition(9, 10, 5.0)])],
                [Enabled(Hard(5)), z, z],
                true,
            ),
            (
                "addition cancelled today",
                vec![with(prepaid(), vec![cancelled_today])],
                [z, z, z],
                false,
            ),
            (
                "addition cancelled tomorrow counts",
                vec![with(prepaid(), vec![cancelled_tomorrow])],
                [Enabled(Hard(4)), z, z],
                true,
            ),
            (
                "addition effective tomorrow",
                vec![with(prepaid(), vec![effective_tomorrow])],
                [z, z, z],
                false,
            ),
            (
                "addition effective today counts",
                vec![with(prepaid(), vec![effective_today])],
                [Enabled(Hard(4)), z, z],
                true,
            ),
            (
                "cancelled addition status",
                vec![with(prepaid(), vec![addition_cancelled_status])],
                [z, z, z],
                false,
            ),
            (
                "prepaid quantity zero: a hard zero",
                vec![with(prepaid(), vec![addition(10, 10, 0.0)])],
                [Enabled(Hard(0)), z, z],
                true,
            ),
            (
                "payg addition at quantity zero still means unlimited",
                vec![with(payg(), vec![addition(12, 11, 0.0)])],
                [z, Enabled(Unlimited), z],
                true,
            ),
            (
                "unmapped product",
                vec![with(prepaid(), vec![addition(11, 99, 5.0)])],
                [z, z, z],
                false,
            ),
        ];
        for (name, agreements, expected, qualifies) in rows {
            let p = plan(&agreements, &mappings(), &b, today()).unwrap();
            let got = [
                target_of(&p, "pw_base_servers").unwrap(),
                target_of(&p, "pw_base_workstations").unwrap(),
                target_of(&p, "pw_base_storage").unwrap(),
            ];
            assert_eq!(got, expected, "{name}");
            assert_eq!(p.has_mapped_products, qualifies, "{name}");
        }
    }

    #[test]
    fn free_items_and_default_storage_are_always_enabled() {
        let mut ms = mappings();
        let mut free = mapping("pw_base_m365_seats", None, "quantity");
        free.free = true;
        let mut storage = mapping("pw_base_storage", None, "bytes");
        storage.infra_id = Some("eu".into());
        storage.default_storage = true;
        ms.extend([free, storage]);
        let p = plan(&[], &ms, &BillingSettings::default(), today()).unwrap();
        assert_eq!(
            target_of(&p, "pw_base_m365_seats"),
            Some(Target::Enabled(Limit::Unlimited))
        );
        let eu = p
            .items
            .iter()
            .find(|i| i.infra_id.as_deref() == Some("eu"))
            .unwrap();
        assert_eq!(eu.target, Target::Enabled(Limit::Unlimited));
        assert!(
            !p.has_mapped_products,
            "free items alone do not qualify a company"
        );
    }

    #[test]
    fn desired_items_zero_only_what_is_enabled() {
        let p = plan(
            &[with(agreement(1, "Managed"), vec![addition(1, 10, 3.0)])],
            &mappings(),
            &BillingSettings::default(),
            today(),
        )
        .unwrap();
        let enabled_ws = OfferingItem {
            application_id: None,
            name: "pw_base_workstations".into(),
            edition: None,
            usage_name: None,
            item_type: None,
            infra_id: None,
            measurement_unit: None,
            status: 1,
            locked: None,
            quota: None,
        };
        let desired = desired_items(&p, &[enabled_ws]);
        let names: Vec<(&str, Option<QuotaLimit>)> =
            desired.iter().map(|d| (d.name.as_str(), d.quota)).collect();
        assert_eq!(
            names,
            vec![
                (
                    "pw_base_servers",
                    Some(QuotaLimit {
                        value: 3,
                        overage: Some(0)
                    })
                ),
                (
                    "pw_base_workstations",
                    Some(QuotaLimit {
                        value: 0,
                        overage: Some(0)
                    })
                ),
            ]
        );
    }

    /// Answers the plan cannot be decided on are refused naming the field, never read as
    /// a quantity of zero (which would zero a prepaid quota and stop the customer's backups).
    #[test]
    fn a_malformed_addition_is_refused_naming_its_field_never_read_as_zero() {
        let b = BillingSettings::default();
        let prepaid = || agreement(1, "Managed");
        let payg = || agreement(2, "Pay As You Go");
        let no_quantity = |q: Option<f64>| Addition {
            quantity: q,
            ..addition(7, 10, 0.0)
        };
        let no_product = Addition {
            product: None,
            ..addition(8, 10, 3.0)
        };
        let rows: Vec<(&str, Vec<AgreementWithAdditions>, Option<&str>)> = vec![
            (
                "quantity missing",
                vec![with(prepaid(), vec![no_quantity(None)])],
                Some("quantity"),
            ),
            (
                "product missing",
                vec![with(prepaid(), vec![no_product.clone()])],
                Some("product"),
            ),
            (
                "product missing on pay-as-you-go",
                vec![with(payg(), vec![no_product])],
                Some("product"),
            ),
            (
                "prepaid adding up below zero",
                vec![with(
                    prepaid(),
                    vec![addition(1, 10, 2.0), addition(2, 10, -3.0)],
                )],
                Some("quantity"),
            ),
            // Pay-as-you-go quantities play no part in the quota: usage fills them.
            (
                "pay-as-you-go without quantity",
                vec![with(payg(), vec![no_quantity(None)])],
                None,
            ),
            (
                "a credit line within a positive total",
                vec![with(
                    prepaid(),
                    vec![addition(1, 10, 5.0), addition(2, 10, -1.0)],
                )],
                None,
            ),
        ];
        for (name, agreements, refused) in rows {
            match (plan(&agreements, &mappings(), &b, today()), refused) {
                (Err(e), Some(field)) => {
                    assert_eq!(e.field, field, "{name}: {e}");
                    assert!(e.to_string().contains(field), "{name}: {e}");
                }
                (Ok(_), None) => {}
                (got, want) => panic!("{name}: {got:?}, wanted refusal of {want:?}"),
            }
        }
    }
}
