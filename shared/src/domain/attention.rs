//! Problems that need a person, pure: which ConnectWise ticket on the needs-attention board
//! a problem opens, notes or closes.
//!
//! A problem is what a job could not do for a company and will not fix by retrying (no
//! primary-contact email, a tenant name taken, an item that holds usage…). Each (job,
//! company) has at most one open ticket, keyed `attn:{job}:{company}` (also its
//! `externalXRef`): the first problem opens it; a problem it told already adds
//! nothing; a new one adds a note; the job succeeding for that company closes it. Off until a
//! board is chosen (`acw attention set board_id=…`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::acronis::models::Usage;
use crate::domain::jobs::Job;

pub const SECTION: &str = "attention";

/// Where needs-attention tickets go; no board: no tickets (the problems still reach the run
/// records and the `NeedsAttention` metric).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttentionSettings {
    pub board_id: Option<i64>,
    /// Status of a new ticket (the board's default when unset).
    pub status_id: Option<i64>,
    /// Status that closes a ticket once its problem is gone.
    pub closing_status_id: Option<i64>,
    pub priority_id: Option<i64>,
    /// One note on the company's needs-attention ticket when usage passes a prepaid
    /// quantity (none on a repeat).
    pub prepaid_overage_notice: bool,
}

impl AttentionSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.board_id.is_some() && self.closing_status_id.is_none() {
            return Err(
                "closing_status_id is required with board_id (tickets close when their problem is gone)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What is stored per (job, company).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionRecord {
    pub key: String,
    pub company_id: i64,
    pub job: Job,
    pub ticket_id: Option<i64>,
    /// Every problem the open ticket has told (the first opened it, the others are notes),
    /// so that none is told twice, even when two problems alternate.
    pub problems: Vec<String>,
    pub open: bool,
    pub updated_at: DateTime<Utc>,
    /// Since when the job has failed for the company with a problem a retry may fix but
    /// that keeps coming back (a malformed answer, a plan no fresh read confirms); cleared
    /// by its next success. Records of earlier versions have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient_since: Option<DateTime<Utc>>,
    /// Fields a newer version stored, kept when this one writes the record back.
    #[serde(
        flatten,
        default,
        skip_serializing_if = "crate::unknown_fields::Unknown::is_empty"
    )]
    pub unknown: crate::unknown_fields::Unknown,
}

/// What to do with the company's needs-attention ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AttentionAction {
    Open { problem: String },
    Note { ticket_id: i64, problem: String },
    Close { ticket_id: i64 },
    Nothing,
}

/// The ticket key of a job's problems with a company.
pub fn key(job: Job, company_id: i64) -> String {
    format!("attn:{}:{company_id}", job.name())
}

/// How long a problem a retry may fix can keep coming back before a person is told.
pub const TRANSIENT_PERSISTS_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// What a problem a retry may fix does to the company's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransientStep {
    /// The first time: remember since when.
    Remember { since: DateTime<Utc> },
    /// It has lasted [`TRANSIENT_PERSISTS_AFTER`]: tell it as a problem (through [`decide`]),
    /// worded the same for the whole episode so that it is told once.
    Tell { problem: String },
    /// Not long yet.
    Wait,
}

/// A problem a retry may fix (`problem`), at `now`, given the company's record.
pub fn transient_step(
    record: Option<&AttentionRecord>,
    problem: &str,
    now: DateTime<Utc>,
) -> TransientStep {
    match record.and_then(|r| r.transient_since) {
        None => TransientStep::Remember { since: now },
        Some(since) if now - since >= TRANSIENT_PERSISTS_AFTER => TransientStep::Tell {
            problem: format!(
                "{problem} (failing since {} UTC; retries have not fixed it)",
                since.format("%Y-%m-%d %H:%M")
            ),
        },
        Some(_) => TransientStep::Wait,
    }
}

/// How a company's run ended, as its needs-attention ticket sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd<'a> {
    Done,
    /// Its job is paused: nothing was written, so nothing was fixed either.
    Deferred,
    Failed {
        problem: &'a str,
        /// A retry may fix it.
        transient: bool,
        /// Transient, but a person must hear of it if it keeps coming back (a malformed
        /// answer, a plan a fresh read does not confirm).
        persists_for_a_person: bool,
    },
}

/// What the company's needs-attention ticket hears after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell<'a> {
    /// Told as it is ([`decide`]): `None` says the run succeeded (an open ticket closes).
    Report(Option<&'a str>),
    /// Remembered, and told only once it has lasted ([`transient_step`]).
    Transient(&'a str),
    /// Nothing: a retry may pass, and a deferral fixed nothing.
    Nothing,
}

/// The needs-attention decision after one company's run.
pub fn after_run(end: RunEnd<'_>) -> Tell<'_> {
    match end {
        RunEnd::Done => Tell::Report(None),
        RunEnd::Deferred => Tell::Nothing,
        RunEnd::Failed {
            problem,
            persists_for_a_person: true,
            ..
        } => Tell::Transient(problem),
        RunEnd::Failed {
            transient: true, ..
        } => Tell::Nothing,
        RunEnd::Failed { problem, .. } => Tell::Report(Some(problem)),
    }
}

/// `problem`: what the job's run for the company left to fix (`None`: it succeeded).
pub fn decide(record: Option<&AttentionRecord>, problem: Option<&str>) -> AttentionAction {
    let open = record.filter(|r| r.open);
    match (open, problem) {
        (None, Some(p)) => AttentionAction::Open {
            problem: p.to_owned(),
        },
        // Opened but its ticket never confirmed: open (adopting by key) again.
        (Some(r), Some(p)) if r.ticket_id.is_none() => AttentionAction::Open {
            problem: p.to_owned(),
        },
        (Some(r), Some(p)) if r.problems.iter().any(|told| told == p) => AttentionAction::Nothing,
        (Some(r), Some(p)) => AttentionAction::Note {
            ticket_id: r.ticket_id.unwrap_or_default(),
            problem: p.to_owned(),
        },
        (Some(r), None) => match r.ticket_id {
            Some(ticket_id) => AttentionAction::Close { ticket_id },
            None => AttentionAction::Nothing,
        },
        (None, None) => AttentionAction::Nothing,
    }
}

/// Usage above a prepaid quantity: the hard quota (`overage` 0) the prepaid additions set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overage {
    pub company_id: i64,
    /// The offering item, with its storage when it has one.
    pub item: String,
    pub used: f64,
    pub prepaid: i64,
}

impl Overage {
    /// Once per item, prepaid quantity and month: a repeat within the month adds nothing.
    pub fn notice_id(&self, month: &str) -> String {
        format!("{}:{}:{}:{month}", self.company_id, self.item, self.prepaid)
    }

    pub fn notice(&self) -> String {
        format!(
            "Usage above the prepaid quantity: {} uses {} where the agreement prepays {}. Bill the overage or raise the prepaid quantity.",
            self.item, self.used, self.prepaid
        )
    }
}

/// The usage above its prepaid quantity, if it is.
pub fn prepaid_overage(company_id: i64, u: &Usage) -> Option<Overage> {
    let item = u.offering_item.as_ref()?;
    let quota = item.quota.as_ref()?;
    let (Some(prepaid), Some(0)) = (quota.value, quota.overage) else {
        return None;
    };
    let used = u.value?;
    (item.status == 1 && used > prepaid as f64).then(|| Overage {
        company_id,
        item: match &u.infra_id {
            Some(i) => format!("{} ({i})", u.name),
            None => u.name.clone(),
        },
        used,
        prepaid,
    })
}

/// The ticket's summary, within ConnectWise's 100 characters.
pub fn summary(job: Job, company: &str) -> String {
    crate::domain::alerts::cut(
        &format!(
            "Acronis integration needs attention ({}): {company}",
            job.name()
        ),
        100,
    )
}

/// The ticket's description: the problem and what happens next.
pub fn description(job: Job, company_id: i64, problem: &str) -> String {
    format!(
        "The Acronis integration needs a person for company {company_id} ({}):\n\n{problem}\n\nA problem that stops the integration closes this ticket by itself once the integration succeeds for the company; a notice (usage above a prepaid quantity) is closed by hand once handled. `acw status` shows the latest runs.",
        job.describe()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn after_a_run_a_ticket_hears_fixes_and_lasting_problems_not_retries_or_pauses() {
        let failed = |transient, persists| RunEnd::Failed {
            problem: "p",
            transient,
            persists_for_a_person: persists,
        };
        let table = [
            (RunEnd::Done, Tell::Report(None)),
            (RunEnd::Deferred, Tell::Nothing),
            (failed(false, false), Tell::Report(Some("p"))),
            (failed(true, false), Tell::Nothing),
            (failed(true, true), Tell::Transient("p")),
        ];
        for (end, told) in table {
            assert_eq!(after_run(end), told, "{end:?}");
        }
    }

    use super::*;

    fn record(open: bool, problem: &str, ticket: Option<i64>) -> AttentionRecord {
        AttentionRecord {
            unknown: Default::default(),
            key: key(Job::Provisioning, 7),
            company_id: 7,
            job: Job::Provisioning,
            ticket_id: ticket,
            problems: vec![problem.into()],
            open,
            updated_at: Utc::now(),
            transient_since: None,
        }
    }

    #[test]
    fn a_problem_a_retry_may_fix_is_told_once_it_has_lasted_an_hour() {
        let t0 = Utc::now();
        assert_eq!(
            transient_step(None, "malformed", t0),
            TransientStep::Remember { since: t0 }
        );
        let mut r = record(false, "x", None);
        r.transient_since = Some(t0);
        assert_eq!(
            transient_step(Some(&r), "malformed", t0 + chrono::Duration::minutes(59)),
            TransientStep::Wait
        );
        let told = |at| match transient_step(Some(&r), "malformed", at) {
            TransientStep::Tell { problem } => problem,
            other => panic!("{other:?}"),
        };
        // Worded the same however long it lasts, so one ticket tells it once.
        let first = told(t0 + TRANSIENT_PERSISTS_AFTER);
        assert!(first.starts_with("malformed (failing since"), "{first}");
        assert_eq!(told(t0 + chrono::Duration::hours(5)), first);
    }

    #[test]
    fn usage_above_a_hard_quota_is_an_overage_and_unlimited_is_not() {
        let usage = |value: f64, quota: serde_json::Value| -> Usage {
            serde_json::from_value(serde_json::json!({
                "name": "pw_base_servers", "value": value,
                "offering_item": {"status": 1, "quota": quota}
            }))
            .unwrap()
        };
        let o = prepaid_overage(
            7,
            &usage(
                3.0,
                serde_json::json!({"value": 2, "overage": 0, "version": 1}),
            ),
        )
        .unwrap();
        assert_eq!(
            (o.item.as_str(), o.used, o.prepaid),
            ("pw_base_servers", 3.0, 2)
        );
        assert_eq!(o.notice_id("2026-11"), "7:pw_base_servers:2:2026-11");
        assert!(
            prepaid_overage(
                7,
                &usage(
                    2.0,
                    serde_json::json!({"value": 2, "overage": 0, "version": 1})
                )
            )
            .is_none()
        );
        assert!(
            prepaid_overage(
                7,
                &usage(
                    9.0,
                    serde_json::json!({"value": null, "overage": null, "version": 1})
                )
            )
            .is_none()
        );
    }

    #[test]
    fn one_ticket_per_problem_nothing_on_a_repeat_closed_when_gone() {
        use AttentionAction::*;
        assert_eq!(key(Job::QuotaSync, 7), "attn:quota_sync:7");
        assert_eq!(
            decide(None, Some("no email")),
            Open {
                problem: "no email".into()
            }
        );
        let open = record(true, "no email", Some(5));
        assert_eq!(decide(Some(&open), Some("no email")), Nothing);
        // Two problems alternating: each told once.
        let mut both = open.clone();
        both.problems.push("name taken".into());
        assert_eq!(decide(Some(&both), Some("no email")), Nothing);
        assert_eq!(decide(Some(&both), Some("name taken")), Nothing);
        assert_eq!(
            decide(Some(&open), Some("name taken")),
            Note {
                ticket_id: 5,
                problem: "name taken".into()
            }
        );
        assert_eq!(decide(Some(&open), None), Close { ticket_id: 5 });
        let closed = record(false, "no email", Some(5));
        assert_eq!(decide(Some(&closed), None), Nothing);
        assert_eq!(
            decide(Some(&closed), Some("no email")),
            Open {
                problem: "no email".into()
            }
        );
        let unconfirmed = record(true, "no email", None);
        assert_eq!(decide(Some(&unconfirmed), None), Nothing);
        assert_eq!(
            decide(Some(&unconfirmed), Some("no email")),
            Open {
                problem: "no email".into()
            }
        );
        assert!(summary(Job::Provisioning, &"x".repeat(200)).chars().count() <= 100);
        assert!(
            AttentionSettings {
                board_id: Some(1),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
