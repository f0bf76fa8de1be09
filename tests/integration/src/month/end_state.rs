//! The month's end state in words (to compare outage twins) and, with `MONTH_TRACE`, the
//! run records behind each discrepancy.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::Value;
use simulators::oracle::{self, Verdict};

/// A note's first line with its times as `<time>` (the simulators' clocks run on between
/// the scaled cycles, so two runs of one scenario stamp an occurrence a few seconds apart).
fn without_times(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .split(' ')
        .map(|word| {
            let bare = word.trim_end_matches(['.', ',', ';']);
            match DateTime::parse_from_rfc3339(bare) {
                Ok(_) => word.replacen(bare, "<time>", 1),
                Err(_) => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The end state in words, keyed without the ids a run draws (tenant and ticket ids):
/// tickets by company and summary (status, closed, notes), tenants by connection and name
/// (enabled, deleted, every item's quota), additions by their seeded id (quantity).
pub fn end_state(cw: &Value, acronis: &[(&str, Value)]) -> BTreeMap<String, String> {
    let rows = oracle::rows;
    let mut out = BTreeMap::new();
    let notes = rows(cw, "notes");
    for t in rows(cw, "tickets") {
        // Sorted: the simulator's table orders ids as text ("10" before "9").
        let mut mine: Vec<String> = notes
            .iter()
            .filter(|n| n["ticketId"] == t["id"])
            .map(|n| without_times(n["text"].as_str().unwrap_or_default()))
            .collect();
        mine.sort();
        let key = format!("ticket company={} {}", t["company"]["id"], t["summary"]);
        let value = format!(
            "status={} closed={} notes={}: {mine:?}",
            t["status"]["name"],
            t["closedFlag"],
            mine.len()
        );
        // A second ticket for the same alert shows as a second value under its key.
        out.entry(key)
            .and_modify(|v: &mut String| v.push_str(&format!(" AND {value}")))
            .or_insert(value);
    }
    for (connection, t) in acronis.iter().flat_map(|(connection, state)| {
        rows(state, "tenants")
            .into_iter()
            .filter(|t| t["kind"] == "customer")
            .map(move |t| (*connection, t))
    }) {
        let mut items: Vec<String> = t["offering_items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| format!("{}:{}:{}", i["name"], i["status"], i["quota"]["value"]))
            .collect();
        items.sort();
        let key = format!("tenant {connection} {}", t["name"]);
        let value = format!(
            "enabled={} deleted={} items={items:?}",
            t["enabled"],
            !t["deleted_at"].is_null()
        );
        out.entry(key)
            .and_modify(|v: &mut String| v.push_str(&format!(" AND {value}")))
            .or_insert(value);
    }
    for a in rows(cw, "additions") {
        out.insert(
            format!("addition {} of agreement {}", a["id"], a["agreementId"]),
            format!("quantity={}", a["quantity"]),
        );
    }
    out
}

/// With `MONTH_TRACE` set: what the provisioner's run records say about each company the
/// oracle found wrong (on stderr).
pub(super) async fn trace_runs(runs: &shared::store::Store, verdict: &Verdict) -> Result<()> {
    let runs = runs.latest_runs("provisioner", 100_000).await?;
    for d in &verdict.discrepancies {
        let Some(company) = d.split_whitespace().nth(1).map(|c| c.trim_end_matches(':')) else {
            continue;
        };
        eprintln!("== {d}");
        let needle = format!("company {company}");
        let mut lines: Vec<(DateTime<Utc>, String)> = Vec::new();
        for r in &runs {
            for c in r.changes.iter().filter(|c| c.subject.contains(&needle)) {
                lines.push((
                    r.started_at,
                    format!(
                        "change {} {} {:?} -> {} ({:?})",
                        c.subject, c.field, c.old, c.new, c.basis
                    ),
                ));
            }
            for f in r.failures.iter().filter(|f| f.subject.contains(&needle)) {
                lines.push((r.started_at, format!("failure {}: {}", f.subject, f.reason)));
            }
        }
        lines.sort();
        for (at, l) in lines {
            eprintln!("  {at} {l}");
        }
    }
    Ok(())
}
