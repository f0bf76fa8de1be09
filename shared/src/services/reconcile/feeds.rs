//! The Acronis change feeds: each connection's tenants changed since its own cursor, so that
//! a data centre that cannot be read this cycle is read from where it stopped once it can,
//! while the others go on.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::OVERLAP_MINUTES;
use crate::acronis::AcronisClient;
use crate::acronis::models::Tenant;
use crate::domain::connection::ConnectionName;
use crate::store::{CompanyMapping, Failure, Store};

/// The cursor of connection `connection`'s change feed.
pub fn feed_cursor(connection: &ConnectionName) -> String {
    format!("reconciler-acronis#{connection}")
}

/// What the feeds found: how many tenants changed, the mapped ones with their mappings, the
/// cursors to move once the cycle's events are sent, and the connections that failed.
pub(super) type Feeds = (
    usize,
    Vec<(CompanyMapping, Tenant)>,
    Vec<(String, Option<DateTime<Utc>>, DateTime<Utc>)>,
    Vec<Failure>,
);

/// Every connection's feed, side by side. `shared` is the reconciler's own cursor: where a
/// connection without a cursor of its own (the `default` one of a stack deployed before
/// there were several, or a connection just added) starts.
pub(super) async fn changed_in_all(
    clients: &BTreeMap<ConnectionName, AcronisClient>,
    store: &Store,
    (shared, started): (Option<DateTime<Utc>>, DateTime<Utc>),
) -> anyhow::Result<Feeds> {
    let reads = futures::future::try_join_all(clients.iter().map(|(name, client)| async move {
        let cursor = feed_cursor(name);
        let own: Option<DateTime<Utc>> = store.cursor(&cursor).await?;
        let read = match own.or(shared) {
            // The very first cycle reads no feed: every company is looked at anyway.
            None => None,
            Some(from) => {
                let since = from - Duration::minutes(OVERLAP_MINUTES);
                let read = match changed_since(client, since).await {
                    Ok(changed) => Ok(with_mappings(store, changed).await?),
                    Err(e) => Err(e),
                };
                Some((from, read))
            }
        };
        anyhow::Ok((name, cursor, own, read))
    }))
    .await?;
    let mut out: Feeds = (0, Vec::new(), Vec::new(), Vec::new());
    for (name, cursor, own, read) in reads {
        match read {
            None => out.2.push((cursor, own, started)),
            Some((_, Ok((count, pairs)))) => {
                out.0 += count;
                out.1
                    .extend(pairs.into_iter().filter(|(m, _)| &m.connection == name));
                out.2.push((cursor, own, started));
            }
            Some((from, Err(e))) => {
                out.3.push(Failure {
                    subject: format!("connection {name}"),
                    reason: format!("tenants changed in Acronis not read: {e}"),
                    transient: e.is_transient(),
                });
                // Pinned where it stands, so the next cycle reads from there.
                if own.is_none() {
                    out.2.push((cursor, None, from));
                }
            }
        }
    }
    Ok(out)
}

/// Tenants `client`'s partner reports changed since `since` (deleted ones included).
async fn changed_since(
    client: &AcronisClient,
    since: DateTime<Utc>,
) -> Result<Vec<Tenant>, crate::acronis::AcronisError> {
    let partner = client.partner_tenant_id().await?;
    client.child_tenants_changed(&partner, since).await
}

/// How many tenants changed, and those mapped with their mappings.
async fn with_mappings(
    store: &Store,
    changed: Vec<Tenant>,
) -> Result<(usize, Vec<(CompanyMapping, Tenant)>), crate::store::StoreError> {
    if changed.is_empty() {
        return Ok((0, Vec::new()));
    }
    let ids: Vec<String> = changed.iter().map(|t| t.id.clone()).collect();
    let mappings = store.mappings_of_tenants(&ids).await?;
    let count = changed.len();
    Ok((
        count,
        changed
            .into_iter()
            .filter_map(|t| {
                let m = mappings.iter().find(|m| m.tenant_id == t.id)?;
                Some((m.clone(), t))
            })
            .collect(),
    ))
}
