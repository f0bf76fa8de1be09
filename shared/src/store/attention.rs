//! Needs-attention tickets: one record per (job, company) (see
//! [`crate::domain::attention`]).

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;
use crate::domain::attention::AttentionRecord;

impl Store {
    pub async fn attention_record(&self, key: &str) -> Result<Option<AttentionRecord>, StoreError> {
        self.get(keys::attention(key), keys::TICKET).await
    }

    /// Claims the right to open the ticket of `r.key`: only while no open record exists, so
    /// two deliveries for one company open one ticket. `false`: another holds it.
    pub async fn claim_attention(&self, r: &AttentionRecord) -> Result<bool, StoreError> {
        let item = Self::item(r, keys::attention(&r.key), keys::TICKET)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #open = :false")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        put_if(result)
    }

    pub async fn put_attention_record(&self, r: &AttentionRecord) -> Result<(), StoreError> {
        self.put(Self::item(r, keys::attention(&r.key), keys::TICKET)?)
            .await
    }
}
