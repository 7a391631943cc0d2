//! What the integration tests share, one module per thing they need:
//!
//! - [`engine`]: offer files built around a point and an in-process engine on a
//!   virtual clock (the rule tests);
//! - [`net`]: free loopback ports and waiting until something listens;
//! - [`mosquitto`]: a real Mosquitto of the test's own, on a free port;
//! - [`redis_server`]: a real `redis-server` of the test's own, on a free port;
//! - [`live`]: the real `kairos serve` binary and MQTT clients talking to it;
//! - [`bin`]: the `kairos` binary run to completion;
//! - [`data`]: the real data folder (`KAIROS_DATA_DIR`), skipped when absent;
//! - [`store_contract`]: what every device store promises, run against each;
//! - [`real_data`] and [`referee`]: replays of real data held to SPEC's rules
//!   by code that never asks kairos.
//!
//! Every test binary declares `mod support;`; what it does not use is not
//! compiled into it (hence `dead_code` and unused re-exports are allowed here).

#![allow(dead_code, unused_imports)]

pub mod bin;
pub mod data;
pub mod engine;
pub mod live;
pub mod mosquitto;
pub mod net;
pub mod real_data;
pub mod redis_server;
pub mod referee;
pub mod store_contract;
