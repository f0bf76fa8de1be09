//! Dedupe records: a conditional put remembers an id for a while. The webhook's record of a
//! verified callback also says what it was and how its signing key was had (collection
//! `CALLBACKS`), so that `acw doctor` can report what real callbacks look like, and see one
//! arrive when it probes, without a second write per callback.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;

impl Store {
    /// Records `id` in `scope` for `ttl`; true the first time, false while it is remembered.
    /// (DynamoDB deletes expired items lazily, so an expired record counts as absent.)
    pub async fn remember_once(
        &self,
        scope: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = crate::clock::now();
        let mut item = Item::new();
        item.insert("pk".into(), s(keys::dedupe(scope, id)));
        item.insert("sk".into(), s(keys::DEDUPE));
        item.insert("seen_at".into(), s(now.to_rfc3339()));
        self.put_unless_remembered(item, now, ttl).await
    }

    /// Puts a dedupe `item` expiring `ttl` after `now`, unless an unexpired one is there:
    /// true when it was put.
    pub(super) async fn put_unless_remembered(
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
            .expression_attribute_values(":now", epoch(crate::clock::now()))
            .send()
            .await;
        put_if(result)
    }

    /// Forgets a dedupe record (when the work it guarded failed and must be redone).
    pub async fn forget(&self, scope: &str, id: &str) -> Result<(), StoreError> {
        self.delete(keys::dedupe(scope, id), keys::DEDUPE).await
    }

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

    /// The latest verified callback (one item read, newest first).
    pub async fn last_callback(&self) -> Result<Option<CallbackSeen>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", "gsi1pk")
            .expression_attribute_values(":pk", s(keys::CALLBACKS_INDEX))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(dynamo)?;
        page.items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(Self::read)
            .transpose()
    }
}
