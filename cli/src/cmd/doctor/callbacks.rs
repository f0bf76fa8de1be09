//! Callbacks: registered to this stack, their signing key fetchable, what real ones look
//! like, and (`--probe-company`) whether an addition change updates its agreement and fires
//! a callback.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use serde_json::json;
use shared::connectwise::{Conditions, ConnectWiseClient, ListQuery};
use shared::store::{KeyFetch, Store};

use shared::services::callbacks::Wanted;

use super::{Row, Status, row};
use crate::ctx::{ApiAccess, Ctx};

/// The callbacks `acw setup` registers for these settings (company and agreement; the alert
/// board's tickets when a technician's close dismisses alerts), at the webhook's URL when it
/// is given.
pub(super) async fn registered(
    cw: &ConnectWiseClient,
    webhook_url: Option<&str>,
    wanted: &[Wanted],
    rows: &mut Vec<Row>,
) {
    let names: Vec<String> = wanted.iter().map(Wanted::name).collect();
    let expected = match webhook_url {
        Some(url) => format!("{} → {url}", names.join(", ")),
        None => format!("{} callbacks", names.join(", ")),
    };
    match cw.callbacks(&ListQuery::default()).await {
        Err(e) => rows.push(row(
            "ConnectWise callbacks",
            expected,
            e.to_string(),
            Status::Broken,
        )),
        Ok(list) => {
            let ours: Vec<_> = list
                .iter()
                .filter(|c| webhook_url.is_none_or(|u| c.url.as_deref() == Some(u)))
                .collect();
            // A callback ConnectWise disabled (three days of failed deliveries) sends
            // nothing: it does not count.
            let has = |w: &Wanted| {
                ours.iter().any(|c| {
                    c.inactive_flag != Some(true)
                        && c.callback_type
                            .as_deref()
                            .is_some_and(|t| t.eq_ignore_ascii_case(&w.kind))
                        && (w.level == "owner"
                            || (c
                                .level
                                .as_deref()
                                .is_some_and(|l| l.eq_ignore_ascii_case(&w.level))
                                && c.object_id == Some(w.object_id)))
                })
            };
            let found: Vec<String> = ours
                .iter()
                .map(|c| {
                    format!(
                        "{} → {}{}",
                        c.callback_type.as_deref().unwrap_or("?"),
                        c.url.as_deref().unwrap_or("?"),
                        if c.inactive_flag == Some(true) {
                            " (disabled by ConnectWise after three days of failed deliveries: \
                             the reconciler's next cycle registers it again; check the webhook)"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            let status = if wanted.iter().all(has) {
                Status::Ok
            } else {
                Status::Broken
            };
            let found = if found.is_empty() {
                "none (run acw setup)".into()
            } else {
                found.join(", ")
            };
            rows.push(row("ConnectWise callbacks", expected, found, status));
        }
    }
}

/// How long the signing key probe may take.
const KEY_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long verified callbacks are kept (the webhook's default dedupe TTL), for the message.
const RECENT_CALLBACKS_DAYS: i64 = 7;

/// Whether the callback key endpoint serves keys without credentials: asked for a key id
/// that cannot exist, it should say "no such key", not "who are you".
pub(super) async fn signing_key(cw: &ConnectWiseClient, access: &ApiAccess, rows: &mut Vec<Row>) {
    const CHECK: &str = "ConnectWise signing key fetch";
    const EXPECTED: &str = "served without credentials";
    let url = match cw.base_url().await.map(|base| {
        let mut url = base.join("../../system/callbackkey/index.rails").ok()?;
        url.query_pairs_mut()
            .append_pair("id", &uuid::Uuid::new_v4().to_string());
        Some(url)
    }) {
        Ok(Some(url)) => url,
        _ => return,
    };
    let get = |auth: Option<reqwest::header::HeaderValue>| {
        let mut request = access
            .http()
            .get(url.clone())
            .header("clientId", &access.creds.connectwise.client_id)
            .timeout(KEY_PROBE_TIMEOUT);
        if let Some(auth) = auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.without_url().to_string())
        }
    };
    rows.push(match get(None).await {
        Ok(s @ (401 | 403)) => {
            let with = match shared::connectwise::client::basic_auth(&access.creds.connectwise) {
                Ok(auth) => get(Some(auth)).await,
                Err(e) => Err(e.to_string()),
            };
            match with {
                Ok(w) if w < 500 && !matches!(w, 401 | 403) => row(
                    CHECK,
                    EXPECTED,
                    format!(
                        "served only with the API member's credentials (without: {s}) (handled: the webhook then sends them)"
                    ),
                    Status::Different,
                ),
                Ok(w) => row(
                    CHECK,
                    EXPECTED,
                    format!("refused without ({s}) and with the API member's credentials ({w})"),
                    Status::Broken,
                ),
                Err(e) => row(CHECK, EXPECTED, e, Status::Broken),
            }
        }
        Ok(s) if s < 500 => row(
            CHECK,
            EXPECTED,
            format!("served without credentials (an unknown key id: {s})"),
            Status::Ok,
        ),
        Ok(s) => row(CHECK, EXPECTED, format!("HTTP {s}"), Status::Broken),
        Err(e) => row(CHECK, EXPECTED, e, Status::Broken),
    });
}

/// What the last verified callback showed: the host of its key URL and whether its key took
/// credentials (the webhook keeps both with its dedupe record).
pub(super) async fn last_verified(cw: &ConnectWiseClient, store: &Store, rows: &mut Vec<Row>) {
    const CHECK: &str = "signing key of a real callback";
    let Ok(base) = cw.base_url().await else {
        return;
    };
    let site = shared::connectwise::client::host_and_port(base);
    let expected = format!("from {site}, without credentials");
    rows.push(match store.last_callback().await {
        Err(e) => row(CHECK, expected, e.to_string(), Status::Broken),
        Ok(last) => match last {
            None => row(
                CHECK,
                expected,
                format!(
                    "not checked (no verified callback in the last {RECENT_CALLBACKS_DAYS} days)"
                ),
                Status::Ok,
            ),
            Some(c) => {
                let c = &c;
                let alias = !c.key_host.eq_ignore_ascii_case(&site);
                let creds = c.key_fetch == KeyFetch::Authenticated;
                let found = format!(
                    "{} {} at {}: from {}{}, {}",
                    c.kind,
                    c.record_id,
                    c.seen_at.format("%Y-%m-%d %H:%M UTC"),
                    c.key_host,
                    if alias { " (an alias of the site)" } else { "" },
                    if creds {
                        "with the API member's credentials"
                    } else {
                        "without credentials"
                    },
                );
                let status = if alias || creds {
                    Status::Different
                } else {
                    Status::Ok
                };
                row(CHECK, expected, found, status)
            }
        },
    });
}

/// `acw doctor --probe-company ID`: a sandbox company on which one reversible change may be
/// made.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub company_id: i64,
    /// How long to wait for the agreement callback.
    pub wait: Duration,
}

/// When (after the change) the agreement's `lastUpdated` moved and its callback arrived.
#[derive(Debug, Default)]
struct Observed {
    bumped: Option<Duration>,
    callback: Option<Duration>,
}

/// Raises the quantity of the company's first agreement addition by one, watches whether the
/// agreement's `lastUpdated` moves and an agreement callback reaches the webhook, and puts
/// the quantity back (always, and says so).
pub(super) async fn probe_company(
    ctx: &Ctx,
    cw: &ConnectWiseClient,
    store: &Store,
    probe: &Probe,
    rows: &mut Vec<Row>,
) -> Result<()> {
    const BUMP: &str = "an addition change updates its agreement";
    const CALLBACK: &str = "an addition change fires a callback";
    let company = probe.company_id;
    let agreements = cw
        .agreements(&ListQuery::conditions(
            Conditions::new().eq("company/id", company),
        ))
        .await
        .with_context(|| format!("reading the agreements of company {company}"))?;
    let mut target = None;
    for a in &agreements {
        let additions = cw
            .additions(a.id, &ListQuery::default())
            .await
            .with_context(|| format!("reading the additions of agreement {}", a.id))?;
        if let Some(first) = additions.into_iter().next() {
            target = Some((a.id, first));
            break;
        }
    }
    let Some((agreement_id, addition)) = target else {
        anyhow::bail!(
            "company {company} has no agreement with an addition to probe: choose a sandbox company that has one"
        );
    };
    let before = cw
        .agreement(agreement_id)
        .await?
        .info
        .and_then(|i| i.last_updated);
    let original = addition.quantity.unwrap_or(0.0);
    let subject = format!("addition {} of agreement {agreement_id}", addition.id);
    // The audit entry's detail is free-form.
    let detail =
        json!({"company_id": company, "quantity": original, "probe_quantity": original + 1.0});
    ctx.audit("doctor.probe", &subject, detail).await?;
    if !ctx.json {
        eprintln!(
            "probing: {subject} quantity {original} → {} and back (waiting up to {} s)",
            original + 1.0,
            probe.wait.as_secs()
        );
    }
    // `lastUpdated` has whole seconds: a change within the second it was read in could not
    // be told from none.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = Utc::now() - chrono::Duration::seconds(1);
    let started = Instant::now();
    let observed = match cw
        .set_addition_quantity(agreement_id, addition.id, original + 1.0)
        .await
    {
        Ok(_) => watch(cw, store, agreement_id, before, since, started, probe.wait).await,
        Err(e) => Err(anyhow::Error::from(e).context(format!("changing {subject}"))),
    };
    // Put back whatever happened above.
    let restored = cw
        .set_addition_quantity(agreement_id, addition.id, original)
        .await;
    rows.push(match &restored {
        Ok(_) => row(
            "probe change put back",
            format!("quantity {original}"),
            format!("quantity {original}"),
            Status::Ok,
        ),
        Err(e) => row(
            "probe change put back",
            format!("quantity {original}"),
            format!("NOT put back ({e}): set {subject} to {original} by hand"),
            Status::Broken,
        ),
    });
    let observed = observed?;
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    let wait = secs(probe.wait);
    let neither = observed.bumped.is_none() && observed.callback.is_none();
    let missing = if neither {
        Status::Broken
    } else {
        Status::Different
    };
    rows.push(row(
        BUMP,
        "its lastUpdated moves",
        match observed.bumped {
            Some(d) => format!("moved (seen after {})", secs(d)),
            None if neither => format!(
                "did not move within {wait}: an addition changed alone is not seen until its agreement changes"
            ),
            None => format!("did not move within {wait} (handled: the callback carries the change)"),
        },
        if observed.bumped.is_some() {
            Status::Ok
        } else {
            missing
        },
    ));
    rows.push(row(
        CALLBACK,
        format!("an agreement callback within {wait}"),
        match observed.callback {
            Some(d) => format!("arrived after {}", secs(d)),
            None if neither => format!("none within {wait}"),
            None => format!(
                "none within {wait} (handled: the reconciler finds agreements whose lastUpdated moved)"
            ),
        },
        if observed.callback.is_some() {
            Status::Ok
        } else {
            missing
        },
    ));
    Ok(())
}

/// Polls the agreement and the webhook's records until both signs are seen or `wait` ends.
async fn watch(
    cw: &ConnectWiseClient,
    store: &Store,
    agreement_id: i64,
    before: Option<chrono::DateTime<Utc>>,
    since: chrono::DateTime<Utc>,
    started: Instant,
    wait: Duration,
) -> Result<Observed> {
    let mut observed = Observed::default();
    loop {
        if observed.bumped.is_none() {
            let now = cw
                .agreement(agreement_id)
                .await?
                .info
                .and_then(|i| i.last_updated);
            if now != before {
                observed.bumped = Some(started.elapsed());
            }
        }
        if observed.callback.is_none() {
            let seen = store.callbacks_since(since).await?;
            if seen
                .iter()
                .any(|c| c.kind == "agreement" && c.record_id == agreement_id)
            {
                observed.callback = Some(started.elapsed());
            }
        }
        if (observed.bumped.is_some() && observed.callback.is_some()) || started.elapsed() >= wait {
            return Ok(observed);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
