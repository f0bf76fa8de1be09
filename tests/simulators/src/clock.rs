//! The simulators' clock: the wall clock plus an offset that a simulation moves (the
//! simulated month sets it with the product's, so both see the same day).

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Now, as the simulators see it.
pub fn now() -> DateTime<Utc> {
    Utc::now() + Duration::milliseconds(OFFSET_MS.load(Ordering::Relaxed))
}

/// Moves the simulators' clock to `offset` ahead of the wall clock.
pub fn set_offset(offset: Duration) {
    OFFSET_MS.store(offset.num_milliseconds(), Ordering::Relaxed);
}
