//! The deprovisioning clock of a company that stopped qualifying (when it was first seen
//! so, what has run, what waits), and the mark that a mapped company has qualified.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;

impl Store {
    pub async fn deprovision_clock(
        &self,
        company_id: i64,
    ) -> Result<Option<DeprovisionClock>, StoreError> {
        self.get(keys::company(company_id), keys::NOT_QUALIFYING)
            .await
    }

    /// Stores the clock, in the collection the reconciler and `acw status` read.
    pub async fn put_deprovision_clock(&self, c: &DeprovisionClock) -> Result<(), StoreError> {
        let mut item = Self::item(c, keys::company(c.company_id), keys::NOT_QUALIFYING)?;
        item.insert("gsi1pk".into(), s(keys::DEPROVISIONING_INDEX));
        item.insert("gsi1sk".into(), s(keys::company_sort(c.company_id)));
        self.put(item).await
    }

    /// Stops the clock: the company qualifies again, or its tenant is gone.
    pub async fn clear_deprovision_clock(&self, company_id: i64) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::company(company_id)))
            .key("sk", s(keys::NOT_QUALIFYING))
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    /// Every company with a running clock (pending steps among them).
    pub async fn deprovision_clocks(&self) -> Result<Vec<DeprovisionClock>, StoreError> {
        self.query_index(keys::DEPROVISIONING_INDEX, None).await
    }

    /// Records that a mapped company qualifies (so that losing its agreement later
    /// deprovisions it). Only the mapping it was read as is rewritten: an unmapped or
    /// remapped company is left alone.
    pub async fn mark_qualified(
        &self,
        m: &CompanyMapping,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let marked = CompanyMapping {
            qualified_at: Some(at),
            ..m.clone()
        };
        let [by_company, _] = Self::mapping_items(&marked)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(by_company))
            .condition_expression("tenant_id = :tenant")
            .expression_attribute_values(":tenant", s(&m.tenant_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(dynamo(e)),
        }
    }
}
