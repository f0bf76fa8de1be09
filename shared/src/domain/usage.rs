//! Usage rules: from a tenant's Acronis usages and the product mapping to the quantity each
//! pay-as-you-go addition should hold, and whether to write it. Pure: data in, decisions out.
//!
//! - **Which field.** Acronis's own PSA guideline: PAYG items get `absolute_value` (the
//!   accumulated value of the billing period); `value` (the current value) is the fallback
//!   when `absolute_value` is absent. [`UsageField`] makes the choice explicit per product.
//! - **Which usages.** A usage counts for a mapping when its `name` is the mapping's
//!   offering item (or its `usage_name` is) and, when the mapping names a storage
//!   (`infra_id`), the usage is on that storage: one storage location = one mapping = one
//!   product. A storage mapping without `infra_id` takes the usage of every location.
//!   Several mappings of one product add up (in Acronis's unit) before conversion.
//! - **Units** ([`UnitRule`]). Storage in bytes becomes the product's unit: GB by default,
//!   base **1024** (Acronis counts binary gigabytes: 1073741824 B = 1 GB, as the quota side
//!   does) and rounded **up to 2 decimals** (an invoice never shows less than was used, and
//!   at most 0.01 GB more). Counts stay counts (rounded to whole units, half up, to absorb
//!   float noise). Seconds stay seconds unless the rule says hours. Base, unit, decimals and
//!   rounding are configurable per product in the `usage` settings section.
//! - **Prepaid + PAYG under one product.** Only PAYG additions are written; the PAYG
//!   addition shows the common usage (the whole usage of the product, not usage minus
//!   prepaid: the prepaid part is the addition's `lessIncluded`, which is left to the MSP).
//!   Prepaid additions are never written by the usage push.
//! - **Decision per addition** ([`decide`]): write when the new quantity differs from what
//!   ConnectWise holds (the last quantity pushed or read), skip when equal, and report when
//!   the addition is missing (never create one).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::acronis::models::Usage;
pub use crate::domain::quotas::Malformed;
use crate::domain::records::ProductMapping;

/// The settings section of the usage push.
pub const SECTION: &str = "usage";

/// Which usage field is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UsageField {
    /// Accumulated value of the period (Acronis's PSA guideline for PAYG); `value` if absent.
    #[default]
    AbsoluteValue,
    /// Current value.
    Value,
}

/// How a bytes (or seconds) measure becomes the product's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Kilo/Mega/Giga/Terabytes of `base`.
    Kb,
    Mb,
    #[default]
    Gb,
    Tb,
    /// Bytes or counts as they are.
    Raw,
    /// Seconds → hours.
    Hours,
}

/// Rounding to `decimals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    #[default]
    Up,
    Nearest,
    Down,
}

/// The unit rule of one product's storage (or seconds) usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnitRule {
    pub unit: Unit,
    /// 1000 or 1024.
    pub base: u32,
    pub rounding: Rounding,
    /// 0..=6.
    pub decimals: u32,
    pub field: UsageField,
}

impl Default for UnitRule {
    fn default() -> Self {
        Self {
            unit: Unit::Gb,
            base: 1024,
            rounding: Rounding::Up,
            decimals: 2,
            field: UsageField::AbsoluteValue,
        }
    }
}

/// The `usage` settings section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UsageSettings {
    /// The rule for storage (bytes) products with no rule of their own.
    pub storage: UnitRule,
    /// Rules by ConnectWise product id.
    pub products: BTreeMap<i64, UnitRule>,
}

impl UsageSettings {
    pub fn validate(&self) -> Result<(), String> {
        for (what, r) in std::iter::once(("storage".to_owned(), &self.storage)).chain(
            self.products
                .iter()
                .map(|(p, r)| (format!("product {p}"), r)),
        ) {
            if r.base != 1000 && r.base != 1024 {
                return Err(format!("{what}: base must be 1000 or 1024, not {}", r.base));
            }
            if r.decimals > 6 {
                return Err(format!("{what}: at most 6 decimals"));
            }
        }
        Ok(())
    }

    /// The rule of a product.
    pub fn rule(&self, product_id: i64) -> UnitRule {
        self.products
            .get(&product_id)
            .copied()
            .unwrap_or(self.storage)
    }
}

fn round(x: f64, decimals: u32, rounding: Rounding) -> f64 {
    let f = 10f64.powi(decimals as i32);
    // Clear float noise first (e.g. 2.0000000001 must not round up to 2.01).
    let scaled = (x * f * 1e6).round() / 1e6;
    let r = match rounding {
        Rounding::Up => scaled.ceil(),
        Rounding::Nearest => scaled.round(),
        Rounding::Down => scaled.floor(),
    };
    r / f
}

/// `raw` (in Acronis's `measurement_unit`) → the quantity to bill.
pub fn convert(raw: f64, measurement_unit: Option<&str>, rule: &UnitRule) -> f64 {
    let base = f64::from(rule.base);
    match measurement_unit {
        Some("bytes") => {
            let div = match rule.unit {
                Unit::Kb => base,
                Unit::Mb => base.powi(2),
                Unit::Gb => base.powi(3),
                Unit::Tb => base.powi(4),
                Unit::Raw | Unit::Hours => 1.0,
            };
            round(raw / div, rule.decimals, rule.rounding)
        }
        Some("seconds") if rule.unit == Unit::Hours => {
            round(raw / 3600.0, rule.decimals, rule.rounding)
        }
        // Counts (and seconds kept as seconds) are whole units.
        _ => round(raw, 0, Rounding::Nearest),
    }
}

/// The raw figure of one usage per the chosen field.
pub fn raw_value(u: &Usage, field: UsageField) -> Option<f64> {
    match field {
        UsageField::AbsoluteValue => u.absolute_value.or(u.value),
        UsageField::Value => u.value.or(u.absolute_value),
    }
}

/// Whether `u` is the usage of mapping `m`.
pub fn matches(m: &ProductMapping, u: &Usage) -> bool {
    let name = u.name == m.offering_item || u.usage_name.as_deref() == Some(&m.offering_item);
    name && (m.infra_id.is_none() || m.infra_id == u.infra_id)
}

/// The billable quantity of one product, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductUsage {
    pub product_id: i64,
    pub quantity: f64,
    /// For run records: `pw_base_storage@infra-eu absolute_value 13207024435 bytes → 12.31 gb (base 1024, up 2)`.
    pub basis: String,
}

/// The quantity of every mapped product in one tenant's usages. Products with no usage
/// reported count zero (a PAYG addition of nothing used bills nothing). A usage of a mapped
/// product without its `value` (required by Acronis' schema) or with a negative one is
/// refused ([`Malformed`]): it would write a wrong quantity, or a credit, into an invoice.
pub fn product_quantities(
    usages: &[Usage],
    mappings: &[ProductMapping],
    settings: &UsageSettings,
) -> Result<BTreeMap<i64, ProductUsage>, Malformed> {
    let mut raw: BTreeMap<i64, (f64, Option<String>, Vec<String>)> = BTreeMap::new();
    for m in mappings {
        let Some(product) = m.product_id else {
            continue;
        };
        let rule = settings.rule(product);
        let entry = raw
            .entry(product)
            .or_insert_with(|| (0.0, m.measurement_unit.clone(), Vec::new()));
        for u in usages.iter().filter(|u| matches(m, u)) {
            let what = || {
                format!(
                    "Acronis usage {}{} of tenant {}",
                    u.name,
                    u.infra_id
                        .as_deref()
                        .map(|i| format!("@{i}"))
                        .unwrap_or_default(),
                    u.tenant_uuid.as_deref().unwrap_or("?")
                )
            };
            let v = raw_value(u, rule.field)
                .filter(|v| v.is_finite())
                .ok_or_else(|| Malformed {
                    what: what(),
                    field: "value",
                    problem: "is missing or null (required)".into(),
                })?;
            if v < 0.0 {
                return Err(Malformed {
                    what: what(),
                    field: "value",
                    problem: format!("is negative ({v})"),
                });
            }
            entry.0 += v;
            if entry.1.is_none() {
                entry.1.clone_from(&u.measurement_unit);
            }
            entry.2.push(format!(
                "{}{} {}",
                u.name,
                u.infra_id
                    .as_deref()
                    .map(|i| format!("@{i}"))
                    .unwrap_or_default(),
                v
            ));
        }
    }
    Ok(raw
        .into_iter()
        .map(|(product, (sum, unit, parts))| {
            let rule = settings.rule(product);
            let quantity = convert(sum, unit.as_deref(), &rule);
            let field = match rule.field {
                UsageField::AbsoluteValue => "absolute_value",
                UsageField::Value => "value",
            };
            let basis = match unit.as_deref() {
                Some("bytes") => format!(
                    "{field} {} bytes [{}] → {quantity} {:?} (base {}, {:?} {})",
                    sum,
                    parts.join(", "),
                    rule.unit,
                    rule.base,
                    rule.rounding,
                    rule.decimals
                ),
                u => format!(
                    "{field} {sum} {} [{}]",
                    u.unwrap_or("units"),
                    parts.join(", ")
                ),
            };
            (
                product,
                ProductUsage {
                    product_id: product,
                    quantity,
                    basis,
                },
            )
        })
        .collect())
}

/// What to do with one PAYG addition.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Set the quantity (`old` is what ConnectWise holds as far as we know).
    Write { old: Option<f64>, new: f64 },
    /// ConnectWise already holds it.
    Unchanged,
    /// The addition is gone (deleted in ConnectWise): report it, never create one.
    ReportMissing,
}

/// Two quantities are the same once rounded to 6 decimals.
pub fn same_quantity(a: f64, b: f64) -> bool {
    (a - b).abs() < 5e-7
}

/// The decision for an addition whose known quantity is `held` (`None`: unknown) and that
/// exists (`exists == false`: it was found missing in ConnectWise).
pub fn decide(held: Option<f64>, new: f64, exists: bool) -> Decision {
    if !exists {
        return Decision::ReportMissing;
    }
    match held {
        Some(h) if same_quantity(h, new) => Decision::Unchanged,
        old => Decision::Write { old, new },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn usage(name: &str, infra: Option<&str>, unit: &str, value: f64, abs: Option<f64>) -> Usage {
        Usage {
            tenant_uuid: None,
            application_id: None,
            name: name.into(),
            usage_name: None,
            edition: None,
            usage_type: None,
            measurement_unit: Some(unit.into()),
            infra_id: infra.map(Into::into),
            range_start: None,
            value: Some(value),
            absolute_value: abs,
            offering_item: None,
        }
    }

    fn mapping(item: &str, infra: Option<&str>, product: i64, unit: &str) -> ProductMapping {
        ProductMapping {
            connection: Default::default(),
            unknown: Default::default(),
            offering_item: item.into(),
            infra_id: infra.map(Into::into),
            edition: None,
            product_id: Some(product),
            product_identifier: None,
            free: false,
            default_storage: false,
            application_id: None,
            measurement_unit: Some(unit.into()),
            updated_at: Utc::now(),
        }
    }

    fn rule(unit: Unit, base: u32, rounding: Rounding, decimals: u32) -> UnitRule {
        UnitRule {
            unit,
            base,
            rounding,
            decimals,
            field: UsageField::AbsoluteValue,
        }
    }

    #[test]
    fn conversion_and_rounding_table() {
        let d = UnitRule::default();
        let cases: Vec<(f64, &str, UnitRule, f64)> = vec![
            // default: GB, base 1024, up to 2 decimals
            (0.0, "bytes", d, 0.0),
            (GIB, "bytes", d, 1.0),
            (GIB + 1.0, "bytes", d, 1.0), // under 1e-6 of the last decimal: noise
            (GIB + 1_000_000.0, "bytes", d, 1.01),
            (1.5 * GIB, "bytes", d, 1.5),
            (1e9, "bytes", d, 0.94),              // 0.9313 GiB, up
            (13_207_024_435.0, "bytes", d, 12.3), // 12.2999999998 GiB: float noise, not usage
            (13_217_024_435.0, "bytes", d, 12.31),
            (1024.0 * GIB, "bytes", d, 1024.0),
            // base 1000
            (1e9, "bytes", rule(Unit::Gb, 1000, Rounding::Up, 2), 1.0),
            (
                1_234_567_890.0,
                "bytes",
                rule(Unit::Gb, 1000, Rounding::Up, 2),
                1.24,
            ),
            (
                1_234_567_890.0,
                "bytes",
                rule(Unit::Gb, 1000, Rounding::Nearest, 2),
                1.23,
            ),
            (
                1_234_567_890.0,
                "bytes",
                rule(Unit::Gb, 1000, Rounding::Down, 0),
                1.0,
            ),
            (
                1_234_567_890.0,
                "bytes",
                rule(Unit::Gb, 1000, Rounding::Up, 0),
                2.0,
            ),
            (2.5e12, "bytes", rule(Unit::Tb, 1000, Rounding::Up, 1), 2.5),
            (GIB, "bytes", rule(Unit::Mb, 1024, Rounding::Up, 0), 1024.0),
            (GIB, "bytes", rule(Unit::Raw, 1024, Rounding::Up, 0), GIB),
            // counts stay counts, whatever the storage rule says
            (7.0, "quantity", d, 7.0),
            (7.000_000_1, "quantity", d, 7.0),
            // seconds: kept, or hours when asked
            (5400.0, "seconds", d, 5400.0),
            (
                5400.0,
                "seconds",
                rule(Unit::Hours, 1024, Rounding::Up, 2),
                1.5,
            ),
            (
                5401.0,
                "seconds",
                rule(Unit::Hours, 1024, Rounding::Up, 2),
                1.51,
            ),
        ];
        for (raw, unit, r, want) in cases {
            let got = convert(raw, Some(unit), &r);
            assert!(
                same_quantity(got, want),
                "{raw} {unit} {r:?}: got {got}, want {want}"
            );
        }
        // exact multiples do not creep up through float noise
        assert!(same_quantity(convert(2.0 * GIB, Some("bytes"), &d), 2.0));
    }

    #[test]
    fn absolute_value_by_default_value_on_request() {
        let u = usage("pw_base_servers", None, "quantity", 3.0, Some(5.0));
        assert_eq!(raw_value(&u, UsageField::AbsoluteValue), Some(5.0));
        assert_eq!(raw_value(&u, UsageField::Value), Some(3.0));
        let no_abs = usage("pw_base_servers", None, "quantity", 3.0, None);
        assert_eq!(raw_value(&no_abs, UsageField::AbsoluteValue), Some(3.0));
    }

    #[test]
    fn a_storage_item_per_location() {
        let usages = vec![
            usage("pw_base_storage", Some("eu"), "bytes", 0.0, Some(2.0 * GIB)),
            usage("pw_base_storage", Some("us"), "bytes", 0.0, Some(5.0 * GIB)),
            usage("pw_base_servers", None, "quantity", 4.0, Some(4.0)),
        ];
        let mappings = vec![
            mapping("pw_base_storage", Some("eu"), 10, "bytes"),
            mapping("pw_base_storage", Some("us"), 11, "bytes"),
            mapping("pw_base_servers", None, 12, "quantity"),
            mapping("pw_base_workstations", None, 13, "quantity"),
        ];
        let q = product_quantities(&usages, &mappings, &UsageSettings::default()).unwrap();
        assert_eq!(q[&10].quantity, 2.0);
        assert_eq!(q[&11].quantity, 5.0);
        assert_eq!(q[&12].quantity, 4.0);
        // mapped, nothing used: zero
        assert_eq!(q[&13].quantity, 0.0);
        assert!(
            q[&10].basis.contains("pw_base_storage@eu"),
            "{}",
            q[&10].basis
        );
        // one product for every location: summed
        let all = vec![mapping("pw_base_storage", None, 20, "bytes")];
        let q = product_quantities(&usages, &all, &UsageSettings::default()).unwrap();
        assert_eq!(q[&20].quantity, 7.0);
    }

    /// A usage without its value, or a negative one, is refused naming the field: never
    /// written as zero (underbilling) or as a negative quantity (a credit on an invoice).
    #[test]
    fn a_missing_or_negative_usage_is_refused_naming_the_field() {
        let mappings = vec![mapping("pw_base_servers", None, 12, "quantity")];
        let mut missing = usage("pw_base_servers", None, "quantity", 0.0, None);
        missing.value = None;
        let negative = usage("pw_base_servers", None, "quantity", -2.0, Some(-2.0));
        for (name, u) in [("missing", missing), ("negative", negative)] {
            let e = product_quantities(&[u], &mappings, &UsageSettings::default()).unwrap_err();
            assert_eq!(e.field, "value", "{name}: {e}");
            assert!(e.to_string().contains("pw_base_servers"), "{name}: {e}");
        }
        // An unmapped usage plays no part, whatever it holds.
        let odd = usage("pw_base_m365_seats", None, "quantity", -1.0, None);
        assert!(product_quantities(&[odd], &mappings, &UsageSettings::default()).is_ok());
    }

    #[test]
    fn per_product_rules_override_the_storage_default() {
        let usages = vec![usage(
            "pw_base_storage",
            Some("eu"),
            "bytes",
            0.0,
            Some(1e12),
        )];
        let mappings = vec![mapping("pw_base_storage", Some("eu"), 10, "bytes")];
        let mut s = UsageSettings::default();
        s.products
            .insert(10, rule(Unit::Tb, 1000, Rounding::Nearest, 3));
        assert_eq!(
            product_quantities(&usages, &mappings, &s).unwrap()[&10].quantity,
            1.0
        );
        s.products.get_mut(&10).unwrap().base = 999;
        assert!(s.validate().is_err());
        assert!(UsageSettings::default().validate().is_ok());
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(Some(2.0), 2.0, true), Decision::Unchanged);
        assert_eq!(
            decide(Some(2.0), 2.01, true),
            Decision::Write {
                old: Some(2.0),
                new: 2.01
            }
        );
        assert_eq!(
            decide(None, 0.0, true),
            Decision::Write {
                old: None,
                new: 0.0
            }
        );
        assert_eq!(decide(Some(2.0), 3.0, false), Decision::ReportMissing);
    }
}
