//! What the benchmarks share: running the release binary's CLI, starting its server on
//! loopback, and reporting latencies. Each bench uses part of it.
#![allow(
    dead_code,
    reason = "each bench target compiles this module and uses a part of it"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_certkeeper");

/// An environment variable parsed, or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `BENCH_DATABASE`: `sqlite` (default: a file in `dir`) or a `postgres://` URL of an empty
/// database.
pub fn bench_database(dir: &Path) -> String {
    match std::env::var("BENCH_DATABASE").unwrap_or_else(|_| "sqlite".into()) {
        s if s == "sqlite" => format!("sqlite://{}", dir.join("bench.db").display()),
        url => url,
    }
}

/// The database's kind, for the report.
pub fn database_kind(db: &str) -> &'static str {
    if db.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    }
}

/// A child process killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a certkeeper command against `db` and returns its standard output.
pub fn cli(dir: &Path, db: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(["--database", db, "--log", "error"])
        .current_dir(dir)
        .output()
        .expect("run certkeeper");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs a certkeeper command that prints JSON (`--json`) and parses it.
pub fn cli_json(dir: &Path, db: &str, args: &[&str]) -> Value {
    serde_json::from_str(&cli(dir, db, args)).expect("json")
}

/// A fresh admin API key's secret.
pub fn admin_key(dir: &Path, db: &str) -> String {
    cli_json(
        dir,
        db,
        &[
            "apikey", "create", "--name", "bench", "--role", "admin", "--json",
        ],
    )["key"]
        .as_str()
        .expect("key")
        .to_string()
}

/// Starts `certkeeper serve` on an ephemeral loopback port; returns it and its base URL.
pub fn serve(dir: &Path, db: &str, extra: &[String]) -> (Server, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "warn",
            "--database",
            db,
            // Benchmarks measure the server, not the per-key limiter that would cap them.
            "--rate-limit-burst",
            "0",
        ])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start server");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("listening line").expect("read");
        if let Some(url) = line.strip_prefix("listening on ") {
            return (server, url.to_string());
        }
    }
}

/// The latency at quantile `p` of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints count, rate and latency quantiles.
/// Prints one line of figures and returns the rate (requests per second).
pub fn report(name: &str, mut lat: Vec<Duration>, elapsed: Duration) -> f64 {
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{name}: {} requests in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
    );
    rate
}
