//! The console's routes over its two ports, [`Backend`] and [`Access`] (as the webhook's
//! router takes its ports), so the same router can be hosted elsewhere with another gate.

use std::sync::Arc;

use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::access::{Access, RequestFacts};
use super::actions::Action;
use super::backend::Backend;
use super::views::{self, Tab};

/// The page's only stylesheet, served from the binary.
const STYLE: &str = include_str!("style.css");

/// No script at all; styles, forms and frames only from the console itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the routes share.
#[derive(Debug)]
pub struct Console<B, A> {
    pub backend: B,
    pub access: A,
}

type Shared<B, A> = State<Arc<Console<B, A>>>;
type Fields = Vec<(String, String)>;

pub fn router<B: Backend, A: Access>(console: Arc<Console<B, A>>) -> Router {
    Router::new()
        .route("/", get(page::<B, A>))
        .route("/style.css", get(style))
        .route("/preview", post(preview::<B, A>))
        .route("/apply", post(apply::<B, A>))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            console.clone(),
            gate::<B, A>,
        ))
        .with_state(console)
}

/// Every request passes the gate first; every answer, refusals included, carries the
/// security headers.
async fn gate<B: Backend, A: Access>(
    State(console): Shared<B, A>,
    request: Request,
    next: Next,
) -> Response {
    let verdict = {
        let headers = request.headers();
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let query_token = request.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        });
        console.access.check(&RequestFacts {
            method: request.method(),
            host: text(header::HOST),
            origin: text(header::ORIGIN),
            query_token: query_token.as_deref(),
            cookies: text(header::COOKIE),
        })
    };
    let mut response = match verdict {
        Err(refusal) => (
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN),
            Json(json!({ "error": refusal.message })),
        )
            .into_response(),
        Ok(grant) => {
            let mut response = next.run(request).await;
            if let Some(cookie) = grant
                .set_cookie
                .and_then(|c| HeaderValue::from_str(&c).ok())
            {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
    };
    secure(response.headers_mut());
    response
}

fn secure(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    // The first URL carries the token: never sent to another site as a referrer (and
    // "same-origin", not "no-referrer", under which browsers send `Origin: null` with forms).
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::CACHE_CONTROL, "no-store");
    set(
        h,
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        h,
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
}

async fn page<B: Backend, A: Access>(
    State(console): Shared<B, A>,
    Query(query): Query<Fields>,
) -> Response {
    let tab = query
        .iter()
        .find(|(k, _)| k == "tab")
        .map(|(_, v)| Tab::from_slug(v));
    match tab {
        None => views::tab(&console.backend, Tab::Integration, &query)
            .await
            .into_response(),
        Some(Some(tab)) => views::tab(&console.backend, tab, &query)
            .await
            .into_response(),
        Some(None) => not_found().await.into_response(),
    }
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

/// Runs the change's command with `--dry-run` and shows what it would do, with Apply.
async fn preview<B: Backend, A: Access>(
    State(console): Shared<B, A>,
    Form(fields): Form<Fields>,
) -> Response {
    run_action(&console.backend, &fields, true).await
}

/// Runs the change's command as previewed.
async fn apply<B: Backend, A: Access>(
    State(console): Shared<B, A>,
    Form(fields): Form<Fields>,
) -> Response {
    run_action(&console.backend, &fields, false).await
}

/// The form's command, previewed (`--dry-run`) or applied: 400 for a form that names no
/// complete change, 422 when the command refuses.
async fn run_action<B: Backend>(backend: &B, fields: &Fields, dry_run: bool) -> Response {
    let action = match Action::from_form(fields) {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_REQUEST, views::refused_form(&e)).into_response(),
    };
    let ran = backend.run(action.argv(dry_run)).await;
    let status = if ran.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = if dry_run {
        views::preview(&action, fields, &ran)
    } else {
        views::applied(&action, &ran)
    };
    (status, page).into_response()
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "no such page; the tabs are under /?tab=…" })),
    )
}
