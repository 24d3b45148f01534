//! The CLI as a client of a running server: the built binary run as a user runs it, against
//! a server on an ephemeral port. Sign-in profile, folder import with pairing and PKCS#12,
//! listing and output formats, create + validate, reports, collections, exit codes.

use std::path::Path;
use std::process::{Command, Output};

use certkeeper_domain::apikey::Role;
use certkeeper_testkit as fx;
use serde_json::Value;

use crate::binary::BIN;
use crate::support::{Db, TestApp};

/// Runs the binary with `home` as its HOME (where `login` saves its profile).
fn cli(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CERTKEEPER_SERVER")
        .env_remove("CERTKEEPER_API_KEY")
        .env_remove("CERTKEEPER_PROJECT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run certkeeper")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_import_list_and_exit_codes() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let home = tempfile::tempdir().expect("home");
    let project = app.project.id.to_string();

    // Nothing configured: a local error, exit 1, one line saying what to do.
    let o = cli(home.path(), &["certs", "list"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--server"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);

    // A bad key is refused by the server before anything is saved: exit 2.
    let o = cli(
        home.path(),
        &["login", "--server", &app.base, "--api-key", "ck_wrong"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let profile = home.path().join(".config/certkeeper/config.toml");
    assert!(!profile.exists());
    let o = cli(
        home.path(),
        &[
            "login",
            "--server",
            &app.base,
            "--api-key",
            &app.admin_key,
            "--project",
            &project,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&profile)
            .expect("profile")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A folder as certbot, web servers and Windows leave it.
    let certs = tempfile::tempdir().expect("certs");
    let live = certs.path().join("letsencrypt/live/a.example");
    std::fs::create_dir_all(&live).expect("dirs");
    std::fs::write(live.join("cert.pem"), fx::RSA2048_CERT).expect("write");
    std::fs::write(live.join("privkey.pem"), fx::RSA2048_KEY).expect("write");
    std::fs::write(live.join("chain.pem"), fx::CHAIN).expect("write");
    std::fs::write(
        live.join("fullchain.pem"),
        format!("{}{}", fx::RSA2048_CERT, fx::CHAIN),
    )
    .expect("write");
    let web = certs.path().join("nginx");
    std::fs::create_dir_all(&web).expect("dirs");
    std::fs::write(web.join("shop.crt"), fx::P256_CERT).expect("write");
    std::fs::write(web.join("shop.key"), fx::P256_KEY).expect("write");
    std::fs::write(web.join("lonely.crt"), fx::ED25519_CERT).expect("write");
    // The same certificate again elsewhere: a duplicate, not a failure.
    let again = certs.path().join("backup");
    std::fs::create_dir_all(&again).expect("dirs");
    std::fs::write(again.join("shop.pem"), fx::P256_CERT).expect("write");
    std::fs::write(again.join("shop.key"), fx::P256_KEY).expect("write");
    // PKCS#12, as Windows exports it.
    let pem_dir = tempfile::tempdir().expect("tmp");
    std::fs::write(pem_dir.path().join("c.pem"), fx::P384_CERT).expect("write");
    std::fs::write(pem_dir.path().join("k.pem"), fx::P384_KEY).expect("write");
    let p12 = certs.path().join("windows.pfx");
    let made = Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:s3cret", "-out"])
        .arg(&p12)
        .arg("-in")
        .arg(pem_dir.path().join("c.pem"))
        .arg("-inkey")
        .arg(pem_dir.path().join("k.pem"))
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let dir = certs.path().to_str().expect("utf-8 path");
    let o = cli(
        home.path(),
        &["import", dir, "--password", "s3cret", "-o", "json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "a file failed: {}", stderr(&o));
    let summary: Value = serde_json::from_slice(&o.stdout).expect("summary JSON");
    assert_eq!(
        summary["imported"].as_array().map(Vec::len),
        Some(3),
        "{summary}"
    );
    assert_eq!(
        summary["duplicates"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );
    let failed = summary["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{summary}");
    assert!(
        failed[0]["file"]
            .as_str()
            .unwrap_or_default()
            .ends_with("lonely.crt")
    );
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no private key")
    );
    // In JSON mode the error is a JSON object on stderr too.
    let err: Value = serde_json::from_str(stderr(&o).trim()).expect("JSON error");
    assert_eq!(err["kind"], "local");

    // The profile is used when no flags are given; every output format.
    let listed = json_out(&cli(home.path(), &["certs", "list", "-o", "json"], &[]));
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    let table = stdout(&cli(home.path(), &["certs", "list"], &[]));
    assert!(table.starts_with("ID  "), "{table}");
    assert_eq!(table.lines().count(), 4);
    let csv = stdout(&cli(
        home.path(),
        &["certs", "list", "--output", "csv"],
        &[],
    ));
    assert!(csv.starts_with("ID,DOMAIN,STATUS"), "{csv}");
    let id = listed[0]["id"].as_i64().expect("id").to_string();
    let shown = json_out(&cli(
        home.path(),
        &["certs", "show", &id, "-o", "json"],
        &[],
    ));
    assert_eq!(
        shown["id"].as_i64().map(|i| i.to_string()),
        Some(id.clone())
    );
    let out = home.path().join("fullchain.pem");
    let o = cli(
        home.path(),
        &[
            "certs",
            "download",
            &id,
            "--out",
            out.to_str().expect("path"),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(&out)
            .expect("pem")
            .contains("BEGIN CERTIFICATE")
    );

    // Flags and environment win over the profile; a viewer's delete is refused: exit 2.
    let viewer = app.key(Role::Viewer, None).await;
    let o = cli(
        home.path(),
        &["certs", "delete", &id],
        &[("CERTKEEPER_API_KEY", viewer.as_str())],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("403"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked") && !stderr(&o).contains("Error {"));
    let o = cli(
        home.path(),
        &["certs", "list", "--project", "not-a-uuid"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));

    // Create prints the TXT records; validate issues once they are published.
    let created = json_out(&cli(
        home.path(),
        &["create", "cli.example.test", "-o", "json"],
        &[],
    ));
    let records = created["dnsRecords"].as_array().expect("records");
    for r in records {
        app.dns
            .set_txt(
                r["key"].as_str().expect("key"),
                &[r["value"].as_str().expect("value")],
            )
            .await;
    }
    let text = stdout(&cli(
        home.path(),
        &["certs", "show", &created["id"].to_string()],
        &[],
    ));
    assert!(text.contains("cli.example.test"));
    let issued = json_out(&cli(
        home.path(),
        &["validate", &created["id"].to_string(), "-o", "json"],
        &[],
    ));
    assert_eq!(issued["certificateStatus"], "Active", "{issued}");

    // Reports and collections.
    let weekly = json_out(&cli(
        home.path(),
        &["report", "issuance", "--weeks", "4", "-o", "json"],
        &[],
    ));
    assert_eq!(weekly.as_array().map(Vec::len), Some(4));
    let expiring = stdout(&cli(home.path(), &["report", "expiring"], &[]));
    assert!(expiring.starts_with("DAYS"), "{expiring}");
    let made = json_out(&cli(
        home.path(),
        &[
            "collections",
            "create",
            "--name",
            "Shop",
            "--query",
            "IssuedCN -contains \"shop\"",
            "-o",
            "json",
        ],
        &[],
    ));
    let cid = made["Id"].to_string();
    let all = stdout(&cli(home.path(), &["collections", "list"], &[]));
    assert!(all.contains("Shop"), "{all}");
    let bad = cli(
        home.path(),
        &[
            "collections",
            "create",
            "--name",
            "Bad",
            "--query",
            "IssuedCN -eq",
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("400"), "{}", stderr(&bad));
    assert!(
        cli(home.path(), &["collections", "delete", &cid], &[])
            .status
            .success()
    );

    // Help shows an example; completions print.
    let help = stdout(&cli(home.path(), &["import", "--help"], &[]));
    assert!(help.contains("Example"), "{help}");
    let bash = stdout(&cli(home.path(), &["completions", "bash"], &[]));
    assert!(bash.contains("_certkeeper"));
}
