//! Configuration as code, pure: the file's model (every setting and mapping), its checks,
//! and the plan that brings the store to it. A section present in the file is
//! authoritative (its entries replace the stored ones, entries absent from it are
//! removed); a section left out is not touched. Only what differs is planned, so applying
//! the same file twice plans nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::alerts::{self as alert_rules, AlertSettings};
use crate::domain::jobs::{self, Job};
use crate::domain::products::ProductSettings;
use crate::domain::records::{CompanyMapping, MappingOrigin, ProductMapping};
use crate::domain::settings::{self, BillingSettings, ProvisioningSettings};
use crate::domain::usage::{self as usage_rules, UsageSettings};

/// The file's key (and the diffs' section) of the product settings: `products` is the
/// product mappings.
const PRODUCT_SETTINGS: &str = "product_settings";

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
    /// The paused jobs (`acw jobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<JobsEntry>,
    /// Editions and the attributes of new products (`acw products settings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_settings: Option<ProductSettings>,
    /// Alert tickets: board, per-type mapping, reopen and auto-close (`acw alerts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertSettings>,
}

/// The paused jobs, without their housekeeping (since when, by whom).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsEntry {
    #[serde(default)]
    pub paused: BTreeSet<Job>,
}

/// A product mapping, without its housekeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductEntry {
    /// The Acronis connection (`default` when left out).
    #[serde(default, skip_serializing_if = "crate::domain::connection::is_default")]
    pub connection: crate::domain::connection::ConnectionName,
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
    pub fn from_mapping(m: &ProductMapping) -> Self {
        Self {
            connection: m.connection.clone(),
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

    pub fn to_mapping(&self, now: DateTime<Utc>) -> ProductMapping {
        ProductMapping {
            unknown: Default::default(),
            connection: self.connection.clone(),
            offering_item: self.offering_item.clone(),
            infra_id: self.infra_id.clone(),
            edition: self.edition.clone(),
            product_id: self.product_id,
            product_identifier: self.product_identifier.clone(),
            free: self.free,
            default_storage: self.default_storage,
            application_id: self.application_id.clone(),
            measurement_unit: self.measurement_unit.clone(),
            updated_at: now,
        }
    }

    /// An entry mapping `offering_item` to `product_id` (nothing else set).
    pub fn new(offering_item: &str, product_id: Option<i64>) -> Self {
        Self {
            connection: Default::default(),
            offering_item: offering_item.into(),
            infra_id: None,
            edition: None,
            product_id,
            product_identifier: None,
            free: false,
            default_storage: false,
            application_id: None,
            measurement_unit: None,
        }
    }

    pub fn key(&self) -> String {
        let item = match &self.infra_id {
            Some(i) => format!("{}#{i}", self.offering_item),
            None => self.offering_item.clone(),
        };
        if self.connection.is_default() {
            item
        } else {
            format!("{}/{item}", self.connection)
        }
    }
}

/// A company mapping. Only `company_id` → `tenant_id` is compared; names are for the reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyEntry {
    /// The Acronis connection (`default` when left out).
    #[serde(default, skip_serializing_if = "crate::domain::connection::is_default")]
    pub connection: crate::domain::connection::ConnectionName,
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
    pub fn from_mapping(m: &CompanyMapping) -> Self {
        Self {
            connection: m.connection.clone(),
            company_id: m.company_id,
            tenant_id: m.tenant_id.clone(),
            company_name: m.company_name.clone(),
            tenant_name: m.tenant_name.clone(),
            origin: Some(m.origin),
        }
    }

    pub fn to_mapping(&self, now: DateTime<Utc>) -> CompanyMapping {
        CompanyMapping {
            unknown: Default::default(),
            connection: self.connection.clone(),
            company_id: self.company_id,
            tenant_id: self.tenant_id.clone(),
            company_name: self.company_name.clone(),
            tenant_name: self.tenant_name.clone(),
            origin: self.origin.unwrap_or(MappingOrigin::Manual),
            mapped_at: now,
            qualified_at: None,
            setup_pending: false,
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

/// Checks a file's content as a whole (each section valid, no item or product mapped twice,
/// at most one default storage, each tenant mapped once): what to fix, or nothing.
pub fn check(file: &ConfigFile) -> Result<(), String> {
    if let Some(p) = &file.provisioning {
        p.validate().map_err(|e| format!("provisioning: {e}"))?;
    }
    if let Some(b) = &file.billing {
        b.validate().map_err(|e| format!("billing: {e}"))?;
    }
    if let Some(u) = &file.usage {
        u.validate().map_err(|e| format!("usage: {e}"))?;
    }
    if let Some(p) = &file.product_settings {
        p.validate().map_err(|e| format!("product_settings: {e}"))?;
    }
    if let Some(a) = &file.alerts {
        a.validate().map_err(|e| format!("alerts: {e}"))?;
    }
    if let Some(products) = &file.products {
        let mut keys = BTreeMap::new();
        let mut product_ids = BTreeMap::new();
        for p in products {
            if p.offering_item.trim().is_empty() {
                return Err("products: an entry has a blank offering_item".into());
            }
            if keys.insert(p.key(), ()).is_some() {
                return Err(format!("products: {} is listed twice", p.key()));
            }
            if p.free && p.product_id.is_some() {
                return Err(format!(
                    "products: {} is free and mapped to product {}; choose one",
                    p.key(),
                    p.product_id.unwrap_or_default()
                ));
            }
            if let Some(id) = p.product_id
                && let Some(other) = product_ids.insert(id, p.key())
            {
                return Err(format!(
                    "products: product {id} is mapped to both {other} and {}",
                    p.key()
                ));
            }
            if p.default_storage && p.infra_id.is_none() {
                return Err(format!(
                    "products: {} is marked default_storage but has no infra_id",
                    p.key()
                ));
            }
        }
        // One default storage per connection (each data centre has its own storages).
        let mut defaults: BTreeMap<&str, usize> = BTreeMap::new();
        for p in products.iter().filter(|p| p.default_storage) {
            *defaults.entry(p.connection.as_str()).or_default() += 1;
        }
        if let Some((connection, n)) = defaults.into_iter().find(|(_, n)| *n > 1) {
            return Err(format!(
                "products: {n} entries of connection {connection} are marked default_storage; at most one may be"
            ));
        }
    }
    if let Some(companies) = &file.companies {
        let mut ids = BTreeMap::new();
        let mut tenants = BTreeMap::new();
        for c in companies {
            if c.tenant_id.trim().is_empty() {
                return Err(format!(
                    "companies: company {} has a blank tenant_id",
                    c.company_id
                ));
            }
            if ids.insert(c.company_id, ()).is_some() {
                return Err(format!(
                    "companies: company {} is listed twice",
                    c.company_id
                ));
            }
            if let Some(other) = tenants.insert(c.tenant_id.clone(), c.company_id) {
                return Err(format!(
                    "companies: tenant {} is mapped to both company {other} and company {}",
                    c.tenant_id, c.company_id
                ));
            }
        }
    }
    Ok(())
}

/// A file that maps a company through another connection than the one it is mapped through
/// is refused: across data centres Acronis cannot move a tenant, and within one a move
/// changes who bills it, which the MSP does in Acronis first. Unmapping the company and
/// mapping it again is the way.
pub fn refuse_moves(have: &ConfigFile, want: &ConfigFile) -> Result<(), String> {
    let (Some(have), Some(want)) = (&have.companies, &want.companies) else {
        return Ok(());
    };
    for w in want {
        if let Some(h) = have.iter().find(|h| h.company_id == w.company_id)
            && h.connection != w.connection
        {
            return Err(format!(
                "companies: company {} is mapped through connection {} and the file maps it through {}: \
                 moving a customer between partner tenants is refused; unmap it \
                 (`acw companies unmap {}`), then map it again",
                w.company_id, h.connection, w.connection, w.company_id
            ));
        }
    }
    Ok(())
}

/// Every leaf of a JSON value as `(dotted.key, value)`, in order.
pub fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

/// Every leaf of `value`, as `(dotted.key, value)`.
pub fn leaves<T: Serialize>(value: &T) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    flatten(
        "",
        &serde_json::to_value(value).unwrap_or(Value::Null),
        &mut out,
    );
    out
}

fn settings_diff<T: Serialize>(section: &'static str, old: &T, new: &T) -> Vec<Diff> {
    let a: BTreeMap<String, Value> = leaves(old).into_iter().collect();
    let b: BTreeMap<String, Value> = leaves(new).into_iter().collect();
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
    if let (Some(o), Some(n)) = (&have.jobs, &want.jobs) {
        out.extend(settings_diff(jobs::SECTION, o, n));
    }
    if let (Some(o), Some(n)) = (&have.product_settings, &want.product_settings) {
        out.extend(settings_diff(PRODUCT_SETTINGS, o, n));
    }
    if let (Some(o), Some(n)) = (&have.alerts, &want.alerts) {
        out.extend(settings_diff(alert_rules::SECTION, o, n));
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

/// One write of an apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum ConfigStep {
    SaveProvisioning(ProvisioningSettings),
    SaveBilling(BillingSettings),
    SaveUsage(UsageSettings),
    /// Exactly these jobs paused (those already paused keep their date).
    SaveJobs(BTreeSet<Job>),
    SaveProductSettings(ProductSettings),
    SaveAlerts(AlertSettings),
    Unmap {
        company_id: i64,
    },
    PutProduct(ProductMapping),
    DeleteProduct {
        #[serde(skip_serializing_if = "crate::domain::connection::is_default")]
        connection: crate::domain::connection::ConnectionName,
        offering_item: String,
        infra_id: Option<String>,
    },
    Map(CompanyMapping),
}

/// What an apply changes: the differences (to show) and the writes that make them, in
/// order: settings, then unmaps (a tenant may move between companies), product mappings,
/// then new mappings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConfigPlan {
    pub diffs: Vec<Diff>,
    pub steps: Vec<ConfigStep>,
}

/// The plan that brings `have` (the store, every section present) to `want`, as of `now`.
pub fn plan(have: &ConfigFile, want: &ConfigFile, now: DateTime<Utc>) -> ConfigPlan {
    let diffs = diff(have, want);
    let touched = |section: &str| diffs.iter().any(|d| d.section == section);
    let mut steps = Vec::new();
    if touched(settings::PROVISIONING)
        && let Some(p) = &want.provisioning
    {
        steps.push(ConfigStep::SaveProvisioning(p.clone()));
    }
    if touched(settings::BILLING)
        && let Some(b) = &want.billing
    {
        steps.push(ConfigStep::SaveBilling(b.clone()));
    }
    if touched(usage_rules::SECTION)
        && let Some(u) = &want.usage
    {
        steps.push(ConfigStep::SaveUsage(u.clone()));
    }
    if touched(jobs::SECTION)
        && let Some(j) = &want.jobs
    {
        steps.push(ConfigStep::SaveJobs(j.paused.clone()));
    }
    if touched(PRODUCT_SETTINGS)
        && let Some(p) = &want.product_settings
    {
        steps.push(ConfigStep::SaveProductSettings(p.clone()));
    }
    if touched(alert_rules::SECTION)
        && let Some(a) = &want.alerts
    {
        steps.push(ConfigStep::SaveAlerts(a.clone()));
    }
    let companies = || diffs.iter().filter(|d| d.section == "companies");
    for d in companies().filter(|d| matches!(d.op, "remove" | "change")) {
        if let Ok(company_id) = d.key.parse() {
            steps.push(ConfigStep::Unmap { company_id });
        }
    }
    for d in diffs.iter().filter(|d| d.section == "products") {
        let old: Option<ProductEntry> = serde_json::from_value(d.old.clone()).ok();
        let new: Option<ProductEntry> = serde_json::from_value(d.new.clone()).ok();
        match (old, new) {
            (_, Some(n)) => steps.push(ConfigStep::PutProduct(n.to_mapping(now))),
            (Some(o), None) => steps.push(ConfigStep::DeleteProduct {
                connection: o.connection,
                offering_item: o.offering_item,
                infra_id: o.infra_id,
            }),
            (None, None) => {}
        }
    }
    for d in companies().filter(|d| matches!(d.op, "add" | "change")) {
        if let Ok(entry) = serde_json::from_value::<CompanyEntry>(d.new.clone()) {
            steps.push(ConfigStep::Map(entry.to_mapping(now)));
        }
    }
    ConfigPlan { diffs, steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(item: &str, id: Option<i64>) -> ProductEntry {
        ProductEntry::new(item, id)
    }

    fn company(id: i64, tenant: &str) -> CompanyEntry {
        CompanyEntry {
            connection: Default::default(),
            company_id: id,
            tenant_id: tenant.into(),
            company_name: None,
            tenant_name: None,
            origin: None,
        }
    }

    fn stored() -> ConfigFile {
        ConfigFile {
            provisioning: Some(ProvisioningSettings::default()),
            billing: Some(BillingSettings::default()),
            usage: Some(UsageSettings::default()),
            products: Some(vec![
                product("pw_base_servers", Some(500)),
                product("pw_base_vms", Some(502)),
            ]),
            companies: Some(vec![company(1, "t1"), company(2, "t2")]),
            jobs: Some(JobsEntry::default()),
            product_settings: Some(ProductSettings::default()),
            alerts: Some(AlertSettings::default()),
        }
    }

    #[test]
    fn the_plan_writes_only_what_differs_in_order() {
        let now = Utc::now();
        let want = ConfigFile {
            provisioning: Some(ProvisioningSettings {
                auto_provisioning: true,
                ..ProvisioningSettings::default()
            }),
            billing: None,
            usage: None,
            products: Some(vec![product("pw_base_servers", Some(501))]),
            // t1 moves from company 1 to company 3; company 2 stays.
            companies: Some(vec![company(2, "t2"), company(3, "t1")]),
            jobs: None,
            product_settings: None,
            alerts: None,
        };
        let plan = plan(&stored(), &want, now);
        let steps: Vec<String> = plan
            .steps
            .iter()
            .map(|s| match s {
                ConfigStep::SaveProvisioning(_) => "save provisioning".to_owned(),
                ConfigStep::SaveBilling(_) => "save billing".to_owned(),
                ConfigStep::SaveUsage(_) => "save usage".to_owned(),
                ConfigStep::SaveJobs(j) => format!("save jobs {j:?}"),
                ConfigStep::SaveProductSettings(_) => "save product settings".to_owned(),
                ConfigStep::SaveAlerts(_) => "save alerts".to_owned(),
                ConfigStep::Unmap { company_id } => format!("unmap {company_id}"),
                ConfigStep::PutProduct(m) => format!("put {} {:?}", m.offering_item, m.product_id),
                ConfigStep::DeleteProduct { offering_item, .. } => {
                    format!("delete {offering_item}")
                }
                ConfigStep::Map(m) => format!("map {} {}", m.company_id, m.tenant_id),
            })
            .collect();
        assert_eq!(
            steps,
            [
                "save provisioning",
                "unmap 1",
                "delete pw_base_vms",
                "put pw_base_servers Some(501)",
                "map 3 t1",
            ]
        );
        assert!(super::plan(&stored(), &stored(), now).steps.is_empty());
    }

    #[test]
    fn each_connection_has_its_own_items_and_a_company_never_moves_between_them() {
        let us = crate::domain::connection::ConnectionName::parse("us").unwrap();
        let in_us = |mut p: ProductEntry| {
            p.connection = us.clone();
            p
        };
        let storage = |id| ProductEntry {
            infra_id: Some("infra".into()),
            default_storage: true,
            ..product("pw_base_storage", Some(id))
        };
        let mut f = stored();
        // The same item and storage in two connections: two products, one default each.
        f.products = Some(vec![
            product("pw_base_servers", Some(500)),
            in_us(product("pw_base_servers", Some(600))),
            storage(501),
            in_us(storage(601)),
        ]);
        assert_eq!(check(&f), Ok(()));
        let keys: Vec<String> = f.products.iter().flatten().map(ProductEntry::key).collect();
        assert!(keys.contains(&"us/pw_base_servers".to_owned()), "{keys:?}");
        f.products.as_mut().unwrap().push(in_us(ProductEntry {
            infra_id: Some("other".into()),
            ..storage(602)
        }));
        assert!(check(&f).unwrap_err().contains("connection us"));

        let mut moved = stored();
        moved.companies.as_mut().unwrap()[0].connection = us.clone();
        let err = refuse_moves(&stored(), &moved).unwrap_err();
        assert!(
            err.contains("company 1 is mapped through connection default"),
            "{err}"
        );
        assert!(err.contains("unmap it"), "{err}");
        assert_eq!(refuse_moves(&stored(), &stored()), Ok(()));
        // A company left out of the file is unmapped, not moved; a new one may go anywhere.
        let mut other = stored();
        other.companies = Some(vec![CompanyEntry {
            connection: us,
            ..company(3, "t3")
        }]);
        assert_eq!(refuse_moves(&stored(), &other), Ok(()));
    }

    #[test]
    fn checks_name_what_to_fix() {
        let mut f = stored();
        assert_eq!(check(&f), Ok(()));
        f.companies = Some(vec![company(1, "t"), company(2, "t")]);
        assert!(check(&f).unwrap_err().contains("tenant t"));
        f.companies = None;
        f.products = Some(vec![product("a", Some(1)), product("b", Some(1))]);
        assert!(
            check(&f)
                .unwrap_err()
                .contains("product 1 is mapped to both")
        );
    }
}
