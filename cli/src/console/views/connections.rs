//! The connection picker of the tabs that work in one Acronis connection (one partner tenant in
//! one data centre): each connection of the secret by name and data centre, the chosen one kept
//! in the query string and sent with every form of the tab. With one connection there is
//! nothing to pick, and nothing is shown.

use maud::{Markup, html};
use shared::domain::connection::sole_or_default;
use shared::secrets::ConnectionName;

use super::{error_view, line};
use crate::Command;
use crate::cmd::connections::{ConnectionRow, ConnectionsCmd, ConnectionsList};
use crate::console::actions::Fields;
use crate::console::backend::{Backend, Ran};

/// The connections a tab offers and the one it works in.
#[derive(Debug, Clone, Default)]
pub struct Picked {
    /// Those the secret holds complete: the only ones a command can work in.
    pub usable: Vec<ConnectionRow>,
    /// `None` only when the list could not be read or holds none.
    pub chosen: Option<ConnectionName>,
    /// Why the list could not be read.
    pub listed: Ran,
}

impl Picked {
    /// The chosen connection as the tab's commands take it.
    pub fn arg(&self) -> crate::cmd::args::ConnectionArg {
        crate::cmd::args::ConnectionArg {
            connection: self.chosen.clone(),
        }
    }

    /// The chosen connection's name, for a form's hidden field (empty: the command's own
    /// choice).
    pub fn field(&self) -> &str {
        self.chosen.as_ref().map_or("", ConnectionName::as_str)
    }

    /// Where a connection is: its data centre's host (the URL when it has none).
    pub fn data_centre(&self, name: &ConnectionName) -> Option<String> {
        self.usable
            .iter()
            .find(|r| &r.name == name)
            .and_then(|r| r.datacenter_url.as_deref())
            .map(host)
    }
}

/// `https://eu2-cloud.acronis.com/` → `eu2-cloud.acronis.com`.
fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| url.to_owned())
}

/// The connection `?connection=` names when the secret has it; else `default`, the only
/// one, or the first by name (as `acw` picks for what names none).
pub fn choose(usable: &[ConnectionRow], asked: Option<&str>) -> Option<ConnectionName> {
    let names: Vec<ConnectionName> = usable.iter().map(|r| r.name.clone()).collect();
    asked
        .and_then(|a| names.iter().find(|n| n.as_str() == a).cloned())
        .or_else(|| sole_or_default(&names))
        .or_else(|| names.first().cloned())
}

/// The connection the query string names (`connection=`).
pub fn asked(query: &Fields) -> Option<&str> {
    query
        .iter()
        .find(|(k, _)| k == "connection")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Reads the connections (`acw connections list`) and picks the one `asked` names, if any.
pub async fn picked<B: Backend>(backend: &B, asked: Option<&str>) -> Picked {
    let listed = backend
        .run(line(Command::Connections(ConnectionsCmd::List)))
        .await;
    let usable: Vec<ConnectionRow> = listed
        .report::<ConnectionsList>()
        .map(|l| {
            l.connections
                .iter()
                .filter(|r| r.in_secret && r.complete)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Picked {
        chosen: choose(&usable, asked),
        usable,
        listed,
    }
}

/// The picker (a GET form back to `tab`), shown when there is more than one connection.
pub fn picker(tab: &str, picked: &Picked) -> Markup {
    html! {
        @if picked.listed.error.is_some() { (error_view(&picked.listed)) }
        @if picked.usable.len() > 1 {
            form.filters method="get" action="/" aria-label="Acronis connection" {
                input type="hidden" name="tab" value=(tab);
                (field(picked, "Acronis connection (data centre and partner tenant)"))
                button type="submit" { "Show" }
            }
        }
    }
}

/// The picker's select alone, for a tab's own GET form (nothing with one connection).
pub fn field(picked: &Picked, label: &str) -> Markup {
    html! {
        @if picked.usable.len() > 1 {
            div.field {
                label for="connection" { (label) }
                select id="connection" name="connection" {
                    @for r in &picked.usable {
                        option value=(r.name.as_str()) selected[picked.chosen.as_ref() == Some(&r.name)] {
                            (r.name.as_str()) @if let Some(dc) = picked.data_centre(&r.name) { " · " (dc) }
                        }
                    }
                }
            }
        }
    }
}

/// The hidden field that carries the chosen connection in a form.
pub fn hidden(picked: &Picked) -> Markup {
    html! {
        @if picked.chosen.is_some() {
            input type="hidden" name="connection" value=(picked.field());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, url: &str) -> ConnectionRow {
        ConnectionRow {
            name: ConnectionName::parse(name).unwrap(),
            datacenter_url: Some(url.into()),
            client_id: Some("c".into()),
            in_secret: true,
            complete: true,
            companies: 0,
            product_mappings: 0,
        }
    }

    #[test]
    fn the_asked_connection_else_default_else_the_first() {
        let rows = [
            row("eu", "https://eu2-cloud.acronis.com"),
            row("us", "https://us5-cloud.acronis.com/"),
        ];
        let name = |n: Option<ConnectionName>| n.map(|n| n.to_string());
        assert_eq!(name(choose(&rows, Some("us"))).as_deref(), Some("us"));
        // An unknown or malformed name is not an error on a GET: the first is shown.
        assert_eq!(name(choose(&rows, Some("nope"))).as_deref(), Some("eu"));
        assert_eq!(name(choose(&rows, Some("<x>"))).as_deref(), Some("eu"));
        let with_default = [row("us", "https://us"), row("default", "https://eu")];
        assert_eq!(
            name(choose(&with_default, None)).as_deref(),
            Some("default")
        );
        assert_eq!(choose(&[], None), None);
        let picked = Picked {
            chosen: choose(&rows, Some("us")),
            usable: rows.to_vec(),
            listed: Ran::default(),
        };
        assert_eq!(
            picked
                .data_centre(&ConnectionName::parse("us").unwrap())
                .as_deref(),
            Some("us5-cloud.acronis.com")
        );
        let html = picker("products", &picked).into_string();
        assert!(
            html.contains("<option value=\"us\" selected>us · us5-cloud.acronis.com</option>"),
            "{html}"
        );
        let one = Picked {
            usable: rows[..1].to_vec(),
            ..picked
        };
        assert!(
            !picker("products", &one).into_string().contains("<select"),
            "one connection: no picker"
        );
    }
}
