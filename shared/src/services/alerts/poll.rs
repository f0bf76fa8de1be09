//! The poller: Acronis alerts since the cursor → `alert.raised` / `alert.cleared` events.

use super::*;

use crate::domain::connection::ConnectionName;

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

/// The name of connection `connection`'s poll cursor: the `default` connection's is the
/// one stored before there were several.
pub fn cursor_name(connection: &ConnectionName) -> String {
    if connection.is_default() {
        CURSOR.to_owned()
    } else {
        format!("{CURSOR}#{connection}")
    }
}

/// The company `alert`'s tenant is mapped to through `connection`, looked up once per
/// tenant per poll.
pub(super) async fn company_of(
    store: &Store,
    connection: &ConnectionName,
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
        .filter(|m| &m.connection == connection)
        .map(|m| m.company_id);
    companies.insert(tenant, c);
    Ok(c)
}

/// The bus event of a published alert.
pub(super) fn alert_event(
    event: AlertEvent,
    (connection, company_id): (&ConnectionName, i64),
    alert: &Alert,
) -> Event {
    let changed = AlertChanged {
        version: VERSION,
        alert_key: rules::alert_key_in(connection, alert),
        company_id,
        connection: connection.clone(),
        alert: alert.clone(),
    };
    match event {
        AlertEvent::Raised => Event::AlertRaised(changed),
        AlertEvent::Cleared => Event::AlertCleared(changed),
    }
}

/// One poll of every connection, one after the other, each from its own cursor: a data
/// centre that fails is recorded (`connection {name}: …`) and the others are polled all the
/// same; the poll then fails, so that the alarm fires.
pub async fn poll_all(
    connections: &crate::acronis::Connections,
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
    opts: &PollOptions,
) -> Result<PollReport, PollError> {
    let mut total = PollReport::default();
    let mut first_error = None;
    for (name, client) in connections.current().await.iter() {
        if opts.deadline.passed() {
            break;
        }
        match Box::pin(poll(client, store, bus, run, opts)).await {
            Ok(r) => total.add(&r),
            Err(e) => {
                run.failures.push(Failure {
                    subject: format!("connection {name}"),
                    reason: format!("alert poll failed: {e}"),
                    transient: true,
                });
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

impl PollReport {
    fn add(&mut self, r: &PollReport) {
        self.pages += r.pages;
        self.read += r.read;
        self.published += r.published;
        self.duplicates += r.duplicates;
        self.unmapped_tenant += r.unmapped_tenant;
        self.unmapped_type += r.unmapped_type;
        self.failed += r.failed;
        self.cursor_ns = self.cursor_ns.max(r.cursor_ns);
        self.gone += r.gone;
    }
}

/// One poll of `acronis`' connection: alerts updated since its cursor → `alert.raised` /
/// `alert.cleared` events for tenants mapped through it and mapped alert types.
pub async fn poll(
    acronis: &AcronisClient,
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
    opts: &PollOptions,
) -> Result<PollReport, PollError> {
    let settings = load_settings(store).await?;
    let stored: Option<AlertCursor> = store.cursor(&cursor_name(acronis.connection())).await?;
    let cursor = stored.clone().unwrap_or_else(|| first_cursor(opts));
    let mut pages = Pages {
        acronis,
        store,
        bus,
        opts,
        settings: &settings,
        seen: cursor.seen.iter().cloned().collect(),
        companies: HashMap::new(),
        report: PollReport {
            cursor_ns: cursor.high_water_ns,
            ..PollReport::default()
        },
        cursor,
        expected: stored,
    };
    let mut result = pages.read_all(run).await;
    let Pages {
        mut report,
        cursor,
        expected,
        ..
    } = pages;
    if result.is_ok() && settings.auto_close && !opts.deadline.passed() {
        result = super::sweep::sweep(
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

/// Whose alert it is decides the ticket's company: an alert without its tenant would be
/// skipped as unmapped and remembered as seen, never to get its ticket, so its page is
/// refused (the next poll reads it again).
fn routable(alerts: &[Alert], run: &mut RunRecord) -> Result<(), PollError> {
    match alerts.iter().find(|a| a.tenant.uuid.is_none()) {
        Some(alert) => {
            run.count(crate::runs::MALFORMED_ANSWERS_COUNT, 1);
            Err(PollError::Malformed(crate::domain::quotas::Malformed {
                what: format!("Acronis alert {}", alert.id),
                field: "tenant.uuid",
                problem: "is missing".into(),
            }))
        }
        None => Ok(()),
    }
}

/// A poll's pages, and what it keeps between them.
struct Pages<'a> {
    acronis: &'a AcronisClient,
    store: &'a Store,
    bus: &'a EventBus,
    opts: &'a PollOptions,
    settings: &'a AlertSettings,
    cursor: AlertCursor,
    /// The cursor as stored (the conditional write's expectation).
    expected: Option<AlertCursor>,
    seen: BTreeSet<String>,
    /// The company of each tenant looked up so far.
    companies: HashMap<String, Option<i64>>,
    report: PollReport,
}

/// The events of one page, and the occurrence and time of each.
struct PageEvents {
    events: Vec<Event>,
    occurrences: Vec<(String, i64)>,
    /// The latest `updatedAt` on the page (ns).
    latest_ns: i64,
}

impl Pages<'_> {
    /// Every page from the cursor, until the last, the page limit or the deadline; the
    /// cursor is stored after each page.
    async fn read_all(&mut self, run: &mut RunRecord) -> Result<(), PollError> {
        let mut query = first_page(&self.cursor, self.opts);
        let resumed = self.cursor.resume.is_some();
        query.after = self.cursor.resume.clone();
        for _ in 0..self.opts.max_pages.max(1) {
            if self.opts.deadline.passed() {
                // What is left is the next poll's: the cursor holds every finished page.
                run.count("stopped_at_deadline", 1);
                break;
            }
            let page = self.fetch(&query, resumed).await?;
            routable(&page.items, run)?;
            self.report.pages += 1;
            self.report.read += page.items.len();
            let events = self.events_of(&page.items).await?;
            let failed = self.take(events, page.after(), run).await?;
            if failed > 0 {
                return Err(PollError::Bus(failed));
            }
            match page.after() {
                Some(after) => query.after = Some(after.to_owned()),
                None => break,
            }
        }
        Ok(())
    }

    /// One page. A continuation the platform no longer takes: the next poll starts over
    /// from the mark (the overlap covers it).
    async fn fetch(
        &mut self,
        query: &AlertQuery,
        resumed: bool,
    ) -> Result<crate::acronis::models::Page<Alert>, PollError> {
        match self.acronis.alerts_page(query).await {
            Ok(page) => Ok(page),
            Err(e) => {
                if resumed && self.report.pages == 0 && !e.is_transient() {
                    let next = AlertCursor {
                        resume: None,
                        ..self.cursor.clone()
                    };
                    if self
                        .store
                        .advance_cursor(
                            &cursor_name(self.acronis.connection()),
                            self.expected.as_ref(),
                            &next,
                        )
                        .await
                        .is_ok()
                    {
                        self.cursor = next;
                    }
                }
                Err(PollError::Acronis(e))
            }
        }
    }

    /// The events of a page's alerts (`domain::alerts::poll_step`).
    async fn events_of(&mut self, alerts: &[Alert]) -> Result<PageEvents, PollError> {
        let mut out = PageEvents {
            events: Vec::new(),
            occurrences: Vec::new(),
            latest_ns: self.cursor.high_water_ns,
        };
        for alert in alerts {
            let ns = rules::updated_ns(alert);
            out.latest_ns = out.latest_ns.max(ns);
            let occurrence = rules::occurrence_id(alert);
            let carried = self.seen.contains(&occurrence);
            let company = if carried {
                None
            } else {
                company_of(
                    self.store,
                    self.acronis.connection(),
                    &mut self.companies,
                    alert,
                )
                .await?
            };
            match rules::poll_step(alert, carried, company, self.settings) {
                PollStep::Duplicate => self.report.duplicates += 1,
                PollStep::UnmappedTenant => {
                    self.report.unmapped_tenant += 1;
                    self.seen.insert(occurrence);
                }
                PollStep::UnmappedType => {
                    self.report.unmapped_type += 1;
                    self.seen.insert(occurrence);
                }
                PollStep::Publish { company_id, event } => {
                    out.events.push(alert_event(
                        event,
                        (self.acronis.connection(), company_id),
                        alert,
                    ));
                    out.occurrences.push((occurrence, ns));
                }
            }
        }
        Ok(out)
    }

    /// Publishes a page's events and stores the cursor past what was published (the mark
    /// held just before an event the bus refused, so it is read again); returns how many
    /// the bus refused.
    async fn take(
        &mut self,
        page: PageEvents,
        after: Option<&str>,
        run: &mut RunRecord,
    ) -> Result<usize, PollError> {
        let published = self.bus.publish(&page.events).await;
        self.report.published += published.published;
        self.report.failed += published.failed.len();
        let failed: BTreeSet<usize> = published.failed.iter().map(|f| f.index).collect();
        for f in &published.failed {
            run.failures.push(Failure {
                subject: format!("alert event {}", f.detail_type),
                reason: format!("{}: {}", f.code, f.message),
                transient: true,
            });
        }
        let mut mark = page.latest_ns;
        for (i, (occurrence, ns)) in page.occurrences.into_iter().enumerate() {
            if failed.contains(&i) {
                // Read it again next time: hold the mark just before it.
                mark = mark.min(ns - 1).max(self.cursor.high_water_ns);
            } else {
                self.seen.insert(occurrence);
            }
        }
        let overlap_ns = self.opts.overlap.num_nanoseconds().unwrap_or(0);
        let floor = mark.saturating_sub(overlap_ns);
        self.seen.retain(|s| seen_ns(s) >= floor);
        let mut kept: Vec<String> = self.seen.iter().cloned().collect();
        if kept.len() > MAX_SEEN {
            kept.sort_by_key(|s| std::cmp::Reverse(seen_ns(s)));
            kept.truncate(MAX_SEEN);
            kept.sort();
        }
        let next = AlertCursor {
            high_water_ns: mark,
            seen: kept,
            // Go on from the next page, unless this one failed (read again from the mark).
            resume: after.filter(|_| failed.is_empty()).map(str::to_owned),
            ..self.cursor.clone()
        };
        if self.expected.as_ref() != Some(&next) {
            self.store
                .advance_cursor(
                    &cursor_name(self.acronis.connection()),
                    self.expected.as_ref(),
                    &next,
                )
                .await?;
            self.expected = Some(next.clone());
        }
        self.cursor = next;
        self.report.cursor_ns = self.cursor.high_water_ns;
        Ok(failed.len())
    }
}
