//! Registration and revival over a fake of ConnectWise's callbacks.

use super::*;
use crate::testing::FakeCallbacks;

const URL: &str = "https://hooks.example.com/cw?recordId=";

fn ours(id: i64, kind: &str, url: &str, inactive: bool) -> CallbackEntry {
    CallbackEntry {
        id,
        url: Some(url.into()),
        object_id: Some(1),
        callback_type: Some(kind.into()),
        level: Some("owner".into()),
        description: Some(description(&Wanted::owner(kind))),
        inactive_flag: Some(inactive),
    }
}

fn kinds(cw: &FakeCallbacks) -> Vec<(String, String)> {
    let mut k: Vec<_> = cw
        .entries()
        .into_iter()
        .map(|c| (c.callback_type.unwrap(), c.url.unwrap()))
        .collect();
    k.sort();
    k
}

fn always() -> Vec<Wanted> {
    wanted(&crate::domain::alerts::AlertSettings::default())
}

#[tokio::test]
async fn registration_makes_one_callback_per_type_and_twice_changes_nothing() {
    let cw = FakeCallbacks::default();
    let first = register(&cw, URL, false).await.unwrap();
    assert_eq!(first.created, vec!["company", "agreement"]);
    assert_eq!(
        kinds(&cw),
        vec![
            ("agreement".into(), URL.into()),
            ("company".into(), URL.into())
        ]
    );
    let writes = cw.writes();
    let second = register(&cw, URL, false).await.unwrap();
    assert!(second.created.is_empty() && second.removed.is_empty());
    assert_eq!(second.kept.len(), 2);
    assert_eq!(cw.writes(), writes, "nothing written the second time");
}

#[tokio::test]
async fn ours_at_an_old_url_or_doubled_are_removed_and_others_never_touched() {
    let cw = FakeCallbacks::default();
    cw.put(ours(1, "company", "https://old.example.com/cw", false));
    cw.put(ours(2, "agreement", URL, false));
    cw.put(ours(3, "agreement", URL, false));
    let mut theirs = ours(4, "company", "https://other.example.com", false);
    theirs.description = Some("another integration".into());
    cw.put(theirs);
    let report = register(&cw, URL, false).await.unwrap();
    assert_eq!(report.created, vec!["company"]);
    assert_eq!(report.kept, vec![2]);
    assert_eq!(report.removed, vec![1, 3]);
    let ids: Vec<i64> = cw.entries().iter().map(|c| c.id).collect();
    assert!(ids.contains(&4), "another integration's callback stays");
    assert!(!ids.contains(&1) && !ids.contains(&3));
}

#[tokio::test]
async fn a_dry_run_reports_and_writes_nothing() {
    let cw = FakeCallbacks::default();
    cw.put(ours(1, "company", "https://old.example.com/cw", false));
    let report = register(&cw, URL, true).await.unwrap();
    assert_eq!(report.created, vec!["company", "agreement"]);
    assert_eq!(report.removed, vec![1]);
    assert_eq!(cw.writes(), 0);
    assert_eq!(cw.entries().len(), 1);
}

#[tokio::test]
async fn a_plain_http_url_is_refused_before_anything_is_read() {
    let cw = FakeCallbacks::default();
    cw.fail_list();
    let e = register(&cw, "http://hooks.example.com/cw", false)
        .await
        .unwrap_err();
    assert!(matches!(e, CwError::Config(_)), "{e}");
    // The loopback is the local stack's, allowed.
    let cw = FakeCallbacks::default();
    register(&cw, "http://127.0.0.1:4690/cw", false)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_disabled_callback_is_registered_again_active() {
    let cw = FakeCallbacks::default();
    cw.put(ours(1, "company", URL, true));
    cw.put(ours(2, "agreement", URL, false));
    let revived = revive_disabled(&cw).await.unwrap();
    assert_eq!(revived.len(), 1);
    assert_eq!(revived[0].disabled_id, 1);
    let entries = cw.entries();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|c| c.inactive_flag == Some(false)));
    assert!(
        !entries.iter().any(|c| c.id == 1),
        "the disabled one is gone"
    );
    // Nothing disabled: nothing written.
    let writes = cw.writes();
    assert!(revive_disabled(&cw).await.unwrap().is_empty());
    assert_eq!(cw.writes(), writes);
}

#[tokio::test]
async fn a_revival_that_cannot_list_or_register_says_so() {
    let cw = FakeCallbacks::default();
    cw.fail_list();
    assert!(matches!(
        revive_disabled(&cw).await,
        Err(ReviveError::List(_))
    ));
    let cw = FakeCallbacks::default();
    cw.put(ours(1, "company", URL, true));
    cw.fail_create();
    match revive_disabled(&cw).await {
        Err(ReviveError::Replace {
            callback_type, url, ..
        }) => {
            assert_eq!((callback_type.as_str(), url.as_str()), ("company", URL));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_alert_boards_tickets_are_followed_when_a_close_dismisses_alerts() {
    let cw = FakeCallbacks::default();
    let alerts = crate::domain::alerts::AlertSettings {
        board_id: Some(12),
        clear_alert_on_close: true,
        fixed_statuses: vec!["Completed".into()],
        ..Default::default()
    };
    let report = register_wanted(&cw, URL, &wanted(&alerts), false)
        .await
        .unwrap();
    assert_eq!(
        report.created,
        vec!["company", "agreement", "ticket board 12"]
    );
    let ticket = cw
        .entries()
        .into_iter()
        .find(|c| c.callback_type.as_deref() == Some("ticket"))
        .unwrap();
    assert_eq!(
        (ticket.level.as_deref(), ticket.object_id),
        (Some("board"), Some(12))
    );
    // Run again: nothing to do. Switched off: the ticket callback goes.
    let again = register_wanted(&cw, URL, &wanted(&alerts), false)
        .await
        .unwrap();
    assert!(
        again.created.is_empty() && again.removed.is_empty(),
        "{again:?}"
    );
    let off = register_wanted(&cw, URL, &always(), false).await.unwrap();
    assert_eq!(off.removed, vec![ticket.id]);
}
