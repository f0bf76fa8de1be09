//! `acw setup`: checks both credentials (one cheap call each, saying which fails and why),
//! registers the ConnectWise callbacks for the webhook URL, and proposes the MSP's time zone
//! (`billing.time_zone`) from ConnectWise's: set when it was never set, else only shown.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;
use shared::acronis::AcronisClient;
use shared::connectwise::ConnectWiseClient;
use shared::domain::settings::{BillingSettings, Section};
use shared::services::callbacks;
use shared::store::{Change, RunRecord};

use super::args::DryRun;
use super::companies::RUN_NAME;
use super::time_zone::{self, Proposal};
use crate::ctx::{self, Ctx};
use crate::output::{emit, table};

/// What `acw setup` checked, registered and proposed.
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    pub dry_run: bool,
    pub webhook_url: String,
    pub checks: Vec<Check>,
    pub callbacks: Callbacks,
    pub time_zone: ZoneOutcome,
}

/// The callback registrations created (kinds), kept and removed (ids).
#[derive(Debug, Clone, Serialize)]
pub struct Callbacks {
    pub created: Vec<String>,
    pub kept: Vec<i64>,
    pub removed: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, clap::Args)]
#[command(mut_arg(
    "dry_run",
    DryRun::help("Check and report what would change, without registering anything")
))]
pub struct SetupArgs {
    /// The webhook's public URL (https; the stack's `WebhookUrl` output).
    #[arg(long, value_name = "URL")]
    pub webhook_url: String,
    #[command(flatten)]
    pub dry_run: DryRun,
}

impl Check {
    /// The API, and the connection of an Acronis one.
    fn label(&self) -> String {
        match &self.connection {
            Some(c) => format!("{} [{c}]", self.api),
            None => self.api.to_owned(),
        }
    }
}

/// One credential check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub api: &'static str,
    /// The Acronis connection checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    pub ok: bool,
    pub detail: String,
}

pub async fn run(ctx: &Ctx, args: SetupArgs) -> Result<()> {
    let (webhook_url, dry_run) = (args.webhook_url.as_str(), args.dry_run.dry_run);
    let access = ctx.api().await?;
    let (settings, creds) = (&access.settings, &access.creds);

    let (cw, cw_check, server_zone) = check_connectwise(access).await;
    // One check per Acronis connection.
    let mut checks = vec![cw_check];
    for (name, connection) in &creds.acronis {
        checks.push(
            match AcronisClient::new(
                connection,
                access.transport(settings.http.acronis_concurrency),
            ) {
                Err(e) => acronis_failure(name, &e),
                Ok(a) => match a.client_info().await {
                    Ok(info) => Check {
                        api: "Acronis",
                        connection: Some(name.to_string()),
                        ok: true,
                        detail: format!(
                            "{} (partner tenant {})",
                            connection.datacenter_url, info.tenant_id
                        ),
                    },
                    Err(e) => acronis_failure(name, &e),
                },
            },
        );
    }
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
    let checks_table = || {
        table(
            &["API", "credentials", "detail"],
            checks.iter().map(|c| {
                vec![
                    c.label(),
                    if c.ok { "ok" } else { "FAILED" }.to_owned(),
                    c.detail.clone(),
                ]
            }),
        )
    };
    let Some(cw) = cw.filter(|_| failed.is_empty()) else {
        if !ctx.json {
            println!("{}", checks_table());
        }
        let which: Vec<String> = failed
            .iter()
            .map(|c| format!("{}: {}", c.label(), c.detail))
            .collect();
        bail!(
            "credential check failed (secret {}); nothing was registered\n  {}",
            settings.secret_id,
            which.join("\n  ")
        );
    };

    // The alert board's tickets too when a technician's close dismisses alerts.
    let alerts: shared::domain::alerts::AlertSettings = ctx.store().await?.section().await?;
    let reg = callbacks::register_wanted(&cw, webhook_url, &callbacks::wanted(&alerts), dry_run)
        .await
        .context("registering the ConnectWise callbacks")?;
    if !dry_run && (!reg.created.is_empty() || !reg.removed.is_empty()) {
        record_registration(ctx, &reg, webhook_url).await?;
    }
    let zone = time_zone(ctx, &cw, server_zone.as_deref(), dry_run).await?;
    let report = SetupReport {
        dry_run,
        webhook_url: webhook_url.to_owned(),
        checks: checks.clone(),
        callbacks: Callbacks {
            created: reg.created.clone(),
            kept: reg.kept.clone(),
            removed: reg.removed.clone(),
        },
        time_zone: zone,
    };
    let zone = &report.time_zone;
    emit(ctx, &report, || {
        let rows = registration_rows(&reg, webhook_url, dry_run);
        format!(
            "{}\n{}\n{}{}",
            checks_table(),
            table(&["callbacks", "detail"], rows),
            table(
                &["time zone", "detail"],
                [vec![zone.outcome.clone(), zone.detail()]]
            ),
            if dry_run {
                "\ndry run: nothing was registered"
            } else {
                ""
            }
        )
    });
    Ok(())
}

/// Records the callbacks registered and removed in ConnectWise as a run of `acw` (shown by
/// `acw status`).
async fn record_registration(
    ctx: &Ctx,
    reg: &callbacks::Registration,
    webhook_url: &str,
) -> Result<()> {
    let mut run = RunRecord::start(RUN_NAME);
    for kind in &reg.created {
        run.changes.push(Change {
            subject: format!("{kind} callback"),
            field: "registered".into(),
            old: None,
            new: Value::String(webhook_url.to_owned()),
            basis: Some("acw setup".into()),
        });
    }
    for id in &reg.removed {
        run.changes.push(Change {
            subject: format!("callback {id}"),
            field: "registered".into(),
            old: Some(Value::Bool(true)),
            new: Value::Null,
            basis: Some("acw setup: stale or duplicate".into()),
        });
    }
    ctx.record(&mut run).await
}

/// ConnectWise's credentials checked (its system info read): the client when they work,
/// the check's row, and the server's time zone when it says.
async fn check_connectwise(
    access: &ctx::ApiAccess,
) -> (Option<ConnectWiseClient>, Check, Option<String>) {
    let (settings, creds) = (&access.settings, &access.creds);
    let mut server_zone: Option<String> = None;
    let cw = ConnectWiseClient::connect(
        &creds.connectwise,
        access.transport(settings.http.connectwise_concurrency),
    )
    .await;
    let (cw, cw_check) = match cw {
        Err(e) => (None, cw_failure(&e)),
        Ok(cw) => match cw.system_info().await {
            Ok(info) => {
                server_zone = info
                    .get("serverTimeZone")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let version = info
                    .get("version")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown version");
                let base = cw
                    .base_url()
                    .await
                    .map_or_else(|e| e.to_string(), ToString::to_string);
                let check = Check {
                    api: "ConnectWise",
                    connection: None,
                    ok: true,
                    detail: format!("{base} ({version})"),
                };
                (Some(cw), check)
            }
            Err(e) => (None, cw_failure(&e)),
        },
    };
    (cw, cw_check, server_zone)
}

/// One row per callback registration created, kept or removed.
fn registration_rows(
    reg: &callbacks::Registration,
    webhook_url: &str,
    dry_run: bool,
) -> Vec<Vec<String>> {
    let verb = |done: &str, would: &str| if dry_run { would } else { done }.to_owned();
    let mut rows = Vec::new();
    for kind in &reg.created {
        rows.push(vec![
            verb("created", "would create"),
            format!("{kind} callback → {webhook_url}"),
        ]);
    }
    for id in &reg.kept {
        rows.push(vec![
            "kept".into(),
            format!("callback {id} (already in place)"),
        ]);
    }
    for id in &reg.removed {
        rows.push(vec![
            verb("removed", "would remove"),
            format!("callback {id} (stale or duplicate)"),
        ]);
    }
    rows
}

/// What setup did with the time zone.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneOutcome {
    /// `set`, `would set` or `kept`.
    outcome: String,
    /// The setting now (or, in a dry run, as it would be).
    setting: String,
    proposal: Proposal,
    /// Why My Company's time zone could not be read, if it could not.
    unread: Option<String>,
}

impl ZoneOutcome {
    fn detail(&self) -> String {
        let mut d = format!(
            "billing.time_zone = {}; ConnectWise's: {} (from {})",
            self.setting, self.proposal.zone, self.proposal.from
        );
        if self.outcome == "kept" && self.setting != self.proposal.zone.name() {
            d.push_str(&format!(
                "; to use it: acw billing set time_zone={}",
                self.proposal.zone
            ));
        }
        if let Some(why) = &self.unread {
            d.push_str(&format!("; My Company's time zone not read: {why}"));
        }
        d
    }
}

/// Proposes the MSP's time zone from ConnectWise's and sets it when the setting was never
/// set (not in a dry run); a zone already set is kept.
async fn time_zone(
    ctx: &Ctx,
    cw: &ConnectWiseClient,
    server_zone: Option<&str>,
    dry_run: bool,
) -> Result<ZoneOutcome> {
    let (my_company, unread) = match cw.my_company_time_zone().await {
        Ok(z) => (z, None),
        // (An API member without the System › Setup Tables right is refused.)
        Err(e) => (None, Some(e.to_string())),
    };
    let proposal = time_zone::propose(my_company.as_deref(), server_zone);
    let store = ctx.store().await?;
    let old: BillingSettings = store.section().await?;
    let (outcome, setting) = match old.time_zone {
        Some(z) => ("kept", z),
        None => {
            let new = BillingSettings {
                time_zone: Some(proposal.zone),
                ..old.clone()
            };
            if !dry_run {
                store.save_section(&new).await?;
                let changes = super::sections::changes(&old, &new);
                // The audit entry's detail is free-form.
                let detail = serde_json::json!({ "changes": changes, "from": proposal.from });
                ctx.audit("setup.time_zone", BillingSettings::NAME, detail)
                    .await?;
            }
            (if dry_run { "would set" } else { "set" }, proposal.zone)
        }
    };
    Ok(ZoneOutcome {
        outcome: outcome.into(),
        setting: setting.name().into(),
        proposal,
        unread,
    })
}

fn cw_failure(e: &shared::connectwise::CwError) -> Check {
    let hint = match e.status() {
        Some(401 | 403) => {
            "; check cw_company_id, cw_public_key, cw_private_key and cw_client_id in the secret"
        }
        _ => "",
    };
    Check {
        connection: None,
        api: "ConnectWise",
        ok: false,
        detail: format!("{e}{hint}"),
    }
}

fn acronis_failure(
    connection: &impl std::fmt::Display,
    e: &shared::acronis::AcronisError,
) -> Check {
    Check {
        api: "Acronis",
        connection: Some(connection.to_string()),
        ok: false,
        detail: e.to_string(),
    }
}
