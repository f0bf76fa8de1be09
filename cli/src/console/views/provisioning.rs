//! Provisioning: auto-provisioning, the first account's source, activation email, 2FA,
//! tenant mode and each deprovisioning step with its days.

use maud::{Markup, html};

use shared::domain::settings::ProvisioningSettings;

use super::{action_button, line, settings_or_error};
use crate::Command;
use crate::cmd::provisioning::ProvisioningCmd;
use crate::console::backend::Backend;

pub async fn render<B: Backend>(backend: &B) -> Markup {
    let settings = backend
        .run(line(Command::Provisioning(ProvisioningCmd::Show)))
        .await;
    html! {
        section aria-labelledby="provisioning-settings" {
            h2 id="provisioning-settings" { "Settings" }
            (settings_or_error::<ProvisioningSettings>(&settings, "provisioning", "Provisioning and deprovisioning"))
        }
        section aria-labelledby="tenant-mode" {
            h2 id="tenant-mode" { "Tenant mode" }
            p { "Mapped tenants still in trial can be put in production (once, for good), as provisioning does for new tenants." }
            (action_button("Preview the switch to production…", &[("action", "tenants-production")]))
        }
    }
}
