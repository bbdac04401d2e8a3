//! On-disk layout of a mountpath: where a bucket, an object and a work file live (FQNs).
//!
//! Layout (AISTORE.md §3.1, global namespace, `ais` provider only):
//!
//! ```text
//! <mountpath>/@ais/<bucket>/%ob/<object name, '/' as real directories>
//! <mountpath>/@ais/<bucket>/%ob/.x<sha256 hex of the full FQN>   (names too long, §3.2)
//! <mountpath>/@ais/<bucket>/%wk/put.<obj digest hex>.<tie>.<pid hex>
//! <mountpath>/@ais/<bucket>/%ch/<object name>.<upload id>.<NNNN>       (chunk files)
//! <mountpath>/@ais/<bucket>/%ut/<object name>[.<upload id>]          (chunk manifests)
//! <mountpath>/.$deleted/                                          (trash)
//! ```
//!
//! Mountpaths passed in must already be clean (`hrw::clean_path`): the shortened name hashes
//! the FQN string, so `/mp//1` and `/mp/1` would give different names for one object.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::cksum::hex;

/// Directory of `ais://` buckets (global namespace) under a mountpath.
pub const PROVIDER_DIR: &str = "@ais";
/// Content-type directory of objects.
pub const OBJ_DIR: &str = "%ob";
/// Content-type directory of work (temporary) files.
pub const WORK_DIR: &str = "%wk";
/// Content-type directory of chunk files of chunked objects (AIS `ChunkCT`).
pub const CHUNK_DIR: &str = "%ch";
/// Content-type directory of chunk manifests (AIS `ChunkMetaCT`).
pub const UFEST_DIR: &str = "%ut";
/// Per-mountpath trash directory; destroyed buckets are renamed into it.
pub const DELETED_DIR: &str = ".$deleted";

/// Longest file name (one path component) the filesystem stores, in bytes (NAME_MAX).
pub const FILE_NAME_BYTES_MAX: usize = 255;
/// Longest object name stored under its own name, in bytes (AIS's limit before shortening).
pub const OBJ_NAME_UNSHORTENED_BYTES_MAX: usize = 3072;

/// Prefix of the work file of a PUT.
pub const WORK_PREFIX_PUT: &str = "put";

/// `<mp>/@ais/<bucket>`.
pub fn bucket_dir(mp: &Path, bucket: &str) -> PathBuf {
    mp.join(PROVIDER_DIR).join(bucket)
}

/// `<mp>/@ais/<bucket>/%ob`.
pub fn obj_dir(mp: &Path, bucket: &str) -> PathBuf {
    bucket_dir(mp, bucket).join(OBJ_DIR)
}

/// `<mp>/@ais/<bucket>/%wk`.
pub fn work_dir(mp: &Path, bucket: &str) -> PathBuf {
    bucket_dir(mp, bucket).join(WORK_DIR)
}

/// `<mp>/@ais/<bucket>/%ch`.
pub fn chunk_dir(mp: &Path, bucket: &str) -> PathBuf {
    bucket_dir(mp, bucket).join(CHUNK_DIR)
}

/// `<mp>/@ais/<bucket>/%ut`.
pub fn ufest_dir(mp: &Path, bucket: &str) -> PathBuf {
    bucket_dir(mp, bucket).join(UFEST_DIR)
}

/// `<mp>/.$deleted`.
pub fn deleted_dir(mp: &Path) -> PathBuf {
    mp.join(DELETED_DIR)
}

/// Whether an object name is too long to be stored under its own name ("fntl").
///
/// AIS rule (§3.2): longer than 255 bytes and (longer than 3072 bytes or a basename longer
/// than 255 bytes). Deviation: we also shorten when *any* directory component is longer than
/// 255 bytes, because the filesystem cannot create that directory either (AIS would fail the
/// PUT with ENAMETOOLONG). Such a component implies a name longer than 255 bytes, so every
/// name AIS shortens we shorten too.
pub fn is_fntl(obj: &str) -> bool {
    if obj.len() <= FILE_NAME_BYTES_MAX {
        return false;
    }
    obj.len() > OBJ_NAME_UNSHORTENED_BYTES_MAX
        || obj
            .split('/')
            .any(|component| component.len() > FILE_NAME_BYTES_MAX)
}

/// Whether the path `fqn` of object `obj` (its `%ob` file, or a chunk named after it) crosses
/// a symbolic link below its content-type folder: one of the directories the name makes
/// (`a/b/c` → `a/b`, `a`) is a symlink, or with `leaf` the file itself is. The node never
/// makes a symlink; one planted in a mountpath could lead a PUT, GET or DELETE outside the
/// bucket's folders, so such a path is treated as no object (GET, DELETE) or refused (PUT).
/// One `lstat` per directory level of the name (none for a flat name); checked before the
/// operation, so a symlink swapped in while it runs is not covered.
pub fn crosses_symlink(fqn: &Path, obj: &str, leaf: bool) -> bool {
    let is_link = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    if leaf && is_link(fqn) {
        return true;
    }
    let levels = if is_fntl(obj) {
        0
    } else {
        obj.matches('/').count()
    };
    let mut p = fqn;
    for _ in 0..levels {
        match p.parent() {
            Some(d) => p = d,
            None => break,
        }
        if is_link(p) {
            return true;
        }
    }
    false
}

/// The file name of an S3 folder marker (object `a/` is the file `%ob/a/<DIR_MARKER>`): it
/// starts with a control byte, which no object name may contain (`names.rs`), so it never
/// collides with an object; listings show it as its directory's name with a trailing `/`.
pub const DIR_MARKER: &str = "\u{1}dir";

/// The FQN of an object: `%ob/<obj>`, or `%ob/.x<sha256 hex>` for a name too long, where the
/// SHA-256 is of the FQN the object would have had unshortened (`lom.ShortenFntl` in AIS).
/// A folder marker `a/` (`names::validate_object_or_marker`) is `%ob/a/<DIR_MARKER>`.
pub fn object_fqn(mp: &Path, bucket: &str, obj: &str) -> PathBuf {
    let dir = obj_dir(mp, bucket);
    match shortened(&dir, obj) {
        Some(ubase) => dir.join(ubase),
        None => match obj.strip_suffix('/') {
            Some(d) => dir.join(d).join(DIR_MARKER),
            None => dir.join(obj),
        },
    }
}

/// The `.x<sha256 hex>` file name of a shortened object, or `None` if the name fits.
pub fn fntl_name(mp: &Path, bucket: &str, obj: &str) -> Option<String> {
    shortened(&obj_dir(mp, bucket), obj)
}

fn shortened(obj_dir: &Path, obj: &str) -> Option<String> {
    if !is_fntl(obj) {
        return None;
    }
    let full = obj_dir.join(obj);
    let sum = sha2::Sha256::digest(full.as_os_str().as_bytes());
    Some(format!(".x{}", hex(&sum)))
}

/// The name under a content-type directory of a derived file (chunk, manifest), as AIS's
/// `CSM.Gen` builds it: the object name, itself replaced by `.x<sha256 hex of the name>`
/// when too long, then `suffix`; and the whole result replaced by `.x<sha256 hex of it>`
/// when that is too long. Unlike `%ob` (which hashes the FQN) only names are hashed here.
fn derived_ubase(obj: &str, suffix: &str) -> String {
    let oname = if is_fntl(obj) {
        format!(".x{}", hex(&sha2::Sha256::digest(obj.as_bytes())))
    } else {
        obj.to_string()
    };
    let ubase = oname + suffix;
    if is_fntl(&ubase) {
        format!(".x{}", hex(&sha2::Sha256::digest(ubase.as_bytes())))
    } else {
        ubase
    }
}

/// The chunk number as AIS prints it in names and HRW keys: 4 zero-padded digits.
pub fn chunk_num_str(num: u16) -> String {
    format!("{num:04}")
}

/// The file of chunk `num` of upload `id`: `<mp>/@ais/<bucket>/%ch/<obj>.<id>.<NNNN>`,
/// with '/' in the object name as real directories. A too-long object name is first
/// replaced by `.x<sha256 hex of the name>`; a too-long result as a whole by
/// `.x<sha256 hex of <obj>.<id>.<NNNN>>` (AIS `fs.CSM.Gen`). `id` must pass
/// `ufest::check_id` (no '/').
pub fn chunk_fqn(mp: &Path, bucket: &str, obj: &str, id: &str, num: u16) -> PathBuf {
    let suffix = format!(".{id}.{}", chunk_num_str(num));
    chunk_dir(mp, bucket).join(derived_ubase(obj, &suffix))
}

/// The chunk manifest of an object: the completed one `%ut/<obj>` (`id` None) or the
/// partial one of an upload `%ut/<obj>.<id>`; long names shortened as in `chunk_fqn`.
pub fn ufest_fqn(mp: &Path, bucket: &str, obj: &str, id: Option<&str>) -> PathBuf {
    let suffix = id.map(|id| format!(".{id}")).unwrap_or_default();
    ufest_dir(mp, bucket).join(derived_ubase(obj, &suffix))
}

/// The work file of a PUT: `<bucket_dir>/%wk/put.<016x obj_digest>.<tie>.<pid hex>`.
///
/// Flat, with the digest in place of the object name: `%wk` needs no subdirectories and the
/// name is short whatever the object name. `tie` separates concurrent PUTs of one object; it
/// must be non-empty and free of '.' and '/' (a programmer error otherwise), so that
/// `parse_work_pid` can split the name.
pub fn work_fqn(mp: &Path, bucket: &str, obj_digest: u64, tie: &str) -> PathBuf {
    assert!(!tie.is_empty(), "work file tie must not be empty");
    assert!(
        !tie.contains('.'),
        "work file tie must not contain '.': {tie:?}"
    );
    assert!(
        !tie.contains('/'),
        "work file tie must not contain '/': {tie:?}"
    );
    let name = format!(
        "{WORK_PREFIX_PUT}.{obj_digest:016x}.{tie}.{:x}",
        std::process::id()
    );
    work_dir(mp, bucket).join(name)
}

/// The pid that created a work file, from its name `<prefix>.<base>.<tie>.<pid hex>`; `None`
/// if the name does not have that shape. Startup deletes work files of pids not running.
pub fn parse_work_pid(file_name: &str) -> Option<u32> {
    let mut parts = file_name.rsplit('.');
    let pid_hex = parts.next()?;
    let tie = parts.next()?;
    let base = parts.next()?;
    // The prefix is what remains; AIS prefixes contain no '.', but base could, so accept any.
    let prefix_nonempty = parts.next().is_some_and(|p| !p.is_empty());
    if !prefix_nonempty || tie.is_empty() || base.is_empty() {
        return None;
    }
    let hex_ok = (1..=8).contains(&pid_hex.len())
        && pid_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex_ok {
        return None;
    }
    u32::from_str_radix(pid_hex, 16).ok()
}

/// The object name of an unshortened object FQN, given its `%ob` directory; `None` if the
/// path is not under `obj_dir`, is not UTF-8, or is a shortened (`.x…`) file.
pub fn obj_name_of(obj_dir: &Path, fqn: &Path) -> Option<String> {
    let rel = fqn.strip_prefix(obj_dir).ok()?;
    let name = rel.to_str()?;
    if name.is_empty() || crate::names::is_shortened_name(name) {
        return None;
    }
    Some(name.to_string())
}

/// The file name of a path as bytes, empty if it has none.
pub fn file_name_bytes(path: &Path) -> &[u8] {
    path.file_name().map(OsStr::as_bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::validate_object;
    use std::path::Component;

    fn mp() -> PathBuf {
        PathBuf::from("/ais/mp1")
    }

    /// Goal: the directory shapes of §3.1.
    #[test]
    fn layout() {
        assert_eq!(bucket_dir(&mp(), "b"), Path::new("/ais/mp1/@ais/b"));
        assert_eq!(obj_dir(&mp(), "b"), Path::new("/ais/mp1/@ais/b/%ob"));
        assert_eq!(work_dir(&mp(), "b"), Path::new("/ais/mp1/@ais/b/%wk"));
        assert_eq!(deleted_dir(&mp()), Path::new("/ais/mp1/.$deleted"));
        assert_eq!(
            object_fqn(&mp(), "b", "x/y/z.jpg"),
            Path::new("/ais/mp1/@ais/b/%ob/x/y/z.jpg")
        );
    }

    /// A name of exactly `len` bytes whose components are at most 200 bytes long.
    fn short_components(len: usize) -> String {
        let mut name = format!("{}/", "d".repeat(199)).repeat(len / 200 + 1);
        name.truncate(len);
        if name.ends_with('/') {
            name.pop();
            name.push('e');
        }
        assert_eq!(name.len(), len);
        name
    }

    /// Goal: the fntl rule at each boundary, including our deviation for long directories.
    #[test]
    fn fntl_decisions() {
        let c255 = "a".repeat(255);
        let c256 = "a".repeat(256);
        let cases = [
            (c255.clone(), false),
            (c256.clone(), true),
            // Long name, short components, at most 3072 bytes: kept.
            (vec!["d".repeat(200); 15].join("/"), false),
            // Short components: kept up to 3072 bytes, shortened past it.
            (short_components(3072), false),
            (short_components(3073), true),
            // Over 3072 bytes with short components: shortened.
            (vec!["d".repeat(200); 16].join("/"), true),
            // Long basename: shortened (AIS).
            (format!("dir/{c256}"), true),
            // Long directory component: shortened (our deviation).
            (format!("{c256}/f"), true),
            (format!("{c255}/f"), false),
        ];
        for (name, want) in cases {
            assert_eq!(is_fntl(&name), want, "len {}", name.len());
        }
    }

    /// Goal: shortened FQNs are `%ob/.x<sha256 of the unshortened FQN>`. Steps: compute the
    /// hash of the expected string by hand and compare; the name passes no other check.
    #[test]
    fn fntl_fqn() {
        let name = format!("dir/{}", "n".repeat(300));
        let full = format!("/ais/mp1/@ais/b/%ob/{name}");
        let want = format!(".x{}", hex(&sha2::Sha256::digest(full.as_bytes())));
        assert_eq!(fntl_name(&mp(), "b", &name), Some(want.clone()));
        assert_eq!(
            object_fqn(&mp(), "b", &name),
            obj_dir(&mp(), "b").join(&want)
        );
        assert!(crate::names::is_shortened_name(&want));
        // The hash depends on bucket and mountpath, like AIS.
        assert_ne!(fntl_name(&mp(), "c", &name), Some(want.clone()));
        assert_ne!(fntl_name(Path::new("/ais/mp2"), "b", &name), Some(want));
        assert_eq!(fntl_name(&mp(), "b", "short"), None);
        // Shortened names are reserved, so no user object can take one.
        assert!(validate_object(&format!(".x{}", "a".repeat(64))).is_err());
    }

    /// Goal: chunk and manifest paths have AIS's shapes (`fs/content.go`): `%ch/<obj>.<id>.
    /// <NNNN>` with a 4-digit number (numbers past 9999 in full, as AIS's `formatCnum`),
    /// `%ut/<obj>` and `%ut/<obj>.<id>`, '/' in names as directories.
    #[test]
    fn chunk_and_manifest_paths() {
        assert_eq!(chunk_dir(&mp(), "b"), Path::new("/ais/mp1/@ais/b/%ch"));
        assert_eq!(ufest_dir(&mp(), "b"), Path::new("/ais/mp1/@ais/b/%ut"));
        let cases = [
            (1, "/ais/mp1/@ais/b/%ch/x/y/z.bin.Xq7Zk2Lm9.0001"),
            (2, "/ais/mp1/@ais/b/%ch/x/y/z.bin.Xq7Zk2Lm9.0002"),
            (42, "/ais/mp1/@ais/b/%ch/x/y/z.bin.Xq7Zk2Lm9.0042"),
            (9999, "/ais/mp1/@ais/b/%ch/x/y/z.bin.Xq7Zk2Lm9.9999"),
            (10000, "/ais/mp1/@ais/b/%ch/x/y/z.bin.Xq7Zk2Lm9.10000"),
        ];
        for (num, want) in cases {
            assert_eq!(
                chunk_fqn(&mp(), "b", "x/y/z.bin", "Xq7Zk2Lm9", num),
                Path::new(want)
            );
        }
        assert_eq!(chunk_num_str(7), "0007");
        assert_eq!(
            ufest_fqn(&mp(), "b", "x/y/z.bin", None),
            Path::new("/ais/mp1/@ais/b/%ut/x/y/z.bin")
        );
        assert_eq!(
            ufest_fqn(&mp(), "b", "x/y/z.bin", Some("Xq7Zk2Lm9")),
            Path::new("/ais/mp1/@ais/b/%ut/x/y/z.bin.Xq7Zk2Lm9")
        );
        // The chunk key's number and the file's number are the same string.
        assert!(crate::hrw::chunk_key("Xq7Zk2Lm9", 2).ends_with(&chunk_num_str(2)));
        let fqn = chunk_fqn(&mp(), "b", "a/b/c", "Xq7Zk2Lm9", 3);
        let rel = fqn.strip_prefix(chunk_dir(&mp(), "b")).expect("under %ch");
        assert_eq!(rel.components().count(), 3);
        assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
    }

    /// Goal: long names are shortened as AIS's `CSM.Gen` does. Steps: (1) a name that fits
    /// but whose chunk name does not: the whole `<obj>.<id>.<NNNN>` becomes `.x<sha256>`
    /// directly under `%ch`; (2) a name too long itself: it becomes `.x<sha256 of the name>`
    /// and the suffix is kept; (3) a partial manifest whose id pushes the name over. The
    /// hashes were computed independently with Python's hashlib.
    #[test]
    fn chunk_and_manifest_long_names() {
        let fits = format!("dir/{}", "a".repeat(250));
        assert!(!is_fntl(&fits));
        assert_eq!(
            chunk_fqn(&mp(), "b", &fits, "Xq7Zk2Lm9", 2),
            Path::new(
                "/ais/mp1/@ais/b/%ch/.x87d11062cc53b4873c145f823f5a49b91199390000320ada8ea9a5e9420ed842"
            )
        );
        // The completed manifest of the same object keeps its name.
        assert_eq!(
            ufest_fqn(&mp(), "b", &fits, None),
            ufest_dir(&mp(), "b").join(&fits)
        );
        let long = format!("d/{}", "n".repeat(300));
        let short = ".xc7ce6bfd7ece5f4fd94ab3b5a4cb6fd2bb52302756af6f8ed3fa5c2f49eae2af";
        assert_eq!(
            chunk_fqn(&mp(), "b", &long, "Xq7Zk2Lm9", 17),
            chunk_dir(&mp(), "b").join(format!("{short}.Xq7Zk2Lm9.0017"))
        );
        assert_eq!(
            ufest_fqn(&mp(), "b", &long, None),
            ufest_dir(&mp(), "b").join(short)
        );
        assert_eq!(
            ufest_fqn(&mp(), "b", &long, Some("Xq7Zk2Lm9")),
            ufest_dir(&mp(), "b").join(format!("{short}.Xq7Zk2Lm9"))
        );
        // Unlike %ob, the name (not the FQN) is hashed: the same on every mountpath.
        assert_eq!(
            chunk_fqn(Path::new("/ais/mp2"), "b", &long, "Xq7Zk2Lm9", 17)
                .file_name()
                .map(OsStr::to_os_string),
            chunk_fqn(&mp(), "b", &long, "Xq7Zk2Lm9", 17)
                .file_name()
                .map(OsStr::to_os_string)
        );
        let id = "i".repeat(128);
        let obj = format!("x/{}", "m".repeat(200));
        let want = format!(
            ".x{}",
            hex(&sha2::Sha256::digest(format!("{obj}.{id}").as_bytes()))
        );
        assert_eq!(
            ufest_fqn(&mp(), "b", &obj, Some(&id)),
            ufest_dir(&mp(), "b").join(want)
        );
        // Every generated file name fits NAME_MAX.
        for obj in [fits.as_str(), long.as_str(), obj.as_str()] {
            for p in [
                chunk_fqn(&mp(), "b", obj, &id, 9999),
                ufest_fqn(&mp(), "b", obj, Some(&id)),
                ufest_fqn(&mp(), "b", obj, None),
            ] {
                assert!(file_name_bytes(&p).len() <= FILE_NAME_BYTES_MAX, "{p:?}");
            }
        }
    }

    /// Goal: unshortened FQNs map back to their object names.
    #[test]
    fn obj_name_round_trip() {
        let dir = obj_dir(&mp(), "b");
        for name in ["a", "a/b/c.txt", "...", "ü/ñ", &"x".repeat(255)] {
            let fqn = object_fqn(&mp(), "b", name);
            assert_eq!(obj_name_of(&dir, &fqn).as_deref(), Some(name));
        }
        let long = "y".repeat(256);
        assert_eq!(obj_name_of(&dir, &object_fqn(&mp(), "b", &long)), None);
        assert_eq!(obj_name_of(&dir, Path::new("/elsewhere/a")), None);
    }

    /// Goal: work files have the AIS shape and give back their pid; junk gives `None`.
    #[test]
    fn work_files() {
        let fqn = work_fqn(&mp(), "b", 0xd6f9653a380c33e5, "a1z");
        let name = fqn.file_name().and_then(OsStr::to_str).expect("utf-8 name");
        assert_eq!(fqn.parent(), Some(work_dir(&mp(), "b").as_path()));
        assert_eq!(
            name,
            format!("put.d6f9653a380c33e5.a1z.{:x}", std::process::id())
        );
        assert_eq!(parse_work_pid(name), Some(std::process::id()));
        assert_eq!(parse_work_pid("put.0000000000000001.abc.1f"), Some(0x1f));
        assert_eq!(
            parse_work_pid("cold.some.name.jpg.xyz.ffffffff"),
            Some(u32::MAX)
        );
        for junk in [
            "",
            "put",
            "put.x.1f",
            ".x.y.1f",
            "put..t.1f",
            "put.b..1f",
            "put.b.t.",
            "put.b.t.1F",
            "put.b.t.100000000",
            "put.b.t.-1",
            "put.b.t.+1",
            "put.b.t.g",
        ] {
            assert_eq!(parse_work_pid(junk), None, "{junk:?}");
        }
    }

    /// Goal: a valid object name never leaves its bucket's `%ob`. Steps: generate names from
    /// an alphabet rich in '.', '/' and '~', keep the valid ones, and check every component
    /// of the path below `%ob` is a normal name.
    #[test]
    fn valid_names_stay_inside() {
        let alphabet: &[u8] = b"./~ax";
        let dir = obj_dir(&mp(), "b");
        let mut checked = 0;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 1 + (state % 9) as usize;
            let name: String = (0..len)
                .map(|i| {
                    alphabet[((state >> (8 + 5 * i)) % alphabet.len() as u64) as usize] as char
                })
                .collect();
            if validate_object(&name).is_err() {
                continue;
            }
            checked += 1;
            let fqn = object_fqn(&mp(), "b", &name);
            let rel = fqn.strip_prefix(&dir).expect("under %ob");
            assert!(
                rel.components().all(|c| matches!(c, Component::Normal(_))),
                "{name:?}"
            );
            assert_eq!(
                rel.components().count(),
                name.split('/').count(),
                "{name:?}"
            );
        }
        assert!(checked > 1000, "only {checked} valid names generated");
    }

    #[test]
    fn crosses_symlink_finds_a_planted_directory_or_file_link() {
        // Goal: a symlink at any directory level the name makes is found, the file itself
        // only when asked; real directories, missing ones and shortened names are not links.
        let dir = std::env::temp_dir().join(format!("aisle-fqn-symlink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ob = dir.join("%ob");
        std::fs::create_dir_all(ob.join("real/sub")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        std::os::unix::fs::symlink(dir.join("outside"), ob.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.join("outside"), ob.join("real/deep")).unwrap();
        std::fs::write(dir.join("outside/f"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.join("outside/f"), ob.join("filelink")).unwrap();
        for (obj, leaf, want) in [
            ("link/x", false, true),
            ("link/a/b", false, true),
            ("real/deep/x", false, true),
            ("real/sub/x", false, false),
            ("missing/dir/x", false, false),
            ("filelink", false, false),
            ("filelink", true, true),
            ("real/sub", true, false),
            ("plain", true, false),
        ] {
            assert_eq!(
                crosses_symlink(&ob.join(obj), obj, leaf),
                want,
                "{obj} leaf={leaf}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
