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
    has_secret_id: bool,
    has_secret_policy: bool,
    function_url: bool,
}

#[derive(Debug)]
struct Event {
    kind: String,
    pattern: Option<Value>,
    retry_policy: bool,
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
                        retry_policy: child(ev_props, "RetryPolicy").is_some(),
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
                e.retry_policy && e.dead_letters,
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
        let queue = json!({"Fn::GetAtt": [format!("{id}DeadLetters"), "Arn"]});
        let mut published: Option<Vec<String>> = None;
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
                "sqs" => vec![&queue],
                other => {
                    problems.push(format!("{id} {policy}: unexpected service {other}"));
                    continue;
                }
            };
            for r in as_list(&s["Resource"]) {
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
