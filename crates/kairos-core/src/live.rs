//! A device's live state in a shareable form: what an instance needs to
//! answer as if it had seen the device's last inputs itself (the last good
//! position and when it came, and when a stale one last came).
//!
//! Pure data: `serve` keeps it in a volatile store (`--volatile`) and passes it
//! in and out of the engine with [`Engine::import_live`] and
//! [`Engine::export_live`](crate::Engine::export_live). Never persisted: SPEC
//! Privacy allows only memory or a store that writes nothing to disk.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::device::{Device, Position, RoadState};
use crate::geodesy::LatLon;

/// The live part of a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveDevice {
    /// The last good position, if any.
    pub position: Option<LivePosition>,
    /// When a stale position report last arrived.
    pub stale_report_at: Option<DateTime<Utc>>,
}

/// A [`Position`] and when it was received.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LivePosition {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Heading, degrees from north.
    pub heading: Option<f64>,
    /// Speed, m/s.
    pub speed: f64,
    /// Accuracy, metres.
    pub accuracy: Option<f64>,
    /// The device's timestamp.
    pub ts: DateTime<Utc>,
    /// When kairos received it.
    pub received: DateTime<Utc>,
}

impl LiveDevice {
    /// The live part of `device`, `None` when it has none.
    pub fn of(device: &Device) -> Option<Self> {
        let position = device.position.map(|(p, received)| LivePosition {
            lat: p.location.lat,
            lon: p.location.lon,
            heading: p.heading,
            speed: p.speed,
            accuracy: p.accuracy,
            ts: p.ts,
            received,
        });
        if position.is_none() && device.stale_report_at.is_none() {
            return None;
        }
        Some(Self {
            position,
            stale_report_at: device.stale_report_at,
        })
    }

    /// Puts `live` (`None`: nothing live) into `device`. A road match held
    /// for another position than the one given is dropped: it described an
    /// older one.
    pub fn restore(device: &mut Device, live: Option<&Self>) {
        let position = live.and_then(|l| l.position).map(|p| {
            let position = Position {
                location: LatLon::new(p.lat, p.lon),
                heading: p.heading,
                speed: p.speed,
                accuracy: p.accuracy,
                ts: p.ts,
            };
            (position, p.received)
        });
        if device.position != position {
            device.road = RoadState::default();
        }
        device.position = position;
        device.stale_report_at = live.and_then(|l| l.stale_report_at);
    }
}
