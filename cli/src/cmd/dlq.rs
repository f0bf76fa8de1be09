//! `acw dlq list | replay [--function F] [--dry-run]`: what reached the functions' dead-letter
//! queues, and putting it back on the bus (`shared::services::dead_letters`, the plan in
//! `shared::domain::dead_letters`). The queues are found by name from `STACK_NAME`.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use shared::domain::dead_letters::{self, DeadLetter};
use shared::functions::Function;
use shared::services::dead_letters::{self as service, Done, Listing, QueueProblem, ReplayReport};
use shared::store::RunRecord;

use crate::ctx::Ctx;
use crate::output::{emit, opt, table};

use super::args::DryRun;
use super::companies::RUN_NAME;

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum DlqCmd {
    /// Each dead letter: its function, the shape it came in (a rule's event or Lambda's
    /// on-failure record), its event and what it is about, why it failed. Leaves them queued.
    List {
        /// Only this function's queue (e.g. provisioner, ticket-sync).
        #[arg(long, value_name = "FUNCTION")]
        function: Option<String>,
    },
    /// Put the events back on the bus, deleting each message once its event is there; a
    /// schedule's run is not re-run (deleted only with --function naming it); what this
    /// version cannot read stays, with the reason. Safe to run twice.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Show what would be done with each message; publish and delete nothing")
    ))]
    Replay {
        /// Only this function's queue.
        #[arg(long, value_name = "FUNCTION")]
        function: Option<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: DlqCmd) -> Result<()> {
    match cmd {
        DlqCmd::List { function } => list(ctx, function.as_deref()).await,
        DlqCmd::Replay { function, dry_run } => {
            replay(ctx, function.as_deref(), dry_run.dry_run).await
        }
    }
}

/// The function named by `--function`, which must have a dead-letter queue.
pub fn chosen(name: Option<&str>) -> Result<Option<Function>> {
    let Some(name) = name else { return Ok(None) };
    match Function::from_name(name) {
        Some(f) if dead_letters::has_queue(f) => Ok(Some(f)),
        _ => bail!(
            "--function {name}: not a function with a dead-letter queue (one of: {})",
            dead_letters::functions()
                .map(Function::name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn functions(chosen: Option<Function>) -> Vec<Function> {
    match chosen {
        Some(f) => vec![f],
        None => dead_letters::functions().collect(),
    }
}

/// What `acw dlq list` prints (`--json` and the table alike).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListReport {
    pub stack: String,
    #[serde(flatten)]
    pub listing: Listing,
}

/// What `acw dlq replay` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    pub stack: String,
    pub function: Option<&'static str>,
    /// The run record of a replay that changed something (`acw status`), none in a dry run.
    pub run_id: Option<String>,
    pub counts: std::collections::BTreeMap<&'static str, u64>,
    #[serde(flatten)]
    pub report: ReplayReport,
}

/// The columns every dead letter shows.
const LETTER: [&str; 5] = ["function", "message", "came as", "detail-type", "about"];

fn letter_cells(l: &DeadLetter) -> Vec<String> {
    vec![
        l.function.name().to_owned(),
        format!(
            "{}{}",
            l.message_id,
            l.sent_at
                .map(|t| format!("\n{}", t.format("%Y-%m-%d %H:%M:%S UTC")))
                .unwrap_or_default()
        ),
        l.shape.describe().to_owned(),
        opt(l.content.detail_type()),
        l.content.about(),
    ]
}

fn problems(problems: &[QueueProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("\n! {}: {}", p.function, p.error))
        .collect()
}

pub async fn list(ctx: &Ctx, function: Option<&str>) -> Result<()> {
    let chosen = chosen(function)?;
    let (stack, queues) = ctx.queues().await?;
    let report = ListReport {
        stack: stack.to_owned(),
        listing: service::list(queues, &functions(chosen)).await,
    };
    let listing = &report.listing;
    emit(ctx, &report, || {
        let mut columns = LETTER.to_vec();
        columns.push("why it failed");
        let rows = listing.dead_letters.iter().map(|l| {
            let mut row = letter_cells(l);
            row[4] = l.content.describe();
            row.push(l.why.summary());
            row
        });
        let n = listing.dead_letters.len();
        format!(
            "{}{n} dead letter(s) in the queues of stack {stack}{}{}",
            if n > 0 {
                format!("{}\n", table(&columns, rows))
            } else {
                String::new()
            },
            problems(&listing.problems),
            if n > 0 {
                "\n`acw dlq replay --dry-run` shows what a replay would do"
            } else {
                ""
            }
        )
    });
    if !listing.problems.is_empty() {
        bail!(
            "{} dead-letter queue(s) could not be read (see above)",
            listing.problems.len()
        );
    }
    Ok(())
}

pub async fn replay(ctx: &Ctx, function: Option<&str>, dry_run: bool) -> Result<()> {
    let chosen = chosen(function)?;
    let (stack, queues) = ctx.queues().await?;
    let bus = ctx.bus().await?;
    // TABLE_NAME is checked before anything is replayed, so that a replay leaves its record.
    if !dry_run {
        ctx.store().await?;
    }
    let report = service::replay(queues, bus, &functions(chosen), chosen, dry_run).await;
    let mut out = Replay {
        stack: stack.to_owned(),
        function: chosen.map(Function::name),
        run_id: None,
        counts: report.counts(),
        report,
    };
    if !dry_run {
        let mut run = RunRecord::start(RUN_NAME);
        out.report.record(&mut run);
        ctx.record(&mut run).await?;
        out.run_id = Some(run.run_id);
        // The audit entry's detail: the stack, the run and its counts.
        let detail = serde_json::to_value(Audited {
            stack,
            run_id: out.run_id.as_deref(),
            counts: &out.counts,
        })?;
        ctx.audit(
            "dlq.replay",
            chosen.map_or("all dead-letter queues", Function::name),
            detail,
        )
        .await?;
    }
    let report = &out.report;
    emit(ctx, &out, || {
        let mut columns = LETTER.to_vec();
        columns.push(if dry_run { "plan" } else { "done" });
        let rows = report.items.iter().map(|r| {
            let mut row = letter_cells(&r.planned.letter);
            row.push(match &r.done {
                None => r.planned.step.describe(true),
                Some(Done::Republished) => "republished, then deleted".into(),
                Some(Done::Deleted) => r.planned.step.describe(false),
                Some(Done::Left) => r.planned.step.describe(false),
                Some(Done::Failed { reason, .. }) => format!("FAILED: {reason}"),
            });
            row
        });
        let counts = out
            .counts
            .iter()
            .map(|(k, n)| format!("{}: {n}", k.replace('_', " ")))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "{}{}{}{}",
            if report.items.is_empty() {
                String::new()
            } else {
                format!("{}\n", table(&columns, rows))
            },
            if counts.is_empty() {
                format!("no dead letters in the queues of stack {stack}")
            } else {
                counts
            },
            problems(&report.problems),
            if dry_run {
                "\ndry run: nothing was published or deleted (every message is visible again)"
            } else {
                ""
            }
        )
    });
    if report.has_failures() {
        bail!("some dead letters were not replayed (see above); they stay in their queues");
    }
    Ok(())
}

/// One function's dead letters waiting, as `acw status` shows them.
/// What `dlq replay` audits.
#[derive(Serialize)]
struct Audited<'a> {
    stack: &'a str,
    run_id: Option<&'a str>,
    counts: &'a std::collections::BTreeMap<&'static str, u64>,
}

/// A function's dead letters waiting (`acw status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    pub function: String,
    pub queue: Option<String>,
    pub waiting: Option<u64>,
    pub error: Option<String>,
}

/// Each function's dead letters waiting (`ApproximateNumberOfMessages`), or why it is not
/// known (no `STACK_NAME`, no such queue).
pub async fn waiting(ctx: &Ctx) -> Vec<Waiting> {
    let fs: Vec<Function> = dead_letters::functions().collect();
    let Ok((_, queues)) = ctx.queues().await else {
        return fs
            .into_iter()
            .map(|f| Waiting {
                function: f.name().to_owned(),
                queue: None,
                waiting: None,
                error: Some("STACK_NAME is not set: the stack's name names its queues".into()),
            })
            .collect();
    };
    service::waiting(queues, &fs)
        .await
        .into_iter()
        .map(|(f, n)| Waiting {
            function: f.name().to_owned(),
            queue: Some(queues.name(f)),
            waiting: n.as_ref().ok().copied(),
            error: n.err().map(|e| e.0),
        })
        .collect()
}
