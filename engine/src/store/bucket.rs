//! Bucket operations: create (new BID, directories on every mountpath), destroy (metadata
//! first, then the directories to the trash), set props; the bucket metadata is persisted on
//! every mountpath under the store's metadata transaction.

use std::sync::Arc;

use super::trash::move_aside;
use super::{now_ns, Store, StoreError};
use crate::bmd::{Bmd, BucketProps};
use crate::io as rio;
use crate::mountpath::{MountpathId, MountpathSet};
use crate::{fqn, names};

impl Store {
    /// Creates a bucket: new BID, metadata persisted on every mountpath, directories made.
    /// Leftovers of an earlier bucket of the same name are moved aside first.
    /// Returns the mountpaths whose trash received leftovers (to be emptied in the background).
    pub async fn create_bucket(
        self: &Arc<Self>,
        bucket: &str,
        props: Option<serde_json::Value>,
    ) -> Result<Vec<MountpathId>, StoreError> {
        names::validate_bucket(bucket).map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
        let this = self.clone();
        let b = bucket.to_string();
        rio::spawn_blocking(move || this.create_bucket_blocking(&b, props.as_ref())).await
    }

    fn create_bucket_blocking(
        &self,
        bucket: &str,
        props: Option<&serde_json::Value>,
    ) -> Result<Vec<MountpathId>, StoreError> {
        let _txn = self.bmd_txn.lock().expect("bmd txn lock");
        let cur = self.bmd();
        let next = cur.create(bucket, props, now_ns())?;
        let mps = self.mountpaths();
        let mut trashed = Vec::new();
        for mp in mps.iter() {
            let bdir = fqn::bucket_dir(&mp.path, bucket);
            if bdir.exists() {
                move_aside(&mp.path, &bdir)?;
                trashed.push(mp.id);
            }
            for d in [
                fqn::obj_dir(&mp.path, bucket),
                fqn::work_dir(&mp.path, bucket),
            ] {
                std::fs::create_dir_all(&d).map_err(|e| StoreError::io("mkdir", &d, e))?;
            }
        }
        self.persist_bmd(&next, &mps)?;
        *self.bmd.write().expect("bmd lock") = Arc::new(next);
        self.generations.bump_all();
        self.changed();
        Ok(trashed)
    }

    /// Destroys a bucket: metadata first (the bucket is gone for every request from then on),
    /// then its directories are moved into each mountpath's trash. Returns the mountpaths whose
    /// trash now needs emptying (their owner cores do that in the background).
    pub async fn destroy_bucket(
        self: &Arc<Self>,
        bucket: &str,
    ) -> Result<Vec<MountpathId>, StoreError> {
        names::validate_bucket(bucket).map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
        let this = self.clone();
        let b = bucket.to_string();
        rio::spawn_blocking(move || {
            let _txn = this.bmd_txn.lock().expect("bmd txn lock");
            let cur = this.bmd();
            let next = cur.destroy(&b)?;
            let mps = this.mountpaths();
            this.persist_bmd(&next, &mps)?;
            *this.bmd.write().expect("bmd lock") = Arc::new(next);
            this.generations.bump_all();
            this.changed();
            let mut trashed = Vec::new();
            for mp in mps.iter() {
                let bdir = fqn::bucket_dir(&mp.path, &b);
                if bdir.exists() {
                    move_aside(&mp.path, &bdir)?;
                    trashed.push(mp.id);
                }
            }
            Ok(trashed)
        })
        .await
    }

    /// Changes bucket props (AIS-shaped JSON patch). As AIS, a change that turns mirroring on,
    /// or changes `mirror.copies` while it is on, starts the make-n-copies job; its id is
    /// returned (turning mirroring off leaves the copies as they are, as in AIS).
    pub async fn set_bucket_props(
        self: &Arc<Self>,
        bucket: &str,
        patch: serde_json::Value,
    ) -> Result<Option<String>, StoreError> {
        let this = self.clone();
        let b = bucket.to_string();
        rio::spawn_blocking(move || {
            let (old, new) = this.set_bucket_props_blocking(&b, &patch)?;
            let remirror = new.mirror.enabled
                && (!old.mirror.enabled || old.mirror.copies != new.mirror.copies);
            Ok(remirror.then(|| this.run_make_n_copies(&b).id.clone()))
        })
        .await
    }

    /// Applies a props patch and persists it (blocking); returns the props before and after.
    pub(super) fn set_bucket_props_blocking(
        &self,
        bucket: &str,
        patch: &serde_json::Value,
    ) -> Result<(BucketProps, BucketProps), StoreError> {
        let _txn = self.bmd_txn.lock().expect("bmd txn lock");
        let cur = self.bmd();
        let old = cur
            .get(bucket)
            .cloned()
            .ok_or_else(|| StoreError::BucketNotFound(bucket.to_string()))?;
        let next = cur.set_props(bucket, patch)?;
        let new = next.get(bucket).cloned().unwrap_or_else(|| old.clone());
        let mps = self.mountpaths();
        self.persist_bmd(&next, &mps)?;
        *self.bmd.write().expect("bmd lock") = Arc::new(next);
        self.changed();
        Ok((old, new))
    }

    pub(super) fn persist_bmd(&self, bmd: &Bmd, mps: &MountpathSet) -> Result<(), StoreError> {
        // A faulty mountpath is not written (it may be gone); it gets the BMD when enabled.
        for mp in mps
            .iter()
            .filter(|m| m.state != crate::mountpath::MpState::Faulty)
        {
            bmd.store(&mp.path)
                .map_err(|e| StoreError::io("store bmd", &mp.path, e))?;
        }
        Ok(())
    }
}
