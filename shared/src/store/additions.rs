//! The addition records usage is written into, and agreements with a missing addition.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::items::lock;
use super::*;

impl Store {
    pub(super) fn addition_item(a: &AdditionRecord) -> Result<Item, StoreError> {
        let mut item = Self::item(
            a,
            keys::agreement(a.agreement_id),
            &keys::addition(a.product_id),
        )?;
        item.insert("gsi1pk".into(), s(keys::ADDITIONS_INDEX));
        item.insert(
            "gsi1sk".into(),
            s(keys::addition_sort(a.company_id, a.agreement_id)),
        );
        Ok(item)
    }

    pub async fn put_addition(&self, a: &AdditionRecord) -> Result<(), StoreError> {
        self.put(Self::addition_item(a)?).await
    }

    /// Puts many addition records in batches of 25 (unprocessed items are sent again).
    pub async fn put_additions(&self, records: &[AdditionRecord]) -> Result<(), StoreError> {
        let items = records
            .iter()
            .map(Self::addition_item)
            .collect::<Result<Vec<_>, _>>()?;
        self.put_many(items).await
    }

    pub async fn addition(
        &self,
        agreement_id: i64,
        product_id: i64,
    ) -> Result<Option<AdditionRecord>, StoreError> {
        self.get(keys::agreement(agreement_id), &keys::addition(product_id))
            .await
    }

    pub async fn additions_of_agreement(
        &self,
        agreement_id: i64,
    ) -> Result<Vec<AdditionRecord>, StoreError> {
        self.query_partition(
            keys::agreement(agreement_id),
            Some("ADDITION#"),
            false,
            None,
        )
        .await
    }

    /// The records of `products` on `agreements`, by `BatchGetItem` (100 keys a call, a few
    /// calls at a time; keys DynamoDB leaves unprocessed are asked again with backoff).
    pub async fn additions_of_agreements(
        &self,
        agreements: &[i64],
        products: &[i64],
    ) -> Result<Vec<AdditionRecord>, StoreError> {
        let keys: Vec<Item> = agreements
            .iter()
            .flat_map(|a| {
                products.iter().map(move |p| {
                    Item::from([
                        ("pk".to_owned(), s(keys::agreement(*a))),
                        ("sk".to_owned(), s(keys::addition(*p))),
                    ])
                })
            })
            .collect();
        let batches: Vec<Vec<Item>> = keys.chunks(BATCH_GET).map(<[Item]>::to_vec).collect();
        let results = futures::stream::iter(batches.into_iter().map(|b| self.get_batch(b)))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        let mut out = Vec::new();
        for items in results {
            for item in items? {
                out.push(Self::read(item)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn get_batch(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let found = std::sync::Mutex::new(Vec::new());
        let result = self
            .until_processed(keys, |keys| async {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Dynamo(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(dynamo)?;
                lock(&found).extend(
                    out.responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
                Ok(out
                    .unprocessed_keys
                    .and_then(|mut m| m.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default())
            })
            .await;
        result.map_err(|left| left.into_error("keys", "batch reads"))?;
        Ok(std::mem::take(&mut *lock(&found)))
    }

    /// Every addition record, grouped by company then agreement.
    pub async fn all_additions(&self) -> Result<Vec<AdditionRecord>, StoreError> {
        self.query_index(keys::ADDITIONS_INDEX, None).await
    }

    /// The addition records of the companies with ids in `first..=last` (one index range
    /// query: a shard reads its own records, not every partner's).
    pub async fn additions_of_companies(
        &self,
        first: i64,
        last: i64,
    ) -> Result<Vec<AdditionRecord>, StoreError> {
        let (from, to) = keys::addition_company_range(first, last);
        self.query_index_range(keys::ADDITIONS_INDEX, IndexRange::Between(&from, &to))
            .await
    }

    pub async fn put_missing_additions(&self, m: &MissingAdditions) -> Result<(), StoreError> {
        let sk = keys::agreement(m.agreement_id);
        self.put(Self::item(m, keys::MISSING_ADDITIONS.into(), &sk)?)
            .await
    }

    /// Every agreement with a missing addition.
    pub async fn missing_additions(&self) -> Result<Vec<MissingAdditions>, StoreError> {
        self.query_partition(keys::MISSING_ADDITIONS.into(), None, false, None)
            .await
    }

    pub async fn clear_missing_additions(&self, agreement_id: i64) -> Result<(), StoreError> {
        self.delete(
            keys::MISSING_ADDITIONS.to_owned(),
            &keys::agreement(agreement_id),
        )
        .await
    }
}
