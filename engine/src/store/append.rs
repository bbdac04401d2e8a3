//! Append (AIS `PUT ?append_type=append|flush&append_handle=H`): an object built from several
//! requests. Appends accumulate in a work file that is not the object; `flush` verifies the
//! client's checksum, writes the LOM and renames the work file into place exactly like a PUT
//! (`PutHandle::finish`: readers see the old object or the new one, the version as a PUT's).
//!
//! The first append (no handle) starts a session: a fresh work file, holding a copy of the
//! object's current content if it exists (AIS appends to an existing object). Each append
//! returns a new handle; only the newest one is valid.
//!
//! Handles: `<node id>|<token>|<checksum type>|<size>` (AIS's four `|`-separated items, node id
//! first, so a proxy can route them). Unlike AIS, whose handle carries the work file's path and
//! the checksum state, ours carries no path: `<token>` (32 hex digits: session id + a random
//! tag) names a session in this node's table, which holds the path and the checksum state. A
//! handle is accepted only if every item matches the session exactly (bucket, object, node,
//! tag, type, and size = the bytes appended so far); else 400 and nothing changes.
//!
//! One request at a time per session: a request takes the session out of the table and puts it
//! back with the new size when its body is in, so a concurrent use of the same handle gets 400.
//! A failed append (body cut short, write error) ends the session and removes its work file.
//! A flush whose checksum does not match fails and ends the session too.
//!
//! Bounds: at most `APPENDS_OPEN_MAX` sessions per node; a session idle for
//! `APPEND_IDLE_SECS_MAX` is ended (work file removed) when a new session starts. A session
//! never flushed and never expired (node stopped) leaves a work file named with the node's
//! pid; the startup tidy removes work files of dead processes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{now_ns, ClientChecksum, PutHandle, Store, StoreError};
use crate::cksum::{CksumType, Hasher};
use crate::io::{self as rio, sys};
use crate::lom::{Lom, XATTR_LOM};
use crate::{fqn, hrw};

/// Append sessions one node keeps open at most.
pub const APPENDS_OPEN_MAX: usize = 1024;
/// A session unused this long is ended when another starts.
pub const APPEND_IDLE_SECS_MAX: u64 = 3600;
/// Bytes copied per read when an append starts on an existing object.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// An append between requests: where its bytes are and what they hash to so far.
struct Session {
    bucket: String,
    obj: String,
    bid: u64,
    tag: u64,
    work: PathBuf,
    hasher: Hasher,
    cksum_type: CksumType,
    size: u64,
    touched: Instant,
}

/// The node's append sessions.
#[derive(Default)]
pub(crate) struct Appends {
    sessions: Mutex<HashMap<u64, Session>>,
    next_id: AtomicU64,
}

impl Appends {
    /// The work files of the sessions in the table (space cleanup keeps them whatever their
    /// age; a session checked out by a request is being written, so its file is young).
    pub(super) fn work_files(&self) -> Vec<PathBuf> {
        let s = self.sessions.lock().expect("appends lock");
        s.values().map(|x| x.work.clone()).collect()
    }
}

/// A session checked out for one request (put back by `append_done`).
pub struct AppendTicket {
    id: u64,
    bid: u64,
    tag: u64,
}

fn bad(bucket: &str, obj: &str, why: impl Into<String>) -> StoreError {
    StoreError::BadAppendHandle(bucket.into(), obj.into(), why.into())
}

/// A hard-to-guess 64-bit tag (not a secret against a local attacker: it only keeps a
/// client from using another session by mistake or by counting).
fn new_tag(id: u64) -> u64 {
    let seed = now_ns() as u64 ^ ((std::process::id() as u64) << 32);
    xxhash_rust::xxh64::xxh64(&id.to_le_bytes(), seed) | 1
}

impl Store {
    /// Starts or continues an append of `bucket/obj`: validates `handle` (empty: start a new
    /// session) and returns a buffered `PutHandle` positioned at the end of the work file.
    /// Feed the body with `PutHandle::write`, then call `append_done` (or `append_flush`).
    pub async fn append_begin(
        self: &Arc<Self>,
        bucket: &str,
        obj: &str,
        handle: &str,
        node_id: &str,
    ) -> Result<(PutHandle, AppendTicket), StoreError> {
        Store::check_names(bucket, obj)?;
        if handle.is_empty() {
            return self.append_start(bucket, obj).await;
        }
        let (id, s) = self.take_session(bucket, obj, handle, node_id)?;
        let props = self.bucket(bucket)?;
        if props.bid != s.bid {
            let _ = rio::unlink(&s.work, false).await;
            return Err(bad(
                bucket,
                obj,
                "the bucket was destroyed since the append started",
            ));
        }
        let fd = match rio::open(&s.work, libc::O_WRONLY, 0).await {
            Ok(fd) => fd,
            Err(e) => return Err(StoreError::io("open", &s.work, e)),
        };
        let set = self.mountpaths();
        let digest = hrw::obj_digest(bucket, obj);
        let mp = set.place(digest).ok_or(StoreError::NoMountpaths)?.clone();
        let put = PutHandle {
            store: self.clone(),
            digest,
            set_version: set.version(),
            bucket: bucket.to_string(),
            obj: obj.to_string(),
            fqn: fqn::object_fqn(&mp.path, bucket, obj),
            fntl: fqn::is_fntl(obj),
            target: super::put::Target::Object,
            crc: None,
            work: s.work,
            fd: Some(fd),
            hasher: Some(s.hasher),
            cksum_type: s.cksum_type,
            client_hasher: None,
            size: s.size,
            props,
            finished: false,
            direct: false,
            o_direct: false,
            custom: Vec::new(),
            copied: None,
            md5: None,
            condition: None,
            mp,
        };
        let ticket = AppendTicket {
            id,
            bid: s.bid,
            tag: s.tag,
        };
        Ok((put, ticket))
    }

    /// A new session: work file created (buffered), the current object copied into it.
    async fn append_start(
        self: &Arc<Self>,
        bucket: &str,
        obj: &str,
    ) -> Result<(PutHandle, AppendTicket), StoreError> {
        self.expire_appends();
        {
            let sessions = self.appends.sessions.lock().expect("appends lock");
            if sessions.len() >= APPENDS_OPEN_MAX {
                return Err(StoreError::AppendsBusy(APPENDS_OPEN_MAX));
            }
        }
        let mut put = self.put_begin(bucket, obj, None).await?;
        self.append_copy_existing(&mut put).await?;
        let id = self.appends.next_id.fetch_add(1, Ordering::Relaxed);
        let ticket = AppendTicket {
            id,
            bid: put.props.bid,
            tag: new_tag(id),
        };
        Ok((put, ticket))
    }

    /// Copies the object's current content (if it exists and is this bucket's) into the
    /// session's work file.
    async fn append_copy_existing(&self, put: &mut PutHandle) -> Result<(), StoreError> {
        let (bucket, obj) = (put.bucket.clone(), put.obj.clone());
        let mps = self.mountpaths();
        let Some(mp) = mps.place(hrw::obj_digest(&bucket, &obj)) else {
            return Err(StoreError::NoMountpaths);
        };
        let path = fqn::object_fqn(&mp.path, &bucket, &obj);
        let src = match rio::open(&path, libc::O_RDONLY, 0).await {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                return Ok(());
            }
            Err(e) => return Err(StoreError::io("open", &path, e)),
        };
        let st = sys::fstat(&src).map_err(|e| StoreError::io("fstat", &path, e))?;
        if !st.is_file {
            return Ok(());
        }
        let mut md = Vec::new();
        if !sys::fgetxattr(&src, XATTR_LOM, &mut md)
            .map_err(|e| StoreError::io("getxattr", &path, e))?
        {
            return Err(StoreError::MetaMissing(bucket.clone(), obj.clone()));
        }
        let lom = Lom::decode(&md)
            .map_err(|e| StoreError::MetaCorrupt(bucket.clone(), obj.clone(), e.to_string()))?;
        if lom.bid() != put.props.bid {
            return Ok(()); // a leftover of an earlier bucket: not this bucket's object
        }
        let mut buf = Vec::with_capacity(COPY_CHUNK_BYTES);
        let mut at = 0u64;
        while at < st.size {
            buf.clear();
            let (r, b) = rio::read_at(&src, buf, at).await;
            buf = b;
            match r {
                Ok(0) => break,
                Ok(n) => at += n as u64,
                Err(e) => return Err(StoreError::io("read", &path, e)),
            }
            let (r, b) = put.write(buf).await;
            buf = b;
            r?;
        }
        if at != st.size {
            return Err(StoreError::MetaCorrupt(
                bucket,
                obj,
                "file shorter than its size".into(),
            ));
        }
        Ok(())
    }

    /// Ends an append request: the session goes back to the table with its new size; returns
    /// the handle for the next append or the flush.
    pub fn append_done(
        &self,
        mut put: PutHandle,
        ticket: AppendTicket,
        node_id: &str,
    ) -> Result<String, StoreError> {
        let hasher = put.hasher.take().expect("append hasher");
        put.fd.take();
        put.finished = true; // the work file stays: it is the session's
        let s = Session {
            bucket: put.bucket.clone(),
            obj: put.obj.clone(),
            bid: ticket.bid,
            tag: ticket.tag,
            work: std::mem::take(&mut put.work),
            hasher,
            cksum_type: put.cksum_type,
            size: put.size,
            touched: Instant::now(),
        };
        let handle = format!(
            "{node_id}|{:016x}{:016x}|{}|{}",
            ticket.id,
            ticket.tag,
            s.cksum_type.as_str(),
            s.size
        );
        let mut sessions = self.appends.sessions.lock().expect("appends lock");
        if sessions.len() >= APPENDS_OPEN_MAX && !sessions.contains_key(&ticket.id) {
            drop(sessions);
            let work = s.work;
            rio::spawn(async move {
                let _ = rio::unlink(&work, false).await;
            })
            .detach();
            return Err(StoreError::AppendsBusy(APPENDS_OPEN_MAX));
        }
        sessions.insert(ticket.id, s);
        Ok(handle)
    }

    /// Completes an append session as a PUT would (after the flush request's own body, if
    /// any, was written to `put`): verifies the client checksum (which must be of the
    /// bucket's checksum type, as AIS compares), writes the LOM, renames into place.
    pub async fn append_flush(
        &self,
        mut put: PutHandle,
        client: Option<ClientChecksum>,
    ) -> Result<Lom, StoreError> {
        if let Some(c) = client {
            let same = c.cksum_type == put.cksum_type
                || (matches!(c.cksum_type, CksumType::Xxhash | CksumType::Xxhash2)
                    && matches!(put.cksum_type, CksumType::Xxhash | CksumType::Xxhash2));
            if c.cksum_type != CksumType::None && !same {
                return Err(StoreError::BadChecksum {
                    bucket: put.bucket.clone(),
                    obj: put.obj.clone(),
                    cksum_type: c.cksum_type.as_str().into(),
                    expected: c.value,
                    computed: format!(
                        "(not computed: the object's checksum type is {})",
                        put.cksum_type.as_str()
                    ),
                });
            }
            put.expect_checksum(c);
        }
        put.finish().await
    }

    /// Takes the session a handle names out of the table, if the handle matches it exactly.
    fn take_session(
        &self,
        bucket: &str,
        obj: &str,
        handle: &str,
        node_id: &str,
    ) -> Result<(u64, Session), StoreError> {
        let items: Vec<&str> = handle.split('|').collect();
        let [node, token, ty, size] = items[..] else {
            return Err(bad(bucket, obj, "expecting 4 '|'-separated items"));
        };
        if node != node_id {
            return Err(bad(
                bucket,
                obj,
                format!("made by node {node:?}, not this node"),
            ));
        }
        let hex_ok = token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex_ok {
            return Err(bad(bucket, obj, "malformed token"));
        }
        let id = u64::from_str_radix(&token[..16], 16).map_err(|_| bad(bucket, obj, "token"))?;
        let tag = u64::from_str_radix(&token[16..], 16).map_err(|_| bad(bucket, obj, "token"))?;
        let size: u64 = size
            .parse()
            .map_err(|_| bad(bucket, obj, "malformed size"))?;
        let mut sessions = self.appends.sessions.lock().expect("appends lock");
        let unknown = || {
            bad(
                bucket,
                obj,
                "no such append in progress (flushed, expired, failed, or in use by another request)",
            )
        };
        let s = sessions.get(&id).ok_or_else(unknown)?;
        if s.tag != tag || s.bucket != bucket || s.obj != obj {
            return Err(unknown());
        }
        if s.cksum_type.as_str() != ty {
            return Err(bad(bucket, obj, "checksum type differs from the session's"));
        }
        if s.size != size {
            return Err(bad(
                bucket,
                obj,
                format!(
                    "stale: the append is at {} bytes, the handle says {size}; use the newest handle",
                    s.size
                ),
            ));
        }
        let s = sessions.remove(&id).expect("present");
        Ok((id, s))
    }

    /// Ends sessions idle longer than `APPEND_IDLE_SECS_MAX` and removes their work files.
    fn expire_appends(&self) {
        let idle = Duration::from_secs(APPEND_IDLE_SECS_MAX);
        let expired: Vec<PathBuf> = {
            let mut sessions = self.appends.sessions.lock().expect("appends lock");
            let ids: Vec<u64> = sessions
                .iter()
                .filter(|(_, s)| s.touched.elapsed() >= idle)
                .map(|(id, _)| *id)
                .collect();
            ids.iter()
                .filter_map(|id| sessions.remove(id).map(|s| s.work))
                .collect()
        };
        for work in expired {
            tracing::info!(work = %work.display(), "append never flushed: expired, work file removed");
            rio::spawn(async move {
                let _ = rio::unlink(&work, false).await;
            })
            .detach();
        }
    }

    /// Appends in progress (for tests and stats).
    pub fn appends_open(&self) -> usize {
        self.appends.sessions.lock().expect("appends lock").len()
    }
}
