//! Debian's `pebble` (an ACME test CA) on loopback, for end-to-end ACME tests.
//!
//! Pebble ships no TLS certificate for its own listener: one is made here with rcgen (SANs
//! `localhost`, `127.0.0.1`) under a throwaway root the ACME client is told to trust. Pebble's
//! DNS-01 checks go to the DNS server given (`-dnsserver`), never the system resolver.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::net::free_port;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
};

/// A running pebble; killed when dropped.
pub struct Pebble {
    child: Child,
    dir: PathBuf,
    /// `https://127.0.0.1:PORT/dir`
    pub directory: String,
    /// PEM file of the root that signed pebble's TLS certificate.
    pub tls_root: PathBuf,
    /// `https://127.0.0.1:MGMT` (pebble's management API: `/roots/0` is its issuing root).
    pub management: String,
}

impl std::fmt::Debug for Pebble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pebble")
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

impl Pebble {
    /// Starts pebble with its DNS-01 lookups going to `dns`. Panics with a clear message if
    /// the `pebble` binary is missing (`apt-get install pebble`).
    pub async fn start(dns: SocketAddr) -> Self {
        Self::start_with_http_port(dns, free_port()).await
    }

    /// [`Self::start`], with pebble's http-01 validations connecting to `http_port`.
    pub async fn start_with_http_port(dns: SocketAddr, http_port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "certkeeper-pebble-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("pebble dir");

        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let mut root_params = CertificateParams::default();
        root_params
            .distinguished_name
            .push(DnType::CommonName, "pebble TLS test root");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_cert = root_params.self_signed(&root_key).expect("root");
        let root = Issuer::new(root_params, root_key);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("params");
        let cert = params.signed_by(&key, &root).expect("leaf");
        std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write");
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write");
        std::fs::write(dir.join("root.pem"), root_cert.pem()).expect("write");

        let (port, mgmt) = (free_port(), free_port());
        let config = format!(
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{port}", "managementListenAddress": "127.0.0.1:{mgmt}",
                "certificate": "{cert}", "privateKey": "{key}", "httpPort": {http}, "tlsPort": {tls},
                "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
            cert = dir.join("cert.pem").display(),
            key = dir.join("key.pem").display(),
            http = http_port,
            tls = free_port(),
        );
        std::fs::write(dir.join("pebble.json"), config).expect("write");
        let child = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start pebble ({e}); install it with `apt-get install pebble`")
            });
        let pebble = Self {
            child,
            directory: format!("https://127.0.0.1:{port}/dir"),
            tls_root: dir.join("root.pem"),
            management: format!("https://127.0.0.1:{mgmt}"),
            dir,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return pebble;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("pebble did not start listening on 127.0.0.1:{port}");
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
