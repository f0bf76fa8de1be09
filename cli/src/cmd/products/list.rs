//! `acw products list`: the offering items available to customers, with their mappings
//! (and the mappings of items no longer offered).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{MappingShown, existing, offered};
use crate::cmd::args::ConnectionArg;
use crate::ctx::Ctx;
use crate::output::{emit, opt, table};

/// An offering item of `products list` (the report is the list of them), with its mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRow {
    pub offering_item: String,
    pub edition: Option<String>,
    #[serde(rename = "type")]
    pub item_type: Option<String>,
    pub infra_id: Option<String>,
    /// The storage's name, when Acronis names it.
    pub infra_name: Option<String>,
    pub measurement_unit: Option<String>,
    /// Still offered to customers (a mapping of an item no longer offered maps nothing).
    pub offered: bool,
    pub mapping: Option<MappingShown>,
}

pub async fn list(ctx: &Ctx, connection: &ConnectionArg) -> Result<()> {
    let deps = ctx.deps().await?;
    let svc = connection.service(deps).await?;
    let items = offered(&svc).await?;
    // This connection's mappings (the service's product store keeps to them).
    let mappings = shared::services::products::ProductStore::product_mappings(&svc).await?;
    let mut rows: Vec<ProductRow> = items
        .iter()
        .map(|i| ProductRow {
            offering_item: i.name.clone(),
            edition: i.edition.clone(),
            item_type: i.item_type.clone(),
            infra_id: i.infra_id.clone(),
            infra_name: None,
            measurement_unit: i.measurement_unit.clone(),
            offered: true,
            mapping: existing(&mappings, &i.name, i.infra_id.as_deref()).map(MappingShown::of),
        })
        .collect();
    // Mappings of items no longer offered: they map nothing until fixed.
    for m in &mappings {
        if !items
            .iter()
            .any(|i| i.name == m.offering_item && i.infra_id == m.infra_id)
        {
            rows.push(ProductRow {
                offering_item: m.offering_item.clone(),
                edition: m.edition.clone(),
                item_type: None,
                infra_id: m.infra_id.clone(),
                infra_name: None,
                measurement_unit: m.measurement_unit.clone(),
                offered: false,
                mapping: Some(MappingShown::of(m)),
            });
        }
    }
    // Storages by name: one lookup per storage (a handful); an id Acronis cannot name is
    // shown as it is.
    let infra_ids: std::collections::BTreeSet<String> =
        rows.iter().filter_map(|r| r.infra_id.clone()).collect();
    let mut infra_names = std::collections::BTreeMap::new();
    for id in infra_ids {
        if let Ok(i) = svc.acronis.infra(&id).await
            && let Some(name) = i.name.filter(|n| !n.trim().is_empty())
        {
            infra_names.insert(id, name);
        }
    }
    for r in &mut rows {
        r.infra_name = r
            .infra_id
            .as_ref()
            .and_then(|id| infra_names.get(id))
            .cloned();
    }
    emit(ctx, &rows, || {
        let cells = rows.iter().map(|r| {
            let m = r.mapping.as_ref();
            let product = match (
                m.and_then(|m| m.product_id),
                m.and_then(|m| m.product_identifier.as_ref()),
            ) {
                (None, _) => "-".to_owned(),
                (Some(id), Some(ident)) => format!("{id} {ident}"),
                (Some(id), None) => id.to_string(),
            };
            let mut flags = Vec::new();
            if m.is_some_and(|m| m.free) {
                flags.push("free");
            }
            if m.is_some_and(|m| m.default_storage) {
                flags.push("default storage");
            }
            if !r.offered {
                flags.push("NOT OFFERED");
            }
            vec![
                r.offering_item.clone(),
                opt(r.edition.as_ref()),
                match (&r.infra_name, &r.infra_id) {
                    (Some(name), Some(id)) => format!("{name} ({id})"),
                    (_, id) => opt(id.as_ref()),
                },
                opt(r.measurement_unit.as_ref()),
                product,
                flags.join(", "),
            ]
        });
        table(
            &[
                "offering item",
                "edition",
                "storage",
                "unit",
                "product",
                "flags",
            ],
            cells,
        )
    });
    Ok(())
}
