//! The provisioner: one company or agreement event from the bus → the company's tenant
//! brought to what ConnectWise says now (see `shared::services::provisioning`).
//!
//! Failures that a retry can fix (throttling, outages, a concurrent run) are returned as
//! errors so that the Lambda service retries the event and, after its retries, sends it to
//! the dead-letter queue; failures someone must fix are recorded in the run record and
//! acknowledged (the reconciler tries again each cycle).
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod ports;
#[cfg(test)]
mod tests;

pub use ports::CompanySync;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::bus::Event;
use shared::bus::consumer::{self, InvokeError};
use shared::bus::delivery::Delivery;
use shared::domain::attention::{RunEnd, Tell, after_run};
use shared::domain::jobs::Job;
use shared::functions::Function;
use shared::runs::RunSink;
use shared::services::attention;
use shared::services::provisioning::{Outcome, ProvisionError};
use shared::services::single_flight::{Flight, settle_for};
use shared::store::{Failure, RunRecord};
use tracing::instrument;

/// A failure worth retrying: the event goes back to the Lambda service.
#[derive(Debug, thiserror::Error)]
#[error("company {company_id}: {source}")]
pub struct RetryableError {
    pub company_id: i64,
    #[source]
    pub source: ProvisionError,
}

/// Handles an EventBridge invocation (`{"detail-type": ..., "detail": {...}}`); the run
/// record is stored whatever happens.
#[instrument(skip_all)]
pub async fn handle_eventbridge(
    svc: &impl CompanySync,
    recorder: &impl RunSink,
    payload: impl Into<Delivery>,
) -> Result<Value, InvokeError<RetryableError>> {
    consumer::invoke(
        recorder,
        Function::Provisioner,
        payload,
        async |event, run| process(svc, &event, run).await,
    )
    .await
}

async fn process(
    svc: &impl CompanySync,
    event: &Event,
    run: &mut RunRecord,
) -> (Value, Result<(), RetryableError>) {
    let settle = settle_for(event);
    let (company_id, seen) = match company_of(svc, event).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            run.count("ignored", 1);
            return (json!({"outcome": "ignored"}), Ok(()));
        }
        Err((id, e)) => return failed(run, id, e),
    };
    run.count("companies", 1);
    let result = match sync_waiting_for_claim(svc, company_id, (seen, settle), run).await {
        Ok(Flight::Ran(outcome)) => Ok(outcome),
        // Another run sees this change, and reports on the company.
        Ok(flight @ (Flight::Covered | Flight::Handed)) => {
            let name = if flight == Flight::Covered {
                "covered"
            } else {
                "handed"
            };
            tracing::info!(
                company_id,
                outcome = name,
                "company left to the run that sees it"
            );
            return (json!({"outcome": name, "company_id": company_id}), Ok(()));
        }
        Err(e) => Err(e),
    };
    // A problem someone must fix reaches the company's needs-attention ticket (when a board
    // is chosen); a success closes it (`domain::attention::after_run`).
    let problem = result.as_ref().err().map(ToString::to_string);
    let end = match &result {
        Ok(Outcome::Deferred { .. }) => RunEnd::Deferred,
        Ok(_) => RunEnd::Done,
        Err(e) => RunEnd::Failed {
            problem: problem.as_deref().unwrap_or_default(),
            transient: e.is_transient(),
            persists_for_a_person: e.needs_a_person_if_it_persists(),
        },
    };
    let (cw, store) = svc.attention();
    match after_run(end) {
        Tell::Report(problem) => {
            attention::report(cw, store, Job::Provisioning, company_id, problem, run).await;
        }
        Tell::Transient(problem) => {
            attention::report_transient(cw, store, Job::Provisioning, company_id, problem, run)
                .await;
        }
        Tell::Nothing => {}
    }
    match result {
        Ok(outcome) => {
            tracing::info!(
                company_id,
                outcome = outcome_name(&outcome),
                "company handled"
            );
            (
                json!({"outcome": outcome_name(&outcome), "company_id": company_id}),
                Ok(()),
            )
        }
        Err(e) => failed(run, company_id, e),
    }
}

/// The company's single flight (see `shared::services::single_flight`). When the claim is
/// busy anyway (an administrator's run holds it, or it kept changing), wait a few seconds
/// and try again, instead of handing the event back to be redelivered a minute later.
async fn sync_waiting_for_claim(
    svc: &impl CompanySync,
    company_id: i64,
    (seen, settle): (DateTime<Utc>, std::time::Duration),
    run: &mut RunRecord,
) -> Result<Flight, ProvisionError> {
    use backon::Retryable as _;
    let run = tokio::sync::Mutex::new(run);
    let attempt = || async {
        svc.sync_single_flight((company_id, seen, settle), *run.lock().await)
            .await
    };
    // Boxed: the nested futures are otherwise too deep for the compiler's layout queries.
    let retried = attempt
        .retry(
            backon::ExponentialBuilder::default()
                .with_min_delay(std::time::Duration::from_millis(250))
                .with_max_delay(std::time::Duration::from_secs(2))
                .with_max_times(6),
        )
        .sleep(tokio::time::sleep)
        .when(|e| matches!(e, ProvisionError::Busy(_)));
    Box::pin(retried).await
}

fn failed(
    run: &mut RunRecord,
    company_id: i64,
    e: ProvisionError,
) -> (Value, Result<(), RetryableError>) {
    let transient = e.is_transient();
    tracing::warn!(company_id, error = %e, transient, outcome = "failed", "company not handled");
    if matches!(e, ProvisionError::Malformed(..)) {
        run.count(shared::runs::MALFORMED_ANSWERS_COUNT, 1);
    }
    run.failures.push(Failure {
        subject: format!("company {company_id}"),
        reason: e.to_string(),
        transient,
    });
    let reply = json!({"outcome": "failed", "company_id": company_id, "reason": e.to_string()});
    if transient {
        (
            reply,
            Err(RetryableError {
                company_id,
                source: e,
            }),
        )
    } else {
        (reply, Ok(()))
    }
}

/// The company an event is about, and when its change was observed; `None` when it cannot
/// be known (an agreement deleted without its company in the hint: the reconciler sees to
/// that company).
async fn company_of(
    svc: &impl CompanySync,
    event: &Event,
) -> Result<Option<(i64, DateTime<Utc>)>, (i64, ProvisionError)> {
    match event {
        Event::Company(c) => Ok(Some((c.company_id, c.observed_at))),
        Event::Agreement(a) => {
            if let Some(id) = a.company_id {
                return Ok(Some((id, a.observed_at)));
            }
            match svc.agreement_company(a.agreement_id).await {
                Ok(company) => Ok(company.map(|id| (id, a.observed_at))),
                Err(e) => Err((0, e)),
            }
        }
        Event::AlertRaised(_) | Event::AlertCleared(_) | Event::Ticket(_) => Ok(None),
        Event::UsageShard(_) => Ok(None),
    }
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Provisioned { adopted: false, .. } => "provisioned",
        Outcome::Provisioned { adopted: true, .. } => "adopted",
        Outcome::QuotasSynced { .. } => "quotas_synced",
        Outcome::Deprovisioned { .. } => "deprovisioned",
        Outcome::Nothing { .. } => "nothing",
        Outcome::Deferred { .. } => "deferred",
    }
}
