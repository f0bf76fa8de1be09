//! Ticket creation: the board, then a table of alert types with the status, type, subtype
//! and priority of their tickets chosen from that board; reopen and auto-close options; the
//! needs-attention board.

use maud::{Markup, html};
use serde_json::Value;

use super::{cell, error_view, settings_form};
use crate::console::backend::{Backend, Choice, ChoiceList};

pub async fn render<B: Backend>(backend: &B) -> Markup {
    let (settings, types, boards, attention) = tokio::join!(
        backend.run(vec!["alerts".into(), "show".into()]),
        backend.run(vec!["alerts".into(), "types".into()]),
        backend.choices(ChoiceList::Boards),
        backend.run(vec!["attention".into(), "show".into()]),
    );
    let s = settings.value();
    let board = s["board_id"].as_i64();
    let catalog = match board {
        Some(b) => {
            let (statuses, kinds, subtypes, priorities) = tokio::join!(
                backend.choices(ChoiceList::BoardStatuses(b)),
                backend.choices(ChoiceList::BoardTypes(b)),
                backend.choices(ChoiceList::BoardSubtypes(b)),
                backend.choices(ChoiceList::Priorities),
            );
            Some([statuses, kinds, subtypes, priorities])
        }
        None => None,
    };
    html! {
        @if settings.error.is_some() { (error_view(&settings)) }
        section aria-labelledby="board" {
            h2 id="board" { "Service board" }
            @match &boards {
                Err(e) => p.error role="alert" { (e) },
                Ok(boards) => form method="post" action="/preview" {
                    input type="hidden" name="action" value="alerts-board";
                    label for="board-choice" { "Board alert tickets go to" }
                    " "
                    select id="board-choice" name="board" {
                        option value="" { "(none chosen)" }
                        @for b in boards { option value=(b.id) selected[Some(b.id) == board] { (b.name) } }
                    }
                    " "
                    button type="submit" { "Preview…" }
                    p.muted { "A new board starts with no alert type mapped." }
                },
            }
        }
        @if let Some([statuses, kinds, subtypes, priorities]) = &catalog {
            section aria-labelledby="types" {
                h2 id="types" { "Alert types" }
                @if types.error.is_some() { (error_view(&types)) }
                div.scroll {
                    table {
                        thead { tr {
                            @for c in ["alert type", "category", "severity", "status", "type", "subtype", "priority", "change"] { th scope="col" { (c) } }
                        } }
                        tbody {
                            @for (i, t) in types.value().as_array().into_iter().flatten().enumerate() {
                                @let id = cell(&t["id"]);
                                @let m = &s["types"][id.as_str()];
                                @let form = format!("map-{i}");
                                tr {
                                    th scope="row" { (id) }
                                    td { (cell(&t["category"])) }
                                    td { (cell(&t["severity"])) }
                                    td { (picker(&form, "status", &id, statuses, m["status_id"].as_i64(), false)) }
                                    td { (picker(&form, "type", &id, kinds, m["type_id"].as_i64(), true)) }
                                    td { (picker(&form, "subtype", &id, subtypes, m["subtype_id"].as_i64(), true)) }
                                    td { (picker(&form, "priority", &id, priorities, m["priority_id"].as_i64(), true)) }
                                    td.actions {
                                        form id=(form) method="post" action="/preview" {
                                            input type="hidden" name="action" value="alerts-map";
                                            input type="hidden" name="alert_type" value=(id);
                                            button type="submit" aria-label={ "Map " (id) "…" } { "Map…" }
                                        }
                                        @if !m.is_null() {
                                            form.inline method="post" action="/preview" {
                                                input type="hidden" name="action" value="alerts-remove";
                                                input type="hidden" name="alert_type" value=(id);
                                                button type="submit" aria-label={ "Stop " (id) "…" } { "Stop…" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="options" {
                h2 id="options" { "Reopen and auto-close" }
                (options_form(s, statuses))
            }
        }
        section aria-labelledby="attention" {
            h2 id="attention" { "Needs-attention tickets" }
            @match attention.error {
                Some(_) => (error_view(&attention)),
                None => (settings_form("attention", attention.value(), "Where problems that need a person become tickets")),
            }
        }
    }
}

/// A select of a board's choices for one alert type's row (in that row's form).
fn picker(
    form: &str,
    name: &str,
    alert_type: &str,
    choices: &Result<Vec<Choice>, String>,
    current: Option<i64>,
    optional: bool,
) -> Markup {
    match choices {
        Err(e) => html! { span.error { (e) } },
        Ok(choices) => html! {
            select form=(form) name=(name) aria-label={ (name) " of " (alert_type) " tickets" } {
                @if optional || current.is_none() { option value="" { "–" } }
                @for c in choices { option value=(c.id) selected[Some(c.id) == current] { (c.name) } }
            }
        },
    }
}

/// `acw alerts set`'s options, each sent only when changed.
fn options_form(s: &Value, statuses: &Result<Vec<Choice>, String>) -> Markup {
    let flag = |v: &Value| (v == &Value::Bool(true)).to_string();
    let closing = s["closing_status_id"].as_i64();
    let fields: [(&str, &str, String); 3] = [
        (
            "renew_after_closed",
            "New ticket instead of reopening one closed N days ago",
            flag(&s["renew_after_closed"]),
        ),
        ("renew_after_days", "N (days)", cell(&s["renew_after_days"])),
        (
            "auto_close",
            "Close the ticket when the alert clears",
            flag(&s["auto_close"]),
        ),
    ];
    html! {
        form.settings method="post" action="/preview" {
            input type="hidden" name="action" value="settings";
            input type="hidden" name="section" value="alert-options";
            @for (key, text, current) in &fields {
                div.field {
                    label for={ "opt-" (key) } { (text) }
                    @if *key == "renew_after_days" {
                        input id={ "opt-" (key) } type="number" min="1" name={ "set." (key) } value=(current);
                    } @else {
                        select id={ "opt-" (key) } name={ "set." (key) } {
                            option value="true" selected[current == "true"] { "on" }
                            option value="false" selected[current == "false"] { "off" }
                        }
                    }
                    input type="hidden" name={ "was." (key) } value=(current);
                }
            }
            div.field {
                label for="opt-closing_status" { "Closing status" }
                @match statuses {
                    Err(e) => span.error { (e) },
                    Ok(statuses) => select id="opt-closing_status" name="set.closing_status" {
                        option value="" { "–" }
                        @for c in statuses { option value=(c.id) selected[Some(c.id) == closing] { (c.name) } }
                    },
                }
                input type="hidden" name="was.closing_status" value=(closing.map(|c| c.to_string()).unwrap_or_default());
            }
            button type="submit" { "Preview changes" }
        }
    }
}
