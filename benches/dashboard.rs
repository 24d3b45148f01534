//! The dashboard at a large inventory: a signed-in browser's page loads over HTTP, one after
//! another, for the inventory's first page (days left, counted), deep keyset pages, a search,
//! status and expiry filters, another sort, the overview, and a streamed CSV export. The goal
//! is p99 ≤ 100 ms per page at 1M certificates. Run with `cargo bench --bench dashboard`; see
//! docs/benchmarks.md.
//!
//! Environment: `BENCH_DATABASE` (`sqlite`, the default, or an empty PostgreSQL database's
//! URL), `BENCH_CERTIFICATES` (default 1000000), `BENCH_REQUESTS` (default 100 per page).

// These drive a real server on the wall clock (and set test clocks from it).
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use support::{admin_key, bench_database, cli, cli_json, database_kind, env_or, percentile, serve};

/// A signed-in session's cookie header.
async fn sign_in(http: &reqwest::Client, base: &str, key: &str) -> String {
    let login = http
        .get(format!("{base}/ui/login"))
        .send()
        .await
        .expect("login page");
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("ck_login="))
        .and_then(|c| c.split(';').next())
        .expect("login cookie")
        .to_string();
    let csrf = cookie.trim_start_matches("ck_login=").to_string();
    let done = http
        .post(format!("{base}/ui/login"))
        .header("cookie", &cookie)
        .form(&[("api_key", key), ("csrf", &csrf)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(done.status(), 303, "sign-in refused");
    done.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("ck_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string()
}

/// A signed-in page load; it must succeed.
async fn page(http: &reqwest::Client, base: &str, cookie: String, path: String) -> String {
    let r = http
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.expect("body")
}

/// The `rel="next"` link of an inventory page.
fn next_link(html: &str) -> Option<String> {
    let head = html.split("rel=\"next\"").next()?;
    if head.len() == html.len() {
        return None;
    }
    let href = head.rsplit("<a href=\"").next()?.split('"').next()?;
    Some(href.replace("&#38;", "&").replace("&amp;", "&"))
}

#[tokio::main]
async fn main() {
    let total: i64 = env_or("BENCH_CERTIFICATES", 1_000_000);
    let requests: usize = env_or("BENCH_REQUESTS", 100);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = bench_database(dir.path());
    let t = Instant::now();
    print!(
        "{}",
        cli(
            dir.path(),
            &db,
            &[
                "dev",
                "seed",
                "--certificates",
                &total.to_string(),
                "--project",
                "big"
            ]
        )
    );
    println!(
        "{total} certificates seeded in {:.1} s ({})",
        t.elapsed().as_secs_f64(),
        database_kind(&db)
    );
    let (_server, base) = serve(dir.path(), &db, &[]);
    let key = admin_key(dir.path(), &db);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = sign_in(&http, &base, &key).await;
    // A viewer limited to the seeded project: its pages merge two index walks (the project's
    // own certificates and the organization-scoped ones).
    let limited = cli_json(
        dir.path(),
        &db,
        &[
            "apikey",
            "create",
            "--name",
            "limited",
            "--role",
            "viewer",
            "--project",
            "big",
            "--json",
        ],
    )["key"]
        .as_str()
        .expect("key")
        .to_string();
    let limited_cookie = sign_in(&http, &base, &limited).await;
    let get_as = |cookie: String, path: String| page(&http, &base, cookie, path);
    let get = |path: String| get_as(cookie.clone(), path);

    // Pages 2..=201 of the default listing, to time deep keyset pages.
    let first = get("/ui/inventory".into()).await;
    let mut deep = Vec::new();
    let mut next = next_link(&first);
    while let Some(link) = next.take() {
        deep.push(link.clone());
        if deep.len() >= 200 {
            break;
        }
        next = next_link(&get(link).await);
    }
    // A name to search for: the first row's.
    let name = first
        .split("<a href=\"/ui/certificates/")
        .nth(1)
        .and_then(|r| r.split('>').nth(1))
        .and_then(|r| r.split('<').next())
        .unwrap_or("example")
        .to_string();
    let prefix: String = name
        .chars()
        .take(name.len().saturating_sub(2).max(1))
        .collect();
    let in_30_days = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).date();
    let pages: Vec<(&str, Vec<String>)> = vec![
        (
            "inventory, first page (days left, counted)",
            vec!["/ui/inventory".into()],
        ),
        ("inventory, pages 2-201 by keyset", deep.clone()),
        (
            "inventory, search by name prefix",
            vec![format!("/ui/inventory?q={prefix}")],
        ),
        (
            "inventory, status expired",
            vec!["/ui/inventory?status=expired".into()],
        ),
        (
            "inventory, active and expiring within 30 days",
            vec![format!(
                "/ui/inventory?status=active&unrenewed=1&expires_until={in_30_days}"
            )],
        ),
        (
            "inventory, newest first",
            vec!["/ui/inventory?sort=newest".into()],
        ),
        (
            "inventory, status revoked",
            vec!["/ui/inventory?status=revoked".into()],
        ),
        ("overview", vec!["/ui/".into()]),
        (
            "inventory, one issuer",
            vec!["/ui/inventory?issuer=O%3Dcertkeeper%20Seed%2CCN%3Dcertkeeper%20Seed%20CA".into()],
        ),
        (
            "inventory, an issuer nothing has",
            vec!["/ui/inventory?issuer=CN%3Dnobody".into()],
        ),
    ];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("| page | p50 ms | p99 ms | requests |");
    println!("|---|---|---|---|");
    for (label, paths) in &pages {
        let mut times = Vec::with_capacity(requests);
        for i in 0..requests {
            let path = paths[i % paths.len()].clone();
            let t = Instant::now();
            get(path).await;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "| {label} | {:.1} | {:.1} | {requests} |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
        );
    }
    {
        let deep_limited: Vec<String> = deep.iter().take(50).cloned().collect();
        for (label, paths) in [
            (
                "project-limited key, first page",
                vec!["/ui/inventory".to_string()],
            ),
            ("project-limited key, pages 2-51", deep_limited),
        ] {
            let mut times = Vec::with_capacity(requests);
            for i in 0..requests {
                let t = Instant::now();
                get_as(limited_cookie.clone(), paths[i % paths.len()].clone()).await;
                times.push(t.elapsed());
            }
            times.sort();
            println!(
                "| {label} | {:.1} | {:.1} | {requests} |",
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.99)),
            );
        }
    }
    // A whole filtered export, streamed: the certificates expiring within 30 days.
    let t = Instant::now();
    let csv = get(format!(
        "/ui/inventory/export?format=csv&status=active&unrenewed=1&expires_until={in_30_days}"
    ))
    .await;
    let rows = csv.lines().count().saturating_sub(1);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "CSV export of the certificates expiring within 30 days: {rows} rows, {:.1} MB in {secs:.2} s ({:.0} rows/s)",
        csv.len() as f64 / 1e6,
        rows as f64 / secs
    );
    println!("at {total} certificates ({})", database_kind(&db));
}
