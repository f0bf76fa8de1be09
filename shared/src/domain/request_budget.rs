//! ConnectWise's request budget, shared by every function instance and `acw`: a GCRA
//! (generic cell rate algorithm) token bucket kept as one number in the table, the
//! *theoretical arrival time* (`tat`): when the budget would be spent if every request
//! granted so far had been sent at exactly the budget's rate. A grant of `n` requests moves
//! it `n` intervals on, and is allowed only while it stays within a tolerance ahead of now.
//!
//! - **Bound**: in any window of `W`, at most `W / interval + tolerance / interval + 1`
//!   requests are granted. The interval is chosen so that, with what an instance takes spent
//!   within half a second of its grant, no sliding minute sends more than the budget (899 at
//!   900 a minute), well under ConnectWise's 1,000; the sustained rate is 877 a minute.
//! - **Priorities**: each priority has its own tolerance. Background work (the usage push)
//!   stops being granted when the `tat` is ⅓ s ahead, catching up at ⅔ s; a sale or a
//!   ticket is granted up to 1 s ahead, so it overtakes a backfill using the whole budget.
//! - **Every caller backs off**: a 429 moves the `tat` past the server's `Retry-After`, so no
//!   instance is granted anything before then.
//!
//! Times are microseconds since the epoch, on the product's clock.

/// The budget: requests per minute across the deployment. A simulation that runs faster
/// than the wall clock shortens the minute (and scales ConnectWise's limit with it); every
/// tolerance below is a share of the minute, so the bound holds at any scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    per_minute: u32,
    minute_us: i64,
}

/// Who asks: how far ahead of now the budget may be promised to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// A backfill that can wait: the usage push.
    Background,
    /// Catching up: the reconciler, the alert poller.
    Normal,
    /// Someone waits for it: a sale, a ticket, an operator at `acw`.
    Urgent,
}

const MINUTE_US: i64 = 60_000_000;

impl Rate {
    /// `None` for 0 (no budget).
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        Self::per_scaled_minute(per_minute, MINUTE_US)
    }

    /// `per_minute` in a minute of `minute_us` (a simulation's; 60 s in production).
    pub fn per_scaled_minute(per_minute: u32, minute_us: i64) -> Option<Self> {
        (per_minute > 0 && minute_us > 0).then_some(Self {
            per_minute,
            minute_us,
        })
    }

    pub fn requests_per_minute(self) -> u32 {
        self.per_minute
    }

    /// The length of a minute (60 s unless a simulation scales it).
    pub fn minute_us(self) -> i64 {
        self.minute_us
    }

    /// How long what an instance takes may be spent after its grant: half a second of a
    /// minute.
    pub fn batch_life_us(self) -> i64 {
        self.minute_us / 120
    }

    /// The time one request costs. Chosen so that no sliding minute can send more than the
    /// budget: the grants of a minute, of the batches' life and of the largest tolerance add
    /// up to `per_minute - 1`, plus the one at the window's edge. So the sustained rate is a
    /// little under the budget (877 of 900 a minute).
    pub fn interval_us(self) -> i64 {
        let span = self.minute_us + self.batch_life_us() + self.minute_us / 60;
        let n = i64::from(self.per_minute.max(2) - 1);
        (span + n - 1) / n
    }

    /// How far ahead of now the budget may be promised to `priority`: 1 s, ⅔ s and ⅓ s of a
    /// minute (at least one request).
    pub fn tolerance_us(self, priority: Priority) -> i64 {
        let of_minute = match priority {
            Priority::Background => self.minute_us / 180,
            Priority::Normal => self.minute_us / 90,
            Priority::Urgent => self.minute_us / 60,
        };
        of_minute.max(self.interval_us())
    }

    /// The most requests in one batch that keeps the bound (its cost within the largest
    /// tolerance).
    pub fn max_batch(self, wanted: u32) -> u32 {
        let fits = self.tolerance_us(Priority::Urgent) / self.interval_us();
        wanted.min(fits.clamp(1, i64::from(u32::MAX)) as u32)
    }

    /// The batch `priority` takes (at most `wanted`): one that costs at most half its
    /// tolerance, so that the next batch is granted while the last one is still being sent,
    /// with half the tolerance left for the round trip to the table. A batch as large as the
    /// tolerance is granted only once the budget has gone idle ([`plan`]), and the budget
    /// idles for a round trip at every batch: the two usage shard workers used 87% of it.
    pub fn batch_for(self, priority: Priority, wanted: u32) -> u32 {
        let fits = self.tolerance_us(priority) / 2 / self.interval_us();
        self.max_batch(wanted)
            .min(fits.clamp(1, i64::from(u32::MAX)) as u32)
    }

    /// The most requests any sliding minute can send when what is granted is sent within
    /// `life_us` of its grant: the grants of a minute and `life_us`, plus the largest
    /// tolerance, plus one.
    pub fn sliding_minute_bound(self, life_us: i64) -> u64 {
        let i = self.interval_us();
        ((self.minute_us + life_us + self.tolerance_us(Priority::Urgent)) / i + 1) as u64
    }
}

/// What to ask the table for, given the `tat` last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The budget is idle (`tat` at or before now): set it to `tat`, if it is still idle.
    Start { tat: i64 },
    /// The budget is in use: move it `by` on, if it is still at most `at_most`.
    Extend { at_most: i64, by: i64 },
    /// Nothing can be granted for `us` yet.
    Wait { us: i64 },
}

/// The grant of `n` requests at `now`, for `priority`, from a `tat` last seen (`None`: never
/// written). The table applies it only if its `tat` still allows it (see [`Grant`]); if not,
/// it answers with its `tat` and this is asked again.
pub fn plan(tat: Option<i64>, now: i64, n: u32, rate: Rate, priority: Priority) -> Grant {
    let cost = i64::from(n.max(1)) * rate.interval_us();
    // A grant larger than the tolerance could never be made; asking for one is a caller's
    // choice of batch, so the tolerance stretches to one batch.
    let tolerance = rate.tolerance_us(priority).max(cost);
    match tat {
        None => Grant::Start { tat: now + cost },
        Some(t) if t <= now => Grant::Start { tat: now + cost },
        Some(t) if t + cost - now <= tolerance => Grant::Extend {
            at_most: now + tolerance - cost,
            by: cost,
        },
        Some(t) => Grant::Wait {
            us: t + cost - tolerance - now,
        },
    }
}

/// The `tat` that holds every caller back until `until` (after a 429 and its
/// `Retry-After`): no priority's tolerance reaches past it before then.
pub fn hold_until(until: i64, rate: Rate) -> i64 {
    until + rate.tolerance_us(Priority::Urgent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn rate() -> Rate {
        Rate::per_minute(900).unwrap()
    }

    #[test]
    fn no_budget_is_none_and_the_interval_never_exceeds_the_rate() {
        assert_eq!(Rate::per_minute(0), None);
        let r = rate();
        assert_eq!(r.interval_us(), 68_410);
        assert_eq!(MINUTE_US / r.interval_us(), 877, "the sustained rate");
        // No sliding minute sends more than the budget, at any rate and any scale.
        for per_minute in [2, 7, 36, 120, 900, 1000, 20_000] {
            for minute in [MINUTE_US, MINUTE_US / 20] {
                let r = Rate::per_scaled_minute(per_minute, minute).unwrap();
                let bound = r.sliding_minute_bound(r.batch_life_us());
                assert!(
                    bound <= u64::from(per_minute),
                    "{per_minute} a minute of {minute}: {bound}"
                );
            }
        }
        assert_eq!(r.sliding_minute_bound(r.batch_life_us()), 899);
        assert_eq!(r.max_batch(8), 8);
        assert_eq!(Rate::per_minute(120).unwrap().max_batch(8), 1);
        // Each priority's batch fits twice in its tolerance, at any scale.
        for minute in [MINUTE_US, MINUTE_US / 4] {
            let r = Rate::per_scaled_minute(900, minute).unwrap();
            let batches = [Priority::Background, Priority::Normal, Priority::Urgent]
                .map(|p| r.batch_for(p, 8));
            assert_eq!(batches, [2, 4, 7], "a minute of {minute} µs");
            for p in [Priority::Background, Priority::Normal, Priority::Urgent] {
                let cost = i64::from(r.batch_for(p, 8)) * r.interval_us();
                assert!(2 * cost <= r.tolerance_us(p), "{p:?}");
            }
        }
        assert_eq!(
            Rate::per_minute(120)
                .unwrap()
                .batch_for(Priority::Background, 8),
            1
        );
    }

    #[test]
    fn grants_by_where_the_budget_stands() {
        let r = rate();
        let i = r.interval_us();
        let (bg, urgent) = (
            r.tolerance_us(Priority::Background),
            r.tolerance_us(Priority::Urgent),
        );
        let now = 100 * S;
        // (tat, n, priority) -> grant
        let cases = [
            (None, 1, Priority::Background, Grant::Start { tat: now + i }),
            (
                Some(now - S),
                3,
                Priority::Normal,
                Grant::Start { tat: now + 3 * i },
            ),
            (
                Some(now),
                1,
                Priority::Urgent,
                Grant::Start { tat: now + i },
            ),
            (
                Some(now + bg / 2),
                1,
                Priority::Background,
                Grant::Extend {
                    at_most: now + bg - i,
                    by: i,
                },
            ),
            // Background stops at ⅓ s ahead, while Urgent still goes until 1 s.
            (
                Some(now + bg),
                1,
                Priority::Background,
                Grant::Wait { us: i },
            ),
            (
                Some(now + bg),
                1,
                Priority::Urgent,
                Grant::Extend {
                    at_most: now + urgent - i,
                    by: i,
                },
            ),
            (
                Some(now + urgent),
                2,
                Priority::Urgent,
                Grant::Wait { us: 2 * i },
            ),
            // A batch larger than the tolerance waits for the budget to go idle, then starts.
            (
                Some(now + bg),
                100,
                Priority::Background,
                Grant::Wait { us: bg },
            ),
            (
                Some(now),
                100,
                Priority::Background,
                Grant::Start { tat: now + 100 * i },
            ),
        ];
        for (tat, n, p, want) in cases {
            assert_eq!(plan(tat, now, n, r, p), want, "tat={tat:?} n={n} {p:?}");
        }
    }

    #[test]
    fn after_a_429_nobody_is_granted_before_the_retry_after() {
        let r = rate();
        let until = 130 * S;
        let tat = hold_until(until, r);
        for p in [Priority::Background, Priority::Normal, Priority::Urgent] {
            for now in [100 * S, 129 * S, until - 1] {
                assert!(
                    matches!(plan(Some(tat), now, 1, r, p), Grant::Wait { .. }),
                    "{p:?} at {now}"
                );
            }
            match plan(Some(tat), until + r.interval_us(), 1, r, p) {
                Grant::Wait { us } => assert!(us > 0),
                Grant::Extend { .. } => assert_eq!(p, Priority::Urgent),
                Grant::Start { .. } => panic!("{p:?} started"),
            }
        }
    }

    /// Greedy callers of every priority, applied as the table would: no sliding minute is
    /// granted more than the bound, the long run follows the rate, and urgent work is served
    /// first when the budget is saturated.
    #[test]
    fn greedy_callers_stay_within_the_bound_and_urgent_ones_go_first() {
        let r = Rate::per_minute(1200).unwrap();
        let mut tat: Option<i64> = None;
        let mut grants: Vec<(i64, Priority)> = Vec::new();
        let mut now = 0;
        let step = 10_000; // 10 ms
        while now < 5 * MINUTE_US {
            for p in [Priority::Background, Priority::Urgent, Priority::Normal] {
                // Urgent asks only every 5 s: it must never wait long behind the others.
                if p == Priority::Urgent && now % (5 * S) != 0 {
                    continue;
                }
                match plan(tat, now, 1, r, p) {
                    Grant::Start { tat: t } => tat = Some(t),
                    Grant::Extend { at_most, by } => {
                        assert!(tat.unwrap() <= at_most);
                        tat = Some(tat.unwrap() + by);
                    }
                    Grant::Wait { us } => {
                        assert!(us > 0);
                        assert_ne!(p, Priority::Urgent, "urgent waited at {now}");
                        continue;
                    }
                }
                grants.push((now, p));
            }
            now += step;
        }
        let bound = r.sliding_minute_bound(0) as usize;
        assert!(bound <= 1200);
        for (i, (start, _)) in grants.iter().enumerate() {
            let in_minute = grants[i..]
                .iter()
                .take_while(|(t, _)| *t < start + MINUTE_US)
                .count();
            assert!(in_minute <= bound, "{in_minute} > {bound} from {start}");
        }
        let total = grants.len() as i64;
        let sustained = 5 * MINUTE_US / r.interval_us();
        let ahead = r.tolerance_us(Priority::Urgent) / r.interval_us() + 1;
        assert!(
            (sustained..=sustained + ahead).contains(&total),
            "{total} in 5 minutes at 1200/min (sustained {sustained})"
        );
        assert_eq!(r.tolerance_us(Priority::Urgent), S);
        assert!(grants.iter().any(|(_, p)| *p == Priority::Background));
    }
}
