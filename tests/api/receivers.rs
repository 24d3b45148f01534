//! Independent receivers the notification tests deliver to: a Python webhook receiver that
//! verifies signatures with the `standardwebhooks` package from PyPI, and an aiosmtpd SMTP
//! sink. `scripts/test.sh` makes a virtualenv with both (`CERTKEEPER_TEST_PYTHON`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use certkeeper_testkit::net::{free_port, wait_for_tcp};
use serde_json::Value;

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("CERTKEEPER_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with standardwebhooks and aiosmtpd: run ./scripts/test.sh, or set CERTKEEPER_TEST_PYTHON"
    );
    venv
}

fn addr(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/receivers")
        .join(name)
}

/// The webhook receiver; killed when dropped.
pub struct WebhookReceiver {
    child: Child,
    _dir: tempfile::TempDir,
    out: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl WebhookReceiver {
    pub async fn start(secret: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("received.jsonl");
        let port = free_port();
        let mut child = Command::new(python())
            .arg(script("webhook.py"))
            .arg(port.to_string())
            .arg(&out)
            .arg(secret)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the webhook receiver");
        wait_for_tcp(addr(port), &mut child, "webhook receiver").await;
        Self {
            child,
            _dir: dir,
            out,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Every request received so far: `{"path", "id", "verified", "body"}`.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("receiver line"))
            .collect()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SMTP sink; killed when dropped.
pub struct SmtpSink {
    child: Child,
    dir: tempfile::TempDir,
    pub addr: std::net::SocketAddr,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut child = Command::new(python())
            .arg(script("smtp.py"))
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the SMTP sink");
        wait_for_tcp(addr(port), &mut child, "SMTP sink").await;
        Self {
            child,
            dir,
            addr: format!("127.0.0.1:{port}").parse().expect("addr"),
        }
    }

    /// The messages received so far, as sent, in order.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(self.dir.path())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let p = e.path();
                        let n = p.file_stem()?.to_str()?.parse().ok()?;
                        (p.extension()? == "eml").then_some((n, p))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| std::fs::read_to_string(p).expect("message"))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
