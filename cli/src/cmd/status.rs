//! `acw status`: last run of each function, what it changed, recent failures, dead letters
//! waiting per function, counts of mapped companies and open alert tickets.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::domain::deprovisioning::describe_pending;
use shared::functions::Function;
use shared::store::{Change, DeprovisionClock, Failure, RunRecord};

use super::dlq::Waiting;
use super::jobs::JobRow;
use crate::ctx::Ctx;
use crate::output::{emit, opt, table};

/// What `acw status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub jobs: Vec<JobRow>,
    /// The last run of each function (and of `acw`).
    pub last_runs: Vec<LastRun>,
    /// Newest first.
    pub recent_failures: Vec<RecentFailure>,
    pub never_ran: Vec<String>,
    /// Functions that answer over HTTP and keep no run records.
    pub no_run_records: Vec<String>,
    pub mapped_companies: usize,
    pub open_alert_tickets: usize,
    /// Each Acronis connection: its companies, its open tickets, and whether the latest run
    /// of a function failed on it.
    pub connections: Vec<super::status_connections::ConnectionRow>,
    pub pending_deprovisioning: Vec<DeprovisionClock>,
    pub dead_letters: Vec<Waiting>,
    pub callbacks_disabled: Vec<CallbackRevived>,
}

/// A function's last run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    pub function: String,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub dry_run: bool,
    pub counts: BTreeMap<String, u64>,
    pub changes: Vec<Change>,
    /// How many items failed.
    pub failures: usize,
}

impl LastRun {
    fn of(r: &RunRecord) -> Self {
        Self {
            function: r.function.clone(),
            run_id: r.run_id.clone(),
            started_at: r.started_at,
            finished_at: r.finished_at,
            dry_run: r.dry_run,
            counts: r.counts.clone(),
            changes: r.changes.clone(),
            failures: r.failures.len(),
        }
    }
}

/// A failure of a recent run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentFailure {
    pub at: DateTime<Utc>,
    pub function: String,
    pub subject: String,
    pub reason: String,
    /// A retry may fix it (else a person must).
    pub transient: bool,
}

/// A callback ConnectWise had disabled, registered again by the reconciler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackRevived {
    pub found_at: DateTime<Utc>,
    pub callback: String,
}

#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct StatusArgs {
    /// Failures to show.
    #[arg(long, default_value_t = FAILURES)]
    pub failures: usize,
}

/// Failures shown unless told otherwise.
pub const FAILURES: usize = 10;

/// `acw` records its own changes (mappings, syncs) beside the functions' runs.
const ACW: &str = "acw";
/// Runs read per function for the failure list.
const RECENT: usize = 20;

/// A row of the runs table for a function without a last run.
fn row(function: &str, note: &str) -> Vec<String> {
    vec![
        function.to_owned(),
        note.to_owned(),
        String::new(),
        String::new(),
        String::new(),
    ]
}

fn counts(run: &RunRecord) -> String {
    run.counts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(ctx: &Ctx, args: StatusArgs) -> Result<()> {
    let max_failures = args.failures;
    let store = ctx.store().await?;
    let mut last = Vec::new();
    let mut never = Vec::new();
    let mut failures = Vec::new();
    let mut revived = Vec::new();
    // Every function of the template (shared::functions), then acw.
    let names = Function::ALL
        .into_iter()
        .filter(|f| f.records_runs())
        .map(Function::name)
        .chain([ACW]);
    for f in names {
        let runs = store.latest_runs(f, RECENT).await?;
        match runs.first() {
            Some(r) => last.push(r.clone()),
            None => never.push(f),
        }
        for r in &runs {
            for fail in &r.failures {
                failures.push((r.started_at, f, fail.clone()));
            }
            // Callbacks ConnectWise had disabled, registered again by the reconciler.
            for c in r
                .changes
                .iter()
                .filter(|c| c.field == shared::domain::callbacks::REVIVED_FIELD)
            {
                revived.push((r.started_at, c.subject.clone()));
            }
        }
    }
    let unrecorded: Vec<&str> = Function::ALL
        .into_iter()
        .filter(|f| !f.records_runs())
        .map(Function::name)
        .collect();
    failures.sort_by_key(|f| std::cmp::Reverse(f.0));
    failures.truncate(max_failures);
    let mappings = store.mappings().await?;
    let tickets = store.open_alert_tickets().await?;
    let (mapped, open_tickets) = (mappings.len(), tickets.len());
    let connections = super::status_connections::rows(&mappings, &tickets, &last);
    let clocks: Vec<_> = store
        .deprovision_clocks()
        .await?
        .into_iter()
        .filter(|c| !c.pending.is_empty())
        .collect();

    let jobs: shared::domain::jobs::JobSettings = store.section().await?;
    let dead_letters = super::dlq::waiting(ctx).await;
    let report = StatusReport {
        jobs: super::jobs::job_rows(&jobs),
        last_runs: last.iter().map(LastRun::of).collect(),
        recent_failures: failures
            .iter()
            .map(|(at, f, fail)| RecentFailure {
                at: *at,
                function: (*f).to_owned(),
                subject: fail.subject.clone(),
                reason: fail.reason.clone(),
                transient: fail.transient,
            })
            .collect(),
        never_ran: never.iter().map(|f| (*f).to_owned()).collect(),
        no_run_records: unrecorded.iter().map(|f| (*f).to_owned()).collect(),
        mapped_companies: mapped,
        open_alert_tickets: open_tickets,
        connections,
        pending_deprovisioning: clocks.clone(),
        dead_letters,
        callbacks_disabled: revived
            .iter()
            .map(|(at, subject)| CallbackRevived {
                found_at: *at,
                callback: subject.clone(),
            })
            .collect(),
    };
    let dead_letters = &report.dead_letters;
    let connections = &report.connections;
    emit(ctx, &report, || {
        let runs = runs_table(&last, &never, &unrecorded);
        let connections = super::status_connections::table(connections);
        let fails = failures_table(&failures);
        let pending = pending_table(&clocks);
        let paused = if jobs.paused.is_empty() {
            "every job running".to_owned()
        } else {
            table(
                &["job", "state", "what it does"],
                super::jobs::jobs_rows(&jobs),
            )
        };
        let dead = dead_table(dead_letters);
        let disabled: String = revived
            .iter()
            .map(|(at, subject)| {
                format!(
                    "\nConnectWise had disabled the {subject} after three days of failed deliveries; \
                     the reconciler registered it again at {} (check the webhook: acw doctor)",
                    at.format("%Y-%m-%d %H:%M UTC")
                )
            })
            .collect();
        format!(
            "{paused}\n{runs}\n{fails}\n{pending}\n{dead}{disabled}\n{connections}mapped companies: {mapped}\nopen alert tickets: {open_tickets}"
        )
    });
    Ok(())
}

/// Each function's dead letters waiting, and what to do about them.
fn dead_table(dead_letters: &[Waiting]) -> String {
    let dead = table(
        &["function", "dead letters waiting"],
        dead_letters.iter().map(|d| {
            vec![
                d.function.clone(),
                match (d.waiting, &d.error) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(e)) => format!("unknown: {e}"),
                    (None, None) => "-".to_owned(),
                },
            ]
        }),
    );
    let replay = if dead_letters.iter().any(|d| d.waiting.unwrap_or(0) > 0) {
        "\n`acw dlq list` shows them; `acw dlq replay` puts their events back on the bus"
    } else {
        ""
    };
    format!("{dead}{replay}")
}

/// The last run of each function, and those that never ran or keep no records.
fn runs_table(last: &[RunRecord], never: &[&str], unrecorded: &[&str]) -> String {
    if last.is_empty() && never.is_empty() {
        "no runs recorded yet".to_owned()
    } else {
        table(
            &["function", "last run", "counts", "changes", "failures"],
            last.iter()
                .map(|r| {
                    vec![
                        r.function.clone(),
                        format!(
                            "{}{}",
                            r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                            if r.finished_at.is_none() {
                                " (unfinished)"
                            } else {
                                ""
                            }
                        ),
                        counts(r),
                        r.changes
                            .iter()
                            .take(5)
                            .map(|c| {
                                format!(
                                    "{} {}: {} → {}",
                                    c.subject,
                                    c.field,
                                    opt(c.old.as_ref()),
                                    c.new
                                )
                            })
                            .chain(
                                (r.changes.len() > 5)
                                    .then(|| format!("… {} more", r.changes.len() - 5)),
                            )
                            .collect::<Vec<_>>()
                            .join("\n"),
                        r.failures.len().to_string(),
                    ]
                })
                .chain(never.iter().map(|f| row(f, "no runs yet")))
                .chain(
                    unrecorded
                        .iter()
                        .map(|f| row(f, "answers over HTTP: no run records (see its log)")),
                ),
        )
    }
}

/// The recent failures, newest first.
fn failures_table(failures: &[(DateTime<Utc>, &str, Failure)]) -> String {
    if failures.is_empty() {
        "no recent failures".to_owned()
    } else {
        table(
            &["when", "function", "subject", "reason"],
            failures.iter().map(|(at, f, fail)| {
                vec![
                    at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    (*f).to_owned(),
                    fail.subject.clone(),
                    format!(
                        "{}{}",
                        fail.reason,
                        if fail.transient { " (will retry)" } else { "" }
                    ),
                ]
            }),
        )
    }
}

/// The companies whose deprovisioning waits for its days.
fn pending_table(clocks: &[DeprovisionClock]) -> String {
    if clocks.is_empty() {
        "no deprovisioning pending".to_owned()
    } else {
        table(
            &[
                "company",
                "tenant",
                "not qualifying since",
                "why",
                "pending",
            ],
            clocks.iter().map(|c| {
                vec![
                    c.company_id.to_string(),
                    c.tenant_id.clone(),
                    c.since.format("%Y-%m-%d").to_string(),
                    c.reason.clone(),
                    describe_pending(&c.pending),
                ]
            }),
        )
    }
}
