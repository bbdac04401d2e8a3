//! S3 additional checksums (`x-amz-checksum-*`): the five algorithms, a streaming hasher, and
//! the base64 wire form of a digest.
//!
//! S3 sends and returns each checksum as the base64 of the big-endian digest bytes: 4 bytes for
//! CRC32 and CRC32C, 8 for CRC64/NVME, 20 for SHA-1 and 32 for SHA-256. Names are matched
//! ASCII-case-insensitively, as header names are.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use crc::{Crc, Table, CRC_64_NVME};
use sha1::Digest as _;

/// The CRC-64/NVME engine S3 uses for `x-amz-checksum-crc64nvme` (16 tables, 32 KiB).
static CRC64_NVME: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_NVME);

/// Longest digest of any algorithm, in bytes (SHA-256).
pub const DIGEST_BYTES_MAX: usize = 32;

/// One of the checksum algorithms S3 accepts in `x-amz-checksum-*` and `x-amz-sdk-checksum-algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algo {
    /// CRC-32 (ISO-HDLC, as zlib).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algo {
    /// Every algorithm, in S3's documentation order.
    pub const ALL: [Algo; 5] = [
        Algo::Crc32,
        Algo::Crc32c,
        Algo::Crc64Nvme,
        Algo::Sha1,
        Algo::Sha256,
    ];

    /// The algorithm a header such as `x-amz-checksum-crc32` names (any ASCII case).
    pub fn from_header_name(name: &str) -> Option<Algo> {
        Algo::ALL
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name))
    }

    /// The algorithm a name such as `CRC32` names (any ASCII case), as in
    /// `x-amz-sdk-checksum-algorithm` or `x-amz-checksum-algorithm`.
    pub fn from_name(name: &str) -> Option<Algo> {
        Algo::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The header that carries this checksum, lowercase: `x-amz-checksum-crc32`.
    pub fn header_name(self) -> &'static str {
        match self {
            Algo::Crc32 => "x-amz-checksum-crc32",
            Algo::Crc32c => "x-amz-checksum-crc32c",
            Algo::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algo::Sha1 => "x-amz-checksum-sha1",
            Algo::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// S3's name for the algorithm: `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Crc32 => "CRC32",
            Algo::Crc32c => "CRC32C",
            Algo::Crc64Nvme => "CRC64NVME",
            Algo::Sha1 => "SHA1",
            Algo::Sha256 => "SHA256",
        }
    }

    /// Digest length in bytes.
    pub fn digest_bytes(self) -> usize {
        match self {
            Algo::Crc32 | Algo::Crc32c => 4,
            Algo::Crc64Nvme => 8,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
        }
    }

    /// A hasher at the start of a stream.
    pub fn hasher(self) -> Hasher {
        Hasher::new(self)
    }
}

/// A finished digest of one algorithm.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checksum {
    algo: Algo,
    bytes: [u8; DIGEST_BYTES_MAX],
}

impl Checksum {
    /// A checksum from its raw big-endian bytes; `None` if the length is wrong for `algo`.
    pub fn from_bytes(algo: Algo, raw: &[u8]) -> Option<Checksum> {
        if raw.len() != algo.digest_bytes() {
            return None;
        }
        let mut bytes = [0; DIGEST_BYTES_MAX];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Checksum { algo, bytes })
    }

    /// Parses the base64 wire form; `None` unless it is canonical padded base64 of exactly
    /// the algorithm's digest length.
    pub fn from_base64(algo: Algo, text: &str) -> Option<Checksum> {
        let raw = BASE64.decode(text.trim()).ok()?;
        let checksum = Checksum::from_bytes(algo, &raw)?;
        // Non-canonical encodings (stray bits in the last character) would compare unequal
        // as text elsewhere; refuse them here so one value has one spelling.
        (checksum.to_base64() == text.trim()).then_some(checksum)
    }

    /// The algorithm.
    pub fn algo(&self) -> Algo {
        self.algo
    }

    /// The raw big-endian digest.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algo.digest_bytes()]
    }

    /// The base64 wire form, as S3 sends it in `x-amz-checksum-*`.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.as_bytes())
    }
}

impl std::fmt::Debug for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algo.name(), self.to_base64())
    }
}

#[derive(Clone)]
enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64(crc::Digest<'static, u64, Table<16>>),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

/// A streaming checksum: feed bytes with [`Hasher::update`], end with [`Hasher::finish`].
#[derive(Clone)]
pub struct Hasher {
    state: State,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("algo", &self.algo())
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// A hasher for `algo` at the start of a stream.
    pub fn new(algo: Algo) -> Hasher {
        let state = match algo {
            Algo::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            Algo::Crc32c => State::Crc32c(0),
            Algo::Crc64Nvme => State::Crc64(CRC64_NVME.digest()),
            Algo::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algo::Sha256 => State::Sha256(sha2::Sha256::new()),
        };
        Hasher { state }
    }

    /// The algorithm this hasher computes.
    pub fn algo(&self) -> Algo {
        match self.state {
            State::Crc32(_) => Algo::Crc32,
            State::Crc32c(_) => Algo::Crc32c,
            State::Crc64(_) => Algo::Crc64Nvme,
            State::Sha1(_) => Algo::Sha1,
            State::Sha256(_) => Algo::Sha256,
        }
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Crc64(d) => d.update(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Checksum {
        let algo = self.algo();
        let digest: Vec<u8> = match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            State::Crc64(d) => d.finalize().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        };
        Checksum::from_bytes(algo, &digest).expect("each state yields its algorithm's length")
    }
}

/// The checksum of a whole buffer.
pub fn checksum(algo: Algo, data: &[u8]) -> Checksum {
    let mut h = Hasher::new(algo);
    h.update(data);
    h.finish()
}
