//! LOM ("local object metadata"): the `user.ais.lom` xattr of every object file.
//!
//! Byte format, AIS meta-version 2 (AISTORE.md §3.3); version 1 is read too:
//!
//! ```text
//! [0] meta version (2)   [1] metadata checksum type (1 = xxhash)
//! [2..10] BE u64 XXH64(payload, seed MLCG32)
//! payload: records joined by the 3 bytes E3 2F BD; a record is a BE u16 key and a value
//!   0 cksum type  1 cksum value  2 version (optional)  3 size: BE i64
//!   6 lid: BE u64  7 flags: BE u64 (v2 only)  4 copies: FQNs joined by 00 (optional)
//!   5 custom: k 01 v 01 k 01 v (optional)
//! ```
//!
//! How the reader splits records: it never scans a fixed-width value for the separator.
//! After a key it knows the value's shape: sizes, lid and flags are exactly 8 bytes, read by
//! length (their bytes may well contain E3 2F BD); string values run to the next separator or
//! the end. A string value cannot contain the separator because it is UTF-8 (0xE3 opens a
//! 3-byte sequence, and '/' is not a continuation byte), and because the separator has no
//! proper prefix that is also its suffix, the first separator after a string value is its end.
//! Each record must be followed by a separator or the end of the payload.

use crate::cksum::CksumType;
use crate::hrw::digest;

/// Name of the xattr holding the encoded LOM.
pub const XATTR_LOM: &str = "user.ais.lom";
/// Largest encoded LOM, in bytes (AIS `memsys.MaxSmallSlabSize`).
pub const LOM_BYTES_MAX: usize = 4096;
/// Largest encoded custom-metadata record value, in bytes.
pub const LOM_CUSTOM_BYTES_MAX: usize = 2048;

/// Meta version written.
pub const META_VERSION: u8 = 2;
/// Oldest meta version read (no flags record).
pub const META_VERSION_V1: u8 = 1;
/// Metadata checksum type byte: XXH64 with seed `MLCG32`.
pub const META_CKSUM_XXHASH: u8 = 1;
/// Length of the preamble: version, checksum type, checksum.
pub const PREAMBLE_BYTES: usize = 10;
/// Separator between records (`cmn.RecordSepa`).
pub const RECORD_SEPA: [u8; 3] = [0xe3, b'/', 0xbd];
const COPIES_SEPA: char = '\0';
const CUSTOM_SEPA: char = '\u{1}';

const KEY_CKSUM_TYPE: u16 = 0;
const KEY_CKSUM_VALUE: u16 = 1;
const KEY_VERSION: u16 = 2;
const KEY_SIZE: u16 = 3;
const KEY_COPIES: u16 = 4;
const KEY_CUSTOM: u16 = 5;
const KEY_LID: u16 = 6;
const KEY_FLAGS: u16 = 7;

/// Bit 63 of a BID: the bucket has the `ais` provider.
pub const BID_AIS: u64 = 1 << 63;
/// Bits 0-59 of a BID: the bucket serial.
pub const BID_SERIAL_MASK: u64 = (1 << 60) - 1;
/// lid bit 60: the object is stored under a shortened name (`lmflFntl`).
pub const LID_FLAG_FNTL: u64 = 1 << 60;
/// lid bit 61: the object is chunked (`lmflChunk`).
pub const LID_FLAG_CHUNKED: u64 = 2 << 60;
/// lid bits 60-62: legacy LOM flags, not part of the BID.
pub const LID_FLAGS_MASK: u64 = 7 << 60;

/// flags bit 0: the object is a shard index (`lmflShardIdx`).
pub const FLAG_SHARD_IDX: u64 = 1;
/// flags bit 63: "at its HRW location"; runtime-only, never persisted (masked on encode and
/// decode).
pub const FLAG_AT_HRW: u64 = 1 << 63;

/// Custom-metadata key holding the original FQN of a shortened object.
pub const CUSTOM_ORIG_FNTL: &str = "orig_fntl";

const _: () = assert!(LOM_CUSTOM_BYTES_MAX < LOM_BYTES_MAX);
const _: () = assert!(BID_AIS & LID_FLAGS_MASK == 0 && BID_SERIAL_MASK & LID_FLAGS_MASK == 0);

/// The BID of an `ais://` bucket with the given serial.
pub fn make_bid(serial: u64) -> u64 {
    BID_AIS | (serial & BID_SERIAL_MASK)
}

/// Object metadata as persisted in the xattr. Atime is not here: it is the file's atime.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lom {
    pub cksum_type: String,
    pub cksum_value: String,
    pub version: Option<String>,
    pub size: i64,
    pub copies: Vec<String>,
    pub custom: Vec<(String, String)>,
    /// BID of the bucket incarnation plus the legacy flags in bits 60-62.
    pub lid: u64,
    pub flags: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LomError {
    #[error("LOM is {len} bytes, the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("LOM custom metadata is {len} bytes, the limit is {max}")]
    CustomTooLong { len: usize, max: usize },
    #[error("LOM custom metadata invalid: {0}")]
    BadCustom(String),
    #[error("LOM copy FQN invalid: {0:?}")]
    BadCopy(String),
    #[error("LOM size is negative: {0}")]
    BadSize(i64),
    #[error("LOM checksum type unknown: {0:?}")]
    BadCksumType(String),
    #[error("LOM is {len} bytes, shorter than its {PREAMBLE_BYTES}-byte preamble")]
    Short { len: usize },
    #[error("LOM meta version {0} unknown (expected 1 or 2)")]
    UnknownVersion(u8),
    #[error("LOM metadata checksum type {0} unknown (expected 1)")]
    UnknownMetaCksum(u8),
    #[error("LOM metadata checksum mismatch: stored {stored:016x}, computed {computed:016x}")]
    ChecksumMismatch { stored: u64, computed: u64 },
    #[error("LOM corrupt: {0}")]
    Corrupt(String),
}

impl Lom {
    /// Encodes as meta-version 2. Refuses what the reader would refuse, so every encoded LOM
    /// decodes back to an equal value (except the runtime-only `FLAG_AT_HRW`).
    pub fn encode(&self) -> Result<Vec<u8>, LomError> {
        self.validate()?;
        let custom = self.custom_value();
        if custom.len() > LOM_CUSTOM_BYTES_MAX {
            return Err(LomError::CustomTooLong {
                len: custom.len(),
                max: LOM_CUSTOM_BYTES_MAX,
            });
        }
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&[META_VERSION, META_CKSUM_XXHASH, 0, 0, 0, 0, 0, 0, 0, 0]);
        put_record(&mut buf, KEY_CKSUM_TYPE, self.cksum_type.as_bytes());
        put_record(&mut buf, KEY_CKSUM_VALUE, self.cksum_value.as_bytes());
        if let Some(version) = &self.version {
            put_record(&mut buf, KEY_VERSION, version.as_bytes());
        }
        put_record(&mut buf, KEY_SIZE, &self.size.to_be_bytes());
        put_record(&mut buf, KEY_LID, &self.lid.to_be_bytes());
        put_record(
            &mut buf,
            KEY_FLAGS,
            &(self.flags & !FLAG_AT_HRW).to_be_bytes(),
        );
        if !self.copies.is_empty() {
            let joined = self.copies.join(&COPIES_SEPA.to_string());
            put_record(&mut buf, KEY_COPIES, joined.as_bytes());
        }
        if !self.custom.is_empty() {
            put_record(&mut buf, KEY_CUSTOM, custom.as_bytes());
        }
        if buf.len() > LOM_BYTES_MAX {
            return Err(LomError::TooLong {
                len: buf.len(),
                max: LOM_BYTES_MAX,
            });
        }
        let sum = digest(&buf[PREAMBLE_BYTES..]);
        buf[2..PREAMBLE_BYTES].copy_from_slice(&sum.to_be_bytes());
        Ok(buf)
    }

    /// Decodes meta-version 1 or 2. Any malformed input is an error, never a panic.
    pub fn decode(buf: &[u8]) -> Result<Lom, LomError> {
        if buf.len() < PREAMBLE_BYTES {
            return Err(LomError::Short { len: buf.len() });
        }
        if buf.len() > LOM_BYTES_MAX {
            return Err(LomError::TooLong {
                len: buf.len(),
                max: LOM_BYTES_MAX,
            });
        }
        let meta_version = buf[0];
        if meta_version != META_VERSION && meta_version != META_VERSION_V1 {
            return Err(LomError::UnknownVersion(meta_version));
        }
        if buf[1] != META_CKSUM_XXHASH {
            return Err(LomError::UnknownMetaCksum(buf[1]));
        }
        let stored = be_u64(&buf[2..PREAMBLE_BYTES]);
        let payload = &buf[PREAMBLE_BYTES..];
        let computed = digest(payload);
        if stored != computed {
            return Err(LomError::ChecksumMismatch { stored, computed });
        }
        let lom = parse_payload(payload, meta_version)?;
        lom.validate()?;
        let custom_len = lom.custom_value().len();
        if custom_len > LOM_CUSTOM_BYTES_MAX {
            return Err(LomError::CustomTooLong {
                len: custom_len,
                max: LOM_CUSTOM_BYTES_MAX,
            });
        }
        Ok(lom)
    }

    /// The bucket incarnation id: the lid without the legacy flag bits.
    pub fn bid(&self) -> u64 {
        self.lid & !LID_FLAGS_MASK
    }

    /// Sets the BID, keeping the legacy flag bits.
    pub fn set_bid(&mut self, bid: u64) {
        assert_eq!(bid & LID_FLAGS_MASK, 0, "a BID has no flag bits: {bid:#x}");
        self.lid = (self.lid & LID_FLAGS_MASK) | bid;
    }

    pub fn is_chunked(&self) -> bool {
        self.lid & LID_FLAG_CHUNKED != 0
    }

    pub fn set_chunked(&mut self) {
        self.lid |= LID_FLAG_CHUNKED;
    }

    pub fn is_fntl(&self) -> bool {
        self.lid & LID_FLAG_FNTL != 0
    }

    pub fn set_fntl(&mut self) {
        self.lid |= LID_FLAG_FNTL;
    }

    /// The value of custom key `key`, the first one if it repeats.
    pub fn custom_get(&self, key: &str) -> Option<&str> {
        self.custom
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Field rules shared by encode and decode.
    fn validate(&self) -> Result<(), LomError> {
        if !self.cksum_type.is_empty() && CksumType::parse(&self.cksum_type).is_none() {
            return Err(LomError::BadCksumType(self.cksum_type.clone()));
        }
        if self.size < 0 {
            return Err(LomError::BadSize(self.size));
        }
        for copy in &self.copies {
            if copy.is_empty() || copy.contains(COPIES_SEPA) {
                return Err(LomError::BadCopy(copy.clone()));
            }
        }
        for (k, v) in &self.custom {
            if k.is_empty() {
                return Err(LomError::BadCustom("empty key".to_string()));
            }
            if k.contains(CUSTOM_SEPA) || v.contains(CUSTOM_SEPA) {
                return Err(LomError::BadCustom(format!("byte 0x01 in entry {k:?}")));
            }
        }
        Ok(())
    }

    /// The custom record value: keys and values joined by 0x01, no trailing 0x01.
    fn custom_value(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.custom.iter().enumerate() {
            if i > 0 {
                out.push(CUSTOM_SEPA);
            }
            out.push_str(k);
            out.push(CUSTOM_SEPA);
            out.push_str(v);
        }
        out
    }
}

fn put_record(buf: &mut Vec<u8>, key: u16, value: &[u8]) {
    if buf.len() > PREAMBLE_BYTES {
        buf.extend_from_slice(&RECORD_SEPA);
    }
    buf.extend_from_slice(&key.to_be_bytes());
    buf.extend_from_slice(value);
}

fn be_u64(bytes: &[u8]) -> u64 {
    let array: [u8; 8] = bytes.try_into().expect("callers pass exactly 8 bytes");
    u64::from_be_bytes(array)
}

fn corrupt(msg: impl Into<String>) -> LomError {
    LomError::Corrupt(msg.into())
}

fn find_sepa(haystack: &[u8]) -> Option<usize> {
    haystack
        .windows(RECORD_SEPA.len())
        .position(|w| w == RECORD_SEPA)
}

fn utf8(key: u16, value: &[u8]) -> Result<String, LomError> {
    String::from_utf8(value.to_vec()).map_err(|_| corrupt(format!("record {key} is not UTF-8")))
}

fn parse_payload(payload: &[u8], meta_version: u8) -> Result<Lom, LomError> {
    let mut lom = Lom::default();
    let mut seen: u16 = 0;
    let mut pos = 0;
    loop {
        let Some(key_bytes) = payload.get(pos..pos + 2) else {
            return Err(corrupt(format!("truncated record key at byte {pos}")));
        };
        let key = u16::from_be_bytes([key_bytes[0], key_bytes[1]]);
        pos += 2;
        let fixed_width = matches!(key, KEY_SIZE | KEY_LID | KEY_FLAGS);
        let value = if fixed_width {
            let Some(value) = payload.get(pos..pos + 8) else {
                return Err(corrupt(format!("record {key} shorter than 8 bytes")));
            };
            pos += 8;
            value
        } else {
            let rest = &payload[pos..];
            let len = find_sepa(rest).unwrap_or(rest.len());
            pos += len;
            &rest[..len]
        };
        if key > KEY_FLAGS || (key == KEY_FLAGS && meta_version == META_VERSION_V1) {
            return Err(corrupt(format!(
                "unknown record key {key} in meta version {meta_version}"
            )));
        }
        if seen & (1 << key) != 0 {
            return Err(corrupt(format!("duplicate record key {key}")));
        }
        seen |= 1 << key;
        match key {
            KEY_CKSUM_TYPE => lom.cksum_type = utf8(key, value)?,
            KEY_CKSUM_VALUE => lom.cksum_value = utf8(key, value)?,
            KEY_VERSION => lom.version = Some(utf8(key, value)?),
            KEY_SIZE => lom.size = be_u64(value) as i64,
            KEY_COPIES => {
                lom.copies = utf8(key, value)?
                    .split(COPIES_SEPA)
                    .map(String::from)
                    .collect()
            }
            KEY_CUSTOM => lom.custom = parse_custom(&utf8(key, value)?)?,
            KEY_LID => lom.lid = be_u64(value),
            KEY_FLAGS => lom.flags = be_u64(value) & !FLAG_AT_HRW,
            _ => unreachable!("keys above KEY_FLAGS were refused"),
        }
        if pos == payload.len() {
            break;
        }
        if !payload[pos..].starts_with(&RECORD_SEPA) {
            return Err(corrupt(format!(
                "no separator after record {key} at byte {pos}"
            )));
        }
        pos += RECORD_SEPA.len();
    }
    for (key, what) in [
        (KEY_CKSUM_TYPE, "checksum type"),
        (KEY_CKSUM_VALUE, "checksum value"),
        (KEY_SIZE, "size"),
    ] {
        if seen & (1 << key) == 0 {
            return Err(corrupt(format!("missing {what} record")));
        }
    }
    Ok(lom)
}

/// Splits `k 01 v 01 k 01 v`; a trailing 0x01 (as other writers may leave) is tolerated.
fn parse_custom(value: &str) -> Result<Vec<(String, String)>, LomError> {
    let mut parts: Vec<&str> = value.split(CUSTOM_SEPA).collect();
    if parts.len() % 2 == 1 {
        if parts.last() != Some(&"") {
            return Err(corrupt("custom metadata has a key without a value"));
        }
        parts.pop();
    }
    Ok(parts
        .chunks_exact(2)
        .map(|kv| (kv[0].to_string(), kv[1].to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hrw::MLCG32;

    fn full() -> Lom {
        let mut lom = Lom {
            cksum_type: "xxhash2".into(),
            cksum_value: "ef46db3751d8e999".into(),
            version: Some("3".into()),
            size: 1 << 40,
            copies: vec!["/mp1/@ais/b/%ob/o".into(), "/mp2/@ais/b/%ob/o".into()],
            custom: vec![
                ("etag".into(), "\"abc\"".into()),
                ("empty".into(), String::new()),
            ],
            lid: make_bid(77),
            flags: FLAG_SHARD_IDX,
        };
        lom.set_fntl();
        lom
    }

    /// Sealed buffer: preamble with the right checksum over `payload`.
    fn seal(meta_version: u8, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![meta_version, 1];
        buf.extend_from_slice(&xxhash_rust::xxh64::xxh64(payload, MLCG32).to_be_bytes());
        buf.extend_from_slice(payload);
        buf
    }

    /// Goal: every field survives a round trip; so does the minimal LOM.
    #[test]
    fn round_trip() {
        let lom = full();
        assert_eq!(
            Lom::decode(&lom.encode().expect("valid")).expect("decodes"),
            lom
        );
        let minimal = Lom {
            cksum_type: "none".into(),
            ..Lom::default()
        };
        assert_eq!(
            Lom::decode(&minimal.encode().expect("valid")).expect("decodes"),
            minimal
        );
        let empty_version = Lom {
            version: Some(String::new()),
            ..Lom::default()
        };
        let back = Lom::decode(&empty_version.encode().expect("valid")).expect("decodes");
        assert_eq!(back, empty_version);
    }

    /// Goal: pin the byte format. Steps: build the expected bytes by hand, field by field.
    #[test]
    fn hand_built_bytes() {
        let lom = Lom {
            cksum_type: "md5".into(),
            cksum_value: "ab".into(),
            version: Some("v1".into()),
            size: 0x0102,
            copies: vec!["/a".into(), "/b".into()],
            custom: vec![("k".into(), "v".into()), ("x".into(), "y".into())],
            lid: BID_AIS | 5,
            flags: 1,
        };
        let mut p: Vec<u8> = Vec::new();
        p.extend_from_slice(b"\x00\x00md5\xe3/\xbd");
        p.extend_from_slice(b"\x00\x01ab\xe3/\xbd");
        p.extend_from_slice(b"\x00\x02v1\xe3/\xbd");
        p.extend_from_slice(b"\x00\x03\x00\x00\x00\x00\x00\x00\x01\x02\xe3/\xbd");
        p.extend_from_slice(b"\x00\x06\x80\x00\x00\x00\x00\x00\x00\x05\xe3/\xbd");
        p.extend_from_slice(b"\x00\x07\x00\x00\x00\x00\x00\x00\x00\x01\xe3/\xbd");
        p.extend_from_slice(b"\x00\x04/a\x00/b\xe3/\xbd");
        p.extend_from_slice(b"\x00\x05k\x01v\x01x\x01y");
        let want = seal(2, &p);
        assert_eq!(&want[..2], &[2, 1]);
        assert_eq!(lom.encode().expect("valid"), want);
        assert_eq!(Lom::decode(&want).expect("decodes"), lom);
    }

    /// Goal: fixed-width values may contain separator bytes. Steps: a size and lid whose
    /// big-endian bytes contain E3 2F BD.
    #[test]
    fn separator_inside_fixed_width() {
        let lom = Lom {
            cksum_type: "none".into(),
            size: i64::from_be_bytes([0, 0xe3, b'/', 0xbd, 0xe3, b'/', 0xbd, 0]),
            lid: u64::from_be_bytes([0xe3, b'/', 0xbd, 0, 0, 0, 0xe3, b'/']),
            flags: u64::from_be_bytes([0, 0, 0, 0, 0, 0xe3, b'/', 0xbd]),
            ..Lom::default()
        };
        assert_eq!(
            Lom::decode(&lom.encode().expect("valid")).expect("decodes"),
            lom
        );
        // And a UTF-8 string can never hold the separator.
        assert!(String::from_utf8(RECORD_SEPA.to_vec()).is_err());
    }

    /// Goal: read v1 (no flags record); refuse a flags record in v1.
    #[test]
    fn reads_v1() {
        let mut p: Vec<u8> = Vec::new();
        p.extend_from_slice(b"\x00\x00xxhash\xe3/\xbd\x00\x01ff\xe3/\xbd");
        p.extend_from_slice(b"\x00\x03\x00\x00\x00\x00\x00\x00\x00\x09\xe3/\xbd");
        p.extend_from_slice(b"\x00\x06\x90\x00\x00\x00\x00\x00\x00\x07");
        let lom = Lom::decode(&seal(1, &p)).expect("v1 decodes");
        assert_eq!(lom.cksum_type, "xxhash");
        assert_eq!(lom.cksum_value, "ff");
        assert_eq!(lom.size, 9);
        assert_eq!(lom.flags, 0);
        assert_eq!(lom.bid(), make_bid(7));
        assert!(lom.is_fntl());
        assert!(!lom.is_chunked());
        p.extend_from_slice(b"\xe3/\xbd\x00\x07\x00\x00\x00\x00\x00\x00\x00\x01");
        assert!(matches!(
            Lom::decode(&seal(1, &p)),
            Err(LomError::Corrupt(_))
        ));
        assert_eq!(Lom::decode(&seal(2, &p)).expect("v2 has flags").flags, 1);
    }

    /// Goal: each structural error is reported as such.
    #[test]
    fn decode_errors() {
        let good = full().encode().expect("valid");
        assert_eq!(Lom::decode(&good[..9]), Err(LomError::Short { len: 9 }));
        let mut bad = good.clone();
        bad[0] = 3;
        assert_eq!(Lom::decode(&bad), Err(LomError::UnknownVersion(3)));
        bad = good.clone();
        bad[1] = 2;
        assert_eq!(Lom::decode(&bad), Err(LomError::UnknownMetaCksum(2)));
        bad = good.clone();
        bad.push(0);
        assert!(matches!(
            Lom::decode(&bad),
            Err(LomError::ChecksumMismatch { .. })
        ));
        let cases: &[&[u8]] = &[
            b"",
            b"\x00",
            b"\x00\x00none",
            b"\x00\x00none\xe3/\xbd\x00\x01\xe3/\xbd\x00\x03\x00\x00\x00\x00\x00\x00\x00",
            b"\x00\x00none\xe3/\xbd\x00\x01\xe3/\xbd\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            b"\x00\x00none\xe3/\xbd\x00\x01\xe3/\xbd\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\xe3/\xbd",
            b"\x00\x00none\xe3/\xbd\x00\x00none",
            b"\x00\x00none\xe3/\xbd\x00\x08x",
            b"\x00\x00\xff\xfe",
            b"\x00\x00none\xe3/\xbd\x00\x01\xe3/\xbd\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\xe3/\xbd\x00\x05k",
        ];
        for payload in cases {
            assert!(
                matches!(Lom::decode(&seal(2, payload)), Err(LomError::Corrupt(_))),
                "{payload:?}"
            );
        }
        let no_copies = b"\x00\x00\xe3/\xbd\x00\x01\xe3/\xbd\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\xe3/\xbd\x00\x04";
        assert_eq!(
            Lom::decode(&seal(2, no_copies)),
            Err(LomError::BadCopy(String::new()))
        );
        let sha1 =
            b"\x00\x00sha1\xe3/\xbd\x00\x01\xe3/\xbd\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(
            Lom::decode(&seal(2, sha1)),
            Err(LomError::BadCksumType("sha1".into()))
        );
        let neg = b"\x00\x00\xe3/\xbd\x00\x01\xe3/\xbd\x00\x03\xff\xff\xff\xff\xff\xff\xff\xff";
        assert_eq!(Lom::decode(&seal(2, neg)), Err(LomError::BadSize(-1)));
        // A trailing 0x01 in custom metadata is tolerated.
        let trailing = b"\x00\x00\xe3/\xbd\x00\x01\xe3/\xbd\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\xe3/\xbd\x00\x05k\x01v\x01";
        let lom = Lom::decode(&seal(2, trailing)).expect("trailing 0x01");
        assert_eq!(lom.custom, vec![("k".to_string(), "v".to_string())]);
    }

    /// Goal: encode refuses what decode would refuse.
    #[test]
    fn encode_errors() {
        let base = || Lom {
            cksum_type: "none".into(),
            ..Lom::default()
        };
        let big = Lom {
            custom: vec![("k".into(), "v".repeat(2047))],
            ..base()
        };
        assert_eq!(
            big.encode(),
            Err(LomError::CustomTooLong {
                len: 2049,
                max: 2048
            })
        );
        let ok = Lom {
            custom: vec![("k".into(), "v".repeat(2046))],
            ..base()
        };
        assert!(ok.encode().is_ok());
        let huge = Lom {
            copies: vec!["c".repeat(LOM_BYTES_MAX)],
            ..base()
        };
        assert!(matches!(huge.encode(), Err(LomError::TooLong { .. })));
        let bad = Lom {
            custom: vec![("k\u{1}".into(), "v".into())],
            ..base()
        };
        assert!(matches!(bad.encode(), Err(LomError::BadCustom(_))));
        let bad = Lom {
            custom: vec![("k".into(), "v\u{1}".into())],
            ..base()
        };
        assert!(matches!(bad.encode(), Err(LomError::BadCustom(_))));
        let bad = Lom {
            custom: vec![(String::new(), "v".into())],
            ..base()
        };
        assert!(matches!(bad.encode(), Err(LomError::BadCustom(_))));
        let bad = Lom {
            copies: vec!["a\0b".into()],
            ..base()
        };
        assert!(matches!(bad.encode(), Err(LomError::BadCopy(_))));
        let bad = Lom {
            copies: vec![String::new()],
            ..base()
        };
        assert!(matches!(bad.encode(), Err(LomError::BadCopy(_))));
        assert_eq!(
            Lom { size: -1, ..base() }.encode(),
            Err(LomError::BadSize(-1))
        );
        let bad = Lom {
            cksum_type: "crc64".into(),
            ..base()
        };
        assert_eq!(bad.encode(), Err(LomError::BadCksumType("crc64".into())));
        // The runtime-only flag is not persisted.
        let hrw = Lom {
            flags: FLAG_AT_HRW | FLAG_SHARD_IDX,
            ..base()
        };
        let back = Lom::decode(&hrw.encode().expect("valid")).expect("decodes");
        assert_eq!(back.flags, FLAG_SHARD_IDX);
    }

    /// Goal: BID helpers keep the flag bits apart from the BID.
    #[test]
    fn bid_and_flags() {
        assert_eq!(make_bid(1), (1 << 63) | 1);
        assert_eq!(make_bid(u64::MAX), BID_AIS | BID_SERIAL_MASK);
        let mut lom = Lom {
            lid: make_bid(9),
            ..Lom::default()
        };
        assert!(!lom.is_fntl() && !lom.is_chunked());
        lom.set_fntl();
        lom.set_chunked();
        assert!(lom.is_fntl() && lom.is_chunked());
        assert_eq!(lom.bid(), make_bid(9));
        lom.set_bid(make_bid(10));
        assert_eq!(lom.bid(), make_bid(10));
        assert!(lom.is_fntl() && lom.is_chunked());
        assert_eq!(full().custom_get("etag"), Some("\"abc\""));
        assert_eq!(full().custom_get("nope"), None);
    }

    /// Goal: any single bit flip of an encoded LOM is detected.
    #[test]
    fn every_bit_flip_detected() {
        let good = full().encode().expect("valid");
        for bit in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Lom::decode(&bad).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Goal: decode never panics and whatever it accepts re-encodes to an equal LOM. Steps:
    /// random bytes; valid encodings with random byte edits, resealed so the parser (not
    /// just the checksum) sees them; payloads assembled from random record pieces.
    #[test]
    fn decode_random_buffers() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let pieces: &[&[u8]] = &[
            &RECORD_SEPA,
            b"\x00\x00",
            b"\x00\x01",
            b"\x00\x02",
            b"\x00\x03",
            b"\x00\x04",
            b"\x00\x05",
            b"\x00\x06",
            b"\x00\x07",
            b"\x00\x08",
            b"xxhash",
            b"none",
            b"\x01",
            b"\x00",
            b"\xe3",
            b"\xbd",
            b"/",
            b"abc",
            b"\x00\x00\x00\x00\x00\x00\x00\x00",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\xc3\xa9",
        ];
        let good = full().encode().expect("valid");
        let mut accepted = 0;
        for round in 0..30_000 {
            let buf = match round % 3 {
                0 => (0..rng.below(64))
                    .map(|_| rng.next() as u8)
                    .collect::<Vec<u8>>(),
                1 => {
                    let mut payload = good[PREAMBLE_BYTES..].to_vec();
                    for _ in 0..1 + rng.below(4) {
                        match rng.below(3) {
                            0 if !payload.is_empty() => {
                                let i = rng.below(payload.len());
                                payload[i] = rng.next() as u8;
                            }
                            1 if !payload.is_empty() => {
                                payload.truncate(rng.below(payload.len()));
                            }
                            _ => {
                                let i = rng.below(payload.len() + 1);
                                payload.insert(i, rng.next() as u8);
                            }
                        }
                    }
                    seal(1 + rng.below(2) as u8, &payload)
                }
                _ => {
                    let mut payload = Vec::new();
                    for _ in 0..rng.below(16) {
                        payload.extend_from_slice(pieces[rng.below(pieces.len())]);
                    }
                    seal(1 + rng.below(2) as u8, &payload)
                }
            };
            // Every input is far below LOM_BYTES_MAX, so what decode accepts must encode
            // again (decode and encode apply the same rules): a refusal here is a bug.
            assert!(buf.len() + 64 < LOM_BYTES_MAX);
            if let Ok(lom) = Lom::decode(&buf) {
                accepted += 1;
                let again = lom
                    .encode()
                    .unwrap_or_else(|e| panic!("decoded {lom:?} does not encode: {e}"));
                assert_eq!(Lom::decode(&again).expect("re-encoded decodes"), lom);
            }
        }
        assert!(
            accepted > 100,
            "only {accepted} random buffers decoded; the test is too weak"
        );
    }

    /// A random string of up to `len_max` characters from `alphabet`.
    fn random_string(rng: &mut Rng, alphabet: &[char], len_max: usize) -> String {
        (0..rng.below(len_max + 1))
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect()
    }

    /// Characters that every string field may hold (multi-byte ones included).
    const CHARS: &[char] = &[
        'a', 'Z', '0', '/', '%', ' ', '"', 'é', '€', '\u{2}', '\u{7f}',
    ];

    /// A random LOM that obeys every rule, so encode must accept it: a known checksum type
    /// (or none recorded), a size ≥ 0, non-empty copies without NUL, custom keys non-empty and
    /// without 0x01, and small enough for both byte limits.
    fn random_valid_lom(rng: &mut Rng) -> Lom {
        let types = [
            "", "none", "xxhash", "xxhash2", "md5", "crc32c", "sha256", "SHA256",
        ];
        Lom {
            cksum_type: types[rng.below(types.len())].into(),
            cksum_value: random_string(rng, CHARS, 64),
            version: match rng.below(3) {
                0 => None,
                _ => Some(random_string(rng, CHARS, 8)),
            },
            size: (rng.next() >> 1) as i64 >> rng.below(63),
            copies: (0..rng.below(4))
                .map(|_| format!("/mp{}", random_string(rng, CHARS, 40)))
                .collect(),
            custom: (0..rng.below(6))
                .map(|_| {
                    let k = format!("k{}", random_string(rng, CHARS, 12));
                    (k, random_string(rng, CHARS, 60))
                })
                .collect(),
            lid: rng.next(),
            flags: rng.next() & !FLAG_AT_HRW,
        }
    }

    /// Goal: every LOM that obeys the rules is encoded (never refused) and decodes back equal.
    /// Steps: 20,000 random valid LOMs (every field drawn at random); encode must succeed and
    /// decode must give the same value.
    #[test]
    fn random_valid_loms_round_trip() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for i in 0..20_000 {
            let lom = random_valid_lom(&mut rng);
            let buf = lom
                .encode()
                .unwrap_or_else(|e| panic!("#{i}: valid {lom:?} refused: {e}"));
            assert_eq!(Lom::decode(&buf).expect("decodes"), lom, "#{i}");
        }
    }

    /// Goal: a LOM that breaks one rule is refused by encode with the error naming that rule,
    /// however valid the rest is. Steps: 5,000 random valid LOMs, each with one rule broken at
    /// random; check the error variant.
    #[test]
    fn random_invalid_loms_are_refused() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for i in 0..5_000 {
            let mut lom = random_valid_lom(&mut rng);
            let rule = rng.below(8);
            match rule {
                0 => lom.cksum_type = "crc64".into(),
                1 => lom.size = -1 - (rng.next() >> 2) as i64,
                2 => lom.copies.push(String::new()),
                3 => lom
                    .copies
                    .push(format!("/a{}\0b", random_string(&mut rng, CHARS, 4))),
                4 => lom.custom.push((String::new(), "v".into())),
                5 => lom.custom.push(("k\u{1}".into(), "v".into())),
                6 => lom.custom.push(("k".into(), "v\u{1}w".into())),
                _ => lom
                    .custom
                    .push(("big".into(), "v".repeat(LOM_CUSTOM_BYTES_MAX))),
            }
            let err = lom.encode().expect_err("an invalid LOM was encoded");
            let named = match rule {
                0 => matches!(err, LomError::BadCksumType(_)),
                1 => matches!(err, LomError::BadSize(_)),
                2 | 3 => matches!(err, LomError::BadCopy(_)),
                4..=6 => matches!(err, LomError::BadCustom(_)),
                _ => matches!(err, LomError::CustomTooLong { .. }),
            };
            assert!(named, "#{i}: rule {rule} broken, refused with {err:?}");
        }
    }
}
