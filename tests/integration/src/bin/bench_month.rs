//! `make bench-month`: the simulated month ([`integration_tests::month`]). Usage:
//! `bench_month [days] [companies]` (default 30 and 200). Prints
//! `month days=… companies=… connections=default:…,us:… cycles=… faults=… lost_callbacks=… discrepancies=… duplicates=… calls=… wall_s=… scale=…`,
//! then the self-check's line (one quota changed behind the product's back must make
//! `discrepancies=1`); fails when either is not as it must be.

use integration_tests::month::{self, MonthSize};

fn main() -> anyhow::Result<()> {
    let arg = |n: usize, default: i64| {
        std::env::args()
            .nth(n)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let size = MonthSize::faulted(arg(1, 30), arg(2, 200));
    let report = month::run_blocking(size)?;
    for d in report.verdict.discrepancies.iter().take(30) {
        eprintln!("discrepancy: {d}");
    }
    println!("{}", report.line());
    println!(
        "self-check discrepancies={} ({})",
        report.self_check.discrepancies.len(),
        report.self_check.discrepancies.join("; ")
    );
    anyhow::ensure!(
        report.verdict.discrepancies.is_empty() && report.verdict.duplicates == 0,
        "the product's end state differs from the oracle's"
    );
    anyhow::ensure!(
        report.self_check.discrepancies.len() == 1,
        "the self-check did not find exactly the one quota changed"
    );
    Ok(())
}
