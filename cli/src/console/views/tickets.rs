//! Ticket creation: the board, then a table of alert types with the status, type, subtype
//! and priority of their tickets chosen from that board; reopen and auto-close options; the
//! needs-attention board.

use maud::{Markup, html};
use shared::domain::alerts::AlertSettings;
use shared::domain::attention::AttentionSettings;

use super::{error_view, line, settings_or_error, shown};
use crate::Command;
use crate::cmd::alerts::{AlertTypeRow, AlertsCmd};
use crate::cmd::attention::AttentionCmd;
use crate::console::backend::{Backend, Choice, ChoiceList};

pub async fn render<B: Backend>(backend: &B) -> Markup {
    let (settings, types_ran, boards, attention) = tokio::join!(
        backend.run(line(Command::Alerts(AlertsCmd::Show))),
        backend.run(line(Command::Alerts(AlertsCmd::Types))),
        backend.choices(ChoiceList::Boards),
        backend.run(line(Command::Attention(AttentionCmd::Show))),
    );
    let none = AlertSettings::default();
    let s = settings.report::<AlertSettings>().unwrap_or(&none);
    let types: &[AlertTypeRow] = types_ran
        .report::<Vec<AlertTypeRow>>()
        .map_or(&[], Vec::as_slice);
    let board = s.board_id;
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
                @if types_ran.error.is_some() { (error_view(&types_ran)) }
                div.scroll {
                    table {
                        thead { tr {
                            @for c in ["alert type", "category", "severity", "status", "type", "subtype", "priority", "change"] { th scope="col" { (c) } }
                        } }
                        tbody {
                            @for (i, t) in types.iter().enumerate() {
                                @let id = t.id.as_str();
                                @let m = s.types.get(id);
                                @let form = format!("map-{i}");
                                tr {
                                    th scope="row" { (id) }
                                    td { (shown(&t.category)) }
                                    td { (shown(&t.severity)) }
                                    td { (picker(&form, "status", id, statuses, m.map(|m| m.status_id), false)) }
                                    td { (picker(&form, "type", id, kinds, m.and_then(|m| m.type_id), true)) }
                                    td { (picker(&form, "subtype", id, subtypes, m.and_then(|m| m.subtype_id), true)) }
                                    td { (picker(&form, "priority", id, priorities, m.and_then(|m| m.priority_id), true)) }
                                    td.actions {
                                        form id=(form) method="post" action="/preview" {
                                            input type="hidden" name="action" value="alerts-map";
                                            input type="hidden" name="alert_type" value=(id);
                                            button type="submit" aria-label={ "Map " (id) "…" } { "Map…" }
                                        }
                                        @if m.is_some() {
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
            (settings_or_error::<AttentionSettings>(&attention, "attention", "Where problems that need a person become tickets"))
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
fn options_form(s: &AlertSettings, statuses: &Result<Vec<Choice>, String>) -> Markup {
    let closing = s.closing_status_id;
    let fields: [(&str, &str, String); 4] = [
        (
            "renew_after_closed",
            "New ticket instead of reopening one closed N days ago",
            s.renew_after_closed.to_string(),
        ),
        (
            "renew_after_days",
            "N (days)",
            s.renew_after_days.to_string(),
        ),
        (
            "auto_close",
            "Close the ticket when the alert clears",
            s.auto_close.to_string(),
        ),
        (
            "clear_alert_on_close",
            "Dismiss the alert in Acronis when a technician closes the ticket",
            s.clear_alert_on_close.to_string(),
        ),
    ];
    let fixed = s.fixed_statuses.join(",");
    let is_fixed = |name: &str| {
        s.fixed_statuses
            .iter()
            .any(|f| f.trim().eq_ignore_ascii_case(name.trim()))
    };
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
            div.field {
                label for="opt-fixed_statuses" { "Statuses that count as fixed" }
                // Sent first and empty: choosing none sends an empty list.
                input type="hidden" name="set.fixed_statuses" value="";
                @match statuses {
                    Err(e) => span.error { (e) },
                    Ok(statuses) => select id="opt-fixed_statuses" name="set.fixed_statuses" multiple size="3" {
                        @for c in statuses { option value=(c.name) selected[is_fixed(&c.name)] { (c.name) } }
                    },
                }
                input type="hidden" name="was.fixed_statuses" value=(fixed);
                input type="hidden" name="kind.fixed_statuses" value="list";
            }
            button type="submit" { "Preview changes" }
        }
    }
}
