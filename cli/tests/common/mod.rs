//! The fixture of the `acw` process tests (`acw.rs`, `console.rs`): moto (a fresh table, bus
//! and secret per test) and both simulators started in-process, and `acw` run as a process
//! with exactly that environment.

// Each test crate uses its part of the fixture.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use integration_tests::{LocalStack, local_var, unique};
use serde_json::{Value, json};
use shared::store::{ProductMapping, Store};
use simulators::acronis::{AcronisSim, INFRA_EU};
use simulators::connectwise::CwSim;

pub const SERVERS_PRODUCT: i64 = 500;
pub const VMS_PRODUCT: i64 = 502;

pub struct Stack {
    pub cw: CwSim,
    pub acronis: AcronisSim,
    pub store: Store,
    pub config: aws_config::SdkConfig,
    pub vars: Vec<(String, String)>,
    pub dir: PathBuf,
}

/// What one run of `acw` printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "acw failed: {self:#?}");
        self
    }
    pub fn failed(self) -> Self {
        assert_ne!(self.code, 0, "acw should have failed: {self:#?}");
        assert!(
            !self.stderr.contains("panicked"),
            "a panic is not an error message: {}",
            self.stderr
        );
        self
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

pub async fn stack() -> Stack {
    // acw runs as its own process: the stack's clients go unused.
    let LocalStack {
        config,
        cw_sim: cw,
        acronis_sim: acronis,
        store,
        ..
    } = LocalStack::start().await.unwrap();
    let bus = unique("bus");
    local_runner::ensure_bus(&aws_sdk_eventbridge::Client::new(&config), &bus)
        .await
        .unwrap();
    let secret = unique("secret");
    local_runner::put_secret(
        &aws_sdk_secretsmanager::Client::new(&config),
        &secret,
        &local_runner::simulator_secret(&cw.url(), &acronis.url()).to_string(),
    )
    .await
    .unwrap();
    let endpoint = local_var("AWS_ENDPOINT_URL").unwrap();
    let vars = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("TABLE_NAME", store.table()),
        ("EVENT_BUS_NAME", &bus),
        ("SECRET_ID", &secret),
        ("HTTP_MAX_ATTEMPTS", "2"),
        ("HTTP_TIMEOUT_SECS", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let dir = std::env::temp_dir().join(unique("acw-test"));
    std::fs::create_dir_all(&dir).unwrap();
    cw.seed(json!({"catalog": [
        {"id": SERVERS_PRODUCT, "identifier": "ACR-SERVERS", "description": "Acronis servers",
         "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}},
        {"id": 501, "identifier": "ACR-WS", "description": "Acronis workstations",
         "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}},
        {"id": VMS_PRODUCT, "identifier": "ACR-VMS", "description": "Acronis VMs",
         "subcategory": {"id": 1, "name": "Backup"}, "type": {"id": 1, "name": "Service"}}
    ]}))
    .unwrap();
    Stack {
        cw,
        acronis,
        store,
        config,
        vars,
        dir,
    }
}

/// The test's own directory goes with it (config files and the like, under the temp dir).
impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Stack {
    /// A second data centre's simulator (its own partner tenant and catalog, without the EU
    /// storage and Microsoft 365 seats), added to the secret by `acw connections add` as the
    /// connection `us`.
    pub async fn add_second_data_centre(&self) -> AcronisSim {
        let us = simulators::acronis::start(
            ([127, 0, 0, 1], 0).into(),
            simulators::acronis::AcronisSimConfig::second_data_centre(),
        )
        .await
        .unwrap();
        let url = us.url();
        self.acw_with(
            &[
                "connections",
                "add",
                "us",
                "--datacenter-url",
                &url,
                "--client-id",
                "sim-client-us",
                "--client-secret-env",
                "US_SECRET",
            ],
            &[("US_SECRET", "sim-secret-us")],
        )
        .await
        .ok();
        us
    }

    /// Runs `acw` with exactly the stack's environment (nothing inherited), plus `extra`
    /// (a blank value removes the variable).
    pub async fn acw_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_acw"));
        cmd.env_clear().args(args);
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        // The simulators run on this test's runtime: wait for the child off it.
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub async fn acw(&self, args: &[&str]) -> Out {
        self.acw_with(args, &[]).await
    }

    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// Requests that change something (everything but reads and the token).
    pub fn cw_writes(&self) -> Vec<String> {
        writes(&self.cw.control().requests())
    }
    pub fn acronis_writes(&self) -> Vec<String> {
        writes(&self.acronis.control().requests())
    }

    pub async fn product_mappings(&self) -> Vec<ProductMapping> {
        self.store.product_mappings().await.unwrap()
    }

    pub async fn seed_products(&self) {
        let mapping = ProductMapping::new;
        self.store
            .put_product_mapping(&mapping(
                "pw_base_servers",
                Some(SERVERS_PRODUCT),
                "quantity",
            ))
            .await
            .unwrap();
        let mut storage = mapping("pw_base_storage", None, "bytes");
        storage.infra_id = Some(INFRA_EU.into());
        storage.default_storage = true;
        self.store.put_product_mapping(&storage).await.unwrap();
    }

    /// A company with a primary contact and an active agreement holding `servers` servers.
    pub fn seed_customer(&self, id: i64, name: &str, kind: &str) {
        self.cw
            .seed(json!({
                "companies": [{"id": id, "identifier": format!("C{id}"), "name": name,
                               "status": {"id": 1, "name": "Active"},
                               "types": [{"id": 1, "name": kind}]}],
                "contacts": [{"id": id * 10, "firstName": "Pat", "lastName": "Lee", "company": {"id": id}, "defaultFlag": true,
                              "communicationItems": [{"type": {"id": 1, "name": "Email"}, "value": format!("it@c{id}.example"),
                                                      "defaultFlag": true, "communicationType": "Email"}]}],
                "agreements": [{"id": id * 100, "name": "Managed backup", "type": {"id": 1, "name": "Managed Services"},
                                "company": {"id": id}, "agreementStatus": "Active", "noEndingDateFlag": true}],
                "additions": [{"id": id * 1000, "agreementId": id * 100, "product": {"id": SERVERS_PRODUCT},
                               "quantity": 3.0, "billCustomer": "Billable"}]
            }))
            .unwrap();
    }

    pub fn customer_tenants(&self, name: &str) -> Vec<Value> {
        self.acronis.state()["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["name"] == name && t["kind"] == "customer" && t["deleted_at"].is_null())
            .cloned()
            .collect()
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        self.store
            .audit_of_day(chrono::Utc::now().date_naive())
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect()
    }
}

pub fn writes(log: &[simulators::RequestRecord]) -> Vec<String> {
    log.iter()
        .filter(|r| r.method != "GET" && !r.path.contains("idp/token"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}
