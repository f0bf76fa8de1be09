//! Callback registration: exactly one ConnectWise callback per record type we follow,
//! pointing at the webhook. Run twice, it changes nothing; callbacks of ours that point
//! elsewhere (an old deployment's URL) or duplicate one another are removed.
//!
//! Ours are recognised by their description prefix, so callbacks other integrations
//! registered are never touched.

use std::future::Future;

use crate::connectwise::models::{CallbackEntry, NewCallback};
use crate::connectwise::{ConnectWiseClient, CwError, ListQuery};
pub use crate::domain::callbacks::{DESCRIPTION_PREFIX, Revival};
use crate::domain::callbacks::{is_ours, revivals};

#[cfg(test)]
mod tests;

/// What registration needs from ConnectWise: its callback registrations.
pub trait CallbackApi: Send + Sync {
    /// Every registration, ours and other integrations'.
    fn callbacks(&self) -> impl Future<Output = Result<Vec<CallbackEntry>, CwError>> + Send;
    fn create_callback(
        &self,
        c: &NewCallback,
    ) -> impl Future<Output = Result<CallbackEntry, CwError>> + Send;
    fn delete_callback(&self, id: i64) -> impl Future<Output = Result<(), CwError>> + Send;
}

impl CallbackApi for ConnectWiseClient {
    async fn callbacks(&self) -> Result<Vec<CallbackEntry>, CwError> {
        ConnectWiseClient::callbacks(self, &ListQuery::default()).await
    }
    async fn create_callback(&self, c: &NewCallback) -> Result<CallbackEntry, CwError> {
        ConnectWiseClient::create_callback(self, c).await
    }
    async fn delete_callback(&self, id: i64) -> Result<(), CwError> {
        ConnectWiseClient::delete_callback(self, id).await
    }
}
/// The record types we always follow, at owner level (every record; the provisioner
/// filters).
pub const TYPES: [&str; 2] = ["company", "agreement"];

/// One registration we want: a record type at a level (`owner`, or `board` with the board's
/// id as `object_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub kind: String,
    pub level: String,
    pub object_id: i64,
}

impl Wanted {
    fn owner(kind: &str) -> Self {
        Self {
            kind: kind.into(),
            level: "owner".into(),
            object_id: 1,
        }
    }

    /// The tickets of one board (ConnectWise's Board level).
    pub fn tickets_of_board(board_id: i64) -> Self {
        Self {
            kind: "ticket".into(),
            level: "board".into(),
            object_id: board_id,
        }
    }

    /// How reports name it: `company`, or `ticket board 12`.
    pub fn name(&self) -> String {
        if self.level == "owner" {
            self.kind.clone()
        } else {
            format!("{} {} {}", self.kind, self.level, self.object_id)
        }
    }
}

/// What we follow: companies and agreements always; the alert board's tickets when a
/// technician's close dismisses alerts (`clear_alert_on_close`).
pub fn wanted(alerts: &crate::domain::alerts::AlertSettings) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = TYPES.iter().map(|k| Wanted::owner(k)).collect();
    if alerts.clear_alert_on_close
        && let Some(board) = alerts.board_id
    {
        out.push(Wanted::tickets_of_board(board));
    }
    out
}

/// What registration did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registration {
    pub created: Vec<String>,
    pub kept: Vec<i64>,
    pub removed: Vec<i64>,
}

fn description(w: &Wanted) -> String {
    format!("{DESCRIPTION_PREFIX}: {}", w.name())
}

fn matches(c: &CallbackEntry, w: &Wanted, url: &str) -> bool {
    c.callback_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(&w.kind))
        && c.level
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(&w.level))
        // Owner level takes any object id (ConnectWise wants one, we send 1).
        && (w.level == "owner" || c.object_id == Some(w.object_id))
        && c.url.as_deref() == Some(url)
        && c.inactive_flag != Some(true)
}

/// [`register_wanted`] with what is always followed (companies and agreements).
pub async fn register(
    cw: &impl CallbackApi,
    webhook_url: &str,
    dry_run: bool,
) -> Result<Registration, CwError> {
    let always = wanted(&crate::domain::alerts::AlertSettings::default());
    register_wanted(cw, webhook_url, &always, dry_run).await
}

/// Brings the callbacks to exactly one per `wanted` registration at `webhook_url` (with
/// `dry_run`, reports what it would do).
pub async fn register_wanted(
    cw: &impl CallbackApi,
    webhook_url: &str,
    wanted: &[Wanted],
    dry_run: bool,
) -> Result<Registration, CwError> {
    let url = url::Url::parse(webhook_url)
        .map_err(|e| CwError::Config(format!("webhook URL {webhook_url:?}: {e}")))?;
    if url.scheme() != "https" && !matches!(url.host_str(), Some("127.0.0.1" | "localhost")) {
        return Err(CwError::Config(format!(
            "webhook URL {webhook_url:?} must use https"
        )));
    }
    let existing: Vec<CallbackEntry> = cw.callbacks().await?.into_iter().filter(is_ours).collect();
    let mut report = Registration::default();
    let mut keep = Vec::new();
    for w in wanted {
        match existing.iter().find(|c| matches(c, w, webhook_url)) {
            Some(c) => keep.push(c.id),
            None => {
                report.created.push(w.name());
                if !dry_run {
                    let created = cw
                        .create_callback(&NewCallback {
                            url: webhook_url.to_owned(),
                            object_id: w.object_id,
                            callback_type: w.kind.clone(),
                            level: w.level.clone(),
                            description: description(w),
                            inactive_flag: false,
                        })
                        .await?;
                    keep.push(created.id);
                }
            }
        }
    }
    for c in &existing {
        if keep.contains(&c.id) {
            report.kept.push(c.id);
        } else {
            report.removed.push(c.id);
            if !dry_run {
                match cw.delete_callback(c.id).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(report)
}

/// Why a revival stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReviveError {
    /// The callbacks could not be listed: nothing changed; the next cycle tries again.
    #[error("listing the callbacks: {0}")]
    List(CwError),
    /// A disabled callback could not be replaced: it may be gone with no replacement, so a
    /// person registers it again (`acw setup`).
    #[error("registering the {callback_type} callback at {url} again: {source}; run `acw setup`")]
    Replace {
        callback_type: String,
        url: String,
        source: CwError,
    },
}

/// Registers again each of our callbacks ConnectWise disabled (after three days of failed
/// deliveries): the disabled one is deleted, then the same registration made active
/// (ConnectWise refuses a registration identical to an existing one, disabled or not).
pub async fn revive_disabled(cw: &impl CallbackApi) -> Result<Vec<Revival>, ReviveError> {
    let registered = cw.callbacks().await.map_err(ReviveError::List)?;
    let plan = revivals(&registered);
    for r in &plan {
        let replace = async {
            match cw.delete_callback(r.disabled_id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            cw.create_callback(&r.replacement).await.map(|_| ())
        };
        replace.await.map_err(|source| ReviveError::Replace {
            callback_type: r.callback_type.clone(),
            url: r.url.clone(),
            source,
        })?;
    }
    Ok(plan)
}
