//! Cold-start wiring shared by the functions, the local runner and `acw`: settings, SDK
//! configuration, credentials and clients, each built once.

use anyhow::Context;

use crate::acronis::AcronisClient;
use crate::bus::EventBus;
use crate::connectwise::ConnectWiseClient;
use crate::http::{RetryPolicy, Transport, build_client};
use crate::runs::Recorder;
use crate::secrets::Credentials;
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
    pub acronis: AcronisClient,
}

impl Deps {
    /// A function's cold start: reads the environment and the secret, and builds the clients
    /// (no API is called: the ConnectWise codebase is discovered on first use unless the
    /// secret names it). The SDK configuration is Lambda's own ([`crate::aws::lambda_config`]).
    pub async fn from_env() -> anyhow::Result<Self> {
        let settings = Settings::from_env()?;
        let aws = crate::aws::lambda_config()?;
        Self::build(settings, &aws).await
    }

    /// [`Deps::from_env`] with the given settings and SDK configuration (the local runner
    /// gives each function the credentials of its own role).
    pub async fn build(settings: Settings, aws: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let creds = Credentials::load(
            &aws_sdk_secretsmanager::Client::new(aws),
            &settings.secret_id,
        )
        .await?;
        let http = build_client(&settings.http).context("building the HTTP client")?;
        let policy = RetryPolicy::from_settings(&settings.http);
        let cw = ConnectWiseClient::new(
            &creds.connectwise,
            Transport::new(
                http.clone(),
                policy.clone(),
                settings.http.connectwise_concurrency,
            ),
        )?;
        let acronis = AcronisClient::new(
            &creds.acronis,
            Transport::new(http, policy, settings.http.acronis_concurrency),
        )?;
        Ok(Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(aws), &settings.table_name),
            bus: EventBus::new(
                aws_sdk_eventbridge::Client::new(aws),
                &settings.event_bus_name,
            ),
            settings,
            cw,
            acronis,
        })
    }

    /// The run bookkeeping (`RUN_RETENTION_DAYS`, metric lines on stdout).
    pub fn recorder(&self) -> Recorder {
        Recorder::new(self.store.clone(), run_retention())
    }

    pub fn provisioning(&self) -> Provisioning {
        Provisioning::new(self.cw.clone(), self.acronis.clone(), self.store.clone())
    }

    /// The usage push, tuned from `USAGE_SHARD_SIZE` and `USAGE_CONCURRENCY`.
    pub fn usage_push(&self) -> crate::services::usage::UsagePush {
        crate::services::usage::UsagePush::new(
            self.cw.clone(),
            self.acronis.clone(),
            self.store.clone(),
            crate::services::usage::UsageOptions::from_env(),
        )
    }
}

/// Days run records are kept (`RUN_RETENTION_DAYS`, default 30).
pub fn run_retention() -> std::time::Duration {
    let days = std::env::var("RUN_RETENTION_DAYS")
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .filter(|d| (1..=3650).contains(d))
        .unwrap_or(30);
    std::time::Duration::from_secs(days * 86_400)
}
