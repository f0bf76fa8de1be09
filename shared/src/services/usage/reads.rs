//! A cycle's reads (ConnectWise and the store) and storing what they found.

use super::*;

impl UsagePush {
    /// The reads of a cycle (ConnectWise and the store), nothing written: the additions of
    /// new, changed and swept PAYG agreements, as records decided by
    /// `domain::usage_records`.
    pub async fn read_cycle(
        &self,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<CycleReads, UsageError> {
        let started = self.now();
        let mappings = self.store.mappings().await?;
        let product_mappings = self.store.product_mappings().await?;
        let products: BTreeSet<i64> = product_mappings
            .iter()
            .filter_map(|m| m.product_id)
            .collect();
        let billing: BillingSettings = self.store.section().await?;
        // The MSP's day: ConnectWise's dates are its calendar days.
        let today = calendar::local_day(started, billing.zone());
        let prev: Option<PushState> = self.store.cursor(STATE).await?;
        let mut state = prev.clone().unwrap_or_default();
        let mapped: HashMap<i64, &str> = mappings
            .iter()
            .map(|m| (m.company_id, m.tenant_id.as_str()))
            .collect();
        run.count("companies", mapped.len() as u64);
        let mut gone_agreements: Vec<i64> = Vec::new();
        // 1. What changed since the last cycle (one list call).
        let mut examine: BTreeMap<i64, Agreement> = BTreeMap::new();
        let mut since_ok = true;
        if let Some(since) = state.agreements_since {
            let q = ListQuery::conditions(Conditions::new().gt("lastUpdated", since));
            match self.cw.agreements(&q).await {
                Ok(list) => {
                    run.count("agreements_changed", list.len() as u64);
                    for a in list {
                        if a.company
                            .as_ref()
                            .is_some_and(|c| mapped.contains_key(&c.id))
                        {
                            examine.insert(a.id, a);
                        }
                    }
                }
                Err(e) => {
                    since_ok = false;
                    run.failures.push(Failure {
                        subject: "changed agreements".into(),
                        reason: e.to_string(),
                        transient: e.is_transient(),
                    });
                }
            }
        }

        // 2. Companies never seen, and this cycle's slice of the daily sweep (whatever
        //    lastUpdated says: ConnectWise may change an addition without touching its
        //    agreement): their agreements, 100 companies per call.
        let slots = calendar::sweep_slots(state.swept_at, started, billing.zone());
        let swept: BTreeSet<i64> = mappings
            .iter()
            .map(|m| m.company_id)
            .filter(|c| state.discovered.contains(c) && slots.contains(&calendar::sweep_slot(*c)))
            .collect();
        run.count("companies_swept", swept.len() as u64);
        let new_companies: Vec<i64> = mappings
            .iter()
            .map(|m| m.company_id)
            .filter(|c| !state.discovered.contains(c) || swept.contains(c))
            .collect();
        // Agreements whose additions are read whatever their lastUpdated.
        let mut forced: BTreeSet<i64> = BTreeSet::new();
        let mut sweep_ok = true;
        let mut discovered_ok: BTreeSet<i64> = BTreeSet::new();
        // Agreements first seen by discovery: nothing is recorded for them yet.
        let mut fresh: BTreeSet<i64> = BTreeSet::new();
        // Owned chunks: a closure over borrowed slices makes the future's Send-ness
        // unprovable to rustc when it is spawned (rust-lang/rust#110338).
        let chunks: Vec<Vec<i64>> = new_companies
            .chunks(DISCOVERY_CHUNK)
            .map(<[i64]>::to_vec)
            .collect();
        let lists = stream::iter(chunks.into_iter().map(|chunk| {
            let q =
                ListQuery::conditions(Conditions::new().is_in("company/id", chunk.iter().copied()));
            async move { (chunk, self.cw.agreements(&q).await) }
        }))
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        for (chunk, result) in lists {
            match result {
                Ok(list) => {
                    discovered_ok.extend(chunk.iter().copied());
                    for a in list {
                        let company = a.company.as_ref().map(|c| c.id);
                        if company.is_some_and(|c| swept.contains(&c)) {
                            forced.insert(a.id);
                            examine.entry(a.id).or_insert(a);
                        } else if let std::collections::btree_map::Entry::Vacant(v) =
                            examine.entry(a.id)
                        {
                            fresh.insert(a.id);
                            v.insert(a);
                        }
                    }
                }
                Err(e) => {
                    sweep_ok &= !chunk.iter().any(|c| swept.contains(c));
                    run.failures.push(Failure {
                        subject: format!(
                            "agreements of companies {}..{}",
                            chunk[0],
                            chunk[chunk.len() - 1]
                        ),
                        reason: e.to_string(),
                        transient: e.is_transient(),
                    });
                }
            }
        }

        // 3. Agreements left unread by the last plan (it ran out of time), 100 per call.
        let pending_fresh = std::mem::take(&mut state.pending_fresh);
        let pending: Vec<Vec<i64>> = std::mem::take(&mut state.pending_reads)
            .into_iter()
            .filter(|id| !examine.contains_key(id))
            .collect::<Vec<_>>()
            .chunks(DISCOVERY_CHUNK)
            .map(<[i64]>::to_vec)
            .collect();
        let lists = stream::iter(pending.into_iter().map(|chunk| {
            let q = ListQuery::conditions(Conditions::new().is_in("id", chunk.iter().copied()));
            async move { (chunk, self.cw.agreements(&q).await) }
        }))
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        for (chunk, result) in lists {
            match result {
                Ok(list) => {
                    for a in list {
                        forced.insert(a.id);
                        if pending_fresh.contains(&a.id) {
                            fresh.insert(a.id);
                        }
                        examine.insert(a.id, a);
                    }
                }
                Err(e) => {
                    state.pending_reads.extend(chunk.iter().copied());
                    state
                        .pending_fresh
                        .extend(chunk.iter().filter(|id| pending_fresh.contains(id)));
                    run.failures.push(Failure {
                        subject: format!("{} agreements left from the last cycle", chunk.len()),
                        reason: e.to_string(),
                        transient: e.is_transient(),
                    });
                }
            }
        }

        // 4. Agreements with a missing addition, re-read hourly (a put-back addition may
        //    not touch the agreement).
        let missing = self.store.missing_additions().await?;
        let was_missing: BTreeSet<i64> = missing.iter().map(|m| m.agreement_id).collect();
        let due: Vec<i64> = missing
            .iter()
            .filter(|m| {
                !state.inactive_agreements.contains(&m.agreement_id)
                    && m.checked_at + MISSING_RECHECK <= started
            })
            .map(|m| m.agreement_id)
            .collect();
        // Those already listed as changed need no fetch, only a read of their additions.
        let (listed, recheck): (Vec<i64>, Vec<i64>) =
            due.into_iter().partition(|id| examine.contains_key(id));
        forced.extend(listed);
        let rechecked = stream::iter(
            recheck
                .into_iter()
                .map(|id| async move { (id, self.cw.agreement(id).await) }),
        )
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        for (id, result) in rechecked {
            match result {
                Ok(a) => {
                    forced.insert(id);
                    examine.insert(id, a);
                }
                Err(e) if e.is_not_found() => {
                    state.inactive_agreements.insert(id);
                    gone_agreements.push(id);
                    run.failures.push(Failure {
                        subject: format!("agreement {id}"),
                        reason:
                            "the agreement is gone from ConnectWise: its usage is no longer pushed"
                                .into(),
                        transient: false,
                    });
                }
                Err(e) => run.failures.push(Failure {
                    subject: format!("agreement {id}"),
                    reason: format!("not re-read: {e}"),
                    transient: e.is_transient(),
                }),
            }
        }

        // 5. The records of the agreements examined (batched key reads of the mapped
        //    products: the cost follows the changes, not the partner's size).
        let ids: Vec<i64> = examine
            .keys()
            .filter(|id| !fresh.contains(id))
            .copied()
            .collect();
        let product_ids: Vec<i64> = products.iter().copied().collect();
        let mut by_agreement: HashMap<i64, Vec<AdditionRecord>> = HashMap::new();
        for r in self
            .store
            .additions_of_agreements(&ids, &product_ids)
            .await?
        {
            by_agreement.entry(r.agreement_id).or_default().push(r);
        }

        // 6. Which agreements need their additions read: new or changed open PAYG ones.
        let read_plan =
            usage_records::agreements_to_read(examine, &by_agreement, &forced, &billing, today);
        state.inactive_agreements.extend(read_plan.now_inactive);
        state
            .inactive_agreements
            .retain(|id| !read_plan.active.contains(id));
        let to_read = read_plan.read;
        run.count("agreements_read", to_read.len() as u64);

        // 7. Read them, with bounded concurrency, while time allows, and keep what they hold.
        let reads = stream::iter(to_read.into_iter().enumerate().map(|(i, a)| async move {
            if i >= MIN_PROGRESS && deadline.passed() {
                return (a, None);
            }
            let r = self.cw.additions(a.id, &ListQuery::default()).await;
            (a, Some(r))
        }))
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let now = self.now();
        let mut recorded: Vec<AdditionRecord> = Vec::new();
        let mut missing_now: Vec<MissingAdditions> = Vec::new();
        let mut found_again: Vec<i64> = Vec::new();
        for (a, result) in reads {
            let company_id = a.company.as_ref().map_or(0, |c| c.id);
            let additions = match result {
                Some(Ok(list)) => list,
                None => {
                    state.pending_reads.insert(a.id);
                    if fresh.contains(&a.id) {
                        state.pending_fresh.insert(a.id);
                    }
                    continue;
                }
                Some(Err(e)) => {
                    discovered_ok.remove(&company_id);
                    run.failures.push(Failure {
                        subject: format!("company {company_id} / agreement {}", a.id),
                        reason: format!("additions not read: {e}"),
                        transient: e.is_transient(),
                    });
                    continue;
                }
            };
            let known = by_agreement.get(&a.id).map_or(&[][..], Vec::as_slice);
            let decided =
                usage_records::record_agreement(&a, &additions, known, &products, today, now);
            run.failures.extend(decided.problems.iter().cloned());
            if decided.has_missing() {
                missing_now.push(MissingAdditions {
                    unknown: Default::default(),
                    agreement_id: a.id,
                    company_id,
                    checked_at: now,
                });
            } else if was_missing.contains(&a.id) {
                found_again.push(a.id);
            }
            recorded.extend(decided.records);
        }
        if !state.pending_reads.is_empty() {
            run.count("agreements_deferred", state.pending_reads.len() as u64);
        }
        if since_ok {
            state.agreements_since = Some(started - SKEW);
        }
        if sweep_ok {
            state.swept_at = Some(started);
        }
        state.discovered.extend(discovered_ok);
        Ok(CycleReads {
            prev,
            state,
            mappings,
            product_mappings,
            recorded,
            missing_now,
            found_again,
            gone_agreements,
        })
    }

    /// Stores what a cycle's reads found: the addition records, which agreements miss an
    /// addition, and the cycle state.
    pub async fn record_reads(
        &self,
        reads: &CycleReads,
        run: &mut RunRecord,
    ) -> Result<(), UsageError> {
        for id in &reads.gone_agreements {
            self.store.clear_missing_additions(*id).await?;
        }
        self.store.put_additions(&reads.recorded).await?;
        for m in &reads.missing_now {
            self.store.put_missing_additions(m).await?;
        }
        for id in &reads.found_again {
            self.store.clear_missing_additions(*id).await?;
        }
        // A missing addition needs a person: the company's needs-attention ticket says so
        // (once: the same problem again adds nothing), and closes once it is back.
        let problems = reads.missing_now.iter().map(|m| {
            (
                m.company_id,
                Some(usage_records::missing_notice(m.agreement_id)),
            )
        });
        let fixed = reads.found_again.iter().filter_map(|id| {
            reads
                .recorded
                .iter()
                .find(|r| r.agreement_id == *id)
                .map(|r| (r.company_id, None))
        });
        for (company_id, problem) in problems.chain(fixed).collect::<Vec<_>>() {
            Box::pin(crate::services::attention::report(
                &self.cw,
                &self.store,
                crate::domain::jobs::Job::UsagePush,
                company_id,
                problem.as_deref(),
                run,
            ))
            .await;
        }
        run.count("additions_recorded", reads.recorded.len() as u64);
        if reads.prev.as_ref() != Some(&reads.state)
            && let Err(e) = self
                .store
                .advance_cursor(STATE, reads.prev.as_ref(), &reads.state)
                .await
        {
            run.failures.push(Failure {
                subject: "usage-push state".into(),
                reason: e.to_string(),
                transient: true,
            });
        }
        Ok(())
    }
}
