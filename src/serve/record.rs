//! `kairos record`: subscribes to the input topics of a broker and writes each
//! message that arrives as a trace line (`kairos::trace::write_input`), its
//! receive time as `at`, until the shutdown future completes. The file replays
//! with `kairos replay` to what `serve` answered.
//!
//! One task owns the event loop and the file: nothing is published, so the
//! edge/engine split of `serve` is not needed here.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use rumqttc::{Event, Outgoing, Packet, QoS, SubscribeFilter};
use tokio::sync::oneshot;

use super::{mqtt, Clock, ServeError};
use crate::config::{BrokerAddress, Config};
use kairos_core::input::Kind;
use kairos_core::Stamp;

/// The input kinds recorded (outputs on the same prefix are left out).
const INPUT_KINDS: [Kind; 7] = [
    Kind::Position,
    Kind::Context,
    Kind::Profile,
    Kind::Feedback,
    Kind::Ask,
    Kind::Forget,
    Kind::Export,
];

/// Everything `record` needs.
pub struct RecordOptions {
    /// The configuration (prefix, credentials, packet limit).
    pub config: Config,
    /// The broker.
    pub broker: BrokerAddress,
    /// Where receive times come from.
    pub clock: Clock,
    /// Told once subscribed.
    pub ready: Option<oneshot::Sender<()>>,
}

/// Records until `shutdown`; returns how many messages were written.
pub async fn record(
    options: RecordOptions,
    out: &mut impl Write,
    shutdown: impl Future<Output = ()>,
) -> Result<u64, ServeError> {
    let RecordOptions {
        config,
        broker,
        clock,
        mut ready,
    } = options;
    let address = broker;
    let client_id = format!("kairos-record-{}", std::process::id());
    let (client, mut eventloop) =
        mqtt::client(mqtt::client_options(&client_id, &address, &config.serve)?);
    let prefix = &config.engine.prefix;
    let filters: Vec<String> = INPUT_KINDS
        .iter()
        .map(|k| format!("{prefix}/+/{}", k.as_str()))
        .collect();
    let write_error = |e: std::io::Error| ServeError::Other(format!("cannot write the trace: {e}"));
    let mut written = 0u64;
    let mut backoff = Duration::from_millis(100);
    // Until the first ConnAck, a refusal (credentials, certificate) ends the run.
    let mut connected = false;
    tokio::pin!(shutdown);
    loop {
        let event = tokio::select! {
            biased;
            () = &mut shutdown => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(100);
                connected = true;
                tracing::info!(broker = %address, "recording {filters:?}");
                let subscriptions = filters
                    .iter()
                    .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                if let Err(error) = client.try_subscribe_many(subscriptions) {
                    tracing::error!(%error, "cannot subscribe");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let at = Stamp::from_utc(clock.now());
                crate::trace::write_input(out, &at.text, &publish.topic, &publish.payload)
                    .and_then(|()| out.flush())
                    .map_err(write_error)?;
                written += 1;
            }
            Ok(_) => {}
            Err(error) => {
                if let Some(detail) = mqtt::refusal(&error).filter(|_| !connected) {
                    return Err(ServeError::BrokerRefused {
                        broker: address.to_string(),
                        detail,
                    });
                }
                tracing::warn!(%error, "broker connection lost; retrying in {backoff:?}");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    out.flush().map_err(write_error)?;
    if client.try_disconnect().is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(event) = eventloop.poll().await {
                if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
    }
    Ok(written)
}
