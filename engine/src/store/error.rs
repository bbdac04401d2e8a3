//! `StoreError`, the typed error of every store operation, and the one mapping from an errno
//! of an object's path to it (the HTTP layer maps each variant to one status code).

use std::io;
use std::path::{Path, PathBuf};

use crate::bmd::BmdError;
use crate::names::NameError;

/// Errors of store operations; the HTTP layer maps each to one status code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bucket \"ais://{0}\" does not exist")]
    BucketNotFound(String),
    #[error("bucket \"ais://{0}\" already exists")]
    BucketExists(String),
    #[error("ais://{0}/{1} does not exist")]
    ObjNotFound(String, String),
    #[error("invalid bucket name {0:?}: {1}")]
    BadBucketName(String, NameError),
    #[error("invalid object name in ais://{0}: {1}")]
    BadObjName(String, NameError),
    #[error("BAD DATA CHECKSUM: ais://{bucket}/{obj}: {cksum_type} expected {expected}, computed {computed}")]
    BadChecksum {
        bucket: String,
        obj: String,
        cksum_type: String,
        expected: String,
        computed: String,
    },
    /// Object content that no longer matches its stored checksum (bit rot), found on GET
    /// with `checksum.validate_warm_get`; AIS's message shape (`cos.ErrBadCksum`).
    #[error(
        "BAD DATA CHECKSUM: {cksum_type}({computed} != {stored}) (context: ais://{bucket}/{obj})"
    )]
    DataCorrupt {
        bucket: String,
        obj: String,
        cksum_type: &'static str,
        stored: String,
        computed: String,
    },
    #[error("unsupported checksum type {0:?}")]
    UnsupportedChecksum(String),
    #[error("ais://{0}/{1}: object metadata is missing")]
    MetaMissing(String, String),
    #[error("ais://{0}/{1}: object metadata is corrupt: {2}")]
    MetaCorrupt(String, String, String),
    #[error("ais://{0}/{1}: name conflicts with an existing object or virtual directory")]
    NameConflict(String, String),
    /// A write asked to create the object only if it did not exist (S3 `If-None-Match: *`),
    /// and it does: nothing was changed.
    #[error("ais://{0}/{1} exists (the write was to create it only if absent)")]
    ObjExists(String, String),
    /// A write asked to replace the object only if its ETag matched (S3 `If-Match`), and it
    /// does not: nothing was changed.
    #[error("ais://{0}/{1}: the object's ETag does not match the write's If-Match")]
    EtagMismatch(String, String),
    #[error("ais://{0}/{1}: name too long: {2}")]
    NameTooLong(String, String, String),
    #[error("bad bucket properties: {0}")]
    BadProps(String),
    /// A make-n-copies request the node cannot honour (count out of range, too few
    /// mountpaths).
    #[error("invalid number of copies: {0}")]
    BadCopies(String),
    #[error("no mountpaths available")]
    NoMountpaths,
    /// A mountpath request naming a path that cannot be one (missing, not a directory, no
    /// user xattrs, nested in or containing another mountpath).
    #[error("{0}")]
    BadMountpath(String),
    /// A mountpath request that conflicts with the set (already attached, another node's,
    /// the last enabled one).
    #[error("{0}")]
    MountpathConflict(String),
    #[error("mountpath {0} is not attached to this node")]
    MountpathNotFound(String),
    #[error("ais://{0}/{1}: invalid append handle: {2}")]
    BadAppendHandle(String, String, String),
    #[error("too many appends in progress on this node (at most {0}); flush or wait")]
    AppendsBusy(usize),
    #[error(
        "ais://{0}/{1}: multipart upload {2:?} does not exist (unknown, completed or aborted)"
    )]
    UploadNotFound(String, String, String),
    #[error("ais://{0}/{1}: {2}")]
    BadUpload(String, String, String),
    #[error("ais://{0}/{1}: {2}")]
    UploadBusy(String, String, String),
    /// An S3 completion's part list refused (S3 only; see `Store::mpu_complete_s3`).
    #[error("ais://{1}/{2}: {3}")]
    PartList(super::mpu::PartListError, String, String, String),
    #[error(
        "too many multipart uploads in progress on this node (at most {0}); complete or abort some"
    )]
    UploadsBusy(usize),
    #[error("invalid custom metadata: {0}")]
    BadCustom(String),
    #[error("out of space on {path}: {err}")]
    NoSpace { path: PathBuf, err: io::Error },
    #[error("{op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: &Path, err: io::Error) -> StoreError {
        if err.raw_os_error() == Some(libc::ENOSPC) || err.raw_os_error() == Some(libc::EDQUOT) {
            return StoreError::NoSpace {
                path: path.to_path_buf(),
                err,
            };
        }
        super::fshc::report(path, &err);
        StoreError::Io {
            op,
            path: path.to_path_buf(),
            err,
        }
    }
}

impl From<BmdError> for StoreError {
    fn from(e: BmdError) -> Self {
        match e {
            BmdError::AlreadyExists(b) => StoreError::BucketExists(b),
            BmdError::NotFound(b) => StoreError::BucketNotFound(b),
            BmdError::BadProps(s) => StoreError::BadProps(s),
            BmdError::Io(err) => StoreError::Io {
                op: "bmd",
                path: PathBuf::new(),
                err,
            },
            other => StoreError::BadProps(other.to_string()),
        }
    }
}

impl StoreError {
    /// The error of `op` on the path of object `bucket/obj` failing with `err`: a missing file
    /// or a file where a directory should be means the object does not exist; a name the
    /// filesystem cannot hold is too long; the rest are I/O errors (out of space included).
    pub(crate) fn of_object(
        op: &'static str,
        path: &Path,
        bucket: &str,
        obj: &str,
        err: io::Error,
    ) -> StoreError {
        match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::EISDIR) => {
                StoreError::ObjNotFound(bucket.into(), obj.into())
            }
            Some(libc::ENAMETOOLONG) => StoreError::NameTooLong(
                bucket.into(),
                obj.into(),
                "the filesystem refused it".into(),
            ),
            _ => StoreError::io(op, path, err),
        }
    }

    /// The error of renaming a work file onto object `bucket/obj`: a directory or a file in the
    /// way (a name that is also another object's virtual directory, or the reverse) is a name
    /// conflict; a missing parent directory is `None` (make it and retry).
    pub(crate) fn of_rename(
        path: &Path,
        bucket: &str,
        obj: &str,
        err: io::Error,
    ) -> Option<StoreError> {
        match err.raw_os_error() {
            Some(libc::ENOENT) => None,
            Some(libc::ENOTDIR)
            | Some(libc::EISDIR)
            | Some(libc::ENOTEMPTY)
            | Some(libc::EEXIST) => Some(StoreError::NameConflict(bucket.into(), obj.into())),
            Some(libc::ENAMETOOLONG) => Some(StoreError::NameTooLong(
                bucket.into(),
                obj.into(),
                "the filesystem refused it".into(),
            )),
            _ => Some(StoreError::io("rename", path, err)),
        }
    }
}
