//! The SAM template against the code: every function in template.yaml is a binary of a package
//! under functions/, every package under functions/ is in the template, and the bus rules say
//! what the local runner's routes say. Needs no stack.
//!
//! The template is read as indented lines (CloudFormation's `!Ref`/`!GetAtt` tags defeat plain
//! YAML deserialisers); the event patterns are written there as one-line JSON flow mappings so
//! that they parse as JSON. The manifests are read the same way (`[package]`/`[[bin]]` names).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---- a reader for the indented-block subset of YAML the template uses ----------------------

#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    no: usize,
    indent: usize,
    text: &'a str,
}

impl<'a> Line<'a> {
    /// `key` of `key: value` or `key:`.
    fn key(&self) -> Option<&'a str> {
        let (k, _) = self.text.split_once(':')?;
        (!k.is_empty() && !k.starts_with(['-', '{', '[', '"', '\'']) && !k.contains(' '))
            .then_some(k)
    }

    /// `value` of `key: value`, unquoted; None for a bare `key:`.
    fn value(&self) -> Option<&'a str> {
        let (_, v) = self.text.split_once(':')?;
        let v = v.trim();
        (!v.is_empty()).then(|| v.trim_matches(|c| c == '"' || c == '\''))
    }
}

/// Significant lines: no blanks, no whole-line comments, no block-scalar bodies.
fn lines(src: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut scalar_indent: Option<usize> = None; // inside `key: >-` / `key: |`
    for (i, raw) in src.lines().enumerate() {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        if let Some(parent) = scalar_indent {
            if indent > parent {
                continue;
            }
            scalar_indent = None;
        }
        let line = Line {
            no: i + 1,
            indent,
            text,
        };
        if matches!(line.value(), Some(v) if v.starts_with('>') || v.starts_with('|')) {
            scalar_indent = Some(indent);
        }
        out.push(line);
    }
    out
}

/// The lines nested under `lines[at]`.
fn body<'s, 'a>(lines: &'s [Line<'a>], at: usize) -> &'s [Line<'a>] {
    let parent = lines[at].indent;
    let end = lines[at + 1..]
        .iter()
        .position(|l| l.indent <= parent)
        .map_or(lines.len(), |n| at + 1 + n);
    &lines[at + 1..end]
}

/// The direct children of a block: (key, index into the block).
fn children<'a>(block: &[Line<'a>]) -> Vec<(&'a str, usize)> {
    let Some(first) = block.first() else {
        return Vec::new();
    };
    block
        .iter()
        .enumerate()
        .filter(|(_, l)| l.indent == first.indent)
        .filter_map(|(i, l)| l.key().map(|k| (k, i)))
        .collect()
}

fn child<'s, 'a>(block: &'s [Line<'a>], key: &str) -> Option<(Line<'a>, &'s [Line<'a>])> {
    children(block)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, i)| (block[i], body(block, i)))
}

fn path<'s, 'a>(block: &'s [Line<'a>], keys: &[&str]) -> Option<(Line<'a>, &'s [Line<'a>])> {
    let (mut line, mut inner) = child(block, keys[0])?;
    for key in &keys[1..] {
        (line, inner) = child(inner, key)?;
    }
    Some((line, inner))
}

// ---- the template ----------------------------------------------------------------------------

#[derive(Debug)]
struct Function {
    logical_id: String,
    line: usize,
    build_method: Option<String>,
    binary: Option<String>,
    code_uri: Option<String>,
    /// Event name → (type, its properties' lines as (key, value)).
    events: BTreeMap<String, Event>,
    on_failure: bool,
    /// `EventInvokeConfig.MaximumRetryAttempts`.
    async_retries: Option<u32>,
    has_secret_id: bool,
    has_secret_policy: bool,
    function_url: bool,
}

#[derive(Debug)]
struct Event {
    kind: String,
    pattern: Option<Value>,
    /// `RetryPolicy` as written (a one-line flow mapping), if any.
    retry_policy: Option<String>,
    dead_letters: bool,
}

struct Template {
    global_code_uri: Option<String>,
    functions: Vec<Function>,
}

fn template() -> Template {
    let src = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let all = lines(&src);
    let top = &all[..];
    let global_code_uri = path(top, &["Globals", "Function", "CodeUri"])
        .and_then(|(l, _)| l.value().map(str::to_owned));
    let (_, resources) = child(top, "Resources").expect("template.yaml has no Resources");
    let mut functions = Vec::new();
    for (id, i) in children(resources) {
        let resource = body(resources, i);
        let kind = child(resource, "Type").and_then(|(l, _)| l.value());
        if kind != Some("AWS::Serverless::Function") {
            continue;
        }
        let value =
            |keys: &[&str]| path(resource, keys).and_then(|(l, _)| l.value().map(str::to_owned));
        let props = child(resource, "Properties").map(|(_, b)| b).unwrap_or(&[]);
        let mut events = BTreeMap::new();
        if let Some((_, block)) = child(props, "Events") {
            for (name, j) in children(block) {
                let event = body(block, j);
                let kind = child(event, "Type")
                    .and_then(|(l, _)| l.value())
                    .unwrap_or_default()
                    .to_owned();
                let ev_props = child(event, "Properties").map(|(_, b)| b).unwrap_or(&[]);
                let pattern = child(ev_props, "Pattern").map(|(l, _)| {
                    let json = l.value().unwrap_or_else(|| {
                        panic!(
                            "template.yaml:{}: write {id}.{name}'s Pattern as one-line JSON",
                            l.no
                        )
                    });
                    serde_json::from_str(json).unwrap_or_else(|e| {
                        panic!(
                            "template.yaml:{}: {id}.{name}'s Pattern is not JSON: {e}",
                            l.no
                        )
                    })
                });
                events.insert(
                    name.to_owned(),
                    Event {
                        kind,
                        pattern,
                        retry_policy: child(ev_props, "RetryPolicy")
                            .and_then(|(l, _)| l.value().map(str::to_owned)),
                        dead_letters: child(ev_props, "DeadLetterConfig").is_some(),
                    },
                );
            }
        }
        let policies = child(props, "Policies")
            .map(|(_, b)| b.iter().map(|l| l.text).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default();
        functions.push(Function {
            logical_id: id.to_owned(),
            line: resources[i].no,
            build_method: value(&["Metadata", "BuildMethod"]),
            binary: value(&["Metadata", "BuildProperties", "Binary"]),
            code_uri: value(&["Properties", "CodeUri"]),
            events,
            on_failure: path(
                props,
                &["EventInvokeConfig", "DestinationConfig", "OnFailure"],
            )
            .is_some(),
            async_retries: value(&["Properties", "EventInvokeConfig", "MaximumRetryAttempts"])
                .and_then(|v| v.parse().ok()),
            has_secret_id: path(props, &["Environment", "Variables", "SECRET_ID"]).is_some(),
            has_secret_policy: policies.contains("secretsmanager")
                || policies.contains("AWSSecretsManager")
                || policies.contains("Credentials"),
            function_url: child(props, "FunctionUrlConfig").is_some(),
        });
    }
    Template {
        global_code_uri,
        functions,
    }
}

// ---- the packages ----------------------------------------------------------------------------

/// Binary name → package directory, for every package under functions/.
fn package_binaries() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let dir = root().join("functions");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    entries.sort();
    for pkg in entries {
        let manifest = std::fs::read_to_string(pkg.join("Cargo.toml")).unwrap();
        let dir_name = pkg.file_name().unwrap().to_string_lossy().into_owned();
        let (mut section, mut package, mut bins) = (String::new(), None, Vec::new());
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_owned();
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            if k.trim() != "name" {
                continue;
            }
            let name = v.trim().trim_matches('"').to_owned();
            match section.as_str() {
                "[package]" => package = Some(name),
                "[[bin]]" => bins.push(name),
                _ => {}
            }
        }
        let package = package.unwrap_or_else(|| panic!("functions/{dir_name}: no package name"));
        if bins.is_empty() {
            // Cargo's default binary (src/main.rs) carries the package's name.
            assert!(
                pkg.join("src/main.rs").is_file(),
                "functions/{dir_name}: no [[bin]] and no src/main.rs: not a Lambda"
            );
            bins.push(package);
        }
        for bin in bins {
            if let Some(other) = out.insert(bin.clone(), format!("functions/{dir_name}")) {
                panic!("binary {bin} is built by both {other} and functions/{dir_name}");
            }
        }
    }
    out
}

// ---- the checks --------------------------------------------------------------------------------

#[test]
fn every_template_function_is_a_package_binary_and_every_package_is_in_the_template() {
    let t = template();
    let packages = package_binaries();
    assert!(
        !t.functions.is_empty(),
        "no AWS::Serverless::Function in template.yaml"
    );

    let mut problems = Vec::new();
    let mut in_template = BTreeMap::new();
    for f in &t.functions {
        let Some(bin) = &f.binary else {
            problems.push(format!(
                "template.yaml:{} {}: no Metadata.BuildProperties.Binary",
                f.line, f.logical_id
            ));
            continue;
        };
        if let Some(other) = in_template.insert(bin.clone(), f.logical_id.clone()) {
            problems.push(format!(
                "binary {bin} is deployed twice: {other} and {}",
                f.logical_id
            ));
        }
        if !packages.contains_key(bin) {
            problems.push(format!(
                "template.yaml:{} {}: binary `{bin}` is not built by any package under functions/",
                f.line, f.logical_id
            ));
        }
    }
    for (bin, pkg) in &packages {
        if !in_template.contains_key(bin) {
            problems.push(format!(
                "{pkg}: binary `{bin}` is not deployed by template.yaml (add a function with BuildProperties.Binary: {bin})"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn functions_build_with_cargo_lambda_from_one_target_dir() {
    let t = template();
    for f in &t.functions {
        assert_eq!(
            f.build_method.as_deref(),
            Some("rust-cargolambda"),
            "{}: Metadata.BuildMethod",
            f.logical_id
        );
        let code_uri = f.code_uri.as_deref().or(t.global_code_uri.as_deref());
        assert_eq!(
            code_uri,
            Some("."),
            "{}: CodeUri must be the workspace root, so that all functions share one target dir",
            f.logical_id
        );
    }
}

#[test]
fn bus_rules_say_what_the_local_routes_say() {
    let t = template();
    let rules: BTreeMap<String, (String, Value)> = t
        .functions
        .iter()
        .flat_map(|f| {
            f.events
                .iter()
                .filter(|(_, e)| e.kind == "EventBridgeRule")
                .map(move |(name, e)| {
                    let bin = f.binary.clone().unwrap_or_default();
                    let pattern = e.pattern.clone().unwrap_or_else(|| {
                        panic!(
                            "{}.{name}: an EventBridgeRule without a Pattern",
                            f.logical_id
                        )
                    });
                    (bin, (format!("{}.{name}", f.logical_id), pattern))
                })
        })
        .collect();
    let routes: BTreeMap<&str, Value> = local_runner::routes()
        .into_iter()
        .map(|r| (r.consumer.name(), r.pattern))
        .collect();

    let mut problems = Vec::new();
    for (consumer, pattern) in &routes {
        match rules.get(*consumer) {
            None => problems.push(format!(
                "local route to {consumer} has no bus rule in template.yaml"
            )),
            Some((rule, p)) if p != pattern => problems.push(format!(
                "{rule}: pattern {p} differs from the local route's {pattern}"
            )),
            Some(_) => {}
        }
    }
    for (bin, (rule, pattern)) in &rules {
        if !routes.contains_key(bin.as_str()) {
            problems.push(format!(
                "{rule} ({bin}, {pattern}) has no route in infra/local-runner/src/lib.rs routes()"
            ));
        }
        assert_eq!(
            pattern["source"],
            serde_json::json!([shared::bus::SOURCE]),
            "{rule}: source"
        );
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The local runner retries a failed asynchronous invocation as `Function::async_retries`
/// says: the template's `EventInvokeConfig` must say the same.
#[test]
fn the_local_runner_retries_as_the_template_configures_lambda() {
    for f in template().functions {
        let function = shared::functions::Function::ALL
            .into_iter()
            .find(|x| x.logical_id() == f.logical_id)
            .unwrap_or_else(|| panic!("{} is not in the function list", f.logical_id));
        assert_eq!(
            f.async_retries,
            function.async_retries(),
            "{}: EventInvokeConfig.MaximumRetryAttempts",
            f.logical_id
        );
    }
}

/// The local runner's rule delivery retries as `Function::rule_retry_policy` says: each
/// rule's `RetryPolicy` in the template must say the same.
#[test]
fn the_local_runner_delivers_as_the_template_configures_each_rule() {
    let number = |policy: &str, key: &str| -> Option<u64> {
        let rest = &policy[policy.find(key)? + key.len()..];
        rest.trim_start_matches([':', ' '])
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    for f in template().functions {
        let function = shared::functions::Function::ALL
            .into_iter()
            .find(|x| x.logical_id() == f.logical_id)
            .unwrap();
        for (name, e) in &f.events {
            let written = e.retry_policy.as_deref().map(|p| {
                (
                    number(p, "MaximumRetryAttempts"),
                    number(p, "MaximumEventAgeInSeconds"),
                )
            });
            let known = function
                .rule_retry_policy()
                .map(|(n, age)| (Some(u64::from(n)), Some(age.as_secs())));
            assert_eq!(written, known, "{}.{name}: RetryPolicy", f.logical_id);
        }
    }
}

#[test]
fn every_asynchronous_path_retries_and_dead_letters() {
    for f in template().functions {
        if f.events.is_empty() {
            continue;
        }
        assert!(
            f.on_failure,
            "{}: invoked asynchronously, so it needs EventInvokeConfig.DestinationConfig.OnFailure",
            f.logical_id
        );
        for (name, e) in &f.events {
            assert!(
                e.retry_policy.is_some() && e.dead_letters,
                "{}.{name}: a rule needs a RetryPolicy and a DeadLetterConfig",
                f.logical_id
            );
        }
    }
}

#[test]
fn every_function_can_read_the_credentials_it_calls_apis_with() {
    let t = template();
    let webhook = t
        .functions
        .iter()
        .find(|f| f.binary.as_deref() == Some("webhook"))
        .expect("the webhook is in the template");
    assert!(webhook.function_url, "the webhook needs its Function URL");
    // The webhook reads the secret only if the ConnectWise host refuses an anonymous signing
    // key fetch, and then sends the credentials only to the callback key endpoint of the
    // configured host (webhook::signature::trusted_key_url, webhook::ports::HttpKeySource).
    for f in &t.functions {
        assert!(
            f.has_secret_id && f.has_secret_policy,
            "{}: reads the credentials and needs SECRET_ID and read access",
            f.logical_id
        );
    }
}

// ---- one list of functions -------------------------------------------------------------------

#[test]
fn the_template_deploys_exactly_the_function_list() {
    use shared::functions::{Function as F, Trigger};
    let t = template();
    let deployed: BTreeMap<String, String> = t
        .functions
        .iter()
        .map(|f| (f.logical_id.clone(), f.binary.clone().unwrap_or_default()))
        .collect();
    let listed: BTreeMap<String, String> = F::ALL
        .iter()
        .map(|f| (f.logical_id().to_owned(), f.name().to_owned()))
        .collect();
    assert_eq!(
        deployed, listed,
        "template.yaml's functions and shared::functions::Function::ALL differ"
    );
    for f in &t.functions {
        let listed = F::ALL
            .into_iter()
            .find(|l| l.logical_id() == f.logical_id)
            .unwrap();
        let trigger = if f.function_url {
            Trigger::Http
        } else if f.events.values().any(|e| e.kind == "EventBridgeRule") {
            Trigger::Bus
        } else {
            assert!(
                f.events.values().all(|e| e.kind == "Schedule"),
                "{}: events",
                f.logical_id
            );
            Trigger::Schedule
        };
        assert_eq!(listed.trigger(), trigger, "{}", f.logical_id);
    }
}

// ---- resources and conditions of the roles, after the SAM transform ---------------------------

/// The statements of a function's role, from the expanded template.
fn role_statements(expanded: &Value, logical_id: &str) -> Vec<(String, Value)> {
    let role = &expanded["Resources"][format!("{logical_id}Role")];
    assert!(
        role.is_object(),
        "{logical_id}Role is not in the expanded template"
    );
    role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            let name = p["PolicyName"].as_str().unwrap().to_owned();
            p["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |s| (name.clone(), s.clone()))
        })
        .collect()
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

#[test]
fn each_role_names_only_its_own_table_index_bus_secret_and_queue() {
    use serde_json::json;
    use shared::functions::Function as F;
    let expanded = integration_tests::expanded_template().unwrap();
    let table = json!({"Fn::GetAtt": ["Table", "Arn"]});
    let index = json!({"Fn::Sub": format!("${{Table.Arn}}/index/{}", shared::store::keys::GSI1)});
    let bus = json!({"Fn::GetAtt": ["EventBus", "Arn"]});
    let secret = json!({"Ref": "Credentials"});
    let mut problems = Vec::new();
    for f in F::ALL {
        let id = f.logical_id();
        let queue_of =
            |f: F| json!({"Fn::GetAtt": [format!("{}DeadLetters", f.logical_id()), "Arn"]});
        // Its own dead-letter queue; the reconciler also redrives the bus consumers'.
        let mut queues = vec![queue_of(f)];
        if f == F::Reconciler {
            queues.extend(reconciler::REDRIVEN.map(queue_of));
        }
        let mut published: Option<Vec<String>> = None;
        let mut named_queues = std::collections::BTreeSet::new();
        for (policy, s) in role_statements(&expanded, id) {
            let actions: Vec<String> = as_list(&s["Action"])
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            let service = actions[0].split(':').next().unwrap().to_owned();
            assert!(
                actions
                    .iter()
                    .all(|a| a.starts_with(&format!("{service}:"))),
                "{id} {policy}: one service per statement, so its resources say which"
            );
            let allowed: Vec<&Value> = match service.as_str() {
                "dynamodb" => vec![&table, &index],
                "events" => vec![&bus],
                "secretsmanager" => vec![&secret],
                "sqs" => queues.iter().collect(),
                other => {
                    problems.push(format!("{id} {policy}: unexpected service {other}"));
                    continue;
                }
            };
            for r in as_list(&s["Resource"]) {
                if service == "sqs" {
                    named_queues.insert(r.to_string());
                }
                if !allowed.contains(&&r) {
                    problems.push(format!(
                        "{id} {policy}: {service} on {r}, not the stack's own"
                    ));
                }
            }
            if service == "events" {
                let c = &s["Condition"];
                if c["StringEquals"]["events:source"] != json!(shared::bus::SOURCE) {
                    problems.push(format!(
                        "{id}: PutEvents not limited to source {}",
                        shared::bus::SOURCE
                    ));
                }
                let mut types: Vec<String> = as_list(&c["StringLike"]["events:detail-type"])
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect();
                types.sort();
                published = Some(types);
            } else if s.get("Condition").is_some() {
                problems.push(format!(
                    "{id} {policy}: a condition moto cannot check and no test covers"
                ));
            }
        }
        if f == F::Reconciler {
            for q in reconciler::REDRIVEN.map(queue_of) {
                if !named_queues.contains(&q.to_string()) {
                    problems.push(format!("{id}: may not redrive {q}"));
                }
            }
        }
        let mut expected: Vec<String> = f.publishes().iter().map(|t| (*t).to_owned()).collect();
        expected.sort();
        match published {
            None if !expected.is_empty() => {
                problems.push(format!("{id}: publishes {expected:?} but may not PutEvents"))
            }
            Some(types) if types != expected => problems.push(format!(
                "{id}: PutEvents condition allows {types:?}, it sends {expected:?} (shared::functions)"
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

// ---- alarms, limits and protections, after the SAM transform -----------------------------------

/// The expanded template, made once for the tests below.
fn expanded() -> &'static Value {
    static EXPANDED: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    EXPANDED.get_or_init(|| integration_tests::expanded_template().unwrap())
}

fn resources_of_type<'t>(t: &'t Value, kind: &str) -> Vec<(&'t str, &'t Value)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str(), r))
        .collect()
}

fn alarms(t: &Value) -> Vec<(&str, &Value)> {
    resources_of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, r)| (id, &r["Properties"]))
        .collect()
}

#[test]
fn the_webhook_reserves_its_concurrency_from_a_parameter_where_0_means_none() {
    use serde_json::json;
    let t = expanded();
    let p = &t["Parameters"]["WebhookConcurrency"];
    assert_eq!(p["Type"], "Number", "WebhookConcurrency: {p}");
    assert_eq!(
        p["MinValue"], 0,
        "0 must be allowed: it means no reservation"
    );
    let default = p["Default"].as_i64().unwrap();
    assert!(
        default > 0,
        "WebhookConcurrency must reserve by default, not {default}"
    );
    assert!(p["MaxValue"].as_i64().unwrap() >= default);
    // Exactly the way ConsumerConcurrency does it: 0 leaves the property out.
    for (param, condition) in [
        ("WebhookConcurrency", "ReserveWebhookConcurrency"),
        ("ConsumerConcurrency", "ReserveConsumerConcurrency"),
    ] {
        assert_eq!(
            t["Conditions"][condition],
            json!({"Fn::Not": [{"Fn::Equals": [{"Ref": param}, 0]}]}),
            "condition {condition}"
        );
    }
    let webhook = &t["Resources"]["Webhook"];
    assert_eq!(webhook["Type"], "AWS::Lambda::Function");
    assert_eq!(
        webhook["Properties"]["ReservedConcurrentExecutions"],
        json!({"Fn::If": ["ReserveWebhookConcurrency", {"Ref": "WebhookConcurrency"}, {"Ref": "AWS::NoValue"}]}),
        "the webhook's reserved concurrency"
    );
    // It is the function behind the public URL that the reservation bounds.
    let urls = resources_of_type(t, "AWS::Lambda::Url");
    assert!(
        urls.iter()
            .any(|(_, u)| u["Properties"]["TargetFunctionArn"] == json!({"Ref": "Webhook"})),
        "no Function URL targets the webhook"
    );
}

#[test]
fn every_parameter_is_in_a_parameter_group_and_in_the_readme() {
    let t = expanded();
    let params: Vec<&str> = t["Parameters"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut grouped: Vec<&str> = t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["Parameters"].as_array().unwrap())
        .map(|p| p.as_str().unwrap())
        .collect();
    grouped.sort_unstable();
    let mut expected = params.clone();
    expected.sort_unstable();
    assert_eq!(
        grouped, expected,
        "every parameter in exactly one ParameterGroup"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let deploy = readme
        .split_once("## Deploy to AWS")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap())
        .expect("README.md has a \"Deploy to AWS\" section");
    let rows: Vec<&str> = deploy.lines().filter(|l| l.starts_with("| `")).collect();
    for p in params {
        assert!(
            rows.iter()
                .any(|r| r.split('|').nth(1).unwrap().contains(&format!("`{p}`"))),
            "README.md's parameter table does not list {p}"
        );
    }
}

#[test]
fn the_table_cannot_be_deleted() {
    let table = &expanded()["Resources"]["Table"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    assert_eq!(
        table["Properties"]["DeletionProtectionEnabled"], true,
        "DeletionProtectionEnabled"
    );
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
}

#[test]
fn every_alarm_notifies_the_topic_and_treats_silence_as_fine() {
    use serde_json::json;
    let all = alarms(expanded());
    assert!(!all.is_empty());
    for (id, a) in all {
        assert_eq!(a["AlarmActions"], json!([{"Ref": "AlarmTopic"}]), "{id}");
        assert_eq!(a["OKActions"], json!([{"Ref": "AlarmTopic"}]), "{id}");
        assert_eq!(a["TreatMissingData"], "notBreaching", "{id}");
    }
}

#[test]
fn every_dead_letter_queue_alarms_on_each_message_that_arrives() {
    use serde_json::json;
    let t = expanded();
    let queues: Vec<&str> = resources_of_type(t, "AWS::SQS::Queue")
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| id.ends_with("DeadLetters"))
        .collect();
    // One queue per asynchronously invoked function: all but the webhook.
    assert_eq!(
        queues.len(),
        shared::functions::Function::ALL.len() - 1,
        "{queues:?}"
    );
    let dead_letter_alarms: Vec<(&str, &Value)> = alarms(t)
        .into_iter()
        .filter(|(id, _)| id.ends_with("DeadLettersAlarm"))
        .collect();
    assert_eq!(dead_letter_alarms.len(), queues.len());
    for queue in queues {
        let id = format!("{queue}Alarm");
        let (_, a) = dead_letter_alarms
            .iter()
            .find(|(a, _)| *a == id)
            .unwrap_or_else(|| panic!("{queue} has no {id}"));
        // A depth metric stays in ALARM while the queue is non-empty and never notifies again;
        // NumberOfMessagesSent counts each arrival (Lambda and EventBridge send with
        // SendMessage; only SQS's own redrive moves would go uncounted, and there is none).
        assert_eq!(a["Namespace"], "AWS/SQS", "{id}");
        assert_eq!(a["MetricName"], "NumberOfMessagesSent", "{id}");
        assert_eq!(a["Statistic"], "Sum", "{id}");
        assert_eq!(a["Period"], 300, "{id}");
        assert_eq!(a["EvaluationPeriods"], 1, "{id}");
        assert_eq!(a["Threshold"], 1, "{id}");
        assert_eq!(
            a["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{id}"
        );
        assert_eq!(
            a["Dimensions"],
            json!([{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]),
            "{id}"
        );
    }
}

/// `acw dlq` and `acw status` find each queue by name from the stack's name
/// (`shared::domain::dead_letters::queue_name`), as the local stack names its own.
#[test]
fn every_dead_letter_queue_is_named_after_the_stack_as_acw_finds_it() {
    use serde_json::json;
    use shared::domain::dead_letters;
    let t = expanded();
    let mut named = Vec::new();
    for (id, q) in resources_of_type(t, "AWS::SQS::Queue") {
        let Some(logical_id) = id.strip_suffix("DeadLetters") else {
            continue;
        };
        let f = shared::functions::Function::ALL
            .into_iter()
            .find(|f| f.logical_id() == logical_id)
            .unwrap_or_else(|| panic!("{id}: no function {logical_id}"));
        assert!(dead_letters::has_queue(f), "{id}");
        assert_eq!(
            q["Properties"]["QueueName"],
            json!({"Fn::Sub": dead_letters::queue_name("${AWS::StackName}", f)}),
            "{id}: QueueName"
        );
        named.push(f);
    }
    named.sort();
    let mut expected: Vec<_> = dead_letters::functions().collect();
    expected.sort();
    assert_eq!(
        named, expected,
        "one named queue per function with dead letters"
    );
}

#[test]
fn the_not_configured_alarm_watches_the_stacks_own_metric() {
    use serde_json::json;
    let a = &expanded()["Resources"]["NotConfiguredAlarm"]["Properties"];
    assert_eq!(a["Namespace"], shared::runs::METRIC_NAMESPACE);
    assert_eq!(a["MetricName"], "NotConfigured");
    // The dimension set the functions' metric lines carry (shared::runs::metric_line).
    assert_eq!(
        a["Dimensions"],
        json!([{"Name": "Stack", "Value": {"Ref": "AWS::StackName"}}])
    );
    assert_eq!(a["Statistic"], "Sum");
    assert_eq!(a["Period"], 900);
    assert_eq!(a["Threshold"], 1);
    assert_eq!(a["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    let description = a["AlarmDescription"].as_str().unwrap();
    assert!(
        description.contains("SecretArn"),
        "the alarm says where to fix it: {description}"
    );
    assert!(
        expanded()["Outputs"]["SecretArn"].is_object(),
        "the output it names"
    );
    // The same namespace and dimension as the alarms already fed by the functions.
    let failed = &expanded()["Resources"]["FailedItemsAlarm"]["Properties"];
    assert_eq!(a["Namespace"], failed["Namespace"]);
    assert_eq!(a["Dimensions"], failed["Dimensions"]);
}

// ---- the Function URL's alarms, evaluated -----------------------------------------------------

/// A CloudWatch metric-math expression, as much of the language as the template's alarms use:
/// numbers, metric ids, `+ - * /`, comparisons, `AND`/`&&`, `OR`/`||`, parentheses, `IF(c, a, b)`
/// and `FILL(m, v)`. A metric with no data point in a period is `None`; arithmetic on `None` is
/// `None` (no data point), as CloudWatch leaves it, until FILL fills it.
fn metric_math(expr: &str, values: &BTreeMap<&str, Option<f64>>) -> Option<f64> {
    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Num(f64),
        Id(String),
        Op(String),
    }
    let mut toks = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            toks.push(Tok::Num(text.parse().unwrap()));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            toks.push(Tok::Id(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = if [">=", "<=", "==", "!=", "&&", "||"].contains(&two.as_str()) {
                two
            } else {
                c.to_string()
            };
            i += op.len();
            toks.push(Tok::Op(op));
        }
    }

    struct P<'a> {
        toks: Vec<Tok>,
        at: usize,
        values: &'a BTreeMap<&'a str, Option<f64>>,
    }
    impl P<'_> {
        fn peek_op(&self, ops: &[&str]) -> Option<String> {
            match self.toks.get(self.at) {
                Some(Tok::Op(o)) if ops.contains(&o.as_str()) => Some(o.clone()),
                Some(Tok::Id(w)) if ops.contains(&w.as_str()) => Some(w.clone()),
                _ => None,
            }
        }
        fn expect(&mut self, op: &str) {
            assert_eq!(
                self.toks.get(self.at),
                Some(&Tok::Op(op.into())),
                "expected {op}"
            );
            self.at += 1;
        }
        fn or(&mut self) -> Option<f64> {
            let mut v = self.and();
            while self.peek_op(&["OR", "||"]).is_some() {
                self.at += 1;
                let r = self.and();
                v = v
                    .zip(r)
                    .map(|(a, b)| f64::from(u8::from(a != 0.0 || b != 0.0)));
            }
            v
        }
        fn and(&mut self) -> Option<f64> {
            let mut v = self.cmp();
            while self.peek_op(&["AND", "&&"]).is_some() {
                self.at += 1;
                let r = self.cmp();
                v = v
                    .zip(r)
                    .map(|(a, b)| f64::from(u8::from(a != 0.0 && b != 0.0)));
            }
            v
        }
        fn cmp(&mut self) -> Option<f64> {
            let v = self.add();
            let Some(op) = self.peek_op(&[">", "<", ">=", "<=", "==", "!="]) else {
                return v;
            };
            self.at += 1;
            let r = self.add();
            v.zip(r).map(|(a, b)| {
                let holds = match op.as_str() {
                    ">" => a > b,
                    "<" => a < b,
                    ">=" => a >= b,
                    "<=" => a <= b,
                    "==" => a == b,
                    _ => a != b,
                };
                f64::from(u8::from(holds))
            })
        }
        fn add(&mut self) -> Option<f64> {
            let mut v = self.mul();
            while let Some(op) = self.peek_op(&["+", "-"]) {
                self.at += 1;
                let r = self.mul();
                v = v.zip(r).map(|(a, b)| if op == "+" { a + b } else { a - b });
            }
            v
        }
        fn mul(&mut self) -> Option<f64> {
            let mut v = self.unary();
            while let Some(op) = self.peek_op(&["*", "/"]) {
                self.at += 1;
                let r = self.unary();
                v = v.zip(r).map(|(a, b)| if op == "*" { a * b } else { a / b });
            }
            v
        }
        fn unary(&mut self) -> Option<f64> {
            if self.peek_op(&["-"]).is_some() {
                self.at += 1;
                return self.unary().map(|v| -v);
            }
            self.primary()
        }
        fn primary(&mut self) -> Option<f64> {
            let tok = self.toks.get(self.at).cloned().expect("unexpected end");
            self.at += 1;
            match tok {
                Tok::Num(n) => Some(n),
                Tok::Op(o) if o == "(" => {
                    let v = self.or();
                    self.expect(")");
                    v
                }
                Tok::Id(f) if self.toks.get(self.at) == Some(&Tok::Op("(".into())) => {
                    self.at += 1;
                    let mut args = vec![self.or()];
                    while self.peek_op(&[","]).is_some() {
                        self.at += 1;
                        args.push(self.or());
                    }
                    self.expect(")");
                    match (f.as_str(), args.as_slice()) {
                        ("IF", [c, a, b]) => c.and_then(|c| if c != 0.0 { *a } else { *b }),
                        ("FILL", [m, v]) => m.or(*v),
                        (f, args) => panic!("{f} with {} arguments: not modelled", args.len()),
                    }
                }
                Tok::Id(id) => *self
                    .values
                    .get(id.as_str())
                    .unwrap_or_else(|| panic!("the expression names {id}, which is not a metric")),
                Tok::Op(o) => panic!("unexpected {o}"),
            }
        }
    }
    let mut p = P {
        toks,
        at: 0,
        values,
    };
    let v = p.or();
    assert_eq!(p.at, p.toks.len(), "trailing tokens in {expr}");
    v
}

/// One 5-minute period of the webhook URL's answers: (all requests, 4xx, 5xx), or no data.
type Answers = Option<(f64, f64, f64)>;

/// Whether an alarm is in ALARM after these periods (oldest first), evaluated as CloudWatch
/// does: the last EvaluationPeriods data points, DatapointsToAlarm of them breaching, missing
/// data not breaching. The alarm's metric ids are mapped to its URL metrics. `sparse`: a count
/// that is 0 in a period has no data point there (rather than a 0), as for many AWS metrics;
/// the alarm must work either way.
fn url_alarm_fires(alarm: &Value, periods: &[Answers], sparse: bool) -> bool {
    let metrics = alarm["Metrics"].as_array().unwrap();
    let expression = metrics
        .iter()
        .find(|m| m["ReturnData"] == true)
        .and_then(|m| m["Expression"].as_str())
        .expect("one returned expression");
    let ids: BTreeMap<&str, &str> = metrics
        .iter()
        .filter(|m| m["MetricStat"].is_object())
        .map(|m| {
            (
                m["Id"].as_str().unwrap(),
                m["MetricStat"]["Metric"]["MetricName"].as_str().unwrap(),
            )
        })
        .collect();
    let threshold = alarm["Threshold"].as_f64().unwrap();
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    let n = alarm["EvaluationPeriods"].as_u64().unwrap() as usize;
    let m = alarm["DatapointsToAlarm"].as_u64().unwrap_or(n as u64) as usize;
    let breaching = periods
        .iter()
        .rev()
        .take(n)
        .filter(|answers| {
            let values: BTreeMap<&str, Option<f64>> = ids
                .iter()
                .map(|(id, metric)| {
                    let v = answers.map(|(req, c4, c5)| match *metric {
                        "UrlRequestCount" => req,
                        "Url4xxCount" => c4,
                        "Url5xxCount" => c5,
                        other => panic!("{other}: not a URL metric"),
                    });
                    (*id, v.filter(|v| !sparse || *v > 0.0))
                })
                .collect();
            metric_math(expression, &values).is_some_and(|v| v >= threshold)
        })
        .count();
    breaching >= m
}

#[test]
fn the_metric_math_reader_reads_what_cloudwatch_documents() {
    let v = |pairs: &[(&'static str, Option<f64>)]| pairs.iter().copied().collect();
    let none = v(&[]);
    assert_eq!(metric_math("1 + 2 * 3", &none), Some(7.0));
    assert_eq!(metric_math("IF(1 > 2 OR 2 >= 2, 5, 6)", &none), Some(5.0));
    assert_eq!(metric_math("IF(1 && 0, 5, 6)", &none), Some(6.0));
    let m = v(&[("a", None), ("b", Some(2.0))]);
    assert_eq!(metric_math("a + b", &m), None, "no data point");
    assert_eq!(metric_math("FILL(a, 0) + b", &m), Some(2.0));
}

#[test]
fn the_webhook_url_alarms_on_5xx_and_on_refusing_every_callback_but_not_on_a_scanner() {
    use serde_json::json;
    let t = expanded();
    let webhook = json!([{"Name": "FunctionName", "Value": {"Ref": "Webhook"}}]);
    let url_metrics = ["UrlRequestCount", "Url4xxCount", "Url5xxCount"];
    let all = alarms(t);

    // Nothing alarms on a single URL metric a stranger can move: 4xx or the request count.
    for (id, a) in &all {
        if a["Namespace"] == "AWS/Lambda" {
            assert!(
                !["Url4xxCount", "UrlRequestCount"]
                    .contains(&a["MetricName"].as_str().unwrap_or_default()),
                "{id}: anyone can make the URL answer 4xx"
            );
        }
    }

    // 5xx: every one is ours (the webhook's 503s, a failed or timed-out invocation).
    let five = all
        .iter()
        .filter(|(_, a)| a["MetricName"] == "Url5xxCount" && a["Dimensions"] == webhook)
        .collect::<Vec<_>>();
    assert_eq!(five.len(), 1, "one alarm on the webhook's Url5xxCount");
    let (id, a) = five[0];
    assert_eq!(a["Namespace"], "AWS/Lambda", "{id}");
    assert_eq!(a["Statistic"], "Sum", "{id}");
    assert_eq!(a["Period"], 300, "{id}");
    assert_eq!(a["EvaluationPeriods"], 1, "{id}");
    assert_eq!(a["Threshold"], 1, "{id}");
    assert_eq!(a["ComparisonOperator"], "GreaterThanOrEqualToThreshold");

    // Refusing everything: the metric-math alarm over the three URL metrics.
    let math: Vec<&(&str, &Value)> = all
        .iter()
        .filter(|(_, a)| a["Metrics"].is_array())
        .collect();
    assert_eq!(math.len(), 1, "one metric-math alarm on the URL");
    let (id, a) = *math[0];
    let metrics = a["Metrics"].as_array().unwrap();
    let mut named: Vec<&str> = Vec::new();
    for m in metrics.iter().filter(|m| m["MetricStat"].is_object()) {
        let stat = &m["MetricStat"];
        assert_eq!(stat["Metric"]["Namespace"], "AWS/Lambda", "{id}");
        assert_eq!(stat["Metric"]["Dimensions"], webhook, "{id}");
        assert_eq!(stat["Stat"], "Sum", "{id}");
        assert_eq!(m["ReturnData"], false, "{id}");
        named.push(stat["Metric"]["MetricName"].as_str().unwrap());
        // 15 minutes: the window the alarm judges.
        let period = stat["Period"].as_u64().unwrap();
        assert_eq!(
            period * a["EvaluationPeriods"].as_u64().unwrap(),
            900,
            "{id}: 15 minutes"
        );
    }
    named.sort_unstable();
    let mut expected = url_metrics.to_vec();
    expected.sort_unstable();
    assert_eq!(named, expected, "{id}: its metrics");

    let probe = Some((20.0, 20.0, 0.0));
    let refused = Some((1.0, 1.0, 0.0));
    let accepted = Some((2.0, 1.0, 0.0)); // one refused, one 2xx
    let quiet = None;
    let cases: [(&str, Vec<Answers>, bool); 7] = [
        (
            "a scanner's burst in a quiet quarter-hour",
            vec![quiet, probe, quiet],
            false,
        ),
        (
            "a scanner's burst, then quiet",
            vec![probe, quiet, quiet],
            false,
        ),
        (
            "callbacks refused for 15 minutes (a wrong ConnectWiseSite)",
            vec![refused, refused, refused],
            true,
        ),
        (
            "refused, but one accepted in between",
            vec![refused, accepted, refused],
            false,
        ),
        (
            "accepted callbacks",
            vec![accepted, accepted, accepted],
            false,
        ),
        (
            "5xx only (the other alarm's)",
            vec![Some((3.0, 0.0, 3.0)); 3],
            false,
        ),
        ("no traffic at all", vec![quiet, quiet, quiet], false),
    ];
    for (what, periods, fires) in cases {
        for sparse in [false, true] {
            assert_eq!(
                url_alarm_fires(a, &periods, sparse),
                fires,
                "{id}: {what} (zero counts sent as no data: {sparse})"
            );
        }
    }
}

// ---- building without a prompt ------------------------------------------------------------------

/// `section -> key -> value` of a TOML file of plain `key = value` lines under `[section]`s.
fn toml_sections(src: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for line in src.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    out
}

#[test]
fn sam_build_opts_in_to_the_beta_build_method_so_it_never_prompts() {
    // rust-cargolambda is a beta build method: without the opt-in `sam build` asks [y/N].
    assert!(
        template()
            .functions
            .iter()
            .any(|f| f.build_method.as_deref() == Some("rust-cargolambda"))
    );
    let src = std::fs::read_to_string(root().join("samconfig.toml"))
        .expect("samconfig.toml at the repository root");
    let config = toml_sections(&src);
    assert_eq!(
        config[""].get("version").map(String::as_str),
        Some("0.1"),
        "samconfig.toml's version"
    );
    for command in ["build", "sync"] {
        assert_eq!(
            config
                .get(&format!("default.{command}.parameters"))
                .and_then(|s| s.get("beta_features"))
                .map(String::as_str),
            Some("true"),
            "[default.{command}.parameters] beta_features"
        );
    }
}
