//! Output: JSON with `--json`, tables otherwise. Every command prints one typed report
//! ([`emit`]): the table is rendered from it, `--json` is its serialization, and the console
//! keeps the report itself ([`Printed`]) for its views to read as that type.

use std::any::Any;
use std::sync::Arc;

use comfy_table::{Table, presets};
use serde::Serialize;
use serde_json::Value;

use crate::ctx::Ctx;

/// A table with a header row.
pub fn table<S: ToString>(headers: &[&str], rows: impl IntoIterator<Item = Vec<S>>) -> String {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(headers.iter().copied());
    for row in rows {
        t.add_row(row.into_iter().map(|c| c.to_string()));
    }
    t.to_string()
}

/// A report as printed for the console: its `--json` value, and the report itself.
#[derive(Clone)]
pub struct Printed {
    pub json: Value,
    report: Arc<dyn Any + Send + Sync>,
}

impl Printed {
    pub fn new<R: Serialize + Send + Sync + 'static>(report: R) -> Self {
        Self {
            json: to_json(&report),
            report: Arc::new(report),
        }
    }

    /// The report, when it is an `R`.
    pub fn report<R: 'static>(&self) -> Option<&R> {
        self.report.downcast_ref()
    }
}

impl std::fmt::Debug for Printed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printed").field("json", &self.json).finish()
    }
}

/// A report's `--json` value (objects with their keys sorted, as `serde_json` keeps them).
fn to_json<R: Serialize>(report: &R) -> Value {
    serde_json::to_value(report)
        .unwrap_or_else(|e| serde_json::json!({ "error": format!("unprintable report: {e}") }))
}

tokio::task_local! {
    /// Set while `acw console` runs a command: what it prints is kept here instead.
    static CAPTURED: std::cell::RefCell<Vec<Printed>>;
}

/// Runs `work` keeping what it prints (its reports); returns them and its result.
pub async fn captured<T>(work: impl std::future::Future<Output = T>) -> (Vec<Printed>, T) {
    CAPTURED
        .scope(std::cell::RefCell::new(Vec::new()), async {
            let out = work.await;
            (CAPTURED.with(|c| c.take()), out)
        })
        .await
}

/// True while a command runs for `acw console` (its output is captured).
pub fn capturing() -> bool {
    CAPTURED.try_with(|_| ()).is_ok()
}

/// True when progress may be drawn: stderr is a terminal and no console captures the command.
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && !capturing()
}

/// Prints `report` as JSON with `--json`, else what `human` renders (from the report and
/// what it was made of); under the console, keeps a copy of it.
pub fn emit<R>(ctx: &Ctx, report: &R, human: impl FnOnce() -> String)
where
    R: Serialize + Clone + Send + Sync + 'static,
{
    if capturing() {
        let _ = CAPTURED.try_with(|c| c.borrow_mut().push(Printed::new(report.clone())));
        return;
    }
    if ctx.json {
        let json = to_json(report);
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string())
        );
    } else {
        println!("{}", human());
    }
}

/// A JSON value as a table cell (strings unquoted, null as `-`).
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An optional value as a table cell.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}
