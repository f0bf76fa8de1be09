//! `acw connections test [NAME]`: each connection (or the named one) checked on its own: a
//! token, the API client's own tenant (the partner), the offering items available to
//! customers. A failing connection is a row with its error; the command then exits non-zero.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use shared::acronis::AcronisClient;
use shared::http::Transport;
use shared::secrets::{AcronisCredentials, ConnectionName};

use super::{read_secret, transport};
use crate::ctx::Ctx;
use crate::output::{emit, opt, table};

/// What `acw connections test` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionsTest {
    pub connections: Vec<ConnectionCheck>,
    pub failed: usize,
}

/// One connection's check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionCheck {
    pub name: ConnectionName,
    pub datacenter_url: String,
    pub client_id: String,
    pub partner_tenant_id: Option<String>,
    /// Offering items the partner may enable on customers.
    pub offering_items: Option<usize>,
    /// Why it failed (never a secret: `AcronisError` quotes none).
    pub error: Option<String>,
}

async fn check_one(c: &AcronisCredentials, transport: Transport) -> ConnectionCheck {
    let mut row = ConnectionCheck {
        name: c.name.clone(),
        datacenter_url: c.datacenter_url.clone(),
        client_id: c.client_id.clone(),
        partner_tenant_id: None,
        offering_items: None,
        error: None,
    };
    let client = match AcronisClient::new(c, transport) {
        Ok(client) => client,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    let partner = match client.client_info().await {
        Ok(info) => info.tenant_id,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    row.partner_tenant_id = Some(partner.clone());
    match client.available_for_child(&partner, "customer").await {
        Ok(items) => {
            row.offering_items = Some(items.len());
            if items.is_empty() {
                // As `acw doctor` judges it: no customer could be given anything.
                row.error = Some("no offering items available to customers".into());
            }
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    row
}

pub async fn test(ctx: &Ctx, name: Option<&ConnectionName>) -> Result<()> {
    let (settings, _, doc) = read_secret(ctx).await?;
    let creds = doc.credentials()?;
    let chosen: Vec<&AcronisCredentials> = match name {
        Some(n) => match creds.acronis.get(n) {
            Some(c) => vec![c],
            None => bail!(
                "no Acronis connection named {n}: the secret has {} (acw connections list)",
                creds
                    .acronis
                    .keys()
                    .map(ConnectionName::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        None => creds.acronis.values().collect(),
    };
    // Side by side: one data centre's timeout does not hold up the others' checks.
    let mut checks = Vec::new();
    for c in chosen {
        checks.push(check_one(c, transport(&settings)?));
    }
    let connections = futures::future::join_all(checks).await;
    let failed = connections.iter().filter(|c| c.error.is_some()).count();
    let report = ConnectionsTest {
        connections,
        failed,
    };
    let rows = &report.connections;
    emit(ctx, &report, || {
        table(
            &[
                "connection",
                "data centre",
                "partner tenant",
                "offering items",
                "status",
            ],
            rows.iter().map(|r| {
                vec![
                    r.name.to_string(),
                    r.datacenter_url.clone(),
                    opt(r.partner_tenant_id.as_deref()),
                    opt(r.offering_items),
                    r.error.clone().unwrap_or_else(|| "ok".into()),
                ]
            }),
        )
    });
    if failed > 0 {
        bail!("{failed} connection(s) failed (see above)");
    }
    Ok(())
}
