//! Deprovisioning on a schedule (the vendor's guideline): each configured step runs on its
//! day, counted from the first time the product saw the company not qualifying; what has
//! not run yet is pending, visible, and cancelled when the company qualifies again.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::settings::DeprovisionSettings;

/// One deprovisioning step, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeprovisionStep {
    QuotasToZero,
    Disable,
    Delete,
}

impl std::fmt::Display for DeprovisionStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::QuotasToZero => "quotas to zero",
            Self::Disable => "disable",
            Self::Delete => "delete",
        })
    }
}

/// `disable on 2026-12-09, delete on 2026-12-29`: pending steps as an operator reads them.
pub fn describe_pending(pending: &[PendingStep]) -> String {
    pending
        .iter()
        .map(|p| format!("{} on {}", p.step, p.on.format("%Y-%m-%d")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The configured steps in order, each with the days after which it runs. Acronis deletes
/// only disabled tenants, so delete brings disable with it, and never runs before it.
pub fn schedule(s: &DeprovisionSettings) -> Vec<(DeprovisionStep, u32)> {
    let mut steps = Vec::new();
    if s.quotas_to_zero {
        steps.push((DeprovisionStep::QuotasToZero, s.quotas_to_zero_after_days));
    }
    let disable_day = if s.disable {
        s.disable_after_days
    } else {
        s.delete_after_days
    };
    if s.disable || s.delete {
        steps.push((DeprovisionStep::Disable, disable_day));
    }
    if s.delete {
        steps.push((
            DeprovisionStep::Delete,
            s.delete_after_days.max(disable_day),
        ));
    }
    steps
}

/// A step that waits for its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingStep {
    pub step: DeprovisionStep,
    pub on: DateTime<Utc>,
}

/// What deprovisioning does now, and what waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeprovisionPlan {
    /// When the product first saw the company not qualifying (the days count from here).
    pub since: DateTime<Utc>,
    /// The steps whose day has come and that have not run, in order.
    pub due: Vec<DeprovisionStep>,
    /// The steps whose day is still to come, in order.
    pub pending: Vec<PendingStep>,
}

impl DeprovisionPlan {
    /// When the next pending step is due, if any.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.pending.first().map(|p| p.on)
    }
}

/// The plan at `now` for a company not qualifying since `since`, with `done` already run.
pub fn plan(
    settings: &DeprovisionSettings,
    since: DateTime<Utc>,
    done: &[DeprovisionStep],
    now: DateTime<Utc>,
) -> DeprovisionPlan {
    let mut due = Vec::new();
    let mut pending = Vec::new();
    for (step, days) in schedule(settings) {
        if done.contains(&step) {
            continue;
        }
        let on = since + Duration::days(i64::from(days));
        // A later step never runs before an earlier one that still waits.
        if on <= now && pending.is_empty() {
            due.push(step);
        } else {
            pending.push(PendingStep { step, on });
        }
    }
    DeprovisionPlan {
        since,
        due,
        pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeprovisionStep::*;

    fn all(quotas: u32, disable: u32, delete: u32) -> DeprovisionSettings {
        DeprovisionSettings {
            quotas_to_zero: true,
            quotas_to_zero_after_days: quotas,
            disable: true,
            disable_after_days: disable,
            delete: true,
            delete_after_days: delete,
        }
    }

    #[test]
    fn the_defaults_zero_quotas_at_once_and_wait_10_and_30_days_when_on() {
        let d = DeprovisionSettings::default();
        assert_eq!(schedule(&d), [(QuotasToZero, 0)]);
        assert_eq!(
            schedule(&DeprovisionSettings {
                disable: true,
                delete: true,
                ..d
            }),
            [(QuotasToZero, 0), (Disable, 10), (Delete, 30)]
        );
    }

    #[test]
    fn each_step_runs_on_its_day_and_not_before() {
        let s = all(0, 10, 30);
        let since = Utc::now() - Duration::days(100);
        let day = |n: i64| since + Duration::days(n);
        let p = plan(&s, since, &[], since);
        assert_eq!(p.due, [QuotasToZero]);
        assert_eq!(p.next_due(), Some(day(10)));
        let p = plan(&s, since, &[QuotasToZero], day(10) - Duration::seconds(1));
        assert!(p.due.is_empty(), "not a second early: {p:?}");
        let p = plan(&s, since, &[QuotasToZero], day(10));
        assert_eq!(p.due, [Disable]);
        assert_eq!(
            p.pending,
            [PendingStep {
                step: Delete,
                on: day(30)
            }]
        );
        let p = plan(&s, since, &[QuotasToZero, Disable], day(30));
        assert_eq!(
            (p.due.as_slice(), p.pending.len()),
            ([Delete].as_slice(), 0)
        );
        // Missed days (nothing ran for a while): everything due runs, in order.
        assert_eq!(
            plan(&s, since, &[], day(45)).due,
            [QuotasToZero, Disable, Delete]
        );
    }

    #[test]
    fn delete_brings_disable_and_never_runs_before_it() {
        let s = DeprovisionSettings {
            disable: false,
            delete: true,
            delete_after_days: 30,
            ..DeprovisionSettings::default()
        };
        assert_eq!(
            schedule(&s),
            [(QuotasToZero, 0), (Disable, 30), (Delete, 30)]
        );
        // Delete at 5 days but disable at 10: delete waits for disable.
        let s = all(0, 10, 5);
        assert_eq!(schedule(&s)[2], (Delete, 10));
        let since = Utc::now();
        let p = plan(&all(20, 10, 30), since, &[], since + Duration::days(15));
        assert!(p.due.is_empty(), "disable waits behind quotas: {p:?}");
    }

    #[test]
    fn nothing_configured_plans_nothing() {
        let none = DeprovisionSettings {
            quotas_to_zero: false,
            ..DeprovisionSettings::default()
        };
        let p = plan(&none, Utc::now(), &[], Utc::now());
        assert!(p.due.is_empty() && p.pending.is_empty());
    }
}
