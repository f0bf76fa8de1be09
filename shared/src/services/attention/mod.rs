//! Needs-attention tickets: read the company's record, decide
//! ([`crate::domain::attention::decide`]), then open, note or close its ticket on the board
//! chosen in settings. A failure here is recorded in the run; it never fails the job that
//! reported the problem.

use std::future::Future;

use crate::connectwise::CwError;
use crate::connectwise::models::{NewTicket, NewTicketNote, PatchOp, Reference};
use crate::domain::attention::{
    self as rules, AttentionAction, AttentionRecord, AttentionSettings,
};
use crate::domain::jobs::Job;
use crate::services::alerts::TicketApi;
use crate::store::{Change, Failure, RunRecord, Store, StoreError};

#[cfg(test)]
mod tests;

/// The table side of needs-attention tickets: the settings and each company's record. The
/// ConnectWise side is the ticket sync's [`TicketApi`].
pub trait AttentionStore: Clone + Send + Sync + std::fmt::Debug {
    fn attention_settings(
        &self,
    ) -> impl Future<Output = Result<AttentionSettings, StoreError>> + Send;
    fn attention_record(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<AttentionRecord>, StoreError>> + Send;
    /// Claims the right to open the ticket of `r.key`: only while no open record exists.
    /// `false`: another holds it.
    fn claim_attention(
        &self,
        r: &AttentionRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn put_attention_record(
        &self,
        r: &AttentionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl AttentionStore for Store {
    async fn attention_settings(&self) -> Result<AttentionSettings, StoreError> {
        self.section().await
    }
    async fn attention_record(&self, key: &str) -> Result<Option<AttentionRecord>, StoreError> {
        Store::attention_record(self, key).await
    }
    async fn claim_attention(&self, r: &AttentionRecord) -> Result<bool, StoreError> {
        Store::claim_attention(self, r).await
    }
    async fn put_attention_record(&self, r: &AttentionRecord) -> Result<(), StoreError> {
        Store::put_attention_record(self, r).await
    }
}

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
    cw: &impl TicketApi,
    store: &impl AttentionStore,
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
    cw: &impl TicketApi,
    store: &impl AttentionStore,
    job: Job,
    company_id: i64,
    problem: Option<&str>,
    run: &mut RunRecord,
) -> Result<(), AttentionError> {
    let settings = store.attention_settings().await?;
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
    cw: &impl TicketApi,
    store: &impl AttentionStore,
    job: Job,
    company_id: i64,
    problem: &str,
    run: &mut RunRecord,
) {
    let step = async {
        let settings = store.attention_settings().await?;
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
async fn find_by_xref(cw: &impl TicketApi, key: &str) -> Result<Option<i64>, CwError> {
    Ok(cw
        .ticket_by_xref_confirmed(key, |t| t.closed_flag != Some(true))
        .await?
        .map(|t| t.id))
}
