//! `acw console` in a real browser: the `acw` binary serves the page against the local stack
//! (moto and both simulators, as in `acw.rs`), and headless Chromium, driven over WebDriver
//! (`chromedriver`, Debian's `chromium-driver`), uses it as a service manager would. The test
//! changes state only through the page's controls and checks the results with `acw … --json`
//! and the simulators' state. Screenshots of each tab go to `target/console/`.
//!
//! The gate's refusals (no token, a wrong one, a foreign `Host`, a foreign `Origin`) are
//! checked at the HTTP level.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `acw console --no-open` with the stack's environment; returns it and the URL it printed.
async fn console(s: &Stack) -> (Running, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_acw"));
    cmd.env_clear()
        .args(["console", "--no-open"])
        .envs(s.vars.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    (running, first.trim().to_owned())
}

/// chromedriver on a free loopback port, ready.
async fn chromedriver() -> (Running, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{binary} did not start ({e}): `make test` installs Debian's chromium and \
                 chromium-driver (or set CHROMEDRIVER)"
            )
        });
    let running = Running(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (running, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {port}");
}

async fn browser(driver_port: u16) -> Client {
    let mut args = vec![
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1366,900",
    ];
    // Chromium refuses to run as root with its sandbox.
    if std::env::var("USER").as_deref() == Ok("root") || is_root() {
        args.push("--no-sandbox");
    }
    let mut chrome = json!({ "args": args });
    if let Ok(bin) = std::env::var("CHROME_BIN") {
        chrome["binary"] = json!(bin);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), chrome);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .unwrap()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Bytes transferred for the page now shown (document and stylesheet, headers included).
async fn page_weight(c: &Client) -> u64 {
    let v = c
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0];
             const res = performance.getEntriesByType('resource');
             return nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0);",
            vec![],
        )
        .await
        .unwrap();
    v.as_u64().unwrap()
}

/// Opens a tab by its link, as a person would; saves its screenshot; returns its weight
/// (printed for the tab's first load).
async fn open_tab(c: &Client, title: &str, slug: &str) -> u64 {
    open_tab_again(c, title, slug, true).await
}

async fn open_tab_again(c: &Client, title: &str, slug: &str, first: bool) -> u64 {
    c.find(Locator::LinkText(title))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_heading(c, title).await;
    let weight = page_weight(c).await;
    let path = screenshots().join(format!("{slug}.png"));
    std::fs::write(&path, c.screenshot().await.unwrap()).unwrap();
    if first {
        println!(
            "console tab={slug} bytes={weight} screenshot={}",
            path.canonicalize().unwrap().display()
        );
    }
    weight
}

/// The page's heading; empty while a page loads (or when an answer has none).
async fn heading(c: &Client) -> String {
    match c.find(Locator::Css("h1")).await {
        Ok(h) => h.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn wait_for_heading(c: &Client, starts: &str) {
    for _ in 0..100 {
        if heading(c).await.starts_with(starts) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the page never showed {starts:?}: {}",
        c.source().await.unwrap_or_default()
    );
}

async fn wait_for_url(c: &Client, part: &str) {
    for _ in 0..100 {
        if c.current_url()
            .await
            .is_ok_and(|u| u.as_str().contains(part))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never went to a URL with {part:?}");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// On a preview page: checks it is one, then presses Apply and waits for the result.
async fn apply_previewed(c: &Client, expect: &str) -> String {
    wait_for_heading(c, "Preview").await;
    let body = c.source().await.unwrap();
    assert!(
        body.contains(expect),
        "the preview shows {expect:?}: {body}"
    );
    click(c, "form[action='/apply'] button[type=submit]").await;
    wait_for_heading(c, "Done").await;
    c.source().await.unwrap()
}

/// Presses the button labelled `label`.
async fn press(c: &Client, label: &str) {
    c.find(Locator::XPath(&format!(
        "//button[normalize-space()='{label}']"
    )))
    .await
    .unwrap_or_else(|e| panic!("{label}: {e}"))
    .click()
    .await
    .unwrap();
}

async fn select(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .select_by_value(value)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_manager_sets_everything_up_from_the_page() {
    let s = stack().await;
    s.seed_products().await;
    s.seed_customer(41, "Contoso", "Customer");
    s.seed_customer(42, "Fabrikam", "Prospect");
    let seeded = s
        .cw
        .seed(json!({
            "companyTypes": [{"name": "Customer"}, {"name": "Prospect"}],
            "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}],
            "boards": [{"name": "Acronis alerts",
                "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Resolved", "closedStatus": true}],
                "types": [{"name": "Backup"}]}]
        }))
        .unwrap();
    let board_id = seeded["boards"][0]["id"].as_i64().unwrap();
    let status_new = seeded["boards"][0]["statuses"][0]["id"].as_i64().unwrap();

    let (_console, url) = console(&s).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let (_driver, driver_port) = chromedriver().await;
    let c = browser(driver_port).await;
    let mut pages = Vec::new();

    // Integration: what acw doctor checks.
    c.goto(&url).await.unwrap();
    wait_for_heading(&c, "Integration").await;
    pages.push(c.source().await.unwrap());
    let mut weights = vec![(
        "integration",
        open_tab(&c, "Integration", "integration").await,
    )];

    // Company mapping: filter by type (the options come from ConnectWise), tick Contoso, map
    // it to a new tenant (preview, then apply).
    weights.push((
        "companies",
        open_tab(&c, "Company mapping", "companies").await,
    ));
    pages.push(c.source().await.unwrap());
    select(&c, "#type", "Customer").await;
    click(&c, "form.filters button[type=submit]").await;
    wait_for_url(&c, "type=Customer").await;
    wait_for_heading(&c, "Company mapping").await;
    let filtered = c.source().await.unwrap();
    assert!(
        filtered.contains("Contoso") && !filtered.contains("Fabrikam"),
        "only the customer is listed: {filtered}"
    );
    click(&c, "#company-41").await;
    click(&c, "button[name=target][value=new]").await;
    let done = apply_previewed(&c, "Contoso").await;
    assert!(!done.contains("role=\"alert\""), "{done}");
    let listed = s.acw(&["companies", "list", "--json"]).await.ok().json();
    let contoso = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 41)
        .unwrap();
    let tenant = contoso["tenant_id"].as_str().unwrap().to_owned();
    assert_eq!(s.customer_tenants("Contoso").len(), 1);
    assert_eq!(s.customer_tenants("Contoso")[0]["id"], tenant.as_str());
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == 42 && r["tenant_id"].is_null()),
        "Fabrikam was not ticked"
    );

    // Provisioning: switch two-factor on.
    weights.push((
        "provisioning",
        open_tab(&c, "Provisioning", "provisioning").await,
    ));
    select(&c, "#provisioning-two_factor", "true").await;
    click(&c, "form.settings button[type=submit]").await;
    apply_previewed(&c, "two_factor").await;
    let p = s.acw(&["provisioning", "show", "--json"]).await.ok().json();
    assert_eq!(p["two_factor"], true, "{p}");

    // Ticket creation: choose the board, then map an alert type to its New status.
    weights.push(("tickets", open_tab(&c, "Ticket creation", "tickets").await));
    select(&c, "#board-choice", &board_id.to_string()).await;
    click(&c, "form:has(#board-choice) button[type=submit]").await;
    apply_previewed(&c, "board_id").await;
    open_tab_again(&c, "Ticket creation", "tickets", false).await;
    let row = c
        .find(Locator::XPath(
            "//tr[th[normalize-space()='BackupFailed']]//select[@name='status']",
        ))
        .await
        .unwrap();
    let form = row.attr("form").await.unwrap().unwrap();
    row.select_by_value(&status_new.to_string()).await.unwrap();
    click(&c, &format!("#{form} button")).await;
    apply_previewed(&c, "BackupFailed").await;
    let alerts = s.acw(&["alerts", "show", "--json"]).await.ok().json();
    assert_eq!(alerts["board_id"], board_id, "{alerts}");
    assert_eq!(
        alerts["types"]["BackupFailed"]["status_id"], status_new,
        "{alerts}"
    );
    // Its row now shows the mapping, chosen in the picker.
    open_tab_again(&c, "Ticket creation", "tickets", false).await;
    let chosen = c
        .find(Locator::XPath(
            "//tr[th[normalize-space()='BackupFailed']]//select[@name='status']/option[@selected]",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(chosen, "New");

    weights.push((
        "products",
        open_tab(&c, "Product mapping", "products").await,
    ));
    pages.push(c.source().await.unwrap());

    // Status: pause the usage push, see it paused, resume it.
    weights.push(("status", open_tab(&c, "Status", "status").await));
    press(&c, "Pause usage_push…").await;
    apply_previewed(&c, "usage_push").await;
    let jobs = s.acw(&["jobs", "list", "--json"]).await.ok().json();
    let push = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "usage_push")
        .unwrap();
    assert_eq!(push["paused"], true, "{jobs}");
    assert!(
        push["by"].as_str().unwrap().starts_with("acw console:"),
        "audited as the console's: {push}"
    );
    open_tab_again(&c, "Status", "status", false).await;
    let status_page = c.source().await.unwrap();
    assert!(status_page.contains("Resume usage_push…"), "{status_page}");
    // The dead letters per function, as `acw status` counts them (no STACK_NAME here: why).
    assert!(status_page.contains("Dead letters"), "{status_page}");
    assert!(
        status_page.contains("STACK_NAME is not set"),
        "{status_page}"
    );
    pages.push(status_page);
    press(&c, "Resume usage_push…").await;
    apply_previewed(&c, "usage_push").await;
    let jobs = s.acw(&["jobs", "list", "--json"]).await.ok().json();
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["paused"] == false),
        "{jobs}"
    );
    open_tab_again(&c, "Status", "status", false).await;
    assert!(c.source().await.unwrap().contains("Pause usage_push…"));

    // Every change went through the commands' own audit.
    let audited = s.audit_actions().await;
    for action in ["jobs.pause", "jobs.resume"] {
        assert!(audited.iter().any(|a| a == action), "{audited:?}");
    }
    // No secret ever reached the page.
    for page in &pages {
        assert!(!page.contains("sim-secret"), "a secret on the page");
    }
    for (tab, bytes) in &weights {
        assert!(*bytes > 0, "{tab}");
    }
    c.close().await.unwrap();
}

/// With two Acronis connections, the product and company tabs work in the one picked: its
/// offering items, its tenants, and what the page changes is stored in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tabs_work_in_the_picked_acronis_connection() {
    let s = stack().await;
    let us = s.add_second_data_centre().await;
    s.seed_customer(41, "Contoso", "Customer");
    let tenant = us
        .seed_tenant(json!({"name": "Contoso US", "kind": "customer"}))
        .unwrap();
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();

    let (_console, url) = console(&s).await;
    let (_driver, driver_port) = chromedriver().await;
    let c = browser(driver_port).await;
    c.goto(&url).await.unwrap();
    wait_for_heading(&c, "Integration").await;

    // Product mapping opens in `default` (its catalog has Microsoft 365 seats); picking `us`
    // shows that data centre's own items.
    open_tab(&c, "Product mapping", "products-default").await;
    let default_items = c.source().await.unwrap();
    assert!(
        default_items.contains("pw_base_m365_seats"),
        "{default_items}"
    );
    select(&c, "#connection", "us").await;
    click(&c, "form.filters button[type=submit]").await;
    wait_for_url(&c, "connection=us").await;
    wait_for_heading(&c, "Product mapping").await;
    let us_items = c.source().await.unwrap();
    assert!(us_items.contains("Offering items of us"), "{us_items}");
    assert!(!us_items.contains("pw_base_m365_seats"), "{us_items}");

    // Map the servers item of `us` to a product, from its row.
    let row = "//tr[td[1][normalize-space()='pw_base_servers']]";
    c.find(Locator::XPath(&format!("{row}//input[@name='product']")))
        .await
        .unwrap()
        .send_keys(&SERVERS_PRODUCT.to_string())
        .await
        .unwrap();
    c.find(Locator::XPath(&format!(
        "{row}//button[normalize-space()='Map…']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    apply_previewed(&c, "--connection=us").await;
    let mapped: Vec<_> = s
        .product_mappings()
        .await
        .into_iter()
        .filter(|m| m.offering_item == "pw_base_servers")
        .collect();
    assert_eq!(mapped.len(), 1, "{mapped:?}");
    assert_eq!(mapped[0].connection.as_str(), "us", "{mapped:?}");
    assert_eq!(mapped[0].product_id, Some(SERVERS_PRODUCT));

    // Company mapping: pick `us`, whose unmapped tenants the page offers; map Contoso to one.
    open_tab(&c, "Company mapping", "companies-us").await;
    select(&c, "#connection", "us").await;
    click(&c, "form.filters button[type=submit]").await;
    wait_for_url(&c, "connection=us").await;
    wait_for_heading(&c, "Company mapping").await;
    let offered = c.source().await.unwrap();
    assert!(
        offered.contains(&format!("value=\"{tenant_id}\"")),
        "the us tenant is offered: {offered}"
    );
    click(&c, "#company-41").await;
    c.find(Locator::Css("#tenant"))
        .await
        .unwrap()
        .send_keys(&tenant_id)
        .await
        .unwrap();
    click(&c, "button[name=target][value=existing]").await;
    apply_previewed(&c, "in connection us").await;
    let listed = s.acw(&["companies", "list", "--json"]).await.ok().json();
    let contoso = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 41)
        .unwrap()
        .clone();
    assert_eq!(contoso["connection"], "us", "{contoso}");
    assert_eq!(contoso["tenant_id"], json!(tenant_id), "{contoso}");

    // The list shows where the tenant is: data centre → partner connection → customer.
    open_tab_again(&c, "Company mapping", "companies-us", false).await;
    let page = c.source().await.unwrap();
    let us_host = us.url().trim_start_matches("http://").to_owned();
    assert!(
        page.contains(&format!("{us_host} → us → Contoso US")),
        "{page}"
    );
    assert!(!page.contains("sim-secret"), "a secret on the page");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_refuses_requests_without_its_token_host_or_origin() {
    let s = stack().await;
    let (_console, url) = console(&s).await;
    let (base, token) = url.split_once("/?token=").unwrap();
    let host = base.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let json_refusal = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert!(r.headers().get("location").is_none(), "never a redirect");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
        status
    };

    // No token, a wrong token, a wrong cookie.
    let r = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(json_refusal(r).await, 401);
    let r = http
        .get(format!("{base}/?token=not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_refusal(r).await, 403);
    let port = host.rsplit_once(':').unwrap().1;
    let r = http
        .get(format!("{base}/?tab=status"))
        .header("cookie", format!("acw_console_{port}=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_refusal(r).await, 403);

    // The token in the URL: the page, and an HttpOnly, SameSite=Strict cookie.
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    assert!(cookie.ends_with(token));
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(r.headers()["referrer-policy"], "same-origin");

    // DNS rebinding: the right token under a foreign Host.
    let r = http
        .get(&url)
        .header("host", format!("attacker.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_refusal(r).await, 421);
    let r = http
        .get(format!("http://localhost:{port}/?tab=status"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "localhost is the console's own name");

    // A change from a foreign page (or with no Origin at all) is refused, and nothing moves.
    let pause = [("action", "job-pause"), ("job", "usage_push")];
    for origin in [Some("http://attacker.example"), None] {
        let mut req = http
            .post(format!("{base}/apply"))
            .header("cookie", &cookie)
            .form(&pause);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        assert_eq!(json_refusal(req.send().await.unwrap()).await, 403);
    }
    let jobs = s.acw(&["jobs", "list", "--json"]).await.ok().json();
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["paused"] == false)
    );

    // From its own origin the same change goes through (so the refusals above are the gate's).
    let r = http
        .post(format!("{base}/apply"))
        .header("cookie", &cookie)
        .header("origin", base)
        .form(&pause)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let jobs = s.acw(&["jobs", "list", "--json"]).await.ok().json();
    assert!(jobs.as_array().unwrap().iter().any(|j| j["paused"] == true));

    // An unknown form is a clear 400, not a 500.
    let r = http
        .post(format!("{base}/preview"))
        .header("cookie", &cookie)
        .header("origin", base)
        .form(&[("action", "console")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("unknown action"));
}
