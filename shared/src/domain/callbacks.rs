//! What to do about the callbacks ConnectWise disabled: after three consecutive days of
//! failed deliveries it sets a callback's `inactiveFlag`, and from then on nothing arrives
//! (the reconciler still finds every change, up to 15 minutes later). Ours (by description)
//! are registered again at the same URL; other integrations' are never touched.

use serde::Serialize;

use crate::connectwise::models::{CallbackEntry, NewCallback};

/// Marks the callbacks this integration owns.
pub const DESCRIPTION_PREFIX: &str = "acronis-connectwise";

/// The field of a run record's change that says a callback was registered again (`acw
/// status` lists those changes).
pub const REVIVED_FIELD: &str = "inactiveFlag";

/// Whether a callback is this integration's.
pub fn is_ours(c: &CallbackEntry) -> bool {
    c.description
        .as_deref()
        .is_some_and(|d| d.starts_with(DESCRIPTION_PREFIX))
}

/// One disabled callback of ours, and its replacement: the same registration, active.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revival {
    pub disabled_id: i64,
    pub url: String,
    pub callback_type: String,
    pub replacement: NewCallback,
}

/// The revivals the registered `callbacks` call for (ours with `inactiveFlag` set and a
/// URL; one without a URL is left to `acw setup`, which registers from the stack's output).
pub fn revivals(callbacks: &[CallbackEntry]) -> Vec<Revival> {
    callbacks
        .iter()
        .filter(|c| is_ours(c) && c.inactive_flag == Some(true))
        .filter_map(|c| {
            let url = c.url.clone().filter(|u| !u.trim().is_empty())?;
            let callback_type = c.callback_type.clone()?;
            Some(Revival {
                disabled_id: c.id,
                url: url.clone(),
                callback_type: callback_type.clone(),
                replacement: NewCallback {
                    url,
                    object_id: c.object_id.unwrap_or(1),
                    callback_type,
                    level: c.level.clone().unwrap_or_else(|| "owner".into()),
                    description: c.description.clone().unwrap_or_default(),
                    inactive_flag: false,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, description: &str, inactive: Option<bool>) -> CallbackEntry {
        serde_json::from_value(serde_json::json!({
            "id": id, "url": "https://hook.example/", "objectId": 1, "type": "company",
            "level": "owner", "description": description, "inactiveFlag": inactive,
        }))
        .unwrap()
    }

    #[test]
    fn only_our_disabled_callbacks_are_registered_again_as_they_were() {
        let all = [
            entry(1, "acronis-connectwise: company", Some(true)),
            entry(2, "acronis-connectwise: agreement", Some(false)),
            entry(3, "another integration", Some(true)),
            entry(4, "acronis-connectwise: company", None),
        ];
        let plan = revivals(&all);
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert_eq!(plan[0].disabled_id, 1);
        assert_eq!(plan[0].replacement.url, "https://hook.example/");
        assert_eq!(plan[0].replacement.level, "owner");
        assert!(!plan[0].replacement.inactive_flag);
        assert_eq!(
            plan[0].replacement.description,
            "acronis-connectwise: company"
        );
    }
}
