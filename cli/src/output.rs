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

/// Prints `json` with `--json`, else what `human` renders.
pub fn emit(ctx: &Ctx, json: &Value, human: impl FnOnce() -> String) {
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
