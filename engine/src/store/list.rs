//! Listing: one page of a bucket's objects, sorted by name, from a walk of `%ob` on every
//! mountpath (blocking pool) that keeps the page-size smallest names after the token.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Store, StoreError, LIST_PAGE_SIZE_MAX};
use crate::io::{self as rio, sys};
use crate::lom::{Lom, XATTR_LOM};
use crate::mountpath::{Mountpath, MountpathSet};
use crate::{fqn, hrw, names};

/// One listed object.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListEntry {
    /// Object name as stored (a shortened name shows as `.x…`, as in AIS).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Checksum value, when requested.
    pub checksum: String,
    /// Version, when requested.
    pub version: String,
    /// Access time, unix ns.
    pub atime_ns: i64,
    /// Mountpath the object lives on, when requested.
    pub location: String,
    /// Custom metadata as AIS lists it (`[k:v k2:v2]`), read with the LOM; empty if none.
    pub custom: String,
    /// A virtual directory (non-recursive listing): `name` ends with `/`, no other field.
    pub is_dir: bool,
    /// Stored chunked (its size is the LOM's, not the first chunk file's).
    pub chunked: bool,
    /// Modification time, unix ns (0 for a directory or a name-only listing).
    pub mtime_ns: i64,
    /// Checksum type, when the LOM was read.
    pub cksum_type: String,
    /// The custom `ETag` (unquoted), when the LOM was read and has one.
    pub etag: String,
}

/// What a listing should return.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only names starting with this.
    pub prefix: String,
    /// Only names strictly greater than this (the continuation token or `start_after`).
    pub after: String,
    /// Page size; 0 means `LIST_PAGE_SIZE_MAX`.
    pub page_size: usize,
    /// Read each object's LOM (checksum, version).
    pub with_lom: bool,
    /// Names only: no stat, no LOM (AIS's `LsNameOnly`).
    pub name_only: bool,
    /// Only the level of the prefix, with its virtual directories (AIS's `LsNoRecursion`).
    pub no_recursion: bool,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// Entries sorted by name.
    pub entries: Vec<ListEntry>,
    /// The last name when the page is full (more may follow), else empty.
    pub continuation_token: String,
}

impl Store {
    /// One page of a bucket listing, sorted by name (walks every mountpath on the blocking
    /// pool; names after `q.after` only, so repeated calls page through any number of objects).
    pub async fn list_objects(
        self: &Arc<Self>,
        bucket: &str,
        q: ListQuery,
    ) -> Result<ListPage, StoreError> {
        names::validate_bucket(bucket).map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
        self.bucket(bucket)?;
        let mps = self.mountpaths();
        let b = bucket.to_string();
        rio::spawn_blocking(move || list_blocking(&mps, &b, &q)).await
    }
}

impl ListPage {
    /// A page of `entries` (sorted by name, at most `page_size`): a full page ends with a
    /// continuation token (its last name), as more may follow.
    pub(super) fn of_sorted(entries: Vec<ListEntry>, page_size: usize) -> ListPage {
        debug_assert!(entries.len() <= page_size);
        let continuation_token = if entries.len() == page_size {
            entries.last().map(|e| e.name.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        ListPage {
            entries,
            continuation_token,
        }
    }
}

/// The page size a query asks for: 0 means, and anything larger is capped at,
/// `LIST_PAGE_SIZE_MAX`.
pub(super) fn page_size_of(q: &ListQuery) -> usize {
    if q.page_size == 0 {
        LIST_PAGE_SIZE_MAX
    } else {
        q.page_size.min(LIST_PAGE_SIZE_MAX)
    }
}

/// The listing entry of object `name`, the file `ent` on `mp`: size and atime from its
/// metadata, and with `with_lom` checksum, version and custom metadata from its LOM (an
/// unreadable LOM leaves them empty). `None` when the file was deleted meanwhile.
pub(super) fn object_entry(
    mp: &Mountpath,
    name: String,
    ent: &std::fs::DirEntry,
    with_lom: bool,
) -> Result<Option<ListEntry>, StoreError> {
    let path = ent.path();
    let md = match ent.metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("stat", &path, e)),
    };
    let mut e = ListEntry {
        name,
        size: md.len(),
        atime_ns: std::os::unix::fs::MetadataExt::atime(&md) * 1_000_000_000
            + std::os::unix::fs::MetadataExt::atime_nsec(&md),
        mtime_ns: std::os::unix::fs::MetadataExt::mtime(&md) * 1_000_000_000
            + std::os::unix::fs::MetadataExt::mtime_nsec(&md),
        location: mp.path.to_string_lossy().to_string(),
        ..Default::default()
    };
    // The LOM is read even without `with_lom`: a chunked object's size is in it alone.
    let mut buf = Vec::new();
    if let Ok(true) = sys::getxattr(&path, XATTR_LOM, &mut buf) {
        if let Ok(lom) = Lom::decode(&buf) {
            if lom.is_chunked() {
                e.chunked = true;
                e.size = lom.size.max(0) as u64;
            }
            if with_lom {
                e.checksum = lom.cksum_value;
                e.cksum_type = lom.cksum_type.clone();
                if let Some((_, v)) = lom.custom.iter().find(|(k, _)| k == super::CUSTOM_ETAG) {
                    e.etag = v.clone();
                }
                e.version = lom.version.clone().unwrap_or_default();
                e.custom = super::custom::custom_for_listing(&lom.custom);
            }
        }
    }
    Ok(Some(e))
}

/// Walks `%ob` of `bucket` on every data-holding mountpath and keeps the `page_size` smallest
/// names after `q.after` that start with `q.prefix`, each once (a misplaced object or a mirror
/// copy found on several mountpaths: the entry of its HRW mountpath, else the first found).
/// Directories that cannot hold a matching name are not entered.
fn list_blocking(mps: &MountpathSet, bucket: &str, q: &ListQuery) -> Result<ListPage, StoreError> {
    if q.no_recursion {
        return super::lsdir::list_no_recursion(mps, bucket, q);
    }
    let page_size = page_size_of(q);
    let mut page: BTreeMap<String, ListEntry> = BTreeMap::new();
    for mp in mps.iter().filter(|m| m.holds_data()) {
        let root = fqn::obj_dir(&mp.path, bucket);
        let mut stack: Vec<(PathBuf, String)> = vec![(root, String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("readdir", &dir, e)),
            };
            for ent in rd {
                let ent = ent.map_err(|e| StoreError::io("readdir", &dir, e))?;
                let Some(fname) = ent.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let name = if fname == fqn::DIR_MARKER && !rel.is_empty() {
                    // An S3 folder marker: the directory's name with a trailing '/'.
                    format!("{rel}/")
                } else if rel.is_empty() {
                    fname
                } else {
                    format!("{rel}/{fname}")
                };
                let ft = ent
                    .file_type()
                    .map_err(|e| StoreError::io("stat", &ent.path(), e))?;
                if ft.is_dir() {
                    let as_prefix = format!("{name}/");
                    // Enter only if some name under it can match the prefix.
                    if as_prefix.starts_with(&q.prefix) || q.prefix.starts_with(&as_prefix) {
                        stack.push((ent.path(), name));
                    }
                    continue;
                }
                if !ft.is_file()
                    || !name.starts_with(&q.prefix)
                    || name.as_str() <= q.after.as_str()
                {
                    continue;
                }
                if page.len() == page_size
                    && page.last_key_value().is_some_and(|(top, _)| name >= *top)
                {
                    continue;
                }
                // A mirror copy is listed once, as its main replica (`mirror.rs`): that also
                // covers shortened names, which differ per mountpath.
                if super::mirror::is_listed_as_main(mps, bucket, mp, &ent.path(), &name) {
                    continue;
                }
                if page.contains_key(&name) {
                    // Also on another mountpath: the HRW one's entry wins.
                    let at_hrw = mps
                        .place(hrw::obj_digest(bucket, &name))
                        .is_some_and(|p| p.id == mp.id);
                    if q.name_only || !at_hrw {
                        continue;
                    }
                }
                let e = if q.name_only {
                    ListEntry {
                        name: name.clone(),
                        ..Default::default()
                    }
                } else {
                    match object_entry(mp, name.clone(), &ent, q.with_lom)? {
                        Some(e) => e,
                        None => continue, // deleted meanwhile
                    }
                };
                page.insert(name, e);
                if page.len() > page_size {
                    page.pop_last();
                }
            }
        }
    }
    Ok(ListPage::of_sorted(page.into_values().collect(), page_size))
}
