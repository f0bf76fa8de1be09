//! Provisioning claims (leases that keep two workers off one company, and the single flight
//! of a company's runs) and the tenants deprovisioning disabled.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;

/// How [`Store::claim_company`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This caller took it (it was free, its lease had passed, or it is its own).
    Acquired,
    /// This caller already held it (a provisioning inside its own company run).
    AlreadyHeld,
    /// Another run holds it.
    Busy,
}

/// Where a company's single flight stands for a delivery whose change was observed at
/// `seen` (see [`Store::claim_sync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncClaim {
    /// This caller holds the company; its reads start at `since`.
    Claimed { since: DateTime<Utc> },
    /// A run that finished read the company after the change: nothing left to do.
    Covered,
    /// A run holds the company and sees the change: it started reading after it, or it was
    /// told to read once more before it lets go.
    Handed,
    /// The claim kept changing under this caller: try again later.
    Contended,
}

/// The claim item's state (`COMPANY#{id}` / `CLAIM`); times in epoch milliseconds.
#[derive(Debug, Default, serde::Deserialize)]
struct ClaimState {
    owner: Option<String>,
    /// The owner that claimed it for a single flight (an administrator's provisioning
    /// claims without one, and reads nothing handed over).
    flight: Option<String>,
    /// The lease ends (epoch seconds).
    lease: Option<i64>,
    /// When the holder's reads started.
    since_ms: Option<i64>,
    /// When the reads of the last run that finished started.
    read_ms: Option<i64>,
    /// The latest change handed to the holder after its reads started.
    dirty_ms: Option<i64>,
}

impl ClaimState {
    fn held_by_other(&self, owner: &str, now: DateTime<Utc>) -> bool {
        self.owner.as_deref().is_some_and(|o| o != owner)
            && self.lease.is_some_and(|l| l >= now.timestamp())
    }

    /// Held by a single flight, which reads what is handed to it.
    fn in_flight(&self) -> bool {
        self.owner.is_some() && self.owner == self.flight
    }
}

/// How long the claim item outlives its last write (the table's TTL removes it): a record
/// of the last read matters only while a sale's callbacks are still arriving.
const CLAIM_KEEP: chrono::Duration = chrono::Duration::days(1);

fn millis(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp_millis().to_string())
}

fn update_failed<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    matches!(e.as_service_error(), Some(s) if s.is_conditional_check_failed_exception())
}

/// The item a failed conditional update found (asked with `ReturnValuesOnConditionCheckFailure`).
fn found_item<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> Option<Item> {
    match e.as_service_error() {
        Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => {
            c.item().cloned()
        }
        _ => None,
    }
}

impl Store {
    /// A conditional update of the claim item of `company_id` (every claim write is one;
    /// each adds its own expression, names and values: DynamoDB refuses unused names).
    fn claim_update(&self, company_id: i64) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::company(company_id)))
            .key("sk", s(keys::CLAIM))
    }

    /// Claims a company for provisioning for `lease`.
    pub async fn claim_company(
        &self,
        company_id: i64,
        owner: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let now = crate::clock::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let result = self            .claim_update(company_id)
            .update_expression("SET #owner = :owner, #lease = :lease, #ttl = :ttl")
            .condition_expression(
                "attribute_not_exists(#owner) OR attribute_not_exists(#lease) OR #lease < :now OR #owner = :owner",
            )
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#lease", "lease")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":lease", epoch(until))
            .expression_attribute_values(":ttl", epoch(until + CLAIM_KEEP))
            .expression_attribute_values(":now", epoch(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                // Run ids are unique: the same owner is this run, whatever its lease says.
                let before = out.attributes.unwrap_or_default();
                let held =
                    before.get("owner").and_then(|v| v.as_s().ok()) == Some(&owner.to_owned());
                Ok(if held {
                    Claim::AlreadyHeld
                } else {
                    Claim::Acquired
                })
            }
            Err(e) if update_failed(&e) => Ok(Claim::Busy),
            Err(e) => Err(dynamo(e)),
        }
    }

    /// Notes, on the claim this caller holds, that it is about to create the company's
    /// tenant: a later attempt then looks for that tenant first (the POST may have been
    /// applied before the attempt died), even when the company's name changed since.
    pub async fn note_tenant_post(&self, company_id: i64, owner: &str) -> Result<(), StoreError> {
        self.claim_update(company_id)
            .update_expression("SET #posted = :now")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#posted", "tenant_post_ms")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", millis(crate::clock::now()))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    /// Whether an attempt noted a tenant POST for this company (see
    /// [`Store::note_tenant_post`]).
    pub async fn tenant_post_noted(&self, company_id: i64) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct Noted {
            tenant_post_ms: Option<i64>,
        }
        Ok(self
            .get::<Noted>(keys::company(company_id), keys::CLAIM)
            .await?
            .is_some_and(|n| n.tenant_post_ms.is_some()))
    }

    /// Releases a claim this caller holds (what it recorded of its reads stays).
    pub async fn release_claim(&self, company_id: i64, owner: &str) -> Result<(), StoreError> {
        let result = self
            .claim_update(company_id)
            .update_expression("REMOVE #owner, #flight, #lease, #since")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#flight", "flight")
            .expression_attribute_names("#lease", "lease")
            .expression_attribute_names("#since", "since_ms")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if update_failed(&e) => Ok(()),
            Err(e) => Err(dynamo(e)),
        }
    }

    /// The single flight of a company's runs, for a delivery whose change was observed at
    /// `seen`. A change counts as read by a run whose reads started at least `margin` after
    /// it (the margin covers the clocks of two machines). The delivery
    /// - is covered when a finished run read after its change;
    /// - is handed to the run holding the company: as it is when that run's reads started
    ///   after the change, else marked so that the run reads once more before letting go;
    /// - otherwise claims the company for `lease`, its reads starting now, or at
    ///   `settle` after the change when that is later (the caller waits until then, so that
    ///   the other callbacks of one edit are handed to it as they are).
    pub async fn claim_sync(
        &self,
        company_id: i64,
        owner: &str,
        seen: DateTime<Utc>,
        (margin, settle): (Duration, Duration),
        lease: Duration,
    ) -> Result<SyncClaim, StoreError> {
        let read_by = seen + chrono::Duration::from_std(margin).unwrap_or_default();
        let settled = seen + chrono::Duration::from_std(settle).unwrap_or_default();
        for _ in 0..4 {
            let now = crate::clock::now();
            let since = now.max(settled);
            let until = since + chrono::Duration::from_std(lease).unwrap_or_default();
            let claimed = self                .claim_update(company_id)
                .update_expression(
                    "SET #owner = :owner, #flight = :owner, #lease = :lease, #since = :since, #ttl = :ttl REMOVE #dirty",
                )
                .condition_expression(
                    "(attribute_not_exists(#owner) OR attribute_not_exists(#lease) OR #lease < :now OR #owner = :owner) \
                     AND (attribute_not_exists(#read) OR #read < :read_by)",
                )
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_names("#flight", "flight")
                .expression_attribute_names("#lease", "lease")
                .expression_attribute_names("#since", "since_ms")
                .expression_attribute_names("#read", "read_ms")
                .expression_attribute_names("#dirty", "dirty_ms")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":owner", s(owner))
                .expression_attribute_values(":lease", epoch(until))
                .expression_attribute_values(":since", millis(since))
                .expression_attribute_values(":ttl", epoch(until + CLAIM_KEEP))
                .expression_attribute_values(":now", epoch(now))
                .expression_attribute_values(":read_by", millis(read_by))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            // A failed claim answers with the claim as it found it.
            let found = match claimed {
                Ok(out) => {
                    // A change handed to a run that let go unread (its lease passed, or it
                    // failed) is read from now on: not before its margin has passed.
                    let before: ClaimState = match out.attributes {
                        Some(item) if !item.is_empty() => Self::read(item)?,
                        _ => ClaimState::default(),
                    };
                    let since = before
                        .dirty_ms
                        .and_then(DateTime::<Utc>::from_timestamp_millis)
                        .map_or(since, |d| {
                            since.max(d + chrono::Duration::from_std(margin).unwrap_or_default())
                        });
                    return Ok(SyncClaim::Claimed { since });
                }
                Err(e) if update_failed(&e) => found_item(&e),
                Err(e) => return Err(dynamo(e)),
            };
            let state: ClaimState = match found {
                Some(item) => Self::read(item)?,
                None => self
                    .get(keys::company(company_id), keys::CLAIM)
                    .await?
                    .unwrap_or_default(),
            };
            let read_by_ms = read_by.timestamp_millis();
            if state.read_ms.is_some_and(|r| r >= read_by_ms) {
                return Ok(SyncClaim::Covered);
            }
            if !state.held_by_other(owner, now) {
                continue; // let go meanwhile: claim again
            }
            if !state.in_flight() {
                // An administrator's provisioning holds it: this delivery waits its turn.
                return Ok(SyncClaim::Contended);
            }
            if state.since_ms.is_some_and(|s| s >= read_by_ms)
                || state.dirty_ms.is_some_and(|d| d >= seen.timestamp_millis())
            {
                return Ok(SyncClaim::Handed);
            }
            let marked = self                .claim_update(company_id)
                .update_expression("SET #dirty = :seen")
                .condition_expression(
                    "#owner = :holder AND #flight = :holder AND #lease >= :now AND (attribute_not_exists(#dirty) OR #dirty < :seen)",
                )
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_names("#flight", "flight")
                .expression_attribute_names("#lease", "lease")
                .expression_attribute_names("#dirty", "dirty_ms")
                .expression_attribute_values(":holder", s(state.owner.unwrap_or_default()))
                .expression_attribute_values(":now", epoch(now))
                .expression_attribute_values(":seen", millis(seen))
                .send()
                .await;
            match marked {
                Ok(_) => return Ok(SyncClaim::Handed),
                Err(e) if update_failed(&e) => {}
                Err(e) => return Err(dynamo(e)),
            }
        }
        Ok(SyncClaim::Contended)
    }

    /// Ends this caller's turn on a company it claimed with [`Store::claim_sync`], whose
    /// reads started at `since`. After a run that `completed` (decided from what it read,
    /// whatever the outcome), a change handed to it meanwhile keeps the claim: the caller
    /// gets the start of its next reads and runs again. Otherwise the claim is let go,
    /// recording the reads of a completed run as the company's latest.
    pub async fn finish_sync(
        &self,
        company_id: i64,
        owner: &str,
        (since, margin): (DateTime<Utc>, Duration),
        completed: bool,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let key = || {
            self.claim_update(company_id)
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(owner))
        };
        if !completed {
            self.release_claim(company_id, owner).await?;
            return Ok(None);
        }
        let released = key()
            .update_expression("SET #read = :since REMOVE #owner, #flight, #lease, #since")
            .condition_expression("#owner = :owner AND attribute_not_exists(#dirty)")
            .expression_attribute_names("#flight", "flight")
            .expression_attribute_names("#read", "read_ms")
            .expression_attribute_names("#lease", "lease")
            .expression_attribute_names("#since", "since_ms")
            .expression_attribute_names("#dirty", "dirty_ms")
            .expression_attribute_values(":since", millis(since))
            .send()
            .await;
        match released {
            Ok(_) => return Ok(None),
            Err(e) if update_failed(&e) => {}
            Err(e) => return Err(dynamo(e)),
        }
        // A change was handed over: read again, still holding the company, from a margin
        // after now (every change handed over so far was observed before now).
        let next = crate::clock::now() + chrono::Duration::from_std(margin).unwrap_or_default();
        let again = key()
            .update_expression("SET #since = :next REMOVE #dirty")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#since", "since_ms")
            .expression_attribute_names("#dirty", "dirty_ms")
            .expression_attribute_values(":next", millis(next))
            .send()
            .await;
        match again {
            Ok(_) => Ok(Some(next)),
            // Its lease passed and another run holds the company now: that run reads after it.
            Err(e) if update_failed(&e) => Ok(None),
            Err(e) => Err(dynamo(e)),
        }
    }

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
        self.delete(keys::company(company_id), keys::DISABLED).await
    }
}
