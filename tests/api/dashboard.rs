//! The web dashboard over HTTP, without a browser: sign-in and sessions (cookie attributes,
//! CSRF, idle expiry, server-side sign-out), permissions that follow the key, the inventory's
//! filters, paging and exports, error pages, and that no page reaches another origin. The
//! browser drives the same pages in `browser.rs`.

use certkeeper_domain::apikey::Role;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use time::OffsetDateTime;

use crate::reports::import_dated;
use crate::support::{Db, TestApp, both_databases};

/// A browser without a browser: keeps cookies, follows no redirects.
pub(crate) struct Visitor {
    pub base: String,
    http: reqwest::Client,
    cookies: std::collections::BTreeMap<String, String>,
}

pub(crate) struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub content_type: String,
    pub csp: Option<String>,
    pub body: String,
}

impl Page {
    /// The value of the first hidden `name` field.
    pub fn field(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no {name} field in:\n{}", self.body))
            + needle.len();
        let end = self.body[start..].find('"').expect("closing quote") + start;
        self.body[start..end].to_string()
    }
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Default::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, r: reqwest::Response) -> Page {
        let h = r.headers().clone();
        let set_cookies: Vec<String> = h
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for c in &set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').expect("cookie pair");
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        Page {
            status: r.status().as_u16(),
            location: h
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            set_cookies,
            content_type: h
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            csp: h
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: r.text().await.expect("body"),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.read(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.read(r).await
    }

    /// Signs in with `key`; returns the page the sign-in redirected to.
    pub async fn sign_in(&mut self, key: &str) -> Page {
        let login = self.get("/ui/login").await;
        assert_eq!(login.status, 200, "{}", login.body);
        let csrf = login.field("csrf");
        let done = self
            .post(
                "/ui/login",
                &[("api_key", key), ("csrf", &csrf), ("next", "/ui/")],
            )
            .await;
        assert_eq!(done.status, 303, "sign-in: {}", done.body);
        done
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("ck_session").cloned()
    }

    pub fn set_session_cookie(&mut self, value: &str) {
        self.cookies.insert("ck_session".into(), value.into());
    }

    /// The CSRF token the signed-in chrome carries.
    pub async fn csrf(&mut self) -> String {
        self.get("/ui/inventory").await.field("csrf")
    }
}

async fn sign_in_and_out(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut v = Visitor::new(&app);
    // Not signed in: to the sign-in page, remembering where to come back to.
    let p = v.get("/ui/inventory?status=expired").await;
    assert_eq!(p.status, 303);
    assert_eq!(
        p.location.as_deref(),
        Some("/ui/login?next=%2Fui%2Finventory%3Fstatus%3Dexpired")
    );
    // A wrong key, and a form without its CSRF cookie, are refused.
    let login = v.get("/ui/login").await;
    let csrf = login.field("csrf");
    let bad = v
        .post("/ui/login", &[("api_key", "ck_nope"), ("csrf", &csrf)])
        .await;
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("not valid"), "{}", bad.body);
    let mut stranger = Visitor::new(&app);
    let forged = stranger
        .post("/ui/login", &[("api_key", &app.admin_key), ("csrf", &csrf)])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(stranger.session_cookie().is_none());

    let done = v.sign_in(&app.admin_key).await;
    assert_eq!(done.location.as_deref(), Some("/ui/"));
    let cookie = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with("ck_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let overview = v.get("/ui/").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("Expiring within 30 days"));
    assert!(
        overview
            .csp
            .as_deref()
            .unwrap_or_default()
            .contains("default-src 'none'")
    );

    // Sign-out needs the session's CSRF token, then ends the session on the server.
    let old = v.session_cookie().expect("cookie");
    let refused = v.post("/ui/logout", &[("csrf", "wrong")]).await;
    assert_eq!(refused.status, 403);
    let csrf = v.csrf().await;
    let out = v.post("/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 200);
    assert!(out.body.contains("signed out"), "{}", out.body);
    let mut replay = Visitor::new(&app);
    replay.set_session_cookie(&old);
    let p = replay.get("/ui/").await;
    assert_eq!(p.status, 303, "the old cookie must be refused");
}

async fn sessions_idle_out(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut v = Visitor::new(&app);
    v.sign_in(&app.admin_key).await;
    let start = app.clock_now();
    app.clock.set(start + time::Duration::minutes(29));
    assert_eq!(v.get("/ui/").await.status, 200);
    // Activity moved the idle window on.
    app.clock.set(start + time::Duration::minutes(58));
    assert_eq!(v.get("/ui/").await.status, 200);
    app.clock.set(start + time::Duration::minutes(89));
    let p = v.get("/ui/").await;
    assert_eq!(p.status, 303);
    assert!(p.location.unwrap_or_default().starts_with("/ui/login"));
}

async fn pages_follow_the_keys_grants(db: Db) {
    let app = TestApp::spawn(db).await;
    let other = app.new_project("other").await;
    let now = app.clock_now();
    let mine = import_dated(
        &app,
        &app.project,
        "mine.example.test",
        now - time::Duration::days(1),
        now + time::Duration::days(40),
    )
    .await;
    let theirs = import_dated(
        &app,
        &other,
        "theirs.example.test",
        now - time::Duration::days(1),
        now + time::Duration::days(40),
    )
    .await;

    // A viewer limited to the main project sees its certificates only, and cannot import.
    let viewer = app.key(Role::Viewer, Some(&app.project)).await;
    let mut v = Visitor::new(&app);
    v.sign_in(&viewer).await;
    let list = v.get("/ui/inventory").await;
    assert!(list.body.contains("mine.example.test"), "{}", list.body);
    assert!(!list.body.contains("theirs.example.test"));
    assert_eq!(
        v.get(&format!("/ui/certificates/{theirs}")).await.status,
        404
    );
    assert_eq!(v.get(&format!("/ui/certificates/{mine}")).await.status, 200);
    assert_eq!(
        v.get(&format!("/ui/inventory?project={}", other.id))
            .await
            .status,
        403
    );
    let csrf = v.csrf().await;
    let refused = v
        .post(
            "/ui/import",
            &[
                ("csrf", &csrf),
                ("project", &app.project.id.to_string()),
                ("body", "x"),
                ("private_key", "y"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("read-only"), "{}", refused.body);

    // A key limited to collections reads their reports only.
    let collection = app
        .core
        .create_collection(
            None,
            certkeeper_domain::collection::CollectionDefinition::new(
                "Mine",
                None,
                "IssuedCN -contains \"mine\"",
            )
            .expect("definition"),
        )
        .await
        .expect("collection");
    let reports = crate::reports::collection_key(&app, &[collection.id.0]).await;
    let mut r = Visitor::new(&app);
    r.sign_in(&reports).await;
    let o = r.get("/ui/").await;
    assert_eq!(o.status, 200, "{}", o.body);
    assert!(o.body.contains("reports only"), "{}", o.body);
    assert_eq!(r.get("/ui/inventory").await.status, 403);
}

async fn inventory_filters_pages_and_exports(db: Db) {
    let app = TestApp::spawn(db).await;
    let now: OffsetDateTime = app.clock_now();
    let day = time::Duration::days(1);
    for i in 0..7 {
        import_dated(
            &app,
            &app.project,
            &format!("soon{i}.example.test"),
            now - day,
            now + day * (i + 2),
        )
        .await;
    }
    import_dated(
        &app,
        &app.project,
        "later.example.test",
        now - day,
        now + day * 200,
    )
    .await;
    let expired = import_dated(
        &app,
        &app.project,
        "gone.example.test",
        now - day * 90,
        now - day * 3,
    )
    .await;
    let mut v = Visitor::new(&app);
    v.sign_in(&app.admin_key).await;

    // Days left, fewest first, is the default; the expired one comes first.
    let all = v.get("/ui/inventory").await;
    assert!(all.body.contains("9 certificates"), "{}", all.body);
    let table = all
        .body
        .split("id=\"certificates\"")
        .nth(1)
        .expect("the table");
    let first = table.find("gone.example.test").expect("expired listed");
    let soon = table.find("soon0.example.test").expect("soon listed");
    let later = table.find("later.example.test").expect("later listed");
    assert!(first < soon && soon < later);
    assert!(
        all.body.contains("dl-expired")
            && all.body.contains("dl-critical")
            && all.body.contains("dl-ok")
    );

    // Keyset pages of 4 walk the whole set once.
    let mut seen = Vec::new();
    let mut next = Some("/ui/inventory?size=4".to_string());
    let mut pages = Vec::new();
    while let Some(path) = next.take() {
        pages.push(path.clone());
        let p = v.get(&path).await;
        assert_eq!(p.status, 200, "{}", p.body);
        for part in p.body.split("<a href=\"/ui/certificates/").skip(1) {
            seen.push(part.split('?').next().unwrap_or_default().to_string());
        }
        next = p
            .body
            .split("rel=\"next\"")
            .next()
            .and_then(|head| head.rsplit("<a href=\"").next())
            .filter(|_| p.body.contains("rel=\"next\""))
            .map(|h| {
                h.split('"')
                    .next()
                    .unwrap_or_default()
                    .replace("&amp;", "&")
                    .replace("&#38;", "&")
            });
    }
    assert_eq!(seen.len(), 9, "{seen:?} {pages:?}");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 9);

    // Search by name prefix and by serial; a status filter; the sort is remembered.
    let s = v.get("/ui/inventory?q=soon3").await;
    assert!(s.body.contains("1 certificate<"), "{}", s.body);
    let detail = v.get(&format!("/ui/certificates/{expired}")).await;
    let serial = detail
        .body
        .split("<dt>Serial number</dt><dd>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("serial shown")
        .to_string();
    let by_serial = v.get(&format!("/ui/inventory?q={serial}")).await;
    assert!(
        by_serial.body.contains("gone.example.test"),
        "{}",
        by_serial.body
    );
    let issuer = detail
        .body
        .split("<dt>Issuer</dt><dd>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("issuer shown")
        .to_string();
    assert!(
        all.body.contains(&format!("<option value=\"{issuer}\">")),
        "the issuer is offered"
    );
    let by_issuer = v
        .get(&format!(
            "/ui/inventory?issuer={}",
            issuer.replace('=', "%3D").replace(' ', "%20")
        ))
        .await;
    assert!(
        by_issuer.body.contains("1 certificate<"),
        "{}",
        by_issuer.body
    );
    let e = v.get("/ui/inventory?status=expired").await;
    assert!(e.body.contains("1 certificate<") && e.body.contains("gone.example.test"));
    let newest = v.get("/ui/inventory?sort=newest").await;
    assert!(
        newest
            .set_cookies
            .iter()
            .any(|c| c.starts_with("ck_sort=newest"))
    );
    let again = v.get("/ui/inventory").await;
    assert!(
        again.body.contains("<option value=\"newest\" selected>"),
        "the sort is remembered"
    );

    // The CSV export is exactly the filtered set.
    let until: String = (now + day * 5i32).date().to_string();
    let csv = v
        .get(&format!(
            "/ui/inventory/export?format=csv&status=active&expires_until={until}"
        ))
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.content_type.starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("id,project_id,common_name"));
    let names: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(2).unwrap_or_default())
        .collect();
    assert_eq!(names.len(), 4, "{}", csv.body);
    assert!(names.iter().all(|n| n.starts_with("soon")), "{names:?}");
    let json = v.get("/ui/inventory/export?format=json&q=later").await;
    let rows: serde_json::Value = serde_json::from_str(&json.body).expect("json export");
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(rows[0]["commonName"], "later.example.test");

    // Bad input is a page saying what is wrong, never a 500.
    for (path, needle) in [
        ("/ui/inventory?status=bogus", "unknown status"),
        ("/ui/inventory?expires_until=soon", "expires_until"),
        ("/ui/inventory?after=x", "cursor"),
        ("/ui/inventory/export?format=xml", "csv or json"),
        ("/ui/certificates/abc", "not a certificate id"),
        ("/ui/certificates/999999", "not found"),
        ("/ui/nowhere", "no such page"),
    ] {
        let p = v.get(path).await;
        assert!((400..500).contains(&p.status), "{path}: {}", p.status);
        assert!(p.content_type.starts_with("text/html"), "{path}");
        assert!(p.body.to_lowercase().contains(needle), "{path}: {}", p.body);
    }
}

async fn collections_editor_points_at_errors(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut v = Visitor::new(&app);
    v.sign_in(&app.admin_key).await;
    let csrf = v.csrf().await;
    let bad = v
        .post(
            "/ui/collections",
            &[
                ("csrf", &csrf),
                ("name", "Broken"),
                ("description", ""),
                ("query", "IssuedCN -eq \"a\" AND"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("At character"), "{}", bad.body);
    assert!(bad.body.contains("<mark>"));
    let ok = v
        .post(
            "/ui/collections",
            &[
                ("csrf", &csrf),
                ("name", "Example"),
                ("description", "d"),
                ("query", "IssuedCN -contains \"example\""),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let list = v.get("/ui/collections").await;
    assert!(list.body.contains("Example"));
    let id = ok
        .location
        .expect("location")
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        list.body
            .contains(&format!("/ui/inventory?collection={id}")),
        "{}",
        list.body
    );
}

async fn bulk_revoke_keeps_the_filters(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut ids = Vec::new();
    for name in ["b1.example.test", "b2.example.test", "b3.example.test"] {
        let c = crate::lifecycle::create(&app, &[name]).await.ok().clone();
        app.publish(&app.dns, &c).await;
        let id = c["id"].as_i64().expect("id");
        app.call(
            reqwest::Method::PUT,
            &format!("{}/{id}/validate", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await
        .ok();
        ids.push(id.to_string());
    }
    let mut v = Visitor::new(&app);
    v.sign_in(&app.admin_key).await;
    let list = v.get("/ui/inventory?status=active").await;
    assert!(
        list.body.contains("name=\"ids\""),
        "checkboxes for an operator"
    );
    let csrf = list.field("csrf");
    let back = "/ui/inventory?status=active";
    let done = v
        .post(
            "/ui/inventory/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("action", "revoke"),
                ("back", back),
                ("ids", &ids[0]),
                ("ids", &ids[1]),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let to = done.location.expect("back to the list");
    assert!(
        to.starts_with("/ui/inventory?status=active&notice="),
        "{to}"
    );
    let after = v.get(&to).await;
    assert!(
        after.body.contains("Revoked 2 certificates."),
        "{}",
        after.body
    );
    assert!(after.body.contains("1 certificate<"), "{}", after.body);
    let revoked = v.get("/ui/inventory?status=revoked").await;
    assert!(revoked.body.contains("2 certificates"), "{}", revoked.body);
    // A viewer sees no checkboxes, and its bulk post is refused before it is read.
    let viewer = app.key(Role::Viewer, None).await;
    let mut w = Visitor::new(&app);
    w.sign_in(&viewer).await;
    let page = w.get("/ui/inventory").await;
    assert!(!page.body.contains("name=\"ids\""));
    let csrf = page.field("csrf");
    let refused = w
        .post(
            "/ui/inventory/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("action", "revoke"),
                ("ids", &ids[2]),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("read-only"), "{}", refused.body);
    // Malformed bulk posts, from a key that may write.
    let csrf = v.csrf().await;
    for (form, needle) in [
        (
            vec![
                ("csrf", csrf.as_str()),
                ("action", "explode"),
                ("ids", ids[2].as_str()),
            ],
            "renew or revoke",
        ),
        (
            vec![("csrf", csrf.as_str()), ("action", "renew")],
            "at least one",
        ),
        (
            vec![("csrf", csrf.as_str()), ("action", "renew"), ("ids", "x")],
            "not a certificate id",
        ),
        (
            vec![
                ("csrf", "nope"),
                ("action", "renew"),
                ("ids", ids[2].as_str()),
            ],
            "reload the page",
        ),
    ] {
        let p = v.post("/ui/inventory/bulk", &form).await;
        assert!((400..500).contains(&p.status), "{needle}: {}", p.status);
        assert!(
            p.body.to_lowercase().contains(needle),
            "{needle}: {}",
            p.body
        );
    }
}

/// Every page's links, images and forms stay on this origin; assets are embedded.
async fn no_page_reaches_another_origin(db: Db) {
    let app = TestApp::spawn(db).await;
    let now = OffsetDateTime::now_utc();
    let id = import_dated(
        &app,
        &app.project,
        "a.example.test",
        now - time::Duration::days(1),
        now + time::Duration::days(9),
    )
    .await;
    let mut v = Visitor::new(&app);
    let login = v.get("/ui/login").await;
    assert_external_free("/ui/login", &login.body);
    v.sign_in(&app.admin_key).await;
    for path in [
        "/ui/".to_string(),
        "/ui/inventory".into(),
        format!("/ui/certificates/{id}"),
        "/ui/import".into(),
        "/ui/create".into(),
        "/ui/collections".into(),
        "/ui/collections/new".into(),
        "/ui/jobs".into(),
        "/ui/notifications".into(),
        "/ui/acme".into(),
    ] {
        let p = v.get(&path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert_external_free(&path, &p.body);
    }
    let css = v.get("/ui/assets/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css.content_type.starts_with("text/css"));
    assert!(!css.body.contains("url("), "the stylesheet loads nothing");
}

fn assert_external_free(path: &str, html: &str) {
    for attr in ["href=\"", "src=\"", "action=\"", "srcset=\""] {
        for part in html.split(attr).skip(1) {
            let target = part.split('"').next().unwrap_or_default();
            assert!(
                target.starts_with('/') && !target.starts_with("//") || target.starts_with('#'),
                "{path} references {target:?}"
            );
        }
    }
    assert!(!html.contains("<script"), "{path} runs a script");
}

both_databases!(
    sign_in_and_out,
    sessions_idle_out,
    pages_follow_the_keys_grants,
    inventory_filters_pages_and_exports,
    collections_editor_points_at_errors,
    bulk_revoke_keeps_the_filters,
    no_page_reaches_another_origin,
);
