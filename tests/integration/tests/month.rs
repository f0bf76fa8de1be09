//! The simulated month, short: 3 days of 15-minute cycles over 20 companies, with the
//! month's faults, lost callbacks and switches (`make bench-month` runs 30 days over 200).
//! Its own test binary: the simulation moves the process's clocks.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use integration_tests::month::{self, MonthSize};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_days_end_as_the_oracle_says_with_nothing_doubled() {
    let report = month::run(MonthSize {
        days: 3,
        companies: 20,
    })
    .await
    .unwrap();
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
