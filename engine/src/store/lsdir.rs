//! Non-recursive listing (AIS's `LsNoRecursion`): the objects directly under a prefix plus its
//! virtual subdirectories, each directory once (named with a trailing `/`) however many
//! mountpaths hold it, sorted by name, paged by name like every listing.
//!
//! Semantics, from AIS (`fs.WalkBck` with `IncludeDirs`, `cmn.CheckDirNoRecurs`, and
//! `ais/test/lso_test.go`):
//! - the level listed is the prefix up to its last `/`; entries are that level's objects and
//!   directories whose names start with the prefix (`"img"` → `img001`, `img-test/`);
//! - a prefix without a trailing `/` that names an existing virtual directory is that
//!   directory (`"img-test"` lists `img-test/obj1`, `img-test/pics/`; AIS's "virtual directory
//!   optimisation": names like `img-test_x` beside it are then not listed);
//! - a directory is listed without looking inside (as AIS, an emptied one too).

use std::collections::BTreeMap;
use std::io;

use super::{ListEntry, ListPage, ListQuery, StoreError};
use crate::mountpath::{Mountpath, MountpathSet};
use crate::{fqn, names};

/// The directory of `level` (a validated name, or empty for the bucket's root) on `mp`.
fn level_dir(mp: &Mountpath, bucket: &str, level: &str) -> std::path::PathBuf {
    if level.is_empty() {
        fqn::obj_dir(&mp.path, bucket)
    } else {
        fqn::obj_dir(&mp.path, bucket).join(level)
    }
}

/// Whether `name` can be the path of a directory under `%ob` (validated, never shortened).
fn dir_name_ok(name: &str) -> bool {
    names::validate_object(name).is_ok() && !fqn::is_fntl(name)
}

/// One page of a non-recursive listing of `bucket` over `mps`.
pub(super) fn list_no_recursion(
    mps: &MountpathSet,
    bucket: &str,
    q: &ListQuery,
) -> Result<ListPage, StoreError> {
    let page_size = super::list::page_size_of(q);
    let mut prefix = q.prefix.clone();
    if !prefix.is_empty()
        && !prefix.ends_with('/')
        && dir_name_ok(&prefix)
        && mps
            .iter()
            .any(|mp| mp.holds_data() && level_dir(mp, bucket, &prefix).is_dir())
    {
        prefix.push('/');
    }
    let (level, partial) = match prefix.rfind('/') {
        Some(i) => (&prefix[..i], &prefix[i + 1..]),
        None => ("", prefix.as_str()),
    };
    let mut page: BTreeMap<String, ListEntry> = BTreeMap::new();
    if !level.is_empty() && !dir_name_ok(level) {
        // No object name has such a directory: nothing matches (and no path is built from it).
        return Ok(ListPage::default());
    }
    let base = if level.is_empty() {
        String::new()
    } else {
        format!("{level}/")
    };
    for mp in mps.iter().filter(|m| m.holds_data()) {
        let dir = level_dir(mp, bucket, level);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                continue
            }
            Err(e) => return Err(StoreError::io("readdir", &dir, e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| StoreError::io("readdir", &dir, e))?;
            let Some(fname) = ent.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !fname.starts_with(partial) || fname == fqn::DIR_MARKER {
                // (An S3 folder marker is its directory, listed as `name/` one level up.)
                continue;
            }
            let ft = ent
                .file_type()
                .map_err(|e| StoreError::io("stat", &ent.path(), e))?;
            let (name, is_dir) = if ft.is_dir() {
                (format!("{base}{fname}/"), true)
            } else if ft.is_file() {
                (format!("{base}{fname}"), false)
            } else {
                continue;
            };
            if !name.starts_with(&prefix) || name.as_str() <= q.after.as_str() {
                continue;
            }
            if page.len() == page_size && page.last_key_value().is_some_and(|(k, _)| name >= *k) {
                continue;
            }
            if page.contains_key(&name) {
                continue; // the same directory, or a misplaced object, on another mountpath
            }
            let entry = if is_dir || q.name_only {
                ListEntry {
                    name: name.clone(),
                    is_dir,
                    ..Default::default()
                }
            } else {
                match super::list::object_entry(mp, name.clone(), &ent, q.with_lom)? {
                    Some(e) => e,
                    None => continue, // deleted meanwhile
                }
            };
            page.insert(name, entry);
            if page.len() > page_size {
                page.pop_last();
            }
        }
    }
    Ok(ListPage::of_sorted(page.into_values().collect(), page_size))
}
