//! Which OSM ways are drivable, and how: SPEC's reading of `highway`,
//! `access`/`motor_vehicle`, `oneway`, `junction=roundabout`, `maxspeed` and
//! `service`, as one pure function of a way's tags ([`read_way`]).
//!
//! A way is drivable when `highway` is one of SPEC's classes and neither
//! `access` nor `motor_vehicle` is `no` or `private` (each read on its own, as
//! SPEC words it). `oneway` = `yes`/`true`/`1` is one-way along the way, `-1`
//! against it, `no`/`false`/`0` both ways; a roundabout (`junction=roundabout`)
//! or a `motorway` with no `oneway` (or another value) is one-way along the way.
//! `motorway_link` is not a motorway here: SPEC names motorways only, and the
//! links that are one-way are tagged so in OSM. Any other `oneway` value
//! (`reversible`, `alternating`, ...) is read as the class's default and counted.
//! `maxspeed` is a number (km/h) or a number followed by ` mph`; a value that is
//! neither, or not in (0, 300] km/h, falls back to the class's speed and is
//! counted.

/// A drivable road class (SPEC's list; a `_link` shares its class's speed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum RoadClass {
    /// `motorway`.
    Motorway = 0,
    /// `motorway_link`.
    MotorwayLink = 1,
    /// `trunk`.
    Trunk = 2,
    /// `trunk_link`.
    TrunkLink = 3,
    /// `primary`.
    Primary = 4,
    /// `primary_link`.
    PrimaryLink = 5,
    /// `secondary`.
    Secondary = 6,
    /// `secondary_link`.
    SecondaryLink = 7,
    /// `tertiary`.
    Tertiary = 8,
    /// `tertiary_link`.
    TertiaryLink = 9,
    /// `unclassified`.
    Unclassified = 10,
    /// `residential`.
    Residential = 11,
    /// `living_street`.
    LivingStreet = 12,
    /// `service`.
    Service = 13,
}

impl RoadClass {
    /// Every class, in code order.
    pub const ALL: [RoadClass; 14] = [
        RoadClass::Motorway,
        RoadClass::MotorwayLink,
        RoadClass::Trunk,
        RoadClass::TrunkLink,
        RoadClass::Primary,
        RoadClass::PrimaryLink,
        RoadClass::Secondary,
        RoadClass::SecondaryLink,
        RoadClass::Tertiary,
        RoadClass::TertiaryLink,
        RoadClass::Unclassified,
        RoadClass::Residential,
        RoadClass::LivingStreet,
        RoadClass::Service,
    ];

    /// The class of a `highway` value, if drivable.
    pub fn from_highway(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.highway() == value)
    }

    /// The class from its code in the compact file.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The `highway` value.
    pub fn highway(self) -> &'static str {
        match self {
            RoadClass::Motorway => "motorway",
            RoadClass::MotorwayLink => "motorway_link",
            RoadClass::Trunk => "trunk",
            RoadClass::TrunkLink => "trunk_link",
            RoadClass::Primary => "primary",
            RoadClass::PrimaryLink => "primary_link",
            RoadClass::Secondary => "secondary",
            RoadClass::SecondaryLink => "secondary_link",
            RoadClass::Tertiary => "tertiary",
            RoadClass::TertiaryLink => "tertiary_link",
            RoadClass::Unclassified => "unclassified",
            RoadClass::Residential => "residential",
            RoadClass::LivingStreet => "living_street",
            RoadClass::Service => "service",
        }
    }

    /// SPEC's speed for the class when `maxspeed` gives none, km/h.
    pub fn default_speed_kmh(self) -> f32 {
        match self {
            RoadClass::Motorway | RoadClass::MotorwayLink => 120.0,
            RoadClass::Trunk | RoadClass::TrunkLink => 100.0,
            RoadClass::Primary | RoadClass::PrimaryLink => 80.0,
            RoadClass::Secondary | RoadClass::SecondaryLink => 60.0,
            RoadClass::Tertiary | RoadClass::TertiaryLink => 50.0,
            RoadClass::Unclassified => 40.0,
            RoadClass::Residential => 30.0,
            RoadClass::Service => 20.0,
            RoadClass::LivingStreet => 10.0,
        }
    }

    /// True for `motorway` and `motorway_link`: never an access point.
    pub fn is_motorway(self) -> bool {
        matches!(self, RoadClass::Motorway | RoadClass::MotorwayLink)
    }
}

/// The `service` values the turn rule passes over (SPEC "The turn").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ServiceKind {
    /// Any other road, or `service` with another value (or none).
    Other = 0,
    /// `service=driveway`.
    Driveway = 1,
    /// `service=parking_aisle`.
    ParkingAisle = 2,
    /// `service=drive-through`.
    DriveThrough = 3,
}

impl ServiceKind {
    /// The kind from its code in the compact file.
    pub fn from_code(code: u8) -> Option<Self> {
        [
            ServiceKind::Other,
            ServiceKind::Driveway,
            ServiceKind::ParkingAisle,
            ServiceKind::DriveThrough,
        ]
        .get(usize::from(code))
        .copied()
    }

    /// True when an exit onto this road does not count as an exit for the turn.
    pub fn is_minor(self) -> bool {
        self != ServiceKind::Other
    }
}

/// Which directions of a way may be driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    Both,
    /// Only in the order of the way's nodes.
    Forward,
    /// Only against the order of the way's nodes (`oneway=-1`).
    Backward,
}

/// A drivable way as the graph needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WayKind {
    /// The class.
    pub class: RoadClass,
    /// The speed, km/h.
    pub speed_kmh: f32,
    /// The directions that may be driven.
    pub direction: Direction,
    /// The `service` value the turn rule needs.
    pub service: ServiceKind,
}

/// Why a way was not kept, or what was read as a default (the report's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Note {
    /// No `highway` tag, or one that is not a drivable class.
    NotDrivable,
    /// `access` or `motor_vehicle` is `no`.
    AccessNo,
    /// `access` or `motor_vehicle` is `private`.
    AccessPrivate,
    /// `maxspeed` could not be read: the class's speed was used.
    MaxspeedDefault,
    /// `oneway` had a value SPEC does not name: the class's default was used.
    OnewayUnknown,
}

impl Note {
    /// The reason as the report prints it.
    pub fn reason(self) -> &'static str {
        match self {
            Note::NotDrivable => "ways not drivable (highway)",
            Note::AccessNo => "ways dropped: access/motor_vehicle=no",
            Note::AccessPrivate => "ways dropped: access/motor_vehicle=private",
            Note::MaxspeedDefault => "ways with an unreadable maxspeed (class default used)",
            Note::OnewayUnknown => "ways with an unknown oneway value (class default used)",
        }
    }
}

/// Reads a way's tags: its kind when drivable (with what was defaulted), or why not.
pub fn read_way<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(WayKind, Vec<Note>), Note> {
    let (mut highway, mut access, mut motor_vehicle) = (None, None, None);
    let (mut oneway, mut junction, mut maxspeed, mut service) = (None, None, None, None);
    for (key, value) in tags {
        match key {
            "highway" => highway = Some(value),
            "access" => access = Some(value),
            "motor_vehicle" => motor_vehicle = Some(value),
            "oneway" => oneway = Some(value),
            "junction" => junction = Some(value),
            "maxspeed" => maxspeed = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    let class = highway
        .and_then(RoadClass::from_highway)
        .ok_or(Note::NotDrivable)?;
    for value in [access, motor_vehicle].into_iter().flatten() {
        match value {
            "no" => return Err(Note::AccessNo),
            "private" => return Err(Note::AccessPrivate),
            _ => {}
        }
    }
    let mut notes = Vec::new();
    let implied_oneway = class == RoadClass::Motorway || junction == Some("roundabout");
    let default_direction = if implied_oneway {
        Direction::Forward
    } else {
        Direction::Both
    };
    let direction = match oneway {
        None => default_direction,
        Some("yes" | "true" | "1") => Direction::Forward,
        Some("-1") => Direction::Backward,
        Some("no" | "false" | "0") => Direction::Both,
        Some(_) => {
            notes.push(Note::OnewayUnknown);
            default_direction
        }
    };
    let speed_kmh = match maxspeed {
        None => class.default_speed_kmh(),
        Some(text) => parse_maxspeed(text).unwrap_or_else(|| {
            notes.push(Note::MaxspeedDefault);
            class.default_speed_kmh()
        }),
    };
    let service = match (class, service) {
        (RoadClass::Service, Some("driveway")) => ServiceKind::Driveway,
        (RoadClass::Service, Some("parking_aisle")) => ServiceKind::ParkingAisle,
        (RoadClass::Service, Some("drive-through")) => ServiceKind::DriveThrough,
        _ => ServiceKind::Other,
    };
    Ok((
        WayKind {
            class,
            speed_kmh,
            direction,
            service,
        },
        notes,
    ))
}

/// Kilometres per mile.
const KM_PER_MILE: f32 = 1.609_344;

/// `maxspeed` in km/h: a number, or a number followed by ` mph`; `None` otherwise.
pub fn parse_maxspeed(text: &str) -> Option<f32> {
    let text = text.trim();
    let (number, factor) = match text.strip_suffix(" mph") {
        Some(n) => (n.trim_end(), KM_PER_MILE),
        None => (text, 1.0),
    };
    let plain = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if !plain {
        return None;
    }
    let kmh = number.parse::<f32>().ok()? * factor;
    (kmh > 0.0 && kmh <= 300.0).then_some(kmh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(tags: &[(&'static str, &'static str)]) -> Result<(WayKind, Vec<Note>), Note> {
        read_way(tags.iter().copied())
    }

    #[test]
    fn every_drivable_class_is_read_and_others_are_not() {
        for class in RoadClass::ALL {
            let (k, notes) = kind(&[("highway", class.highway())]).unwrap();
            assert_eq!(k.class, class);
            assert!(notes.is_empty());
        }
        for other in [
            "footway",
            "cycleway",
            "path",
            "track",
            "pedestrian",
            "steps",
        ] {
            assert_eq!(kind(&[("highway", other)]), Err(Note::NotDrivable));
        }
        assert_eq!(kind(&[("name", "x")]), Err(Note::NotDrivable));
    }

    #[test]
    fn no_and_private_access_exclude_a_way() {
        let h = ("highway", "residential");
        assert_eq!(kind(&[h, ("access", "no")]), Err(Note::AccessNo));
        assert_eq!(
            kind(&[h, ("motor_vehicle", "private")]),
            Err(Note::AccessPrivate)
        );
        assert!(kind(&[h, ("access", "destination")]).is_ok());
        assert!(kind(&[h, ("motor_vehicle", "yes")]).is_ok());
    }

    #[test]
    fn oneway_values_roundabouts_and_motorways() {
        let dir = |tags: &[(&'static str, &'static str)]| kind(tags).unwrap().0.direction;
        let r = ("highway", "residential");
        assert_eq!(dir(&[r]), Direction::Both);
        for yes in ["yes", "true", "1"] {
            assert_eq!(dir(&[r, ("oneway", yes)]), Direction::Forward);
        }
        assert_eq!(dir(&[r, ("oneway", "-1")]), Direction::Backward);
        assert_eq!(dir(&[("highway", "motorway")]), Direction::Forward);
        assert_eq!(
            dir(&[("highway", "motorway"), ("oneway", "no")]),
            Direction::Both
        );
        assert_eq!(dir(&[r, ("junction", "roundabout")]), Direction::Forward);
        assert_eq!(
            dir(&[r, ("junction", "roundabout"), ("oneway", "no")]),
            Direction::Both
        );
        assert_eq!(dir(&[("highway", "motorway_link")]), Direction::Both);
        let (k, notes) = kind(&[r, ("oneway", "reversible")]).unwrap();
        assert_eq!(k.direction, Direction::Both);
        assert_eq!(notes, vec![Note::OnewayUnknown]);
    }

    #[test]
    fn speeds_come_from_maxspeed_or_the_class() {
        let speed = |tags: &[(&'static str, &'static str)]| kind(tags).unwrap().0.speed_kmh;
        assert_eq!(speed(&[("highway", "primary"), ("maxspeed", "70")]), 70.0);
        let mph = speed(&[("highway", "primary"), ("maxspeed", "30 mph")]);
        assert!((mph - 48.28).abs() < 0.01, "{mph}");
        assert_eq!(speed(&[("highway", "trunk_link")]), 100.0);
        assert_eq!(speed(&[("highway", "living_street")]), 10.0);
        for bad in [
            "DE:urban", "none", "walk", "50;30", "-5", "0", "", "50 km/h",
        ] {
            let (k, notes) = kind(&[("highway", "secondary"), ("maxspeed", bad)]).unwrap();
            assert_eq!(k.speed_kmh, 60.0, "{bad}");
            assert_eq!(notes, vec![Note::MaxspeedDefault], "{bad}");
        }
    }

    #[test]
    fn service_kinds_the_turn_passes_over() {
        let s = |v: &'static str| kind(&[("highway", "service"), ("service", v)]).unwrap().0;
        assert_eq!(s("driveway").service, ServiceKind::Driveway);
        assert_eq!(s("parking_aisle").service, ServiceKind::ParkingAisle);
        assert_eq!(s("drive-through").service, ServiceKind::DriveThrough);
        assert_eq!(s("alley").service, ServiceKind::Other);
    }
}
