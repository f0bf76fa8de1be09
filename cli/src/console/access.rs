//! Who may use the console. [`Access`] is the port; [`LoopbackToken`] is `acw console`'s
//! gate: loopback `Host` only (DNS rebinding), a random token in the printed URL then kept in
//! an HttpOnly, SameSite=Strict cookie, and changing requests only from the page's own origin.

use axum::http::Method;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

/// What the gate looks at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a Method,
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    /// The `token` query parameter.
    pub query_token: Option<&'a str>,
    /// The `Cookie` header.
    pub cookies: Option<&'a str>,
}

/// A request the console refuses: the status and a message for its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: &'static str,
}

/// A request the console serves; `set_cookie` is sent back when the token came in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub set_cookie: Option<String>,
}

/// Decides which requests reach the pages and actions. A hosted console (behind a Lambda
/// Function URL with an identity provider) would implement it over the provider's token.
pub trait Access: Send + Sync + 'static {
    fn check(&self, request: &RequestFacts<'_>) -> Result<Grant, Refusal>;
}

/// The gate of `acw console` on `127.0.0.1:port`.
#[derive(Debug)]
pub struct LoopbackToken {
    port: u16,
    token: SecretString,
}

const NO_TOKEN: Refusal = Refusal {
    status: 401,
    message: "open the URL acw console printed (it carries the token)",
};
const BAD_TOKEN: Refusal = Refusal {
    status: 403,
    message: "this token is not the console's; open the URL acw console printed",
};
const FOREIGN_HOST: Refusal = Refusal {
    status: 421,
    message: "the console answers only to 127.0.0.1 and localhost on its port",
};
const FOREIGN_ORIGIN: Refusal = Refusal {
    status: 403,
    message: "changes are accepted only from the console's own page",
};

impl LoopbackToken {
    /// A gate with a fresh random token (32 bytes, URL-safe base64).
    pub fn new(port: u16) -> anyhow::Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| anyhow::anyhow!("no random source for the console's token: {e}"))?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Ok(Self::with_token(port, token))
    }

    pub fn with_token(port: u16, token: String) -> Self {
        Self {
            port,
            token: SecretString::from(token),
        }
    }

    /// The URL to open: the only place the token is shown.
    pub fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/?token={}",
            self.port,
            self.token.expose_secret()
        )
    }

    /// The cookie's name: one per port, as cookies are not kept apart by port.
    fn cookie_name(&self) -> String {
        format!("acw_console_{}", self.port)
    }

    fn is_token(&self, given: &str) -> bool {
        constant_time_eq(given.as_bytes(), self.token.expose_secret().as_bytes())
    }

    fn own_host(&self, host: &str) -> bool {
        host == format!("127.0.0.1:{}", self.port) || host == format!("localhost:{}", self.port)
    }

    fn own_origin(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|host| self.own_host(host))
    }

    fn cookie_token<'a>(&self, cookies: &'a str) -> Option<&'a str> {
        let name = self.cookie_name();
        cookies
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

impl Access for LoopbackToken {
    fn check(&self, r: &RequestFacts<'_>) -> Result<Grant, Refusal> {
        if !r.host.is_some_and(|h| self.own_host(h)) {
            return Err(FOREIGN_HOST);
        }
        let changing = !matches!(*r.method, Method::GET | Method::HEAD);
        if changing && !r.origin.is_some_and(|o| self.own_origin(o)) {
            return Err(FOREIGN_ORIGIN);
        }
        if let Some(given) = r.query_token {
            return if self.is_token(given) {
                Ok(Grant {
                    set_cookie: Some(format!(
                        "{}={}; HttpOnly; SameSite=Strict; Path=/",
                        self.cookie_name(),
                        self.token.expose_secret()
                    )),
                })
            } else {
                Err(BAD_TOKEN)
            };
        }
        match r.cookies.and_then(|c| self.cookie_token(c)) {
            Some(given) if self.is_token(given) => Ok(Grant { set_cookie: None }),
            Some(_) => Err(BAD_TOKEN),
            None => Err(NO_TOKEN),
        }
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(method: &'a Method, host: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            method,
            host: Some(host),
            origin: None,
            query_token: None,
            cookies: None,
        }
    }

    #[test]
    fn the_token_is_random_url_safe_and_only_in_the_url() {
        let a = LoopbackToken::new(8080).unwrap();
        let b = LoopbackToken::new(8080).unwrap();
        let token = a.url().split_once("?token=").unwrap().1.to_owned();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        assert_ne!(a.url(), b.url());
        assert!(!format!("{a:?}").contains(&token), "Debug hides the token");
    }

    #[test]
    fn token_then_cookie_and_every_refusal() {
        let gate = LoopbackToken::with_token(8080, "tok".into());
        let get = Method::GET;
        let post = Method::POST;

        let r = facts(&get, "127.0.0.1:8080");
        assert_eq!(gate.check(&r), Err(NO_TOKEN));
        let with_token = RequestFacts {
            query_token: Some("tok"),
            ..r
        };
        let grant = gate.check(&with_token).unwrap();
        let cookie = grant.set_cookie.unwrap();
        assert!(cookie.starts_with("acw_console_8080=tok;"));
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let wrong = RequestFacts {
            query_token: Some("tox"),
            ..r
        };
        assert_eq!(gate.check(&wrong), Err(BAD_TOKEN));

        let with_cookie = RequestFacts {
            cookies: Some("other=1; acw_console_8080=tok"),
            ..r
        };
        assert_eq!(gate.check(&with_cookie), Ok(Grant { set_cookie: None }));
        let other_port = RequestFacts {
            cookies: Some("acw_console_9090=tok"),
            ..r
        };
        assert_eq!(gate.check(&other_port), Err(NO_TOKEN));
        let bad_cookie = RequestFacts {
            cookies: Some("acw_console_8080=nope"),
            ..r
        };
        assert_eq!(gate.check(&bad_cookie), Err(BAD_TOKEN));

        for host in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost",
        ] {
            let r = RequestFacts {
                host: Some(host),
                ..with_cookie
            };
            assert_eq!(gate.check(&r), Err(FOREIGN_HOST), "{host}");
        }
        let localhost = RequestFacts {
            host: Some("localhost:8080"),
            ..with_cookie
        };
        assert!(gate.check(&localhost).is_ok());

        let post_r = RequestFacts {
            method: &post,
            ..with_cookie
        };
        assert_eq!(gate.check(&post_r), Err(FOREIGN_ORIGIN), "no Origin");
        for origin in ["http://evil.example", "https://127.0.0.1:8080", "null"] {
            let r = RequestFacts {
                origin: Some(origin),
                ..post_r
            };
            assert_eq!(gate.check(&r), Err(FOREIGN_ORIGIN), "{origin}");
        }
        let own = RequestFacts {
            origin: Some("http://localhost:8080"),
            ..post_r
        };
        assert!(gate.check(&own).is_ok());
    }
}
