//! Run records and the audit log.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;

impl Store {
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
        let expires =
            crate::clock::now() + chrono::Duration::from_std(retention).unwrap_or_default();
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
        let expires =
            crate::clock::now() + chrono::Duration::from_std(retention).unwrap_or_default();
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
