//! The referee: every suggestion of a replay held to SPEC's rules, one function
//! per rule, from the merchants' own tags and the trace that was replayed.
//! Nothing here asks kairos (see [`super::real_data`] for the independent
//! geometry, hours and messages it uses).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::Berlin;
use opening_hours::RuleKind;
use serde_json::Value;

use super::real_data::{
    angle_between, bearing_deg, cross_track_m, distance_m, distance_text, hours_state_in_germany,
    line_time, message, places, reach_m, topic_device, topic_kind, Person, Place,
};

/// What the device had told kairos when one of its positions arrived.
#[derive(Debug, Clone)]
struct Moment {
    person: Option<Person>,
    hungry: Option<bool>,
    position: Value,
    at: DateTime<Utc>,
}

/// The referee's findings.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Suggestions checked.
    pub checked: usize,
    /// Suggestions per device.
    pub per_device: BTreeMap<String, usize>,
    /// When each device was suggested something, in order.
    pub times: BTreeMap<String, Vec<DateTime<Utc>>>,
    /// Suggestions of food places.
    pub food: usize,
    /// The merchants suggested, in output order.
    pub merchants: Vec<String>,
    /// Every rule broken, one line each.
    pub violations: Vec<String>,
}

impl Verdict {
    /// Fails with the first violations when there are any.
    pub fn assert_clean(&self, what: &str) {
        assert!(
            self.violations.is_empty(),
            "{what}: {} of {} suggestions break a rule; first ones:\n{}",
            self.violations.len(),
            self.checked,
            self.violations
                .iter()
                .take(25)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A suggestion made: when, the merchant, the offer, and the person's settings then.
type Made = (DateTime<Utc>, String, String, Person);

/// One suggestion under examination, with what the device had said then.
struct Call<'a> {
    device: &'a str,
    at_text: &'a str,
    payload: &'a Value,
    moment: &'a Moment,
    person: &'a Person,
    merchant_id: &'a str,
    place: &'a Place,
    name: String,
    violations: &'a mut Vec<String>,
}

impl Call<'_> {
    fn fail(&mut self, rule: &str, detail: String) {
        self.violations.push(format!(
            "{} at {}: {rule}: {detail}",
            self.device, self.at_text
        ));
    }

    fn here(&self) -> (f64, f64) {
        let p = &self.moment.position;
        (p["lat"].as_f64().unwrap(), p["lon"].as_f64().unwrap())
    }

    fn speed(&self) -> f64 {
        self.moment.position["speed"].as_f64().unwrap_or(0.0)
    }

    fn heading(&self) -> Option<f64> {
        self.moment.position["heading"].as_f64()
    }

    fn moving(&self) -> bool {
        self.speed() >= 2.0 && self.heading().is_some()
    }

    /// The pace of the eta: the speed, or walking pace below 2 m/s.
    fn pace(&self) -> f64 {
        if self.speed() >= 2.0 {
            self.speed()
        } else {
            1.4
        }
    }

    fn distance(&self) -> f64 {
        distance_m(self.here(), (self.place.lat, self.place.lon))
    }
}

/// Checks every suggestion of `outputs` against the trace `lines` that produced
/// them and the offer file `offer_file`, rule by rule, from the merchants' tags.
pub fn referee(offer_file: &Value, lines: &[Value], outputs: &[Value]) -> Verdict {
    let places = places(offer_file);
    let moments = moments(lines);
    let mut verdict = Verdict::default();
    let mut by_device: BTreeMap<String, Vec<Made>> = BTreeMap::new();
    let mut seen_events: HashMap<(String, String), usize> = HashMap::new();

    for output in outputs {
        let device = topic_device(output);
        let at_text = output["at"].as_str().unwrap_or("").to_string();
        let fail = |violations: &mut Vec<String>, rule: &str, detail: String| {
            violations.push(format!("{device} at {at_text}: {rule}: {detail}"));
        };
        if !output["topic"]
            .as_str()
            .unwrap_or("")
            .ends_with("/suggestion")
        {
            fail(
                &mut verdict.violations,
                "only suggestions expected",
                format!("{output}"),
            );
            continue;
        }
        *seen_events
            .entry((device.clone(), at_text.clone()))
            .or_default() += 1;
        let s = &output["payload"];
        let Some(moment) = moments.get(&(device.clone(), at_text.clone())) else {
            fail(
                &mut verdict.violations,
                "a suggestion is only made for a position event (SPEC Precise readings, Triggers)",
                format!("no position of {device} at {at_text}: {s}"),
            );
            continue;
        };
        verdict.checked += 1;
        *verdict.per_device.entry(device.clone()).or_default() += 1;
        let Some(person) = moment.person.clone().filter(|p| p.consent) else {
            fail(
                &mut verdict.violations,
                "rule 1: no profile or no consent, no suggestion",
                format!("{s}"),
            );
            continue;
        };
        let merchant_id = s["merchant"]["id"].as_str().unwrap_or("").to_string();
        let Some(place) = places.get(&merchant_id) else {
            fail(
                &mut verdict.violations,
                "the merchant is in the offer file",
                merchant_id,
            );
            continue;
        };
        verdict.merchants.push(merchant_id.clone());
        if place.is_food_place() {
            verdict.food += 1;
        }
        let offer_id = s["offer"]["id"].as_str().unwrap_or("").to_string();
        let earlier = by_device.get(&device).map(Vec::as_slice).unwrap_or(&[]);
        let mut call = Call {
            device: &device,
            at_text: &at_text,
            payload: s,
            moment,
            person: &person,
            merchant_id: &merchant_id,
            place,
            name: place.tag("name").unwrap_or_else(|| merchant_id.clone()),
            violations: &mut verdict.violations,
        };
        offer_is_the_place(&mut call, &offer_id);
        food_needs_hunger_and_every_diet(&mut call);
        nothing_disliked(&mut call);
        within_reach(&mut call);
        distance_and_bearing_as_given(&mut call);
        inside_the_cone_on_its_side(&mut call);
        let eta = eta_from_distance_and_pace(&mut call);
        open_at_arrival(&mut call, moment.at + Duration::seconds(eta));
        message_in_the_profile_language(&mut call);
        no_better_rival(&mut call, &places, earlier);
        not_in_quiet_hours(&mut call);

        verdict
            .times
            .entry(device.clone())
            .or_default()
            .push(moment.at);
        by_device.entry(device.clone()).or_default().push((
            moment.at,
            merchant_id,
            offer_id,
            person,
        ));
    }

    for ((device, at), n) in &seen_events {
        if *n > 1 {
            verdict.violations.push(format!(
                "{device} at {at}: at most one suggestion per event: {n}"
            ));
        }
    }
    for (device, made) in &by_device {
        respects_the_gap(device, made, &mut verdict.violations);
        respects_the_daily_cap(device, made, &mut verdict.violations);
        never_repeats_within_a_day(device, made, &mut verdict.violations);
    }
    verdict
}

/// Imported merchants have no `offers` key: the implicit `place` offer, titled
/// by the merchant's name (else its id).
fn offer_is_the_place(call: &mut Call, offer_id: &str) {
    let (id, name) = (call.merchant_id.to_string(), call.name.clone());
    if call.place.tags.contains_key("offers") {
        call.fail("imported merchants have no offers key", id);
    }
    if offer_id != "place" {
        call.fail(
            "no `offers` key: the implicit `place` offer",
            format!("offer {offer_id}"),
        );
    }
    let s = call.payload;
    if s["merchant"]["name"] != name.as_str() || s["offer"]["title"] != name.as_str() {
        call.fail(
            "the place offer is titled by the merchant's name, else its id",
            format!("name {name:?}, got {}", s["merchant"]),
        );
    }
}

/// Rules 2 and 5: a food place needs `hungry: true` and serves every diet.
fn food_needs_hunger_and_every_diet(call: &mut Call) {
    if !call.place.is_food_place() {
        return;
    }
    let (id, place) = (call.merchant_id.to_string(), call.place);
    if call.moment.hungry != Some(true) {
        let detail = format!(
            "{id} ({:?}), hungry {:?}",
            place.tag("amenity").or(place.tag("shop")),
            call.moment.hungry
        );
        call.fail(
            "rule 5: a food place needs the context `hungry: true`",
            detail,
        );
    }
    for diet in &call.person.diet {
        if !place.serves(diet) {
            let detail = format!(
                "{id} does not serve {diet}: diet:{diet}={:?}, diet:vegan={:?}",
                place.tag(&format!("diet:{diet}")),
                place.tag("diet:vegan")
            );
            call.fail(
                "rule 2: every diet is served (`diet:<d>` yes/only; vegan serves vegetarian)",
                detail,
            );
        }
    }
}

/// Rule 5: nothing tagged with one of the person's `dislikes`.
fn nothing_disliked(call: &mut Call) {
    for (k, v) in &call.person.dislikes {
        if call.place.has_tag(k, v) {
            let detail = format!("{} has {k}={:?}", call.merchant_id, call.place.tag(k));
            call.fail("rule 5: nothing tagged with a `dislikes` tag", detail);
        }
    }
}

/// Rule 4: no farther than the reach of the speed.
fn within_reach(call: &mut Call) {
    let (d, speed) = (call.distance(), call.speed());
    let reach = reach_m(speed);
    if d > reach + 1.0 {
        let detail = format!(
            "{} at {d:.1} m, speed {speed} m/s, reach {reach:.0} m",
            call.merchant_id
        );
        call.fail(
            "rule 4: distance <= clamp(speed x 600 s, 1 km, 15 km)",
            detail,
        );
    }
}

/// `distance_m` and `bearing` are the great-circle ones, whole.
fn distance_and_bearing_as_given(call: &mut Call) {
    let d = call.distance();
    let given_d = call.payload["distance_m"].as_f64().unwrap_or(f64::NAN);
    if (given_d - d).abs() > 1.0 {
        let detail = format!("{}: given {given_d}, computed {d:.2}", call.merchant_id);
        call.fail(
            "distance_m is the geodesic distance, whole metres (+-1 m)",
            detail,
        );
    }
    let b = bearing_deg(call.here(), (call.place.lat, call.place.lon));
    let given_b = call.payload["bearing"].as_f64().unwrap_or(f64::NAN);
    if !(0.0..360.0).contains(&given_b) || given_b.fract() != 0.0 || angle_between(given_b, b) > 1.0
    {
        let detail = format!("{}: given {given_b}, computed {b:.2}", call.merchant_id);
        call.fail(
            "bearing: whole degrees in [0, 360), device to merchant",
            detail,
        );
    }
}

/// Rule 4: a moving device only hears of what is within ±60° of its heading,
/// and `side` says which side of the line of travel it is on.
fn inside_the_cone_on_its_side(call: &mut Call) {
    let (d, speed, heading) = (call.distance(), call.speed(), call.heading());
    let b = bearing_deg(call.here(), (call.place.lat, call.place.lon));
    let id = call.merchant_id.to_string();
    match (
        call.moving(),
        call.payload.get("side").and_then(Value::as_str),
    ) {
        (true, Some(side)) => {
            let h = heading.unwrap();
            let off = angle_between(b, h);
            if d > 0.5 && off > 60.0 + 1e-6 {
                call.fail(
                    "rule 4: a device at >= 2 m/s with a heading only gets merchants within +-60 deg",
                    format!("{id}: bearing {b:.2}, heading {h}, off by {off:.2} deg, at {d:.0} m"),
                );
            }
            let xt = cross_track_m(call.here(), h, (call.place.lat, call.place.lon));
            let expected = if xt > 25.0 {
                "right"
            } else if xt < -25.0 {
                "left"
            } else {
                "ahead"
            };
            if side != expected && (xt.abs() - 25.0).abs() > 0.5 {
                call.fail(
                    "rule 4: side right/left beyond 25 m of the line of travel, else ahead",
                    format!("{id}: side {side}, cross-track {xt:.1} m"),
                );
            }
        }
        (false, None) => {}
        (_, side) => call.fail(
            "`side` is given exactly when speed >= 2 m/s and a heading is known",
            format!("speed {speed}, heading {heading:?}, side {side:?}"),
        ),
    }
}

/// `eta_s` is the distance at the pace, whole seconds; returns the eta given
/// (or the computed one when none was given).
fn eta_from_distance_and_pace(call: &mut Call) -> i64 {
    let (d, pace) = (call.distance(), call.pace());
    let eta = call.payload["eta_s"].as_i64();
    let expected = (d / pace).round() as i64;
    match eta {
        Some(e) if (e - expected).abs() <= 1 => {}
        _ => call.fail(
            "eta_s = distance / speed (walking pace below 2 m/s), whole seconds",
            format!("given {eta:?}, computed {expected} ({d:.1} m at {pace} m/s)"),
        ),
    }
    eta.unwrap_or(expected)
}

/// Rule 3: open at the estimated arrival (local time, public holidays).
fn open_at_arrival(call: &mut Call, arrival: DateTime<Utc>) {
    let id = call.merchant_id.to_string();
    if let Some(tz) = call.place.tag("timezone") {
        if tz != "Europe/Berlin" {
            call.fail("merchant zone", format!("{id}: timezone {tz}"));
        }
    }
    let Some(expr) = call
        .place
        .tag("opening_hours")
        .filter(|e| !e.trim().is_empty())
    else {
        return;
    };
    let state = hours_state_in_germany(&expr, arrival, call.place);
    if state != RuleKind::Open {
        let detail = format!(
            "{id} {:?}: {expr:?} is {state:?} at {} (Berlin)",
            call.name,
            arrival.with_timezone(&Berlin)
        );
        call.fail(
            "rule 3: the merchant is open at the estimated arrival (local time, PH included)",
            detail,
        );
    }
}

/// The message per SPEC "Messages", in the profile's language; `at` is the event's.
fn message_in_the_profile_language(call: &mut Call) {
    let s = call.payload;
    let lang = call.person.lang.clone();
    if s["lang"] != lang.as_str() {
        call.fail(
            "lang is the profile's",
            format!("given {}, profile {lang}", s["lang"]),
        );
    }
    let side = s.get("side").and_then(Value::as_str);
    let d = call.distance();
    let accepted: Vec<String> = [d - 1.0, d, d + 1.0]
        .iter()
        .map(|x| message(&call.name, &distance_text(*x, &lang), side, &lang))
        .collect();
    let given = s["message"].as_str().unwrap_or("");
    if !accepted.iter().any(|m| m == given) {
        let detail = format!("given {given:?}, expected {:?}", accepted[1]);
        call.fail("message per SPEC Messages", detail);
    }
    if s["at"] != call.at_text {
        call.fail("payload `at` is the event's `at`", format!("{}", s["at"]));
    }
}

/// Ranking: no clearly better eligible merchant (by 1 m of score, away from
/// every boundary: reach, cone, opening-hours changes).
fn no_better_rival(call: &mut Call, places: &HashMap<String, Place>, earlier: &[Made]) {
    let (here, pace, at) = (call.here(), call.pace(), call.moment.at);
    let reach = reach_m(call.speed());
    let chosen = call.person.score(call.place, call.distance());
    let mut rivals: Vec<(&String, f64)> = Vec::new();
    for (id, rival) in places {
        let rd = distance_m(here, (rival.lat, rival.lon));
        if id == call.merchant_id
            || rd > reach - 1.0
            || call.person.score(rival, rd) >= chosen - 1.0
        {
            continue;
        }
        if call.moving()
            && rd > 1.0
            && angle_between(
                bearing_deg(here, (rival.lat, rival.lon)),
                call.heading().unwrap(),
            ) > 59.99
        {
            continue;
        }
        if !call.person.may_hear_of(rival, call.moment.hungry) || rival.tags.contains_key("offers")
        {
            continue;
        }
        let repeated = earlier
            .iter()
            .any(|(t, m, o, _)| m == id && o == "place" && at - *t < Duration::hours(24));
        if repeated {
            continue;
        }
        let rival_arrival = at + Duration::seconds((rd / pace).round() as i64);
        let open = rival.tag("opening_hours").is_none_or(|expr| {
            [-2, 0, 2].iter().all(|s| {
                hours_state_in_germany(&expr, rival_arrival + Duration::seconds(*s), rival)
                    == RuleKind::Open
            })
        });
        if open {
            rivals.push((id, rd));
        }
    }
    if let Some((id, rd)) = rivals.iter().min_by(|a, b| a.1.total_cmp(&b.1)) {
        let detail = format!(
            "{} ({:?}) at {:.0} m (score {chosen:.0}) chosen, but {id} ({:?}) at {rd:.0} m (score {:.0}) fits too",
            call.merchant_id,
            call.name,
            call.distance(),
            places[*id].tag("name"),
            call.person.score(&places[*id], *rd)
        );
        call.fail(
            "ranking: the best eligible offer wins (lowest score)",
            detail,
        );
    }
}

/// Rule 6: no suggestion during quiet hours (device local time: Germany).
fn not_in_quiet_hours(call: &mut Call) {
    if call.person.is_quiet_at(call.moment.at) {
        let detail = format!(
            "{} local, quiet {:?}",
            call.moment.at.with_timezone(&Berlin),
            call.person.quiet
        );
        call.fail(
            "rule 6: no suggestion during quiet_hours (device local time)",
            detail,
        );
    }
}

/// Rule 6: at least `min_gap_min` between two suggestions to one device.
fn respects_the_gap(device: &str, made: &[Made], violations: &mut Vec<String>) {
    for pair in made.windows(2) {
        let ((before, ..), (t, _, _, person)) = (&pair[0], &pair[1]);
        let gap = *t - *before;
        if gap < Duration::minutes(person.min_gap_min) {
            violations.push(format!(
                "{device} at {t}: rule 6: at least min_gap_min ({}, floor 10) between suggestions: {} min after the last",
                person.min_gap_min,
                gap.num_seconds() as f64 / 60.0
            ));
        }
    }
}

/// Rule 6: at most `max_per_day` in any rolling 24 h.
fn respects_the_daily_cap(device: &str, made: &[Made], violations: &mut Vec<String>) {
    for (i, (t, _, _, person)) in made.iter().enumerate() {
        let window = made[..=i]
            .iter()
            .filter(|(u, ..)| *t - *u < Duration::hours(24))
            .count();
        if window > person.max_per_day {
            violations.push(format!(
                "{device} at {t}: rule 6: at most max_per_day ({}) in any rolling 24 h: {window}",
                person.max_per_day
            ));
        }
    }
}

/// Rule 6: the same offer never twice within 24 h.
fn never_repeats_within_a_day(device: &str, made: &[Made], violations: &mut Vec<String>) {
    for (i, (t, merchant, offer, _)) in made.iter().enumerate() {
        let previous = made[..i]
            .iter()
            .rev()
            .find(|(_, m, o, _)| m == merchant && o == offer);
        if let Some((u, ..)) = previous {
            if *t - *u < Duration::hours(24) {
                violations.push(format!(
                    "{device} at {t}: rule 6: the same offer never twice within 24 h: {merchant}/{offer} also at {u}"
                ));
            }
        }
    }
}

/// For each (device, `at` text) of a position line: the device's profile and
/// hunger at that moment, and the position.
fn moments(lines: &[Value]) -> HashMap<(String, String), Moment> {
    let mut profile: HashMap<String, Option<Person>> = HashMap::new();
    let mut hungry: HashMap<String, (Option<bool>, DateTime<Utc>)> = HashMap::new();
    let mut moments = HashMap::new();
    for line in lines {
        let device = topic_device(line);
        let at = line_time(line);
        let payload = &line["payload"];
        match topic_kind(line).as_str() {
            "profile" => {
                profile.insert(device, Some(Person::from_payload(payload)));
            }
            "context" => {
                if let Some(h) = payload.get("hungry") {
                    hungry.insert(device, (h.as_bool(), at));
                }
            }
            "position" => {
                let hungry_now = hungry
                    .get(&device)
                    .filter(|(_, set)| at < *set + Duration::hours(2))
                    .and_then(|(h, _)| *h);
                let key = (device.clone(), line["at"].as_str().unwrap().to_string());
                let moment = Moment {
                    person: profile.get(&device).cloned().flatten(),
                    hungry: hungry_now,
                    position: payload.clone(),
                    at,
                };
                assert!(
                    moments.insert(key, moment).is_none(),
                    "two positions of {device} at the same `at`: the referee needs them apart"
                );
            }
            other => panic!("the referee reads profile, context and position lines, not {other}"),
        }
    }
    moments
}
