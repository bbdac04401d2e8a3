//! aisle storage engine: the per-core io_uring reactor (`io`), HRW placement (`hrw`), the
//! on-disk layout (`fqn`), object metadata (`lom`), checksums (`cksum`), name rules (`names`),
//! bucket metadata (`bmd`), mountpaths (`mountpath`), the per-core caches (`cache`) and the
//! object store built on them (`store`), the chunk manifest codec (`ufest`) and
//! the jobs registry (`xact`).
#![deny(unsafe_code)]

pub mod bmd;
pub mod cache;
pub mod cksum;
pub mod fqn;
pub mod hrw;
#[allow(unsafe_code)]
pub mod io;
pub mod lom;
pub mod metafile;
pub mod mountpath;
pub mod names;
pub mod store;
pub mod ufest;
pub mod vmd;
pub mod xact;
