//! AWS list prices for one region, in one dated table: every price the cost model uses,
//! with where it was read. Free tiers are ignored (a deployment shares them with everything
//! else in the account), so the figures are what the stack adds to a bill already past them.

/// The region whose list prices these are.
pub const REGION: &str = "us-east-1";

/// When the table was compiled, from stored copies of the pages cited (no live check).
pub const AS_OF: &str = "2026-12-07";

/// One list price: `usd` for `per` units of `unit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub usd: f64,
    pub per: f64,
    pub unit: &'static str,
    /// AWS's pricing page for it.
    pub source: &'static str,
    /// Where the figure was confirmed, or why it was not.
    pub confirmed: &'static str,
}

impl Price {
    /// The price of one unit.
    pub fn unit_usd(&self) -> f64 {
        self.usd / self.per
    }

    /// The price of `units` units.
    pub fn of(&self, units: f64) -> f64 {
        units * self.unit_usd()
    }
}

/// Lambda on arm64, first tier (7.5 billion GB-seconds a month).
pub const LAMBDA_GB_SECOND: Price = Price {
    usd: 0.000_013_333_4,
    per: 1.0,
    unit: "GB-second (arm64)",
    source: "https://aws.amazon.com/lambda/pricing/",
    confirmed: "https://cloudchipr.com/blog/aws-lambda-pricing (Arm, first 7.5 billion GB-s)",
};

pub const LAMBDA_REQUESTS: Price = Price {
    usd: 0.20,
    per: 1e6,
    unit: "requests",
    source: "https://aws.amazon.com/lambda/pricing/",
    confirmed: "https://cloudchipr.com/blog/aws-lambda-pricing",
};

/// On-demand, after the 50% cut of 1 November 2024.
pub const DYNAMODB_WRITE_UNITS: Price = Price {
    usd: 0.625,
    per: 1e6,
    unit: "write request units (on-demand)",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    confirmed: "https://airbyte.com/data-engineering-resources/dynamodb-pricing (after the November 2024 cut)",
};

pub const DYNAMODB_READ_UNITS: Price = Price {
    usd: 0.125,
    per: 1e6,
    unit: "read request units (on-demand)",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    confirmed: "https://airbyte.com/data-engineering-resources/dynamodb-pricing (after the November 2024 cut)",
};

pub const DYNAMODB_STORAGE: Price = Price {
    usd: 0.25,
    per: 1.0,
    unit: "GB-month stored (Standard table class)",
    source: "https://aws.amazon.com/dynamodb/pricing/",
    confirmed: "https://aws.amazon.com/dynamodb/pricing/ (\"from $0.25 per GB-month\", first 25 GB free)",
};

/// The template turns point-in-time recovery on.
pub const DYNAMODB_PITR: Price = Price {
    usd: 0.20,
    per: 1.0,
    unit: "GB-month of continuous backup (point-in-time recovery)",
    source: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    confirmed: "not confirmed: no stored page states it",
};

/// Each 64 KB chunk of an entry counts as one event; the schedules' own events are free.
pub const EVENTBRIDGE_CUSTOM_EVENTS: Price = Price {
    usd: 1.00,
    per: 1e6,
    unit: "custom events put (64 KB chunks)",
    source: "https://aws.amazon.com/eventbridge/pricing/",
    confirmed: "https://cloudburn.io/blog/amazon-eventbridge-pricing; scheduled rules' events free: https://aws.amazon.com/cloudwatch/pricing/ (\"all events except custom events\")",
};

/// Lambda's logs are vended logs since May 2025: this is the first tier (10 TB).
pub const LOGS_INGESTION: Price = Price {
    usd: 0.50,
    per: 1.0,
    unit: "GB ingested (Lambda vended logs, Standard class)",
    source: "https://aws.amazon.com/cloudwatch/pricing/",
    confirmed: "https://www.duckbillgroup.com/?p=9080 (first tier $0.50 per GB)",
};

pub const LOGS_STORAGE: Price = Price {
    usd: 0.03,
    per: 1.0,
    unit: "GB-month archived",
    source: "https://aws.amazon.com/cloudwatch/pricing/",
    confirmed: "https://hykell.com/kb/platform-specific-guides/aws-cloudwatch-logs-pricing",
};

/// A metric-math alarm is billed per metric it reads (the template's webhook alarm reads 3).
pub const ALARM_METRICS: Price = Price {
    usd: 0.10,
    per: 1.0,
    unit: "standard-resolution alarm metric-month",
    source: "https://aws.amazon.com/cloudwatch/pricing/",
    confirmed: "https://c3x.dev/resources/aws/aws_cloudwatch_metric_alarm ($0.10 per alarm-month); per metric of a math alarm: not confirmed",
};

/// The runs' embedded-metric lines create these (first 10,000 metrics).
pub const CUSTOM_METRICS: Price = Price {
    usd: 0.30,
    per: 1.0,
    unit: "custom metric-month",
    source: "https://aws.amazon.com/cloudwatch/pricing/",
    confirmed: "https://signoz.io/guides/cloudwatch-pricing ($0.30 per metric-month, first 10,000)",
};

pub const SECRETS: Price = Price {
    usd: 0.40,
    per: 1.0,
    unit: "secret-month",
    source: "https://aws.amazon.com/secrets-manager/pricing/",
    confirmed: "https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms",
};

pub const SECRET_API_CALLS: Price = Price {
    usd: 0.05,
    per: 10_000.0,
    unit: "API calls",
    source: "https://aws.amazon.com/secrets-manager/pricing/",
    confirmed: "https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms",
};

/// Standard queues, first 100 billion requests (each 64 KB chunk a request).
pub const SQS_REQUESTS: Price = Price {
    usd: 0.40,
    per: 1e6,
    unit: "requests (standard queues)",
    source: "https://aws.amazon.com/sqs/pricing/",
    confirmed: "https://cloudburn.io/blog/amazon-sqs-pricing",
};

/// Every price above, for the table printed by the bench.
pub const ALL: [(&str, Price); 14] = [
    ("lambda_gb_second", LAMBDA_GB_SECOND),
    ("lambda_requests", LAMBDA_REQUESTS),
    ("dynamodb_write_units", DYNAMODB_WRITE_UNITS),
    ("dynamodb_read_units", DYNAMODB_READ_UNITS),
    ("dynamodb_storage", DYNAMODB_STORAGE),
    ("dynamodb_pitr", DYNAMODB_PITR),
    ("eventbridge_custom_events", EVENTBRIDGE_CUSTOM_EVENTS),
    ("logs_ingestion", LOGS_INGESTION),
    ("logs_storage", LOGS_STORAGE),
    ("alarm_metrics", ALARM_METRICS),
    ("custom_metrics", CUSTOM_METRICS),
    ("secrets", SECRETS),
    ("secret_api_calls", SECRET_API_CALLS),
    ("sqs_requests", SQS_REQUESTS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_prices_are_the_published_price_over_its_quantity() {
        let cases = [
            (LAMBDA_REQUESTS, 1e6, 0.20),
            (DYNAMODB_WRITE_UNITS, 2e6, 1.25),
            (DYNAMODB_READ_UNITS, 8e6, 1.0),
            (SECRET_API_CALLS, 30_000.0, 0.15),
            (EVENTBRIDGE_CUSTOM_EVENTS, 500_000.0, 0.5),
            (LAMBDA_GB_SECOND, 100_000.0, 1.33334),
        ];
        for (price, units, usd) in cases {
            assert!(
                (price.of(units) - usd).abs() < 1e-9,
                "{} {units}: {} != {usd}",
                price.unit,
                price.of(units)
            );
        }
    }

    #[test]
    fn every_price_names_its_source() {
        for (name, p) in ALL {
            assert!(p.source.starts_with("https://aws.amazon.com/"), "{name}");
            assert!(
                !p.confirmed.is_empty() && p.usd > 0.0 && p.per > 0.0,
                "{name}"
            );
        }
    }
}
