//! A push: the usages of a shard's tenants → its plan ([`rules_push::plan_push`]) → the
//! writes, and the preview of a whole cycle.

use super::*;

impl UsagePush {
    /// Reads the usages of `companies` and writes the additions whose quantity changed;
    /// returns the companies whose writes the deadline left undone.
    pub async fn push(
        &self,
        companies: &[ShardCompany],
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<BTreeSet<i64>, UsageError> {
        let plan = self.plan_push(companies, Known::default(), run).await?;
        self.apply_push(plan, run, deadline).await
    }

    /// The run id of the last plan that fanned out shards (a hand-off of an older one is
    /// superseded: `domain::usage_handoff::superseded`).
    pub async fn latest_plan(&self) -> Result<Option<String>, UsageError> {
        let state: Option<PushState> = self.store.cursor(STATE).await?;
        Ok(state.and_then(|s| s.latest_plan))
    }

    /// What a cycle would write, with nothing written (`acw sync usage --dry-run`): the
    /// reads of [`Self::read_cycle`], then the push plan of every mapped company from the
    /// records just read (in place of the stored ones).
    pub async fn preview(&self, run: &mut RunRecord) -> Result<PushPlan, UsageError> {
        let reads = self.read_cycle(run, Deadline::none()).await?;
        let companies = reads.companies();
        let known = Known {
            records: &reads.recorded,
            inactive: Some(&reads.state.inactive_agreements),
            product_mappings: Some(&reads.product_mappings),
        };
        self.plan_push(&companies, known, run).await
    }

    /// The push plan of `companies` (see [`rules_push::plan_push`]): their stored records
    /// (with what is [`Known`] in place of the stored), and the usages of their tenants (100
    /// per call).
    pub async fn plan_push(
        &self,
        companies: &[ShardCompany],
        known: Known<'_>,
        run: &mut RunRecord,
    ) -> Result<PushPlan, UsageError> {
        let read = known.records;
        let product_mappings: Vec<ProductMapping> = match known.product_mappings {
            Some(m) => m.to_vec(),
            None => self.store.product_mappings().await?,
        };
        let (settings, billing): (UsageSettings, BillingSettings) =
            tokio::try_join!(self.store.section(), self.store.section())?;
        let inactive = match known.inactive {
            Some(i) => i.clone(),
            None => {
                let state: PushState = self.store.cursor(STATE).await?.unwrap_or_default();
                state.inactive_agreements
            }
        };
        // The MSP's day: an addition bills on its calendar days.
        let today = calendar::local_day(self.now(), billing.zone());
        // This shard's records: one index range.
        let mut records = match (
            companies.iter().map(|c| c.company_id).min(),
            companies.iter().map(|c| c.company_id).max(),
        ) {
            (Some(first), Some(last)) => self.store.additions_of_companies(first, last).await?,
            _ => Vec::new(),
        };
        let fresh: BTreeSet<(i64, i64)> = read
            .iter()
            .map(|r| (r.agreement_id, r.product_id))
            .collect();
        records.retain(|r| !fresh.contains(&(r.agreement_id, r.product_id)));
        records.extend(read.iter().cloned());

        // Usages, 100 tenants per call, each from its own connection: one data centre's
        // failures are its own companies'.
        let batches = self.read_all_usages(companies).await;
        let mut usages: HashMap<String, TenantUsages> = HashMap::new();
        for (got, failed) in batches {
            for t in got {
                usages.insert(t.tenant.to_ascii_lowercase(), t);
            }
            for (tenant, reason, transient) in failed {
                let company = companies
                    .iter()
                    .find(|c| c.tenant_id == tenant)
                    .map_or(0, |c| c.company_id);
                run.failures.push(Failure {
                    subject: format!("company {company} / tenant {tenant}"),
                    reason: format!("usage not read: {reason}"),
                    transient,
                });
            }
        }

        let plan = rules_push::plan_push(
            companies,
            records,
            &inactive,
            &usages,
            &product_mappings,
            &settings,
            today,
        );
        run.count("not_in_force", plan.not_in_force);
        if plan.malformed > 0 {
            run.count(crate::runs::MALFORMED_ANSWERS_COUNT, plan.malformed);
        }
        run.count("companies_pushed", plan.companies_pushed);
        run.count("additions", plan.additions);
        run.count("unchanged", plan.unchanged);
        run.failures.extend(plan.problems.iter().cloned());
        Ok(plan)
    }

    /// Executes a push plan: PATCH each quantity (replace, idempotent) while time allows,
    /// and record what ConnectWise now holds; returns the companies whose writes the
    /// deadline left undone.
    pub async fn apply_push(
        &self,
        plan: PushPlan,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<BTreeSet<i64>, UsageError> {
        // Boxed: nested in the shard worker's futures, its layout is otherwise too deep for
        // the compiler.
        Box::pin(self.notice_overages(&plan.overages, run)).await?;
        // Writes: PATCH replace quantity, idempotent.
        let results = stream::iter(
            plan.writes
                .into_iter()
                .enumerate()
                .map(|(i, w)| async move {
                    if i >= MIN_PROGRESS && deadline.passed() {
                        return (w, None);
                    }
                    let result = self
                        .cw
                        .set_addition_quantity(
                            w.record.agreement_id,
                            w.record.addition_id,
                            w.quantity,
                        )
                        .await;
                    (w, Some(result))
                }),
        )
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut recorded: Vec<AdditionRecord> = Vec::new();
        let mut unrecorded: Option<StoreError> = None;
        let mut deferred = BTreeSet::new();
        for (w, result) in results {
            let subject = w.subject();
            let PlannedWrite {
                record: r,
                quantity: new,
                basis,
            } = w;
            let Some(result) = result else {
                // Out of time: the stored quantity is unchanged, so a hand-off or the next
                // cycle writes it.
                run.count("writes_deferred", 1);
                deferred.insert(r.company_id);
                continue;
            };
            match result {
                Ok(add) => {
                    run.count("writes", 1);
                    let touched = add.info.as_ref().and_then(|i| i.last_updated);
                    recorded.push(AdditionRecord {
                        last_pushed_quantity: Some(new),
                        agreement_last_updated: r.agreement_last_updated.max(touched),
                        updated_at: self.now(),
                        ..r.clone()
                    });
                    run.changes.push(Change {
                        subject,
                        field: "quantity".into(),
                        old: r.last_pushed_quantity.map(serde_json::Value::from),
                        new: serde_json::Value::from(new),
                        basis: Some(basis),
                    });
                }
                Err(e) if e.is_not_found() => {
                    // Remembered, so later cycles report it without writing, and the
                    // planner re-reads its agreement now and then.
                    run.failures.push(missing_failure(&r));
                    Box::pin(crate::services::attention::report(
                        &self.cw,
                        &self.store,
                        crate::domain::jobs::Job::UsagePush,
                        r.company_id,
                        Some(&crate::domain::usage_records::missing_notice(
                            r.agreement_id,
                        )),
                        run,
                    ))
                    .await;
                    if let Err(e) = self
                        .store
                        .put_missing_additions(&MissingAdditions {
                            unknown: Default::default(),
                            agreement_id: r.agreement_id,
                            company_id: r.company_id,
                            checked_at: self.now(),
                        })
                        .await
                    {
                        unrecorded.get_or_insert(e);
                    }
                    recorded.push(AdditionRecord {
                        missing_since: Some(self.now()),
                        updated_at: self.now(),
                        ..r
                    });
                }
                Err(e) => run.failures.push(Failure {
                    subject,
                    reason: e.to_string(),
                    transient: e.is_transient(),
                }),
            }
        }
        // The product's own records failing to store fails the shard (the event is retried,
        // its writes repeated with the same quantities), rather than passing unnoticed.
        self.store.put_additions(&recorded).await?;
        match unrecorded {
            Some(e) => Err(e.into()),
            None => Ok(deferred),
        }
    }

    /// With the prepaid overage notice on: each usage above its prepaid quantity reaches the
    /// company's needs-attention ticket once per item, prepaid quantity and month.
    async fn notice_overages(
        &self,
        overages: &[crate::domain::attention::Overage],
        run: &mut RunRecord,
    ) -> Result<(), UsageError> {
        if overages.is_empty() {
            return Ok(());
        }
        let settings: crate::domain::attention::AttentionSettings = self.store.section().await?;
        if !settings.prepaid_overage_notice || settings.board_id.is_none() {
            return Ok(());
        }
        let month = self.now().format("%Y-%m").to_string();
        for o in overages {
            run.count("prepaid_overages", 1);
            if !self
                .store
                .remember_once(OVERAGE_SCOPE, &o.notice_id(&month), OVERAGE_MEMORY)
                .await?
            {
                continue;
            }
            Box::pin(crate::services::attention::report(
                &self.cw,
                &self.store,
                crate::domain::jobs::Job::UsagePush,
                o.company_id,
                Some(&o.notice()),
                run,
            ))
            .await;
        }
        Ok(())
    }
}

/// Overage notices remembered (scope of the dedupe records), for longer than a month.
const OVERAGE_SCOPE: &str = "overage";
const OVERAGE_MEMORY: std::time::Duration = std::time::Duration::from_secs(40 * 24 * 3600);

impl UsagePush {
    /// The usages of `companies`' tenants, 100 per call, each asked of its own connection
    /// (a connection the secret no longer has fails its tenants, recorded).
    async fn read_all_usages(
        &self,
        companies: &[ShardCompany],
    ) -> Vec<(Vec<TenantUsages>, Vec<super::usages::UnreadTenant>)> {
        let mut by_connection: BTreeMap<&crate::domain::connection::ConnectionName, Vec<String>> =
            BTreeMap::new();
        for c in companies {
            by_connection
                .entry(&c.connection)
                .or_default()
                .push(c.tenant_id.clone());
        }
        let mut chunks = Vec::new();
        let mut unknown = Vec::new();
        for (connection, tenants) in by_connection {
            match self.connections.client(connection).await {
                Ok(client) => chunks.extend(
                    tenants
                        .chunks(crate::acronis::client::BATCH)
                        .map(|chunk| (client.clone(), chunk.to_vec())),
                ),
                Err(e) => unknown.push((
                    Vec::new(),
                    tenants
                        .into_iter()
                        .map(|t| (t, e.to_string(), false))
                        .collect(),
                )),
            }
        }
        let mut batches = stream::iter(
            chunks
                .into_iter()
                .map(|(client, chunk)| async move { read_usages(&client, &chunk).await }),
        )
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        batches.extend(unknown);
        batches
    }
}
