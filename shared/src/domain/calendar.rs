//! The billing calendar, for quotas and usage alike: when an agreement or an addition is in
//! force (quotas) and which days it bills (usage). Dates that change a company's state with
//! no edit in ConnectWise: an agreement starts or
//! ends, an addition takes effect or is cancelled. The provisioner keeps, per company, the
//! next such day; the reconciler re-derives the company on that day. And the daily sweep:
//! every mapped company re-derived once a day, a slice per cycle, whatever callbacks or
//! `lastUpdated` say.

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use super::quotas::AgreementWithAdditions;
use crate::connectwise::models::{Addition, Agreement};

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

fn slot_at(t: DateTime<Utc>) -> i64 {
    i64::from(t.num_seconds_from_midnight()) / (86_400 / SWEEP_SLOTS)
}

/// The slots a cycle at `now` sweeps, after one at `last`: every slot whose time came since
/// (all of them after a day or more without a cycle), or the current one on a first cycle.
pub fn sweep_slots(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Vec<i64> {
    let Some(last) = last.filter(|l| *l <= now) else {
        return vec![slot_at(now)];
    };
    let slot_length = Duration::seconds(86_400 / SWEEP_SLOTS);
    let passed = (now - last).num_seconds() / slot_length.num_seconds();
    if passed >= SWEEP_SLOTS {
        return (0..SWEEP_SLOTS).collect();
    }
    let (from, to) = (slot_at(last), slot_at(now));
    if from == to && passed == 0 {
        return Vec::new();
    }
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
}
