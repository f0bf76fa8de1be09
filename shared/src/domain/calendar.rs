//! The billing calendar, for quotas and usage alike: when an agreement or an addition is in
//! force (quotas) and which days it bills (usage). Dates that change a company's state with
//! no edit in ConnectWise: an agreement starts or
//! ends, an addition takes effect or is cancelled. The provisioner keeps, per company, the
//! next such day; the reconciler re-derives the company on that day. And the daily sweep:
//! every mapped company re-derived once a day, a slice per cycle, whatever callbacks or
//! `lastUpdated` say.
//!
//! Days are the MSP's: ConnectWise's agreement and addition dates are calendar days of the
//! MSP (stored as midnight `Z`, read as the day they name), so "today" is the day in the
//! MSP's time zone (`billing.time_zone`, [`Zone`]) at the instant ([`local_day`]), and the
//! sweep's slots are quarter hours of the MSP's day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};

use super::quotas::AgreementWithAdditions;
use crate::connectwise::models::{Addition, Agreement};

// ---- the MSP's days ------------------------------------------------------------------

/// The MSP's time zone: an IANA name (`America/New_York`), UTC when never set. Stored and
/// written as its name; an unknown name is refused naming what is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Zone(chrono_tz::Tz);

impl Zone {
    pub const UTC: Zone = Zone(chrono_tz::Tz::UTC);

    /// The IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The zone as `chrono` computes with it.
    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }
}

impl FromStr for Zone {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        name.parse::<chrono_tz::Tz>().map(Zone).map_err(|_| {
            format!(
                "unknown time zone {name:?}: an IANA name such as America/New_York, \
                 Europe/Berlin or UTC"
            )
        })
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The MSP's calendar day at an instant: the "today" of every in-force check and billing day.
pub fn local_day(now: DateTime<Utc>, zone: Zone) -> NaiveDate {
    now.with_timezone(&zone.tz()).date_naive()
}

/// The latest day it can be anywhere at `now` (zones reach UTC+14): a read by day up to
/// this holds every MSP's today, whatever its zone.
pub fn latest_day(now: DateTime<Utc>) -> NaiveDate {
    (now + Duration::hours(14)).date_naive()
}

// ---- when agreements and additions are in force (quotas) and bill (usage) ----------

/// A status that counts: `Active`, or none given.
pub fn is_active_status(status: Option<&str>) -> bool {
    status.is_none_or(|s| s.eq_ignore_ascii_case("active"))
}

/// Whether an agreement is active and in force on `today`.
pub fn agreement_in_force(a: &Agreement, today: NaiveDate) -> bool {
    if !is_active_status(a.agreement_status.as_deref()) || a.cancelled_flag == Some(true) {
        return false;
    }
    if a.start_date.is_some_and(|d| d.date_naive() > today) {
        return false;
    }
    let open_ended = a.no_ending_date_flag == Some(true);
    open_ended || a.end_date.is_none_or(|d| d.date_naive() >= today)
}

/// Whether an addition of an in-force agreement counts on `today`.
pub fn addition_in_force(add: &Addition, today: NaiveDate) -> bool {
    is_active_status(add.agreement_status.as_deref())
        && add.effective_date.is_none_or(|d| d.date_naive() <= today)
        && add.cancelled_date.is_none_or(|d| d.date_naive() > today)
}

/// Whether a PAYG agreement can still bill: active, not cancelled and not ended on `today`.
/// It may start later: its additions are recorded with their [`billing_window`] and pushed
/// from its first day.
pub fn agreement_open(a: &Agreement, today: NaiveDate) -> bool {
    let active = a
        .agreement_status
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case("active"));
    active && a.cancelled_flag != Some(true) && billing_until(a, None).is_none_or(|d| d >= today)
}

/// Whether an addition can still bill (it may become effective later).
pub fn addition_open(add: &Addition, today: NaiveDate) -> bool {
    add.agreement_status
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case("active"))
        && add.cancelled_date.is_none_or(|d| d.date_naive() > today)
}

fn billing_until(a: &Agreement, add: Option<&Addition>) -> Option<NaiveDate> {
    let agreement_end = if a.no_ending_date_flag == Some(true) {
        None
    } else {
        a.end_date.map(|d| d.date_naive())
    };
    // Cancelled on day D: billed through D - 1 (as the quota side counts it).
    let cancelled = add
        .and_then(|x| x.cancelled_date)
        .and_then(|d| d.date_naive().pred_opt());
    agreement_end.into_iter().chain(cancelled).min()
}

/// The days (inclusive) an addition bills: from the later of the agreement's start and the
/// addition's effective date, to the earlier of the agreement's end and the day before the
/// addition's cancellation. `None` is unbounded. Stored with the addition record, so an
/// agreement that ends by date stops being pushed without anybody editing it.
pub fn billing_window(a: &Agreement, add: &Addition) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let from = [a.start_date, add.effective_date]
        .into_iter()
        .flatten()
        .map(|d| d.date_naive())
        .max();
    (from, billing_until(a, Some(add)))
}

// ---- the days that change a company by themselves, and the daily sweep ---------------

/// The first day after `today` on which one of these agreements (all of the company's) or
/// an addition of those in force (`in_force`) starts or stops counting.
pub fn next_change(
    agreements: &[Agreement],
    in_force: &[AgreementWithAdditions],
    today: NaiveDate,
) -> Option<NaiveDate> {
    let day = |d: &DateTime<Utc>| d.date_naive();
    let mut days = Vec::new();
    for a in agreements {
        let status_ok =
            is_active_status(a.agreement_status.as_deref()) && a.cancelled_flag != Some(true);
        if !status_ok {
            continue;
        }
        days.extend(a.start_date.as_ref().map(day));
        if a.no_ending_date_flag != Some(true) {
            // In force through its end date: it stops the day after.
            days.extend(a.end_date.as_ref().map(|d| day(d) + Duration::days(1)));
        }
    }
    for a in in_force
        .iter()
        .filter(|a| agreement_in_force(&a.agreement, today))
    {
        for add in &a.additions {
            days.extend(add.effective_date.as_ref().map(day));
            // Counted before its cancelled date, not on it.
            days.extend(add.cancelled_date.as_ref().map(day));
        }
    }
    days.into_iter().filter(|d| *d > today).min()
}

/// Cycles per day of the sweep: each mapped company falls in one 15-minute slot.
pub const SWEEP_SLOTS: i64 = 96;

/// The slot of a company.
pub fn sweep_slot(company_id: i64) -> i64 {
    company_id.rem_euclid(SWEEP_SLOTS)
}

fn slot_at(t: NaiveDateTime) -> i64 {
    i64::from(t.num_seconds_from_midnight()) / (86_400 / SWEEP_SLOTS)
}

/// The slots a cycle at `now` sweeps, after one at `last`: every slot of the MSP's day
/// (quarter hours of its wall clock in `zone`) whose time came since (all of them after a
/// day or more without a cycle), or the current one on a first cycle. When the clocks go
/// forward, the hour skipped is swept with the next cycle; when they go back, the repeated
/// hour's slots, swept already, come again only as the clock passes them a second time.
pub fn sweep_slots(last: Option<DateTime<Utc>>, now: DateTime<Utc>, zone: Zone) -> Vec<i64> {
    let wall = |t: DateTime<Utc>| t.with_timezone(&zone.tz()).naive_local();
    let Some(last) = last.filter(|l| *l <= now) else {
        return vec![slot_at(wall(now))];
    };
    let (from_wall, to_wall) = (wall(last), wall(now));
    if now - last >= Duration::days(1) || to_wall - from_wall >= Duration::days(1) {
        return (0..SWEEP_SLOTS).collect();
    }
    // The wall clock went back (daylight saving's end): nothing new came.
    if to_wall <= from_wall {
        return Vec::new();
    }
    let (from, to) = (slot_at(from_wall), slot_at(to_wall));
    let mut slots = Vec::new();
    let mut s = from;
    while s != to {
        s = (s + 1) % SWEEP_SLOTS;
        slots.push(s);
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn agreement(id: i64, start: Option<&str>, end: Option<&str>, status: &str) -> Agreement {
        serde_json::from_value(serde_json::json!({
            "id": id, "agreementStatus": status,
            "startDate": start, "endDate": end, "noEndingDateFlag": end.is_none(),
        }))
        .unwrap()
    }

    #[test]
    fn the_next_change_is_the_first_start_end_effective_or_cancelled_day_ahead() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let ending = agreement(
            1,
            Some("2026-01-01T00:00:00Z"),
            Some("2026-12-05T00:00:00Z"),
            "Active",
        );
        let starting = agreement(2, Some("2026-12-10T00:00:00Z"), None, "Active");
        let cancelled = agreement(3, Some("2026-12-01T00:00:00Z"), None, "Cancelled");
        assert_eq!(
            next_change(&[ending.clone(), starting.clone(), cancelled], &[], today),
            NaiveDate::from_ymd_opt(2026, 12, 6),
            "in force through the 5th, changes on the 6th"
        );
        let add: Addition = serde_json::from_value(serde_json::json!({
            "id": 9, "cancelledDate": "2026-12-02T00:00:00Z"}))
        .unwrap();
        let with = AgreementWithAdditions {
            agreement: ending.clone(),
            additions: vec![add],
        };
        assert_eq!(
            next_change(&[ending, starting], &[with], today),
            NaiveDate::from_ymd_opt(2026, 12, 2)
        );
        assert_eq!(next_change(&[], &[], today), None);
        let past = agreement(
            4,
            Some("2020-01-01T00:00:00Z"),
            Some("2020-02-01T00:00:00Z"),
            "Active",
        );
        assert_eq!(next_change(&[past], &[], today), None, "only days ahead");
    }

    #[test]
    fn every_slot_is_swept_once_a_day_whatever_the_cycles_missed() {
        let t0 = at("2026-11-29T00:00:00Z");
        let sweep_slots = |last, now| sweep_slots(last, now, Zone::UTC);
        assert_eq!(sweep_slots(None, t0), [0]);
        let m = |minutes: i64| t0 + Duration::minutes(minutes);
        assert_eq!(sweep_slots(Some(t0), m(15)), [1]);
        assert_eq!(sweep_slots(Some(m(15)), m(20)), Vec::<i64>::new());
        assert_eq!(
            sweep_slots(Some(m(20)), m(61)),
            [2, 3, 4],
            "missed cycles caught up"
        );
        // Around midnight.
        assert_eq!(sweep_slots(Some(m(-10)), m(5)), [0]);
        // A day of 15-minute cycles sweeps every slot exactly once.
        let mut seen = vec![0; SWEEP_SLOTS as usize];
        let mut last = t0;
        for i in 1..=SWEEP_SLOTS {
            let now = m(15 * i);
            for s in sweep_slots(Some(last), now) {
                seen[s as usize] += 1;
            }
            last = now;
        }
        assert!(seen.iter().all(|n| *n == 1), "{seen:?}");
        assert_eq!(
            sweep_slots(Some(t0), m(60 * 30)).len(),
            SWEEP_SLOTS as usize
        );
        assert_eq!(sweep_slot(-1), 95);
    }

    fn agreement_of(v: serde_json::Value) -> Agreement {
        let mut base = serde_json::json!({"id": 1, "agreementStatus": "Active"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn addition_of(v: serde_json::Value) -> Addition {
        let mut base = serde_json::json!({"id": 10});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn ymd(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn billing_window_spans_the_agreement_and_the_addition() {
        let open = agreement_of(
            serde_json::json!({"noEndingDateFlag": true, "endDate": "2026-01-31T00:00:00Z"}),
        );
        assert_eq!(
            billing_window(&open, &addition_of(serde_json::json!({}))),
            (None, None)
        );
        let a = agreement_of(serde_json::json!({
            "startDate": "2026-01-01T00:00:00Z", "endDate": "2026-06-30T00:00:00Z"}));
        let later = addition_of(serde_json::json!({
            "effectiveDate": "2026-03-15T00:00:00Z", "cancelledDate": "2026-05-01T00:00:00Z"}));
        assert_eq!(
            billing_window(&a, &later),
            (Some(ymd("2026-03-15")), Some(ymd("2026-04-30")))
        );
        let plain = addition_of(serde_json::json!({}));
        assert_eq!(
            billing_window(&a, &plain),
            (Some(ymd("2026-01-01")), Some(ymd("2026-06-30")))
        );
        // A cancellation after the agreement's end changes nothing.
        let late_cancel = addition_of(serde_json::json!({"cancelledDate": "2026-09-01T00:00:00Z"}));
        assert_eq!(billing_window(&a, &late_cancel).1, Some(ymd("2026-06-30")));
    }

    #[test]
    fn agreements_and_additions_stay_open_until_they_end() {
        let a = agreement_of(serde_json::json!({
            "startDate": "2026-08-01T00:00:00Z", "endDate": "2026-06-30T00:00:00Z"}));
        assert!(agreement_open(&a, ymd("2026-06-30")), "the last day bills");
        assert!(!agreement_open(&a, ymd("2026-07-01")));
        let future = agreement_of(serde_json::json!({"startDate": "2027-01-01T00:00:00Z"}));
        assert!(
            agreement_open(&future, ymd("2026-06-30")),
            "starts later: recorded now"
        );
        let cancelled = agreement_of(serde_json::json!({"cancelledFlag": true}));
        assert!(!agreement_open(&cancelled, ymd("2026-06-30")));
        let expired = agreement_of(serde_json::json!({"agreementStatus": "Expired"}));
        assert!(!agreement_open(&expired, ymd("2026-06-30")));

        let add = addition_of(serde_json::json!({"cancelledDate": "2026-05-01T00:00:00Z"}));
        assert!(addition_open(&add, ymd("2026-04-30")));
        assert!(!addition_open(&add, ymd("2026-05-01")));
        let inactive = addition_of(serde_json::json!({"agreementStatus": "Cancelled"}));
        assert!(!addition_open(&inactive, ymd("2026-04-30")));
    }

    // ---- the MSP's days --------------------------------------------------------------

    fn zone(name: &str) -> Zone {
        name.parse().unwrap()
    }

    /// The first minute from `from` (within two days) at which `counts` stops holding on
    /// the MSP's day in `zone`.
    fn stops_at(
        from: &str,
        zone: Zone,
        counts: impl Fn(NaiveDate) -> bool,
    ) -> Option<DateTime<Utc>> {
        let from = at(from);
        assert!(counts(local_day(from, zone)), "counts at the start");
        (0..2 * 24 * 60)
            .map(|m| from + Duration::minutes(m))
            .find(|t| !counts(local_day(*t, zone)))
    }

    fn ending_on(day: &str) -> Agreement {
        agreement_of(serde_json::json!({
            "startDate": "2026-01-01T00:00:00Z", "endDate": format!("{day}T00:00:00Z")}))
    }

    #[test]
    fn zones_are_iana_names_and_default_to_utc() {
        assert_eq!(Zone::default(), Zone::UTC);
        assert_eq!(zone("America/New_York").name(), "America/New_York");
        let err = "Eastern Standard Time".parse::<Zone>().unwrap_err();
        assert!(
            err.contains("unknown time zone") && err.contains("IANA"),
            "{err}"
        );
        let json = serde_json::to_value(zone("Asia/Tokyo")).unwrap();
        assert_eq!(json, "Asia/Tokyo");
        assert!(serde_json::from_value::<Zone>(serde_json::json!("Mars/Base")).is_err());
    }

    #[test]
    fn the_local_day_turns_at_local_midnight() {
        let ny = zone("America/New_York");
        assert_eq!(local_day(at("2026-02-01T04:59:59Z"), ny), ymd("2026-01-31"));
        assert_eq!(local_day(at("2026-02-01T05:00:00Z"), ny), ymd("2026-02-01"));
        let tokyo = zone("Asia/Tokyo");
        assert_eq!(
            local_day(at("2026-01-31T14:59:59Z"), tokyo),
            ymd("2026-01-31")
        );
        assert_eq!(
            local_day(at("2026-01-31T15:00:00Z"), tokyo),
            ymd("2026-02-01")
        );
        assert_eq!(
            local_day(at("2026-01-31T23:59:59Z"), Zone::UTC),
            ymd("2026-01-31")
        );
        // Whatever the zone, no MSP's today is after the latest day.
        for t in [
            "2026-01-31T09:59:00Z",
            "2026-01-31T10:00:00Z",
            "2026-01-31T23:00:00Z",
        ] {
            let kiritimati = zone("Pacific/Kiritimati"); // UTC+14
            assert!(local_day(at(t), kiritimati) <= latest_day(at(t)));
            assert_eq!(local_day(at(t), kiritimati), latest_day(at(t)), "{t}");
        }
    }

    #[test]
    fn an_agreement_ending_on_a_local_day_stops_at_local_midnight_west_of_utc() {
        let ny = zone("America/New_York");
        let a = ending_on("2026-01-31");
        let in_force = |d| agreement_in_force(&a, d);
        // Not at UTC midnight (19:00 in New York on the 31st), at New York's midnight.
        assert!(agreement_in_force(
            &a,
            local_day(at("2026-02-01T00:00:00Z"), ny)
        ));
        assert_eq!(
            stops_at("2026-01-31T12:00:00Z", ny, in_force),
            Some(at("2026-02-01T05:00:00Z"))
        );
        assert_eq!(
            stops_at("2026-01-31T12:00:00Z", Zone::UTC, in_force),
            Some(at("2026-02-01T00:00:00Z")),
            "UTC's own midnight in UTC"
        );
        let la = zone("America/Los_Angeles");
        assert_eq!(
            stops_at("2026-01-31T12:00:00Z", la, in_force),
            Some(at("2026-02-01T08:00:00Z"))
        );
    }

    #[test]
    fn an_agreement_ending_on_a_local_day_stops_at_local_midnight_east_of_utc() {
        let tokyo = zone("Asia/Tokyo");
        let a = ending_on("2026-01-31");
        let in_force = |d| agreement_in_force(&a, d);
        // Tokyo's 31st ends at 15:00 UTC, nine hours before UTC's.
        assert_eq!(
            stops_at("2026-01-31T00:00:00Z", tokyo, in_force),
            Some(at("2026-01-31T15:00:00Z"))
        );
        assert!(!agreement_in_force(
            &a,
            local_day(at("2026-01-31T20:00:00Z"), tokyo)
        ));
    }

    #[test]
    fn local_midnight_follows_daylight_saving_changes() {
        let ny = zone("America/New_York");
        let stop = |day: &str, from: &str, z: Zone| {
            let a = ending_on(day);
            stops_at(from, z, |d| agreement_in_force(&a, d))
        };
        // The US clocks go forward on 8 March 2026 and back on 1 November 2026.
        assert_eq!(
            stop("2026-03-07", "2026-03-07T12:00:00Z", ny),
            Some(at("2026-03-08T05:00:00Z")),
            "the 7th ends at midnight EST"
        );
        assert_eq!(
            stop("2026-03-08", "2026-03-08T12:00:00Z", ny),
            Some(at("2026-03-09T04:00:00Z")),
            "the 8th (23 hours long) ends at midnight EDT"
        );
        assert_eq!(
            stop("2026-10-31", "2026-10-31T12:00:00Z", ny),
            Some(at("2026-11-01T04:00:00Z")),
            "the 31st ends at midnight EDT"
        );
        assert_eq!(
            stop("2026-11-01", "2026-11-01T12:00:00Z", ny),
            Some(at("2026-11-02T05:00:00Z")),
            "the 1st (25 hours long) ends at midnight EST"
        );
        // Sydney's clocks go back on 5 April 2026 (UTC+11 to UTC+10).
        let sydney = zone("Australia/Sydney");
        assert_eq!(
            stop("2026-04-04", "2026-04-04T00:00:00Z", sydney),
            Some(at("2026-04-04T13:00:00Z"))
        );
        assert_eq!(
            stop("2026-04-05", "2026-04-05T00:00:00Z", sydney),
            Some(at("2026-04-05T14:00:00Z"))
        );
    }

    #[test]
    fn additions_and_billing_days_turn_at_local_midnight() {
        let ny = zone("America/New_York");
        let add = addition_of(serde_json::json!({
            "effectiveDate": "2026-03-01T00:00:00Z", "cancelledDate": "2026-03-10T00:00:00Z"}));
        // Effective from New York's 1 March, not from UTC's (19:00 on 28 February there).
        assert!(!addition_in_force(
            &add,
            local_day(at("2026-03-01T04:59:00Z"), ny)
        ));
        assert!(addition_in_force(
            &add,
            local_day(at("2026-03-01T05:00:00Z"), ny)
        ));
        // Cancelled on the 10th: counts through the 9th, New York's (after the clocks changed).
        assert_eq!(
            stops_at("2026-03-09T12:00:00Z", ny, |d| addition_in_force(&add, d)),
            Some(at("2026-03-10T04:00:00Z"))
        );
        assert_eq!(
            stops_at("2026-03-09T12:00:00Z", ny, |d| addition_open(&add, d)),
            Some(at("2026-03-10T04:00:00Z"))
        );
        // Usage: the last billing day is New York's, so usage read at 02:00 UTC on the 10th
        // (21:00 on the 9th in New York) still bills.
        let a = agreement_of(serde_json::json!({"startDate": "2026-01-01T00:00:00Z"}));
        let (_, until) = billing_window(&a, &add);
        assert_eq!(until, Some(ymd("2026-03-09")));
        assert!(local_day(at("2026-03-10T02:00:00Z"), ny) <= until.unwrap());
        assert!(local_day(at("2026-03-10T04:00:00Z"), ny) > until.unwrap());
        let tokyo = zone("Asia/Tokyo");
        let ends = ending_on("2026-01-31");
        assert_eq!(
            stops_at("2026-01-31T00:00:00Z", tokyo, |d| agreement_open(&ends, d)),
            Some(at("2026-01-31T15:00:00Z"))
        );
    }

    #[test]
    fn the_sweep_covers_the_msps_day_across_daylight_saving_changes() {
        let ny = zone("America/New_York");
        // A first cycle at New York's midnight sweeps slot 0.
        assert_eq!(sweep_slots(None, at("2026-01-15T05:00:00Z"), ny), [0]);
        assert_eq!(sweep_slots(None, at("2026-07-15T04:00:00Z"), ny), [0]);
        // Each local day of 15-minute cycles, from its midnight to the next (23, 24 or 25
        // hours), sweeps every slot, slot 0 first, and none more than twice.
        for (midnight, next, hours) in [
            ("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z", 23),
            ("2026-06-01T04:00:00Z", "2026-06-02T04:00:00Z", 24),
            ("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z", 25),
        ] {
            let (mut last, end) = (at(midnight) - Duration::minutes(15), at(next));
            assert_eq!((end - at(midnight)).num_hours(), hours);
            let mut seen = vec![0; SWEEP_SLOTS as usize];
            let mut first = None;
            while last + Duration::minutes(15) < end {
                let now = last + Duration::minutes(15);
                for s in sweep_slots(Some(last), now, ny) {
                    first.get_or_insert(s);
                    seen[s as usize] += 1;
                }
                last = now;
            }
            assert_eq!(first, Some(0), "{midnight}");
            assert!(
                seen.iter().all(|n| (1..=2).contains(n)),
                "{midnight}: {seen:?}"
            );
            let twice = seen.iter().filter(|n| **n == 2).count();
            assert_eq!(
                twice,
                if hours == 25 { 3 } else { 0 },
                "{midnight}: {seen:?}"
            );
        }
        // East of UTC: Tokyo's slot 0 is at 15:00 UTC.
        let tokyo = zone("Asia/Tokyo");
        assert_eq!(
            sweep_slots(
                Some(at("2026-01-31T14:50:00Z")),
                at("2026-01-31T15:05:00Z"),
                tokyo
            ),
            [0]
        );
    }
}
