//! Settings from the environment, read once at cold start. A missing or bad variable fails
//! fast with its name in the message.

use std::time::Duration;

/// Why the environment could not be turned into [`Settings`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// How the API clients talk to the network.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Longest `Retry-After` we wait out; a longer one surfaces as an error.
    pub max_retry_after: Duration,
    /// Requests in flight at once, per API.
    pub connectwise_concurrency: usize,
    pub acronis_concurrency: usize,
    /// `CW_REQUESTS_PER_MINUTE`: ConnectWise's request budget across the deployment
    /// (0: none). Below ConnectWise's 1,000 a minute with a margin.
    pub connectwise_requests_per_minute: u32,
    /// `CW_BUDGET_MINUTE_MS`: the budget's minute (60 s; a simulation that scales time, and
    /// ConnectWise's limit with it, shortens it).
    pub budget_minute: Duration,
    /// Where this process's requests stand in that budget (its function's, see
    /// [`crate::functions::Function::budget_priority`]; `acw`: urgent).
    pub budget_priority: crate::domain::request_budget::Priority,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 4,
            max_retry_after: Duration::from_secs(60),
            connectwise_concurrency: 4,
            acronis_concurrency: 8,
            connectwise_requests_per_minute: 900,
            budget_minute: Duration::from_secs(60),
            budget_priority: crate::domain::request_budget::Priority::Normal,
        }
    }
}

/// Everything a function needs from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `TABLE_NAME`: the DynamoDB table.
    pub table_name: String,
    /// `EVENT_BUS_NAME`: the EventBridge bus.
    pub event_bus_name: String,
    /// `SECRET_ID`: name or ARN of the credentials secret.
    pub secret_id: String,
    /// `HTTP_TIMEOUT_SECS`, `HTTP_MAX_ATTEMPTS`, `CW_MAX_CONCURRENCY`, `ACRONIS_MAX_CONCURRENCY`,
    /// `CW_REQUESTS_PER_MINUTE`.
    pub http: HttpSettings,
    /// `SECRET_RELOAD_SECS`: the least time between two reads of the secret after an API
    /// refused the credentials (default 60; tests shorten it).
    pub secret_reload: Duration,
    /// `STACK_NAME`: the stack's name, which names its dead-letter queues (the template sets
    /// it for every function).
    pub stack_name: Option<String>,
}

impl Settings {
    /// These settings for `function` (its place in ConnectWise's request budget).
    pub fn of(mut self, function: crate::functions::Function) -> Self {
        self.http.budget_priority = function.budget_priority();
        self
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let defaults = HttpSettings::default();
        Ok(Self {
            table_name: required(&lookup, "TABLE_NAME")?,
            event_bus_name: required(&lookup, "EVENT_BUS_NAME")?,
            secret_id: required(&lookup, "SECRET_ID")?,
            http: HttpSettings {
                timeout: Duration::from_secs(
                    number(&lookup, "HTTP_TIMEOUT_SECS", 1, 900)?
                        .unwrap_or(defaults.timeout.as_secs()),
                ),
                max_attempts: number(&lookup, "HTTP_MAX_ATTEMPTS", 1, 10)?
                    .map_or(defaults.max_attempts, |n| n as u32),
                connectwise_concurrency: number(&lookup, "CW_MAX_CONCURRENCY", 1, 64)?
                    .map_or(defaults.connectwise_concurrency, |n| n as usize),
                acronis_concurrency: number(&lookup, "ACRONIS_MAX_CONCURRENCY", 1, 64)?
                    .map_or(defaults.acronis_concurrency, |n| n as usize),
                connectwise_requests_per_minute: number(
                    &lookup,
                    "CW_REQUESTS_PER_MINUTE",
                    0,
                    1_000_000,
                )?
                .map_or(defaults.connectwise_requests_per_minute, |n| n as u32),
                budget_minute: number(&lookup, "CW_BUDGET_MINUTE_MS", 100, 60_000)?
                    .map_or(defaults.budget_minute, Duration::from_millis),
                ..defaults
            },
            secret_reload: number(&lookup, "SECRET_RELOAD_SECS", 0, 3600)?
                .map_or(crate::secrets::RELOAD_INTERVAL, Duration::from_secs),
            stack_name: lookup("STACK_NAME")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        })
    }
}

/// A required, non-blank variable.
pub fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, SettingsError> {
    match lookup(name) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        Some(_) => Err(SettingsError::Invalid {
            name,
            reason: "it is blank".into(),
        }),
        None => Err(SettingsError::Missing(name)),
    }
}

/// An optional whole number within `min..=max`.
pub fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, SettingsError> {
    let Some(raw) = lookup(name) else {
        return Ok(None);
    };
    let n: u64 = raw.trim().parse().map_err(|_| SettingsError::Invalid {
        name,
        reason: format!("expected a whole number, got {raw:?}"),
    })?;
    if !(min..=max).contains(&n) {
        return Err(SettingsError::Invalid {
            name,
            reason: format!("{n} is outside {min}..={max}"),
        });
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("TABLE_NAME", "t"),
        ("EVENT_BUS_NAME", "b"),
        ("SECRET_ID", "s"),
    ];

    #[test]
    fn reads_required_and_defaults() {
        let s = Settings::from_lookup(env(&BASE)).unwrap();
        assert_eq!(s.table_name, "t");
        assert_eq!(s.event_bus_name, "b");
        assert_eq!(s.secret_id, "s");
        assert_eq!(s.http, HttpSettings::default());
    }

    #[test]
    fn names_the_missing_variable() {
        let err =
            Settings::from_lookup(env(&[("TABLE_NAME", "t"), ("SECRET_ID", "s")])).unwrap_err();
        assert_eq!(err, SettingsError::Missing("EVENT_BUS_NAME"));
        assert_eq!(
            err.to_string(),
            "environment variable EVENT_BUS_NAME is required but not set"
        );
    }

    #[test]
    fn refuses_blank_and_bad_numbers() {
        let err = Settings::from_lookup(env(&[
            ("TABLE_NAME", " "),
            ("EVENT_BUS_NAME", "b"),
            ("SECRET_ID", "s"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("TABLE_NAME is invalid: it is blank"),
            "{err}"
        );

        let mut pairs = BASE.to_vec();
        pairs.push(("HTTP_MAX_ATTEMPTS", "lots"));
        let err = Settings::from_lookup(env(&pairs)).unwrap_err();
        assert!(
            err.to_string()
                .contains("HTTP_MAX_ATTEMPTS is invalid: expected a whole number"),
            "{err}"
        );

        let mut pairs = BASE.to_vec();
        pairs.push(("CW_MAX_CONCURRENCY", "0"));
        let err = Settings::from_lookup(env(&pairs)).unwrap_err();
        assert!(err.to_string().contains("0 is outside 1..=64"), "{err}");
    }

    #[test]
    fn reads_overrides() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("HTTP_TIMEOUT_SECS", "12"),
            ("HTTP_MAX_ATTEMPTS", "2"),
            ("ACRONIS_MAX_CONCURRENCY", "3"),
        ]);
        let s = Settings::from_lookup(env(&pairs)).unwrap();
        assert_eq!(s.http.timeout, Duration::from_secs(12));
        assert_eq!(s.http.max_attempts, 2);
        assert_eq!(s.http.acronis_concurrency, 3);
    }
}
