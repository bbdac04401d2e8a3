//! `aisle-bench`: an aisloader-style load generator (AISTORE.md §10) on aisle's own
//! thread-per-core io_uring reactor. Keep-alive connections, one per worker; GET/PUT mix by
//! `-pctput`; periodic table and final summary (p50..p99.9 from an hdrhistogram) or `-json`;
//! `-verifyhash` checks every whole-object GET body; bounded by `-duration`, `-epochs` (every
//! object once per epoch, per-epoch figures), `-maxputs`, `-totalputsize`. Exit code 1 when any
//! request failed.
//!
//! Module map: [`flags`] (command line), [`run`] (one run start to end), [`worker`] (client
//! cores and their workers), [`conn`] (one connection on the ring), [`http`] (request heads,
//! response parsing), [`api`] (ais / s3 / http paths and control calls), [`objects`] (what
//! GETs target), [`stats`] (counters, histograms, output), [`rng`] (seeded PRNG).

#![forbid(unsafe_code)]

mod api;
mod conn;
mod flags;
mod http;
mod objects;
mod rng;
mod run;
mod stats;
mod worker;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;

fn main() -> ExitCode {
    let flags = flags::Flags::parse_from(flags::normalize_args(std::env::args()));
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let entropy = rng::Rng::new(clock, u64::from(std::process::id())).next_u64();
    let result = flags::Config::from_flags(&flags, entropy).and_then(run::run);
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("aisle-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}
