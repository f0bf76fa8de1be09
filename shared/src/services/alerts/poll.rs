//! The poller: Acronis alerts since the cursor → `alert.raised` / `alert.cleared` events.

use super::*;

/// The poller's cursor: the high-water mark and the pairs seen within the overlap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCursor {
    pub high_water_ns: i64,
    /// `{ID}@{updatedAt ns}` of alerts at or after `high_water_ns - overlap`.
    #[serde(default)]
    pub seen: Vec<String>,
    /// When the open tickets' alerts were last looked up (ns; see the sweep).
    #[serde(default)]
    pub swept_ns: i64,
    /// Alerts reported cleared because they were gone, while their ticket is still open.
    #[serde(default)]
    pub gone: Vec<String>,
    /// The listing's continuation from where a poll stopped short (its deadline, its page
    /// limit): the next poll goes on from there instead of re-reading the overlap from the
    /// start (which a poll with too little time would do forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
}

/// Poll options.
#[derive(Debug, Clone)]
pub struct PollOptions {
    pub page_size: usize,
    /// Re-read this much before the mark (Acronis' commit lag, clocks).
    pub overlap: Duration,
    /// How far back the very first poll reads.
    pub first_lookback: Duration,
    /// Stop after this many pages (the next poll goes on).
    pub max_pages: usize,
    /// How often the alerts of open tickets are looked up one by one (with auto-close on).
    pub sweep_every: Duration,
    /// When the poll must stop starting pages (the cursor holds each finished page, so the
    /// next poll goes on from there).
    pub deadline: crate::deadline::Deadline,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            overlap: Duration::minutes(5),
            first_lookback: Duration::hours(24),
            max_pages: 1_000,
            sweep_every: Duration::minutes(15),
            deadline: crate::deadline::Deadline::none(),
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollReport {
    pub pages: usize,
    pub read: usize,
    pub published: usize,
    pub duplicates: usize,
    pub unmapped_tenant: usize,
    pub unmapped_type: usize,
    pub failed: usize,
    pub cursor_ns: i64,
    /// Alerts of open tickets found gone by the sweep (reported cleared).
    pub gone: usize,
}

/// Why a poll stopped early. The cursor holds what was done; the next poll goes on.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Acronis(#[from] AcronisError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} event(s) not put on the bus")]
    Bus(usize),
    /// An alert the poll cannot route (its tenant missing): the page is not taken, so the
    /// next poll reads it again instead of skipping the alert for good.
    #[error(transparent)]
    Malformed(#[from] crate::domain::quotas::Malformed),
}

fn seen_ns(entry: &str) -> i64 {
    entry
        .rsplit_once('@')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// The cursor of the very first poll: [`PollOptions::first_lookback`] back.
pub(super) fn first_cursor(opts: &PollOptions) -> AlertCursor {
    AlertCursor {
        high_water_ns: (crate::clock::now() - opts.first_lookback)
            .timestamp_nanos_opt()
            .unwrap_or(0),
        ..AlertCursor::default()
    }
}

/// The first page a poll reads from `cursor`: everything updated since its mark less the
/// overlap, cleared alerts included, oldest first.
pub(super) fn first_page(cursor: &AlertCursor, opts: &PollOptions) -> AlertQuery {
    let overlap_ns = opts.overlap.num_nanoseconds().unwrap_or(0);
    AlertQuery {
        updated_since_ns: Some(cursor.high_water_ns.saturating_sub(overlap_ns)),
        show_deleted: true,
        limit: opts.page_size,
        ..AlertQuery::default()
    }
}

/// Whether the open tickets' alerts are due to be looked up (see [`sweep`]).
pub(super) fn sweep_due(cursor: &AlertCursor, opts: &PollOptions, now: DateTime<Utc>) -> bool {
    let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let every_ns = opts.sweep_every.num_nanoseconds().unwrap_or(i64::MAX);
    now_ns.saturating_sub(cursor.swept_ns) >= every_ns
}

/// The company `alert`'s tenant is mapped to, looked up once per tenant per poll.
pub(super) async fn company_of(
    store: &Store,
    companies: &mut HashMap<String, Option<i64>>,
    alert: &Alert,
) -> Result<Option<i64>, StoreError> {
    let tenant = alert.tenant.uuid.clone().unwrap_or_default().to_lowercase();
    if let Some(c) = companies.get(&tenant) {
        return Ok(*c);
    }
    let c = store
        .mapping_by_tenant(&tenant)
        .await?
        .map(|m| m.company_id);
    companies.insert(tenant, c);
    Ok(c)
}

/// The bus event of a published alert.
pub(super) fn alert_event(event: AlertEvent, company_id: i64, alert: &Alert) -> Event {
    let changed = AlertChanged {
        version: VERSION,
        alert_key: rules::alert_key(alert),
        company_id,
        alert: alert.clone(),
    };
    match event {
        AlertEvent::Raised => Event::AlertRaised(changed),
        AlertEvent::Cleared => Event::AlertCleared(changed),
    }
}

/// One poll: alerts updated since the cursor → `alert.raised` / `alert.cleared` events for
/// mapped tenants and alert types.
pub async fn poll(
    acronis: &AcronisClient,
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
    opts: &PollOptions,
) -> Result<PollReport, PollError> {
    let settings = load_settings(store).await?;
    let stored: Option<AlertCursor> = store.cursor(CURSOR).await?;
    let overlap_ns = opts.overlap.num_nanoseconds().unwrap_or(0);
    let mut cursor = stored.clone().unwrap_or_else(|| first_cursor(opts));
    let mut expected = stored;
    let mut seen: BTreeSet<String> = cursor.seen.iter().cloned().collect();
    let mut companies: HashMap<String, Option<i64>> = HashMap::new();
    let mut report = PollReport {
        cursor_ns: cursor.high_water_ns,
        ..PollReport::default()
    };
    let mut query = first_page(&cursor, opts);
    let resumed = cursor.resume.is_some();
    query.after = cursor.resume.clone();
    let mut result = Ok(());
    for _ in 0..opts.max_pages.max(1) {
        if opts.deadline.passed() {
            // What is left is the next poll's: the cursor holds every finished page.
            run.count("stopped_at_deadline", 1);
            break;
        }
        let page = match acronis.alerts_page(&query).await {
            Ok(p) => p,
            Err(e) => {
                // A continuation the platform no longer takes: the next poll starts over
                // from the mark (the overlap covers it).
                if resumed && report.pages == 0 && !e.is_transient() {
                    let next = AlertCursor {
                        resume: None,
                        ..cursor.clone()
                    };
                    if store
                        .advance_cursor(CURSOR, expected.as_ref(), &next)
                        .await
                        .is_ok()
                    {
                        cursor = next;
                    }
                }
                result = Err(PollError::Acronis(e));
                break;
            }
        };
        // Whose alert it is decides the ticket's company: an alert without its tenant would
        // be skipped as unmapped and remembered as seen, never to get its ticket.
        if let Some(alert) = page.items.iter().find(|a| a.tenant.uuid.is_none()) {
            run.count(crate::runs::MALFORMED_ANSWERS_COUNT, 1);
            result = Err(PollError::Malformed(crate::domain::quotas::Malformed {
                what: format!("Acronis alert {}", alert.id),
                field: "tenant.uuid",
                problem: "is missing".into(),
            }));
            break;
        }
        report.pages += 1;
        report.read += page.items.len();
        let mut events = Vec::new();
        let mut event_ns = Vec::new();
        let mut page_max = cursor.high_water_ns;
        for alert in &page.items {
            let ns = rules::updated_ns(alert);
            page_max = page_max.max(ns);
            let occurrence = rules::occurrence_id(alert);
            let carried = seen.contains(&occurrence);
            let company = if carried {
                None
            } else {
                match company_of(store, &mut companies, alert).await {
                    Ok(c) => c,
                    Err(e) => {
                        result = Err(e.into());
                        break;
                    }
                }
            };
            let (company_id, event) = match rules::poll_step(alert, carried, company, &settings) {
                PollStep::Duplicate => {
                    report.duplicates += 1;
                    continue;
                }
                PollStep::UnmappedTenant => {
                    report.unmapped_tenant += 1;
                    seen.insert(occurrence);
                    continue;
                }
                PollStep::UnmappedType => {
                    report.unmapped_type += 1;
                    seen.insert(occurrence);
                    continue;
                }
                PollStep::Publish { company_id, event } => (company_id, event),
            };
            events.push(alert_event(event, company_id, alert));
            event_ns.push((occurrence, ns));
        }
        if result.is_err() {
            break;
        }
        let published = bus.publish(&events).await;
        report.published += published.published;
        report.failed += published.failed.len();
        let failed: BTreeSet<usize> = published.failed.iter().map(|f| f.index).collect();
        for f in &published.failed {
            run.failures.push(Failure {
                subject: format!("alert event {}", f.detail_type),
                reason: format!("{}: {}", f.code, f.message),
                transient: true,
            });
        }
        let mut mark = page_max;
        for (i, (occurrence, ns)) in event_ns.into_iter().enumerate() {
            if failed.contains(&i) {
                // Read it again next time: hold the mark just before it.
                mark = mark.min(ns - 1).max(cursor.high_water_ns);
            } else {
                seen.insert(occurrence);
            }
        }
        let floor = mark.saturating_sub(overlap_ns);
        seen.retain(|s| seen_ns(s) >= floor);
        let mut kept: Vec<String> = seen.iter().cloned().collect();
        if kept.len() > MAX_SEEN {
            kept.sort_by_key(|s| std::cmp::Reverse(seen_ns(s)));
            kept.truncate(MAX_SEEN);
            kept.sort();
        }
        let next = AlertCursor {
            high_water_ns: mark,
            seen: kept,
            // Go on from the next page, unless this one failed (read again from the mark).
            resume: page
                .after()
                .filter(|_| failed.is_empty())
                .map(str::to_owned),
            ..cursor.clone()
        };
        if expected.as_ref() != Some(&next) {
            if let Err(e) = store.advance_cursor(CURSOR, expected.as_ref(), &next).await {
                result = Err(e.into());
                break;
            }
            expected = Some(next.clone());
        }
        cursor = next;
        report.cursor_ns = cursor.high_water_ns;
        if !failed.is_empty() {
            result = Err(PollError::Bus(failed.len()));
            break;
        }
        match page.after() {
            Some(after) => {
                query.after = Some(after.to_owned());
            }
            None => break,
        }
    }
    if result.is_ok() && settings.auto_close && !opts.deadline.passed() {
        result = sweep(
            acronis,
            store,
            bus,
            run,
            opts,
            &mut report,
            cursor,
            expected,
        )
        .await;
    }
    run.count("pages", report.pages as u64);
    run.count("alerts_read", report.read as u64);
    run.count("published", report.published as u64);
    run.count("duplicates_skipped", report.duplicates as u64);
    run.count("skipped_unmapped_tenant", report.unmapped_tenant as u64);
    run.count("skipped_unmapped_type", report.unmapped_type as u64);
    result.map(|()| report)
}

/// Open tickets whose alert is gone, as cleared events.
pub(super) struct Gone {
    /// The open tickets looked at.
    pub open: Vec<AlertTicket>,
    pub events: Vec<Event>,
    /// The alert id of each event.
    pub reported: Vec<String>,
}

/// Looks up the alert of each open ticket not yet reported gone (`gone`): one that is gone
/// becomes a cleared event as of `now`.
pub(super) async fn gone_alerts(
    acronis: &AcronisClient,
    store: &Store,
    (gone, recent): (&BTreeSet<String>, &BTreeSet<String>),
    now: DateTime<Utc>,
    run: &mut RunRecord,
) -> Result<Gone, StoreError> {
    let open: Vec<AlertTicket> = store
        .open_alert_tickets()
        .await?
        .into_iter()
        .filter(|t| t.state == TicketState::Open)
        .collect();
    let mut events = Vec::new();
    let mut reported = Vec::new();
    let unreported: Vec<&AlertTicket> = open
        .iter()
        .filter(|t| {
            t.last_alert_id
                .as_ref()
                .is_some_and(|id| !gone.contains(id))
        })
        .collect();
    if unreported.is_empty() {
        return Ok(Gone {
            open,
            events,
            reported,
        });
    }
    // One listing of the alerts still active narrows the lookups by id to the tickets whose
    // alert it does not show (a page per 1,000 active alerts, not a call per open ticket).
    let types: BTreeSet<String> = unreported
        .iter()
        .filter_map(|t| t.alert_type.clone())
        .collect();
    let active = match active_alert_ids(acronis, types.into_iter().collect()).await {
        Ok(ids) => ids,
        Err(e) => {
            run.failures.push(Failure {
                subject: "active alerts".into(),
                reason: format!("could not list the active alerts: {e}"),
                transient: e.is_transient(),
            });
            return Ok(Gone {
                open,
                events,
                reported,
            });
        }
    };
    let lookups: Vec<(AlertTicket, String)> = unreported
        .into_iter()
        .filter_map(|t| {
            let id = t.last_alert_id.clone()?;
            (!active.contains(&id)).then(|| (t.clone(), id))
        })
        .collect();
    // Owned futures: a closure over borrowed data makes the future's Send-ness unprovable
    // to rustc when it is spawned (rust-lang/rust#110338).
    use futures::StreamExt as _;
    let found = futures::stream::iter(lookups.into_iter().map(|(t, id)| {
        let acronis = acronis.clone();
        async move {
            let result = acronis.alert(&id).await;
            (t, result)
        }
    }))
    .buffered(LOOKUPS_IN_FLIGHT)
    .collect::<Vec<_>>()
    .await;
    for (t, result) in found {
        let (Some(id), Some(alert_type), Some(tenant)) =
            (&t.last_alert_id, &t.alert_type, &t.tenant_id)
        else {
            continue;
        };
        match result {
            // Still listed, as cleared, and no longer within the poll's overlap: its cleared
            // event was lost (a ConnectWise outage longer than Lambda's retries); report it
            // again (the ticket sync drops a delivery it already carried out).
            Ok(alert)
                if alert.deleted_at.is_some()
                    && !recent.contains(&rules::occurrence_id(&alert)) =>
            {
                events.push(Event::AlertCleared(AlertChanged {
                    version: VERSION,
                    alert_key: t.alert_key.clone(),
                    company_id: t.company_id,
                    alert,
                }));
                reported.push(id.clone());
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                let alert = Alert {
                    id: id.clone(),
                    alert_type: alert_type.clone(),
                    category: None,
                    severity: None,
                    created_at: None,
                    updated_at: now,
                    deleted_at: Some(now),
                    tenant: AlertTenant {
                        uuid: Some(tenant.clone()),
                        ..AlertTenant::default()
                    },
                    details: Value::Null,
                };
                events.push(Event::AlertCleared(AlertChanged {
                    version: VERSION,
                    alert_key: t.alert_key.clone(),
                    company_id: t.company_id,
                    alert,
                }));
                reported.push(id.clone());
            }
            Err(e) => run.failures.push(Failure {
                subject: format!("alert {id}"),
                reason: format!("could not look up the alert of an open ticket: {e}"),
                transient: e.is_transient(),
            }),
        }
    }
    Ok(Gone {
        open,
        events,
        reported,
    })
}

/// Alert lookups by id in flight at once.
const LOOKUPS_IN_FLIGHT: usize = 4;

/// The ids of the active (not cleared) alerts of these types, every page.
async fn active_alert_ids(
    acronis: &AcronisClient,
    types: Vec<String>,
) -> Result<BTreeSet<String>, crate::acronis::AcronisError> {
    let mut ids = BTreeSet::new();
    let mut query = AlertQuery {
        types,
        limit: 1000,
        ..AlertQuery::default()
    };
    let mut cursors = BTreeSet::new();
    loop {
        let page = acronis.alerts_page(&query).await?;
        ids.extend(page.items.iter().map(|a| a.id.clone()));
        match page.after() {
            // A repeated cursor would loop forever.
            Some(after) if cursors.insert(after.to_owned()) => query.after = Some(after.to_owned()),
            _ => return Ok(ids),
        }
    }
}

/// A cleared alert may not show as cleared: whether the API marks it (`deletedAt`) or drops it
/// is not documented. Every `sweep_every`, the alert of each open ticket is looked up by id; one
/// that is gone is reported cleared, once (the cursor remembers it while its ticket is open).
#[allow(clippy::too_many_arguments)]
async fn sweep(
    acronis: &AcronisClient,
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
    opts: &PollOptions,
    report: &mut PollReport,
    cursor: AlertCursor,
    expected: Option<AlertCursor>,
) -> Result<(), PollError> {
    let now = crate::clock::now();
    let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    if !sweep_due(&cursor, opts, now) {
        return Ok(());
    }
    let mut gone: BTreeSet<String> = cursor.gone.iter().cloned().collect();
    let Gone {
        open,
        events,
        reported,
    } = gone_alerts(
        acronis,
        store,
        (&gone, &cursor.seen.iter().cloned().collect()),
        now,
        run,
    )
    .await?;
    let published = bus.publish(&events).await;
    let failed: BTreeSet<usize> = published.failed.iter().map(|f| f.index).collect();
    for (i, id) in reported.into_iter().enumerate() {
        if !failed.contains(&i) {
            gone.insert(id);
        }
    }
    report.gone += published.published;
    report.published += published.published;
    run.count("gone_alerts_cleared", published.published as u64);
    // Forget the alerts whose ticket is no longer open.
    let still_open: BTreeSet<&String> = open
        .iter()
        .filter_map(|t| t.last_alert_id.as_ref())
        .collect();
    gone.retain(|id| still_open.contains(id));
    let next = AlertCursor {
        swept_ns: now_ns,
        gone: gone.into_iter().collect(),
        ..cursor
    };
    store
        .advance_cursor(CURSOR, expected.as_ref(), &next)
        .await?;
    if published.failed.is_empty() {
        Ok(())
    } else {
        Err(PollError::Bus(published.failed.len()))
    }
}
