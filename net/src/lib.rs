//! aisle's HTTP/1.1 layer: request-head parsing ([`head`]), chunked request bodies
//! ([`chunked`]), `Range` headers ([`range`]), percent-encoding ([`url`]), response heads
//! ([`response`]), the one response parser ([`framer`]: heads and body framing, sans I/O) and a
//! small blocking client ([`client`]) for the CLI and tests.
//!
//! Architecture invariant: `net` knows nothing about buckets, objects or mountpaths, and
//! depends on no other workspace crate. It parses and formats bytes; the node decides.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod amzcksum;
pub mod awschunked;
pub mod chunked;
pub mod client;
pub mod framer;
pub mod head;
pub mod range;
pub mod response;
pub mod sigv4;
pub mod url;
