//! The DNS-01 checker against a real authoritative server on loopback.

use certkeeper_dns::{Dns01Checker, ExpectedTxt, TxtOutcome};
use certkeeper_testkit::dns::TestDns;
use hickory_resolver::proto::rr::RecordType;

fn want(name: &str, value: &str) -> ExpectedTxt {
    ExpectedTxt {
        name: name.into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn finds_missing_wrong_and_delegated_records() {
    let dns = TestDns::start(&["example.test", "delegated.test"]).await;
    let checker = Dns01Checker::with_server(dns.addr(), certkeeper_dns::DEFAULT_TIMEOUT).unwrap();
    dns.set_txt("_acme-challenge.example.test", &["right"])
        .await;
    dns.set_txt("_acme-challenge.www.example.test", &["stale", "other"])
        .await;
    // A CNAME-delegated challenge, as Let's Encrypt follows them.
    dns.set_cname("_acme-challenge.api.example.test", "api.delegated.test")
        .await;
    dns.set_txt("api.delegated.test", &["delegated-value"])
        .await;

    let expected = [
        want("_acme-challenge.example.test", "right"),
        want("_acme-challenge.www.example.test", "right"),
        want("_acme-challenge.nothing.example.test", "x"),
        want("_acme-challenge.api.example.test", "delegated-value"),
    ];
    let got = checker.check(&expected).await;
    assert_eq!(got[0], TxtOutcome::Found);
    match &got[1] {
        TxtOutcome::WrongValue { found } => {
            let mut f = found.clone();
            f.sort();
            assert_eq!(f, ["other", "stale"]);
        }
        other => panic!("expected a wrong value, got {other:?}"),
    }
    assert_eq!(got[2], TxtOutcome::Missing);
    assert_eq!(got[3], TxtOutcome::Found);

    // Fixing DNS is seen on the next check: nothing is cached.
    dns.set_txt("_acme-challenge.www.example.test", &["right"])
        .await;
    assert_eq!(checker.check(&expected[1..2]).await, [TxtOutcome::Found]);
    dns.remove("_acme-challenge.www.example.test", RecordType::TXT)
        .await;
    assert_eq!(checker.check(&expected[1..2]).await, [TxtOutcome::Missing]);
}

#[tokio::test]
async fn an_unreachable_resolver_is_a_lookup_failure() {
    // A UDP port nobody listens on.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    drop(sock);
    let checker = Dns01Checker::with_server(addr, std::time::Duration::from_millis(300)).unwrap();
    let got = checker
        .check(&[want("_acme-challenge.example.test", "x")])
        .await;
    assert!(matches!(got[0], TxtOutcome::LookupFailed(_)), "{got:?}");
}
