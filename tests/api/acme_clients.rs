//! The ACME server with real clients, unchanged, against the real binary over HTTPS with its
//! built-in TLS: acme-tiny and dehydrated (http-01 from a webroot), lego (http-01 and
//! tls-alpn-01 with its own server, dns-01 through its exec provider into
//! pebble-challtestsrv), certbot (standalone http-01), Caddy (`acme_ca`, serving a site with
//! what it got), uacme (http-01 from a webroot). lego, certbot and uacme also revoke, and
//! openssl sees it through OCSP and the CRL. Names resolve through
//! pebble-challtestsrv, which answers 127.0.0.1 for every A query.

use std::path::{Path, PathBuf};
use std::process::Command;

use certkeeper_testkit::bind::ChallTestSrv;
use certkeeper_testkit::net::free_port;
use serde_json::Value;

use crate::binary::{BIN, KillOnDrop, serve};
use crate::support::{Db, TestDb, both_databases};

both_databases!(lego_http01_issues_renews_and_fills_the_inventory);

/// A fresh certkeeper with --tls-builtin, its root, its first project's directory and admin key.
pub(crate) struct AcmeCertkeeper {
    pub _server: KillOnDrop,
    pub _db: TestDb,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub root: PathBuf,
    pub directory: String,
    pub project: String,
    pub admin_key: String,
    pub http01_port: u16,
    pub tlsalpn01_port: u16,
    pub dns: ChallTestSrv,
}

impl AcmeCertkeeper {
    pub async fn start(db: Db) -> Self {
        let db = TestDb::new(db).await;
        let dir = tempfile::tempdir().unwrap();
        let dns = ChallTestSrv::start().await;
        let global = ["--database", db.url.as_str()];
        let out = Command::new(BIN)
            .args(global)
            .args(["ca", "show"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let root = dir.path().join("root.pem");
        std::fs::write(&root, &out.stdout).unwrap();
        let http01_port = free_port();
        let tlsalpn01_port = free_port();
        let (resolver, port) = (dns.dns.to_string(), http01_port.to_string());
        let alpn_port = tlsalpn01_port.to_string();
        let (server, base, before) = serve(
            dir.path(),
            &[
                "--database",
                &db.url,
                "--tls-builtin",
                "--dns-resolver",
                &resolver,
                "--acme-http01-port",
                &port,
                "--acme-tlsalpn01-port",
                &alpn_port,
            ],
        );
        let find = |prefix: &str| -> String {
            before
                .iter()
                .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.to_string()))
                .unwrap_or_else(|| panic!("{prefix} in {before:?}"))
        };
        let project = find("(projectId ").split(',').next().unwrap().to_string();
        let admin_key = find("store it now): ");
        Self {
            directory: format!("{base}/acme/{project}/directory"),
            _server: server,
            _db: db,
            dir,
            base,
            root,
            project,
            admin_key,
            http01_port,
            tlsalpn01_port,
            dns,
        }
    }

    /// A one-shot command on this server's database; its standard output.
    pub fn cli(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(BIN)
            .args(["--database", &self._db.url])
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The project's inventory, through the API.
    pub async fn inventory(&self) -> Vec<Value> {
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&self.root).unwrap()).unwrap(),
            )
            .build()
            .unwrap();
        let r: Value = client
            .get(format!(
                "{}/api/v1/projects/{}/certificates",
                self.base, self.project
            ))
            .header("X-API-Key", &self.admin_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["result"].as_array().cloned().unwrap_or_default()
    }
}

/// Runs a client to completion; panics with its output when it fails.
pub(crate) fn run_client(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// The names in a PEM certificate, and that it chains to `root`.
pub(crate) fn verify_with_openssl(root: &Path, cert: &Path) -> String {
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(root)
        .arg("-untrusted")
        .arg(cert)
        .arg(cert)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "openssl verify: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    String::from_utf8_lossy(&text.stdout).to_string()
}

fn lego(ck: &AcmeCertkeeper, args: &[&str]) -> Command {
    let mut cmd = Command::new("lego");
    cmd.env("LEGO_CA_CERTIFICATES", &ck.root)
        .args([
            "--server",
            &ck.directory,
            "--accept-tos",
            "--email",
            "t@x.test",
            "--path",
        ])
        .arg(ck.dir.path().join("lego"))
        .args(args);
    cmd
}

async fn lego_http01_issues_renews_and_fills_the_inventory(db: Db) {
    let ck = AcmeCertkeeper::start(db).await;
    let listen = format!("127.0.0.1:{}", ck.http01_port);
    let names = ["-d", "www.example.test", "-d", "example.test"];
    let mut args = names.to_vec();
    args.extend(["--http", "--http.port", &listen, "run"]);
    run_client(&mut lego(&ck, &args), "lego run");
    let cert = ck.dir.path().join("lego/certificates/www.example.test.crt");
    let sans = verify_with_openssl(&ck.root, &cert);
    assert!(
        sans.contains("DNS:www.example.test") && sans.contains("DNS:example.test"),
        "{sans}"
    );
    let first = std::fs::read(&cert).unwrap();

    let mut args = names.to_vec();
    args.extend([
        "--http",
        "--http.port",
        &listen,
        "renew",
        "--days",
        "3650",
        "--no-random-sleep",
    ]);
    run_client(&mut lego(&ck, &args), "lego renew");
    assert!(
        std::fs::read(&cert).unwrap() != first,
        "lego renew wrote a new certificate"
    );
    verify_with_openssl(&ck.root, &cert);

    // lego revokes the renewed one (superseded); the CRL and OCSP say so.
    let issuer = ck
        .dir
        .path()
        .join("lego/certificates/www.example.test.issuer.crt");
    assert_eq!(ocsp_status(&ck, &cert, &issuer), "good");
    let mut args = names.to_vec();
    args.extend(["revoke", "--reason", "4", "--keep"]);
    run_client(&mut lego(&ck, &args), "lego revoke");
    assert_revoked(&ck, &cert, &issuer).await;

    // The CLI lists the account lego registered, and deactivates it.
    let cli = |args: &[&str]| -> Value { serde_json::from_slice(&ck.cli(args)).unwrap() };
    let accounts = cli(&["acme", "accounts", "--project", "default"]);
    assert_eq!(accounts.as_array().unwrap().len(), 1, "{accounts}");
    assert_eq!(
        accounts[0]["contact"],
        serde_json::json!(["mailto:t@x.test"])
    );
    let id = accounts[0]["id"].as_str().unwrap();
    let off = cli(&[
        "acme",
        "deactivate",
        "--project",
        "default",
        "--account",
        id,
    ]);
    assert_eq!(off["status"], "deactivated");

    let inventory = ck.inventory().await;
    let statuses: Vec<&Value> = inventory
        .iter()
        .filter(|c| c["domainName"] == "www.example.test" && c["additionalNames"] == "example.test")
        .map(|c| &c["certificateStatus"])
        .collect();
    assert_eq!(
        statuses,
        ["Active", "Revoked"],
        "both certificates are in the inventory: {inventory:#?}"
    );
}

/// What the OCSP responder named in `cert` says about it, asked by openssl.
fn ocsp_status(ck: &AcmeCertkeeper, cert: &Path, issuer: &Path) -> String {
    let url = format!("{}/pki/ocsp", ck.base);
    let out = Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-url", &url, "-CAfile"])
        .arg(&ck.root)
        .arg("-issuer")
        .arg(issuer)
        .arg("-cert")
        .arg(cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "openssl ocsp: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| {
            l.split_once(": ")
                .filter(|(f, _)| f.ends_with(".crt") || f.ends_with(".pem"))
        })
        .map(|(_, s)| s.trim().to_string())
        .unwrap_or_else(|| panic!("no status in {text}"))
}

/// `cert` is revoked by OCSP at once, and on the CRL within a few seconds (the revocation
/// wakes the server's scheduler, which signs the CRL).
pub(crate) async fn assert_revoked(ck: &AcmeCertkeeper, cert: &Path, issuer: &Path) {
    assert_eq!(ocsp_status(ck, cert, issuer), "revoked");
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&ck.root).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let crl = ck.dir.path().join("crl.der");
    for _ in 0..50 {
        let der = client
            .get(format!("{}/pki/crl", ck.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        std::fs::write(&crl, der).unwrap();
        let pem = ck.dir.path().join("crl.pem");
        let conv = Command::new("openssl")
            .args(["crl", "-inform", "DER", "-in"])
            .arg(&crl)
            .arg("-out")
            .arg(&pem)
            .output()
            .unwrap();
        assert!(conv.status.success());
        let verify = Command::new("openssl")
            .args(["verify", "-crl_check", "-CRLfile"])
            .arg(&pem)
            .arg("-CAfile")
            .arg(&ck.root)
            .arg("-untrusted")
            .arg(issuer)
            .arg(cert)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&verify.stdout).to_string()
            + &String::from_utf8_lossy(&verify.stderr);
        if said.contains("certificate revoked") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the CRL never listed {}", cert.display());
}

#[tokio::test]
async fn lego_tlsalpn01_with_its_own_server() {
    let ck = AcmeCertkeeper::start(Db::Sqlite).await;
    let listen = format!("127.0.0.1:{}", ck.tlsalpn01_port);
    run_client(
        &mut lego(
            &ck,
            &[
                "-d",
                "alpn.example.test",
                "--tls",
                "--tls.port",
                &listen,
                "run",
            ],
        ),
        "lego tls-alpn-01",
    );
    let cert = ck
        .dir
        .path()
        .join("lego/certificates/alpn.example.test.crt");
    assert!(verify_with_openssl(&ck.root, &cert).contains("DNS:alpn.example.test"));
}

/// Caddy with `acme_ca` pointed at certkeeper serves a site on loopback with the certificate
/// it got (http-01 or tls-alpn-01, its choice), trusting `certkeeper ca show` for the CA.
#[tokio::test]
async fn caddy_gets_its_site_certificate_from_certkeeper() {
    let ck = AcmeCertkeeper::start(Db::Sqlite).await;
    let home = ck.dir.path().join("caddy");
    std::fs::create_dir_all(&home).unwrap();
    let caddyfile = home.join("Caddyfile");
    std::fs::write(
        &caddyfile,
        format!(
            "{{\n  admin off\n  acme_ca {dir}\n  acme_ca_root {root}\n  storage file_system {store}\n  http_port {http}\n  https_port {https}\n  skip_install_trust\n  ocsp_stapling off\n}}\ncaddy.example.test {{\n  respond \"served by caddy\"\n}}\n",
            dir = ck.directory,
            root = ck.root.display(),
            store = home.join("data").display(),
            http = ck.http01_port,
            https = ck.tlsalpn01_port,
        ),
    )
    .unwrap();
    let _caddy = KillOnDrop(
        Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&caddyfile)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("xdg-data"))
            .env("XDG_CONFIG_HOME", home.join("xdg-config"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(home.join("caddy.log")).unwrap())
            .spawn()
            .expect("run caddy (apt-get install caddy)"),
    );
    let site = format!("https://caddy.example.test:{}/", ck.tlsalpn01_port);
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&ck.root).unwrap()).unwrap(),
        )
        .resolve(
            "caddy.example.test",
            std::net::SocketAddr::from(([127, 0, 0, 1], ck.tlsalpn01_port)),
        )
        .build()
        .unwrap();
    let mut last = String::new();
    for _ in 0..120 {
        match client.get(&site).send().await {
            Ok(r) if r.status() == 200 => {
                assert_eq!(r.text().await.unwrap(), "served by caddy");
                let inventory = ck.inventory().await;
                assert!(
                    inventory
                        .iter()
                        .any(|c| c["domainName"] == "caddy.example.test"
                            && c["certificateStatus"] == "Active"),
                    "{inventory:#?}"
                );
                return;
            }
            Ok(r) => last = format!("status {}", r.status()),
            Err(e) => last = format!("{e:?}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!(
        "caddy never served with certkeeper's certificate ({last}):\n{}",
        std::fs::read_to_string(home.join("caddy.log")).unwrap_or_default()
    );
}

#[tokio::test]
async fn lego_dns01_through_its_exec_provider_gets_a_wildcard() {
    let ck = AcmeCertkeeper::start(Db::Sqlite).await;
    let script = ck.dir.path().join("dns.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\ncase \"$1\" in\n  present) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" {m}/set-txt ;;\n  cleanup) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2\\\"}}\" {m}/clear-txt ;;\nesac\n",
            m = ck.dns.management
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let resolver = ck.dns.dns.to_string();
    let mut cmd = lego(
        &ck,
        &[
            "-d",
            "*.wild.example.test",
            "--dns",
            "exec",
            "--dns.resolvers",
            &resolver,
            "--dns.disable-cp",
            "run",
        ],
    );
    cmd.env("EXEC_PATH", &script)
        .env("EXEC_PROPAGATION_TIMEOUT", "10")
        .env("EXEC_POLLING_INTERVAL", "1");
    run_client(&mut cmd, "lego dns-01");
    let cert = ck
        .dir
        .path()
        .join("lego/certificates/_.wild.example.test.crt");
    let sans = verify_with_openssl(&ck.root, &cert);
    assert!(sans.contains("DNS:*.wild.example.test"), "{sans}");
}

#[tokio::test]
async fn lego_with_an_external_account_binding_from_the_cli() {
    let ck = AcmeCertkeeper::start(Db::Sqlite).await;
    let cli = |args: &[&str]| ck.cli(args);
    cli(&["acme", "eab", "require", "--project", "default", "true"]);
    let key: Value = serde_json::from_slice(&cli(&[
        "acme",
        "eab",
        "create",
        "--project",
        "default",
        "--json",
    ]))
    .unwrap();
    let (kid, hmac) = (
        key["kid"].as_str().unwrap(),
        key["hmacKey"].as_str().unwrap(),
    );
    let listen = format!("127.0.0.1:{}", ck.http01_port);
    // Without the binding lego is refused; with it, it gets its certificate.
    let refused = lego(
        &ck,
        &[
            "-d",
            "eab.example.test",
            "--http",
            "--http.port",
            &listen,
            "run",
        ],
    )
    .output()
    .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(said.contains("external account"), "{said}");
    run_client(
        &mut lego(
            &ck,
            &[
                "--eab",
                "--kid",
                kid,
                "--hmac",
                hmac,
                "-d",
                "eab.example.test",
                "--http",
                "--http.port",
                &listen,
                "run",
            ],
        ),
        "lego with EAB",
    );
    let cert = ck.dir.path().join("lego/certificates/eab.example.test.crt");
    assert!(verify_with_openssl(&ck.root, &cert).contains("DNS:eab.example.test"));
}

#[tokio::test]
async fn certbot_standalone_http01() {
    let ck = AcmeCertkeeper::start(Db::Sqlite).await;
    let state = ck.dir.path().join("certbot");
    let port = ck.http01_port.to_string();
    let mut cmd = Command::new("certbot");
    cmd.env("REQUESTS_CA_BUNDLE", &ck.root)
        .args(["certonly", "--config-dir"])
        .arg(&state)
        .arg("--work-dir")
        .arg(&state)
        .arg("--logs-dir")
        .arg(&state)
        .args([
            "--non-interactive",
            "--agree-tos",
            "-m",
            "t@x.test",
            "--server",
            &ck.directory,
            "--standalone",
            "--http-01-address",
            "127.0.0.1",
            "--http-01-port",
            &port,
            "-d",
            "certbot.example.test",
        ]);
    run_client(&mut cmd, "certbot certonly");
    let cert = state.join("live/certbot.example.test/fullchain.pem");
    let sans = verify_with_openssl(&ck.root, &cert);
    assert!(sans.contains("DNS:certbot.example.test"), "{sans}");

    // certbot revokes it, signing with the certificate's key (no account needed).
    let leaf = state.join("live/certbot.example.test/cert.pem");
    let key = state.join("live/certbot.example.test/privkey.pem");
    let issuer = state.join("live/certbot.example.test/chain.pem");
    let mut cmd = Command::new("certbot");
    cmd.env("REQUESTS_CA_BUNDLE", &ck.root)
        .args(["revoke", "--config-dir"])
        .arg(&state)
        .arg("--work-dir")
        .arg(&state)
        .arg("--logs-dir")
        .arg(&state)
        .args([
            "--non-interactive",
            "--no-delete-after-revoke",
            "--server",
            &ck.directory,
        ])
        .arg("--cert-path")
        .arg(&leaf)
        .arg("--key-path")
        .arg(&key)
        .args(["--reason", "keycompromise"]);
    run_client(&mut cmd, "certbot revoke");
    assert_revoked(&ck, &leaf, &issuer).await;
}

/// Serves `webroot` over HTTP on `port` (python's http.server), as a web server would serve
/// `/.well-known/acme-challenge/` for clients that only write files.
struct Webroot {
    child: KillOnDrop,
    dir: PathBuf,
}

impl Webroot {
    async fn start(root: &Path, port: u16) -> Self {
        let dir = root.join("webroot/.well-known/acme-challenge");
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = KillOnDrop(
            Command::new("python3")
                .args([
                    "-m",
                    "http.server",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                ])
                .arg(root.join("webroot"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("python3 -m http.server"),
        );
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        certkeeper_testkit::net::wait_for_tcp(addr, &mut child.0, "the webroot server").await;
        Self { child, dir }
    }
}

#[tokio::test]
async fn acme_tiny_and_dehydrated_from_a_webroot() {
    let ck = AcmeCertkeeper::start(Db::Sqlite).await;
    let web = Webroot::start(ck.dir.path(), ck.http01_port).await;
    let d = ck.dir.path();

    // acme-tiny: an RSA account key, an RSA CSR made by openssl.
    run_client(
        Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(d.join("account.key"))
            .arg("2048"),
        "openssl genrsa",
    );
    run_client(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=tiny.example.test",
                "-keyout",
            ])
            .arg(d.join("tiny.key"))
            .arg("-out")
            .arg(d.join("tiny.csr")),
        "openssl req",
    );
    let chain = run_client(
        Command::new("acme-tiny")
            .env("SSL_CERT_FILE", &ck.root)
            .arg("--account-key")
            .arg(d.join("account.key"))
            .arg("--csr")
            .arg(d.join("tiny.csr"))
            .arg("--acme-dir")
            .arg(&web.dir)
            .args([
                "--disable-check",
                "--quiet",
                "--directory-url",
                &ck.directory,
            ]),
        "acme-tiny",
    );
    let tiny = d.join("tiny.pem");
    std::fs::write(&tiny, chain).unwrap();
    assert!(verify_with_openssl(&ck.root, &tiny).contains("DNS:tiny.example.test"));

    // dehydrated: its own config file, curl trusting the built-in root.
    let base = d.join("dehydrated");
    std::fs::create_dir_all(&base).unwrap();
    let config = base.join("config");
    std::fs::write(
        &config,
        format!(
            "CA=\"{}\"\nCHALLENGETYPE=\"http-01\"\nWELLKNOWN=\"{}\"\nBASEDIR=\"{}\"\nCONTACT_EMAIL=\"t@x.test\"\n",
            ck.directory,
            web.dir.display(),
            base.display()
        ),
    )
    .unwrap();
    let dehydrated = |args: &[&str]| {
        let mut cmd = Command::new("dehydrated");
        cmd.env("CURL_CA_BUNDLE", &ck.root)
            .args(args)
            .arg("-f")
            .arg(&config);
        cmd
    };
    run_client(
        &mut dehydrated(&["--register", "--accept-terms"]),
        "dehydrated --register",
    );
    run_client(
        &mut dehydrated(&["-c", "-d", "dh.example.test"]),
        "dehydrated -c",
    );
    let cert = base.join("certs/dh.example.test/fullchain.pem");
    assert!(verify_with_openssl(&ck.root, &cert).contains("DNS:dh.example.test"));
    // A forced renewal through the same account.
    run_client(
        &mut dehydrated(&["-c", "-d", "dh.example.test", "--force"]),
        "dehydrated --force",
    );
    assert!(verify_with_openssl(&ck.root, &cert).contains("DNS:dh.example.test"));
    // And a revocation, signed with the account key.
    // (dehydrated renames the files it revoked: keep copies to check.)
    let live = base.join("certs/dh.example.test/cert.pem");
    let (leaf, issuer) = (d.join("dh-leaf.pem"), d.join("dh-issuer.pem"));
    std::fs::copy(&live, &leaf).unwrap();
    std::fs::copy(base.join("certs/dh.example.test/chain.pem"), &issuer).unwrap();
    run_client(
        &mut dehydrated(&["--revoke", live.to_str().unwrap()]),
        "dehydrated --revoke",
    );
    assert_revoked(&ck, &leaf, &issuer).await;
    drop(web.child);
}

/// uacme takes its CA bundle only from libcurl's compiled-in path, so it runs in a mount
/// namespace of its own where that path holds certkeeper's root (the machine's trust store is
/// left alone). Its hook writes the http-01 token into a webroot and declines the other
/// challenge types; then it revokes what it got.
#[tokio::test]
async fn uacme_issues_and_revokes_from_a_webroot() {
    let ck = AcmeCertkeeper::start(Db::Sqlite).await;
    let web = Webroot::start(ck.dir.path(), ck.http01_port).await;
    let d = ck.dir.path();
    let hook = d.join("uacme-hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n# METHOD TYPE IDENT TOKEN AUTH\n[ \"$2\" = http-01 ] || exit 1\ncase \"$1\" in\n  begin) printf '%s' \"$5\" > {dir}/\"$4\" ;;\n  done|failed) rm -f {dir}/\"$4\" ;;\nesac\n",
            dir = web.dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = d.join("uacme");
    let uacme = |args: &str| {
        let script = format!(
            "mount --bind {root} /etc/ssl/certs/ca-certificates.crt && uacme -v -a {dir} -c {conf} {args}",
            root = ck.root.display(),
            dir = ck.directory,
            conf = conf.display(),
        );
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "sh", "-c", &script]);
        cmd
    };
    run_client(&mut uacme("-y new t@x.test"), "uacme new");
    run_client(
        &mut uacme(&format!("-h {} issue uacme.example.test", hook.display())),
        "uacme issue",
    );
    let cert = conf.join("uacme.example.test/cert.pem");
    assert!(verify_with_openssl(&ck.root, &cert).contains("DNS:uacme.example.test"));
    // cert.pem holds the chain: the second certificate is the issuer.
    let pem = std::fs::read_to_string(&cert).unwrap();
    let end = "-----END CERTIFICATE-----";
    let first_end = pem.find(end).unwrap() + end.len();
    let leaf = d.join("uacme-leaf.pem");
    let issuer = d.join("uacme-issuer.pem");
    std::fs::write(&leaf, format!("{}\n", &pem[..first_end])).unwrap();
    let rest = pem[first_end..].trim_start();
    std::fs::write(&issuer, &rest[..rest.find(end).unwrap() + end.len()]).unwrap();
    run_client(
        &mut uacme(&format!("-r 4 revoke {}", cert.display())),
        "uacme revoke",
    );
    assert_revoked(&ck, &leaf, &issuer).await;
}
