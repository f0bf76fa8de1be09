//! `acw connections list`: each connection of the secret (never its client secret), and what
//! the store maps through it; a connection the store still names but the secret lost is
//! listed too, so that its companies are not forgotten.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use shared::secrets::ConnectionName;

use super::read_secret;
use super::secret::{names, shown};
use crate::ctx::Ctx;
use crate::output::{emit, opt, table};

/// What `acw connections list` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionsList {
    pub connections: Vec<ConnectionRow>,
}

/// One connection: where it is, which API client, what goes through it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRow {
    pub name: ConnectionName,
    /// None when the secret does not have it.
    pub datacenter_url: Option<String>,
    pub client_id: Option<String>,
    pub in_secret: bool,
    /// Its data centre URL, API client id and client secret are all in the secret (while one
    /// is missing, the functions cannot read the secret at all).
    pub complete: bool,
    /// Companies whose tenant is in it.
    pub companies: usize,
    pub product_mappings: usize,
}

/// How many companies and product mappings each connection has.
pub async fn counts(
    store: &shared::store::Store,
) -> Result<BTreeMap<ConnectionName, (usize, usize)>> {
    let mut counts: BTreeMap<ConnectionName, (usize, usize)> = BTreeMap::new();
    for m in store.mappings().await? {
        counts.entry(m.connection).or_default().0 += 1;
    }
    for p in store.product_mappings().await? {
        counts.entry(p.connection).or_default().1 += 1;
    }
    Ok(counts)
}

pub async fn list(ctx: &Ctx) -> Result<()> {
    let (_, _, doc) = read_secret(ctx).await?;
    let mut counts = counts(ctx.store().await?).await?;
    // From the keys as they are, not the parsed credentials: a connection half filled in is
    // listed (as incomplete) rather than failing the list.
    let mut rows: Vec<ConnectionRow> = names(&doc.map)
        .into_iter()
        .map(|name| {
            let shown = shown(&doc.map, &name);
            let (companies, product_mappings) = counts.remove(&name).unwrap_or_default();
            ConnectionRow {
                name,
                datacenter_url: shown.datacenter_url,
                client_id: shown.client_id,
                in_secret: true,
                complete: shown.complete,
                companies,
                product_mappings,
            }
        })
        .collect();
    rows.extend(
        counts
            .into_iter()
            .map(|(name, (companies, product_mappings))| ConnectionRow {
                name,
                datacenter_url: None,
                client_id: None,
                in_secret: false,
                complete: false,
                companies,
                product_mappings,
            }),
    );
    let report = ConnectionsList { connections: rows };
    let rows = &report.connections;
    emit(ctx, &report, || {
        table(
            &[
                "connection",
                "data centre",
                "API client",
                "companies",
                "product mappings",
            ],
            rows.iter().map(|r| {
                vec![
                    match (r.in_secret, r.complete) {
                        (true, true) => r.name.to_string(),
                        (true, false) => format!("{} (incomplete)", r.name),
                        (false, _) => format!("{} (not in the secret)", r.name),
                    },
                    opt(r.datacenter_url.as_deref()),
                    opt(r.client_id.as_deref()),
                    r.companies.to_string(),
                    r.product_mappings.to_string(),
                ]
            }),
        )
    });
    Ok(())
}
