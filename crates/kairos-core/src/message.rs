//! The sentence a person reads: title, distance and side, in English or French.

use crate::device::Lang;

/// Where a merchant lies relative to a moving device's line of travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// More than 25 m to the right.
    Right,
    /// More than 25 m to the left.
    Left,
    /// Within 25 m of the line of travel.
    Ahead,
}

impl Side {
    /// The SPEC word.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Right => "right",
            Side::Left => "left",
            Side::Ahead => "ahead",
        }
    }
}

/// The first turn of a road path, as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TurnRef {
    /// `right` or `left`.
    pub side: Side,
    /// Whole metres along the path to the junction.
    pub in_m: u64,
    /// Which junction with an exit on that side: 1 is the next one.
    pub nth: u32,
}

/// A distance as people read it: `450 m`, `3 km`, `2.5 km` (`2,5 km` in French), `12 km`.
pub fn distance_text(distance_m: f64, lang: Lang) -> String {
    let tens = (distance_m / 10.0).round() * 10.0;
    if tens < 1000.0 {
        return format!("{} m", tens as u64);
    }
    let tenths = (distance_m / 100.0).round() / 10.0;
    if tenths < 10.0 {
        let text = if tenths.fract() == 0.0 {
            format!("{}", tenths as u64)
        } else {
            format!("{tenths:.1}")
        };
        let text = match lang {
            Lang::Fr => text.replace('.', ","),
            Lang::En => text,
        };
        return format!("{text} km");
    }
    format!("{} km", (distance_m / 1000.0).round() as u64)
}

/// The whole message: `{title} — {d} ahead, on your right`, `{title} — à {d}, sur votre droite`, ...
pub fn message_text(title: &str, distance_m: f64, side: Option<Side>, lang: Lang) -> String {
    let d = distance_text(distance_m, lang);
    match (lang, side) {
        (Lang::En, Some(Side::Right)) => format!("{title} — {d} ahead, on your right"),
        (Lang::En, Some(Side::Left)) => format!("{title} — {d} ahead, on your left"),
        (Lang::En, Some(Side::Ahead)) => format!("{title} — {d} ahead"),
        (Lang::En, None) => format!("{title} — {d} away"),
        (Lang::Fr, Some(Side::Right)) => format!("{title} — à {d}, sur votre droite"),
        (Lang::Fr, Some(Side::Left)) => format!("{title} — à {d}, sur votre gauche"),
        (Lang::Fr, Some(Side::Ahead)) => format!("{title} — à {d}, tout droit"),
        (Lang::Fr, None) => format!("{title} — à {d}"),
    }
}

/// The message for a suggestion by road (SPEC "The turn"): with its turn,
/// `{title} — {d}, next right`, `… second left`, `… turn right in 800 m`;
/// without, `{title} — {d} ahead, on your right`; French likewise.
pub fn road_message_text(
    title: &str,
    distance_m: f64,
    side: Side,
    turn: Option<TurnRef>,
    lang: Lang,
) -> String {
    let d = distance_text(distance_m, lang);
    let Some(turn) = turn else {
        return message_text(title, distance_m, Some(side), lang);
    };
    let (right, en, fr) = (
        turn.side == Side::Right,
        ["left", "right"],
        ["gauche", "droite"],
    );
    let (en, fr) = (en[usize::from(right)], fr[usize::from(right)]);
    match (lang, turn.nth) {
        (Lang::En, 1) => format!("{title} — {d}, next {en}"),
        (Lang::En, 2) => format!("{title} — {d}, second {en}"),
        (Lang::En, 3) => format!("{title} — {d}, third {en}"),
        (Lang::En, _) => format!(
            "{title} — {d}, turn {en} in {}",
            distance_text(turn.in_m as f64, lang)
        ),
        (Lang::Fr, 1) => format!("{title} — à {d}, à la prochaine à {fr}"),
        (Lang::Fr, 2) => format!("{title} — à {d}, à la deuxième à {fr}"),
        (Lang::Fr, 3) => format!("{title} — à {d}, à la troisième à {fr}"),
        (Lang::Fr, _) => format!(
            "{title} — à {d}, tournez à {fr} dans {}",
            distance_text(turn.in_m as f64, lang)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_read_as_a_driver_says_them() {
        let turn = |side, nth, in_m| Some(TurnRef { side, in_m, nth });
        let cases = [
            (
                turn(Side::Right, 1, 300),
                Lang::Fr,
                "Déjeuner — à 3 km, à la prochaine à droite",
            ),
            (
                turn(Side::Left, 2, 600),
                Lang::Fr,
                "Déjeuner — à 3 km, à la deuxième à gauche",
            ),
            (
                turn(Side::Right, 3, 600),
                Lang::Fr,
                "Déjeuner — à 3 km, à la troisième à droite",
            ),
            (
                turn(Side::Right, 5, 800),
                Lang::Fr,
                "Déjeuner — à 3 km, tournez à droite dans 800 m",
            ),
            (None, Lang::Fr, "Déjeuner — à 3 km, sur votre droite"),
            (
                turn(Side::Right, 1, 300),
                Lang::En,
                "Déjeuner — 3 km, next right",
            ),
            (
                turn(Side::Left, 2, 600),
                Lang::En,
                "Déjeuner — 3 km, second left",
            ),
            (
                turn(Side::Left, 3, 600),
                Lang::En,
                "Déjeuner — 3 km, third left",
            ),
            (
                turn(Side::Left, 4, 2_480),
                Lang::En,
                "Déjeuner — 3 km, turn left in 2.5 km",
            ),
            (None, Lang::En, "Déjeuner — 3 km ahead, on your right"),
        ];
        for (turn, lang, expected) in cases {
            assert_eq!(
                road_message_text("Déjeuner", 3_010.0, Side::Right, turn, lang),
                expected
            );
        }
    }

    #[test]
    fn distances_read_as_spec_says() {
        assert_eq!(distance_text(452.0, Lang::En), "450 m");
        assert_eq!(distance_text(4.0, Lang::En), "0 m");
        assert_eq!(distance_text(996.0, Lang::En), "1 km");
        assert_eq!(distance_text(3_020.0, Lang::En), "3 km");
        assert_eq!(distance_text(2_480.0, Lang::En), "2.5 km");
        assert_eq!(distance_text(2_480.0, Lang::Fr), "2,5 km");
        assert_eq!(distance_text(9_960.0, Lang::En), "10 km");
        assert_eq!(distance_text(12_400.0, Lang::Fr), "12 km");
    }

    #[test]
    fn messages_in_both_languages() {
        assert_eq!(
            message_text(
                "Gluten-free holiday lunch",
                3_000.0,
                Some(Side::Right),
                Lang::En
            ),
            "Gluten-free holiday lunch — 3 km ahead, on your right"
        );
        assert_eq!(
            message_text(
                "Déjeuner de vacances sans gluten",
                3_000.0,
                Some(Side::Right),
                Lang::Fr
            ),
            "Déjeuner de vacances sans gluten — à 3 km, sur votre droite"
        );
        assert_eq!(
            message_text("Musée", 450.0, None, Lang::Fr),
            "Musée — à 450 m"
        );
        assert_eq!(
            message_text("Museum", 450.0, None, Lang::En),
            "Museum — 450 m away"
        );
        assert_eq!(
            message_text("Café", 1_500.0, Some(Side::Ahead), Lang::Fr),
            "Café — à 1,5 km, tout droit"
        );
        assert_eq!(
            message_text("Café", 1_500.0, Some(Side::Left), Lang::En),
            "Café — 1.5 km ahead, on your left"
        );
    }
}
