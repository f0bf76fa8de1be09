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
