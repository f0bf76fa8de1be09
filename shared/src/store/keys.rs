//! Key patterns of the single table. Every item has `pk` and `sk`; items that belong to a
//! collection the functions walk also carry `gsi1pk`/`gsi1sk` (index `gsi1`); items that
//! expire carry `ttl` (epoch seconds, the table's TTL attribute).
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | company → tenant mapping | `COMPANY#{cw company id}` | `MAPPING` | `MAPPINGS` / `COMPANY#{id:012}` |
//! | tenant → company mapping | `TENANT#{tenant uuid}` | `MAPPING` | `SWEEP#{slot:02}` / `COMPANY#{id:012}` (the daily sweep's slot) |
//! | provisioning claim (lease, single flight: owner, lease, since_ms, read_ms, dirty_ms) | `COMPANY#{id}` | `CLAIM` | – (ttl) |
//! | tenant disabled by deprovisioning | `COMPANY#{id}` | `DISABLED` | – |
//! | deprovisioning clock (not qualifying) | `COMPANY#{id}` | `NOT_QUALIFYING` | `DEPROVISIONING` / `COMPANY#{id:012}` |
//! | deferred while its job was paused | `COMPANY#{id}` | `DEFERRED` | `DEFERRED` / `COMPANY#{id:012}` |
//! | next day its agreements change it | `COMPANY#{id}` | `NEXT_CHANGE` | `DATES` / `{yyyy-mm-dd}#COMPANY#{id:012}` |
//! | settings section | `SETTINGS` | `{section}` | – |
//! | product mapping | `PRODUCT_MAP` | `ITEM#{offering item}#{infra id or -}` (connection `default`), `CONN#{connection}#ITEM#…` (another) | – |
//! | addition record | `AGREEMENT#{agreement id}` | `ADDITION#{product id}` | `ADDITIONS` / `COMPANY#{id:012}#AGREEMENT#{id:012}` |
//! | agreement with a missing addition | `MISSING_ADDITIONS` | `AGREEMENT#{agreement id}` | – |
//! | needs-attention ticket | `ATTENTION#{attn:job:company}` | `TICKET` | – |
//! | alert ↔ ticket | `ALERT#{alert key}` | `TICKET` | `OPEN_TICKETS` / `{alert key}` while open |
//! | cursor | `CURSOR` | `{name}` | – |
//! | dedupe record | `DEDUPE#{scope}#{id}` | `DEDUPE` | – (ttl) |
//! | verified callback (a dedupe record) | `DEDUPE#callback#{message id}` | `DEDUPE` | `CALLBACKS` / `{seen at}#{message id}` (ttl) |
//! | run record | `RUN#{function}` | `{started at RFC3339}#{run id}` | – (ttl) |
//! | ConnectWise request budget (GCRA `tat`, µs) | `BUDGET` | `connectwise` | – |
//! | audit entry | `AUDIT#{yyyy-mm-dd}` | `{at RFC3339}#{id}` | – (ttl) |

pub const MAPPING: &str = "MAPPING";
pub const CLAIM: &str = "CLAIM";
pub const DISABLED: &str = "DISABLED";
pub const NOT_QUALIFYING: &str = "NOT_QUALIFYING";
pub const NEXT_CHANGE: &str = "NEXT_CHANGE";
pub const DEFERRED: &str = "DEFERRED";
pub const MISSING_ADDITIONS: &str = "MISSING_ADDITIONS";
pub const SETTINGS: &str = "SETTINGS";
pub const PRODUCT_MAP: &str = "PRODUCT_MAP";
pub const CURSOR: &str = "CURSOR";
pub const DEDUPE: &str = "DEDUPE";
pub const TICKET: &str = "TICKET";
pub const MAPPINGS_INDEX: &str = "MAPPINGS";
pub const ADDITIONS_INDEX: &str = "ADDITIONS";
pub const OPEN_TICKETS_INDEX: &str = "OPEN_TICKETS";
pub const CALLBACKS_INDEX: &str = "CALLBACKS";
pub const DEPROVISIONING_INDEX: &str = "DEPROVISIONING";
pub const DATES_INDEX: &str = "DATES";
pub const DEFERRED_INDEX: &str = "DEFERRED";
pub const GSI1: &str = "gsi1";

pub fn company(id: i64) -> String {
    format!("COMPANY#{id}")
}
pub fn tenant(id: &str) -> String {
    format!("TENANT#{id}")
}
/// Sorts companies numerically in the index.
pub fn company_sort(id: i64) -> String {
    format!("COMPANY#{id:012}")
}
/// The `gsi1pk` of the mappings in one slot of the daily sweep.
pub fn sweep(slot: i64) -> String {
    format!("SWEEP#{slot:02}")
}
/// A product mapping's sort key: the `default` connection's as before there were several;
/// another connection's under its own prefix, which versions before them do not read as
/// theirs (they read `ITEM#…`).
pub fn product_item(
    connection: &crate::domain::connection::ConnectionName,
    offering_item: &str,
    infra_id: Option<&str>,
) -> String {
    let item = format!("ITEM#{offering_item}#{}", infra_id.unwrap_or("-"));
    if connection.is_default() {
        item
    } else {
        format!("CONN#{connection}#{item}")
    }
}
pub fn agreement(id: i64) -> String {
    format!("AGREEMENT#{id}")
}
pub fn addition(product_id: i64) -> String {
    format!("ADDITION#{product_id}")
}
pub fn addition_sort(company_id: i64, agreement_id: i64) -> String {
    format!("COMPANY#{company_id:012}#AGREEMENT#{agreement_id:012}")
}
/// The `gsi1sk` bounds holding the addition records of companies `first..=last`.
pub fn addition_company_range(first: i64, last: i64) -> (String, String) {
    (
        format!("COMPANY#{first:012}#"),
        // '~' sorts after every character of an agreement sort key.
        format!("COMPANY#{last:012}#~"),
    )
}
pub fn attention(key: &str) -> String {
    format!("ATTENTION#{key}")
}
pub fn alert(key: &str) -> String {
    format!("ALERT#{key}")
}
/// Sorts callbacks by when they were seen (fixed-width UTC, so text order is time order).
pub fn callback_sort(at: chrono::DateTime<chrono::Utc>, message_id: &str) -> String {
    format!(
        "{}#{message_id}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}
/// Sorts next-change days by day.
pub fn date_sort(day: chrono::NaiveDate, company_id: i64) -> String {
    format!("{}#{}", day.format("%Y-%m-%d"), company_sort(company_id))
}
pub fn dedupe(scope: &str, id: &str) -> String {
    format!("DEDUPE#{scope}#{id}")
}
pub fn run(function: &str) -> String {
    format!("RUN#{function}")
}
pub fn audit_day(date: chrono::NaiveDate) -> String {
    format!("AUDIT#{}", date.format("%Y-%m-%d"))
}
