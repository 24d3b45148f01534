//! HTTPS on the listener: the built-in CA's certificate, and files reloaded on SIGHUP.

use std::process::Command;
use std::time::Duration;

use crate::binary::{BIN, serve};

fn client_trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn ca_show(dir: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(["ca", "show"])
        .current_dir(dir)
        .env_remove("CERTKEEPER_DATABASE")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn builtin_tls_is_trusted_through_ca_show_for_localhost_and_the_listen_ip() {
    let dir = tempfile::tempdir().unwrap();
    let root = ca_show(dir.path());
    let (_server, base, _) = serve(dir.path(), &["--tls-builtin"]);
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let port = base.rsplit(':').next().unwrap();
    let client = client_trusting(&root);
    for url in [
        format!("{base}/api/v1/jobs"),
        format!("https://localhost:{port}/api/v1/jobs"),
    ] {
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401, "{url}: TLS works, the API asks for a key");
    }
    // A client that does not trust the built-in root refuses the listener.
    assert!(reqwest::get(format!("{base}/api/v1/jobs")).await.is_err());
}

fn self_signed(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn certificate_files_are_reloaded_on_sighup_and_a_bad_pair_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = self_signed("localhost");
    let (cert_pem, key_pem) = (dir.path().join("tls.pem"), dir.path().join("tls.key"));
    std::fs::write(&cert_pem, &cert_a).unwrap();
    std::fs::write(&key_pem, &key_a).unwrap();
    let (server, base, _) = serve(
        dir.path(),
        &[
            "--tls-cert",
            cert_pem.to_str().unwrap(),
            "--tls-key",
            key_pem.to_str().unwrap(),
        ],
    );
    let url = format!(
        "https://localhost:{}/api/v1/jobs",
        base.rsplit(':').next().unwrap()
    );
    assert_eq!(
        client_trusting(&cert_a)
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // A key that does not match: refused, and the listener keeps certificate A.
    let (cert_b, key_b) = self_signed("localhost");
    std::fs::write(&cert_pem, &cert_b).unwrap();
    let hup = |pid: u32| {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    hup(server.0.id());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        client_trusting(&cert_a)
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    std::fs::write(&key_pem, &key_b).unwrap();
    hup(server.0.id());
    let mut switched = false;
    for _ in 0..50 {
        if let Ok(r) = client_trusting(&cert_b).get(&url).send().await {
            assert_eq!(r.status(), 401);
            switched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(switched, "the listener presents certificate B after SIGHUP");
    assert!(client_trusting(&cert_a).get(&url).send().await.is_err());
}

/// The CLI's `--ca-file` trusts a server on its built-in TLS; without it the CLI refuses the
/// connection (a local error, exit 1). The dashboard's cookies are `Secure` there.
#[tokio::test]
async fn the_cli_and_the_dashboard_over_builtin_tls() {
    let dir = tempfile::tempdir().unwrap();
    let root = ca_show(dir.path());
    let root_file = dir.path().join("root.pem");
    std::fs::write(&root_file, &root).unwrap();
    let key = Command::new(BIN)
        .args([
            "apikey", "create", "--name", "ops", "--role", "admin", "--json",
        ])
        .current_dir(dir.path())
        .env_remove("CERTKEEPER_DATABASE")
        .output()
        .unwrap();
    let key: serde_json::Value = serde_json::from_slice(&key.stdout).unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let (_server, base, _) = serve(dir.path(), &["--tls-builtin"]);
    let cli = |extra: &[&str]| {
        Command::new(BIN)
            .args(["collections", "list", "--server", &base, "--api-key", &key])
            .args(extra)
            .env("HOME", dir.path())
            .env_remove("CERTKEEPER_SERVER")
            .env_remove("CERTKEEPER_API_KEY")
            .output()
            .unwrap()
    };
    let ok = cli(&["--ca-file", root_file.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("All Certificates"));
    let untrusted = cli(&[]);
    assert_eq!(untrusted.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("cannot reach the server"));

    let login = client_trusting(&root)
        .get(format!("{base}/ui/login"))
        .send()
        .await
        .unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
}
