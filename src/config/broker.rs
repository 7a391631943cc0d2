//! A broker address, `mqtt://HOST[:PORT]` or `mqtts://HOST[:PORT]`, read once
//! where it is given (the file's `serve.broker`, `--broker`, `record --broker`).

use std::fmt;
use std::str::FromStr;

/// A broker to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Over TLS (`mqtts://`).
    pub tls: bool,
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Why a broker URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("broker URL {url:?}: {detail}")]
pub struct BadBrokerUrl {
    /// What was given.
    pub url: String,
    /// Why it was refused.
    pub detail: &'static str,
}

impl BrokerAddress {
    /// Reads `mqtt://host[:port]` (port 1883 by default; `tcp://` too) or
    /// `mqtts://host[:port]` (TLS, port 8883 by default).
    pub fn parse(url: &str) -> Result<Self, BadBrokerUrl> {
        let bad = |detail| BadBrokerUrl {
            url: url.to_string(),
            detail,
        };
        let (rest, tls) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (rest, true)
        } else {
            let rest = url
                .strip_prefix("mqtt://")
                .or_else(|| url.strip_prefix("tcp://"))
                .ok_or_else(|| bad("expected mqtt://HOST:PORT or mqtts://HOST:PORT"))?;
            (rest, false)
        };
        let default_port = if tls { 8883 } else { 1883 };
        let rest = rest.trim_end_matches('/');
        if rest.contains(['/', '@', '?']) {
            return Err(bad(
                "expected mqtt(s)://HOST:PORT (credentials go in the config or KAIROS_BROKER_USERNAME / KAIROS_BROKER_PASSWORD)",
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 literal is bracketed: [::1]:1883.
            Some((host, port))
                if !host.is_empty() && (!host.contains(':') || host.ends_with(']')) =>
            {
                let port = port.parse().map_err(|_| bad("the port is not a number"))?;
                (host, port)
            }
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(BrokerAddress {
            host: host.to_string(),
            port,
            tls,
        })
    }
}

impl FromStr for BrokerAddress {
    type Err = BadBrokerUrl;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_are_read_with_their_default_ports() {
        let a = BrokerAddress::parse("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.tls), ("127.0.0.1", 1884, false));
        let a = BrokerAddress::parse("mqtt://broker.local").unwrap();
        assert_eq!(a.port, 1883);
        let a = BrokerAddress::parse("mqtt://[::1]:1885").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 1885));
        assert_eq!(a.to_string(), "mqtt://[::1]:1885");
        let a = BrokerAddress::parse("mqtts://broker.example").unwrap();
        assert_eq!((a.port, a.tls), (8883, true));
        assert!(BrokerAddress::parse("http://h").is_err());
        assert!(BrokerAddress::parse("mqtt://h:port").is_err());
        assert!(BrokerAddress::parse("mqtt://").is_err());
        assert!(BrokerAddress::parse("mqtt://user:pw@h:1883").is_err());
    }
}
