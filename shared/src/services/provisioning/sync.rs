//! A mapped company that qualifies: its tenant's quotas written where they differ, the
//! tenant enabled again when deprovisioning disabled it, and a running deprovisioning clock
//! stopped.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::ports::{Lifecycle, LifecycleStore, TenantLifecycle};
use super::{ProvisionError, Provisioning};
use crate::domain::quotas::{self, QuotaPlan};
use crate::store::{Change, CompanyMapping, DeprovisionClock, RunRecord};

impl Provisioning {
    /// Writes the plan's quotas where they differ; returns how many items changed.
    pub async fn sync_quotas(
        &self,
        company_id: i64,
        tenant_id: &str,
        plan: &QuotaPlan,
        run: &mut RunRecord,
    ) -> Result<usize, ProvisionError> {
        self.sync_quotas_from(company_id, tenant_id, plan, None, run)
            .await
    }

    /// [`Self::sync_quotas`] from the tenant's items as just read (`known`).
    pub(super) async fn sync_quotas_from(
        &self,
        company_id: i64,
        tenant_id: &str,
        plan: &QuotaPlan,
        known: Option<Vec<crate::acronis::models::OfferingItem>>,
        run: &mut RunRecord,
    ) -> Result<usize, ProvisionError> {
        let written = self
            .acronis
            .set_offering_items_from(tenant_id, known, |current| {
                quotas::desired_items(plan, current)
            })
            .await?;
        for item in &written.changed {
            let before = written.before.iter().find(|c| c.key() == item.key());
            let basis = plan
                .items
                .iter()
                .find(|p| p.offering_item == item.name && p.infra_id == item.infra_id)
                .map(|p| p.basis.clone());
            run.changes.push(Change {
                subject: format!("company {company_id} / {}", item.name),
                field: "quota".into(),
                old: before.map(|b| json!({"status": b.status, "quota": b.quota})),
                new: json!({"status": item.status, "quota": item.quota}),
                basis,
            });
        }
        for (name, infra) in &written.unknown {
            run.failures.push(crate::store::Failure {
                subject: format!("company {company_id} / {name}"),
                reason: format!(
                    "the tenant has no offering item {name}{}: check the product mapping",
                    infra
                        .as_deref()
                        .map(|i| format!(" on storage {i}"))
                        .unwrap_or_default()
                ),
                transient: false,
            });
        }
        run.count("quota_writes", written.changed.len() as u64);
        Ok(written.changed.len())
    }
}

impl<A: TenantLifecycle, S: LifecycleStore> Lifecycle<'_, A, S> {
    /// A mapped company qualifies: the first time, say so on its mapping (from then on,
    /// losing its agreement deprovisions it); a running deprovisioning clock stops, and
    /// what was pending is cancelled.
    pub async fn qualifies_again(
        &self,
        mapping: &CompanyMapping,
        clock: Option<&DeprovisionClock>,
        now: DateTime<Utc>,
        run: &mut RunRecord,
    ) -> Result<(), ProvisionError> {
        if mapping.qualified_at.is_none() {
            self.store.mark_qualified(mapping, now).await?;
        }
        if let Some(clock) = clock {
            self.store
                .clear_deprovision_clock(mapping.company_id)
                .await?;
            if !clock.pending.is_empty() {
                run.changes.push(Change {
                    subject: format!(
                        "company {} / tenant {}",
                        mapping.company_id, mapping.tenant_id
                    ),
                    field: "deprovisioning".into(),
                    old: Some(json!(clock.pending)),
                    new: json!([]),
                    basis: Some("the company qualifies again: pending steps cancelled".into()),
                });
            }
        }
        Ok(())
    }

    /// Enables the tenant again when deprovisioning disabled it and the company qualifies
    /// again. A tenant disabled by someone else (no mark) is left disabled.
    pub async fn reenable_if_we_disabled(
        &self,
        mapping: &CompanyMapping,
        run: &mut RunRecord,
    ) -> Result<(), ProvisionError> {
        let Some(mark) = self.store.disabled_tenant(mapping.company_id).await? else {
            return Ok(());
        };
        if mark.tenant_id == mapping.tenant_id {
            let tenant = self.acronis.tenant(&mapping.tenant_id).await?;
            if !tenant.enabled {
                self.acronis.enable_tenant(&tenant.id).await?;
                run.changes.push(Change {
                    subject: format!(
                        "company {} / tenant {}",
                        mapping.company_id, mapping.tenant_id
                    ),
                    field: "enabled".into(),
                    old: Some(json!(false)),
                    new: json!(true),
                    basis: Some(format!(
                        "the company qualifies again (disabled {}: {})",
                        mark.disabled_at.format("%Y-%m-%d"),
                        mark.reason
                    )),
                });
            }
        }
        // Enabled, or a mark of another tenant (the company was mapped anew): done with it.
        self.store.clear_disabled_tenant(mapping.company_id).await?;
        Ok(())
    }
}
