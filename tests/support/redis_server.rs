//! Helpers for the store tests: a real `redis-server` child process on its own
//! free port (never 6379), killed when dropped, and device records to save.

use std::io::{Read, Write};
use std::net::TcpStream;

pub use super::net::free_port;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kairos::device::{PersistedDevice, Profile, SuggestionRecord};

/// Where Debian puts the server (`.ci/run` installs the package).
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A redis-server of our own, without persistence.
pub struct RedisServer {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        let port = free_port();
        let mut server = Self { child: None, port };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:{port}/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server on the same port, empty, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing: install the `redis-server` package (.ci/run does)"
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut child = Command::new(REDIS_SERVER)
                .args(["--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            while Instant::now() < deadline {
                if ping(self.port) {
                    self.child = Some(child);
                    return;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (port still held?): try again
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every key matching `pattern`, by SCAN over a raw connection.
    pub fn scan(&self, pattern: &str) -> Vec<String> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut con = client.get_connection().unwrap();
        let mut keys: Vec<String> = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter(&mut con)
            .unwrap()
            .map(|k| k.unwrap())
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// `2026-07-15T12:00:00Z` plus `minutes`.
pub fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-07-15T12:00:00Z")
        .unwrap()
        .to_utc()
        + chrono::Duration::minutes(minutes)
}

/// A consenting device that got one suggestion at `at(minutes)`.
pub fn device_with_suggestion(minutes: i64, merchant: &str) -> PersistedDevice {
    let mut state = PersistedDevice {
        profile: Some(Profile {
            consent: true,
            ..Profile::default()
        }),
        ..PersistedDevice::default()
    };
    state.history.push(SuggestionRecord {
        id: format!("s-{minutes:016x}"),
        at: at(minutes),
        merchant: merchant.to_string(),
        offer: "place".to_string(),
        feedback: None,
        tags: vec!["tourism=museum".to_string()],
    });
    state
}
