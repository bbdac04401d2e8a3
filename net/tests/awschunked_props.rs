//! The `aws-chunked` decoder: refusals of each malformed or mismatched body, and properties
//! against an encoder written here (round trip in every framing, any split decodes alike,
//! arbitrary input never panics, a corrupted protected body never decodes to other data).

use net::amzcksum::{checksum, Algo};
use net::awschunked::{
    AwsChunkedDecoder, AwsChunkedError, Framing, CHUNK_LINE_BYTES_MAX, TRAILER_BYTES_MAX,
};
use net::sigv4::{hex, signing_key, ChunkSigner};
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

fn signer() -> ChunkSigner {
    let key = signing_key("test-secret", "20260101", "us-east-1", "s3");
    ChunkSigner::new(
        key,
        "20260101T000000Z",
        "20260101/us-east-1/s3/aws4_request",
        [7; 32],
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Signed,
    SignedTrailer,
    UnsignedTrailer,
}

fn framing(kind: Kind) -> Framing {
    match kind {
        Kind::Signed => Framing::Signed(signer()),
        Kind::SignedTrailer => Framing::SignedTrailer(signer()),
        Kind::UnsignedTrailer => Framing::UnsignedTrailer,
    }
}

/// Encodes `body` as SDKs do, cutting it into chunks of the given sizes (the rest goes in a
/// last chunk), with an optional trailing checksum.
fn encode(kind: Kind, body: &[u8], sizes: &[usize], algo: Option<Algo>) -> Vec<u8> {
    let mut s = signer();
    let mut out = Vec::new();
    let mut chunks = Vec::new();
    let mut from = 0;
    for &n in sizes {
        let n = n.min(body.len() - from);
        if n > 0 {
            chunks.push(&body[from..from + n]);
            from += n;
        }
    }
    if from < body.len() {
        chunks.push(&body[from..]);
    }
    chunks.push(&[]);
    for chunk in chunks {
        out.extend_from_slice(format!("{:x}", chunk.len()).as_bytes());
        if kind != Kind::UnsignedTrailer {
            let sha: [u8; 32] = Sha256::digest(chunk).into();
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(hex(&s.sign_chunk(&sha)).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !chunk.is_empty() {
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(algo) = algo {
        let field = format!(
            "{}:{}",
            algo.header_name(),
            checksum(algo, body).to_base64()
        );
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\r\n");
        if kind == Kind::SignedTrailer {
            let sha: [u8; 32] = Sha256::digest(format!("{field}\n")).into();
            out.extend_from_slice(b"x-amz-trailer-signature:");
            out.extend_from_slice(hex(&s.trailer_signature(&sha)).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    } else if kind == Kind::SignedTrailer {
        let sha: [u8; 32] = Sha256::digest(b"").into();
        out.extend_from_slice(b"x-amz-trailer-signature:");
        out.extend_from_slice(hex(&s.trailer_signature(&sha)).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What feeding an encoded body produced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    /// Encoded bytes consumed when done; `None` if not done.
    consumed: Option<usize>,
    error: Option<AwsChunkedError>,
    checksum: Option<String>,
}

/// Feeds `encoded` in pieces whose sizes come from `next_piece`, as a server would.
fn feed(
    mut dec: AwsChunkedDecoder,
    encoded: &[u8],
    mut next_piece: impl FnMut() -> usize,
) -> Outcome {
    let mut buf: Vec<u8> = Vec::new();
    let mut received = 0;
    let mut body = Vec::new();
    let outcome = |body, consumed, error, dec: &AwsChunkedDecoder| Outcome {
        body,
        consumed,
        error,
        checksum: dec.checksum().map(|c| c.to_base64()),
    };
    loop {
        let step = match dec.step(&buf) {
            Ok(step) => step,
            Err(e) => {
                // Errors are sticky.
                assert_eq!(dec.step(b"0\r\n\r\n"), Err(e.clone()));
                return outcome(body, None, Some(e), &dec);
            }
        };
        assert!(step.consumed <= buf.len());
        assert!(step.data.is_empty() || step.data.end == step.consumed);
        body.extend_from_slice(&buf[step.data.clone()]);
        buf.drain(..step.consumed);
        if step.done {
            assert!(dec.is_done());
            assert_eq!(dec.decoded_bytes(), body.len() as u64);
            return outcome(body, Some(received - buf.len()), None, &dec);
        }
        if step.data.is_empty() {
            assert!(buf.is_empty(), "step stopped early without data");
            if received == encoded.len() {
                return outcome(body, None, None, &dec);
            }
            let n = next_piece().clamp(1, encoded.len() - received);
            buf.extend_from_slice(&encoded[received..received + n]);
            received += n;
        }
    }
}

fn decoder(kind: Kind, len: Option<u64>, trailer: &str) -> AwsChunkedDecoder {
    AwsChunkedDecoder::new(framing(kind), len, trailer).expect("valid declaration")
}

fn whole(kind: Kind, len: Option<u64>, trailer: &str, enc: &[u8]) -> Outcome {
    let out = feed(decoder(kind, len, trailer), enc, || usize::MAX);
    assert_eq!(
        feed(decoder(kind, len, trailer), enc, || 1),
        out,
        "bytewise feeding agrees"
    );
    out
}

#[test]
fn unsigned_trailer_as_sdks_send_it() {
    // Goal: the unsigned-trailer body boto3 sends by default decodes, and its CRC32 trailer
    // is verified and returned; a wrong CRC32 is BadDigest (400) before done.
    let enc = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
    let out = whole(Kind::UnsignedTrailer, Some(3), "x-amz-checksum-crc32", enc);
    assert_eq!(out.body, b"abc");
    assert_eq!(out.consumed, Some(enc.len()));
    assert_eq!(out.checksum.as_deref(), Some("NSRBwg=="));
    let mut dec = decoder(Kind::UnsignedTrailer, Some(3), "X-Amz-Checksum-CRC32");
    let mut buf = enc.to_vec();
    buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let first = dec.step(&buf).expect("data");
    assert_eq!(first.data, 3..6);
    let rest = dec.step(&buf[first.consumed..]).expect("end");
    assert!(rest.done);
    assert_eq!(
        first.consumed + rest.consumed,
        enc.len(),
        "stops at the body's end"
    );
    assert_eq!(
        dec.trailers(),
        [("x-amz-checksum-crc32".to_owned(), "NSRBwg==".to_owned())]
    );

    let bad = b"3\r\nabd\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
    let out = whole(Kind::UnsignedTrailer, Some(3), "x-amz-checksum-crc32", bad);
    let e = out.error.expect("mismatch");
    assert_eq!(e, AwsChunkedError::BadDigest(Algo::Crc32));
    assert_eq!((e.code(), e.status()), ("BadDigest", 400));
    assert_eq!(out.consumed, None);
}

#[test]
fn decoded_length_is_enforced() {
    // Goal: more data than x-amz-decoded-content-length fails at the chunk that exceeds it,
    // less fails at the final chunk; both IncompleteBody.
    let enc = encode(Kind::UnsignedTrailer, b"hello", &[2], None);
    assert_eq!(
        whole(Kind::UnsignedTrailer, Some(5), "", &enc).body,
        b"hello"
    );
    assert_eq!(whole(Kind::UnsignedTrailer, None, "", &enc).body, b"hello");
    for declared in [4, 6, 0] {
        let out = whole(Kind::UnsignedTrailer, Some(declared), "", &enc);
        let e = out.error.expect("length mismatch");
        assert!(matches!(e, AwsChunkedError::LengthMismatch { .. }), "{e:?}");
        assert_eq!((e.code(), e.status()), ("IncompleteBody", 400));
    }
}

#[test]
fn trailer_names_must_match_the_declaration() {
    // Goal: an undeclared, repeated or missing trailer is refused; trailers in a body whose
    // framing has none are refused; the trailer signature only comes in the signed form.
    let body = b"abc";
    let crc = encode(Kind::UnsignedTrailer, body, &[], Some(Algo::Crc32));
    let err = |trailer: &str, enc: &[u8]| whole(Kind::UnsignedTrailer, Some(3), trailer, enc).error;
    assert!(matches!(
        err("", &crc),
        Some(AwsChunkedError::UndeclaredTrailer(_))
    ));
    assert!(matches!(
        err("x-amz-checksum-crc32c", &crc),
        Some(AwsChunkedError::UndeclaredTrailer(_))
    ));
    let plain = encode(Kind::UnsignedTrailer, body, &[], None);
    assert_eq!(
        err("x-amz-checksum-crc32", &plain),
        Some(AwsChunkedError::MissingTrailer(
            "x-amz-checksum-crc32".to_owned()
        ))
    );
    let twice =
        b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
    assert!(matches!(
        err("x-amz-checksum-crc32", twice),
        Some(AwsChunkedError::UndeclaredTrailer(_))
    ));
    let sig = b"3\r\nabc\r\n0\r\nx-amz-trailer-signature:00\r\n\r\n";
    assert!(matches!(
        err("", sig),
        Some(AwsChunkedError::UndeclaredTrailer(_))
    ));
    let bad_value = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRB\r\n\r\n";
    let e = err("x-amz-checksum-crc32", bad_value).expect("bad value");
    assert_eq!(
        e,
        AwsChunkedError::BadTrailerValue("x-amz-checksum-crc32".to_owned())
    );
    // Signed framing without trailer: an extra line after the final chunk is refused.
    let mut signed = encode(Kind::Signed, body, &[], None);
    let len = signed.len();
    signed.truncate(len - 2);
    signed.extend_from_slice(b"x-amz-checksum-crc32:NSRBwg==\r\n\r\n");
    assert_eq!(
        whole(Kind::Signed, Some(3), "", &signed).error,
        Some(AwsChunkedError::Malformed(
            "trailer fields in a body without a trailer"
        ))
    );
}

#[test]
fn bad_trailer_declarations() {
    // Goal: x-amz-trailer naming an unknown header, two checksums, or a trailer with the
    // trailer-less signed framing is refused when the decoder is made (400 InvalidArgument).
    for (f, header) in [
        (Framing::UnsignedTrailer, "x-amz-checksum-md5"),
        (Framing::UnsignedTrailer, "x-amz-meta-a"),
        (
            Framing::UnsignedTrailer,
            "x-amz-checksum-crc32,x-amz-checksum-sha1",
        ),
        (Framing::Signed(signer()), "x-amz-checksum-crc32"),
    ] {
        let e = AwsChunkedDecoder::new(f, None, header).expect_err(header);
        assert!(matches!(e, AwsChunkedError::BadTrailerHeader(_)), "{e:?}");
        assert_eq!((e.code(), e.status()), ("InvalidArgument", 400));
    }
    assert!(AwsChunkedDecoder::new(Framing::UnsignedTrailer, None, " , ").is_ok());
}

#[test]
fn framing_refusals() {
    // Goal: each framing deviation is an error with a 400, never a panic.
    let cases: [(Kind, &[u8]); 12] = [
        (Kind::UnsignedTrailer, b"\r\n"),
        (Kind::UnsignedTrailer, b"g\r\n"),
        (Kind::UnsignedTrailer, b"00000000000000001\r\n"),
        (Kind::UnsignedTrailer, b"3\nabc"),
        (Kind::UnsignedTrailer, b"3\r\rabc"),
        (Kind::UnsignedTrailer, b"3\r\nabcd\r\n"),
        (Kind::UnsignedTrailer, b"3;chunk-signature=00\r\nabc\r\n"),
        (Kind::UnsignedTrailer, b"0\r\nno-colon\r\n\r\n"),
        (Kind::UnsignedTrailer, b"0\r\nx\x01:y\r\n\r\n"),
        (Kind::Signed, b"3\r\nabc\r\n"),
        (Kind::Signed, b"3;chunk-signature=zz\r\nabc\r\n"),
        (
            Kind::Signed,
            b"3;sig=0000000000000000000000000000000000000000000000000000000000000000\r\n",
        ),
    ];
    for (kind, enc) in cases {
        let e = whole(kind, None, "", enc)
            .error
            .unwrap_or_else(|| panic!("{kind:?} {:?} accepted", String::from_utf8_lossy(enc)));
        assert_eq!(e.status(), 400, "{e:?}");
    }
    let mut long = b"1".to_vec();
    long.resize(CHUNK_LINE_BYTES_MAX + 1, b'0');
    assert_eq!(
        whole(Kind::UnsignedTrailer, None, "", &long).error,
        Some(AwsChunkedError::LineTooLong)
    );
    let mut trailer = b"0\r\nx-amz-checksum-crc32:".to_vec();
    trailer.resize(TRAILER_BYTES_MAX + 10, b'A');
    assert_eq!(
        whole(
            Kind::UnsignedTrailer,
            None,
            "x-amz-checksum-crc32",
            &trailer
        )
        .error,
        Some(AwsChunkedError::TrailerTooLarge)
    );
    // A wrong chunk signature is 403.
    let mut enc = encode(Kind::Signed, b"abc", &[], None);
    enc[20] = if enc[20] == b'0' { b'1' } else { b'0' };
    let e = whole(Kind::Signed, Some(3), "", &enc)
        .error
        .expect("bad sig");
    assert_eq!((e.code(), e.status()), ("SignatureDoesNotMatch", 403));
}

#[test]
fn truncations_never_finish() {
    // Goal: every strict prefix of a valid encoding is "need more" with a body prefix, in
    // each framing.
    let body: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    for kind in [Kind::Signed, Kind::SignedTrailer, Kind::UnsignedTrailer] {
        let algo = (kind != Kind::Signed).then_some(Algo::Crc64Nvme);
        let trailer = algo.map_or("", Algo::header_name);
        let enc = encode(kind, &body, &[100, 7], algo);
        assert_eq!(whole(kind, Some(300), trailer, &enc).body, body);
        for cut in 0..enc.len() {
            let out = feed(decoder(kind, Some(300), trailer), &enc[..cut], || {
                usize::MAX
            });
            assert_eq!(
                (out.error, out.consumed),
                (None, None),
                "{kind:?} cut {cut}"
            );
            assert!(body.starts_with(&out.body));
        }
    }
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Signed),
        Just(Kind::SignedTrailer),
        Just(Kind::UnsignedTrailer)
    ]
}

fn algo_strategy() -> impl Strategy<Value = Option<Algo>> {
    prop_oneof![
        Just(None),
        Just(Some(Algo::Crc32)),
        Just(Some(Algo::Crc32c)),
        Just(Some(Algo::Crc64Nvme)),
        Just(Some(Algo::Sha1)),
        Just(Some(Algo::Sha256)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip_in_any_split(
        kind in kind_strategy(),
        algo in algo_strategy(),
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        sizes in proptest::collection::vec(1usize..700, 0..5),
        pieces in proptest::collection::vec(1usize..64, 1..16),
    ) {
        // Goal: encode then decode returns the body, the checksum and the exact encoded
        // length, whole, bytewise and in random pieces.
        let algo = if kind == Kind::Signed { None } else { algo };
        let trailer = algo.map_or("", Algo::header_name);
        let enc = encode(kind, &body, &sizes, algo);
        let want = Outcome {
            body: body.clone(),
            consumed: Some(enc.len()),
            error: None,
            checksum: algo.map(|a| checksum(a, &body).to_base64()),
        };
        let len = Some(body.len() as u64);
        prop_assert_eq!(&whole(kind, len, trailer, &enc), &want);
        let mut i = 0;
        let split = feed(decoder(kind, len, trailer), &enc, || {
            i += 1;
            pieces[i % pieces.len()]
        });
        prop_assert_eq!(split, want);
    }

    #[test]
    fn arbitrary_input_never_panics(
        kind in kind_strategy(),
        input in proptest::collection::vec(
            prop_oneof![
                any::<u8>(),
                Just(b'\r'), Just(b'\n'), Just(b';'), Just(b':'), Just(b'0'), Just(b'a'),
            ],
            0..400,
        ),
        piece in 1usize..50,
    ) {
        // Goal: any bytes give an error, a need-more or a body, never a panic; the split
        // does not change the verdict.
        let trailer = if kind == Kind::Signed { "" } else { "x-amz-checksum-crc32" };
        let a = feed(decoder(kind, None, trailer), &input, || usize::MAX);
        let b = feed(decoder(kind, None, trailer), &input, || piece);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn corruption_never_yields_other_data(
        kind in kind_strategy(),
        body in proptest::collection::vec(any::<u8>(), 1..600),
        sizes in proptest::collection::vec(1usize..200, 0..4),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        // Goal: with signatures or a checksum protecting the body, changing one encoded byte
        // either fails or still decodes to the very same body (a changed hex-digit case).
        let algo = (kind != Kind::Signed).then_some(Algo::Crc32c);
        let trailer = algo.map_or("", Algo::header_name);
        let mut enc = encode(kind, &body, &sizes, algo);
        let i = at.index(enc.len());
        enc[i] = byte;
        let out = whole(kind, Some(body.len() as u64), trailer, &enc);
        if out.error.is_none() && out.consumed.is_some() {
            prop_assert_eq!(out.body, body);
        }
    }
}

#[test]
fn signed_framings_unverified_decode_without_a_secret() {
    // Goal: with no secret (SignedUnverified), signed bodies decode to their data whatever
    // their signatures, while lengths and the trailing checksum are still enforced, and the
    // unsigned syntax (no `;chunk-signature=`) is refused.
    let body = b"hello, unverified world";
    for (kind, trailer) in [(Kind::Signed, false), (Kind::SignedTrailer, true)] {
        let algo = trailer.then_some(Algo::Crc32);
        let decl = if trailer { "x-amz-checksum-crc32" } else { "" };
        let enc = encode(kind, body, &[5, 7], algo);
        let unverified = || {
            AwsChunkedDecoder::new(Framing::SignedUnverified { trailer }, Some(23), decl)
                .expect("valid declaration")
        };
        let out = feed(unverified(), &enc, || 3);
        assert_eq!(
            (out.error, out.body.as_slice()),
            (None, &body[..]),
            "{kind:?}"
        );
        // A signature that would not verify is not checked.
        let text = String::from_utf8(enc.clone()).unwrap();
        let i = text.find("chunk-signature=").unwrap() + "chunk-signature=".len();
        let mut forged = enc.clone();
        forged[i] = if forged[i] == b'0' { b'1' } else { b'0' };
        assert_eq!(feed(unverified(), &forged, || 4).body, body, "{kind:?}");
        // ... but the verifying decoder refuses it.
        let strict = feed(decoder(kind, Some(23), decl), &forged, || 4);
        assert_eq!(strict.error, Some(AwsChunkedError::SignatureDoesNotMatch));
        // The length is still enforced.
        let short =
            AwsChunkedDecoder::new(Framing::SignedUnverified { trailer }, Some(22), decl).unwrap();
        assert!(matches!(
            feed(short, &enc, || 5).error,
            Some(AwsChunkedError::LengthMismatch { .. })
        ));
        // Unsigned chunk lines are not the signed syntax.
        let plain = encode(Kind::UnsignedTrailer, body, &[5], algo);
        assert!(feed(unverified(), &plain, || 5).error.is_some(), "{kind:?}");
    }
    // The trailing checksum is still verified.
    let mut enc = encode(Kind::SignedTrailer, body, &[9], Some(Algo::Crc32));
    let good = checksum(Algo::Crc32, body).to_base64();
    let bad = checksum(Algo::Crc32, b"other").to_base64();
    let text = String::from_utf8(enc.clone()).unwrap().replace(&good, &bad);
    enc = text.into_bytes();
    let dec = AwsChunkedDecoder::new(
        Framing::SignedUnverified { trailer: true },
        Some(23),
        "x-amz-checksum-crc32",
    )
    .unwrap();
    assert_eq!(
        feed(dec, &enc, || 6).error,
        Some(AwsChunkedError::BadDigest(Algo::Crc32))
    );
}
