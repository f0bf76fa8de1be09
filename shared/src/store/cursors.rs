//! Cursors: where a poller or a sweep goes on from.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;

impl Store {
    pub async fn cursor<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Stored<T> {
            value: T,
        }
        Ok(self
            .get::<Stored<T>>(keys::CURSOR.to_owned(), name)
            .await?
            .map(|s| s.value))
    }

    /// Moves a cursor from `expected` (`None`: never set) to `value`; a concurrent move
    /// makes this fail with [`StoreError::Conflict`] rather than go backwards.
    pub async fn advance_cursor<T: Serialize>(
        &self,
        name: &str,
        expected: Option<&T>,
        value: &T,
    ) -> Result<(), StoreError> {
        #[derive(Serialize)]
        struct Stored<'a, T> {
            value: &'a T,
            updated_at: DateTime<Utc>,
        }
        let item = Self::item(
            &Stored {
                value,
                updated_at: crate::clock::now(),
            },
            keys::CURSOR.to_owned(),
            name,
        )?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(prev) => put
                .condition_expression("#v = :prev")
                .expression_attribute_names("#v", "value")
                .expression_attribute_values(
                    ":prev",
                    serde_dynamo::to_attribute_value(prev).map_err(|e| StoreError::Decode {
                        key: format!("CURSOR/{name}"),
                        reason: e.to_string(),
                    })?,
                ),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => {
                Err(StoreError::Conflict(format!("cursor {name}")))
            }
            Err(e) => Err(dynamo(e)),
        }
    }
}
