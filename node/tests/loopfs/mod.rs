//! Test helper: a small ext4 filesystem in a file, loop-mounted on a unique directory, for
//! tests that need a mountpath that fills up or whose free space they measure. Unmounted (and
//! its loop device released) on drop, also when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A mounted loop filesystem.
pub struct LoopFs {
    /// Directory holding the image and the mount point.
    pub dir: PathBuf,
    /// Where the filesystem is mounted.
    pub mnt: PathBuf,
    img: PathBuf,
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl LoopFs {
    /// A fresh `mib`-MiB ext4 (no reserved blocks) mounted under a new directory, or `None`
    /// (with the reason printed) where loop mounts are impossible (not root, no loop devices).
    pub fn new(tag: &str, mib: u64) -> Option<LoopFs> {
        let dir = std::env::temp_dir().join(format!(
            "aisle-loop-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).ok()?;
        let img = dir.join("fs.img");
        let mnt = dir.join("mnt");
        std::fs::create_dir_all(&mnt).ok()?;
        let made = (|| {
            let f = std::fs::File::create(&img).map_err(|e| e.to_string())?;
            f.set_len(mib << 20).map_err(|e| e.to_string())?;
            run(Command::new("mkfs.ext4")
                .args(["-q", "-F", "-m", "0"])
                .arg(&img))?;
            run(Command::new("mount")
                .args(["-o", "loop"])
                .arg(&img)
                .arg(&mnt))
        })();
        if let Err(e) = made {
            eprintln!("SKIPPED: cannot loop-mount a filesystem here ({e})");
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        }
        Some(LoopFs { dir, mnt, img })
    }

    /// Bytes available to the node on the filesystem (`statfs` through `df`).
    pub fn avail(&self) -> u64 {
        avail_bytes(&self.mnt)
    }
}

/// Bytes available on the filesystem holding `p`.
pub fn avail_bytes(p: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(p)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("df output: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Open descriptors of process `pid` whose file was deleted (link target ends "(deleted)")
/// and lies under `under`.
pub fn deleted_open_files(pid: u32, under: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    let under = under.to_string_lossy().to_string();
    for e in rd.flatten() {
        if let Ok(t) = std::fs::read_link(e.path()) {
            let t = t.to_string_lossy().to_string();
            if t.ends_with("(deleted)") && t.starts_with(&under) {
                out.push(t);
            }
        }
    }
    out
}

/// Polls `f` until it returns `Ok` or `within` passes; returns the last error.
pub fn eventually<T>(
    within: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + within;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        // `mount -o loop` sets autoclear: unmounting releases the loop device.
        if run(Command::new("umount").arg(&self.mnt)).is_err() {
            let _ = run(Command::new("umount").arg("-l").arg(&self.mnt));
        }
        // A device still bound to the image (autoclear not honoured) is detached explicitly.
        if let Ok(o) = Command::new("losetup").arg("-j").arg(&self.img).output() {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                if let Some(dev) = line.split(':').next() {
                    let _ = run(Command::new("losetup").arg("-d").arg(dev));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
