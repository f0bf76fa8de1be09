//! `acw`: the admin command of the Acronis ↔ ConnectWise integration.
//!
//! It uses the shared library and the same DynamoDB table, secret and APIs as the Lambdas,
//! configured from the usual AWS environment plus `TABLE_NAME`, `EVENT_BUS_NAME`,
//! `SECRET_ID` and `STACK_NAME` (on the local stack: `set -a; source target/local/env`).
//!
//! Human-readable tables by default, `--json` on every command. Errors say what to fix and
//! exit with status 1 (usage errors: 2).
#![warn(clippy::too_many_lines)] // no product function over 120 lines (`clippy.toml`)
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod cmd;
mod console;
mod ctx;
mod output;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Clone, PartialEq, Parser)]
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

#[derive(Debug, Clone, PartialEq, Subcommand)]
enum Command {
    /// Check both credentials and register the ConnectWise callbacks.
    Setup(cmd::setup::SetupArgs),
    /// Offering items and their ConnectWise products.
    #[command(subcommand)]
    Products(cmd::products::ProductsCmd),
    /// Provisioning and deprovisioning settings.
    #[command(subcommand)]
    Provisioning(cmd::provisioning::ProvisioningCmd),
    /// How usage becomes an addition quantity: unit, base, rounding (per product).
    #[command(subcommand)]
    Usage(cmd::usage::UsageCmd),
    /// Which agreements are pay-as-you-go.
    #[command(subcommand)]
    Billing(cmd::billing::BillingCmd),
    /// ConnectWise companies and their Acronis tenants.
    #[command(subcommand)]
    Companies(cmd::companies::CompaniesCmd),
    /// The Acronis connections (a partner tenant in a data centre each): list, add, remove, test.
    #[command(subcommand)]
    Connections(cmd::connections::ConnectionsCmd),
    /// The partner's Acronis customer tenants.
    #[command(subcommand)]
    Tenants(cmd::tenants::TenantsCmd),
    /// Alert tickets: board, alert type mapping, reopen/auto-close settings.
    #[command(subcommand)]
    Alerts(cmd::alerts::AlertsCmd),
    /// Run a cycle now.
    #[command(subcommand)]
    Sync(cmd::sync::SyncCmd),
    /// Check the live accounts against what the integration relies on (read only unless
    /// --probe-company; exits non-zero when something it relies on is broken).
    Doctor(cmd::doctor::DoctorArgs),
    /// Last run of each function, recent failures, mapped companies, open alert tickets.
    Status(cmd::status::StatusArgs),
    /// Where problems that need a person become tickets (off until a board is chosen).
    #[command(subcommand)]
    Attention(cmd::attention::AttentionCmd),
    /// Pause one job (provisioning, quota_sync, usage_push, ticket_sync); resume it.
    #[command(subcommand)]
    Jobs(cmd::jobs::JobsCmd),
    /// Every setting and mapping as one reviewable YAML file.
    #[command(subcommand)]
    Config(cmd::config::ConfigCmd),
    /// The functions' dead-letter queues (`<STACK_NAME>-<function>-dead-letters`): list, replay.
    #[command(subcommand)]
    Dlq(cmd::dlq::DlqCmd),
    /// The admin page in a browser: the tabs of the vendor's portal over these commands, each
    /// change previewed before it is applied. Serves on 127.0.0.1 only; the URL it prints
    /// first carries a one-time token.
    Console(console::ConsoleArgs),
}

impl Cli {
    /// Whether this is `acw console` (which the console's page cannot start).
    fn is_console(&self) -> bool {
        matches!(self.command, Command::Console(_))
    }
}

/// Runs one command; the console's page runs its commands through this too (with its one
/// `Ctx`, whose dependencies are built once).
async fn run(ctx: &ctx::Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Setup(args) => cmd::setup::run(ctx, args).await,
        Command::Products(sub) => cmd::products::run(ctx, sub).await,
        Command::Provisioning(sub) => cmd::provisioning::run(ctx, sub).await,
        Command::Usage(sub) => cmd::usage::run(ctx, sub).await,
        Command::Billing(sub) => cmd::billing::run(ctx, sub).await,
        Command::Companies(sub) => cmd::companies::run(ctx, sub).await,
        Command::Connections(sub) => cmd::connections::run(ctx, sub).await,
        Command::Tenants(sub) => cmd::tenants::run(ctx, sub).await,
        Command::Alerts(sub) => cmd::alerts::run(ctx, sub).await,
        Command::Sync(sub) => cmd::sync::run(ctx, sub).await,
        Command::Doctor(args) => cmd::doctor::run(ctx, args).await,
        Command::Status(args) => cmd::status::run(ctx, args).await,
        Command::Attention(sub) => cmd::attention::run(ctx, sub).await,
        Command::Jobs(sub) => cmd::jobs::run(ctx, sub).await,
        Command::Config(sub) => cmd::config::run(ctx, sub).await,
        Command::Dlq(sub) => cmd::dlq::run(ctx, sub).await,
        // `main` serves it: a command the page runs cannot start another console.
        Command::Console(_) => anyhow::bail!("acw console is started on its own"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    // The console runs whole commands (large futures) on worker threads: give them room.
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
        .build()
        .inspect_err(|e| eprintln!("error: could not start the async runtime: {e}"))
    else {
        return ExitCode::FAILURE;
    };
    let result = match cli.command {
        Command::Console(args) => runtime.block_on(console::serve(args.port, !args.no_open)),
        command => runtime.block_on(run(&ctx::Ctx::new(json), command)),
    };
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    if json {
        eprintln!("{}", serde_json::json!({ "error": format!("{e:#}") }));
    } else {
        eprintln!("error: {e:#}");
    }
    ExitCode::FAILURE
}
