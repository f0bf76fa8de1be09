//! `acw connections list|add|remove|test`: the Acronis connections (one API client of one
//! partner tenant in one data centre each) that the credentials secret holds, as the flat
//! `acronis_*` keys (the connection `default`) and `acronis.{name}.{field}` groups
//! (`shared::secrets::connections`). The functions read the secret again every few minutes
//! (`shared::acronis::connections::REFRESH`), so a connection added or removed here is
//! theirs without a redeploy. One file per subcommand; the secret's edit is [`secret`].
//!
//! A client secret is never taken from the command line (process lists show it), and never
//! printed, logged or audited.

mod add;
mod check;
mod list;
mod remove;
pub mod secret;

use anyhow::{Context, Result};
use clap::ArgGroup;
use shared::http::{RetryPolicy, Transport};
use shared::secrets::ConnectionName;
use shared::settings::Settings;

pub use self::list::{ConnectionRow, ConnectionsList};
use self::secret::SecretDoc;
use super::args::DryRun;
use crate::ctx::{self, Ctx};

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum ConnectionsCmd {
    /// Each Acronis connection of the secret: its data centre, its API client (never the
    /// client secret), and how many companies and product mappings go through it.
    List,
    /// Add an Acronis connection to the secret (the functions use it within minutes), after
    /// checking that its API client gets a token and reads its own tenant.
    #[command(mut_arg(
        "dry_run",
        DryRun::help(
            "Check and show what would be added (never the client secret); write nothing"
        )
    ))]
    Add(AddArgs),
    /// Remove an Acronis connection from the secret, and its product mappings.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Show what would be removed and unmapped; change nothing")
    ))]
    Remove(RemoveArgs),
    /// Check each connection (or the named one): a token, its partner tenant, the offering
    /// items available to customers; exits non-zero when one fails.
    Test {
        #[arg(value_name = "NAME")]
        name: Option<ConnectionName>,
    },
}

/// `acw connections add`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
#[command(group(
    ArgGroup::new("client_secret")
        .required(true)
        .args(["client_secret_stdin", "client_secret_env"])
))]
pub struct AddArgs {
    /// The connection's name: 1 to 32 lowercase letters, digits or '-', starting with a
    /// letter (`default` is the flat `acronis_*` keys).
    #[arg(value_name = "NAME")]
    pub name: ConnectionName,
    /// The data centre, e.g. https://us5-cloud.acronis.com.
    #[arg(long, value_name = "URL")]
    pub datacenter_url: String,
    /// The API client's id (created in the partner tenant's management portal).
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// Read the API client's secret from standard input (its first line).
    #[arg(long)]
    pub client_secret_stdin: bool,
    /// Read the API client's secret from this environment variable (never from the command
    /// line, which process lists show).
    #[arg(long, value_name = "VAR")]
    pub client_secret_env: Option<String>,
    /// Add it without checking that the credentials get a token.
    #[arg(long)]
    pub no_test: bool,
    #[command(flatten)]
    pub dry_run: DryRun,
}

/// `acw connections remove`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct RemoveArgs {
    #[arg(value_name = "NAME")]
    pub name: ConnectionName,
    /// Unmap the companies mapped through it first (their tenants are left as they are).
    #[arg(long)]
    pub unmap_companies: bool,
    #[command(flatten)]
    pub dry_run: DryRun,
}

pub async fn run(ctx: &Ctx, cmd: ConnectionsCmd) -> Result<()> {
    match cmd {
        ConnectionsCmd::List => list::list(ctx).await,
        ConnectionsCmd::Add(args) => add::add(ctx, args).await,
        ConnectionsCmd::Remove(args) => remove::remove(ctx, args).await,
        ConnectionsCmd::Test { name } => check::test(ctx, name.as_ref()).await,
    }
}

/// The settings, and the secret as it is now (read whole, not through `Ctx::api`, whose
/// copy is read once per process and must parse: `add` may fill a secret with none yet).
async fn read_secret(ctx: &Ctx) -> Result<(Settings, aws_sdk_secretsmanager::Client, SecretDoc)> {
    let settings = ctx::settings()?;
    let client = aws_sdk_secretsmanager::Client::new(ctx.aws().await);
    let doc = SecretDoc::read(&client, &settings.secret_id).await?;
    Ok((settings, client, doc))
}

/// A transport for Acronis checks (the functions' retry policy and concurrency).
fn transport(settings: &Settings) -> Result<Transport> {
    let http = shared::http::build_client(&settings.http).context("building the HTTP client")?;
    Ok(Transport::new(
        http,
        RetryPolicy::from_settings(&settings.http),
        settings.http.acronis_concurrency,
    ))
}
