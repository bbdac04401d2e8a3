//! Direct system calls that are not worth a trip through the ring: socket setup, CPU pinning,
//! fd-based xattr and stat (in-memory inode work), and `sendfile(2)` on non-blocking sockets.

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::fd::Fd;

fn cvt(res: libc::c_int) -> io::Result<libc::c_int> {
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

fn cvt_size(res: libc::ssize_t) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res as usize)
    }
}

fn setsockopt_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        )
    })
    .map(|_| ())
}

/// Fails with `AddrInUse` if a socket listens on `addr` already. The cores' listeners take
/// SO_REUSEPORT, and the kernel lets any process of the same user join such a group: a second
/// node started on the address would silently get a share of its connections. A bind without
/// SO_REUSEPORT (with SO_REUSEADDR, so connections in TIME_WAIT from a previous run do not
/// count) conflicts with any listener; the probe socket is closed at once.
pub fn check_listen_free(addr: SocketAddr) -> io::Result<()> {
    bound_tcp_socket(addr, false).map(drop)
}

/// A listening TCP socket with SO_REUSEADDR and SO_REUSEPORT, so that every core binds the
/// same address and the kernel spreads connections over the cores (see `check_listen_free`).
pub fn listen_reuseport(addr: SocketAddr, backlog: i32) -> io::Result<OwnedFd> {
    let fd = bound_tcp_socket(addr, true)?;
    // SAFETY: plain syscall on our fd.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(fd)
}

/// A TCP socket bound to `addr` with SO_REUSEADDR, and SO_REUSEPORT if `reuseport`.
fn bound_tcp_socket(addr: SocketAddr, reuseport: bool) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket returns a new fd or -1.
    let raw = cvt(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: raw is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuseport {
        setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: storage holds a valid sockaddr of length len.
    cvt(unsafe { libc::bind(raw, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    Ok(fd)
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// The peer address of a connected socket, for error bodies and logs.
pub fn peer_addr(fd: &Fd) -> Option<SocketAddr> {
    // SAFETY: zeroed storage, and getpeername writes at most `len` bytes into it.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: valid pointers to storage and len.
    let r = unsafe {
        libc::getpeername(
            fd.raw(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return None;
    }
    match storage.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(sin6.sin6_port))))
        }
        _ => None,
    }
}

/// Disables Nagle's algorithm (small responses must not wait for a delayed ACK).
pub fn set_nodelay(fd: &Fd) -> io::Result<()> {
    setsockopt_int(fd.raw(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// Sets the socket's TCP congestion control (`TCP_CONGESTION`), e.g. `cubic`; a listening
/// socket's is inherited by the connections it accepts.
pub fn set_congestion(fd: &Fd, name: &str) -> io::Result<()> {
    // SAFETY: passes a pointer to the live bytes of `name` and their exact length.
    cvt(unsafe {
        libc::setsockopt(
            fd.raw(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// The socket's TCP congestion control (`TCP_CONGESTION`).
pub fn congestion(fd: &Fd) -> io::Result<String> {
    let mut buf = [0u8; 32];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf has room for len bytes; the kernel writes at most len and updates it.
    cvt(unsafe {
        libc::getsockopt(
            fd.raw(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    let s = &buf[..len as usize];
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    Ok(String::from_utf8_lossy(&s[..end]).into_owned())
}

/// Sets O_NONBLOCK (ring ops still wait by polling; direct syscalls return EAGAIN).
pub fn set_nonblocking(fd: &Fd) -> io::Result<()> {
    // SAFETY: fcntl on our fd.
    let flags = cvt(unsafe { libc::fcntl(fd.raw(), libc::F_GETFL) })?;
    // SAFETY: fcntl on our fd.
    cvt(unsafe { libc::fcntl(fd.raw(), libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(|_| ())
}

/// Half-closes the read side of a socket: a pending recv returns 0 (used at shutdown).
pub fn shutdown_read(fd: &Fd) {
    // SAFETY: plain syscall on our fd; failure (e.g. not connected) is harmless.
    unsafe { libc::shutdown(fd.raw(), libc::SHUT_RD) };
}

/// `sendfile(2)` from `file` at `offset` to the socket; returns bytes sent. On a non-blocking
/// socket a full send buffer gives `WouldBlock`.
pub fn sendfile(sock: &Fd, file: &Fd, offset: u64, count: usize) -> io::Result<usize> {
    let mut off = offset as libc::off_t;
    // SAFETY: off is a live off_t; both fds are open.
    cvt_size(unsafe { libc::sendfile(sock.raw(), file.raw(), &mut off, count) })
}

/// A pipe for splice, both ends close-on-exec, with its capacity raised to `size` when allowed.
pub fn pipe(size: usize) -> io::Result<(Fd, Fd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for two descriptors.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh descriptors we own.
    let (r, w) = unsafe { (Fd::from_raw(fds[0]), Fd::from_raw(fds[1])) };
    // SAFETY: fcntl on our fd; failure leaves the default 64 KiB capacity.
    unsafe { libc::fcntl(w.raw(), libc::F_SETPIPE_SZ, size as libc::c_int) };
    Ok((r, w))
}

/// A connected pair of local stream sockets, both non-blocking and close-on-exec (a TLS
/// connection's plaintext side: one end is served as an ordinary connection, the other is fed
/// by the TLS pump).
pub fn socketpair_stream() -> io::Result<(Fd, Fd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for two descriptors.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair returned two fresh descriptors we own.
    Ok(unsafe { (Fd::from_raw(fds[0]), Fd::from_raw(fds[1])) })
}

/// The capacity of a pipe in bytes.
pub fn pipe_capacity(fd: &Fd) -> usize {
    // SAFETY: fcntl on our fd.
    let n = unsafe { libc::fcntl(fd.raw(), libc::F_GETPIPE_SZ) };
    if n <= 0 {
        65536
    } else {
        n as usize
    }
}

fn cname(name: &str) -> CString {
    CString::new(name).expect("xattr names are static and contain no NUL")
}

/// Reads xattr `name` of an open file into `buf` (resized to the value); `Ok(false)` if absent.
pub fn fgetxattr(fd: &Fd, name: &str, buf: &mut Vec<u8>) -> io::Result<bool> {
    let n = cname(name);
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    // SAFETY: buf has `capacity` writable bytes; the kernel writes at most that many.
    let r = unsafe {
        libc::fgetxattr(
            fd.raw(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.capacity(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENODATA) {
            return Ok(false);
        }
        return Err(e);
    }
    // SAFETY: the kernel initialised r bytes.
    unsafe { buf.set_len(r as usize) };
    Ok(true)
}

/// Reads xattr `name` of the file at `path` without opening it; `Ok(false)` if the file or the
/// attribute is absent.
pub fn getxattr(path: &Path, name: &str, buf: &mut Vec<u8>) -> io::Result<bool> {
    let n = cname(name);
    let p = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    // SAFETY: valid C strings; buf has `capacity` writable bytes.
    let r = unsafe {
        libc::getxattr(
            p.as_ptr(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.capacity(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOENT) | Some(libc::ENOTDIR) => Ok(false),
            _ => Err(e),
        };
    }
    // SAFETY: the kernel initialised r bytes.
    unsafe { buf.set_len(r as usize) };
    Ok(true)
}

/// Sets xattr `name` on an open file.
pub fn fsetxattr(fd: &Fd, name: &str, value: &[u8]) -> io::Result<()> {
    let n = cname(name);
    // SAFETY: valid C string and value slice.
    cvt(unsafe { libc::fsetxattr(fd.raw(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
        .map(|_| ())
}

/// What GET needs from `fstat`: size, atime in ns, and the file type.
#[derive(Clone, Copy, Debug)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Access time, unix nanoseconds.
    pub atime_ns: i64,
    /// Modification time, unix nanoseconds.
    pub mtime_ns: i64,
    /// Whether it is a regular file.
    pub is_file: bool,
}

/// `fstat` of an open file.
pub fn fstat(fd: &Fd) -> io::Result<FileStat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st has room for a stat struct.
    cvt(unsafe { libc::fstat(fd.raw(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded and initialised it.
    let st = unsafe { st.assume_init() };
    Ok(FileStat {
        size: st.st_size as u64,
        atime_ns: st.st_atime * 1_000_000_000 + st.st_atime_nsec,
        mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec,
        is_file: (st.st_mode & libc::S_IFMT) == libc::S_IFREG,
    })
}

/// Ignores SIGPIPE process-wide: a peer that went away is an error result, not a crash.
pub fn ignore_sigpipe() {
    // SAFETY: installing SIG_IGN for SIGPIPE is always sound.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Size, bytes in use and bytes available to unprivileged users of the filesystem holding
/// `path` (`statvfs(3)`: `f_blocks`, `f_blocks - f_bfree` and `f_bavail`, times `f_frsize`).
pub fn fs_space(path: &Path) -> io::Result<(u64, u64, u64)> {
    let p = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut st = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: valid C string; st is written by the kernel on success.
    cvt(unsafe { libc::statvfs(p.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: statvfs succeeded, so st is initialised.
    let st = unsafe { st.assume_init() };
    let frsize = st.f_frsize;
    let used = st.f_blocks.saturating_sub(st.f_bfree);
    Ok((st.f_blocks * frsize, used * frsize, st.f_bavail * frsize))
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays within it for cpu < 1024.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        cvt(libc::sched_setaffinity(
            0,
            std::mem::size_of::<libc::cpu_set_t>(),
            &set,
        ))?;
    }
    Ok(())
}

/// The CPUs this process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1))
                .collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// RLIMIT_MEMLOCK soft limit in bytes (`u64::MAX` = unlimited).
pub fn memlock_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) } != 0 {
        return 0;
    }
    if r.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        r.rlim_cur
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread (and the threads it spawns later) so that
/// only `wait_for_signal` sees them.
pub fn block_shutdown_signals() -> io::Result<()> {
    block_signals(&[libc::SIGINT, libc::SIGTERM])
}

/// Blocks `sigs` in the calling thread (and the threads it spawns later) so that only
/// `wait_for_signals` sees them.
pub fn block_signals(sigs: &[libc::c_int]) -> io::Result<()> {
    // SAFETY: building and installing a signal mask from a zeroed set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
    }
    Ok(())
}

/// Waits for SIGINT or SIGTERM (blocked beforehand) and returns its number.
pub fn wait_for_signal() -> i32 {
    wait_for_signals(&[libc::SIGINT, libc::SIGTERM])
}

/// Waits for one of `sigs` (blocked beforehand) and returns its number.
pub fn wait_for_signals(sigs: &[libc::c_int]) -> i32 {
    // SAFETY: sigwait on a set built from a zeroed sigset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        let mut sig: libc::c_int = 0;
        loop {
            if libc::sigwait(&set, &mut sig) == 0 {
                return sig;
            }
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (connections, pipes and open files all need
/// descriptors); returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 0;
    }
    if r.rlim_cur < r.rlim_max {
        let want = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        // SAFETY: want is a live rlimit within the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            return want.rlim_cur;
        }
    }
    r.rlim_cur
}

/// Half-closes the write side of a socket: the peer reads EOF after the queued data.
pub fn shutdown_write(fd: &Fd) {
    // SAFETY: plain syscall on our fd; failure (e.g. already reset) is harmless.
    unsafe { libc::shutdown(fd.raw(), libc::SHUT_WR) };
}

/// `pread(2)` of up to `len` bytes at `offset`, appended to `buf`; returns the count (0 = end
/// of file). For small page-cached reads on the request path, where a ring round trip costs more
/// than the copy.
pub fn pread_append(fd: &Fd, buf: &mut Vec<u8>, offset: u64, len: usize) -> io::Result<usize> {
    buf.reserve(len);
    // SAFETY: after reserve, `len` bytes past `buf.len()` are writable; pread writes at most len.
    let n = cvt_size(unsafe {
        libc::pread(
            fd.raw(),
            buf.as_mut_ptr().add(buf.len()).cast(),
            len,
            offset as libc::off_t,
        )
    })?;
    // SAFETY: the kernel initialised n bytes past the old length.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// `pread_append` that never waits for the disk: `preadv2(RWF_NOWAIT)`, which copies what the
/// page cache holds and fails with EAGAIN instead of reading the disk. `Ok(None)`: nothing could
/// be read without waiting (or the filesystem cannot say); read the rest through the ring.
pub fn pread_append_nowait(
    fd: &Fd,
    buf: &mut Vec<u8>,
    offset: u64,
    len: usize,
) -> io::Result<Option<usize>> {
    buf.reserve(len);
    let iov = libc::iovec {
        // SAFETY: after reserve, `len` bytes past `buf.len()` are writable.
        iov_base: unsafe { buf.as_mut_ptr().add(buf.len()) }.cast(),
        iov_len: len,
    };
    // SAFETY: one iovec over the reserved spare capacity of `buf`.
    let r = unsafe { libc::preadv2(fd.raw(), &iov, 1, offset as libc::off_t, libc::RWF_NOWAIT) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EOPNOTSUPP) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: the kernel initialised r bytes past the old length.
    unsafe { buf.set_len(buf.len() + r as usize) };
    Ok(Some(r as usize))
}

/// Whether the pages holding the first and the last byte of `[offset, offset+len)` are in the
/// page cache: a one-byte `preadv2(RWF_NOWAIT)` at each end, which fails with EAGAIN instead of
/// reading the disk. Catches cold files for about a microsecond (a whole-range `cachestat(2)`
/// per request measured far costlier once hot files carry evicted pages, bench/RESULTS.md);
/// pages missing in the middle are not seen. `None` when the kernel cannot tell.
pub fn ends_cached(fd: &Fd, offset: u64, len: u64) -> Option<bool> {
    if len == 0 {
        return Some(true);
    }
    let probe = |at: u64| -> Option<bool> {
        let mut b = [0u8; 1];
        let iov = libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: 1,
        };
        // SAFETY: one iovec over a live 1-byte stack buffer.
        let r = unsafe { libc::preadv2(fd.raw(), &iov, 1, at as libc::off_t, libc::RWF_NOWAIT) };
        if r >= 0 {
            return Some(true);
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN) => Some(false),
            _ => None,
        }
    };
    let first = probe(offset)?;
    if !first || len <= 4096 {
        return Some(first);
    }
    probe(offset + len - 1)
}

/// A read-only shared mapping of part of a file, asked to be backed by huge pages
/// (`MADV_HUGEPAGE`): page faults in it then read the file ahead in 2 MiB folios (the kernel's
/// `VM_HUGEPAGE` readahead) instead of the 4 KiB pages that `fadvise(WILLNEED)` allocates.
/// Unmapped on drop. Used only as an address range for `MADV_POPULATE_READ`
/// (`rio::populate_read`): its bytes are never read through it.
pub struct FileMap {
    addr: *mut libc::c_void,
    len: usize,
}

impl FileMap {
    /// Maps `len` bytes of `fd` from `offset` (rounded down to a page; the mapping grows by
    /// the difference).
    pub fn new(fd: &Fd, offset: u64, len: usize) -> io::Result<FileMap> {
        let start = offset & !(PAGE_BYTES - 1);
        let len = len + (offset - start) as usize;
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: a new read-only shared mapping chosen by the kernel; nothing aliases it.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.raw(),
                start as libc::off_t,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = FileMap { addr, len };
        // SAFETY: advice on the mapping made above. A kernel without file THP refuses it or
        // ignores it: the population then reads 4 KiB pages, still ahead of the send.
        unsafe { libc::madvise(map.addr, map.len, libc::MADV_HUGEPAGE) };
        Ok(map)
    }

    /// The mapping's start address.
    pub fn addr(&self) -> *const libc::c_void {
        self.addr
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: `new` refuses an empty one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; no reference into it exists.
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

const PAGE_BYTES: u64 = 4096;

/// Drops the clean page-cache pages of a whole file (`posix_fadvise(POSIX_FADV_DONTNEED)`):
/// the next read of them comes from the disk. For tests and measurements of cold reads.
pub fn drop_cached_pages(fd: &Fd) -> io::Result<()> {
    // SAFETY: posix_fadvise on a descriptor the caller keeps open; no memory is passed.
    let r = unsafe { libc::posix_fadvise(fd.raw(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

/// `pwrite(2)` of all of `data` at `offset`, on the calling thread (the `--put-write direct`
/// alternative to a ring write; measured in bench/RESULTS.md).
pub fn pwrite_all(fd: &Fd, mut data: &[u8], mut offset: u64) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: data is a live slice; pwrite reads at most data.len() bytes from it.
        let r = unsafe {
            libc::pwrite(
                fd.raw(),
                data.as_ptr().cast(),
                data.len(),
                offset as libc::off_t,
            )
        };
        match cvt_size(r) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `cachestat(2)` syscall number (the same on every architecture since Linux 6.5).
const SYS_CACHESTAT: libc::c_long = 451;

#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Whether every page of `[offset, offset+len)` of `fd` is in the page cache (`cachestat(2)`,
/// Linux ≥ 6.5); `None` when the kernel cannot tell.
pub fn is_cached(fd: &Fd, offset: u64, len: u64) -> Option<bool> {
    cached_pages(fd, offset, len).map(|(cached, pages)| cached >= pages)
}

/// `(pages in the page cache, pages)` of `[offset, offset+len)` of `fd` (`cachestat(2)`, Linux
/// ≥ 6.5); `None` when the kernel cannot tell.
pub fn cached_pages(fd: &Fd, offset: u64, len: u64) -> Option<(u64, u64)> {
    if len == 0 {
        return Some((0, 0));
    }
    let range = CachestatRange { off: offset, len };
    let mut cs = Cachestat::default();
    // SAFETY: both pointers refer to live, correctly laid out structs; flags must be 0.
    let r = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            fd.raw() as libc::c_uint,
            &range as *const CachestatRange,
            &mut cs as *mut Cachestat,
            0u32,
        )
    };
    if r != 0 {
        return None;
    }
    let page = 4096u64;
    let pages = (offset + len).div_ceil(page) - offset / page;
    Some((cs.nr_cache.min(pages), pages))
}

/// Turns O_DIRECT on or off for an open file (`fcntl(F_SETFL)`): a direct PUT writes its last,
/// partial block through the page cache on the same descriptor.
pub fn set_direct(fd: &Fd, on: bool) -> io::Result<()> {
    // SAFETY: plain fcntl on our fd.
    let flags = cvt(unsafe { libc::fcntl(fd.raw(), libc::F_GETFL) })?;
    let want = if on {
        flags | libc::O_DIRECT
    } else {
        flags & !libc::O_DIRECT
    };
    if want != flags {
        // SAFETY: plain fcntl on our fd with status flags derived from its own.
        cvt(unsafe { libc::fcntl(fd.raw(), libc::F_SETFL, want) })?;
    }
    Ok(())
}

/// Direct-I/O alignment of an open regular file, from `statx(STATX_DIOALIGN)` (Linux ≥ 6.1):
/// `Some((memory alignment, offset alignment))`, where `(0, 0)` means the file does not
/// support direct I/O; `None` when the kernel or filesystem does not report it.
pub fn dio_alignment(fd: &Fd) -> io::Result<Option<(u32, u32)>> {
    let mut st = MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: an empty path with AT_EMPTY_PATH stats the fd itself; `st` is a writable statx.
    cvt(unsafe {
        libc::statx(
            fd.raw(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_DIOALIGN,
            st.as_mut_ptr(),
        )
    })?;
    // SAFETY: zero-initialised, then filled by the kernel; every field is plain data.
    let st = unsafe { st.assume_init() };
    if st.stx_mask & libc::STATX_DIOALIGN == 0 {
        return Ok(None);
    }
    Ok(Some((st.stx_dio_mem_align, st.stx_dio_offset_align)))
}

/// Sets an open file's access time to `atime_ns` (unix ns), leaving its modification time.
pub fn set_atime(fd: &Fd, atime_ns: i64) -> io::Result<()> {
    let times = [
        libc::timespec {
            tv_sec: atime_ns.div_euclid(1_000_000_000),
            tv_nsec: atime_ns.rem_euclid(1_000_000_000),
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
    ];
    // SAFETY: `times` is two initialised timespecs that outlive the call; fd is open.
    cvt(unsafe { libc::futimens(fd.raw(), times.as_ptr()) })?;
    Ok(())
}

/// Lowers the calling thread's scheduling priority by `inc` nice steps (Linux: a thread's nice
/// value is its own), so background work yields the CPU to the cores.
pub fn nice_thread(inc: i32) -> io::Result<()> {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    // SAFETY: getpriority/setpriority on our own thread id only read and set an integer.
    unsafe {
        *libc::__errno_location() = 0;
        let cur = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        if cur == -1 && *libc::__errno_location() != 0 {
            return Err(io::Error::last_os_error());
        }
        cvt(libc::setpriority(
            libc::PRIO_PROCESS,
            tid as libc::id_t,
            (cur + inc).min(19),
        ))?;
    }
    Ok(())
}

/// Whether `fd` has bytes to read (or an end of stream) right now: `poll(2)` that does not wait.
pub fn readable_now(fd: &Fd) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.raw(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd that outlives the call; timeout 0 never blocks.
    let n = cvt(unsafe { libc::poll(&mut p, 1, 0) })?;
    Ok(n > 0 && p.revents != 0)
}

/// Page-cache state of a whole open file (`cachestat(2)`, Linux 6.5+): pages cached, dirty
/// and under writeback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStat {
    pub cached: u64,
    pub dirty: u64,
    pub writeback: u64,
}

/// `cachestat(2)` over the whole file (`Unsupported` on kernels without it).
pub fn cachestat(fd: &Fd) -> io::Result<CacheStat> {
    /// The syscall's number, the same on every architecture (added in the unified table).
    const SYS_CACHESTAT: libc::c_long = 451;
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    let range = Range { off: 0, len: 0 };
    let mut st = Stat::default();
    // SAFETY: both structs are laid out as the kernel's and live across the call.
    let r = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            fd.raw(),
            &range as *const Range,
            &mut st as *mut Stat,
            0u32,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOSYS) {
            return Err(io::ErrorKind::Unsupported.into());
        }
        return Err(e);
    }
    Ok(CacheStat {
        cached: st.nr_cache,
        dirty: st.nr_dirty,
        writeback: st.nr_writeback,
    })
}

/// Renames `from` to `to` unless `to` exists (`renameat2(RENAME_NOREPLACE)`; where the
/// filesystem lacks it, `link(2)` then `unlink(2)`, which refuses an existing `to` as well).
/// An existing `to` fails with `AlreadyExists` and leaves both files as they were.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let f = CString::new(from.as_os_str().as_bytes())?;
    let t = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) {
        return Err(e);
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

/// Gives the allocator's free memory back to the kernel (glibc `malloc_trim(0)`): after many
/// connections went away, their freed buffers otherwise stay in the process's resident set
/// (measured: 264 MiB after 10,000 connections came and went, 21 MiB after a trim). Returns
/// whether memory was released.
pub fn release_free_heap() -> bool {
    // SAFETY: glibc's malloc_trim takes no pointers and locks its arenas itself.
    unsafe { libc::malloc_trim(0) != 0 }
}
