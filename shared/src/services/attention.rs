//! Needs-attention tickets: read the company's record, decide
//! ([`crate::domain::attention::decide`]), then open, note or close its ticket on the board
//! chosen in settings. A failure here is recorded in the run; it never fails the job that
//! reported the problem.

use crate::connectwise::models::{NewTicket, NewTicketNote, PatchOp, Reference};
use crate::connectwise::{ConnectWiseClient, CwError};
use crate::domain::attention::{
    self as rules, AttentionAction, AttentionRecord, AttentionSettings,
};
use crate::domain::jobs::Job;
use crate::store::{Change, Failure, RunRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
enum AttentionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    ConnectWise(#[from] CwError),
}

/// Reports what `job` left to fix for `company_id` (`None`: it succeeded) to the company's
/// needs-attention ticket, when a board is chosen.
pub async fn report(
    cw: &ConnectWiseClient,
    store: &Store,
    job: Job,
    company_id: i64,
    problem: Option<&str>,
    run: &mut RunRecord,
) {
    if let Err(e) = try_report(cw, store, job, company_id, problem, run).await {
        run.failures.push(Failure {
            subject: format!("needs-attention ticket of company {company_id}"),
            reason: e.to_string(),
            transient: true,
        });
    }
}

async fn try_report(
    cw: &ConnectWiseClient,
    store: &Store,
    job: Job,
    company_id: i64,
    problem: Option<&str>,
    run: &mut RunRecord,
) -> Result<(), AttentionError> {
    let settings: AttentionSettings = store.section().await?;
    let (Some(board_id), Some(closing)) = (settings.board_id, settings.closing_status_id) else {
        return Ok(());
    };
    let key = rules::key(job, company_id);
    let mut record = store.attention_record(&key).await?;
    let now = crate::clock::now();
    // A success ends a problem that kept coming back.
    if let Some(r) = record
        .as_mut()
        .filter(|r| problem.is_none() && r.transient_since.is_some())
    {
        r.transient_since = None;
        r.updated_at = now;
        store.put_attention_record(r).await?;
    }
    match rules::decide(record.as_ref(), problem) {
        AttentionAction::Nothing => {}
        AttentionAction::Open { problem } => {
            let mut r = AttentionRecord {
                unknown: Default::default(),
                key: key.clone(),
                company_id,
                job,
                ticket_id: None,
                problems: vec![problem.clone()],
                open: true,
                updated_at: now,
                transient_since: None,
            };
            // A ticket already carrying the key is looked up before anything is written,
            // so that a lookup that fails leaves the record as it was.
            let found = find_by_xref(cw, &key).await?;
            // A record left open without a ticket (a lost answer) is taken over; a fresh
            // one is claimed so that concurrent deliveries open one ticket.
            let unconfirmed = record
                .as_ref()
                .is_some_and(|r| r.open && r.ticket_id.is_none());
            if !unconfirmed && !store.claim_attention(&r).await? {
                return Ok(());
            }
            let ticket_id = match found {
                Some(id) => id,
                None => {
                    let new = NewTicket {
                        summary: rules::summary(job, &format!("company {company_id}")),
                        board: Reference::id(board_id),
                        company: Reference::id(company_id),
                        status: settings.status_id.map(Reference::id),
                        ticket_type: None,
                        sub_type: None,
                        priority: settings.priority_id.map(Reference::id),
                        external_x_ref: Some(key.clone()),
                        initial_description: Some(rules::description(job, company_id, &problem)),
                    };
                    // On an error the record stays open without a ticket: the next report
                    // looks up by key before creating.
                    cw.create_ticket(&new).await?.id
                }
            };
            r.ticket_id = Some(ticket_id);
            store.put_attention_record(&r).await?;
            run.changes.push(Change {
                subject: format!("company {company_id}"),
                field: "needs_attention_ticket".into(),
                old: None,
                new: ticket_id.into(),
                basis: Some(problem),
            });
        }
        AttentionAction::Note { ticket_id, problem } => {
            cw.add_ticket_note(
                ticket_id,
                &NewTicketNote {
                    text: format!("Also needs attention: {problem}"),
                    detail_description_flag: true,
                    internal_analysis_flag: false,
                },
            )
            .await?;
            if let Some(mut r) = record {
                r.problems.push(problem);
                r.updated_at = now;
                store.put_attention_record(&r).await?;
            }
        }
        AttentionAction::Close { ticket_id } => {
            cw.update_ticket(
                ticket_id,
                &[PatchOp::replace("status", Reference::id(closing))],
            )
            .await?;
            if let Some(mut r) = record {
                r.open = false;
                r.updated_at = now;
                store.put_attention_record(&r).await?;
            }
            run.changes.push(Change {
                subject: format!("company {company_id}"),
                field: "needs_attention_ticket".into(),
                old: Some(ticket_id.into()),
                new: serde_json::Value::Null,
                basis: Some(format!("{} succeeded: closed", job.name())),
            });
        }
    }
    Ok(())
}

/// Reports a problem a retry may fix (a malformed answer, a plan no fresh read confirms):
/// nothing the first time but since when; once it has lasted
/// [`rules::TRANSIENT_PERSISTS_AFTER`], the company's needs-attention ticket, as
/// [`report`] opens it. Its next success ([`report`] with no problem) ends it.
pub async fn report_transient(
    cw: &ConnectWiseClient,
    store: &Store,
    job: Job,
    company_id: i64,
    problem: &str,
    run: &mut RunRecord,
) {
    let step = async {
        let settings: AttentionSettings = store.section().await?;
        if settings.board_id.is_none() {
            return Ok::<_, AttentionError>(None);
        }
        let key = rules::key(job, company_id);
        let record = store.attention_record(&key).await?;
        let now = crate::clock::now();
        Ok(match rules::transient_step(record.as_ref(), problem, now) {
            rules::TransientStep::Remember { since } => {
                let mut r = record.unwrap_or_else(|| AttentionRecord {
                    unknown: Default::default(),
                    key,
                    company_id,
                    job,
                    ticket_id: None,
                    problems: Vec::new(),
                    open: false,
                    updated_at: now,
                    transient_since: None,
                });
                r.transient_since = Some(since);
                r.updated_at = now;
                store.put_attention_record(&r).await?;
                None
            }
            rules::TransientStep::Tell { problem } => Some(problem),
            rules::TransientStep::Wait => None,
        })
    };
    match step.await {
        Ok(Some(told)) => report(cw, store, job, company_id, Some(&told), run).await,
        Ok(None) => {}
        Err(e) => run.failures.push(Failure {
            subject: format!("needs-attention ticket of company {company_id}"),
            reason: e.to_string(),
            transient: true,
        }),
    }
}

/// An open ticket already carrying the key (opened before an answer was lost); an empty
/// answer is confirmed by a second read before a ticket is created.
async fn find_by_xref(cw: &ConnectWiseClient, key: &str) -> Result<Option<i64>, CwError> {
    Ok(cw
        .ticket_by_xref_confirmed(key, |t| t.closed_flag != Some(true))
        .await?
        .map(|t| t.id))
}
