//! The decision core: `Engine::step(input, at) -> outputs`.
//!
//! Pure and deterministic: no clock, no IO, no randomness. The time of an event
//! is given by the caller (the trace's `at` in replay, the receive time in
//! serve), so both run exactly the same code.
//!
//! A few hooks let an edge keep device state in a store around `step`
//! without the core doing any IO: [`Input::device`] names the device an
//! input touches, [`Engine::import_device`] loads its persisted state before
//! the step, [`Engine::export_device`] reads it back after, and
//! [`Engine::forget_device`] / [`Engine::evict_settled`] drop it from memory.
//! `step` itself neither knows nor cares whether a store exists.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::catalog::Catalog;
use crate::config::EngineConfig;
use crate::decide::{best_offer, RouteView, Scratch, Situation};
use crate::device::{Device, PersistedDevice, Position, Profile, SuggestionRecord, RECENT};
use crate::feedback::apply_feedback;
use crate::input::{read, ErrorCode, Event, Input, InputError, Kind, PositionReport};
use crate::offers::zone::timezone_at;
use crate::output::{Body, ErrorReport, NoSuggestion, NoneReason, Output, Publish};
use crate::roads::{Access, RoadNetwork};
use crate::route::{Route, RouteState};
use crate::rules::Rule;
use crate::stamp::Stamp;
use crate::suggestion::build_suggestion;

/// Floor of the gap between two suggestions, whatever the profile says.
pub const MIN_GAP_FLOOR_MIN: u32 = 10;

/// The engine: the catalog in service and every device's state.
pub struct Engine {
    config: EngineConfig,
    catalog: Arc<Catalog>,
    devices: HashMap<String, Device>,
    /// The merchants on the road network, when roads are loaded.
    access: Option<Arc<Access>>,
    /// What decisions reuse: opening-hours states (a pure memo) and the road
    /// search's buffers.
    scratch: RefCell<Scratch>,
}

impl Engine {
    /// An engine serving `catalog`.
    pub fn new(config: EngineConfig, catalog: Arc<Catalog>) -> Self {
        Self {
            config,
            catalog,
            devices: HashMap::new(),
            access: None,
            scratch: RefCell::default(),
        }
    }

    /// Swaps the catalog in service (device state is kept).
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        self.catalog = catalog;
        self.scratch.get_mut().hours.clear();
        self.access = self
            .access
            .as_ref()
            .map(|a| Arc::new(Access::new(a.network_arc().clone(), &self.catalog)));
    }

    /// Swaps the road network in service (`None`: decide in straight lines).
    /// Devices' road matches are forgotten: they name the old network's roads.
    pub fn set_roads(&mut self, roads: Option<Arc<RoadNetwork>>) {
        self.access = roads.map(|network| Arc::new(Access::new(network, &self.catalog)));
        for device in self.devices.values_mut() {
            device.road = Default::default();
        }
    }

    /// The road network in service, if any.
    pub fn roads(&self) -> Option<&RoadNetwork> {
        self.access.as_deref().map(Access::network)
    }

    /// The catalog in service.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// How many devices kairos holds state for.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// The state of one device, if any.
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.devices.get(id)
    }

    /// Reads one message once, with this engine's prefix and size limit (see
    /// [`input::read`](crate::input::read)).
    pub fn read(&self, topic: &str, payload: &[u8]) -> Input {
        read(
            &self.config.prefix,
            topic,
            payload,
            self.config.max_payload_bytes,
        )
    }

    /// The persisted part of a device's state (all but its position and rate
    /// limit), or `None` when the engine holds nothing for it (never seen, or
    /// forgotten).
    pub fn export_device(&self, id: &str) -> Option<PersistedDevice> {
        self.devices.get(id).map(Device::persisted)
    }

    /// Replaces the persisted part of a device's state with `state` (as
    /// loaded from a store; `PersistedDevice::default()` when the store holds
    /// nothing). A position and rate limit held in memory are kept.
    pub fn import_device(&mut self, id: &str, state: PersistedDevice) {
        self.devices
            .entry(id.to_string())
            .or_default()
            .restore(state);
    }

    /// Drops everything the engine holds about a device, position included
    /// (what a `forget` input does, without an output).
    pub fn forget_device(&mut self, id: &str) {
        self.devices.remove(id);
    }

    /// For an engine whose devices live in a store: drops from memory every
    /// device that holds nothing volatile (no position less than 2 h old, a
    /// refilled rate limit), since the store has the rest and it is imported
    /// again before the device's next input. Returns how many were dropped.
    pub fn evict_settled(&mut self, now: DateTime<Utc>) -> usize {
        let before = self.devices.len();
        self.devices
            .retain(|_, device| !device.holds_nothing_volatile(now));
        before - self.devices.len()
    }

    /// Forgets what has expired everywhere: positions after 2 h without news,
    /// old history, devices with nothing left.
    pub fn sweep(&mut self, now: DateTime<Utc>) {
        let retention = Duration::days(i64::from(self.config.history_days));
        self.devices.retain(|_, device| {
            device.expire(now, retention);
            !device.is_idle(now)
        });
    }

    /// Handles one input received at `at`; returns what to publish.
    pub fn step(&mut self, input: &Input, at: &Stamp) -> Vec<Output> {
        let (device_id, topic) = match input {
            Input::Event { device, topic, .. } | Input::Malformed { device, topic, .. } => {
                (device.as_str(), topic.as_str())
            }
            Input::Output { .. } => return Vec::new(),
            Input::Invalid { topic, reason } => {
                return vec![Output::Dropped {
                    topic: topic.clone(),
                    reason,
                }]
            }
        };
        if !self.devices.contains_key(device_id) {
            self.devices
                .insert(device_id.to_string(), Device::default());
        }
        let Some(device) = self.devices.get_mut(device_id) else {
            return Vec::new();
        };
        let rate = (
            self.config.rate_per_second,
            f64::from(self.config.rate_burst),
        );
        if !device.bucket.take(at.time, rate.0, rate.1) {
            // One error per spell of overload: the flag clears once the bucket refills.
            if device.bucket_notified(true) {
                return Vec::new();
            }
            let error = InputError::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {} inputs per second; this and the rest of the burst are ignored",
                    rate.0
                ),
            );
            return vec![self.error(device_id, topic, error)];
        }
        if device.bucket.tokens() >= rate.1 - 1.0 {
            device.bucket_notified(false);
        }
        let event = match input {
            Input::Event { event, .. } => event.clone(),
            Input::Malformed { error, .. } => {
                return vec![self.error(device_id, topic, error.clone())]
            }
            Input::Output { .. } | Input::Invalid { .. } => return Vec::new(),
        };
        let outputs = self.apply(device_id, topic, event, at);
        if let Some(device) = self.devices.get_mut(device_id) {
            device.expire(at.time, Duration::days(i64::from(self.config.history_days)));
        }
        outputs
    }

    fn apply(&mut self, device_id: &str, topic: &str, event: Event, at: &Stamp) -> Vec<Output> {
        let now = at.time;
        // `step` made the entry just before.
        let Some(device) = self.devices.get_mut(device_id) else {
            return Vec::new();
        };
        match event {
            Event::Position(report) => {
                let position = position_from(&report, now);
                if !position.is_fresh_at(now) {
                    device.stale_report_at = Some(now);
                    return Vec::new();
                }
                if !position.is_accurate() {
                    return Vec::new();
                }
                if let Some(access) = &self.access {
                    device.road.matched = access.network().match_position(
                        position.location,
                        position.heading,
                        position.speed,
                        &mut device.road.memory,
                    );
                }
                if let Some(route) = &mut device.route {
                    route.update(position.location, position.heading);
                }
                device.position = Some((position, now));
                device.stale_report_at = None;
                self.suggest(device_id, at, Trigger::Position)
                    .into_iter()
                    .collect()
            }
            Event::Context(update) => {
                device.context.merge(&update, now);
                Vec::new()
            }
            Event::Profile(profile) => {
                // `learn: false` turns learning off and erases what was learned.
                if profile.as_ref().is_some_and(|p| !p.learn) {
                    device.tastes.clear();
                }
                device.profile = profile;
                Vec::new()
            }
            Event::Feedback(feedback) => match apply_feedback(device, &feedback, now) {
                Ok(()) => Vec::new(),
                Err(error) => vec![self.error(device_id, topic, error)],
            },
            Event::Ask(update) => {
                device.context.merge(&update, now);
                self.suggest(device_id, at, Trigger::Ask)
                    .into_iter()
                    .collect()
            }
            Event::Route(points) => {
                device.route = points.map(|points| RouteState::new(Route::new(points), now));
                Vec::new()
            }
            Event::Export => vec![Output::Publish(Publish {
                topic: format!("{}/{device_id}/data", self.config.prefix),
                body: Body::Data(Box::new(crate::export::data(device_id, Some(device), at))),
                retain: false,
            })],
            Event::Forget => {
                self.devices.remove(device_id);
                vec![Output::Publish(Publish {
                    topic: format!(
                        "{}/{device_id}/{}",
                        self.config.prefix,
                        Kind::Profile.as_str()
                    ),
                    body: Body::Empty,
                    retain: true,
                })]
            }
        }
    }

    /// Makes at most one suggestion for the device; for `ask`, always answers.
    fn suggest(&mut self, device_id: &str, at: &Stamp, trigger: Trigger) -> Option<Output> {
        let now = at.time;
        let device = self.devices.get(device_id)?;
        let answer = |reason| Some(self.publish_answer(device_id, at, reason));
        let profile = match device.profile.as_ref().filter(|p| p.consent) {
            Some(p) => p,
            None if trigger == Trigger::Ask => return answer(NoneReason::NoConsent),
            None => return None,
        };
        let position = match device.position(now) {
            Some(p) => p,
            None if trigger == Trigger::Position => return None,
            // Only stale reports arrived lately: say so rather than "no position".
            None if device.stale_since(now) => return answer(NoneReason::StalePosition),
            None => return answer(NoneReason::NoPosition),
        };
        if !position.is_fresh_at(now) {
            return match trigger {
                Trigger::Ask => answer(NoneReason::StalePosition),
                Trigger::Position => None,
            };
        }
        if trigger == Trigger::Position && self.respect(device, profile, position, now).is_err() {
            return None;
        }
        let situation = Situation {
            catalog: &self.catalog,
            access: self.access.as_deref(),
            device,
            profile,
            position,
            road_match: device.road.matched,
            now,
            route: self.route_view(device),
        };
        let Some(choice) = best_offer(&situation, profile, &mut self.scratch.borrow_mut()) else {
            return match trigger {
                Trigger::Ask => answer(NoneReason::NothingFits),
                Trigger::Position => None,
            };
        };
        let moving = crate::rules::travel_frame(position).is_some();
        let suggestion = build_suggestion(
            device_id,
            at,
            &choice,
            profile,
            moving,
            self.access.is_some(),
        );
        let record = SuggestionRecord {
            id: suggestion.id.clone(),
            at: now,
            merchant: suggestion.merchant.id.clone(),
            offer: suggestion.offer.id.clone(),
            feedback: None,
            tags: crate::tastes::taste_tags(choice.merchant),
        };
        let topic = format!("{}/{device_id}/suggestion", self.config.prefix);
        if let Some(device) = self.devices.get_mut(device_id) {
            device.record_suggestion(record);
        }
        Some(Output::Publish(Publish {
            topic,
            body: Body::Suggestion(Box::new(suggestion)),
            retain: false,
        }))
    }

    /// Quiet hours, the gap and the daily cap (not applied to `ask`): the
    /// first that forbids a suggestion now, if any.
    pub(crate) fn respect(
        &self,
        device: &Device,
        profile: &Profile,
        position: &Position,
        now: DateTime<Utc>,
    ) -> Result<(), Rule> {
        if let Some(quiet) = profile.quiet_hours {
            let local = now.with_timezone(&timezone_at(position.location)).time();
            if quiet.contains(local) {
                return Err(Rule::QuietHours);
            }
        }
        let gap_min = profile
            .min_gap_min
            .unwrap_or(self.config.min_gap_min)
            .max(MIN_GAP_FLOOR_MIN);
        if device
            .last_suggestion_at()
            .is_some_and(|last| now - last < Duration::minutes(i64::from(gap_min)))
        {
            return Err(Rule::Gap);
        }
        let cap = profile.max_per_day.unwrap_or(self.config.max_per_day) as usize;
        if device.suggestions_since(now - RECENT) >= cap {
            return Err(Rule::DailyCap);
        }
        Ok(())
    }

    /// The device's planned route, when one is in use.
    pub(crate) fn route_view<'d>(&self, device: &'d Device) -> Option<RouteView<'d>> {
        let state = device.route.as_ref()?;
        Some(RouteView {
            route: &state.route,
            place: state.in_use()?,
            corridor_m: self.config.corridor_m,
            ahead_m: self.config.route_ahead_m,
            max_detour_s: f64::from(self.config.max_detour_s),
        })
    }

    /// The merchants on the road network, when roads are loaded.
    pub(crate) fn access(&self) -> Option<&Access> {
        self.access.as_deref()
    }

    /// What decisions reuse.
    pub(crate) fn scratch(&self) -> &RefCell<Scratch> {
        &self.scratch
    }

    fn publish_answer(&self, device_id: &str, at: &Stamp, reason: NoneReason) -> Output {
        Output::Publish(Publish {
            topic: format!("{}/{device_id}/suggestion", self.config.prefix),
            body: Body::NoSuggestion(NoSuggestion {
                none: reason,
                at: at.text.clone(),
            }),
            retain: false,
        })
    }

    fn error(&self, device_id: &str, topic: &str, error: InputError) -> Output {
        Output::Publish(Publish {
            topic: format!("{}/{device_id}/error", self.config.prefix),
            body: Body::Error(ErrorReport {
                error: error.code.as_str(),
                detail: error.detail,
                topic: topic.to_string(),
            }),
            retain: false,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Position,
    Ask,
}

fn position_from(report: &PositionReport, now: DateTime<Utc>) -> Position {
    Position {
        location: report.location,
        heading: report.heading,
        speed: report.speed,
        accuracy: report.accuracy,
        ts: report.ts.unwrap_or(now),
    }
}
