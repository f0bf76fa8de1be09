//! A fake of ConnectWise's callback registrations ([`crate::services::callbacks::CallbackApi`]),
//! with ConnectWise's rule that an identical registration is refused.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::cw_status;
use crate::connectwise::CwError;
use crate::connectwise::models::{CallbackEntry, NewCallback};
use crate::services::callbacks::CallbackApi;

#[derive(Debug, Default)]
struct Registrations {
    entries: BTreeMap<i64, CallbackEntry>,
    next_id: i64,
    list_fails: bool,
    create_fails: bool,
    writes: u32,
}

/// The registrations in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeCallbacks(Arc<Mutex<Registrations>>);

impl FakeCallbacks {
    pub fn put(&self, c: CallbackEntry) {
        let mut s = self.0.lock().unwrap();
        s.next_id = s.next_id.max(c.id);
        s.entries.insert(c.id, c);
    }

    pub fn entries(&self) -> Vec<CallbackEntry> {
        self.0.lock().unwrap().entries.values().cloned().collect()
    }

    /// Creates and deletes made.
    pub fn writes(&self) -> u32 {
        self.0.lock().unwrap().writes
    }

    pub fn fail_list(&self) {
        self.0.lock().unwrap().list_fails = true;
    }

    pub fn fail_create(&self) {
        self.0.lock().unwrap().create_fails = true;
    }
}

impl CallbackApi for FakeCallbacks {
    async fn callbacks(&self) -> Result<Vec<CallbackEntry>, CwError> {
        if self.0.lock().unwrap().list_fails {
            return Err(cw_status(503, "system/callbacks"));
        }
        Ok(self.entries())
    }

    async fn create_callback(&self, c: &NewCallback) -> Result<CallbackEntry, CwError> {
        let mut s = self.0.lock().unwrap();
        if s.create_fails {
            return Err(cw_status(500, "system/callbacks"));
        }
        let same = |e: &CallbackEntry| {
            e.url.as_deref() == Some(c.url.as_str())
                && e.callback_type.as_deref() == Some(c.callback_type.as_str())
                && e.level.as_deref() == Some(c.level.as_str())
        };
        if s.entries.values().any(same) {
            return Err(cw_status(400, "system/callbacks"));
        }
        s.writes += 1;
        s.next_id += 1;
        let entry = CallbackEntry {
            id: s.next_id,
            url: Some(c.url.clone()),
            object_id: Some(c.object_id),
            callback_type: Some(c.callback_type.clone()),
            level: Some(c.level.clone()),
            description: Some(c.description.clone()),
            inactive_flag: Some(c.inactive_flag),
        };
        s.entries.insert(entry.id, entry.clone());
        Ok(entry)
    }

    async fn delete_callback(&self, id: i64) -> Result<(), CwError> {
        let mut s = self.0.lock().unwrap();
        s.writes += 1;
        match s.entries.remove(&id) {
            Some(_) => Ok(()),
            None => Err(cw_status(404, &format!("system/callbacks/{id}"))),
        }
    }
}
