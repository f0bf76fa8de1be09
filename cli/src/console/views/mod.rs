//! The page: one layout with the vendor portal's tabs, rendered on the server (maud escapes
//! every value), plus a renderer for what a command printed, so each tab shows the same data
//! as `acw … --json`. A view reads a command's answer as the command's report type
//! ([`Ran::report`]), never by string keys: a renamed field fails to compile.

mod companies;
mod connections;
mod integration;
mod products;
mod provisioning;
mod status;
mod tickets;

use maud::{DOCTYPE, Markup, html};
use serde::Serialize;
use serde_json::Value;

use super::actions::{Action, Fields};
use super::backend::{Backend, Ran};
use crate::Command;

pub use companies::CompanyQuery;

/// The tabs, in the portal's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Integration,
    Products,
    Provisioning,
    Companies,
    Tickets,
    Status,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Self::Integration,
        Self::Products,
        Self::Provisioning,
        Self::Companies,
        Self::Tickets,
        Self::Status,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Self::Integration => "integration",
            Self::Products => "products",
            Self::Provisioning => "provisioning",
            Self::Companies => "companies",
            Self::Tickets => "tickets",
            Self::Status => "status",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Integration => "Integration",
            Self::Products => "Product mapping",
            Self::Provisioning => "Provisioning",
            Self::Companies => "Company mapping",
            Self::Tickets => "Ticket creation",
            Self::Status => "Status",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.slug() == slug)
    }

    pub fn href(self) -> String {
        format!("/?tab={}", self.slug())
    }
}

/// A tab's content.
pub async fn tab<B: Backend>(backend: &B, tab: Tab, query: &Fields) -> Markup {
    let body = match tab {
        Tab::Integration => integration::render(backend, query).await,
        Tab::Products => products::render(backend, query).await,
        Tab::Provisioning => provisioning::render(backend).await,
        Tab::Companies => companies::render(backend, &CompanyQuery::from_fields(query)).await,
        Tab::Tickets => tickets::render(backend).await,
        Tab::Status => status::render(backend).await,
    };
    page(tab, tab.title(), body)
}

/// The layout around every page.
pub fn page(current: Tab, heading: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (heading) " · acw console" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                header {
                    p.brand { "Acronis ↔ ConnectWise" }
                    nav aria-label="Tabs" {
                        ul {
                            @for t in Tab::ALL {
                                li {
                                    a href=(t.href()) aria-current=[(t == current).then_some("page")] { (t.title()) }
                                }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (heading) }
                    (body)
                }
            }
        }
    }
}

/// The preview of a change (the command's `--dry-run`), with the button that applies it.
pub fn preview(action: &Action, fields: &Fields, ran: &Ran) -> Markup {
    let tab = action.tab();
    let body = html! {
        p { "Nothing has changed yet. This is what " code { "acw " (action.argv(true).join(" ")) } " shows:" }
        (ran_view(ran))
        @if ran.error.is_none() {
            form method="post" action="/apply" {
                @for (name, value) in fields {
                    input type="hidden" name=(name) value=(value);
                }
                button type="submit" { "Apply" }
                " "
                a href=(tab.href()) { "Cancel" }
            }
        } @else {
            p { a href=(tab.href()) { "Back to " (tab.title()) } }
        }
    };
    page(tab, &format!("Preview: {}", action.title()), body)
}

/// What applying a change did.
pub fn applied(action: &Action, ran: &Ran) -> Markup {
    let tab = action.tab();
    let heading = match ran.error {
        None => format!("Done: {}", action.title()),
        Some(_) => format!("Not done: {}", action.title()),
    };
    let body = html! {
        (ran_view(ran))
        p { a href=(tab.href()) { "Back to " (tab.title()) } }
    };
    page(tab, &heading, body)
}

/// A form that could not be read.
pub fn refused_form(message: &str) -> Markup {
    page(
        Tab::Integration,
        "Nothing done",
        html! {
            p.error role="alert" { (message) }
            p { "Go back and choose what is missing." }
        },
    )
}

/// What a command printed, or why it failed (both when it printed and then failed).
pub fn ran_view(ran: &Ran) -> Markup {
    html! {
        @if let Some(e) = &ran.error {
            p.error role="alert" { (e) }
        }
        @for p in &ran.printed {
            (json_view(&p.json))
        }
    }
}

/// Why a command failed, alone.
pub fn error_view(ran: &Ran) -> Markup {
    html! {
        @if let Some(e) = &ran.error {
            p.error role="alert" { (e) }
        }
    }
}

/// A JSON value as HTML: lists of objects as tables, objects as two-column tables.
pub fn json_view(v: &Value) -> Markup {
    match v {
        Value::Array(items) if items.is_empty() => html! { p.muted { "none" } },
        Value::Array(items) if items.iter().all(Value::is_object) => records(items),
        Value::Object(map) => html! {
            table.kv {
                tbody {
                    @for (k, v) in map {
                        tr { th scope="row" { (label(k)) } td { (json_view(v)) } }
                    }
                }
            }
        },
        other => html! { (cell(other)) },
    }
}

/// Columns shown first, in this order, when a table has them.
const LEADING: &[&str] = &[
    "setting",
    "subject",
    "at",
    "function",
    "job",
    "company_id",
    "id",
    "name",
    "old",
    "new",
];

/// Objects as a table, a column per key (those of [`LEADING`] first).
pub fn records(items: &[Value]) -> Markup {
    let mut columns: Vec<&str> = Vec::new();
    for item in items {
        for k in item.as_object().into_iter().flat_map(|o| o.keys()) {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    // JSON objects come with their keys sorted: what a row is about goes first.
    columns.sort_by_key(|c| LEADING.iter().position(|l| l == c).unwrap_or(LEADING.len()));
    html! {
        div.scroll {
            table {
                thead { tr { @for c in &columns { th scope="col" { (label(c)) } } } }
                tbody {
                    @for item in items {
                        tr { @for c in &columns { td { (json_view(item.get(*c).unwrap_or(&Value::Null))) } } }
                    }
                }
            }
        }
    }
}

/// A scalar (or a list of scalars) as text.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The command line of a command a tab reads (built as `acw`'s clap types).
pub fn line(command: Command) -> Vec<String> {
    super::command_line::argv(&command).unwrap_or_default()
}

/// A typed value as [`cell`] shows its JSON (`null` as –, `true` as yes, a date as printed).
pub fn shown<T: Serialize + ?Sized>(v: &T) -> String {
    cell(&serde_json::to_value(v).unwrap_or_default())
}

/// A typed value as [`json_view`] shows its JSON.
pub fn view_of<T: Serialize + ?Sized>(v: &T) -> Markup {
    json_view(&serde_json::to_value(v).unwrap_or_default())
}

/// A settings section's form when its command printed it, else why not.
pub fn settings_or_error<T: Serialize + 'static>(ran: &Ran, section: &str, legend: &str) -> Markup {
    match (&ran.error, ran.report::<T>()) {
        (None, Some(settings)) => settings_form(section, settings, legend),
        _ => ran_view(ran),
    }
}

/// `pending_deprovisioning` → `pending deprovisioning`.
pub fn label(key: &str) -> String {
    key.replace('_', " ")
}

/// A form of `key=value` settings (one input per leaf, named `set.KEY`, with its current value
/// in `was.KEY`, so only what changed is sent).
pub fn settings_form<T: Serialize>(section: &str, settings: &T, legend: &str) -> Markup {
    let leaves = crate::cmd::sections::leaves(settings);
    html! {
        form.settings method="post" action="/preview" {
            fieldset {
                legend { (legend) }
                input type="hidden" name="action" value="settings";
                input type="hidden" name="section" value=(section);
                @for (key, current) in &leaves {
                    @let id = format!("{section}-{}", key.replace('.', "-"));
                    @let shown = input_value(current);
                    div.field {
                        label for=(id) { (label(key)) }
                        @if let Value::Bool(b) = current {
                            select id=(id) name={ "set." (key) } {
                                option value="true" selected[*b] { "true" }
                                option value="false" selected[!*b] { "false" }
                            }
                        } @else if current.is_number() {
                            input id=(id) type="number" name={ "set." (key) } value=(shown);
                        } @else {
                            input id=(id) type="text" name={ "set." (key) } value=(shown);
                        }
                        input type="hidden" name={ "was." (key) } value=(shown);
                        input type="hidden" name={ "kind." (key) } value=(input_kind(current));
                    }
                }
                button type="submit" { "Preview changes" }
            }
        }
    }
}

/// A setting as its form input shows it (what `key=value` on the command line takes).
fn input_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// What an emptied input means: an empty text or list, or an unset value.
fn input_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "text",
        Value::Array(_) => "list",
        _ => "value",
    }
}

/// A one-button form that previews an action.
pub fn action_button(label: &str, fields: &[(&str, &str)]) -> Markup {
    html! {
        form.inline method="post" action="/preview" {
            @for (name, value) in fields {
                input type="hidden" name=(name) value=(value);
            }
            button type="submit" { (label) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_escaped_and_records_become_tables() {
        let html = json_view(&json!([{"name": "<script>x</script>", "n": 1}, {"other": true}]))
            .into_string();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("<th scope=\"col\">other</th>"));
        assert!(html.contains("<td>yes</td>"));
    }

    #[test]
    fn a_settings_form_has_a_labelled_input_per_leaf() {
        let html = settings_form(
            "provisioning",
            &json!({"auto_provisioning": false, "deprovisioning": {"disable_after_days": 10}, "contact_type": null}),
            "Provisioning",
        )
        .into_string();
        for id in [
            "provisioning-auto_provisioning",
            "provisioning-deprovisioning-disable_after_days",
            "provisioning-contact_type",
        ] {
            assert!(
                html.contains(&format!("<label for=\"{id}\"")),
                "{id}: {html}"
            );
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(html.contains("name=\"was.deprovisioning.disable_after_days\" value=\"10\""));
    }
}
