//! S3 checksum algorithms against known values: the CRC catalogue's check values, digests of
//! small strings computed independently (Python's zlib/hashlib and a bitwise CRC), a bitwise
//! reference CRC on random data, and streaming in any split.

use net::amzcksum::{checksum, Algo, Checksum};
use proptest::prelude::*;

#[test]
fn crc_catalogue_check_values() {
    // Goal: each CRC gives its catalogue "check" value for "123456789".
    let check = |algo, want: &[u8]| {
        assert_eq!(checksum(algo, b"123456789").as_bytes(), want, "{algo:?}");
    };
    check(Algo::Crc32, &0xCBF4_3926u32.to_be_bytes());
    check(Algo::Crc32c, &0xE306_9283u32.to_be_bytes());
    check(Algo::Crc64Nvme, &0xAE8B_1486_0A79_9888u64.to_be_bytes());
}

#[test]
fn known_base64_values() {
    // Goal: the wire form (base64 of the big-endian digest) of known inputs. Values from
    // Python (zlib.crc32, hashlib, and a bitwise reflected CRC for CRC32C and CRC64/NVME);
    // "sOO8/Q==" for 66,560 'a's is also the trailer of AWS's streaming-trailer example, and
    // "NSRBwg==" for "abc" the CRC32 trailer AWS SDKs send.
    let a66560 = vec![b'a'; 66_560];
    let cases: [(&[u8], [&str; 5]); 4] = [
        (
            b"",
            [
                "AAAAAA==",
                "AAAAAA==",
                "AAAAAAAAAAA=",
                "2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            ],
        ),
        (
            b"hello world",
            [
                "DUoRhQ==",
                "yZRlqg==",
                "jSnVw/bqjr4=",
                "Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
                "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
            ],
        ),
        (
            b"abc",
            [
                "NSRBwg==",
                "Nks/tw==",
                "BeXKuz/B+us=",
                "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
                "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
            ],
        ),
        (
            &a66560,
            [
                "sK4Y7A==",
                "sOO8/Q==",
                "pRf+emrnL+A=",
                "qOlv5ixdz2jRNhlSLmgH6iaTKRI=",
                "zWnTiHxq+SZLEA17dgIzEzXZqn4718MM3G1vS/uzyIg=",
            ],
        ),
    ];
    for (data, wants) in cases {
        for (algo, want) in Algo::ALL.into_iter().zip(wants) {
            let c = checksum(algo, data);
            assert_eq!(c.to_base64(), want, "{algo:?} of {} bytes", data.len());
            assert_eq!(Checksum::from_base64(algo, want), Some(c));
            assert_eq!(c.as_bytes().len(), algo.digest_bytes());
        }
    }
}

#[test]
fn names() {
    // Goal: header and algorithm names map both ways, in any ASCII case; others are None.
    for algo in Algo::ALL {
        assert_eq!(Algo::from_header_name(algo.header_name()), Some(algo));
        assert_eq!(
            Algo::from_header_name(&algo.header_name().to_ascii_uppercase()),
            Some(algo)
        );
        assert_eq!(Algo::from_name(algo.name()), Some(algo));
        assert_eq!(
            Algo::from_name(&algo.name().to_ascii_lowercase()),
            Some(algo)
        );
    }
    assert_eq!(
        Algo::from_header_name("X-Amz-Checksum-CRC64NVME"),
        Some(Algo::Crc64Nvme)
    );
    assert_eq!(Algo::from_name("CRC64NVME"), Some(Algo::Crc64Nvme));
    for bad in ["", "crc32", "x-amz-checksum-md5", "x-amz-checksum-crc32 "] {
        assert_eq!(Algo::from_header_name(bad), None, "{bad:?}");
    }
    for bad in ["", "MD5", "CRC-32", "SHA-256"] {
        assert_eq!(Algo::from_name(bad), None, "{bad:?}");
    }
}

#[test]
fn from_base64_refuses_wrong_lengths_and_spellings() {
    // Goal: a value of the wrong length for its algorithm, bad base64 or a non-canonical
    // spelling is not a checksum.
    assert!(Checksum::from_base64(Algo::Crc32, "AAAAAAAAAAA=").is_none());
    assert!(Checksum::from_base64(Algo::Crc64Nvme, "AAAAAA==").is_none());
    assert!(Checksum::from_base64(Algo::Crc32, "AAAAAA").is_none());
    assert!(Checksum::from_base64(Algo::Crc32, "AAAAAB==").is_none());
    assert!(Checksum::from_base64(Algo::Crc32, "!!!!!!==").is_none());
    assert!(Checksum::from_base64(Algo::Sha256, "").is_none());
    assert_eq!(
        format!("{:?}", checksum(Algo::Crc32, b"abc")),
        "CRC32:NSRBwg=="
    );
}

/// A bitwise reflected CRC, written from the algorithm parameters alone.
fn reference_crc(data: &[u8], poly: u64, width: u32) -> u64 {
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1 << width) - 1
    };
    let mut crc = mask;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ poly
            } else {
                crc >> 1
            };
        }
    }
    crc ^ mask
}

proptest! {
    #[test]
    fn crcs_match_the_bitwise_reference(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        // Goal: the crates' table-driven CRCs equal the bitwise definition on random data.
        let c32 = reference_crc(&data, 0xEDB8_8320, 32) as u32;
        let c32c = reference_crc(&data, 0x82F6_3B78, 32) as u32;
        let c64 = reference_crc(&data, 0x9A6C_9329_AC4B_C9B5, 64);
        prop_assert_eq!(checksum(Algo::Crc32, &data).as_bytes().to_vec(), c32.to_be_bytes().to_vec());
        prop_assert_eq!(checksum(Algo::Crc32c, &data).as_bytes().to_vec(), c32c.to_be_bytes().to_vec());
        prop_assert_eq!(checksum(Algo::Crc64Nvme, &data).as_bytes().to_vec(), c64.to_be_bytes().to_vec());
    }

    #[test]
    fn streaming_in_any_split_matches_one_shot(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(0usize..3000, 0..8),
    ) {
        // Goal: feeding pieces gives the same digest as one call, for every algorithm.
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.sort_unstable();
        for algo in Algo::ALL {
            let mut h = algo.hasher();
            let mut from = 0;
            for &c in &cuts {
                h.update(&data[from..c]);
                from = c;
            }
            h.update(&data[from..]);
            prop_assert_eq!(h.algo(), algo);
            prop_assert_eq!(h.finish(), checksum(algo, &data));
        }
    }
}
