//! A company's lifecycle (deprovisioning on its days, enabling again) over a fake of
//! Acronis' tenants and the table.

use chrono::{DateTime, TimeZone, Utc};

use super::ports::Lifecycle;
use crate::domain::deprovisioning::{DeprovisionPlan, DeprovisionStep, PendingStep};
use crate::store::{DeprovisionClock, RunRecord};
use crate::testing::FakeLifecycle;

use DeprovisionStep::{Delete, Disable, QuotasToZero};

fn lifecycle(fake: &FakeLifecycle) -> Lifecycle<'_, FakeLifecycle, FakeLifecycle> {
    Lifecycle {
        acronis: fake,
        store: fake,
    }
}

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap()
}

/// Company 7's clock after its quotas went to zero and its tenant was disabled on day 1,
/// the delete waiting for day 31.
fn disabled_clock() -> DeprovisionClock {
    DeprovisionClock {
        unknown: Default::default(),
        company_id: 7,
        tenant_id: "t-7".into(),
        reason: "no agreement".into(),
        since: day(1),
        done: vec![QuotasToZero, Disable],
        pending: vec![PendingStep {
            step: Delete,
            on: day(31),
        }],
    }
}

fn fields(run: &RunRecord) -> Vec<&str> {
    run.changes.iter().map(|c| c.field.as_str()).collect()
}

#[tokio::test]
async fn every_step_runs_in_order_the_mark_before_the_disable_and_the_mapping_goes_with_the_tenant()
{
    let fake = FakeLifecycle::default();
    let mapping = fake.mapped(7, "t-7", true, 3);
    let mut run = RunRecord::start("provisioner");
    lifecycle(&fake)
        .deprovision(
            &mapping,
            &[QuotasToZero, Disable, Delete],
            "no agreement",
            &mut run,
        )
        .await
        .unwrap();
    assert_eq!(
        fake.writes(),
        vec![
            "zero t-7",
            "put mark 7",
            "disable t-7",
            "delete t-7",
            "unmap 7",
            "clear mark 7"
        ]
    );
    assert_eq!(fake.tenant_state("t-7"), None);
    assert!(fake.mapping(7).is_none() && fake.mark(7).is_none());
    assert_eq!(fields(&run), vec!["quotas", "enabled", "tenant"]);
    assert_eq!(
        run.changes[0].basis.as_deref(),
        Some("no agreement: 3 item(s) set to zero")
    );
}

#[tokio::test]
async fn acronis_refusing_to_delete_an_enabled_tenant_is_answered_by_disabling_it_first() {
    let fake = FakeLifecycle::default();
    let mapping = fake.mapped(7, "t-7", true, 0);
    let mut run = RunRecord::start("provisioner");
    lifecycle(&fake)
        .deprovision(&mapping, &[Delete], "no agreement", &mut run)
        .await
        .unwrap();
    assert_eq!(
        fake.writes(),
        vec!["disable t-7", "delete t-7", "unmap 7", "clear mark 7"]
    );
    assert_eq!(fake.tenant_state("t-7"), None);
}

#[tokio::test]
async fn a_tenant_already_gone_leaves_only_its_mapping_to_remove() {
    let fake = FakeLifecycle::default();
    let mapping = fake.mapped(7, "t-7", false, 0);
    fake.remove_tenant("t-7");
    let mut run = RunRecord::start("provisioner");
    lifecycle(&fake)
        .deprovision(&mapping, &[Disable, Delete], "no agreement", &mut run)
        .await
        .unwrap();
    assert_eq!(fake.writes(), vec!["unmap 7"]);
    assert_eq!(
        run.changes[0].basis.as_deref(),
        Some("the tenant no longer exists")
    );
}

#[tokio::test]
async fn the_first_day_zeroes_quotas_and_schedules_the_rest_and_later_days_keep_them_at_zero() {
    let fake = FakeLifecycle::default();
    let mapping = fake.mapped(7, "t-7", true, 2);
    let plan = DeprovisionPlan {
        since: day(1),
        due: vec![QuotasToZero],
        pending: vec![
            PendingStep {
                step: Disable,
                on: day(8),
            },
            PendingStep {
                step: Delete,
                on: day(31),
            },
        ],
    };
    let mut run = RunRecord::start("provisioner");
    let life = lifecycle(&fake);
    life.deprovision_on_schedule(&mapping, None, "no agreement", &plan, &mut run)
        .await
        .unwrap();
    let clock = fake.clock(7).expect("the clock is kept");
    assert_eq!(
        (clock.since, clock.done.clone()),
        (day(1), vec![QuotasToZero])
    );
    assert_eq!(clock.pending, plan.pending);
    assert_eq!(fields(&run), vec!["quotas", "deprovisioning"]);

    // A write that read the company before it stopped qualifying put a quota back: the
    // next re-derive, with nothing due, sets it to zero again and leaves the clock as is.
    let fake_quota_back = fake.mapped(7, "t-7", true, 1);
    let later = DeprovisionPlan {
        due: vec![],
        ..plan
    };
    let mut run = RunRecord::start("provisioner");
    life.deprovision_on_schedule(
        &fake_quota_back,
        Some(&clock),
        "no agreement",
        &later,
        &mut run,
    )
    .await
    .unwrap();
    assert_eq!(fake.tenant_state("t-7"), Some((true, 0)));
    assert_eq!(fields(&run), vec!["quotas"], "nothing scheduled anew");
    assert_eq!(
        fake.writes()
            .iter()
            .filter(|w| w.starts_with("put clock"))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_delete_day_removes_the_clock_with_the_tenant() {
    let fake = FakeLifecycle::default();
    let mapping = fake.mapped(7, "t-7", false, 0);
    let clock = disabled_clock();
    fake.set_clock(clock.clone());
    let plan = DeprovisionPlan {
        since: day(1),
        due: vec![Delete],
        pending: vec![],
    };
    let mut run = RunRecord::start("provisioner");
    lifecycle(&fake)
        .deprovision_on_schedule(&mapping, Some(&clock), "no agreement", &plan, &mut run)
        .await
        .unwrap();
    assert!(fake.clock(7).is_none() && fake.mapping(7).is_none());
    assert_eq!(fake.tenant_state("t-7"), None);
}

#[tokio::test]
async fn qualifying_again_cancels_what_was_pending_and_enables_only_a_tenant_this_product_disabled()
{
    let fake = FakeLifecycle::default();
    let ours = fake.mapped(7, "t-7", false, 0);
    fake.set_mark(7, "t-7");
    let theirs = fake.mapped(8, "t-8", false, 0);
    let clock = disabled_clock();
    fake.set_clock(clock.clone());
    let life = lifecycle(&fake);
    let mut run = RunRecord::start("provisioner");
    life.reenable_if_we_disabled(&ours, &mut run).await.unwrap();
    life.qualifies_again(&ours, Some(&clock), day(10), &mut run)
        .await
        .unwrap();
    assert_eq!(fake.tenant_state("t-7"), Some((true, 0)));
    assert!(fake.mark(7).is_none() && fake.clock(7).is_none());
    assert_eq!(fake.mapping(7).unwrap().qualified_at, Some(day(10)));
    assert_eq!(fields(&run), vec!["enabled", "deprovisioning"]);

    let mut run = RunRecord::start("provisioner");
    life.reenable_if_we_disabled(&theirs, &mut run)
        .await
        .unwrap();
    assert_eq!(
        fake.tenant_state("t-8"),
        Some((false, 0)),
        "disabled by someone else"
    );
    assert!(run.changes.is_empty());
}
