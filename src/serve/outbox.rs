//! Which outbox entries the broker has acknowledged.
//!
//! The engine saves an at-least-once output in the store's outbox before it
//! publishes it (see [`store::step_batch`](crate::store::step_batch)); once the
//! broker acknowledges the publish, the entry can go. rumqttc does not say
//! which request a packet id went to, but it sends requests in the order they
//! were queued and reports each QoS 1 publish it sends
//! (`Outgoing::Publish(pkid)`), so the [`Tracker`] pairs them up: the engine
//! notes each QoS 1 publish it queues ([`Tracker::queued`]), in order, and
//! the edge, seeing a publish go out with a packet id not already in flight,
//! takes the oldest note for it ([`Tracker::went_out`]); a packet id already
//! in flight is rumqttc resending after a reconnect. A PUBACK then releases
//! the entry ([`Tracker::acknowledged`]), and the engine removes the released
//! entries in its next commit ([`Tracker::take_sent`]).
//!
//! When the broker has lost the session (a CONNACK without it after the first
//! one) rumqttc drops what was in flight: the pairing starts afresh
//! ([`Tracker::session_lost`]) and the entries of those publishes stay in the
//! outbox, published again at the next start if still within 2 min.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The pairing of outbox entries with packet ids (shared by the engine and
/// the edge; each call holds the lock briefly).
#[derive(Debug, Default)]
pub struct Tracker {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// QoS 1 publishes queued, not yet seen going out: their outbox entry.
    queued: VecDeque<Option<u64>>,
    /// Packet id in flight → outbox entry.
    in_flight: HashMap<u16, Option<u64>>,
    /// Entries the broker acknowledged, to remove from the outbox.
    sent: Vec<u64>,
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The engine queued a QoS 1 publish holding outbox entry `entry`.
    pub fn queued(&self, entry: Option<u64>) {
        self.lock().queued.push_back(entry);
    }

    /// The publish just noted by [`queued`](Self::queued) was refused by the
    /// client (never queued): forget the note.
    pub fn not_queued(&self) {
        self.lock().queued.pop_back();
    }

    /// rumqttc sent a QoS 1 publish with packet id `pkid`.
    pub fn went_out(&self, pkid: u16) {
        let mut inner = self.lock();
        if pkid == 0 || inner.in_flight.contains_key(&pkid) {
            return;
        }
        let entry = inner.queued.pop_front().flatten();
        inner.in_flight.insert(pkid, entry);
    }

    /// The broker acknowledged packet `pkid`.
    pub fn acknowledged(&self, pkid: u16) {
        let mut inner = self.lock();
        if let Some(Some(entry)) = inner.in_flight.remove(&pkid) {
            inner.sent.push(entry);
        }
    }

    /// The broker started a new session: what was in flight is gone.
    pub fn session_lost(&self) {
        let mut inner = self.lock();
        inner.queued.clear();
        inner.in_flight.clear();
    }

    /// The entries acknowledged since the last call.
    pub fn take_sent(&self) -> Vec<u64> {
        std::mem::take(&mut self.lock().sent)
    }

    /// Gives back entries taken by [`take_sent`](Self::take_sent) whose
    /// removal failed (tried again with the next commit).
    pub fn put_back(&self, sent: Vec<u64>) {
        self.lock().sent.extend(sent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_pair_with_packet_ids_in_order_and_resends_are_not_new() {
        let tracker = Tracker::default();
        tracker.queued(Some(10));
        tracker.queued(None);
        tracker.queued(Some(12));
        tracker.went_out(1);
        tracker.went_out(2);
        // A resend of packet 1 after a reconnect takes no note.
        tracker.went_out(1);
        tracker.went_out(3);
        tracker.acknowledged(3);
        tracker.acknowledged(2);
        assert_eq!(tracker.take_sent(), vec![12]);
        tracker.acknowledged(1);
        assert_eq!(tracker.take_sent(), vec![10]);
        assert!(tracker.take_sent().is_empty());
    }

    #[test]
    fn a_lost_session_starts_the_pairing_afresh() {
        let tracker = Tracker::default();
        tracker.queued(Some(1));
        tracker.went_out(1);
        tracker.queued(Some(2));
        tracker.session_lost();
        tracker.queued(Some(3));
        tracker.went_out(1);
        tracker.acknowledged(1);
        assert_eq!(tracker.take_sent(), vec![3]);
    }
}
