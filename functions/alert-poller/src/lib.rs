//! The alert poller (scheduled): one poll of `shared::services::alerts::poll`, with its
//! run record (`shared::services::cycles::alert_poll`, which `acw sync alerts` runs too). An
//! error makes the invocation fail (and alarm) after the record says why; the cursor holds
//! what was done, so the next poll goes on from there.
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub use shared::services::cycles::{alert_poll as handle, alert_poll_over as handle_with};

#[cfg(test)]
mod tests;

/// The poll's deadline from its invocation's (ms since the epoch): 10 s kept for the sweep's
/// cursor and the run record.
pub fn deadline(deadline_ms: u64) -> shared::deadline::Deadline {
    shared::deadline::Deadline::lambda(
        deadline_ms,
        std::time::Duration::from_secs(10),
        std::time::Duration::MAX,
    )
}
