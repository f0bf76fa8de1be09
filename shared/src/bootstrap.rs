//! Cold-start wiring shared by the functions, the local runner and `acw`: settings, SDK
//! configuration, credentials and clients, each built once.

use anyhow::Context;

use crate::acronis::Connections;
use crate::bus::EventBus;
use crate::connectwise::ConnectWiseClient;
use crate::domain::request_budget::Rate;
use crate::http::{RetryPolicy, Transport, build_client};
use crate::request_budget::{TableBudget, product_clock};
use crate::runs::Recorder;
use crate::secrets::{Credentials, SecretError, SecretReloader};
use crate::services::provisioning::Provisioning;
use crate::settings::Settings;
use crate::store::Store;

/// Everything a function that talks to both APIs needs.
#[derive(Debug, Clone)]
pub struct Deps {
    pub settings: Settings,
    pub store: Store,
    pub bus: EventBus,
    pub cw: ConnectWiseClient,
    /// The Acronis connections (one client per partner tenant and data centre).
    pub connections: Connections,
    /// The bus consumers' dead-letter queues (the reconciler's redrive), when the stack's
    /// name (`STACK_NAME`) is known.
    pub dead_letters: Option<std::sync::Arc<crate::queues::SqsQueues>>,
}

impl Deps {
    /// A function's cold start: reads the environment and the secret, and builds the clients
    /// (no API is called: the ConnectWise codebase is discovered on first use unless the
    /// secret names it). The SDK configuration is Lambda's own ([`crate::aws::lambda_config`]).
    pub async fn from_env(function: crate::functions::Function) -> anyhow::Result<Self> {
        let settings = Settings::from_env()?.of(function);
        let aws = crate::aws::lambda_config()?;
        Self::build(settings, &aws).await
    }

    /// [`Deps::from_env`] with the given settings and SDK configuration (the local runner
    /// gives each function the credentials of its own role).
    pub async fn build(settings: Settings, aws: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let secrets = aws_sdk_secretsmanager::Client::new(aws);
        let creds = Credentials::load(&secrets, &settings.secret_id).await?;
        let reloader = SecretReloader::new(
            secrets,
            &settings.secret_id,
            creds.clone(),
            settings.secret_reload,
        );
        let http = build_client(&settings.http).context("building the HTTP client")?;
        let policy = RetryPolicy::from_settings(&settings.http);
        let store = Store::new(aws_sdk_dynamodb::Client::new(aws), &settings.table_name);
        let mut cw_transport = Transport::new(
            http.clone(),
            policy.clone(),
            settings.http.connectwise_concurrency,
        );
        if let Some(rate) = Rate::per_scaled_minute(
            settings.http.connectwise_requests_per_minute,
            settings.http.budget_minute.as_micros() as i64,
        ) {
            cw_transport = cw_transport.with_budget(std::sync::Arc::new(TableBudget::new(
                store.clone(),
                rate,
                settings.http.budget_priority,
                product_clock(),
            )));
        }
        let cw = ConnectWiseClient::new(&creds.connectwise, cw_transport)?
            .with_reloader(reloader.clone());
        let concurrency = settings.http.acronis_concurrency;
        let connections = Connections::new(
            &creds.acronis,
            std::sync::Arc::new(move || Transport::new(http.clone(), policy.clone(), concurrency)),
        )?
        .with_reloader(reloader, crate::acronis::connections::REFRESH);
        Ok(Self {
            store,
            bus: EventBus::new(
                aws_sdk_eventbridge::Client::new(aws),
                &settings.event_bus_name,
            ),
            dead_letters: settings.stack_name.as_ref().map(|stack| {
                std::sync::Arc::new(crate::queues::SqsQueues::new(
                    aws_sdk_sqs::Client::new(aws),
                    stack,
                ))
            }),
            settings,
            cw,
            connections,
        })
    }

    /// The run bookkeeping (`RUN_RETENTION_DAYS`, metric lines on stdout).
    pub fn recorder(&self) -> Recorder {
        Recorder::new(self.store.clone(), run_retention())
    }

    pub fn provisioning(&self) -> Provisioning {
        Provisioning::new(
            self.cw.clone(),
            self.connections.clone(),
            self.store.clone(),
        )
    }

    /// The usage push, tuned from `USAGE_SHARD_SIZE` and `USAGE_CONCURRENCY`.
    pub fn usage_push(&self) -> crate::services::usage::UsagePush {
        crate::services::usage::UsagePush::new(
            self.cw.clone(),
            self.connections.clone(),
            self.store.clone(),
            crate::services::usage::UsageOptions::from_env(),
        )
    }
}

/// What a stack whose secret has not been filled yet records on each scheduled run.
pub const NOT_CONFIGURED: &str = "not configured: fill the secret (stack output SecretArn)";

/// A scheduled function's dependencies, built at its cold start or, on a stack whose secret
/// is still empty (as the template creates it), at the first run after it is filled. Until
/// then each run records [`NOT_CONFIGURED`] (the `NotConfigured` metric, its one alarm) and
/// succeeds: an unfilled secret is not a failure to retry or dead-letter every minute.
#[derive(Debug)]
pub struct Scheduled {
    settings: Settings,
    aws: aws_config::SdkConfig,
    /// The run records, which need no credentials.
    pub recorder: Recorder,
    deps: tokio::sync::Mutex<Option<Deps>>,
}

impl Scheduled {
    /// A scheduled function's cold start: [`Deps::from_env`], unless the secret is unfilled.
    pub async fn from_env(function: crate::functions::Function) -> anyhow::Result<Self> {
        Self::build(
            Settings::from_env()?.of(function),
            crate::aws::lambda_config()?,
        )
        .await
    }

    /// [`Scheduled::from_env`] with the given settings and SDK configuration.
    pub async fn build(settings: Settings, aws: aws_config::SdkConfig) -> anyhow::Result<Self> {
        let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), &settings.table_name);
        let this = Self {
            recorder: Recorder::new(store, run_retention()),
            deps: tokio::sync::Mutex::new(None),
            settings,
            aws,
        };
        this.deps().await?;
        Ok(this)
    }

    /// The dependencies, or `None` while the secret is unfilled (read again on each call;
    /// a run a minute costs one secret read a minute). Any other failure is an error.
    pub async fn deps(&self) -> anyhow::Result<Option<Deps>> {
        let mut deps = self.deps.lock().await;
        if deps.is_none() {
            match Deps::build(self.settings.clone(), &self.aws).await {
                Ok(d) => *deps = Some(d),
                Err(e) if e.downcast_ref::<SecretError>().is_some_and(unfilled) => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(deps.clone())
    }

    /// One scheduled run: `work` with the dependencies, or the not-configured run record.
    pub async fn run<T, F>(
        &self,
        function: crate::functions::Function,
        work: F,
    ) -> Result<serde_json::Value, BoxError>
    where
        T: serde::Serialize,
        F: AsyncFnOnce(Deps) -> Result<T, BoxError>,
    {
        match self.deps().await? {
            Some(deps) => Ok(serde_json::to_value(work(deps).await?)?),
            None => {
                tracing::warn!(function = %function, "{NOT_CONFIGURED}");
                let mut run = crate::store::RunRecord::start(function.name());
                run.count(crate::runs::NOT_CONFIGURED_COUNT, 1);
                run.changes.push(crate::store::Change {
                    subject: "secret".into(),
                    field: "status".into(),
                    old: None,
                    new: serde_json::Value::String(NOT_CONFIGURED.into()),
                    basis: None,
                });
                self.recorder.finish(&mut run).await?;
                Ok(serde_json::json!({"outcome": "not_configured", "reason": NOT_CONFIGURED}))
            }
        }
    }
}

/// An unfilled secret: the template's `{}`, or every required key missing.
fn unfilled(e: &SecretError) -> bool {
    match e {
        SecretError::Fields {
            missing, invalid, ..
        } => invalid.is_empty() && missing.len() == crate::secrets::REQUIRED.len(),
        _ => false,
    }
}

/// The error a Lambda handler returns (`lambda_runtime::Error`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Days run records are kept (`RUN_RETENTION_DAYS`, default 30).
pub fn run_retention() -> std::time::Duration {
    let days = std::env::var("RUN_RETENTION_DAYS")
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .filter(|d| (1..=3650).contains(d))
        .unwrap_or(30);
    std::time::Duration::from_secs(days * 86_400)
}
