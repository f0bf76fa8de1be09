//! The DynamoDB single table (key patterns in [`keys`]).
//!
//! Uniqueness is enforced by DynamoDB, not by reading first: the company ↔ tenant mapping
//! is written both ways in one transaction conditioned on neither side existing; claims,
//! dedupe records, alert tickets and cursors are conditional writes.

mod callbacks;
pub mod keys;
pub mod records;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use records::*;

type Item = HashMap<String, AttributeValue>;

/// Most changes and failures a run record keeps (an item must stay under 400 KB).
const MAX_RUN_ENTRIES: usize = 500;
/// Items per `BatchWriteItem` (DynamoDB's limit).
const BATCH_WRITE: usize = 25;
/// Keys per `BatchGetItem` (DynamoDB's limit).
const BATCH_GET: usize = 100;

/// A sort-key condition on a `gsi1` query.
#[derive(Debug, Clone, Copy)]
enum IndexRange<'a> {
    All,
    Prefix(&'a str),
    Between(&'a str, &'a str),
}

/// A store failure, typed where the caller has a decision to make.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("company {company_id} is already mapped to tenant {tenant_id}")]
    CompanyAlreadyMapped { company_id: i64, tenant_id: String },
    #[error("tenant {tenant_id} is already mapped to company {company_id}")]
    TenantAlreadyMapped { tenant_id: String, company_id: i64 },
    /// A conditional write lost to a concurrent one.
    #[error("{0} was changed concurrently")]
    Conflict(String),
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error("stored item {key} could not be read: {reason}")]
    Decode { key: String, reason: String },
}

fn dynamo<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Dynamo(DisplayErrorContext(e).to_string())
}

fn is_condition_failed<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>,
) -> bool {
    matches!(e.as_service_error(), Some(s) if s.is_conditional_check_failed_exception())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn epoch(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp().to_string())
}

/// The table and its operations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table as the template does (used by the local stack and tests).
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Dynamo(e.to_string()))
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(|e| StoreError::Dynamo(e.to_string()))
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(keys::GSI1)
                    .key_schema(key("gsi1pk", KeyType::Hash)?)
                    .key_schema(key("gsi1sk", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(|e| StoreError::Dynamo(e.to_string()))?,
            )
            .send()
            .await
            .map_err(dynamo)?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()
                    .map_err(|e| StoreError::Dynamo(e.to_string()))?,
            )
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    // ---- generic helpers ------------------------------------------------------------

    fn item<T: Serialize>(record: &T, pk: String, sk: &str) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(record).map_err(|e| StoreError::Decode {
            key: format!("{pk}/{sk}"),
            reason: e.to_string(),
        })?;
        item.insert("pk".into(), s(pk));
        item.insert("sk".into(), s(sk));
        Ok(item)
    }

    fn read<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
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

    async fn get<T: DeserializeOwned>(
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

    async fn put(&self, item: Item) -> Result<(), StoreError> {
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
    async fn query_partition<T: DeserializeOwned>(
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
    async fn query_index<T: DeserializeOwned>(
        &self,
        gsi1pk: &str,
        sk_prefix: Option<&str>,
    ) -> Result<Vec<T>, StoreError> {
        let range = sk_prefix.map_or(IndexRange::All, IndexRange::Prefix);
        self.query_index_range(gsi1pk, range).await
    }

    /// The items of a `gsi1` collection whose sort key is in `range`.
    async fn query_index_range<T: DeserializeOwned>(
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
    async fn put_many(&self, items: Vec<Item>) -> Result<(), StoreError> {
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

    async fn write_batch(
        &self,
        mut batch: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<(), StoreError> {
        let mut delay = std::time::Duration::from_millis(50);
        for _ in 0..8 {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(dynamo)?;
            batch = out
                .unprocessed_items
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default();
            if batch.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(2));
        }
        Err(StoreError::Dynamo(format!(
            "{} items still unprocessed after 8 batch writes (throttled)",
            batch.len()
        )))
    }

    // ---- tenants disabled by deprovisioning -------------------------------------------

    pub async fn put_disabled_tenant(&self, d: &DisabledTenant) -> Result<(), StoreError> {
        self.put(Self::item(d, keys::company(d.company_id), keys::DISABLED)?)
            .await
    }

    pub async fn disabled_tenant(
        &self,
        company_id: i64,
    ) -> Result<Option<DisabledTenant>, StoreError> {
        self.get(keys::company(company_id), keys::DISABLED).await
    }

    pub async fn clear_disabled_tenant(&self, company_id: i64) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::company(company_id)))
            .key("sk", s(keys::DISABLED))
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    // ---- company ↔ tenant mapping ----------------------------------------------------

    /// The two items of a mapping: by company (indexed) and by tenant.
    fn mapping_items(m: &CompanyMapping) -> Result<[Item; 2], StoreError> {
        let mut by_company = Self::item(m, keys::company(m.company_id), keys::MAPPING)?;
        by_company.insert("gsi1pk".into(), s(keys::MAPPINGS_INDEX));
        by_company.insert("gsi1sk".into(), s(keys::company_sort(m.company_id)));
        let by_tenant = Self::item(m, keys::tenant(&m.tenant_id), keys::MAPPING)?;
        Ok([by_company, by_tenant])
    }

    /// Loads mappings in batches **without** the one-to-one check of [`Store::map_company`]:
    /// only for seeding an empty table with pairs known to be distinct (benchmarks).
    pub async fn load_mappings_unchecked(&self, ms: &[CompanyMapping]) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(ms.len() * 2);
        for m in ms {
            items.extend(Self::mapping_items(m)?);
        }
        self.put_many(items).await
    }

    /// Stores the mapping both ways in one transaction; refuses when the company or the
    /// tenant is already mapped (to anything, the same pair included).
    pub async fn map_company(&self, m: &CompanyMapping) -> Result<(), StoreError> {
        let [by_company, by_tenant] = Self::mapping_items(m)?;
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            Ok(TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                )
                .build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(by_company)?)
            .transact_items(put(by_tenant)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons: Vec<bool> = match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code() == Some("ConditionalCheckFailed"))
                        .collect(),
                    _ => return Err(dynamo(e)),
                };
                if reasons.first() == Some(&true)
                    && let Some(existing) = self.mapping_by_company(m.company_id).await?
                {
                    return Err(StoreError::CompanyAlreadyMapped {
                        company_id: m.company_id,
                        tenant_id: existing.tenant_id,
                    });
                }
                if reasons.get(1) == Some(&true)
                    && let Some(existing) = self.mapping_by_tenant(&m.tenant_id).await?
                {
                    return Err(StoreError::TenantAlreadyMapped {
                        tenant_id: m.tenant_id.clone(),
                        company_id: existing.company_id,
                    });
                }
                Err(StoreError::Conflict(format!(
                    "mapping of company {}",
                    m.company_id
                )))
            }
        }
    }

    pub async fn mapping_by_company(
        &self,
        company_id: i64,
    ) -> Result<Option<CompanyMapping>, StoreError> {
        self.get(keys::company(company_id), keys::MAPPING).await
    }

    pub async fn mapping_by_tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Option<CompanyMapping>, StoreError> {
        self.get(keys::tenant(tenant_id), keys::MAPPING).await
    }

    /// Every mapping, by company id.
    pub async fn mappings(&self) -> Result<Vec<CompanyMapping>, StoreError> {
        self.query_index(keys::MAPPINGS_INDEX, None).await
    }

    /// Removes a company's mapping both ways (only if they still point at each other).
    pub async fn unmap_company(
        &self,
        company_id: i64,
    ) -> Result<Option<CompanyMapping>, StoreError> {
        let Some(m) = self.mapping_by_company(company_id).await? else {
            return Ok(None);
        };
        let delete = |pk: String,
                      cond: &str,
                      value: AttributeValue,
                      name: &str|
         -> Result<TransactWriteItem, StoreError> {
            Ok(TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .key("pk", s(pk))
                        .key("sk", s(keys::MAPPING))
                        .condition_expression(cond)
                        .expression_attribute_names("#f", name)
                        .expression_attribute_values(":v", value)
                        .build()
                        .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                )
                .build())
        };
        self.client
            .transact_write_items()
            .transact_items(delete(keys::company(company_id), "#f = :v", s(m.tenant_id.clone()), "tenant_id")?)
            .transact_items(delete(
                keys::tenant(&m.tenant_id),
                "#f = :v",
                AttributeValue::N(company_id.to_string()),
                "company_id",
            )?)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(_)) => {
                    StoreError::Conflict(format!("mapping of company {company_id}"))
                }
                _ => dynamo(e),
            })?;
        Ok(Some(m))
    }

    // ---- provisioning claims -----------------------------------------------------------

    /// Claims a company for provisioning for `lease`; true when this caller holds it (a new
    /// claim, an expired one, or its own).
    pub async fn claim_company(
        &self,
        company_id: i64,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::company(company_id)))
            .item("sk", s(keys::CLAIM))
            .item("owner", s(owner))
            .item("ttl", epoch(expires))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now OR #owner = :owner")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", epoch(now))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(dynamo(e)),
        }
    }

    /// Releases a claim this caller holds.
    pub async fn release_claim(&self, company_id: i64, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::company(company_id)))
            .key("sk", s(keys::CLAIM))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(s) if s.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(dynamo(e)),
        }
    }

    // ---- dedupe ----------------------------------------------------------------------

    /// Records `id` in `scope` for `ttl`; true the first time, false while it is remembered.
    /// (DynamoDB deletes expired items lazily, so an expired record counts as absent.)
    pub async fn remember_once(
        &self,
        scope: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let mut item = Item::new();
        item.insert("pk".into(), s(keys::dedupe(scope, id)));
        item.insert("sk".into(), s(keys::DEDUPE));
        item.insert("seen_at".into(), s(now.to_rfc3339()));
        self.put_unless_remembered(item, now, ttl).await
    }

    /// Puts a dedupe `item` expiring `ttl` after `now`, unless an unexpired one is there:
    /// true when it was put.
    async fn put_unless_remembered(
        &self,
        mut item: Item,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or_default();
        item.insert("ttl".into(), epoch(expires));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", epoch(Utc::now()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(dynamo(e)),
        }
    }

    /// Forgets a dedupe record (when the work it guarded failed and must be redone).
    pub async fn forget(&self, scope: &str, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::dedupe(scope, id)))
            .key("sk", s(keys::DEDUPE))
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    // ---- settings, product mappings ----------------------------------------------------

    /// A settings section, or `None` when never saved (callers use the defaults).
    pub async fn settings<T: DeserializeOwned>(
        &self,
        section: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get(keys::SETTINGS.to_owned(), section).await
    }

    pub async fn put_settings<T: Serialize>(
        &self,
        section: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.put(Self::item(value, keys::SETTINGS.to_owned(), section)?)
            .await
    }

    pub async fn put_product_mapping(&self, m: &ProductMapping) -> Result<(), StoreError> {
        let sk = keys::product_item(&m.offering_item, m.infra_id.as_deref());
        self.put(Self::item(m, keys::PRODUCT_MAP.to_owned(), &sk)?)
            .await
    }

    pub async fn product_mappings(&self) -> Result<Vec<ProductMapping>, StoreError> {
        self.query_partition(keys::PRODUCT_MAP.to_owned(), Some("ITEM#"), false, None)
            .await
    }

    pub async fn delete_product_mapping(
        &self,
        offering_item: &str,
        infra_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::PRODUCT_MAP))
            .key("sk", s(keys::product_item(offering_item, infra_id)))
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    // ---- additions -------------------------------------------------------------------

    fn addition_item(a: &AdditionRecord) -> Result<Item, StoreError> {
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

    async fn get_batch(&self, mut keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::new();
        let mut delay = std::time::Duration::from_millis(50);
        for _ in 0..8 {
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
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            keys = out
                .unprocessed_keys
                .and_then(|mut m| m.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(found);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(2));
        }
        Err(StoreError::Dynamo(format!(
            "{} keys still unprocessed after 8 batch reads (throttled)",
            keys.len()
        )))
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
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::MISSING_ADDITIONS))
            .key("sk", s(keys::agreement(agreement_id)))
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    // ---- alert tickets -------------------------------------------------------------------

    /// Creates the record of an alert key; false when one exists (another delivery won).
    pub async fn create_alert_ticket(&self, t: &AlertTicket) -> Result<bool, StoreError> {
        let item = self.alert_ticket_item(t)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(dynamo(e)),
        }
    }

    /// Writes `t` if the stored revision is still `t.revision - 1`.
    pub async fn update_alert_ticket(&self, t: &AlertTicket) -> Result<(), StoreError> {
        let item = self.alert_ticket_item(t)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#rev = :prev")
            .expression_attribute_names("#rev", "revision")
            .expression_attribute_values(
                ":prev",
                AttributeValue::N(t.revision.saturating_sub(1).to_string()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict(format!(
                "alert ticket {}",
                t.alert_key
            ))),
            Err(e) => Err(dynamo(e)),
        }
    }

    fn alert_ticket_item(&self, t: &AlertTicket) -> Result<Item, StoreError> {
        let mut item = Self::item(t, keys::alert(&t.alert_key), keys::TICKET)?;
        if t.state != TicketState::Closed {
            item.insert("gsi1pk".into(), s(keys::OPEN_TICKETS_INDEX));
            item.insert("gsi1sk".into(), s(t.alert_key.clone()));
        }
        Ok(item)
    }

    pub async fn alert_ticket(&self, alert_key: &str) -> Result<Option<AlertTicket>, StoreError> {
        self.get(keys::alert(alert_key), keys::TICKET).await
    }

    /// Alert tickets not closed.
    pub async fn open_alert_tickets(&self) -> Result<Vec<AlertTicket>, StoreError> {
        self.query_index(keys::OPEN_TICKETS_INDEX, None).await
    }

    // ---- cursors -----------------------------------------------------------------------

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
                updated_at: Utc::now(),
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

    // ---- run records and audit -------------------------------------------------------------

    /// Stores a run record, kept `retention` long. Long change and failure lists are cut
    /// (marked `truncated`) to stay within DynamoDB's item size.
    pub async fn put_run(&self, run: &RunRecord, retention: Duration) -> Result<(), StoreError> {
        let mut run = run.clone();
        if run.changes.len() > MAX_RUN_ENTRIES || run.failures.len() > MAX_RUN_ENTRIES {
            run.changes.truncate(MAX_RUN_ENTRIES);
            run.failures.truncate(MAX_RUN_ENTRIES);
            run.truncated = true;
        }
        let sk = format!("{}#{}", run.started_at.to_rfc3339(), run.run_id);
        let mut item = Self::item(&run, keys::run(&run.function), &sk)?;
        let expires = Utc::now() + chrono::Duration::from_std(retention).unwrap_or_default();
        item.insert("ttl".into(), epoch(expires));
        self.put(item).await
    }

    /// The latest runs of a function, newest first.
    pub async fn latest_runs(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.query_partition(keys::run(function), None, true, Some(limit.max(1)))
            .await
    }

    pub async fn append_audit(
        &self,
        entry: &AuditEntry,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let sk = format!("{}#{}", entry.at.to_rfc3339(), entry.id);
        let mut item = Self::item(entry, keys::audit_day(entry.at.date_naive()), &sk)?;
        let expires = Utc::now() + chrono::Duration::from_std(retention).unwrap_or_default();
        item.insert("ttl".into(), epoch(expires));
        self.put(item).await
    }

    /// The audit entries of one day, oldest first.
    pub async fn audit_of_day(
        &self,
        date: chrono::NaiveDate,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.query_partition(keys::audit_day(date), None, false, None)
            .await
    }
}
