//! A run's deadline, kept a margin before its Lambda time limit.

/// When a run must stop starting work, so that it ends (and records what it did and what it
/// left) well before its Lambda time limit. What is left is done by the next run: the next
/// cycle of a scheduled function, the retry of a bus event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadline(Option<tokio::time::Instant>);

impl Deadline {
    /// No limit (tests, `acw sync usage`).
    pub fn none() -> Self {
        Self(None)
    }

    /// `budget` from now.
    pub fn after(budget: std::time::Duration) -> Self {
        Self(Some(tokio::time::Instant::now() + budget))
    }

    /// From a Lambda invocation's deadline (ms since the epoch), keeping `reserve` for
    /// what follows the API calls (publishing, the run record), and at most `cap` from now.
    pub fn lambda(
        deadline_ms: u64,
        reserve: std::time::Duration,
        cap: std::time::Duration,
    ) -> Self {
        let now_ms = u64::try_from(crate::clock::now().timestamp_millis()).unwrap_or(0);
        let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        Self::after(left.saturating_sub(reserve).min(cap))
    }

    pub fn passed(&self) -> bool {
        self.0.is_some_and(|d| tokio::time::Instant::now() >= d)
    }

    /// Runs `work` until the deadline: `None` when the deadline came first (`work` is
    /// dropped where it was, as Lambda's timeout would stop it, but the caller lives on to
    /// let go of what it holds and record why).
    pub async fn race<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        match self.0 {
            None => Some(work.await),
            Some(at) => tokio::time::timeout_at(at, work).await.ok(),
        }
    }
}

/// What a bus consumer keeps of its Lambda time limit for what follows its work (letting
/// go of its claim, its run record).
pub const CONSUMER_RESERVE: std::time::Duration = std::time::Duration::from_secs(15);

/// A bus consumer's deadline from its invocation's (ms since the epoch).
pub fn consumer(deadline_ms: u64) -> Deadline {
    Deadline::lambda(deadline_ms, CONSUMER_RESERVE, std::time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_race_stops_work_at_the_deadline_and_not_before() {
        let slow = tokio::time::sleep(std::time::Duration::from_secs(30));
        let stopped = Deadline::after(std::time::Duration::from_millis(10))
            .race(async {
                slow.await;
                1
            })
            .await;
        assert_eq!(stopped, None);
        assert_eq!(Deadline::none().race(async { 2 }).await, Some(2));
        assert_eq!(
            Deadline::after(std::time::Duration::from_secs(30))
                .race(async { 3 })
                .await,
            Some(3)
        );
        assert!(Deadline::after(std::time::Duration::ZERO).passed());
        assert!(!Deadline::none().passed());
    }
}
