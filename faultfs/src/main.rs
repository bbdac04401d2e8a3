//! `aisle-faultfs BACKING_DIR MOUNTPOINT [--pidfile F] [--max-dirty-mib N]`: mounts a FUSE
//! passthrough of BACKING_DIR at MOUNTPOINT for aisle's reliability tests. SIGUSR1: every
//! operation answers EIO (a failing disk); SIGUSR2: back to normal. File data written through
//! the mount stays in this process's memory until the file is fsynced, so SIGKILL of this
//! process is a power cut for data (namespace operations and xattrs go to BACKING_DIR at
//! once). See docs/RELIABILITY.md.

mod dirty;
mod fs;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGUSR1, SIGUSR2};

fn usage() -> ! {
    eprintln!("usage: aisle-faultfs BACKING_DIR MOUNTPOINT [--pidfile F] [--max-dirty-mib N]");
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut pos: Vec<PathBuf> = Vec::new();
    let mut pidfile: Option<PathBuf> = None;
    // Unsynced data held at most; a write past it gets ENOSPC (never made durable quietly).
    let mut max_dirty_mib: u64 = 1024;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pidfile" => pidfile = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--max-dirty-mib" => {
                max_dirty_mib = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            s if s.starts_with('-') => usage(),
            _ => pos.push(a.into()),
        }
    }
    let [backing, mountpoint] = <[PathBuf; 2]>::try_from(pos).unwrap_or_else(|_| usage());

    let failing = Arc::new(AtomicBool::new(false));
    let mut signals = signal_hook::iterator::Signals::new([SIGUSR1, SIGUSR2])
        .unwrap_or_else(|e| fatal(&format!("signals: {e}")));
    let f = failing.clone();
    std::thread::spawn(move || {
        for s in signals.forever() {
            let on = s == SIGUSR1;
            f.store(on, Ordering::SeqCst);
            eprintln!("aisle-faultfs: EIO mode {}", if on { "on" } else { "off" });
        }
    });

    let fs = fs::FaultFs::new(&backing, failing, max_dirty_mib << 20)
        .unwrap_or_else(|e| fatal(&format!("{}: {e}", backing.display())));
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        fuser::MountOption::FSName("aisle-faultfs".into()),
        fuser::MountOption::Subtype("faultfs".into()),
        fuser::MountOption::DefaultPermissions,
    ];
    let session = fuser::Session::new(fs, &mountpoint, &cfg)
        .unwrap_or_else(|e| fatal(&format!("mount on {}: {e}", mountpoint.display())));
    if let Some(p) = pidfile {
        std::fs::write(&p, format!("{}\n", std::process::id()))
            .unwrap_or_else(|e| fatal(&format!("{}: {e}", p.display())));
    }
    if let Err(e) = session.run() {
        fatal(&format!("session: {e}"));
    }
}

fn fatal(msg: &str) -> ! {
    eprintln!("aisle-faultfs: {msg}");
    std::process::exit(1)
}
