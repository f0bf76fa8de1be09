//! Provisioning: brings one ConnectWise company's Acronis tenant to what its current data
//! says (provision, sync quotas, deprovision, or nothing). Used by the provisioner and
//! reconciler Lambdas and by `acw`.
//!
//! It decides from current data only: the company and its agreements are re-read; the
//! event that triggered the work is a hint. Every step is idempotent so a retry after a
//! crash or timeout converges without duplicates:
//! - the company is claimed in the store first (a lease), so concurrent deliveries do not
//!   both create;
//! - the tenant is tagged with the company id (`internal_tag`) and looked up by name
//!   before creating, so a retry adopts it;
//! - the account is checked by login before creating; quotas are written only where they
//!   differ;
//! - the mapping is stored both ways in one transaction, last.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::acronis::models::{
    AccessPolicy, NewTenant, NewUser, Tenant, TenantContact, UserContact,
};
use crate::acronis::{AcronisClient, AcronisError, error::codes};
use crate::connectwise::models::{Company, Contact};
use crate::connectwise::{Conditions, ConnectWiseClient, CwError, ListQuery};
use crate::domain::calendar::{self, Zone};
use crate::domain::deprovisioning::{DeprovisionPlan, PendingStep};
use crate::domain::jobs::Job;
use crate::domain::provisioning::{self as rules, DeprovisionStep};
use crate::domain::quotas::{self, AgreementWithAdditions, QuotaPlan};
use crate::domain::settings::{BillingSettings, ProvisioningSettings, TenantMode};
use crate::store::{
    Change, Claim, CompanyMapping, CompanyRecords, DeprovisionClock, DisabledTenant, MappingOrigin,
    ProductMapping, RunRecord, Store, StoreError,
};

// The plan and the view it is made from are the domain's; re-exported where callers have
// always found them.
pub use crate::domain::company_plan::{CompanyPlan, CompanyView};

/// How long a provisioning claim holds.
pub const CLAIM_LEASE: Duration = Duration::from_secs(300);

/// Why a company could not be brought to its target.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Another run is provisioning this company right now.
    #[error("company {0} is being provisioned by another run")]
    Busy(i64),
    /// Data that someone must fix (no contact email, a name taken by another tenant...).
    #[error("{0}")]
    NeedsAttention(String),
    #[error(transparent)]
    ConnectWise(#[from] CwError),
    #[error(transparent)]
    Acronis(#[from] AcronisError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The invocation reached its deadline in the middle of this company; its retry (or the
    /// reconciler) goes on from what the stores show (a tenant POST is noted on the claim
    /// first, so it is looked for before another is made).
    #[error("company {0}: stopped at the invocation's deadline")]
    Deadline(i64),
    /// A vendor answer the plan cannot be decided on (a field missing, `null` or out of
    /// range): nothing is written; retried, as the next answer may be whole.
    #[error("company {0}: {1}")]
    Malformed(i64, quotas::Malformed),
    /// A plan that takes something away was not made again from a fresh read: nothing was
    /// taken; the next run decides on new answers.
    #[error(
        "company {company_id}: {planned} not confirmed by a fresh read (it planned {fresh}): \
         nothing taken away; the next run decides again"
    )]
    Unconfirmed {
        company_id: i64,
        planned: &'static str,
        fresh: &'static str,
    },
}

impl ProvisionError {
    /// A failure a retry may fix, but that a person must look at when it keeps coming back
    /// (the vendor keeps answering what no decision can rest on).
    pub fn needs_a_person_if_it_persists(&self) -> bool {
        matches!(self, Self::Malformed(..) | Self::Unconfirmed { .. })
    }

    /// Worth retrying soon (throttling, outages, a concurrent run).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Busy(_) | Self::Deadline(_) | Self::Malformed(..) | Self::Unconfirmed { .. } => {
                true
            }
            Self::NeedsAttention(_) => false,
            Self::ConnectWise(e) => e.is_transient(),
            Self::Acronis(e) => e.is_transient(),
            Self::Store(e) => e.is_transient(),
        }
    }
}

/// What happened to a company.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Provisioned {
        tenant_id: String,
        adopted: bool,
    },
    QuotasSynced {
        tenant_id: String,
        changed: usize,
    },
    /// The due steps ran (possibly none); `pending` wait for their day.
    Deprovisioned {
        tenant_id: String,
        steps: Vec<DeprovisionStep>,
        pending: Vec<PendingStep>,
    },
    Nothing {
        reason: String,
    },
    /// Its decision belongs to a paused job: nothing written, the company deferred until the
    /// job is resumed (nothing fixed either: a needs-attention ticket stays as it is).
    Deferred {
        job: Job,
        reason: String,
    },
}

/// What [`Provisioning::read_company`] reads from ConnectWise.
#[derive(Debug, Clone)]
/// What [`Provisioning::read_for_plan`] read.
struct PlanInputs {
    settings: ProvisioningSettings,
    jobs: crate::domain::jobs::JobSettings,
    next_change: Option<crate::store::NextChange>,
    view: CompanyView,
}

struct ConnectWiseReads {
    company: Option<Company>,
    all: Vec<crate::connectwise::models::Agreement>,
    agreements: Vec<AgreementWithAdditions>,
    today: NaiveDate,
}

impl ConnectWiseReads {
    fn with(
        self,
        mapping: Option<CompanyMapping>,
        clock: Option<DeprovisionClock>,
    ) -> CompanyReads {
        CompanyReads {
            company: self.company,
            all: self.all,
            agreements: self.agreements,
            // A clock without a mapping is left over: it acts on nothing.
            clock: clock.filter(|_| mapping.is_some()),
            mapping,
            today: self.today,
        }
    }
}

/// What [`Provisioning::view`] reads, before the settings turn it into a view.
#[derive(Debug, Clone)]
struct CompanyReads {
    company: Option<Company>,
    /// Every agreement of the company (for the next day one changes it).
    all: Vec<crate::connectwise::models::Agreement>,
    /// Those in force today, with their additions.
    agreements: Vec<AgreementWithAdditions>,
    mapping: Option<CompanyMapping>,
    clock: Option<DeprovisionClock>,
    today: NaiveDate,
}

impl CompanyReads {
    fn view(
        self,
        billing: &BillingSettings,
        mappings: &[ProductMapping],
    ) -> Result<CompanyView, quotas::Malformed> {
        let next_change = calendar::next_change(&self.all, &self.agreements, self.today);
        let plan = quotas::plan(&self.agreements, mappings, billing, self.today)?;
        Ok(CompanyView {
            company: self.company,
            agreements: self.agreements,
            mapping: self.mapping,
            clock: self.clock,
            plan,
            next_change,
        })
    }
}

/// The provisioning service. Cheap to clone; build once per cold start.
#[derive(Debug, Clone)]
pub struct Provisioning {
    pub cw: ConnectWiseClient,
    pub acronis: AcronisClient,
    pub store: Store,
    /// When the invocation must stop (none unless set: tests, `acw`, the reconciler).
    pub deadline: crate::deadline::Deadline,
}

impl Provisioning {
    pub fn new(cw: ConnectWiseClient, acronis: AcronisClient, store: Store) -> Self {
        Self {
            cw,
            acronis,
            store,
            deadline: crate::deadline::Deadline::none(),
        }
    }

    /// The same service for one invocation that must stop at `deadline`.
    pub fn with_deadline(&self, deadline: crate::deadline::Deadline) -> Self {
        Self {
            deadline,
            ..self.clone()
        }
    }

    /// The partner tenant (the API client's tenant), read once.
    pub async fn partner_id(&self) -> Result<String, AcronisError> {
        self.acronis.partner_tenant_id().await
    }

    /// The settings a company's plan depends on, read side by side.
    pub async fn settings(
        &self,
    ) -> Result<(ProvisioningSettings, BillingSettings, Vec<ProductMapping>), StoreError> {
        tokio::try_join!(
            self.store.section(),
            self.store.section(),
            self.store.product_mappings()
        )
    }

    /// Re-reads a company, its agreements in force with their additions, and its mapping.
    pub async fn view(
        &self,
        company_id: i64,
        billing: &BillingSettings,
        mappings: &[ProductMapping],
    ) -> Result<CompanyView, ProvisionError> {
        let (cw, mapping, clock) = tokio::try_join!(
            Box::pin(self.read_company(company_id, billing.zone())),
            async {
                self.store
                    .mapping_by_company(company_id)
                    .await
                    .map_err(ProvisionError::from)
            },
            async {
                self.store
                    .deprovision_clock(company_id)
                    .await
                    .map_err(ProvisionError::from)
            },
        )?;
        cw.with(mapping, clock)
            .view(billing, mappings)
            .map_err(|e| ProvisionError::Malformed(company_id, e))
    }

    /// The company's side of its view, read side by side: the company and its agreements at
    /// once, then the additions of each agreement in force on the MSP's day (in `zone`) at
    /// once.
    async fn read_company(
        &self,
        company_id: i64,
        zone: Zone,
    ) -> Result<ConnectWiseReads, ProvisionError> {
        let (company, all) = self.read_agreements(company_id).await?;
        self.read_in_force(company, all, zone).await
    }

    /// The company and all its agreements, side by side.
    async fn read_agreements(
        &self,
        company_id: i64,
    ) -> Result<(Option<Company>, Vec<crate::connectwise::models::Agreement>), ProvisionError> {
        let company = async {
            match self.cw.company(company_id).await {
                Ok(c) => Ok(Some(c)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(ProvisionError::from(e)),
            }
        };
        let agreements = async {
            self.cw
                .agreements(&ListQuery::conditions(
                    Conditions::new().eq("company/id", company_id),
                ))
                .await
                .map_err(ProvisionError::from)
        };
        // Boxed: client futures side by side would not fit a small stack unboxed.
        let (company, all) = tokio::try_join!(Box::pin(company), Box::pin(agreements))?;
        // A company gone has no agreements to act on.
        let all = if company.is_some() { all } else { Vec::new() };
        Ok((company, all))
    }

    /// The additions of the agreements in force today, the MSP's day in `zone`, side by side.
    async fn read_in_force(
        &self,
        company: Option<Company>,
        all: Vec<crate::connectwise::models::Agreement>,
        zone: Zone,
    ) -> Result<ConnectWiseReads, ProvisionError> {
        let today = calendar::local_day(crate::clock::now(), zone);
        let in_force: Vec<_> = all
            .iter()
            .filter(|a| calendar::agreement_in_force(a, today))
            .cloned()
            .collect();
        let agreements =
            futures::future::try_join_all(in_force.into_iter().map(|agreement| async move {
                let additions = self
                    .cw
                    .additions(agreement.id, &ListQuery::default())
                    .await?;
                Ok::<_, ProvisionError>(AgreementWithAdditions {
                    agreement,
                    additions,
                })
            }))
            .await?;
        Ok(ConnectWiseReads {
            company,
            all,
            agreements,
            today,
        })
    }

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
        } = self.read_for_plan(company_id).await?;
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
        let outcome = self.apply(plan.clone(), &settings, now, run).await?;
        Ok((outcome, plan))
    }

    /// Everything a company's plan is made from: the table's side in one batch (settings,
    /// mapping, clock, next change day) and the product mapping, beside the company's reads.
    async fn read_for_plan(&self, company_id: i64) -> Result<PlanInputs, ProvisionError> {
        // The additions are read once the zone (in the batch) says which day it is.
        let (records, (company, all), mappings) = tokio::try_join!(
            async {
                self.store
                    .company_records(company_id)
                    .await
                    .map_err(ProvisionError::from)
            },
            Box::pin(self.read_agreements(company_id)),
            async {
                self.store
                    .product_mappings()
                    .await
                    .map_err(ProvisionError::from)
            },
        )?;
        let cw = Box::pin(self.read_in_force(company, all, records.billing.zone())).await?;
        let CompanyRecords {
            provisioning: settings,
            billing,
            jobs,
            mapping,
            clock,
            next_change,
        } = records;
        let view = cw
            .with(mapping, clock)
            .view(&billing, &mappings)
            .map_err(|e| ProvisionError::Malformed(company_id, e))?;
        Ok(PlanInputs {
            settings,
            jobs,
            next_change,
            view,
        })
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
        let fresh = self.read_for_plan(company_id).await?;
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
                self.reenable_if_we_disabled(&mapping, run).await?;
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
                self.qualifies_again(&mapping, clock.as_ref(), now, run)
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
                self.deprovision_on_schedule(&mapping, clock.as_ref(), &reason, &steps, run)
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

    /// Creates (or adopts) the company's tenant and stores the mapping at once, then sets its
    /// quotas, first account, mode and two-factor, and marks the setup done. A mapping whose
    /// setup is pending (an attempt failed after the tenant was made) is finished. Returns the
    /// mapping and whether an existing tenant was adopted.
    pub async fn provision(
        &self,
        company: &Company,
        plan: &QuotaPlan,
        settings: &ProvisioningSettings,
        origin: MappingOrigin,
        run: &mut RunRecord,
    ) -> Result<(CompanyMapping, bool), ProvisionError> {
        let pending = match self.store.mapping_by_company(company.id).await? {
            Some(existing) if !existing.setup_pending => return Ok((existing, true)),
            pending => pending,
        };
        self.provision_known(company, plan, settings, (origin, pending), run)
            .await
    }

    /// [`Provisioning::provision`] of a company read just now as unmapped, or mapped with
    /// its setup `pending`.
    async fn provision_known(
        &self,
        company: &Company,
        plan: &QuotaPlan,
        settings: &ProvisioningSettings,
        (origin, first): (MappingOrigin, Option<CompanyMapping>),
        run: &mut RunRecord,
    ) -> Result<(CompanyMapping, bool), ProvisionError> {
        let owner = run.run_id.clone();
        let claim = self
            .store
            .claim_company(company.id, &owner, CLAIM_LEASE)
            .await?;
        if claim == Claim::Busy {
            return Err(ProvisionError::Busy(company.id));
        }
        let result = self
            .provision_claimed(company, plan, settings, origin, (claim, first), run)
            .await;
        // A claim this run held before (its company run's) is let go by that run.
        if claim == Claim::Acquired
            && let Err(e) = self.store.release_claim(company.id, &owner).await
        {
            tracing::warn!(company_id = company.id, error = %e, "could not release the claim; it expires by itself");
        }
        result
    }

    async fn provision_claimed(
        &self,
        company: &Company,
        plan: &QuotaPlan,
        settings: &ProvisioningSettings,
        origin: MappingOrigin,
        (claim, first): (Claim, Option<CompanyMapping>),
        run: &mut RunRecord,
    ) -> Result<(CompanyMapping, bool), ProvisionError> {
        // A concurrent run may have finished between the first look and a new claim; under
        // its company run's claim, the first look was already under the claim.
        let pending = match claim {
            Claim::Acquired => match self.store.mapping_by_company(company.id).await? {
                Some(existing) if !existing.setup_pending => return Ok((existing, true)),
                pending => pending,
            },
            Claim::AlreadyHeld | Claim::Busy => first,
        };
        let subject = format!("company {}", company.id);
        // Check the account's data before creating anything.
        let source = rules::AccountSource::of(settings);
        let contact = match (settings.create_account_from_primary_contact, source) {
            (false, _) => None,
            (true, rules::AccountSource::PrimaryContact) => {
                match company.default_contact.as_ref() {
                    Some(c) => Some(self.cw.contact(c.id).await?),
                    None => None,
                }
            }
            (true, rules::AccountSource::ContactType(t)) => {
                let contacts = self
                    .cw
                    .contacts(&ListQuery {
                        order_by: Some("id asc".into()),
                        ..ListQuery::conditions(Conditions::new().eq("company/id", company.id))
                    })
                    .await?;
                rules::contact_of_type(&contacts, t).cloned()
            }
        };
        if let Some(m) = contact.as_ref().and_then(rules::contact_malformed) {
            return Err(ProvisionError::Malformed(company.id, m));
        }
        let account = if settings.create_account_from_primary_contact {
            Some(
                rules::account_from_contact(company, source, contact.as_ref())
                    .map_err(ProvisionError::NeedsAttention)?,
            )
        } else {
            None
        };

        let (tenant, adopted) = match &pending {
            Some(m) => (self.acronis.tenant(&m.tenant_id).await?, true),
            None => {
                self.find_or_create_tenant(company, contact.as_ref(), settings, &run.run_id)
                    .await?
            }
        };
        if !adopted {
            run.changes.push(Change {
                subject: subject.clone(),
                field: "tenant".into(),
                old: None,
                new: json!(tenant.id),
                basis: Some(format!(
                    "created customer tenant {:?}",
                    tenant.name.as_deref().unwrap_or("")
                )),
            });
        }

        // Stored before anything else can fail, so the tenant follows the company from now on.
        let mut mapping = match pending {
            Some(m) => m,
            None => {
                let mapping = CompanyMapping {
                    unknown: Default::default(),
                    company_id: company.id,
                    tenant_id: tenant.id.clone(),
                    company_name: company.name.clone(),
                    tenant_name: tenant.name.clone(),
                    origin,
                    mapped_at: crate::clock::now(),
                    qualified_at: plan.has_mapped_products.then(Utc::now),
                    setup_pending: true,
                };
                match self.store.map_company(&mapping).await {
                    Ok(()) => {}
                    Err(StoreError::CompanyAlreadyMapped { tenant_id, .. })
                        if tenant_id == tenant.id => {}
                    Err(e @ StoreError::TenantAlreadyMapped { .. }) => {
                        return Err(ProvisionError::NeedsAttention(format!(
                            "{e}: unmap it first"
                        )));
                    }
                    Err(e) => return Err(e.into()),
                }
                run.changes.push(Change {
                    subject: subject.clone(),
                    field: "mapping".into(),
                    old: None,
                    new: json!(tenant.id),
                    basis: Some(format!("{origin:?} provisioning")),
                });
                mapping
            }
        };
        // Quotas, account, mode and two-factor do not depend on each other: side by side,
        // each recording in a part of the run (the transports keep each API's limit).
        let (mut quota_run, mut account_run, mut mode_run) = (run.part(), run.part(), run.part());
        let quotas = async {
            let changed = self
                .sync_quotas(company.id, &tenant.id, plan, &mut quota_run)
                .await?;
            tracing::info!(company_id = company.id, changed, "quotas set");
            Ok::<_, ProvisionError>(())
        };
        let account = async {
            match account {
                Some(account) => {
                    self.ensure_account(&tenant.id, &account, settings, &mut account_run, &subject)
                        .await
                }
                None => Ok(()),
            }
        };
        let mode = async {
            self.ensure_tenant_mode(&tenant.id, settings.tenant_mode, &subject, &mut mode_run)
                .await?;
            if settings.two_factor && tenant.mfa_status.as_deref() != Some("enabled") {
                self.acronis.set_tenant_mfa(&tenant.id, true).await?;
                mode_run.changes.push(Change {
                    subject: subject.clone(),
                    field: "two_factor".into(),
                    old: tenant.mfa_status.clone().map(Into::into),
                    new: json!("enabled"),
                    basis: None,
                });
            }
            Ok::<_, ProvisionError>(())
        };
        // Boxed: three client futures side by side would not fit a small stack unboxed. All
        // three run to their end even when one fails, so none stops between two of its
        // calls (a user made but not yet given its role).
        let outcomes = tokio::join!(Box::pin(quotas), Box::pin(account), Box::pin(mode));
        for part in [quota_run, account_run, mode_run] {
            run.absorb(part);
        }
        outcomes.0?;
        outcomes.1?;
        outcomes.2?;

        self.store.finish_setup(&mapping).await?;
        mapping.setup_pending = false;
        Ok((mapping, adopted))
    }

    /// The company's tenant: a new one, or the one a previous attempt made. A sale costs no
    /// search: the POST comes first, and a previous attempt's tenant (tagged with the company
    /// id) is looked for only when an attempt noted its POST on the company's claim, when
    /// Acronis refuses the name as taken, or when the POST timed out.
    async fn find_or_create_tenant(
        &self,
        company: &Company,
        contact: Option<&Contact>,
        settings: &ProvisioningSettings,
        owner: &str,
    ) -> Result<(Tenant, bool), ProvisionError> {
        let partner = self.partner_id().await?;
        let name = rules::tenant_name(company).map_err(ProvisionError::NeedsAttention)?;
        let tag = rules::tenant_tag(company.id);
        // An attempt that died after its POST (and before the mapping) left a tenant that
        // its name may no longer find: look for it by its tag first.
        if self.store.tenant_post_noted(company.id).await? {
            // Found nothing: a lookup answered empty (or cut short) must not make a second
            // tenant, so a fresh one confirms it before the POST.
            for _ in 0..2 {
                if let Some(t) = self.tagged_tenant(&partner, &name, &tag).await? {
                    return Ok((t, true));
                }
            }
        }
        self.store.note_tenant_post(company.id, owner).await?;
        let new = NewTenant {
            name: name.clone(),
            kind: "customer".into(),
            parent_id: partner.clone(),
            customer_id: company.identifier.clone(),
            internal_tag: Some(tag.clone()),
            language: Some(settings.language.clone()),
            contact: contact.and_then(|c| {
                c.email().map(|email| TenantContact {
                    email: Some(email.to_owned()),
                    firstname: c.first_name.clone(),
                    lastname: c.last_name.clone(),
                    ..TenantContact::default()
                })
            }),
        };
        match self.acronis.create_tenant(&new).await {
            Ok(t) => Ok((t, false)),
            // It may have been created before the answer was lost: adopt it if so.
            Err(e @ (AcronisError::Timeout { .. } | AcronisError::Unreachable { .. })) => {
                match self.tagged_tenant(&partner, &name, &tag).await? {
                    Some(t) => Ok((t, true)),
                    None => Err(e.into()),
                }
            }
            Err(e) if e.code() == Some(codes::TENANT_NAME_TAKEN) => {
                if let Some(t) = self.tagged_tenant(&partner, &name, &tag).await? {
                    return Ok((t, true));
                }
                Err(ProvisionError::NeedsAttention(format!(
                    "Acronis already has a tenant named {name:?} that this integration did not create: map company {} to it \
                 (acw companies map --tenant) or rename one of them",
                    company.id
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A tenant under the partner with this name and our tag. Search first (one call); when
    /// it finds nothing, the partner's children are walked: search needs three characters,
    /// and whether it finds a name of several words or with punctuation is not documented.
    /// Only a timed-out tenant POST or a taken name comes here, so the walk is rare.
    async fn tagged_tenant(
        &self,
        partner: &str,
        name: &str,
        tag: &str,
    ) -> Result<Option<Tenant>, AcronisError> {
        if name.chars().count() >= 3 {
            let hits = self.acronis.search(partner, name, 50).await?;
            for hit in hits.into_iter().filter(|h| h.obj_type == "tenant") {
                if hit
                    .name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
                {
                    let t = self.acronis.tenant(&hit.id).await?;
                    if t.internal_tag.as_deref() == Some(tag) {
                        return Ok(Some(t));
                    }
                }
            }
        }
        let children = self.acronis.child_tenants(partner).await?;
        Ok(children
            .into_iter()
            .find(|t| t.internal_tag.as_deref() == Some(tag)))
    }

    /// The tenant's first account: created, given the company-admin role, and sent its
    /// activation email; found and left alone when a previous attempt made it.
    async fn ensure_account(
        &self,
        tenant_id: &str,
        account: &rules::AccountPlan,
        settings: &ProvisioningSettings,
        run: &mut RunRecord,
        subject: &str,
    ) -> Result<(), ProvisionError> {
        // Created first: Acronis refuses a taken login, and only then is it looked up, so a
        // sale costs no login check.
        let created = self
            .acronis
            .create_user(&NewUser {
                tenant_id: tenant_id.to_owned(),
                login: account.login.clone(),
                contact: UserContact {
                    email: account.email.clone(),
                    firstname: account.firstname.clone(),
                    lastname: account.lastname.clone(),
                },
                language: Some(settings.language.clone()),
            })
            .await;
        let user = match created {
            Ok(user) => user,
            // Refused: how the create says a login is taken is not documented (the check is),
            // so any refusal of the request itself is checked against the login.
            Err(e)
                if e.status()
                    .is_some_and(|s| (400..500).contains(&s) && ![401, 403, 429].contains(&s))
                    && !self.acronis.login_available(&account.login).await? =>
            {
                // A previous attempt's account in this tenant is ours (its role is set again,
                // in case that attempt stopped before); anyone else's is not.
                for id in self.acronis.tenant_user_ids(tenant_id).await? {
                    let user = self.acronis.user(&id).await?;
                    if user.login.eq_ignore_ascii_case(&account.login)
                        && user.tenant_id.eq_ignore_ascii_case(tenant_id)
                    {
                        self.acronis
                            .set_access_policies(
                                &user.id,
                                &[AccessPolicy::company_admin(tenant_id, &user.id)],
                            )
                            .await?;
                        return Ok(());
                    }
                }
                return Err(ProvisionError::NeedsAttention(format!(
                    "the login {:?} (the primary contact's email) is already used in Acronis by another account: \
                     change the contact's email or create the account by hand",
                    account.login
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.acronis
            .set_access_policies(
                &user.id,
                &[AccessPolicy::company_admin(tenant_id, &user.id)],
            )
            .await?;
        if settings.send_activation_email {
            self.acronis.send_activation_email(&user.id).await?;
        }
        run.changes.push(Change {
            subject: subject.to_owned(),
            field: "account".into(),
            old: None,
            new: json!(account.login),
            basis: Some(if settings.send_activation_email {
                "company admin, activation email sent".into()
            } else {
                "company admin".into()
            }),
        });
        Ok(())
    }

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
    async fn sync_quotas_from(
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

    /// Puts the tenant in the configured pricing mode when it must change (trial →
    /// production, once); reads its pricing first, so a tenant already in production is
    /// never written. Returns the mode it was in, and whether it was switched.
    pub async fn ensure_tenant_mode(
        &self,
        tenant_id: &str,
        mode: TenantMode,
        subject: &str,
        run: &mut RunRecord,
    ) -> Result<(String, bool), ProvisionError> {
        if mode == TenantMode::Trial {
            // Trial is where Acronis creates tenants: nothing to write, nothing to read.
            return Ok(("trial".into(), false));
        }
        let pricing = self.acronis.pricing(tenant_id).await?;
        let Some(target) = rules::pricing_change(mode, &pricing.mode) else {
            return Ok((pricing.mode, false));
        };
        self.acronis
            .set_pricing_mode(tenant_id, target, &pricing)
            .await?;
        run.changes.push(Change {
            subject: subject.to_owned(),
            field: "pricing_mode".into(),
            old: Some(json!(pricing.mode)),
            new: json!(target),
            basis: Some("provisioning.tenant_mode".into()),
        });
        Ok((pricing.mode, true))
    }

    /// A mapped company qualifies: the first time, say so on its mapping (from then on,
    /// losing its agreement deprovisions it); a running deprovisioning clock stops, and
    /// what was pending is cancelled.
    async fn qualifies_again(
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

    /// Runs the steps of `plan` that are due and keeps the clock: when the company was
    /// first seen not qualifying, what ran, and what waits for its day.
    async fn deprovision_on_schedule(
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

    /// Enables the tenant again when deprovisioning disabled it and the company qualifies
    /// again. A tenant disabled by someone else (no mark) is left disabled.
    async fn reenable_if_we_disabled(
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
                    let written = self
                        .acronis
                        .set_offering_items(&tenant.id, quotas::zero_quotas)
                        .await?;
                    if !written.changed.is_empty() {
                        run.changes.push(Change {
                            subject: subject.clone(),
                            field: "quotas".into(),
                            old: None,
                            new: json!(0),
                            basis: Some(format!(
                                "{reason}: {} item(s) set to zero",
                                written.changed.len()
                            )),
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
