//! The embedded broker's accounts: a Mosquitto password file
//! (`serve.embedded_users_file`, made and edited with `mosquitto_passwd`),
//! and kairos's own account, made afresh at each start.
//!
//! Each line of the file is `user:hash`, the hash in one of Mosquitto's
//! formats, salt and hash in base64:
//! - `$7$ITERATIONS$SALT$HASH`: PBKDF2-HMAC-SHA512 (Mosquitto 2's default);
//! - `$6$SALT$HASH`: SHA-512 of the password then the salt (Mosquitto 1.x).
//!
//! Blank lines and lines starting with `#` are skipped. Anything else is
//! refused with its line number and user name, never with what follows the
//! colon: a plain-text password among them (hash the file in place with
//! `mosquitto_passwd -U FILE`). No password is kept, compared or logged in
//! clear, and every comparison takes the same time whatever matches.
//!
//! kairos's own client logs in as [`ENGINE_USER`] with a random password that
//! exists only in this process's memory ([`EngineLogin`]): the file holds the
//! devices' accounts (and other clients'), never kairos's. The embedded broker
//! authenticates; it does not authorise per topic, so any account may still
//! read and write every topic (docs/serve.md, "Access").

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::rand::SecureRandom as _;
use subtle::ConstantTimeEq as _;

/// The user name kairos's own client logs in with (a dot: no device id has
/// one, so it is never a device's account).
pub const ENGINE_USER: &str = "kairos.engine";

/// The accounts the embedded broker accepts.
#[derive(Clone)]
pub struct Users {
    accounts: HashMap<String, Hash>,
    engine: EngineLogin,
}

/// The credentials kairos's own client logs in with: [`ENGINE_USER`] and a
/// password drawn at start, never written anywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct EngineLogin {
    /// The user name ([`ENGINE_USER`]).
    pub username: String,
    /// The password (24 random bytes, base64).
    pub password: String,
}

/// A stored password hash.
#[derive(Clone)]
enum Hash {
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2 {
        iterations: NonZeroU32,
        salt: Vec<u8>,
        derived: Vec<u8>,
    },
    /// `$6$`: SHA-512(password ‖ salt).
    Sha512 { salt: Vec<u8>, digest: Vec<u8> },
}

/// Why a password file cannot be used: one line, naming the file and, for a
/// bad line, its number and user (never the hash or a password).
#[derive(Debug, thiserror::Error)]
#[error("serve.embedded_users_file {}: {detail}", path.display())]
pub struct UsersError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub detail: String,
}

impl Users {
    /// Reads the password file at `path`.
    pub fn load(path: &Path) -> Result<Self, UsersError> {
        let fail = |detail: String| UsersError {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        Self::parse(&text).map_err(fail)
    }

    /// Reads the text of a password file; the error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut accounts = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim_end_matches(['\r', ' ', '\t']);
            if line.trim_start().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!(
                    "line {number}: expected user:hash (made with mosquitto_passwd)"
                ));
            };
            if user.is_empty() {
                return Err(format!("line {number}: no user name before ':'"));
            }
            let hash =
                Hash::parse(hash).map_err(|why| format!("line {number} ({user:?}): {why}"))?;
            if accounts.insert(user.to_string(), hash).is_some() {
                return Err(format!("line {number}: user {user:?} is listed twice"));
            }
        }
        if accounts.is_empty() {
            return Err(
                "no accounts (add one with `mosquitto_passwd FILE USER`, or `-c` to create the file)"
                    .into(),
            );
        }
        Ok(Self {
            accounts,
            engine: EngineLogin::random()?,
        })
    }

    /// Whether `username` / `password` is kairos's own login or an account
    /// of the file.
    pub fn verify(&self, username: &str, password: &str) -> bool {
        let engine = username == self.engine.username
            && bool::from(password.as_bytes().ct_eq(self.engine.password.as_bytes()));
        engine
            || self
                .accounts
                .get(username)
                .is_some_and(|hash| hash.matches(password.as_bytes()))
    }

    /// The login kairos's own client uses.
    pub fn engine_login(&self) -> &EngineLogin {
        &self.engine
    }

    /// How many accounts the file has.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Never: a file without accounts is refused.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.accounts.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Users").field("accounts", &names).finish()
    }
}

impl EngineLogin {
    /// [`ENGINE_USER`] with a fresh random password.
    fn random() -> Result<Self, String> {
        let mut secret = [0u8; 24];
        ring::rand::SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| "no system randomness for kairos's own login".to_string())?;
        Ok(Self {
            username: ENGINE_USER.to_string(),
            password: base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
        })
    }
}

impl fmt::Debug for EngineLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineLogin")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Hash {
    /// Reads one of Mosquitto's hash formats.
    fn parse(text: &str) -> Result<Self, &'static str> {
        const PLAIN: &str = "not a hashed password (hash the file with `mosquitto_passwd -U FILE`)";
        let b64 = |part: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(part)
                .map_err(|_| "the salt or hash is not base64")
        };
        let parts: Vec<&str> = text.split('$').collect();
        match parts.as_slice() {
            ["", "7", iterations, salt, derived] => {
                let iterations = iterations
                    .parse::<u32>()
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or("the iteration count is not a positive number")?;
                let (salt, derived) = (b64(salt)?, b64(derived)?);
                if derived.is_empty() {
                    return Err("the hash is empty");
                }
                Ok(Self::Pbkdf2 {
                    iterations,
                    salt,
                    derived,
                })
            }
            ["", "6", salt, digest] => {
                let (salt, digest) = (b64(salt)?, b64(digest)?);
                if digest.len() != 64 {
                    return Err("a $6$ hash must be 64 bytes of SHA-512");
                }
                Ok(Self::Sha512 { salt, digest })
            }
            ["", kind, ..] if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_digit()) => {
                Err("an unsupported hash (make it with mosquitto_passwd -H sha512-pbkdf2)")
            }
            _ => Err(PLAIN),
        }
    }

    /// Whether `password` hashes to this, in constant time.
    fn matches(&self, password: &[u8]) -> bool {
        match self {
            Self::Pbkdf2 {
                iterations,
                salt,
                derived,
            } => ring::pbkdf2::verify(
                ring::pbkdf2::PBKDF2_HMAC_SHA512,
                *iterations,
                salt,
                password,
                derived,
            )
            .is_ok(),
            Self::Sha512 { salt, digest } => {
                let mut context = ring::digest::Context::new(&ring::digest::SHA512);
                context.update(password);
                context.update(salt);
                context.finish().as_ref().ct_eq(digest).into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with Mosquitto 2.0.11's `mosquitto_passwd -b [-H sha512] FILE USER PASSWORD`.
    const ALICE_SHA512: &str = "alice:$6$WAFngP/ifjB6UpZS$EXLIAUZB32+Cxkn7guDNgOC3mpFhEnFTYhgA4o3PipBdadkA5RcMXENVljI0ZNiuMxtu1xzxhSer0lSOgPw+5g==";
    const BOB_PBKDF2: &str = "bob:$7$101$RH9xurSIwDsGjJ2W$+/7FImgVr21JbCp3OxM3Y7Hr2m5le2g8+/PNNjN5XYc7anE6OuKHXny4VzQE777K4XtkZCkxQQo21pik8ITosw==";

    fn users() -> Users {
        Users::parse(&format!("# devices\n{ALICE_SHA512}\n\n{BOB_PBKDF2}\r\n")).unwrap()
    }

    #[test]
    fn mosquitto_passwd_hashes_of_both_formats_verify_their_password_only() {
        let users = users();
        assert_eq!(users.len(), 2);
        assert!(users.verify("alice", "open sesame"));
        assert!(users.verify("bob", "pâté:liver"));
        assert!(!users.verify("alice", "open sesame "));
        assert!(!users.verify("alice", "pâté:liver"));
        assert!(!users.verify("bob", "pâté"));
        assert!(!users.verify("carol", "open sesame"));
        assert!(!users.verify("", ""));
    }

    #[test]
    fn the_engine_logs_in_with_a_password_of_its_own_that_no_file_gives() {
        let users = users();
        let login = users.engine_login().clone();
        assert_eq!(login.username, ENGINE_USER);
        assert!(login.password.len() >= 32);
        assert!(users.verify(&login.username, &login.password));
        assert!(!users.verify(&login.username, ""));
        assert!(!users.verify("alice", &login.password));
        // Another start, another password.
        let again = self::users();
        assert_ne!(again.engine_login().password, login.password);
        assert!(!again.verify(&login.username, &login.password));
    }

    #[test]
    fn a_bad_line_is_refused_by_number_and_user_without_its_secret() {
        for (text, expect) in [
            (
                "alice:open-sesame\n",
                "line 1 (\"alice\"): not a hashed password",
            ),
            (
                &format!("{BOB_PBKDF2}\ncarol:$7$101$!!$AAAA\n") as &str,
                "line 2 (\"carol\"): the salt or hash is not base64",
            ),
            ("dave:$8$x$y$z\n", "unsupported hash"),
            ("erin:$7$0$AAAA$AAAA\n", "iteration count"),
            ("no colon here\n", "line 1: expected user:hash"),
            (":$6$AAAA$AAAA\n", "no user name"),
            (&format!("{BOB_PBKDF2}\n{BOB_PBKDF2}\n"), "listed twice"),
            ("# only a comment\n\n", "no accounts"),
        ] {
            let error = Users::parse(text).unwrap_err();
            assert!(error.contains(expect), "{text:?}: {error}");
            assert!(!error.contains("open-sesame"), "{error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn neither_debug_shows_a_hash_or_a_password() {
        let users = users();
        let shown = format!("{users:?} {:?}", users.engine_login());
        assert!(shown.contains("alice") && shown.contains("bob"), "{shown}");
        assert!(!shown.contains("$7$") && !shown.contains("$6$"), "{shown}");
        assert!(!shown.contains(&users.engine_login().password), "{shown}");
    }

    #[test]
    fn a_missing_file_is_one_line_naming_the_key_and_the_path() {
        let error = Users::load(Path::new("/nonexistent/kairos-users")).unwrap_err();
        let line = error.to_string();
        assert!(
            line.starts_with("serve.embedded_users_file /nonexistent/kairos-users: cannot read"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
