//! Configuration: one TOML file over the documented defaults
//! (`default.toml` beside this file, which documents every key), command-line
//! overrides on top, then validated once into a [`Config`] whose fields are
//! typed and always usable: nothing is parsed again later.
//!
//! - [`raw`]: the file as written (strings, "empty means none").
//! - [`broker`]: `mqtt://` / `mqtts://` broker addresses.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use kairos_core::config::EngineConfig;

mod broker;
mod raw;

pub use broker::{BadBrokerUrl, BrokerAddress};
use raw::{merge, RawConfig};

use crate::store::StateUrl;

/// The documented defaults, every key with its meaning.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// Why a configuration was refused.
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
    /// The file is not valid TOML, has unknown keys or wrong types, or a value
    /// (its own or a command-line override) is not usable.
    #[error("{path}: {detail}")]
    Invalid {
        /// The path (or `default.toml` when no file was given).
        path: String,
        /// Why.
        detail: String,
    },
}

/// The live engine's settings (`[serve]`): broker, client and channels.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// Where the embedded broker listens.
    pub listen: SocketAddr,
    /// An existing broker; `None` for the embedded one.
    pub broker: Option<BrokerAddress>,
    /// Broker user name.
    pub username: Option<String>,
    /// Broker password.
    pub password: Option<String>,
    /// CA certificates (PEM) trusted for `mqtts://`; `None`: the system's store.
    pub ca_file: Option<PathBuf>,
    /// A client certificate for `mqtts://`.
    pub client_identity: Option<ClientIdentity>,
    /// Where the Prometheus endpoint listens; `None`: no endpoint.
    pub metrics: Option<SocketAddr>,
    /// MQTT client id (1 to 23 characters).
    pub client_id: String,
    /// Capacity of the engine's input queue, in inputs.
    pub channel_capacity: NonZeroUsize,
    /// Largest MQTT packet accepted, in bytes (above the payload limit).
    pub max_packet_bytes: usize,
    /// Between two sweeps of expired state.
    pub sweep_every: Duration,
    /// Between two checks of the offer files.
    pub offers_poll: Duration,
    /// Also read OwnTracks locations (`owntracks/{user}/{device}`) as positions.
    pub owntracks: bool,
    /// Where device state lives; `None`: in memory only.
    pub state: Option<StateUrl>,
    /// The MQTT shared-subscription group instances split inputs in.
    pub share_group: Option<ShareGroup>,
    /// Between two purges of expired history from the state store.
    pub purge_every: Duration,
    /// The embedded broker's accounts: a Mosquitto password file. `None`: no
    /// logins, and the embedded broker listens on loopback only.
    pub embedded_users_file: Option<PathBuf>,
}

/// A client certificate chain and its private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// The name of an MQTT 5 shared-subscription group: not empty, no `/`, `+`,
/// `#` or white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroup(String);

impl ShareGroup {
    /// `name` if it can name a group, else why not.
    pub fn new(name: &str) -> Result<Self, &'static str> {
        if name.is_empty() {
            Err("a share group name may not be empty")
        } else if name.contains(['/', '+', '#']) {
            Err("a share group name may not contain '/', '+' or '#'")
        } else if name.chars().any(char::is_whitespace) {
            Err("a share group name may not contain spaces")
        } else {
            Ok(Self(name.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[engine]`
    pub engine: EngineConfig,
    /// `[serve]`
    pub serve: ServeConfig,
}

/// The environment variable that names the broker user name (over `serve.username`).
pub const ENV_USERNAME: &str = "KAIROS_BROKER_USERNAME";
/// The environment variable that holds the broker password (over `serve.password`).
pub const ENV_PASSWORD: &str = "KAIROS_BROKER_PASSWORD";
/// The environment variable that names the embedded broker's password file
/// (over `serve.embedded_users_file`).
pub const ENV_EMBEDDED_USERS_FILE: &str = "KAIROS_EMBEDDED_USERS_FILE";

/// What the command line and the environment say over the file (each
/// `None`: the file decides).
#[derive(Clone, Default)]
pub struct Overrides {
    /// `--listen`
    pub listen: Option<SocketAddr>,
    /// `--broker`
    pub broker: Option<String>,
    /// `--metrics`
    pub metrics: Option<SocketAddr>,
    /// `--state`
    pub state: Option<String>,
    /// `--share-group`
    pub share_group: Option<String>,
    /// `--client-id`
    pub client_id: Option<String>,
    /// The state file to use when neither the file nor `--state` names a
    /// store (`kairos serve` always keeps state; a library user may not).
    pub default_state_file: Option<PathBuf>,
    /// `KAIROS_BROKER_USERNAME`
    pub username: Option<String>,
    /// `KAIROS_BROKER_PASSWORD`
    pub password: Option<String>,
    /// `KAIROS_EMBEDDED_USERS_FILE`
    pub embedded_users_file: Option<PathBuf>,
}

impl Overrides {
    /// What the environment overrides ([`ENV_USERNAME`], [`ENV_PASSWORD`],
    /// [`ENV_EMBEDDED_USERS_FILE`]; empty counts as unset), so that secrets
    /// need not be written in the file. The command line's fields are `None`.
    pub fn from_env() -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            username: env(ENV_USERNAME),
            password: env(ENV_PASSWORD),
            embedded_users_file: env(ENV_EMBEDDED_USERS_FILE).map(PathBuf::from),
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("listen", &self.listen)
            .field("broker", &self.broker)
            .field("metrics", &self.metrics)
            .field("state", &self.state)
            .field("share_group", &self.share_group)
            .field("client_id", &self.client_id)
            .field("default_state_file", &self.default_state_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("embedded_users_file", &self.embedded_users_file)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::from_toml("", "default.toml")
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
        Self::load_with(Some(path), &Overrides::default())
    }

    /// Reads a file (or only the defaults, for `None`), applies the
    /// command line's `overrides`, then validates.
    pub fn load_with(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let (text, name) = match path {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                    path: path.display().to_string(),
                    source,
                })?,
                path.display().to_string(),
            ),
            None => (String::new(), "configuration".to_string()),
        };
        Self::parse(&text, &name, overrides)
    }

    /// Parses TOML text over the defaults, then validates.
    pub fn from_toml(text: &str, name: &str) -> Result<Self, ConfigError> {
        Self::parse(text, name, &Overrides::default())
    }

    fn parse(text: &str, name: &str, overrides: &Overrides) -> Result<Self, ConfigError> {
        let invalid = |detail: String| ConfigError::Invalid {
            path: name.to_string(),
            detail,
        };
        let mut merged: toml::Table = DEFAULT_TOML
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        let given: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        merge(&mut merged, given);
        let mut raw: RawConfig = merged
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        raw.apply(overrides);
        raw.validated().map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_defaults_are_valid_and_are_the_engines_own() {
        let c = Config::default();
        assert_eq!(c.engine, EngineConfig::default());
        assert_eq!(c.serve.listen.to_string(), "127.0.0.1:1883");
        assert!(c.serve.broker.is_none());
        assert!(c.serve.state.is_none());
        assert!(c.serve.share_group.is_none());
    }

    #[test]
    fn serve_settings_are_validated() {
        let c = Config::from_toml("[serve]\nlisten = \"127.0.0.1:1999\"\n", "t").unwrap();
        assert_eq!(c.serve.listen.port(), 1999);
        for bad in [
            "channel_capacity = 0",
            "listen = \"nowhere\"",
            "max_packet_bytes = 100",
            "client_cert = \"c.pem\"",
            "metrics = \"nowhere\"",
            "share_group = \"a/b\"",
            "purge_every_s = 0",
            "broker = \"http://h\"",
            "state = \"postgres://db/kairos\"",
            "embedded_users_file = 3",
            "client_id = \"a-client-id-far-too-long-for-3.1.1\"",
        ] {
            let error = Config::from_toml(&format!("[serve]\n{bad}\n"), "t").unwrap_err();
            let key = bad.split(' ').next().unwrap();
            assert!(error.to_string().contains(key), "{bad}: {error}");
        }
        let c = Config::from_toml("[serve]\nmetrics = \"127.0.0.1:9464\"\n", "t").unwrap();
        assert_eq!(c.serve.metrics, Some("127.0.0.1:9464".parse().unwrap()));
    }

    #[test]
    fn a_file_overrides_only_what_it_names_and_unknown_keys_are_refused() {
        let c = Config::from_toml("[engine]\nmax_per_day = 5\n", "t").unwrap();
        assert_eq!(c.engine.max_per_day, 5);
        assert_eq!(c.engine.min_gap_min, 30);
        assert!(Config::from_toml("[engine]\nmax_per_dya = 5\n", "t").is_err());
        assert!(Config::from_toml("[engine]\nprefix = \"a/#\"\n", "t").is_err());
    }

    #[test]
    fn the_command_line_wins_over_the_file_and_is_validated_the_same() {
        let overrides = Overrides {
            broker: Some("mqtt://broker.local:1884".into()),
            state: Some("redis://127.0.0.1:6379/0".into()),
            share_group: Some("kairos".into()),
            default_state_file: Some(PathBuf::from("/tmp/never.redb")),
            ..Overrides::default()
        };
        let c = Config::parse("[serve]\nstate = \"/tmp/file.redb\"\n", "t", &overrides).unwrap();
        assert_eq!(c.serve.broker.unwrap().port, 1884);
        assert!(matches!(c.serve.state, Some(StateUrl::Redis(_))));
        assert_eq!(c.serve.share_group.unwrap().as_str(), "kairos");
        let bad = Overrides {
            share_group: Some("a b".into()),
            ..Overrides::default()
        };
        assert!(Config::parse("", "t", &bad).is_err());
    }

    #[test]
    fn the_environment_names_the_users_file_and_the_credentials_over_the_file() {
        let c = Config::from_toml(
            "[serve]\nembedded_users_file = \"/etc/kairos/users\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.serve.embedded_users_file,
            Some(PathBuf::from("/etc/kairos/users"))
        );
        assert_eq!(Config::default().serve.embedded_users_file, None);
        let overrides = Overrides {
            username: Some("env-user".into()),
            password: Some("env-secret".into()),
            embedded_users_file: Some(PathBuf::from("/run/kairos/users")),
            ..Overrides::default()
        };
        let file = "[serve]\nusername = \"u\"\npassword = \"p\"\nembedded_users_file = \"/etc/kairos/users\"\n";
        let c = Config::parse(file, "t", &overrides).unwrap();
        assert_eq!(c.serve.username.as_deref(), Some("env-user"));
        assert_eq!(c.serve.password.as_deref(), Some("env-secret"));
        assert_eq!(
            c.serve.embedded_users_file,
            Some(PathBuf::from("/run/kairos/users"))
        );
        assert!(!format!("{overrides:?}").contains("env-secret"));
    }

    #[test]
    fn the_default_state_file_applies_only_when_nothing_names_a_store() {
        let overrides = Overrides {
            default_state_file: Some(PathBuf::from("/tmp/default.redb")),
            ..Overrides::default()
        };
        let c = Config::parse("", "t", &overrides).unwrap();
        assert_eq!(
            c.serve.state,
            Some(StateUrl::File(PathBuf::from("/tmp/default.redb")))
        );
        let c = Config::parse("", "t", &Overrides::default()).unwrap();
        assert_eq!(c.serve.state, None);
    }
}
