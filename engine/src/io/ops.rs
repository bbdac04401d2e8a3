//! The io_uring operations aisle uses, one async function each.
//!
//! Buffers are `Vec<u8>` passed by value and returned with the result (the heap allocation
//! never moves while the kernel owns it). Reads fill the spare capacity past `len()` and extend
//! `len()`; writes send `buf[start..]`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use io_uring::{opcode, types};

use super::fd::Fd;
use super::op::{Completion, Op};
use super::sys;

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Extends `buf` by the byte count of a completed read into its spare capacity.
///
/// # Safety
/// `c` must be the completion of a read or recv into `buf`'s spare capacity.
unsafe fn filled(c: Completion, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
    match c.result() {
        Ok(n) => {
            // SAFETY: the kernel initialised n bytes past the old length, within capacity.
            unsafe { buf.set_len(buf.len() + n as usize) };
            (Ok(n as usize), buf)
        }
        Err(e) => (Err(e), buf),
    }
}

/// Accepts one connection on a listening socket; the new socket is close-on-exec.
pub async fn accept(listener: &Fd) -> io::Result<Fd> {
    let sqe = opcode::Accept::new(
        types::Fd(listener.raw()),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
    .flags(libc::SOCK_CLOEXEC)
    .build();
    // SAFETY: null address pointers; the op holds a clone of the listener fd.
    let (c, _fd) = unsafe { Op::submit(listener.clone(), sqe) }.await;
    let raw = c.result()? as i32;
    // SAFETY: the kernel returned a new descriptor that only we own.
    Ok(unsafe { Fd::from_raw(raw) })
}

/// Receives into `buf`'s spare capacity; returns the byte count (0 = peer closed).
pub async fn recv(fd: &Fd, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
    recv_upto(fd, buf, usize::MAX).await
}

/// Receives at most `max` bytes into `buf`'s spare capacity (so a request body is never read
/// past its end into the next pipelined request).
pub async fn recv_upto(fd: &Fd, mut buf: Vec<u8>, max: usize) -> (io::Result<usize>, Vec<u8>) {
    let spare = (buf.capacity() - buf.len()).min(max);
    assert!(spare > 0, "recv into a full buffer");
    // SAFETY: the pointer is into the Vec's heap allocation, which the op owns until the CQE.
    let ptr = unsafe { buf.as_mut_ptr().add(buf.len()) };
    let sqe = opcode::Recv::new(
        types::Fd(fd.raw()),
        ptr,
        spare.min(u32::MAX as usize) as u32,
    )
    .build();
    // SAFETY: ptr stays valid while the op owns `buf`; the heap block does not move.
    let (c, (buf, _fd)) = unsafe { Op::submit((buf, fd.clone()), sqe) }.await;
    // SAFETY: the op filled the spare capacity of this very buffer.
    unsafe { filled(c, buf) }
}

/// Sends `buf[start..]` once (may be short); MSG_NOSIGNAL, never SIGPIPE.
pub async fn send(fd: &Fd, buf: Vec<u8>, start: usize) -> (io::Result<usize>, Vec<u8>) {
    send_flags(fd, buf, start, 0).await
}

/// `send` with extra MSG_* flags (MSG_MORE when a body follows the head).
pub async fn send_flags(
    fd: &Fd,
    buf: Vec<u8>,
    start: usize,
    flags: i32,
) -> (io::Result<usize>, Vec<u8>) {
    assert!(start <= buf.len());
    let ptr = buf[start..].as_ptr();
    let len = (buf.len() - start).min(u32::MAX as usize) as u32;
    let sqe = opcode::Send::new(types::Fd(fd.raw()), ptr, len)
        .flags(libc::MSG_NOSIGNAL | flags)
        .build();
    // SAFETY: ptr/len are within `buf`'s heap allocation, owned by the op until the CQE.
    let (c, (buf, _fd)) = unsafe { Op::submit((buf, fd.clone()), sqe) }.await;
    (c.result().map(|n| n as usize), buf)
}

/// Sends all of `buf[start..]`.
pub async fn send_all(fd: &Fd, buf: Vec<u8>, start: usize) -> (io::Result<()>, Vec<u8>) {
    send_all_flags(fd, buf, start, 0).await
}

/// `send_all` with extra MSG_* flags.
pub async fn send_all_flags(
    fd: &Fd,
    mut buf: Vec<u8>,
    mut start: usize,
    flags: i32,
) -> (io::Result<()>, Vec<u8>) {
    while start < buf.len() {
        let (res, b) = send_flags(fd, buf, start, flags).await;
        buf = b;
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => start += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Reads at `offset` into `buf`'s spare capacity; returns the count (0 = end of file).
pub async fn read_at(fd: &Fd, buf: Vec<u8>, offset: u64) -> (io::Result<usize>, Vec<u8>) {
    read_at_most(fd, buf, offset, usize::MAX).await
}

/// `read_at` of at most `max` bytes.
pub async fn read_at_most(
    fd: &Fd,
    mut buf: Vec<u8>,
    offset: u64,
    max: usize,
) -> (io::Result<usize>, Vec<u8>) {
    let spare = (buf.capacity() - buf.len()).min(max);
    assert!(spare > 0, "read into a full buffer");
    // SAFETY: pointer into the Vec's heap allocation, past its initialised part.
    let ptr = unsafe { buf.as_mut_ptr().add(buf.len()) };
    let sqe = opcode::Read::new(
        types::Fd(fd.raw()),
        ptr,
        spare.min(u32::MAX as usize) as u32,
    )
    .offset(offset)
    .build();
    // SAFETY: ptr stays valid while the op owns `buf`.
    let (c, (buf, _fd)) = unsafe { Op::submit((buf, fd.clone()), sqe) }.await;
    // SAFETY: the op filled the spare capacity of this very buffer.
    unsafe { filled(c, buf) }
}

/// Writes `buf[start..]` at `offset` once (may be short).
pub async fn write_at(
    fd: &Fd,
    buf: Vec<u8>,
    start: usize,
    offset: u64,
) -> (io::Result<usize>, Vec<u8>) {
    assert!(start <= buf.len());
    let ptr = buf[start..].as_ptr();
    let len = (buf.len() - start).min(u32::MAX as usize) as u32;
    let sqe = opcode::Write::new(types::Fd(fd.raw()), ptr, len)
        .offset(offset)
        .build();
    // SAFETY: ptr/len are within `buf`'s heap allocation, owned by the op until the CQE.
    let (c, (buf, _fd)) = unsafe { Op::submit((buf, fd.clone()), sqe) }.await;
    (c.result().map(|n| n as usize), buf)
}

/// Writes all of `buf` at `offset`.
pub async fn write_all_at(fd: &Fd, mut buf: Vec<u8>, mut offset: u64) -> (io::Result<()>, Vec<u8>) {
    let mut start = 0;
    while start < buf.len() {
        let (res, b) = write_at(fd, buf, start, offset).await;
        buf = b;
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => {
                start += n;
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Opens `path` (absolute) with `flags | O_CLOEXEC` and `mode`.
pub async fn open(path: &Path, flags: i32, mode: u32) -> io::Result<Fd> {
    let c = cpath(path)?;
    let sqe = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), c.as_ptr())
        .flags(flags | libc::O_CLOEXEC)
        .mode(mode)
        .build();
    // SAFETY: the CString's heap buffer is owned by the op until the CQE.
    let (c, _path) = unsafe { Op::submit(c, sqe) }.await;
    let raw = c.result()? as i32;
    // SAFETY: a new descriptor only we own.
    Ok(unsafe { Fd::from_raw(raw) })
}

/// Flushes file data and metadata (fsync) or data only (`datasync`).
pub async fn fsync(fd: &Fd, datasync: bool) -> io::Result<()> {
    let mut op = opcode::Fsync::new(types::Fd(fd.raw()));
    if datasync {
        op = op.flags(types::FsyncFlags::DATASYNC);
    }
    // SAFETY: no pointers; the op holds the fd.
    let (c, _fd) = unsafe { Op::submit(fd.clone(), op.build()) }.await;
    c.result().map(|_| ())
}

/// Atomically renames `from` to `to` (same filesystem), replacing `to`.
pub async fn rename(from: &Path, to: &Path) -> io::Result<()> {
    renameat2(from, to, 0).await
}

/// Atomically exchanges `a` and `b` (same filesystem, both must exist):
/// `renameat2(RENAME_EXCHANGE)`. Each name then refers to what the other did.
pub async fn rename_exchange(a: &Path, b: &Path) -> io::Result<()> {
    renameat2(a, b, libc::RENAME_EXCHANGE).await
}

/// Renames `from` to `to` only if nothing has the name `to`: `renameat2(RENAME_NOREPLACE)`,
/// `EEXIST` otherwise (the filesystem decides, atomically). Filesystems without the flag
/// answer `EINVAL`.
pub async fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    renameat2(from, to, libc::RENAME_NOREPLACE).await
}

async fn renameat2(from: &Path, to: &Path, flags: u32) -> io::Result<()> {
    let (a, b) = (cpath(from)?, cpath(to)?);
    let sqe = opcode::RenameAt::new(
        types::Fd(libc::AT_FDCWD),
        a.as_ptr(),
        types::Fd(libc::AT_FDCWD),
        b.as_ptr(),
    )
    .flags(flags)
    .build();
    // SAFETY: both CStrings are owned by the op until the CQE.
    let (c, _paths) = unsafe { Op::submit((a, b), sqe) }.await;
    c.result().map(|_| ())
}

/// Removes a file, or an empty directory when `dir` is set.
pub async fn unlink(path: &Path, dir: bool) -> io::Result<()> {
    let p = cpath(path)?;
    let sqe = opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), p.as_ptr())
        .flags(if dir { libc::AT_REMOVEDIR } else { 0 })
        .build();
    // SAFETY: the CString is owned by the op until the CQE.
    let (c, _p) = unsafe { Op::submit(p, sqe) }.await;
    c.result().map(|_| ())
}

/// Creates one directory.
pub async fn mkdir(path: &Path, mode: u32) -> io::Result<()> {
    let p = cpath(path)?;
    let sqe = opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), p.as_ptr())
        .mode(mode)
        .build();
    // SAFETY: the CString is owned by the op until the CQE.
    let (c, _p) = unsafe { Op::submit(p, sqe) }.await;
    c.result().map(|_| ())
}

/// Creates `path` and any missing parents; an existing directory is fine.
pub async fn mkdir_all(path: &Path, mode: u32) -> io::Result<()> {
    match mkdir(path, mode).await {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Walk up to the deepest existing ancestor, then create downwards.
    let mut missing = vec![path.to_path_buf()];
    let mut cur = path.parent();
    while let Some(p) = cur {
        match mkdir(p, mode).await {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(p.to_path_buf());
                cur = p.parent();
            }
            Err(e) => return Err(e),
        }
    }
    for p in missing.iter().rev() {
        match mkdir(p, mode).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Moves up to `len` bytes between two fds, one of which is a pipe; `-1` offsets mean "current".
pub async fn splice(
    fd_in: &Fd,
    off_in: i64,
    fd_out: &Fd,
    off_out: i64,
    len: u32,
) -> io::Result<usize> {
    let sqe = opcode::Splice::new(
        types::Fd(fd_in.raw()),
        off_in,
        types::Fd(fd_out.raw()),
        off_out,
        len,
    )
    .flags(libc::SPLICE_F_MOVE)
    .build();
    // SAFETY: no pointers; the op holds both fds.
    let (c, _fds) = unsafe { Op::submit((fd_in.clone(), fd_out.clone()), sqe) }.await;
    c.result().map(|n| n as usize)
}

/// `posix_fadvise(2)` through the ring (`IORING_OP_FADVISE`): `advice` (`libc::POSIX_FADV_*`)
/// for `len` bytes of `fd` from `offset`. The kernel runs `POSIX_FADV_WILLNEED` (which starts
/// reading the range into the page cache and may wait for block-layer request slots or extent
/// reads) in an io-wq worker, never on the core; the range's reads go on after the completion.
pub async fn fadvise(fd: &Fd, offset: u64, len: u32, advice: i32) -> io::Result<()> {
    let sqe = opcode::Fadvise::new(types::Fd(fd.raw()), len as libc::off_t, advice)
        .offset(offset)
        .build();
    // SAFETY: no pointers; the op holds the fd.
    let (c, _fd) = unsafe { Op::submit(fd.clone(), sqe) }.await;
    c.result().map(|_| ())
}

/// Faults the mapped file range of `map` in (`IORING_OP_MADVISE(MADV_POPULATE_READ)`, which
/// the kernel runs in an io-wq worker, never on the core): its pages are read into the page
/// cache, in 2 MiB folios where the mapping has `MADV_HUGEPAGE` (`sys::FileMap`). The mapping
/// is owned by the op until its completion and unmapped after.
pub async fn populate_read(map: sys::FileMap) -> io::Result<()> {
    let sqe = opcode::Madvise::new(
        map.addr(),
        map.len() as libc::off_t,
        libc::MADV_POPULATE_READ,
    )
    .build();
    // SAFETY: the address range is the mapping, owned by the op (so mapped) until the CQE.
    let (c, _map) = unsafe { Op::submit(map, sqe) }.await;
    c.result().map(|_| ())
}

/// Waits until `fd` reports any of `events` (POLLIN, POLLOUT, ...).
pub async fn poll(fd: &Fd, events: u32) -> io::Result<u32> {
    let sqe = opcode::PollAdd::new(types::Fd(fd.raw()), events).build();
    // SAFETY: no pointers; the op holds the fd.
    let (c, _fd) = unsafe { Op::submit(fd.clone(), sqe) }.await;
    c.result()
}

/// Sleeps on the ring for `dur`.
pub async fn sleep(dur: Duration) {
    let ts = Box::new(types::Timespec::from(dur));
    let sqe = opcode::Timeout::new(&*ts as *const types::Timespec).build();
    // SAFETY: the boxed timespec is owned by the op until the CQE.
    let (c, _ts): (Completion, _) = unsafe { Op::submit(ts, sqe) }.await;
    debug_assert!(c.res == -libc::ETIME || c.res >= 0 || c.res == -libc::ECANCELED);
}

/// A no-op through the ring (used by tests and the probe).
pub async fn nop() -> io::Result<()> {
    // SAFETY: no pointers.
    let (c, ()) = unsafe { Op::submit((), opcode::Nop::new().build()) }.await;
    c.result().map(|_| ())
}
