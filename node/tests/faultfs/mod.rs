//! Test helper: an `aisle-faultfs` FUSE mount (faultfs/) over a backing directory, for tests
//! of a failing disk (`set_failing`: every operation answers EIO) and of power cuts
//! (`power_cut`: the faultfs process is SIGKILLed, so every unsynced byte it held is lost, and
//! a fresh one is mounted over the same backing directory). Unmounted on drop, also when the
//! test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A mounted faultfs.
pub struct FaultFs {
    /// Directory holding the backing directory, the mount point and the log.
    pub dir: PathBuf,
    /// What the filesystem passes to: the "disk" as it is after a power cut.
    pub backing: PathBuf,
    /// Where it is mounted.
    pub mnt: PathBuf,
    child: Option<Child>,
    mounts: usize,
}

/// The `aisle-faultfs` binary: beside `aisle-node` in the same target directory and profile
/// (scripts/test.sh builds every binary before the tests).
pub fn binary() -> PathBuf {
    let node = PathBuf::from(env!("CARGO_BIN_EXE_aisle-node"));
    let bin = node.with_file_name("aisle-faultfs");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build -p faultfs` in the profile of the tests, \
         e.g. --release; scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Why FUSE cannot be used here, if it cannot.
fn unavailable() -> Option<String> {
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Some(format!(
            "not root (uid {uid}): faultfs mounts with mount(2)"
        ));
    }
    None
}

impl FaultFs {
    /// A faultfs over a fresh backing directory, mounted; `None` (reason printed as
    /// `SKIPPED:`) where FUSE mounts are impossible (no /dev/fuse, not root).
    pub fn new(tag: &str) -> Option<FaultFs> {
        if let Some(why) = unavailable() {
            eprintln!("SKIPPED: cannot mount a FUSE filesystem here ({why})");
            return None;
        }
        let dir = super::common::tempdir(&format!("faultfs-{tag}"));
        let f = FaultFs {
            backing: dir.join("backing"),
            mnt: dir.join("mnt"),
            dir,
            child: None,
            mounts: 0,
        };
        std::fs::create_dir_all(&f.backing).unwrap();
        std::fs::create_dir_all(&f.mnt).unwrap();
        let mut f = f;
        f.mount();
        Some(f)
    }

    fn mount(&mut self) {
        let pidfile = self.dir.join("faultfs.pid");
        let _ = std::fs::remove_file(&pidfile);
        self.mounts += 1;
        let log = self.dir.join(format!("faultfs-{}.log", self.mounts));
        let mut child = Command::new(binary())
            .arg(&self.backing)
            .arg(&self.mnt)
            .arg("--pidfile")
            .arg(&pidfile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawning aisle-faultfs");
        // The pidfile is written once the mount is in place (a hang guard, not a timing).
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pidfile.exists() {
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "aisle-faultfs exited ({st}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "aisle-faultfs did not mount");
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
    }

    /// The faultfs process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("mounted").id()
    }

    /// Every operation under the mount answers EIO (`true`) or works again (`false`).
    pub fn set_failing(&self, on: bool) {
        let sig = if on { "-USR1" } else { "-USR2" };
        let st = Command::new("kill")
            .arg(sig)
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(st.success(), "kill {sig}: {st}");
        // The signal is handled on faultfs's own thread: wait until its log says so.
        let want = if on { "EIO mode on" } else { "EIO mode off" };
        let log = self.dir.join(format!("faultfs-{}.log", self.mounts));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.lines().last().is_some_and(|l| l.ends_with(want)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "faultfs never said {want:?}: {text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mnt)
            .stderr(Stdio::null())
            .status();
    }

    /// The power cut: the faultfs process is SIGKILLed (every write not yet fsynced through
    /// it is lost: it held them in memory), its mount detached, and a fresh faultfs mounted
    /// over the backing directory as the cut left it. Call with no process using the mount.
    pub fn power_cut(&mut self) {
        self.stop();
        self.mount();
    }
}

impl Drop for FaultFs {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
