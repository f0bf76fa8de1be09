//! Verified callbacks: the webhook's dedupe record of each one also says what it was and how
//! its signing key was had, so that `acw doctor` can report what real callbacks look like
//! (and see one arrive when it probes), without a second write per callback.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{IndexRange, Store, StoreError, dynamo, epoch, is_condition_failed, keys, s};
use crate::store::records::CallbackSeen;

impl Store {
    /// [`Store::remember_once`] for a verified callback's `MessageId`, with what it was:
    /// true the first time, false for a duplicate within `ttl`.
    pub async fn remember_callback(
        &self,
        scope: &str,
        message_id: &str,
        ttl: Duration,
        seen: &CallbackSeen,
    ) -> Result<bool, StoreError> {
        let now = seen.seen_at;
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or_default();
        let mut item = Self::item(seen, keys::dedupe(scope, message_id), keys::DEDUPE)?;
        item.insert("ttl".into(), epoch(expires));
        item.insert("gsi1pk".into(), s(keys::CALLBACKS_INDEX));
        item.insert("gsi1sk".into(), s(keys::callback_sort(now, message_id)));
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

    /// The verified callbacks seen since `since`, oldest first (kept as long as their dedupe
    /// records).
    pub async fn callbacks_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<CallbackSeen>, StoreError> {
        let from = keys::callback_sort(since, "");
        self.query_index_range(keys::CALLBACKS_INDEX, IndexRange::Between(&from, "~"))
            .await
    }
}
