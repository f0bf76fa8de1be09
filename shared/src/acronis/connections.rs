//! The deployment's Acronis connections: one [`AcronisClient`] per partner tenant and data
//! centre, each with its own transport, token and page-size learning, so one data centre's
//! outage or refused credentials do not slow or stop the others.
//!
//! The secret is read again at most every [`REFRESH`] on use (an instance stays warm for
//! hours): an added connection gets a client, a removed one is dropped, a rotated API client
//! is applied, all without a redeploy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{AcronisClient, AcronisError};
use crate::http::Transport;
use crate::secrets::{AcronisCredentials, ConnectionName, SecretReloader};

/// How old the secret read may be before a use of the connections reads it again: an added
/// or removed connection is noticed within this, as the issue asks (five minutes).
pub const REFRESH: Duration = Duration::from_secs(240);

/// Builds one connection's transport (its own concurrency limit).
pub type TransportFactory = Arc<dyn Fn() -> Transport + Send + Sync>;

/// The clients by connection name. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    clients: Arc<std::sync::RwLock<Arc<BTreeMap<ConnectionName, AcronisClient>>>>,
    /// The first client built: what [`Connections::fallback`] answers should every
    /// connection be gone (a secret always has one, so only until the next read).
    initial: AcronisClient,
    transport: Option<TransportFactory>,
    reloader: Option<Arc<SecretReloader>>,
    refresh: Duration,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

/// A connection the secret does not have.
#[derive(Debug, thiserror::Error)]
#[error("no Acronis connection named {name}: the secret has {known} (acw connections list)")]
pub struct UnknownConnection {
    pub name: ConnectionName,
    pub known: String,
}

impl Connections {
    /// A client per connection of the secret, each on a transport of its own.
    pub fn new(
        creds: &BTreeMap<ConnectionName, AcronisCredentials>,
        transport: TransportFactory,
    ) -> Result<Self, AcronisError> {
        let clients = creds
            .values()
            .map(|c| Ok((c.name.clone(), AcronisClient::new(c, transport())?)))
            .collect::<Result<BTreeMap<_, _>, AcronisError>>()?;
        let initial = default_or_first(&clients)
            .ok_or_else(|| AcronisError::Config("the secret has no Acronis connection".into()))?;
        Ok(Self {
            clients: Arc::new(std::sync::RwLock::new(Arc::new(clients))),
            initial,
            transport: Some(transport),
            reloader: None,
            refresh: REFRESH,
        })
    }

    /// Fixed clients, never refreshed (tests, and tools that built their clients by hand).
    pub fn of(first: AcronisClient, rest: impl IntoIterator<Item = AcronisClient>) -> Self {
        let clients = std::iter::once(first.clone())
            .chain(rest)
            .map(|c| (c.connection().clone(), c))
            .collect();
        Self {
            clients: Arc::new(std::sync::RwLock::new(Arc::new(clients))),
            initial: first,
            transport: None,
            reloader: None,
            refresh: REFRESH,
        }
    }

    /// Reads the secret again through `reloader`: when a client's credentials are refused,
    /// and every `refresh` on use.
    pub fn with_reloader(mut self, reloader: Arc<SecretReloader>, refresh: Duration) -> Self {
        let clients = self
            .snapshot()
            .iter()
            .map(|(n, c)| (n.clone(), c.clone().with_reloader(reloader.clone())))
            .collect();
        self.clients = Arc::new(std::sync::RwLock::new(Arc::new(clients)));
        self.initial = self.initial.clone().with_reloader(reloader.clone());
        self.reloader = Some(reloader);
        self.refresh = refresh;
        self
    }

    /// The clients as last read, without reading the secret.
    pub fn snapshot(&self) -> Arc<BTreeMap<ConnectionName, AcronisClient>> {
        self.clients
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The connections' names as last read.
    pub fn names(&self) -> Vec<ConnectionName> {
        self.snapshot().keys().cloned().collect()
    }

    /// The clients, after reading the secret again when it is due.
    pub async fn current(&self) -> Arc<BTreeMap<ConnectionName, AcronisClient>> {
        self.refresh_if_due().await;
        self.snapshot()
    }

    /// The client of connection `name`.
    pub async fn client(&self, name: &ConnectionName) -> Result<AcronisClient, UnknownConnection> {
        let clients = self.current().await;
        clients.get(name).cloned().ok_or_else(|| UnknownConnection {
            name: name.clone(),
            known: ConnectionName::listed(clients.keys()),
        })
    }

    /// `default`, else the first connection by name: for what has no connection of its own
    /// yet.
    pub fn fallback(&self) -> AcronisClient {
        default_or_first(&self.snapshot()).unwrap_or_else(|| self.initial.clone())
    }

    /// Reads the secret again if the last read is `refresh` old, and applies what changed.
    pub async fn refresh_if_due(&self) {
        let (Some(reloader), Some(transport)) = (&self.reloader, &self.transport) else {
            return;
        };
        // Boxed: the secret read's future is large, and every job awaits this first.
        let Some((generation, creds)) = Box::pin(reloader.refreshed(self.refresh)).await else {
            return;
        };
        let old = self.snapshot();
        let mut next = BTreeMap::new();
        for (name, c) in &creds.acronis {
            match old.get(name) {
                // The same data centre: keep its token and learning; rotate its API client.
                Some(client)
                    if client.datacenter_url() == c.datacenter_url.trim().trim_end_matches('/') =>
                {
                    client.apply_credentials(generation, c).await;
                    next.insert(name.clone(), client.clone());
                }
                _ => match AcronisClient::new(c, transport()) {
                    Ok(client) => {
                        tracing::info!(connection = %name, "Acronis connection added or moved");
                        next.insert(name.clone(), client.with_reloader(reloader.clone()));
                    }
                    Err(e) => {
                        tracing::error!(connection = %name, error = %e, "Acronis connection left out: its data centre URL is refused");
                    }
                },
            }
        }
        for name in old.keys().filter(|n| !creds.acronis.contains_key(*n)) {
            tracing::info!(connection = %name, "Acronis connection removed from the secret");
        }
        *self
            .clients
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
    }
}

impl From<AcronisClient> for Connections {
    fn from(client: AcronisClient) -> Self {
        Self::of(client, [])
    }
}

/// `default`, else the first connection by name.
fn default_or_first(clients: &BTreeMap<ConnectionName, AcronisClient>) -> Option<AcronisClient> {
    clients
        .get(crate::secrets::DEFAULT_CONNECTION)
        .or_else(|| clients.values().next())
        .cloned()
}
