//! `--state PATH|URL`: which store holds device state, and where the file
//! store lives by default.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::StoreError;

/// Where device state lives, as given to `--state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateUrl {
    /// A redb file (created with its folder if missing).
    File(PathBuf),
    /// A Redis server: `redis://[user:password@]host[:port][/db]`.
    Redis(String),
}

impl StateUrl {
    /// Reads `--state`: a `redis://` URL, or a file path (a `file://` prefix
    /// is allowed). Other URL schemes are refused rather than taken for paths.
    pub fn parse(given: &str) -> Result<Self, StoreError> {
        let bad = |detail: &str| StoreError::BadLocation {
            given: given.to_string(),
            detail: detail.to_string(),
        };
        if given.trim().is_empty() {
            return Err(bad("empty; give a file path or redis://host:port/db"));
        }
        if given.starts_with("redis://") {
            let url = ::redis::parse_redis_url(given)
                .ok_or_else(|| bad("not a valid redis:// URL (redis://host:port/db)"))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(bad("a redis:// URL needs a host (redis://host:port/db)"));
            }
            return Ok(StateUrl::Redis(given.to_string()));
        }
        if let Some(path) = given.strip_prefix("file://") {
            return Ok(StateUrl::File(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = given.split_once("://") {
            let detail = if scheme == "rediss" {
                "TLS to Redis (rediss://) is not supported; use redis:// on a trusted network"
                    .to_string()
            } else {
                format!("unknown scheme {scheme}://; give a file path or redis://host:port/db")
            };
            return Err(bad(&detail));
        }
        Ok(StateUrl::File(PathBuf::from(given)))
    }

    /// The file store at the platform's default place ([`default_state_path`]).
    pub fn default_file() -> Result<Self, StoreError> {
        default_state_path().map(StateUrl::File)
    }

    /// The location for messages, without a Redis password.
    pub fn display(&self) -> String {
        match self {
            StateUrl::File(path) => path.display().to_string(),
            StateUrl::Redis(url) => redact(url),
        }
    }
}

impl FromStr for StateUrl {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `state.redb` in kairos's folder of the platform data directory:
/// `$XDG_DATA_HOME/kairos/` (else `~/.local/share/kairos/`) on Linux,
/// `~/Library/Application Support/kairos/` on macOS, `%APPDATA%\kairos\` on
/// Windows.
pub fn default_state_path() -> Result<PathBuf, StoreError> {
    dirs::data_dir()
        .map(|dir| dir.join("kairos").join("state.redb"))
        .ok_or_else(|| StoreError::BadLocation {
            given: String::new(),
            detail: "no data directory on this platform (no HOME?); give --state PATH".into(),
        })
}

/// A Redis URL with its password hidden, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    match ::redis::parse_redis_url(url) {
        Some(mut parsed) if parsed.password().is_some() => {
            // Setting a password on a URL that already has one cannot fail.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// The path for messages.
pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_redis_urls_are_told_apart() {
        assert_eq!(
            StateUrl::parse("/var/lib/kairos/state.redb").unwrap(),
            StateUrl::File("/var/lib/kairos/state.redb".into())
        );
        assert_eq!(
            StateUrl::parse("state.redb").unwrap(),
            StateUrl::File("state.redb".into())
        );
        assert_eq!(
            StateUrl::parse("file:///tmp/s.redb").unwrap(),
            StateUrl::File("/tmp/s.redb".into())
        );
        assert_eq!(
            StateUrl::parse("redis://10.0.0.5:6380/2").unwrap(),
            StateUrl::Redis("redis://10.0.0.5:6380/2".into())
        );
        assert!(StateUrl::parse("").is_err());
        assert!(StateUrl::parse("postgres://db/kairos").is_err());
        assert!(StateUrl::parse("rediss://host:6380").is_err());
    }

    #[test]
    fn a_redis_password_never_reaches_a_message() {
        let url = StateUrl::parse("redis://kairos:s3cret@10.0.0.5:6380/0").unwrap();
        assert!(!url.display().contains("s3cret"), "{}", url.display());
    }

    #[test]
    fn the_default_file_is_in_kairos_own_data_folder() {
        if let Ok(path) = default_state_path() {
            assert!(path.ends_with("kairos/state.redb"), "{}", path.display());
        }
    }
}
