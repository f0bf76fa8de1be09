//! What a usage shard does with the writes its time ran out on.
//!
//! A cold push (every quantity new) needs more ConnectWise requests than one invocation's
//! time allows within the request budget: at 10,000 companies about 60,000, over an hour at
//! the budget. Left to the next cycle, the leftover would wait up to 15 minutes while the
//! budget idles, so a shard hands it on at once, as a new shard of the companies whose
//! writes were not made. The chain is bounded ([`MAX_HANDOFFS`]), and a newer cycle's plan
//! supersedes it: that cycle's shards cover every company again, from fresher reads.

use std::collections::BTreeSet;

use crate::bus::events::UsageShard;

/// Hand-offs in one chain: with the consumers' concurrency at its default (2) and the
/// budget shared, an invocation makes about 2,000 writes, so 8 cover a 1,000-company shard
/// several times over; past them the next cycle takes over.
pub const MAX_HANDOFFS: u32 = 8;

/// What becomes of a shard's deferred writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Handoff {
    /// Every planned write was made (or failed, for the next cycle to retry).
    Done,
    /// A new shard of the companies still to write, to publish now.
    HandOn(UsageShard),
    /// The chain is at its bound: the next cycle writes them.
    LeaveToNextCycle { companies: usize },
}

/// The hand-off of `shard`, whose writes for the companies in `deferred` were not made.
pub fn after_push(shard: &UsageShard, deferred: &BTreeSet<i64>) -> Handoff {
    let companies: Vec<_> = shard
        .companies
        .iter()
        .filter(|c| deferred.contains(&c.company_id))
        .cloned()
        .collect();
    if companies.is_empty() {
        Handoff::Done
    } else if shard.handoff >= MAX_HANDOFFS {
        Handoff::LeaveToNextCycle {
            companies: companies.len(),
        }
    } else {
        Handoff::HandOn(UsageShard {
            handoff: shard.handoff + 1,
            companies,
            ..shard.clone()
        })
    }
}

/// Whether `shard` is a hand-off that a newer plan (`latest_plan`, the run id of the last
/// planning run) has superseded. The planner's own shards always run: an older cycle's
/// shard delivered late still writes current usages.
pub fn superseded(shard: &UsageShard, latest_plan: Option<&str>) -> bool {
    shard.handoff > 0 && latest_plan.is_some_and(|latest| latest != shard.run_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::events::{ShardCompany, VERSION};

    fn shard(handoff: u32, ids: &[i64]) -> UsageShard {
        UsageShard {
            version: VERSION,
            run_id: "plan-1".into(),
            shard: 3,
            shards: 10,
            companies: ids
                .iter()
                .map(|id| ShardCompany {
                    company_id: *id,
                    tenant_id: format!("t{id}"),
                })
                .collect(),
            handoff,
        }
    }

    #[test]
    fn leftover_is_handed_on_until_the_bound() {
        let deferred: BTreeSet<i64> = [2, 4, 99].into();
        let cases = [
            (shard(0, &[1, 2, 3, 4]), Handoff::HandOn(shard(1, &[2, 4]))),
            (
                shard(MAX_HANDOFFS - 1, &[1, 2, 3, 4]),
                Handoff::HandOn(shard(MAX_HANDOFFS, &[2, 4])),
            ),
            (
                shard(MAX_HANDOFFS, &[1, 2, 3, 4]),
                Handoff::LeaveToNextCycle { companies: 2 },
            ),
            // Nothing of this shard deferred (99 is another shard's).
            (shard(0, &[1, 3]), Handoff::Done),
        ];
        for (given, expected) in cases {
            assert_eq!(after_push(&given, &deferred), expected, "{given:?}");
        }
        assert_eq!(after_push(&shard(0, &[1]), &BTreeSet::new()), Handoff::Done);
    }

    #[test]
    fn only_a_hand_off_of_an_older_plan_is_superseded() {
        let cases = [
            (0, Some("plan-2"), false),
            (1, Some("plan-2"), true),
            (1, Some("plan-1"), false),
            (1, None, false),
            (0, None, false),
        ];
        for (handoff, latest, expected) in cases {
            assert_eq!(
                superseded(&shard(handoff, &[1]), latest),
                expected,
                "{handoff} {latest:?}"
            );
        }
    }
}
