//! aisle-node: the daemon. Per-core runtime (`core`), cross-core bus (`bus`), connections
//! (`conn`), the AIS native API (`api`), configuration (`config`) and process life (`node`).
#![forbid(unsafe_code)]

pub mod api;
pub mod bus;
pub mod config;
pub mod conn;
pub mod core;
pub mod node;
pub mod stats;
