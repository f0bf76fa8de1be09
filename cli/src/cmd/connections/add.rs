//! `acw connections add`: a connection's three keys added to the secret, the client secret
//! read from standard input or an environment variable (never the command line), checked
//! against Acronis first unless `--no-test`.

use anyhow::{Context, Result, anyhow, bail};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shared::acronis::AcronisClient;
use shared::secrets::{AcronisCredentials, ConnectionName};

use super::secret::{check, with_connection};
use super::{AddArgs, read_secret, transport};
use crate::ctx::Ctx;
use crate::output::emit;

/// What `acw connections add` added (or, with `--dry-run`, would add). Never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Added {
    pub dry_run: bool,
    pub name: ConnectionName,
    pub datacenter_url: String,
    pub client_id: String,
    /// The secret's keys written.
    pub keys: Vec<String>,
    /// The API client's own tenant, when the credentials were checked.
    pub partner_tenant_id: Option<String>,
}

/// Where the client secret comes from.
fn client_secret(args: &AddArgs) -> Result<SecretString> {
    let value = match &args.client_secret_env {
        Some(var) => std::env::var(var)
            .map_err(|_| anyhow!("environment variable {var} is not set (or not UTF-8)"))?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the client secret from standard input")?;
            line
        }
    };
    let value = value.trim();
    if value.is_empty() {
        bail!("the client secret is empty");
    }
    Ok(SecretString::from(value.to_owned()))
}

pub async fn add(ctx: &Ctx, args: AddArgs) -> Result<()> {
    let creds = AcronisCredentials {
        name: args.name.clone(),
        datacenter_url: args.datacenter_url.trim().trim_end_matches('/').to_owned(),
        client_id: args.client_id.trim().to_owned(),
        client_secret: client_secret(&args)?,
    };
    if creds.client_id.is_empty() {
        bail!("--client-id is empty");
    }
    let (settings, secrets, doc) = read_secret(ctx).await?;
    let (edited, keys) = with_connection(&doc.map, &creds)?;
    check(&doc.id, &edited)?;
    // https, or http on loopback only (the local simulator), as the functions' client checks.
    let client = AcronisClient::new(&creds, transport(&settings)?)
        .with_context(|| format!("connection {}", creds.name))?;
    let partner_tenant_id = if args.no_test {
        None
    } else {
        let info = client.client_info().await.with_context(|| {
            format!(
                "connection {}: the API client could not read its own tenant; nothing was written (--no-test adds it unchecked)",
                creds.name
            )
        })?;
        Some(info.tenant_id)
    };
    let report = Added {
        dry_run: args.dry_run.dry_run,
        name: creds.name.clone(),
        datacenter_url: creds.datacenter_url.clone(),
        client_id: creds.client_id.clone(),
        keys,
        partner_tenant_id,
    };
    if !report.dry_run {
        doc.write(&secrets, &edited).await?;
        ctx.audit(
            "connections.add",
            &format!("connection {}", report.name),
            serde_json::json!({
                "datacenter_url": report.datacenter_url,
                "client_id": report.client_id,
                "keys": report.keys,
                "partner_tenant_id": report.partner_tenant_id,
                "tested": !args.no_test,
            }),
        )
        .await?;
    }
    emit(ctx, &report, || {
        format!(
            "{} connection {} ({}, API client {}, partner tenant {}): keys {}{}",
            if report.dry_run { "would add" } else { "added" },
            report.name,
            report.datacenter_url,
            report.client_id,
            report.partner_tenant_id.as_deref().unwrap_or("not checked"),
            report.keys.join(", "),
            if report.dry_run {
                " (dry run: nothing written)"
            } else {
                " (the functions use it within 5 minutes)"
            }
        )
    });
    Ok(())
}
