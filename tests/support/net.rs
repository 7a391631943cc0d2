//! Loopback ports for the servers a test starts, and waiting for them.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Longest any single wait may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// A loopback port nobody listens on right now, never a standard MQTT or Redis
/// port (the machine may run its own broker or Redis there).
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("a loopback port can be bound")
            .local_addr()
            .expect("a bound socket has an address")
            .port();
        if ![1883, 8883, 6379].contains(&port) {
            return port;
        }
    }
}

/// A loopback address nobody listens on right now.
pub fn free_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Waits until `port` accepts connections; `exited` is asked between tries and
/// returns why the server is gone, if it is, so a crash fails at once.
pub fn wait_listening(port: u16, what: &str, mut exited: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(why) = exited() {
            panic!("{what} exited before listening on {port}: {why}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
