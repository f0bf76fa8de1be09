//! The deprovisioning clock of a company that stopped qualifying (when it was first seen
//! so, what has run, what waits), the mark that a mapped company has qualified, and the
//! next day its agreements change its state by themselves.

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
        self.delete(keys::company(company_id), keys::NOT_QUALIFYING)
            .await
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
        put_if(result).map(|_| ())
    }
}

impl Store {
    pub async fn next_change(&self, company_id: i64) -> Result<Option<NextChange>, StoreError> {
        self.get(keys::company(company_id), keys::NEXT_CHANGE).await
    }

    /// Keeps (or, with `None`, forgets) the company's next change day, in the collection
    /// the reconciler reads by day.
    pub async fn set_next_change(
        &self,
        company_id: i64,
        on: Option<chrono::NaiveDate>,
    ) -> Result<(), StoreError> {
        match on {
            Some(on) => {
                let record = NextChange { company_id, on };
                let mut item = Self::item(&record, keys::company(company_id), keys::NEXT_CHANGE)?;
                item.insert("gsi1pk".into(), s(keys::DATES_INDEX));
                item.insert("gsi1sk".into(), s(keys::date_sort(on, company_id)));
                self.put(item).await
            }
            None => {
                self.delete(keys::company(company_id), keys::NEXT_CHANGE)
                    .await
            }
        }
    }

    /// The companies whose next change day is `day` or earlier.
    pub async fn changes_due(&self, day: chrono::NaiveDate) -> Result<Vec<NextChange>, StoreError> {
        let to = format!("{}#~", day.format("%Y-%m-%d"));
        self.query_index_range(keys::DATES_INDEX, IndexRange::Between("0", &to))
            .await
    }
}
