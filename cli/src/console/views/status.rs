//! Status: last runs, failures (those a retry will not fix need a person), paused jobs with
//! pause and resume, dead letters waiting per function, and pending deprovisioning steps.

use maud::{Markup, html};

use super::{action_button, error_view, line, ran_view, shown, view_of};
use crate::Command;
use crate::cmd::dlq::Waiting;
use crate::cmd::status::{self, StatusArgs};
use crate::cmd::status::{RecentFailure, StatusReport};
use crate::console::backend::Backend;

pub async fn render<B: Backend>(backend: &B) -> Markup {
    let status = backend
        .run(line(Command::Status(StatusArgs {
            failures: status::FAILURES,
        })))
        .await;
    let Some(v) = status.report::<StatusReport>() else {
        return ran_view(&status);
    };
    let (needs_person, transient): (Vec<&RecentFailure>, Vec<&RecentFailure>) =
        v.recent_failures.iter().partition(|f| !f.transient);
    html! {
        section aria-labelledby="jobs" {
            h2 id="jobs" { "Jobs" }
            table {
                thead { tr { th scope="col" { "job" } th scope="col" { "state" } th scope="col" { "since" } th scope="col" { "by" } th scope="col" { "holds" } th scope="col" { "change" } } }
                tbody {
                    @for j in &v.jobs {
                        @let job = j.job.as_str();
                        @let paused = j.paused;
                        tr {
                            td { (job) }
                            td { @if paused { strong.error { "paused" } } @else { "running" } }
                            td { (shown(&j.since)) }
                            td { (shown(&j.by)) }
                            td { (j.holds) }
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
            (view_of(&needs_person))
        }
        (dead_letters(&v.dead_letters))
        section aria-labelledby="deprovisioning" {
            h2 id="deprovisioning" { "Pending deprovisioning" }
            (view_of(&v.pending_deprovisioning))
        }
        section aria-labelledby="runs" {
            h2 id="runs" { "Last runs" }
            (view_of(&v.last_runs))
            @if !v.never_ran.is_empty() {
                p { "Never ran: " (v.never_ran.join(", ")) }
            }
        }
        section aria-labelledby="failures" {
            h2 id="failures" { "Recent failures a retry may fix" }
            (view_of(&transient))
        }
        section aria-labelledby="totals" {
            h2 id="totals" { "Mapped companies and open alert tickets" }
            p { (v.mapped_companies) " mapped companies, " (v.open_alert_tickets) " open alert tickets." }
        }
        (error_view(&status))
    }
}

/// Each function's dead letters waiting (`acw status --json`'s `dead_letters`).
fn dead_letters(rows: &[Waiting]) -> Markup {
    let waiting: u64 = rows.iter().filter_map(|r| r.waiting).sum();
    html! {
        section aria-labelledby="dead-letters" {
            h2 id="dead-letters" { "Dead letters" }
            @if waiting > 0 {
                p.error { (waiting) " dead letter(s) waiting. " code { "acw dlq list" } " shows them; " code { "acw dlq replay" } " puts their events back on the bus." }
            } @else {
                p.muted { "What a function failed on after its retries, per function." }
            }
            (view_of(rows))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn rows(v: serde_json::Value) -> Vec<super::Waiting> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn dead_letters_waiting_are_shown_per_function() {
        let html = super::dead_letters(&rows(json!([
            {"function": "provisioner", "queue": "acw-provisioner-dead-letters", "waiting": 2, "error": null},
            {"function": "ticket-sync", "queue": "acw-ticket-sync-dead-letters", "waiting": 0, "error": null},
        ])))
        .into_string();
        assert!(html.contains("2 dead letter(s) waiting"), "{html}");
        assert!(html.contains("<td>provisioner</td>"), "{html}");
        assert!(html.contains("acw dlq replay"), "{html}");
        let none = super::dead_letters(&rows(json!([
            {"function": "provisioner", "queue": null, "waiting": null, "error": "STACK_NAME is not set"},
        ])))
        .into_string();
        assert!(!none.contains("waiting. "), "{none}");
        assert!(none.contains("STACK_NAME is not set"), "{none}");
    }
}
