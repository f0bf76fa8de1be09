//! The simulated month (`make bench-month`, and a 3-day version in `make test`): both
//! simulators and the product on one clock moved 15 minutes per cycle, a scenario of sales,
//! ends, cancellations, changes, deactivations, usage and alerts, 20% of API requests
//! faulted and 10% of callbacks lost, every simulator switch at its least helpful setting;
//! then the oracle ([`simulators::oracle`]) judges the end state from the simulators alone.
//! Two Acronis data centres ([`data_centres`]): the companies spread over the connections
//! `default` and `us` by the new-customer rule (by country), each connection with its own
//! products, and each data centre down on its own for a while.
//!
//! Each cycle: the scenario's changes for this quarter hour (as a person or Acronis would
//! make them: UI edits that fire callbacks, usage, alerts), then with faults on: the
//! callbacks reach the webhook (in process) and the provisioner handles their events, one
//! reconciler cycle and its events, one usage push (in process), one alert poll and the
//! ticket sync of its events. Bus events go through moto's EventBridge and SQS to the
//! handlers, called in this process. The last day runs without faults, so the end state is
//! one the product has had a fault-free day to settle; a company still wrong then is a
//! discrepancy.
//!
//! Time is scaled by one factor, `scale=0.005`: requests time out after 150 ms (production:
//! 30 s), a server's `Retry-After` is waited at 1/200, retry backoff runs from 1 to 50 ms
//! (production: 200 ms to 10 s), and a reply held back past the timeout is held 300 ms.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::domain::alerts::{AlertSettings, TypeMapping};
use shared::domain::calendar::{self, Zone};
use shared::domain::settings::{BillingSettings, DeprovisionSettings, ProvisioningSettings};
use shared::functions::Function;
use shared::http::{RetryPolicy, Transport};
use shared::runs::{MetricLog, Recorder};
use shared::services::alerts::{PollOptions, TicketSync};
use shared::services::provisioning::Provisioning;
use shared::services::usage::{Deadline, UsageOptions, UsagePush};
use shared::settings::HttpSettings;
use shared::store::{ProductMapping, RunRecord};
use simulators::acronis::{AcronisSim, RaiseAlert, Switches as AcronisSwitches};
use simulators::connectwise::{CallbackUrlForm, CwSwitches, KeyFetchAuth, KeyUrlHost};
use simulators::control::{FaultKind, FaultRule};
use simulators::oracle::{self, Rules, Verdict};

use crate::{LocalStack, StackOptions, fresh_secret, unique};

pub mod data_centres;
mod end_state;
mod queues;
use data_centres::{self as dc, SERVERS, WORKSTATIONS};
pub use end_state::end_state;
use end_state::trace_runs;
use queues::drain;

/// The scaling of every wait (timeouts, `Retry-After`, backoff) against production.
pub const SCALE: f64 = 0.005;
const CYCLE_MINUTES: i64 = 15;
const CYCLES_PER_DAY: i64 = 96;
const BOARD: i64 = 1;
const FIRST_COMPANY: i64 = 5000;
/// The MSP's time zone (`billing.time_zone`), west of UTC: its days end four or five hours
/// after UTC's. The run starts at 22:30 there, so it also ends in the hours when the MSP's
/// day and UTC's differ, and one agreement ending on the MSP's last day (still in force for
/// it, over for UTC) tells the two apart.
pub const TIME_ZONE: &str = "America/New_York";

/// Which vendor is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Down {
    ConnectWise,
    /// The first data centre (connection `default`).
    Acronis,
    /// Only the second data centre (connection `us`).
    AcronisUs,
}

/// The outage windows of the faulted days: ConnectWise down for two cycles (30 minutes) a
/// third of the way in, the second Acronis data centre for four cycles half way
/// ([`dc::us_outage`]), the first for two cycles two thirds of the way in. The scenario's
/// changes of a window happen in every month; the vendor is down only when
/// [`MonthSize::outages`] is set (so a month without outages is its outage-free twin).
fn outage(cycle: i64, fault_free_from: i64) -> Option<Down> {
    let (cw, acronis) = (fault_free_from / 3, 2 * fault_free_from / 3);
    if fault_free_from < 6 {
        None
    } else if (cw..cw + 2).contains(&cycle) {
        Some(Down::ConnectWise)
    } else if (acronis..acronis + 2).contains(&cycle) {
        Some(Down::Acronis)
    } else if dc::us_outage(cycle, fault_free_from) {
        Some(Down::AcronisUs)
    } else {
        None
    }
}

/// How big a month.
#[derive(Debug, Clone, Copy)]
pub struct MonthSize {
    pub days: i64,
    pub companies: i64,
    /// 20% of requests faulted and 10% of callbacks lost until the last day.
    pub faults: bool,
    /// The vendors down in their outage windows.
    pub outages: bool,
}

impl MonthSize {
    /// A month with every fault and both outages.
    pub fn faulted(days: i64, companies: i64) -> Self {
        Self {
            days,
            companies,
            faults: true,
            outages: true,
        }
    }
}

/// What a month found.
#[derive(Debug, Clone)]
pub struct MonthReport {
    pub size: MonthSize,
    pub cycles: i64,
    pub faults: u64,
    pub lost_callbacks: usize,
    pub verdict: Verdict,
    pub calls: u64,
    pub wall_s: f64,
    /// The verdict after one quota was changed behind the product's back.
    pub self_check: Verdict,
    /// Vendor outages (ConnectWise, the second data centre, the first).
    pub outages: i64,
    /// Companies per Acronis connection (by the new-customer rule).
    pub connections: BTreeMap<String, i64>,
    /// Events that reached a consumer's on-failure queue, and those redriven from there.
    pub dead_lettered: u64,
    pub redriven: u64,
    /// The MSP's time zone the month ran in, and whether its last day was another than
    /// UTC's at the end (then an agreement ending on it was judged in force).
    pub time_zone: &'static str,
    pub days_differ: bool,
    /// The end state, in words without the ids each run draws: every ticket's status and
    /// notes, every tenant's state and quotas, every addition's quantity.
    pub end_state: BTreeMap<String, String>,
}

impl MonthReport {
    pub fn line(&self) -> String {
        format!(
            "month days={} companies={} connections={} time_zone={} local_day_differs={} cycles={} faults={} lost_callbacks={} outages={} dead_lettered={} redriven={} discrepancies={} duplicates={} calls={} wall_s={:.0} scale={SCALE}",
            self.size.days,
            self.size.companies,
            self.connections
                .iter()
                .map(|(c, n)| format!("{c}:{n}"))
                .collect::<Vec<_>>()
                .join(","),
            self.time_zone,
            self.days_differ,
            self.cycles,
            self.faults,
            self.lost_callbacks,
            self.outages,
            self.dead_lettered,
            self.redriven,
            self.verdict.discrepancies.len(),
            self.verdict.duplicates,
            self.calls,
            self.wall_s
        )
    }
}

/// The request timeout under the scale.
fn timeout() -> Duration {
    HttpSettings::default().timeout.mul_f64(SCALE)
}

fn transport() -> Transport {
    let settings = HttpSettings {
        timeout: timeout(),
        max_attempts: 3,
        ..HttpSettings::default()
    };
    let client = shared::http::build_client(&settings).expect("client");
    let mut policy = RetryPolicy::from_settings(&settings);
    policy.min_delay = policy.min_delay.mul_f64(SCALE);
    policy.max_delay = policy.max_delay.mul_f64(SCALE);
    policy.retry_after_scale = SCALE;
    Transport::new(client, policy, 8)
}

/// The faults of a faulted cycle: one in five of every 25 requests each, 20% in all.
fn faults() -> Vec<FaultRule> {
    let rule = |fault| FaultRule {
        method: None,
        path_contains: None,
        times: None,
        fault,
    };
    vec![
        rule(FaultKind::Status {
            status: 429,
            retry_after: Some(1),
            body: None,
        }),
        rule(FaultKind::Status {
            status: 503,
            retry_after: None,
            body: None,
        }),
        rule(FaultKind::Status {
            status: 500,
            retry_after: None,
            body: None,
        }),
        rule(FaultKind::Drop),
        // Handled, then answered after the client gave up.
        rule(FaultKind::SlowAfterHandling {
            ms: 2 * timeout().as_millis() as u64,
        }),
    ]
}

/// The MSP's calendar day of `t`, as ConnectWise writes a date.
fn date(t: DateTime<Utc>) -> String {
    calendar::local_day(t, zone())
        .format("%Y-%m-%dT00:00:00Z")
        .to_string()
}

fn zone() -> Zone {
    TIME_ZONE.parse().expect("the month's zone")
}

/// How far to move the clocks so that the run starts at the next 22:30 of the MSP's day.
fn evening_offset(now: DateTime<Utc>) -> chrono::Duration {
    let tz = zone().tz();
    let local = now.with_timezone(&tz);
    let evening = |d: chrono::NaiveDate| {
        d.and_hms_opt(22, 30, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&Utc))
    };
    let today = evening(local.date_naive()).filter(|t| *t > now);
    let start = today
        .or_else(|| evening(local.date_naive() + chrono::Duration::days(1)))
        .expect("22:30 exists every day");
    start - now
}

/// One company of the scenario: what it holds, and what happens to it when.
struct Plan {
    id: i64,
    kind: i64,
    /// Which of two variants of its kind (end by date or cancel; cleared or not; ...).
    variant: i64,
    /// The cycle of its event (end, start, change, deactivation), by kind.
    at: i64,
    /// A second event (reactivation, alert clearing), if any.
    then: Option<i64>,
    /// In the United States: its tenant goes to the second data centre (`us`).
    us: bool,
}

impl Plan {
    fn of(i: i64, size: MonthSize) -> Self {
        let cycles = size.days * CYCLES_PER_DAY;
        let span = |from: f64, to: f64| {
            let a = (from * cycles as f64) as i64;
            let b = ((to * cycles as f64) as i64).max(a + 1);
            a + (i * 37) % (b - a)
        };
        let kind = i % 6;
        let variant = (i / 6) % 2;
        let (at, then) = match kind {
            // alerts: raised, and for even ones cleared
            0 | 1 => (span(0.1, 0.3), (variant == 0).then(|| span(0.5, 0.7))),
            2 => (span(0.1, 0.4), None),
            3 => (span(0.2, 0.5), None),
            4 => (span(0.3, 0.6), None),
            _ => (span(0.2, 0.3), (variant == 1).then(|| span(0.6, 0.7))),
        };
        Self {
            id: FIRST_COMPANY + i,
            kind,
            variant,
            at,
            then,
            us: dc::in_us(i),
        }
    }

    fn connection(&self) -> &'static str {
        if self.us { dc::US } else { dc::DEFAULT }
    }

    fn country(&self) -> &'static str {
        if self.us {
            dc::US_COUNTRY
        } else {
            dc::OTHER_COUNTRY
        }
    }

    /// Its connection's product for the default connection's `product`.
    fn product(&self, product: i64) -> i64 {
        match (self.us, product) {
            (true, SERVERS) => dc::SERVERS_US,
            (true, WORKSTATIONS) => dc::WORKSTATIONS_US,
            _ => product,
        }
    }

    /// The simulator of its data centre.
    fn sim<'a>(&self, sims: &'a Sims) -> &'a AcronisSim {
        if self.us { &sims.us } else { &sims.default }
    }

    fn name(&self) -> String {
        format!("Month Co {}", self.id)
    }

    fn agreement(&self) -> i64 {
        self.id * 10
    }

    fn addition(&self) -> i64 {
        self.id * 100
    }
}

/// The Acronis simulators: the first data centre (`default`) and the second (`us`).
struct Sims {
    default: AcronisSim,
    us: AcronisSim,
}

impl Sims {
    fn both(&self) -> [(&'static str, &AcronisSim); 2] {
        [(dc::DEFAULT, &self.default), (dc::US, &self.us)]
    }
}

static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// [`run`] on a runtime of its own whose threads have room for the month's large futures
/// (a debug build's frames overflow a test thread's 2 MiB on some fault paths).
pub fn run_blocking(size: MonthSize) -> Result<MonthReport> {
    const STACK: usize = 64 * 1024 * 1024;
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .thread_stack_size(STACK)
                .enable_all()
                .build()?
                .block_on(run(size))
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the month panicked"))?
}

/// The month on the local stack (moto must be running).
pub async fn run(size: MonthSize) -> Result<MonthReport> {
    // The scenario's last changes come at 60% of the run; with fewer than three days, a
    // change the daily sweep must catch could come less than a day before the end.
    anyhow::ensure!(
        size.days >= 3 && size.companies >= 18,
        "a month runs at least 3 days over at least 18 companies (one of each kind in each data centre)"
    );
    // One month at a time in a process: it moves the process's clocks.
    let _only_month = RUNNING.lock().await;
    let started = Instant::now();
    // Both clocks at 22:30 of the MSP's day (and on from there, one cycle at a time).
    let base = evening_offset(Utc::now());
    shared::clock::set_offset(base);
    simulators::clock::set_offset(base);
    let s = LocalStack::start_with(StackOptions {
        cw_transport: transport(),
        acronis_transport: transport(),
        ..StackOptions::default()
    })
    .await?;
    s.cw_sim.set_switches(CwSwitches {
        bad_credentials_status: 404,
        key_url_host: KeyUrlHost::Alias,
        key_fetch: KeyFetchAuth::Authenticated,
        addition_bumps_agreement: false,
        callback_url: CallbackUrlForm::IdAppended,
        rate_limit_per_minute: Some(1000),
        rate_limit_minute_ms: 60_000,
    });
    // The second data centre (connection `us`), on a simulator and client of its own.
    let (us_sim, us_client) = dc::start_us(transport()).await?;
    let sims = Sims {
        default: s.acronis_sim.clone(),
        us: us_sim,
    };
    let connections = dc::connections(&s.acronis, &us_client);
    for (_, sim) in sims.both() {
        sim.set_switches(AcronisSwitches {
            cleared_alert_field: simulators::acronis::ClearedField::Gone,
            search_finds_phrases: false,
            id_list_page_size: Some(7),
            deletion_updates_tenant: false,
            taken_login_status: 400,
        });
    }
    if size.faults {
        s.cw_sim.lose_callbacks(Some(10));
    }

    // The bus and the two consumers' queues.
    let eb = aws_sdk_eventbridge::Client::new(&s.config);
    let sqs = aws_sdk_sqs::Client::new(&s.config);
    let bus_name = unique("bus");
    local_runner::ensure_bus(&eb, &bus_name).await?;
    let mut queues = BTreeMap::new();
    // The consumers' dead-letter queues, named as the template names a stack's.
    let stack_name = unique("month");
    let dead_letters = shared::queues::SqsQueues::new(sqs.clone(), &stack_name).without_waiting();
    for route in local_runner::routes() {
        if matches!(route.consumer, Function::Provisioner | Function::TicketSync) {
            let name = unique(route.consumer.name());
            let url =
                local_runner::route_to_queue(&eb, &sqs, &bus_name, &name, &route.pattern, &name)
                    .await?;
            // Invoked as Lambda invokes it: two retries, then its on-failure queue.
            let dead_letters = sqs
                .create_queue()
                .queue_name(shared::domain::dead_letters::queue_name(
                    &stack_name,
                    route.consumer,
                ))
                .send()
                .await?
                .queue_url
                .context("a dead-letter queue URL")?;
            queues.insert(
                route.consumer,
                local_runner::invoke::AsyncTarget {
                    function: route.consumer,
                    queue_url: url,
                    dead_letters: Some(dead_letters),
                    scale: SCALE,
                    throttled: false,
                },
            );
        }
    }
    let bus = shared::bus::EventBus::new(eb.clone(), bus_name.clone());

    // The webhook, in process, registered as ConnectWise's callbacks.
    let mut hook_config = webhook::WebhookConfig::new(
        shared::connectwise::client::site_origin(&s.cw_sim.url()).context("site")?,
    );
    hook_config.client_id = Some(s.cw_sim.config().client_id.clone());
    hook_config.secret_id = Some(fresh_secret(&s.config, &s.cw_sim).await?);
    let sm_config = s.config.clone();
    let keys =
        webhook::HttpKeySource::from_config(reqwest::Client::new(), &hook_config, move || {
            aws_sdk_secretsmanager::Client::new(&sm_config)
        });
    let hook = Arc::new(webhook::Webhook::new(
        hook_config,
        s.store.clone(),
        bus.clone(),
        keys,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(webhook::local::serve(listener, hook));
    shared::services::callbacks::register(&s.cw, &hook_url, false).await?;

    // Settings: the MSP's time zone, auto-provisioning (new customers of the United States
    // to `us`), every deprovisioning step, two products in each connection, alert tickets.
    s.store
        .save_section(&BillingSettings {
            time_zone: Some(zone()),
            ..BillingSettings::default()
        })
        .await?;
    s.store
        .save_section(&ProvisioningSettings {
            auto_provisioning: true,
            deprovisioning: DeprovisionSettings {
                disable: true,
                delete: true,
                ..DeprovisionSettings::default()
            },
            new_customers: dc::new_customers(),
            ..ProvisioningSettings::default()
        })
        .await?;
    for connection in [dc::DEFAULT, dc::US] {
        for (item, product) in dc::products(connection) {
            let mut mapping = ProductMapping::new(item, Some(product), "quantity");
            mapping.connection = connection.parse()?;
            s.store.put_product_mapping(&mapping).await?;
        }
    }
    s.cw_sim.seed(json!({
        "catalog": [
            {"id": SERVERS, "identifier": "ACR-SERVERS", "description": "Acronis servers"},
            {"id": WORKSTATIONS, "identifier": "ACR-WS", "description": "Acronis workstations"},
            {"id": dc::SERVERS_US, "identifier": "ACR-US-SERVERS", "description": "Acronis servers (US)"},
            {"id": dc::WORKSTATIONS_US, "identifier": "ACR-US-WS", "description": "Acronis workstations (US)"}
        ],
        "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}],
        "boards": [{"id": BOARD, "name": "Acronis alerts",
            "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Closed", "closedStatus": true}],
            "types": [{"name": "Backup"}]}]
    }))?;
    let mut alert_settings = AlertSettings {
        board_id: Some(BOARD),
        auto_close: true,
        closing_status_id: Some(2),
        ..AlertSettings::default()
    };
    alert_settings.types.insert(
        "BackupFailed".into(),
        TypeMapping {
            status_id: 1,
            type_id: None,
            subtype_id: None,
            priority_id: None,
        },
    );
    shared::services::alerts::save_settings(&s.cw, &s.store, &alert_settings).await?;

    // The companies, as they stand on day 0.
    let start = simulators::clock::now();
    let plans: Vec<Plan> = (0..size.companies).map(|i| Plan::of(i, size)).collect();
    let cycles = size.days * CYCLES_PER_DAY;
    let day_of = |cycle: i64| start + chrono::Duration::minutes(cycle * CYCLE_MINUTES);
    for p in &plans {
        let (kind_name, product, quantity, start_date, end_date) = match p.kind {
            1 => ("Pay As You Go", SERVERS, 0.0, start, None),
            2 if p.variant == 0 => ("Managed Services", SERVERS, 2.0, start, Some(day_of(p.at))),
            3 => ("Managed Services", WORKSTATIONS, 3.0, day_of(p.at), None),
            // Variant 1 ends on the MSP's last day of the run: in force at the end (for UTC
            // it ended at UTC's midnight, hours before).
            4 if p.variant == 1 => (
                "Managed Services",
                SERVERS,
                2.0,
                start,
                Some(day_of(cycles)),
            ),
            4 => ("Managed Services", SERVERS, 2.0, start, None),
            _ => (
                "Managed Services",
                SERVERS,
                1.0 + (p.id % 5) as f64,
                start,
                None,
            ),
        };
        let mut agreement = json!({"id": p.agreement(), "name": "Backup", "type": {"id": 1, "name": kind_name},
            "company": {"id": p.id}, "agreementStatus": "Active", "startDate": date(start_date)});
        match end_date {
            Some(e) => agreement["endDate"] = json!(date(e)),
            None => agreement["noEndingDateFlag"] = json!(true),
        }
        s.cw_sim.seed(json!({
            "companies": [{"id": p.id, "identifier": format!("C{}", p.id), "name": p.name(),
                           "status": {"id": 1, "name": "Active"},
                           "country": {"id": if p.us { 1 } else { 2 }, "name": p.country()}}],
            "contacts": [{"id": p.id * 10, "firstName": "Pat", "lastName": "Lee", "company": {"id": p.id},
                          "defaultFlag": true,
                          "communicationItems": [{"type": {"id": 1, "name": "Email"}, "value": format!("it@c{}.example", p.id),
                                                  "defaultFlag": true, "communicationType": "Email"}]}],
            "agreements": [agreement],
            "additions": [{"id": p.addition(), "agreementId": p.agreement(), "product": {"id": p.product(product)},
                           "quantity": quantity, "billCustomer": "Billable", "effectiveDate": date(start)}]
        }))?;
    }

    let provisioning = Provisioning::new(s.cw.clone(), connections.clone(), s.store.clone());
    let usage = UsagePush::new(
        s.cw.clone(),
        connections.clone(),
        s.store.clone(),
        UsageOptions::default(),
    );
    let tickets = TicketSync::new(s.cw.clone(), s.store.clone());
    // Run records go to a table of their own: moto reads a table whole, and a month of
    // them would slow every later cycle (the product's decisions never read them).
    let runs = crate::fresh_store(&s.config).await?;
    let recorder = Recorder::new(runs.clone(), Duration::from_secs(3600)).with_log(MetricLog::Off);
    let http = reqwest::Client::new();
    let cw_url = s.cw_sim.url();

    // Time spent by each side of the cycles (provisioner, usage, alerts).
    let mut sides = [Duration::ZERO; 3];
    let fault_free_from = cycles - CYCLES_PER_DAY;
    let mut calls = 0u64;
    // Events the consumers failed on after Lambda's retries (to their on-failure queues),
    // and those the reconciler's redrive put back on the bus.
    let dead_lettered = std::sync::atomic::AtomicU64::new(0);
    let redriven = std::sync::atomic::AtomicU64::new(0);
    let trace = std::env::var_os("MONTH_TRACE").is_some();
    // With BENCH_CALLS: requests per route over the whole run, per simulator.
    let mut all_calls: [BTreeMap<String, u64>; 3] = Default::default();
    // The second data centre's alerts around its outage (company, tenant).
    let mut dc_alerted: Vec<(i64, String)> = Vec::new();
    // With MONTH_TRACE: requests per route, printed and reset each day.
    let mut routes: BTreeMap<String, u64> = BTreeMap::new();
    for cycle in 0..cycles {
        let offset = base + chrono::Duration::minutes(cycle * CYCLE_MINUTES);
        shared::clock::set_offset(offset);
        simulators::clock::set_offset(offset);
        let today = cycle / CYCLES_PER_DAY;

        // The scenario's changes of this quarter hour (no faults on them: they are not the
        // product's requests).
        for p in &plans {
            let sim = p.sim(&sims);
            let tenant = || tenant_of(&sim.state(), &p.name());
            match p.kind {
                0 | 1 if cycle == p.at => {
                    // An alert of a tenant the product has mapped (a tenant not mapped yet
                    // has no company to ticket).
                    if let Some(t) = tenant()
                        && s.store.mapping_by_tenant(&t).await?.is_some()
                    {
                        raise(sim, &t, p)?;
                    }
                }
                0 | 1 if Some(cycle) == p.then => {
                    sim.clear_alert(&format!("M-{}", p.id)).ok();
                }
                2 if cycle == p.at && p.variant == 1 => {
                    ui_patch(
                        &http,
                        &format!("{cw_url}/_sim/agreements/{}", p.agreement()),
                        json!({"agreementStatus": "Cancelled"}),
                    )
                    .await?;
                }
                4 if cycle == p.at => {
                    ui_patch(
                        &http,
                        &format!(
                            "{cw_url}/_sim/agreements/{}/additions/{}",
                            p.agreement(),
                            p.addition()
                        ),
                        json!({"quantity": 6.0}),
                    )
                    .await?;
                }
                5 if cycle == p.at => {
                    ui_patch(
                        &http,
                        &format!("{cw_url}/_sim/companies/{}", p.id),
                        json!({"status": {"id": 2, "name": "Inactive"}}),
                    )
                    .await?;
                }
                5 if Some(cycle) == p.then => {
                    ui_patch(
                        &http,
                        &format!("{cw_url}/_sim/companies/{}", p.id),
                        json!({"status": {"id": 1, "name": "Active"}}),
                    )
                    .await?;
                }
                _ => {}
            }
            // Usage moves once a day for pay-as-you-go tenants.
            if p.kind == 1
                && cycle % CYCLES_PER_DAY == p.id % CYCLES_PER_DAY
                && let Some(t) = tenant()
            {
                sim.set_usage(&t, "pw_base_servers", None, (p.id + today) % 7 + 1)?;
            }
        }

        // Alerts while ConnectWise is down: two raised as it goes down, one of them cleared
        // before it comes back; their tickets can only be made once it is back.
        if outage(cycle, fault_free_from) == Some(Down::ConnectWise) {
            let going_down = outage(cycle - 1, fault_free_from) != Some(Down::ConnectWise);
            let mut mapped = Vec::new();
            for p in plans.iter().filter(|p| p.kind == 0 && !p.us) {
                if let Some(t) = tenant_of(&s.acronis_sim.state(), &p.name())
                    && s.store.mapping_by_tenant(&t).await?.is_some()
                {
                    mapped.push((p.id, t));
                }
                if mapped.len() == 2 {
                    break;
                }
            }
            for (i, (id, tenant)) in mapped.iter().enumerate() {
                let alert = format!("OUT-{id}");
                // Raised as it goes down; then the first cleared and the second repeated
                // (a second occurrence: one note on its ticket).
                if going_down || i == 1 {
                    s.acronis_sim.raise_alert(RaiseAlert {
                        id: Some(alert),
                        tenant: tenant.clone(),
                        kind: "BackupFailed".into(),
                        category: None,
                        severity: None,
                        details: json!({"resourceId": format!("out-{id}"), "resourceName": format!("out-{id}"),
                                        "resourceType": "machine", "planName": "Daily"}),
                    })?;
                } else {
                    s.acronis_sim.clear_alert(&alert).ok();
                }
            }
        }
        dc::outage_alerts(&s, &sims, &plans, cycle, fault_free_from, &mut dc_alerted).await?;
        let faulted = size.faults && cycle < fault_free_from;
        let down = outage(cycle, fault_free_from).filter(|_| size.outages);
        // ConnectWise, then Acronis, down for 30 minutes: longer than Lambda's retries of
        // the events they fail (about 3 minutes), so what is left in the on-failure queues
        // must come back with nothing lost (the reconciler's redrive).
        if let Some(down) = down {
            let every_request = FaultRule {
                method: None,
                path_contains: None,
                times: None,
                fault: FaultKind::Status {
                    status: 503,
                    retry_after: None,
                    body: None,
                },
            };
            match down {
                Down::ConnectWise => s.cw_sim.control().add_fault(every_request),
                Down::Acronis => sims.default.control().add_fault(every_request),
                Down::AcronisUs => sims.us.control().add_fault(every_request),
            };
        }
        if faulted {
            for (i, rule) in faults().into_iter().enumerate() {
                s.cw_sim
                    .control()
                    .add_fault_one_in(rule.clone(), 25, 5 * i as u32);
                for (_, sim) in sims.both() {
                    sim.control()
                        .add_fault_one_in(rule.clone(), 25, 5 * i as u32 + 2);
                }
            }
        }
        let before = requests(&s, &sims);
        // The functions run side by side, as their Lambdas do: callbacks and the reconciler
        // feed the provisioner; the usage push; the alert poll feeds the ticket sync.
        let provision = |e: Value| {
            let (p, r) = (&provisioning, &recorder);
            async move {
                provisioner::handle_eventbridge(p, r, &e)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        let provisioner_side = async {
            let t = Instant::now();
            // Callbacks that reached the webhook by now (a later one is handled next cycle).
            drain(
                &sqs,
                &queues[&Function::Provisioner],
                &dead_lettered,
                down.is_some(),
                provision,
            )
            .await?;
            // A failed cycle is one the next cycle repeats (the cursor has not moved).
            let mut run = RunRecord::start("reconciler");
            let reconciled = shared::services::reconcile::reconcile(
                &s.cw,
                &connections,
                &s.store,
                &bus,
                &mut run,
                false,
            )
            .await;
            // As the reconciler does after a cycle both vendors answered.
            if reconciled.is_ok() {
                reconciler::redrive(&dead_letters, &bus, &mut run).await;
                redriven.fetch_add(
                    run.counts
                        .get("dead_letters_republished")
                        .copied()
                        .unwrap_or(0),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            drain(
                &sqs,
                &queues[&Function::Provisioner],
                &dead_lettered,
                down.is_some(),
                provision,
            )
            .await
            .map(|()| t.elapsed())
        };
        let usage_side = async {
            let t = Instant::now();
            let _ = shared::services::cycles::usage_push(&usage, None, &recorder, Deadline::none())
                .await;
            t.elapsed()
        };
        let alert_side = async {
            let t = Instant::now();
            let _ = shared::services::cycles::alert_poll(
                &connections,
                &s.store,
                &bus,
                &PollOptions::default(),
                &recorder,
            )
            .await;
            drain(
                &sqs,
                &queues[&Function::TicketSync],
                &dead_lettered,
                down.is_some(),
                |e| {
                    let (t, r) = (&tickets, &recorder);
                    async move {
                        ticket_sync::handle_eventbridge(t, r, &e)
                            .await
                            .map_err(|e| e.to_string())
                    }
                },
            )
            .await
            .map(|()| t.elapsed())
        };
        let (provisioned, pushed, ticketed) =
            tokio::join!(provisioner_side, usage_side, alert_side);
        for (side, spent) in [provisioned?, pushed, ticketed?].into_iter().enumerate() {
            sides[side] += spent;
        }
        calls += requests(&s, &sims) - before;
        if crate::calls_wanted() {
            let counts = [
                s.cw_sim.control().counts(),
                sims.default.control().counts(),
                sims.us.control().counts(),
            ];
            for (all, counts) in all_calls.iter_mut().zip(counts) {
                for (route, n) in counts {
                    *all.entry(route).or_default() += n;
                }
            }
        }
        if trace {
            for (route, n) in s
                .cw_sim
                .control()
                .counts()
                .into_iter()
                .chain(sims.default.control().counts())
                .chain(sims.us.control().counts())
            {
                *routes.entry(route).or_default() += n;
            }
        }
        if faulted || down.is_some() {
            s.cw_sim.control().clear_faults();
            for (_, sim) in sims.both() {
                sim.control().clear_faults();
            }
        }
        s.cw_sim.control().clear_requests();
        for (_, sim) in sims.both() {
            sim.control().clear_requests();
        }
        if trace && (cycle + 1) % CYCLES_PER_DAY == 0 {
            eprintln!(
                "day {today}: wall {:.0} s, calls {calls}, time per side {sides:?}",
                started.elapsed().as_secs_f64()
            );
            let mut busiest: Vec<_> = std::mem::take(&mut routes).into_iter().collect();
            busiest.sort_by_key(|b| std::cmp::Reverse(b.1));
            for (route, n) in busiest.iter().take(12) {
                eprintln!("  {n:>6} {route}");
            }
        }
    }

    let end = simulators::clock::now();
    let scenario = format!(
        "month-{}d{}c-{}{}",
        size.days,
        size.companies,
        if size.outages {
            "outages"
        } else {
            "no-outages"
        },
        if size.faults { "" } else { "-no-faults" }
    );
    crate::print_calls(&scenario, "connectwise", &all_calls[0]);
    crate::print_calls(&scenario, "acronis", &all_calls[1]);
    crate::print_calls(&scenario, "acronis-us", &all_calls[2]);
    let rules = Rules {
        products: dc::oracle_products(),
        connections: dc::oracle_rule(),
        payg_types: vec!["pay as you go".into()],
        disable_after_days: 10,
        delete_after_days: 30,
        alert_types: vec!["BackupFailed".into()],
        start,
        end,
        cycle: chrono::Duration::minutes(CYCLE_MINUTES),
        time_zone: zone().tz(),
    };
    // Whether the run ended on another day for the MSP than for UTC (it does unless it
    // overran 22:30 by hours): then the agreements ending on the MSP's last day tell the
    // MSP's days from UTC's.
    let days_differ = rules.day_at(end) != end.date_naive();
    let judge = || {
        let (default, us) = (sims.default.state(), sims.us.state());
        oracle::judge(
            &s.cw_sim.state(),
            &[(dc::DEFAULT, &default), (dc::US, &us)],
            &rules,
        )
    };
    let verdict = judge();
    if trace {
        trace_runs(&runs, &verdict).await?;
    }
    let faults = s.cw_sim.control().faults_applied()
        + sims
            .both()
            .iter()
            .map(|(_, sim)| sim.control().faults_applied())
            .sum::<u64>();
    let end_state = end_state(
        &s.cw_sim.state(),
        &[
            (dc::DEFAULT, sims.default.state()),
            (dc::US, sims.us.state()),
        ],
    );
    let lost_callbacks = s
        .cw_sim
        .sent_callbacks()
        .iter()
        .filter(|c| c.state == "lost")
        .count();

    // Self-check: one quota changed behind the product's back (in the second data centre)
    // must be found.
    let tampered = plans
        .iter()
        .filter(|p| p.kind == 0 && p.us)
        .find_map(|p| tenant_of(&sims.us.state(), &p.name()))
        .context("no tenant to tamper with")?;
    let items = us_client.offering_items(&tampered).await?;
    let servers = items
        .iter()
        .find(|i| i.name == "pw_base_servers")
        .context("no servers item")?;
    let changed = shared::acronis::models::DesiredItem {
        application_id: servers.application_id.clone().unwrap_or_default(),
        name: servers.name.clone(),
        infra_id: servers.infra_id.clone(),
        enabled: true,
        quota: Some(shared::acronis::models::QuotaLimit {
            value: 99,
            overage: Some(0),
        }),
    };
    us_client
        .set_offering_items(&tampered, |_| vec![changed.clone()])
        .await?;
    let self_check = judge();

    Ok(MonthReport {
        size,
        cycles,
        faults,
        lost_callbacks,
        verdict,
        calls,
        wall_s: started.elapsed().as_secs_f64(),
        self_check,
        outages: 3 * i64::from(size.outages && fault_free_from >= 6),
        connections: plans.iter().fold(BTreeMap::new(), |mut n, p| {
            *n.entry(p.connection().to_owned()).or_default() += 1;
            n
        }),
        dead_lettered: dead_lettered.into_inner(),
        redriven: redriven.into_inner(),
        time_zone: TIME_ZONE,
        days_differ,
        end_state,
    })
}

fn tenant_of(acronis: &Value, name: &str) -> Option<String> {
    acronis["tenants"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name && t["kind"] == "customer" && t["deleted_at"].is_null())?["id"]
        .as_str()
        .map(str::to_owned)
}

fn raise(sim: &AcronisSim, tenant: &str, p: &Plan) -> Result<()> {
    sim.raise_alert(RaiseAlert {
        id: Some(format!("M-{}", p.id)),
        tenant: tenant.into(),
        kind: "BackupFailed".into(),
        category: None,
        severity: None,
        details: json!({"resourceId": format!("res-{}", p.id), "resourceName": format!("srv-{}", p.id),
                        "resourceType": "machine", "planName": "Daily"}),
    })?;
    Ok(())
}

/// A change as a person makes it in ConnectWise's UI (it fires callbacks).
async fn ui_patch(http: &reqwest::Client, url: &str, body: Value) -> Result<()> {
    let resp = http.patch(url).json(&body).send().await?;
    anyhow::ensure!(resp.status().is_success(), "{url}: {}", resp.text().await?);
    Ok(())
}

/// Requests the simulators logged this cycle.
fn requests(s: &LocalStack, sims: &Sims) -> u64 {
    s.cw_sim.control().requests().len() as u64
        + sims
            .both()
            .iter()
            .map(|(_, sim)| sim.control().requests().len() as u64)
            .sum::<u64>()
}
