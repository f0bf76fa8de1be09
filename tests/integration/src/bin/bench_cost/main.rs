//! `make bench-cost`: what a deployment costs a month at AWS's list prices
//! (`integration_tests::cost::prices`, one region, dated), from counts measured on the local
//! stack. Usage: `bench_cost [companies...]` (default 1000).
//!
//! Each size is measured twice: a steady day (`steady.rs`: one cycle of every scheduled
//! function, multiplied by the template's schedules) and a migration day's extra work
//! (`migration.rs`: every company provisioned once, measured at `BENCH_MIGRATION_SAMPLE`
//! companies at most, default 1,000, and multiplied up to the size). The functions run in
//! this process as their handlers run them; the meter (`integration_tests::meter`) counts,
//! per function, DynamoDB request units from the items' sizes, `PutEvents` entries in 64 KB
//! chunks, SQS requests and the bytes each function logs, and each invocation is timed.
//!
//! What is not measured is estimated and says so: this machine is not Lambda (durations
//! are the wall time of each handler here, time scaled by `BENCH_SCALE` and multiplied back,
//! billed at the template's memory), Lambda's own log lines per invocation
//! (`harness::PLATFORM_LOG_BYTES`), and the secret's reads (at each cold start:
//! [`SECRET_READS_PER_FUNCTION_DAY`]). Alerts (ticket-sync) and callbacks from edits (the
//! webhook) depend on the MSP's customers and are left out.
//!
//! Prints, per size and day kind, one line per service and the total:
//! `cost companies=<n> day=<steady|migration> service=<s> usd_month=<usd>`, where a steady
//! month is 30 steady days and a migration month is that plus the migration's extra work,
//! both with the standing costs (alarms, custom metrics, the secret, the table's storage,
//! logs kept `LogRetentionDays`); and `cost-measured` lines with the counts behind them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

mod cycles;
mod harness;
mod migration;
mod steady;

use std::time::Instant;

use integration_tests::cost::bill::{self, Day, Standing};
use integration_tests::cost::prices;
use integration_tests::cost::template::DECLARED;
use integration_tests::meter::Meter;

/// Reads of the secret a day per function: one per cold start, taken as one an hour (an
/// estimate: Lambda does not say how long it keeps an instance).
pub const SECRET_READS_PER_FUNCTION_DAY: f64 = 24.0;

/// Metrics in each run's embedded-metric line (`shared::runs::metric_line`), each per
/// `Stack` and per `Stack` and `Function`.
const METRICS_PER_LINE: f64 = 4.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let meter = Meter::default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The functions' own log format (`shared::telemetry`), into the meter.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .without_time()
        .with_target(false)
        .with_current_span(false)
        .flatten_event(true)
        .with_writer(meter.clone())
        .init();
    let scale = harness::scale();
    let sample: i64 = std::env::var("BENCH_MIGRATION_SAMPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    for (name, p) in prices::ALL {
        eprintln!(
            "price {name}: ${} per {} {} ({}; confirmed: {})",
            p.usd, p.per, p.unit, p.source, p.confirmed
        );
    }
    let mut lines = Vec::new();
    for n in integration_tests::bench_sizes(1000) {
        let started = Instant::now();
        let steady = steady::measure(n, &meter, scale).await?;
        let sampled = n.min(sample);
        let migration = migration::measure(sampled, &meter, scale)
            .await?
            .times(n as f64 / sampled as f64);
        let standing = Standing {
            alarm_metrics: f64::from(DECLARED.alarm_metrics),
            custom_metrics: METRICS_PER_LINE * (1.0 + steady.recording.len() as f64),
            secrets: f64::from(DECLARED.secrets),
            table_gb: steady.table_gb,
            log_retention_days: f64::from(DECLARED.log_retention_days),
        };
        lines.extend(measured(n, "steady", &steady.day, None));
        lines.extend(measured(n, "migration", &migration, Some(sampled)));
        lines.push(format!(
            "cost-measured companies={n} table_gb={:.4} alarm_metrics={} custom_metrics={} secrets={}",
            standing.table_gb, standing.alarm_metrics, standing.custom_metrics, standing.secrets
        ));
        let months = [
            ("steady", bill::month_of(&steady.day, None)),
            ("migration", bill::month_of(&steady.day, Some(&migration))),
        ];
        for (kind, month) in months {
            let b = bill::bill(&month, &standing);
            for service in bill::SERVICES {
                lines.push(format!(
                    "cost companies={n} day={kind} service={service} usd_month={:.4}",
                    b[service]
                ));
            }
            lines.push(format!(
                "cost companies={n} day={kind} service=total usd_month={:.2} prices={}@{} scale={scale}",
                bill::total(&b),
                prices::REGION,
                prices::AS_OF
            ));
        }
        lines.push(format!(
            "cost-run companies={n} migration_sample={sampled} wall_s={:.0}",
            started.elapsed().as_secs_f64()
        ));
        eprintln!("{}", lines.join("\n"));
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// The counts behind a bill: per function a day, and the requests a day.
fn measured(n: i64, kind: &str, day: &Day, sample: Option<i64>) -> Vec<String> {
    let sample = sample.map_or(String::new(), |s| format!(" sample={s}"));
    let mut out: Vec<String> = day
        .functions
        .iter()
        .map(|(f, d)| {
            format!(
                "cost-measured companies={n} day={kind}{sample} function={f} invocations={:.0} gb_s={:.1} log_bytes={:.0}",
                d.invocations,
                d.gb_seconds(),
                d.log_bytes
            )
        })
        .collect();
    out.push(format!(
        "cost-measured companies={n} day={kind}{sample} read_units={:.0} write_units={:.0} events={:.0} sqs_requests={:.0} secret_calls={:.0}",
        day.read_units, day.write_units, day.events, day.sqs_requests, day.secret_calls
    ));
    out
}
