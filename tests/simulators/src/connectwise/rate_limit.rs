//! ConnectWise's rate limit (Developer Guide, NOTES §7): "If your integration currently sends
//! over 1,000 requests per minute, it will likely experience rate limiting": 429 with a
//! `Retry-After` header in seconds and the body
//! `{"error":"ConnectWiseAPI","message":"Too many requests. Please try again in 30 seconds."}`.
//!
//! Modelled as a sliding minute of the simulation clock (so a test that scales time scales
//! the limit with it) per API member (its credentials), at
//! [`super::CwSwitches::rate_limit_per_minute`] requests (`None`: no limit). The peak of any
//! minute and the refusals are kept for the benches (`cw_rpm_peak=`, `throttled=`).

use std::collections::{HashMap, VecDeque};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::App;

/// The requests of one member in the last minute, and what the limit did.
#[derive(Debug, Default)]
pub struct RateWindows {
    recent: HashMap<String, VecDeque<DateTime<Utc>>>,
    /// The most requests any member made in one sliding minute.
    pub peak: usize,
    /// Requests refused with 429.
    pub throttled: u64,
}

impl RateWindows {
    /// Counts a request of `member` at `now`: `Err(seconds to wait)` when it is over `limit`.
    pub fn admit(
        &mut self,
        member: &str,
        now: DateTime<Utc>,
        limit: usize,
        minute: Duration,
    ) -> Result<(), i64> {
        let window = self.recent.entry(member.to_owned()).or_default();
        while window.front().is_some_and(|t| now - *t >= minute) {
            window.pop_front();
        }
        if window.len() >= limit {
            self.throttled += 1;
            let oldest = window.front().copied().unwrap_or(now);
            let wait = (minute - (now - oldest)).num_seconds() + 1;
            return Err(wait.clamp(1, 60));
        }
        window.push_back(now);
        self.peak = self.peak.max(window.len());
        Ok(())
    }
}

/// Route middleware: refuses a request over the member's limit.
pub(crate) async fn limit(State(app): State<App>, req: Request, next: Next) -> Response {
    let switches = app.switches();
    let Some(limit) = switches.rate_limit_per_minute else {
        return next.run(req).await;
    };
    let minute = Duration::milliseconds(switches.rate_limit_minute_ms.max(1) as i64);
    // The member is its credentials (`Authorization`); a request without any counts alone.
    let member = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let admitted = app
        .0
        .rate_windows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .admit(&member, crate::clock::now(), limit as usize, minute);
    match admitted {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({
                    "error": "ConnectWiseAPI",
                    "message": format!("Too many requests. Please try again in {wait} seconds."),
                })),
            )
                .into_response();
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&wait.to_string()).unwrap_or(HeaderValue::from_static("30")),
            );
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sliding_minute_refuses_the_request_over_the_limit_and_says_how_long_to_wait() {
        let mut w = RateWindows::default();
        let t0 = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for i in 0..3 {
            assert_eq!(
                w.admit("a", t0 + Duration::seconds(i), 3, Duration::minutes(1)),
                Ok(())
            );
        }
        // The fourth within the minute waits until the first leaves it.
        assert_eq!(
            w.admit("a", t0 + Duration::seconds(10), 3, Duration::minutes(1)),
            Err(51)
        );
        // Another member has a minute of its own.
        assert_eq!(
            w.admit("b", t0 + Duration::seconds(10), 3, Duration::minutes(1)),
            Ok(())
        );
        // A minute after the first, there is room again.
        assert_eq!(
            w.admit("a", t0 + Duration::seconds(60), 3, Duration::minutes(1)),
            Ok(())
        );
        assert_eq!((w.peak, w.throttled), (3, 1));
    }
}
