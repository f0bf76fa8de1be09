//! What product auto-mapping needs from the two accounts ([`ProductApi`]) and from the
//! table ([`ProductStore`]): narrow ports, so each branch is unit-tested with
//! [`crate::testing::FakeProducts`]; [`Provisioning`] is the real one for both.

use std::future::Future;

use crate::acronis::models::OfferingItem;
use crate::connectwise::models::{CatalogItem, Named, NewCatalogItem};
use crate::connectwise::{Conditions, CwError, ListQuery};
use crate::domain::products::ProductSettings;
use crate::services::provisioning::{ProvisionError, Provisioning};
use crate::store::{ProductMapping, StoreError};

/// The offering items the partner may sell and ConnectWise's catalog.
pub trait ProductApi: Send + Sync {
    /// What the partner may enable on a customer, every edition.
    fn offered_items(
        &self,
    ) -> impl Future<Output = Result<Vec<OfferingItem>, ProvisionError>> + Send;
    fn catalog(
        &self,
        q: &ListQuery,
    ) -> impl Future<Output = Result<Vec<CatalogItem>, CwError>> + Send;
    /// The ConnectWise objects at `path` (subcategories, types, categories, units of
    /// measure) named `name`.
    fn named(
        &self,
        path: &str,
        name: &str,
    ) -> impl Future<Output = Result<Vec<Named>, CwError>> + Send;
    /// The Acronis connection whose partner's items these are.
    fn connection(&self) -> crate::domain::connection::ConnectionName;
    /// Never retried blind: on a timeout or a duplicate, look the identifier up.
    fn create_catalog_item(
        &self,
        item: &NewCatalogItem,
    ) -> impl Future<Output = Result<CatalogItem, CwError>> + Send;
}

/// The product settings and mappings in the table.
pub trait ProductStore: Send + Sync {
    fn product_settings(&self) -> impl Future<Output = Result<ProductSettings, StoreError>> + Send;
    fn product_mappings(
        &self,
    ) -> impl Future<Output = Result<Vec<ProductMapping>, StoreError>> + Send;
    fn put_product_mapping(
        &self,
        m: &ProductMapping,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl ProductApi for Provisioning {
    async fn offered_items(&self) -> Result<Vec<OfferingItem>, ProvisionError> {
        let partner = self.partner_id().await?;
        Ok(self
            .acronis
            .available_for_child(&partner, "customer")
            .await?)
    }
    async fn catalog(&self, q: &ListQuery) -> Result<Vec<CatalogItem>, CwError> {
        self.cw.catalog(q).await
    }
    async fn named(&self, path: &str, name: &str) -> Result<Vec<Named>, CwError> {
        self.cw
            .list_all(
                path,
                &ListQuery::conditions(Conditions::new().eq("name", name)),
            )
            .await
    }
    fn connection(&self) -> crate::domain::connection::ConnectionName {
        self.acronis.connection().clone()
    }
    async fn create_catalog_item(&self, item: &NewCatalogItem) -> Result<CatalogItem, CwError> {
        self.cw.create_catalog_item(item).await
    }
}

impl ProductStore for Provisioning {
    async fn product_settings(&self) -> Result<ProductSettings, StoreError> {
        self.store.section().await
    }
    /// The mappings of the connection the service works in.
    async fn product_mappings(&self) -> Result<Vec<ProductMapping>, StoreError> {
        let connection = self.acronis.connection();
        let mut all = self.store.product_mappings().await?;
        all.retain(|m| &m.connection == connection);
        Ok(all)
    }
    async fn put_product_mapping(&self, m: &ProductMapping) -> Result<(), StoreError> {
        self.store.put_product_mapping(m).await
    }
}
