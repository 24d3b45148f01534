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
