//! Object checksums: the AIS checksum type names and a streaming hasher per type.
//!
//! Values are printed as AIS prints them (AISTORE.md §3.4): lowercase hex of the digest bytes,
//! XXH64 (seed 0) as its 8 big-endian bytes, CRC32C as `%08x`, and `none` as the empty string.

use md5::Digest as _;

/// A checksum type as configured per bucket and stored in the LOM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CksumType {
    None,
    /// XXH64 with seed 0 (OneOfOne in AIS).
    Xxhash,
    /// XXH64 with seed 0 (cespare in AIS); the same value as `Xxhash`. The AIS default.
    Xxhash2,
    Md5,
    Crc32c,
    Sha256,
    Sha512,
}

impl CksumType {
    pub const ALL: [CksumType; 7] = [
        CksumType::None,
        CksumType::Xxhash,
        CksumType::Xxhash2,
        CksumType::Md5,
        CksumType::Crc32c,
        CksumType::Sha256,
        CksumType::Sha512,
    ];

    /// Parses an AIS checksum type name, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<CksumType> {
        CksumType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// The lowercase name AIS writes in bucket props, headers and the LOM.
    pub fn as_str(&self) -> &'static str {
        match self {
            CksumType::None => "none",
            CksumType::Xxhash => "xxhash",
            CksumType::Xxhash2 => "xxhash2",
            CksumType::Md5 => "md5",
            CksumType::Crc32c => "crc32c",
            CksumType::Sha256 => "sha256",
            CksumType::Sha512 => "sha512",
        }
    }
}

impl std::fmt::Display for CksumType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

enum State {
    None,
    Xxh64(Box<xxhash_rust::xxh64::Xxh64>),
    Md5(md5::Md5),
    Crc32c(u32),
    Sha256(sha2::Sha256),
    Sha512(Box<sha2::Sha512>),
}

/// A streaming checksum: feed bytes with `update`, print the value with `finish`.
pub struct Hasher {
    state: State,
}

impl Hasher {
    pub fn new(t: CksumType) -> Hasher {
        let state = match t {
            CksumType::None => State::None,
            CksumType::Xxhash | CksumType::Xxhash2 => {
                State::Xxh64(Box::new(xxhash_rust::xxh64::Xxh64::new(0)))
            }
            CksumType::Md5 => State::Md5(md5::Md5::new()),
            CksumType::Crc32c => State::Crc32c(0),
            CksumType::Sha256 => State::Sha256(sha2::Sha256::new()),
            CksumType::Sha512 => State::Sha512(Box::new(sha2::Sha512::new())),
        };
        Hasher { state }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::None => {}
            State::Xxh64(h) => h.update(data),
            State::Md5(h) => h.update(data),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// The checksum value as lowercase hex (empty for `none`).
    pub fn finish(self) -> String {
        match self.state {
            State::None => String::new(),
            State::Xxh64(h) => format!("{:016x}", h.digest()),
            State::Md5(h) => hex(&h.finalize()),
            State::Crc32c(crc) => format!("{crc:08x}"),
            State::Sha256(h) => hex(&h.finalize()),
            State::Sha512(h) => hex(&h.finalize()),
        }
    }
}

/// One-shot checksum of a buffer.
pub fn checksum(t: CksumType, data: &[u8]) -> String {
    let mut h = Hasher::new(t);
    h.update(data);
    h.finish()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: names parse case-insensitively and print as AIS writes them.
    #[test]
    fn names_round_trip() {
        for t in CksumType::ALL {
            assert_eq!(CksumType::parse(t.as_str()), Some(t));
            assert_eq!(CksumType::parse(&t.as_str().to_uppercase()), Some(t));
        }
        assert_eq!(CksumType::parse("XxHash2"), Some(CksumType::Xxhash2));
        assert_eq!(CksumType::parse("sha1"), None);
        assert_eq!(CksumType::parse(""), None);
    }

    /// Goal: every type prints the published vector.
    #[test]
    fn known_vectors() {
        assert_eq!(checksum(CksumType::None, b"abc"), "");
        assert_eq!(checksum(CksumType::Xxhash, b""), "ef46db3751d8e999");
        assert_eq!(checksum(CksumType::Xxhash2, b"abc"), "44bc2cf5ad770999");
        assert_eq!(
            checksum(CksumType::Md5, b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(checksum(CksumType::Crc32c, b"123456789"), "e3069283");
        assert_eq!(checksum(CksumType::Crc32c, b""), "00000000");
        assert_eq!(
            checksum(CksumType::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            checksum(CksumType::Sha512, b"abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }

    /// Goal: streaming equals one-shot. Steps: feed a buffer in uneven pieces.
    #[test]
    fn streaming_matches_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for t in CksumType::ALL {
            let mut h = Hasher::new(t);
            let mut rest = &data[..];
            let mut step = 1;
            while !rest.is_empty() {
                let n = step.min(rest.len());
                h.update(&rest[..n]);
                rest = &rest[n..];
                step = step * 3 + 1;
            }
            assert_eq!(h.finish(), checksum(t, &data), "type {t}");
        }
    }
}
