//! The embedded MQTT broker (rumqttd), so `kairos serve` and `kairos demo` need
//! nothing else running.
//!
//! rumqttd's `Broker::start` blocks (one thread and runtime per listener), so it
//! runs on its own OS thread. It has no stop: the thread lives until the process
//! ends. Before starting it, the port is checked with a plain `TcpListener`,
//! because rumqttd only logs a failed bind from its own thread; a taken port
//! (often another MQTT broker) becomes [`ServeError::AddressInUse`], one line
//! that says how to go on.
//!
//! Access: with no accounts ([`Users`], `serve.embedded_users_file`) the
//! broker lets anyone in, so it listens on loopback only (127.0.0.0/8, ::1);
//! any other address is [`ServeError::OpenWithoutCredentials`]. With
//! accounts, every client must log in (rumqttd's auth handler closes a
//! connection without a valid login before its CONNACK), on any address.
//! Either way it does not authorise per topic: a logged-in client may read
//! and write every device's topics.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use rumqttd::{Broker, ConnectionSettings, RouterConfig, ServerSettings};

use super::users::Users;
use super::ServeError;

/// Starts the embedded broker on `listen` (port 0: a free port) and returns the
/// address a local client connects to. With `users`, every client must log in
/// with one of their accounts (or as kairos itself); without, `listen` must
/// be a loopback address.
pub fn start(
    listen: SocketAddr,
    max_packet_bytes: usize,
    users: Option<Arc<Users>>,
) -> Result<SocketAddr, ServeError> {
    if users.is_none() && !is_loopback(listen.ip()) {
        return Err(ServeError::OpenWithoutCredentials { addr: listen });
    }
    let bound = check_free(listen)?;
    let config = broker_config(bound, max_packet_bytes, users);
    std::thread::Builder::new()
        .name("kairos-broker".into())
        .spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(error) = broker.start() {
                tracing::error!(%error, "embedded broker stopped");
            }
        })
        .map_err(|e| ServeError::Listen {
            addr: bound,
            detail: format!("cannot start the broker thread: {e}"),
        })?;
    tracing::info!(%bound, "embedded MQTT broker listening");
    Ok(connect_address(bound))
}

/// Waits (up to a few seconds) until the broker started at `addr` accepts connections.
pub async fn wait_listening(addr: SocketAddr) -> Result<(), ServeError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ServeError::Listen {
                addr,
                detail: "the embedded broker did not start (see the log above)".into(),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Whether `ip` is on loopback: 127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_address() -> std::io::Result<SocketAddr> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

/// Binds `listen` once to learn whether it is free (and which port 0 picks).
fn check_free(listen: SocketAddr) -> Result<SocketAddr, ServeError> {
    match TcpListener::bind(listen) {
        Ok(probe) => probe.local_addr().map_err(|e| ServeError::Listen {
            addr: listen,
            detail: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Err(ServeError::AddressInUse { addr: listen })
        }
        Err(e) => Err(ServeError::Listen {
            addr: listen,
            detail: e.to_string(),
        }),
    }
}

/// Where a client on this machine reaches a broker listening on `bound`.
fn connect_address(bound: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        let ip = match bound.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, bound.port())
    } else {
        bound
    }
}

fn broker_config(
    listen: SocketAddr,
    max_packet_bytes: usize,
    users: Option<Arc<Users>>,
) -> rumqttd::Config {
    let mut connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: max_packet_bytes,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    if let Some(users) = users {
        connections.set_auth_handler(move |client_id: String, user: String, password: String| {
            let accepted = users.verify(&user, &password);
            if !accepted {
                tracing::warn!(%client_id, %user, "embedded broker: login refused");
            }
            std::future::ready(accepted)
        });
    }
    let server = ServerSettings {
        name: "kairos-v4".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    rumqttd::Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: 200,
            // Memory per filter is bounded by size × count.
            max_segment_size: 4 << 20,
            max_segment_count: 4,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..rumqttd::Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_reported_as_in_use() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = taken.local_addr().unwrap();
        let error = check_free(addr).unwrap_err();
        assert!(matches!(error, ServeError::AddressInUse { .. }));
        let line = error.to_string();
        assert!(line.contains("address in use"), "{line}");
        assert!(line.contains(&format!("--broker mqtt://{addr}")), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn loopback_is_127_slash_8_and_colon_colon_1_and_nothing_else() {
        for ip in [
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.254",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "0.0.0.0",
            "::",
            "10.0.0.1",
            "192.168.1.20",
            "::ffff:10.0.0.1",
            "fe80::1",
        ] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn off_loopback_without_accounts_is_refused_in_one_line_before_binding() {
        // A taken port would say "address in use": the refusal comes first.
        let taken = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let addr = taken.local_addr().unwrap();
        let error = start(addr, 1 << 20, None).unwrap_err();
        assert!(
            matches!(error, ServeError::OpenWithoutCredentials { .. }),
            "{error:?}"
        );
        let line = error.to_string();
        assert!(line.contains(&addr.to_string()), "{line}");
        assert!(line.contains("without credentials"), "{line}");
        assert!(line.contains("serve.embedded_users_file"), "{line}");
        assert!(line.contains("--listen 127.0.0.1:"), "{line}");
        assert!(!line.contains('\n'));
    }
}
