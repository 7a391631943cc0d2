//! `--share-group NAME` (`serve.share_group`): several instances split the
//! inputs through MQTT shared subscriptions.
//!
//! Each instance subscribes to `$share/NAME/{prefix}/+/+` instead of
//! `{prefix}/+/+`; the broker hands each message to one subscriber of the
//! group. Outputs still go to `{prefix}/{device}/...`. Mosquitto 2 offers
//! `$share` to MQTT 3.1.1 clients as well as MQTT 5 ones (checked against
//! Mosquitto 2.0.11: two 3.1.1 subscribers of one group each got every other
//! message), so kairos keeps its 3.1.1 client; a broker that only shares
//! among MQTT 5 clients would deliver nothing to a 3.1.1 `$share` filter.
//!
//! Brokers do not send retained messages to shared subscriptions, so an
//! instance does not get the retained profiles at start: with a shared store
//! it does not need them (every decision loads the stored profile).
//!
//! Instances of one group must have distinct MQTT client ids (a broker
//! disconnects the older of two clients with the same id), so in a group
//! each instance suffixes `serve.client_id` with a value of its own.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::ShareGroup;

/// The longest client id every MQTT 3.1.1 broker must accept.
const CLIENT_ID_MAX: usize = 23;

/// `filter` as this instance subscribes to it: `$share/{group}/{filter}` in a
/// group, else unchanged.
pub fn filter(group: Option<&ShareGroup>, filter: &str) -> String {
    match group {
        None => filter.to_string(),
        Some(group) => format!("$share/{}/{filter}", group.as_str()),
    }
}

/// The MQTT client id of this instance: `base` alone, or, in a group, `base`
/// (cut to fit) and `-` and 8 hex digits of this process, at most 23
/// characters.
pub fn client_id(base: &str, group: Option<&ShareGroup>) -> String {
    if group.is_none() {
        return base.to_string();
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let unique = nanos ^ std::process::id().rotate_left(16);
    let keep: String = base.chars().take(CLIENT_ID_MAX - 9).collect();
    format!("{keep}-{unique:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> ShareGroup {
        ShareGroup::new(name).unwrap()
    }

    #[test]
    fn a_group_shares_the_filter_and_no_group_leaves_it() {
        assert_eq!(filter(None, "kairos/+/+"), "kairos/+/+");
        assert_eq!(
            filter(Some(&group("g")), "kairos/+/+"),
            "$share/g/kairos/+/+"
        );
    }

    #[test]
    fn instances_of_a_group_get_distinct_short_client_ids() {
        assert_eq!(client_id("kairos", None), "kairos");
        let id = client_id("a-very-long-client-id-x", Some(&group("g")));
        assert!(id.len() <= CLIENT_ID_MAX, "{id}");
        assert!(id.starts_with("a-very-long-cl-"), "{id}");
    }

    #[test]
    fn group_names_with_topic_characters_are_refused() {
        assert!(ShareGroup::new("workers").is_ok());
        for bad in ["a/b", "a+", "a b", ""] {
            assert!(ShareGroup::new(bad).is_err(), "{bad:?}");
        }
    }
}
