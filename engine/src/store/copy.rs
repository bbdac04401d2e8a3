//! Object copy and rename (`Store::copy_object`, `Store::rename_object`): a copy is written like
//! a PUT (work file on the destination's HRW mountpath, data read and written on the ring in
//! bounded chunks, LOM set, renamed into place); a rename within one mountpath is one
//! `rename(2)`, otherwise a copy and then a delete of the source.
//!
//! As in AIS (`coi.do`, `lom.Copy2FQN`, `t.objMv`):
//! - the copy keeps the source's custom metadata; its version is the source's within the same
//!   bucket and "1" in another bucket; its checksum is computed anew with the destination
//!   bucket's type while copying (and the data is checked against the source's checksum);
//! - copying an object onto itself, or onto a destination that already holds the same checksum,
//!   changes nothing;
//! - a rename onto an existing name replaces that object.

use std::path::Path;
use std::sync::Arc;

use super::{ClientChecksum, Store, StoreError};
use crate::cache::CoreView;
use crate::cksum::CksumType;
use crate::fqn;
use crate::io as rio;
use crate::io::sys;
use crate::lom::{Lom, XATTR_LOM};

/// Bytes read from the source per ring read (the copy holds at most this much in memory).
pub const COPY_CHUNK: usize = 1 << 20;

/// The metadata a copy takes from its source (stored by `PutHandle::finish`).
#[derive(Debug, Clone)]
pub struct CopiedMeta {
    /// The version to store.
    pub version: Option<String>,
    /// Custom metadata (without the shortened-name record, which the destination sets).
    pub custom: Vec<(String, String)>,
}

/// What a copy did.
#[derive(Debug, Clone)]
pub enum CopyOutcome {
    /// The destination was written; its metadata.
    Copied(Lom),
    /// Nothing to do: the destination is the source, or already holds the same content.
    Unchanged,
}

/// The LOM of `obj` at `path` if it is a valid object of the bucket incarnation `bid`.
fn existing_lom(path: &Path, bid: u64) -> Option<Lom> {
    let mut buf = Vec::new();
    match sys::getxattr(path, XATTR_LOM, &mut buf) {
        Ok(true) => {}
        _ => return None,
    }
    let lom = Lom::decode(&buf).ok()?;
    let len = std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_file())?
        .len();
    (lom.bid() == bid && lom.size >= 0 && lom.size as u64 == len).then_some(lom)
}

/// The LOM at `path` if it is one of the bucket incarnation `bid` (any size: a chunked
/// object's first file is one chunk).
fn existing_lom_any(path: &Path, bid: u64) -> Option<Lom> {
    let mut buf = Vec::new();
    match sys::getxattr(path, XATTR_LOM, &mut buf) {
        Ok(true) => Lom::decode(&buf).ok().filter(|l| l.bid() == bid),
        _ => None,
    }
}

impl Store {
    /// Copies `src_bucket/src_obj` to `dst_bucket/dst_obj`. The source must exist (else
    /// `ObjNotFound`), both buckets too (`BucketNotFound`); the source is never changed.
    pub async fn copy_object(
        self: &Arc<Self>,
        view: &CoreView,
        src_bucket: &str,
        src_obj: &str,
        dst_bucket: &str,
        dst_obj: &str,
    ) -> Result<CopyOutcome, StoreError> {
        names_ok(dst_bucket, dst_obj)?;
        let dst_props = self.bucket(dst_bucket)?;
        let src = self.open_object(view, src_bucket, src_obj).await?;
        if src_bucket == dst_bucket && src_obj == dst_obj {
            return Ok(CopyOutcome::Unchanged);
        }
        // A destination with the same checksum is left as it is (AIS: `EqCksum`).
        let (_, dst_mp) = self.place(dst_bucket, dst_obj)?;
        let dst_fqn = fqn::object_fqn(&dst_mp.path, dst_bucket, dst_obj);
        if src.lom.cksum_type != CksumType::None.as_str() {
            if let Some(d) = existing_lom(&dst_fqn, dst_props.bid) {
                if d.cksum_type == src.lom.cksum_type
                    && d.cksum_value == src.lom.cksum_value
                    && d.size == src.lom.size
                {
                    return Ok(CopyOutcome::Unchanged);
                }
            }
        }
        let mut put = self.put_begin(dst_bucket, dst_obj, None).await?;
        if let Some(t) = CksumType::parse(&src.lom.cksum_type) {
            // The bytes read must be the bytes the source's checksum vouches for.
            put.expect_checksum(ClientChecksum {
                cksum_type: t,
                value: src.lom.cksum_value.clone(),
            });
        }
        let version = if src_bucket == dst_bucket {
            src.lom.version.clone()
        } else {
            Some("1".to_string())
        };
        let custom = src
            .lom
            .custom
            .iter()
            .filter(|(k, _)| !super::custom::is_internal(k))
            .cloned()
            .collect();
        put.set_copied_meta(CopiedMeta { version, custom });
        let mut buf = Vec::with_capacity(COPY_CHUNK.min(src.size.max(1) as usize));
        // A monolithic source is one file; a chunked one its chunks in order.
        let pieces: Vec<(&crate::io::Fd, u64)> = if src.chunks.is_empty() {
            vec![(&src.fd, src.size)]
        } else {
            src.chunks.iter().map(|c| (&c.fd, c.size)).collect()
        };
        for (fd, size) in pieces {
            let mut off = 0u64;
            while off < size {
                buf.clear();
                let (r, b) = rio::read_at(fd, buf, off).await;
                buf = b;
                let n = match r {
                    Ok(0) => {
                        return Err(StoreError::MetaCorrupt(
                            src_bucket.into(),
                            src_obj.into(),
                            format!("file ends at {off}, its size is {size}"),
                        ))
                    }
                    Ok(n) => n.min((size - off) as usize),
                    Err(e) => {
                        let p = fqn::object_fqn(&src.mp.path, src_bucket, src_obj);
                        return Err(StoreError::io("read", &p, e));
                    }
                };
                buf.truncate(n);
                off += n as u64;
                let (r, b) = put.write(buf).await;
                buf = b;
                r?;
            }
        }
        // The source is checked against its size in `open_object`; a file that grew since
        // (changed behind the node's back) is copied only up to that size.
        let lom = put.finish().await.map_err(|e| match e {
            StoreError::BadChecksum {
                cksum_type,
                expected,
                computed,
                ..
            } => StoreError::MetaCorrupt(
                src_bucket.into(),
                src_obj.into(),
                format!(
                    "data does not match its {cksum_type} checksum {expected} (read {computed})"
                ),
            ),
            e => e,
        })?;
        Ok(CopyOutcome::Copied(lom))
    }

    /// Renames `bucket/src` to `bucket/dst` (`dst` replaced if it exists). One `rename(2)` when
    /// both names live on the same mountpath (and neither is a shortened name, whose LOM
    /// carries the name), else a copy and a delete of the source.
    pub async fn rename_object(
        self: &Arc<Self>,
        view: &CoreView,
        bucket: &str,
        src: &str,
        dst: &str,
    ) -> Result<(), StoreError> {
        names_ok(bucket, dst)?;
        // Checks the source: exists, has valid metadata of this bucket incarnation.
        let chunked = self.open_object(view, bucket, src).await?.lom.is_chunked();
        let (sd, smp) = self.place(bucket, src)?;
        let (dd, dmp) = self.place(bucket, dst)?;
        // A chunked object's manifest and chunks are named after it: copied, not renamed.
        if smp.id != dmp.id || fqn::is_fntl(src) || fqn::is_fntl(dst) || chunked {
            self.copy_object(view, bucket, src, bucket, dst).await?;
            if let Err(e) = self.delete_object(bucket, src).await {
                // As AIS: the new name is in place; the old one could not be removed.
                tracing::warn!(
                    bucket,
                    src,
                    dst,
                    "rename: copied, but removing the source failed: {e}"
                );
            }
            return Ok(());
        }
        let from = fqn::object_fqn(&smp.path, bucket, src);
        let to = fqn::object_fqn(&dmp.path, bucket, dst);
        let props = self.bucket(bucket)?;
        if fqn::crosses_symlink(&to, dst, false) {
            tracing::warn!(path = %to.display(), "refused: the object's path crosses a symlink in the mountpath");
            return Err(StoreError::NameConflict(bucket.into(), dst.into()));
        }
        let replaced = existing_lom_any(&to, props.bid).filter(|l| l.is_chunked());
        let mut r = rio::rename(&from, &to).await;
        if matches!(&r, Err(e) if e.raw_os_error() == Some(libc::ENOENT)) && from.exists() {
            // The destination's virtual directory does not exist yet.
            let dir = to.parent().expect("an object path has a parent");
            r = match rio::mkdir_all(dir, 0o755).await {
                Ok(()) => rio::rename(&from, &to).await,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR) | Some(libc::EEXIST)) => {
                    return Err(StoreError::NameConflict(bucket.into(), dst.into()))
                }
                Err(e) => return Err(StoreError::io("mkdir", dir, e)),
            };
        }
        // Both names may have changed, whatever the outcome.
        self.generations.bump(sd);
        self.generations.bump(dd);
        match r {
            Ok(()) => {
                if let Some(old) = replaced {
                    self.remove_chunked_leftovers(&dmp.path, bucket, dst, &old)
                        .await;
                }
                Ok(())
            }
            // The source went away meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                Err(StoreError::ObjNotFound(bucket.into(), src.into()))
            }
            Err(e) => Err(StoreError::of_rename(&to, bucket, dst, e)
                .unwrap_or_else(|| StoreError::ObjNotFound(bucket.into(), src.into()))),
        }
    }
}

/// Validates a bucket and object name pair.
fn names_ok(bucket: &str, obj: &str) -> Result<(), StoreError> {
    crate::names::validate_bucket(bucket)
        .map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
    crate::names::validate_object_or_marker(obj)
        .map_err(|e| StoreError::BadObjName(bucket.into(), e))
}
