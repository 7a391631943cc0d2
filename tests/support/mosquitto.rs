//! A real Mosquitto of the test's own: on free ports, with the test's own
//! configuration, killed when dropped. A missing Mosquitto fails loudly with
//! the package to install (`scripts/test` installs it).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::net::{free_port, wait_listening};

/// The Mosquitto broker binary (Debian puts it in /usr/sbin, often off PATH).
pub fn mosquitto_binary() -> PathBuf {
    [
        "/usr/sbin/mosquitto",
        "/usr/local/sbin/mosquitto",
        "/opt/homebrew/sbin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| PathBuf::from("mosquitto"))
}

/// A running Mosquitto, its log in its own folder.
pub struct Mosquitto {
    child: Option<Child>,
    /// The port tests connect to (the first one it was asked to listen on).
    pub port: u16,
    ports: Vec<u16>,
    conf: PathBuf,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Mosquitto {
    /// An anonymous broker on a free loopback port, without persistence.
    pub fn start() -> Self {
        Self::on_port(free_port())
    }

    /// An anonymous broker on `port`, without persistence.
    pub fn on_port(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 100000\nmax_inflight_messages 0\n"
            ),
        )
        .unwrap();
        Self::with_config(dir, conf, &[port])
    }

    /// Mosquitto on the configuration file `conf` (written by the caller in
    /// `dir`, which lives as long as the broker), waiting until every one of
    /// `ports` accepts connections. Exiting first fails with its log.
    pub fn with_config(dir: tempfile::TempDir, conf: PathBuf, ports: &[u16]) -> Self {
        let mut broker = Self::on_config(conf, ports);
        broker._dir = Some(dir);
        broker
    }

    /// Mosquitto on the configuration file `conf`, in a folder the caller
    /// keeps (its log, `mosquitto.log`, goes beside `conf`, appended to across
    /// restarts).
    pub fn on_config(conf: PathBuf, ports: &[u16]) -> Self {
        let log = conf.with_file_name("mosquitto.log");
        let mut broker = Self {
            child: None,
            port: ports[0],
            ports: ports.to_vec(),
            conf,
            log,
            _dir: None,
        };
        broker.restart();
        broker
    }

    /// `mqtt://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM (Mosquitto saves its persistent state), and waits until it is gone.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Kills the broker (SIGKILL) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same configuration and ports.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mosquitto must be installed for this test (apt-get install mosquitto; scripts/test does)");
        for &port in &self.ports {
            wait_listening(port, "mosquitto", || {
                let status = child.try_wait().ok()??;
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                Some(format!("{status}\n{log}"))
            });
        }
        self.child = Some(child);
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}
