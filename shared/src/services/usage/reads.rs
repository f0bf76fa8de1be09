//! A cycle's reads (ConnectWise and the store) and storing what they found.

use super::*;

/// The agreements a cycle examines, and why.
#[derive(Debug, Default)]
struct Examined {
    examine: BTreeMap<i64, Agreement>,
    /// Read whatever their `lastUpdated` says.
    forced: BTreeSet<i64>,
    /// First seen by discovery: nothing is recorded for them yet.
    fresh: BTreeSet<i64>,
}

/// What reading the additions of a cycle's agreements found.
#[derive(Debug, Default)]
struct AdditionsRead {
    recorded: Vec<AdditionRecord>,
    missing_now: Vec<MissingAdditions>,
    /// Agreements read with every recorded addition present.
    with_additions_back: Vec<i64>,
    /// Agreements the deadline left unread, with their company.
    unread: Vec<(i64, i64)>,
    /// Companies with an agreement read (or whose read failed).
    read_companies: BTreeSet<i64>,
    /// Companies an additions read failed for (not discovered yet).
    failed_companies: Vec<i64>,
}

impl UsagePush {
    /// The reads of a cycle (ConnectWise and the store), nothing written: the additions of
    /// new, changed and swept PAYG agreements, as records decided by
    /// `domain::usage_records`; which companies and agreements, and when the cursors move,
    /// is `domain::usage_cycle`'s.
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

        // 1. What changed since the last cycle (one list call).
        let mut found = Examined::default();
        let changes_read = self
            .read_changes(state.agreements_since, &mapped, &mut found, run)
            .await;
        // 2. Companies never seen, and this cycle's slice of the daily sweep.
        let slots = calendar::sweep_slots(state.swept_at, started, billing.zone());
        let company_ids: Vec<i64> = mappings.iter().map(|m| m.company_id).collect();
        let listing = usage_cycle::listing(&company_ids, &state.discovered, &slots);
        run.count("companies_swept", listing.swept.len() as u64);
        let (sweep_read, mut discovered_ok) = self.read_listing(&listing, &mut found, run).await;
        // 3. Agreements left unread by the last plan (it ran out of time).
        self.read_pending(&mut state, &mut found, run).await;
        // 4. Agreements with a missing addition, re-read hourly (a put-back addition may
        //    not touch the agreement).
        let missing = self.store.missing_additions().await?;
        let was_missing: BTreeSet<i64> = missing.iter().map(|m| m.agreement_id).collect();
        let due = usage_cycle::recheck_due(
            missing.iter().map(|m| (m.agreement_id, m.checked_at)),
            &state.inactive_agreements,
            started,
            MISSING_RECHECK,
        );
        let gone_agreements = self.recheck_missing(due, &mut state, &mut found, run).await;

        // 5. The records of the agreements examined.
        let by_agreement = self.records_of(&found, &products).await?;

        // 6. Which agreements need their additions read: new or changed open PAYG ones.
        let Examined {
            examine,
            forced,
            fresh,
        } = found;
        let read_plan =
            usage_records::agreements_to_read(examine, &by_agreement, &forced, &billing, today);
        state.inactive_agreements.extend(read_plan.now_inactive);
        state
            .inactive_agreements
            .retain(|id| !read_plan.active.contains(id));
        run.count("agreements_read", read_plan.read.len() as u64);

        // 7. Read them while time allows, and keep what they hold.
        let read = self
            .read_additions(
                read_plan.read,
                &by_agreement,
                &products,
                today,
                deadline,
                run,
            )
            .await;
        for (id, _) in &read.unread {
            state.pending_reads.insert(*id);
            if fresh.contains(id) {
                state.pending_fresh.insert(*id);
            }
        }
        let waiting = usage_cycle::waiting_companies(&read.unread, &fresh, &read.read_companies);
        if !waiting.is_empty() {
            run.count("companies_waiting", waiting.len() as u64);
        }
        for company in &read.failed_companies {
            discovered_ok.remove(company);
        }
        let (missing_now, found_again): (Vec<_>, Vec<_>) = (
            read.missing_now,
            read.with_additions_back
                .into_iter()
                .filter(|id| was_missing.contains(id))
                .collect(),
        );
        if !state.pending_reads.is_empty() {
            run.count("agreements_deferred", state.pending_reads.len() as u64);
        }
        let cursors = usage_cycle::cursors_after(
            usage_cycle::Cursors {
                agreements_since: state.agreements_since,
                swept_at: state.swept_at,
            },
            started,
            changes_read,
            sweep_read,
            SKEW,
        );
        state.agreements_since = cursors.agreements_since;
        state.swept_at = cursors.swept_at;
        state.discovered.extend(discovered_ok);
        Ok(CycleReads {
            prev,
            state,
            mappings,
            product_mappings,
            recorded: read.recorded,
            waiting,
            missing_now,
            found_again,
            gone_agreements,
        })
    }

    /// The stored records of the agreements examined but not first seen (batched key reads
    /// of the mapped products: the cost follows the changes, not the partner's size).
    async fn records_of(
        &self,
        found: &Examined,
        products: &BTreeSet<i64>,
    ) -> Result<HashMap<i64, Vec<AdditionRecord>>, UsageError> {
        let ids: Vec<i64> = found
            .examine
            .keys()
            .filter(|id| !found.fresh.contains(id))
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
        Ok(by_agreement)
    }

    /// The agreements of mapped companies changed since `since` (none on a first cycle);
    /// whether the list was read.
    async fn read_changes(
        &self,
        since: Option<DateTime<Utc>>,
        mapped: &HashMap<i64, &str>,
        found: &mut Examined,
        run: &mut RunRecord,
    ) -> bool {
        let Some(since) = since else {
            return true;
        };
        let q = ListQuery::conditions(Conditions::new().gt("lastUpdated", since));
        match self.cw.agreements(&q).await {
            Ok(list) => {
                run.count("agreements_changed", list.len() as u64);
                for a in list {
                    if a.company
                        .as_ref()
                        .is_some_and(|c| mapped.contains_key(&c.id))
                    {
                        found.examine.insert(a.id, a);
                    }
                }
                true
            }
            Err(e) => {
                run.failures.push(Failure {
                    subject: "changed agreements".into(),
                    reason: e.to_string(),
                    transient: e.is_transient(),
                });
                false
            }
        }
    }

    /// The agreements of the listing's companies, 100 companies per call; whether every
    /// swept company was listed, and the companies that were.
    async fn read_listing(
        &self,
        listing: &usage_cycle::Listing,
        found: &mut Examined,
        run: &mut RunRecord,
    ) -> (bool, BTreeSet<i64>) {
        let mut sweep_read = true;
        let mut listed_ok: BTreeSet<i64> = BTreeSet::new();
        // Owned chunks: a closure over borrowed slices makes the future's Send-ness
        // unprovable to rustc when it is spawned (rust-lang/rust#110338).
        let chunks: Vec<Vec<i64>> = listing
            .companies
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
                    listed_ok.extend(chunk.iter().copied());
                    for a in list {
                        let company = a.company.as_ref().map(|c| c.id);
                        let examined = found.examine.contains_key(&a.id);
                        match usage_cycle::listed(company, &listing.swept, examined) {
                            usage_cycle::Listed::Forced => {
                                found.forced.insert(a.id);
                                found.examine.entry(a.id).or_insert(a);
                            }
                            usage_cycle::Listed::Fresh => {
                                found.fresh.insert(a.id);
                                found.examine.insert(a.id, a);
                            }
                            usage_cycle::Listed::Known => {}
                        }
                    }
                }
                Err(e) => {
                    sweep_read &= !chunk.iter().any(|c| listing.swept.contains(c));
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
        (sweep_read, listed_ok)
    }

    /// The agreements the last plan left unread, 100 per call; those not read stay pending.
    async fn read_pending(&self, state: &mut PushState, found: &mut Examined, run: &mut RunRecord) {
        let pending_fresh = std::mem::take(&mut state.pending_fresh);
        let pending: Vec<Vec<i64>> = std::mem::take(&mut state.pending_reads)
            .into_iter()
            .filter(|id| !found.examine.contains_key(id))
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
                        found.forced.insert(a.id);
                        if pending_fresh.contains(&a.id) {
                            found.fresh.insert(a.id);
                        }
                        found.examine.insert(a.id, a);
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
    }

    /// Re-reads the agreements `due` a check of their missing addition (those the change
    /// list brought need no fetch); returns those gone from ConnectWise, now inactive.
    async fn recheck_missing(
        &self,
        due: Vec<i64>,
        state: &mut PushState,
        found: &mut Examined,
        run: &mut RunRecord,
    ) -> Vec<i64> {
        let (listed, recheck): (Vec<i64>, Vec<i64>) = due
            .into_iter()
            .partition(|id| found.examine.contains_key(id));
        found.forced.extend(listed);
        let rechecked = stream::iter(
            recheck
                .into_iter()
                .map(|id| async move { (id, self.cw.agreement(id).await) }),
        )
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut gone = Vec::new();
        for (id, result) in rechecked {
            match result {
                Ok(a) => {
                    found.forced.insert(id);
                    found.examine.insert(id, a);
                }
                Err(e) if e.is_not_found() => {
                    state.inactive_agreements.insert(id);
                    gone.push(id);
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
        gone
    }

    /// Reads the additions of `to_read` with bounded concurrency while time allows, and
    /// decides their records (`domain::usage_records::record_agreement`).
    async fn read_additions(
        &self,
        to_read: Vec<Agreement>,
        known: &HashMap<i64, Vec<AdditionRecord>>,
        products: &BTreeSet<i64>,
        today: chrono::NaiveDate,
        deadline: Deadline,
        run: &mut RunRecord,
    ) -> AdditionsRead {
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
        let mut out = AdditionsRead::default();
        for (a, result) in reads {
            let company_id = a.company.as_ref().map_or(0, |c| c.id);
            if result.is_some() {
                out.read_companies.insert(company_id);
            }
            let additions = match result {
                Some(Ok(list)) => list,
                None => {
                    out.unread.push((a.id, company_id));
                    continue;
                }
                Some(Err(e)) => {
                    out.failed_companies.push(company_id);
                    run.failures.push(Failure {
                        subject: format!("company {company_id} / agreement {}", a.id),
                        reason: format!("additions not read: {e}"),
                        transient: e.is_transient(),
                    });
                    continue;
                }
            };
            let known = known.get(&a.id).map_or(&[][..], Vec::as_slice);
            let decided =
                usage_records::record_agreement(&a, &additions, known, products, today, now);
            run.failures.extend(decided.problems.iter().cloned());
            if decided.has_missing() {
                out.missing_now.push(MissingAdditions {
                    unknown: Default::default(),
                    agreement_id: a.id,
                    company_id,
                    checked_at: now,
                });
            } else {
                out.with_additions_back.push(a.id);
            }
            out.recorded.extend(decided.records);
        }
        out
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
