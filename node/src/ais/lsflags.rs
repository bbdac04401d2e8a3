//! The `flags` of a list-objects request (AIS's `apc.LsoMsg.Flags`, bit positions as in
//! `api/apc/lsmsg.go`): each bit is implemented, ignorable for this node's `ais://` buckets (said
//! why), or refused — none is silently dropped.

use serde::Deserialize;

/// `LsCached`: only objects present in the cluster (every object of an `ais://` bucket is).
pub const LS_CACHED: u64 = 1 << 0;
/// `LsMissing`: include objects whose main copy is missing but a copy exists.
pub const LS_MISSING: u64 = 1 << 1;
/// `LsDeleted`: objects marked for deletion (not implemented by AIS either).
pub const LS_DELETED: u64 = 1 << 2;
/// `LsArchDir`: list the content of archives as directories.
pub const LS_ARCH_DIR: u64 = 1 << 3;
/// `LsNameOnly`: names (and status) only.
pub const LS_NAME_ONLY: u64 = 1 << 4;
/// `LsNameSize`: names and sizes (an optimisation hint; the props decide what is listed).
pub const LS_NAME_SIZE: u64 = 1 << 5;
/// `LsBckPresent`: the bucket must be present in the cluster.
pub const LS_BCK_PRESENT: u64 = 1 << 6;
/// `LsDontHeadRemote`: remote buckets only.
pub const LS_DONT_HEAD_REMOTE: u64 = 1 << 7;
/// `LsDontAddRemote`: remote buckets only.
pub const LS_DONT_ADD_REMOTE: u64 = 1 << 8;
/// `LsNotCached`: objects of a remote bucket not present in the cluster.
pub const LS_NOT_CACHED: u64 = 1 << 9;
/// `lsWantOnlyRemoteProps`: remote buckets only.
pub const LS_ONLY_REMOTE_PROPS: u64 = 1 << 10;
/// `LsNoRecursion`: one level, with virtual directories.
pub const LS_NO_RECURSION: u64 = 1 << 11;
/// `LsDiff`: compare with the remote bucket's versions.
pub const LS_DIFF: u64 = 1 << 12;
/// `LsNoDirs`: no virtual-directory entries. For an `ais://` bucket it changes nothing: AIS's
/// target lists virtual directories exactly when `LsNoRecursion` is set, whatever this flag
/// says (`xact/xs/lso.go`: `IncludeDirs: LsNoRecursion`); only remote backends' common
/// prefixes are filtered by it (`xact/xs/nextpage.go`). AIS's SDK tests expect the same
/// (`test_list_object_flag_ops.py`: NO_RECURSION + NO_DIRS still lists `subdir/`), although
/// docs/howto_virt_dirs.md says otherwise.
pub const LS_NO_DIRS: u64 = 1 << 13;
/// `LsIsS3`: set by AIS's own S3 front end; changes nothing in a native listing.
pub const LS_IS_S3: u64 = 1 << 14;
/// `LsNBI`: list a native bucket inventory snapshot.
pub const LS_NBI: u64 = 1 << 15;

/// Bits that change nothing for an `ais://` bucket of this node (see each constant).
const IGNORABLE: u64 = LS_CACHED
    | LS_MISSING // no copies here, so no "main missing, copy present" objects
    | LS_DELETED // AIS: "not implemented yet"; nothing is marked for deletion
    | LS_NAME_SIZE
    | LS_BCK_PRESENT // an existing ais:// bucket is present by definition
    | LS_DONT_HEAD_REMOTE
    | LS_DONT_ADD_REMOTE
    | LS_ONLY_REMOTE_PROPS
    | LS_NO_DIRS
    | LS_IS_S3;
/// Bits implemented here.
const IMPLEMENTED: u64 = LS_NAME_ONLY | LS_NO_RECURSION;

/// What the flags ask of a listing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LsFlags {
    pub cached: bool,
    pub name_only: bool,
    pub no_recursion: bool,
}

/// Checks `flags` for a listing of `ais://bucket`: `Err((status, message))` for a flag this
/// node refuses — 400 where AIS refuses it for an `ais://` bucket, 501 where AIS would do
/// something this node does not implement.
pub fn check(bucket: &str, flags: u64) -> Result<LsFlags, (u16, String)> {
    if flags & LS_NOT_CACHED != 0 {
        // AIS's message (`_lsofc`).
        let m = format!("ais://{bucket} is not a remote bucket - cannot list 'not cached' objects");
        return Err((400, m));
    }
    if flags & LS_DIFF != 0 {
        // AIS's message (`_checkVerChanged`).
        let m = format!(
            "cannot perform remote versions check (or diff vs remote bucket): bucket ais://{bucket} \
             does not provide remote versioning info"
        );
        return Err((400, m));
    }
    if flags & LS_ARCH_DIR != 0 {
        let m = format!(
            "bucket \"ais://{bucket}\": listing archives as directories (flag LsArchDir) is not \
             implemented by this node yet"
        );
        return Err((501, m));
    }
    if flags & LS_NBI != 0 {
        let m = format!(
            "bucket \"ais://{bucket}\": listing a native bucket inventory (flag LsNBI) is not \
             implemented by this node"
        );
        return Err((501, m));
    }
    let unknown = flags & !(IGNORABLE | IMPLEMENTED);
    if unknown != 0 {
        let m = format!(
            "bucket \"ais://{bucket}\": list-objects flags {unknown:#x} are not implemented by this node"
        );
        return Err((501, m));
    }
    Ok(LsFlags {
        cached: flags & LS_CACHED != 0,
        name_only: flags & LS_NAME_ONLY != 0,
        no_recursion: flags & LS_NO_RECURSION != 0,
    })
}

/// `flags` as AIS sends it (`json:"flags,string"`: a decimal string); a number or null is
/// taken too.
pub fn de_flags<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::Null => Ok(0),
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| D::Error::custom(format!("invalid flags {n}"))),
        serde_json::Value::String(s) if s.is_empty() => Ok(0),
        serde_json::Value::String(s) => s
            .parse()
            .map_err(|_| D::Error::custom(format!("invalid flags {s:?}"))),
        other => Err(D::Error::custom(format!("invalid flags {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bit_has_a_decision() {
        for bit in 0..64 {
            let r = check("b", 1u64 << bit);
            match bit {
                4 | 11 | 13 => assert!(r.is_ok(), "bit {bit}"),
                0 | 1 | 2 | 5 | 6 | 7 | 8 | 10 | 14 => {
                    assert_eq!(
                        r,
                        Ok(LsFlags {
                            cached: bit == 0,
                            ..Default::default()
                        }),
                        "bit {bit}"
                    )
                }
                9 | 12 => assert_eq!(r.unwrap_err().0, 400, "bit {bit}"),
                _ => assert_eq!(r.unwrap_err().0, 501, "bit {bit}"),
            }
        }
    }

    #[test]
    fn flags_parse_as_the_sdk_sends_them() {
        #[derive(Deserialize)]
        struct M {
            #[serde(deserialize_with = "de_flags")]
            flags: u64,
        }
        let f = |s: &str| serde_json::from_str::<M>(s).map(|m| m.flags);
        assert_eq!(f(r#"{"flags":"2048"}"#).unwrap(), 2048);
        assert_eq!(f(r#"{"flags":10240}"#).unwrap(), 10240);
        assert_eq!(f(r#"{"flags":null}"#).unwrap(), 0);
        assert!(f(r#"{"flags":"x"}"#).is_err());
        assert!(f(r#"{"flags":-1}"#).is_err());
    }
}
