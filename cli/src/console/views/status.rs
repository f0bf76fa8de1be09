//! Status: last runs, failures (those a retry will not fix need a person), paused jobs with
//! pause and resume, dead letters waiting per function, and pending deprovisioning steps.

use maud::{Markup, html};
use serde_json::Value;

use super::{action_button, cell, error_view, json_view, ran_view, records};
use crate::console::backend::Backend;

pub async fn render<B: Backend>(backend: &B) -> Markup {
    let status = backend.run(vec!["status".into()]).await;
    if status.error.is_some() && status.printed.is_empty() {
        return ran_view(&status);
    }
    let v = status.value();
    let failures = v["recent_failures"].as_array().cloned().unwrap_or_default();
    let (needs_person, transient): (Vec<Value>, Vec<Value>) = failures
        .into_iter()
        .partition(|f| f["transient"] == Value::Bool(false));
    html! {
        section aria-labelledby="jobs" {
            h2 id="jobs" { "Jobs" }
            table {
                thead { tr { th scope="col" { "job" } th scope="col" { "state" } th scope="col" { "since" } th scope="col" { "by" } th scope="col" { "holds" } th scope="col" { "change" } } }
                tbody {
                    @for j in v["jobs"].as_array().into_iter().flatten() {
                        @let job = j["job"].as_str().unwrap_or_default();
                        @let paused = j["paused"] == Value::Bool(true);
                        tr {
                            td { (job) }
                            td { @if paused { strong.error { "paused" } } @else { "running" } }
                            td { (cell(&j["since"])) }
                            td { (cell(&j["by"])) }
                            td { (cell(&j["holds"])) }
                            td {
                                @if paused {
                                    (action_button(&format!("Resume {job}…"), &[("action", "job-resume"), ("job", job)]))
                                } @else {
                                    (action_button(&format!("Pause {job}…"), &[("action", "job-pause"), ("job", job)]))
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="attention" {
            h2 id="attention" { "Needs a person" }
            p.muted { "Failures a retry will not fix (each counts in the NeedsAttention metric)." }
            (json_view(&Value::Array(needs_person)))
        }
        (dead_letters(&v["dead_letters"]))
        section aria-labelledby="deprovisioning" {
            h2 id="deprovisioning" { "Pending deprovisioning" }
            (json_view(&v["pending_deprovisioning"]))
        }
        section aria-labelledby="runs" {
            h2 id="runs" { "Last runs" }
            (json_view(&v["last_runs"]))
            @if let Some(never) = v["never_ran"].as_array().filter(|a| !a.is_empty()) {
                p { "Never ran: " (cell(&Value::Array(never.clone()))) }
            }
        }
        section aria-labelledby="failures" {
            h2 id="failures" { "Recent failures a retry may fix" }
            (records_or_none(&transient))
        }
        section aria-labelledby="totals" {
            h2 id="totals" { "Mapped companies and open alert tickets" }
            p { (cell(&v["mapped_companies"])) " mapped companies, " (cell(&v["open_alert_tickets"])) " open alert tickets." }
        }
        (error_view(&status))
    }
}

/// Each function's dead letters waiting (`acw status --json`'s `dead_letters`).
fn dead_letters(rows: &Value) -> Markup {
    let waiting: u64 = rows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["waiting"].as_u64())
        .sum();
    html! {
        section aria-labelledby="dead-letters" {
            h2 id="dead-letters" { "Dead letters" }
            @if waiting > 0 {
                p.error { (waiting) " dead letter(s) waiting. " code { "acw dlq list" } " shows them; " code { "acw dlq replay" } " puts their events back on the bus." }
            } @else {
                p.muted { "What a function failed on after its retries, per function." }
            }
            (json_view(rows))
        }
    }
}

fn records_or_none(rows: &[Value]) -> Markup {
    if rows.is_empty() {
        html! { p.muted { "none" } }
    } else {
        records(rows)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn dead_letters_waiting_are_shown_per_function() {
        let html = super::dead_letters(&json!([
            {"function": "provisioner", "queue": "acw-provisioner-dead-letters", "waiting": 2, "error": null},
            {"function": "ticket-sync", "queue": "acw-ticket-sync-dead-letters", "waiting": 0, "error": null},
        ]))
        .into_string();
        assert!(html.contains("2 dead letter(s) waiting"), "{html}");
        assert!(html.contains("<td>provisioner</td>"), "{html}");
        assert!(html.contains("acw dlq replay"), "{html}");
        let none = super::dead_letters(&json!([
            {"function": "provisioner", "queue": null, "waiting": null, "error": "STACK_NAME is not set"},
        ]))
        .into_string();
        assert!(!none.contains("waiting. "), "{none}");
        assert!(none.contains("STACK_NAME is not set"), "{none}");
    }
}
