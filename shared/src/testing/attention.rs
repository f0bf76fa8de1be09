//! A fake of the needs-attention port ([`crate::services::attention::AttentionStore`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::domain::attention::{AttentionRecord, AttentionSettings};
use crate::services::attention::AttentionStore;
use crate::store::StoreError;

#[derive(Debug, Default)]
struct Records {
    settings: AttentionSettings,
    records: BTreeMap<String, AttentionRecord>,
    /// Claims to refuse as if another delivery held the record.
    claims_lost: u32,
}

/// The needs-attention records in memory, with the claim's condition.
#[derive(Debug, Clone, Default)]
pub struct FakeAttentionStore(Arc<Mutex<Records>>);

impl FakeAttentionStore {
    pub fn with_settings(settings: AttentionSettings) -> Self {
        let fake = Self::default();
        fake.0.lock().unwrap().settings = settings;
        fake
    }

    pub fn record(&self, key: &str) -> Option<AttentionRecord> {
        self.0.lock().unwrap().records.get(key).cloned()
    }

    pub fn put(&self, r: AttentionRecord) {
        self.0.lock().unwrap().records.insert(r.key.clone(), r);
    }

    /// The next `n` claims lose to another delivery.
    pub fn lose_claims(&self, n: u32) {
        self.0.lock().unwrap().claims_lost = n;
    }
}

impl AttentionStore for FakeAttentionStore {
    async fn attention_settings(&self) -> Result<AttentionSettings, StoreError> {
        Ok(self.0.lock().unwrap().settings.clone())
    }

    async fn attention_record(&self, key: &str) -> Result<Option<AttentionRecord>, StoreError> {
        Ok(self.record(key))
    }

    async fn claim_attention(&self, r: &AttentionRecord) -> Result<bool, StoreError> {
        let mut s = self.0.lock().unwrap();
        if s.claims_lost > 0 {
            s.claims_lost -= 1;
            return Ok(false);
        }
        if s.records.get(&r.key).is_some_and(|stored| stored.open) {
            return Ok(false);
        }
        s.records.insert(r.key.clone(), r.clone());
        Ok(true)
    }

    async fn put_attention_record(&self, r: &AttentionRecord) -> Result<(), StoreError> {
        self.0
            .lock()
            .unwrap()
            .records
            .insert(r.key.clone(), r.clone());
        Ok(())
    }
}
