//! What a replay's report is made from: a [`Recorder`] listens to `replay` (it
//! is a [`crate::replay::Observer`]) and keeps the drive, the suggestions and the
//! timeline, within the caps of [`super::replay`].
//!
//! # The seam for explanations
//!
//! What the rules made of each merchant is not known here: it is the `explain`
//! code's job. The [`Explainer`] trait is where it plugs in. The recorder calls
//! [`Explainer::before`] before every step (the engine as the input finds it),
//! [`Explainer::explain`] for every suggestion just made (the engine as the step
//! left it), and [`super::from_replay`] calls [`Explainer::status`] once for
//! every merchant near the drive that no suggestion named. [`NoExplanation`], the
//! do-nothing one, explains nothing and marks all of those
//! `NotEligible("not chosen")`; [`crate::report::EngineExplainer`] is the
//! `explain` code plugged in.

use std::collections::{BTreeMap, HashMap};

use crate::engine::Engine;
use crate::geodesy::LatLon;
use crate::input::{Event, Input};
use crate::offers::Merchant;
use crate::output::{Body, Output, Suggestion};
use crate::replay::Observer;
use crate::trace::TraceEvent;

use super::model::{
    DrivePoint, EventKind, Explanation, MapSuggestion, MerchantStatus, TimelineEvent,
};

use super::replay::*;

/// The status `NoExplanation` gives a merchant near the drive that was not suggested.
pub const NOT_CHOSEN: &str = "not chosen";

/// What the rules made of the merchants: where `explain` plugs into the report.
pub trait Explainer {
    /// Before each step: the engine as `event` (read as `input`) finds it.
    fn before(&mut self, _engine: &Engine, _event: &TraceEvent<'_>, _input: &Input) {}

    /// The explanation of `suggestion`, just made for `event`; `engine` is the
    /// state the step left (the suggestion already recorded).
    fn explain(
        &mut self,
        _engine: &Engine,
        _event: &TraceEvent<'_>,
        _suggestion: &Suggestion,
    ) -> Option<Explanation> {
        None
    }

    /// After the replay: the status of a merchant near the drive that no
    /// suggestion named.
    fn status(&self, _merchant: &Merchant) -> MerchantStatus {
        MerchantStatus::NotEligible(NOT_CHOSEN.to_string())
    }
}

/// The do-nothing explainer: no explanations; unchosen merchants are `not chosen`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExplanation;

impl Explainer for NoExplanation {}

/// Listens to a replay and keeps what the report shows.
pub struct Recorder<E = NoExplanation> {
    pub(super) explainer: E,
    pub(super) lines: u64,
    pub(super) drives: BTreeMap<String, Vec<DrivePoint>>,
    pub(super) suggestions: Vec<MapSuggestion>,
    pub(super) events: Vec<TimelineEvent>,
    pub(super) last_location: HashMap<String, LatLon>,
    pub(super) counts: Counts,
}

/// What was seen, and what the caps left out.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) inputs: u64,
    pub(super) suggestions: u64,
    pub(super) errors: u64,
    pub(super) events_left_out: u64,
    pub(super) suggestions_left_out: u64,
}

impl<E: Explainer> Recorder<E> {
    /// A recorder asking `explainer` about suggestions and merchants.
    pub fn new(explainer: E) -> Self {
        Self {
            explainer,
            lines: 0,
            drives: BTreeMap::new(),
            suggestions: Vec::new(),
            events: Vec::new(),
            last_location: HashMap::new(),
            counts: Counts::default(),
        }
    }

    /// Adds a timeline line unless the caps are reached; its index when added.
    fn push_event(&mut self, event: TimelineEvent) -> Option<usize> {
        let notable = matches!(event.kind, EventKind::Suggestion | EventKind::Error);
        let room = self.events.len() < MAX_TIMELINE
            || (notable && self.events.len() < MAX_TIMELINE + MAX_NOTABLE);
        if !room {
            self.counts.events_left_out += 1;
            return None;
        }
        self.events.push(event);
        Some(self.events.len() - 1)
    }

    fn record_output(
        &mut self,
        engine: &Engine,
        line: u64,
        event: &TraceEvent<'_>,
        device: Option<&str>,
        output: &Output,
    ) {
        let at = event.at.text.clone();
        let location = device.and_then(|d| {
            engine
                .device(d)
                .and_then(|state| state.position(event.at.time))
                .map(|p| p.location)
                .or_else(|| self.last_location.get(d).copied())
        });
        let timeline = |kind, topic: &str, text: String| TimelineEvent {
            at: at.clone(),
            line,
            device: device.map(str::to_string),
            kind,
            topic: topic.to_string(),
            text,
            location,
        };
        let publish = match output {
            Output::Dropped { topic, reason } => {
                self.counts.errors += 1;
                let mut dropped = timeline(EventKind::Error, topic, format!("dropped: {reason}"));
                dropped.device = None;
                self.push_event(dropped);
                return;
            }
            Output::Publish(publish) => publish,
        };
        match &publish.body {
            Body::Suggestion(suggestion) => {
                self.counts.suggestions += 1;
                let index = self.push_event(timeline(
                    EventKind::Suggestion,
                    &publish.topic,
                    suggestion.message.clone(),
                ));
                if self.suggestions.len() >= MAX_SUGGESTIONS {
                    self.counts.suggestions_left_out += 1;
                    return;
                }
                let explanation = self.explainer.explain(engine, event, suggestion);
                self.suggestions.push(MapSuggestion {
                    device: device.unwrap_or_default().to_string(),
                    at,
                    location: location.unwrap_or(LatLon::new(0.0, 0.0)),
                    merchant_id: suggestion.merchant.id.clone(),
                    merchant_name: suggestion.merchant.name.clone(),
                    offer_title: suggestion.offer.title.clone(),
                    message: suggestion.message.clone(),
                    reasons: suggestion.reasons.clone(),
                    distance_m: suggestion.distance_m,
                    event: index,
                    explanation,
                });
            }
            Body::NoSuggestion(none) => {
                let reason = serde_json::to_value(none.none)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                self.push_event(timeline(
                    EventKind::Output,
                    &publish.topic,
                    format!("nothing: {reason}"),
                ));
            }
            Body::Error(error) => {
                self.counts.errors += 1;
                let text = format!("{}: {}", error.error, error.detail);
                self.push_event(timeline(EventKind::Error, &publish.topic, text));
            }
            Body::Data(data) => {
                let text = format!(
                    "data: {} suggestions, {} tastes held",
                    data.suggestions.len(),
                    data.tastes.len()
                );
                self.push_event(timeline(EventKind::Output, &publish.topic, text));
            }
            Body::Empty => {
                self.push_event(timeline(
                    EventKind::Output,
                    &publish.topic,
                    "profile cleared (forget)".into(),
                ));
            }
        }
    }
}

impl<E: Explainer> Observer for Recorder<E> {
    fn before(&mut self, engine: &Engine, _line: u64, event: &TraceEvent<'_>, input: &Input) {
        self.explainer.before(engine, event, input);
    }

    fn after(
        &mut self,
        engine: &Engine,
        line: u64,
        event: &TraceEvent<'_>,
        input: &Input,
        outputs: &[Output],
    ) {
        self.lines = self.lines.max(line);
        self.counts.inputs += 1;
        let device = input.device();
        let position = match input {
            Input::Event {
                event: Event::Position(report),
                ..
            } => Some(report),
            _ => None,
        };
        let text = match &position {
            Some(p) => {
                let mut text = format!("{:.5}, {:.5}", p.location.lat, p.location.lon);
                if let Some(heading) = p.heading {
                    text.push_str(&format!(" · heading {heading:.0}°"));
                }
                text.push_str(&format!(" · {:.1} m/s", p.speed));
                text
            }
            None => shorten(&String::from_utf8_lossy(&event.payload)),
        };
        if let (Some(device), Some(p)) = (device, &position) {
            self.last_location.insert(device.to_string(), p.location);
            self.drives
                .entry(device.to_string())
                .or_default()
                .push(DrivePoint {
                    location: p.location,
                    at: event.at.text.clone(),
                });
        }
        let location = device.and_then(|d| self.last_location.get(d).copied());
        self.push_event(TimelineEvent {
            at: event.at.text.clone(),
            line,
            device: device.map(str::to_string),
            kind: EventKind::Input,
            topic: event.topic.to_string(),
            text,
            location,
        });
        for output in outputs {
            self.record_output(engine, line, event, device, output);
        }
    }

    fn skipped(&mut self, line: u64, reason: &str) {
        self.lines = self.lines.max(line);
        self.counts.errors += 1;
        self.push_event(TimelineEvent {
            at: String::new(),
            line,
            device: None,
            kind: EventKind::Error,
            topic: String::new(),
            text: format!("trace line {line} skipped: {reason}"),
            location: None,
        });
    }
}

/// Input payloads are shown up to this many characters.
pub(super) const MAX_TEXT_CHARS: usize = 160;

/// At most [`MAX_TEXT_CHARS`] characters, on one line.
pub(super) fn shorten(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}
