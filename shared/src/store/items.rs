//! Generic item helpers every concern builds on: encode and decode records, get, put, query a partition or an index collection, batch reads and writes.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;

impl Store {
    pub(super) fn item<T: Serialize>(record: &T, pk: String, sk: &str) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(record).map_err(|e| StoreError::Decode {
            key: format!("{pk}/{sk}"),
            reason: e.to_string(),
        })?;
        item.insert("pk".into(), s(pk));
        item.insert("sk".into(), s(sk));
        Ok(item)
    }

    pub(super) fn read<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
        let key = format!(
            "{}/{}",
            item.get("pk")
                .and_then(|v| v.as_s().ok())
                .map_or("?", String::as_str),
            item.get("sk")
                .and_then(|v| v.as_s().ok())
                .map_or("?", String::as_str)
        );
        // Key and housekeeping attributes belong to the table, not to the record.
        for attr in ["pk", "sk", "gsi1pk", "gsi1sk", "ttl"] {
            item.remove(attr);
        }
        serde_dynamo::from_item(item).map_err(|e| StoreError::Decode {
            key,
            reason: e.to_string(),
        })
    }

    /// Deletes one item (absent is fine).
    pub(super) async fn delete(&self, pk: String, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo)?;
        out.item.map(Self::read).transpose()
    }

    pub(super) async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    /// Every item of a partition (`pk`), optionally with an `sk` prefix, newest first if asked.
    pub(super) async fn query_partition<T: DeserializeOwned>(
        &self,
        pk: String,
        sk_prefix: Option<&str>,
        newest_first: bool,
        limit: Option<usize>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(pk.clone()))
                .scan_index_forward(!newest_first)
                .set_exclusive_start_key(start);
            q = match sk_prefix {
                Some(p) => q
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
                    .expression_attribute_names("#sk", "sk")
                    .expression_attribute_values(":p", s(p)),
                None => q.key_condition_expression("#pk = :pk"),
            };
            if let Some(l) = limit {
                q = q.limit((l - out.len()).min(1000) as i32);
            }
            let page = q.send().await.map_err(dynamo)?;
            for item in page.items.unwrap_or_default() {
                out.push(Self::read(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() || limit.is_some_and(|l| out.len() >= l) {
                return Ok(out);
            }
        }
    }

    /// Every item of a `gsi1` collection.
    pub(super) async fn query_index<T: DeserializeOwned>(
        &self,
        gsi1pk: &str,
        sk_prefix: Option<&str>,
    ) -> Result<Vec<T>, StoreError> {
        let range = sk_prefix.map_or(IndexRange::All, IndexRange::Prefix);
        self.query_index_range(gsi1pk, range).await
    }

    /// The items of a `gsi1` collection whose sort key is in `range`.
    pub(super) async fn query_index_range<T: DeserializeOwned>(
        &self,
        gsi1pk: &str,
        range: IndexRange<'_>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI1)
                .expression_attribute_names("#pk", "gsi1pk")
                .expression_attribute_values(":pk", s(gsi1pk))
                .set_exclusive_start_key(start);
            q = match range {
                IndexRange::All => q.key_condition_expression("#pk = :pk"),
                IndexRange::Prefix(p) => q
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
                    .expression_attribute_names("#sk", "gsi1sk")
                    .expression_attribute_values(":p", s(p)),
                IndexRange::Between(from, to) => q
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                    .expression_attribute_names("#sk", "gsi1sk")
                    .expression_attribute_values(":from", s(from))
                    .expression_attribute_values(":to", s(to)),
            };
            let page = q.send().await.map_err(dynamo)?;
            for item in page.items.unwrap_or_default() {
                out.push(Self::read(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// Puts many items, 25 per `BatchWriteItem`, a few batches at a time; what DynamoDB
    /// leaves unprocessed (throttling) is sent again with backoff, then reported.
    pub(super) async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut batches: Vec<Vec<WriteRequest>> = Vec::new();
        for chunk in items.chunks(BATCH_WRITE) {
            let mut batch = Vec::with_capacity(chunk.len());
            for item in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map_err(|e| StoreError::Dynamo(e.to_string()))?;
                batch.push(WriteRequest::builder().put_request(put).build());
            }
            batches.push(batch);
        }
        let results =
            futures::stream::iter(batches.into_iter().map(|batch| self.write_batch(batch)))
                .buffer_unordered(4)
                .collect::<Vec<_>>()
                .await;
        results.into_iter().collect()
    }

    pub(super) async fn write_batch(
        &self,
        batch: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<(), StoreError> {
        self.until_processed(batch, |batch| async {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(dynamo)?;
            Ok(out
                .unprocessed_items
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default())
        })
        .await
        .map_err(|left| left.into_error("items", "batch writes"))
    }

    /// Sends `requests` with `send` (which answers what DynamoDB left unprocessed, under
    /// throttling) and sends what is left again with backoff (backon), 8 times at most.
    pub(super) async fn until_processed<R, F, Fut>(
        &self,
        requests: Vec<R>,
        send: F,
    ) -> Result<(), Unprocessed>
    where
        F: Fn(Vec<R>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<R>, StoreError>>,
    {
        use backon::Retryable as _;
        let pending = std::sync::Mutex::new(requests);
        let attempt = || async {
            let batch = std::mem::take(&mut *lock(&pending));
            let left = send(batch).await.map_err(Unprocessed::Failed)?;
            if left.is_empty() {
                return Ok(());
            }
            let n = left.len();
            *lock(&pending) = left;
            Err(Unprocessed::Left(n))
        };
        attempt
            .retry(
                backon::ExponentialBuilder::default()
                    .with_min_delay(std::time::Duration::from_millis(50))
                    .with_max_delay(std::time::Duration::from_secs(2))
                    .with_max_times(7)
                    .with_jitter(),
            )
            .sleep(tokio::time::sleep)
            .when(|e| matches!(e, Unprocessed::Left(_)))
            .await
    }
}

/// Why a batch did not go through.
#[derive(Debug)]
pub(super) enum Unprocessed {
    /// This many requests were still left unprocessed (throttled) after the last try.
    Left(usize),
    Failed(StoreError),
}

impl Unprocessed {
    pub(super) fn into_error(self, what: &str, tries: &str) -> StoreError {
        match self {
            Self::Left(n) => StoreError::Dynamo(format!(
                "{n} {what} still unprocessed after 8 {tries} (throttled)"
            )),
            Self::Failed(e) => e,
        }
    }
}

/// A mutex that a panic elsewhere cannot poison for us (it guards plain data).
pub(super) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
