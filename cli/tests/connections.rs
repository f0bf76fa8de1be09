//! `acw connections` through the real binary against the local stack (moto, the ConnectWise
//! simulator and two Acronis simulators: the stack's, the connection `default`, and a second
//! data centre started here). Each test reads the secret back from Secrets Manager: a dry
//! run or a refusal leaves it exactly as it was, an edit touches only its connection's keys,
//! and no client secret is ever printed.
//!
//! moto must be running (`make test` starts it): `AWS_ENDPOINT_URL`, or `target/local/env`.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::*;
use serde_json::{Map, Value, json};
use shared::domain::settings::ProvisioningSettings;
use shared::secrets::ConnectionName;
use shared::store::{CompanyMapping, MappingOrigin, ProductMapping};
use simulators::acronis::{AcronisSim, AcronisSimConfig};

/// The client secrets of both simulators (`sim-secret` is a prefix of the other's).
const SECRETS: [&str; 2] = ["sim-secret", "sim-secret-us"];

fn us() -> ConnectionName {
    ConnectionName::parse("us").unwrap()
}

async fn second_data_centre() -> AcronisSim {
    simulators::acronis::start(
        ([127, 0, 0, 1], 0).into(),
        AcronisSimConfig::second_data_centre(),
    )
    .await
    .unwrap()
}

fn var<'a>(s: &'a Stack, name: &str) -> &'a str {
    &s.vars.iter().find(|(k, _)| k == name).unwrap().1
}

/// The secret as Secrets Manager holds it now.
async fn secret(s: &Stack) -> Map<String, Value> {
    let out = aws_sdk_secretsmanager::Client::new(&s.config)
        .get_secret_value()
        .secret_id(var(s, "SECRET_ID"))
        .send()
        .await
        .unwrap();
    match serde_json::from_str(out.secret_string().unwrap()).unwrap() {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// No client secret in what `acw` printed.
fn no_secret(out: &Out) {
    for secret in SECRETS {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a client secret was printed: {out:#?}"
        );
    }
}

/// Runs `acw` with `stdin` written to its standard input.
async fn acw_stdin(s: &Stack, args: &[&str], stdin: &str) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_acw"));
    cmd.env_clear()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &s.vars {
        cmd.env(k, v);
    }
    let stdin = stdin.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `base` then `extra`.
fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

fn rows(out: &Out) -> Vec<Value> {
    out.json()["connections"].as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}: {rows:?}"))
}

fn mapping_through(
    connection: &ConnectionName,
    company_id: i64,
    tenant_id: &str,
) -> CompanyMapping {
    CompanyMapping {
        connection: connection.clone(),
        unknown: Default::default(),
        company_id,
        tenant_id: tenant_id.into(),
        company_name: Some(format!("Company {company_id}")),
        tenant_name: None,
        origin: MappingOrigin::Manual,
        mapped_at: chrono::Utc::now(),
        qualified_at: None,
        setup_pending: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_data_centre_is_added_listed_tested_and_removed() {
    let s = stack().await;
    let us_sim = second_data_centre().await;
    let before = secret(&s).await;
    let url = us_sim.url();
    let add = [
        "connections",
        "add",
        "us",
        "--datacenter-url",
        &url,
        "--client-id",
        "sim-client-us",
    ];
    let with_env = |extra: &[&'static str]| {
        with(
            &add,
            &[&["--client-secret-env", "US_SECRET"], extra].concat(),
        )
    };

    // One connection: the flat keys, `default`.
    let list = s.acw(&["connections", "list", "--json"]).await.ok();
    let listed = rows(&list);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        row(&listed, "default")["datacenter_url"],
        json!(s.acronis.url())
    );

    // Wrong credentials: refused, nothing written, the wrong value not printed.
    let refused = s
        .acw_with(&with_env(&["--json"]), &[("US_SECRET", "sim-secret-wrong")])
        .await
        .failed();
    assert!(
        refused.stderr.contains("nothing was written"),
        "{refused:#?}"
    );
    assert!(!refused.stderr.contains("sim-secret-wrong"), "{refused:#?}");
    assert_eq!(secret(&s).await, before);

    // The client secret never on the command line: one of the two sources is required.
    s.acw(&add).await.failed();

    // A dry run checks the credentials and shows the keys; the secret is unchanged.
    let dry = s
        .acw_with(
            &with_env(&["--dry-run", "--json"]),
            &[("US_SECRET", SECRETS[1])],
        )
        .await
        .ok();
    no_secret(&dry);
    let report = dry.json();
    assert_eq!(report["dry_run"], json!(true));
    assert_eq!(
        report["partner_tenant_id"],
        json!(us_sim.partner_tenant_id())
    );
    assert_eq!(
        report["keys"],
        json!([
            "acronis.us.client_id",
            "acronis.us.client_secret",
            "acronis.us.datacenter_url"
        ])
    );
    assert_eq!(secret(&s).await, before, "a dry run writes nothing");

    // Added, the secret read from standard input: three keys more, every other as it was.
    let mut args = add.to_vec();
    args.extend(["--client-secret-stdin", "--json"]);
    let added = acw_stdin(&s, &args, &format!("{}\n", SECRETS[1]))
        .await
        .ok();
    no_secret(&added);
    assert_eq!(added.json()["dry_run"], json!(false));
    let after = secret(&s).await;
    let mut expected = before.clone();
    expected.insert("acronis.us.datacenter_url".into(), json!(url));
    expected.insert("acronis.us.client_id".into(), json!("sim-client-us"));
    expected.insert("acronis.us.client_secret".into(), json!(SECRETS[1]));
    assert_eq!(after, expected);

    // A present name is refused.
    let again = s
        .acw_with(&with_env(&[]), &[("US_SECRET", SECRETS[1])])
        .await
        .failed();
    assert!(
        again.stderr.contains("already has a connection named us"),
        "{again:#?}"
    );

    // Another name for the same API client is refused.
    let default_url = s.acronis.url();
    let same = s
        .acw_with(
            &[
                "connections",
                "add",
                "again",
                "--datacenter-url",
                &default_url,
                "--client-id",
                "sim-client",
                "--client-secret-env",
                "US_SECRET",
                "--no-test",
            ],
            &[("US_SECRET", SECRETS[0])],
        )
        .await
        .failed();
    assert!(
        same.stderr
            .contains("connection default already uses this API client"),
        "{same:#?}"
    );
    assert_eq!(secret(&s).await, expected);

    // Both listed, neither secret printed; both pass their test.
    for args in [
        &["connections", "list"][..],
        &["connections", "list", "--json"],
        &["connections", "test"],
    ] {
        no_secret(&s.acw(args).await.ok());
    }
    let test = s.acw(&["connections", "test", "--json"]).await.ok();
    let tested = rows(&test);
    assert_eq!(test.json()["failed"], json!(0));
    assert_eq!(
        row(&tested, "default")["partner_tenant_id"],
        json!(s.acronis.partner_tenant_id())
    );
    assert_eq!(
        row(&tested, "us")["partner_tenant_id"],
        json!(us_sim.partner_tenant_id())
    );
    assert!(
        row(&tested, "us")["offering_items"].as_u64().unwrap() > 0,
        "{tested:?}"
    );
    let one = s.acw(&["connections", "test", "us", "--json"]).await.ok();
    assert_eq!(rows(&one).len(), 1);

    // A company and a product mapping through `us`; one product mapping of `default`.
    s.store
        .map_company(&mapping_through(
            &us(),
            7001,
            "00000000-0000-4000-8000-000000007001",
        ))
        .await
        .unwrap();
    let mut us_item = ProductMapping::new("pw_base_servers", Some(SERVERS_PRODUCT), "quantity");
    us_item.connection = us();
    s.store.put_product_mapping(&us_item).await.unwrap();
    s.store
        .put_product_mapping(&ProductMapping::new(
            "pw_base_servers",
            Some(SERVERS_PRODUCT),
            "quantity",
        ))
        .await
        .unwrap();
    let listed = rows(&s.acw(&["connections", "list", "--json"]).await.ok());
    assert_eq!(row(&listed, "us")["companies"], json!(1));
    assert_eq!(row(&listed, "us")["product_mappings"], json!(1));
    assert_eq!(row(&listed, "default")["companies"], json!(0));
    assert_eq!(row(&listed, "default")["product_mappings"], json!(1));
    assert_eq!(row(&listed, "us")["client_id"], json!("sim-client-us"));

    // Refused while new customers go to it.
    let mut provisioning = ProvisioningSettings::default();
    provisioning.new_customers.connection = Some(us());
    s.store.save_section(&provisioning).await.unwrap();
    let refused = s
        .acw(&["connections", "remove", "us", "--unmap-companies"])
        .await
        .failed();
    assert!(
        refused
            .stderr
            .contains("provisioning.new_customers sends new customers to connection us"),
        "{refused:#?}"
    );
    provisioning.new_customers.connection = None;
    s.store.save_section(&provisioning).await.unwrap();

    // Refused while a company is mapped through it.
    let refused = s.acw(&["connections", "remove", "us"]).await.failed();
    assert!(
        refused.stderr.contains(
            "1 companies are mapped through it: unmap them first, or give --unmap-companies"
        ),
        "{refused:#?}"
    );
    assert_eq!(secret(&s).await, expected);

    // The dry run shows what would go; nothing does.
    let dry = s
        .acw(&[
            "connections",
            "remove",
            "us",
            "--unmap-companies",
            "--dry-run",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(dry["dry_run"], json!(true));
    assert_eq!(dry["unmapped"][0]["company_id"], json!(7001));
    assert_eq!(
        dry["product_mappings"][0]["offering_item"],
        json!("pw_base_servers")
    );
    assert_eq!(dry["keys"].as_array().unwrap().len(), 3);
    assert_eq!(secret(&s).await, expected);
    assert!(s.store.mapping_by_company(7001).await.unwrap().is_some());
    assert_eq!(s.product_mappings().await.len(), 2);

    // Removed: the company unmapped, its product mapping deleted, the secret as before.
    let removed = s
        .acw(&["connections", "remove", "us", "--unmap-companies", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(removed["unmapped"][0]["company_id"], json!(7001));
    assert_eq!(secret(&s).await, before);
    assert!(s.store.mapping_by_company(7001).await.unwrap().is_none());
    let kept = s.product_mappings().await;
    assert_eq!(kept.len(), 1);
    assert!(kept[0].connection.is_default());
    let run = &s.store.latest_runs("acw", 1).await.unwrap()[0];
    let subjects: Vec<&str> = run.changes.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects, ["company 7001", "offering item pw_base_servers"]);
    let actions = s.audit_actions().await;
    assert!(
        actions.contains(&"connections.add".to_owned())
            && actions.contains(&"connections.remove".to_owned()),
        "{actions:?}"
    );
    let audit = s
        .store
        .audit_of_day(chrono::Utc::now().date_naive())
        .await
        .unwrap();
    let text = serde_json::to_string(&audit.iter().map(|a| &a.detail).collect::<Vec<_>>()).unwrap();
    assert!(
        !text.contains(SECRETS[0]),
        "no client secret in the audit: {text}"
    );

    // The last connection stays.
    let last = s.acw(&["connections", "remove", "default"]).await.failed();
    assert!(last.stderr.contains("last Acronis connection"), "{last:#?}");
    assert_eq!(secret(&s).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_connection_is_a_row_and_default_goes_with_its_flat_keys() {
    let s = stack().await;
    let before = secret(&s).await;
    let env = [("BAD_SECRET", "not-the-secret")];

    // Checked before anything is written: a bad name, plain http off loopback.
    let bad = s
        .acw_with(
            &[
                "connections",
                "add",
                "US",
                "--datacenter-url",
                "https://x.example",
                "--client-id",
                "x",
                "--client-secret-env",
                "BAD_SECRET",
            ],
            &env,
        )
        .await
        .failed();
    assert_eq!(bad.code, 2, "{bad:#?}");
    let plain = s
        .acw_with(
            &[
                "connections",
                "add",
                "eu",
                "--datacenter-url",
                "http://eu2-cloud.acronis.com",
                "--client-id",
                "x",
                "--client-secret-env",
                "BAD_SECRET",
                "--no-test",
            ],
            &env,
        )
        .await
        .failed();
    assert!(plain.stderr.contains("must use https"), "{plain:#?}");
    assert_eq!(secret(&s).await, before);

    // Nothing answers there: added unchecked, then a failing row of `test`.
    s.acw_with(
        &[
            "connections",
            "add",
            "down",
            "--datacenter-url",
            "http://127.0.0.1:9",
            "--client-id",
            "x",
            "--client-secret-env",
            "BAD_SECRET",
            "--no-test",
        ],
        &env,
    )
    .await
    .ok();
    let test = s.acw(&["connections", "test", "--json"]).await.failed();
    assert!(!test.stdout.contains("not-the-secret") && !test.stderr.contains("not-the-secret"));
    let tested = rows(&test);
    assert_eq!(test.json()["failed"], json!(1));
    assert!(row(&tested, "default")["error"].is_null(), "{tested:?}");
    assert!(row(&tested, "down")["error"].is_string(), "{tested:?}");
    assert!(test.stderr.contains("1 connection(s) failed"), "{test:#?}");

    // Removing `default` removes the flat keys only.
    s.acw(&["connections", "remove", "default"]).await.ok();
    let after = secret(&s).await;
    for k in [
        "acronis_datacenter_url",
        "acronis_client_id",
        "acronis_client_secret",
    ] {
        assert!(!after.contains_key(k), "{k} is still there");
    }
    for (k, v) in before.iter().filter(|(k, _)| !k.starts_with("acronis_")) {
        assert_eq!(after.get(k), Some(v), "{k} changed");
    }
    let listed = rows(&s.acw(&["connections", "list", "--json"]).await.ok());
    assert_eq!(listed.len(), 1);
    assert_eq!(
        row(&listed, "down")["datacenter_url"],
        json!("http://127.0.0.1:9")
    );
}
