//! Callback verification: which key URLs may be fetched, and the signature check.
//!
//! `x-content-signature = base64(HMAC-SHA256(key = SHA256(utf8(signing_key)), msg = raw body))`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use url::Url;

/// The HMAC key derived from a ConnectWise signing key: `SHA256(utf8(signing_key))`.
/// Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// Derives the HMAC key from the `signing_key` string the key URL returns.
    pub fn derive(signing_key: &str) -> Self {
        Self(Sha256::digest(signing_key.as_bytes()).into())
    }

    /// Whether `signature` (already base64-decoded) is the HMAC of `body`, compared in
    /// constant time.
    pub fn verifies(&self, body: &[u8], signature: &[u8]) -> bool {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    }

    /// The header value ConnectWise would send for `body` (for tests and tools).
    pub fn sign(&self, body: &[u8]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Decodes the `x-content-signature` header: standard base64 of a 32-byte HMAC-SHA256.
pub fn decode_signature(header: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(header.trim()).ok()?;
    (bytes.len() == 32).then_some(bytes)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The key URL if it may be fetched: it parses, uses https (http only when the allowed
/// origin is itself http on a loopback host: the local simulator), carries no
/// credentials, is the callback key endpoint, and its origin (scheme, host, port) is one of
/// the allowed origins (the configured ConnectWise site and its aliases). Otherwise the
/// reason, which never quotes the URL.
pub fn trusted_key_url(raw: &str, allowed_origins: &[Url]) -> Result<Url, &'static str> {
    let url = Url::parse(raw.trim()).map_err(|_| "Metadata.key_url is not a valid URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Metadata.key_url must not carry credentials");
    }
    // Only ConnectWise's callback key endpoint (`/{codebase}/system/callbackkey/index.rails`,
    // sometimes with a doubled slash): nothing else on the host is ever fetched, and the
    // member's credentials, when the host wants them, go nowhere else.
    if !url
        .path()
        .to_ascii_lowercase()
        .ends_with("/system/callbackkey/index.rails")
    {
        return Err("Metadata.key_url is not a ConnectWise callback key URL");
    }
    // Origins compare scheme, host and port; http is only ever the local simulator's.
    let usable = |a: &Url| a.scheme() == "https" || is_loopback(a);
    if url.origin().is_tuple()
        && allowed_origins
            .iter()
            .any(|a| a.origin() == url.origin() && usable(a))
    {
        return Ok(url);
    }
    let local_http = url.scheme() == "http"
        && allowed_origins
            .iter()
            .any(|a| a.scheme() == "http" && is_loopback(a));
    if url.scheme() != "https" && !local_http {
        return Err("Metadata.key_url must use https");
    }
    Err("Metadata.key_url is not on the configured ConnectWise host")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_simulators_fixed_vector() {
        // The vector of tests/simulators (computed independently with Python).
        let key = SigningKey::derive("sim-signing-key");
        let body = br#"{"MessageId":"m1","Action":"updated"}"#;
        let expected = "wDPQh4B4qlXadrGthLFQEE5si3i6qjcnC4BuQfBrL3A=";
        assert_eq!(key.sign(body), expected);
        assert!(key.verifies(body, &decode_signature(expected).unwrap()));
        assert!(!key.verifies(b"{}", &decode_signature(expected).unwrap()));
        assert!(!SigningKey::derive("other").verifies(body, &decode_signature(expected).unwrap()));
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn decodes_only_standard_base64_of_32_bytes() {
        assert!(decode_signature(" wDPQh4B4qlXadrGthLFQEE5si3i6qjcnC4BuQfBrL3A= ").is_some());
        assert!(decode_signature("wDPQh4B4qlXadrGthLFQEE5si3i6qjcnC4BuQfBrL3A").is_none());
        assert!(decode_signature("not base64!").is_none());
        assert!(decode_signature("AAAA").is_none());
    }

    #[test]
    fn trusts_only_the_configured_origin_and_its_aliases() {
        let site = Url::parse("https://api-na.myconnectwise.net").unwrap();
        let cw = shared::connectwise::client::site_aliases(&site);
        let ok =
            "https://api-na.myconnectwise.net/v4_6_release/system/callbackkey/index.rails?id=x";
        assert!(trusted_key_url(ok, &cw).is_ok());
        assert!(
            trusted_key_url(
                "https://API-NA.myconnectwise.net:443/v2025_1//system/callbackkey/index.rails?id=x",
                &cw
            )
            .is_ok()
        );
        assert!(
            trusted_key_url(
                "https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=x",
                &cw
            )
            .is_ok()
        );
        assert!(
            trusted_key_url(
                "https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=x",
                &[site]
            )
            .is_err(),
            "an alias is trusted only when listed"
        );
        for bad in [
            "http://api-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=x",
            "http://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=x",
            "https://api-eu.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=x",
            "https://eu.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=x",
            "https://api-na.myconnectwise.net.evil.com/v2025_1//system/callbackkey/index.rails?id=x",
            "https://api-na.myconnectwise.net:8443/v2025_1//system/callbackkey/index.rails?id=x",
            "https://user:pw@api-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=x",
            "https://user@na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=x",
            "ftp://api-na.myconnectwise.net/system/callbackkey/index.rails",
            "/relative/v2025_1//system/callbackkey/index.rails?id=x",
            "not a url",
            "https://api-na.myconnectwise.net/v2025_1/apis/3.0/company/companies?id=x",
            "https://api-na.myconnectwise.net/v2025_1/system/callbackkey/index.rails/x?id=x",
            "file:///etc/passwd",
        ] {
            assert!(trusted_key_url(bad, &cw).is_err(), "{bad}");
        }
        let local = shared::connectwise::client::site_aliases(
            &Url::parse("http://127.0.0.1:4580").unwrap(),
        );
        assert!(
            trusted_key_url(
                "http://127.0.0.1:4580/v2025_1//system/callbackkey/index.rails?id=x",
                &local
            )
            .is_ok()
        );
        assert!(
            trusted_key_url(
                "http://localhost:4580/v2025_1//system/callbackkey/index.rails?id=x",
                &local
            )
            .is_ok()
        );
        assert!(
            trusted_key_url(
                "http://127.0.0.1:4581/v2025_1//system/callbackkey/index.rails?id=x",
                &local
            )
            .is_err()
        );
        assert!(
            trusted_key_url(
                "http://localhost:4581/v2025_1//system/callbackkey/index.rails?id=x",
                &local
            )
            .is_err()
        );
        let plain = [Url::parse("http://cw.example.com").unwrap()];
        assert!(
            trusted_key_url(
                "http://cw.example.com/v4_6_release/system/callbackkey/index.rails",
                &plain
            )
            .is_err()
        );
    }
}
