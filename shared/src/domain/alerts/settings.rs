//! The alert-mapping settings, with the vendor's defaults and their validation against a
//! board.

use super::*;

/// Where the tickets of one alert type go on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeMapping {
    /// The status a new (or reopened) ticket gets: the board's "new" status.
    pub status_id: i64,
    #[serde(default)]
    pub type_id: Option<i64>,
    #[serde(default)]
    pub subtype_id: Option<i64>,
    #[serde(default)]
    pub priority_id: Option<i64>,
}

/// The alert mapping and ticket options (vendor defaults: nothing mapped, reopen the first
/// ticket on each occurrence, "new ticket after N days closed" off with N = 1, auto-close off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertSettings {
    /// The service board tickets go to; no tickets until it is set.
    pub board_id: Option<i64>,
    /// Acronis alert type id → where its tickets go. Types not here make no ticket.
    pub types: BTreeMap<String, TypeMapping>,
    /// Create a new ticket instead of reopening one closed at least `renew_after_days` ago.
    pub renew_after_closed: bool,
    pub renew_after_days: u32,
    /// Close the ticket when the alert clears.
    pub auto_close: bool,
    /// The closing status (a closed status of the board); needed with `auto_close`.
    pub closing_status_id: Option<i64>,
    /// Dismiss a ticket's alert in Acronis when a technician moves the ticket to one of
    /// `fixed_statuses` (Acronis' "Automatically clear alert"; off by default).
    pub clear_alert_on_close: bool,
    /// The statuses, by name, that count as fixed (statuses of the board, compared without
    /// case); needed with `clear_alert_on_close`.
    pub fixed_statuses: Vec<String>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            board_id: None,
            types: BTreeMap::new(),
            renew_after_closed: false,
            renew_after_days: 1,
            auto_close: false,
            closing_status_id: None,
            clear_alert_on_close: false,
            fixed_statuses: Vec::new(),
        }
    }
}

/// A board's statuses, types, subtypes and the priorities, as read from ConnectWise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardCatalog {
    pub board_id: i64,
    pub board_name: Option<String>,
    pub statuses: Vec<BoardStatus>,
    pub types: Vec<Named>,
    pub subtypes: Vec<BoardSubType>,
    pub priorities: Vec<Named>,
}

fn label(id: i64, name: Option<&String>) -> String {
    match name {
        Some(n) => format!("{n:?} ({id})"),
        None => id.to_string(),
    }
}

impl AlertSettings {
    /// The mapping of an alert type, when tickets are on for it.
    pub fn mapping(&self, alert_type: &str) -> Option<&TypeMapping> {
        self.board_id?;
        self.types.get(alert_type)
    }

    /// Checks what needs no board data.
    pub fn validate(&self) -> Result<(), String> {
        if self.renew_after_days == 0 {
            return Err("renew_after_days must be at least 1".into());
        }
        if self.auto_close && self.closing_status_id.is_none() {
            return Err(
                "auto_close needs closing_status_id, the status that closes tickets".into(),
            );
        }
        if self.clear_alert_on_close && self.fixed_statuses.iter().all(|s| s.trim().is_empty()) {
            return Err(
                "clear_alert_on_close needs fixed_statuses, the statuses that count as fixed"
                    .into(),
            );
        }
        if self.board_id.is_none() && !self.types.is_empty() {
            return Err("alert types are mapped but board_id is not set".into());
        }
        if let Some(t) = self.types.keys().find(|t| t.trim().is_empty()) {
            return Err(format!("alert type {t:?} is blank"));
        }
        Ok(())
    }

    /// Checks every id against the board's data; the message names what is not on it.
    pub fn validate_against(&self, board: &BoardCatalog) -> Result<(), String> {
        self.validate()?;
        let Some(board_id) = self.board_id else {
            return Ok(());
        };
        let on = format!("board {}", label(board_id, board.board_name.as_ref()));
        if board.board_id != board_id {
            return Err(format!("board {board_id} does not exist"));
        }
        let status = |id: i64| board.statuses.iter().find(|s| s.id == id);
        for (alert_type, m) in &self.types {
            match status(m.status_id) {
                None => {
                    return Err(format!(
                        "{alert_type}: status {} is not a status of {on}",
                        m.status_id
                    ));
                }
                Some(s) if s.closed_status == Some(true) => {
                    return Err(format!(
                        "{alert_type}: status {} is a closed status of {on}; tickets would open closed",
                        label(s.id, s.name.as_ref())
                    ));
                }
                Some(_) => {}
            }
            if let Some(t) = m.type_id
                && !board.types.iter().any(|x| x.id == t)
            {
                return Err(format!("{alert_type}: type {t} is not a type of {on}"));
            }
            if let Some(st) = m.subtype_id {
                let Some(found) = board.subtypes.iter().find(|x| x.id == st) else {
                    return Err(format!(
                        "{alert_type}: subtype {st} is not a subtype of {on}"
                    ));
                };
                let assoc = found.type_association_ids.clone().unwrap_or_default();
                if let Some(t) = m.type_id
                    && !assoc.is_empty()
                    && !assoc.contains(&t)
                {
                    return Err(format!(
                        "{alert_type}: subtype {} does not go with type {t} on {on}",
                        label(st, found.name.as_ref())
                    ));
                }
            }
            if let Some(p) = m.priority_id
                && !board.priorities.iter().any(|x| x.id == p)
            {
                return Err(format!("{alert_type}: priority {p} does not exist"));
            }
        }
        if let Some(name) = self.fixed_statuses.iter().find(|f| {
            !board.statuses.iter().any(|s| {
                s.name
                    .as_deref()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(f.trim()))
            })
        }) {
            return Err(format!("fixed status {name:?} is not a status of {on}"));
        }
        if let Some(c) = self.closing_status_id {
            match status(c) {
                None => return Err(format!("closing status {c} is not a status of {on}")),
                Some(s) if s.closed_status != Some(true) => {
                    return Err(format!(
                        "closing status {} is not a closed status of {on}",
                        label(s.id, s.name.as_ref())
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
