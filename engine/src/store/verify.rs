//! Bit-rot detection on GET: with the bucket's `checksum.validate_warm_get` on, an object's
//! content is hashed and compared with the checksum in its LOM before any byte is sent
//! (`verify_content`); a verified cache entry is not hashed again while its stamp holds.

use super::{Store, StoreError};
use crate::cache::{CoreView, ObjectHandle};
use crate::cksum::{CksumType, Hasher};
use crate::fqn;
use crate::io as rio;

/// Bytes hashed per ring read while verifying a large object.
const VERIFY_CHUNK: usize = 1 << 20;

impl Store {
    /// Whether GETs in `bucket` verify content checksums (`checksum.validate_warm_get`), as
    /// this core's (refreshed) BMD snapshot says.
    pub fn validates_warm_get(&self, view: &CoreView, bucket: &str) -> bool {
        self.refresh_view(view);
        view.with_bmd(|b| b.get(bucket).is_some_and(|p| p.validate_warm_get))
    }

    /// Verifies that object `bucket/obj`, opened as `h`, still has the content its LOM's
    /// checksum vouches for, if the bucket asks for it (`validate_warm_get`). A mismatch is
    /// `DataCorrupt` (the caller sends none of the bytes). An object stored without a
    /// checksum (type `none`) has nothing to verify against. The result is remembered in the
    /// cache entry, so a hot object is hashed once per fill, not per GET.
    pub async fn verify_content(
        &self,
        view: &CoreView,
        bucket: &str,
        obj: &str,
        h: &ObjectHandle,
    ) -> Result<(), StoreError> {
        if h.cksum_verified.get() || !self.validates_warm_get(view, bucket) {
            return Ok(());
        }
        let t = match CksumType::parse(&h.lom.cksum_type) {
            Some(CksumType::None) | None => return Ok(()),
            Some(_) if h.lom.cksum_value.is_empty() => return Ok(()),
            Some(t) => t,
        };
        let computed = match &h.body {
            Some(b) => {
                let mut hs = Hasher::new(t);
                hs.update(b);
                hs.finish()
            }
            None => self.hash_file(bucket, obj, h, t).await?,
        };
        if !computed.eq_ignore_ascii_case(&h.lom.cksum_value) {
            tracing::error!(
                bucket,
                obj,
                cksum_type = t.as_str(),
                stored = %h.lom.cksum_value,
                computed,
                "BAD DATA CHECKSUM: object content does not match its metadata"
            );
            return Err(StoreError::DataCorrupt {
                bucket: bucket.into(),
                obj: obj.into(),
                cksum_type: t.as_str(),
                stored: h.lom.cksum_value.clone(),
                computed,
            });
        }
        h.cksum_verified.set(true);
        Ok(())
    }

    /// Hashes the object's bytes (its file, or its chunks in order) with ring reads.
    async fn hash_file(
        &self,
        bucket: &str,
        obj: &str,
        h: &ObjectHandle,
        t: CksumType,
    ) -> Result<String, StoreError> {
        let mut hs = Hasher::new(t);
        let mut buf = Vec::with_capacity(VERIFY_CHUNK.min(h.size.max(1) as usize));
        let pieces: Vec<(&crate::io::Fd, u64)> = if h.chunks.is_empty() {
            vec![(&h.fd, h.size)]
        } else {
            h.chunks.iter().map(|c| (&c.fd, c.size)).collect()
        };
        for (fd, size) in pieces {
            let mut off = 0u64;
            while off < size {
                buf.clear();
                let want = (size - off).min(buf.capacity() as u64) as usize;
                let (r, b) = rio::read_at(fd, buf, off).await;
                buf = b;
                match r {
                    Ok(0) => {
                        return Err(StoreError::MetaCorrupt(
                            bucket.into(),
                            obj.into(),
                            format!("file ends at {off}, its size is {size}"),
                        ))
                    }
                    Ok(n) => {
                        let n = n.min(want);
                        hs.update(&buf[..n]);
                        off += n as u64;
                    }
                    Err(e) => {
                        let p = fqn::object_fqn(&h.mp.path, bucket, obj);
                        return Err(StoreError::io("read", &p, e));
                    }
                }
            }
        }
        Ok(hs.finish())
    }
}
