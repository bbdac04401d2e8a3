//! Startup probe: can this process use io_uring with the opcodes and setup flags aisle needs?
//! Each failure names its fix; kernel-notes/ has one note per feature.

use std::fmt;

use io_uring::{opcode, IoUring, Probe};

/// What the probe found.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// SINGLE_ISSUER | DEFER_TASKRUN setup works (kernel ≥ 6.1).
    pub defer_taskrun: bool,
    /// RLIMIT_MEMLOCK soft limit in bytes.
    pub memlock_bytes: u64,
}

/// Why io_uring cannot be used, with the fix.
#[derive(Debug)]
pub struct ProbeError(pub String);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProbeError {}

fn io_uring_disabled_sysctl() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Builds a throwaway ring and checks the opcodes aisle submits.
pub fn probe(ring_entries: u32) -> Result<ProbeReport, ProbeError> {
    let ring = match IoUring::new(ring_entries) {
        Ok(r) => r,
        Err(e) => {
            let sysctl = io_uring_disabled_sysctl();
            let hint = match e.raw_os_error() {
                Some(libc::ENOSYS) => {
                    "this kernel has no io_uring (needs Linux >= 6.1)".to_string()
                }
                Some(libc::EPERM) | Some(libc::EACCES) => format!(
                    "io_uring is not permitted: kernel.io_uring_disabled = {} (run `sysctl -w \
                     kernel.io_uring_disabled=0`), or a container seccomp profile blocks \
                     io_uring_setup (allow io_uring_setup/io_uring_enter/io_uring_register)",
                    sysctl.unwrap_or_else(|| "?".into())
                ),
                Some(libc::ENOMEM) => format!(
                    "cannot allocate an io_uring of {ring_entries} entries: RLIMIT_MEMLOCK is {} \
                     bytes; raise it (`ulimit -l unlimited`, or LimitMEMLOCK=infinity in the \
                     systemd unit)",
                    super::sys::memlock_limit()
                ),
                _ => "io_uring_setup failed".to_string(),
            };
            return Err(ProbeError(format!("io_uring unavailable: {e}: {hint}")));
        }
    };
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| ProbeError(format!("io_uring probe failed: {e} (needs Linux >= 6.1)")))?;
    let needed: &[(u8, &str)] = &[
        (opcode::Accept::CODE, "ACCEPT"),
        (opcode::Recv::CODE, "RECV"),
        (opcode::Send::CODE, "SEND"),
        (opcode::Read::CODE, "READ"),
        (opcode::Write::CODE, "WRITE"),
        (opcode::WriteFixed::CODE, "WRITE_FIXED"),
        (opcode::OpenAt::CODE, "OPENAT"),
        (opcode::Fsync::CODE, "FSYNC"),
        (opcode::RenameAt::CODE, "RENAMEAT"),
        (opcode::UnlinkAt::CODE, "UNLINKAT"),
        (opcode::MkDirAt::CODE, "MKDIRAT"),
        (opcode::Splice::CODE, "SPLICE"),
        (opcode::Fadvise::CODE, "FADVISE"),
        (opcode::PollAdd::CODE, "POLL_ADD"),
        (opcode::Timeout::CODE, "TIMEOUT"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    ];
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(code, _)| !probe.is_supported(*code))
        .map(|(_, n)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(ProbeError(format!(
            "io_uring lacks opcodes {missing:?}; aisle needs Linux >= 6.1 (see kernel-notes/)"
        )));
    }
    drop(ring);
    let defer_taskrun = IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(ring_entries)
        .is_ok();
    Ok(ProbeReport {
        defer_taskrun,
        memlock_bytes: super::sys::memlock_limit(),
    })
}
