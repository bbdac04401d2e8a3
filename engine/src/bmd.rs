//! BMD (bucket metadata): the node's table of buckets and their properties, how it changes
//! (copy-on-write, one version per change), how it is shown in AIS's Bprops JSON, and how it
//! is persisted (`.ais.bmd` on every mountpath, checksummed, newest version wins on load).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cksum::CksumType;
use crate::lom::{make_bid, BID_AIS, BID_SERIAL_MASK, LID_FLAGS_MASK};
use crate::names::{validate_bucket, NameError};

/// File name of the persisted BMD, in each directory given to `store`.
pub const BMD_FILE: &str = ".ais.bmd";

/// Bucket checksum type unless set otherwise (AIS `cksumTypeDflt`).
pub const CKSUM_TYPE_DEFAULT: &str = "xxhash2";

/// What AIS reports as `access` for a bucket: every permission bit set. aisle has no access
/// control, so every operation is allowed; a client that checks bits must see them all.
const ACCESS_ALL: u64 = u64::MAX;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BucketProps {
    /// Bucket incarnation id: `BID_AIS | serial`; never reused.
    pub bid: u64,
    pub created_ns: i64,
    #[serde(default = "cksum_type_default")]
    pub cksum_type: String,
    /// fsync object data and metadata before acknowledging a PUT.
    #[serde(default)]
    pub fsync: bool,
    #[serde(default = "versioning_default")]
    pub versioning: bool,
    /// GET verifies the object's content against its LOM checksum before sending it
    /// (`checksum.validate_warm_get`; off by default, as in AIS).
    #[serde(default)]
    pub validate_warm_get: bool,
    /// How large objects are stored as chunks (`chunks.*`).
    #[serde(default)]
    pub chunks: ChunksConf,
    /// n-way mirroring (`mirror.*`).
    #[serde(default)]
    pub mirror: MirrorConf,
}

/// The bucket's `mirror` section (AIS `MirrorConf`): with `enabled`, every object keeps
/// `copies` replicas on distinct mountpaths (`store/mirror.rs`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct MirrorConf {
    /// Replicas per object, the main one included (AIS: [2, 32] when enabled).
    pub copies: u32,
    /// Queue depth of AIS's put-copies (reported and validated; aisle's copies go through the
    /// blocking pool's bounded queue).
    pub burst_buffer: u32,
    pub enabled: bool,
}

/// AIS `maxNumCopies`.
pub const MIRROR_COPIES_MAX: u32 = 32;
/// AIS `XactBurstDflt`.
pub const MIRROR_BURST_DEFAULT: u32 = 128;

impl Default for MirrorConf {
    fn default() -> Self {
        MirrorConf {
            copies: 1,
            burst_buffer: MIRROR_BURST_DEFAULT,
            enabled: false,
        }
    }
}

impl MirrorConf {
    /// The replicas each object should have: `copies` when enabled, else 1.
    pub fn want(&self) -> u32 {
        if self.enabled {
            self.copies.max(1)
        } else {
            1
        }
    }

    /// AIS's rules (`MirrorConf.ValidateAsProps`): checked only when enabled; 0 means the
    /// default (2 copies, burst 128).
    fn normalize(&mut self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.copies == 0 {
            self.copies = 2;
        } else if !(2..=MIRROR_COPIES_MAX).contains(&self.copies) {
            return Err(format!(
                "invalid mirror.copies: {} (expected value in range [2, {MIRROR_COPIES_MAX}] or \
                 zero for default)",
                self.copies
            ));
        }
        if self.burst_buffer == 0 {
            self.burst_buffer = MIRROR_BURST_DEFAULT;
        }
        Ok(())
    }
}

/// The bucket's `chunks` section (AIS `ChunksConf`, with AIS's ranges).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunksConf {
    /// A PUT whose declared size is at least this (when > 0) is stored chunked. AIS applies
    /// it only in its `rechunk` job; aisle applies it to PUTs too, as AIS documents it.
    pub objsize_limit: u64,
    /// A PUT whose declared size exceeds this is stored chunked (hard limit, [1 GiB, 1 TiB]).
    pub max_monolithic_size: u64,
    /// Chunk size of a chunked PUT ([1 KiB, 5 GiB]).
    pub chunk_size: u64,
    /// Persist a multipart upload's partial manifest every N parts (0: memory only; ≤ 1024).
    pub checkpoint_every: u32,
    /// Reserved (AIS).
    pub flags: u64,
}

/// AIS `MaxMonolithicSize` and `minMaxMonolithicSize`.
pub const MAX_MONOLITHIC_SIZE_MAX: u64 = 1 << 40;
pub const MAX_MONOLITHIC_SIZE_MIN: u64 = 1 << 30;
/// AIS `ChunkSizeDflt`.
pub const CHUNK_SIZE_DEFAULT: u64 = 1 << 30;
/// AIS `checkpointEveryMax`.
pub const CHECKPOINT_EVERY_MAX: u32 = 1024;

impl Default for ChunksConf {
    fn default() -> Self {
        ChunksConf {
            objsize_limit: 0,
            max_monolithic_size: MAX_MONOLITHIC_SIZE_MAX,
            chunk_size: CHUNK_SIZE_DEFAULT,
            checkpoint_every: 0,
            flags: 0,
        }
    }
}

impl ChunksConf {
    /// Whether a PUT that declares `size` bytes is stored chunked.
    pub fn chunk_put(&self, size: u64) -> bool {
        size > self.max_monolithic_size || (self.objsize_limit > 0 && size >= self.objsize_limit)
    }

    /// AIS's rules (`ChunksConf.Validate`); 0 for a size means its default, as in AIS.
    fn normalize(&mut self) -> Result<(), String> {
        if self.max_monolithic_size == 0 {
            self.max_monolithic_size = MAX_MONOLITHIC_SIZE_MAX;
        }
        if !(MAX_MONOLITHIC_SIZE_MIN..=MAX_MONOLITHIC_SIZE_MAX).contains(&self.max_monolithic_size)
        {
            return Err(format!(
                "chunks.max_monolithic_size {} must be in [1GiB, 1TiB]",
                self.max_monolithic_size
            ));
        }
        if self.objsize_limit > self.max_monolithic_size {
            return Err(format!(
                "chunks.objsize_limit {} cannot be greater than chunks.max_monolithic_size {}",
                self.objsize_limit, self.max_monolithic_size
            ));
        }
        if self.chunk_size == 0 {
            self.chunk_size = CHUNK_SIZE_DEFAULT;
        }
        if !(crate::ufest::CHUNK_SIZE_MIN..=crate::ufest::CHUNK_SIZE_MAX).contains(&self.chunk_size)
        {
            return Err(format!(
                "chunks.chunk_size {} must be in [1KiB, 5GiB]",
                self.chunk_size
            ));
        }
        if self.checkpoint_every > CHECKPOINT_EVERY_MAX {
            return Err(format!(
                "chunks.checkpoint_every {} must be in [0, {CHECKPOINT_EVERY_MAX}]",
                self.checkpoint_every
            ));
        }
        Ok(())
    }
}

/// A size as AIS's `cos.SizeIEC` takes it in JSON: a number, or a string of digits with an
/// optional IEC/SI suffix (`64MiB`, `1GB`, `512k`).
fn parse_size(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn cksum_type_default() -> String {
    CKSUM_TYPE_DEFAULT.to_string()
}

fn versioning_default() -> bool {
    true
}

impl BucketProps {
    /// Default properties of a new bucket.
    pub fn new(bid: u64, created_ns: i64) -> BucketProps {
        BucketProps {
            bid,
            created_ns,
            cksum_type: cksum_type_default(),
            fsync: false,
            versioning: versioning_default(),
            validate_warm_get: false,
            chunks: ChunksConf::default(),
            mirror: MirrorConf::default(),
        }
    }

    /// The configured checksum type; always valid, as `set_props` checks it.
    pub fn cksum(&self) -> CksumType {
        CksumType::parse(&self.cksum_type).expect("cksum_type is validated on every change")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Bmd {
    pub version: u64,
    /// Serial of the next bucket created; only grows, so a BID is never reused.
    pub next_serial: u64,
    pub buckets: BTreeMap<String, BucketProps>,
}

#[derive(Debug, thiserror::Error)]
pub enum BmdError {
    #[error("bucket \"ais://{0}\" already exists")]
    AlreadyExists(String),
    #[error("bucket \"ais://{0}\" does not exist")]
    NotFound(String),
    #[error("invalid bucket properties: {0}")]
    BadProps(String),
    #[error("invalid bucket name: {0}")]
    BadName(#[from] NameError),
    #[error("BMD I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("BMD corrupt: {0}")]
    Corrupt(String),
}

impl Bmd {
    pub fn get(&self, name: &str) -> Option<&BucketProps> {
        self.buckets.get(name)
    }

    /// A new BMD with bucket `name` added, with default props changed by `props_patch`
    /// (the same keys as `set_props`).
    pub fn create(
        &self,
        name: &str,
        props_patch: Option<&Value>,
        now_ns: i64,
    ) -> Result<Bmd, BmdError> {
        validate_bucket(name)?;
        if self.buckets.contains_key(name) {
            return Err(BmdError::AlreadyExists(name.to_string()));
        }
        // Serial 0 is never used, so a BID is never just the provider bit.
        let serial = self.next_serial.max(1);
        assert!(
            serial <= BID_SERIAL_MASK,
            "bucket serials exhausted: {serial}"
        );
        let mut props = BucketProps::new(make_bid(serial), now_ns);
        if let Some(patch) = props_patch {
            apply_patch(name, &mut props, patch)?;
        }
        let mut next = self.clone();
        next.buckets.insert(name.to_string(), props);
        next.next_serial = serial + 1;
        next.version += 1;
        Ok(next)
    }

    /// A new BMD without bucket `name`. Its serial stays used.
    pub fn destroy(&self, name: &str) -> Result<Bmd, BmdError> {
        if !self.buckets.contains_key(name) {
            return Err(BmdError::NotFound(name.to_string()));
        }
        let mut next = self.clone();
        next.buckets.remove(name);
        next.version += 1;
        Ok(next)
    }

    /// A new BMD with the props of `name` changed by `patch`:
    /// `{"checksum":{"type":"md5"}, "versioning":{"enabled":false}, "fsync":true}`.
    /// Any other AIS Bprops key is accepted only with the value `ais_props_json` reports
    /// (so a client can send back what HEAD gave it); a different value is refused, since
    /// aisle would silently not honour it.
    pub fn set_props(&self, name: &str, patch: &Value) -> Result<Bmd, BmdError> {
        let Some(current) = self.buckets.get(name) else {
            return Err(BmdError::NotFound(name.to_string()));
        };
        let mut props = current.clone();
        apply_patch(name, &mut props, patch)?;
        let mut next = self.clone();
        next.buckets.insert(name.to_string(), props);
        next.version += 1;
        Ok(next)
    }

    /// See the free function `ais_props_json`.
    pub fn ais_props_json(name: &str, p: &BucketProps) -> Value {
        ais_props_json(name, p)
    }

    /// Writes `dir/.ais.bmd` atomically: a temp file in `dir`, fsync, rename over, fsync `dir`.
    /// File content: `{"xxh64":"<16 hex>","bmd":<BMD JSON>}`, the checksum being XXH64 (seed
    /// `MLCG32`) of the exact `<BMD JSON>` bytes, so a torn or edited file is detected.
    pub fn store(&self, dir: &Path) -> std::io::Result<()> {
        crate::metafile::store_atomic(dir, BMD_FILE, &self.encode()?)
    }

    /// Loads the newest valid `.ais.bmd` among `dirs`. Missing files are skipped; a corrupt
    /// or unreadable one is logged and skipped. With no file at all the result is an empty
    /// BMD (a new node). If files exist but none is valid, that is an error: starting empty
    /// would orphan every object, so an operator must look.
    pub fn load_newest(dirs: &[PathBuf]) -> Result<Bmd, BmdError> {
        let mut best: Option<Bmd> = None;
        let mut bad: Vec<String> = Vec::new();
        for dir in dirs {
            let path = dir.join(BMD_FILE);
            let loaded = match fs::read(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => Err(BmdError::Io(e)),
                Ok(bytes) => Bmd::decode(&bytes),
            };
            match loaded {
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping BMD copy");
                    bad.push(format!("{}: {e}", path.display()));
                }
                Ok(bmd) => match &best {
                    Some(b) if b.version > bmd.version => {}
                    Some(b) if b.version == bmd.version => {
                        if *b != bmd {
                            tracing::warn!(
                                path = %path.display(),
                                version = bmd.version,
                                "BMD copies of one version differ; keeping the first"
                            );
                        }
                    }
                    _ => best = Some(bmd),
                },
            }
        }
        match best {
            Some(bmd) => Ok(bmd),
            None if bad.is_empty() => Ok(Bmd::default()),
            None => Err(BmdError::Corrupt(format!(
                "no valid BMD copy: {}",
                bad.join("; ")
            ))),
        }
    }

    fn encode(&self) -> std::io::Result<Vec<u8>> {
        let body = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        Ok(crate::metafile::seal("bmd", &body))
    }

    fn decode(bytes: &[u8]) -> Result<Bmd, BmdError> {
        let body = crate::metafile::unseal("bmd", bytes).map_err(BmdError::Corrupt)?;
        let bmd: Bmd =
            serde_json::from_slice(body).map_err(|e| BmdError::Corrupt(format!("JSON: {e}")))?;
        bmd.check()?;
        Ok(bmd)
    }

    /// Invariants of a loaded BMD: valid names and types, `ais` BIDs below `next_serial`,
    /// no BID shared.
    fn check(&self) -> Result<(), BmdError> {
        let mut bids = std::collections::HashSet::new();
        for (name, p) in &self.buckets {
            let bad = |why: String| BmdError::Corrupt(format!("bucket {name:?}: {why}"));
            validate_bucket(name).map_err(|e| bad(e.to_string()))?;
            if CksumType::parse(&p.cksum_type).is_none() {
                return Err(bad(format!("checksum type {:?}", p.cksum_type)));
            }
            let serial = p.bid & BID_SERIAL_MASK;
            if p.bid & BID_AIS == 0 || p.bid & LID_FLAGS_MASK != 0 || serial == 0 {
                return Err(bad(format!("bid {:#x}", p.bid)));
            }
            if serial >= self.next_serial {
                return Err(bad(format!(
                    "serial {serial} >= next_serial {}",
                    self.next_serial
                )));
            }
            if !bids.insert(p.bid) {
                return Err(bad(format!("bid {:#x} shared", p.bid)));
            }
        }
        Ok(())
    }
}

/// AIS's Bprops JSON (`Ais-Bucket-Props`, AISTORE.md §1.4) for bucket props `p`, plus our
/// own `fsync`. Sections aisle does not implement carry their disabled defaults. AIS keeps
/// no name in Bprops; `name` is for symmetry with the callers.
pub fn ais_props_json(name: &str, p: &BucketProps) -> Value {
    let _ = name;
    json!({
        "provider": "ais",
        "backend_bck": {"name": "", "provider": ""},
        "write_policy": {"data": "immediate", "md": "immediate"},
        "checksum": {
            "type": p.cksum_type,
            "validate_cold_get": false,
            "validate_warm_get": p.validate_warm_get,
            "validate_obj_move": false,
            "enable_read_range": false,
        },
        "extra": {},
        "rate_limit": {"backend": {"enabled": false}, "frontend": {"enabled": false}},
        "ec": {
            "objsize_limit": 0,
            "compression": "never",
            "bundle_multiplier": 2,
            "data_slices": 1,
            "parity_slices": 1,
            "enabled": false,
            "disk_only": false,
        },
        "chunks": {
            "objsize_limit": p.chunks.objsize_limit,
            "max_monolithic_size": p.chunks.max_monolithic_size,
            "chunk_size": p.chunks.chunk_size,
            "checkpoint_every": p.chunks.checkpoint_every,
            "flags": p.chunks.flags,
        },
        "mirror": {
            "copies": p.mirror.copies,
            "burst_buffer": p.mirror.burst_buffer,
            "enabled": p.mirror.enabled,
        },
        "lru": {"enabled": false},
        "access": ACCESS_ALL.to_string(),
        "features": "0",
        "bid": p.bid.to_string(),
        "created": p.created_ns.to_string(),
        "versioning": {
            "enabled": p.versioning,
            "validate_warm_get": false,
            "synchronize": false,
        },
        "fsync": p.fsync,
    })
}

fn bad_props(msg: String) -> BmdError {
    BmdError::BadProps(msg)
}

/// Applies a props patch to `props`; on error `props` may be partly changed (callers work
/// on a copy).
fn apply_patch(name: &str, props: &mut BucketProps, patch: &Value) -> Result<(), BmdError> {
    let Value::Object(top) = patch else {
        return Err(bad_props(format!("expected a JSON object, got {patch}")));
    };
    let reported = ais_props_json(name, props);
    for (key, value) in top {
        match key.as_str() {
            "checksum" => {
                for (sub, v) in section(key, value)? {
                    if sub == "type" {
                        let t = v
                            .as_str()
                            .and_then(CksumType::parse)
                            .ok_or_else(|| bad_props(format!("unknown checksum type {v}")))?;
                        props.cksum_type = t.as_str().to_string();
                    } else if sub == "validate_warm_get" {
                        props.validate_warm_get = v
                            .as_bool()
                            .ok_or_else(|| bad_props(format!("checksum.validate_warm_get: {v}")))?;
                    } else {
                        same_as_reported(&format!("{key}.{sub}"), v, reported[key].get(sub))?;
                    }
                }
            }
            "versioning" => {
                for (sub, v) in section(key, value)? {
                    if sub == "enabled" {
                        props.versioning = v
                            .as_bool()
                            .ok_or_else(|| bad_props(format!("versioning.enabled: {v}")))?;
                    } else {
                        same_as_reported(&format!("{key}.{sub}"), v, reported[key].get(sub))?;
                    }
                }
            }
            "chunks" => {
                let mut c = props.chunks;
                for (sub, v) in section(key, value)? {
                    let bad = || bad_props(format!("{key}.{sub}: {v}"));
                    match sub.as_str() {
                        "objsize_limit" => c.objsize_limit = parse_size(v).ok_or_else(bad)?,
                        "max_monolithic_size" => {
                            c.max_monolithic_size = parse_size(v).ok_or_else(bad)?
                        }
                        "chunk_size" => c.chunk_size = parse_size(v).ok_or_else(bad)?,
                        "checkpoint_every" => {
                            c.checkpoint_every = parse_size(v)
                                .and_then(|n| u32::try_from(n).ok())
                                .ok_or_else(bad)?
                        }
                        _ => same_as_reported(&format!("{key}.{sub}"), v, reported[key].get(sub))?,
                    }
                }
                c.normalize().map_err(bad_props)?;
                props.chunks = c;
            }
            "mirror" => {
                let mut m = props.mirror;
                for (sub, v) in section(key, value)? {
                    let bad = || bad_props(format!("{key}.{sub}: {v}"));
                    let num = || {
                        v.as_u64()
                            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                            .and_then(|n| u32::try_from(n).ok())
                    };
                    match sub.as_str() {
                        "copies" => m.copies = num().ok_or_else(bad)?,
                        "burst_buffer" => m.burst_buffer = num().ok_or_else(bad)?,
                        "enabled" => m.enabled = v.as_bool().ok_or_else(bad)?,
                        _ => return Err(bad_props(format!("unknown property \"{key}.{sub}\""))),
                    }
                }
                m.normalize().map_err(bad_props)?;
                props.mirror = m;
            }
            "fsync" => {
                props.fsync = value
                    .as_bool()
                    .ok_or_else(|| bad_props(format!("fsync: {value}")))?;
            }
            _ => same_as_reported(key, value, reported.get(key))?,
        }
    }
    Ok(())
}

fn section<'a>(
    key: &str,
    value: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, BmdError> {
    value
        .as_object()
        .ok_or_else(|| bad_props(format!("{key}: expected an object, got {value}")))
}

/// Accepts a patch value only if it changes nothing aisle reports.
fn same_as_reported(path: &str, value: &Value, reported: Option<&Value>) -> Result<(), BmdError> {
    let Some(reported) = reported else {
        return Err(bad_props(format!("unknown property {path:?}")));
    };
    if let (Value::Object(patch), Value::Object(_)) = (value, reported) {
        for (sub, v) in patch {
            same_as_reported(&format!("{path}.{sub}"), v, reported.get(sub))?;
        }
        return Ok(());
    }
    if value == reported {
        return Ok(());
    }
    Err(bad_props(format!(
        "property {path:?} is not supported by aisle (only {reported} is accepted)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TestDir(PathBuf);
    impl TestDir {
        fn new(tag: &str) -> TestDir {
            static SEQ: AtomicU64 = AtomicU64::new(0);
            let seq = SEQ.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("aisle-bmd-{tag}-{}-{seq}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create test dir");
            TestDir(dir)
        }
    }
    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Goal: copy-on-write changes, versions, and BIDs never reused. Steps: create,
    /// destroy, recreate; the old BMD values stay as they were.
    #[test]
    fn create_destroy_recreate() {
        let empty = Bmd::default();
        let one = empty.create("b", None, 100).expect("create");
        assert_eq!(empty.buckets.len(), 0);
        assert_eq!(one.version, 1);
        let props = one.get("b").expect("created");
        assert_eq!(props.bid, make_bid(1));
        assert_eq!(props.created_ns, 100);
        assert_eq!(props.cksum_type, "xxhash2");
        assert_eq!(props.cksum(), CksumType::Xxhash2);
        assert!(props.versioning);
        assert!(!props.fsync);
        assert!(matches!(one.create("b", None, 1), Err(BmdError::AlreadyExists(n)) if n == "b"));
        let gone = one.destroy("b").expect("destroy");
        assert_eq!(gone.version, 2);
        assert!(gone.get("b").is_none());
        assert!(one.get("b").is_some());
        assert!(matches!(gone.destroy("b"), Err(BmdError::NotFound(n)) if n == "b"));
        let again = gone.create("b", None, 200).expect("recreate");
        assert_ne!(again.get("b").expect("recreated").bid, props.bid);
        assert_eq!(again.get("b").expect("recreated").bid, make_bid(2));
        assert!(matches!(
            again.create("..", None, 1),
            Err(BmdError::BadName(_))
        ));
        assert_eq!(
            BmdError::AlreadyExists("b".into()).to_string(),
            "bucket \"ais://b\" already exists"
        );
        assert_eq!(
            BmdError::NotFound("b".into()).to_string(),
            "bucket \"ais://b\" does not exist"
        );
    }

    /// Goal: the supported keys change props; bad values and unsupported changes are refused;
    /// the BMD is unchanged on error.
    #[test]
    fn props_patches() {
        let bmd = Bmd::default()
            .create(
                "b",
                Some(&json!({"checksum": {"type": "MD5"}, "fsync": true})),
                1,
            )
            .expect("create with props");
        let p = bmd.get("b").expect("exists");
        assert_eq!(p.cksum_type, "md5");
        assert!(p.fsync);
        let next = bmd
            .set_props(
                "b",
                &json!({"versioning": {"enabled": false}, "checksum": {"type": "none"}}),
            )
            .expect("set");
        assert_eq!(next.version, bmd.version + 1);
        let p = next.get("b").expect("exists");
        assert!(!p.versioning);
        assert_eq!(p.cksum(), CksumType::None);
        for bad in [
            json!({"checksum": {"type": "sha1"}}),
            json!({"checksum": {"type": 5}}),
            json!({"checksum": "md5"}),
            json!({"versioning": {"enabled": "yes"}}),
            json!({"fsync": 1}),
            json!({"mirror": {"enabled": true, "copies": 1}}),
            json!({"mirror": {"enabled": true, "copies": 33}}),
            json!({"mirror": {"copies": -1}}),
            json!({"mirror": {"enabled": "yes"}}),
            json!({"checksum": {"validate_cold_get": true}}),
            json!({"nonsense": 1}),
            json!({"mirror": {"nonsense": 1}}),
            json!({"bid": "1"}),
            json!([1]),
        ] {
            assert!(
                matches!(next.set_props("b", &bad), Err(BmdError::BadProps(_))),
                "{bad}"
            );
            assert!(next.create("c", Some(&bad), 1).is_err(), "{bad}");
        }
        assert!(matches!(
            next.set_props("x", &json!({})),
            Err(BmdError::NotFound(_))
        ));
        // What HEAD reports can be sent back unchanged.
        let reported = ais_props_json("b", p);
        let same = next.set_props("b", &reported).expect("no-op patch");
        assert_eq!(same.get("b"), next.get("b"));
        let partial = json!({"mirror": {"enabled": false}, "checksum": {"type": "sha512", "validate_warm_get": false}});
        let p2 = next
            .set_props("b", &partial)
            .expect("partial no-op plus type");
        assert_eq!(p2.get("b").expect("exists").cksum_type, "sha512");
    }

    /// Goal: `mirror` props follow AIS's rules (copies in [2, 32] when enabled, 0 for the
    /// default 2; anything while disabled), persist in the props and show in the Bprops JSON.
    #[test]
    fn mirror_props() {
        let bmd = Bmd::default().create("b", None, 1).expect("create");
        assert_eq!(bmd.get("b").expect("b").mirror.want(), 1);
        let on = bmd
            .set_props("b", &json!({"mirror": {"enabled": true, "copies": 3}}))
            .expect("enable");
        let p = on.get("b").expect("b");
        assert_eq!(
            (p.mirror.copies, p.mirror.enabled, p.mirror.want()),
            (3, true, 3)
        );
        let v = ais_props_json("b", p);
        assert_eq!(v["mirror"]["copies"], 3);
        assert_eq!(v["mirror"]["enabled"], true);
        let dflt = bmd
            .set_props("b", &json!({"mirror": {"enabled": true, "copies": 0}}))
            .expect("default copies");
        assert_eq!(dflt.get("b").expect("b").mirror.copies, 2);
        let off = on
            .set_props("b", &json!({"mirror": {"enabled": false}}))
            .expect("disable");
        let p = off.get("b").expect("b");
        assert_eq!((p.mirror.copies, p.mirror.want()), (3, 1));
        let one = on
            .set_props("b", &json!({"mirror": {"enabled": false, "copies": 1}}))
            .expect("one copy, disabled");
        assert_eq!(one.get("b").expect("b").mirror.copies, 1);
        // Round trip through the persisted JSON.
        let back = Bmd::decode(&on.encode().expect("encode")).expect("decode");
        assert_eq!(
            back.get("b").expect("b").mirror,
            on.get("b").expect("b").mirror
        );
    }

    /// Goal: the Bprops JSON has the AIS keys and shapes of §1.4.
    #[test]
    fn ais_props_shape() {
        let p = BucketProps::new(make_bid(3), 1_700_000_000_000_000_000);
        let v = Bmd::ais_props_json("b", &p);
        for key in [
            "provider",
            "backend_bck",
            "write_policy",
            "checksum",
            "extra",
            "rate_limit",
            "ec",
            "chunks",
            "mirror",
            "lru",
            "access",
            "features",
            "bid",
            "created",
            "versioning",
            "fsync",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["provider"], "ais");
        assert_eq!(v["checksum"]["type"], "xxhash2");
        assert_eq!(v["bid"], (BID_AIS | 3).to_string());
        assert_eq!(v["created"], "1700000000000000000");
        assert_eq!(v["access"], "18446744073709551615");
        assert_eq!(v["features"], "0");
        assert_eq!(v["versioning"]["enabled"], true);
        assert_eq!(v["chunks"]["max_monolithic_size"], 1_099_511_627_776u64);
        assert_eq!(v["mirror"]["copies"], 1);
        assert_eq!(v["fsync"], false);
    }

    /// Goal: store then load gives the same BMD; no temp file is left; a missing file
    /// everywhere gives an empty BMD.
    #[test]
    fn store_load_round_trip() {
        let d = TestDir::new("rt");
        assert_eq!(
            Bmd::load_newest(std::slice::from_ref(&d.0)).expect("none"),
            Bmd::default()
        );
        let bmd = Bmd::default()
            .create("a", None, 5)
            .and_then(|b| b.create("b", Some(&json!({"fsync": true})), 6))
            .and_then(|b| b.destroy("a"))
            .expect("changes");
        bmd.store(&d.0).expect("store");
        bmd.store(&d.0).expect("store again over the first");
        let names: Vec<_> = fs::read_dir(&d.0)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        assert_eq!(names, vec![BMD_FILE.to_string()]);
        let text = fs::read_to_string(d.0.join(BMD_FILE)).expect("read");
        let outer: Value = serde_json::from_str(&text).expect("the file is JSON");
        assert_eq!(outer["bmd"]["version"], 3);
        let loaded = Bmd::load_newest(std::slice::from_ref(&d.0)).expect("load");
        assert_eq!(loaded, bmd);
        assert_eq!(loaded.next_serial, 3);
    }

    /// Goal: the highest version wins; corrupt copies are skipped; all-corrupt is an error.
    /// Steps: three dirs with versions 1, 3 and a torn file, plus one dir with no file.
    #[test]
    fn newest_wins_corrupt_skipped() {
        let dirs: Vec<TestDir> = (0..4).map(|i| TestDir::new(&format!("nw{i}"))).collect();
        let paths: Vec<PathBuf> = dirs.iter().map(|d| d.0.clone()).collect();
        let v1 = Bmd::default().create("a", None, 1).expect("v1");
        let v3 = v1
            .create("b", None, 2)
            .and_then(|b| b.create("c", None, 3))
            .expect("v3");
        v1.store(&paths[0]).expect("store");
        v3.store(&paths[1]).expect("store");
        v3.store(&paths[2]).expect("store");
        let full = fs::read(paths[2].join(BMD_FILE)).expect("read");
        fs::write(paths[2].join(BMD_FILE), &full[..full.len() - 5]).expect("tear");
        assert_eq!(Bmd::load_newest(&paths).expect("load"), v3);
        // With the newest copy also corrupt (one flipped byte), v1 is what remains.
        let mut flipped = full.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x04;
        fs::write(paths[1].join(BMD_FILE), &flipped).expect("flip");
        assert_eq!(Bmd::load_newest(&paths).expect("load"), v1);
        fs::write(paths[0].join(BMD_FILE), b"").expect("empty");
        assert!(matches!(
            Bmd::load_newest(&paths),
            Err(BmdError::Corrupt(_))
        ));
    }

    /// Goal: a checksummed but inconsistent BMD is refused. Steps: hand-edit then reseal.
    #[test]
    fn invariants_checked_on_load() {
        let d = TestDir::new("inv");
        let mut bmd = Bmd::default().create("a", None, 1).expect("create");
        bmd.next_serial = 1;
        bmd.store(&d.0).expect("store");
        assert!(matches!(
            Bmd::load_newest(std::slice::from_ref(&d.0)),
            Err(BmdError::Corrupt(_))
        ));
        let mut bmd = Bmd::default().create("a", None, 1).expect("create");
        bmd.buckets.get_mut("a").expect("a").cksum_type = "crc64".into();
        bmd.store(&d.0).expect("store");
        assert!(Bmd::load_newest(std::slice::from_ref(&d.0)).is_err());
    }
}
