//! The whole decision against a plain reference: for random merchants (with
//! offers that carry an audience, a radius or their own hours) around a device,
//! random profiles, hunger, trip, speed and heading, each of several `ask`s
//! minutes apart is answered with the offer a scan of every merchant picks by
//! SPEC's rules and ranking (the 24 h no-repeat included), written here from
//! SPEC's words.
//!
//! The device also carries random learned tastes (scores −5..+5 on the taste
//! tags of these merchants, some old enough to have halved): the reference
//! ranks with × 0.85 and × 1.5 as SPEC "Remembered tastes" says, the profile's
//! own `likes`/`dislikes` taking precedence.
//!
//! The engine prunes a lot on the way (index partitions, the heading wedge,
//! the tag signature of `likes` and learned tastes, the score floor, the
//! opening-hours memo); the reference prunes nothing, so any pruning that
//! loses the winner fails here.

mod support;

use support::engine;

use chrono::{DateTime, Utc};
use engine::*;
use kairos::geodesy::{LatLon, TravelFrame};
use kairos::index::FoodFilter;
use kairos::offers::Merchant;
use kairos::rules;
use proptest::prelude::*;
use serde_json::{json, Value};

const KINDS: [(&str, &str); 6] = [
    ("tourism", "museum"),
    ("amenity", "restaurant"),
    ("amenity", "cafe"),
    ("shop", "clothes"),
    ("shop", "bakery"),
    ("amenity", "arts_centre"),
];
const CUISINES: [&str; 4] = ["italian", "regional", "pizza;burger", "burger; regional"];
const HOURS: [&str; 5] = [
    "Mo-Su 09:00-18:00",
    "Mo-Fr 14:30-14:45",
    "Sa-Su 10:00-12:00",
    "off",
    "We 13:00-23:00; PH off",
];
const LIKES: [&str; 4] = [
    "cuisine=italian",
    "cuisine=regional",
    "shop=clothes",
    "cuisine=burger",
];

/// Taste tags the merchants above carry.
const TASTE_TAGS: [&str; 10] = [
    "tourism=museum",
    "amenity=restaurant",
    "amenity=cafe",
    "shop=clothes",
    "shop=bakery",
    "amenity=arts_centre",
    "cuisine=italian",
    "cuisine=regional",
    "cuisine=pizza",
    "cuisine=burger",
];

/// A learned taste: (tag, score when it last changed, days since).
type TasteSpec = (usize, i32, i64);

fn tastes_spec() -> impl Strategy<Value = Vec<TasteSpec>> {
    prop_oneof![
        1 => Just(Vec::new()),
        3 => prop::collection::vec((0..TASTE_TAGS.len(), -5..=5i32, prop_oneof![Just(0i64), 0..100i64]), 0..6),
    ]
}

/// Gives the device of `sim` the learned tastes of `specs`, each changed
/// that many days before `T0` (a repeated tag: its last spec wins).
fn learn(sim: &mut Sim, specs: &[TasteSpec]) {
    let t0 = DateTime::parse_from_rfc3339(T0).unwrap().to_utc();
    let mut state = sim
        .engine
        .export_device(DEV)
        .expect("the profile made the device");
    state.tastes = kairos::tastes::Tastes::default();
    for &(tag, score, days) in specs {
        let tag = [TASTE_TAGS[tag].to_string()];
        let at = t0 - chrono::TimeDelta::days(days);
        let now = state.tastes.score_at(&tag[0], at);
        state.tastes.learn(&tag, f64::from(score) - now, at);
    }
    sim.engine.import_device(DEV, state);
}

/// The scores of `specs` in force at `now`, by SPEC's words: halved once per
/// full 30 days since the change.
fn scores_at(specs: &[TasteSpec], now: DateTime<Utc>) -> Vec<(&'static str, f64)> {
    let t0 = DateTime::parse_from_rfc3339(T0).unwrap().to_utc();
    let mut last: std::collections::BTreeMap<&str, (i32, i64)> = Default::default();
    for &(tag, score, days) in specs {
        last.insert(TASTE_TAGS[tag], (score, days));
    }
    last.into_iter()
        .map(|(tag, (score, days))| {
            let changed = t0 - chrono::TimeDelta::days(days);
            let periods = (now - changed).num_seconds() / (30 * 86_400);
            (tag, f64::from(score) / 2f64.powi(periods as i32))
        })
        .collect()
}

/// One offer of a merchant: (for the `vacation` trip only, radius, own hours).
type OfferSpec = (bool, Option<f64>, Option<usize>);

/// One random merchant: (bearing, distance, kind, cuisine, vegetarian, hours,
/// offers: `None` for the implicit place offer).
type Spec = (
    f64,
    f64,
    usize,
    Option<usize>,
    Option<bool>,
    Option<usize>,
    Option<Vec<OfferSpec>>,
);

fn offer_spec() -> impl Strategy<Value = OfferSpec> {
    (
        any::<bool>(),
        proptest::option::of(50.0..5_000.0f64),
        proptest::option::of(0..HOURS.len()),
    )
}

fn merchant_spec() -> impl Strategy<Value = Spec> {
    (
        0.0..360.0f64,
        prop_oneof![0.0..1.0f64, 1.0..3_000.0f64, 3_000.0..16_000.0f64],
        0..KINDS.len(),
        proptest::option::of(0..CUISINES.len()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(0..HOURS.len()),
        proptest::option::weighted(0.3, prop::collection::vec(offer_spec(), 1..3)),
    )
}

fn features(specs: &[Spec]) -> Vec<Value> {
    specs
        .iter()
        .enumerate()
        .map(
            |(i, (bearing, distance, kind, cuisine, veggie, hours, offers))| {
                let (bearing, distance, kind, cuisine, veggie, hours) =
                    (*bearing, *distance, *kind, *cuisine, *veggie, *hours);
                let (key, value) = KINDS[kind];
                let mut props = json!({ key: value, "name": format!("n{i}") });
                if let Some(c) = cuisine {
                    props = with(props, json!({"cuisine": CUISINES[c]}));
                }
                if let Some(v) = veggie {
                    props = with(
                        props,
                        json!({"diet:vegetarian": if v { "yes" } else { "no" }}),
                    );
                }
                if let Some(h) = hours {
                    props = with(props, json!({"opening_hours": HOURS[h]}));
                }
                if let Some(offers) = offers {
                    let offers: Vec<Value> = offers
                        .iter()
                        .enumerate()
                        .map(|(j, (vacation, radius, when))| {
                            let mut offer =
                                json!({"id": format!("o{j}"), "title": format!("Offer {j}")});
                            if *vacation {
                                offer["audience"] = json!({"trip": ["vacation"]});
                            }
                            if let Some(r) = radius {
                                offer["radius_m"] = json!(r);
                            }
                            if let Some(w) = when {
                                offer["when"] = json!(HOURS[*w]);
                            }
                            offer
                        })
                        .collect();
                    props = with(props, json!({"offers": offers}));
                }
                place(&format!("m{i:03}"), bearing, distance, props)
            },
        )
        .collect()
}

/// SPEC's tag reading: `key=value`, or one item of a `;`-list.
fn has_tag(m: &Merchant, pattern: &str) -> bool {
    let (key, value) = pattern.split_once('=').unwrap();
    m.tags
        .get(key)
        .is_some_and(|v| v.split(';').any(|item| item.trim() == value))
}

/// The winner by a scan of every merchant: (merchant id, offer id).
fn reference(
    specs_catalog: &kairos::Catalog,
    profile: &Profile,
    situation: &Situation,
    suggested: &[(String, String)],
    tastes: &[(&str, f64)],
    now: DateTime<Utc>,
) -> Option<(String, String)> {
    let Situation {
        hungry,
        vacation,
        speed,
        heading,
    } = *situation;
    let here = LatLon::new(ANNECY.0, ANNECY.1);
    let reach = (speed * 600.0).clamp(1_000.0, 15_000.0);
    let frame = (speed >= 2.0).then(|| TravelFrame::new(here, heading));
    let mut best: Option<(u64, String, String)> = None;
    // Every merchant on Earth, with the index's own distances.
    for (m, d) in specs_catalog.within(here, 1e8, FoodFilter::AnyFood) {
        if d > reach {
            continue;
        }
        if let Some(f) = &frame {
            if !rules::is_ahead_of(f, m.location.unit_vector(), d) {
                continue;
            }
        }
        let pace = if speed >= 2.0 { speed } else { 1.4 };
        let arrival = now + chrono::TimeDelta::seconds((d / pace).round() as i64);
        let serves = |diet: &str| {
            let yes = |k: &str| matches!(m.tags.get(k), Some("yes" | "only"));
            yes(&format!("diet:{diet}")) || (diet == "vegetarian" && yes("diet:vegan"))
        };
        for offer in &m.offers {
            let food_ok = !offer.is_food || (hungry && profile.diet.iter().all(|d| serves(d)));
            let disliked = profile.dislikes.iter().any(|p| has_tag(m, p));
            let open = m.hours.as_ref().is_none_or(|h| h.is_open_at(arrival));
            let within_radius = offer.radius_m().is_none_or(|r| d <= r);
            let offer_open = offer.when().is_none_or(|h| h.is_open_at(arrival));
            // The only audience these offers carry: `trip: [vacation]`.
            let has_audience = offer.audience().is_some();
            let audience_ok = !has_audience || vacation;
            let fresh = !suggested
                .iter()
                .any(|(sm, so)| **sm == *m.id && **so == *offer.id);
            if !(food_ok
                && !disliked
                && open
                && within_radius
                && offer_open
                && audience_ok
                && fresh)
            {
                continue;
            }
            let liked = profile.likes.iter().any(|p| has_tag(m, p));
            // A tag of the profile's own ignores its learned score.
            let learned = |wanted: &dyn Fn(f64) -> bool| {
                tastes.iter().any(|(tag, score)| {
                    wanted(*score)
                        && has_tag(m, tag)
                        && !profile.likes.contains(tag)
                        && !profile.dislikes.contains(tag)
                })
            };
            let learned_for = learned(&|s| s >= 2.0);
            let learned_against = learned(&|s| s <= -2.0);
            let score = (d.round() as u64)
                * if liked { 75 } else { 100 }
                * if has_audience { 90 } else { 100 }
                * if learned_for { 85 } else { 100 }
                * if learned_against { 150 } else { 100 };
            let candidate = (score, m.id.to_string(), offer.id.to_string());
            if best.as_ref().is_none_or(|b| candidate < *b) {
                best = Some(candidate);
            }
        }
    }
    best.map(|(_, merchant, offer)| (merchant, offer))
}

/// The device's context and motion.
#[derive(Debug, Clone, Copy)]
struct Situation {
    hungry: bool,
    vacation: bool,
    speed: f64,
    heading: f64,
}

#[derive(Debug, Clone)]
struct Profile {
    diet: Vec<&'static str>,
    likes: Vec<&'static str>,
    dislikes: Vec<&'static str>,
}

fn profile() -> impl Strategy<Value = Profile> {
    (
        any::<bool>(),
        proptest::sample::subsequence(LIKES.to_vec(), 0..=3),
        any::<bool>(),
    )
        .prop_map(|(veggie, likes, no_pizza)| Profile {
            diet: if veggie { vec!["vegetarian"] } else { vec![] },
            likes,
            dislikes: if no_pizza {
                vec!["cuisine=pizza"]
            } else {
                vec![]
            },
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_engine_picks_what_a_scan_of_every_merchant_picks(
        specs in prop::collection::vec(merchant_spec(), 0..150),
        profile in profile(),
        hungry in any::<bool>(),
        vacation in any::<bool>(),
        speed in prop_oneof![Just(0.0), 2.0..30.0f64],
        heading in 0.0..360.0f64,
        // When the asks come, in seconds after T0 (arrival times carry seconds).
        asks in prop::collection::vec(0..5_400i64, 1..4),
        tastes in tastes_spec(),
    ) {
        let features = features(&specs);
        // Quiet hours all day: positions suggest nothing; `ask` ignores them.
        let mut sim = Sim::consenting(
            &features,
            json!({
                "diet": profile.diet,
                "likes": profile.likes,
                "dislikes": profile.dislikes,
                "quiet_hours": "00:00-23:59",
            }),
        );
        let trip = if vacation { "vacation" } else { "commute" };
        sim.context(json!({"hungry": hungry, "trip": trip}), &t(-60));
        learn(&mut sim, &tastes);
        let situation = Situation { hungry, vacation, speed, heading };
        let catalog = catalog(&features);
        let t0 = DateTime::parse_from_rfc3339(T0).unwrap().to_utc();
        let mut asks = asks;
        asks.sort_unstable();
        let mut suggested: Vec<(String, String)> = Vec::new();
        for offset in asks {
            let moved = sim.at(ANNECY, json!({"speed": speed, "heading": heading}), &t(offset - 1));
            prop_assert!(suggestion(&moved).is_none());
            let answer = suggestion(&sim.ask(json!({}), &t(offset)))
                .map(|s| (s.merchant.id, s.offer.id));
            let now = t0 + chrono::TimeDelta::seconds(offset);
            let scores = scores_at(&tastes, now);
            let expected = reference(&catalog, &profile, &situation, &suggested, &scores, now);
            prop_assert_eq!(&answer, &expected, "ask at T0 + {} s", offset);
            suggested.extend(answer);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// `explain` cannot drift from the decision: at the moment of a position,
    /// the offer it says wins is the one that position was suggested (or none
    /// when nothing was), and every offer it calls eligible ranks after it.
    #[test]
    fn the_explained_winner_is_the_decisions_answer(
        specs in prop::collection::vec(merchant_spec(), 0..150),
        profile in profile(),
        hungry in any::<bool>(),
        vacation in any::<bool>(),
        speed in prop_oneof![Just(0.0), 2.0..30.0f64],
        heading in 0.0..360.0f64,
        offset in 0..5_400i64,
        tastes in tastes_spec(),
    ) {
        let features = features(&specs);
        let mut sim = Sim::consenting(
            &features,
            json!({"diet": profile.diet, "likes": profile.likes, "dislikes": profile.dislikes}),
        );
        let trip = if vacation { "vacation" } else { "commute" };
        sim.context(json!({"hungry": hungry, "trip": trip}), &t(-60));
        learn(&mut sim, &tastes);
        let moved = sim.at(ANNECY, json!({"speed": speed, "heading": heading}), &t(offset));
        let made = suggestion(&moved).map(|s| (s.merchant.id, s.offer.id));
        let at = kairos::Stamp::parse(&t(offset)).unwrap();
        let explanation = sim.engine.explain(DEV, &at, usize::MAX);
        prop_assert_eq!(explanation.gate, None);
        let winner = explanation.winner().map(|w| (w.merchant.clone(), w.offer.clone()));
        prop_assert_eq!(&winner, &made);
        let score = |v: &kairos::explain::Verdict| match v {
            kairos::explain::Verdict::Wins { score }
            | kairos::explain::Verdict::Outranked { score } => Some(*score),
            kairos::explain::Verdict::RuledOut(_) => None,
        };
        let best = explanation.winner().and_then(|w| score(&w.verdict));
        for c in &explanation.candidates {
            if let (Some(s), Some(w)) = (score(&c.verdict), explanation.winner()) {
                let b = best.unwrap();
                prop_assert!(
                    s > b || (s == b && (&c.merchant, &c.offer) >= (&w.merchant, &w.offer)),
                    "{} {} scores {} but the winner {}", c.merchant, c.offer, s, b
                );
            }
            prop_assert!(
                explanation.winner().is_some() || score(&c.verdict).is_none(),
                "{} {} is eligible but nothing won", c.merchant, c.offer
            );
        }
        // Every offer of the catalog is explained (the limit was unbounded).
        let offers: usize = catalog(&features).merchants().iter().map(|m| m.offers.len()).sum();
        prop_assert_eq!(explanation.candidates.len(), offers);
    }
}

/// The pruning's tightest case: once an offer is found, the walk still looks
/// as far as a liked offer with an audience (× 0.75 × 0.9) could win from.
#[test]
fn a_liked_offer_for_the_trip_wins_from_farther_than_a_plain_one() {
    let features = [
        place("plain", 0.0, 1_000.0, json!({"tourism": "museum"})),
        place(
            "liked",
            0.0,
            1_450.0,
            json!({"tourism": "museum", "cuisine": "italian", "offers": [
                {"id": "trip", "title": "For the trip", "audience": {"trip": ["vacation"]}}
            ]}),
        ),
    ];
    let mut sim = Sim::consenting(
        &features,
        json!({"likes": ["cuisine=italian"], "quiet_hours": "00:00-23:59"}),
    );
    sim.context(json!({"trip": "vacation"}), &t(-60));
    let _ = sim.at(ANNECY, json!({"speed": 5.0, "heading": 0.0}), &t(-1));
    // 1,450 × 0.75 × 0.9 = 978.75 < 1,000.
    assert_eq!(merchant(&sim.ask(json!({}), T0)).as_deref(), Some("liked"));
}

/// The same edge with learned tastes: × 0.85 from what was learned, alone or
/// with × 0.75 liked and × 0.9 audience, reaches past a plain offer; the walk
/// (its rings and its tag signature) must look that far.
#[test]
fn a_learned_offer_wins_from_farther_than_a_plain_one() {
    for (likes, distance_m) in [(json!([]), 1_170.0), (json!(["cuisine=italian"]), 1_560.0)] {
        let features = [
            place("plain", 0.0, 1_000.0, json!({"tourism": "museum"})),
            place(
                "learned",
                0.0,
                distance_m,
                json!({"amenity": "arts_centre", "cuisine": "italian", "offers": [
                    {"id": "trip", "title": "For the trip", "audience": {"trip": ["vacation"]}}
                ]}),
            ),
        ];
        let mut sim = Sim::consenting(
            &features,
            json!({"likes": likes, "quiet_hours": "00:00-23:59"}),
        );
        sim.context(json!({"trip": "vacation"}), &t(-60));
        let arts = TASTE_TAGS.iter().position(|t| *t == "amenity=arts_centre");
        learn(&mut sim, &[(arts.unwrap(), 2, 0)]);
        let _ = sim.at(ANNECY, json!({"speed": 5.0, "heading": 0.0}), &t(-1));
        // 1,170 × 0.85 × 0.9 = 895.05; 1,560 × 0.75 × 0.85 × 0.9 = 895.05.
        let learned = if likes == json!([]) {
            "alone"
        } else {
            "with likes"
        };
        assert_eq!(
            merchant(&sim.ask(json!({}), T0)).as_deref(),
            Some("learned"),
            "learned {learned}"
        );
    }
}
