//! What the reconciler's apply step needs from the table: its cursors and the companies
//! deferred while their job was paused ([`crate::testing::FakeReconcileStore`] in tests).

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::store::{Store, StoreError};

pub trait ReconcileStore: Send + Sync {
    /// Moves cursor `name` from `expected` to `value`; [`StoreError::Conflict`] when another
    /// cycle moved it meanwhile.
    fn advance_cursor(
        &self,
        name: &str,
        expected: Option<&DateTime<Utc>>,
        value: &DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn clear_deferred(
        &self,
        company_id: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl ReconcileStore for Store {
    async fn advance_cursor(
        &self,
        name: &str,
        expected: Option<&DateTime<Utc>>,
        value: &DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Store::advance_cursor(self, name, expected, value).await
    }
    async fn clear_deferred(&self, company_id: i64) -> Result<(), StoreError> {
        Store::clear_deferred(self, company_id).await
    }
}
