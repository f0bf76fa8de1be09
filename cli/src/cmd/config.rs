//! `acw config export|apply`: every setting and mapping as one reviewable YAML file.
//!
//! A section present in the file is authoritative (its entries replace the stored ones,
//! entries absent from it are removed); a section left out is not touched. The whole file
//! is checked before anything is written, and only what differs is written, so applying
//! the same file twice changes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::domain::settings::{self, BillingSettings, ProvisioningSettings};
use shared::domain::usage::{self as usage_rules, UsageSettings};
use shared::store::{CompanyMapping, MappingOrigin, ProductMapping, Store};

use super::sections::flatten;
use crate::ctx::{self, Ctx};
use crate::output::{cell, emit};

/// The file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<ProvisioningSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<BillingSettings>,
    /// Units and rounding of the usage push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<ProductEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companies: Option<Vec<CompanyEntry>>,
}

/// A product mapping, without its housekeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductEntry {
    pub offering_item: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_identifier: Option<String>,
    #[serde(default)]
    pub free: bool,
    #[serde(default)]
    pub default_storage: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement_unit: Option<String>,
}

impl ProductEntry {
    fn from_mapping(m: &ProductMapping) -> Self {
        Self {
            offering_item: m.offering_item.clone(),
            infra_id: m.infra_id.clone(),
            edition: m.edition.clone(),
            product_id: m.product_id,
            product_identifier: m.product_identifier.clone(),
            free: m.free,
            default_storage: m.default_storage,
            application_id: m.application_id.clone(),
            measurement_unit: m.measurement_unit.clone(),
        }
    }

    fn to_mapping(&self) -> ProductMapping {
        ProductMapping {
            offering_item: self.offering_item.clone(),
            infra_id: self.infra_id.clone(),
            edition: self.edition.clone(),
            product_id: self.product_id,
            product_identifier: self.product_identifier.clone(),
            free: self.free,
            default_storage: self.default_storage,
            application_id: self.application_id.clone(),
            measurement_unit: self.measurement_unit.clone(),
            updated_at: Utc::now(),
        }
    }

    fn key(&self) -> String {
        match &self.infra_id {
            Some(i) => format!("{}#{i}", self.offering_item),
            None => self.offering_item.clone(),
        }
    }
}

/// A company mapping. Only `company_id` → `tenant_id` is compared; names are for the reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyEntry {
    pub company_id: i64,
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<MappingOrigin>,
}

impl CompanyEntry {
    fn from_mapping(m: &CompanyMapping) -> Self {
        Self {
            company_id: m.company_id,
            tenant_id: m.tenant_id.clone(),
            company_name: m.company_name.clone(),
            tenant_name: m.tenant_name.clone(),
            origin: Some(m.origin),
        }
    }

    fn to_mapping(&self) -> CompanyMapping {
        CompanyMapping {
            company_id: self.company_id,
            tenant_id: self.tenant_id.clone(),
            company_name: self.company_name.clone(),
            tenant_name: self.tenant_name.clone(),
            origin: self.origin.unwrap_or(MappingOrigin::Manual),
            mapped_at: Utc::now(),
            qualified_at: None,
        }
    }
}

/// One difference between the store and the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub section: &'static str,
    pub key: String,
    /// `add`, `change` or `remove`.
    pub op: &'static str,
    pub old: Value,
    pub new: Value,
}

/// What the store holds, as a file.
async fn current(store: &Store) -> Result<ConfigFile> {
    let provisioning: ProvisioningSettings = store.section().await?;
    let billing: BillingSettings = store.section().await?;
    let usage: UsageSettings = store.section().await?;
    let products = store
        .product_mappings()
        .await?
        .iter()
        .map(ProductEntry::from_mapping)
        .collect();
    let companies = store
        .mappings()
        .await?
        .iter()
        .map(CompanyEntry::from_mapping)
        .collect();
    Ok(ConfigFile {
        provisioning: Some(provisioning),
        billing: Some(billing),
        usage: Some(usage),
        products: Some(products),
        companies: Some(companies),
    })
}

pub async fn export(ctx: &Ctx) -> Result<()> {
    let store = ctx::store().await?;
    let file = current(&store).await?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&file)?);
    } else {
        print!(
            "# acw configuration (apply with `acw config apply FILE [--dry-run]`)\n{}",
            serde_norway::to_string(&file)?
        );
    }
    Ok(())
}

/// Parses and checks a file; nothing is written when this fails.
pub fn parse(text: &str) -> Result<ConfigFile> {
    let file: ConfigFile = serde_norway::from_str(text)?;
    if let Some(p) = &file.provisioning {
        p.validate().map_err(|e| anyhow!("provisioning: {e}"))?;
    }
    if let Some(b) = &file.billing {
        b.validate().map_err(|e| anyhow!("billing: {e}"))?;
    }
    if let Some(u) = &file.usage {
        u.validate().map_err(|e| anyhow!("usage: {e}"))?;
    }
    if let Some(products) = &file.products {
        let mut keys = BTreeMap::new();
        let mut product_ids = BTreeMap::new();
        for p in products {
            if p.offering_item.trim().is_empty() {
                bail!("products: an entry has a blank offering_item");
            }
            if keys.insert(p.key(), ()).is_some() {
                bail!("products: {} is listed twice", p.key());
            }
            if p.free && p.product_id.is_some() {
                bail!(
                    "products: {} is free and mapped to product {}; choose one",
                    p.key(),
                    p.product_id.unwrap_or_default()
                );
            }
            if let Some(id) = p.product_id
                && let Some(other) = product_ids.insert(id, p.key())
            {
                bail!(
                    "products: product {id} is mapped to both {other} and {}",
                    p.key()
                );
            }
            if p.default_storage && p.infra_id.is_none() {
                bail!(
                    "products: {} is marked default_storage but has no infra_id",
                    p.key()
                );
            }
        }
        let defaults = products.iter().filter(|p| p.default_storage).count();
        if defaults > 1 {
            bail!("products: {defaults} entries are marked default_storage; at most one may be");
        }
    }
    if let Some(companies) = &file.companies {
        let mut ids = BTreeMap::new();
        let mut tenants = BTreeMap::new();
        for c in companies {
            if c.tenant_id.trim().is_empty() {
                bail!("companies: company {} has a blank tenant_id", c.company_id);
            }
            if ids.insert(c.company_id, ()).is_some() {
                bail!("companies: company {} is listed twice", c.company_id);
            }
            if let Some(other) = tenants.insert(c.tenant_id.clone(), c.company_id) {
                bail!(
                    "companies: tenant {} is mapped to both company {other} and company {}",
                    c.tenant_id,
                    c.company_id
                );
            }
        }
    }
    Ok(file)
}

fn settings_diff<T: Serialize>(section: &'static str, old: &T, new: &T) -> Vec<Diff> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    flatten(
        "",
        &serde_json::to_value(old).unwrap_or(Value::Null),
        &mut a,
    );
    flatten(
        "",
        &serde_json::to_value(new).unwrap_or(Value::Null),
        &mut b,
    );
    let a: BTreeMap<String, Value> = a.into_iter().collect();
    let b: BTreeMap<String, Value> = b.into_iter().collect();
    // Changed or added leaves, then leaves gone (e.g. a per-product rule removed).
    let changed = b
        .iter()
        .filter(|(k, v)| a.get(*k) != Some(*v))
        .map(|(k, v)| Diff {
            section,
            old: a.get(k).cloned().unwrap_or(Value::Null),
            key: k.clone(),
            op: "change",
            new: v.clone(),
        });
    let gone = a
        .iter()
        .filter(|(k, _)| !b.contains_key(*k))
        .map(|(k, v)| Diff {
            section,
            old: v.clone(),
            key: k.clone(),
            op: "remove",
            new: Value::Null,
        });
    changed.chain(gone).collect()
}

fn keyed_diff<T: Serialize + PartialEq>(
    section: &'static str,
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<Diff> {
    let j = |v: &T| serde_json::to_value(v).unwrap_or(Value::Null);
    let mut out = Vec::new();
    for (k, o) in old {
        if !new.contains_key(k) {
            out.push(Diff {
                section,
                key: k.clone(),
                op: "remove",
                old: j(o),
                new: Value::Null,
            });
        }
    }
    for (k, n) in new {
        match old.get(k) {
            None => out.push(Diff {
                section,
                key: k.clone(),
                op: "add",
                old: Value::Null,
                new: j(n),
            }),
            Some(o) if !same(o, n) => out.push(Diff {
                section,
                key: k.clone(),
                op: "change",
                old: j(o),
                new: j(n),
            }),
            Some(_) => {}
        }
    }
    out
}

/// Every difference between `have` (the store, every section present) and `want`.
pub fn diff(have: &ConfigFile, want: &ConfigFile) -> Vec<Diff> {
    let mut out = Vec::new();
    if let (Some(o), Some(n)) = (&have.provisioning, &want.provisioning) {
        out.extend(settings_diff(settings::PROVISIONING, o, n));
    }
    if let (Some(o), Some(n)) = (&have.billing, &want.billing) {
        out.extend(settings_diff(settings::BILLING, o, n));
    }
    if let (Some(o), Some(n)) = (&have.usage, &want.usage) {
        out.extend(settings_diff(usage_rules::SECTION, o, n));
    }
    if let (Some(o), Some(n)) = (&have.products, &want.products) {
        let by_key = |v: &[ProductEntry]| -> BTreeMap<String, ProductEntry> {
            v.iter().map(|p| (p.key(), p.clone())).collect()
        };
        out.extend(keyed_diff("products", &by_key(o), &by_key(n), |a, b| {
            a == b
        }));
    }
    if let (Some(o), Some(n)) = (&have.companies, &want.companies) {
        let by_id = |v: &[CompanyEntry]| -> BTreeMap<String, CompanyEntry> {
            v.iter()
                .map(|c| (c.company_id.to_string(), c.clone()))
                .collect()
        };
        out.extend(keyed_diff("companies", &by_id(o), &by_id(n), |a, b| {
            a.tenant_id == b.tenant_id
        }));
    }
    out
}

/// Writes what `diffs` say, removals first (a tenant may move between companies).
async fn write(store: &Store, want: &ConfigFile, diffs: &[Diff]) -> Result<()> {
    let touched = |section: &str| diffs.iter().any(|d| d.section == section);
    if touched(settings::PROVISIONING)
        && let Some(p) = &want.provisioning
    {
        store.save_section(p).await?;
    }
    if touched(settings::BILLING)
        && let Some(b) = &want.billing
    {
        store.save_section(b).await?;
    }
    if touched(usage_rules::SECTION)
        && let Some(u) = &want.usage
    {
        store.save_section(u).await?;
    }
    for d in diffs.iter().filter(|d| d.section == "companies") {
        if matches!(d.op, "remove" | "change") {
            let id: i64 = d.key.parse().context("company id")?;
            store.unmap_company(id).await?;
        }
    }
    for d in diffs.iter().filter(|d| d.section == "products") {
        let old: Option<ProductEntry> = serde_json::from_value(d.old.clone()).ok();
        let new: Option<ProductEntry> = serde_json::from_value(d.new.clone()).ok();
        match (old, new) {
            (_, Some(n)) => store.put_product_mapping(&n.to_mapping()).await?,
            (Some(o), None) => {
                store
                    .delete_product_mapping(&o.offering_item, o.infra_id.as_deref())
                    .await?
            }
            (None, None) => {}
        }
    }
    for d in diffs.iter().filter(|d| d.section == "companies") {
        if matches!(d.op, "add" | "change") {
            let entry: CompanyEntry = serde_json::from_value(d.new.clone())?;
            store
                .map_company(&entry.to_mapping())
                .await
                .with_context(|| format!("mapping company {}", entry.company_id))?;
        }
    }
    Ok(())
}

fn render(diffs: &[Diff], dry_run: bool) -> String {
    let mut lines: Vec<String> = diffs
        .iter()
        .map(|d| {
            let sign = match d.op {
                "add" => "+",
                "remove" => "-",
                _ => "~",
            };
            let show = |v: &Value| match v {
                Value::Object(_) => v.to_string(),
                other => cell(other),
            };
            match d.op {
                "add" => format!("{sign} {}.{}: {}", d.section, d.key, show(&d.new)),
                "remove" => format!("{sign} {}.{}: {}", d.section, d.key, show(&d.old)),
                _ => format!(
                    "{sign} {}.{}: {} → {}",
                    d.section,
                    d.key,
                    show(&d.old),
                    show(&d.new)
                ),
            }
        })
        .collect();
    lines.push(match (diffs.len(), dry_run) {
        (0, _) => "no changes: the store already matches the file".to_owned(),
        (n, true) => format!("dry run: {n} change(s), nothing was written"),
        (n, false) => format!("{n} change(s) applied"),
    });
    lines.join("\n")
}

pub async fn apply(ctx: &Ctx, path: &Path, dry_run: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let want = parse(&text).map_err(|e| {
        anyhow!(
            "{} is not a valid acw configuration: {e:#}; nothing was written",
            path.display()
        )
    })?;
    let store = ctx::store().await?;
    let have = current(&store).await?;
    let diffs = diff(&have, &want);
    if !dry_run && !diffs.is_empty() {
        write(&store, &want, &diffs).await?;
        ctx::audit(
            &store,
            "config.apply",
            &path.display().to_string(),
            json!({ "changes": diffs }),
        )
        .await?;
    }
    emit(
        ctx,
        &json!({ "dry_run": dry_run, "changes": diffs }),
        || render(&diffs, dry_run),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(item: &str, id: Option<i64>) -> ProductEntry {
        ProductEntry {
            offering_item: item.into(),
            infra_id: None,
            edition: None,
            product_id: id,
            product_identifier: None,
            free: false,
            default_storage: false,
            application_id: None,
            measurement_unit: None,
        }
    }

    #[test]
    fn a_file_round_trips_and_diffs_to_nothing_against_itself() {
        let file = ConfigFile {
            provisioning: Some(ProvisioningSettings::default()),
            billing: Some(BillingSettings::default()),
            usage: Some(UsageSettings::default()),
            products: Some(vec![product("pw_base_servers", Some(500))]),
            companies: Some(vec![]),
        };
        let text = serde_norway::to_string(&file).unwrap();
        let back = parse(&text).unwrap();
        assert_eq!(back, file);
        assert!(diff(&file, &back).is_empty());
    }

    #[test]
    fn sections_left_out_are_untouched_and_present_ones_authoritative() {
        let have = ConfigFile {
            provisioning: Some(ProvisioningSettings::default()),
            billing: Some(BillingSettings::default()),
            usage: Some(UsageSettings::default()),
            products: Some(vec![
                product("pw_base_servers", Some(500)),
                product("pw_base_vms", Some(502)),
            ]),
            companies: Some(vec![]),
        };
        let want = parse(
            "provisioning:\n  auto_provisioning: true\nproducts:\n- offering_item: pw_base_servers\n  product_id: 501\n",
        )
        .unwrap();
        let d = diff(&have, &want);
        let ops: Vec<(&str, &str, &str)> = d
            .iter()
            .map(|d| (d.section, d.key.as_str(), d.op))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("provisioning", "auto_provisioning", "change"),
                ("products", "pw_base_vms", "remove"),
                ("products", "pw_base_servers", "change"),
            ]
        );
    }

    #[test]
    fn bad_files_are_refused_with_what_to_fix() {
        let err = parse("provisioning: [oops").unwrap_err().to_string();
        assert!(!err.is_empty());
        let err = parse("provisioning:\n  auto_provision: true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("auto_provision"), "{err}");
        let err = parse("provisioning:\n  language: english\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("two-letter"), "{err}");
        let err = parse(
            "products:\n- offering_item: a\n  product_id: 1\n- offering_item: b\n  product_id: 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("product 1 is mapped to both"), "{err}");
        let err =
            parse("companies:\n- company_id: 1\n  tenant_id: t\n- company_id: 2\n  tenant_id: t\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("tenant t"), "{err}");
    }
}
