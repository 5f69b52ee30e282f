//! Loopback ports for servers a test starts and may restart on the same port. They are handed
//! out below the kernel's ephemeral range (32768 and up on Linux), so no process binding port 0
//! can take one while its server is down for a restart, and each at most once per test process.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

const FIRST: u32 = 20_000;
const COUNT: u32 = 12_000;
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback port nothing listens on now and that this process has not handed out before.
pub fn free_port() -> u16 {
    // Start from an offset of the process id, so two test runs side by side rarely meet.
    let offset = std::process::id().wrapping_mul(7919) % COUNT;
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (offset + n) % COUNT;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!(
        "no free loopback port between {FIRST} and {}",
        FIRST + COUNT
    );
}

/// [`free_port`] as a loopback socket address.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], free_port()))
}
