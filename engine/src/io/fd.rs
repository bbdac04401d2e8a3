//! `Fd`: a shared, reference-counted file descriptor owned by one core.
//!
//! Every in-flight op holds a clone, so the descriptor is closed only after the last completion
//! that refers to it has been reaped: a dropped future can never let the kernel see a reused fd
//! number (STYLE.md §5, rule 3).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// A file descriptor shared between a connection or file handle and its in-flight ops.
#[derive(Clone, Debug)]
pub struct Fd(Rc<OwnedFd>);

impl Fd {
    /// Takes ownership of `raw`.
    ///
    /// # Safety
    /// `raw` must be an open descriptor owned by nobody else.
    pub unsafe fn from_raw(raw: RawFd) -> Fd {
        // SAFETY: the caller hands over sole ownership of an open descriptor.
        Fd(Rc::new(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    /// Wraps an owned descriptor.
    pub fn from_owned(fd: OwnedFd) -> Fd {
        Fd(Rc::new(fd))
    }

    /// The raw descriptor number, valid while this `Fd` lives.
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
