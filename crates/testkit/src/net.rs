//! Loopback helpers the process-based peers share: a free port, and waiting for a child to
//! listen.

use std::net::SocketAddr;
use std::process::Child;
use std::time::Duration;

/// A loopback port free for both UDP and TCP (DNS servers use both; HTTP only needs TCP).
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(udp) = std::net::UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr.port();
        }
    }
    panic!("no port free for both UDP and TCP")
}

/// Waits (at most 10 s) until `addr` accepts TCP, failing early if `child` exits.
pub async fn wait_for_tcp(addr: SocketAddr, child: &mut Child, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on {addr}");
}
