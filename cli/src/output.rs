//! Output: JSON with `--json`, tables otherwise.

use comfy_table::{Table, presets};
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

tokio::task_local! {
    /// Set while `acw console` runs a command: what it prints is kept here as JSON instead.
    static CAPTURED: std::cell::RefCell<Vec<Value>>;
}

/// Runs `work` keeping what it prints (its `--json` output); returns that and its result.
pub async fn captured<T>(work: impl std::future::Future<Output = T>) -> (Vec<Value>, T) {
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

/// Prints `json` with `--json`, else what `human` renders.
pub fn emit(ctx: &Ctx, json: &Value, human: impl FnOnce() -> String) {
    if CAPTURED
        .try_with(|c| c.borrow_mut().push(json.clone()))
        .is_ok()
    {
        return;
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
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
