//! The ConnectWise Manage REST client.
//!
//! Basic auth `company+public:private`, the `clientId` header on every request, the API
//! version pinned in `Accept`, the codebase discovered from `/login/companyinfo/{company}`
//! (unless the secret overrides it), paging to the end at 1000 per page, and typed errors
//! carrying ConnectWise's `{code, message, errors[]}`. Retries follow [`crate::http`].

use std::sync::Arc;

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::conditions::Conditions;
use super::error::{CwError, ErrorBody};
use super::models::*;
use crate::http::{ClientError as _, RawResponse, Transport, TransportError};
use crate::secrets::ConnectWiseCredentials;

mod endpoints;

/// The API version we are written against.
pub const API_VERSION: &str = "2025.8";
/// ConnectWise's hard maximum page size.
pub const MAX_PAGE_SIZE: usize = 1000;
/// A guard against a server that never stops paging.
const MAX_PAGES: usize = 100_000;

/// Query options of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub conditions: Option<Conditions>,
    pub child_conditions: Option<Conditions>,
    pub order_by: Option<String>,
    /// Field projection, e.g. `id,name,_info/lastUpdated`.
    pub fields: Option<String>,
}

impl ListQuery {
    pub fn conditions(c: Conditions) -> Self {
        Self {
            conditions: Some(c).filter(|c| !c.is_empty()),
            ..Self::default()
        }
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(c) = &self.conditions {
            q.push(("conditions", c.render()));
        }
        if let Some(c) = &self.child_conditions {
            q.push(("childConditions", c.render()));
        }
        if let Some(o) = &self.order_by {
            q.push(("orderBy", o.clone()));
        }
        if let Some(f) = &self.fields {
            q.push(("fields", f.clone()));
        }
        q
    }
}

/// A client of one ConnectWise company. Cheap to clone; build once per cold start.
#[derive(Debug, Clone)]
pub struct ConnectWiseClient {
    transport: Transport,
    origin: Url,
    company_id: String,
    /// `{origin}/{codebase}apis/3.0/`, once known; shared by the clones.
    base: Arc<tokio::sync::OnceCell<Url>>,
    /// The request headers (credentials among them) and the generation of the secret they
    /// came from; shared by the clones, replaced when a refused key is found rotated.
    headers: Arc<std::sync::RwLock<(u64, HeaderMap)>>,
    reloader: Option<Arc<crate::secrets::SecretReloader>>,
}

/// A resource every ConnectWise host serves to accepted credentials.
const INFO_PATH: &str = "system/info";

/// A 404 that came with credentials the host refuses (it answered 404 to `system/info` too).
fn credentials_refused(method: &Method, path: &str, status: u16) -> CwError {
    CwError::Api {
        status: 401,
        method: method.to_string(),
        path: path.to_owned(),
        code: "CredentialsRefused".into(),
        message: format!(
            "ConnectWise answered {status}, and 404 to system/info as well: it refuses the \
             credentials or the site (check cw_site, cw_company_id, cw_public_key, cw_private_key)"
        ),
        errors: Vec::new(),
        attempts: 1,
    }
}

fn api_base(origin: &Url, codebase: &str) -> Result<Url, CwError> {
    origin
        .join(&format!("{codebase}apis/3.0/"))
        .map_err(|e| CwError::Config(format!("bad base URL: {e}")))
}

/// The site's origin: `https://{site}`, or the given origin. Plain `http` is accepted only
/// for loopback hosts (the local simulators), so keys never cross a network in clear.
pub fn site_origin(site: &str) -> Result<Url, CwError> {
    let site = site.trim().trim_end_matches('/');
    let with_scheme = if site.contains("://") {
        site.to_owned()
    } else {
        format!("https://{site}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| CwError::Config(format!("cw_site {site:?} is not a host name: {e}")))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(CwError::Config(format!("cw_site {site:?} must use https")));
    }
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(CwError::Config(format!(
            "cw_site {site:?} must be a bare host such as api-na.myconnectwise.net"
        )));
    }
    Ok(url)
}

/// Every request's headers: the API member's credentials, the clientId, the API version.
fn headers_of(creds: &ConnectWiseCredentials) -> Result<HeaderMap, CwError> {
    let client_id = HeaderValue::from_str(&creds.client_id).map_err(|_| {
        CwError::Config("cw_client_id contains characters not allowed in a header".into())
    })?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, basic_auth(creds)?);
    headers.insert("clientId", client_id);
    headers.insert(
        ACCEPT,
        HeaderValue::from_static(concat!(
            "application/vnd.connectwise.com+json; version=",
            "2025.8"
        )),
    );
    Ok(headers)
}

/// The `Authorization` header of the API member, `Basic base64(company+public:private)`,
/// marked sensitive (never logged by the HTTP stack).
pub fn basic_auth(creds: &ConnectWiseCredentials) -> Result<HeaderValue, CwError> {
    let token = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}+{}:{}",
        creds.company_id,
        creds.public_key.expose_secret(),
        creds.private_key.expose_secret()
    ));
    let mut auth = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
        CwError::Config("the ConnectWise keys contain characters not allowed in a header".into())
    })?;
    auth.set_sensitive(true);
    Ok(auth)
}

/// The origins that are the same ConnectWise host as `site`: itself and its known aliases.
/// ConnectWise's cloud answers under `api-{region}.` and `{region}.` alike (`api-na.` and
/// `na.myconnectwise.net`), and callbacks are seen with either in their key URL; the local
/// simulator answers under `127.0.0.1` and `localhost`. Other hosts have no alias.
pub fn site_aliases(site: &Url) -> Vec<Url> {
    let mut origins = vec![site.clone()];
    let Some(host) = site.host_str() else {
        return origins;
    };
    let host = host.to_ascii_lowercase();
    let alias = match host.as_str() {
        "127.0.0.1" => Some("localhost".to_owned()),
        "localhost" => Some("127.0.0.1".to_owned()),
        _ => ["myconnectwise.net", "connectwisedev.com"]
            .iter()
            .find_map(|domain| {
                let label = host.strip_suffix(domain)?.strip_suffix('.')?;
                if label.is_empty() || label.contains('.') {
                    return None;
                }
                Some(match label.strip_prefix("api-") {
                    Some(region) if !region.is_empty() => format!("{region}.{domain}"),
                    Some(_) => return None,
                    None => format!("api-{label}.{domain}"),
                })
            }),
    };
    if let Some(alias) = alias {
        let mut url = site.clone();
        if url.set_host(Some(&alias)).is_ok() {
            origins.push(url);
        }
    }
    origins
}

/// `host` or `host:port` (a port only when not the scheme's default): how a callback's key
/// URL host is recorded and compared with the site's.
pub fn host_and_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// A codebase such as `v2025_1/` (the trailing slash is added when missing).
fn normalise_codebase(raw: &str) -> Result<String, CwError> {
    let trimmed = raw.trim().trim_matches('/');
    if trimmed.is_empty()
        || !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Err(CwError::Config(format!(
            "codebase {raw:?} is not of the form v2025_1/"
        )));
    }
    Ok(format!("{trimmed}/"))
}

impl ConnectWiseClient {
    /// Builds a client without touching the network: the codebase, unless the credentials
    /// name one, is discovered on the first request and kept (so a function's cold start does
    /// not depend on ConnectWise answering, and one that never calls it never asks).
    pub fn new(creds: &ConnectWiseCredentials, transport: Transport) -> Result<Self, CwError> {
        let origin = site_origin(&creds.site)?;
        let base = Arc::new(tokio::sync::OnceCell::new());
        if let Some(c) = &creds.codebase {
            let _ = base.set(api_base(&origin, &normalise_codebase(c)?)?);
        }
        Ok(Self {
            transport,
            origin,
            company_id: creds.company_id.clone(),
            base,
            headers: Arc::new(std::sync::RwLock::new((0, headers_of(creds)?))),
            reloader: None,
        })
    }

    /// Reads the secret again (through `reloader`) when ConnectWise refuses the keys.
    pub fn with_reloader(mut self, reloader: Arc<crate::secrets::SecretReloader>) -> Self {
        self.reloader = Some(reloader);
        self
    }

    fn current_headers(&self) -> (u64, HeaderMap) {
        self.headers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Credentials newer than those refused (of generation `used`), applied to every clone;
    /// whether there are any. A request sent side by side may have found them already.
    async fn reload_credentials(&self, used: u64) -> bool {
        let Some(reloader) = &self.reloader else {
            return false;
        };
        let (seen, _) = self.current_headers();
        if seen > used {
            return true;
        }
        let Some((generation, creds)) = reloader.newer_than(seen).await else {
            return false;
        };
        match headers_of(&creds.connectwise) {
            Ok(headers) => {
                let mut current = self
                    .headers
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if current.0 < generation {
                    *current = (generation, headers);
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "the secret's new ConnectWise keys are not usable");
                false
            }
        }
    }

    /// [`ConnectWiseClient::new`], then the codebase resolved now (a check of the site and
    /// company id, for `acw setup` and tests).
    pub async fn connect(
        creds: &ConnectWiseCredentials,
        transport: Transport,
    ) -> Result<Self, CwError> {
        let client = Self::new(creds, transport)?;
        client.base_url().await?;
        Ok(client)
    }

    /// The API base, `https://{site}/{codebase}apis/3.0/` (discovered on first use).
    pub async fn base_url(&self) -> Result<&Url, CwError> {
        self.base
            .get_or_try_init(|| async {
                let codebase =
                    discover_codebase(&self.transport, &self.origin, &self.company_id).await?;
                api_base(&self.origin, &codebase)
            })
            .await
    }

    async fn url(&self, path: &str) -> Result<Url, CwError> {
        self.base_url()
            .await?
            .join(path.trim_start_matches('/'))
            .map_err(|e| CwError::Config(format!("bad path {path}: {e}")))
    }

    /// Sends one request and maps a non-2xx answer to [`CwError::Api`]. Keys ConnectWise
    /// refuses (401, 403, or a 404 that `system/info` confirms) are looked for again in the
    /// secret, and the request sent once more with new ones.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, CwError> {
        let (used, _) = self.current_headers();
        match self
            .send_once(method.clone(), path, query, body.clone())
            .await
        {
            Err(e)
                if matches!(e.status(), Some(401 | 403)) && self.reload_credentials(used).await =>
            {
                self.send_once(method, path, query, body).await
            }
            other => other,
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, CwError> {
        let url = self.url(path).await?;
        let (_, headers) = self.current_headers();
        let resp = self
            .transport
            .send(&method, || {
                self.transport
                    .request(&method, &url, headers.clone(), query, body.as_deref())
            })
            .await
            .map_err(|e| transport_error(&method, path, e))?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        let err = api_error(&method, path, &resp);
        // Some ConnectWise hosts answer refused credentials with 404 rather than 401 (no
        // source settles it). A 404 read as "deleted" would deprovision a company or recreate
        // a ticket, so it counts only if a resource that always exists still answers.
        if err.is_not_found() && path != INFO_PATH && !self.credentials_accepted().await {
            return Err(credentials_refused(&method, path, resp.status.as_u16()));
        }
        Err(err)
    }

    /// Whether `system/info`, which exists on every host, answers: a 404 there means the
    /// site, codebase or credentials are wrong, not that a record is gone.
    async fn credentials_accepted(&self) -> bool {
        match Box::pin(self.send_once(Method::GET, INFO_PATH, &[], None)).await {
            Ok(_) => true,
            Err(e) => !matches!(e.status(), Some(401 | 403 | 404)),
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<T, CwError> {
        let resp = self.send(method.clone(), path, query, body).await?;
        decode(&method, path, &resp.body)
    }

    fn encode(body: &impl Serialize) -> Result<Vec<u8>, CwError> {
        serde_json::to_vec(body)
            .map_err(|e| CwError::Config(format!("could not encode request: {e}")))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CwError> {
        self.json(Method::GET, path, &[], None).await
    }

    /// A POST. It is never retried after it may have reached ConnectWise: on
    /// [`CwError::Timeout`] the caller must look the record up before trying again.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CwError> {
        self.json(Method::POST, path, &[], Some(Self::encode(body)?))
            .await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        ops: &[PatchOp],
    ) -> Result<T, CwError> {
        self.json(Method::PATCH, path, &[], Some(Self::encode(&ops)?))
            .await
    }

    pub async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CwError> {
        self.json(Method::PUT, path, &[], Some(Self::encode(body)?))
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<(), CwError> {
        self.send(Method::DELETE, path, &[], None).await.map(|_| ())
    }

    /// One page (1-based) and whether another follows.
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &ListQuery,
        page: usize,
        page_size: usize,
    ) -> Result<(Vec<T>, bool), CwError> {
        let page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        let mut q = query.pairs();
        q.push(("page", page.to_string()));
        q.push(("pageSize", page_size.to_string()));
        let resp = self.send(Method::GET, path, &q, None).await?;
        let items: Vec<T> = decode(&Method::GET, path, &resp.body)?;
        // The Link header is authoritative when present; otherwise a full page means "maybe more".
        let more = match resp
            .headers
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
        {
            Some(link) => link_has_next(link),
            None => items.len() == page_size,
        };
        let more = more && !items.is_empty();
        Ok((items, more))
    }

    /// Every record of a list, paging at 1000 to the end.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &ListQuery,
    ) -> Result<Vec<T>, CwError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let (items, more) = self.list_page(path, query, page, MAX_PAGE_SIZE).await?;
            all.extend(items);
            if !more {
                return Ok(all);
            }
        }
        Err(CwError::Decode {
            method: "GET".into(),
            path: path.into(),
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// `GET {path}/count` with the same conditions.
    pub async fn count(&self, path: &str, query: &ListQuery) -> Result<u64, CwError> {
        let path = format!("{}/count", path.trim_end_matches('/'));
        let c: Count = self.json(Method::GET, &path, &query.pairs(), None).await?;
        Ok(c.count)
    }
}

/// `GET {origin}/login/companyinfo/{company}` → `Codebase`.
pub async fn discover_codebase(
    transport: &Transport,
    origin: &Url,
    company: &str,
) -> Result<String, CwError> {
    let mut url = origin.clone();
    url.path_segments_mut()
        .map_err(|_| CwError::Config("the site cannot be a base URL".into()))?
        .pop_if_empty()
        .extend(["login", "companyinfo", company]);
    let path = "login/companyinfo/{company}";
    let resp = transport
        .send(&Method::GET, || {
            transport
                .client
                .get(url.clone())
                .header(ACCEPT, "application/json")
        })
        .await
        .map_err(|e| transport_error(&Method::GET, path, e))?;
    if resp.status == StatusCode::NOT_FOUND {
        return Err(CwError::Config(format!(
            "ConnectWise does not know the company id {company:?} (check cw_company_id and cw_site)"
        )));
    }
    if !resp.status.is_success() {
        return Err(api_error(&Method::GET, path, &resp));
    }
    let info: CompanyInfo = decode(&Method::GET, path, &resp.body)?;
    let codebase = info.codebase.ok_or_else(|| {
        CwError::Config("companyinfo has no Codebase; set cw_codebase in the secret".into())
    })?;
    normalise_codebase(&codebase)
}

fn link_has_next(link: &str) -> bool {
    link.split(',').any(|part| {
        part.split(';')
            .skip(1)
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""))
    })
}

fn decode<T: DeserializeOwned>(method: &Method, path: &str, body: &[u8]) -> Result<T, CwError> {
    crate::http::decode_answer(method, path, body)
}

fn transport_error(method: &Method, path: &str, e: TransportError) -> CwError {
    CwError::from_transport(method, path, e)
}

fn api_error(method: &Method, path: &str, resp: &RawResponse) -> CwError {
    let body: ErrorBody = serde_json::from_slice(&resp.body).unwrap_or_else(|_| ErrorBody {
        code: None,
        message: Some(format!(
            "HTTP {} with a body that is not ConnectWise's error JSON ({} bytes)",
            resp.status.as_u16(),
            resp.body.len()
        )),
        errors: None,
    });
    CwError::Api {
        status: resp.status.as_u16(),
        method: method.to_string(),
        path: path.to_owned(),
        code: body.code.unwrap_or_default(),
        message: body.message.unwrap_or_default(),
        errors: body.errors.unwrap_or_default(),
        attempts: resp.attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_requires_https_except_loopback() {
        assert_eq!(
            site_origin("api-na.myconnectwise.net").unwrap().as_str(),
            "https://api-na.myconnectwise.net/"
        );
        assert_eq!(
            site_origin("https://cw.example.com/").unwrap().as_str(),
            "https://cw.example.com/"
        );
        assert_eq!(
            site_origin("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert!(site_origin("http://cw.example.com").is_err());
        assert!(site_origin("https://cw.example.com/v4_6_release").is_err());
        assert!(site_origin("https://user@cw.example.com").is_err());
    }

    #[test]
    fn a_site_has_its_known_aliases_and_no_others() {
        let aliases = |site: &str| -> Vec<String> {
            site_aliases(&site_origin(site).unwrap())
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect()
        };
        assert_eq!(
            aliases("api-na.myconnectwise.net"),
            [
                "https://api-na.myconnectwise.net/",
                "https://na.myconnectwise.net/"
            ]
        );
        assert_eq!(
            aliases("eu.myconnectwise.net"),
            [
                "https://eu.myconnectwise.net/",
                "https://api-eu.myconnectwise.net/"
            ]
        );
        assert_eq!(
            aliases("api-staging.connectwisedev.com")[1],
            "https://staging.connectwisedev.com/"
        );
        assert_eq!(
            aliases("http://127.0.0.1:4580"),
            ["http://127.0.0.1:4580/", "http://localhost:4580/"]
        );
        for alone in [
            "cw.example.com",
            "myconnectwise.net",
            "api-.myconnectwise.net",
            "a.b.myconnectwise.net",
            "evilmyconnectwise.net",
            "na.myconnectwise.net.evil.com",
        ] {
            assert_eq!(aliases(alone).len(), 1, "{alone}");
        }
    }

    #[test]
    fn codebase_is_normalised_and_checked() {
        assert_eq!(normalise_codebase("v2025_1").unwrap(), "v2025_1/");
        assert_eq!(
            normalise_codebase("/v4_6_release/").unwrap(),
            "v4_6_release/"
        );
        assert!(normalise_codebase("../x").is_err());
        assert!(normalise_codebase("").is_err());
    }

    #[test]
    fn reads_next_from_link_header() {
        let link = r#"<https://x/apis/3.0/company/companies?page=2>; rel="next", <https://x/apis/3.0/company/companies?page=9>; rel="last""#;
        assert!(link_has_next(link));
        assert!(!link_has_next(
            r#"<https://x?page=1>; rel="first", <https://x?page=1>; rel="prev""#
        ));
        assert!(!link_has_next(""));
    }
}
