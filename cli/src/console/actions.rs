//! The changes the page can make, each one `acw` command: previewed with `--dry-run`,
//! applied without. Each action builds the command as `acw`'s own clap types
//! ([`Action::command`]), and its command line is written from them
//! ([`super::command_line::argv`]): values as separate arguments, options as `--name=value`
//! and positionals after `--`, so nothing typed into the page is read as a flag.

use super::views::Tab;
use crate::Command;
use crate::cmd::alerts::{AlertsCmd, MapCmd};
use crate::cmd::args::{ConnectionArg, DryRun};
use crate::cmd::attention::AttentionCmd;
use crate::cmd::billing::BillingCmd;
use crate::cmd::companies::CompaniesCmd;
use crate::cmd::jobs::JobsCmd;
use crate::cmd::products::{self, ProductsCmd, STORAGE_ITEM};
use crate::cmd::provisioning::ProvisioningCmd;
use crate::cmd::setup::SetupArgs;
use crate::cmd::tenants::TenantsCmd;
use crate::cmd::usage::UsageCmd;
use shared::secrets::ConnectionName;

/// The settings sections a form on the page edits with `key=value` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Provisioning,
    Attention,
    AlertOptions,
    Usage,
    Billing,
    ProductSettings,
}

impl Section {
    pub const ALL: [Section; 6] = [
        Self::Provisioning,
        Self::Attention,
        Self::AlertOptions,
        Self::Usage,
        Self::Billing,
        Self::ProductSettings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Attention => "attention",
            Self::AlertOptions => "alert-options",
            Self::Usage => "usage",
            Self::Billing => "billing",
            Self::ProductSettings => "product-settings",
        }
    }

    /// The command that sets it to `pairs`.
    fn command(self, pairs: Vec<String>, dry_run: DryRun) -> Command {
        match self {
            Self::Provisioning => Command::Provisioning(ProvisioningCmd::Set { pairs, dry_run }),
            Self::Attention => Command::Attention(AttentionCmd::Set { pairs, dry_run }),
            Self::AlertOptions => Command::Alerts(AlertsCmd::Set { pairs, dry_run }),
            Self::Usage => Command::Usage(UsageCmd::Set { pairs, dry_run }),
            Self::Billing => Command::Billing(BillingCmd::Set { pairs, dry_run }),
            Self::ProductSettings => Command::Products(ProductsCmd::Settings { pairs, dry_run }),
        }
    }

    fn tab(self) -> Tab {
        match self {
            Self::Provisioning => Tab::Provisioning,
            Self::Attention | Self::AlertOptions => Tab::Tickets,
            Self::Usage | Self::Billing | Self::ProductSettings => Tab::Products,
        }
    }
}

/// One change, as the page's forms describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `pairs`: only the settings the form changed.
    Settings {
        section: Section,
        pairs: Vec<String>,
    },
    /// `connection`: the existing tenant's, or the one new tenants go to (`None`: the
    /// new-customer rule).
    CompaniesMap {
        ids: Vec<i64>,
        tenant: Option<String>,
        connection: Option<ConnectionName>,
    },
    CompaniesUnmap {
        id: i64,
    },
    CompaniesMatch {
        ids: Vec<i64>,
        connection: Option<ConnectionName>,
    },
    ProductsMap {
        item: String,
        product: String,
        infra: Option<String>,
        connection: Option<ConnectionName>,
    },
    ProductsUnmap {
        item: String,
        infra: Option<String>,
        connection: Option<ConnectionName>,
    },
    ProductsFree {
        item: String,
        infra: Option<String>,
        connection: Option<ConnectionName>,
    },
    DefaultStorage {
        infra: String,
        connection: Option<ConnectionName>,
    },
    AutoMap {
        connection: Option<ConnectionName>,
    },
    AlertsBoard {
        board: String,
    },
    AlertsMap {
        alert_type: String,
        status: String,
        ticket_type: Option<String>,
        subtype: Option<String>,
        priority: Option<String>,
    },
    AlertsRemove {
        alert_type: String,
    },
    Job {
        job: String,
        pause: bool,
    },
    TenantsProduction,
    Setup {
        webhook_url: String,
    },
}

/// The form's fields, in order (repeated names allowed).
pub type Fields = [(String, String)];

fn all<'a>(fields: &'a Fields, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    fields
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.trim())
}

fn optional(fields: &Fields, name: &str) -> Option<String> {
    all(fields, name).find(|v| !v.is_empty()).map(str::to_owned)
}

fn required(fields: &Fields, name: &str, what: &str) -> Result<String, String> {
    optional(fields, name).ok_or_else(|| format!("choose {what} first"))
}

/// The Acronis connection a form names in `name` (none: the command's own choice).
fn connection(fields: &Fields, name: &str) -> Result<Option<ConnectionName>, String> {
    optional(fields, name)
        .map(|v| ConnectionName::parse(&v).map_err(|_| format!("{v:?} is not a connection name")))
        .transpose()
}

fn ids(fields: &Fields, name: &str) -> Result<Vec<i64>, String> {
    all(fields, name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| format!("{v:?} is not a company id"))
        })
        .collect()
}

/// `KEY=VALUE` for each `set.KEY` whose value differs from its `was.KEY`. Emptied, a text or
/// a list (`kind.KEY`) becomes empty; anything else is unset (`none`).
fn changed_pairs(fields: &Fields) -> Vec<String> {
    // A key sent more than once (a multiple choice) is one list: its values joined by ','.
    let mut sent: Vec<(&str, String)> = Vec::new();
    for (k, v) in fields
        .iter()
        .filter_map(|(n, v)| n.strip_prefix("set.").map(|k| (k, v.trim())))
    {
        match sent.iter_mut().find(|(seen, _)| *seen == k) {
            Some((_, joined)) if !v.is_empty() => {
                if !joined.is_empty() {
                    joined.push(',');
                }
                joined.push_str(v);
            }
            Some(_) => {}
            None => sent.push((k, v.to_owned())),
        }
    }
    sent.into_iter()
        .filter(|(k, v)| all(fields, &format!("was.{k}")).next() != Some(v.as_str()))
        .map(|(k, v)| {
            let v = v.as_str();
            let kind_name = format!("kind.{k}");
            let kind = all(fields, &kind_name).next();
            let v = match (v.is_empty(), kind) {
                (true, Some("text" | "list")) => "",
                (true, _) => "none",
                (false, _) => v,
            };
            format!("{k}={v}")
        })
        .collect()
}

impl Action {
    /// Reads a submitted form; the error says what to choose or fix.
    pub fn from_form(fields: &Fields) -> Result<Self, String> {
        let action = optional(fields, "action").unwrap_or_default();
        let item = || required(fields, "item", "an offering item");
        let conn = || connection(fields, "connection");
        Ok(match action.as_str() {
            "settings" => {
                let name = optional(fields, "section").unwrap_or_default();
                let section = Section::ALL
                    .into_iter()
                    .find(|s| s.name() == name)
                    .ok_or_else(|| format!("unknown settings section {name:?}"))?;
                let pairs = changed_pairs(fields);
                if pairs.is_empty() {
                    return Err("nothing was changed in the form".into());
                }
                Self::Settings { section, pairs }
            }
            "companies-map" => {
                let ids = ids(fields, "company")?;
                // The bulk form has a button per target; only "existing" takes the picker's.
                // New tenants go where the form's own choice says (empty: the rule); an
                // existing tenant is one of the picked connection's.
                let (tenant, connection) = match optional(fields, "target").as_deref() {
                    Some("new") => (None, connection(fields, "new_connection")?),
                    Some("existing") => (Some(required(fields, "tenant", "a tenant")?), conn()?),
                    _ => (optional(fields, "tenant"), conn()?),
                };
                match (ids.len(), &tenant) {
                    (0, _) => return Err("tick at least one company".into()),
                    (n, Some(_)) if n > 1 => {
                        return Err("an existing tenant takes one company only".into());
                    }
                    _ => {}
                }
                Self::CompaniesMap {
                    ids,
                    tenant,
                    connection,
                }
            }
            "companies-unmap" => match ids(fields, "company")?.as_slice() {
                [id] => Self::CompaniesUnmap { id: *id },
                _ => return Err("unmap one company at a time".into()),
            },
            "companies-match" => {
                let ids = ids(fields, "company")?;
                if ids.is_empty() {
                    return Err("tick at least one proposal".into());
                }
                Self::CompaniesMatch {
                    ids,
                    connection: conn()?,
                }
            }
            "products-map" => Self::ProductsMap {
                item: item()?,
                product: required(fields, "product", "a ConnectWise product")?,
                infra: optional(fields, "infra"),
                connection: conn()?,
            },
            "products-unmap" => Self::ProductsUnmap {
                item: item()?,
                infra: optional(fields, "infra"),
                connection: conn()?,
            },
            "products-free" => Self::ProductsFree {
                item: item()?,
                infra: optional(fields, "infra"),
                connection: conn()?,
            },
            "default-storage" => Self::DefaultStorage {
                infra: required(fields, "infra", "a storage")?,
                connection: conn()?,
            },
            "auto-map" => Self::AutoMap {
                connection: conn()?,
            },
            "alerts-board" => Self::AlertsBoard {
                board: required(fields, "board", "a board")?,
            },
            "alerts-map" => Self::AlertsMap {
                alert_type: required(fields, "alert_type", "an alert type")?,
                status: required(fields, "status", "a ticket status")?,
                ticket_type: optional(fields, "type"),
                subtype: optional(fields, "subtype"),
                priority: optional(fields, "priority"),
            },
            "alerts-remove" => Self::AlertsRemove {
                alert_type: required(fields, "alert_type", "an alert type")?,
            },
            "job-pause" | "job-resume" => Self::Job {
                job: required(fields, "job", "a job")?,
                pause: action == "job-pause",
            },
            "tenants-production" => Self::TenantsProduction,
            "setup" => Self::Setup {
                webhook_url: required(fields, "webhook_url", "the webhook's URL")?,
            },
            other => return Err(format!("unknown action {other:?}")),
        })
    }

    /// The command line (without `acw`), with `--dry-run` for a preview.
    pub fn argv(&self, dry_run: bool) -> Vec<String> {
        // Every action's command is one the page runs (the unit tests check each).
        super::command_line::argv(&self.command(dry_run)).unwrap_or_default()
    }

    /// The command, as `acw`'s clap types, with `--dry-run` for a preview.
    pub fn command(&self, dry_run: bool) -> Command {
        let dry_run = DryRun { dry_run };
        let text = |v: &str| v.to_owned();
        let arg = |c: &Option<ConnectionName>| ConnectionArg {
            connection: c.clone(),
        };
        match self {
            Self::Settings { section, pairs } => section.command(pairs.clone(), dry_run),
            Self::CompaniesMap {
                ids,
                tenant,
                connection,
            } => Command::Companies(CompaniesCmd::Map {
                connection: arg(connection),
                ids: ids.clone(),
                tenant: tenant.clone(),
                dry_run,
            }),
            Self::CompaniesUnmap { id } => {
                Command::Companies(CompaniesCmd::Unmap { id: *id, dry_run })
            }
            Self::CompaniesMatch { ids, connection } => Command::Companies(CompaniesCmd::Match {
                connection: arg(connection),
                only: ids.clone(),
                from: None,
                dry_run,
            }),
            Self::ProductsMap {
                item,
                product,
                infra,
                connection,
            } => Command::Products(ProductsCmd::Map(products::MapCmd {
                connection: arg(connection),
                item: text(item),
                product: text(product),
                infra: infra.clone(),
                edition: None,
                dry_run,
            })),
            Self::ProductsUnmap {
                item,
                infra,
                connection,
            } => Command::Products(ProductsCmd::Unmap {
                connection: arg(connection),
                item: text(item),
                infra: infra.clone(),
                dry_run,
            }),
            Self::ProductsFree {
                item,
                infra,
                connection,
            } => Command::Products(ProductsCmd::Free {
                connection: arg(connection),
                item: text(item),
                infra: infra.clone(),
                edition: None,
                dry_run,
            }),
            Self::DefaultStorage { infra, connection } => {
                Command::Products(ProductsCmd::DefaultStorage {
                    connection: arg(connection),
                    infra: text(infra),
                    item: STORAGE_ITEM.into(),
                    dry_run,
                })
            }
            Self::AutoMap { connection } => Command::Products(ProductsCmd::AutoMap {
                connection: arg(connection),
                dry_run,
            }),
            Self::AlertsBoard { board } => Command::Alerts(AlertsCmd::Board {
                board: text(board),
                dry_run,
            }),
            Self::AlertsMap {
                alert_type,
                status,
                ticket_type,
                subtype,
                priority,
            } => Command::Alerts(AlertsCmd::Map(MapCmd {
                alert_type: text(alert_type),
                status: Some(text(status)),
                ticket_type: ticket_type.clone(),
                subtype: subtype.clone(),
                priority: priority.clone(),
                remove: false,
                dry_run,
            })),
            Self::AlertsRemove { alert_type } => Command::Alerts(AlertsCmd::Map(MapCmd {
                alert_type: text(alert_type),
                status: None,
                ticket_type: None,
                subtype: None,
                priority: None,
                remove: true,
                dry_run,
            })),
            Self::Job { job, pause: true } => Command::Jobs(JobsCmd::Pause {
                job: text(job),
                dry_run,
            }),
            Self::Job { job, pause: false } => Command::Jobs(JobsCmd::Resume {
                job: text(job),
                dry_run,
            }),
            Self::TenantsProduction => Command::Tenants(TenantsCmd::Production {
                company: None,
                dry_run,
            }),
            Self::Setup { webhook_url } => Command::Setup(SetupArgs {
                webhook_url: text(webhook_url),
                dry_run,
            }),
        }
    }

    /// What it does, for the preview's heading.
    pub fn title(&self) -> String {
        match self {
            Self::Settings { section, pairs } => {
                format!("Change {} settings: {}", section.name(), pairs.join(", "))
            }
            Self::CompaniesMap {
                ids,
                tenant: None,
                connection,
            } => {
                format!(
                    "Map {} compan{} to new tenants{}",
                    ids.len(),
                    plural_y(ids.len()),
                    in_connection(connection)
                )
            }
            Self::CompaniesMap {
                ids,
                tenant: Some(t),
                connection,
            } => format!(
                "Map company {} to tenant {t}{}",
                ids[0],
                in_connection(connection)
            ),
            Self::CompaniesUnmap { id } => format!("Unmap company {id}"),
            Self::CompaniesMatch { ids, .. } => {
                format!("Map {} proposed pair{}", ids.len(), plural_s(ids.len()))
            }
            Self::ProductsMap { item, product, .. } => format!("Map {item} to product {product}"),
            Self::ProductsUnmap { item, .. } => format!("Unmap {item}"),
            Self::ProductsFree { item, .. } => format!("Give every tenant {item} free"),
            Self::DefaultStorage { infra, .. } => format!("Make {infra} the default storage"),
            Self::AutoMap { .. } => "Auto-map the offering items to products".into(),
            Self::AlertsBoard { board } => format!("Send alert tickets to board {board}"),
            Self::AlertsMap { alert_type, .. } => format!("Map alert type {alert_type}"),
            Self::AlertsRemove { alert_type } => {
                format!("Stop making tickets for {alert_type}")
            }
            Self::Job { job, pause: true } => format!("Pause {job}"),
            Self::Job { job, pause: false } => format!("Resume {job}"),
            Self::TenantsProduction => "Switch mapped trial tenants to production".into(),
            Self::Setup { webhook_url } => format!("Register the callbacks for {webhook_url}"),
        }
    }

    /// The tab the change belongs to.
    pub fn tab(&self) -> Tab {
        match self {
            Self::Settings { section, .. } => section.tab(),
            Self::CompaniesMap { .. }
            | Self::CompaniesUnmap { .. }
            | Self::CompaniesMatch { .. } => Tab::Companies,
            Self::ProductsMap { .. }
            | Self::ProductsUnmap { .. }
            | Self::ProductsFree { .. }
            | Self::DefaultStorage { .. }
            | Self::AutoMap { .. } => Tab::Products,
            Self::AlertsBoard { .. } | Self::AlertsMap { .. } | Self::AlertsRemove { .. } => {
                Tab::Tickets
            }
            Self::TenantsProduction => Tab::Provisioning,
            Self::Job { .. } => Tab::Status,
            Self::Setup { .. } => Tab::Integration,
        }
    }
}

/// ` in connection us` (nothing when the command chooses).
fn in_connection(c: &Option<ConnectionName>) -> String {
    c.as_ref()
        .map(|c| format!(" in connection {c}"))
        .unwrap_or_default()
}

fn plural_y(n: usize) -> &'static str {
    if n == 1 { "y" } else { "ies" }
}

fn plural_s(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_settings_form_sends_only_what_changed() {
        let f = form(&[
            ("action", "settings"),
            ("section", "provisioning"),
            ("set.auto_provisioning", "true"),
            ("was.auto_provisioning", "false"),
            ("set.tenant_mode", "production"),
            ("was.tenant_mode", "production"),
            ("set.account.contact_type", ""),
            ("was.account.contact_type", "Billing"),
            ("set.language", ""),
            ("was.language", "en"),
            ("kind.language", "text"),
        ]);
        let a = Action::from_form(&f).unwrap();
        assert_eq!(
            a.argv(true),
            [
                "provisioning",
                "set",
                "--dry-run",
                "--",
                "auto_provisioning=true",
                "account.contact_type=none",
                "language="
            ]
        );
        let unchanged = form(&[
            ("action", "settings"),
            ("section", "provisioning"),
            ("set.x", "1"),
            ("was.x", "1"),
        ]);
        assert_eq!(
            Action::from_form(&unchanged).unwrap_err(),
            "nothing was changed in the form"
        );
    }

    #[test]
    fn a_multiple_choice_is_one_list_and_choosing_none_empties_it() {
        let f = form(&[
            ("action", "settings"),
            ("section", "alert-options"),
            ("set.fixed_statuses", ""),
            ("set.fixed_statuses", "Completed"),
            ("set.fixed_statuses", "Closed (resolved)"),
            ("was.fixed_statuses", "Completed"),
            ("kind.fixed_statuses", "list"),
        ]);
        assert_eq!(
            Action::from_form(&f).unwrap().argv(true),
            [
                "alerts",
                "set",
                "--dry-run",
                "--",
                "fixed_statuses=Completed,Closed (resolved)"
            ]
        );
        let none = form(&[
            ("action", "settings"),
            ("section", "alert-options"),
            ("set.fixed_statuses", ""),
            ("was.fixed_statuses", "Completed"),
            ("kind.fixed_statuses", "list"),
        ]);
        assert_eq!(
            Action::from_form(&none).unwrap().argv(false),
            ["alerts", "set", "--", "fixed_statuses="]
        );
    }

    #[test]
    fn typed_values_never_become_flags() {
        let f = form(&[
            ("action", "products-map"),
            ("item", "--dry-run"),
            ("product", "-x"),
            ("infra", ""),
        ]);
        let a = Action::from_form(&f).unwrap();
        assert_eq!(a.argv(false), ["products", "map", "--", "--dry-run", "-x"]);
        let f = form(&[("action", "companies-map"), ("company", "--tenant")]);
        assert_eq!(
            Action::from_form(&f).unwrap_err(),
            "\"--tenant\" is not a company id"
        );
    }

    #[test]
    fn companies_and_alerts_and_jobs() {
        let f = form(&[
            ("action", "companies-map"),
            ("company", "7"),
            ("company", "9"),
        ]);
        let a = Action::from_form(&f).unwrap();
        assert_eq!(
            a.argv(true),
            ["companies", "map", "--dry-run", "--", "7", "9"]
        );
        assert_eq!(a.tab(), Tab::Companies);
        let f = form(&[
            ("action", "companies-map"),
            ("company", "7"),
            ("company", "9"),
            ("tenant", "t-1"),
        ]);
        assert!(
            Action::from_form(&f).is_err(),
            "one company per existing tenant"
        );
        let f = form(&[
            ("action", "companies-map"),
            ("company", "7"),
            ("tenant", "t-typed-then-not-wanted"),
            ("target", "new"),
        ]);
        assert_eq!(
            Action::from_form(&f).unwrap(),
            Action::CompaniesMap {
                ids: vec![7],
                tenant: None,
                connection: None,
            }
        );
        let f = form(&[
            ("action", "companies-map"),
            ("company", "7"),
            ("target", "existing"),
        ]);
        assert_eq!(Action::from_form(&f).unwrap_err(), "choose a tenant first");
        let f = form(&[("action", "companies-map")]);
        assert_eq!(
            Action::from_form(&f).unwrap_err(),
            "tick at least one company"
        );

        let f = form(&[
            ("action", "alerts-map"),
            ("alert_type", "BackupFailed"),
            ("status", "1"),
            ("type", ""),
            ("priority", "3"),
        ]);
        assert_eq!(
            Action::from_form(&f).unwrap().argv(false),
            [
                "alerts",
                "map",
                "--status=1",
                "--priority=3",
                "--",
                "BackupFailed"
            ]
        );
        let f = form(&[("action", "job-pause"), ("job", "usage_push")]);
        assert_eq!(
            Action::from_form(&f).unwrap().argv(true),
            ["jobs", "pause", "--dry-run", "--", "usage_push"]
        );
        assert!(Action::from_form(&form(&[("action", "console")])).is_err());
    }

    fn us() -> ConnectionName {
        ConnectionName::parse("us").unwrap()
    }

    #[test]
    fn a_form_works_in_its_picked_connection() {
        let f = form(&[
            ("action", "products-map"),
            ("item", "pw_base_servers"),
            ("product", "500"),
            ("connection", "us"),
        ]);
        assert_eq!(
            Action::from_form(&f).unwrap().argv(true),
            [
                "products",
                "map",
                "--connection=us",
                "--dry-run",
                "--",
                "pw_base_servers",
                "500"
            ]
        );
        // New tenants go where the form's own choice says, else by the rule; an existing
        // tenant is the picked connection's.
        let new = form(&[
            ("action", "companies-map"),
            ("company", "7"),
            ("target", "new"),
            ("connection", "eu"),
            ("new_connection", ""),
        ]);
        assert_eq!(
            Action::from_form(&new).unwrap().argv(false),
            ["companies", "map", "--", "7"]
        );
        let mut named = new.clone();
        named.push(("new_connection".into(), "us".into()));
        assert_eq!(
            Action::from_form(&named).unwrap().title(),
            "Map 1 company to new tenants in connection us"
        );
        let existing = form(&[
            ("action", "companies-map"),
            ("company", "7"),
            ("target", "existing"),
            ("tenant", "t-1"),
            ("connection", "us"),
        ]);
        assert_eq!(
            Action::from_form(&existing).unwrap().argv(false),
            [
                "companies",
                "map",
                "--tenant=t-1",
                "--connection=us",
                "--",
                "7"
            ]
        );
        let bad = form(&[("action", "auto-map"), ("connection", "--all")]);
        assert_eq!(
            Action::from_form(&bad).unwrap_err(),
            "\"--all\" is not a connection name"
        );
    }

    #[test]
    fn every_command_line_parses_as_acw() {
        use clap::Parser;
        let mut actions = vec![
            Action::CompaniesMap {
                ids: vec![1],
                tenant: Some("t".into()),
                connection: Some(us()),
            },
            Action::CompaniesMap {
                ids: vec![1],
                tenant: None,
                connection: None,
            },
            Action::CompaniesUnmap { id: 1 },
            Action::CompaniesMatch {
                ids: vec![1, 2],
                connection: Some(us()),
            },
            Action::ProductsMap {
                item: "i".into(),
                product: "p".into(),
                infra: Some("x".into()),
                connection: Some(us()),
            },
            Action::ProductsUnmap {
                item: "i".into(),
                infra: None,
                connection: None,
            },
            Action::ProductsFree {
                item: "i".into(),
                infra: None,
                connection: Some(us()),
            },
            Action::DefaultStorage {
                infra: "x".into(),
                connection: Some(us()),
            },
            Action::AutoMap {
                connection: Some(us()),
            },
            Action::AlertsBoard { board: "1".into() },
            Action::AlertsMap {
                alert_type: "A".into(),
                status: "1".into(),
                ticket_type: Some("2".into()),
                subtype: Some("3".into()),
                priority: Some("4".into()),
            },
            Action::AlertsRemove {
                alert_type: "A".into(),
            },
            Action::Job {
                job: "usage_push".into(),
                pause: false,
            },
            Action::TenantsProduction,
            Action::Setup {
                webhook_url: "https://x".into(),
            },
        ];
        actions.extend(Section::ALL.map(|section| Action::Settings {
            section,
            pairs: vec!["k=v".into()],
        }));
        for a in &actions {
            for dry_run in [true, false] {
                let line = ["acw".to_owned()].into_iter().chain(a.argv(dry_run));
                if let Err(e) = crate::Cli::try_parse_from(line) {
                    panic!("{a:?} (dry run {dry_run}): {e}");
                }
                // And back into the very command the action built.
                crate::console::command_line::tests::round_trip(a.command(dry_run));
            }
        }
    }
}
