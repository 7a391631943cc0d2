//! The configuration file as written: TOML over the bundled defaults, with
//! strings where an empty value means "none". Nothing here is used to run
//! anything: [`RawConfig::validated`] turns it into a [`Config`].

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{BrokerAddress, ClientIdentity, Config, Overrides, ServeConfig, ShareGroup};
use crate::store::StateUrl;
use kairos_core::EngineConfig;

/// The whole file, keys as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub engine: EngineConfig,
    pub serve: RawServe,
}

/// `[serve]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    pub listen: String,
    pub broker: String,
    pub username: String,
    pub password: String,
    pub ca_file: String,
    pub client_cert: String,
    pub client_key: String,
    pub metrics: String,
    pub client_id: String,
    pub channel_capacity: usize,
    pub max_packet_bytes: usize,
    pub sweep_every_s: u64,
    pub offers_poll_ms: u64,
    pub owntracks: bool,
    pub state: String,
    pub share_group: String,
    pub purge_every_s: u64,
    pub embedded_users_file: String,
}

/// The longest client id every MQTT 3.1.1 broker must accept.
pub(super) const CLIENT_ID_MAX: usize = 23;

fn given(value: &str) -> Option<&str> {
    Some(value).filter(|v| !v.is_empty())
}

impl RawConfig {
    /// The command line's overrides over the file's values.
    pub fn apply(&mut self, overrides: &Overrides) {
        let serve = &mut self.serve;
        if let Some(listen) = overrides.listen {
            serve.listen = listen.to_string();
        }
        if let Some(broker) = &overrides.broker {
            serve.broker.clone_from(broker);
        }
        if let Some(metrics) = overrides.metrics {
            serve.metrics = metrics.to_string();
        }
        if let Some(state) = &overrides.state {
            serve.state.clone_from(state);
        }
        if serve.state.is_empty() {
            if let Some(default) = &overrides.default_state_file {
                serve.state = default.display().to_string();
            }
        }
        if let Some(id) = &overrides.client_id {
            serve.client_id.clone_from(id);
        }
        if let Some(group) = &overrides.share_group {
            serve.share_group.clone_from(group);
        }
        if let Some(username) = &overrides.username {
            serve.username.clone_from(username);
        }
        if let Some(password) = &overrides.password {
            serve.password.clone_from(password);
        }
        if let Some(file) = &overrides.embedded_users_file {
            serve.embedded_users_file = file.display().to_string();
        }
    }

    /// A configuration whose every value is usable, or why not (naming the key).
    pub fn validated(self) -> Result<Config, String> {
        let engine = self.engine.validated()?;
        let s = self.serve;
        let listen: SocketAddr = s
            .listen
            .parse()
            .map_err(|_| format!("serve.listen must be HOST:PORT, not {:?}", s.listen))?;
        let broker = given(&s.broker)
            .map(BrokerAddress::parse)
            .transpose()
            .map_err(|e| e.to_string())?;
        if s.client_id.is_empty() || s.client_id.len() > CLIENT_ID_MAX {
            return Err(format!(
                "serve.client_id must have 1 to {CLIENT_ID_MAX} characters"
            ));
        }
        let channel_capacity = NonZeroUsize::new(s.channel_capacity)
            .ok_or("serve.channel_capacity must be positive")?;
        let positive = |value: u64, key: &str| {
            if value == 0 {
                Err(format!("serve.{key} must be positive"))
            } else {
                Ok(value)
            }
        };
        let sweep_every = Duration::from_secs(positive(s.sweep_every_s, "sweep_every_s")?);
        let offers_poll = Duration::from_millis(positive(s.offers_poll_ms, "offers_poll_ms")?);
        let purge_every = Duration::from_secs(positive(s.purge_every_s, "purge_every_s")?);
        let share_group = given(&s.share_group)
            .map(ShareGroup::new)
            .transpose()
            .map_err(|why| format!("serve.share_group {:?}: {why}", s.share_group))?;
        let client_identity = match (given(&s.client_cert), given(&s.client_key)) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(ClientIdentity {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
            }),
            _ => {
                return Err(
                    "serve.client_cert and serve.client_key go together: give both or neither"
                        .into(),
                )
            }
        };
        let metrics = given(&s.metrics)
            .map(|m| {
                m.parse::<SocketAddr>().map_err(|_| {
                    format!("serve.metrics must be HOST:PORT (e.g. 127.0.0.1:9464), not {m:?}")
                })
            })
            .transpose()?;
        let route_bytes = kairos_core::input::MAX_ROUTE_BYTES;
        if s.max_packet_bytes <= engine.max_payload_bytes.max(route_bytes) {
            return Err(format!(
                "serve.max_packet_bytes must be larger than engine.max_payload_bytes and than a route's {route_bytes} bytes"
            ));
        }
        let state = given(&s.state)
            .map(StateUrl::parse)
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(Config {
            engine,
            serve: ServeConfig {
                listen,
                broker,
                username: given(&s.username).map(str::to_string),
                password: given(&s.password).map(str::to_string),
                ca_file: given(&s.ca_file).map(PathBuf::from),
                client_identity,
                metrics,
                client_id: s.client_id,
                channel_capacity,
                max_packet_bytes: s.max_packet_bytes,
                sweep_every,
                offers_poll,
                owntracks: s.owntracks,
                state,
                share_group,
                purge_every,
                embedded_users_file: given(&s.embedded_users_file).map(PathBuf::from),
            },
        })
    }
}

/// Merges `overrides` into `base`, table by table.
pub(super) fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}
