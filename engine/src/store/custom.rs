//! Custom object metadata (AIS `Ais-Custom-Md`): validation as AIS does it, and the in-place
//! update of a stored object's custom metadata (the SDK's `set_custom_props`).
//!
//! Rules (AIS `cmn.ValidateCustomKV`): non-empty key; no 0x01 byte or LOM record separator in
//! key or value; keys and values together at most `CUSTOM_BYTES_MAX`. Besides, the internal key
//! `orig_fntl` (the full name of a shortened object) is neither shown to nor settable by
//! clients, and the encoded record must fit the LOM (`LOM_CUSTOM_BYTES_MAX`).

use std::sync::Mutex;

use super::{Store, StoreError, CUSTOM_ORIG_FNTL};
use crate::io::{self as rio, sys};
use crate::lom::{Lom, LOM_CUSTOM_BYTES_MAX, XATTR_LOM};
use crate::{fqn, hrw};

/// Keys plus values of one object's custom metadata, in bytes (AIS `maxSizeCustomKVs`).
pub const CUSTOM_BYTES_MAX: usize = 2048;
/// Stripes of the custom-metadata update lock.
const CUSTOM_LOCKS: usize = 64;

/// Serialises read-modify-write of custom metadata per object (striped by digest); held only
/// around system calls that do not wait on the ring, never across an `await`.
pub(crate) struct CustomLocks {
    stripes: Vec<Mutex<()>>,
}

impl CustomLocks {
    /// Locks the stripe of object `digest` (mirroring rewrites the LOM under it too, so an
    /// in-place custom update and a replica commit never lose each other's change).
    pub(crate) fn lock(&self, digest: u64) -> std::sync::MutexGuard<'_, ()> {
        self.stripes[(digest as usize) % CUSTOM_LOCKS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for CustomLocks {
    fn default() -> Self {
        CustomLocks {
            stripes: (0..CUSTOM_LOCKS).map(|_| Mutex::new(())).collect(),
        }
    }
}

/// Parses the values of the `Ais-Custom-Md` headers of a request, each `key=value` (split at
/// the first `=`), as AIS does; a repeated key keeps its last value.
pub fn parse_custom_header<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for raw in values {
        let s = std::str::from_utf8(raw)
            .map_err(|_| StoreError::BadCustom("Ais-Custom-Md is not UTF-8".into()))?;
        let (k, v) = s.split_once('=').ok_or_else(|| {
            StoreError::BadCustom(format!("invalid format {s:?} (expecting key=value)"))
        })?;
        set_key(&mut out, k.trim(), v.trim());
    }
    validate(&out)?;
    Ok(out)
}

fn set_key(kvs: &mut Vec<(String, String)>, k: &str, v: &str) {
    match kvs.iter_mut().find(|(key, _)| key == k) {
        Some(e) => e.1 = v.to_string(),
        None => kvs.push((k.to_string(), v.to_string())),
    }
}

/// Checks client-supplied custom metadata.
/// Keys the node keeps in the LOM for itself: refused from clients, hidden from them, kept
/// when a client replaces the custom metadata.
pub fn is_internal(k: &str) -> bool {
    k == CUSTOM_ORIG_FNTL || k == super::CUSTOM_UFEST_ID
}

pub fn validate(kvs: &[(String, String)]) -> Result<(), StoreError> {
    let mut size = 0;
    for (k, v) in kvs {
        if k.is_empty() {
            return Err(StoreError::BadCustom(format!("empty key (value={v:?})")));
        }
        if is_internal(k) {
            return Err(StoreError::BadCustom(format!("key {k:?} is reserved")));
        }
        // The LOM's record separator (E3 2F BD) cannot occur in UTF-8; 0x01 separates entries.
        let reserved = |s: &str| s.contains('\u{1}') || s.contains('\0');
        if reserved(k) || reserved(v) {
            return Err(StoreError::BadCustom(format!(
                "{k:?}={v:?}: key or value contains a reserved symbol"
            )));
        }
        size += k.len() + v.len();
        if size > CUSTOM_BYTES_MAX {
            return Err(StoreError::BadCustom(format!(
                "total size exceeds {CUSTOM_BYTES_MAX} bytes"
            )));
        }
    }
    Ok(())
}

/// Whether the encoded record (with separators, and the internal keys kept) fits the LOM.
fn fits(kvs: &[(String, String)]) -> Result<(), StoreError> {
    let len: usize = kvs
        .iter()
        .map(|(k, v)| k.len() + v.len() + 2)
        .sum::<usize>();
    if len.saturating_sub(1) > LOM_CUSTOM_BYTES_MAX {
        return Err(StoreError::BadCustom(format!(
            "{} bytes encoded, the limit is {LOM_CUSTOM_BYTES_MAX} (a long object name uses part of it)",
            len - 1
        )));
    }
    Ok(())
}

/// Custom metadata as AIS lists it (`cmn.CustomMD2S`): `[k1:v1 k2:v2]`, AIS's standard keys
/// first in its order, then the rest in stored order, internal keys left out; empty if none.
pub(crate) fn custom_for_listing(kvs: &[(String, String)]) -> String {
    const STD: [&str; 7] = [
        "source",
        "ETag",
        "LastModified",
        "Last-Modified",
        "crc32c",
        "md5",
        "version",
    ];
    let visible = |k: &str| !is_internal(k);
    let mut parts: Vec<String> = Vec::new();
    for std in STD {
        if let Some((k, v)) = kvs.iter().find(|(k, _)| k == std) {
            parts.push(format!("{k}:{v}"));
        }
    }
    for (k, v) in kvs {
        if visible(k) && !STD.contains(&k.as_str()) {
            parts.push(format!("{k}:{v}"));
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    format!("[{}]", parts.join(" "))
}

impl Store {
    /// Sets custom metadata on the next `finish` of a PUT (validated; `orig_fntl` refused).
    pub fn put_set_custom(
        put: &mut super::PutHandle,
        kvs: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        validate(&kvs)?;
        let mut all = kvs.clone();
        if put.fntl {
            all.push((CUSTOM_ORIG_FNTL.into(), put.obj.clone()));
        }
        fits(&all)?;
        put.custom = kvs;
        Ok(())
    }

    /// Updates a stored object's custom metadata in place (its data untouched): adds or
    /// replaces the given keys, or with `replace` drops every client key first. Internal keys
    /// stay. Cores' cached copies are invalidated.
    pub async fn set_custom(
        &self,
        bucket: &str,
        obj: &str,
        kvs: Vec<(String, String)>,
        replace: bool,
    ) -> Result<(), StoreError> {
        Store::check_names(bucket, obj)?;
        validate(&kvs)?;
        let props = self.bucket(bucket)?;
        let (digest, mp) = self.place(bucket, obj)?;
        let path = fqn::object_fqn(&mp.path, bucket, obj);
        let fd = match rio::open(&path, libc::O_RDONLY, 0).await {
            Ok(fd) => fd,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                        StoreError::ObjNotFound(bucket.into(), obj.into())
                    }
                    _ => StoreError::io("open", &path, e),
                })
            }
        };
        let st = sys::fstat(&fd).map_err(|e| StoreError::io("fstat", &path, e))?;
        if !st.is_file {
            return Err(StoreError::ObjNotFound(bucket.into(), obj.into()));
        }
        let stripe = &self.custom_locks.stripes[(digest as usize) % CUSTOM_LOCKS];
        let _g = stripe.lock().expect("custom lock");
        let mut buf = Vec::new();
        if !sys::fgetxattr(&fd, XATTR_LOM, &mut buf)
            .map_err(|e| StoreError::io("getxattr", &path, e))?
        {
            return Err(StoreError::MetaMissing(bucket.into(), obj.into()));
        }
        let mut lom = Lom::decode(&buf)
            .map_err(|e| StoreError::MetaCorrupt(bucket.into(), obj.into(), e.to_string()))?;
        if lom.bid() != props.bid {
            return Err(StoreError::ObjNotFound(bucket.into(), obj.into()));
        }
        if replace {
            lom.custom.retain(|(k, _)| is_internal(k));
        }
        for (k, v) in &kvs {
            set_key(&mut lom.custom, k, v);
        }
        let client: Vec<(String, String)> = lom
            .custom
            .iter()
            .filter(|(k, _)| !is_internal(k))
            .cloned()
            .collect();
        validate(&client)?;
        fits(&lom.custom)?;
        let md = lom
            .encode()
            .map_err(|e| StoreError::BadCustom(e.to_string()))?;
        sys::fsetxattr(&fd, XATTR_LOM, &md).map_err(|e| StoreError::io("setxattr", &path, e))?;
        drop(_g);
        self.generations.bump(digest);
        debug_assert_eq!(digest, hrw::obj_digest(bucket, obj));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_parse_and_validate_as_ais() {
        // Goal: `k=v` per header value, split at the first '='; bad shapes and sizes refused.
        let h: Vec<&[u8]> = vec![b"a=1", b"b=x=y", b"a=2"];
        let kv = parse_custom_header(h.into_iter()).expect("valid");
        assert_eq!(
            kv,
            vec![("a".into(), "2".into()), ("b".into(), "x=y".into())]
        );
        for bad in [&b"novalue"[..], b"=v", b"orig_fntl=x", b"k=\x01"] {
            assert!(
                matches!(
                    parse_custom_header(std::iter::once(bad)),
                    Err(StoreError::BadCustom(_))
                ),
                "{bad:?} must be refused"
            );
        }
        let big = format!("k={}", "v".repeat(CUSTOM_BYTES_MAX));
        assert!(parse_custom_header(std::iter::once(big.as_bytes())).is_err());
        let ok = format!("k={}", "v".repeat(CUSTOM_BYTES_MAX - 1));
        assert!(parse_custom_header(std::iter::once(ok.as_bytes())).is_ok());
    }
}
