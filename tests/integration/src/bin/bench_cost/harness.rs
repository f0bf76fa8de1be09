//! The metered stack: the local stack's simulators, the table, a run-record table and the bus
//! reached through the meter's clients, the consumers' queues fed by the bus (not metered:
//! in AWS, EventBridge invokes the consumers itself), and a tally of each invocation's time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use integration_tests::cost::bill::{Day, FunctionDay};
use integration_tests::cost::template::DECLARED;
use integration_tests::meter::{Counts, Meter};
use integration_tests::{LocalStack, sim_clients_with, transport_with, unique};
use serde_json::Value;
use shared::acronis::AcronisClient;
use shared::bus::EventBus;
use shared::connectwise::ConnectWiseClient;
use shared::domain::request_budget::Rate;
use shared::functions::Function;
use shared::queues::SqsQueues;
use shared::request_budget::{TableBudget, product_clock};
use shared::runs::{MetricLog, Recorder};
use shared::store::Store;

/// The work nobody is billed for here (seeding, warming up): metered, then dropped.
pub const SETUP: &str = "setup";

/// Lambda's own lines per invocation in the template's JSON log format (`platform.start`,
/// `platform.report`): an estimate, as no Lambda runs here.
pub const PLATFORM_LOG_BYTES: f64 = 500.0;

/// ConnectWise's limit and the deployment's budget, a (scaled) minute each.
const CW_LIMIT: u32 = 1000;
const CW_BUDGET: u32 = 900;

/// Time runs this many times faster than in production (`BENCH_SCALE`, default 10): the
/// simulators' 50 ms per call and the budget's minute are divided by it, durations
/// multiplied back.
pub fn scale() -> u32 {
    std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10u32)
        .max(1)
}

/// Invocations of one function and their production seconds.
#[derive(Debug, Clone, Default)]
pub struct Invocations {
    pub count: f64,
    pub seconds: f64,
    /// Its run records' embedded-metric lines (which Lambda sends to its log group).
    pub metric_log_bytes: f64,
}

pub struct Metered {
    pub stack: LocalStack,
    pub meter: Meter,
    pub scale: u32,
    /// The table, the budget's too, through the meter.
    pub store: Store,
    pub bus: EventBus,
    pub recorder: Recorder,
    metric_lines: Arc<Mutex<Vec<u8>>>,
    /// Clients as a deployed function has them: the budget on, through the metered table.
    pub cw: ConnectWiseClient,
    pub acronis: AcronisClient,
    /// The bus consumers' dead-letter queues, through the meter (the reconciler's redrive).
    pub dead_letters: SqsQueues,
    sqs: aws_sdk_sqs::Client,
    queues: BTreeMap<Function, String>,
    tally: Mutex<BTreeMap<String, Invocations>>,
}

impl Metered {
    pub async fn start(meter: &Meter, scale: u32) -> Result<Self> {
        meter.set_function(SETUP);
        let stack = LocalStack::start().await?;
        let config = &stack.config;
        let store = Store::new(meter.dynamodb(config), stack.store.table());
        // Run records in a table of their own, as the month's harness keeps them: moto reads
        // a table whole, and they would slow every later query.
        let runs_table = unique("runs");
        Store::create_table(&aws_sdk_dynamodb::Client::new(config), &runs_table).await?;
        let runs = Store::new(meter.dynamodb(config), runs_table);
        let metric_lines = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder::new(runs, Duration::from_secs(30 * 86_400))
            .with_log(MetricLog::Buffer(metric_lines.clone()));
        let eb = aws_sdk_eventbridge::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let bus_name = unique("bus");
        local_runner::ensure_bus(&eb, &bus_name).await?;
        let mut queues = BTreeMap::new();
        for route in local_runner::routes() {
            let name = unique(route.consumer.name());
            let url =
                local_runner::route_to_queue(&eb, &sqs, &bus_name, &name, &route.pattern, &name)
                    .await?;
            queues.insert(route.consumer, url);
        }
        let stack_name = unique("cost");
        local_runner::ensure_dead_letter_queues(&sqs, &stack_name).await?;
        let dead_letters = SqsQueues::new(meter.sqs(config), &stack_name).without_waiting();
        let rate = Rate::per_scaled_minute(CW_BUDGET, 60_000_000 / i64::from(scale))
            .context("the budget's rate")?;
        let budget = TableBudget::new(
            store.clone(),
            rate,
            Function::UsagePush.budget_priority(),
            product_clock(),
        );
        let (cw, acronis) = sim_clients_with(
            &stack.cw_sim,
            &stack.acronis_sim,
            transport_with(4, Duration::from_secs(10), 2).with_budget(Arc::new(budget)),
            transport_with(4, Duration::from_secs(10), 8),
        )
        .await?;
        Ok(Self {
            bus: EventBus::new(meter.eventbridge(config), bus_name),
            meter: meter.clone(),
            scale,
            store,
            recorder,
            metric_lines,
            cw,
            acronis,
            dead_letters,
            sqs,
            queues,
            tally: Mutex::new(BTreeMap::new()),
            stack,
        })
    }

    /// The simulators as in production, time scaled: 50 ms a call, ConnectWise's limit on.
    pub fn production_like(&self) {
        let latency = (50 / u64::from(self.scale)).max(1);
        self.stack.cw_sim.control().set_latency(latency);
        self.stack.acronis_sim.control().set_latency(latency);
        self.stack
            .cw_sim
            .set_switches(simulators::connectwise::CwSwitches {
                rate_limit_per_minute: Some(CW_LIMIT),
                rate_limit_minute_ms: 60_000 / u64::from(self.scale),
                ..Default::default()
            });
    }

    /// The simulators as fast as they go, for the setup.
    pub fn unthrottled(&self) {
        self.stack.cw_sim.control().set_latency(0);
        self.stack.acronis_sim.control().set_latency(0);
        self.stack
            .cw_sim
            .set_switches(simulators::connectwise::CwSwitches {
                rate_limit_per_minute: None,
                ..Default::default()
            });
    }

    /// Runs one invocation of `function`, metered and timed. Whatever runs after it, until
    /// the next invocation, is metered as `function`'s: the callers take a [`Metered::day`]
    /// (which drops it) before they measure.
    pub async fn invoke<T>(&self, function: Function, work: impl Future<Output = T>) -> T {
        self.meter.set_function(function.name());
        let started = Instant::now();
        let out = work.await;
        // Not set back: invocations of one function run side by side, and the next
        // function's work is named before it starts.
        let wall = started.elapsed().as_secs_f64();
        let metric_bytes = {
            let mut lines = self.metric_lines.lock().unwrap_or_else(|e| e.into_inner());
            let n = lines.len();
            lines.clear();
            n as f64
        };
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let t = tally.entry(function.name().to_owned()).or_default();
        t.count += 1.0;
        // Lambda bills each invocation by the millisecond begun.
        t.seconds += (wall * f64::from(self.scale) * 1000.0).ceil() / 1000.0;
        t.metric_log_bytes += metric_bytes;
        out
    }

    /// The events on the bus for `consumer` so far.
    pub async fn delivered(&self, consumer: Function) -> Result<Vec<Value>> {
        let url = self.queues.get(&consumer).context("no queue")?;
        let mut all = Vec::new();
        loop {
            let batch =
                integration_tests::drain_queue(&self.sqs, url, 1000, Duration::from_secs(2))
                    .await?;
            if batch.is_empty() {
                return Ok(all);
            }
            all.extend(batch);
        }
    }

    /// A bus with no rules, for the warm-up's events: nobody is to handle them, and moto
    /// takes long to route thousands.
    pub async fn quiet_bus(&self) -> Result<EventBus> {
        let eb = aws_sdk_eventbridge::Client::new(&self.stack.config);
        let name = unique("quiet");
        local_runner::ensure_bus(&eb, &name).await?;
        Ok(EventBus::new(eb, name))
    }

    /// The invocations and metered counts so far (and a fresh start for both), as one day:
    /// each function's work times its `per_day` factor (how many times a day the measured
    /// work happens); with the bytes of run records it writes a day.
    pub fn day(&self, per_day: &BTreeMap<&str, f64>) -> (Day, f64) {
        let tally = std::mem::take(&mut *self.tally.lock().unwrap_or_else(|e| e.into_inner()));
        let mut counts = self.meter.take();
        counts.remove(SETUP);
        let mut day = Day::default();
        let mut run_record_bytes = 0.0;
        for (function, inv) in &tally {
            let k = per_day.get(function.as_str()).copied().unwrap_or(1.0);
            let c = counts.remove(function).unwrap_or_default();
            day.functions.insert(
                function.clone(),
                FunctionDay {
                    invocations: inv.count * k,
                    seconds: inv.seconds * k,
                    memory_mb: f64::from(DECLARED.memory_mb),
                    log_bytes: (c.log_bytes as f64
                        + inv.metric_log_bytes
                        + PLATFORM_LOG_BYTES * inv.count)
                        * k,
                },
            );
            add_requests(&mut day, &c, k);
            run_record_bytes += c.run_record_bytes * k;
        }
        // Work metered outside any invocation: none is expected; counted, not lost.
        for c in counts.values() {
            add_requests(&mut day, c, 1.0);
        }
        (day, run_record_bytes)
    }
}

fn add_requests(day: &mut Day, c: &Counts, k: f64) {
    day.read_units += c.read_units * k;
    day.write_units += c.write_units * k;
    day.events += c.events * k;
    day.sqs_requests += c.sqs_requests * k;
    day.secret_calls += c.secret_calls * k;
}
