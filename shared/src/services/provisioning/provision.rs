//! Provisioning a company: its tenant created (or a previous attempt's adopted), the
//! mapping stored at once, then quotas, first account, pricing mode and two-factor side by
//! side, and the setup marked done. The company's claim keeps two runs off one company.

use serde_json::json;

use super::{CLAIM_LEASE, ProvisionError, Provisioning};
use crate::acronis::AcronisError;
use crate::acronis::error::codes;
use crate::acronis::models::{NewTenant, Tenant, TenantContact};
use crate::connectwise::models::{Company, Contact};
use crate::connectwise::{Conditions, ListQuery};
use crate::domain::provisioning as rules;
use crate::domain::quotas::QuotaPlan;
use crate::domain::settings::{ProvisioningSettings, TenantMode};
use crate::store::{Change, Claim, CompanyMapping, MappingOrigin, RunRecord, StoreError};

impl Provisioning {
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
    pub(super) async fn provision_known(
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
        let (contact, account) = self.account_contact(company, settings).await?;

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
                self.store_mapping(company, &tenant, plan, origin, run)
                    .await?
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

    /// The contact the first account is made from, and that account (none when the setting
    /// is off); a contact whose fields the account needs is malformed, or none found, fails
    /// the company before anything is created.
    async fn account_contact(
        &self,
        company: &Company,
        settings: &ProvisioningSettings,
    ) -> Result<(Option<Contact>, Option<rules::AccountPlan>), ProvisionError> {
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
        Ok((contact, account))
    }

    /// Stores the mapping of `company` to its new `tenant` (setup pending). The same mapping
    /// stored already (a retry) is fine; the tenant mapped to another company needs a person.
    async fn store_mapping(
        &self,
        company: &Company,
        tenant: &Tenant,
        plan: &QuotaPlan,
        origin: MappingOrigin,
        run: &mut RunRecord,
    ) -> Result<CompanyMapping, ProvisionError> {
        let mapping = CompanyMapping {
            connection: self.acronis.connection().clone(),
            unknown: Default::default(),
            company_id: company.id,
            tenant_id: tenant.id.clone(),
            company_name: company.name.clone(),
            tenant_name: tenant.name.clone(),
            origin,
            mapped_at: crate::clock::now(),
            qualified_at: plan.has_mapped_products.then(crate::clock::now),
            setup_pending: true,
        };
        match self.store.map_company(&mapping).await {
            Ok(()) => {}
            Err(StoreError::CompanyAlreadyMapped { tenant_id, .. }) if tenant_id == tenant.id => {}
            Err(e @ StoreError::TenantAlreadyMapped { .. }) => {
                return Err(ProvisionError::NeedsAttention(format!(
                    "{e}: unmap it first"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        run.changes.push(Change {
            subject: format!("company {}", company.id),
            field: "mapping".into(),
            old: None,
            new: json!(tenant.id),
            basis: Some(format!("{origin:?} provisioning")),
        });
        Ok(mapping)
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
}
