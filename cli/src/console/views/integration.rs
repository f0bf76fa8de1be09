//! Integration: both credentials and what `acw doctor` checks, the callbacks registered.

use maud::{Markup, html};

use super::{action_button, line, ran_view};
use crate::Command;
use crate::cmd::doctor::{self, DoctorArgs};
use crate::console::actions::Fields;
use crate::console::backend::Backend;

pub async fn render<B: Backend>(backend: &B, query: &Fields) -> Markup {
    let webhook_url = query
        .iter()
        .find(|(k, _)| k == "webhook_url")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let doctor = backend
        .run(line(Command::Doctor(DoctorArgs {
            webhook_url: webhook_url.clone(),
            probe_company: None,
            probe_wait: doctor::PROBE_WAIT,
        })))
        .await;
    html! {
        section aria-labelledby="checks" {
            h2 id="checks" { "Credentials, callbacks and what the integration relies on" }
            p.muted { "The checks of " code { "acw doctor" } " (read only)." }
            (ran_view(&doctor))
        }
        section aria-labelledby="callbacks" {
            h2 id="callbacks" { "Callbacks" }
            form method="get" action="/" {
                input type="hidden" name="tab" value="integration";
                label for="webhook-url" { "Webhook URL (the stack's WebhookUrl output)" }
                input id="webhook-url" type="url" name="webhook_url" value=[webhook_url.as_deref()] placeholder="https://…";
                button type="submit" { "Check the callbacks against it" }
            }
            @if let Some(url) = &webhook_url {
                (action_button("Register the callbacks…", &[("action", "setup"), ("webhook_url", url)]))
            }
        }
    }
}
