//! The engine's clock in `serve`: the receive time of each input.
//!
//! Live, it is the system clock. The demo drives a recorded timeline (a July
//! lunchtime) faster than real time, so its engine runs on a [`Clock::scaled`]
//! clock: anchored at the drive's first instant, paused until the drive starts,
//! then advancing `speed` times faster than real time. The engine itself never
//! reads a clock; the edge stamps each input with `Clock::now` on arrival.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Where `serve` takes the time of an input from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock (UTC).
    System,
    /// A timeline anchored at an instant, running faster than real time.
    Scaled(ScaledClock),
}

/// A clock anchored at `anchor`, paused until [`Clock::start`], then running
/// `speed` times faster than real time. Clones share the same start.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    anchor: DateTime<Utc>,
    speed: f64,
    started: Arc<OnceLock<Instant>>,
}

impl Clock {
    /// A paused clock at `anchor` that will run `speed` times faster than real time.
    /// A speed that is not a positive finite number counts as 1.
    pub fn scaled(anchor: DateTime<Utc>, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Clock::Scaled(ScaledClock {
            anchor,
            speed,
            started: Arc::new(OnceLock::new()),
        })
    }

    /// Starts a scaled clock (once; later calls do nothing). The system clock always runs.
    pub fn start(&self) {
        if let Clock::Scaled(c) = self {
            c.started.get_or_init(Instant::now);
        }
    }

    /// The current time on this clock.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Scaled(c) => match c.started.get() {
                None => c.anchor,
                Some(start) => {
                    let virtual_elapsed = start.elapsed().mul_f64(c.speed);
                    c.anchor
                        + chrono::Duration::from_std(virtual_elapsed)
                            .unwrap_or(chrono::TimeDelta::MAX)
                }
            },
        }
    }

    /// How long to wait in real time until this clock reads `at` (zero when it
    /// already has).
    pub fn real_until(&self, at: DateTime<Utc>) -> Duration {
        let ahead = (at - self.now()).to_std().unwrap_or(Duration::ZERO);
        match self {
            Clock::System => ahead,
            Clock::Scaled(c) => ahead.div_f64(c.speed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_waits_at_its_anchor_then_runs_faster() {
        let anchor = DateTime::parse_from_rfc3339("2026-07-15T12:00:00Z")
            .unwrap()
            .to_utc();
        let clock = Clock::scaled(anchor, 1000.0);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.now(), anchor);
        clock.start();
        std::thread::sleep(Duration::from_millis(20));
        let now = clock.now();
        assert!(now >= anchor + chrono::Duration::seconds(20), "{now}");
        let wait = clock.real_until(now + chrono::Duration::seconds(10));
        assert!(wait <= Duration::from_millis(10), "{wait:?}");
    }
}
