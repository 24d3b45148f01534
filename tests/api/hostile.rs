//! Hostile clients against the real binary: a slow-loris client is cut off at the header
//! deadline, a thousand idle connections do not stop others from being served, and the
//! connection cap holds the rest back until slots free up.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary::serve;

fn addr_of(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_do_not_hold_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _) = serve(dir.path(), &["--header-read-timeout-seconds", "1"]);
    let addr = addr_of(&base);

    // Slow loris: headers that never end are cut off at the deadline.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the slow connection");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A thousand connections that send nothing; everyone else is still served.
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    let http = reqwest::Client::new();
    let t = Instant::now();
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // And the idle ones are closed at the deadline rather than kept.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut closed = 0;
    for mut c in idle.into_iter().take(50) {
        let mut b = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_secs(3), c.read(&mut b)).await {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 50,
        "idle connections are closed after the header deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_the_rest_back_until_slots_free() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, _) = serve(
        dir.path(),
        &[
            "--max-connections",
            "20",
            "--header-read-timeout-seconds",
            "2",
        ],
    );
    let addr = addr_of(&base);
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Give the server a moment to take all twenty.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(6),
        "served once the idle connections timed out: {waited:?}"
    );
    drop(idle);
}
