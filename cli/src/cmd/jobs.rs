//! `acw jobs list|pause|resume`: pause one job while the others run (see
//! `shared::domain::jobs` for where each is held and how resuming catches up).

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use shared::domain::jobs::{Job, JobSettings};

use super::args::DryRun;
use crate::ctx::{self, Ctx};
use crate::output::{emit, table};

/// A job, paused or running, as `acw jobs list` and `acw status` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub job: String,
    pub paused: bool,
    pub since: Option<DateTime<Utc>>,
    pub by: Option<String>,
    /// What pausing it holds.
    pub holds: String,
}

/// What `jobs pause|resume` changed (or would), and every job then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobChanged {
    pub job: String,
    pub changed: bool,
    pub dry_run: bool,
    pub jobs: Vec<JobRow>,
}

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum JobsCmd {
    /// Each job, running or paused (since when, by whom).
    List,
    /// Pause a job: the functions hold it from their next run; nothing it would do is lost.
    #[command(mut_arg("dry_run", DryRun::help("Show what would change; change nothing")))]
    Pause {
        #[arg(value_name = "JOB")]
        job: String,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Resume a paused job: what waited is caught up at the next runs.
    #[command(mut_arg("dry_run", DryRun::help("Show what would change; change nothing")))]
    Resume {
        #[arg(value_name = "JOB")]
        job: String,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: JobsCmd) -> Result<()> {
    match cmd {
        JobsCmd::List => list(ctx).await,
        JobsCmd::Pause { job, dry_run } => set(ctx, &job, true, dry_run.dry_run).await,
        JobsCmd::Resume { job, dry_run } => set(ctx, &job, false, dry_run.dry_run).await,
    }
}

/// Each job, paused or running, as `acw jobs list --json` and `acw status --json` show it.
pub fn job_rows(settings: &JobSettings) -> Vec<JobRow> {
    Job::ALL
        .into_iter()
        .map(|j| {
            let paused = settings.paused.get(&j);
            JobRow {
                job: j.name().to_owned(),
                paused: paused.is_some(),
                since: paused.map(|p| p.since),
                by: paused.and_then(|p| p.by.clone()),
                holds: j.describe().to_owned(),
            }
        })
        .collect()
}

/// The jobs as table rows.
pub fn jobs_rows(settings: &JobSettings) -> Vec<Vec<String>> {
    Job::ALL
        .into_iter()
        .map(|j| {
            vec![
                j.name().to_owned(),
                match settings.paused.get(&j) {
                    Some(p) => format!("PAUSED since {}", p.since.format("%Y-%m-%d %H:%M UTC")),
                    None => "running".to_owned(),
                },
                j.describe().to_owned(),
            ]
        })
        .collect()
}

pub async fn list(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let settings: JobSettings = store.section().await?;
    emit(ctx, &job_rows(&settings), || {
        table(&["job", "state", "what it does"], jobs_rows(&settings))
    });
    Ok(())
}

/// Pauses (`pause`) or resumes a job; a dry run says what would change.
pub async fn set(ctx: &Ctx, name: &str, pause: bool, dry_run: bool) -> Result<()> {
    let job = Job::parse(name).map_err(|e| anyhow!("{e}"))?;
    let store = ctx.store().await?;
    let old: JobSettings = store.section().await?;
    let new = old.with(job, pause, chrono::Utc::now(), Some(ctx::actor()));
    let verb = if pause { "paused" } else { "resumed" };
    if let (Some(new), false) = (&new, dry_run) {
        save(ctx, new, job, verb).await?;
    }
    let changed = new.is_some();
    let shown = new.unwrap_or(old);
    let report = JobChanged {
        job: job.name().to_owned(),
        changed,
        dry_run,
        jobs: job_rows(&shown),
    };
    emit(ctx, &report, || {
        let what = match (changed, dry_run) {
            (false, _) => format!("{} was already {verb}; nothing changed", job.name()),
            (true, true) => {
                format!("{} would be {verb} (dry run: nothing changed)", job.name())
            }
            (true, false) => format!(
                "{} {verb}; the functions see it at their next run{}",
                job.name(),
                if pause {
                    ""
                } else {
                    ", and catch up on what waited"
                }
            ),
        };
        format!(
            "{what}\n{}",
            table(&["job", "state", "what it does"], jobs_rows(&shown))
        )
    });
    Ok(())
}

/// Saves the paused jobs and audits the change (`jobs.pause` / `jobs.resume`).
pub async fn save(ctx: &Ctx, new: &JobSettings, job: Job, verb: &str) -> Result<()> {
    ctx.store().await?.save_section(new).await?;
    let action = if new.is_paused(job) {
        "jobs.pause"
    } else {
        "jobs.resume"
    };
    // The audit entry's detail is free-form.
    let detail = serde_json::json!({"job": job.name(), "state": verb});
    ctx.audit(action, job.name(), detail).await?;
    Ok(())
}
