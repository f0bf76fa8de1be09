//! The writes that bring a tenant's offering items to what is desired: only the items whose
//! status or quota differ, with their current `quota.version`; desired items the tenant lacks
//! are reported, not written. The quota sync executes these writes, and `acw sync quotas
//! --dry-run` prints the same ones.

use std::collections::{BTreeMap, HashMap};

use crate::acronis::models::{DesiredItem, OfferingItem, OfferingItemWrite, Quota};

/// The writes that bring `current` to `desired`, and the desired items the tenant lacks.
pub fn item_writes(
    current: &[OfferingItem],
    desired: &[DesiredItem],
) -> (Vec<OfferingItemWrite>, Vec<(String, Option<String>)>) {
    let by_key: HashMap<(String, Option<String>), &OfferingItem> =
        current.iter().map(|i| (i.key(), i)).collect();
    let mut writes = BTreeMap::new();
    let mut unknown = Vec::new();
    for d in desired {
        let key = (d.name.clone(), d.infra_id.clone());
        let Some(cur) = by_key.get(&key) else {
            unknown.push(key);
            continue;
        };
        let status = i64::from(d.enabled);
        let limit = match d.quota {
            Some(q) => (Some(q.value), q.overage),
            None => (None, None),
        };
        let want = d.enabled.then_some(limit);
        let have = cur.quota.map(|q| (q.value, q.overage));
        let quota_differs = d.enabled && want != have;
        if cur.status == status && !quota_differs {
            continue;
        }
        let quota = want.map(|(value, overage)| Quota {
            value,
            overage,
            version: cur.quota.map_or(0, |q| q.version),
        });
        writes.insert(
            key,
            OfferingItemWrite {
                application_id: d.application_id.clone(),
                name: d.name.clone(),
                infra_id: d.infra_id.clone(),
                status,
                quota,
            },
        );
    }
    (writes.into_values().collect(), unknown)
}

/// The writes that take something away from the tenant: an item turned off, or a quota
/// lowered (an unlimited one limited included). A provisioning run acts on them only after
/// a fresh read of the company confirms its plan (one answer is not enough to stop a
/// customer's backups).
pub fn lowering<'a>(
    current: &[OfferingItem],
    writes: &'a [OfferingItemWrite],
) -> Vec<&'a OfferingItemWrite> {
    let by_key: HashMap<(String, Option<String>), &OfferingItem> =
        current.iter().map(|i| (i.key(), i)).collect();
    writes
        .iter()
        .filter(|w| {
            let Some(cur) = by_key.get(&(w.name.clone(), w.infra_id.clone())) else {
                return false;
            };
            if cur.status != 1 {
                return false;
            }
            if w.status == 0 {
                return true;
            }
            let had = cur.quota.and_then(|q| q.value);
            let gets = w.quota.and_then(|q| q.value);
            match (had, gets) {
                (None, Some(_)) => true,
                (Some(a), Some(b)) => b < a,
                _ => false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acronis::models::{CYBER_PROTECTION_APP, QuotaLimit};

    fn item(
        name: &str,
        infra: Option<&str>,
        status: i64,
        quota: Option<(Option<i64>, Option<i64>, i64)>,
    ) -> OfferingItem {
        OfferingItem {
            application_id: Some(CYBER_PROTECTION_APP.into()),
            name: name.into(),
            edition: Some("pck_per_workload".into()),
            usage_name: None,
            item_type: None,
            infra_id: infra.map(Into::into),
            measurement_unit: None,
            status,
            locked: None,
            quota: quota.map(|(value, overage, version)| Quota {
                value,
                overage,
                version,
            }),
        }
    }

    fn want(
        name: &str,
        infra: Option<&str>,
        enabled: bool,
        quota: Option<(i64, Option<i64>)>,
    ) -> DesiredItem {
        DesiredItem {
            application_id: CYBER_PROTECTION_APP.into(),
            name: name.into(),
            infra_id: infra.map(Into::into),
            enabled,
            quota: quota.map(|(value, overage)| QuotaLimit { value, overage }),
        }
    }

    #[test]
    fn writes_only_what_differs_with_current_versions() {
        let current = [
            item("pw_base_servers", None, 1, Some((Some(10), Some(0), 77))),
            item("pw_base_workstations", None, 1, Some((None, None, 5))),
            item("pw_base_vms", None, 0, None),
            item("pw_base_storage", Some("eu"), 1, Some((None, None, 9))),
        ];
        let desired = [
            want("pw_base_servers", None, true, Some((10, Some(0)))), // unchanged
            want("pw_base_workstations", None, true, Some((3, Some(0)))), // quota set
            want("pw_base_vms", None, true, None),                    // enabled, unlimited
            want("pw_base_storage", Some("eu"), true, None),          // unchanged unlimited
            want("pw_base_storage", Some("us"), true, None),          // unknown
        ];
        let (writes, unknown) = item_writes(&current, &desired);
        assert_eq!(
            unknown,
            vec![("pw_base_storage".to_string(), Some("us".to_string()))]
        );
        assert_eq!(writes.len(), 2, "{writes:?}");
        let ws = writes
            .iter()
            .find(|w| w.name == "pw_base_workstations")
            .unwrap();
        assert_eq!(
            ws.quota,
            Some(Quota {
                value: Some(3),
                overage: Some(0),
                version: 5
            })
        );
        let vms = writes.iter().find(|w| w.name == "pw_base_vms").unwrap();
        assert_eq!(
            (vms.status, vms.quota),
            (
                1,
                Some(Quota {
                    value: None,
                    overage: None,
                    version: 0
                })
            )
        );
    }

    #[test]
    fn disabling_sends_no_quota() {
        let current = [item(
            "pw_base_servers",
            None,
            1,
            Some((Some(2), Some(0), 3)),
        )];
        let (writes, _) = item_writes(&current, &[want("pw_base_servers", None, false, None)]);
        assert_eq!(writes.len(), 1);
        assert_eq!((writes[0].status, writes[0].quota), (0, None));
    }

    #[test]
    fn lowering_is_what_takes_away_from_an_enabled_item() {
        let current = [
            item("servers", None, 1, Some((Some(10), Some(0), 1))),
            item("workstations", None, 1, Some((None, None, 1))),
            item("vms", None, 1, Some((Some(2), Some(0), 1))),
            item("mobiles", None, 0, None),
            item("nas", None, 1, Some((Some(4), Some(0), 1))),
        ];
        let desired = [
            want("servers", None, true, Some((0, Some(0)))), // lowered to zero
            want("workstations", None, true, Some((5, Some(0)))), // unlimited → limited
            want("vms", None, true, Some((3, Some(0)))),     // raised
            want("mobiles", None, true, Some((1, Some(0)))), // enabled
            want("nas", None, false, None),                  // turned off
        ];
        let (writes, _) = item_writes(&current, &desired);
        let mut lowered: Vec<&str> = lowering(&current, &writes)
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        lowered.sort_unstable();
        assert_eq!(lowered, ["nas", "servers", "workstations"]);
    }
}
