//! A month's bill from measured days: 30 steady days (and, for a migration month, the
//! extra work of the migration day) plus what the stack costs standing still, priced per
//! service with [`super::prices`].

use std::collections::BTreeMap;

use super::prices::{self, Price};

/// Days billed in a month.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// What one function did in one day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionDay {
    pub invocations: f64,
    /// The invocations' durations, summed (production seconds, each rounded up to the ms).
    pub seconds: f64,
    pub memory_mb: f64,
    /// Its log group's ingestion: its own lines plus Lambda's platform lines.
    pub log_bytes: f64,
}

impl FunctionDay {
    pub fn gb_seconds(&self) -> f64 {
        self.seconds * self.memory_mb / 1024.0
    }
}

/// The metered work of one day (or of a migration day's extra work).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Day {
    pub functions: BTreeMap<String, FunctionDay>,
    pub read_units: f64,
    pub write_units: f64,
    /// `PutEvents` entries, counted in 64 KB chunks.
    pub events: f64,
    pub sqs_requests: f64,
    pub secret_calls: f64,
}

impl Day {
    /// This day's work done `times` times.
    pub fn times(&self, times: f64) -> Day {
        Day {
            functions: self
                .functions
                .iter()
                .map(|(k, f)| {
                    let f = FunctionDay {
                        invocations: f.invocations * times,
                        seconds: f.seconds * times,
                        memory_mb: f.memory_mb,
                        log_bytes: f.log_bytes * times,
                    };
                    (k.clone(), f)
                })
                .collect(),
            read_units: self.read_units * times,
            write_units: self.write_units * times,
            events: self.events * times,
            sqs_requests: self.sqs_requests * times,
            secret_calls: self.secret_calls * times,
        }
    }

    /// `other`'s work added to this day's.
    pub fn add(&mut self, other: &Day) {
        for (k, f) in &other.functions {
            let mine = self.functions.entry(k.clone()).or_default();
            mine.invocations += f.invocations;
            mine.seconds += f.seconds;
            mine.memory_mb = f.memory_mb;
            mine.log_bytes += f.log_bytes;
        }
        self.read_units += other.read_units;
        self.write_units += other.write_units;
        self.events += other.events;
        self.sqs_requests += other.sqs_requests;
        self.secret_calls += other.secret_calls;
    }

    pub fn log_bytes(&self) -> f64 {
        self.functions.values().map(|f| f.log_bytes).sum()
    }
}

/// What the stack costs whatever it does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub alarm_metrics: f64,
    pub custom_metrics: f64,
    pub secrets: f64,
    /// The table's size (items, their index copies, 100 bytes of overhead each).
    pub table_gb: f64,
    /// How long the log groups keep what they ingest.
    pub log_retention_days: f64,
}

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The services of a bill, in the order printed.
pub const SERVICES: [&str; 7] = [
    "lambda",
    "dynamodb",
    "eventbridge",
    "cloudwatch_logs",
    "cloudwatch_alarms_metrics",
    "secrets_manager",
    "sqs",
];

/// A month in which `month` is the metered work (30 steady days, plus a migration's extra
/// work), priced per service; the total is [`total`].
pub fn bill(month: &Day, standing: &Standing) -> BTreeMap<&'static str, f64> {
    let price = |p: Price, units: f64| p.of(units);
    let gb_seconds: f64 = month.functions.values().map(FunctionDay::gb_seconds).sum();
    let invocations: f64 = month.functions.values().map(|f| f.invocations).sum();
    let log_gb = month.log_bytes() / GB;
    // At steady state a log group holds `retention` days of what it ingests.
    let stored_log_gb_months = log_gb * standing.log_retention_days / DAYS_PER_MONTH;
    let mut out = BTreeMap::new();
    out.insert(
        "lambda",
        price(prices::LAMBDA_GB_SECOND, gb_seconds) + price(prices::LAMBDA_REQUESTS, invocations),
    );
    out.insert(
        "dynamodb",
        price(prices::DYNAMODB_READ_UNITS, month.read_units)
            + price(prices::DYNAMODB_WRITE_UNITS, month.write_units)
            + price(prices::DYNAMODB_STORAGE, standing.table_gb)
            + price(prices::DYNAMODB_PITR, standing.table_gb),
    );
    out.insert(
        "eventbridge",
        price(prices::EVENTBRIDGE_CUSTOM_EVENTS, month.events),
    );
    out.insert(
        "cloudwatch_logs",
        price(prices::LOGS_INGESTION, log_gb) + price(prices::LOGS_STORAGE, stored_log_gb_months),
    );
    out.insert(
        "cloudwatch_alarms_metrics",
        price(prices::ALARM_METRICS, standing.alarm_metrics)
            + price(prices::CUSTOM_METRICS, standing.custom_metrics),
    );
    out.insert(
        "secrets_manager",
        price(prices::SECRETS, standing.secrets)
            + price(prices::SECRET_API_CALLS, month.secret_calls),
    );
    out.insert("sqs", price(prices::SQS_REQUESTS, month.sqs_requests));
    out
}

pub fn total(bill: &BTreeMap<&'static str, f64>) -> f64 {
    bill.values().sum()
}

/// The work of a month: 30 `steady` days, plus `migration`'s extra work once.
pub fn month_of(steady: &Day, migration: Option<&Day>) -> Day {
    let mut month = steady.times(DAYS_PER_MONTH);
    if let Some(m) = migration {
        month.add(m);
    }
    month
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing() -> Standing {
        Standing {
            alarm_metrics: 0.0,
            custom_metrics: 0.0,
            secrets: 0.0,
            table_gb: 0.0,
            log_retention_days: 30.0,
        }
    }

    fn one_function(invocations: f64, seconds: f64, memory_mb: f64, log_bytes: f64) -> Day {
        let mut day = Day::default();
        day.functions.insert(
            "f".into(),
            FunctionDay {
                invocations,
                seconds,
                memory_mb,
                log_bytes,
            },
        );
        day
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn each_service_is_its_units_times_its_price() {
        let mut day = one_function(1e6, 4096.0, 256.0, GB);
        day.read_units = 8e6;
        day.write_units = 1.6e6;
        day.events = 2e6;
        day.sqs_requests = 5e6;
        day.secret_calls = 20_000.0;
        let s = Standing {
            alarm_metrics: 21.0,
            custom_metrics: 10.0,
            secrets: 1.0,
            table_gb: 2.0,
            ..standing()
        };
        let b = bill(&day, &s);
        // 4096 s at 0.25 GB = 1024 GB-s, and 1M requests.
        let cases = [
            ("lambda", 1024.0 * 0.000_013_333_4 + 0.20),
            ("dynamodb", 1.0 + 1.0 + 0.5 + 0.4),
            ("eventbridge", 2.0),
            // 1 GB ingested, kept 30 days: 1 GB-month.
            ("cloudwatch_logs", 0.50 + 0.03),
            ("cloudwatch_alarms_metrics", 2.1 + 3.0),
            ("secrets_manager", 0.40 + 0.10),
            ("sqs", 2.0),
        ];
        for (service, usd) in cases {
            assert!(close(b[service], usd), "{service}: {} != {usd}", b[service]);
        }
        let sum: f64 = cases.iter().map(|(_, u)| u).sum();
        assert!(close(total(&b), sum));
        assert_eq!(b.len(), SERVICES.len());
    }

    #[test]
    fn a_month_is_thirty_steady_days_and_the_migration_once() {
        let steady = one_function(10.0, 1.0, 128.0, 100.0);
        let mut migration = one_function(5.0, 2.0, 128.0, 0.0);
        migration.write_units = 7.0;
        let cases = [
            (None, 300.0, 30.0, 0.0),
            (Some(&migration), 305.0, 32.0, 7.0),
        ];
        for (m, invocations, seconds, wru) in cases {
            let month = month_of(&steady, m);
            let f = &month.functions["f"];
            assert!(close(f.invocations, invocations), "{}", f.invocations);
            assert!(close(f.seconds, seconds));
            assert!(close(f.log_bytes, 3000.0));
            assert!(close(month.write_units, wru));
        }
    }

    #[test]
    fn logs_are_stored_for_their_retention() {
        let day = one_function(0.0, 0.0, 128.0, GB);
        for (days, usd) in [(30.0, 0.53), (60.0, 0.56), (1.0, 0.501)] {
            let b = bill(
                &day,
                &Standing {
                    log_retention_days: days,
                    ..standing()
                },
            );
            assert!(
                close(b["cloudwatch_logs"], usd),
                "{days}: {}",
                b["cloudwatch_logs"]
            );
        }
    }
}
