//! The dashboard in a real browser: Debian's `chromium`, driven through `chromedriver` with
//! fantoccini. The flow a new user follows: sign in, import through the form, search, create
//! and validate against the test DNS, read the overview's numbers, export the filtered list
//! as CSV, sign out and find the old cookie refused. axe-core (vendored in `tests/assets/axe`)
//! checks every page for serious or critical accessibility violations, and a screenshot of
//! each is saved under `target/tmp/browser/` to look at.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use time::OffsetDateTime;

use crate::support::{Db, TestApp};

const AXE: &str = include_str!("../assets/axe/axe.min.js");

/// A chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let child = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) must be installed; scripts/test.sh installs it");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{url}/status")).await.is_ok() {
                return Self { child, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start on {url}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1100", "--disable-gpu", "--no-first-run"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// Where the screenshots go.
fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Saves a screenshot and runs axe-core: no serious or critical violations allowed.
async fn check_page(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(shots().join(format!("{name}.png")), png).expect("write screenshot");
    c.execute(AXE, vec![]).await.expect("inject axe-core");
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                      v.nodes.map(n => n.target.join(' ')).join(', '))));",
            vec![],
        )
        .await
        .expect("axe.run");
    let violations: Vec<String> = serde_json::from_value(found).expect("violations list");
    assert!(violations.is_empty(), "{name}: {violations:#?}");
}

/// Clicks what navigates, and waits until the next page has loaded (a click may return
/// while its navigation is still under way).
async fn navigate_by(c: &Client, css: &str) -> reqwest::Url {
    c.execute("window.__ckOld = true;", vec![])
        .await
        .expect("mark page");
    click(c, css).await;
    for _ in 0..200 {
        let loaded = c
            .execute(
                "return window.__ckOld === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await
            .ok();
        if loaded == Some(json!(true)) {
            return c.current_url().await.expect("url");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} did not load a page");
}

async fn fill(c: &Client, id: &str, value: &str) {
    c.execute(
        "document.getElementById(arguments[0]).value = arguments[1];",
        vec![json!(id), json!(value)],
    )
    .await
    .expect("fill field");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

/// The texts of every element matching `css`.
async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.expect("find") {
        out.push(e.text().await.expect("text"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_in_chromium() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let driver = Driver::start().await;
    let c = browser(&driver).await;
    let base = &app.base;

    // 1. Sign in.
    c.goto(&format!("{base}/ui/")).await.expect("goto");
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/ui/login")
    );
    check_page(&c, "01-sign-in").await;
    c.find(Locator::Id("api_key"))
        .await
        .expect("key field")
        .send_keys(&app.admin_key)
        .await
        .expect("type key");
    let url = navigate_by(&c, "form.stack button[type=submit]").await;
    assert_eq!(url.path(), "/ui/");
    check_page(&c, "02-overview-empty").await;

    // 2. Import through the form: a certificate expiring in 20 days.
    let now = OffsetDateTime::now_utc();
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["imported.example.test".to_string()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "imported.example.test");
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(20);
    let cert = params.self_signed(&key).expect("self-signed");
    c.goto(&format!("{base}/ui/import")).await.expect("goto");
    check_page(&c, "03-import").await;
    fill(&c, "body", &cert.pem()).await;
    fill(&c, "private_key", &key.serialize_pem()).await;
    let url = navigate_by(&c, "#import").await;
    assert!(url.path().starts_with("/ui/certificates/"), "{url}");
    assert!(text(&c, ".notice").await.contains("Imported"));
    check_page(&c, "04-imported-detail").await;

    // 3. Search.
    c.goto(&format!("{base}/ui/inventory")).await.expect("goto");
    c.find(Locator::Id("q"))
        .await
        .expect("search box")
        .send_keys("imported.exa")
        .await
        .expect("type");
    navigate_by(&c, "form.filters button[type=submit]").await;
    assert_eq!(text(&c, "#count").await, "1 certificate");
    assert_eq!(texts(&c, "#certificates tbody tr").await.len(), 1);
    assert!(
        c.current_url()
            .await
            .expect("url")
            .query()
            .unwrap_or_default()
            .contains("q=imported.exa")
    );
    check_page(&c, "05-search").await;

    // 4. Create, publish the TXT records in the test DNS, validate.
    c.goto(&format!("{base}/ui/create")).await.expect("goto");
    check_page(&c, "06-create").await;
    c.find(Locator::Id("names"))
        .await
        .expect("names")
        .send_keys("web.example.test")
        .await
        .expect("type");
    let created: i64 = navigate_by(&c, "#create")
        .await
        .path()
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("created certificate id");
    let record = app
        .core
        .store()
        .certificate(certkeeper_domain::ids::CertificateId(created))
        .await
        .expect("read")
        .expect("created");
    let order = record.order().expect("an order");
    let source = c.source().await.expect("source");
    for ch in &order.challenges {
        assert!(source.contains(&ch.value), "the page shows the TXT value");
        app.dns.set_txt(&ch.record, &[ch.value.as_str()]).await;
    }
    check_page(&c, "07-created-pending").await;
    navigate_by(&c, "#validate").await;
    assert!(text(&c, ".notice").await.contains("issued"), "validated");
    check_page(&c, "08-validated").await;

    // 5. The overview's numbers.
    c.goto(&format!("{base}/ui/")).await.expect("goto");
    let tiles = texts(&c, ".tile").await;
    let tile = |label: &str| -> String {
        tiles
            .iter()
            .find(|t| t.contains(label))
            .unwrap_or_else(|| panic!("no {label} tile in {tiles:?}"))
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(tile("Certificates"), "2");
    assert_eq!(tile("Expiring within 30 days"), "1");
    assert_eq!(tile("Expired"), "0");
    let buckets = texts(&c, "#buckets-h + .chart-row tbody tr").await;
    assert!(buckets.iter().any(|r| r == "1–29 days 1"), "{buckets:?}");
    let weekly = texts(&c, "#issuance-h ~ .chart-row tbody td.num").await;
    let issued: i64 = weekly.iter().filter_map(|n| n.parse::<i64>().ok()).sum();
    assert_eq!(issued, 2, "{weekly:?}");
    check_page(&c, "09-overview").await;

    // 6. The expiring tile opens the inventory filtered to it; export that as CSV.
    navigate_by(&c, ".tile.warn").await;
    assert_eq!(text(&c, "#count").await, "1 certificate");
    check_page(&c, "10-expiring").await;
    let csv_href = c
        .find(Locator::LinkText("CSV"))
        .await
        .expect("CSV link")
        .attr("href")
        .await
        .expect("href")
        .expect("an href");
    let cookie = c
        .get_named_cookie("ck_session")
        .await
        .expect("session cookie")
        .value()
        .to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = if csv_href.starts_with('/') {
        format!("{base}{csv_href}")
    } else {
        csv_href
    };
    let csv = http
        .get(&url)
        .header("cookie", format!("ck_session={cookie}"))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].contains("imported.example.test"), "{csv}");

    // The other pages pass the same checks.
    for (path, name) in [
        ("/ui/collections", "12-collections"),
        ("/ui/collections/new", "13-collection-new"),
        ("/ui/jobs", "14-jobs"),
        ("/ui/notifications", "15-notifications"),
        ("/ui/acme", "16-acme"),
    ] {
        c.goto(&format!("{base}{path}")).await.expect("goto");
        check_page(&c, name).await;
    }

    // 7. Sign out; the old cookie is refused.
    navigate_by(&c, "form.signout button").await;
    assert!(text(&c, ".notice").await.contains("signed out"));
    check_page(&c, "11-signed-out").await;
    let replay = http
        .get(format!("{base}/ui/"))
        .header("cookie", format!("ck_session={cookie}"))
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status().as_u16(), 303);
    c.close().await.expect("close");
}
