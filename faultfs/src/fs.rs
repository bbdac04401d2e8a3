//! The FUSE filesystem: every operation passed to the backing directory (inodes held as
//! O_PATH descriptors, so renames and hard links need no path bookkeeping), file data kept in
//! memory until fsync (`dirty.rs`), and every operation answered with EIO while `failing` is
//! set.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use rustix::fs::{AtFlags, Mode, OFlags};

use crate::dirty::Dirty;

/// How long the kernel may cache entries and attributes.
const TTL: Duration = Duration::from_secs(1);

/// One inode the kernel knows.
struct Inode {
    /// O_PATH descriptor of the backing file or directory.
    fd: OwnedFd,
    /// Lookups the kernel holds (`forget` gives them back).
    nlookup: u64,
    /// (st_dev, st_ino) on the backing filesystem.
    key: (u64, u64),
    /// A regular file's unsynced data, if any.
    dirty: Option<Dirty>,
    /// Read/write descriptor of a regular file's backing file, opened on first data access.
    data: Option<File>,
}

impl Inode {
    fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&self.fd)
        ))
    }

    fn data_file(&mut self) -> std::io::Result<&File> {
        if self.data.is_none() {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(self.proc_path())?;
            self.data = Some(f);
        }
        Ok(self.data.as_ref().expect("just opened"))
    }

    /// The unsynced state, created clean from the backing file on first use.
    fn dirty_mut(&mut self) -> std::io::Result<(&File, &mut Dirty)> {
        if self.dirty.is_none() {
            let len = self.data_file()?.metadata()?.len();
            self.dirty = Some(Dirty::new(len));
        }
        let f = self.data.as_ref().expect("opened above");
        Ok((f, self.dirty.as_mut().expect("set above")))
    }
}

/// An open directory: its entries read at opendir.
struct DirHandle {
    entries: Vec<(u64, FileType, OsString)>,
}

struct State {
    inodes: HashMap<u64, Inode>,
    by_key: HashMap<(u64, u64), u64>,
    next_ino: u64,
    dirs: HashMap<u64, DirHandle>,
    next_fh: u64,
    /// Bytes of unsynced data held, all files.
    dirty_bytes: u64,
}

/// The filesystem.
pub struct FaultFs {
    state: Mutex<State>,
    failing: Arc<AtomicBool>,
    max_dirty: u64,
}

type R<T> = Result<T, Errno>;

fn errno(e: impl Into<std::io::Error>) -> Errno {
    Errno::from(e.into())
}

fn kind_of(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        0o040000 => FileType::Directory,
        0o120000 => FileType::Symlink,
        0o020000 => FileType::CharDevice,
        0o060000 => FileType::BlockDevice,
        0o010000 => FileType::NamedPipe,
        0o140000 => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

fn systime(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH
    }
}

fn timespec(t: TimeOrNow) -> rustix::fs::Timespec {
    let t = match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    };
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    rustix::fs::Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: d.subsec_nanos() as _,
    }
}

impl FaultFs {
    /// The filesystem over `backing` (a directory); `failing` turns EIO mode on and off;
    /// `max_dirty`: bytes of unsynced data held at most (more: ENOSPC).
    pub fn new(
        backing: &std::path::Path,
        failing: Arc<AtomicBool>,
        max_dirty: u64,
    ) -> std::io::Result<FaultFs> {
        let fd = rustix::fs::open(
            backing,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::fstat(&fd)?;
        let key = (st.st_dev, st.st_ino);
        let root = Inode {
            fd,
            nlookup: 1,
            key,
            dirty: None,
            data: None,
        };
        let mut inodes = HashMap::new();
        inodes.insert(INodeNo::ROOT.0, root);
        let mut by_key = HashMap::new();
        by_key.insert(key, INodeNo::ROOT.0);
        Ok(FaultFs {
            state: Mutex::new(State {
                inodes,
                by_key,
                next_ino: 2,
                dirs: HashMap::new(),
                next_fh: 1,
                dirty_bytes: 0,
            }),
            failing,
            max_dirty,
        })
    }

    fn fail(&self) -> R<()> {
        if self.failing.load(Ordering::Relaxed) {
            Err(Errno::EIO)
        } else {
            Ok(())
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn inode(&mut self, ino: INodeNo) -> R<&mut Inode> {
        self.inodes.get_mut(&ino.0).ok_or(Errno::ESTALE)
    }

    fn attr(&mut self, ino: INodeNo) -> R<FileAttr> {
        let i = self.inode(ino)?;
        let st = rustix::fs::fstat(&i.fd).map_err(errno)?;
        let size = match &i.dirty {
            Some(d) => d.size,
            None => st.st_size as u64,
        };
        Ok(FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: systime(st.st_atime, st.st_atime_nsec as i64),
            mtime: systime(st.st_mtime, st.st_mtime_nsec as i64),
            ctime: systime(st.st_ctime, st.st_ctime_nsec as i64),
            crtime: UNIX_EPOCH,
            kind: kind_of(st.st_mode),
            perm: (st.st_mode & 0o7777) as u16,
            nlink: st.st_nlink as u32,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: st.st_rdev as u32,
            blksize: 4096,
            flags: 0,
        })
    }

    /// Looks `name` up in `parent` on the backing filesystem; the kernel holds one more
    /// lookup of the inode.
    fn lookup(&mut self, parent: INodeNo, name: &OsStr) -> R<FileAttr> {
        let p = self.inode(parent)?;
        let fd = rustix::fs::openat(
            &p.fd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let st = rustix::fs::fstat(&fd).map_err(errno)?;
        let key = (st.st_dev, st.st_ino);
        let ino = match self.by_key.get(&key) {
            Some(&ino) => {
                self.inodes.get_mut(&ino).expect("indexed").nlookup += 1;
                ino
            }
            None => {
                let ino = self.next_ino;
                self.next_ino += 1;
                self.inodes.insert(
                    ino,
                    Inode {
                        fd,
                        nlookup: 1,
                        key,
                        dirty: None,
                        data: None,
                    },
                );
                self.by_key.insert(key, ino);
                ino
            }
        };
        self.attr(INodeNo(ino))
    }

    fn forget(&mut self, ino: u64, n: u64) {
        if ino == INodeNo::ROOT.0 {
            return;
        }
        let Some(i) = self.inodes.get_mut(&ino) else {
            return;
        };
        i.nlookup = i.nlookup.saturating_sub(n);
        if i.nlookup > 0 {
            return;
        }
        // Unsynced data of a file that still has a name is kept (as a page cache keeps it
        // after the inode leaves the kernel's cache); a later lookup finds it again.
        let linked = rustix::fs::fstat(&i.fd)
            .map(|s| s.st_nlink > 0)
            .unwrap_or(false);
        let dirty = i.dirty.as_ref().is_some_and(|d| d.bytes() > 0 || linked);
        if dirty && linked {
            return;
        }
        let i = self.inodes.remove(&ino).expect("present");
        if let Some(d) = &i.dirty {
            self.dirty_bytes = self.dirty_bytes.saturating_sub(d.bytes());
        }
        self.by_key.remove(&i.key);
    }

    fn truncate(&mut self, ino: INodeNo, len: u64) -> R<()> {
        let i = self.inode(ino)?;
        let (_, d) = i.dirty_mut().map_err(errno)?;
        let before = d.bytes();
        d.truncate(len);
        let after = d.bytes();
        self.dirty_bytes = self.dirty_bytes + after - before;
        Ok(())
    }

    fn fsync(&mut self, ino: INodeNo, datasync: bool) -> R<()> {
        let i = self.inode(ino)?;
        let freed = match (&mut i.dirty, &i.data) {
            (Some(d), Some(f)) => {
                let b = d.bytes();
                d.flush(f, datasync).map_err(errno)?;
                b
            }
            _ => {
                // Nothing unsynced: sync the backing file anyway (its metadata, xattrs).
                let f = File::open(i.proc_path()).map_err(errno)?;
                f.sync_all().map_err(errno)?;
                0
            }
        };
        i.dirty = None;
        self.dirty_bytes = self.dirty_bytes.saturating_sub(freed);
        Ok(())
    }
}

impl FaultFs {
    #[allow(clippy::too_many_arguments)]
    fn do_setattr(
        &self,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> R<FileAttr> {
        self.fail()?;
        let mut st = self.st();
        let path = st.inode(ino)?.proc_path();
        if let Some(m) = mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m & 0o7777))
                .map_err(errno)?;
        }
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(
                &st.inode(ino)?.fd,
                "",
                uid.map(rustix::fs::Uid::from_raw),
                gid.map(rustix::fs::Gid::from_raw),
                AtFlags::EMPTY_PATH,
            )
            .map_err(errno)?;
        }
        if let Some(len) = size {
            st.truncate(ino, len)?;
        }
        if atime.is_some() || mtime.is_some() {
            let omit = rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            };
            let ts = rustix::fs::Timestamps {
                last_access: atime.map(timespec).unwrap_or(omit),
                last_modification: mtime.map(timespec).unwrap_or(omit),
            };
            rustix::fs::utimensat(rustix::fs::CWD, &path, &ts, AtFlags::empty()).map_err(errno)?;
        }
        st.attr(ino)
    }

    fn new_entry(
        &self,
        parent: INodeNo,
        name: &OsStr,
        make: impl FnOnce(&OwnedFd) -> rustix::io::Result<()>,
    ) -> R<FileAttr> {
        self.fail()?;
        let mut st = self.st();
        make(&st.inode(parent)?.fd).map_err(errno)?;
        st.lookup(parent, name)
    }
}

impl Filesystem for FaultFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.fail().and_then(|_| self.st().lookup(parent, name)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.st().forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let r = if ino == INodeNo::ROOT {
            Ok(())
        } else {
            self.fail()
        };
        match r.and_then(|_| self.st().attr(ino)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match self.do_setattr(ino, mode, uid, gid, size, atime, mtime) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let m = Mode::from_raw_mode(mode & !umask & 0o7777);
        match self.new_entry(parent, name, |p| rustix::fs::mkdirat(p, name, m)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = self.fail().and_then(|_| {
            let mut st = self.st();
            rustix::fs::unlinkat(&st.inode(parent)?.fd, name, AtFlags::empty()).map_err(errno)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = self.fail().and_then(|_| {
            let mut st = self.st();
            rustix::fs::unlinkat(&st.inode(parent)?.fd, name, AtFlags::REMOVEDIR).map_err(errno)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = self.fail().and_then(|_| {
            let mut st = self.st();
            let rf = rustix::fs::RenameFlags::from_bits(flags.bits()).ok_or(Errno::EINVAL)?;
            let from = st.inode(parent)?.fd.try_clone().map_err(errno)?;
            let to = &st.inode(newparent)?.fd;
            rustix::fs::renameat_with(&from, name, to, newname, rf).map_err(errno)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = self.fail().and_then(|_| {
            let mut st = self.st();
            let src = st.inode(ino)?.fd.try_clone().map_err(errno)?;
            let to = &st.inode(newparent)?.fd;
            rustix::fs::linkat(&src, "", to, newname, AtFlags::EMPTY_PATH).map_err(errno)?;
            st.lookup(newparent, newname)
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let r = self.fail().and_then(|_| {
            let mut st = self.st();
            let i = st.inode(ino)?;
            i.data_file().map_err(errno)?;
            if flags.0 & libc::O_TRUNC != 0 {
                st.truncate(ino, 0)?;
            }
            Ok(())
        });
        match r {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let m = Mode::from_raw_mode(mode & !umask & 0o7777);
        let excl = if flags & libc::O_EXCL != 0 {
            OFlags::EXCL
        } else {
            OFlags::empty()
        };
        let r = self
            .new_entry(parent, name, |p| {
                rustix::fs::openat(
                    p,
                    name,
                    OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC | excl,
                    m,
                )
                .map(drop)
            })
            .and_then(|a| {
                let mut st = self.st();
                st.inode(a.ino)?.data_file().map_err(errno)?;
                if flags & libc::O_TRUNC != 0 && a.size > 0 {
                    st.truncate(a.ino, 0)?;
                    return st.attr(a.ino);
                }
                Ok(a)
            });
        match r {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = self.fail().and_then(|_| {
            let mut st = self.st();
            let i = st.inode(ino)?;
            match &i.dirty {
                Some(d) => {
                    let f = i.data.as_ref().expect("dirty implies open");
                    d.read(f, offset, size as u64).map_err(errno)
                }
                None => {
                    let f = i.data_file().map_err(errno)?;
                    let mut buf = vec![0u8; size as usize];
                    let mut n = 0;
                    while n < buf.len() {
                        let k = std::os::unix::fs::FileExt::read_at(
                            f,
                            &mut buf[n..],
                            offset + n as u64,
                        )
                        .map_err(errno)?;
                        if k == 0 {
                            break;
                        }
                        n += k;
                    }
                    buf.truncate(n);
                    Ok(buf)
                }
            }
        });
        match r {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = self.fail().and_then(|_| {
            let mut st = self.st();
            if st.dirty_bytes + data.len() as u64 + 2 * crate::dirty::PAGE > self.max_dirty {
                return Err(Errno::ENOSPC);
            }
            let i = st.inode(ino)?;
            let (f, d) = i.dirty_mut().map_err(errno)?;
            let added = d.write(f, offset, data).map_err(errno)?;
            st.dirty_bytes += added;
            Ok(data.len() as u32)
        });
        match r {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        match self.fail() {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.fail().and_then(|_| self.st().fsync(ino, datasync)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let r = self.fail().and_then(|_| {
            let mut st = self.st();
            let path = st.inode(ino)?.proc_path();
            let mut entries = vec![
                (ino.0, FileType::Directory, OsString::from(".")),
                (ino.0, FileType::Directory, OsString::from("..")),
            ];
            for e in std::fs::read_dir(&path).map_err(errno)? {
                let e = e.map_err(errno)?;
                let md = e.metadata().map_err(errno)?;
                entries.push((md.ino(), kind_of(md.mode()), e.file_name()));
            }
            let fh = st.next_fh;
            st.next_fh += 1;
            st.dirs.insert(fh, DirHandle { entries });
            Ok(fh)
        });
        match r {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if let Err(e) = self.fail() {
            return reply.error(e);
        }
        let st = self.st();
        let Some(d) = st.dirs.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        for (k, (ino, kind, name)) in d.entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), k as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.st().dirs.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let r = self.fail().and_then(|_| {
            let path = self.st().inode(ino)?.proc_path();
            File::open(path).and_then(|d| d.sync_all()).map_err(errno)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        let r = if ino == INodeNo::ROOT {
            Ok(())
        } else {
            self.fail()
        };
        let r = r.and_then(|_| {
            let mut st = self.st();
            rustix::fs::fstatvfs(&st.inode(INodeNo::ROOT)?.fd).map_err(errno)
        });
        match r {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let r = self.fail().and_then(|_| {
            let path = self.st().inode(ino)?.proc_path();
            let f = rustix::fs::XattrFlags::from_bits(flags as _).ok_or(Errno::EINVAL)?;
            rustix::fs::setxattr(&path, name, value, f).map_err(errno)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let r = self.fail().and_then(|_| {
            let path = self.st().inode(ino)?.proc_path();
            if size == 0 {
                return rustix::fs::getxattr_query(&path, name)
                    .map(Err)
                    .map_err(errno);
            }
            let mut buf = vec![0u8; size as usize];
            let n = rustix::fs::getxattr(&path, name, &mut buf[..]).map_err(errno)?;
            buf.truncate(n);
            Ok(Ok(buf))
        });
        match r {
            Ok(Err(n)) => reply.size(n as u32),
            Ok(Ok(d)) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let r = self.fail().and_then(|_| {
            let path = self.st().inode(ino)?.proc_path();
            if size == 0 {
                return rustix::fs::listxattr_query(&path).map(Err).map_err(errno);
            }
            let mut buf = vec![0u8; size as usize];
            let n = rustix::fs::listxattr(&path, &mut buf[..]).map_err(errno)?;
            buf.truncate(n);
            Ok(Ok(buf))
        });
        match r {
            Ok(Err(n)) => reply.size(n as u32),
            Ok(Ok(d)) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = self.fail().and_then(|_| {
            let path = self.st().inode(ino)?.proc_path();
            rustix::fs::removexattr(&path, name).map_err(errno)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
