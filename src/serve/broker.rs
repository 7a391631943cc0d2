//! The embedded MQTT broker (rumqttd), so `kairos serve` and `kairos demo` need
//! nothing else running.
//!
//! rumqttd's `Broker::start` blocks (one thread and runtime per listener), so it
//! runs on its own OS thread. It has no stop: the thread lives until the process
//! ends. Before starting it, the port is checked with a plain `TcpListener`,
//! because rumqttd only logs a failed bind from its own thread; a taken port
//! (often another MQTT broker) becomes [`ServeError::AddressInUse`], one line
//! that says how to go on.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

use rumqttd::{Broker, ConnectionSettings, RouterConfig, ServerSettings};

use super::ServeError;

/// Starts the embedded broker on `listen` (port 0: a free port) and returns the
/// address a local client connects to.
pub fn start(listen: SocketAddr, max_packet_bytes: usize) -> Result<SocketAddr, ServeError> {
    let bound = check_free(listen)?;
    let config = broker_config(bound, max_packet_bytes);
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

fn broker_config(listen: SocketAddr, max_packet_bytes: usize) -> rumqttd::Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: max_packet_bytes,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
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
}
