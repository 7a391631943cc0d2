//! A 64-bit summary of a merchant's tags, kept in the index, so that the
//! decision can pass over a merchant that could only win by being liked, and
//! holds none of the liked tags, without reading the merchant at all.
//!
//! Each `key=item` the tags hold (every item of a `;`-list, trimmed, as
//! [`Tags::matches`] reads them) sets one bit chosen by a fixed hash. A
//! merchant can match a `likes` pattern only if the pattern's bit is set: the
//! test may say "maybe" wrongly (then the tags are read), never "no" wrongly.
//! Keys that are one per place (names, addresses, contacts...) are left out to
//! keep the bits sparse; a pattern on such a key answers "maybe" for everyone.

use std::hash::Hasher;

use rustc_hash::FxHasher;

use crate::device::TagPattern;
use crate::offers::model::is_unique_per_place;
use crate::offers::Tags;

/// Every bit set: "maybe" for any pattern.
pub const ANY: u64 = u64::MAX;

/// The signature of a merchant's tags.
pub fn of_tags(tags: &Tags) -> u64 {
    tags.iter()
        .filter(|(key, _)| summarised(key))
        .flat_map(|(key, value)| value.split(';').map(move |item| bit(key, item.trim())))
        .fold(0, |bits, b| bits | b)
}

/// The bits of a profile's `likes`: a merchant whose signature shares none of
/// them matches none of the patterns. [`ANY`] when a pattern's key is not
/// summarised; 0 for no likes.
pub fn of_patterns(patterns: &[TagPattern]) -> u64 {
    patterns.iter().fold(0, |bits, p| {
        bits | if summarised(&p.key) {
            bit(&p.key, &p.value)
        } else {
            ANY
        }
    })
}

/// False only when a merchant with signature `tag_bits` surely matches none of
/// the patterns summarised in `pattern_bits` (see [`of_patterns`]).
pub fn may_match(tag_bits: u64, pattern_bits: u64) -> bool {
    pattern_bits == ANY || tag_bits & pattern_bits != 0
}

/// Keys worth a bit: not the ones every place holds a value of its own for.
fn summarised(key: &str) -> bool {
    !(is_unique_per_place(key)
        || matches!(
            key,
            "opening_hours"
                | "note"
                | "source"
                | "wikidata"
                | "wikipedia"
                | "image"
                | "check_date"
                | "fixme"
        ))
}

fn bit(key: &str, value: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(key.as_bytes());
    hasher.write_u8(0xff);
    hasher.write(value.as_bytes());
    1 << (hasher.finish() >> 58)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        Tags::new(
            pairs
                .iter()
                .map(|(k, v)| (Arc::from(*k), Arc::from(*v)))
                .collect(),
        )
    }

    fn like(key: &str, value: &str) -> TagPattern {
        TagPattern {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_matching_tag_always_shares_a_bit() {
        let t = tags(&[
            ("amenity", "restaurant"),
            ("cuisine", "italian; pizza"),
            ("name", "Da Mario"),
        ]);
        let signature = of_tags(&t);
        for (key, value) in [
            ("cuisine", "pizza"),
            ("cuisine", "italian"),
            ("name", "Da Mario"),
        ] {
            assert!(t.matches(key, value));
            assert_ne!(
                signature & of_patterns(&[like(key, value)]),
                0,
                "{key}={value}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever the tags and the pattern, a match always shares a bit.
        #[test]
        fn a_match_is_never_missed(
            pairs in proptest::collection::vec(
                ("(cuisine|amenity|shop|name|addr:city|diet:vegan)", "[ab; ]{0,6}"),
                0..8,
            ),
            key in "(cuisine|amenity|shop|name|addr:city|diet:vegan)",
            value in "[ab ]{0,3}",
        ) {
            let owned: Vec<(&str, &str)> =
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let t = tags(&owned);
            if t.matches(&key, &value) {
                proptest::prop_assert!(may_match(of_tags(&t), of_patterns(&[like(&key, &value)])));
            }
        }
    }

    #[test]
    fn no_likes_share_nothing_and_unsummarised_keys_share_everything() {
        assert_eq!(of_patterns(&[]), 0);
        assert_eq!(of_patterns(&[like("addr:city", "Wien")]), ANY);
        let unsummarised = of_tags(&tags(&[("name", "x"), ("website", "y")]));
        assert_eq!(unsummarised, 0);
        assert!(may_match(unsummarised, of_patterns(&[like("name", "x")])));
        assert!(!may_match(
            unsummarised,
            of_patterns(&[like("cuisine", "x")])
        ));
    }
}
