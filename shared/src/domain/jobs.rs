//! Jobs an operator pauses one at a time while the others run (the vendor's guideline for
//! PSA connectors asks for it): `acw jobs pause|resume`, or `jobs.paused` in the config file.
//!
//! A paused job is held at its source, so that nothing is lost and resuming catches up:
//! - `provisioning` (new tenants, deprovisioning steps) and `quota_sync` (quota writes): the
//!   provisioner decides as always, and when the decision belongs to a paused job it writes
//!   nothing and defers the company; the reconciler sends the deferred companies again in
//!   its first cycle after the job is resumed;
//! - `usage_push`: the usage push (and its shard workers) reads and writes nothing; its
//!   next cycle after resuming writes what changed, as any cycle does;
//! - `ticket_sync`: the alert poller reads nothing and holds its cursor; after resuming it
//!   reads every alert since, and tickets follow.
//!
//! Each function reads the setting at the start of each run, so a pause takes effect within
//! one cycle.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The settings section holding the paused jobs.
pub const SECTION: &str = "jobs";

/// A job that can be paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    Provisioning,
    QuotaSync,
    UsagePush,
    TicketSync,
}

impl Job {
    pub const ALL: [Job; 4] = [
        Job::Provisioning,
        Job::QuotaSync,
        Job::UsagePush,
        Job::TicketSync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::QuotaSync => "quota_sync",
            Self::UsagePush => "usage_push",
            Self::TicketSync => "ticket_sync",
        }
    }

    /// What pausing it holds back.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Provisioning => "new tenants and deprovisioning steps (the provisioner)",
            Self::QuotaSync => "quota writes to mapped tenants (the provisioner)",
            Self::UsagePush => "usage written into agreement additions (usage-push)",
            Self::TicketSync => "alerts becoming tickets (alert-poller)",
        }
    }

    /// The job named `name` (`quota_sync` or `quota-sync`), or an error listing the jobs.
    pub fn parse(name: &str) -> Result<Self, String> {
        let wanted = name.trim().replace('-', "_").to_lowercase();
        Self::ALL
            .into_iter()
            .find(|j| j.name() == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown job {name:?}; the jobs are {}",
                    Self::ALL.map(Job::name).join(", ")
                )
            })
    }
}

/// Since when a job is paused, and who paused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    pub since: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The paused jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobSettings {
    pub paused: BTreeMap<Job, Paused>,
}

impl JobSettings {
    pub fn is_paused(&self, job: Job) -> bool {
        self.paused.contains_key(&job)
    }

    /// The settings with `job` paused (from `now`, unless it already was) or resumed;
    /// `None` when nothing changes.
    pub fn with(
        &self,
        job: Job,
        pause: bool,
        now: DateTime<Utc>,
        by: Option<String>,
    ) -> Option<Self> {
        if pause == self.is_paused(job) {
            return None;
        }
        let mut next = self.clone();
        if pause {
            next.paused.insert(job, Paused { since: now, by });
        } else {
            next.paused.remove(&job);
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_parse_by_name_and_pausing_twice_changes_nothing() {
        assert_eq!(Job::parse("quota-sync"), Ok(Job::QuotaSync));
        assert_eq!(Job::parse(" Usage_Push "), Ok(Job::UsagePush));
        let e = Job::parse("billing").unwrap_err();
        assert!(
            e.contains("provisioning, quota_sync, usage_push, ticket_sync"),
            "{e}"
        );

        let now = Utc::now();
        let paused = JobSettings::default()
            .with(Job::UsagePush, true, now, Some("ops".into()))
            .unwrap();
        assert!(paused.is_paused(Job::UsagePush));
        assert!(!paused.is_paused(Job::TicketSync));
        assert_eq!(paused.with(Job::UsagePush, true, now, None), None);
        let resumed = paused.with(Job::UsagePush, false, now, None).unwrap();
        assert_eq!(resumed, JobSettings::default());
        assert_eq!(
            JobSettings::default().with(Job::UsagePush, false, now, None),
            None
        );
    }
}
