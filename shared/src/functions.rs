//! The product's Lambda functions: one list, read by the template test, the local runner (which
//! hosts each one), the run records and `acw status`, so no function can be left out of any of
//! them. Adding a variant makes every exhaustive `match` over it fail to compile until it is
//! handled.

use std::fmt;

/// How a function is invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Synchronous HTTP (a Function URL).
    Http,
    /// An EventBridge rule on the product's bus.
    Bus,
    /// An EventBridge schedule.
    Schedule,
}

/// One Lambda function of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    Webhook,
    Provisioner,
    TicketSync,
    Reconciler,
    AlertPoller,
    UsagePush,
    UsageShardWorker,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::Webhook,
        Function::Provisioner,
        Function::TicketSync,
        Function::Reconciler,
        Function::AlertPoller,
        Function::UsagePush,
        Function::UsageShardWorker,
    ];

    /// The package and binary under `functions/`, the log group's last part and the key of
    /// its run records.
    pub const fn name(self) -> &'static str {
        match self {
            Function::Webhook => "webhook",
            Function::Provisioner => "provisioner",
            Function::TicketSync => "ticket-sync",
            Function::Reconciler => "reconciler",
            Function::AlertPoller => "alert-poller",
            Function::UsagePush => "usage-push",
            Function::UsageShardWorker => "usage-shard-worker",
        }
    }

    /// Its logical id in `template.yaml`.
    pub const fn logical_id(self) -> &'static str {
        match self {
            Function::Webhook => "Webhook",
            Function::Provisioner => "Provisioner",
            Function::TicketSync => "TicketSync",
            Function::Reconciler => "Reconciler",
            Function::AlertPoller => "AlertPoller",
            Function::UsagePush => "UsagePush",
            Function::UsageShardWorker => "UsageShardWorker",
        }
    }

    pub const fn trigger(self) -> Trigger {
        match self {
            Function::Webhook => Trigger::Http,
            Function::Provisioner | Function::TicketSync | Function::UsageShardWorker => {
                Trigger::Bus
            }
            Function::Reconciler | Function::AlertPoller | Function::UsagePush => Trigger::Schedule,
        }
    }

    /// Its place in ConnectWise's request budget (`domain::request_budget`): a sale and a
    /// ticket before catching up, catching up before a usage backfill.
    pub const fn budget_priority(self) -> crate::domain::request_budget::Priority {
        use crate::domain::request_budget::Priority;
        match self {
            Function::Webhook | Function::Provisioner | Function::TicketSync => Priority::Urgent,
            // The usage planner's reads are what its shards' writes wait for, and it reads
            // for at most 4 minutes a cycle: ahead of the writes, behind a sale.
            Function::Reconciler | Function::AlertPoller | Function::UsagePush => Priority::Normal,
            Function::UsageShardWorker => Priority::Background,
        }
    }

    /// Whether each invocation stores a run record (`acw status`). The webhook answers each
    /// callback over HTTP instead: its log and its errors alarm tell its story.
    pub const fn records_runs(self) -> bool {
        !matches!(self, Function::Webhook)
    }

    /// The detail-type patterns of the events it puts on the bus (`bus::events`), which its
    /// role's PutEvents condition must equal.
    pub fn publishes(self) -> &'static [&'static str] {
        use crate::bus::events::families;
        match self {
            Function::Webhook => &[families::COMPANY, families::AGREEMENT, families::TICKET],
            // And what it redrives from the consumers' dead-letter queues.
            Function::Reconciler => &[
                families::COMPANY,
                families::AGREEMENT,
                families::ALERT,
                families::TICKET,
                families::USAGE,
            ],
            Function::AlertPoller => &[families::ALERT],
            // A shard hands on the writes its time ran out on.
            Function::UsagePush | Function::UsageShardWorker => &[families::USAGE],
            Function::Provisioner | Function::TicketSync => &[],
        }
    }

    /// How many times Lambda retries a failed asynchronous invocation before it sends the
    /// event to the on-failure destination: the template's
    /// `EventInvokeConfig.MaximumRetryAttempts` (its test checks they agree). The webhook is
    /// invoked synchronously (its Function URL): `None`.
    pub const fn async_retries(self) -> Option<u32> {
        match self {
            Function::Webhook => None,
            Function::Provisioner | Function::TicketSync | Function::UsageShardWorker => Some(2),
            // A schedule fires again soon; a retry would only overlap the next run.
            Function::Reconciler | Function::AlertPoller | Function::UsagePush => Some(0),
        }
    }

    /// The rule's `RetryPolicy` for delivering to this function (maximum attempts, maximum
    /// event age): the template's, checked by its test. EventBridge's default is 185 and
    /// 24 hours; a schedule's event is worth little once the next one fires.
    pub const fn rule_retry_policy(self) -> Option<(u32, std::time::Duration)> {
        use std::time::Duration;
        match self {
            Function::Webhook => None,
            Function::Provisioner | Function::TicketSync | Function::UsageShardWorker => {
                Some((185, Duration::from_secs(86_400)))
            }
            Function::Reconciler | Function::UsagePush => Some((3, Duration::from_secs(600))),
            Function::AlertPoller => Some((3, Duration::from_secs(60))),
        }
    }

    /// The function of this name, if any.
    pub fn from_name(name: &str) -> Option<Function> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<_> = Function::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Function::ALL.len());
        for f in Function::ALL {
            assert_eq!(Function::from_name(f.name()), Some(f));
        }
        assert_eq!(Function::from_name("acw"), None);
    }

    #[test]
    fn only_publishers_of_the_bus_name_families() {
        for f in Function::ALL {
            let publishes = !f.publishes().is_empty();
            let expected = matches!(
                f,
                Function::Webhook
                    | Function::Reconciler
                    | Function::AlertPoller
                    | Function::UsagePush
                    | Function::UsageShardWorker
            );
            assert_eq!(publishes, expected, "{f}");
        }
    }
}
