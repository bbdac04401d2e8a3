//! A file's unsynced data, kept in memory as a page cache that a power cut throws away: dirty
//! 4 KiB pages over the backing file, the file's logical size, and the offset from which the
//! backing file's old bytes are stale (after a shrinking truncate). `flush` makes it durable.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Page size of the model.
pub const PAGE: u64 = 4096;

/// Unsynced state of one file over its backing file.
#[derive(Debug)]
pub struct Dirty {
    /// Dirty pages by index, each `PAGE` bytes.
    pages: std::collections::BTreeMap<u64, Vec<u8>>,
    /// The file's size as its users see it.
    pub size: u64,
    /// Backing bytes at or past this offset read as zeros (a truncate cut them off; they are
    /// still on the backing file until the next flush). Never above `size`.
    floor: u64,
}

/// Reads up to `buf.len()` bytes at `off` from `f`; the rest (past its end) stays zero.
fn read_full(f: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Dirty {
    /// Clean state over a backing file of `len` bytes.
    pub fn new(len: u64) -> Dirty {
        Dirty {
            pages: Default::default(),
            size: len,
            floor: len,
        }
    }

    /// Bytes held in memory.
    pub fn bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    /// Page `p` as the file holds it now: dirty copy, else the backing bytes below `floor`.
    fn page(&self, f: &File, p: u64) -> io::Result<Vec<u8>> {
        if let Some(d) = self.pages.get(&p) {
            return Ok(d.clone());
        }
        let mut buf = vec![0u8; PAGE as usize];
        let start = p * PAGE;
        if start < self.floor {
            let n = (self.floor - start).min(PAGE) as usize;
            read_full(f, &mut buf[..n], start)?;
        }
        Ok(buf)
    }

    /// Up to `len` bytes at `off` (short at the end of the file).
    pub fn read(&self, f: &File, off: u64, len: u64) -> io::Result<Vec<u8>> {
        let end = (off.saturating_add(len)).min(self.size);
        let mut out = Vec::with_capacity(end.saturating_sub(off) as usize);
        let mut at = off;
        while at < end {
            let p = at / PAGE;
            let in_page = (at % PAGE) as usize;
            let n = ((PAGE - at % PAGE).min(end - at)) as usize;
            match self.pages.get(&p) {
                Some(d) => out.extend_from_slice(&d[in_page..in_page + n]),
                None => {
                    let mut buf = vec![0u8; n];
                    if at < self.floor {
                        let m = (self.floor - at).min(n as u64) as usize;
                        read_full(f, &mut buf[..m], at)?;
                    }
                    out.extend_from_slice(&buf);
                }
            }
            at += n as u64;
        }
        Ok(out)
    }

    /// Writes `data` at `off`; returns how many bytes of memory it added.
    pub fn write(&mut self, f: &File, off: u64, data: &[u8]) -> io::Result<u64> {
        let before = self.bytes();
        let mut done = 0usize;
        while done < data.len() {
            let at = off + done as u64;
            let p = at / PAGE;
            let in_page = (at % PAGE) as usize;
            let n = (PAGE as usize - in_page).min(data.len() - done);
            let mut page = match self.pages.remove(&p) {
                Some(d) => d,
                None if n == PAGE as usize => vec![0u8; PAGE as usize],
                None => self.page(f, p)?,
            };
            page[in_page..in_page + n].copy_from_slice(&data[done..done + n]);
            self.pages.insert(p, page);
            done += n;
        }
        self.size = self.size.max(off + data.len() as u64);
        Ok(self.bytes() - before)
    }

    /// Sets the size to `len`: a shrink drops the bytes past it (later growth reads zeros).
    pub fn truncate(&mut self, len: u64) {
        if len < self.size {
            self.floor = self.floor.min(len);
            let first_gone = len.div_ceil(PAGE);
            self.pages.retain(|p, _| *p < first_gone);
            if !len.is_multiple_of(PAGE) {
                if let Some(d) = self.pages.get_mut(&(len / PAGE)) {
                    d[(len % PAGE) as usize..].fill(0);
                }
            }
        }
        self.size = len;
    }

    #[cfg(test)]
    /// Whether anything differs from the backing file of `backing_len` bytes.
    pub fn is_clean(&self, backing_len: u64) -> bool {
        self.pages.is_empty() && self.size == backing_len && self.floor == backing_len
    }

    /// Writes the state to the backing file and syncs it (`datasync`: fdatasync); the state is
    /// clean afterwards.
    pub fn flush(&mut self, f: &File, datasync: bool) -> io::Result<()> {
        let backing = f.metadata()?.len();
        if self.floor < backing {
            f.set_len(self.floor)?;
        }
        for (p, d) in &self.pages {
            let start = p * PAGE;
            if start >= self.size {
                continue;
            }
            let n = (self.size - start).min(PAGE) as usize;
            f.write_all_at(&d[..n], start)?;
        }
        f.set_len(self.size)?;
        if datasync {
            f.sync_data()?;
        } else {
            f.sync_all()?;
        }
        self.pages.clear();
        self.floor = self.size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpfile(data: &[u8]) -> (std::path::PathBuf, File) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "faultfs-dirty-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(&p, data).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        (p, f)
    }

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    #[test]
    fn writes_stay_in_memory_until_flushed_and_reads_merge_them() {
        // Goal: unsynced writes are seen by reads but not on the backing file; flush puts
        // exactly the merged view there.
        let old = pattern(10_000, 1);
        let (p, f) = tmpfile(&old);
        let mut d = Dirty::new(old.len() as u64);
        let mut model = old.clone();
        let new = pattern(5000, 7);
        d.write(&f, 3000, &new).unwrap();
        model[3000..8000].copy_from_slice(&new);
        let tail = pattern(3000, 9);
        d.write(&f, 12_000, &tail).unwrap();
        model.resize(12_000, 0);
        model.extend_from_slice(&tail);
        assert_eq!(d.size, 15_000);
        assert_eq!(d.read(&f, 0, 100_000).unwrap(), model);
        assert_eq!(d.read(&f, 2999, 2).unwrap(), model[2999..3001]);
        assert_eq!(
            std::fs::read(&p).unwrap(),
            old,
            "backing untouched before flush"
        );
        d.flush(&f, false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), model);
        assert!(d.is_clean(model.len() as u64));
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn truncate_then_grow_reads_zeros_where_old_bytes_were() {
        // Goal: a shrink hides the backing bytes past it, also after the file grows again and
        // after a flush.
        let old = pattern(9000, 3);
        let (p, f) = tmpfile(&old);
        let mut d = Dirty::new(9000);
        d.write(&f, 100, b"abc").unwrap();
        d.truncate(2000);
        d.truncate(6000);
        let mut model = old[..2000].to_vec();
        model[100..103].copy_from_slice(b"abc");
        model.resize(6000, 0);
        assert_eq!(d.read(&f, 0, 9000).unwrap(), model);
        d.write(&f, 5000, b"xyz").unwrap();
        model[5000..5003].copy_from_slice(b"xyz");
        assert_eq!(d.read(&f, 0, 9000).unwrap(), model);
        assert_eq!(std::fs::read(&p).unwrap(), old);
        d.flush(&f, true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), model);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn a_truncate_to_zero_of_a_written_file_is_undone_by_dropping_the_state() {
        // Goal: the power cut's view: dropping the state leaves the backing file as it was.
        let old = pattern(5000, 5);
        let (p, f) = tmpfile(&old);
        let mut d = Dirty::new(5000);
        d.truncate(0);
        d.write(&f, 0, b"new").unwrap();
        assert_eq!(d.read(&f, 0, 10).unwrap(), b"new");
        drop(d);
        assert_eq!(std::fs::read(&p).unwrap(), old);
        std::fs::remove_file(p).unwrap();
    }
}
