//! `acw`: the admin command of the Acronis ↔ ConnectWise integration.
//!
//! It uses the shared library and the same DynamoDB table, secret and APIs as the Lambdas,
//! configured from the usual AWS environment plus `TABLE_NAME`, `EVENT_BUS_NAME`,
//! `SECRET_ID` and `STACK_NAME` (on the local stack: `set -a; source target/local/env`).
//!
//! Human-readable tables by default, `--json` on every command. Errors say what to fix and
//! exit with status 1 (usage errors: 2).

mod cmd;
mod console;
mod ctx;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::ctx::Ctx;

#[derive(Debug, Parser)]
#[command(
    name = "acw",
    version,
    about = "Admin command of the Acronis ↔ ConnectWise integration",
    long_about = "Admin command of the Acronis ↔ ConnectWise integration: setup, settings, \
                  product and company mappings, sync now, status, and every setting as one YAML file.\n\n\
                  Reads the usual AWS environment (region, credentials, AWS_ENDPOINT_URL) and \
                  TABLE_NAME, EVENT_BUS_NAME, SECRET_ID, STACK_NAME."
)]
struct Cli {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check both credentials and register the ConnectWise callbacks.
    Setup {
        /// The webhook's public URL (https; the stack's `WebhookUrl` output).
        #[arg(long, value_name = "URL")]
        webhook_url: String,
        /// Check and report what would change, without registering anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Offering items and their ConnectWise products.
    #[command(subcommand)]
    Products(ProductsCmd),
    /// Provisioning and deprovisioning settings.
    #[command(subcommand)]
    Provisioning(ProvisioningCmd),
    /// How usage becomes an addition quantity: unit, base, rounding (per product).
    #[command(subcommand)]
    Usage(UsageCmd),
    /// Which agreements are pay-as-you-go.
    #[command(subcommand)]
    Billing(BillingCmd),
    /// ConnectWise companies and their Acronis tenants.
    #[command(subcommand)]
    Companies(CompaniesCmd),
    /// The partner's Acronis customer tenants.
    #[command(subcommand)]
    Tenants(TenantsCmd),
    /// Alert tickets: board, alert type mapping, reopen/auto-close settings.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Run a cycle now.
    #[command(subcommand)]
    Sync(SyncCmd),
    /// Check the live accounts against what the integration relies on (read only unless
    /// --probe-company; exits non-zero when something it relies on is broken).
    Doctor {
        /// The webhook's public URL, to check that the callbacks point at it.
        #[arg(long, value_name = "URL")]
        webhook_url: Option<String>,
        /// A sandbox company whose agreement addition may be changed and put back, to see
        /// whether an addition change updates its agreement and fires a callback.
        #[arg(long, value_name = "COMPANY_ID")]
        probe_company: Option<i64>,
        /// How long to wait for the probe's callback.
        #[arg(long, value_name = "SECONDS", default_value_t = 60, requires = "probe_company",
              value_parser = clap::value_parser!(u64).range(1..=900))]
        probe_wait: u64,
    },
    /// Last run of each function, recent failures, mapped companies, open alert tickets.
    Status {
        /// Failures to show.
        #[arg(long, default_value_t = 10)]
        failures: usize,
    },
    /// Where problems that need a person become ConnectWise tickets (off until a board is
    /// chosen).
    #[command(subcommand)]
    Attention(AttentionCmd),
    /// Pause one job (provisioning, quota_sync, usage_push, ticket_sync) while the others
    /// run; resume it.
    #[command(subcommand)]
    Jobs(JobsCmd),
    /// Every setting and mapping as one reviewable YAML file.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// What reached the functions' dead-letter queues (`<STACK_NAME>-<function>-dead-letters`),
    /// and putting it back on the bus.
    #[command(subcommand)]
    Dlq(DlqCmd),
    /// The admin page in a browser: the tabs of the vendor's portal over these commands, each
    /// change previewed before it is applied. Serves on 127.0.0.1 only; the URL it prints
    /// first carries a one-time token.
    Console {
        /// Port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Print the URL without opening a browser.
        #[arg(long)]
        no_open: bool,
    },
}

impl Cli {
    /// Whether this is `acw console` (which the console's page cannot start).
    fn is_console(&self) -> bool {
        matches!(self.command, Command::Console { .. })
    }
}

#[derive(Debug, Subcommand)]
enum ProductsCmd {
    /// Offering items available to customers, with their mapping.
    List,
    /// Show or set the editions mapped and the attributes of products auto-mapping creates,
    /// e.g. `editions=pck_per_workload new_products.subcategory=Backup` (checked against
    /// ConnectWise and Acronis before saving).
    Settings {
        /// `key=value` pairs; none shows the settings.
        #[arg(value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Check and show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Map an offering item to a ConnectWise catalog product.
    Map {
        /// Offering item name, e.g. pw_base_servers.
        item: String,
        /// Catalog product id or identifier.
        product: String,
        /// The storage (infra id), for storage items.
        #[arg(long, value_name = "INFRA_ID")]
        infra: Option<String>,
        /// Edition (defaults to the item's).
        #[arg(long)]
        edition: Option<String>,
        /// Show the mapping that would be saved or removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove an offering item's mapping.
    Unmap {
        item: String,
        #[arg(long, value_name = "INFRA_ID")]
        infra: Option<String>,
        /// Show the mapping that would be saved or removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Enable an offering item for every tenant without a product.
    Free {
        item: String,
        #[arg(long, value_name = "INFRA_ID")]
        infra: Option<String>,
        #[arg(long)]
        edition: Option<String>,
        /// Show the mapping that would be saved or removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Choose the backup storage every tenant gets.
    DefaultStorage {
        /// The storage's infra id.
        infra: String,
        /// The storage offering item.
        #[arg(long, default_value = "pw_base_storage")]
        item: String,
        /// Show the mapping that would be saved or removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Propose, create and map ConnectWise products for the offering items.
    AutoMap {
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ProvisioningCmd {
    /// Show the provisioning settings (defaults when never saved).
    Show,
    /// Set provisioning settings, e.g. `auto_provisioning=true deprovisioning.disable=true`.
    Set {
        /// key=value pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UsageCmd {
    /// Show the usage settings (defaults when never saved).
    Show,
    /// Set the storage rule, e.g. `storage.base=1000 storage.unit=tb storage.decimals=3`.
    Set {
        /// key=value pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Give one product its own rule (`unit=gb base=1000 rounding=nearest`), or `--reset`.
    Product {
        /// ConnectWise product id, or the identifier of a mapped product.
        product: String,
        /// key=value pairs: unit, base, rounding, decimals, field.
        #[arg(value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Remove the product's own rule (it follows the storage rule again).
        #[arg(long)]
        reset: bool,
        /// Show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BillingCmd {
    /// Show which agreement types are pay-as-you-go.
    Show,
    /// Set them, e.g. `payg_agreement_types="Pay As You Go, Metered"`.
    Set {
        /// key=value pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MappingArg {
    Mapped,
    Unmapped,
    All,
}

impl From<MappingArg> for shared::services::companies::MappingFilter {
    fn from(m: MappingArg) -> Self {
        match m {
            MappingArg::All => Self::All,
            MappingArg::Mapped => Self::Mapped,
            MappingArg::Unmapped => Self::Unmapped,
        }
    }
}

#[derive(Debug, Subcommand)]
enum AttentionCmd {
    /// Show the needs-attention settings.
    Show,
    /// Set them, e.g. `board_id=12 closing_status_id=3 prepaid_overage_notice=true`
    /// (checked against the board).
    Set {
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Check and show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCmd {
    /// Each job, running or paused (since when, by whom).
    List,
    /// Pause a job: the functions hold it from their next run; nothing it would do is lost.
    Pause {
        #[arg(value_name = "JOB")]
        job: String,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Resume a paused job: what waited is caught up at the next runs.
    Resume {
        #[arg(value_name = "JOB")]
        job: String,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TenantsCmd {
    /// The partner's customer tenants and the companies they are mapped to.
    List {
        /// Part of the name, id or customer_id.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_enum, default_value = "all")]
        mapping: MappingArg,
        /// Page to show (from 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        page: u64,
        /// Tenants per page.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
        per_page: u64,
    },
    /// Put mapped tenants still in trial in production (once, for good), as provisioning
    /// does for new tenants.
    Production {
        /// Only this company's tenant.
        #[arg(long, value_name = "COMPANY_ID")]
        company: Option<i64>,
        /// Show which tenants would switch; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CompaniesCmd {
    /// List companies with their tenants.
    List {
        /// Part of the name or identifier.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_enum, default_value = "all")]
        mapping: MappingArg,
        /// Company type name (repeatable: any of them).
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        /// Company status name (repeatable: any of them).
        #[arg(long = "status", value_name = "STATUS")]
        statuses: Vec<String>,
    },
    /// Map companies to new tenants, or one company to an existing tenant.
    Map {
        #[arg(required = true, value_name = "COMPANY_ID")]
        ids: Vec<i64>,
        /// Existing customer tenant (one company only).
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
        /// Check and show what would be done (tenant, quotas); change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Propose which existing tenant belongs to which unmapped company (same name, then
    /// normalised name, the tenant's customer_id, contact email domain) and map the proposed
    /// pairs, each checked as `companies map` checks it.
    Match {
        /// Map only the proposals of these companies (repeatable).
        #[arg(long = "company", value_name = "COMPANY_ID")]
        only: Vec<i64>,
        /// Map the pairs of this file instead of proposing: the output of
        /// `companies match --dry-run --json`, reviewed and edited (its `plan.proposals`), or a
        /// list of `{"company_id": …, "tenant_id": …}`.
        #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
        from: Option<PathBuf>,
        /// Show the proposals, the ambiguous and the unmatched; map nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove a company's mapping (the tenant is left as it is).
    Unmap {
        #[arg(value_name = "COMPANY_ID")]
        id: i64,
        /// Show the mapping that would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AlertsCmd {
    /// Show the board, the alert-type mapping and the ticket options.
    Show,
    /// List the alert types Acronis knows and whether each is mapped.
    Types,
    /// Choose the service board tickets go to (name or id).
    Board {
        board: String,
        /// Show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Map an alert type (e.g. BackupFailed) to a ticket status, type, subtype and priority (names or ids).
    Map {
        alert_type: String,
        #[arg(long, required_unless_present = "remove")]
        status: Option<String>,
        #[arg(long = "type")]
        ticket_type: Option<String>,
        #[arg(long)]
        subtype: Option<String>,
        #[arg(long)]
        priority: Option<String>,
        /// Stop making tickets for this alert type.
        #[arg(long, conflicts_with_all = ["status", "ticket_type", "subtype", "priority"])]
        remove: bool,
        /// Show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Ticket options: renew_after_closed=on|off renew_after_days=N auto_close=on|off closing_status=NAME|ID
    Set {
        #[arg(required = true)]
        pairs: Vec<String>,
        /// Show what would change; save nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SyncCmd {
    /// Find companies whose state may have changed and queue them for the provisioner.
    Reconcile {
        /// Find the candidates without queueing anything or moving the cursor.
        #[arg(long)]
        dry_run: bool,
    },
    /// Push pay-as-you-go usage into the agreement additions now (writes only what changed).
    Usage {
        /// Show the quantities that would be written, writing nothing (not even the records
        /// of what was read).
        #[arg(long)]
        dry_run: bool,
    },
    /// Bring mapped companies' quotas to their agreements now.
    Quotas {
        /// Only this ConnectWise company.
        #[arg(long)]
        company: Option<i64>,
        /// Show what would change without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Poll alerts now (alerts of mapped tenants and types become ticket events).
    Alerts {
        /// Show the events a poll would publish and what the ticket sync would do with
        /// each (create, note, reopen, renew, close), writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCmd {
    /// Each dead letter: its function, the shape it came in (a rule's event or Lambda's
    /// on-failure record), its event and what it is about, why it failed. Leaves them queued.
    List {
        /// Only this function's queue (e.g. provisioner, ticket-sync).
        #[arg(long, value_name = "FUNCTION")]
        function: Option<String>,
    },
    /// Put the events back on the bus, deleting each message once its event is there; a
    /// schedule's run is not re-run (deleted only with --function naming it); what this
    /// version cannot read stays, with the reason. Safe to run twice.
    Replay {
        /// Only this function's queue.
        #[arg(long, value_name = "FUNCTION")]
        function: Option<String>,
        /// Show what would be done with each message; publish and delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Print every setting and mapping as YAML.
    Export,
    /// Apply a YAML file (as exported): prints the diff; applying twice changes nothing.
    Apply {
        file: std::path::PathBuf,
        /// Print the diff without writing.
        #[arg(long)]
        dry_run: bool,
    },
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx { json: cli.json };
    match cli.command {
        Command::Setup {
            webhook_url,
            dry_run,
        } => cmd::setup::run(&ctx, &webhook_url, dry_run).await,
        Command::Provisioning(ProvisioningCmd::Show) => cmd::provisioning::show(&ctx).await,
        Command::Usage(UsageCmd::Show) => cmd::usage::show(&ctx).await,
        Command::Usage(UsageCmd::Set { pairs, dry_run }) => {
            cmd::usage::set(&ctx, &pairs, dry_run).await
        }
        Command::Usage(UsageCmd::Product {
            product,
            pairs,
            reset,
            dry_run,
        }) => cmd::usage::product(&ctx, &product, &pairs, reset, dry_run).await,
        Command::Billing(BillingCmd::Show) => cmd::usage::billing_show(&ctx).await,
        Command::Billing(BillingCmd::Set { pairs, dry_run }) => {
            cmd::usage::billing_set(&ctx, &pairs, dry_run).await
        }
        Command::Provisioning(ProvisioningCmd::Set { pairs, dry_run }) => {
            cmd::provisioning::set(&ctx, &pairs, dry_run).await
        }
        Command::Companies(CompaniesCmd::List {
            search,
            mapping,
            types,
            statuses,
        }) => {
            let mapping = mapping.into();
            let filter = shared::services::companies::CompanyFilter {
                search,
                mapping,
                types,
                statuses,
            };
            cmd::companies::list(&ctx, &filter).await
        }
        Command::Companies(CompaniesCmd::Map {
            ids,
            tenant,
            dry_run,
        }) => cmd::companies::map(&ctx, &ids, tenant.as_deref(), dry_run).await,
        Command::Companies(CompaniesCmd::Match {
            only,
            from,
            dry_run,
        }) => match from {
            Some(file) => cmd::companies::map_from_file(&ctx, &file, &only).await,
            None => cmd::companies::match_tenants(&ctx, &only, dry_run).await,
        },
        Command::Companies(CompaniesCmd::Unmap { id, dry_run }) => {
            cmd::companies::unmap(&ctx, id, dry_run).await
        }
        Command::Attention(AttentionCmd::Show) => cmd::attention::show(&ctx).await,
        Command::Attention(AttentionCmd::Set { pairs, dry_run }) => {
            cmd::attention::set(&ctx, &pairs, dry_run).await
        }
        Command::Jobs(JobsCmd::List) => cmd::jobs::list(&ctx).await,
        Command::Jobs(JobsCmd::Pause { job, dry_run }) => {
            cmd::jobs::set(&ctx, &job, true, dry_run).await
        }
        Command::Jobs(JobsCmd::Resume { job, dry_run }) => {
            cmd::jobs::set(&ctx, &job, false, dry_run).await
        }
        Command::Tenants(TenantsCmd::List {
            search,
            mapping,
            page,
            per_page,
        }) => cmd::tenants::list(&ctx, search.as_deref(), mapping.into(), page, per_page).await,
        Command::Tenants(TenantsCmd::Production { company, dry_run }) => {
            cmd::tenants::production(&ctx, company, dry_run).await
        }
        Command::Products(p) => match p {
            ProductsCmd::List => cmd::products::list(&ctx).await,
            ProductsCmd::Settings { pairs, dry_run } => {
                cmd::products::settings(&ctx, &pairs, dry_run).await
            }
            ProductsCmd::Map {
                item,
                product,
                infra,
                edition,
                dry_run,
            } => {
                cmd::products::map(&ctx, &item, infra.as_deref(), &product, edition, dry_run).await
            }
            ProductsCmd::Unmap {
                item,
                infra,
                dry_run,
            } => cmd::products::unmap(&ctx, &item, infra.as_deref(), dry_run).await,
            ProductsCmd::Free {
                item,
                infra,
                edition,
                dry_run,
            } => cmd::products::free(&ctx, &item, infra.as_deref(), edition, dry_run).await,
            ProductsCmd::DefaultStorage {
                infra,
                item,
                dry_run,
            } => cmd::products::default_storage(&ctx, &item, &infra, dry_run).await,
            ProductsCmd::AutoMap { dry_run } => cmd::products::auto_map(&ctx, dry_run).await,
        },
        Command::Alerts(a) => match a {
            AlertsCmd::Show => cmd::alerts::show(&ctx).await,
            AlertsCmd::Types => cmd::alerts::types(&ctx).await,
            AlertsCmd::Board { board, dry_run } => cmd::alerts::board(&ctx, &board, dry_run).await,
            AlertsCmd::Map {
                alert_type,
                status,
                ticket_type,
                subtype,
                priority,
                remove,
                dry_run,
            } => {
                cmd::alerts::map(
                    &ctx,
                    cmd::alerts::MapArgs {
                        alert_type,
                        status: status.unwrap_or_default(),
                        ticket_type,
                        subtype,
                        priority,
                        remove,
                    },
                    dry_run,
                )
                .await
            }
            AlertsCmd::Set { pairs, dry_run } => cmd::alerts::set(&ctx, &pairs, dry_run).await,
        },
        Command::Sync(s) => match s {
            SyncCmd::Reconcile { dry_run } => cmd::sync::reconcile(&ctx, dry_run).await,
            SyncCmd::Usage { dry_run } => cmd::sync::usage(&ctx, dry_run).await,
            SyncCmd::Quotas { company, dry_run } => cmd::sync::quotas(&ctx, company, dry_run).await,
            SyncCmd::Alerts { dry_run } => cmd::alerts::sync(&ctx, dry_run).await,
        },
        Command::Status { failures } => cmd::status::run(&ctx, failures).await,
        Command::Doctor {
            webhook_url,
            probe_company,
            probe_wait,
        } => {
            let probe = probe_company.map(|company_id| cmd::doctor::Probe {
                company_id,
                wait: std::time::Duration::from_secs(probe_wait),
            });
            cmd::doctor::run(&ctx, webhook_url.as_deref(), probe).await
        }
        Command::Dlq(DlqCmd::List { function }) => cmd::dlq::list(&ctx, function.as_deref()).await,
        Command::Dlq(DlqCmd::Replay { function, dry_run }) => {
            cmd::dlq::replay(&ctx, function.as_deref(), dry_run).await
        }
        Command::Config(ConfigCmd::Export) => cmd::config::export(&ctx).await,
        Command::Config(ConfigCmd::Apply { file, dry_run }) => {
            cmd::config::apply(&ctx, &file, dry_run).await
        }
        // `main` serves it: a command the page runs cannot start another console.
        Command::Console { .. } => anyhow::bail!("acw console is started on its own"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    // The console runs whole commands on worker threads: give them the main thread's room
    // (a command's future is large, unoptimised builds above all).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Console { port, no_open } => runtime.block_on(console::serve(port, !no_open)),
        _ => runtime.block_on(run(cli)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                eprintln!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn json_is_global_and_ids_are_numbers() {
        let cli = Cli::try_parse_from(["acw", "companies", "map", "1", "2", "--json"]).unwrap();
        assert!(cli.json);
        assert!(Cli::try_parse_from(["acw", "companies", "map", "abc"]).is_err());
        assert!(Cli::try_parse_from(["acw", "companies", "list", "--mapping", "some"]).is_err());
        assert!(
            Cli::try_parse_from([
                "acw", "alerts", "map", "x", "--status", "New", "--type", "y"
            ])
            .is_ok()
        );
        assert!(
            Cli::try_parse_from(["acw", "alerts", "map", "x", "--type", "y"]).is_err(),
            "a status is required"
        );
        assert!(
            Cli::try_parse_from(["acw", "alerts", "map", "x", "--remove", "--status", "New"])
                .is_err()
        );
    }
}
