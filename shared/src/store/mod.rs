//! The DynamoDB single table (key patterns in [`keys`]). [`Store`] is one type; each file
//! below adds the operations of one concern (mappings, claims, deprovisioning, deferred
//! companies, dedupe, settings, additions, tickets, cursors, runs) over the item helpers of `items`.
//!
//! Uniqueness is enforced by DynamoDB, not by reading first: the company ↔ tenant mapping
//! is written both ways in one transaction conditioned on neither side existing; claims,
//! dedupe records, alert tickets and cursors are conditional writes.

mod additions;
mod attention;
mod budget;
mod claims;
mod company;
mod cursors;
mod dedupe;
mod deprovisioning;
mod items;
mod jobs;
pub mod keys;
mod mappings;
pub mod records;
mod runs;
mod settings;
mod table;
mod tickets;

use std::collections::{BTreeSet, HashMap};
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

pub use claims::{Claim, SyncClaim};
pub use company::CompanyRecords;
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

impl StoreError {
    /// Worth retrying: DynamoDB unavailable, a lost race, or an item this version cannot
    /// read (another version wrote it: during a deploy or a rollback, the version that reads
    /// it will run soon, so the work waits in Lambda's retries and the on-failure queue
    /// rather than being dropped or sent to a person).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Dynamo(_) | Self::Conflict(_) | Self::Decode { .. }
        )
    }
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

/// A conditional `PutItem`'s result: `true` when it was put, `false` when its condition
/// failed (the item was there), an error otherwise.
fn put_if<O, R>(
    result: Result<O, SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>>,
) -> Result<bool, StoreError>
where
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(dynamo(e)),
    }
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
}
