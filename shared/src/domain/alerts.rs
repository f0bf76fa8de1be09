//! Alerts → tickets: the alert key, the ticket's summary and texts, the alert-mapping
//! settings (with the vendor's defaults and their validation against a board), and the
//! decision "what to do with this alert event, given the stored ticket record and the
//! ticket's current state". No network here.
//!
//! ## The decision table ([`decide`])
//!
//! | event | stored record | ticket now (ConnectWise) | settings | action |
//! |---|---|---|---|---|
//! | raised | none | – | – | [`TicketAction::Create`] |
//! | raised | `creating`, claim fresh | – | – | [`TicketAction::Wait`] (retry later; the creator is at work) |
//! | raised | `creating`, claim stale | – | – | [`TicketAction::TakeOver`] (look up by `externalXRef`, then create) |
//! | raised | with ticket | open | – | [`TicketAction::Note`] |
//! | raised | with ticket | closed < N days ago, or renew off | – | [`TicketAction::Reopen`] |
//! | raised | with ticket | closed ≥ N days ago | renew on | [`TicketAction::Renew`] |
//! | raised | with ticket | deleted in ConnectWise | – | [`TicketAction::Renew`] |
//! | cleared | any | any | auto-close off | [`TicketAction::Leave`] |
//! | cleared | none | – | auto-close on | [`TicketAction::Leave`] |
//! | cleared | `creating` | – | auto-close on | [`TicketAction::Wait`] (close it once it exists) |
//! | cleared | with ticket | closed or deleted | auto-close on | [`TicketAction::Leave`] |
//! | cleared | with ticket | open, in the status we set | auto-close on | [`TicketAction::Close`] |
//! | cleared | with ticket | open, moved to another status | auto-close on | [`TicketAction::NoteCleared`] |
//!
//! **A ticket a technician moved to another status is not closed.** The status we set is
//! the alert type's mapped status (on create and on reopen). A technician who moved the
//! ticket on (e.g. "In Progress", "Waiting on client") has taken it over: the alert
//! clearing does not mean their work is done, and closing under them would hide it. So
//! the ticket keeps its status and gets a note saying the alert cleared; they close it.
//!
//! "Closed at least N days" is measured from the ticket's `closedDate` in ConnectWise
//! (a technician may have closed it), falling back to the record's `closed_at`; exactly N
//! days counts as "at least".

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::acronis::models::Alert;
use crate::connectwise::models::{BoardStatus, BoardSubType, Named};
use crate::domain::records::{AlertTicket, TicketState};

/// The settings section of the alert mapping.
pub const SECTION: &str = "alerts";
/// ConnectWise's limit on a ticket summary and on `externalXRef`.
pub const MAX_SUMMARY: usize = 100;
pub const MAX_XREF: usize = 100;
/// How long a `creating` claim holds before another delivery may take over.
pub const CREATING_LEASE_SECS: i64 = 120;

// ---- alert key, texts ------------------------------------------------------------------

fn detail_str<'a>(alert: &'a Alert, key: &str) -> Option<&'a str> {
    alert
        .details
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The resource an alert is about: `resourceId`, else `resourceName`, else `planId`.
pub fn resource_of(alert: &Alert) -> Option<String> {
    detail_str(alert, "resourceId")
        .or_else(|| detail_str(alert, "resourceName"))
        .or_else(|| detail_str(alert, "planId"))
        .map(str::to_lowercase)
}

/// The stable key of the problem an alert reports: tenant + alert type + resource
/// (`acr:{tenant}:{type}:{resource or -}`), never its rendered title. Stored in the table
/// and in the ticket's `externalXRef`, so it must fit 100 characters: a longer key (a
/// CyberApp type is a long CTI string) becomes `acr#` + the SHA-256 of the long form.
pub fn alert_key(alert: &Alert) -> String {
    let tenant = alert
        .tenant
        .uuid
        .as_deref()
        .or(alert.tenant.id.as_deref())
        .unwrap_or("-")
        .to_lowercase();
    let resource = resource_of(alert).unwrap_or_else(|| "-".into());
    let long = format!("acr:{tenant}:{}:{resource}", alert.alert_type);
    if long.chars().count() <= MAX_XREF {
        long
    } else {
        let digest = Sha256::digest(long.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("acr#{hex}")
    }
}

/// The alert's `updatedAt` in UNIX nanoseconds (0 beyond what they hold, year 2262).
pub fn updated_ns(alert: &Alert) -> i64 {
    alert.updated_at.timestamp_nanos_opt().unwrap_or(0)
}

/// Dedupe identity of one state of one alert: `(id, updatedAt)`.
pub fn occurrence_id(alert: &Alert) -> String {
    format!("{}@{}", alert.id.to_ascii_uppercase(), updated_ns(alert))
}

/// The UI names of the built-in types (the API's `/types` carries no title).
pub fn type_title(alert_type: &str) -> Option<&'static str> {
    Some(match alert_type {
        "BackupFailed" => "Backup failed",
        "BackupCanceled" => "Backup is canceled",
        "BackupDidNotStart" => "Backup did not start",
        "BackupNotResponding" => "Backup is not responding",
        "BackupStatusUnknown" => "Backup status is unknown",
        "NoBackupForXDays" => "Backup is missing",
        "BackupCorrupted" => "Backup is corrupted",
        "AgentAutoUpdateFailed" => "Automatic update failed",
        "AgentOutdated" => "Agent is outdated",
        "ActiveProtectionNotRunning" => "Active Protection service is not running",
        "PlanDeploymentFailed" => "Plan deployment failed",
        "M365ApplicationConsentRequired" => "Microsoft 365 consent required",
        "EDRIncidentDetected" => "EDR incident detected",
        "DrStorageHardQuotaExceeds" => "Disaster recovery storage hard quota exceeded",
        _ => return None,
    })
}

/// The alert's title: its own `details.title` (CyberApp alerts), else the type's UI name,
/// else the type id.
pub fn alert_title(alert: &Alert) -> String {
    detail_str(alert, "title")
        .map(str::to_owned)
        .or_else(|| type_title(&alert.alert_type).map(str::to_owned))
        .unwrap_or_else(|| alert.alert_type.clone())
}

/// Cuts to `max` characters, the last one an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Readable names of the resource kinds an alert's details carry (`resourceType`, else
/// `backupSourcesType`), as the vendor's own integration writes them in ticket summaries.
/// A value not listed is shown as it came; an alert with neither says `Workload`.
pub const RESOURCE_TYPES: &[(&str, &str)] = &[
    ("machine", "Machine with an agent"),
    ("machines", "Machine with an agent"),
    ("virtual_machine", "Virtual machine with an agent"),
    ("virtual_machines", "Virtual machine with an agent"),
    ("vm", "Virtual machine with an agent"),
    ("vms", "Virtual machine with an agent"),
    ("virtual_machine_agentless", "Virtual machine"),
    ("disks", "Disks/volumes"),
    ("files", "Files/folders"),
    ("mssql_database", "Microsoft SQL Server database"),
    ("mssql_databases", "Microsoft SQL Server database"),
    ("exchange_database", "Microsoft Exchange database"),
    ("exchange_databases", "Microsoft Exchange database"),
    ("mailbox", "Mailbox"),
    ("mailboxes", "Mailbox"),
    ("m365_mailbox", "Microsoft 365 mailbox"),
    ("m365_onedrive", "Microsoft 365 OneDrive"),
    ("m365_sharepoint", "Microsoft 365 SharePoint site"),
    ("m365_teams", "Microsoft 365 Teams"),
    ("google_mailbox", "Google Workspace mailbox"),
    ("google_drive", "Google Drive"),
    ("mobile", "Mobile device"),
    ("mobile_device", "Mobile device"),
    ("nas", "NAS"),
    ("website", "Website"),
];

/// The readable kind of the resource an alert is about (see [`RESOURCE_TYPES`]).
pub fn resource_type_label(alert: &Alert) -> String {
    let Some(raw) =
        detail_str(alert, "resourceType").or_else(|| detail_str(alert, "backupSourcesType"))
    else {
        return "Workload".to_owned();
    };
    let wanted = raw.trim().to_lowercase().replace([' ', '-'], "_");
    RESOURCE_TYPES
        .iter()
        .find(|(k, _)| *k == wanted)
        .map_or_else(|| raw.trim().to_owned(), |(_, label)| (*label).to_owned())
}

/// `[<resource type>:<resource name>] <alert title>`, cut to ConnectWise's 100 characters.
pub fn ticket_summary(alert: &Alert) -> String {
    let kind = resource_type_label(alert);
    let name = detail_str(alert, "resourceName")
        .or_else(|| detail_str(alert, "resourceId"))
        .or_else(|| detail_str(alert, "planName"))
        .unwrap_or("-");
    let summary = format!("[{kind}:{name}] {}", alert_title(alert));
    cut(summary.trim(), MAX_SUMMARY)
}

fn error_message(alert: &Alert) -> Option<String> {
    match alert.details.get("errorMessage") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::Object(o)) => o
            .get("message")
            .or_else(|| o.get("reason"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

/// The ticket's description: what the alert says, for the technician.
pub fn ticket_description(alert: &Alert, key: &str) -> String {
    let mut lines = vec![format!("Acronis alert: {}", alert_title(alert))];
    lines.push(format!("Type: {}", alert.alert_type));
    if let Some(c) = &alert.category {
        lines.push(format!("Category: {c}"));
    }
    if let Some(s) = &alert.severity {
        lines.push(format!("Severity: {s}"));
    }
    for (label, field) in [
        ("Resource", "resourceName"),
        ("Resource id", "resourceId"),
        ("Plan", "planName"),
        ("Days without backup", "daysPassed"),
    ] {
        match alert.details.get(field) {
            Some(Value::String(s)) if !s.is_empty() => lines.push(format!("{label}: {s}")),
            Some(Value::Number(n)) => lines.push(format!("{label}: {n}")),
            _ => {}
        }
    }
    if let Some(m) = error_message(alert) {
        lines.push(format!("Error: {m}"));
    }
    if let Some(d) = detail_str(alert, "description") {
        lines.push(d.to_owned());
    }
    if let Some(t) = alert.created_at {
        lines.push(format!("Raised: {}", t.to_rfc3339()));
    }
    if let Some(t) = &alert.tenant.uuid {
        lines.push(format!("Tenant: {t}"));
    }
    lines.push(format!("Alert id: {}", alert.id));
    lines.push(format!("Alert key: {key}"));
    lines.join("\n")
}

/// The note for a new occurrence on an open (or reopened) ticket.
pub fn occurrence_note(alert: &Alert, reopened: bool) -> String {
    let when = alert.updated_at.to_rfc3339();
    let mut text = if reopened {
        format!("The Acronis alert came back at {when}; ticket reopened.")
    } else {
        format!("The Acronis alert occurred again at {when}.")
    };
    if let Some(s) = &alert.severity {
        text.push_str(&format!(" Severity: {s}."));
    }
    if let Some(m) = error_message(alert) {
        text.push_str(&format!(" Error: {m}"));
    }
    text.push_str(&format!(" (alert id {})", alert.id));
    text
}

/// The note when the alert cleared but the ticket stays as a technician left it.
pub fn cleared_note(alert: &Alert, status: Option<&str>) -> String {
    let when = alert.deleted_at.unwrap_or(alert.updated_at).to_rfc3339();
    format!(
        "The Acronis alert cleared at {when}. The ticket was left in status {} because it \
         was moved from the alert's status; close it when the work is done.",
        status.unwrap_or("(unknown)")
    )
}

// ---- settings --------------------------------------------------------------------------

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

// ---- the decision ----------------------------------------------------------------------

/// What happened to the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertEvent {
    Raised,
    Cleared,
}

/// The ticket as ConnectWise has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketNow {
    Open {
        status_id: Option<i64>,
    },
    Closed {
        closed_at: Option<DateTime<Utc>>,
    },
    /// Deleted in ConnectWise (404).
    Missing,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketAction {
    /// No ticket yet: create one (after claiming the alert key).
    Create,
    /// Open ticket: add a note for this occurrence.
    Note { ticket_id: i64 },
    /// Closed ticket: back to the mapped status, with a note.
    Reopen { ticket_id: i64, status_id: i64 },
    /// Closed long enough (or gone): a new ticket, which the record then points to.
    Renew { record: AlertTicket, previous: i64 },
    /// Cleared with auto-close: from the mapped status to the closing status.
    Close {
        ticket_id: i64,
        from_status_id: i64,
        closing_status_id: i64,
    },
    /// Cleared with auto-close, but a technician moved the ticket: note only.
    NoteCleared { ticket_id: i64 },
    /// Another delivery is creating the ticket: retry later.
    Wait,
    /// A creation claim went stale: look up by `externalXRef`, adopt or create.
    TakeOver { record: AlertTicket },
    /// Nothing to do, and why.
    Leave(&'static str),
}

impl TicketAction {
    /// The action's name, for plans and run records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Note { .. } => "note",
            Self::Reopen { .. } => "reopen",
            Self::Renew { .. } => "renew",
            Self::Close { .. } => "close",
            Self::NoteCleared { .. } => "note_cleared",
            Self::Wait => "wait",
            Self::TakeOver { .. } => "take_over",
            Self::Leave(_) => "leave",
        }
    }

    /// The ticket it acts on, when there is one already.
    pub fn ticket_id(&self) -> Option<i64> {
        match self {
            Self::Note { ticket_id }
            | Self::Reopen { ticket_id, .. }
            | Self::Close { ticket_id, .. }
            | Self::NoteCleared { ticket_id } => Some(*ticket_id),
            Self::Renew { previous, .. } => Some(*previous),
            Self::Create | Self::Wait | Self::TakeOver { .. } | Self::Leave(_) => None,
        }
    }

    /// What it does, in words.
    pub fn describe(&self) -> String {
        match self {
            Self::Create => "create a ticket".into(),
            Self::Note { ticket_id } => format!("add a note to ticket {ticket_id}"),
            Self::Reopen {
                ticket_id,
                status_id,
            } => format!("reopen ticket {ticket_id} (status {status_id}) with a note"),
            Self::Renew { previous, .. } => {
                format!("create a new ticket (ticket {previous} is closed long enough, or deleted)")
            }
            Self::Close {
                ticket_id,
                closing_status_id,
                ..
            } => format!("close ticket {ticket_id} (status {closing_status_id})"),
            Self::NoteCleared { ticket_id } => {
                format!("note on ticket {ticket_id} that the alert cleared (a technician moved it)")
            }
            Self::Wait => "wait: another delivery is creating the ticket".into(),
            Self::TakeOver { .. } => {
                "take over a stale creation: find the ticket by externalXRef, else create".into()
            }
            Self::Leave(why) => format!("nothing: {why}"),
        }
    }
}

/// What the poller does with one alert it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStep {
    /// Already carried within the overlap window.
    Duplicate,
    /// Its tenant is mapped to no company.
    UnmappedTenant,
    /// Its type has no ticket mapping.
    UnmappedType,
    /// A ticket event for the company.
    Publish { company_id: i64, event: AlertEvent },
}

/// The poller's decision for `alert`: `seen` when its `(id, updatedAt)` was carried already,
/// `company` the company its tenant is mapped to.
pub fn poll_step(alert: &Alert, seen: bool, company: Option<i64>, s: &AlertSettings) -> PollStep {
    if seen {
        return PollStep::Duplicate;
    }
    let Some(company_id) = company else {
        return PollStep::UnmappedTenant;
    };
    if s.mapping(&alert.alert_type).is_none() {
        return PollStep::UnmappedType;
    }
    let event = if alert.deleted_at.is_some() {
        AlertEvent::Cleared
    } else {
        AlertEvent::Raised
    };
    PollStep::Publish { company_id, event }
}

/// Whether the ticket must be read from ConnectWise before deciding.
pub fn needs_ticket(event: AlertEvent, record: Option<&AlertTicket>, s: &AlertSettings) -> bool {
    let has_ticket =
        record.is_some_and(|r| r.state != TicketState::Creating && r.ticket_id.is_some());
    has_ticket && (event == AlertEvent::Raised || s.auto_close)
}

/// The decision (see the table in the module docs). `ticket` is `None` when it was not
/// read; the record's own state is then taken as the ticket's.
pub fn decide(
    event: AlertEvent,
    record: Option<&AlertTicket>,
    ticket: Option<&TicketNow>,
    mapping: &TypeMapping,
    s: &AlertSettings,
    now: DateTime<Utc>,
) -> TicketAction {
    if event == AlertEvent::Cleared && !s.auto_close {
        return TicketAction::Leave("auto-close is off");
    }
    let Some(record) = record else {
        return match event {
            AlertEvent::Raised => TicketAction::Create,
            AlertEvent::Cleared => TicketAction::Leave("no ticket for this alert"),
        };
    };
    let (TicketState::Open | TicketState::Closed, Some(ticket_id)) =
        (record.state, record.ticket_id)
    else {
        let stale = now - record.updated_at >= Duration::seconds(CREATING_LEASE_SECS);
        return match (event, stale) {
            (AlertEvent::Raised, true) => TicketAction::TakeOver {
                record: record.clone(),
            },
            _ => TicketAction::Wait,
        };
    };
    let assumed = match record.state {
        TicketState::Closed => TicketNow::Closed {
            closed_at: record.closed_at,
        },
        _ => TicketNow::Open { status_id: None },
    };
    let now_state = ticket.unwrap_or(&assumed);
    let renew = || TicketAction::Renew {
        record: record.clone(),
        previous: ticket_id,
    };
    match (event, now_state) {
        (AlertEvent::Raised, TicketNow::Open { .. }) => TicketAction::Note { ticket_id },
        (AlertEvent::Raised, TicketNow::Missing) => renew(),
        (AlertEvent::Raised, TicketNow::Closed { closed_at }) => {
            let closed_at = closed_at.or(record.closed_at);
            let long_enough = closed_at
                .is_some_and(|c| now - c >= Duration::days(i64::from(s.renew_after_days.max(1))));
            if s.renew_after_closed && long_enough {
                renew()
            } else {
                TicketAction::Reopen {
                    ticket_id,
                    status_id: mapping.status_id,
                }
            }
        }
        (AlertEvent::Cleared, TicketNow::Closed { .. }) => {
            TicketAction::Leave("ticket already closed")
        }
        (AlertEvent::Cleared, TicketNow::Missing) => {
            TicketAction::Leave("ticket deleted in ConnectWise")
        }
        (AlertEvent::Cleared, TicketNow::Open { status_id }) => {
            let Some(closing_status_id) = s.closing_status_id else {
                // Refused by validation; kept safe for a section saved behind our back.
                return TicketAction::Leave("auto-close has no closing status");
            };
            match status_id {
                // Not read: the record says open and we cannot tell who moved it; close.
                None if ticket.is_none() => TicketAction::Close {
                    ticket_id,
                    from_status_id: mapping.status_id,
                    closing_status_id,
                },
                Some(id) if *id == mapping.status_id => TicketAction::Close {
                    ticket_id,
                    from_status_id: mapping.status_id,
                    closing_status_id,
                },
                _ => TicketAction::NoteCleared { ticket_id },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acronis::models::AlertTenant;
    use serde_json::json;

    fn alert(kind: &str, details: Value) -> Alert {
        Alert {
            id: "A1".into(),
            alert_type: kind.into(),
            category: Some("Backup".into()),
            severity: Some("critical".into()),
            created_at: None,
            updated_at: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
            deleted_at: None,
            tenant: AlertTenant {
                id: Some("104".into()),
                uuid: Some("AAAA-TENANT".into()),
                locator: None,
            },
            details,
        }
    }

    #[test]
    fn summaries_name_the_resource_kind_readably_with_the_raw_value_as_fallback() {
        let title = |details| ticket_summary(&alert("BackupFailed", details));
        assert!(
            title(json!({"backupSourcesType": "machines", "resourceName": "syslog"}))
                .starts_with("[Machine with an agent:syslog] ")
        );
        assert!(
            title(json!({"resourceType": "virtual_machine", "resourceName": "cicw1"}))
                .starts_with("[Virtual machine with an agent:cicw1] ")
        );
        assert!(
            title(json!({"resourceType": "quantum_fridge", "resourceName": "f1"}))
                .starts_with("[quantum_fridge:f1] ")
        );
        assert!(title(json!({"resourceName": "srv"})).starts_with("[Workload:srv] "));
    }

    #[test]
    fn key_is_tenant_type_resource_and_fits_xref() {
        let a = alert(
            "BackupFailed",
            json!({"resourceId": "RES-1", "resourceName": "srv01"}),
        );
        assert_eq!(alert_key(&a), "acr:aaaa-tenant:BackupFailed:res-1");
        // The title and the alert id do not take part; the resource does.
        let mut b = a.clone();
        b.id = "A2".into();
        b.details = json!({"resourceId": "res-1", "resourceName": "renamed", "title": "x"});
        assert_eq!(alert_key(&a), alert_key(&b));
        let c = alert("BackupFailed", json!({"resourceId": "RES-2"}));
        assert_ne!(alert_key(&a), alert_key(&c));
        let d = alert("NoBackupForXDays", json!({"resourceId": "RES-1"}));
        assert_ne!(alert_key(&a), alert_key(&d));
        let none = alert("BackupFailed", json!({}));
        assert_eq!(alert_key(&none), "acr:aaaa-tenant:BackupFailed:-");
        let long = alert(
            &format!("cti.a.p.am.alert.v1.0~{}", "x".repeat(90)),
            json!({}),
        );
        let k = alert_key(&long);
        assert!(
            k.starts_with("acr#") && k.chars().count() <= MAX_XREF,
            "{k}"
        );
        assert_eq!(k, alert_key(&long));
    }

    #[test]
    fn occurrence_is_id_and_updated_ns() {
        let a = alert("BackupFailed", json!({}));
        assert_eq!(occurrence_id(&a), "A1@1700000000000000005");
    }

    #[test]
    fn summaries() {
        let cases = [
            (
                alert(
                    "BackupFailed",
                    json!({"resourceName": "srv01", "resourceType": "machine"}),
                ),
                "[Machine with an agent:srv01] Backup failed",
            ),
            (
                alert("NoBackupForXDays", json!({"resourceName": "pc-7"})),
                "[Workload:pc-7] Backup is missing",
            ),
            (
                alert("SomethingNew", json!({"resourceId": "r1"})),
                "[Workload:r1] SomethingNew",
            ),
            (
                alert(
                    "cti.x",
                    json!({"title": "Custom thing", "resourceName": "a"}),
                ),
                "[Workload:a] Custom thing",
            ),
        ];
        for (a, want) in cases {
            assert_eq!(ticket_summary(&a), want);
        }
        let long = alert("BackupFailed", json!({"resourceName": "n".repeat(150)}));
        let s = ticket_summary(&long);
        assert_eq!(s.chars().count(), 100);
        assert!(s.ends_with('…') && s.starts_with("[Workload:nnn"));
        // Multi-byte characters are counted as characters, not bytes.
        let wide = alert("BackupFailed", json!({"resourceName": "é".repeat(99)}));
        assert_eq!(ticket_summary(&wide).chars().count(), 100);
        assert_eq!(cut("short", 100), "short");
    }

    #[test]
    fn description_and_notes_carry_the_details() {
        let a = alert(
            "BackupFailed",
            json!({"resourceName": "srv01", "planName": "Daily", "errorMessage": {"message": "disk full"}}),
        );
        let d = ticket_description(&a, "acr:k");
        for want in [
            "Backup failed",
            "srv01",
            "Daily",
            "disk full",
            "acr:k",
            "critical",
        ] {
            assert!(d.contains(want), "{want} missing from {d}");
        }
        assert!(occurrence_note(&a, true).contains("reopened"));
        assert!(occurrence_note(&a, false).contains("again"));
        assert!(cleared_note(&a, Some("In Progress")).contains("In Progress"));
    }

    fn board() -> BoardCatalog {
        let status = |id: i64, name: &str, closed: bool| BoardStatus {
            id,
            name: Some(name.into()),
            board: None,
            closed_status: Some(closed),
            default_flag: None,
            inactive: None,
        };
        BoardCatalog {
            board_id: 1,
            board_name: Some("Alerts".into()),
            statuses: vec![
                status(1, "New", false),
                status(2, "Closed", true),
                status(3, "In Progress", false),
            ],
            types: vec![
                Named {
                    id: 10,
                    name: Some("Backup".into()),
                },
                Named {
                    id: 11,
                    name: Some("Other".into()),
                },
            ],
            subtypes: vec![BoardSubType {
                id: 20,
                name: Some("Failed".into()),
                board: None,
                type_association_ids: Some(vec![10]),
            }],
            priorities: vec![Named {
                id: 30,
                name: Some("P1".into()),
            }],
        }
    }

    fn mapped() -> AlertSettings {
        let mut s = AlertSettings {
            board_id: Some(1),
            auto_close: true,
            closing_status_id: Some(2),
            ..AlertSettings::default()
        };
        s.types.insert(
            "BackupFailed".into(),
            TypeMapping {
                status_id: 1,
                type_id: Some(10),
                subtype_id: Some(20),
                priority_id: Some(30),
            },
        );
        s
    }

    #[test]
    fn defaults_are_the_vendors() {
        let s = AlertSettings::default();
        assert!(!s.renew_after_closed && s.renew_after_days == 1 && !s.auto_close);
        assert!(s.types.is_empty() && s.board_id.is_none());
        assert!(s.validate().is_ok());
        assert!(s.mapping("BackupFailed").is_none());
    }

    #[test]
    fn another_versions_keys_are_read_and_missing_ones_default() {
        let s: AlertSettings = serde_json::from_str(r#"{"auto_close": false}"#).unwrap();
        assert_eq!(s, AlertSettings::default());
        let later: AlertSettings = serde_json::from_str(
            r#"{"autoclose": true, "types": {"BackupFailed": {"status_id": 1, "colour": 2}}}"#,
        )
        .unwrap();
        assert_eq!(later.types["BackupFailed"].status_id, 1);
        assert!(!later.auto_close);
    }

    #[test]
    fn validation_against_the_board_names_the_culprit() {
        assert!(mapped().validate_against(&board()).is_ok());
        type Edit = fn(&mut AlertSettings);
        let cases: [(Edit, &str); 10] = [
            (
                |s| s.types.get_mut("BackupFailed").unwrap().status_id = 99,
                "status 99 is not a status of board \"Alerts\" (1)",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().status_id = 2,
                "status \"Closed\" (2) is a closed status",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().type_id = Some(98),
                "BackupFailed: type 98 is not a type of board",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().subtype_id = Some(97),
                "subtype 97 is not a subtype",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().type_id = Some(11),
                "subtype \"Failed\" (20) does not go with type 11",
            ),
            (
                |s| s.types.get_mut("BackupFailed").unwrap().priority_id = Some(96),
                "priority 96 does not exist",
            ),
            (
                |s| s.closing_status_id = Some(95),
                "closing status 95 is not a status",
            ),
            (
                |s| s.closing_status_id = Some(3),
                "closing status \"In Progress\" (3) is not a closed status",
            ),
            (|s| s.board_id = Some(7), "board 7 does not exist"),
            (
                |s| s.closing_status_id = None,
                "auto_close needs closing_status_id",
            ),
        ];
        for (edit, want) in cases {
            let mut s = mapped();
            edit(&mut s);
            let err = s.validate_against(&board()).unwrap_err();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        let mut s = mapped();
        s.renew_after_days = 0;
        assert!(s.validate().unwrap_err().contains("renew_after_days"));
        let mut s = mapped();
        s.board_id = None;
        assert!(s.validate().unwrap_err().contains("board_id"));
    }

    fn record(
        state: TicketState,
        closed_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> AlertTicket {
        AlertTicket {
            unknown: Default::default(),
            alert_key: "k".into(),
            company_id: 1,
            ticket_id: (state != TicketState::Creating).then_some(5),
            state,
            last_alert_id: None,
            alert_type: None,
            tenant_id: None,
            occurrences: 1,
            closed_at,
            revision: 1,
            updated_at: at,
        }
    }

    #[test]
    fn decision_table() {
        use AlertEvent::{Cleared, Raised};
        use TicketAction as A;
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let day = Duration::days(1);
        let sec = Duration::seconds(1);
        let base = mapped();
        let renew3 = AlertSettings {
            renew_after_closed: true,
            renew_after_days: 3,
            ..mapped()
        };
        let no_close = AlertSettings {
            auto_close: false,
            ..mapped()
        };
        let open = record(TicketState::Open, None, now - day);
        let closed_rec = record(TicketState::Closed, Some(now - day * 3), now - day * 3);
        let creating_fresh = record(TicketState::Creating, None, now - sec);
        let creating_stale = record(
            TicketState::Creating,
            None,
            now - Duration::seconds(CREATING_LEASE_SECS),
        );
        let ours = TicketNow::Open { status_id: Some(1) };
        let moved = TicketNow::Open { status_id: Some(3) };
        let closed_at = |d: Duration| TicketNow::Closed {
            closed_at: Some(now - d),
        };
        type Case<'a> = (
            &'a str,
            AlertEvent,
            Option<&'a AlertTicket>,
            Option<TicketNow>,
            &'a AlertSettings,
            A,
        );
        let cases: Vec<Case> = vec![
            ("new alert", Raised, None, None, &base, A::Create),
            (
                "creating, fresh",
                Raised,
                Some(&creating_fresh),
                None,
                &base,
                A::Wait,
            ),
            (
                "creating, stale",
                Raised,
                Some(&creating_stale),
                None,
                &base,
                A::TakeOver {
                    record: creating_stale.clone(),
                },
            ),
            (
                "open ticket",
                Raised,
                Some(&open),
                Some(ours.clone()),
                &base,
                A::Note { ticket_id: 5 },
            ),
            (
                "open, moved",
                Raised,
                Some(&open),
                Some(moved.clone()),
                &base,
                A::Note { ticket_id: 5 },
            ),
            (
                "closed, renew off",
                Raised,
                Some(&open),
                Some(closed_at(day * 30)),
                &base,
                A::Reopen {
                    ticket_id: 5,
                    status_id: 1,
                },
            ),
            (
                "closed N days - 1s",
                Raised,
                Some(&open),
                Some(closed_at(day * 3 - sec)),
                &renew3,
                A::Reopen {
                    ticket_id: 5,
                    status_id: 1,
                },
            ),
            (
                "closed exactly N days",
                Raised,
                Some(&open),
                Some(closed_at(day * 3)),
                &renew3,
                A::Renew {
                    record: open.clone(),
                    previous: 5,
                },
            ),
            (
                "closed, date from record",
                Raised,
                Some(&closed_rec),
                Some(TicketNow::Closed { closed_at: None }),
                &renew3,
                A::Renew {
                    record: closed_rec.clone(),
                    previous: 5,
                },
            ),
            (
                "record closed, not read",
                Raised,
                Some(&closed_rec),
                None,
                &base,
                A::Reopen {
                    ticket_id: 5,
                    status_id: 1,
                },
            ),
            (
                "deleted in CW",
                Raised,
                Some(&open),
                Some(TicketNow::Missing),
                &base,
                A::Renew {
                    record: open.clone(),
                    previous: 5,
                },
            ),
            (
                "cleared, auto-close off",
                Cleared,
                Some(&open),
                Some(ours.clone()),
                &no_close,
                A::Leave("auto-close is off"),
            ),
            (
                "cleared, no record",
                Cleared,
                None,
                None,
                &base,
                A::Leave("no ticket for this alert"),
            ),
            (
                "cleared while creating",
                Cleared,
                Some(&creating_fresh),
                None,
                &base,
                A::Wait,
            ),
            (
                "cleared, ours",
                Cleared,
                Some(&open),
                Some(ours.clone()),
                &base,
                A::Close {
                    ticket_id: 5,
                    from_status_id: 1,
                    closing_status_id: 2,
                },
            ),
            (
                "cleared, moved by a technician",
                Cleared,
                Some(&open),
                Some(moved),
                &base,
                A::NoteCleared { ticket_id: 5 },
            ),
            (
                "cleared, already closed",
                Cleared,
                Some(&open),
                Some(closed_at(day)),
                &base,
                A::Leave("ticket already closed"),
            ),
            (
                "cleared, deleted",
                Cleared,
                Some(&open),
                Some(TicketNow::Missing),
                &base,
                A::Leave("ticket deleted in ConnectWise"),
            ),
        ];
        let m = &base.types["BackupFailed"];
        for (name, event, rec, now_state, s, want) in cases {
            assert_eq!(
                decide(event, rec, now_state.as_ref(), m, s, now),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn ticket_is_read_only_when_it_matters() {
        let now = Utc::now();
        let open = record(TicketState::Open, None, now);
        let creating = record(TicketState::Creating, None, now);
        let mut s = mapped();
        assert!(needs_ticket(AlertEvent::Raised, Some(&open), &s));
        assert!(needs_ticket(AlertEvent::Cleared, Some(&open), &s));
        assert!(!needs_ticket(AlertEvent::Raised, None, &s));
        assert!(!needs_ticket(AlertEvent::Raised, Some(&creating), &s));
        s.auto_close = false;
        assert!(!needs_ticket(AlertEvent::Cleared, Some(&open), &s));
    }

    #[test]
    fn the_poller_publishes_mapped_alerts_once_and_skips_the_rest() {
        let s = AlertSettings {
            types: [(
                "BackupFailed".to_owned(),
                TypeMapping {
                    status_id: 1,
                    type_id: None,
                    subtype_id: None,
                    priority_id: None,
                },
            )]
            .into(),
            board_id: Some(1),
            ..AlertSettings::default()
        };
        let raised = alert("BackupFailed", json!({}));
        assert_eq!(poll_step(&raised, true, Some(7), &s), PollStep::Duplicate);
        assert_eq!(
            poll_step(&raised, false, None, &s),
            PollStep::UnmappedTenant
        );
        assert_eq!(
            poll_step(&alert("Other", json!({})), false, Some(7), &s),
            PollStep::UnmappedType
        );
        assert_eq!(
            poll_step(&raised, false, Some(7), &s),
            PollStep::Publish {
                company_id: 7,
                event: AlertEvent::Raised
            }
        );
        let mut cleared = raised.clone();
        cleared.deleted_at = Some(Utc::now());
        assert_eq!(
            poll_step(&cleared, false, Some(7), &s),
            PollStep::Publish {
                company_id: 7,
                event: AlertEvent::Cleared
            }
        );
        assert_eq!(TicketAction::Note { ticket_id: 4 }.ticket_id(), Some(4));
        assert_eq!(TicketAction::Create.kind(), "create");
    }
}
