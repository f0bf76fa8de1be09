//! The bookkeeping every run shares, for the bus consumers (`bus::consumer`) and the scheduled
//! functions ([`Recorder::scheduled`]): a run record started, the work done, the record stored
//! whatever happened, and one embedded-metric-format (EMF) line in the function's log with the
//! run's failures, which CloudWatch turns into the metric the template's `FailedItemsAlarm`
//! watches (no API call). A scheduled run that failed returns its error after recording why,
//! so that its errors alarm fires; a run whose record cannot be stored fails too.

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::functions::Function;
use crate::store::{Failure, RunRecord, Store, StoreError};

/// The CloudWatch namespace of the product's metrics (the template's alarms name it too).
pub const METRIC_NAMESPACE: &str = "AcronisConnectWise";
/// Items (companies, alerts, additions...) that failed in a run: partial failures.
pub const FAILED_ITEMS: &str = "FailedItems";
/// Of those, the failures a retry will not fix: a person must (the `NeedsAttentionAlarm`).
pub const NEEDS_ATTENTION: &str = "NeedsAttention";
/// Runs of a stack whose secret is not filled yet (the template's `NotConfiguredAlarm`).
pub const NOT_CONFIGURED: &str = "NotConfigured";
/// The run count that says so (`bootstrap::Scheduled`).
pub const NOT_CONFIGURED_COUNT: &str = "not_configured";
/// Companies whose run stopped on a vendor answer it could not decide on (a field missing,
/// `null` or out of range; the failure names it).
pub const MALFORMED_ANSWERS_COUNT: &str = "malformed_answers";
/// Our callbacks ConnectWise had disabled, found (and registered again) by the reconciler
/// (the template's `CallbackDisabledAlarm`).
pub const CALLBACKS_DISABLED: &str = "CallbacksDisabled";
/// The run count behind [`CALLBACKS_DISABLED`].
pub const CALLBACKS_DISABLED_COUNT: &str = "callbacks_disabled";

/// Where metric lines go: the function's log (stdout, which Lambda sends to CloudWatch Logs),
/// a buffer for tests that read the log, or nowhere (`acw`, whose output is its own).
#[derive(Debug, Clone, Default)]
pub enum MetricLog {
    #[default]
    Stdout,
    Buffer(Arc<Mutex<Vec<u8>>>),
    Off,
}

impl MetricLog {
    fn write_line(&self, line: &str) {
        let written = match self {
            MetricLog::Stdout => writeln!(std::io::stdout().lock(), "{line}"),
            MetricLog::Buffer(buf) => match buf.lock() {
                Ok(mut b) => writeln!(b, "{line}"),
                Err(_) => Ok(()),
            },
            MetricLog::Off => Ok(()),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "could not write the metric line");
        }
    }
}

/// A run that failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0:#}")]
    Work(anyhow::Error),
    #[error("could not store the run record: {0}")]
    Record(#[source] StoreError),
}

/// What a run needs to record itself; built once at cold start.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub store: Store,
    pub retention: Duration,
    /// The `Stack` dimension of the metric (`STACK_NAME`, set by the template).
    pub stack: String,
    pub log: MetricLog,
}

/// Where a consumer's run records end (the table through [`Recorder`]; a fake in handler
/// tests): the port of `bus::consumer::invoke`.
pub trait RunSink: Send + Sync {
    /// Ends `run` (finished now) and stores it.
    fn finish(&self, run: &mut RunRecord) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl RunSink for Recorder {
    async fn finish(&self, run: &mut RunRecord) -> Result<(), StoreError> {
        Recorder::finish(self, run).await
    }
}

impl Recorder {
    /// Records into `store`, kept `retention`, with metric lines on stdout.
    pub fn new(store: Store, retention: Duration) -> Self {
        Self {
            store,
            retention,
            stack: std::env::var("STACK_NAME").unwrap_or_else(|_| "local".into()),
            log: MetricLog::Stdout,
        }
    }

    /// The same, writing its metric lines to `log`.
    pub fn with_log(mut self, log: MetricLog) -> Self {
        self.log = log;
        self
    }

    /// Ends `run`: its metric line, then its record stored.
    pub async fn finish(&self, run: &mut RunRecord) -> Result<(), StoreError> {
        run.finished_at = Some(crate::clock::now());
        self.log.write_line(&metric_line(&self.stack, run));
        let stored = self.store.put_run(run, self.retention).await;
        if let Err(e) = &stored {
            tracing::error!(error = %e, run_id = %run.run_id, "could not store the run record");
        }
        stored
    }

    /// One scheduled invocation of `function` recorded here ([`scheduled`]).
    pub async fn scheduled<T, F>(&self, function: Function, work: F) -> Result<T, RunError>
    where
        F: AsyncFnOnce(&mut RunRecord) -> anyhow::Result<T>,
    {
        scheduled(self, function, work).await
    }
}

/// One scheduled invocation of `function`: `work` with a fresh run record, a failure of the
/// whole run recorded in it, the run finished in `sink`; the error returned after that.
pub async fn scheduled<T, F>(
    sink: &impl RunSink,
    function: Function,
    work: F,
) -> Result<T, RunError>
where
    F: AsyncFnOnce(&mut RunRecord) -> anyhow::Result<T>,
{
    let mut run = RunRecord::start(function.name());
    let result = work(&mut run).await;
    if let Err(e) = &result {
        tracing::error!(error = format!("{e:#}"), "run failed");
        run.failures.push(Failure {
            subject: "run".into(),
            reason: format!("{e:#}"),
            transient: true,
        });
    }
    let stored = sink.finish(&mut run).await;
    let value = result.map_err(RunError::Work)?;
    stored.map_err(RunError::Record)?;
    Ok(value)
}

/// The EMF record of a finished run: `FailedItems` and `NeedsAttention` per stack and per
/// stack and function.
/// (EMF needs its own `Timestamp`, unlike the tracing lines, which CloudWatch stamps.)
pub fn metric_line(stack: &str, run: &RunRecord) -> String {
    json!({
        "_aws": {
            "Timestamp": crate::clock::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["Stack"], ["Stack", "Function"]],
                "Metrics": [
                    {"Name": FAILED_ITEMS, "Unit": "Count"},
                    {"Name": NEEDS_ATTENTION, "Unit": "Count"},
                    {"Name": NOT_CONFIGURED, "Unit": "Count"},
                    {"Name": CALLBACKS_DISABLED, "Unit": "Count"}
                ]
            }]
        },
        "Stack": stack,
        "Function": run.function,
        FAILED_ITEMS: run.failures.len(),
        NEEDS_ATTENTION: run.failures.iter().filter(|f| !f.transient).count(),
        NOT_CONFIGURED: run.counts.get(NOT_CONFIGURED_COUNT).copied().unwrap_or(0),
        CALLBACKS_DISABLED: run.counts.get(CALLBACKS_DISABLED_COUNT).copied().unwrap_or(0),
        "run_id": run.run_id,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_line_is_emf_with_the_failure_count() {
        let mut run = RunRecord::start("usage-push");
        run.failures.push(Failure {
            subject: "company 7".into(),
            reason: "boom".into(),
            transient: false,
        });
        let v: serde_json::Value = serde_json::from_str(&metric_line("s", &run)).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRIC_NAMESPACE);
        assert_eq!(directive["Metrics"][0]["Name"], FAILED_ITEMS);
        assert_eq!(v[FAILED_ITEMS], 1);
        assert_eq!(v[NEEDS_ATTENTION], 1, "not transient: a person must fix it");
        assert_eq!(directive["Metrics"][1]["Name"], NEEDS_ATTENTION);
        assert_eq!(v["Function"], "usage-push");
        assert_eq!(v["Stack"], "s");
        // Every dimension named must be a member of the record.
        for set in directive["Dimensions"].as_array().unwrap() {
            for d in set.as_array().unwrap() {
                assert!(v.get(d.as_str().unwrap()).is_some(), "{d}");
            }
        }
        assert!(v["_aws"]["Timestamp"].as_i64().unwrap() > 0);
    }
}
