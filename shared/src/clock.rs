//! The product's clock: the wall clock plus an offset that only a simulation moves (the
//! simulated month runs 30 days of cycles in minutes by setting it; production and the
//! tests never do). Every decision that depends on the date reads this clock.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Now, as the product sees it.
pub fn now() -> DateTime<Utc> {
    Utc::now() + Duration::milliseconds(OFFSET_MS.load(Ordering::Relaxed))
}

/// Moves the product's clock to `offset` ahead of the wall clock (simulations only).
pub fn set_offset(offset: Duration) {
    OFFSET_MS.store(offset.num_milliseconds(), Ordering::Relaxed);
}
