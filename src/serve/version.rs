//! Which MQTT version kairos tries next, until a connection succeeds: a pure
//! state machine, so the edge's fallback rules can be tested without a broker.
//!
//! - MQTT 5 first (to an external broker).
//! - An MQTT 5 CONNACK that refuses the protocol version (reason 0x84) rules
//!   MQTT 5 out for the run: 3.1.1 at once, and from then on.
//! - An MQTT 5 attempt cut off after its CONNECT (no CONNACK, or one MQTT 5
//!   cannot read, such as a 3.1.1 "unacceptable protocol version") proves
//!   nothing: a 3.1.1-only broker does that, and so does a proxy whose broker
//!   is not up yet. 3.1.1 at once; if that fails too, in any way, MQTT 5 again
//!   after the backoff. A 3.1.1 "unacceptable protocol version" at that point
//!   is not a reason to give up: the broker may speak only MQTT 5.
//! - Any other failure (no broker yet, timeout, TLS) says nothing about the
//!   version: the same one again after the backoff.
//!
//! Once a connection succeeds the version is kept for every reconnection (the
//! edge stops asking).

/// The version of the next connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// MQTT 5.
    V5,
    /// MQTT 3.1.1 after an MQTT 5 attempt was cut off: MQTT 5 again if this
    /// fails too.
    V311AfterCut,
    /// MQTT 3.1.1 for the run: the broker refused MQTT 5, or there is no
    /// MQTT 5 client (the embedded broker).
    V311,
}

/// What a failed attempt said about the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// An MQTT 5 CONNACK refused the protocol version.
    V5Refused,
    /// The MQTT 5 attempt was cut off after its CONNECT.
    V5CutOff,
    /// A 3.1.1 CONNACK refused the protocol version.
    V311Refused,
    /// Anything else.
    Other,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Next {
    /// The version of the next attempt.
    pub choice: Choice,
    /// Try again at once, without the backoff (only when the version changed
    /// because the broker turned the last one down).
    pub at_once: bool,
    /// Whether the failure may end the run as a refusal (credentials,
    /// certificate, protocol): not while the other version may still work.
    pub may_refuse: bool,
}

impl Choice {
    /// The next attempt after `failure`.
    pub(crate) fn after(self, failure: Failure) -> Next {
        let next = |choice, at_once, may_refuse| Next {
            choice,
            at_once,
            may_refuse,
        };
        match (self, failure) {
            (Choice::V5, Failure::V5Refused) => next(Choice::V311, true, false),
            (Choice::V5, Failure::V5CutOff) => next(Choice::V311AfterCut, true, false),
            (Choice::V311AfterCut, Failure::V311Refused) => next(Choice::V5, false, false),
            (Choice::V311AfterCut, _) => next(Choice::V5, false, true),
            (choice, _) => next(choice, false, true),
        }
    }

    /// Whether this attempt speaks MQTT 5.
    pub(crate) fn is_v5(self) -> bool {
        self == Choice::V5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILURES: [Failure; 4] = [
        Failure::V5Refused,
        Failure::V5CutOff,
        Failure::V311Refused,
        Failure::Other,
    ];

    #[test]
    fn a_refusal_of_mqtt_5_means_3_1_1_at_once_and_for_the_run() {
        let next = Choice::V5.after(Failure::V5Refused);
        assert_eq!(next.choice, Choice::V311);
        assert!(next.at_once && !next.may_refuse);
        for failure in FAILURES {
            assert_eq!(
                Choice::V311.after(failure).choice,
                Choice::V311,
                "{failure:?}"
            );
        }
    }

    #[test]
    fn a_cut_off_mqtt_5_attempt_tries_3_1_1_at_once_then_mqtt_5_again() {
        let next = Choice::V5.after(Failure::V5CutOff);
        assert_eq!(next.choice, Choice::V311AfterCut);
        assert!(next.at_once);
        for failure in FAILURES {
            let again = next.choice.after(failure);
            assert_eq!(again.choice, Choice::V5, "{failure:?}");
            assert!(!again.at_once, "{failure:?}: after the backoff");
        }
    }

    #[test]
    fn a_3_1_1_protocol_refusal_after_a_cut_is_not_the_end() {
        let after_cut = Choice::V5.after(Failure::V5CutOff).choice;
        assert!(!after_cut.after(Failure::V311Refused).may_refuse);
        // Bad credentials are bad in either version.
        assert!(after_cut.after(Failure::Other).may_refuse);
        // Without a cut before it, a 3.1.1 refusal stands.
        assert!(Choice::V311.after(Failure::V311Refused).may_refuse);
    }

    #[test]
    fn failures_that_say_nothing_about_the_version_keep_it() {
        let next = Choice::V5.after(Failure::Other);
        assert_eq!(next.choice, Choice::V5);
        assert!(!next.at_once && next.may_refuse);
    }
}
