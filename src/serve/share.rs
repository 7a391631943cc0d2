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
//! disconnects the older of two clients with the same id), and each must keep
//! its id across restarts: the broker keeps each instance's session (the
//! inputs queued for it while it is away) under its id, and the instance's
//! outbox and saved packet ids are its own. So in a group, unless
//! `serve.client_id` (`--client-id`) is set to something else than the
//! default `kairos`, the id is `kairos-` and 8 hex digits of a hash of the
//! host name and the `--state` location: stable for one instance on one
//! host, distinct between hosts. Two instances of one group on one host with
//! the same `--state` need a `--client-id` each.

use crate::config::ShareGroup;
use crate::store::StateUrl;

/// The longest client id every MQTT 3.1.1 broker must accept.
const CLIENT_ID_MAX: usize = 23;
/// `serve.client_id`'s default.
const DEFAULT_ID: &str = "kairos";

/// `filter` as this instance subscribes to it: `$share/{group}/{filter}` in a
/// group, else unchanged.
pub fn filter(group: Option<&ShareGroup>, filter: &str) -> String {
    match group {
        None => filter.to_string(),
        Some(group) => format!("$share/{}/{filter}", group.as_str()),
    }
}

/// The MQTT client id of this instance: `base` as given; in a group with the
/// default `base`, `kairos-` and 8 hex digits derived from the host name and
/// the state location (see the module doc). Stable across restarts.
pub fn client_id(base: &str, group: Option<&ShareGroup>, state: Option<&StateUrl>) -> String {
    if group.is_none() || base != DEFAULT_ID {
        return base.to_string();
    }
    let host = hostname();
    let state = state.map(|s| s.display().to_string()).unwrap_or_default();
    let hash = kairos_core::delivery::hash(&host, state.as_bytes());
    let id = format!("{DEFAULT_ID}-{:08x}", hash as u32 ^ (hash >> 32) as u32);
    debug_assert!(id.len() <= CLIENT_ID_MAX);
    id
}

/// This machine's host name (`/etc/hostname`, `HOSTNAME`), or empty.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
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
    fn an_instance_keeps_its_client_id_and_instances_on_other_states_differ() {
        assert_eq!(client_id("kairos", None, None), "kairos");
        let a = StateUrl::parse("/var/lib/kairos/a.redb").unwrap();
        let b = StateUrl::parse("redis://127.0.0.1:6380/0").unwrap();
        let g = group("g");
        let id = client_id("kairos", Some(&g), Some(&a));
        assert!(
            id.len() <= CLIENT_ID_MAX && id.starts_with("kairos-"),
            "{id}"
        );
        assert_eq!(id, client_id("kairos", Some(&g), Some(&a)), "stable");
        assert_ne!(id, client_id("kairos", Some(&g), Some(&b)));
        assert_eq!(client_id("k-1", Some(&g), Some(&a)), "k-1", "given: as is");
    }

    #[test]
    fn group_names_with_topic_characters_are_refused() {
        assert!(ShareGroup::new("workers").is_ok());
        for bad in ["a/b", "a+", "a b", ""] {
            assert!(ShareGroup::new(bad).is_err(), "{bad:?}");
        }
    }
}
