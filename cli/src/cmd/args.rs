//! Command-line arguments several commands share.

use clap::{Arg, Args, ValueEnum};
use serde::{Deserialize, Serialize};

// No doc comment on the struct: clap would make it the description of every command that
// flattens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct DryRun {
    /// Show what would change; save nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl DryRun {
    /// A command's own help for `--dry-run`, where it says more than "save nothing" (clap
    /// ignores a doc comment on a flattened field): on the command,
    /// `#[command(mut_arg("dry_run", DryRun::help("…")))]`, the text without its final
    /// period as clap shows a doc comment's.
    pub fn help(text: &'static str) -> impl FnOnce(Arg) -> Arg {
        move |arg| arg.help(text)
    }
}

/// `--mapping` of `companies list` and `tenants list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MappingArg {
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

/// What an `unmap --dry-run` would remove (`T`: the mapping as the command shows it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmapPreview<T> {
    pub dry_run: bool,
    pub would_unmap: T,
}

/// What an `unmap` removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmapDone<T> {
    pub unmapped: T,
}

/// `--connection` of the commands that work in one Acronis connection (partner tenant and
/// data centre). Left out: the only connection, or the one named `default`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ConnectionArg {
    /// The Acronis connection (`acw connections list`); needed when there are several and
    /// none is named default.
    #[arg(long, value_name = "NAME")]
    pub connection: Option<shared::secrets::ConnectionName>,
}

impl ConnectionArg {
    /// The connection named, else the only one or `default`.
    pub fn name(
        &self,
        deps: &shared::bootstrap::Deps,
    ) -> anyhow::Result<shared::secrets::ConnectionName> {
        if let Some(c) = &self.connection {
            return Ok(c.clone());
        }
        let known = deps.connections.names();
        shared::domain::connection::sole_or_default(&known).ok_or_else(|| {
            anyhow::anyhow!(
                "several Acronis connections ({}): name one with --connection",
                known
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// The provisioning service working in that connection.
    pub async fn service(
        &self,
        deps: &shared::bootstrap::Deps,
    ) -> anyhow::Result<shared::services::provisioning::Provisioning> {
        Ok(deps.provisioning().on(&self.name(deps)?).await?)
    }
}
