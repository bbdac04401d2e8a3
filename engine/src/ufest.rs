//! The chunk manifest ("Ufest") of a chunked object in AIS's on-disk format: pack/unpack,
//! LZ4 frame compression, the XXH64 trailer, limits, upload ids, chunk placement digests and
//! the CRC32C helpers chunked objects use (AISTORE.md §4, engine/FORMAT.md "Chunk manifest").
//!
//! On disk a manifest is `LZ4 frame(packed body) || XXH64(frame, seed 1103515245) as u64 BE`.
//! The packed body (all integers big-endian, "str" = u16 length + bytes):
//!
//! ```text
//! u8 meta-version (1) | str id | u64 created ns | u16 count | u16 flags
//! per chunk: u64 size | str path | str cksum type [| str cksum value if type != ""]
//!            | u16 num | u16 flags | str md5 (0 or 16 bytes) | str etag
//! ```
//!
//! `encode` writes the frame AIS's writer (pierrec/lz4 v4 defaults) writes: 4 MiB blocks,
//! independent, content checksum, no block checksums, no content size. `decode` accepts any
//! valid LZ4 frame (or several, with skippable frames), walking the frame format itself so
//! that truncation, trailing bytes and every checksum are checked strictly and the output is
//! bounded.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh32::xxh32;
use xxhash_rust::xxh64::xxh64;

use crate::hrw;

/// Meta-version of the packed body (AIS `umetaver`).
pub const UFEST_META_VERSION: u8 = 1;
/// Most chunks (parts) an object may have; chunk numbers are 1..=9999.
pub const CHUNK_COUNT_MAX: usize = 9999;
/// Smallest value of the `chunk_size` setting (uploaded parts may be smaller).
pub const CHUNK_SIZE_MIN: u64 = 1024;
/// Largest value of the `chunk_size` setting.
pub const CHUNK_SIZE_MAX: u64 = 5 << 30;
/// Manifest flag: the manifest is completed (the object is visible).
pub const FLAG_COMPLETED: u16 = 1;

/// Shortest manifest (upload) id.
pub const ID_LEN_MIN: usize = 8;
/// Longest manifest (upload) id.
pub const ID_LEN_MAX: usize = 128;
/// Length of the XXH64 trailer.
pub const TRAILER_LEN: usize = 8;
/// Seed of the trailer's XXH64 (AIS `cos.MLCG32`).
pub const TRAILER_SEED: u64 = hrw::MLCG32;
/// The LZ4 frame header `encode` writes (pierrec/lz4 v4 `NewWriter` defaults): magic,
/// FLG 0x64 (version 1, independent blocks, content checksum), BD 0x70 (4 MiB), HC.
pub const FRAME_HEADER: [u8; 7] = [0x04, 0x22, 0x4D, 0x18, 0x64, 0x70, 0xB9];
/// Largest packed body `decode` inflates; a full 9999-chunk manifest is about 5 MiB.
pub const DECODED_BYTES_MAX: usize = 64 << 20;

/// Block size `encode` uses (the frame header's 4 MiB maximum).
const ENCODE_BLOCK: usize = 4 << 20;
const LZ4_MAGIC: u32 = 0x184D_2204;
const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
const SKIPPABLE_MAGIC_MASK: u32 = 0xFFFF_FFF0;
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
const BLOCK_UNCOMPRESSED: u32 = 0x8000_0000;
/// How far back a linked block may reference (the LZ4 window).
const LZ4_WINDOW: usize = 64 << 10;
/// The fixed part of a packed body: version, id length, created, count, flags.
const HEAD_FIXED: usize = 1 + 2 + 8 + 2 + 2;

/// One chunk (part) of a chunked object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chunk {
    /// Chunk number, 1-based.
    pub num: u16,
    pub size: u64,
    /// Absolute FQN of the chunk file (as AIS records it).
    pub path: String,
    /// "" = no checksum; else e.g. "crc32c".
    pub cksum_type: String,
    /// Omitted on disk when `cksum_type` is empty (and must then be empty).
    pub cksum_value: String,
    pub flags: u16,
    /// The part's MD5 (S3 uploads): 0 or 16 bytes.
    pub md5: Vec<u8>,
    /// The part's ETag (S3 uploads).
    pub etag: String,
}

/// A chunk manifest: a partial one (upload in progress) or a completed one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Upload (manifest) id.
    pub id: String,
    /// Creation time, unix nanoseconds.
    pub created_ns: u64,
    pub flags: u16,
    /// Chunks in strictly ascending `num` order.
    pub chunks: Vec<Chunk>,
}

/// Why a manifest cannot be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum UfestError {
    /// Stored bytes that fail a checksum, are truncated, or decode to nonsense.
    #[error("corrupt chunk manifest: {0}")]
    Corrupt(String),
    /// A limit is exceeded (chunk count, chunk number, string length, total size).
    #[error("chunk manifest limit exceeded: {0}")]
    Limit(String),
    /// The upload (manifest) id breaks AIS's id rules.
    #[error("invalid chunk manifest id: {0}")]
    BadId(String),
    /// An in-memory manifest that cannot be stored (no chunks, order, md5 length...).
    #[error("invalid chunk manifest: {0}")]
    Invalid(String),
}

impl Manifest {
    /// Whether the completed flag is set.
    pub fn is_completed(&self) -> bool {
        self.flags & FLAG_COMPLETED != 0
    }

    /// Sum of the chunk sizes (saturating; `encode`/`decode` refuse sums past `i64::MAX`).
    pub fn total_size(&self) -> u64 {
        self.chunks
            .iter()
            .fold(0u64, |acc, c| acc.saturating_add(c.size))
    }

    /// The chunk numbered `num`, if present.
    pub fn chunk(&self, num: u16) -> Option<&Chunk> {
        self.chunks
            .binary_search_by_key(&num, |c| c.num)
            .ok()
            .map(|i| &self.chunks[i])
    }

    /// The whole-object CRC32C combined from the chunks' CRC32Cs in number order (AIS
    /// `combineCRC32C`); `None` when a chunk has no valid `crc32c` checksum.
    pub fn combined_crc32c(&self) -> Option<u32> {
        self.chunks.iter().try_fold(0u32, |acc, c| {
            let ok = c.cksum_type == "crc32c"
                && c.cksum_value.len() == 8
                && c.cksum_value.bytes().all(|b| b.is_ascii_hexdigit());
            let crc = if ok {
                u32::from_str_radix(&c.cksum_value, 16).ok()?
            } else {
                return None;
            };
            Some(crc32c_combine(acc, crc, c.size))
        })
    }

    /// The S3 multipart ETag, quoted: `"<hex md5(md5_1 || ... || md5_n)>-<n>"` (AIS
    /// `Ufest.ETagS3`). A part contributes its recorded md5, else its ETag (quotes removed,
    /// 32 hex digits); `None` when a part has neither.
    pub fn etag_s3(&self) -> Option<String> {
        use md5::Digest as _;
        let mut h = md5::Md5::new();
        for c in &self.chunks {
            if c.md5.len() == 16 {
                h.update(&c.md5);
                continue;
            }
            let hexed = c.etag.trim_matches('"');
            if hexed.len() != 32 || !hexed.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let mut raw = [0u8; 16];
            for (i, out) in raw.iter_mut().enumerate() {
                *out = u8::from_str_radix(&hexed[2 * i..2 * i + 2], 16).ok()?;
            }
            h.update(raw);
        }
        Some(format!(
            "\"{}-{}\"",
            crate::cksum::hex(&h.finalize()),
            self.chunks.len()
        ))
    }

    /// Checks what `encode` requires: a valid id, 1..=9999 chunks numbered strictly
    /// ascending in 1..=9999 (exactly 1..=count when completed), md5 of 0 or 16 bytes, a
    /// value only with a checksum type, strings that fit a u16 length, sizes summing to at
    /// most `i64::MAX` (AIS stores sizes as int64).
    pub fn validate(&self) -> Result<(), UfestError> {
        check_id(&self.id)?;
        if self.chunks.is_empty() {
            return Err(UfestError::Invalid("no chunks".into()));
        }
        if self.chunks.len() > CHUNK_COUNT_MAX {
            return Err(UfestError::Limit(format!(
                "{} chunks, at most {CHUNK_COUNT_MAX}",
                self.chunks.len()
            )));
        }
        let mut prev = 0u16;
        let mut total = 0u64;
        for (i, c) in self.chunks.iter().enumerate() {
            if c.num == 0 || usize::from(c.num) > CHUNK_COUNT_MAX {
                return Err(UfestError::Limit(format!(
                    "chunk number {} outside 1..={CHUNK_COUNT_MAX}",
                    c.num
                )));
            }
            if c.num <= prev {
                return Err(UfestError::Invalid(format!(
                    "chunk numbers not strictly ascending: {prev} then {}",
                    c.num
                )));
            }
            if self.is_completed() && usize::from(c.num) != i + 1 {
                return Err(UfestError::Invalid(format!(
                    "completed manifest has chunk {} at position {}",
                    c.num,
                    i + 1
                )));
            }
            prev = c.num;
            total = total
                .checked_add(c.size)
                .filter(|t| *t <= i64::MAX as u64)
                .ok_or_else(|| UfestError::Limit("total size exceeds i64::MAX".into()))?;
            if !c.md5.is_empty() && c.md5.len() != 16 {
                return Err(UfestError::Invalid(format!(
                    "chunk {}: md5 of {} bytes (0 or 16)",
                    c.num,
                    c.md5.len()
                )));
            }
            if c.cksum_type.is_empty() && !c.cksum_value.is_empty() {
                return Err(UfestError::Invalid(format!(
                    "chunk {}: checksum value without a type",
                    c.num
                )));
            }
            if c.cksum_type == "none" {
                return Err(UfestError::Invalid(format!(
                    "chunk {}: checksum type \"none\" (use \"\")",
                    c.num
                )));
            }
            for (what, len) in [
                ("path", c.path.len()),
                ("checksum type", c.cksum_type.len()),
                ("checksum value", c.cksum_value.len()),
                ("etag", c.etag.len()),
            ] {
                if len > usize::from(u16::MAX) {
                    return Err(UfestError::Limit(format!(
                        "chunk {}: {what} of {len} bytes (at most {})",
                        c.num,
                        u16::MAX
                    )));
                }
            }
        }
        Ok(())
    }

    /// Validates, packs, LZ4-frame-compresses (pierrec defaults, header `FRAME_HEADER`) and
    /// appends the 8-byte big-endian XXH64 (seed 1103515245) of the compressed bytes.
    pub fn encode(&self) -> Result<Vec<u8>, UfestError> {
        self.validate()?;
        let body = self.pack();
        let mut out = lz4_frame_encode(&body);
        let sum = xxh64(&out, TRAILER_SEED);
        out.extend_from_slice(&sum.to_be_bytes());
        Ok(out)
    }

    /// Verifies the trailer, inflates any valid LZ4 frame (at most `DECODED_BYTES_MAX`
    /// bytes), unpacks and validates. Anything wrong is `Corrupt`; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, UfestError> {
        if bytes.len() < TRAILER_LEN + 4 {
            return Err(corrupt(format!("{} bytes is too short", bytes.len())));
        }
        let (frame, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
        let mut want = [0u8; TRAILER_LEN];
        want.copy_from_slice(trailer);
        let want = u64::from_be_bytes(want);
        let got = xxh64(frame, TRAILER_SEED);
        if want != got {
            return Err(corrupt(format!(
                "checksum mismatch: stored {want:016x}, computed {got:016x}"
            )));
        }
        let body = lz4_frame_decode(frame, DECODED_BYTES_MAX).map_err(corrupt)?;
        let m = Manifest::unpack(&body).map_err(corrupt)?;
        m.validate().map_err(|e| corrupt(e.to_string()))?;
        Ok(m)
    }

    /// The packed (uncompressed) body; the manifest must be valid.
    fn pack(&self) -> Vec<u8> {
        let per_chunk: usize = self
            .chunks
            .iter()
            .map(|c| {
                8 + 2
                    + c.path.len()
                    + 4
                    + c.cksum_type.len()
                    + c.cksum_value.len()
                    + 4
                    + 2
                    + c.md5.len()
                    + 2
                    + c.etag.len()
            })
            .sum();
        let mut b = Vec::with_capacity(HEAD_FIXED + self.id.len() + per_chunk);
        b.push(UFEST_META_VERSION);
        put_str(&mut b, self.id.as_bytes());
        b.extend_from_slice(&self.created_ns.to_be_bytes());
        // validate() bounds the count by 9999.
        b.extend_from_slice(&(self.chunks.len() as u16).to_be_bytes());
        b.extend_from_slice(&self.flags.to_be_bytes());
        for c in &self.chunks {
            b.extend_from_slice(&c.size.to_be_bytes());
            put_str(&mut b, c.path.as_bytes());
            put_str(&mut b, c.cksum_type.as_bytes());
            if !c.cksum_type.is_empty() {
                put_str(&mut b, c.cksum_value.as_bytes());
            }
            b.extend_from_slice(&c.num.to_be_bytes());
            b.extend_from_slice(&c.flags.to_be_bytes());
            put_str(&mut b, &c.md5);
            put_str(&mut b, c.etag.as_bytes());
        }
        b
    }

    fn unpack(body: &[u8]) -> Result<Manifest, String> {
        let mut r = Reader { b: body, pos: 0 };
        let ver = r.u8("meta-version")?;
        if ver != UFEST_META_VERSION {
            return Err(format!("meta-version {ver}, expected {UFEST_META_VERSION}"));
        }
        let id = r.string("id")?;
        let created_ns = r.u64("creation time")?;
        let count = usize::from(r.u16("chunk count")?);
        if count == 0 || count > CHUNK_COUNT_MAX {
            return Err(format!("chunk count {count} outside 1..={CHUNK_COUNT_MAX}"));
        }
        let flags = r.u16("flags")?;
        // Every chunk takes at least 24 bytes: do not trust the count for the allocation.
        let mut chunks = Vec::with_capacity(count.min(r.remaining() / 24));
        for i in 0..count {
            let size = r.u64("chunk size")?;
            if size > i64::MAX as u64 {
                return Err(format!("chunk at {i}: negative size"));
            }
            let path = r.string("chunk path")?;
            let mut cksum_type = r.string("chunk checksum type")?;
            let mut cksum_value = if cksum_type.is_empty() {
                String::new()
            } else {
                r.string("chunk checksum value")?
            };
            if cksum_type == "none" {
                // AIS treats a "none" checksum as no checksum (it never writes one).
                cksum_type.clear();
                cksum_value.clear();
            }
            let num = r.u16("chunk number")?;
            let cflags = r.u16("chunk flags")?;
            let md5 = r.bytes("chunk md5")?.to_vec();
            let etag = r.string("chunk etag")?;
            chunks.push(Chunk {
                num,
                size,
                path,
                cksum_type,
                cksum_value,
                flags: cflags,
                md5,
                etag,
            });
        }
        if r.remaining() != 0 {
            return Err(format!("{} bytes after the last chunk", r.remaining()));
        }
        Ok(Manifest {
            id,
            created_ns,
            flags,
            chunks,
        })
    }
}

fn corrupt(msg: impl Into<String>) -> UfestError {
    UfestError::Corrupt(msg.into())
}

/// Appends a u16 length (the caller has bounded it) and the bytes.
fn put_str(b: &mut Vec<u8>, s: &[u8]) {
    b.extend_from_slice(&(s.len() as u16).to_be_bytes());
    b.extend_from_slice(s);
}

/// A bounds-checked big-endian cursor over the packed body.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.remaining() < n {
            return Err(format!(
                "truncated reading {what} at offset {} ({n} bytes wanted, {} left)",
                self.pos,
                self.remaining()
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(a))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = usize::from(self.u16(what)?);
        self.take(n, what)
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let b = self.bytes(what)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| format!("{what} is not UTF-8"))
    }
}

/// One LZ4 frame of `body` with pierrec/lz4 v4's writer options: 4 MiB independent blocks,
/// content checksum, no block checksums, no content size. A block that does not shrink is
/// stored uncompressed, as pierrec does.
fn lz4_frame_encode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER.len() + body.len() / 2 + 64);
    out.extend_from_slice(&FRAME_HEADER);
    let mut scratch = Vec::new();
    for block in body.chunks(ENCODE_BLOCK) {
        scratch.resize(lz4_flex::block::get_maximum_output_size(block.len()), 0);
        let n = lz4_flex::block::compress_into(block, &mut scratch).unwrap_or(0);
        if n > 0 && n < block.len() {
            out.extend_from_slice(&(n as u32).to_le_bytes());
            out.extend_from_slice(&scratch[..n]);
        } else {
            out.extend_from_slice(&(block.len() as u32 | BLOCK_UNCOMPRESSED).to_le_bytes());
            out.extend_from_slice(block);
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes()); // end mark
    out.extend_from_slice(&xxh32(body, 0).to_le_bytes());
    out
}

fn le32(src: &[u8], at: usize, what: &str) -> Result<u32, String> {
    src.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("LZ4: truncated {what} at offset {at}"))
}

/// Inflates a sequence of LZ4 frames (skippable frames are skipped; at least one data frame)
/// that must end exactly at the end of `src`, checking header, block and content checksums
/// and the content size when present. Output above `limit` bytes is refused.
pub(crate) fn lz4_frame_decode(src: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out: Vec<u8> = Vec::new();
    let mut pos = 0usize;
    let mut frames = 0usize;
    while pos < src.len() {
        let magic = le32(src, pos, "magic")?;
        if magic & SKIPPABLE_MAGIC_MASK == SKIPPABLE_MAGIC {
            let len = le32(src, pos + 4, "skippable frame size")? as usize;
            pos = (pos + 8)
                .checked_add(len)
                .filter(|end| *end <= src.len())
                .ok_or_else(|| format!("LZ4: truncated skippable frame at offset {pos}"))?;
            continue;
        }
        if magic == LZ4_LEGACY_MAGIC {
            return Err("LZ4: legacy frame format is not supported".into());
        }
        if magic != LZ4_MAGIC {
            return Err(format!("LZ4: bad magic {magic:08x} at offset {pos}"));
        }
        pos = decode_frame(src, pos + 4, &mut out, limit)?;
        frames += 1;
    }
    if frames == 0 {
        return Err("LZ4: no data frame".into());
    }
    Ok(out)
}

/// Decodes one frame whose descriptor starts at `pos`; returns the offset after it.
fn decode_frame(
    src: &[u8],
    mut pos: usize,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<usize, String> {
    let desc_start = pos;
    let (flg, bd) = match src.get(pos..pos + 2) {
        Some(s) => (s[0], s[1]),
        None => return Err("LZ4: truncated frame descriptor".into()),
    };
    pos += 2;
    if flg >> 6 != 1 {
        return Err(format!("LZ4: frame version {}", flg >> 6));
    }
    if flg & 0x02 != 0 || bd & 0x8F != 0 {
        return Err("LZ4: reserved descriptor bits set".into());
    }
    let independent = flg & 0x20 != 0;
    let block_checksums = flg & 0x10 != 0;
    let has_content_size = flg & 0x08 != 0;
    let content_checksum = flg & 0x04 != 0;
    if flg & 0x01 != 0 {
        return Err("LZ4: frames with a dictionary id are not supported".into());
    }
    let block_max = match (bd >> 4) & 0x7 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        other => return Err(format!("LZ4: block size id {other}")),
    };
    let content_size = if has_content_size {
        let s = src.get(pos..pos + 8).ok_or("LZ4: truncated content size")?;
        pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    } else {
        None
    };
    let hc = *src.get(pos).ok_or("LZ4: truncated header checksum")?;
    if (xxh32(&src[desc_start..pos], 0) >> 8) as u8 != hc {
        return Err("LZ4: header checksum mismatch".into());
    }
    pos += 1;

    let frame_start = out.len();
    loop {
        let word = le32(src, pos, "block size")?;
        pos += 4;
        if word == 0 {
            break;
        }
        let len = (word & !BLOCK_UNCOMPRESSED) as usize;
        if len > block_max {
            return Err(format!(
                "LZ4: block of {len} bytes over the {block_max} maximum"
            ));
        }
        let data = src
            .get(pos..pos + len)
            .ok_or_else(|| format!("LZ4: truncated block at offset {pos}"))?;
        pos += len;
        if block_checksums {
            let want = le32(src, pos, "block checksum")?;
            pos += 4;
            if xxh32(data, 0) != want {
                return Err("LZ4: block checksum mismatch".into());
            }
        }
        let room = limit - out.len();
        if word & BLOCK_UNCOMPRESSED != 0 {
            if len > room {
                return Err(format!("LZ4: content over {limit} bytes"));
            }
            out.extend_from_slice(data);
        } else {
            decode_block(data, out, frame_start, independent, block_max.min(room))?;
        }
    }
    if content_checksum {
        let want = le32(src, pos, "content checksum")?;
        pos += 4;
        if xxh32(&out[frame_start..], 0) != want {
            return Err("LZ4: content checksum mismatch".into());
        }
    }
    if let Some(size) = content_size {
        if size != (out.len() - frame_start) as u64 {
            return Err(format!(
                "LZ4: content size {size} recorded, {} decoded",
                out.len() - frame_start
            ));
        }
    }
    Ok(pos)
}

/// Inflates one compressed block onto `out`, with at most `max` bytes of output. A linked
/// block may reference up to 64 KiB of this frame's earlier output.
fn decode_block(
    data: &[u8],
    out: &mut Vec<u8>,
    frame_start: usize,
    independent: bool,
    max: usize,
) -> Result<(), String> {
    let old = out.len();
    // Try a modest output size first (most blocks inflate a few times at most), then the
    // block maximum, so that small manifests do not zero 4 MiB.
    let guess = data.len().saturating_mul(8).max(4096).min(max);
    for cap in [guess, max] {
        out.resize(old + cap, 0);
        let (prev, tail) = out.split_at_mut(old);
        let res = if independent {
            lz4_flex::block::decompress_into(data, tail)
        } else {
            let dict = &prev[frame_start.max(old.saturating_sub(LZ4_WINDOW))..];
            lz4_flex::block::decompress_into_with_dict(data, tail, dict)
        };
        match res {
            Ok(n) => {
                out.truncate(old + n);
                return Ok(());
            }
            Err(e) if cap == max => {
                out.truncate(old);
                return Err(format!("LZ4: bad block: {e}"));
            }
            Err(_) => {}
        }
    }
    out.truncate(old);
    Err("LZ4: bad block".into())
}

/// AIS's manifest/upload id rules (`cos.ValidateManifestID`): 8-128 printable ASCII
/// characters, no space, no '/' or '\\'.
pub fn check_id(id: &str) -> Result<(), UfestError> {
    let len = id.len();
    if len < ID_LEN_MIN {
        return Err(UfestError::BadId(format!(
            "{id:?} is too short (at least {ID_LEN_MIN} characters)"
        )));
    }
    if len > ID_LEN_MAX {
        return Err(UfestError::BadId(format!(
            "id of {len} bytes is too long (at most {ID_LEN_MAX} characters)"
        )));
    }
    if let Some(i) = id
        .bytes()
        .position(|c| !(33..=126).contains(&c) || c == b'/' || c == b'\\')
    {
        return Err(UfestError::BadId(format!(
            "{id:?} has an invalid character at position {i} (printable ASCII, no space, no slashes)"
        )));
    }
    Ok(())
}

/// The alphabet of AIS's short ids (`cos.uuidABC`).
const UUID_ABC: &[u8; 64] = b"-5nZJDft6LuzsjGNpPwY7rQa39vehq4i1cV2FROo8yHSlC0BUEdWbIxMmTgKXAk_";
/// Length of a short id before the cosmetic prefix/suffix (`cos.LenShortID`).
const SHORT_ID_LEN: usize = 9;

/// A fresh upload id shaped like AIS's `cos.GenUUID` for ais buckets: 9 characters of the
/// short-id alphabet, prefixed with an upper-case letter when the first character is not a
/// letter (or the id looks like a rebalance id, 'g' and digits), suffixed with a lower-case
/// letter when the last is '-' or '_'; 9-11 characters in all, and it passes `check_id`.
pub fn new_upload_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // RandomState is seeded from the OS once per thread and differs per instance.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(n);
    h.write_u64(nanos);
    h.write_u32(std::process::id());
    let mut bits = h.finish();
    let tie = bits >> 58;
    let mut core = [0u8; SHORT_ID_LEN];
    for c in core.iter_mut() {
        *c = UUID_ABC[(bits & 0x3f) as usize];
        bits >>= 6;
    }
    let mut id = String::with_capacity(SHORT_ID_LEN + 2);
    let first = core[0];
    let looks_like_reb = first == b'g' && core[1..].iter().all(u8::is_ascii_digit);
    if looks_like_reb || !first.is_ascii_alphabetic() {
        id.push((b'A' + (tie % 26) as u8) as char);
    }
    id.extend(core.iter().map(|&c| c as char));
    let last = core[SHORT_ID_LEN - 1];
    if last == b'-' || last == b'_' {
        id.push((b'a' + ((tie + 1) % 26) as u8) as char);
    }
    id
}

/// The HRW digest that places chunk `num` (>= 2) of upload `id`, as AIS computes it in
/// `Ufest.newChunk2N`: XXH64 (seed 1103515245) of the id followed by the chunk number as
/// 4 zero-padded digits (`hrw::chunk_key`). Feed it to `hrw::select_by` /
/// `MountpathSet::place`. Chunk 1 is not placed by this: it lives on the object's mountpath.
pub fn chunk_digest(id: &str, num: u16) -> u64 {
    hrw::digest(hrw::chunk_key(id, num).as_bytes())
}

/// CRC32C (Castagnoli) of `b`.
pub fn crc32c(b: &[u8]) -> u32 {
    crc32c::crc32c(b)
}

/// The CRC32C of `A || b` given `crc` = CRC32C of `A`.
pub fn crc32c_append(crc: u32, b: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, b)
}

/// The CRC32C of `A || B` from `a` = CRC32C(A), `b` = CRC32C(B) and the length of `B`
/// (AIS `cos.CRC32CCombine`; combining onto 0 gives `b`).
pub fn crc32c_combine(a: u32, b: u32, len_b: u64) -> u32 {
    // Object sizes fit usize on the 64-bit targets this engine runs on.
    crc32c::crc32c_combine(a, b, len_b as usize)
}

/// A CRC32C as AIS prints it: 8 lowercase hex digits.
pub fn crc32c_hex(v: u32) -> String {
    format!("{v:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{FIXTURES}/{name}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The pinned manifest (also built field by field in tests/fixtures/gen.py): completed,
    /// three chunks, one with md5 + etag, one without a checksum.
    fn pinned() -> Manifest {
        let md5: Vec<u8> = (0u8..16).collect();
        Manifest {
            id: "Xq7Zk2Lm9".into(),
            created_ns: 1_764_000_000_123_456_789,
            flags: FLAG_COMPLETED,
            chunks: vec![
                Chunk {
                    num: 1,
                    size: 5 << 20,
                    path: "/ais/mp4/@ais/bkt/%ob/dir/obj.bin".into(),
                    cksum_type: "crc32c".into(),
                    cksum_value: "1a2b3c4d".into(),
                    flags: 0,
                    etag: format!("\"{}\"", crate::cksum::hex(&md5)),
                    md5,
                },
                Chunk {
                    num: 2,
                    size: 5 << 20,
                    path: "/ais/mp1/@ais/bkt/%ch/dir/obj.bin.Xq7Zk2Lm9.0002".into(),
                    cksum_type: "crc32c".into(),
                    cksum_value: "deadbeef".into(),
                    ..Chunk::default()
                },
                Chunk {
                    num: 3,
                    size: 1234,
                    path: "/ais/mp2/@ais/bkt/%ch/dir/obj.bin.Xq7Zk2Lm9.0003".into(),
                    ..Chunk::default()
                },
            ],
        }
    }

    /// The partial 1000-chunk manifest of gen.py's `big()` (odd chunk numbers 1..1999).
    fn big() -> Manifest {
        let id = "bigUpload-0001";
        let chunks = (0..1000u32)
            .map(|i| {
                let num = (2 * i + 1) as u16;
                Chunk {
                    num,
                    size: (1 << 20) * u64::from(i % 7 + 1),
                    path: format!(
                        "/ais/mp{}/@ais/bkt/%ch/data/big.tar.{id}.{num:04}",
                        i % 4 + 1
                    ),
                    cksum_type: "crc32c".into(),
                    cksum_value: format!("{:08x}", i.wrapping_mul(2654435761)),
                    ..Chunk::default()
                }
            })
            .collect();
        Manifest {
            id: id.into(),
            created_ns: 1,
            flags: 0,
            chunks,
        }
    }

    /// `frame` with its XXH64 trailer, as a manifest file holds it.
    fn seal(frame: &[u8]) -> Vec<u8> {
        let mut b = frame.to_vec();
        b.extend_from_slice(&xxh64(frame, TRAILER_SEED).to_be_bytes());
        b
    }

    /// A manifest file holding an arbitrary packed body (compressed our way, trailer right).
    fn seal_body(body: &[u8]) -> Vec<u8> {
        seal(&lz4_frame_encode(body))
    }

    fn is_corrupt(r: Result<Manifest, UfestError>) -> bool {
        matches!(r, Err(UfestError::Corrupt(_)))
    }

    /// Goal: encode/decode round trip, for small, big and maximal manifests.
    #[test]
    fn round_trip() {
        for m in [pinned(), big()] {
            let bytes = m.encode().expect("encode");
            assert_eq!(Manifest::decode(&bytes).expect("decode"), m);
        }
        let mut max = big();
        max.chunks = (1..=CHUNK_COUNT_MAX as u16)
            .map(|num| Chunk {
                num,
                size: u64::from(num),
                path: format!("/mp/@ais/b/%ch/o.bigUpload-0001.{num:04}"),
                cksum_type: "crc32c".into(),
                cksum_value: crc32c_hex(u32::from(num)),
                md5: vec![num as u8; 16],
                etag: "e".repeat(40),
                flags: 0,
            })
            .collect();
        max.flags = FLAG_COMPLETED;
        let bytes = max.encode().expect("encode 9999 chunks");
        let back = Manifest::decode(&bytes).expect("decode 9999 chunks");
        assert_eq!(back, max);
        assert!(back.is_completed());
        assert_eq!(back.total_size(), 9999 * 10000 / 2);
        assert_eq!(back.chunk(77).map(|c| c.size), Some(77));
        assert_eq!(back.chunk(10000), None);
    }

    /// Goal: the packed layout is the documented one. Steps: the pinned manifest's body
    /// equals gen.py's field-by-field body, and so does the 1000-chunk one.
    #[test]
    fn packed_layout_matches_independent_builder() {
        assert_eq!(pinned().pack(), fixture("ufest-v1.body"));
        assert_eq!(big().pack(), fixture("ufest-big.body"));
        // Spot-check the head by hand: version, id, created, count, flags.
        let b = pinned().pack();
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..3], &[0, 9]);
        assert_eq!(&b[3..12], b"Xq7Zk2Lm9");
        assert_eq!(&b[12..20], &1_764_000_000_123_456_789u64.to_be_bytes());
        assert_eq!(&b[20..24], &[0, 3, 0, 1]);
        assert_eq!(&b[24..32], &(5u64 << 20).to_be_bytes());
    }

    /// Goal: the whole file is pinned. Steps: encode(pinned) equals the checked-in
    /// ufest-v1.bin (which `gen.py verify` checks with python-xxhash and `lz4 -d`), decode
    /// of the fixture gives the manifest, the frame header is pierrec's.
    #[test]
    fn fixture_pins_bytes() {
        let got = pinned().encode().expect("encode");
        if std::env::var_os("UFEST_BLESS").is_some() {
            // Rewrites the fixture (a deliberate format change); check it with `gen.py verify`.
            std::fs::write(format!("{FIXTURES}/ufest-v1.bin"), &got).expect("write fixture");
        }
        let want = fixture("ufest-v1.bin");
        assert_eq!(
            got, want,
            "encode output differs from tests/fixtures/ufest-v1.bin"
        );
        assert_eq!(Manifest::decode(&want).expect("decode fixture"), pinned());
        assert_eq!(&want[..7], &[0x04, 0x22, 0x4D, 0x18, 0x64, 0x70, 0xB9]);
        assert_eq!(FRAME_HEADER, [0x04, 0x22, 0x4D, 0x18, 0x64, 0x70, 0xB9]);
        // The header checksum byte is (XXH32(FLG BD) >> 8) & 0xff.
        assert_eq!((xxh32(&[0x64, 0x70], 0) >> 8) as u8, 0xB9);
        let frame = &want[..want.len() - TRAILER_LEN];
        assert_eq!(
            u64::from_be_bytes(want[want.len() - 8..].try_into().expect("8 bytes")),
            xxh64(frame, TRAILER_SEED)
        );
        // End mark then the content checksum (XXH32 of the body, seed 0) close the frame.
        let body = pinned().pack();
        assert_eq!(&frame[frame.len() - 8..frame.len() - 4], &[0, 0, 0, 0]);
        assert_eq!(&frame[frame.len() - 4..], &xxh32(&body, 0).to_le_bytes());
    }

    /// Goal: frames with other options, written by the reference `lz4` CLI, decode: linked
    /// blocks, block checksums, content size, no content checksum, several frames, a
    /// skippable frame. The legacy format is refused.
    #[test]
    fn decodes_other_lz4_frames() {
        let body = fixture("ufest-big.body");
        for name in ["linked-64k", "bx-size", "nocrc", "two-frames", "skippable"] {
            let frame = fixture(&format!("ufest-big-{name}.lz4"));
            assert_eq!(
                lz4_frame_decode(&frame, DECODED_BYTES_MAX).as_deref(),
                Ok(body.as_slice()),
                "{name}"
            );
            assert_eq!(
                Manifest::decode(&seal(&frame)).expect(name),
                big(),
                "{name}"
            );
        }
        let legacy = fixture("ufest-big-legacy.lz4");
        assert!(is_corrupt(Manifest::decode(&seal(&legacy))));
        // The linked-block fixture really is linked and has more than one block.
        let linked = fixture("ufest-big-linked-64k.lz4");
        assert_eq!(linked[4] & 0x20, 0, "independent flag must be clear");
        let first = le32(&linked, 7, "first block").expect("block size") & !BLOCK_UNCOMPRESSED;
        let second = le32(&linked, 11 + first as usize, "second block").expect("block size");
        assert_ne!(second, 0, "a second block follows the first");
    }

    /// Goal: output is bounded. Steps: a body over the limit is refused, and a frame whose
    /// content exceeds a small limit fails without inflating past it.
    #[test]
    fn decode_is_bounded() {
        let frame = fixture("ufest-big-linked-64k.lz4");
        let err = lz4_frame_decode(&frame, 50_000).expect_err("over the limit");
        assert!(err.contains("LZ4"), "{err}");
        let zeros = vec![0u8; DECODED_BYTES_MAX + 1];
        let bomb = seal_body(&zeros);
        assert!(bomb.len() < 1 << 20, "zeros compress well");
        assert!(is_corrupt(Manifest::decode(&bomb)));
    }

    /// Goal: flipping any byte of a manifest file is caught. Steps: for every position, two
    /// different flips; each must be Err (the trailer catches the frame, the frame's own
    /// checks are not relied on).
    #[test]
    fn every_byte_flip_is_caught() {
        let good = pinned().encode().expect("encode");
        for i in 0..good.len() {
            for mask in [0x01u8, 0xFF] {
                let mut bad = good.clone();
                bad[i] ^= mask;
                assert!(
                    is_corrupt(Manifest::decode(&bad)),
                    "flip {mask:#x} at {i} of {}",
                    good.len()
                );
            }
        }
    }

    /// Goal: a frame damaged and then re-sealed (trailer recomputed) is still caught by the
    /// LZ4 layer or by unpacking: never Ok with different content.
    #[test]
    fn resealed_frame_damage_never_yields_other_content() {
        let good = pinned().encode().expect("encode");
        let frame = &good[..good.len() - TRAILER_LEN];
        for i in 0..frame.len() {
            let mut bad = frame.to_vec();
            bad[i] ^= 0x01;
            match Manifest::decode(&seal(&bad)) {
                Err(UfestError::Corrupt(_)) => {}
                Ok(m) => assert_eq!(m, pinned(), "flip at {i} decoded to other content"),
                Err(e) => panic!("flip at {i}: not Corrupt: {e}"),
            }
        }
    }

    /// Goal: every truncation, and every extension, is caught.
    #[test]
    fn truncation_and_trailing_bytes() {
        let good = pinned().encode().expect("encode");
        for len in 0..good.len() {
            assert!(is_corrupt(Manifest::decode(&good[..len])), "len {len}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(is_corrupt(Manifest::decode(&longer)));
        // Garbage between the frame and the trailer, trailer recomputed.
        let frame = &good[..good.len() - TRAILER_LEN];
        let mut padded = frame.to_vec();
        padded.extend_from_slice(b"garbage!");
        assert!(is_corrupt(Manifest::decode(&seal(&padded))));
        // A frame cut after its last block (no end mark), re-sealed.
        let cut = &frame[..frame.len() - 8];
        assert!(is_corrupt(Manifest::decode(&seal(cut))));
        // A packed body with bytes after the last chunk.
        let mut body = pinned().pack();
        body.push(7);
        assert!(is_corrupt(Manifest::decode(&seal_body(&body))));
        // A packed body cut anywhere.
        let body = pinned().pack();
        for len in 0..body.len() {
            assert!(
                is_corrupt(Manifest::decode(&seal_body(&body[..len]))),
                "body len {len}"
            );
        }
    }

    /// Goal: a well-sealed body that is nonsense is Corrupt: wrong meta-version, bad id,
    /// count mismatch, zero count, order, duplicates, completed with a gap, bad md5,
    /// negative size, non-UTF-8 strings.
    #[test]
    fn nonsense_bodies_are_corrupt() {
        let body = pinned().pack();
        let chunk2_num_at = {
            // Offset of chunk 2's number field: after chunk 1 and chunk 2's size/path/cksum.
            let c1 =
                8 + 2 + pinned().chunks[0].path.len() + 2 + 6 + 2 + 8 + 2 + 2 + 2 + 16 + 2 + 34;
            let c2 = 8 + 2 + pinned().chunks[1].path.len() + 2 + 6 + 2 + 8;
            24 + c1 + c2
        };
        assert_eq!(&body[chunk2_num_at..chunk2_num_at + 2], &[0, 2]);
        let set = |at: usize, bytes: &[u8]| {
            let mut b = body.clone();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            b
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("meta-version 2", set(0, &[2])),
            ("meta-version 0", set(0, &[0])),
            ("count 2 of 3", set(20, &[0, 2])),
            ("count 4 of 3", set(20, &[0, 4])),
            ("count 0", set(20, &[0, 0])),
            ("duplicate number", set(chunk2_num_at, &[0, 1])),
            ("descending number", set(chunk2_num_at, &[0, 9])),
            ("number 0", set(24 + 8 + 2 + 33 + 2 + 6 + 2 + 8, &[0, 0])),
            ("id with space", set(3, b"Xq7 ")),
            ("id with slash", set(3, b"a/")),
            ("negative size", set(24, &[0x80])),
            ("non-utf8 path", set(24 + 8 + 2, &[0xFF])),
        ];
        for (what, b) in cases {
            assert!(is_corrupt(Manifest::decode(&seal_body(&b))), "{what}");
        }
        // Completed with a gap (chunk 3 renumbered 4) is nonsense; partial with a gap is not.
        let last_num_at = body.len() - 2 - 2 - 2 - 2;
        assert_eq!(&body[last_num_at..last_num_at + 2], &[0, 3]);
        let gap = set(last_num_at, &[0, 4]);
        assert!(is_corrupt(Manifest::decode(&seal_body(&gap))));
        let mut partial_gap = gap.clone();
        partial_gap[23] = 0;
        let m = Manifest::decode(&seal_body(&partial_gap)).expect("partial with a gap");
        assert_eq!(
            m.chunks.iter().map(|c| c.num).collect::<Vec<_>>(),
            [1, 2, 4]
        );
        // Short id: a 7-character id re-packed.
        let mut short = pinned();
        short.id = "Xq7Zk2L".into();
        let mut b = vec![1u8];
        put_str(&mut b, short.id.as_bytes());
        b.extend_from_slice(&body[12..]);
        assert!(is_corrupt(Manifest::decode(&seal_body(&b))));
        // md5 of 5 bytes.
        let mut m = pinned();
        m.chunks[0].md5 = vec![1; 5];
        let packed = m.pack();
        assert!(is_corrupt(Manifest::decode(&seal_body(&packed))));
        // A "none" checksum type reads as no checksum, as in AIS.
        let mut m = pinned();
        m.chunks[2].cksum_type = "none".into();
        m.chunks[2].cksum_value = "x".into();
        let back = Manifest::decode(&seal_body(&m.pack())).expect("none checksum");
        assert_eq!(back, pinned());
    }

    /// Goal: encode enforces the limits and refuses manifests it could not read back.
    #[test]
    fn encode_limits() {
        let ok = pinned();
        assert!(ok.encode().is_ok());
        let with = |f: &dyn Fn(&mut Manifest)| {
            let mut m = ok.clone();
            f(&mut m);
            m.encode()
        };
        let limit = |r: Result<Vec<u8>, UfestError>| matches!(r, Err(UfestError::Limit(_)));
        let invalid = |r: Result<Vec<u8>, UfestError>| matches!(r, Err(UfestError::Invalid(_)));
        let bad_id = |r: Result<Vec<u8>, UfestError>| matches!(r, Err(UfestError::BadId(_)));

        let mut many = big();
        many.chunks = (0..=CHUNK_COUNT_MAX as u32)
            .map(|i| Chunk {
                num: (i + 1) as u16,
                ..Chunk::default()
            })
            .collect();
        assert!(limit(many.encode()));
        many.chunks.pop();
        assert!(many.encode().is_ok(), "9999 chunks are fine");

        assert!(limit(with(&|m| m.chunks[2].num = 10000)));
        assert!(limit(with(&|m| m.chunks[0].num = 0)));
        assert!(limit(with(&|m| m.chunks[0].path = "p".repeat(65536))));
        assert!(limit(with(&|m| m.chunks[1].etag = "e".repeat(65536))));
        assert!(with(&|m| m.chunks[1].etag = "e".repeat(65535)).is_ok());
        assert!(limit(with(&|m| {
            m.chunks[0].size = i64::MAX as u64;
            m.chunks[1].size = 1;
        })));
        assert!(invalid(with(&|m| m.chunks.clear())));
        assert!(invalid(with(&|m| m.chunks.swap(0, 1))));
        assert!(invalid(with(&|m| m.chunks[1].num = 1)));
        assert!(
            invalid(with(&|m| m.chunks[2].num = 4)),
            "completed with a gap"
        );
        assert!(with(&|m| {
            m.chunks[2].num = 4;
            m.flags = 0;
        })
        .is_ok());
        assert!(invalid(with(&|m| m.chunks[0].md5 = vec![0; 15])));
        assert!(invalid(with(&|m| m.chunks[2].cksum_value = "ab".into())));
        assert!(invalid(with(&|m| m.chunks[2].cksum_type = "none".into())));
        for id in [
            "",
            "short77",
            "has space",
            "a/bcdefgh",
            "a\\bcdefgh",
            "tab\tabcd",
            "é-abcdefg",
        ] {
            assert!(bad_id(with(&|m| m.id = id.into())), "{id:?}");
        }
        assert!(bad_id(with(&|m| m.id = "x".repeat(129))));
        assert!(with(&|m| m.id = "x".repeat(128)).is_ok());
        assert!(with(&|m| m.id = "~!@#$%^&".into()).is_ok());
    }

    /// Goal: the id rules of `cos.ValidateManifestID` at each boundary.
    #[test]
    fn id_rules() {
        assert!(check_id("abcdefgh").is_ok());
        assert!(check_id("abcdefg").is_err());
        assert!(check_id(&"a".repeat(128)).is_ok());
        assert!(check_id(&"a".repeat(129)).is_err());
        for c in 0u8..=127 {
            let id = format!("abcdefg{}", c as char);
            let ok = (33..=126).contains(&c) && c != b'/' && c != b'\\';
            assert_eq!(check_id(&id).is_ok(), ok, "char {c}");
        }
    }

    /// Goal: fresh upload ids are AIS-shaped (9-11 chars of the short-id alphabet, starting
    /// with a letter, not ending in '-' or '_'), valid, and distinct.
    #[test]
    fn upload_ids() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = new_upload_id();
            assert!((9..=11).contains(&id.len()), "{id}");
            assert!(check_id(&id).is_ok(), "{id}");
            assert!(id.as_bytes()[0].is_ascii_alphabetic(), "{id}");
            assert!(!id.ends_with('-') && !id.ends_with('_'), "{id}");
            assert!(id.bytes().all(|c| UUID_ABC.contains(&c)), "{id}");
            assert!(seen.insert(id));
        }
    }

    /// Goal: chunk placement digests match AIS. Vector derived by hand from AIS
    /// `Ufest.newChunk2N` + `fs.Hrw`: python-xxhash (the C library) XXH64 of "Xq7Zk2Lm90002"
    /// with seed 1103515245, and the winners among /ais/mp1..4 computed in Python from AIS's
    /// `fs.Hrw` (XXH64 of each mountpath, `xoshiro256.Hash(path digest ^ digest)`, highest
    /// wins, ties to the later) with `cmn/xoshiro256.Hash` ported line by line from Go.
    #[test]
    fn chunk_placement_vector() {
        assert_eq!(chunk_digest("Xq7Zk2Lm9", 2), 5748789801598053394);
        assert_eq!(chunk_digest("Xq7Zk2Lm9", 3), 2256500066439366653);
        let mps = ["/ais/mp1", "/ais/mp2", "/ais/mp3", "/ais/mp4"];
        let want = [
            (2, "/ais/mp1"),
            (3, "/ais/mp2"),
            (4, "/ais/mp1"),
            (5, "/ais/mp2"),
            (6, "/ais/mp3"),
            (7, "/ais/mp3"),
        ];
        for (num, mp) in want {
            let d = chunk_digest("Xq7Zk2Lm9", num);
            let win = hrw::select_by(d, mps.iter().map(|m| (*m, hrw::path_digest(m))));
            assert_eq!(win, Some(mp), "chunk {num}");
        }
    }

    /// Goal: the whole-object CRC32C from chunk CRC32Cs equals the CRC32C of the whole;
    /// a chunk without one (or with a malformed one) gives `None`.
    #[test]
    fn combined_crc32c_of_chunks() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let sizes = [100_000usize, 1, 65_536, 134_463];
        let mut m = pinned();
        m.chunks.clear();
        let mut at = 0;
        for (i, n) in sizes.iter().enumerate() {
            let part = &data[at..at + n];
            at += n;
            m.chunks.push(Chunk {
                num: i as u16 + 1,
                size: *n as u64,
                cksum_type: "crc32c".into(),
                cksum_value: crc32c_hex(crc32c(part)),
                ..Chunk::default()
            });
        }
        assert_eq!(at, data.len());
        assert_eq!(m.combined_crc32c(), Some(crc32c(&data)));
        let mut bad = m.clone();
        bad.chunks[2].cksum_type = "xxhash2".into();
        assert_eq!(bad.combined_crc32c(), None);
        let mut bad = m.clone();
        bad.chunks[1].cksum_value = "+1234567".into();
        assert_eq!(bad.combined_crc32c(), None);
    }

    /// Goal: the S3 multipart ETag. Vector from Python hashlib: parts "part-one" and
    /// "part-two"; one part given by md5, the other by quoted ETag only.
    #[test]
    fn etag_s3_vector() {
        let mut m = pinned();
        m.chunks.truncate(2);
        m.chunks[0].md5 = vec![
            0xde, 0xde, 0x9d, 0xb2, 0x22, 0xee, 0x61, 0x28, 0x53, 0xf4, 0x4e, 0x6e, 0x6b, 0x1c,
            0xa7, 0x92,
        ];
        m.chunks[1].etag = "\"093064bee9fa39309997041a6e03f29f\"".into();
        assert_eq!(
            m.etag_s3().as_deref(),
            Some("\"4e0f3bff4d24863cbef6c3d3dc5c2b7e-2\"")
        );
        m.chunks[1].etag = "not-an-md5".into();
        assert_eq!(m.etag_s3(), None);
    }

    /// Goal: CRC32C helpers: the standard check value, append, combine (including onto 0 as
    /// AIS starts), hex form.
    #[test]
    fn crc32c_helpers() {
        assert_eq!(crc32c(b"123456789"), 0xE3069283);
        assert_eq!(crc32c_hex(0xE3069283), "e3069283");
        assert_eq!(crc32c_hex(0x1), "00000001");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for cut in [0, 1, 4095, 50_000, 99_999, 100_000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(crc32c_append(crc32c(a), b), crc32c(&data), "cut {cut}");
            assert_eq!(
                crc32c_combine(crc32c(a), crc32c(b), b.len() as u64),
                crc32c(&data),
                "cut {cut}"
            );
        }
        assert_eq!(
            crc32c_combine(0, crc32c(&data), data.len() as u64),
            crc32c(&data)
        );
        let parts: Vec<&[u8]> = data.chunks(7777).collect();
        let folded = parts.iter().fold(0u32, |acc, p| {
            crc32c_combine(acc, crc32c(p), p.len() as u64)
        });
        assert_eq!(folded, crc32c(&data));
    }
}
