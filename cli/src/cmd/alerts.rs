//! `acw alerts …`: the board, the per-type ticket mapping and the ticket options. Every
//! change is validated against the board in ConnectWise before it is saved (a status, type,
//! subtype or priority not on the board is refused, named), and audited.

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use shared::domain::alerts::{AlertSettings, BoardCatalog, TypeMapping};
use shared::services::alerts::{board_catalog, load_settings, save_settings};

use super::args::DryRun;
use super::sections::SettingChange;
use crate::ctx::Ctx;
use crate::output;

/// What a dry run of `alerts board|map|set` would change (`alerts show` and a real run print
/// the [`AlertSettings`] themselves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsDryRun {
    pub dry_run: bool,
    pub changes: Vec<SettingChange>,
    pub settings: AlertSettings,
}

/// An alert type Acronis knows (`alerts types`), and whether it is mapped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTypeRow {
    pub id: String,
    pub category: Option<String>,
    pub severity: Option<String>,
    pub mapped: bool,
}

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum AlertsCmd {
    /// Show the board, the alert-type mapping and the ticket options.
    Show,
    /// List the alert types Acronis knows and whether each is mapped.
    Types,
    /// Choose the service board tickets go to (name or id).
    Board {
        board: String,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Map an alert type (e.g. BackupFailed) to a ticket status, type, subtype and priority (names or ids).
    Map(MapCmd),
    /// Ticket options: renew_after_closed=on|off renew_after_days=N auto_close=on|off closing_status=NAME|ID
    /// clear_alert_on_close=on|off fixed_statuses=NAME[,NAME…] (a technician's close to one of
    /// these statuses dismisses the alert in Acronis; run `acw setup` after switching it on)
    Set {
        #[arg(required = true)]
        pairs: Vec<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

/// `alerts map`'s arguments.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct MapCmd {
    pub alert_type: String,
    #[arg(long, required_unless_present = "remove")]
    pub status: Option<String>,
    #[arg(long = "type")]
    pub ticket_type: Option<String>,
    #[arg(long)]
    pub subtype: Option<String>,
    #[arg(long)]
    pub priority: Option<String>,
    /// Stop making tickets for this alert type.
    #[arg(long, conflicts_with_all = ["status", "ticket_type", "subtype", "priority"])]
    pub remove: bool,
    #[command(flatten)]
    pub dry_run: DryRun,
}

impl From<MapCmd> for MapArgs {
    fn from(m: MapCmd) -> Self {
        Self {
            alert_type: m.alert_type,
            status: m.status.unwrap_or_default(),
            ticket_type: m.ticket_type,
            subtype: m.subtype,
            priority: m.priority,
            remove: m.remove,
        }
    }
}

pub async fn run(ctx: &Ctx, cmd: AlertsCmd) -> Result<()> {
    match cmd {
        AlertsCmd::Show => show(ctx).await,
        AlertsCmd::Types => types(ctx).await,
        AlertsCmd::Board { board, dry_run } => self::board(ctx, &board, dry_run.dry_run).await,
        AlertsCmd::Map(m) => {
            let dry_run = m.dry_run.dry_run;
            map(ctx, m.into(), dry_run).await
        }
        AlertsCmd::Set { pairs, dry_run } => set(ctx, &pairs, dry_run.dry_run).await,
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" => Ok(true),
        "false" | "off" | "no" => Ok(false),
        _ => bail!("{key}={v}: expected true or false"),
    }
}

/// An id, or a name looked up (case-insensitively) among `(id, name)` pairs.
fn resolve(what: &str, given: &str, options: &[(i64, Option<String>)]) -> Result<i64> {
    if let Ok(id) = given.parse::<i64>() {
        return Ok(id);
    }
    options
        .iter()
        .find(|(_, n)| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(given)))
        .map(|(id, _)| *id)
        .ok_or_else(|| {
            let known: Vec<String> = options.iter().filter_map(|(_, n)| n.clone()).collect();
            anyhow!(
                "there is no {what} named {given:?} (there are: {})",
                known.join(", ")
            )
        })
}

fn statuses(c: &BoardCatalog) -> Vec<(i64, Option<String>)> {
    c.statuses.iter().map(|s| (s.id, s.name.clone())).collect()
}

/// Saves (validated against the board, audited as `what`) and prints the settings; with
/// `dry_run`, prints what would change and saves nothing.
async fn save(
    ctx: &Ctx,
    deps: &shared::bootstrap::Deps,
    old: &AlertSettings,
    new: &AlertSettings,
    what: &str,
    dry_run: bool,
) -> Result<()> {
    if dry_run {
        new.validate().map_err(|e| anyhow!("{e}"))?;
        let report = AlertsDryRun {
            dry_run: true,
            changes: crate::cmd::sections::changes(old, new),
            settings: new.clone(),
        };
        output::emit(ctx, &report, || {
            let rows = report.changes.iter().map(SettingChange::cells);
            format!(
                "{}\n(dry run: nothing saved)",
                if report.changes.is_empty() {
                    "nothing would change".to_owned()
                } else {
                    output::table(&["would change", "old", "new"], rows)
                }
            )
        });
        return Ok(());
    }
    save_settings(&deps.cw, &deps.store, new)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    ctx.audit("alerts.set", what, serde_json::to_value(new)?)
        .await?;
    let names = Names::of(&deps.cw, new).await;
    output::emit(ctx, new, || human(new, &names));
    Ok(())
}

/// Names of the board's statuses, types, subtypes and priorities, for people (ids when the
/// board could not be read).
#[derive(Default)]
struct Names {
    board: Option<String>,
    by_id: std::collections::HashMap<(&'static str, i64), String>,
}

impl Names {
    async fn of(cw: &shared::connectwise::ConnectWiseClient, settings: &AlertSettings) -> Self {
        let Some(board_id) = settings.board_id else {
            return Self::default();
        };
        let Ok(c) = shared::services::alerts::board_catalog(cw, board_id).await else {
            return Self::default();
        };
        let mut by_id = std::collections::HashMap::new();
        for s in &c.statuses {
            by_id.extend(s.name.clone().map(|n| (("status", s.id), n)));
        }
        for t in &c.types {
            by_id.extend(t.name.clone().map(|n| (("type", t.id), n)));
        }
        for t in &c.subtypes {
            by_id.extend(t.name.clone().map(|n| (("subtype", t.id), n)));
        }
        for p in &c.priorities {
            by_id.extend(p.name.clone().map(|n| (("priority", p.id), n)));
        }
        Self {
            board: c.board_name,
            by_id,
        }
    }

    /// `"New (1)"`, or the id alone.
    fn label(&self, kind: &'static str, id: Option<i64>) -> String {
        match id {
            None => "-".to_owned(),
            Some(id) => match self.by_id.get(&(kind, id)) {
                Some(n) => format!("{n} ({id})"),
                None => id.to_string(),
            },
        }
    }
}

fn human(settings: &AlertSettings, names: &Names) -> String {
    let mut out = format!(
        "board: {}\nnew ticket after N days closed: {} (N = {})\nauto-close: {}{}\n",
        match (&names.board, settings.board_id) {
            (Some(n), Some(id)) => format!("{n} ({id})"),
            (_, id) => output::opt(id),
        },
        if settings.renew_after_closed {
            "on"
        } else {
            "off"
        },
        settings.renew_after_days,
        if settings.auto_close { "on" } else { "off" },
        settings
            .closing_status_id
            .map(|s| format!(" (status {})", names.label("status", Some(s))))
            .unwrap_or_default()
    );
    let rows = settings.types.iter().map(|(t, m)| {
        vec![
            t.clone(),
            names.label("status", Some(m.status_id)),
            names.label("type", m.type_id),
            names.label("subtype", m.subtype_id),
            names.label("priority", m.priority_id),
        ]
    });
    out.push_str(&output::table(
        &["alert type", "status", "type", "subtype", "priority"],
        rows,
    ));
    out
}

pub async fn show(ctx: &Ctx) -> Result<()> {
    let deps = ctx.deps().await?;
    let settings = load_settings(&deps.store).await?;
    let names = if ctx.json {
        Names::default()
    } else {
        Names::of(&deps.cw, &settings).await
    };
    output::emit(ctx, &settings, || human(&settings, &names));
    Ok(())
}

/// Lists the alert types Acronis knows, with their mapping.
pub async fn types(ctx: &Ctx) -> Result<()> {
    let deps = ctx.deps().await?;
    let settings = load_settings(&deps.store).await?;
    // Every connection's (the same platform's types, read from each data centre).
    let mut types = Vec::new();
    for client in deps.connections.current().await.values() {
        for t in client.alert_types().await? {
            if !types
                .iter()
                .any(|k: &shared::acronis::models::AlertType| k.id == t.id)
            {
                types.push(t);
            }
        }
    }
    let report: Vec<AlertTypeRow> = types
        .iter()
        .map(|t| AlertTypeRow {
            id: t.id.clone(),
            category: t.category.clone(),
            severity: t.severity.clone(),
            mapped: settings.types.contains_key(&t.id),
        })
        .collect();
    output::emit(ctx, &report, || {
        output::table(
            &["alert type", "category", "severity", "mapped"],
            types.iter().map(|t| {
                vec![
                    t.id.clone(),
                    output::opt(t.category.clone()),
                    output::opt(t.severity.clone()),
                    if settings.types.contains_key(&t.id) {
                        "yes"
                    } else {
                        ""
                    }
                    .to_owned(),
                ]
            }),
        )
    });
    Ok(())
}

pub async fn board(ctx: &Ctx, board: &str, dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let boards = deps.cw.boards().await?;
    let options: Vec<(i64, Option<String>)> =
        boards.iter().map(|b| (b.id, b.name.clone())).collect();
    let id = resolve("board", board, &options)?;
    let old = load_settings(&deps.store).await?;
    let mut settings = old.clone();
    if settings.board_id != Some(id) {
        // Statuses and types belong to a board: a new board starts with no type mapped.
        settings.board_id = Some(id);
        settings.types.clear();
        settings.closing_status_id = None;
        settings.auto_close = false;
    }
    save(ctx, deps, &old, &settings, "board", dry_run).await
}

pub struct MapArgs {
    pub alert_type: String,
    pub status: String,
    pub ticket_type: Option<String>,
    pub subtype: Option<String>,
    pub priority: Option<String>,
    pub remove: bool,
}

pub async fn map(ctx: &Ctx, a: MapArgs, dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let old = load_settings(&deps.store).await?;
    let mut settings = old.clone();
    if a.remove {
        settings.types.remove(&a.alert_type);
    } else {
        let board = settings
            .board_id
            .context("choose the service board first: acw alerts board <name or id>")?;
        let catalog = board_catalog(&deps.cw, board)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let types: Vec<(i64, Option<String>)> = catalog
            .types
            .iter()
            .map(|t| (t.id, t.name.clone()))
            .collect();
        let subtypes: Vec<(i64, Option<String>)> = catalog
            .subtypes
            .iter()
            .map(|t| (t.id, t.name.clone()))
            .collect();
        let priorities: Vec<(i64, Option<String>)> = catalog
            .priorities
            .iter()
            .map(|p| (p.id, p.name.clone()))
            .collect();
        let mapping = TypeMapping {
            status_id: resolve("status", &a.status, &statuses(&catalog))?,
            type_id: a
                .ticket_type
                .as_deref()
                .map(|t| resolve("type", t, &types))
                .transpose()?,
            subtype_id: a
                .subtype
                .as_deref()
                .map(|t| resolve("subtype", t, &subtypes))
                .transpose()?,
            priority_id: a
                .priority
                .as_deref()
                .map(|p| resolve("priority", p, &priorities))
                .transpose()?,
        };
        settings.types.insert(a.alert_type.clone(), mapping);
    }
    save(ctx, deps, &old, &settings, &a.alert_type, dry_run).await
}

/// `acw alerts set renew_after_closed=on renew_after_days=3 auto_close=on closing_status=Resolved`
pub async fn set(ctx: &Ctx, pairs: &[String], dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let old = load_settings(&deps.store).await?;
    let mut settings = old.clone();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("{pair:?}: expected key=value"))?;
        match key {
            "renew_after_closed" => settings.renew_after_closed = parse_bool(key, value)?,
            "renew_after_days" => {
                settings.renew_after_days = value
                    .parse()
                    .ok()
                    .filter(|d: &u32| (1..=365).contains(d))
                    .with_context(|| {
                        format!(
                            "renew_after_days={value}: expected a whole number of days, 1 to 365"
                        )
                    })?;
            }
            "auto_close" => settings.auto_close = parse_bool(key, value)?,
            "clear_alert_on_close" => settings.clear_alert_on_close = parse_bool(key, value)?,
            // Names of the board's statuses (checked against the board when saved).
            "fixed_statuses" => {
                settings.fixed_statuses = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "closing_status" => {
                let board = settings
                    .board_id
                    .context("choose the service board first: acw alerts board <name or id>")?;
                let catalog = board_catalog(&deps.cw, board)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                settings.closing_status_id = Some(resolve("status", value, &statuses(&catalog))?);
            }
            other => bail!(
                "unknown setting {other:?}: use renew_after_closed, renew_after_days, auto_close, closing_status, clear_alert_on_close or fixed_statuses"
            ),
        }
    }
    save(ctx, deps, &old, &settings, "options", dry_run).await
}
