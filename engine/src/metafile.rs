//! Node metadata files kept at the root of every mountpath (`.ais.bmd` bucket metadata,
//! `.aisle.vmd` volume metadata): the checksummed JSON envelope they share and the atomic
//! write (temp file, fsync, rename over, fsync the directory).
//!
//! Envelope: `{"xxh64":"<16 hex>","<key>":<JSON>}` + `\n`, the checksum being XXH64 (seed
//! `MLCG32`) of the exact `<JSON>` bytes, so a torn or edited file is detected.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::hrw::digest;

/// Wraps `body` (JSON) under `key` with its checksum.
pub fn seal(key: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + key.len() + 40);
    out.extend_from_slice(b"{\"xxh64\":\"");
    out.extend_from_slice(format!("{:016x}", digest(body)).as_bytes());
    out.extend_from_slice(b"\",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(body);
    out.extend_from_slice(b"}\n");
    out
}

/// The JSON under `key` in a sealed file, if its framing and checksum hold.
pub fn unseal<'a>(key: &str, bytes: &'a [u8]) -> Result<&'a [u8], String> {
    let rest = bytes
        .strip_prefix(b"{\"xxh64\":\"".as_slice())
        .ok_or("bad header")?;
    let (sum_hex, rest) = rest.split_at_checked(16).ok_or("truncated checksum")?;
    let mid = format!("\",\"{key}\":");
    let body = rest
        .strip_prefix(mid.as_bytes())
        .and_then(|r| r.strip_suffix(b"}\n".as_slice()))
        .ok_or("bad framing (torn file?)")?;
    let stored = std::str::from_utf8(sum_hex)
        .ok()
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or("checksum is not hex")?;
    let computed = digest(body);
    if stored != computed {
        return Err(format!(
            "checksum mismatch: stored {stored:016x}, computed {computed:016x}"
        ));
    }
    Ok(body)
}

/// Writes `dir/name` atomically and durably: a temp file in `dir`, fsync, rename over, fsync
/// `dir`. A crash leaves the old file or the new one.
pub fn store_atomic(dir: &Path, name: &str, content: &[u8]) -> std::io::Result<()> {
    static TMP_SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{name}.tmp.{:x}.{seq}", std::process::id()));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(content)?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_open_and_any_change_is_caught() {
        let s = seal("vmd", br#"{"a":1}"#);
        assert_eq!(unseal("vmd", &s), Ok(br#"{"a":1}"#.as_slice()));
        assert!(unseal("bmd", &s).is_err(), "another key");
        assert!(unseal("vmd", &s[..s.len() - 2]).is_err(), "torn");
        let mut flipped = s.clone();
        let at = flipped.len() - 4;
        flipped[at] ^= 1;
        assert!(unseal("vmd", &flipped).is_err(), "edited");
    }
}
