//! Configuration: one TOML file, read into raw sections, then validated into
//! values that are always usable. Defaults live in `default.toml` beside this
//! file, which documents every key.

use std::path::Path;

use serde::Deserialize;

pub use kairos_core::config::EngineConfig;

/// The documented defaults, every key with its meaning.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("{path}: {detail}")]
    Invalid {
        /// The path.
        path: String,
        /// Why.
        detail: String,
    },
}

/// The live engine's settings (`[serve]`): broker, client and channels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Where the embedded broker listens.
    pub listen: std::net::SocketAddr,
    /// An existing broker (`mqtt://host:port`); empty for the embedded one.
    pub broker: String,
    /// Broker user name; empty for none.
    pub username: String,
    /// Broker password; empty for none.
    pub password: String,
    /// CA certificates (PEM) trusted for `mqtts://`; empty: the system's store.
    pub ca_file: String,
    /// Client certificate chain (PEM) for `mqtts://`; empty for none.
    pub client_cert: String,
    /// The client certificate's private key (PEM); empty for none.
    pub client_key: String,
    /// Where the Prometheus endpoint listens (`HOST:PORT`); empty: no endpoint.
    pub metrics: String,
    /// MQTT client id.
    pub client_id: String,
    /// Capacity of each channel between the edge tasks and the engine.
    pub channel_capacity: usize,
    /// Largest MQTT packet accepted, in bytes.
    pub max_packet_bytes: usize,
    /// Seconds between two sweeps of expired state.
    pub sweep_every_s: u64,
    /// Milliseconds between two checks of the offer files.
    pub offers_poll_ms: u64,
    /// Also read OwnTracks locations (`owntracks/{user}/{device}`) as positions.
    pub owntracks: bool,
    /// Where device state lives: a file path or `redis://host:port/db`; empty:
    /// memory only for the library, the default file for `kairos serve`.
    pub state: String,
    /// MQTT shared-subscription group that instances split inputs in; empty: none.
    pub share_group: String,
    /// Seconds between two purges of expired history from the state store.
    pub purge_every_s: u64,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[engine]`
    pub engine: EngineConfig,
    /// `[serve]`
    pub serve: ServeConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self::from_toml(DEFAULT_TOML, "default.toml")
            .expect("the bundled default.toml is valid (checked by a test)")
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Config::default().serve
    }
}

impl Config {
    /// Reads a file; keys it leaves out keep their defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses TOML text over the defaults, then validates.
    pub fn from_toml(text: &str, name: &str) -> Result<Self, ConfigError> {
        let invalid = |detail: String| ConfigError::Invalid {
            path: name.to_string(),
            detail,
        };
        let mut merged: toml::Table = DEFAULT_TOML
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        let overrides: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        merge(&mut merged, overrides);
        let config: Config = merged
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let e = self.engine.clone().validated()?;
        let s = &self.serve;
        if s.client_id.is_empty() || s.client_id.len() > 23 {
            return Err("serve.client_id must have 1 to 23 characters".into());
        }
        if s.channel_capacity == 0 || s.sweep_every_s == 0 || s.offers_poll_ms == 0 {
            return Err(
                "serve.channel_capacity, serve.sweep_every_s and serve.offers_poll_ms must be positive"
                    .into(),
            );
        }
        if let Some(why) = crate::serve::share::invalid_group(&s.share_group) {
            return Err(format!("serve.share_group {:?}: {why}", s.share_group));
        }
        if s.purge_every_s == 0 {
            return Err("serve.purge_every_s must be positive".into());
        }
        if s.client_cert.is_empty() != s.client_key.is_empty() {
            return Err(
                "serve.client_cert and serve.client_key go together: give both or neither".into(),
            );
        }
        if !s.metrics.is_empty() && s.metrics.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "serve.metrics must be HOST:PORT (e.g. 127.0.0.1:9464), not {:?}",
                s.metrics
            ));
        }
        if s.max_packet_bytes <= e.max_payload_bytes {
            return Err(
                "serve.max_packet_bytes must be larger than engine.max_payload_bytes".into(),
            );
        }
        Ok(())
    }
}

fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_defaults_are_valid() {
        let c = Config::default();
        assert_eq!(c.engine.prefix, "kairos");
        assert_eq!(c.engine.min_gap_min, 30);
        assert_eq!(c.engine.max_per_day, 3);
        assert_eq!(c.engine.max_payload_bytes, 65_536);
        assert_eq!(c.serve.listen.to_string(), "127.0.0.1:1883");
        assert!(c.serve.broker.is_empty());
    }

    #[test]
    fn serve_settings_are_validated() {
        let c = Config::from_toml("[serve]\nlisten = \"127.0.0.1:1999\"\n", "t").unwrap();
        assert_eq!(c.serve.listen.port(), 1999);
        assert!(Config::from_toml("[serve]\nchannel_capacity = 0\n", "t").is_err());
        assert!(Config::from_toml("[serve]\nlisten = \"nowhere\"\n", "t").is_err());
        assert!(Config::from_toml("[serve]\nmax_packet_bytes = 100\n", "t").is_err());
        assert!(Config::from_toml("[serve]\nclient_cert = \"c.pem\"\n", "t").is_err());
        assert!(Config::from_toml("[serve]\nmetrics = \"nowhere\"\n", "t").is_err());
        assert!(Config::from_toml("[serve]\nshare_group = \"a/b\"\n", "t").is_err());
        assert!(Config::from_toml("[serve]\npurge_every_s = 0\n", "t").is_err());
        let c = Config::from_toml("[serve]\nmetrics = \"127.0.0.1:9464\"\n", "t").unwrap();
        assert_eq!(c.serve.metrics, "127.0.0.1:9464");
    }

    #[test]
    fn a_file_overrides_only_what_it_names_and_unknown_keys_are_refused() {
        let c = Config::from_toml("[engine]\nmax_per_day = 5\n", "t").unwrap();
        assert_eq!(c.engine.max_per_day, 5);
        assert_eq!(c.engine.min_gap_min, 30);
        assert!(Config::from_toml("[engine]\nmax_per_dya = 5\n", "t").is_err());
        assert!(Config::from_toml("[engine]\nprefix = \"a/#\"\n", "t").is_err());
    }
}
