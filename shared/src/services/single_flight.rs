//! The single flight of a company's provisioning runs. A sale fires several callbacks
//! (company, contact, agreement, addition) within a second, and each used to re-read the
//! company, its agreements and their additions. Now one run holds the company at a time
//! (the claim in the store), and a delivery
//! - whose change a finished run already read does nothing (covered);
//! - that finds a run holding the company hands its change over: that run started reading
//!   after the change, or it reads once more before it lets go (handed);
//! - otherwise holds the company itself and brings it to its target.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::provisioning::{CLAIM_LEASE, Outcome, ProvisionError, Provisioning};
use crate::bus::{Event, Origin};
use crate::domain::quotas::QuotaPlan;
use crate::store::{RunRecord, SyncClaim};

/// A read counts as seeing a change when it started at least this long after the change
/// was observed: the webhook and the provisioner run on two machines' clocks (kept within
/// a millisecond by Amazon Time Sync; the rest is room for ConnectWise's own commit).
pub const READ_MARGIN: Duration = Duration::from_millis(500);

/// A run that claims a company for a callback's change starts reading this long after the
/// change: the other callbacks of the same edit (a sale's company, contact, agreement and
/// addition) arrive within it and are handed over as they are, instead of making the run
/// read again. The reconciler's and an administrator's changes come alone and are read at
/// once; a delivery that waited in a queue longer than this is read at once too.
pub const SETTLE: Duration = Duration::from_millis(600);

/// How long a run claimed for `event` waits for the rest of its edit before reading: a
/// callback's edit may fire more callbacks within a moment (a sale's company, contact,
/// agreement and addition); the reconciler's and an administrator's events come alone.
pub fn settle_for(event: &Event) -> Duration {
    let origin = match event {
        Event::Company(c) => &c.origin,
        Event::Agreement(a) => &a.origin,
        Event::AlertRaised(_)
        | Event::AlertCleared(_)
        | Event::Ticket(_)
        | Event::UsageShard(_) => {
            return Duration::ZERO;
        }
    };
    match origin {
        Origin::Callback { .. } => SETTLE,
        Origin::Reconciler { .. } | Origin::Admin => Duration::ZERO,
    }
}

/// Rounds one run reads again for changes handed to it before it hands the company back
/// (as busy, so its event is retried).
const MAX_ROUNDS: u32 = 5;

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Flight {
    /// This run brought the company to its target (the last round's outcome).
    Ran(Outcome),
    /// A finished run had read the company after this change.
    Covered,
    /// The run holding the company sees this change.
    Handed,
}

impl Provisioning {
    /// Brings a company to its target for a change observed at `seen`, unless another run
    /// has seen or will see that change (see the module); waits for the rest of the edit
    /// (up to `settle` after it) before reading.
    pub async fn sync_single_flight(
        &self,
        company_id: i64,
        seen: DateTime<Utc>,
        settle: Duration,
        run: &mut RunRecord,
    ) -> Result<Flight, ProvisionError> {
        let owner = run.run_id.clone();
        let mut since = match self
            .store
            .claim_sync(company_id, &owner, seen, (READ_MARGIN, settle), CLAIM_LEASE)
            .await?
        {
            SyncClaim::Claimed { since } => since,
            SyncClaim::Covered => {
                run.count("coalesced_covered", 1);
                return Ok(Flight::Covered);
            }
            SyncClaim::Handed => {
                run.count("coalesced_handed", 1);
                return Ok(Flight::Handed);
            }
            SyncClaim::Contended => return Err(ProvisionError::Busy(company_id)),
        };
        // The quotas the previous round brought the tenant to (tenant, plan).
        let mut written: Option<(String, QuotaPlan)> = None;
        for round in 1..=MAX_ROUNDS {
            // Reads start no earlier than the claim says (the edit settles; a change handed
            // over is a margin old).
            let wait = (since - crate::clock::now()).to_std().unwrap_or_default();
            if !wait.is_zero() {
                run.count("settle_ms", wait.as_millis() as u64);
                tokio::time::sleep(wait).await;
            }
            // Boxed: the company run's future is large.
            let known = written.as_ref().map(|(t, q)| (t.as_str(), q));
            // Stopped at the deadline, the company run is dropped where it was (as Lambda's
            // timeout would stop it); this run still hands the claim back and says why.
            let result = self
                .deadline
                .race(Box::pin(self.sync_company_after(company_id, known, run)))
                .await
                .unwrap_or(Err(ProvisionError::Deadline(company_id)));
            // A run that decided from what it read completed, whatever its outcome (a
            // change handed over meanwhile may fix what failed: it reads again); a transient
            // failure is retried with its event.
            let completed = !matches!(&result, Err(e) if e.is_transient());
            let again = self
                .store
                .finish_sync(company_id, &owner, (since, READ_MARGIN), completed)
                .await;
            let again = match again {
                Ok(again) => again,
                Err(e) => {
                    self.let_go(company_id, &owner).await;
                    return Err(result.err().unwrap_or(e.into()));
                }
            };
            let outcome = match (result, again) {
                (result, None) => return result.map(|(outcome, _)| Flight::Ran(outcome)),
                // No time for another round: hand the company back (its event is retried).
                (_, Some(_)) if self.deadline.passed() => {
                    self.let_go(company_id, &owner).await;
                    return Err(ProvisionError::Deadline(company_id));
                }
                (result, Some(_)) if round == MAX_ROUNDS => {
                    self.let_go(company_id, &owner).await;
                    return match result {
                        Err(e) => Err(e),
                        Ok(_) => Err(ProvisionError::Busy(company_id)),
                    };
                }
                (outcome, Some(next)) => {
                    run.count("read_again", 1);
                    since = next;
                    outcome
                }
            };
            written = match outcome {
                Ok((
                    Outcome::Provisioned { tenant_id, .. }
                    | Outcome::QuotasSynced { tenant_id, .. },
                    plan,
                )) => plan.quotas().map(|q| (tenant_id, q.clone())),
                _ => None,
            };
        }
        // The loop returns in its last round.
        self.let_go(company_id, &owner).await;
        Err(ProvisionError::Busy(company_id))
    }

    async fn let_go(&self, company_id: i64, owner: &str) {
        if let Err(e) = self.store.release_claim(company_id, owner).await {
            tracing::warn!(company_id, error = %e, "could not release the claim; it expires by itself");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Action, CompanyChanged};

    fn company(origin: Origin) -> Event {
        Event::Company(CompanyChanged {
            version: 1,
            company_id: 7,
            action: Action::Added,
            origin,
            observed_at: Utc::now(),
        })
    }

    #[test]
    fn only_a_callback_waits_for_the_rest_of_its_edit() {
        let callback = Origin::Callback {
            message_id: "m-1".into(),
        };
        assert_eq!(settle_for(&company(callback)), SETTLE);
        let reconciler = Origin::Reconciler {
            run_id: "r-1".into(),
        };
        assert_eq!(settle_for(&company(reconciler)), Duration::ZERO);
        assert_eq!(settle_for(&company(Origin::Admin)), Duration::ZERO);
    }
}
