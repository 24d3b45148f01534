//! The ACME server end to end with a real client. Run with `cargo bench --bench acme`; see
//! docs/benchmarks.md.
//!
//! **One lego order**, process start to certificate on disk, http-01 with lego's own server:
//! the same command against certkeeper (SQLite, durable, `--tls-builtin`) and against
//! Debian's pebble (`PEBBLE_VA_NOSLEEP=1`, in memory), interleaved in one run so both see the
//! same machine. Names resolve through pebble-challtestsrv (127.0.0.1 for every name).
//!
//! Environment: `BENCH_ORDERS` (default 20 per CA).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use certkeeper_testkit::bind::ChallTestSrv;
use certkeeper_testkit::net::free_port;
use certkeeper_testkit::pebble::Pebble;
use support::{env_or, percentile, serve};

const BIN: &str = env!("CARGO_BIN_EXE_certkeeper");

/// One `lego run` for `name`; how long the process took.
fn lego_once(directory: &str, root: &Path, state: &Path, name: &str, http_port: u16) -> Duration {
    let start = Instant::now();
    let out = Command::new("lego")
        .env("LEGO_CA_CERTIFICATES", root)
        .args([
            "--server",
            directory,
            "--accept-tos",
            "--email",
            "bench@x.test",
            "--path",
        ])
        .arg(state)
        .args([
            "-d",
            name,
            "--http",
            "--http.port",
            &format!("127.0.0.1:{http_port}"),
            "run",
        ])
        .output()
        .expect("run lego (apt-get install lego)");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "lego against {directory}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(state.join(format!("certificates/{name}.crt")).exists());
    took
}

#[tokio::main]
async fn main() {
    let orders: usize = env_or("BENCH_ORDERS", 20);
    let dns = ChallTestSrv::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("certkeeper.db").display());
    let root_pem = Command::new(BIN)
        .args(["--database", &db, "ca", "show"])
        .current_dir(dir.path())
        .output()
        .expect("ca show");
    let root = dir.path().join("root.pem");
    std::fs::write(&root, &root_pem.stdout).expect("write root");
    let (ck_port, pebble_port) = (free_port(), free_port());
    let (_server, base) = serve(
        dir.path(),
        &db,
        &[
            "--tls-builtin".into(),
            "--dns-resolver".into(),
            dns.dns.to_string(),
            "--acme-http01-port".into(),
            ck_port.to_string(),
        ],
    );
    let project = support::cli_json(dir.path(), &db, &["project", "list", "--json"])[0]["id"]
        .as_str()
        .expect("the default project")
        .to_string();
    let ck_directory = format!("{base}/acme/{project}/directory");
    let pebble = Pebble::start_with_http_port(dns.dns, pebble_port).await;

    let (mut ck, mut peb) = (Vec::new(), Vec::new());
    for i in 0..orders {
        let name = format!("o{i}.bench.example.test");
        let state = dir.path().join(format!("lego-ck-{i}"));
        ck.push(lego_once(&ck_directory, &root, &state, &name, ck_port));
        let state = dir.path().join(format!("lego-pebble-{i}"));
        peb.push(lego_once(
            &pebble.directory,
            &pebble.tls_root,
            &state,
            &name,
            pebble_port,
        ));
    }
    ck.sort();
    peb.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (ck50, peb50) = (percentile(&ck, 0.5), percentile(&peb, 0.5));
    println!(
        "lego order, process start to certificate on disk ({orders} each, interleaved): \
         certkeeper p50 {:.0} ms, p90 {:.0} ms; pebble p50 {:.0} ms, p90 {:.0} ms; \
         certkeeper/pebble p50 ratio {:.2} (goal: certkeeper p50 <= 300 ms)",
        ms(ck50),
        ms(percentile(&ck, 0.9)),
        ms(peb50),
        ms(percentile(&peb, 0.9)),
        ck50.as_secs_f64() / peb50.as_secs_f64(),
    );
}
