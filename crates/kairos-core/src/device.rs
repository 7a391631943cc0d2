//! What kairos knows about one device: its profile, context, last position,
//! suggestion history and feedback. Positions are kept in memory only.
//!
//! [`PersistedDevice`] is the part that may outlive the process (written by
//! the edges in `store`): everything but the position and the rate-limit
//! bucket. SPEC's privacy rule is enforced by the type itself: it has no field
//! that could hold a position.

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::delivery::Delivered;
use crate::geodesy::LatLon;
use crate::input::Action;
use crate::roads::{MatchState, RoadMatch};
use crate::route::RouteState;
use crate::tastes::Tastes;

/// How long a context field holds after it was set.
pub const CONTEXT_TTL: Duration = Duration::hours(2);
/// How long the last position is kept without news.
pub const POSITION_TTL: Duration = Duration::hours(2);
/// How far a position's `ts` may be from the clock before it is stale.
pub const POSITION_MAX_SKEW: Duration = Duration::minutes(2);
/// Worst accuracy, in metres, that still counts.
pub const WORST_ACCURACY_M: f64 = 500.0;
/// How long a suggestion is kept for the no-repeat and daily-cap rules, at least.
pub const RECENT: Duration = Duration::hours(24);

/// A change to one context field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change<T> {
    /// Not mentioned: unchanged.
    Keep,
    /// `null`: cleared.
    Clear,
    /// A new value.
    Set(T),
}

/// A validated context update (also what `ask` carries).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContextUpdate {
    /// `hungry`
    pub hungry: Change<bool>,
    /// `trip`
    pub trip: Change<Trip>,
    /// `party`
    pub party: Change<u32>,
}

/// Languages kairos writes messages in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// French.
    Fr,
}

impl Lang {
    /// The language code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }
}

/// The kind of trip the person is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trip {
    /// Holidays.
    Vacation,
    /// Going to or from work.
    Commute,
    /// A business trip.
    Business,
    /// Running errands.
    Errand,
}

impl Trip {
    /// The SPEC word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Trip::Vacation => "vacation",
            Trip::Commute => "commute",
            Trip::Business => "business",
            Trip::Errand => "errand",
        }
    }

    /// Reads the SPEC word.
    pub fn parse(word: &str) -> Option<Self> {
        [Trip::Vacation, Trip::Commute, Trip::Business, Trip::Errand]
            .into_iter()
            .find(|t| t.as_str() == word)
    }
}

/// An OSM tag written `key=value`, as in `likes` and `dislikes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagPattern {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

impl std::fmt::Display for TagPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// Quiet hours `[start, end)` in device local time; may wrap past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// First quiet minute.
    pub start: NaiveTime,
    /// First minute no longer quiet.
    pub end: NaiveTime,
}

impl QuietHours {
    /// True when `t` falls inside; equal ends mean no quiet hours.
    pub fn contains(&self, t: NaiveTime) -> bool {
        match self.start.cmp(&self.end) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => self.start <= t && t < self.end,
            std::cmp::Ordering::Greater => t >= self.start || t < self.end,
        }
    }
}

/// The person's profile, as last published (it replaces the previous one whole).
///
/// Its serde form is the stored form (see [`PersistedDevice`]): missing keys
/// take their defaults so that older records still load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    /// Opt-in: without it, kairos stays silent.
    pub consent: bool,
    /// OSM diet keys that must all be served.
    pub diet: Vec<String>,
    /// Tags that make a merchant preferred.
    pub likes: Vec<TagPattern>,
    /// Tags that exclude a merchant.
    pub dislikes: Vec<TagPattern>,
    /// Language of messages.
    pub lang: Lang,
    /// No suggestion in these hours.
    pub quiet_hours: Option<QuietHours>,
    /// Minutes between two suggestions (floored at 10 when applied).
    pub min_gap_min: Option<u32>,
    /// Suggestions in any rolling 24 h.
    pub max_per_day: Option<u32>,
    /// Learn tastes from feedback (`learn`, on unless `false`).
    pub learn: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            consent: false,
            diet: Vec::new(),
            likes: Vec::new(),
            dislikes: Vec::new(),
            lang: Lang::default(),
            quiet_hours: None,
            min_gap_min: None,
            max_per_day: None,
            learn: true,
        }
    }
}

/// A context value and when it was set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timed<T> {
    /// The value.
    pub value: T,
    /// When it was set.
    pub set_at: DateTime<Utc>,
}

impl<T: Copy> Timed<T> {
    fn current(slot: &Option<Self>, now: DateTime<Utc>) -> Option<T> {
        slot.filter(|t| now < t.set_at + CONTEXT_TTL)
            .map(|t| t.value)
    }
}

/// The person's current situation; each field expires 2 h after it was set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Context {
    /// Hungry or not.
    pub hungry: Option<Timed<bool>>,
    /// The kind of trip.
    pub trip: Option<Timed<Trip>>,
    /// How many people.
    pub party: Option<Timed<u32>>,
}

impl Context {
    /// Applies a `context` (or `ask`) update at `now`: new values, cleared fields.
    pub fn merge(&mut self, update: &ContextUpdate, now: DateTime<Utc>) {
        fn apply<T: Copy>(slot: &mut Option<Timed<T>>, change: Change<T>, now: DateTime<Utc>) {
            match change {
                Change::Keep => {}
                Change::Clear => *slot = None,
                Change::Set(value) => *slot = Some(Timed { value, set_at: now }),
            }
        }
        apply(&mut self.hungry, update.hungry, now);
        apply(&mut self.trip, update.trip, now);
        apply(&mut self.party, update.party, now);
    }

    /// `hungry` if set less than 2 h ago.
    pub fn hungry(&self, now: DateTime<Utc>) -> Option<bool> {
        Timed::current(&self.hungry, now)
    }

    /// `trip` if set less than 2 h ago.
    pub fn trip(&self, now: DateTime<Utc>) -> Option<Trip> {
        Timed::current(&self.trip, now)
    }

    /// `party` if set less than 2 h ago.
    pub fn party(&self, now: DateTime<Utc>) -> Option<u32> {
        Timed::current(&self.party, now)
    }

    /// Drops the fields that have expired at `now` (they can never hold again
    /// on a clock that moves forward); true when something was dropped.
    pub fn expire(&mut self, now: DateTime<Utc>) -> bool {
        fn drop_expired<T: Copy>(slot: &mut Option<Timed<T>>, now: DateTime<Utc>) -> bool {
            let expired = slot.is_some() && Timed::current(slot, now).is_none();
            if expired {
                *slot = None;
            }
            expired
        }
        let hungry = drop_expired(&mut self.hungry, now);
        let trip = drop_expired(&mut self.trip, now);
        let party = drop_expired(&mut self.party, now);
        hungry || trip || party
    }
}

/// A position report, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Where.
    pub location: LatLon,
    /// Degrees clockwise from true north, when known.
    pub heading: Option<f64>,
    /// Metres per second (0 when not given).
    pub speed: f64,
    /// Metres, when given.
    pub accuracy: Option<f64>,
    /// The device's timestamp (the receive time when not given).
    pub ts: DateTime<Utc>,
}

impl Position {
    /// True when `ts` is within 2 min of `now`, either way.
    pub fn is_fresh_at(&self, now: DateTime<Utc>) -> bool {
        (now - self.ts).abs() <= POSITION_MAX_SKEW
    }

    /// True when the accuracy, if given, is 500 m or better.
    pub fn is_accurate(&self) -> bool {
        self.accuracy.is_none_or(|a| a <= WORST_ACCURACY_M)
    }
}

/// One suggestion made to the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestionRecord {
    /// Its id.
    pub id: String,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The merchant.
    pub merchant: String,
    /// The offer.
    pub offer: String,
    /// The first feedback naming this suggestion, if any (the one that may
    /// have taught a taste).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Action>,
    /// The merchant's taste tags when it was suggested (what feedback on
    /// this suggestion teaches about); none in records older than tastes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Everything kairos holds about one device.
#[derive(Debug, Clone, Default)]
pub struct Device {
    /// The retained profile, if any.
    pub profile: Option<Profile>,
    /// The context.
    pub context: Context,
    /// The last good position, in memory only, and when it was received.
    pub position: Option<(Position, DateTime<Utc>)>,
    /// Suggestions made, oldest first.
    pub history: VecDeque<SuggestionRecord>,
    /// Offers dismissed, as (merchant, offer): never again.
    pub dismissed: BTreeSet<(String, String)>,
    /// Merchants blocked: never again.
    pub blocked: BTreeSet<String>,
    /// Input rate limiting.
    pub bucket: TokenBucket,
    limited: bool,
    /// When a stale position report last arrived (no position is kept from it).
    pub stale_report_at: Option<DateTime<Utc>>,
    /// The last good position on the roads, in memory only.
    pub road: RoadState,
    /// The planned route and the place on it, in memory only.
    pub route: Option<RouteState>,
    /// The tastes learned from feedback.
    pub tastes: Tastes,
    /// Inputs applied lately, with their answers (persisted; see
    /// [`crate::delivery`]).
    pub delivered: Vec<Delivered>,
}

/// A device on the road network: its last good position matched to a road,
/// and what matching remembers between positions (memory only, like the
/// position itself).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoadState {
    /// The last good position's match, when it matched a road.
    pub matched: Option<RoadMatch>,
    /// Matching's memory (the previous road, for continuity).
    pub memory: MatchState,
}

impl Device {
    /// The last good position if received less than 2 h ago.
    pub fn position(&self, now: DateTime<Utc>) -> Option<&Position> {
        self.position
            .as_ref()
            .filter(|(_, received)| now - *received < POSITION_TTL)
            .map(|(p, _)| p)
    }

    /// True when a stale position report arrived in the last 2 h.
    pub fn stale_since(&self, now: DateTime<Utc>) -> bool {
        self.stale_report_at.is_some_and(|t| now - t < POSITION_TTL)
    }

    /// Adds a suggestion to the history, which stays in time order (the rules
    /// read it newest first and stop at 24 h).
    pub fn record_suggestion(&mut self, record: SuggestionRecord) {
        let at = record.at;
        let index = self
            .history
            .iter()
            .rposition(|s| s.at <= at)
            .map_or(0, |i| i + 1);
        self.history.insert(index, record);
    }

    /// The last suggestion's time.
    pub fn last_suggestion_at(&self) -> Option<DateTime<Utc>> {
        self.history.back().map(|s| s.at)
    }

    /// Suggestions in the 24 h before `now`.
    pub fn suggestions_since(&self, since: DateTime<Utc>) -> usize {
        self.history
            .iter()
            .rev()
            .take_while(|s| s.at > since)
            .count()
    }

    /// True when this offer was suggested less than 24 h before `now`.
    pub fn suggested_recently(&self, merchant: &str, offer: &str, now: DateTime<Utc>) -> bool {
        let since = now - RECENT;
        self.history
            .iter()
            .rev()
            .take_while(|s| s.at > since)
            .any(|s| s.merchant == merchant && s.offer == offer)
    }

    /// True when the person dismissed this offer or blocked this merchant.
    pub fn refused(&self, merchant: &str, offer: &str) -> bool {
        self.blocked.contains(merchant)
            || (!self.dismissed.is_empty()
                && self
                    .dismissed
                    .contains(&(merchant.to_string(), offer.to_string())))
    }

    /// Forgets what has expired: the position after 2 h, history past `retention`.
    pub fn expire(&mut self, now: DateTime<Utc>, retention: Duration) {
        if self.route.as_ref().is_some_and(|r| r.expired(now)) {
            self.route = None;
        }
        if self.position.is_some() && self.position(now).is_none() {
            // A route is dropped 2 h after the last good position, like it.
            self.route = None;
        }
        if self.position(now).is_none() {
            self.position = None;
            self.road = RoadState::default();
        }
        if !self.stale_since(now) {
            self.stale_report_at = None;
        }
        self.tastes.expire(now);
        let keep_after = now - retention.max(RECENT);
        while self.history.front().is_some_and(|s| s.at <= keep_after) {
            self.history.pop_front();
        }
    }

    /// Records whether the device is being rate limited; returns whether it already was
    /// (so only the first refused input of a burst gets an error).
    pub fn bucket_notified(&mut self, limited: bool) -> bool {
        std::mem::replace(&mut self.limited, limited)
    }

    /// True when nothing worth keeping is left and the device has been silent
    /// long enough for its rate limit to have refilled.
    pub fn is_idle(&self, now: DateTime<Utc>) -> bool {
        self.holds_nothing_volatile(now)
            && self.profile.is_none()
            && self.context == Context::default()
            && self.position.is_none()
            && self.history.is_empty()
            && self.dismissed.is_empty()
            && self.blocked.is_empty()
            && self.tastes.is_empty()
            && self.delivered.is_empty()
    }

    /// True when the device holds nothing that lives in memory only: no
    /// position less than 2 h old, and a rate limit that has refilled. Such a
    /// device loses nothing by being dropped from memory when a store holds
    /// the rest.
    pub fn holds_nothing_volatile(&self, now: DateTime<Utc>) -> bool {
        self.bucket
            .updated
            .is_none_or(|t| now - t > Duration::minutes(1))
            && self.position(now).is_none()
    }

    /// The part of the device that may be persisted: all but the position
    /// and the rate-limit bucket.
    pub fn persisted(&self) -> PersistedDevice {
        PersistedDevice {
            schema: PERSISTED_SCHEMA,
            profile: self.profile.clone(),
            context: self.context.clone(),
            history: self.history.iter().cloned().collect(),
            dismissed: self.dismissed.clone(),
            blocked: self.blocked.clone(),
            tastes: self.tastes.clone(),
            delivered: self.delivered.clone(),
        }
    }

    /// Replaces the persisted part with `state`; the position and the
    /// rate-limit bucket, which live in memory only, are kept.
    pub fn restore(&mut self, state: PersistedDevice) {
        let PersistedDevice {
            schema: _,
            profile,
            context,
            history,
            dismissed,
            blocked,
            tastes,
            delivered,
        } = state;
        self.profile = profile;
        self.context = context;
        self.history = history.into();
        self.dismissed = dismissed;
        self.blocked = blocked;
        self.tastes = tastes;
        self.delivered = delivered;
    }
}

/// The schema version written in every [`PersistedDevice`]. Raise it (and
/// teach the reader the old one) whenever the stored form changes meaning.
pub const PERSISTED_SCHEMA: u32 = 1;

/// The durable, shareable state of one device: what `forget` erases.
///
/// Never a position (SPEC, Privacy), nor the rate-limit bucket (per instance,
/// in memory). Serialized as JSON by the stores; keys that a record lacks take
/// their defaults, so adding a field is not a schema change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedDevice {
    /// The schema version this record was written with ([`PERSISTED_SCHEMA`]).
    pub schema: u32,
    /// The retained profile, if any.
    pub profile: Option<Profile>,
    /// The context, each field with the time it was set.
    pub context: Context,
    /// Suggestions made, oldest first.
    pub history: Vec<SuggestionRecord>,
    /// Offers dismissed, as (merchant, offer).
    pub dismissed: BTreeSet<(String, String)>,
    /// Merchants blocked.
    pub blocked: BTreeSet<String>,
    /// The tastes learned from feedback (absent in older records: none).
    pub tastes: Tastes,
    /// Inputs applied lately, with their answers (see [`crate::delivery`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delivered: Vec<Delivered>,
}

impl Default for PersistedDevice {
    fn default() -> Self {
        Self {
            schema: PERSISTED_SCHEMA,
            profile: None,
            context: Context::default(),
            history: Vec::new(),
            dismissed: BTreeSet::new(),
            blocked: BTreeSet::new(),
            tastes: Tastes::default(),
            delivered: Vec::new(),
        }
    }
}

impl PersistedDevice {
    /// Drops what has expired at `now`: context fields past their 2 h, and
    /// history older than `retention` (never less than the 24 h the rules
    /// need). True when something was dropped.
    pub fn expire(&mut self, now: DateTime<Utc>, retention: Duration) -> bool {
        let context = self.context.expire(now);
        let tastes = self.tastes.expire(now);
        let keep_after = now - retention.max(RECENT);
        let before = self.history.len();
        self.history.retain(|s| s.at > keep_after);
        let delivered = crate::delivery::prune(self, now);
        context || tastes || delivered || self.history.len() != before
    }

    /// True when nothing is left worth keeping: the record can be deleted.
    pub fn is_empty(&self) -> bool {
        self.delivered.is_empty()
            && self.profile.is_none()
            && self.context == Context::default()
            && self.history.is_empty()
            && self.dismissed.is_empty()
            && self.blocked.is_empty()
            && self.tastes.is_empty()
    }
}

/// A token bucket: `burst` inputs at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    updated: Option<DateTime<Utc>>,
}

impl TokenBucket {
    /// Tokens left after the last take.
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// Takes one token at `now`; false when none is left.
    pub fn take(&mut self, now: DateTime<Utc>, per_second: f64, burst: f64) -> bool {
        let tokens = match self.updated {
            None => burst,
            Some(then) => {
                let elapsed = (now - then).num_milliseconds().max(0) as f64 / 1000.0;
                (self.tokens + elapsed * per_second).min(burst)
            }
        };
        self.updated = Some(now);
        if tokens >= 1.0 {
            self.tokens = tokens - 1.0;
            true
        } else {
            self.tokens = tokens;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn quiet_hours_wrap_past_midnight_and_exclude_their_end() {
        let q = QuietHours {
            start: hm(22, 0),
            end: hm(7, 0),
        };
        assert!(q.contains(hm(23, 30)));
        assert!(q.contains(hm(0, 0)));
        assert!(q.contains(hm(6, 59)));
        assert!(!q.contains(hm(7, 0)));
        assert!(!q.contains(hm(21, 59)));
        let none = QuietHours {
            start: hm(8, 0),
            end: hm(8, 0),
        };
        assert!(!none.contains(hm(8, 0)));
    }

    #[test]
    fn context_fields_expire_exactly_two_hours_after_they_were_set() {
        let t0 = DateTime::parse_from_rfc3339("2026-07-15T12:00:00Z")
            .unwrap()
            .to_utc();
        let ctx = Context {
            hungry: Some(Timed {
                value: true,
                set_at: t0,
            }),
            ..Context::default()
        };
        assert_eq!(ctx.hungry(t0 + Duration::minutes(119)), Some(true));
        assert_eq!(ctx.hungry(t0 + Duration::hours(2)), None);
    }

    #[test]
    fn the_bucket_refills_over_time() {
        let t0 = DateTime::parse_from_rfc3339("2026-07-15T12:00:00Z")
            .unwrap()
            .to_utc();
        let mut b = TokenBucket::default();
        assert!(b.take(t0, 1.0, 2.0));
        assert!(b.take(t0, 1.0, 2.0));
        assert!(!b.take(t0, 1.0, 2.0));
        assert!(b.take(t0 + Duration::seconds(1), 1.0, 2.0));
    }
}
