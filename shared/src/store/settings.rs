//! Settings sections and product mappings.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;
use crate::domain::settings::Section;

impl Store {
    /// A settings section as saved, or its defaults when never saved.
    pub async fn section<T: Section>(&self) -> Result<T, StoreError> {
        Ok(self
            .get::<T>(keys::SETTINGS.to_owned(), T::NAME)
            .await?
            .unwrap_or_default())
    }

    /// Whether a section was ever saved (a dry run must have saved none).
    pub async fn section_saved<T: Section>(&self) -> Result<bool, StoreError> {
        Ok(self
            .get::<T>(keys::SETTINGS.to_owned(), T::NAME)
            .await?
            .is_some())
    }

    /// Saves a settings section, keeping the fields another version stored that this one
    /// does not know (`unknown_fields`): a rollback's `acw … set` erases nothing.
    pub async fn save_section<T: Section>(&self, value: &T) -> Result<(), StoreError> {
        let decode = |e: serde_json::Error| StoreError::Decode {
            key: format!("{}/{}", keys::SETTINGS, T::NAME),
            reason: e.to_string(),
        };
        let mut new = serde_json::to_value(value).map_err(decode)?;
        let stored = self
            .get::<serde_json::Value>(keys::SETTINGS.to_owned(), T::NAME)
            .await?;
        if let Some(raw) = stored {
            let known = serde_json::from_value::<T>(raw.clone())
                .and_then(|t| serde_json::to_value(&t))
                .map_err(decode)?;
            if let Some(extra) = crate::unknown_fields::unknown(&raw, &known) {
                crate::unknown_fields::keep(&mut new, &extra);
            }
        }
        self.put(Self::item(&new, keys::SETTINGS.to_owned(), T::NAME)?)
            .await
    }

    pub async fn put_product_mapping(&self, m: &ProductMapping) -> Result<(), StoreError> {
        let sk = keys::product_item(&m.connection, &m.offering_item, m.infra_id.as_deref());
        self.put(Self::item(m, keys::PRODUCT_MAP.to_owned(), &sk)?)
            .await
    }

    pub async fn product_mappings(&self) -> Result<Vec<ProductMapping>, StoreError> {
        // Every connection's: `ITEM#…` (default) and `CONN#…`.
        self.query_partition(keys::PRODUCT_MAP.to_owned(), None, false, None)
            .await
    }

    pub async fn delete_product_mapping(
        &self,
        connection: &crate::domain::connection::ConnectionName,
        offering_item: &str,
        infra_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.delete(
            keys::PRODUCT_MAP.to_owned(),
            &keys::product_item(connection, offering_item, infra_id),
        )
        .await
    }
}
