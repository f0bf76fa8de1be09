//! Wiring: the environment, the store, the clients, and the audit log.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;
use shared::bootstrap::Deps;
use shared::bus::EventBus;
use shared::settings::Settings;
use shared::store::{AuditEntry, Store};

use shared::queues::SqsQueues;

/// How long `acw`'s audit entries are kept.
const AUDIT_RETENTION: Duration = Duration::from_secs(365 * 86_400);

const ENV_HINT: &str = "acw reads TABLE_NAME, EVENT_BUS_NAME, SECRET_ID, STACK_NAME and the \
                        usual AWS variables (region, credentials, AWS_ENDPOINT_URL); on the local \
                        stack: `set -a; source target/local/env; set +a`";

/// What every command gets.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub json: bool,
}

/// The environment settings, with what to set when one is missing.
pub fn settings() -> Result<Settings> {
    Settings::from_env().map_err(|e| anyhow!("{e} ({ENV_HINT})"))
}

/// The table alone (settings and mappings need neither API).
pub async fn store() -> Result<Store> {
    let table = shared::settings::required(&|n| std::env::var(n).ok(), "TABLE_NAME")
        .map_err(|e| anyhow!("{e} ({ENV_HINT})"))?;
    let aws = shared::aws::load_config().await;
    Ok(Store::new(aws_sdk_dynamodb::Client::new(&aws), table))
}

/// The stack's name (`STACK_NAME`), which names its dead-letter queues.
pub fn stack_name() -> Result<String> {
    shared::settings::required(&|n| std::env::var(n).ok(), "STACK_NAME").map_err(|e| {
        anyhow!(
            "{e}: the CloudFormation stack's name, which names its dead-letter queues ({ENV_HINT})"
        )
    })
}

/// The stack's dead-letter queues.
pub async fn queues(stack: &str) -> SqsQueues {
    let aws = shared::aws::load_config().await;
    SqsQueues::new(aws_sdk_sqs::Client::new(&aws), stack)
}

/// The bus (`EVENT_BUS_NAME`).
pub async fn bus() -> Result<EventBus> {
    let name = shared::settings::required(&|n| std::env::var(n).ok(), "EVENT_BUS_NAME")
        .map_err(|e| anyhow!("{e} ({ENV_HINT})"))?;
    let aws = shared::aws::load_config().await;
    Ok(EventBus::new(aws_sdk_eventbridge::Client::new(&aws), name))
}

/// What a command that checks the APIs itself needs: the settings, the credentials (read
/// from the secret, not yet used) and a transport to build clients with.
#[derive(Debug)]
pub struct ApiAccess {
    pub settings: Settings,
    pub creds: shared::secrets::Credentials,
    http: reqwest::Client,
    policy: shared::http::RetryPolicy,
}

impl ApiAccess {
    pub async fn load() -> Result<Self> {
        let settings = settings()?;
        let aws = shared::aws::load_config().await;
        let creds = shared::secrets::Credentials::load(
            &aws_sdk_secretsmanager::Client::new(&aws),
            &settings.secret_id,
        )
        .await
        .context("reading the credentials secret")?;
        let http =
            shared::http::build_client(&settings.http).context("building the HTTP client")?;
        let policy = shared::http::RetryPolicy::from_settings(&settings.http);
        Ok(Self {
            settings,
            creds,
            http,
            policy,
        })
    }

    /// The HTTP client (no retries), for probes that must see each answer.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A transport with `concurrency` requests in flight at most.
    pub fn transport(&self, concurrency: usize) -> shared::http::Transport {
        shared::http::Transport::new(self.http.clone(), self.policy.clone(), concurrency)
    }
}

/// Settings, store, bus and both clients.
pub async fn deps() -> Result<Deps> {
    let mut settings = settings()?;
    // An operator waits for it: urgent in ConnectWise's request budget.
    settings.http.budget_priority = shared::domain::request_budget::Priority::Urgent;
    // acw runs on an engineer's machine: the full provider chain (profiles, SSO).
    Deps::build(settings, &shared::aws::load_config().await)
        .await
        .context("connecting to ConnectWise and Acronis (check both with `acw setup`)")
}

/// Who did it, for the audit log (`acw:<user>`, or `acw console:<user>` for a change made
/// on the console's page).
pub fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    if crate::output::capturing() {
        format!("acw console:{user}")
    } else {
        format!("acw:{user}")
    }
}

/// Records an administrative action.
pub async fn audit(store: &Store, action: &str, subject: &str, detail: Value) -> Result<()> {
    let entry = AuditEntry {
        id: uuid::Uuid::new_v4().to_string(),
        at: chrono::Utc::now(),
        actor: actor(),
        action: action.into(),
        subject: subject.into(),
        detail,
    };
    store
        .append_audit(&entry, AUDIT_RETENTION)
        .await
        .context("writing the audit entry")
}
