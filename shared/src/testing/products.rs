//! A fake of both sides of product auto-mapping
//! ([`crate::services::products::ProductApi`] and [`ProductStore`]): the partner's offering
//! items, ConnectWise's catalog and named setup objects, and the stored mappings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::cw_timeout;
use crate::acronis::models::OfferingItem;
use crate::connectwise::models::{CatalogItem, Named, NewCatalogItem};
use crate::connectwise::{CwError, ListQuery};
use crate::domain::products::ProductSettings;
use crate::services::products::{ProductApi, ProductStore};
use crate::services::provisioning::ProvisionError;
use crate::store::{ProductMapping, StoreError};

#[derive(Debug, Default)]
struct Accounts {
    items: Vec<OfferingItem>,
    catalog: Vec<CatalogItem>,
    named: BTreeMap<(String, String), i64>,
    settings: ProductSettings,
    mappings: BTreeMap<(String, Option<String>), ProductMapping>,
    /// The next create is made but its answer lost (a timeout).
    lose_create_answer: bool,
    creates: u32,
}

/// Both accounts and the table, in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeProducts(Arc<Mutex<Accounts>>);

impl FakeProducts {
    /// Offers `name` (of `edition`) to customers, counted per workload.
    pub fn offer(&self, name: &str, edition: Option<&str>) {
        self.0.lock().unwrap().items.push(OfferingItem {
            application_id: Some("app-protection".into()),
            name: name.into(),
            edition: edition.map(Into::into),
            usage_name: Some(name.into()),
            item_type: Some("count".into()),
            infra_id: None,
            measurement_unit: Some("quantity".into()),
            status: 1,
            locked: None,
            quota: None,
        });
    }

    /// A catalog product already in ConnectWise.
    pub fn catalog_product(&self, id: i64, identifier: &str) {
        self.0
            .lock()
            .unwrap()
            .catalog
            .push(catalog_item(id, identifier));
    }

    /// A setup object (subcategory, type…) at `path` named `name`.
    pub fn name(&self, path: &str, name: &str, id: i64) {
        self.0
            .lock()
            .unwrap()
            .named
            .insert((path.into(), name.into()), id);
    }

    /// The setup objects the default product settings name.
    pub fn with_default_setup(self) -> Self {
        self.name("procurement/subcategories", "Backup", 11);
        self.name("procurement/types", "Service", 12);
        self
    }

    pub fn set_settings(&self, settings: ProductSettings) {
        self.0.lock().unwrap().settings = settings;
    }

    pub fn map(&self, m: ProductMapping) {
        self.0
            .lock()
            .unwrap()
            .mappings
            .insert((m.offering_item.clone(), m.infra_id.clone()), m);
    }

    pub fn mappings(&self) -> Vec<ProductMapping> {
        self.0.lock().unwrap().mappings.values().cloned().collect()
    }

    pub fn catalog_items(&self) -> Vec<CatalogItem> {
        self.0.lock().unwrap().catalog.clone()
    }

    /// Products created so far (including one whose answer was lost).
    pub fn creates(&self) -> u32 {
        self.0.lock().unwrap().creates
    }

    /// The next create is made, and its answer lost.
    pub fn lose_next_create_answer(&self) {
        self.0.lock().unwrap().lose_create_answer = true;
    }
}

fn catalog_item(id: i64, identifier: &str) -> CatalogItem {
    CatalogItem {
        id,
        identifier: Some(identifier.into()),
        description: Some(identifier.into()),
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

impl ProductApi for FakeProducts {
    async fn offered_items(&self) -> Result<Vec<OfferingItem>, ProvisionError> {
        Ok(self.0.lock().unwrap().items.clone())
    }

    /// The whole catalog, or with an `identifier = "…"` condition the products that have it.
    async fn catalog(&self, q: &ListQuery) -> Result<Vec<CatalogItem>, CwError> {
        let all = self.catalog_items();
        let wanted = q
            .conditions
            .as_ref()
            .and_then(|c| c.render().split('"').nth(1).map(str::to_owned));
        Ok(match wanted {
            Some(id) => all
                .into_iter()
                .filter(|c| c.identifier.as_deref() == Some(id.as_str()))
                .collect(),
            None => all,
        })
    }

    async fn named(&self, path: &str, name: &str) -> Result<Vec<Named>, CwError> {
        let s = self.0.lock().unwrap();
        Ok(s.named
            .get(&(path.to_owned(), name.to_owned()))
            .map(|id| Named {
                id: *id,
                name: Some(name.into()),
            })
            .into_iter()
            .collect())
    }

    fn connection(&self) -> crate::domain::connection::ConnectionName {
        Default::default()
    }

    async fn create_catalog_item(&self, item: &NewCatalogItem) -> Result<CatalogItem, CwError> {
        let mut s = self.0.lock().unwrap();
        s.creates += 1;
        let created = catalog_item(1000 + i64::from(s.creates), &item.identifier);
        s.catalog.push(created.clone());
        if std::mem::take(&mut s.lose_create_answer) {
            return Err(cw_timeout("POST", "procurement/catalog"));
        }
        Ok(created)
    }
}

impl ProductStore for FakeProducts {
    async fn product_settings(&self) -> Result<ProductSettings, StoreError> {
        Ok(self.0.lock().unwrap().settings.clone())
    }
    async fn product_mappings(&self) -> Result<Vec<ProductMapping>, StoreError> {
        Ok(self.mappings())
    }
    async fn put_product_mapping(&self, m: &ProductMapping) -> Result<(), StoreError> {
        self.map(m.clone());
        Ok(())
    }
}
