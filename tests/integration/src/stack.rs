//! The one local stack fixture every integration test and benchmark starts: moto (a fresh
//! table; a fresh bus and queue on demand), both simulators in process on free ports, and
//! clients of both. Each test gets its own, so tests run in parallel without sharing state.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use aws_config::SdkConfig;
use shared::acronis::AcronisClient;
use shared::bus::EventBus;
use shared::connectwise::ConnectWiseClient;
use shared::functions::Function;
use shared::http::Transport;
use shared::store::Store;
use simulators::acronis::{AcronisSim, AcronisSimConfig};
use simulators::connectwise::{CwSim, CwSimConfig};

use crate::{aws, bus_to_queue, fast_transport, fresh_store, sim_clients_with};

/// How to start a [`LocalStack`].
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub cw_sim: CwSimConfig,
    pub acronis_sim: AcronisSimConfig,
    /// The ConnectWise client's transport (timeouts, attempts, requests in flight).
    pub cw_transport: Transport,
    pub acronis_transport: Transport,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            cw_sim: CwSimConfig::default(),
            acronis_sim: AcronisSimConfig::default(),
            cw_transport: fast_transport(3, Duration::from_secs(5)),
            acronis_transport: fast_transport(3, Duration::from_secs(5)),
        }
    }
}

impl StackOptions {
    /// Both clients with requests timing out after `timeout`.
    pub fn timeouts(timeout: Duration) -> Self {
        Self {
            cw_transport: fast_transport(3, timeout),
            acronis_transport: fast_transport(3, timeout),
            ..Self::default()
        }
    }
}

/// moto, both simulators and their clients.
pub struct LocalStack {
    pub config: SdkConfig,
    pub cw_sim: CwSim,
    pub acronis_sim: AcronisSim,
    pub cw: ConnectWiseClient,
    pub acronis: AcronisClient,
    /// The operator's view of a fresh table (seeding and checks).
    pub store: Store,
}

impl std::fmt::Debug for LocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStack")
            .field("connectwise", &self.cw_sim.url())
            .field("acronis", &self.acronis_sim.url())
            .field("table", &self.store.table())
            .finish()
    }
}

impl LocalStack {
    /// The stack with the default options.
    pub async fn start() -> Result<Self> {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> Result<Self> {
        let config = aws().await?;
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let cw_sim = simulators::connectwise::start(loopback, options.cw_sim).await?;
        let acronis_sim = simulators::acronis::start(loopback, options.acronis_sim).await?;
        let (cw, acronis) = sim_clients_with(
            &cw_sim,
            &acronis_sim,
            options.cw_transport,
            options.acronis_transport,
        )
        .await?;
        let store = fresh_store(&config).await?;
        Ok(Self {
            config,
            cw_sim,
            acronis_sim,
            cw,
            acronis,
            store,
        })
    }

    /// The stack's table, as `function`'s role may use it.
    pub async fn store_as(&self, function: Function) -> Result<Store> {
        crate::store_as(&self.store, function).await
    }

    /// A fresh bus routing to a fresh queue of `consumer`: the bus, an SQS client, the queue.
    pub async fn bus_to_queue(
        &self,
        consumer: Function,
    ) -> Result<(EventBus, aws_sdk_sqs::Client, String)> {
        bus_to_queue(&self.config, consumer).await
    }

    /// Maps `company` to `tenant` by hand, as `acw companies map --tenant` stores it.
    pub async fn map(&self, company: i64, tenant: &str) -> Result<()> {
        self.store
            .map_company(&crate::seed::mapped(company, tenant))
            .await?;
        Ok(())
    }
}
