//! The command lines the console runs, rendered from `acw`'s own clap types: an action or a
//! tab builds the typed command (`crate::Command`), and [`argv`] writes it out. The match
//! below names every command and subcommand, with no wildcard, so a command added or renamed
//! fails to compile here until the console says whether and how it runs it; the unit tests
//! parse each rendered line back and compare it with the command it came from.
//!
//! Values travel as separate arguments, options as `--name=value` and positionals after
//! `--`, so nothing typed into the page is read as a flag.

use clap::ValueEnum;

use crate::Command;
use crate::cmd::alerts::{AlertsCmd, MapCmd};
use crate::cmd::args::{ConnectionArg, DryRun};
use crate::cmd::attention::AttentionCmd;
use crate::cmd::billing::BillingCmd;
use crate::cmd::companies::CompaniesCmd;
use crate::cmd::config::ConfigCmd;
use crate::cmd::connections::ConnectionsCmd;
use crate::cmd::dlq::DlqCmd;
use crate::cmd::doctor::DoctorArgs;
use crate::cmd::jobs::JobsCmd;
use crate::cmd::products::{self, ProductsCmd, STORAGE_ITEM};
use crate::cmd::provisioning::ProvisioningCmd;
use crate::cmd::status::StatusArgs;
use crate::cmd::sync::SyncCmd;
use crate::cmd::tenants::TenantsCmd;
use crate::cmd::usage::UsageCmd;

/// A command line being written: the command's words, its options, its positionals.
#[derive(Debug, Default)]
struct Line {
    head: Vec<String>,
    options: Vec<String>,
    positionals: Vec<String>,
}

impl Line {
    fn new(words: &[&str]) -> Self {
        Self {
            head: words.iter().map(|w| (*w).to_owned()).collect(),
            ..Self::default()
        }
    }

    /// `--name=value` when there is a value.
    fn opt(mut self, name: &str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.options.push(format!("--{name}={}", v.to_string()));
        }
        self
    }

    /// `--name=value` for each value.
    fn each<T: ToString>(mut self, name: &str, values: impl IntoIterator<Item = T>) -> Self {
        for v in values {
            self = self.opt(name, Some(v));
        }
        self
    }

    /// `--name` when on.
    fn flag(mut self, name: &str, on: bool) -> Self {
        if on {
            self.options.push(format!("--{name}"));
        }
        self
    }

    fn connection(self, c: &ConnectionArg) -> Self {
        self.opt("connection", c.connection.as_ref())
    }

    fn dry_run(self, d: DryRun) -> Self {
        self.flag("dry-run", d.dry_run)
    }

    fn args<T: ToString>(mut self, values: impl IntoIterator<Item = T>) -> Self {
        self.positionals
            .extend(values.into_iter().map(|v| v.to_string()));
        self
    }

    fn finish(self) -> Vec<String> {
        let mut argv = self.head;
        argv.extend(self.options);
        if !self.positionals.is_empty() {
            argv.push("--".into());
            argv.extend(self.positionals);
        }
        argv
    }
}

/// The name clap knows a value by.
fn value_name(v: &impl ValueEnum) -> Option<String> {
    v.to_possible_value().map(|p| p.get_name().to_owned())
}

/// The command line of `command` (without `acw`), or `None` for a command the console does
/// not run (syncs, config as code, dead letters, Acronis connections, the console itself).
pub fn argv(command: &Command) -> Option<Vec<String>> {
    let line = match command {
        Command::Setup(a) => Line::new(&["setup"])
            .opt("webhook-url", Some(&a.webhook_url))
            .dry_run(a.dry_run),
        Command::Products(p) => products(p),
        Command::Provisioning(ProvisioningCmd::Show) => Line::new(&["provisioning", "show"]),
        Command::Provisioning(ProvisioningCmd::Set { pairs, dry_run }) => {
            Line::new(&["provisioning", "set"])
                .dry_run(*dry_run)
                .args(pairs)
        }
        Command::Provisioning(ProvisioningCmd::NewCustomers(a)) => {
            Line::new(&["provisioning", "new-customers"])
                .opt("by", a.by.as_ref().and_then(value_name))
                .each("value", &a.values)
                .opt("connection", a.connection.as_ref())
                .dry_run(a.dry_run)
        }
        Command::Usage(UsageCmd::Show) => Line::new(&["usage", "show"]),
        Command::Usage(UsageCmd::Set { pairs, dry_run }) => {
            Line::new(&["usage", "set"]).dry_run(*dry_run).args(pairs)
        }
        Command::Usage(UsageCmd::Product {
            product,
            pairs,
            reset,
            dry_run,
        }) => Line::new(&["usage", "product"])
            .flag("reset", *reset)
            .dry_run(*dry_run)
            .args([product].into_iter().chain(pairs)),
        Command::Billing(BillingCmd::Show) => Line::new(&["billing", "show"]),
        Command::Billing(BillingCmd::Set { pairs, dry_run }) => {
            Line::new(&["billing", "set"]).dry_run(*dry_run).args(pairs)
        }
        Command::Companies(c) => companies(c),
        Command::Tenants(TenantsCmd::List {
            search,
            mapping,
            page,
            per_page,
            connection,
        }) => Line::new(&["tenants", "list"])
            .opt("search", search.as_ref())
            .opt("mapping", value_name(mapping))
            .opt("page", Some(page))
            .opt("per-page", Some(per_page))
            .connection(connection),
        Command::Tenants(TenantsCmd::Production { company, dry_run }) => {
            Line::new(&["tenants", "production"])
                .opt("company", *company)
                .dry_run(*dry_run)
        }
        Command::Alerts(a) => alerts(a),
        Command::Doctor(DoctorArgs {
            webhook_url,
            probe_company,
            probe_wait,
        }) => Line::new(&["doctor"])
            .opt("webhook-url", webhook_url.as_ref())
            .opt("probe-company", *probe_company)
            .opt("probe-wait", probe_company.map(|_| probe_wait)),
        Command::Status(StatusArgs { failures }) => {
            Line::new(&["status"]).opt("failures", Some(failures))
        }
        Command::Attention(AttentionCmd::Show) => Line::new(&["attention", "show"]),
        Command::Attention(AttentionCmd::Set { pairs, dry_run }) => {
            Line::new(&["attention", "set"])
                .dry_run(*dry_run)
                .args(pairs)
        }
        Command::Jobs(JobsCmd::List) => Line::new(&["jobs", "list"]),
        Command::Jobs(JobsCmd::Pause { job, dry_run }) => {
            Line::new(&["jobs", "pause"]).dry_run(*dry_run).args([job])
        }
        Command::Jobs(JobsCmd::Resume { job, dry_run }) => {
            Line::new(&["jobs", "resume"]).dry_run(*dry_run).args([job])
        }
        // Not run from the page: each named, so a new one is a decision.
        Command::Sync(
            SyncCmd::Reconcile { .. }
            | SyncCmd::Usage { .. }
            | SyncCmd::Quotas { .. }
            | SyncCmd::Alerts { .. },
        )
        | Command::Config(ConfigCmd::Export | ConfigCmd::Apply { .. })
        | Command::Dlq(DlqCmd::List { .. } | DlqCmd::Replay { .. })
        | Command::Console(_) => return None,
        // The list is read only and shows no client secret: the pickers offer it.
        Command::Connections(ConnectionsCmd::List) => Line::new(&["connections", "list"]),
        // Connection credentials stay `acw`'s alone: a client secret is read from standard
        // input or the environment of the operator's shell, never from a page.
        Command::Connections(
            ConnectionsCmd::Add(_) | ConnectionsCmd::Remove(_) | ConnectionsCmd::Test { .. },
        ) => return None,
    };
    Some(line.finish())
}

fn products(p: &ProductsCmd) -> Line {
    match p {
        ProductsCmd::List { connection } => Line::new(&["products", "list"]).connection(connection),
        ProductsCmd::Settings { pairs, dry_run } => Line::new(&["products", "settings"])
            .dry_run(*dry_run)
            .args(pairs),
        ProductsCmd::Map(products::MapCmd {
            item,
            product,
            infra,
            edition,
            connection,
            dry_run,
        }) => Line::new(&["products", "map"])
            .opt("infra", infra.as_ref())
            .opt("edition", edition.as_ref())
            .connection(connection)
            .dry_run(*dry_run)
            .args([item, product]),
        ProductsCmd::Unmap {
            item,
            infra,
            connection,
            dry_run,
        } => Line::new(&["products", "unmap"])
            .opt("infra", infra.as_ref())
            .connection(connection)
            .dry_run(*dry_run)
            .args([item]),
        ProductsCmd::Free {
            item,
            infra,
            edition,
            connection,
            dry_run,
        } => Line::new(&["products", "free"])
            .opt("infra", infra.as_ref())
            .opt("edition", edition.as_ref())
            .connection(connection)
            .dry_run(*dry_run)
            .args([item]),
        ProductsCmd::DefaultStorage {
            infra,
            item,
            connection,
            dry_run,
        } => Line::new(&["products", "default-storage"])
            .opt("item", (item != STORAGE_ITEM).then_some(item))
            .connection(connection)
            .dry_run(*dry_run)
            .args([infra]),
        ProductsCmd::AutoMap {
            connection,
            dry_run,
        } => Line::new(&["products", "auto-map"])
            .connection(connection)
            .dry_run(*dry_run),
    }
}

fn companies(c: &CompaniesCmd) -> Line {
    match c {
        CompaniesCmd::List {
            search,
            mapping,
            types,
            statuses,
        } => Line::new(&["companies", "list"])
            .opt("mapping", value_name(mapping))
            .opt("search", search.as_ref())
            .each("type", types)
            .each("status", statuses),
        CompaniesCmd::Map {
            ids,
            tenant,
            connection,
            dry_run,
        } => Line::new(&["companies", "map"])
            .opt("tenant", tenant.as_ref())
            .connection(connection)
            .dry_run(*dry_run)
            .args(ids),
        CompaniesCmd::Match {
            only,
            from,
            connection,
            dry_run,
        } => Line::new(&["companies", "match"])
            .each("company", only)
            .opt("from", from.as_ref().map(|f| f.display().to_string()))
            .connection(connection)
            .dry_run(*dry_run),
        CompaniesCmd::Unmap { id, dry_run } => Line::new(&["companies", "unmap"])
            .dry_run(*dry_run)
            .args([id]),
    }
}

fn alerts(a: &AlertsCmd) -> Line {
    match a {
        AlertsCmd::Show => Line::new(&["alerts", "show"]),
        AlertsCmd::Types => Line::new(&["alerts", "types"]),
        AlertsCmd::Board { board, dry_run } => Line::new(&["alerts", "board"])
            .dry_run(*dry_run)
            .args([board]),
        AlertsCmd::Map(MapCmd {
            alert_type,
            status,
            ticket_type,
            subtype,
            priority,
            remove,
            dry_run,
        }) => Line::new(&["alerts", "map"])
            .opt("status", status.as_ref())
            .opt("type", ticket_type.as_ref())
            .opt("subtype", subtype.as_ref())
            .opt("priority", priority.as_ref())
            .flag("remove", *remove)
            .dry_run(*dry_run)
            .args([alert_type]),
        AlertsCmd::Set { pairs, dry_run } => {
            Line::new(&["alerts", "set"]).dry_run(*dry_run).args(pairs)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use clap::Parser;

    use super::*;
    use crate::cmd::args::MappingArg;

    /// Every line parses back into the command it was written from.
    pub(crate) fn round_trip(command: Command) {
        let line = argv(&command).unwrap_or_else(|| panic!("{command:?} is not run"));
        let parsed = crate::Cli::try_parse_from(["acw".to_owned()].into_iter().chain(line.clone()))
            .unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(parsed.command, command, "{line:?}");
    }

    #[test]
    fn what_the_tabs_read_round_trips() {
        round_trip(Command::Status(StatusArgs { failures: 10 }));
        round_trip(Command::Companies(CompaniesCmd::List {
            search: Some("--x".into()),
            mapping: MappingArg::Unmapped,
            types: vec!["A".into(), "B".into()],
            statuses: vec!["Active".into()],
        }));
        round_trip(Command::Provisioning(ProvisioningCmd::NewCustomers(
            crate::cmd::provisioning::NewCustomersArgs {
                by: Some(crate::cmd::provisioning::FieldArg::Country),
                values: vec!["United States=us".into(), "Germany=default".into()],
                connection: Some(shared::secrets::ConnectionName::parse("eu").unwrap()),
                dry_run: DryRun { dry_run: true },
            },
        )));
        round_trip(Command::Products(ProductsCmd::List {
            connection: crate::cmd::args::ConnectionArg {
                connection: Some(shared::secrets::ConnectionName::parse("us").unwrap()),
            },
        }));
        round_trip(Command::Tenants(TenantsCmd::List {
            connection: Default::default(),
            search: None,
            mapping: MappingArg::Unmapped,
            page: 1,
            per_page: 1000,
        }));
        round_trip(Command::Doctor(DoctorArgs {
            webhook_url: Some("https://x".into()),
            probe_company: None,
            probe_wait: 60,
        }));
        round_trip(Command::Usage(UsageCmd::Product {
            product: "-5".into(),
            pairs: vec!["unit=gb".into()],
            reset: false,
            dry_run: DryRun { dry_run: true },
        }));
        round_trip(Command::Products(ProductsCmd::DefaultStorage {
            connection: Default::default(),
            infra: "i".into(),
            item: "other_storage".into(),
            dry_run: DryRun { dry_run: false },
        }));
        assert_eq!(
            argv(&Command::Sync(SyncCmd::Alerts {
                dry_run: DryRun { dry_run: true }
            })),
            None,
            "the page runs no sync"
        );
    }
}
