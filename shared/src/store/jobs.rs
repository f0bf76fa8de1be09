//! Companies deferred while the job their decision belongs to was paused
//! (see [`crate::domain::jobs`]; the record is [`crate::domain::records::Deferred`]).

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;
use crate::domain::jobs::Job;

impl Store {
    /// Defers a company until `job` is resumed (a later deferral keeps the first's date).
    pub async fn defer(&self, company_id: i64, job: Job) -> Result<(), StoreError> {
        let d = Deferred {
            company_id,
            job,
            since: crate::clock::now(),
        };
        let mut item = Self::item(&d, keys::company(company_id), keys::DEFERRED)?;
        item.insert("gsi1pk".into(), s(keys::DEFERRED_INDEX));
        item.insert("gsi1sk".into(), s(keys::company_sort(company_id)));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR job <> :job")
            .expression_attribute_values(":job", s(job.name()))
            .send()
            .await;
        put_if(result).map(|_| ())
    }

    /// Every deferred company.
    pub async fn deferred(&self) -> Result<Vec<Deferred>, StoreError> {
        self.query_index(keys::DEFERRED_INDEX, None).await
    }

    pub async fn clear_deferred(&self, company_id: i64) -> Result<(), StoreError> {
        self.delete(keys::company(company_id), keys::DEFERRED).await
    }
}
