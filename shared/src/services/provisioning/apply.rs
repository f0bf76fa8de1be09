//! One company's run: its plan made from a fresh read, held back while its job is paused,
//! confirmed by a second read when it takes something away, and carried out by the steps
//! of the sibling modules.

use chrono::{DateTime, Utc};

use super::read::PlanInputs;
use super::{CompanyPlan, Outcome, ProvisionError, Provisioning};
use crate::domain::quotas::{self, QuotaPlan};
use crate::domain::settings::ProvisioningSettings;
use crate::store::{MappingOrigin, RunRecord};

impl Provisioning {
    /// Brings one company to its target, recording changes and failures in `run`.
    pub async fn sync_company(
        &self,
        company_id: i64,
        run: &mut RunRecord,
    ) -> Result<Outcome, ProvisionError> {
        Ok(self.sync_company_after(company_id, None, run).await?.0)
    }

    /// [`Provisioning::sync_company`] in a run that just brought the company's tenant to
    /// `written` quotas (`(tenant id, plan)`; its single flight reads again for changes handed
    /// over): when the new plan wants the same of the same tenant, they are not read again.
    /// Returns the plan it made too.
    pub async fn sync_company_after(
        &self,
        company_id: i64,
        written: Option<(&str, &QuotaPlan)>,
        run: &mut RunRecord,
    ) -> Result<(Outcome, CompanyPlan), ProvisionError> {
        let PlanInputs {
            settings,
            jobs,
            next_change: known,
            view,
            connection,
        } = Box::pin(self.read_for_plan(company_id)).await?;
        let now = crate::clock::now();
        // The reconciler re-derives the company on the next day its agreements change it.
        let known = known.map(|n| n.on);
        if known != view.next_change {
            self.store
                .set_next_change(company_id, view.next_change)
                .await?;
        }
        let plan = view.plan(&settings, now);
        tracing::info!(company_id, plan = plan.name(), "provisioning plan");
        // A paused job writes nothing: the company waits, deferred, for the job to resume.
        if let Some(job) = plan.job().filter(|j| jobs.is_paused(*j)) {
            self.store.defer(company_id, job).await?;
            run.count("deferred_job_paused", 1);
            let reason = format!(
                "{} is paused: {} deferred until `acw jobs resume {}`",
                job.name(),
                plan.name(),
                job.name()
            );
            return Ok((Outcome::Deferred { job, reason }, plan));
        }
        if let CompanyPlan::SyncQuotas {
            mapping,
            clock: None,
            quotas,
        } = &plan
            && written == Some((mapping.tenant_id.as_str(), quotas))
        {
            run.count("quotas_written_this_run", 1);
            let outcome = Outcome::QuotasSynced {
                tenant_id: mapping.tenant_id.clone(),
                changed: 0,
            };
            return Ok((outcome, plan));
        }
        // Every step works in the company's connection.
        let this = match connection {
            Ok(c) => self.on(&c).await?,
            Err(e) if matches!(plan, CompanyPlan::Provision { .. }) => {
                return Err(ProvisionError::NeedsAttention(format!(
                    "company {company_id} qualifies but is not provisioned: {e}"
                )));
            }
            Err(_) => self.clone(),
        };
        // Boxed, as the read: a company's run is awaited inside handlers and tests whose
        // stacks are small.
        let outcome = Box::pin(this.apply(plan.clone(), &settings, now, run)).await?;
        Ok((outcome, plan))
    }

    /// A plan that takes something away (a quota lowered, an item turned off, a
    /// deprovisioning step) is carried out only if a fresh read of the company makes the
    /// same plan: one answer that lost an addition or a company must not stop backups.
    async fn confirm(
        &self,
        company_id: i64,
        planned: &CompanyPlan,
        now: DateTime<Utc>,
        run: &mut RunRecord,
    ) -> Result<(), ProvisionError> {
        let fresh = Box::pin(self.read_for_plan(company_id)).await?;
        let again = fresh.view.plan(&fresh.settings, now);
        if &again == planned {
            run.count("destructive_confirmed", 1);
            return Ok(());
        }
        run.count("destructive_unconfirmed", 1);
        Err(ProvisionError::Unconfirmed {
            company_id,
            planned: planned.name(),
            fresh: again.name(),
        })
    }

    /// Carries out a company's plan, recording each change in `run`.
    pub async fn apply(
        &self,
        plan: CompanyPlan,
        settings: &ProvisioningSettings,
        now: DateTime<Utc>,
        run: &mut RunRecord,
    ) -> Result<Outcome, ProvisionError> {
        let planned = plan.clone();
        match plan {
            CompanyPlan::Provision {
                company,
                quotas,
                pending,
            } => {
                let (mapping, adopted) = self
                    .provision_known(
                        &company,
                        &quotas,
                        settings,
                        (MappingOrigin::Auto, pending),
                        run,
                    )
                    .await?;
                Ok(Outcome::Provisioned {
                    tenant_id: mapping.tenant_id,
                    adopted,
                })
            }
            CompanyPlan::SyncQuotas {
                mapping,
                clock,
                quotas,
            } => {
                self.lifecycle()
                    .reenable_if_we_disabled(&mapping, run)
                    .await?;
                let current = self.acronis.offering_items(&mapping.tenant_id).await?;
                let (writes, _) = crate::domain::item_writes::item_writes(
                    &current,
                    &quotas::desired_items(&quotas, &current),
                );
                if !crate::domain::item_writes::lowering(&current, &writes).is_empty() {
                    self.confirm(mapping.company_id, &planned, now, run).await?;
                }
                let changed = self
                    .sync_quotas_from(
                        mapping.company_id,
                        &mapping.tenant_id,
                        &quotas,
                        Some(current),
                        run,
                    )
                    .await?;
                self.lifecycle()
                    .qualifies_again(&mapping, clock.as_ref(), now, run)
                    .await?;
                Ok(Outcome::QuotasSynced {
                    tenant_id: mapping.tenant_id,
                    changed,
                })
            }
            CompanyPlan::Deprovision {
                mapping,
                clock,
                reason,
                steps,
            } => {
                if !steps.due.is_empty() {
                    self.confirm(mapping.company_id, &planned, now, run).await?;
                }
                self.lifecycle()
                    .deprovision_on_schedule(&mapping, clock.as_ref(), &reason, &steps, run)
                    .await?;
                Ok(Outcome::Deprovisioned {
                    tenant_id: mapping.tenant_id,
                    steps: steps.due,
                    pending: steps.pending,
                })
            }
            CompanyPlan::Nothing { reason } => {
                run.count("nothing_to_do", 1);
                Ok(Outcome::Nothing { reason })
            }
        }
    }
}
