//! The alert poller (scheduled): one poll of `shared::services::alerts::poll`, with its
//! run record (`shared::services::cycles::alert_poll`, which `acw sync alerts` runs too). An
//! error makes the invocation fail (and alarm) after the record says why; the cursor holds
//! what was done, so the next poll goes on from there.

pub use shared::services::cycles::alert_poll as handle;
