//! The served OpenAPI document against the server, by schemathesis (from PyPI, in the test
//! virtualenv `scripts/test.sh` makes): every check, a fixed seed, every phase including the
//! stateful one, at least 2,000 requests, and no failure.
//!
//! `scripts/schemathesis.sh` starts the real binary, seeds it and runs schemathesis with
//! `tests/schemathesis.toml`; the long run in docs/reliability.md is the same script with
//! more examples per operation.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::binary::BIN;

#[test]
fn the_openapi_document_and_the_server_agree() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let mut run = Command::new(root.join("scripts/schemathesis.sh"));
    run.arg("40").arg(out.path()).env("CERTKEEPER_BIN", BIN);
    if let Ok(st) = std::env::var("CERTKEEPER_TEST_SCHEMATHESIS") {
        run.env("ST", st);
    }
    let done = run.output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(done.status.success(), "schemathesis disagreed:\n{said}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["failures"], serde_json::json!([]), "{said}");
    assert_eq!(report["errors"], serde_json::json!([]), "{said}");
    // The examples phase runs only where the document gives examples, and is skipped when
    // they are too few to test with; every other phase must run and pass.
    for phase in ["examples", "coverage", "fuzzing", "stateful"] {
        let status = &report["phases"][phase]["status"];
        assert!(
            status == "success" || (phase == "examples" && status == "skip"),
            "phase {phase}: {status}: {said}"
        );
    }
    let cassette = std::fs::read_to_string(out.path().join("cassette.yaml")).unwrap();
    let requests = cassette.lines().filter(|l| l.starts_with("- id:")).count();
    assert!(requests >= 2_000, "only {requests} requests:\n{said}");
}
