//! `acw provisioning show|set`: the provisioning and deprovisioning settings.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use shared::domain::connection::{CompanyField, NewCustomerRule};
use shared::domain::settings::ProvisioningSettings;
use shared::secrets::ConnectionName;

use super::args::DryRun;
use super::sections::{applied, render, save};
use crate::ctx::Ctx;
use crate::output::emit;

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum ProvisioningCmd {
    /// Show the provisioning settings (defaults when never saved).
    Show,
    /// Set provisioning settings, e.g. `auto_provisioning=true deprovisioning.disable=true`.
    Set {
        /// key=value pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Choose the Acronis connection a new customer's tenant is created in: one for all
    /// (`--connection eu`), or by a ConnectWise company field
    /// (`--by country --value "United States=us" --value Germany=eu`, with `--connection`
    /// for the companies no value matches; without it they are not provisioned and a person
    /// is told). Checked against the secret's connections and ConnectWise's names.
    #[command(mut_arg("dry_run", DryRun::help("Check and show the rule; save nothing")))]
    NewCustomers(NewCustomersArgs),
}

/// `provisioning new-customers`'s arguments.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct NewCustomersArgs {
    /// The company field that chooses.
    #[arg(long, value_enum)]
    pub by: Option<FieldArg>,
    /// `VALUE=CONNECTION`: companies whose field is VALUE go to CONNECTION (repeatable).
    #[arg(long = "value", value_name = "VALUE=CONNECTION", requires = "by")]
    pub values: Vec<String>,
    /// Without --by: every new customer's connection (left out: `default`, or the only
    /// one); with --by: the connection of the companies no value matches.
    #[arg(long, value_name = "NAME")]
    pub connection: Option<ConnectionName>,
    #[command(flatten)]
    pub dry_run: DryRun,
}

/// `--by` of `provisioning new-customers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FieldArg {
    Type,
    Market,
    Territory,
    Country,
}

impl From<FieldArg> for CompanyField {
    fn from(f: FieldArg) -> Self {
        match f {
            FieldArg::Type => Self::Type,
            FieldArg::Market => Self::Market,
            FieldArg::Territory => Self::Territory,
            FieldArg::Country => Self::Country,
        }
    }
}

impl NewCustomersArgs {
    /// The rule the arguments say.
    pub fn rule(&self) -> Result<NewCustomerRule> {
        let mut values = std::collections::BTreeMap::new();
        for v in &self.values {
            let (value, connection) = v
                .rsplit_once('=')
                .ok_or_else(|| anyhow!("--value {v:?} is not VALUE=CONNECTION"))?;
            let connection = ConnectionName::parse(connection.trim())?;
            if values.insert(value.trim().to_owned(), connection).is_some() {
                return Err(anyhow!("--value {:?} is given twice", value.trim()));
            }
        }
        Ok(NewCustomerRule {
            connection: self.connection.clone(),
            by: self.by.map(Into::into),
            values,
        })
    }
}

pub async fn run(ctx: &Ctx, cmd: ProvisioningCmd) -> Result<()> {
    match cmd {
        ProvisioningCmd::Show => show(ctx).await,
        ProvisioningCmd::Set { pairs, dry_run } => set(ctx, &pairs, dry_run.dry_run).await,
        ProvisioningCmd::NewCustomers(args) => new_customers(ctx, &args).await,
    }
}

/// `acw provisioning new-customers`: the rule checked, then saved (or shown with --dry-run).
pub async fn new_customers(ctx: &Ctx, args: &NewCustomersArgs) -> Result<()> {
    let store = ctx.store().await?;
    let old = load(store).await?;
    let rule = args.rule()?;
    check_new_customers(ctx, &rule).await?;
    let new = ProvisioningSettings {
        new_customers: rule,
        ..old.clone()
    };
    save(
        ctx,
        "provisioning.new-customers",
        &old,
        &new,
        args.dry_run.dry_run,
    )
    .await
}

/// The new-customer rule checked against the secret's connections and the names ConnectWise
/// lists for its field.
pub async fn check_new_customers(
    ctx: &Ctx,
    rule: &shared::domain::connection::NewCustomerRule,
) -> Result<()> {
    let deps = ctx.deps().await?;
    let listed: Vec<String> = match rule.by {
        Some(by) => deps
            .cw
            .list_all::<shared::connectwise::models::Named>(
                by.list_path(),
                &shared::connectwise::ListQuery::default(),
            )
            .await?
            .into_iter()
            .filter_map(|n| n.name)
            .collect(),
        None => Vec::new(),
    };
    let known = deps
        .connections
        .current()
        .await
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    let problems = rule.problems(&known, &listed);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "provisioning.new_customers: {}; nothing was saved",
            problems.join("; ")
        ))
    }
}

/// The effective provisioning settings (defaults when never saved).
pub async fn load(store: &shared::store::Store) -> Result<ProvisioningSettings> {
    Ok(store.section().await?)
}

pub async fn show(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let s = load(store).await?;
    emit(ctx, &s, || render(&s));
    Ok(())
}

pub async fn set(ctx: &Ctx, pairs: &[String], dry_run: bool) -> Result<()> {
    let store = ctx.store().await?;
    let old = load(store).await?;
    let new = applied(&old, pairs, ProvisioningSettings::validate)?;
    if new.new_customers != old.new_customers {
        check_new_customers(ctx, &new.new_customers).await?;
    }
    save(ctx, "provisioning.set", &old, &new, dry_run).await
}
