//! EventBridge's and asynchronous Lambda's limits, and packing by count and by bytes.
//!
//! Sources (the quotas in force, read 2026-12):
//! - PutEvents API reference: `Entries`, 1 to 10 items.
//! - EventBridge user guide, "Calculating PutEvents event entry size": "The total entry size
//!   must be less than 256KB"; an entry counts its `Source`, `DetailType` and `Detail` as UTF-8
//!   bytes (14 for `Time`, and each resource, when given: this product gives neither).
//! - Lambda quotas: an asynchronous invocation's payload is 256 KB. A rule hands a consumer
//!   the whole event (the entry inside EventBridge's envelope), so an entry leaves room for it.
//!
//! AWS announced 1 MB for EventBridge events, SQS messages and asynchronous invocations in
//! January 2026; the pages above still say 256 KB, so the product keeps to the stricter one
//! (right under either). `infra/moto_server.py` enforces the same on the local stack.

use std::ops::Range;

/// Entries in one `PutEvents` request.
pub const MAX_ENTRIES_PER_REQUEST: usize = 10;
/// The total entry size of one `PutEvents` request must be less than this.
pub const REQUEST_LIMIT_BYTES: usize = 256 * 1024;
/// What is wrapped around an entry on its way: EventBridge's envelope when it delivers it
/// (`version`, `id`, `account`, `time`, `region`, `resources`: about 200 bytes), and, when the
/// consumer fails on it, Lambda's on-failure record around that (`requestContext`,
/// `responseContext`, the error in `responsePayload`), which must still fit an SQS message
/// or the event would be lost on its way to the dead-letter queue.
pub const ENVELOPE_BYTES: usize = 16 * 1024;
/// The largest entry the product sends: one that fits a request alone and, in its envelope
/// and an on-failure record, an asynchronous invocation's payload and an SQS message.
pub const MAX_ENTRY_BYTES: usize = REQUEST_LIMIT_BYTES - 1 - ENVELOPE_BYTES;

/// An entry's size as EventBridge computes it (no `Time`, no resources).
pub fn entry_size(source: &str, detail_type: &str, detail: &str) -> usize {
    source.len() + detail_type.len() + detail.len()
}

/// Splits items of the given sizes, in order, into consecutive runs of at most `max_count`
/// items whose sizes add up to at most `max_bytes`. An item larger than `max_bytes` is a run
/// of its own (the caller refuses it before sending).
pub fn pack(sizes: &[usize], max_count: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let max_count = max_count.max(1);
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start == max_count || bytes.saturating_add(size) > max_bytes;
        if i > start && full {
            runs.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(size);
    }
    if start < sizes.len() {
        runs.push(start..sizes.len());
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_by_count_and_by_bytes_in_order() {
        assert_eq!(pack(&[1; 23], 10, 1000), vec![0..10, 10..20, 20..23]);
        assert_eq!(pack(&[40, 40, 40, 40], 10, 100), vec![0..2, 2..4]);
        assert_eq!(pack(&[100, 1, 100], 10, 100), vec![0..1, 1..2, 2..3]);
        assert_eq!(pack(&[], 10, 100), Vec::<Range<usize>>::new());
        // Too large alone: its own run, never merged with its neighbours.
        assert_eq!(pack(&[10, 500, 10], 10, 100), vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn every_run_keeps_both_limits_and_every_item_is_in_one() {
        let sizes: Vec<usize> = (0..500).map(|i| (i * 7919) % 90_000 + 1).collect();
        let runs = pack(&sizes, MAX_ENTRIES_PER_REQUEST, REQUEST_LIMIT_BYTES - 1);
        let mut next = 0;
        for r in &runs {
            assert_eq!(r.start, next);
            next = r.end;
            assert!(r.len() <= MAX_ENTRIES_PER_REQUEST);
            assert!(sizes[r.clone()].iter().sum::<usize>() < REQUEST_LIMIT_BYTES);
        }
        assert_eq!(next, sizes.len());
    }
}
