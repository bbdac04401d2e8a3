//! Reads and deletes: `open_object` (GET/HEAD: from the core's object cache while current,
//! else open the file on its HRW mountpath, verify the LOM, cache it) and `delete_object`.

use std::rc::Rc;

use super::{Store, StoreError};
use crate::cache::{CoreView, ObjectHandle};
use crate::io::{self as rio, sys};
use crate::lom::{Lom, XATTR_LOM};
use crate::{fqn, hrw};

impl Store {
    /// Opens an object for GET or HEAD: from the core's cache when still current, else opens
    /// the file, loads and checks its metadata, and caches it.
    pub async fn open_object(
        &self,
        view: &CoreView,
        bucket: &str,
        obj: &str,
    ) -> Result<Rc<ObjectHandle>, StoreError> {
        Store::check_names(bucket, obj)?;
        self.refresh_view(view);
        let bid = view
            .with_bmd(|b| b.buckets.get(bucket).map(|p| p.bid))
            .ok_or_else(|| StoreError::BucketNotFound(bucket.to_string()))?;
        let digest = hrw::obj_digest(bucket, obj);
        let stamp = self.generations.stamp(digest);
        if let Some(h) = view.lookup(digest, bucket, obj, stamp) {
            if h.lom.bid() == bid {
                return Ok(h);
            }
        }
        let mp = view
            .with_mountpaths(|m| m.place(digest).cloned())
            .ok_or(StoreError::NoMountpaths)?;
        let path = fqn::object_fqn(&mp.path, bucket, obj);
        let fd = match rio::open(&path, libc::O_RDONLY, 0).await {
            Ok(fd) => fd,
            Err(e) => return Err(StoreError::of_object("open", &path, bucket, obj, e)),
        };
        let st = sys::fstat(&fd).map_err(|e| StoreError::io("fstat", &path, e))?;
        if !st.is_file {
            // A virtual directory (prefix of other objects), not an object.
            return Err(StoreError::ObjNotFound(bucket.into(), obj.into()));
        }
        let mut buf = Vec::new();
        let present = sys::fgetxattr(&fd, XATTR_LOM, &mut buf)
            .map_err(|e| StoreError::io("getxattr", &path, e))?;
        if !present {
            return Err(StoreError::MetaMissing(bucket.into(), obj.into()));
        }
        let lom = Lom::decode(&buf)
            .map_err(|e| StoreError::MetaCorrupt(bucket.into(), obj.into(), e.to_string()))?;
        if lom.bid() != bid {
            // Left over from an earlier incarnation of the bucket: never served.
            return Err(StoreError::ObjNotFound(bucket.into(), obj.into()));
        }
        if lom.size < 0 || lom.size as u64 != st.size {
            return Err(StoreError::MetaCorrupt(
                bucket.into(),
                obj.into(),
                format!("size {} in metadata, {} on disk", lom.size, st.size),
            ));
        }
        let body = if view.body_fits(st.size) {
            let mut b = Vec::with_capacity(st.size as usize);
            while (b.len() as u64) < st.size {
                let (at, want) = (b.len() as u64, st.size as usize - b.len());
                match sys::pread_append(&fd, &mut b, at, want) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(StoreError::io("read", &path, e)),
                }
            }
            if (b.len() as u64) != st.size {
                return Err(StoreError::MetaCorrupt(
                    bucket.into(),
                    obj.into(),
                    "file shorter than its size".into(),
                ));
            }
            Some(b.into_boxed_slice())
        } else {
            None
        };
        let h = Rc::new(ObjectHandle {
            fd,
            lom,
            body,
            size: st.size,
            atime_ns: st.atime_ns,
            atime_fs_ns: std::cell::Cell::new(st.atime_ns),
            digest,
            mtime_ns: st.mtime_ns,
            mp,
            bucket: bucket.to_string(),
            obj: obj.to_string(),
            stamp,
            cksum_verified: std::cell::Cell::new(false),
        });
        view.insert(digest, h.clone());
        Ok(h)
    }

    /// Deletes an object.
    pub async fn delete_object(&self, bucket: &str, obj: &str) -> Result<(), StoreError> {
        Store::check_names(bucket, obj)?;
        self.bucket(bucket)?;
        let (_, mp) = self.place(bucket, obj)?;
        let path = fqn::object_fqn(&mp.path, bucket, obj);
        let res = rio::unlink(&path, false).await;
        self.atimes.forget(hrw::obj_digest(bucket, obj));
        self.generations.bump(hrw::obj_digest(bucket, obj));
        res.map_err(|e| StoreError::of_object("unlink", &path, bucket, obj, e))
    }
}
