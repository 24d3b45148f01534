//! A real authoritative DNS server, in-process on 127.0.0.1 (UDP and TCP, ephemeral port), whose
//! zones tests edit: publish and remove TXT records, delegate with CNAMEs.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{CNAME, NS, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};

/// The running server and its zones.
pub struct TestDns {
    addr: SocketAddr,
    zones: Vec<(Name, Arc<InMemoryZoneHandler>)>,
    _server: Server<Catalog>,
}

impl std::fmt::Debug for TestDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDns")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn name(s: &str) -> Name {
    let fqdn = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::from_str(&fqdn).unwrap_or_else(|e| panic!("bad DNS name {s:?}: {e}"))
}

impl TestDns {
    /// Starts a server authoritative for each of `zones` (e.g. `["example.test"]`).
    pub async fn start(zones: &[&str]) -> Self {
        // UDP and TCP on one port: take a free UDP port, then the same TCP port, and try again
        // with another if something else holds that TCP port.
        let (udp, tcp, addr) = {
            let mut attempt = 0;
            loop {
                let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
                    .await
                    .expect("bind UDP");
                let addr = udp.local_addr().expect("UDP address");
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(tcp) => break (udp, tcp, addr),
                    Err(_) if attempt < 50 => attempt += 1,
                    Err(e) => panic!("no port free for both UDP and TCP: {e}"),
                }
            }
        };
        let mut catalog = Catalog::new();
        let mut handlers = Vec::new();
        for zone in zones {
            let origin = name(zone);
            let mut handler =
                InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
            let ns = name(&format!("ns.{zone}"));
            let soa = SOA::new(
                ns.clone(),
                name(&format!("hostmaster.{zone}")),
                1,
                3600,
                600,
                86400,
                0,
            );
            handler.upsert_mut(Record::from_rdata(origin.clone(), 0, RData::SOA(soa)), 1);
            handler.upsert_mut(Record::from_rdata(origin.clone(), 0, RData::NS(NS(ns))), 1);
            let handler = Arc::new(handler);
            catalog.upsert(
                LowerName::new(&origin),
                vec![handler.clone() as Arc<dyn ZoneHandler>],
            );
            handlers.push((origin, handler));
        }
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        Self {
            addr,
            zones: handlers,
            _server: server,
        }
    }

    /// Where to send queries (`--dns-resolver`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn zone_of(&self, n: &Name) -> &Arc<InMemoryZoneHandler> {
        self.zones
            .iter()
            .filter(|(origin, _)| origin.zone_of(n))
            .max_by_key(|(origin, _)| origin.num_labels())
            .map(|(_, h)| h)
            .unwrap_or_else(|| panic!("no test zone holds {n}"))
    }

    /// Replaces the TXT records at `owner` with `values` (zero TTL, so nothing caches them).
    pub async fn set_txt(&self, owner: &str, values: &[&str]) {
        self.remove(owner, RecordType::TXT).await;
        let n = name(owner);
        let zone = self.zone_of(&n);
        for v in values {
            zone.upsert(
                Record::from_rdata(n.clone(), 0, RData::TXT(TXT::new(vec![v.to_string()]))),
                2,
            )
            .await;
        }
    }

    /// Points `owner` at `target` with a CNAME.
    pub async fn set_cname(&self, owner: &str, target: &str) {
        let n = name(owner);
        self.zone_of(&n)
            .upsert(
                Record::from_rdata(n.clone(), 0, RData::CNAME(CNAME(name(target)))),
                2,
            )
            .await;
    }

    /// Removes every record of `rtype` at `owner`.
    pub async fn remove(&self, owner: &str, rtype: RecordType) {
        let n = name(owner);
        let key = RrKey::new(LowerName::new(&n), rtype);
        self.zone_of(&n).records_mut().await.remove(&key);
    }
}
