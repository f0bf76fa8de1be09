//! `acw sync alerts [--dry-run]`: one alert poll now, or the events it would publish and
//! what the ticket sync would do with each.

use anyhow::Result;
use serde::Serialize;
use shared::services::alerts::AlertPlan;
use shared::store::Failure;

use crate::ctx::Ctx;
use crate::output;

/// What `sync alerts --dry-run` shows: the events a poll would publish and what the ticket
/// sync would do with each.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertsSyncDryRun {
    pub dry_run: bool,
    pub plan: AlertPlan,
    pub failures: Vec<Failure>,
}

/// `acw sync alerts`: one poll now (alerts of mapped tenants and types onto the bus).
pub async fn sync(ctx: &Ctx, dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let opts = shared::services::alerts::PollOptions::default();
    if dry_run {
        let sync = shared::services::alerts::TicketSync::new(deps.cw.clone(), deps.store.clone());
        let mut run =
            shared::store::RunRecord::start(shared::functions::Function::AlertPoller.name());
        let plan = shared::services::alerts::preview_all(&deps.connections, &sync, &opts, &mut run)
            .await?;
        let report = AlertsSyncDryRun {
            dry_run: true,
            plan,
            failures: run.failures.clone(),
        };
        let plan = &report.plan;
        output::emit(ctx, &report, || {
            let mut out = output::table(
                &["alert", "type", "company", "event", "action"],
                plan.tickets.iter().map(|t| {
                    vec![
                        t.alert_id.clone(),
                        t.alert_type.clone(),
                        t.company_id.to_string(),
                        t.event.to_owned(),
                        t.description.clone(),
                    ]
                }),
            );
            for f in &run.failures {
                out.push_str(&format!("\n! {}: {}", f.subject, f.reason));
            }
            out.push_str(&format!(
                "\n{} alert(s) read, {} event(s) to publish, {} already carried, {} of unmapped tenants, {} of unmapped types (dry run: nothing written)",
                plan.read,
                plan.tickets.len(),
                plan.duplicates,
                plan.unmapped_tenant,
                plan.unmapped_type
            ));
            out
        });
        return Ok(());
    }
    let value = shared::services::cycles::alert_poll(
        &deps.connections,
        &deps.store,
        &deps.bus,
        &opts,
        &deps.recorder().with_log(shared::runs::MetricLog::Off),
    )
    .await?;
    // The alert poller's own reply (`shared::services::cycles`), printed as it is.
    output::emit(ctx, &value, || format!("alerts polled: {value}"));
    Ok(())
}
