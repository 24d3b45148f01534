//! Debian's BIND (`named`) on loopback, authoritative for one dynamic zone that accepts RFC
//! 2136 updates signed with a TSIG key; and `pebble-challtestsrv`, a DNS server set over
//! HTTP. Both are real DNS servers: the tests talk to them over the wire, nothing is mocked.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::net::{free_port, wait_for_tcp};

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "certkeeper-{what}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A running `named`; killed when dropped.
pub struct Bind {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
    pub zone: String,
    pub key_name: String,
    /// The TSIG secret, base64, as `tsig-keygen` prints it.
    pub key_secret: String,
}

impl std::fmt::Debug for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bind")
            .field("addr", &self.addr)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

impl Bind {
    /// Starts `named` authoritative for `zone` (with `ns.<zone>` at 127.0.0.1), updatable with
    /// an HMAC-SHA256 key. Panics with a clear message if BIND is missing
    /// (`apt-get install bind9 bind9-utils`).
    pub async fn start(zone: &str) -> Self {
        let dir = temp_dir("bind");
        let port = free_port();
        let key_name = "certkeeper-test".to_string();
        // A fresh 256-bit secret, base64, without depending on tsig-keygen's output format.
        let secret = {
            use std::io::Read as _;
            let mut raw = [0u8; 32];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut raw))
                .expect("random");
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(raw)
        };
        let zone_file = dir.join("zone.db");
        std::fs::write(
            &zone_file,
            format!(
                "$TTL 60\n@ IN SOA ns.{zone}. hostmaster.{zone}. 1 60 60 600 60\n@ IN NS ns.{zone}.\nns IN A 127.0.0.1\n"
            ),
        )
        .expect("zone file");
        let conf = format!(
            r#"options {{
    directory "{dir}";
    pid-file "{dir}/named.pid";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-query {{ any; }};
    dnssec-validation no;
    notify no;
}};
key "{key_name}" {{ algorithm hmac-sha256; secret "{secret}"; }};
controls {{ }};
zone "{zone}" {{
    type primary;
    file "{zone_file}";
    journal "{dir}/zone.db.jnl";
    allow-update {{ key "{key_name}"; }};
}};
"#,
            dir = dir.display(),
            zone_file = zone_file.display(),
        );
        let conf_path = dir.join("named.conf");
        std::fs::write(&conf_path, conf).expect("named.conf");
        let mut child = Command::new("named")
            .arg("-g")
            .arg("-u")
            .arg("root")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("named.log")).expect("log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start named ({e}); install BIND: apt-get install bind9 bind9-utils")
            });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        wait_for_tcp(addr, &mut child, "named").await;
        Self {
            child,
            dir,
            addr,
            zone: zone.to_string(),
            key_name,
            key_secret: secret,
        }
    }

    /// The TXT values at `name`, asked with `dig` (an independent client).
    pub fn txt(&self, name: &str) -> Vec<String> {
        let out = Command::new("dig")
            .args([
                "+short",
                "+norecurse",
                "-p",
                &self.addr.port().to_string(),
                "@127.0.0.1",
                name,
                "TXT",
            ])
            .output()
            .expect("dig (apt-get install dnsutils)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().trim_matches('"').to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `pebble-challtestsrv` (DNS only); killed when dropped.
pub struct ChallTestSrv {
    child: Child,
    /// Its DNS server.
    pub dns: SocketAddr,
    /// `http://127.0.0.1:PORT`: `POST /set-txt`, `/clear-txt`.
    pub management: String,
}

impl std::fmt::Debug for ChallTestSrv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallTestSrv")
            .field("dns", &self.dns)
            .finish_non_exhaustive()
    }
}

impl ChallTestSrv {
    /// Starts it. Panics with a clear message if missing (`apt-get install pebble`).
    pub async fn start() -> Self {
        let (dns_port, mgmt_port) = (free_port(), free_port());
        let mut child = Command::new("pebble-challtestsrv")
            .args([
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &format!("127.0.0.1:{dns_port}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{mgmt_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start pebble-challtestsrv ({e}); apt-get install pebble")
            });
        let mgmt: SocketAddr = format!("127.0.0.1:{mgmt_port}").parse().expect("addr");
        wait_for_tcp(mgmt, &mut child, "pebble-challtestsrv").await;
        let dns: SocketAddr = format!("127.0.0.1:{dns_port}").parse().expect("addr");
        wait_for_tcp(dns, &mut child, "pebble-challtestsrv DNS").await;
        Self {
            child,
            dns,
            management: format!("http://{mgmt}"),
        }
    }
}

impl Drop for ChallTestSrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
