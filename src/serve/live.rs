//! One input with live state shared through `--volatile`: the device's live
//! state is loaded from the volatile store into the engine before the step,
//! and written back after it when the step changed it (a position, a
//! `forget`). The engine stays pure: live state goes in and out as data.

use kairos_core::input::Input;
use kairos_core::{Engine, Stamp};

use crate::store::{DeviceState, LiveStore, Stepped};

/// [`DeviceState::step`] with the device's live state from `live` before and
/// back to it after. Fails closed: when the volatile store cannot be read,
/// nothing is decided or published; when it cannot be written, the step's
/// outputs are withheld too (another instance would not see what this one
/// answered from).
pub(super) async fn step(
    engine: &mut Engine,
    state: &DeviceState,
    live: &LiveStore,
    input: &Input,
    at: &Stamp,
) -> Stepped {
    let Input::Event { device, .. } = input else {
        return state.step(engine, input, at).await;
    };
    let before = match live.load(device).await {
        Ok(before) => before,
        Err(error) => return failed(input, error),
    };
    engine.import_live(device, before.as_ref());
    let mut stepped = state.step(engine, input, at).await;
    let after = engine.export_live(device);
    if after != before && stepped.outputs.is_ok() {
        if let Err(error) = live.save(device, after.as_ref()).await {
            stepped = Stepped {
                decided: stepped.decided,
                ..failed(input, error)
            };
        }
    }
    stepped
}

fn failed(input: &Input, error: crate::store::StoreError) -> Stepped {
    tracing::warn!(topic = %input.topic(), %error, "volatile store failed: input left unanswered");
    Stepped {
        outputs: Err(error),
        decided: std::time::Duration::ZERO,
    }
}
