//! The alert's key and the ticket's texts: summary, description, notes.

use super::*;
use crate::domain::connection::ConnectionName;

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
    alert_key_in(&ConnectionName::default(), alert)
}

/// What every alert key starts with (then `:`, `@{connection}` or `#`).
pub const ALERT_KEY_SCHEME: &str = "acr";

/// Whether `x` (a ticket's `externalXRef`) is an alert key this product wrote, in any of
/// its forms (`acr:…`, `acr@{connection}:…`, `acr#…`, `acr@{connection}#…`).
pub fn is_alert_key(x: &str) -> bool {
    x.strip_prefix(ALERT_KEY_SCHEME)
        .is_some_and(|rest| rest.starts_with([':', '@', '#']))
}

/// [`alert_key`] of an alert of `connection`: the `default` connection's keys are those
/// stored before there were several (an open ticket keeps its key across the upgrade);
/// another's carry its name, so two data centres never share a key.
pub fn alert_key_in(connection: &ConnectionName, alert: &Alert) -> String {
    let scheme = if connection.is_default() {
        ALERT_KEY_SCHEME.to_owned()
    } else {
        format!("{ALERT_KEY_SCHEME}@{connection}")
    };
    let tenant = alert
        .tenant
        .uuid
        .as_deref()
        .or(alert.tenant.id.as_deref())
        .unwrap_or("-")
        .to_lowercase();
    let resource = resource_of(alert).unwrap_or_else(|| "-".into());
    let long = format!("{scheme}:{tenant}:{}:{resource}", alert.alert_type);
    if long.chars().count() <= MAX_XREF {
        long
    } else {
        let digest = Sha256::digest(long.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{scheme}#{hex}")
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
