//! The simulated month, short: 3 days of 15-minute cycles over 20 companies, with the
//! month's faults, lost callbacks and switches (`make bench-month` runs 30 days over 200).
//! Its own test binary: the simulation moves the process's clocks (one month runs at a time).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use integration_tests::month::{self, MonthSize};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_days_end_as_the_oracle_says_with_nothing_doubled() {
    let report = month::run(MonthSize::faulted(3, 20)).await.unwrap();
    println!("{}", report.line());
    assert!(
        report.faults > 0 && report.lost_callbacks > 0,
        "{}",
        report.line()
    );
    assert_eq!(
        report.verdict.discrepancies,
        Vec::<String>::new(),
        "{}",
        report.line()
    );
    assert_eq!(report.verdict.duplicates, 0, "{}", report.line());
    // The oracle sees a quota changed behind the product's back.
    assert_eq!(
        report.self_check.discrepancies.len(),
        1,
        "{:?}",
        report.self_check.discrepancies
    );
}

/// Outage twins: the same scenario (sales, usage, alerts raised, repeated and cleared while
/// ConnectWise is down) with ConnectWise and then Acronis down for 30 minutes, and without.
/// Lambda's retries run out during each outage; the end states must be the same: each
/// ticket's status and one note per occurrence, every tenant and quota, every addition.
/// No random faults in either, so any difference is the outages'.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_month_with_outages_ends_as_its_outage_free_twin() {
    let size = |outages| MonthSize {
        days: 3,
        companies: 12,
        faults: false,
        outages,
    };
    // Boxed: two months' futures on the test thread's stack overflow it.
    let down = Box::pin(month::run(size(true))).await.unwrap();
    let up = Box::pin(month::run(size(false))).await.unwrap();
    println!("with outages:    {}", down.line());
    println!("without outages: {}", up.line());
    assert_eq!(down.outages, 2);
    assert!(
        down.dead_lettered > 0 && down.redriven >= down.dead_lettered,
        "the outages outlast Lambda's retries, and what they dead-letter comes back: {}",
        down.line()
    );
    assert_eq!(up.dead_lettered, 0, "{}", up.line());
    for report in [&down, &up] {
        assert_eq!(report.verdict.discrepancies, Vec::<String>::new());
        assert_eq!(report.verdict.duplicates, 0);
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
}
