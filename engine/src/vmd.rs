//! VMD (volume metadata): the node's mountpath set as persisted on every mountpath, so the
//! set and each mountpath's state survive a restart and a mountpath of another node is
//! recognised (AIS keeps `.ais.vmd`; aisle's file is `.aisle.vmd`, in its own format: the
//! checksummed envelope of `metafile`, newest valid version wins on load).
//!
//! Invariants:
//! - Every mountpath the node can write carries the same newest VMD after each change.
//! - A VMD names one node; a mountpath whose VMD names another node is never attached.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::mountpath::MpState;

/// File name of the VMD at a mountpath's root.
pub const VMD_FILE: &str = ".aisle.vmd";

/// One mountpath as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmdEntry {
    /// Absolute, clean path.
    pub path: String,
    /// `enabled`, `disabled`, `detaching`, `disabling` or `faulty`.
    pub state: String,
}

/// The node's volume metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Vmd {
    /// Bumped on every change.
    pub version: u64,
    /// The node these mountpaths belong to.
    pub node_id: String,
    /// The set, in id order.
    pub mountpaths: Vec<VmdEntry>,
    /// Paths detached at run time: not re-attached from the start-up list (an operator
    /// attaches them again through the API).
    #[serde(default)]
    pub detached: Vec<String>,
}

/// The word for a state in the VMD and the API.
pub fn state_word(s: MpState) -> &'static str {
    match s {
        MpState::Enabled => "enabled",
        MpState::Disabled => "disabled",
        MpState::Detaching => "detaching",
        MpState::Disabling => "disabling",
        MpState::Faulty => "faulty",
    }
}

/// The state a VMD word names.
pub fn parse_state(w: &str) -> Option<MpState> {
    Some(match w {
        "enabled" => MpState::Enabled,
        "disabled" => MpState::Disabled,
        "detaching" => MpState::Detaching,
        "disabling" => MpState::Disabling,
        "faulty" => MpState::Faulty,
        _ => return None,
    })
}

impl Vmd {
    /// The sealed file content.
    pub fn encode(&self) -> Vec<u8> {
        let body = serde_json::to_vec(self).expect("VMD serialises");
        crate::metafile::seal("vmd", &body)
    }

    /// Parses and checks a sealed file.
    pub fn decode(bytes: &[u8]) -> Result<Vmd, String> {
        let body = crate::metafile::unseal("vmd", bytes)?;
        let v: Vmd = serde_json::from_slice(body).map_err(|e| format!("JSON: {e}"))?;
        if v.node_id.is_empty() {
            return Err("no node id".into());
        }
        if let Some(e) = v
            .mountpaths
            .iter()
            .find(|e| parse_state(&e.state).is_none())
        {
            return Err(format!("mountpath {}: unknown state {:?}", e.path, e.state));
        }
        Ok(v)
    }

    /// The VMD at `dir`'s root: `Ok(None)` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Vmd>, String> {
        match std::fs::read(dir.join(VMD_FILE)) {
            Ok(b) => Vmd::decode(&b)
                .map(Some)
                .map_err(|e| format!("{}: {e}", dir.join(VMD_FILE).display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", dir.join(VMD_FILE).display())),
        }
    }

    /// Writes it atomically at `dir`'s root.
    pub fn store(&self, dir: &Path) -> std::io::Result<()> {
        crate::metafile::store_atomic(dir, VMD_FILE, &self.encode())
    }

    /// The newest valid VMD among `dirs` (unreadable or corrupt copies are logged and skipped).
    pub fn load_newest(dirs: &[PathBuf]) -> Option<Vmd> {
        let mut best: Option<Vmd> = None;
        for d in dirs {
            match Vmd::load(d) {
                Ok(Some(v)) if best.as_ref().is_none_or(|b| v.version > b.version) => {
                    best = Some(v)
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "skipping VMD copy"),
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_newest_wins() {
        let dirs: Vec<PathBuf> = (0..3)
            .map(|i| {
                let d = std::env::temp_dir().join(format!("aisle-vmd-{}-{i}", std::process::id()));
                let _ = std::fs::remove_dir_all(&d);
                std::fs::create_dir_all(&d).expect("mkdir");
                d
            })
            .collect();
        let mut v = Vmd {
            version: 3,
            node_id: "n1".into(),
            mountpaths: vec![VmdEntry {
                path: "/a".into(),
                state: "enabled".into(),
            }],
            detached: vec!["/b".into()],
        };
        v.store(&dirs[0]).expect("store");
        v.version = 5;
        v.store(&dirs[1]).expect("store");
        std::fs::write(dirs[2].join(VMD_FILE), b"garbage").expect("write");
        assert_eq!(
            Vmd::load(&dirs[0]).expect("load").map(|v| v.version),
            Some(3)
        );
        assert!(Vmd::load(&dirs[2]).is_err(), "a corrupt copy is an error");
        assert_eq!(Vmd::load_newest(&dirs), Some(v));
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn unknown_states_are_refused() {
        let v = Vmd {
            version: 1,
            node_id: "n".into(),
            mountpaths: vec![VmdEntry {
                path: "/a".into(),
                state: "sleepy".into(),
            }],
            detached: vec![],
        };
        assert!(Vmd::decode(&v.encode()).is_err());
    }
}
