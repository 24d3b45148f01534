//! Waiting for published records to be visible everywhere a CA might look.
//!
//! A record is propagated when the resolver validation uses sees it, and so does every
//! authoritative nameserver of the zone the record finally lives in (after following
//! CNAMEs), and the primary an update went to. Asking the authoritative servers directly is
//! what lego and cert-manager do: a secondary that has not yet transferred the zone would
//! otherwise make validation flap.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::proto::rr::{RData, RecordType};

use crate::{Dns01Checker, ExpectedTxt, TxtOutcome};

/// Most CNAME hops followed from `_acme-challenge` to where the TXT lives.
const MAX_CNAME_HOPS: usize = 8;

/// How to wait for records.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// The resolver validation reads DNS through.
    pub resolver: Dns01Checker,
    /// The port authoritative servers are asked on (53, except in tests on loopback).
    pub authoritative_port: u16,
    /// How often to look again.
    pub poll: Duration,
    /// Per-query timeout for the direct queries.
    pub query_timeout: Duration,
}

impl Propagation {
    /// Waits until every record is visible on the resolver, `primary` and every authoritative
    /// server, for at most `timeout`. On timeout the error says which record is missing where.
    pub async fn wait(
        &self,
        records: &[ExpectedTxt],
        primary: Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut servers: Vec<SocketAddr> = primary.into_iter().collect();
        for r in records {
            for s in self.authoritative_servers(&r.name).await {
                if !servers.contains(&s) {
                    servers.push(s);
                }
            }
        }
        let mut checkers = vec![("the resolver".to_string(), self.resolver.clone())];
        for s in servers {
            let checker = Dns01Checker::with_server(s, self.query_timeout)
                .map_err(|e| format!("cannot ask {s}: {e}"))?;
            checkers.push((s.to_string(), checker));
        }
        loop {
            let mut missing = Vec::new();
            for (who, checker) in &checkers {
                for (record, outcome) in records.iter().zip(checker.check(records).await) {
                    if outcome != TxtOutcome::Found {
                        missing.push(format!("{} not yet on {who} ({outcome:?})", record.name));
                    }
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() + self.poll > deadline {
                return Err(format!(
                    "the DNS-01 records did not propagate within {}s: {}",
                    timeout.as_secs(),
                    missing.join("; ")
                ));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// The authoritative servers of the zone `name` finally lives in (after CNAMEs): the NS
    /// records of the closest enclosing zone, resolved to addresses. Empty when DNS does not
    /// say (the resolver's view is then the only one checked).
    async fn authoritative_servers(&self, name: &str) -> Vec<SocketAddr> {
        let resolver = self.resolver.resolver();
        let mut target = format!("{}.", name.trim_end_matches('.'));
        for _ in 0..MAX_CNAME_HOPS {
            let Ok(lookup) = resolver.lookup(target.as_str(), RecordType::CNAME).await else {
                break;
            };
            let next = lookup.answers().iter().find_map(|r| match &r.data {
                RData::CNAME(c) => Some(c.0.to_string()),
                _ => None,
            });
            match next {
                Some(n) if n != target => target = n,
                _ => break,
            }
        }
        // The closest enclosing zone with NS records.
        let labels: Vec<&str> = target.trim_end_matches('.').split('.').collect();
        for start in 0..labels.len() {
            let zone = format!("{}.", labels[start..].join("."));
            let Ok(lookup) = resolver.lookup(zone.as_str(), RecordType::NS).await else {
                continue;
            };
            let hosts: Vec<String> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::NS(ns) => Some(ns.0.to_string()),
                    _ => None,
                })
                .collect();
            if hosts.is_empty() {
                continue;
            }
            let mut out = Vec::new();
            for host in hosts {
                if let Ok(ips) = resolver.lookup_ip(host.as_str()).await {
                    out.extend(
                        ips.iter()
                            .map(|ip| SocketAddr::new(ip, self.authoritative_port)),
                    );
                }
            }
            return out;
        }
        Vec::new()
    }
}
