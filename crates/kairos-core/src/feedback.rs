//! Feedback: what the person says about a suggestion, merchant or offer.

use crate::device::Device;
use crate::input::{Action, ErrorCode, Feedback, InputError};

/// Most dismissed offers, and most blocked merchants, kept per device: enough
/// for any person, a bound for a misbehaving client.
pub const MAX_REFUSALS: usize = 1_000;

/// Applies feedback to the device: `dismissed` bans an offer (a merchant given
/// without an offer: all its offers), `block_merchant` the merchant, for good.
/// A suggestion id must name one made to this device.
pub fn apply_feedback(device: &mut Device, feedback: &Feedback) -> Result<(), InputError> {
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
    Ok(())
}
