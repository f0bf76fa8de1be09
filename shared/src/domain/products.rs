//! Product mapping proposals: which ConnectWise catalog product stands for each Acronis
//! offering item of the selected editions, and which products must be created. Pure.
//!
//! Matching, in order: exact (the product's identifier or description equals the item's
//! name or our proposed identifier), then normalised (case, spaces, `-`, `_` and other
//! punctuation ignored). Items no product matches get a new product with the configured
//! category, subcategory, type, class and unit of measure; its identifier is
//! `<prefix><ITEM-NAME>` upper-cased, shortened with a hash to ConnectWise's 25 characters.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::acronis::models::OfferingItem;
use crate::connectwise::models::CatalogItem;
use crate::domain::records::ProductMapping;

pub const SECTION: &str = "products";
/// ConnectWise's limit on a product identifier.
pub const MAX_IDENTIFIER: usize = 25;

/// Attributes of the products auto-mapping creates (names as ConnectWise shows them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewProductAttributes {
    pub identifier_prefix: String,
    pub category: Option<String>,
    pub subcategory: String,
    pub product_type: String,
    /// `Agreement`, `Bundle`, `Inventory`, `NonInventory` or `Service`.
    pub product_class: String,
    pub unit_of_measure: Option<String>,
}

impl Default for NewProductAttributes {
    fn default() -> Self {
        Self {
            identifier_prefix: "ACR-".into(),
            category: None,
            subcategory: "Backup".into(),
            product_type: "Service".into(),
            product_class: "Service".into(),
            unit_of_measure: None,
        }
    }
}

/// The product-mapping settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProductSettings {
    /// Editions whose items are mapped (empty: every edition the partner has).
    pub editions: Vec<String>,
    pub new_products: NewProductAttributes,
}

impl ProductSettings {
    pub fn validate(&self) -> Result<(), String> {
        const CLASSES: [&str; 5] = [
            "Agreement",
            "Bundle",
            "Inventory",
            "NonInventory",
            "Service",
        ];
        let a = &self.new_products;
        if !CLASSES.contains(&a.product_class.as_str()) {
            return Err(format!(
                "new_products.product_class {:?} must be one of {CLASSES:?}",
                a.product_class
            ));
        }
        if a.identifier_prefix.len() > 10 {
            return Err("new_products.identifier_prefix must be at most 10 characters".into());
        }
        if a.subcategory.trim().is_empty() || a.product_type.trim().is_empty() {
            return Err(
                "new_products.subcategory and new_products.product_type are required".into(),
            );
        }
        Ok(())
    }
}

/// How a product was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    Exact,
    Normalised,
}

/// The product proposed for one offering item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ProductChoice {
    Existing {
        product_id: i64,
        identifier: String,
        matched: MatchKind,
    },
    Create {
        identifier: String,
        description: String,
    },
}

/// One row of the proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    pub offering_item: String,
    pub infra_id: Option<String>,
    pub edition: Option<String>,
    pub measurement_unit: Option<String>,
    pub application_id: Option<String>,
    pub choice: ProductChoice,
}

/// Lower-case letters and digits only.
pub fn normalise(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The identifier a new product for this item gets.
pub fn proposed_identifier(prefix: &str, item: &OfferingItem) -> String {
    let mut base = format!("{prefix}{}", item.name.to_uppercase().replace('_', "-"));
    let suffix = item.infra_id.as_deref().map(|infra| short_hash(infra, 4));
    let room = MAX_IDENTIFIER - suffix.as_ref().map_or(0, |s| s.len() + 1);
    if base.chars().count() > room {
        let keep = room.saturating_sub(5);
        base = format!(
            "{}-{}",
            base.chars().take(keep).collect::<String>(),
            short_hash(&item.name, 4)
        );
    }
    match suffix {
        Some(s) => format!("{base}-{s}"),
        None => base,
    }
}

fn short_hash(s: &str, len: usize) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<String>()[..len]
        .to_owned()
}

/// ConnectWise's limit on `CatalogItem.description` ("Max length: 60" in its OpenAPI).
pub const MAX_DESCRIPTION: usize = 60;

/// A product description for a new item: `Acronis servers (pck_per_workload)`. A longer one
/// keeps its words in this order of sacrifice: the edition written short (`per workload`),
/// then the end of the item's name (with `…`), so it stays within ConnectWise's limit.
pub fn proposed_description(item: &OfferingItem) -> String {
    let what = item
        .usage_name
        .as_deref()
        .unwrap_or(&item.name)
        .replace('_', " ");
    let Some(edition) = &item.edition else {
        return fit(&format!("Acronis {what}"), "");
    };
    let full = format!("Acronis {what} ({edition})");
    if full.chars().count() <= MAX_DESCRIPTION {
        return full;
    }
    let short = edition.trim_start_matches("pck_").replace('_', " ");
    fit(&format!("Acronis {what}"), &format!(" ({short})"))
}

/// `head` cut (with `…`) so that `head` + `tail` has at most [`MAX_DESCRIPTION`] characters.
fn fit(head: &str, tail: &str) -> String {
    let room = MAX_DESCRIPTION.saturating_sub(tail.chars().count());
    if head.chars().count() <= room {
        return format!("{head}{tail}");
    }
    let cut: String = head.chars().take(room.saturating_sub(1)).collect();
    format!("{}…{tail}", cut.trim_end())
}

/// Whether an item can be billed at all (features have no quantity).
fn billable(item: &OfferingItem) -> bool {
    item.item_type.as_deref() != Some("feature") && item.measurement_unit.as_deref() != Some("n/a")
}

/// Proposes a product for every billable item of the selected editions.
pub fn propose(
    items: &[OfferingItem],
    catalog: &[CatalogItem],
    settings: &ProductSettings,
) -> Vec<Proposal> {
    let active: Vec<&CatalogItem> = catalog
        .iter()
        .filter(|c| c.inactive_flag != Some(true))
        .collect();
    let mut taken: Vec<i64> = Vec::new();
    let mut out = Vec::new();
    for item in items.iter().filter(|i| billable(i)) {
        let selected = settings.editions.is_empty()
            || item.edition.is_none()
            || item
                .edition
                .as_ref()
                .is_some_and(|e| settings.editions.contains(e));
        if !selected {
            continue;
        }
        let identifier = proposed_identifier(&settings.new_products.identifier_prefix, item);
        let names = [item.name.as_str(), identifier.as_str()];
        let fields = |c: &CatalogItem| {
            [
                c.identifier.clone().unwrap_or_default(),
                c.description.clone().unwrap_or_default(),
            ]
        };
        let free = |c: &&&CatalogItem| !taken.contains(&c.id);
        let exact = active.iter().filter(free).find(|c| {
            fields(c)
                .iter()
                .any(|f| names.iter().any(|n| f.eq_ignore_ascii_case(n)))
        });
        let found = match exact {
            Some(c) => Some((*c, MatchKind::Exact)),
            None => {
                let wanted: Vec<String> = names.iter().map(|n| normalise(n)).collect();
                active
                    .iter()
                    .filter(free)
                    .find(|c| {
                        fields(c)
                            .iter()
                            .any(|f| !f.is_empty() && wanted.contains(&normalise(f)))
                    })
                    .map(|c| (*c, MatchKind::Normalised))
            }
        };
        let choice = match found {
            Some((c, matched)) => {
                taken.push(c.id);
                ProductChoice::Existing {
                    product_id: c.id,
                    identifier: c.identifier.clone().unwrap_or_default(),
                    matched,
                }
            }
            None => ProductChoice::Create {
                identifier,
                description: proposed_description(item),
            },
        };
        out.push(Proposal {
            offering_item: item.name.clone(),
            infra_id: item.infra_id.clone(),
            edition: item.edition.clone(),
            measurement_unit: item.measurement_unit.clone(),
            application_id: item.application_id.clone(),
            choice,
        });
    }
    out
}

/// What auto-mapping does with a proposal, given the item's current mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Mapped to the proposed product already: nothing to do.
    Unchanged,
    /// An administrator mapped it to another product: left alone (and no product is
    /// created for it).
    Kept,
    /// Mapped (the product created first when the proposal says so).
    Map,
}

/// The keep decision for `choice` over the item's `current` mapping; one function for the
/// dry run and the run, so the dry run shows what is kept.
pub fn keep(choice: &ProductChoice, current: Option<&ProductMapping>) -> Keep {
    let mapped_to = current.and_then(|m| m.product_id);
    match (choice, mapped_to) {
        (ProductChoice::Existing { product_id, .. }, Some(id)) if id == *product_id => {
            Keep::Unchanged
        }
        (_, Some(_)) => Keep::Kept,
        (_, None) => Keep::Map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, edition: Option<&str>, infra: Option<&str>, kind: &str) -> OfferingItem {
        OfferingItem {
            application_id: None,
            name: name.into(),
            edition: edition.map(Into::into),
            usage_name: Some(name.trim_start_matches("pw_base_").into()),
            item_type: Some(kind.into()),
            infra_id: infra.map(Into::into),
            measurement_unit: Some(if kind == "infra" { "bytes" } else { "quantity" }.into()),
            status: 1,
            locked: None,
            quota: None,
        }
    }

    #[test]
    fn descriptions_stay_within_connectwise_limit_and_keep_their_meaning() {
        let short = item("pw_base_servers", Some("pck_per_workload"), None, "data");
        assert_eq!(
            proposed_description(&short),
            "Acronis servers (pck_per_workload)"
        );
        // 62 characters in full: the edition is written short.
        let long = item(
            "pack_adv_backup_web_hosting_servers",
            Some("pck_per_workload"),
            None,
            "data",
        );
        let d = proposed_description(&long);
        assert_eq!(
            d,
            "Acronis pack adv backup web hosting servers (per workload)"
        );
        assert!(d.chars().count() <= MAX_DESCRIPTION);
        // Longer still: the name is cut, the edition kept.
        let longer = item(
            &"very_long_item_name_".repeat(4),
            Some("pck_per_gigabyte"),
            None,
            "data",
        );
        let d = proposed_description(&longer);
        assert_eq!(d.chars().count(), MAX_DESCRIPTION, "{d}");
        assert!(d.ends_with("… (per gigabyte)"), "{d}");
        let no_edition = item(&"x_".repeat(40), None, None, "data");
        assert!(proposed_description(&no_edition).chars().count() <= MAX_DESCRIPTION);
    }

    fn product(id: i64, identifier: &str, description: &str) -> CatalogItem {
        CatalogItem {
            id,
            identifier: Some(identifier.into()),
            description: Some(description.into()),
            customer_description: None,
            inactive_flag: Some(false),
            category: None,
            subcategory: None,
            item_type: None,
            product_class: None,
            unit_of_measure: None,
            price: None,
            cost: None,
        }
    }

    #[test]
    fn identifiers_fit_connectwise() {
        let short = item("pw_base_servers", Some("pck_per_workload"), None, "count");
        assert_eq!(proposed_identifier("ACR-", &short), "ACR-PW-BASE-SERVERS");
        let long = item(
            "pw_pack_adv_backup_workstations",
            Some("pck_per_workload"),
            None,
            "count",
        );
        let id = proposed_identifier("ACR-", &long);
        assert!(
            id.len() <= MAX_IDENTIFIER && id.starts_with("ACR-PW-PACK"),
            "{id}"
        );
        let eu = item(
            "pw_base_storage",
            Some("pck_per_workload"),
            Some("eu-infra"),
            "infra",
        );
        let us = item(
            "pw_base_storage",
            Some("pck_per_workload"),
            Some("us-infra"),
            "infra",
        );
        let (a, b) = (
            proposed_identifier("ACR-", &eu),
            proposed_identifier("ACR-", &us),
        );
        assert!(
            a != b && a.len() <= MAX_IDENTIFIER && b.len() <= MAX_IDENTIFIER,
            "{a} {b}"
        );
    }

    #[test]
    fn matches_exact_then_normalised_then_proposes_creation() {
        let items = vec![
            item("pw_base_servers", Some("pck_per_workload"), None, "count"),
            item(
                "pw_base_workstations",
                Some("pck_per_workload"),
                None,
                "count",
            ),
            item("pw_base_vms", Some("pck_per_workload"), None, "count"),
            item(
                "pw_base_m365_mailboxes",
                Some("pck_per_workload"),
                None,
                "feature",
            ),
            item("pg_base_servers", Some("pck_per_gigabyte"), None, "count"),
        ];
        let catalog = vec![
            product(1, "ACR-PW-BASE-SERVERS", "Servers"),
            product(2, "PWBASE WORKSTATIONS", "Acronis PCs"),
        ];
        let settings = ProductSettings {
            editions: vec!["pck_per_workload".into()],
            ..ProductSettings::default()
        };
        let p = propose(&items, &catalog, &settings);
        let rows: Vec<(&str, &ProductChoice)> = p
            .iter()
            .map(|r| (r.offering_item.as_str(), &r.choice))
            .collect();
        assert_eq!(
            rows.len(),
            3,
            "feature and deselected edition left out: {rows:?}"
        );
        assert_eq!(
            rows[0].1,
            &ProductChoice::Existing {
                product_id: 1,
                identifier: "ACR-PW-BASE-SERVERS".into(),
                matched: MatchKind::Exact
            }
        );
        assert!(matches!(
            rows[1].1,
            ProductChoice::Existing {
                product_id: 2,
                matched: MatchKind::Normalised,
                ..
            }
        ));
        assert_eq!(
            rows[2].1,
            &ProductChoice::Create {
                identifier: "ACR-PW-BASE-VMS".into(),
                description: "Acronis vms (pck_per_workload)".into()
            }
        );
    }

    #[test]
    fn a_product_is_proposed_for_one_item_only() {
        let items = vec![
            item("pw_base_servers", Some("pck_per_workload"), None, "count"),
            item("pw_base_servers", Some("pck_per_workload"), None, "count"),
        ];
        let p = propose(
            &items,
            &[product(1, "pw_base_servers", "x")],
            &ProductSettings::default(),
        );
        assert!(matches!(p[0].choice, ProductChoice::Existing { .. }));
        assert!(matches!(p[1].choice, ProductChoice::Create { .. }));
    }

    #[test]
    fn settings_are_validated() {
        let mut s = ProductSettings::default();
        assert!(s.validate().is_ok());
        s.new_products.product_class = "Gadget".into();
        assert!(s.validate().unwrap_err().contains("product_class"));
    }

    #[test]
    fn auto_mapping_keeps_what_an_administrator_mapped_and_skips_what_is_mapped_already() {
        let existing = ProductChoice::Existing {
            product_id: 5,
            identifier: "ACR-5".into(),
            matched: MatchKind::Exact,
        };
        let create = ProductChoice::Create {
            identifier: "ACR-NEW".into(),
            description: "new".into(),
        };
        let mapped_to = |id: Option<i64>| ProductMapping {
            product_id: id,
            ..ProductMapping::new("pw_base_servers", None, "quantity")
        };
        let cases = [
            (&existing, None, Keep::Map),
            (&existing, Some(mapped_to(None)), Keep::Map),
            (&existing, Some(mapped_to(Some(5))), Keep::Unchanged),
            (&existing, Some(mapped_to(Some(6))), Keep::Kept),
            (&create, None, Keep::Map),
            (&create, Some(mapped_to(None)), Keep::Map),
            (&create, Some(mapped_to(Some(6))), Keep::Kept),
        ];
        for (choice, current, expected) in cases {
            assert_eq!(
                keep(choice, current.as_ref()),
                expected,
                "{choice:?} {current:?}"
            );
        }
    }
}
