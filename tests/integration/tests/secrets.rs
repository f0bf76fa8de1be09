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
    assert_eq!(creds.acronis.client_secret.expose_secret(), "sim-secret");
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
