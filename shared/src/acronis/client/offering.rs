//! Offering items (quotas) and usage.

use super::*;

impl AcronisClient {
    /// A tenant's offering items of every edition.
    pub async fn offering_items(&self, tenant_id: &str) -> Result<Vec<OfferingItem>, AcronisError> {
        let page: Page<OfferingItem> = self
            .json(
                Method::GET,
                &format!("api/2/tenants/{tenant_id}/offering_items"),
                &[("edition", "*".into())],
                None::<&()>,
            )
            .await?;
        Ok(page.items)
    }

    /// What the partner may enable on a child of `kind` (every edition).
    pub async fn available_for_child(
        &self,
        parent_id: &str,
        kind: &str,
    ) -> Result<Vec<OfferingItem>, AcronisError> {
        let q = [("kind", kind.to_owned()), ("edition", "*".to_owned())];
        let page: Page<OfferingItem> = self
            .json(
                Method::GET,
                &format!("api/2/tenants/{parent_id}/offering_items/available_for_child"),
                &q,
                None::<&()>,
            )
            .await?;
        Ok(page.items)
    }

    /// Brings a tenant's offering items to `desired`: reads them, writes only the items whose
    /// status or quota differ (with their current `quota.version`), and on a 426/409 re-reads
    /// and tries again. Nothing is written when nothing differs.
    ///
    /// `desired` is computed from the items just read, so one read serves both the
    /// decision and the write.
    pub async fn set_offering_items(
        &self,
        tenant_id: &str,
        desired: impl Fn(&[OfferingItem]) -> Vec<DesiredItem>,
    ) -> Result<OfferingItemsWrite, AcronisError> {
        self.set_offering_items_from(tenant_id, None, desired).await
    }

    /// [`Self::set_offering_items`] from items the caller just read (`known`), read again
    /// only when the write meets a version conflict.
    pub async fn set_offering_items_from(
        &self,
        tenant_id: &str,
        known: Option<Vec<OfferingItem>>,
        desired: impl Fn(&[OfferingItem]) -> Vec<DesiredItem>,
    ) -> Result<OfferingItemsWrite, AcronisError> {
        let known = std::sync::Mutex::new(known);
        let attempt = || async {
            let first = known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let current = match first {
                Some(items) => items,
                None => self.offering_items(tenant_id).await?,
            };
            let (writes, unknown) =
                crate::domain::item_writes::item_writes(&current, &desired(&current));
            if writes.is_empty() {
                return Ok(OfferingItemsWrite {
                    changed: Vec::new(),
                    unknown,
                    before: current,
                });
            }
            let body = json!({ "offering_items": writes });
            let page = self
                .json::<Page<OfferingItem>>(
                    Method::PUT,
                    &format!("api/2/tenants/{tenant_id}/offering_items"),
                    &[],
                    Some(&body),
                )
                .await?;
            Ok(OfferingItemsWrite {
                changed: page.items,
                unknown,
                before: current,
            })
        };
        on_version_conflict(attempt).await
    }

    /// One batch of a read by id list, to its last page; notes the page size it reveals.
    pub(super) async fn id_chunk<T: DeserializeOwned>(
        &self,
        path: &str,
        param: &'static str,
        chunk: Vec<String>,
    ) -> Result<Vec<T>, AcronisError> {
        let q = vec![(param, chunk.join(",")), ("limit", BATCH.to_string())];
        let first: Page<T> = self.json(Method::GET, path, &q, None::<&()>).await?;
        let after = first.after().map(str::to_owned);
        let mut items = first.items;
        if let Some(after) = after {
            if !items.is_empty()
                && items.len() < chunk.len()
                && let Ok(mut pages) = self.id_pages.lock()
            {
                pages.insert(path.to_owned(), items.len());
            }
            let rest = vec![("limit", BATCH.to_string()), ("after", after)];
            items.extend(self.all_pages::<T>(path, rest, BATCH).await?);
        }
        Ok(items)
    }

    /// Current-period usage of many tenants (see [`Self::by_ids`]).
    pub async fn usages(&self, tenant_ids: &[String]) -> Result<Vec<TenantUsages>, AcronisError> {
        self.by_ids("api/2/tenants/usages", "tenants", tenant_ids)
            .await
    }
}
