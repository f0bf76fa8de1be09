//! The usage planner's own decisions, apart from its reads: which companies a cycle lists
//! agreements for (the never seen, and the daily sweep's slice), which listed agreements
//! are read whatever their `lastUpdated` says, which agreements with a missing addition are
//! due a re-read, when the cycle's cursors move on, and which companies wait for their reads.
//!
//! A cursor moves only past reads that succeeded: a failed change list keeps the change
//! cursor (the next cycle lists the same changes again), a failed listing of a swept
//! company keeps the sweep's mark, and a company is discovered only once its agreements
//! were listed and their additions read.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::domain::calendar;

/// The companies a cycle lists the agreements of (100 per call).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Discovered companies in this cycle's sweep slots: their agreements are read whatever
    /// their `lastUpdated` says (ConnectWise may change an addition without touching its
    /// agreement).
    pub swept: BTreeSet<i64>,
    /// Every company listed: the never seen, then the swept, in mapping order.
    pub companies: Vec<i64>,
}

/// The listing of a cycle over the `mapped` companies, given those `discovered` before and
/// the sweep `slots` this cycle covers ([`calendar::sweep_slots`]).
pub fn listing(mapped: &[i64], discovered: &BTreeSet<i64>, slots: &[i64]) -> Listing {
    let swept: BTreeSet<i64> = mapped
        .iter()
        .copied()
        .filter(|c| discovered.contains(c) && slots.contains(&calendar::sweep_slot(*c)))
        .collect();
    let companies = mapped
        .iter()
        .copied()
        .filter(|c| !discovered.contains(c) || swept.contains(c))
        .collect();
    Listing { swept, companies }
}

/// What an agreement listed for its company is to the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// Its company is swept: its additions are read whatever `lastUpdated` says.
    Forced,
    /// First seen (nothing recorded for it yet, so its records are not looked up).
    Fresh,
    /// Already examined this cycle (in the change list): nothing more to decide.
    Known,
}

/// How an agreement of `company` listed by discovery or the sweep is examined;
/// `examined` says whether the change list brought it already.
pub fn listed(company: Option<i64>, swept: &BTreeSet<i64>, examined: bool) -> Listed {
    if company.is_some_and(|c| swept.contains(&c)) {
        Listed::Forced
    } else if examined {
        Listed::Known
    } else {
        Listed::Fresh
    }
}

/// The agreements whose missing addition is due a re-read at `now`: checked at least
/// `every` ago, and still pushed (not inactive). `missing` holds (agreement, checked at).
pub fn recheck_due(
    missing: impl IntoIterator<Item = (i64, DateTime<Utc>)>,
    inactive: &BTreeSet<i64>,
    now: DateTime<Utc>,
    every: Duration,
) -> Vec<i64> {
    missing
        .into_iter()
        .filter(|(id, checked_at)| !inactive.contains(id) && *checked_at + every <= now)
        .map(|(id, _)| id)
        .collect()
}

/// The cycle's cursors after its reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursors {
    /// The change list reads agreements updated after this.
    pub agreements_since: Option<DateTime<Utc>>,
    /// When the daily sweep last listed its slice.
    pub swept_at: Option<DateTime<Utc>>,
}

/// The cursors after a cycle that `started` at, whose change list (`changes_read`) and
/// sweep listing (`sweep_read`) did or did not succeed; the change cursor lags `skew`
/// behind the planner's clock (clock skew with ConnectWise).
pub fn cursors_after(
    before: Cursors,
    started: DateTime<Utc>,
    changes_read: bool,
    sweep_read: bool,
    skew: Duration,
) -> Cursors {
    Cursors {
        agreements_since: if changes_read {
            Some(started - skew)
        } else {
            before.agreements_since
        },
        swept_at: if sweep_read {
            Some(started)
        } else {
            before.swept_at
        },
    }
}

/// The companies a cycle's push leaves out: those whose agreements are all first seen and
/// still unread (the planner ran out of time). Nothing is recorded for them, so their shard
/// would read everything to write nothing; they are pushed once a plan has read them.
/// `unread` holds (agreement, company) of the agreements left unread, `fresh` the agreements
/// first seen, `read` the companies with an agreement read this cycle.
pub fn waiting_companies(
    unread: &[(i64, i64)],
    fresh: &BTreeSet<i64>,
    read: &BTreeSet<i64>,
) -> BTreeSet<i64> {
    let recorded: BTreeSet<i64> = unread
        .iter()
        .filter(|(a, _)| !fresh.contains(a))
        .map(|(_, c)| *c)
        .collect();
    unread
        .iter()
        .filter(|(a, _)| fresh.contains(a))
        .map(|(_, c)| *c)
        .filter(|c| !read.contains(c) && !recorded.contains(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_cycle_lists_the_never_seen_and_its_sweep_slice() {
        // Companies 1..=4; 1 and 2 discovered; the slots cover 2's (and 3's, not discovered).
        let mapped = [1, 2, 3, 4];
        let discovered: BTreeSet<i64> = [1, 2].into();
        let slots = [calendar::sweep_slot(2), calendar::sweep_slot(3)];
        let l = listing(&mapped, &discovered, &slots);
        assert_eq!(l.swept, [2].into());
        assert_eq!(
            l.companies,
            vec![2, 3, 4],
            "mapping order, 1 neither new nor swept"
        );
        // No slot this cycle: only the never seen.
        assert_eq!(listing(&mapped, &discovered, &[]).companies, vec![3, 4]);
        assert_eq!(listing(&[], &discovered, &slots), Listing::default());
    }

    #[test]
    fn a_swept_companys_agreement_is_forced_else_fresh_unless_the_change_list_had_it() {
        let swept: BTreeSet<i64> = [7].into();
        let cases = [
            (Some(7), false, Listed::Forced),
            (Some(7), true, Listed::Forced),
            (Some(8), false, Listed::Fresh),
            (Some(8), true, Listed::Known),
            (None, false, Listed::Fresh),
        ];
        for (company, examined, expected) in cases {
            assert_eq!(
                listed(company, &swept, examined),
                expected,
                "{company:?} {examined}"
            );
        }
    }

    #[test]
    fn a_missing_addition_is_re_read_once_its_hour_has_passed_unless_inactive() {
        let now = at("2026-03-01T12:00:00Z");
        let hour = Duration::hours(1);
        let missing = [
            (1, now - hour),                        // due, exactly
            (2, now - hour + Duration::seconds(1)), // not yet
            (3, now - Duration::days(2)),           // due, but inactive
            (4, now - Duration::days(2)),           // due
        ];
        let inactive: BTreeSet<i64> = [3].into();
        assert_eq!(recheck_due(missing, &inactive, now, hour), vec![1, 4]);
    }

    #[test]
    fn a_cursor_moves_only_past_reads_that_succeeded() {
        let started = at("2026-03-01T12:00:00Z");
        let before = Cursors {
            agreements_since: Some(at("2026-03-01T11:43:00Z")),
            swept_at: Some(at("2026-03-01T11:45:00Z")),
        };
        let skew = Duration::seconds(120);
        let moved = Cursors {
            agreements_since: Some(started - skew),
            swept_at: Some(started),
        };
        assert_eq!(cursors_after(before, started, true, true, skew), moved);
        assert_eq!(cursors_after(before, started, false, false, skew), before);
        assert_eq!(
            cursors_after(before, started, false, true, skew),
            Cursors {
                agreements_since: before.agreements_since,
                swept_at: moved.swept_at,
            }
        );
        // A first cycle: the change cursor starts.
        let first = Cursors {
            agreements_since: None,
            swept_at: None,
        };
        assert_eq!(
            cursors_after(first, started, true, false, skew).agreements_since,
            Some(started - skew)
        );
    }

    #[test]
    fn a_company_waits_only_while_all_it_has_is_first_seen_and_unread() {
        // Agreements 1..=4 of companies 10, 20, 30, 40; 1, 2 and 4 first seen.
        let fresh: BTreeSet<i64> = [1, 2, 4].into();
        let unread = [(1, 10), (2, 20), (3, 30), (4, 40)];
        // 20 had another agreement read; 30's unread one was recorded before.
        let read: BTreeSet<i64> = [20].into();
        assert_eq!(waiting_companies(&unread, &fresh, &read), [10, 40].into());
        // A company with a fresh and a recorded agreement unread has records: pushed.
        let unread = [(1, 10), (3, 10)];
        assert!(waiting_companies(&unread, &fresh, &BTreeSet::new()).is_empty());
        assert!(waiting_companies(&[], &fresh, &read).is_empty());
    }
}
