//! Wiring: the environment, the store, the clients, and the audit log. [`Ctx`] builds each
//! dependency on first use and keeps it for the rest of the process (the console runs many
//! commands in one process: it builds them once).

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;
use shared::bootstrap::Deps;
use shared::bus::EventBus;
use shared::settings::Settings;
use shared::store::{AuditEntry, Store};

use shared::queues::SqsQueues;
use shared::runs::{MetricLog, Recorder};
use shared::store::RunRecord;
use tokio::sync::OnceCell;

/// How long `acw`'s audit entries are kept.
const AUDIT_RETENTION: Duration = Duration::from_secs(365 * 86_400);

const ENV_HINT: &str = "acw reads TABLE_NAME, EVENT_BUS_NAME, SECRET_ID, STACK_NAME and the \
                        usual AWS variables (region, credentials, AWS_ENDPOINT_URL); on the local \
                        stack: `set -a; source target/local/env; set +a`";

/// What every command gets: the output mode, and its dependencies, each built on first use
/// and then shared by every command this process runs.
#[derive(Debug, Default)]
pub struct Ctx {
    pub json: bool,
    aws: OnceCell<aws_config::SdkConfig>,
    store: OnceCell<Store>,
    bus: OnceCell<EventBus>,
    deps: OnceCell<Deps>,
    api: OnceCell<ApiAccess>,
    queues: OnceCell<(String, SqsQueues)>,
}

impl Ctx {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            ..Self::default()
        }
    }

    /// The AWS configuration (the full provider chain: profiles, SSO), loaded once.
    pub async fn aws(&self) -> &aws_config::SdkConfig {
        self.aws.get_or_init(shared::aws::load_config).await
    }

    /// The table alone (settings and mappings need neither API); the one of [`Ctx::deps`]
    /// once those are built.
    pub async fn store(&self) -> Result<&Store> {
        self.own_or_deps(
            &self.store,
            |d| &d.store,
            "TABLE_NAME",
            |aws, table| Store::new(aws_sdk_dynamodb::Client::new(aws), table),
        )
        .await
    }

    /// The bus (`EVENT_BUS_NAME`).
    pub async fn bus(&self) -> Result<&EventBus> {
        self.own_or_deps(
            &self.bus,
            |d| &d.bus,
            "EVENT_BUS_NAME",
            |aws, name| EventBus::new(aws_sdk_eventbridge::Client::new(aws), name),
        )
        .await
    }

    /// The one [`Ctx::deps`] holds once built (`of_deps`), else `cell`'s, built on first use
    /// from the environment variable `var`: a command that needs only the store or the bus
    /// does not wait for both APIs, and still shares one client with one that does.
    async fn own_or_deps<'a, T>(
        &'a self,
        cell: &'a OnceCell<T>,
        of_deps: impl FnOnce(&'a Deps) -> &'a T,
        var: &'static str,
        build: impl FnOnce(&aws_config::SdkConfig, String) -> T,
    ) -> Result<&'a T> {
        if let Some(deps) = self.deps.get() {
            return Ok(of_deps(deps));
        }
        cell.get_or_try_init(|| async {
            let value = shared::settings::required(&|n| std::env::var(n).ok(), var)
                .map_err(|e| anyhow!("{e} ({ENV_HINT})"))?;
            Ok(build(self.aws().await, value))
        })
        .await
    }

    /// Settings, store, bus and both clients.
    pub async fn deps(&self) -> Result<&Deps> {
        self.deps
            .get_or_try_init(|| async {
                let mut settings = settings()?;
                // An operator waits for it: urgent in ConnectWise's request budget.
                settings.http.budget_priority = shared::domain::request_budget::Priority::Urgent;
                Deps::build(settings, self.aws().await)
                    .await
                    .context("connecting to ConnectWise and Acronis (check both with `acw setup`)")
            })
            .await
    }

    /// The settings, the credentials and a transport, for commands that check the APIs
    /// themselves.
    pub async fn api(&self) -> Result<&ApiAccess> {
        self.api
            .get_or_try_init(|| ApiAccess::load(self.aws()))
            .await
    }

    /// The stack's name (`STACK_NAME`) and its dead-letter queues.
    pub async fn queues(&self) -> Result<(&str, &SqsQueues)> {
        let (stack, queues) = self
            .queues
            .get_or_try_init(|| async {
                let stack = stack_name()?;
                let queues = SqsQueues::new(aws_sdk_sqs::Client::new(self.aws().await), &stack);
                Ok::<_, anyhow::Error>((stack, queues))
            })
            .await?;
        Ok((stack, queues))
    }

    /// Ends and stores the run record of a change `acw` made, as the functions record theirs
    /// (`shared::runs::Recorder`), so that `acw status` shows it; no metric line (the output
    /// is the command's own).
    pub async fn record(&self, run: &mut RunRecord) -> Result<()> {
        let store = self.store().await?.clone();
        Recorder::new(store, shared::bootstrap::run_retention())
            .with_log(MetricLog::Off)
            .finish(run)
            .await
            .context("storing the run record")
    }

    /// Records an administrative action.
    pub async fn audit(&self, action: &str, subject: &str, detail: Value) -> Result<()> {
        audit(self.store().await?, action, subject, detail).await
    }
}

/// The environment settings, with what to set when one is missing.
pub fn settings() -> Result<Settings> {
    Settings::from_env().map_err(|e| anyhow!("{e} ({ENV_HINT})"))
}

/// The stack's name (`STACK_NAME`), which names its dead-letter queues.
pub fn stack_name() -> Result<String> {
    shared::settings::required(&|n| std::env::var(n).ok(), "STACK_NAME").map_err(|e| {
        anyhow!(
            "{e}: the CloudFormation stack's name, which names its dead-letter queues ({ENV_HINT})"
        )
    })
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
    async fn load(aws: impl std::future::Future<Output = &aws_config::SdkConfig>) -> Result<Self> {
        let settings = settings()?;
        let creds = shared::secrets::Credentials::load(
            &aws_sdk_secretsmanager::Client::new(aws.await),
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
