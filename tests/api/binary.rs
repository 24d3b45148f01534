//! The built binary, started as a user starts it: one-shot commands and `serve`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_certkeeper");

pub fn run(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("CERTKEEPER_DATABASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Starts `serve`, returns the child, the base URL and every line printed before it.
pub fn serve(dir: &std::path::Path, extra: &[&str]) -> (KillOnDrop, String, Vec<String>) {
    serve_logging(dir, extra, Stdio::null())
}

/// [`serve`] with its log (standard error) going to `log`.
pub fn serve_logging(
    dir: &std::path::Path,
    extra: &[&str],
    log: Stdio,
) -> (KillOnDrop, String, Vec<String>) {
    // Owned by the guard from the start, so a failed assertion below still stops it.
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .current_dir(dir)
            .env_remove("CERTKEEPER_DATABASE")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut before = Vec::new();
    loop {
        let line = lines
            .next()
            .expect("serve printed its listening line")
            .unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            return (child, url.to_string(), before);
        }
        before.push(line);
    }
}

pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
