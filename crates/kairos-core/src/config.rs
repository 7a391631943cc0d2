//! The decision core's settings (`[engine]` in kairos's configuration file).
//!
//! [`EngineConfig`] is always valid: the edge reads the file into raw values,
//! and [`EngineConfig::validated`] is the only way from those to a config the
//! engine accepts. The defaults are SPEC's and `default.toml`'s (a test in the
//! edge crate holds the two equal).

use serde::Deserialize;

/// The decision core's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Topic prefix.
    pub prefix: String,
    /// Minutes between two suggestions when the profile sets none.
    pub min_gap_min: u32,
    /// Suggestions per rolling 24 h when the profile sets none.
    pub max_per_day: u32,
    /// Largest payload accepted, in bytes.
    pub max_payload_bytes: usize,
    /// Inputs per second a device may sustain.
    pub rate_per_second: f64,
    /// Inputs a device may send at once.
    pub rate_burst: u32,
    /// Days of suggestion history kept per device.
    pub history_days: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            prefix: "kairos".to_string(),
            min_gap_min: 30,
            max_per_day: 3,
            max_payload_bytes: 65_536,
            rate_per_second: 10.0,
            rate_burst: 60,
            history_days: 90,
        }
    }
}

impl EngineConfig {
    /// These settings if they are usable, else why not (naming the key).
    pub fn validated(self) -> Result<Self, String> {
        if self.prefix.is_empty() || self.prefix.contains(['+', '#']) || self.prefix.ends_with('/')
        {
            return Err(
                "engine.prefix must be a non-empty topic without wildcards or a trailing /".into(),
            );
        }
        if !(self.rate_per_second > 0.0 && self.rate_per_second.is_finite()) || self.rate_burst == 0
        {
            return Err("engine.rate_per_second and engine.rate_burst must be positive".into());
        }
        if !(1..=36_500).contains(&self.history_days) {
            return Err("engine.history_days must be from 1 to 36500".into());
        }
        if self.max_payload_bytes == 0 {
            return Err("engine.max_payload_bytes must be positive".into());
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_values_are_named() {
        assert!(EngineConfig::default().validated().is_ok());
        let bad = EngineConfig {
            prefix: "a/#".into(),
            ..EngineConfig::default()
        };
        assert!(bad.validated().unwrap_err().contains("engine.prefix"));
        let bad = EngineConfig {
            history_days: 0,
            ..EngineConfig::default()
        };
        assert!(bad.validated().unwrap_err().contains("history_days"));
    }
}
