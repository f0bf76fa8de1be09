//! Credentials from Secrets Manager (moto).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use integration_tests::{aws, unique};
use secrecy::ExposeSecret;
use shared::secrets::{Credentials, SecretError};

#[tokio::test]
async fn loads_the_credentials_secret() {
    let sm = aws_sdk_secretsmanager::Client::new(&aws().await.unwrap());
    let name = unique("creds");
    let value = local_runner::simulator_secret("http://127.0.0.1:1", "http://127.0.0.1:2");
    local_runner::put_secret(&sm, &name, &value.to_string())
        .await
        .unwrap();
    let creds = Credentials::load(&sm, &name).await.unwrap();
    assert_eq!(creds.connectwise.company_id, "acme");
    assert_eq!(
        creds.acronis["default"].client_secret.expose_secret(),
        "sim-secret"
    );
}

#[tokio::test]
async fn missing_and_malformed_secrets_fail_clearly_without_content() {
    let sm = aws_sdk_secretsmanager::Client::new(&aws().await.unwrap());
    let missing = unique("nope");
    let err = Credentials::load(&sm, &missing).await.unwrap_err();
    assert!(matches!(err, SecretError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");

    let name = unique("bad");
    local_runner::put_secret(&sm, &name, r#"{"cw_private_key": "TOPSECRET-1"}"#)
        .await
        .unwrap();
    let err = Credentials::load(&sm, &name).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("cw_site") && shown.contains("acronis_client_secret"),
        "{shown}"
    );
    assert!(!shown.contains("TOPSECRET-1"), "{shown}");
}

/// Each function's cold start (`Deps::build`) with its own template role reads the secret
/// (the webhook's reads it only when a host refuses an anonymous key fetch, but its role
/// allows it); no role may change it, and the refusal names the action. No API is called at
/// init (nothing listens at the sites here).
#[tokio::test]
async fn each_function_reads_the_secret_with_its_role_and_none_can_change_it() {
    use shared::functions::Function;
    let admin = aws_sdk_secretsmanager::Client::new(&aws().await.unwrap());
    let name = unique("creds");
    let value = local_runner::simulator_secret("http://127.0.0.1:1", "http://127.0.0.1:2");
    local_runner::put_secret(&admin, &name, &value.to_string())
        .await
        .unwrap();
    let settings = shared::settings::Settings::from_lookup(|k| match k {
        "TABLE_NAME" => Some("t".into()),
        "EVENT_BUS_NAME" => Some("b".into()),
        "SECRET_ID" => Some(name.clone()),
        _ => None,
    })
    .unwrap();
    for f in Function::ALL {
        let config = integration_tests::aws_as(f).await.unwrap();
        shared::bootstrap::Deps::build(settings.clone(), &config)
            .await
            .unwrap_or_else(|e| panic!("{f}: {e:#}"));
        let changed = aws_sdk_secretsmanager::Client::new(&config)
            .put_secret_value()
            .secret_id(&name)
            .secret_string("{}")
            .send()
            .await;
        let err = format!(
            "{}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(changed.unwrap_err())
        );
        assert!(err.contains("AccessDenied"), "{f}: {err}");
        assert!(err.contains("secretsmanager:PutSecretValue"), "{f}: {err}");
    }
}

/// The settings of a scheduled function of the test stack, reading the secret `name` again
/// at once after a refusal (Lambda's default is once a minute).
fn scheduled_settings(
    stack: &integration_tests::LocalStack,
    bus: &str,
    name: &str,
) -> shared::settings::Settings {
    shared::settings::Settings::from_lookup(|k| match k {
        "TABLE_NAME" => Some(stack.store.table().to_owned()),
        "EVENT_BUS_NAME" => Some(bus.to_owned()),
        "SECRET_ID" => Some(name.to_owned()),
        "SECRET_RELOAD_SECS" => Some("0".into()),
        _ => None,
    })
    .unwrap()
}

/// One reconciler invocation as its `main` hands it to the runtime: both APIs are called.
async fn reconcile_once(
    scheduled: &shared::bootstrap::Scheduled,
) -> Result<serde_json::Value, shared::bootstrap::BoxError> {
    scheduled
        .run(shared::functions::Function::Reconciler, async |deps| {
            reconciler::handle(&deps, &deps.recorder())
                .await
                .map_err(Into::into)
        })
        .await
}

/// Keys rotated while an instance is warm: ConnectWise and Acronis refuse the old ones, the
/// operator puts the new ones in the secret, and the next invocation of the same instance
/// reads the secret again on the refusal and succeeds, with no redeploy and no cold start.
#[tokio::test]
async fn a_rotated_secret_is_read_again_on_a_refusal_and_the_next_invocation_succeeds() {
    use shared::functions::Function;
    let stack = integration_tests::LocalStack::start().await.unwrap();
    let admin = aws_sdk_secretsmanager::Client::new(&aws().await.unwrap());
    let name = unique("creds");
    let mut value = local_runner::simulator_secret(&stack.cw_sim.url(), &stack.acronis_sim.url());
    local_runner::put_secret(&admin, &name, &value.to_string())
        .await
        .unwrap();
    let (bus, _, _) = integration_tests::bus_to_queue(&aws().await.unwrap(), Function::Provisioner)
        .await
        .unwrap();
    let config = integration_tests::aws_as(Function::Reconciler)
        .await
        .unwrap();
    let scheduled =
        shared::bootstrap::Scheduled::build(scheduled_settings(&stack, bus.name(), &name), config)
            .await
            .unwrap();
    let first = reconcile_once(&scheduled).await.unwrap();
    assert!(first.get("candidates").is_some(), "{first}");

    stack.cw_sim.rotate_keys("pub-2", "priv-2");
    stack.acronis_sim.rotate_client_secret("sim-secret-2");
    value["cw_public_key"] = "pub-2".into();
    value["cw_private_key"] = "priv-2".into();
    value["acronis_client_secret"] = "sim-secret-2".into();
    local_runner::put_secret(&admin, &name, &value.to_string())
        .await
        .unwrap();

    let second = reconcile_once(&scheduled).await.unwrap();
    assert!(second.get("candidates").is_some(), "{second}");
    let refused = |log: Vec<simulators::control::RequestRecord>| {
        log.iter().filter(|r| r.status == 401).count()
    };
    assert!(
        refused(stack.cw_sim.control().requests()) >= 1,
        "ConnectWise refused the old keys"
    );
    let runs = stack
        .store
        .latest_runs(Function::Reconciler.name(), 2)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.failures.is_empty()), "{runs:?}");
}

/// A freshly deployed stack's secret is `{}` until the operator fills it: each scheduled run
/// records one "not configured" and succeeds (no error, so no retry and no dead letter),
/// with the `NotConfigured` metric its one alarm watches; filled, the next run works.
#[tokio::test]
async fn an_unfilled_secret_makes_quiet_not_configured_runs_until_it_is_filled() {
    use shared::functions::Function;
    let stack = integration_tests::LocalStack::start().await.unwrap();
    let admin = aws_sdk_secretsmanager::Client::new(&aws().await.unwrap());
    let name = unique("creds");
    local_runner::put_secret(&admin, &name, "{}").await.unwrap();
    // The stack's own clients have called the simulators; the runs must not.
    let calls = || {
        stack.cw_sim.control().counts().values().sum::<u64>()
            + stack.acronis_sim.control().counts().values().sum::<u64>()
    };
    let before = calls();
    let (bus, _, _) = integration_tests::bus_to_queue(&aws().await.unwrap(), Function::Provisioner)
        .await
        .unwrap();
    let config = integration_tests::aws_as(Function::Reconciler)
        .await
        .unwrap();
    let mut scheduled =
        shared::bootstrap::Scheduled::build(scheduled_settings(&stack, bus.name(), &name), config)
            .await
            .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    scheduled.recorder = scheduled
        .recorder
        .clone()
        .with_log(shared::runs::MetricLog::Buffer(log.clone()));

    for _ in 0..2 {
        let reply = reconcile_once(&scheduled).await.unwrap();
        assert_eq!(reply["outcome"], "not_configured", "{reply}");
    }
    let runs = stack
        .store
        .latest_runs(Function::Reconciler.name(), 5)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert!(r.failures.is_empty(), "{r:?}");
        assert_eq!(r.counts["not_configured"], 1);
        assert_eq!(r.changes[0].new, shared::bootstrap::NOT_CONFIGURED);
    }
    let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(l[shared::runs::NOT_CONFIGURED], 1, "{l}");
        assert_eq!(l[shared::runs::FAILED_ITEMS], 0, "{l}");
    }
    assert_eq!(calls(), before, "no API was called");

    let filled = local_runner::simulator_secret(&stack.cw_sim.url(), &stack.acronis_sim.url());
    local_runner::put_secret(&admin, &name, &filled.to_string())
        .await
        .unwrap();
    let reply = reconcile_once(&scheduled).await.unwrap();
    assert!(reply.get("candidates").is_some(), "{reply}");
}
