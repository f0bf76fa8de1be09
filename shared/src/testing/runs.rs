//! A fake of where run records end ([`crate::runs::RunSink`]).

use std::sync::{Arc, Mutex};

use crate::runs::RunSink;
use crate::store::{RunRecord, StoreError};

#[derive(Debug, Default)]
struct Runs {
    finished: Vec<RunRecord>,
    fail: bool,
}

/// The run records finished, in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeRuns(Arc<Mutex<Runs>>);

impl FakeRuns {
    /// Every run finished so far.
    pub fn finished(&self) -> Vec<RunRecord> {
        self.0.lock().unwrap().finished.clone()
    }

    /// From now on, a record cannot be stored (the table refuses it).
    pub fn refuse(&self) {
        self.0.lock().unwrap().fail = true;
    }
}

impl RunSink for FakeRuns {
    async fn finish(&self, run: &mut RunRecord) -> Result<(), StoreError> {
        run.finished_at = Some(crate::clock::now());
        let mut s = self.0.lock().unwrap();
        if s.fail {
            return Err(StoreError::Conflict(
                "the table refused the run record".into(),
            ));
        }
        s.finished.push(run.clone());
        Ok(())
    }
}
