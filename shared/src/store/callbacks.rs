//! Verified callbacks: the webhook's dedupe record of each one also says what it was and how
//! its signing key was had, so that `acw doctor` can report what real callbacks look like
//! (and see one arrive when it probes), without a second write per callback.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{IndexRange, Store, StoreError, keys, s};
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
        let mut item = Self::item(seen, keys::dedupe(scope, message_id), keys::DEDUPE)?;
        item.insert("gsi1pk".into(), s(keys::CALLBACKS_INDEX));
        item.insert(
            "gsi1sk".into(),
            s(keys::callback_sort(seen.seen_at, message_id)),
        );
        self.put_unless_remembered(item, seen.seen_at, ttl).await
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
