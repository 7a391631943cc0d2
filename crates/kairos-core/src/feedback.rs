//! Feedback: what the person says about a suggestion, merchant or offer,
//! and what it teaches (SPEC "Remembered tastes"): the first feedback naming
//! a suggestion id, when `accepted`, adds 1 to each taste tag of that
//! suggestion's merchant, when `dismissed` takes 1; any later feedback on the
//! same id, and feedback naming only a merchant or offer, teaches nothing.

use chrono::{DateTime, Utc};

use crate::device::Device;
use crate::input::{Action, ErrorCode, Feedback, InputError};

/// Most dismissed offers, and most blocked merchants, kept per device: enough
/// for any person, a bound for a misbehaving client.
pub const MAX_REFUSALS: usize = 1_000;

/// Applies feedback to the device: `dismissed` bans an offer (a merchant given
/// without an offer: all its offers), `block_merchant` the merchant, for good.
/// A suggestion id must name one made to this device. `now` is the event
/// time (when a taste learned changes).
pub fn apply_feedback(
    device: &mut Device,
    feedback: &Feedback,
    now: DateTime<Utc>,
) -> Result<(), InputError> {
    let mut teaches = None;
    let (merchant, offer) = match &feedback.suggestion {
        Some(id) => {
            let made = device
                .history
                .iter()
                .rev()
                .find(|s| &s.id == id)
                .ok_or_else(|| {
                    InputError::new(
                        ErrorCode::UnknownSuggestion,
                        format!("no suggestion {id:?} was made to this device"),
                    )
                })?;
            if made.feedback.is_none() {
                teaches = Some(id.clone());
            }
            (made.merchant.clone(), Some(made.offer.clone()))
        }
        None => (
            feedback.merchant.clone().unwrap_or_default(),
            feedback.offer.clone(),
        ),
    };
    let full = |n: usize| {
        (n >= MAX_REFUSALS).then(|| {
            InputError::new(
                ErrorCode::OutOfRange,
                format!("this device already refuses {MAX_REFUSALS} merchants or offers"),
            )
        })
    };
    match (feedback.action, offer) {
        (Action::Accepted, _) => {}
        (Action::Dismissed, Some(offer)) => {
            if let Some(error) = full(device.dismissed.len()) {
                return Err(error);
            }
            device.dismissed.insert((merchant, offer));
        }
        (Action::Dismissed, None) | (Action::BlockMerchant, _) => {
            if let Some(error) = full(device.blocked.len()) {
                return Err(error);
            }
            device.blocked.insert(merchant);
        }
    }
    // The first feedback on a suggestion is remembered with it (and shown by
    // `export`); only that one may teach.
    let Some(id) = teaches else {
        return Ok(());
    };
    let Some(made) = device.history.iter_mut().rev().find(|s| s.id == id) else {
        return Ok(());
    };
    made.feedback = Some(feedback.action);
    let learns = device.profile.as_ref().is_none_or(|p| p.learn);
    let delta = match feedback.action {
        Action::Accepted => 1.0,
        Action::Dismissed => -1.0,
        Action::BlockMerchant => return Ok(()),
    };
    if learns {
        let tags = made.tags.clone();
        device.tastes.learn(&tags, delta, now);
    }
    Ok(())
}
