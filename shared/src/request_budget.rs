//! The deployment's ConnectWise request budget as the HTTP transport uses it: before each
//! request it takes one from the budget the table keeps for every instance and `acw`
//! ([`crate::domain::request_budget`] decides; [`BudgetTable`] stores), and after a 429 it
//! holds every caller back until the server's `Retry-After`.
//!
//! An instance takes a small batch at a time (1, doubling up to [`MAX_BATCH`] while it uses
//! each one up within half a second, [`batch_life_us`]), so a busy instance writes the table once per few
//! requests, and an idle one never holds more than it uses: what it has not used when the
//! batch's life ends is dropped (it was counted already, which keeps the bound).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::request_budget::{Grant, Priority, Rate, hold_until, plan};
use crate::store::{Store, StoreError};

/// The largest batch an instance takes at once.
pub const MAX_BATCH: u32 = 8;

/// How long a batch may be spent: half a second of the budget's minute.
pub fn batch_life_us(rate: Rate) -> i64 {
    rate.batch_life_us()
}

/// Where the budget is kept: the table in production, a fake in unit tests.
pub trait BudgetTable: Send + Sync {
    /// Applies `grant` if the stored `tat` still allows it: `Ok(new tat)`, else
    /// `Err(the stored tat)`.
    fn try_grant(
        &self,
        grant: Grant,
        now: i64,
    ) -> impl Future<Output = Result<Result<i64, Option<i64>>, StoreError>> + Send;
    /// Moves the stored `tat` to at least `tat`.
    fn hold(&self, tat: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl BudgetTable for Store {
    async fn try_grant(
        &self,
        grant: Grant,
        now: i64,
    ) -> Result<Result<i64, Option<i64>>, StoreError> {
        self.try_budget_grant(grant, now).await
    }
    async fn hold(&self, tat: i64) -> Result<(), StoreError> {
        self.hold_budget(tat).await
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the transport asks of a budget (object-safe, so one transport type serves both APIs
/// and tests).
pub trait Budget: Send + Sync + fmt::Debug {
    /// Waits until one request may be sent. An error means the budget could not be read:
    /// the request is not sent.
    fn take(&self) -> BoxFuture<'_, Result<(), String>>;
    /// The server refused a request with 429: nobody sends before `retry_after` from now.
    fn throttled(&self, retry_after: Duration) -> BoxFuture<'_, ()>;
}

/// Now in microseconds, as the budget reads it.
pub type Now = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The product's clock.
pub fn product_clock() -> Now {
    Arc::new(|| crate::clock::now().timestamp_micros())
}

#[derive(Debug, Default)]
struct Batch {
    left: u32,
    /// The batch may be spent until then.
    until: i64,
    size: u32,
    /// The highest `tat` seen (the stored one is never lower).
    tat: Option<i64>,
}

/// A budget kept in `table`, taken at `priority`.
pub struct TableBudget<T> {
    table: T,
    rate: Rate,
    priority: Priority,
    now: Now,
    batch: tokio::sync::Mutex<Batch>,
}

impl<T> fmt::Debug for TableBudget<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableBudget")
            .field("per_minute", &self.rate.requests_per_minute())
            .field("priority", &self.priority)
            .finish()
    }
}

impl<T: BudgetTable> TableBudget<T> {
    pub fn new(table: T, rate: Rate, priority: Priority, now: Now) -> Self {
        Self {
            table,
            rate,
            priority,
            now,
            batch: tokio::sync::Mutex::new(Batch::default()),
        }
    }

    async fn take_one(&self) -> Result<(), StoreError> {
        let mut batch = self.batch.lock().await;
        let now = (self.now)();
        if batch.left > 0 && now < batch.until {
            batch.left -= 1;
            return Ok(());
        }
        // A batch used up within its life earns a larger one (up to what its priority is
        // granted while the budget is in use); one that expired unused, 1.
        batch.size = if batch.size > 0 && batch.left == 0 {
            self.rate
                .batch_for(self.priority, (batch.size * 2).min(MAX_BATCH))
        } else {
            1
        };
        loop {
            let now = (self.now)();
            let grant = plan(batch.tat, now, batch.size, self.rate, self.priority);
            if let Grant::Wait { us } = grant {
                tokio::time::sleep(Duration::from_micros(us.max(1) as u64)).await;
                continue;
            }
            match self.table.try_grant(grant, now).await? {
                Ok(tat) => {
                    batch.tat = Some(tat);
                    batch.left = batch.size - 1;
                    batch.until = now + batch_life_us(self.rate);
                    return Ok(());
                }
                Err(stored) => batch.tat = stored.max(batch.tat),
            }
        }
    }

    async fn hold(&self, retry_after: Duration) {
        let until = (self.now)() + retry_after.as_micros() as i64;
        let tat = hold_until(until, self.rate);
        {
            let mut batch = self.batch.lock().await;
            batch.left = 0;
            batch.size = 0;
            batch.tat = batch.tat.max(Some(tat));
        }
        if let Err(e) = self.table.hold(tat).await {
            // This instance waits anyway; the others find out from their own 429.
            tracing::warn!(error = %e, "could not hold the ConnectWise budget after a 429");
        }
    }
}

impl<T: BudgetTable> Budget for TableBudget<T> {
    fn take(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.take_one()
                .await
                .map_err(|e| format!("the ConnectWise request budget could not be read: {e}"))
        })
    }

    fn throttled(&self, retry_after: Duration) -> BoxFuture<'_, ()> {
        Box::pin(self.hold(retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The table's conditions, in memory; every grant is kept with its time.
    #[derive(Default)]
    struct FakeTable {
        tat: Mutex<Option<i64>>,
        /// Conditional updates, refused ones included.
        writes: Mutex<u32>,
        /// Those that granted.
        grants: Mutex<u32>,
    }

    impl BudgetTable for Arc<FakeTable> {
        async fn try_grant(
            &self,
            grant: Grant,
            now: i64,
        ) -> Result<Result<i64, Option<i64>>, StoreError> {
            *self.writes.lock().unwrap() += 1;
            let mut tat = self.tat.lock().unwrap();
            match grant {
                Grant::Start { tat: new } if tat.is_none_or(|t| t <= now) => {
                    *tat = Some(new);
                    *self.grants.lock().unwrap() += 1;
                    Ok(Ok(new))
                }
                Grant::Extend { at_most, by } if tat.is_some_and(|t| t > now && t <= at_most) => {
                    *tat = tat.map(|t| t + by);
                    *self.grants.lock().unwrap() += 1;
                    Ok(Ok(tat.unwrap()))
                }
                _ => Ok(Err(*tat)),
            }
        }
        async fn hold(&self, new: i64) -> Result<(), StoreError> {
            let mut tat = self.tat.lock().unwrap();
            *tat = (*tat).max(Some(new));
            Ok(())
        }
    }

    fn paused_clock() -> Now {
        let start = tokio::time::Instant::now();
        Arc::new(move || start.elapsed().as_micros() as i64 + 1_000_000_000)
    }

    fn budget(
        table: &Arc<FakeTable>,
        per_minute: u32,
        p: Priority,
        now: &Now,
    ) -> Arc<TableBudget<Arc<FakeTable>>> {
        Arc::new(TableBudget::new(
            table.clone(),
            Rate::per_minute(per_minute).unwrap(),
            p,
            now.clone(),
        ))
    }

    /// Instances sharing one table, each with tasks sending as fast as they are let: no
    /// sliding minute sends more than the bound, and the batches save table writes.
    #[tokio::test(start_paused = true)]
    async fn instances_sharing_the_table_stay_within_the_budget() {
        let table = Arc::new(FakeTable::default());
        let now = paused_clock();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for instance in 0..4 {
            let b = budget(
                &table,
                600,
                [Priority::Background, Priority::Normal][instance % 2],
                &now,
            );
            for _ in 0..4 {
                let (b, sent, now) = (b.clone(), sent.clone(), now.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..300 {
                        b.take().await.unwrap();
                        sent.lock().unwrap().push(now());
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut sent = sent.lock().unwrap().clone();
        sent.sort();
        assert_eq!(sent.len(), 4800);
        let rate = Rate::per_minute(600).unwrap();
        let bound = rate.sliding_minute_bound(batch_life_us(rate)) as usize;
        let mut peak = 0;
        for (i, start) in sent.iter().enumerate() {
            peak = peak.max(
                sent[i..]
                    .iter()
                    .take_while(|t| **t < start + 60_000_000)
                    .count(),
            );
        }
        assert!(peak <= bound, "peak {peak} > {bound}");
        assert!(peak >= 550, "peak {peak}: the budget was not used");
        let writes = *table.writes.lock().unwrap();
        // Batches save grants (at 600 a minute the background instances take 1 at a time,
        // the others 3); sixteen greedy tasks racing for the one item at 10 requests a
        // second also make refused updates, a bounded number.
        let grants = *table.grants.lock().unwrap();
        assert!(grants < 4800 * 3 / 4, "{grants} grants for 4800 requests");
        assert!(writes < 4800 * 2, "{writes} table writes for 4800 requests");
    }

    /// While background work uses the whole budget, an urgent request is granted within a
    /// few intervals, and after a 429 nobody on any instance sends before its Retry-After.
    #[tokio::test(start_paused = true)]
    async fn urgent_work_overtakes_a_backfill_and_a_429_holds_everyone() {
        let table = Arc::new(FakeTable::default());
        let now = paused_clock();
        let backfill = budget(&table, 600, Priority::Background, &now);
        let filler = {
            let b = backfill.clone();
            tokio::spawn(async move {
                loop {
                    b.take().await.unwrap();
                }
            })
        };
        tokio::time::sleep(Duration::from_secs(10)).await;
        let urgent = budget(&table, 600, Priority::Urgent, &now);
        let asked = now();
        urgent.take().await.unwrap();
        assert!(
            now() - asked <= 200_000,
            "urgent waited {} µs",
            now() - asked
        );

        let other = budget(&table, 600, Priority::Urgent, &now);
        let refused_at = now();
        urgent.throttled(Duration::from_secs(30)).await;
        other.take().await.unwrap();
        assert!(
            now() - refused_at >= 30_000_000,
            "sent {} µs after the 429",
            now() - refused_at
        );
        filler.abort();
    }
}
