//! Remembered tastes (SPEC "Remembered tastes, and what kairos holds"): a
//! score per taste tag learned from the person's `accepted` and `dismissed`
//! feedback, and what a decision reads from them.
//!
//! - A merchant's taste tags are `cuisine=<v>` for each value of `cuisine`,
//!   and its `amenity`, `shop` and `tourism` tags (each item of a `;`-list,
//!   as `likes` read them), see [`taste_tags`].
//! - [`Tastes`] is the stored part: per tag, its score when it last changed
//!   and when. The score in force at `now` is that score halved once per
//!   full 30 days since (event clock), see [`Tastes::score_at`].
//! - [`Learned`] is what one decision reads: the tags that score ≥ 2 or
//!   ≤ −2 now, less those the profile's own `likes` or `dislikes` name. It
//!   gives a merchant its factors (× 0.85 learned, × 1.5 learned against)
//!   and the reasons.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::device::{Profile, TagPattern};
use crate::offers::Merchant;
use crate::tag_signature;

/// Scores are clamped to ±this.
pub const MAX_SCORE: f64 = 5.0;
/// A score halves once per full period this long since it last changed.
pub const HALF_LIFE: Duration = Duration::days(30);
/// From this score up, a tag makes its merchants preferred (× 0.85).
pub const LEARNED_AT: f64 = 2.0;
/// From this score down, a tag makes its merchants less preferred (× 1.5).
pub const LEARNED_AGAINST_AT: f64 = -2.0;
/// A tag whose score in force is nearer 0 than this is forgotten (it can
/// never rank anything again without new feedback, which starts it afresh).
pub const FORGOTTEN_BELOW: f64 = 1.0 / 64.0;
/// Most tags kept per device: a bound for a misbehaving client (a person
/// has far fewer); feedback on a new tag beyond it teaches nothing.
pub const MAX_TASTES: usize = 1_000;
/// The keys whose tags are taste tags.
pub const TASTE_KEYS: [&str; 4] = ["cuisine", "amenity", "shop", "tourism"];

/// The taste tags of a merchant, `key=value`, sorted and without repeats.
pub fn taste_tags(merchant: &Merchant) -> Vec<String> {
    let mut tags: Vec<String> = TASTE_KEYS
        .iter()
        .filter_map(|key| merchant.tags.get(key).map(|v| (key, v)))
        .flat_map(|(key, value)| {
            value
                .split(';')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(move |item| format!("{key}={item}"))
        })
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// One tag's score as it last changed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Taste {
    /// The score right after its last change, in −5..+5.
    pub score: f64,
    /// When it last changed (event clock).
    pub changed: DateTime<Utc>,
}

impl Taste {
    /// The score in force at `now`: halved once per full 30 days since it
    /// last changed.
    pub fn at(&self, now: DateTime<Utc>) -> f64 {
        let periods = ((now - self.changed).num_seconds() / HALF_LIFE.num_seconds()).max(0);
        // Past 64 halvings any score of at most 5 is 0 in every way that counts.
        self.score / 2f64.powi(periods.min(64) as i32)
    }
}

/// The tastes learned for one device, by tag (`key=value`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tastes(BTreeMap<String, Taste>);

impl Tastes {
    /// True when nothing was learned.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets everything learned (`profile.learn: false`).
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The score of `tag` in force at `now` (0 when never learned).
    pub fn score_at(&self, tag: &str, now: DateTime<Utc>) -> f64 {
        self.0.get(tag).map_or(0.0, |t| t.at(now))
    }

    /// Every tag with its score in force at `now`, by tag.
    pub fn scores_at(&self, now: DateTime<Utc>) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(move |(tag, t)| (tag.as_str(), t.at(now)))
    }

    /// Adds `delta` (+1 accepted, −1 dismissed) to each of `tags` at `now`:
    /// the score in force, plus `delta`, clamped to −5..+5.
    pub fn learn(&mut self, tags: &[String], delta: f64, now: DateTime<Utc>) {
        for tag in tags {
            let current = self.score_at(tag, now);
            if !self.0.contains_key(tag) && self.0.len() >= MAX_TASTES {
                continue;
            }
            let score = (current + delta).clamp(-MAX_SCORE, MAX_SCORE);
            if score.abs() < FORGOTTEN_BELOW {
                self.0.remove(tag);
            } else {
                self.0.insert(
                    tag.clone(),
                    Taste {
                        score,
                        changed: now,
                    },
                );
            }
        }
    }

    /// Forgets the tags whose score in force at `now` has faded below
    /// [`FORGOTTEN_BELOW`]; true when one was.
    pub fn expire(&mut self, now: DateTime<Utc>) -> bool {
        let before = self.0.len();
        self.0.retain(|_, t| t.at(now).abs() >= FORGOTTEN_BELOW);
        self.0.len() != before
    }
}

/// A tag that ranks, with its score in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// The tag.
    pub tag: TagPattern,
    /// Its score now.
    pub score: f64,
}

/// What one decision reads from the tastes: the tags that rank now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Learned {
    /// Tags scoring ≥ 2, highest first, ties by tag.
    pub liked: Vec<Ranked>,
    /// Tags scoring ≤ −2, lowest first, ties by tag.
    pub against: Vec<Ranked>,
    /// The signature bits of `liked` (see [`tag_signature::of_patterns`]).
    pub liked_bits: u64,
}

/// How the tastes rank one merchant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// A tag of the merchant scores ≥ 2: × 0.85.
    pub learned: bool,
    /// A tag of the merchant scores ≤ −2: × 1.5.
    pub against: bool,
}

impl Learned {
    /// The tags of `tastes` that rank at `now`, less those `profile`'s own
    /// `likes` or `dislikes` name (they ignore their learned score).
    pub fn new(tastes: &Tastes, profile: &Profile, now: DateTime<Utc>) -> Self {
        if tastes.is_empty() || !profile.learn {
            return Self::default();
        }
        let own = |tag: &str| {
            profile
                .likes
                .iter()
                .chain(&profile.dislikes)
                .any(|p| tag.split_once('=') == Some((p.key.as_str(), p.value.as_str())))
        };
        let mut liked = Vec::new();
        let mut against = Vec::new();
        for (tag, score) in tastes.scores_at(now) {
            let Some((key, value)) = tag.split_once('=') else {
                continue;
            };
            if own(tag) {
                continue;
            }
            let ranked = || Ranked {
                tag: TagPattern {
                    key: key.to_string(),
                    value: value.to_string(),
                },
                score,
            };
            if score >= LEARNED_AT {
                liked.push(ranked());
            } else if score <= LEARNED_AGAINST_AT {
                against.push(ranked());
            }
        }
        // The map is by tag, so a stable sort by score keeps ties by tag.
        liked.sort_by(|a, b| b.score.total_cmp(&a.score));
        against.sort_by(|a, b| a.score.total_cmp(&b.score));
        let patterns: Vec<TagPattern> = liked.iter().map(|r| r.tag.clone()).collect();
        Self {
            liked_bits: tag_signature::of_patterns(&patterns),
            liked,
            against,
        }
    }

    /// True when some merchant could be preferred by what was learned.
    pub fn can_prefer(&self) -> bool {
        !self.liked.is_empty()
    }

    /// How the tastes rank `merchant`.
    pub fn verdict(&self, merchant: &Merchant) -> Verdict {
        let carries = |r: &Ranked| merchant.tags.matches(&r.tag.key, &r.tag.value);
        Verdict {
            learned: self.liked.iter().any(carries),
            against: !self.against.is_empty() && self.against.iter().any(carries),
        }
    }

    /// The reasons for `merchant`: `learned:<tag>` (highest first), then
    /// `learned_against:<tag>` (lowest first).
    pub fn reasons(&self, merchant: &Merchant) -> Vec<String> {
        let carries = |r: &&Ranked| merchant.tags.matches(&r.tag.key, &r.tag.value);
        let liked = self
            .liked
            .iter()
            .filter(carries)
            .map(|r| format!("learned:{}", r.tag));
        let against = self
            .against
            .iter()
            .filter(carries)
            .map(|r| format!("learned_against:{}", r.tag));
        liked.chain(against).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-07-15T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn scores_are_clamped_to_five_either_way() {
        let mut tastes = Tastes::default();
        let tag = ["cuisine=italian".to_string()];
        for _ in 0..8 {
            tastes.learn(&tag, 1.0, t0());
        }
        assert_eq!(tastes.score_at(&tag[0], t0()), 5.0);
        for _ in 0..12 {
            tastes.learn(&tag, -1.0, t0());
        }
        assert_eq!(tastes.score_at(&tag[0], t0()), -5.0);
    }

    #[test]
    fn a_score_halves_per_full_thirty_days_since_it_last_changed() {
        let mut tastes = Tastes::default();
        let tag = ["amenity=cafe".to_string()];
        for _ in 0..4 {
            tastes.learn(&tag, 1.0, t0());
        }
        let day = |d: i64| t0() + Duration::days(d);
        assert_eq!(tastes.score_at(&tag[0], day(29)), 4.0);
        assert_eq!(
            tastes.score_at(&tag[0], day(30) - Duration::seconds(1)),
            4.0
        );
        assert_eq!(tastes.score_at(&tag[0], day(30)), 2.0);
        assert_eq!(tastes.score_at(&tag[0], day(60)), 1.0);
        // A change starts from the score in force, and restarts the clock.
        tastes.learn(&tag, 1.0, day(60));
        assert_eq!(tastes.score_at(&tag[0], day(89)), 2.0);
        assert_eq!(tastes.score_at(&tag[0], day(90)), 1.0);
    }

    #[test]
    fn a_faded_score_is_forgotten() {
        let mut tastes = Tastes::default();
        tastes.learn(&["shop=bakery".to_string()], 1.0, t0());
        assert!(!tastes.expire(t0() + Duration::days(180)));
        assert!(tastes.expire(t0() + Duration::days(210)));
        assert!(tastes.is_empty());
    }
}
