//! The tenant's first account: created first (a sale costs no login check), given the
//! company-admin role, and sent its activation email; a previous attempt's account is found
//! only when the creation is refused.

use serde_json::json;

use super::{ProvisionError, Provisioning};
use crate::acronis::models::{AccessPolicy, NewUser, UserContact};
use crate::domain::provisioning as rules;
use crate::domain::settings::ProvisioningSettings;
use crate::store::{Change, RunRecord};

impl Provisioning {
    /// The tenant's first account: created, given the company-admin role, and sent its
    /// activation email; found and left alone when a previous attempt made it.
    pub(super) async fn ensure_account(
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
}
