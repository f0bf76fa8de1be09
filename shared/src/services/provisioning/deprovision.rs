//! Deprovisioning a company that stopped qualifying: the steps due run in order (quotas to
//! zero, disable, delete), and the clock keeps when it was first seen so, what ran and what
//! waits for its day.

use serde_json::json;

use super::ProvisionError;
use super::ports::{Lifecycle, LifecycleStore, TenantLifecycle};
use crate::acronis::error::codes;
use crate::domain::deprovisioning::DeprovisionPlan;
use crate::domain::provisioning::DeprovisionStep;
use crate::store::{Change, CompanyMapping, DeprovisionClock, DisabledTenant, RunRecord};

impl<A: TenantLifecycle, S: LifecycleStore> Lifecycle<'_, A, S> {
    /// Runs the steps of `plan` that are due and keeps the clock: when the company was
    /// first seen not qualifying, what ran, and what waits for its day.
    pub async fn deprovision_on_schedule(
        &self,
        mapping: &CompanyMapping,
        clock: Option<&DeprovisionClock>,
        reason: &str,
        plan: &DeprovisionPlan,
        run: &mut RunRecord,
    ) -> Result<(), ProvisionError> {
        // Zero quotas are a state, not an event: a write that read the company before it
        // stopped qualifying (another delivery of its events) may have put them back, so
        // every re-derive keeps them at zero (it writes only what differs).
        let keep = clock
            .filter(|c| c.done.contains(&DeprovisionStep::QuotasToZero))
            .filter(|_| !plan.due.contains(&DeprovisionStep::QuotasToZero))
            .map(|_| DeprovisionStep::QuotasToZero);
        let steps: Vec<DeprovisionStep> =
            keep.into_iter().chain(plan.due.iter().copied()).collect();
        if !steps.is_empty() {
            self.deprovision(mapping, &steps, reason, run).await?;
        }
        if plan.due.contains(&DeprovisionStep::Delete) {
            // The tenant is gone and unmapped: nothing is left to count for.
            self.store
                .clear_deprovision_clock(mapping.company_id)
                .await?;
            return Ok(());
        }
        let mut done = clock.map(|c| c.done.clone()).unwrap_or_default();
        done.extend(plan.due.iter().copied());
        let next = DeprovisionClock {
            unknown: Default::default(),
            company_id: mapping.company_id,
            tenant_id: mapping.tenant_id.clone(),
            reason: clock.map_or_else(|| reason.to_owned(), |c| c.reason.clone()),
            since: plan.since,
            done,
            pending: plan.pending.clone(),
        };
        if clock != Some(&next) {
            self.store.put_deprovision_clock(&next).await?;
        }
        if clock.is_none() && !plan.pending.is_empty() {
            run.changes.push(Change {
                subject: format!(
                    "company {} / tenant {}",
                    mapping.company_id, mapping.tenant_id
                ),
                field: "deprovisioning".into(),
                old: None,
                new: json!(plan.pending),
                basis: Some(format!("{reason}: steps scheduled")),
            });
        }
        Ok(())
    }

    /// Runs the deprovisioning steps in order, recording each.
    pub async fn deprovision(
        &self,
        mapping: &CompanyMapping,
        steps: &[DeprovisionStep],
        reason: &str,
        run: &mut RunRecord,
    ) -> Result<(), ProvisionError> {
        let subject = format!(
            "company {} / tenant {}",
            mapping.company_id, mapping.tenant_id
        );
        let tenant = match self.acronis.tenant(&mapping.tenant_id).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => {
                // Already gone: only the mapping is left to remove.
                self.store.unmap_company(mapping.company_id).await?;
                run.changes.push(Change {
                    subject,
                    field: "mapping".into(),
                    old: Some(json!(mapping.tenant_id)),
                    new: json!(null),
                    basis: Some("the tenant no longer exists".into()),
                });
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        for step in steps {
            match step {
                DeprovisionStep::QuotasToZero => {
                    let zeroed = self.acronis.zero_quotas(&tenant.id).await?;
                    if zeroed > 0 {
                        run.changes.push(Change {
                            subject: subject.clone(),
                            field: "quotas".into(),
                            old: None,
                            new: json!(0),
                            basis: Some(format!("{reason}: {zeroed} item(s) set to zero")),
                        });
                    }
                }
                DeprovisionStep::Disable => {
                    // `tenant` was read above; zeroing quotas does not change `enabled`.
                    if tenant.enabled {
                        // Marked first: a crash between the two leaves a mark on an
                        // enabled tenant, which re-enabling treats as done.
                        self.store
                            .put_disabled_tenant(&DisabledTenant {
                                unknown: Default::default(),
                                company_id: mapping.company_id,
                                tenant_id: tenant.id.clone(),
                                reason: reason.to_owned(),
                                disabled_at: crate::clock::now(),
                            })
                            .await?;
                        self.acronis.disable_tenant(&tenant.id).await?;
                        run.changes.push(Change {
                            subject: subject.clone(),
                            field: "enabled".into(),
                            old: Some(json!(true)),
                            new: json!(false),
                            basis: Some(reason.to_owned()),
                        });
                    }
                }
                DeprovisionStep::Delete => {
                    match self.acronis.delete_tenant(&tenant.id).await {
                        Ok(()) => {}
                        // Acronis deletes only disabled tenants: disable, then delete.
                        Err(e) if e.code() == Some(codes::DELETE_ENABLED_TENANT) => {
                            self.acronis.disable_tenant(&tenant.id).await?;
                            self.acronis.delete_tenant(&tenant.id).await?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                    self.store.unmap_company(mapping.company_id).await?;
                    self.store.clear_disabled_tenant(mapping.company_id).await?;
                    run.changes.push(Change {
                        subject: subject.clone(),
                        field: "tenant".into(),
                        old: Some(json!(tenant.id)),
                        new: json!(null),
                        basis: Some(format!("{reason}: deleted")),
                    });
                }
            }
        }
        run.count("deprovisioned", 1);
        Ok(())
    }
}
