//! `acw connections remove`: a connection's keys removed from the secret, with its product
//! mappings; refused while companies are mapped through it unless `--unmap-companies`
//! (which unmaps them first, their tenants left as they are), while
//! `provisioning.new_customers` sends new customers to it, and for the last connection.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::domain::settings::ProvisioningSettings;
use shared::secrets::ConnectionName;
use shared::store::{Change, RunRecord};

use super::secret::{check, without_connection};
use super::{RemoveArgs, read_secret};
use crate::cmd::companies::{self, RUN_NAME};
use crate::cmd::products;
use crate::ctx::Ctx;
use crate::output::emit;

/// What `acw connections remove` removed (or, with `--dry-run`, would remove).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Removed {
    pub dry_run: bool,
    pub name: ConnectionName,
    /// The secret's keys removed.
    pub keys: Vec<String>,
    /// The companies unmapped (`--unmap-companies`).
    pub unmapped: Vec<companies::MappingShown>,
    /// Its product mappings, deleted.
    pub product_mappings: Vec<products::MappingShown>,
}

pub async fn remove(ctx: &Ctx, args: RemoveArgs) -> Result<()> {
    let name = &args.name;
    let (_, secrets, doc) = read_secret(ctx).await?;
    let (edited, keys) = without_connection(&doc.map, name)?;
    check(&doc.id, &edited)?;
    let store = ctx.store().await?;
    let rule = store.section::<ProvisioningSettings>().await?.new_customers;
    if rule.connection.as_ref() == Some(name) || rule.values.values().any(|c| c == name) {
        bail!(
            "provisioning.new_customers sends new customers to connection {name}: change it first (acw provisioning show, acw config export)"
        );
    }
    let companies: Vec<_> = store
        .mappings()
        .await?
        .into_iter()
        .filter(|m| &m.connection == name)
        .collect();
    if !companies.is_empty() && !args.unmap_companies {
        bail!(
            "{} companies are mapped through it: unmap them first, or give --unmap-companies",
            companies.len()
        );
    }
    let items: Vec<_> = store
        .product_mappings()
        .await?
        .into_iter()
        .filter(|p| &p.connection == name)
        .collect();
    let mut report = Removed {
        dry_run: args.dry_run.dry_run,
        name: name.clone(),
        keys,
        unmapped: companies.iter().map(companies::MappingShown::of).collect(),
        product_mappings: items.iter().map(products::MappingShown::of).collect(),
    };
    if !report.dry_run {
        let mut run = RunRecord::start(RUN_NAME);
        let basis = Some(format!("connection {name} removed"));
        report.unmapped.clear();
        for m in &companies {
            // Unmapped meanwhile (or remapped to another tenant): nothing of this one to undo.
            let Some(removed) = store.unmap_company(m.company_id).await? else {
                continue;
            };
            run.changes.push(Change {
                subject: format!("company {}", m.company_id),
                field: "mapping".into(),
                old: Some(Value::String(removed.tenant_id.clone())),
                new: Value::Null,
                basis: basis.clone(),
            });
            report.unmapped.push(companies::MappingShown::of(&removed));
        }
        for p in &items {
            store
                .delete_product_mapping(name, &p.offering_item, p.infra_id.as_deref())
                .await?;
            run.changes.push(Change {
                subject: match &p.infra_id {
                    Some(infra) => format!("offering item {} ({infra})", p.offering_item),
                    None => format!("offering item {}", p.offering_item),
                },
                field: "product mapping".into(),
                old: Some(products::MappingShown::of(p).detail()),
                new: Value::Null,
                basis: basis.clone(),
            });
        }
        doc.write(&secrets, &edited).await?;
        if !run.changes.is_empty() {
            ctx.record(&mut run).await?;
        }
        ctx.audit(
            "connections.remove",
            &format!("connection {name}"),
            json!({
                "keys": report.keys,
                "unmapped_companies": report.unmapped.iter().map(|m| m.company_id).collect::<Vec<_>>(),
                "product_mappings": report.product_mappings.iter().map(products::MappingShown::detail).collect::<Vec<_>>(),
            }),
        )
        .await?;
    }
    emit(ctx, &report, || human(&report));
    Ok(())
}

fn human(r: &Removed) -> String {
    let verb = |now: &str, would: &str| if r.dry_run { would } else { now }.to_owned();
    let mut lines = vec![format!(
        "{} connection {}: keys {}",
        verb("removed", "would remove"),
        r.name,
        r.keys.join(", ")
    )];
    for m in &r.unmapped {
        lines.push(format!(
            "{} company {} from tenant {} (the tenant is left as it is)",
            verb("unmapped", "would unmap"),
            m.company_id,
            m.tenant_id
        ));
    }
    for p in &r.product_mappings {
        lines.push(format!(
            "{} the product mapping of {}{}",
            verb("deleted", "would delete"),
            p.offering_item,
            p.infra_id
                .as_deref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default()
        ));
    }
    if r.dry_run {
        lines.push("dry run: nothing changed".into());
    }
    lines.join("\n")
}
