//! The IANA time zone at a point on the map, from `tzf-rs`'s bundled boundaries.

use std::sync::LazyLock;

use chrono_tz::Tz;
use tzf_rs::DefaultFinder;

use crate::geodesy::LatLon;

static FINDER: LazyLock<DefaultFinder> = LazyLock::new(DefaultFinder::new);

/// The time zone at `location`; UTC where the boundaries name none kairos knows.
pub fn timezone_at(location: LatLon) -> Tz {
    FINDER
        .get_tz_name(location.lon, location.lat)
        .parse::<Tz>()
        .unwrap_or(Tz::UTC)
}

/// A zone by IANA name (`Europe/Paris`).
pub fn timezone_named(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annecy_is_in_paris_time_and_tokyo_in_japan() {
        assert_eq!(
            timezone_at(LatLon::new(45.9, 6.13)),
            chrono_tz::Europe::Paris
        );
        assert_eq!(
            timezone_at(LatLon::new(35.68, 139.76)),
            chrono_tz::Asia::Tokyo
        );
    }
}
