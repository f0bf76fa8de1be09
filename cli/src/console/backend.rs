//! What the console's pages run. [`Backend`] is the port; [`CliBackend`] runs `acw`'s own
//! commands in process, so the page and the command line share every rule, plan and audit.

use std::future::Future;

use clap::Parser;

use crate::ctx::Ctx;
use crate::output::Printed;

/// What a command printed (its reports) and, when it failed, why.
#[derive(Debug, Default, Clone)]
pub struct Ran {
    pub printed: Vec<Printed>,
    pub error: Option<String>,
}

impl Ran {
    /// The command's answer (the last report printed), when it is an `R`: a view reads the
    /// report as the command's type, so a renamed field fails to compile.
    pub fn report<R: 'static>(&self) -> Option<&R> {
        self.printed.last().and_then(Printed::report)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            printed: Vec::new(),
            error: Some(message.into()),
        }
    }
}

/// Choices the page's pickers offer, loaded from ConnectWise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceList {
    CompanyTypes,
    CompanyStatuses,
    Boards,
    BoardStatuses(i64),
    BoardTypes(i64),
    BoardSubtypes(i64),
    Priorities,
}

/// One choice: an id and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub id: i64,
    pub name: String,
}

pub trait Backend: Send + Sync + 'static {
    /// Runs an `acw` command line (without `acw` and `--json`).
    fn run(&self, argv: Vec<String>) -> impl Future<Output = Ran> + Send;
    /// Loads the choices of a picker.
    fn choices(&self, list: ChoiceList)
    -> impl Future<Output = Result<Vec<Choice>, String>> + Send;
}

/// `acw`'s commands, in this process, with the environment `acw` reads: one [`Ctx`] for
/// every command the page runs, so their dependencies are built once.
#[derive(Debug)]
pub struct CliBackend {
    ctx: Ctx,
}

impl Default for CliBackend {
    fn default() -> Self {
        Self {
            ctx: Ctx::new(true),
        }
    }
}

impl Backend for CliBackend {
    async fn run(&self, argv: Vec<String>) -> Ran {
        let line = ["acw", "--json"].into_iter().map(str::to_owned).chain(argv);
        let cli = match crate::Cli::try_parse_from(line) {
            Ok(cli) => cli,
            Err(e) => return Ran::failed(e.to_string()),
        };
        if cli.is_console() {
            return Ran::failed("the console does not start another console");
        }
        let (printed, result) =
            crate::output::captured(Box::pin(crate::run(&self.ctx, cli.command))).await;
        Ran {
            printed,
            error: result.err().map(|e| format!("{e:#}")),
        }
    }

    async fn choices(&self, list: ChoiceList) -> Result<Vec<Choice>, String> {
        let cw = &self.ctx.deps().await.map_err(|e| format!("{e:#}"))?.cw;
        let e = |e: shared::connectwise::CwError| e.to_string();
        let pairs: Vec<(i64, Option<String>)> = match list {
            ChoiceList::CompanyTypes => named(cw.company_types().await.map_err(e)?),
            ChoiceList::CompanyStatuses => named(cw.company_statuses().await.map_err(e)?),
            ChoiceList::Priorities => named(cw.priorities().await.map_err(e)?),
            ChoiceList::BoardTypes(b) => named(cw.board_types(b).await.map_err(e)?),
            ChoiceList::Boards => (cw.boards().await.map_err(e)?)
                .into_iter()
                .filter(|b| b.inactive_flag != Some(true))
                .map(|b| (b.id, b.name))
                .collect(),
            ChoiceList::BoardStatuses(b) => (cw.board_statuses(b).await.map_err(e)?)
                .into_iter()
                .map(|s| (s.id, s.name))
                .collect(),
            ChoiceList::BoardSubtypes(b) => (cw.board_subtypes(b).await.map_err(e)?)
                .into_iter()
                .map(|s| (s.id, s.name))
                .collect(),
        };
        Ok(pairs
            .into_iter()
            .map(|(id, name)| Choice {
                id,
                name: name.unwrap_or_else(|| id.to_string()),
            })
            .collect())
    }
}

fn named(v: Vec<shared::connectwise::models::Named>) -> Vec<(i64, Option<String>)> {
    v.into_iter().map(|n| (n.id, n.name)).collect()
}
