//! The simulated month, short: 3 days of 15-minute cycles over 20 companies, with the
//! month's faults, lost callbacks and switches (`make bench-month` runs 30 days over 200),
//! in the MSP's time zone (`month::TIME_ZONE`), the oracle judging days there too.
//! Its own test binary: the simulation moves the process's clocks (one month runs at a time).
//! Run twice, with and without the vendors' outages, to compare their end states. Two
//! Acronis data centres: companies 12 to 19 are in the United States (connection `us`).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use integration_tests::month::{self, MonthSize};

/// Outage twins: the same 3-day scenario (sales, ends, usage, alerts raised, repeated and
/// cleared while ConnectWise is down, and around the second data centre's outage), with its
/// faults, once with ConnectWise down for 30 minutes, the second data centre for an hour and
/// the first for 30 minutes (each longer than Lambda's retries) and once without. Each ends as
/// the oracle says, and both end in the same state: each ticket's status and one note per
/// occurrence, every tenant and quota, every addition's quantity.
#[test]
fn three_days_end_as_the_oracle_says_and_as_their_outage_free_twin() {
    let size = |outages| MonthSize {
        outages,
        ..MonthSize::faulted(3, 20)
    };
    let down = month::run_blocking(size(true)).unwrap();
    println!("with outages:    {}", down.line());
    // In the MSP's zone (west of UTC), ending on a day that is not yet over there while
    // UTC's is: an agreement ending on it is judged, and must be, in force.
    assert_eq!(down.time_zone, "America/New_York");
    assert!(down.days_differ, "{}", down.line());
    assert!(
        down.faults > 0 && down.lost_callbacks > 0 && down.outages == 3,
        "{}",
        down.line()
    );
    assert!(
        down.dead_lettered > 0 && down.redriven >= down.dead_lettered,
        "what outlasts Lambda's retries is dead-lettered and comes back: {}",
        down.line()
    );
    // The oracle sees a quota changed behind the product's back.
    assert_eq!(
        down.self_check.discrepancies.len(),
        1,
        "{:?}",
        down.self_check.discrepancies
    );
    let up = month::run_blocking(size(false)).unwrap();
    println!("without outages: {}", up.line());
    for report in [&down, &up] {
        assert_eq!(
            report.verdict.discrepancies,
            Vec::<String>::new(),
            "{}",
            report.line()
        );
        assert_eq!(report.verdict.duplicates, 0, "{}", report.line());
    }

    let differing: Vec<String> = down
        .end_state
        .iter()
        .filter(|(k, v)| up.end_state.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: {v} / without: {:?}", up.end_state.get(k)))
        .chain(
            up.end_state
                .keys()
                .filter(|k| !down.end_state.contains_key(*k))
                .map(|k| format!("{k}: only without outages")),
        )
        .collect();
    let tickets = down
        .end_state
        .keys()
        .filter(|k| k.starts_with("ticket"))
        .count();
    println!(
        "end state: {} entries ({tickets} tickets), {} differ",
        down.end_state.len(),
        differing.len()
    );
    assert_eq!(differing, Vec::<String>::new());
    // The alerts of the ConnectWise outage: one cleared (its ticket closed), one repeated
    // (its ticket open, its description note and one note for the second occurrence).
    let outage_tickets: Vec<&String> = down
        .end_state
        .iter()
        .filter(|(k, _)| k.contains("out-"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(outage_tickets.len(), 2, "{:#?}", down.end_state);
    assert!(
        outage_tickets.iter().any(|v| v.contains("closed=true")),
        "{outage_tickets:?}"
    );
    assert!(
        outage_tickets
            .iter()
            .any(|v| v.contains("closed=false") && v.matches("occurred again").count() == 1),
        "{outage_tickets:?}"
    );
    // The companies in both data centres, each tenant in its own.
    assert_eq!(
        down.connections,
        [("default".to_owned(), 12), ("us".to_owned(), 8)].into(),
        "{}",
        down.line()
    );
    let tenants = |connection: &str| {
        down.end_state
            .keys()
            .filter(|k| k.starts_with(&format!("tenant {connection} ")))
            .count()
    };
    assert!(
        tenants("default") > 0 && tenants("us") > 0,
        "{:#?}",
        down.end_state
    );
    // The second data centre's alerts: one cleared while it was down (its ticket, made
    // before, closed), one raised while it was down (its ticket made once it was back).
    let dc_tickets: Vec<&String> = down
        .end_state
        .iter()
        .filter(|(k, _)| k.contains("dc-"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(dc_tickets.len(), 2, "{:#?}", down.end_state);
    assert!(
        dc_tickets.iter().any(|v| v.contains("closed=true"))
            && dc_tickets.iter().any(|v| v.contains("closed=false")),
        "{dc_tickets:?}"
    );
}

/// The same 3 days over 20 companies without faults or outages, for `infra/call-counts.sh`
/// (ignored by `make test`): where the faulted month places a fifth of its faults by the
/// order requests arrive, so that its calls per route vary from run to run, this one's vary
/// only with the wall clock, so a change meant to keep behaviour is compared on it. It ends
/// as the oracle says, without a fault to recover from.
#[test]
#[ignore = "for infra/call-counts.sh (month-clean)"]
fn three_days_without_faults_end_as_the_oracle_says() {
    let clean = month::run_blocking(MonthSize {
        faults: false,
        outages: false,
        ..MonthSize::faulted(3, 20)
    })
    .unwrap();
    println!("without faults:  {}", clean.line());
    assert_eq!(clean.faults, 0, "{}", clean.line());
    assert_eq!(
        clean.verdict.discrepancies,
        Vec::<String>::new(),
        "{}",
        clean.line()
    );
    assert_eq!(clean.verdict.duplicates, 0, "{}", clean.line());
}
