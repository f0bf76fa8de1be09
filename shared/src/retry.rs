//! Retries that are not HTTP's (those are in [`crate::http`]): a write that lost to a
//! concurrent one (a version conflict, a failed condition) is decided again from a fresh
//! read. Every such loop runs on backon's `Retryable` with this backoff.

use std::time::Duration;

use backon::ExponentialBuilder;

/// `tries` attempts in all, a few jittered milliseconds apart, so that two writers that
/// collided do not collide again.
pub fn after_conflict(tries: usize) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_millis(200))
        .with_max_times(tries.saturating_sub(1))
        .with_jitter()
}
