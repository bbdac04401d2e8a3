//! HTTP/1.1 on a connection: reading request heads and bodies (`conn`) and sending responses
//! with bodies from memory or files (`send`). Knows nothing of AIS or S3.

pub mod conn;
pub mod send;

pub use conn::{BodyError, Conn, NextHead, ReqOutcome};
pub use send::{BodySource, FileRange};
