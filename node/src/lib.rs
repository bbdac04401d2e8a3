//! aisle-node: the daemon. Per-core runtime (`core`), the context handlers work in (`ctx`),
//! cross-core bus (`bus`), HTTP connections and response bodies (`http`), the protocol-neutral
//! object layer (`object`), the AIS native API (`ais`), counters (`stats`), configuration
//! (`config`), token access control (`auth`) and process life (`node`).
#![forbid(unsafe_code)]

pub mod ais;
pub mod auth;
pub mod bus;
pub mod config;
pub mod core;
pub mod ctx;
pub mod http;
pub mod node;
pub mod object;
pub mod s3;
pub mod stats;
pub mod tls;
