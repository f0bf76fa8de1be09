//! What a usage shard does with the writes its time ran out on.
//!
//! A cold push (every quantity new) needs more ConnectWise requests than one invocation's
//! time allows within the request budget: at 10,000 companies about 60,000, over an hour at
//! the budget. Left to the next cycle, the leftover would wait up to 15 minutes while the
//! budget idles, so a shard hands it on at once, as a new shard of the companies whose
//! writes were not made. The chain is bounded ([`MAX_HANDOFFS`]), and a newer cycle's plan
//! supersedes it: that cycle's shards cover every company again, from fresher reads.
//!
//! A newer plan supersedes an older plan's own shards still waiting too: at 10,000 companies
//! a cycle's shards are not all done when the next plan fans out, and running both would
//! push the same companies twice, the second time reading everything to write nothing.

use std::collections::BTreeSet;

use crate::bus::events::UsageShard;

/// Hand-offs in one chain: with the consumers' concurrency at its default (2) and the
/// budget shared, an invocation makes about 2,000 writes, so 8 cover a 1,000-company shard
/// several times over; past them the next cycle takes over.
pub const MAX_HANDOFFS: u32 = 8;

/// A hand-off of at least this many companies is split in [`PARTS`]: the chain's last
/// shard would otherwise run on one worker while the other, its queue empty, idles.
pub const SPLIT_FROM: usize = 100;
/// The parts of a split hand-off: the consumers' concurrency at its default.
pub const PARTS: usize = 2;

/// What becomes of a shard's deferred writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Handoff {
    /// Every planned write was made (or failed, for the next cycle to retry).
    Done,
    /// New shards of the companies still to write (split in [`PARTS`] from [`SPLIT_FROM`]
    /// companies), to publish now.
    HandOn(Vec<UsageShard>),
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
        let parts = if companies.len() >= SPLIT_FROM {
            PARTS
        } else {
            1
        };
        Handoff::HandOn(
            companies
                .chunks(companies.len().div_ceil(parts))
                .map(|part| UsageShard {
                    handoff: shard.handoff + 1,
                    companies: part.to_vec(),
                    ..shard.clone()
                })
                .collect(),
        )
    }
}

/// Whether a newer plan (`latest_plan`, the run id of the last plan that fanned out) has
/// superseded `shard`, a shard or hand-off of an older plan: the newer plan's shards cover
/// every mapped company, from fresher reads. With no plan recorded (a cycle pushed in
/// process, or state from before plans were recorded) every shard runs.
pub fn superseded(shard: &UsageShard, latest_plan: Option<&str>) -> bool {
    latest_plan.is_some_and(|latest| latest != shard.run_id)
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
                    connection: Default::default(),
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
            (
                shard(0, &[1, 2, 3, 4]),
                Handoff::HandOn(vec![shard(1, &[2, 4])]),
            ),
            (
                shard(MAX_HANDOFFS - 1, &[1, 2, 3, 4]),
                Handoff::HandOn(vec![shard(MAX_HANDOFFS, &[2, 4])]),
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
    fn a_large_leftover_is_split_so_that_every_worker_shares_the_tail() {
        let n = SPLIT_FROM as i64 + 1;
        let all: Vec<i64> = (1..=n).collect();
        let Handoff::HandOn(parts) = after_push(&shard(2, &all), &all.iter().copied().collect())
        else {
            panic!("handed on");
        };
        assert_eq!(parts.len(), PARTS);
        assert!(parts.iter().all(|p| p.handoff == 3 && p.run_id == "plan-1"));
        // Every company once, in order, in parts that differ by one at most.
        let ids: Vec<i64> = parts
            .iter()
            .flat_map(|p| p.companies.iter().map(|c| c.company_id))
            .collect();
        assert_eq!(ids, all);
        let sizes: Vec<usize> = parts.iter().map(|p| p.companies.len()).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
        // Just below the threshold: one part.
        let fewer = &all[..SPLIT_FROM - 1];
        assert_eq!(
            after_push(&shard(0, fewer), &fewer.iter().copied().collect()),
            Handoff::HandOn(vec![shard(1, fewer)])
        );
    }

    #[test]
    fn a_shard_or_hand_off_of_an_older_plan_is_superseded() {
        let cases = [
            (0, Some("plan-2"), true),
            (0, Some("plan-1"), false),
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
