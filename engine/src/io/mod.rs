//! The per-core io_uring reactor and everything that talks to the kernel.
//!
//! This is the only module of the workspace allowed to use `unsafe`. Its rules (STYLE.md §5):
//! from submission to completion a buffer, path or timespec belongs to the kernel, so every op
//! owns its resources and hands them back with the result; a dropped op parks them in its slot
//! until the completion arrives; `user_data` is a slot index plus a generation.

mod abuf;
#[cfg(feature = "alloc-count")]
pub mod alloc_count;
mod blocking;
mod bufring;
mod fd;
pub mod md5mb;
mod multi;
mod op;
mod ops;
mod probe;
mod reactor;
pub mod sys;

pub use abuf::{
    recv_aligned, write_aligned_at, write_all_aligned_at, AlignedBuf, FixedBufs, DIO_ALIGN,
    FIXED_BUFS_MAX,
};
pub use blocking::{spawn_blocking, BlockingPool};
pub use fd::Fd;
pub use multi::{recv_multi_available, AcceptMulti, Received, RecvMulti};
pub use ops::*;
pub use probe::{probe, ProbeError, ProbeReport};
pub use reactor::{
    core_index, ops_inflight, spawn, yield_now, JoinHandle, Reactor, ReactorConfig, RemoteHandle,
    OPS_INFLIGHT_MAX,
};
