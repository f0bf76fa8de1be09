//! Product auto-mapping: reads the offering items the partner may sell and the ConnectWise
//! catalog, proposes a product for each item (see [`crate::domain::products`]), creates the
//! missing products with the configured attributes, and stores the mappings. A dry run
//! reads only. Mappings an administrator already made are kept as they are.

mod ports;
#[cfg(test)]
mod tests;

pub use ports::{ProductApi, ProductStore};

use serde::Serialize;

use super::provisioning::ProvisionError;
use crate::connectwise::models::{NewCatalogItem, Reference};
use crate::connectwise::{Conditions, CwError, ListQuery};
use crate::domain::products::{
    self, Keep, NewProductAttributes, ProductChoice, ProductSettings, Proposal,
};
use crate::store::ProductMapping;

/// What auto-mapping did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AutoMapReport {
    pub proposals: Vec<Proposal>,
    /// Identifiers of the products created (or to create).
    pub created: Vec<String>,
    /// Mappings stored.
    pub mapped: usize,
    /// Items left alone because an administrator mapped them to another product.
    pub kept: Vec<String>,
}

async fn reference(
    svc: &impl ProductApi,
    path: &str,
    setting: &str,
    name: &str,
) -> Result<Reference, ProvisionError> {
    let found = svc.named(path, name).await?;
    let n = found.into_iter().next().ok_or_else(|| {
        ProvisionError::NeedsAttention(format!(
            "ConnectWise has no {setting} named {name:?}: set new_products.{setting} to an existing one"
        ))
    })?;
    Ok(Reference {
        id: n.id,
        name: n.name,
        identifier: None,
    })
}

/// Checks product settings against both accounts: the attributes of new products must name
/// a ConnectWise subcategory, product type and (when set) category and unit of measure that
/// exist; each edition must be one the partner offers customers. Says what to fix.
pub async fn check_settings(
    svc: &impl ProductApi,
    settings: &ProductSettings,
) -> Result<(), ProvisionError> {
    settings
        .validate()
        .map_err(ProvisionError::NeedsAttention)?;
    let a = &settings.new_products;
    reference(
        svc,
        "procurement/subcategories",
        "subcategory",
        &a.subcategory,
    )
    .await?;
    reference(svc, "procurement/types", "product_type", &a.product_type).await?;
    if let Some(c) = &a.category {
        reference(svc, "procurement/categories", "category", c).await?;
    }
    if let Some(u) = &a.unit_of_measure {
        reference(svc, "procurement/unitOfMeasures", "unit_of_measure", u).await?;
    }
    if !settings.editions.is_empty() {
        let offered: std::collections::BTreeSet<String> = svc
            .offered_items()
            .await?
            .into_iter()
            .filter_map(|i| i.edition)
            .collect();
        if let Some(e) = settings.editions.iter().find(|e| !offered.contains(*e)) {
            return Err(ProvisionError::NeedsAttention(format!(
                "the partner offers customers no edition {e:?}; the editions are {}",
                offered.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(())
}

/// Proposes, and unless `dry_run`, creates the missing products and stores the mappings.
/// What is kept (`domain::products::keep`) is decided before anything is written, so the
/// dry run shows it too.
pub async fn auto_map(
    svc: &(impl ProductApi + ProductStore),
    dry_run: bool,
) -> Result<AutoMapReport, ProvisionError> {
    let settings = svc.product_settings().await?;
    settings
        .validate()
        .map_err(ProvisionError::NeedsAttention)?;
    let items = svc.offered_items().await?;
    let catalog = svc.catalog(&ListQuery::default()).await?;
    let proposals = products::propose(&items, &catalog, &settings);
    let existing = svc.product_mappings().await?;
    let current = |p: &Proposal| {
        existing
            .iter()
            .find(|m| m.offering_item == p.offering_item && m.infra_id == p.infra_id)
    };
    let decisions: Vec<Keep> = proposals
        .iter()
        .map(|p| products::keep(&p.choice, current(p)))
        .collect();
    let mut report = AutoMapReport {
        created: proposals
            .iter()
            .zip(&decisions)
            .filter_map(|(p, d)| match (&p.choice, d) {
                (ProductChoice::Create { identifier, .. }, Keep::Map) => Some(identifier.clone()),
                _ => None,
            })
            .collect(),
        kept: proposals
            .iter()
            .zip(&decisions)
            .filter(|(_, d)| **d == Keep::Kept)
            .map(|(p, _)| p.offering_item.clone())
            .collect(),
        proposals,
        ..AutoMapReport::default()
    };
    if dry_run {
        return Ok(report);
    }

    let attrs = &settings.new_products;
    let refs = if report.created.is_empty() {
        None
    } else {
        Some(new_product_refs(svc, attrs).await?)
    };
    for (p, decision) in report.proposals.iter().zip(decisions) {
        if decision != Keep::Map {
            continue;
        }
        let (product_id, identifier) = match &p.choice {
            ProductChoice::Existing {
                product_id,
                identifier,
                ..
            } => (*product_id, identifier.clone()),
            ProductChoice::Create {
                identifier,
                description,
            } => {
                let Some(refs) = refs.clone() else {
                    continue;
                };
                let id = create_product(svc, identifier, description, refs, attrs).await?;
                (id, identifier.clone())
            }
        };
        let current = current(p);
        svc.put_product_mapping(&ProductMapping {
            unknown: Default::default(),
            connection: svc.connection(),
            offering_item: p.offering_item.clone(),
            infra_id: p.infra_id.clone(),
            edition: p.edition.clone(),
            product_id: Some(product_id),
            product_identifier: Some(identifier),
            free: current.is_some_and(|m| m.free),
            default_storage: current.is_some_and(|m| m.default_storage),
            application_id: p.application_id.clone(),
            measurement_unit: p.measurement_unit.clone(),
            updated_at: crate::clock::now(),
        })
        .await?;
        report.mapped += 1;
    }
    Ok(report)
}

/// The references a new product carries: subcategory, type, category, unit of measure.
type NewProductRefs = (Reference, Reference, Option<Reference>, Option<Reference>);

/// The references of the configured new-product attributes, each looked up by name.
async fn new_product_refs(
    svc: &impl ProductApi,
    attrs: &NewProductAttributes,
) -> Result<NewProductRefs, ProvisionError> {
    Ok((
        reference(
            svc,
            "procurement/subcategories",
            "subcategory",
            &attrs.subcategory,
        )
        .await?,
        reference(
            svc,
            "procurement/types",
            "product_type",
            &attrs.product_type,
        )
        .await?,
        match &attrs.category {
            Some(c) => Some(reference(svc, "procurement/categories", "category", c).await?),
            None => None,
        },
        match &attrs.unit_of_measure {
            Some(u) => {
                Some(reference(svc, "procurement/unitOfMeasures", "unit_of_measure", u).await?)
            }
            None => None,
        },
    ))
}

/// Creates the catalog item `identifier`; one an earlier attempt created (its answer lost)
/// is adopted.
async fn create_product(
    svc: &impl ProductApi,
    identifier: &str,
    description: &str,
    (subcategory, item_type, category, unit): NewProductRefs,
    attrs: &NewProductAttributes,
) -> Result<i64, ProvisionError> {
    let new = NewCatalogItem {
        identifier: identifier.to_owned(),
        description: description.to_owned(),
        customer_description: description.to_owned(),
        category,
        subcategory,
        item_type,
        product_class: Some(attrs.product_class.clone()),
        unit_of_measure: unit,
    };
    match svc.create_catalog_item(&new).await {
        Ok(c) => Ok(c.id),
        Err(e) if e.is_duplicate() || matches!(e, CwError::Timeout { .. }) => {
            let q = ListQuery::conditions(Conditions::new().eq("identifier", identifier));
            match svc.catalog(&q).await?.into_iter().next() {
                Some(c) => Ok(c.id),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}
