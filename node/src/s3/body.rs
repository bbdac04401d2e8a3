//! S3 PUT bodies that need more than storing: `aws-chunked` framing decoded
//! (`net::awschunked`, chunk signatures checked with the request's chunk signer), the signed
//! `x-amz-content-sha256` compared, and an `x-amz-checksum-*` (header or trailer) verified —
//! all while the body streams into the work file and before the object becomes visible, so a
//! mismatch stores nothing. The verified checksum is kept in the object's custom metadata
//! (`X-Amz-Checksum-<Algo>`, base64) for GET/HEAD with `x-amz-checksum-mode: ENABLED`.
//!
//! Plain bodies without any of these take the object layer's own path (`object::put_with`:
//! direct I/O, chunked buckets). These go buffered and whole (not as a chunked object).
//! UploadPart takes the same bodies (`receive` into the part's handle, `mpu.rs`).
//!
//! With no credentials configured nothing is authenticated: a signed `aws-chunked` body is
//! decoded with its chunk signatures parsed but not checked (there is no secret to check them
//! with), while its length and trailing checksum are still verified.

use engine::lom::Lom;
use engine::store::{ClientChecksum, PutHandle, Store, WriteCondition};
use net::amzcksum::{Algo, Checksum, Hasher};
use net::awschunked::{AwsChunkedDecoder, AwsChunkedError, Framing};
use net::head::RequestHead;
use net::sigv4::Payload;

use super::auth::Auth;
use super::error::S3Error;
use crate::http::Conn;
use crate::object::{PutError, PUT_WRITE_BYTES_MIN};

/// Prefix of the custom key that keeps an object's S3 checksum (`X-Amz-Checksum-Crc32`).
pub const CUSTOM_CHECKSUM_PREFIX: &str = "X-Amz-Checksum-";

/// How one PUT body is received and checked.
#[derive(Debug)]
pub struct Plan {
    /// The `aws-chunked` decoder, for a `STREAMING-*` body.
    decoder: Option<AwsChunkedDecoder>,
    /// The signed SHA-256 of the body (`x-amz-content-sha256: <hex>`).
    sha256: Option<[u8; 32]>,
    /// A checksum sent as a header (`x-amz-checksum-<algo>: <base64>`).
    header: Option<Checksum>,
    /// `x-amz-decoded-content-length` of an `aws-chunked` body.
    pub decoded_len: Option<u64>,
}

/// Why a planned PUT failed.
#[derive(Debug)]
pub enum Fail {
    /// A refusal in S3's words (a mismatch, bad framing): nothing stored.
    S3(S3Error),
    /// The store or the connection failed, as for any PUT.
    Put(PutError),
}

fn invalid_request(m: impl Into<String>) -> S3Error {
    S3Error::new(400, "InvalidRequest", m)
}

fn of_chunked(e: &AwsChunkedError) -> S3Error {
    S3Error::new(e.status(), e.code(), e.to_string())
}

/// Whether the request asks for `aws-chunked` decoding by `Content-Encoding`.
fn aws_chunked_encoding(head: &RequestHead) -> bool {
    head.header_str("content-encoding")
        .unwrap_or("")
        .split(',')
        .any(|e| e.trim().eq_ignore_ascii_case("aws-chunked"))
}

/// The `x-amz-checksum-<algo>` header, if one was sent (more than one is an error).
fn checksum_header(head: &RequestHead) -> Result<Option<Checksum>, S3Error> {
    let mut found: Option<Checksum> = None;
    for (n, v) in &head.headers {
        let Some(rest) = n.strip_prefix("x-amz-checksum-") else {
            continue;
        };
        if matches!(rest, "algorithm" | "mode" | "type") {
            continue;
        }
        let algo = Algo::from_header_name(n).ok_or_else(|| {
            invalid_request(format!(
                "{n}: unknown checksum algorithm (CRC32, CRC32C, CRC64NVME, SHA1, SHA256)"
            ))
        })?;
        if found.is_some() {
            return Err(invalid_request(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
        let text = std::str::from_utf8(v).unwrap_or("");
        let c = Checksum::from_base64(algo, text)
            .ok_or_else(|| invalid_request(format!("Value for {n} header is invalid.")))?;
        found = Some(c);
    }
    Ok(found)
}

/// The algorithm `x-amz-sdk-checksum-algorithm` (or `x-amz-checksum-algorithm`) names.
fn sdk_algorithm(head: &RequestHead) -> Result<Option<Algo>, S3Error> {
    let v = head
        .header_str("x-amz-sdk-checksum-algorithm")
        .or_else(|| head.header_str("x-amz-checksum-algorithm"));
    match v {
        None => Ok(None),
        Some(name) => Algo::from_name(name.trim()).map(Some).ok_or_else(|| {
            invalid_request(format!(
                "Checksum algorithm {name:?} is not supported (CRC32, CRC32C, CRC64NVME, SHA1, \
                 SHA256)"
            ))
        }),
    }
}

/// Decides how the body of `head` is received; `None`: a plain body (no framing, hash or
/// checksum to verify), for the object layer's own path.
pub fn plan(head: &RequestHead, auth: &Auth) -> Result<Option<Plan>, S3Error> {
    let payload = match auth.verified() {
        Some(v) => v.payload,
        None => match head.header_str("x-amz-content-sha256") {
            None => Payload::Unsigned,
            Some(v) => Payload::parse(v.trim()).map_err(|e| super::auth::of_auth(&e))?,
        },
    };
    let header = checksum_header(head)?;
    let sdk = sdk_algorithm(head)?;
    let trailer = head.header_str("x-amz-trailer").unwrap_or("").trim();
    let mut plan = Plan {
        decoder: None,
        sha256: None,
        header,
        decoded_len: None,
    };
    if payload.is_streaming() {
        let decoded = head
            .header_str("x-amz-decoded-content-length")
            .ok_or_else(|| {
                S3Error::new(
                    411,
                    "MissingContentLength",
                    "An aws-chunked body needs x-amz-decoded-content-length.",
                )
            })?;
        let decoded: u64 = decoded.trim().parse().map_err(|_| {
            S3Error::invalid_argument(format!(
                "x-amz-decoded-content-length {decoded:?} is not a byte count"
            ))
        })?;
        let signer = auth.verified().and_then(|v| v.chunk_signer.clone());
        let framing = match (payload, signer) {
            (Payload::StreamingUnsignedTrailer, _) => Framing::UnsignedTrailer,
            (Payload::StreamingSigned, Some(s)) => Framing::Signed(s),
            (Payload::StreamingSignedTrailer, Some(s)) => Framing::SignedTrailer(s),
            (Payload::StreamingSigned, None) => Framing::SignedUnverified { trailer: false },
            (_, None) => Framing::SignedUnverified { trailer: true },
            (_, Some(_)) => unreachable!("only streaming payloads get here"),
        };
        let dec =
            AwsChunkedDecoder::new(framing, Some(decoded), trailer).map_err(|e| of_chunked(&e))?;
        let trailer_algo = Algo::from_header_name(trailer);
        if plan.header.is_some() && trailer_algo.is_some() {
            return Err(invalid_request(
                "Expecting a single x-amz-checksum- header or trailer, not both.",
            ));
        }
        if let (Some(a), Some(t)) = (sdk, trailer_algo) {
            if a != t {
                return Err(invalid_request(format!(
                    "x-amz-sdk-checksum-algorithm {} does not match the trailer {trailer}",
                    a.name()
                )));
            }
        }
        if sdk.is_some() && trailer_algo.is_none() && plan.header.is_none() {
            return Err(sdk_without_value());
        }
        plan.decoder = Some(dec);
        plan.decoded_len = Some(decoded);
    } else {
        if aws_chunked_encoding(head) {
            return Err(invalid_request(
                "Content-Encoding: aws-chunked needs x-amz-content-sha256: STREAMING-*",
            ));
        }
        if !trailer.is_empty() {
            return Err(invalid_request(
                "x-amz-trailer needs an aws-chunked body (x-amz-content-sha256: STREAMING-*-TRAILER)",
            ));
        }
        if let Payload::Sha256(h) = payload {
            plan.sha256 = Some(h);
        }
        match (sdk, plan.header) {
            (Some(a), Some(c)) if a != c.algo() => {
                return Err(invalid_request(format!(
                    "x-amz-sdk-checksum-algorithm {} does not match the {} header",
                    a.name(),
                    c.algo().header_name()
                )))
            }
            (Some(_), None) => return Err(sdk_without_value()),
            _ => {}
        }
        if plan.sha256.is_none() && plan.header.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(plan))
}

fn sdk_without_value() -> S3Error {
    invalid_request(
        "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or \
         x-amz-trailer headers were found.",
    )
}

/// What a planned PUT wants of the store besides the body.
pub struct Target<'a> {
    pub bucket: &'a str,
    pub obj: &'a str,
    pub client_cksum: Option<ClientChecksum>,
    pub custom: Vec<(String, String)>,
    /// See `PutSpec::condition`.
    pub condition: Option<WriteCondition>,
}

/// Stores the body of `conn` as `t.bucket/t.obj` by `plan`: the object (with its MD5 ETag,
/// and its S3 checksum in the custom metadata) and that checksum, or nothing at all.
pub async fn put(
    conn: &mut Conn,
    t: Target<'_>,
    mut plan: Plan,
) -> Result<(Lom, Option<Checksum>), Fail> {
    let store = conn.core.store.clone();
    // Buffered (no declared size): the decoded body arrives in pieces of any length.
    let mut put = store
        .put_begin(t.bucket, t.obj, None)
        .await
        .map_err(|e| Fail::Put(PutError::Store(e)))?;
    if let Some(c) = t.client_cksum {
        put.expect_checksum(c);
    }
    let mut custom = t.custom;
    // Checked now, so a bad key refuses the PUT before its body is read.
    Store::put_set_custom(&mut put, custom.clone()).map_err(|e| Fail::Put(PutError::Store(e)))?;
    put.want_md5();
    if let Some(c) = t.condition {
        put.set_condition(c);
    }
    conn.outcome.mountpath = Some(put.mountpath_id());
    let checksum = receive(conn, &mut put, &mut plan).await?;
    if let Some(c) = checksum {
        custom.retain(|(k, _)| !k.starts_with(CUSTOM_CHECKSUM_PREFIX));
        custom.push((custom_key(c.algo()), c.to_base64()));
        Store::put_set_custom(&mut put, custom).map_err(|e| Fail::Put(PutError::Store(e)))?;
    }
    conn.outcome.bytes = put.size();
    let lom = put
        .finish()
        .await
        .map_err(|e| Fail::Put(PutError::Store(e)))?;
    Ok((lom, checksum))
}

/// The custom key of an algorithm's checksum: `X-Amz-Checksum-Crc32`.
pub fn custom_key(algo: Algo) -> String {
    let name = algo.header_name().trim_start_matches("x-amz-checksum-");
    let mut out = String::from(CUSTOM_CHECKSUM_PREFIX);
    let mut first = true;
    for ch in name.chars() {
        out.push(if first {
            ch.to_ascii_uppercase()
        } else {
            ch.to_ascii_lowercase()
        });
        first = false;
    }
    out
}

/// The S3 checksum kept in custom metadata, if any.
pub fn stored_checksum(custom: &[(String, String)]) -> Option<Checksum> {
    custom.iter().find_map(|(k, v)| {
        let rest = k.strip_prefix(CUSTOM_CHECKSUM_PREFIX)?;
        let algo = Algo::from_header_name(&format!("x-amz-checksum-{rest}"))?;
        Checksum::from_base64(algo, v)
    })
}

/// Running checks over the decoded body.
struct Checks {
    sha256: Option<Hasher>,
    header: Option<Hasher>,
}

impl Checks {
    fn update(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some(h) = &mut self.header {
            h.update(data);
        }
    }
}

/// Receives, decodes and checks the body into `put` (an object's or a part's); returns the
/// verified S3 checksum. On an error the caller drops `put`, so nothing of the body is kept.
pub(super) async fn receive(
    conn: &mut Conn,
    put: &mut PutHandle,
    plan: &mut Plan,
) -> Result<Option<Checksum>, Fail> {
    let mut raw = conn.core.take_body_buf();
    let mut out = conn.core.take_body_buf();
    let r = receive_into(conn, put, plan, &mut raw, &mut out).await;
    conn.core.put_body_buf(raw);
    conn.core.put_body_buf(out);
    let mut checks = r?;
    if let Some(dec) = &plan.decoder {
        if !dec.is_done() {
            return Err(Fail::S3(S3Error::new(
                400,
                "IncompleteBody",
                "The aws-chunked body ended before its final chunk.",
            )));
        }
    }
    if let (Some(h), Some(want)) = (checks.sha256.take(), plan.sha256) {
        if h.finish().as_bytes() != want {
            return Err(Fail::S3(S3Error::new(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )));
        }
    }
    if let (Some(h), Some(want)) = (checks.header.take(), plan.header) {
        if h.finish() != want {
            return Err(Fail::S3(S3Error::new(
                400,
                "BadDigest",
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    want.algo().name()
                ),
            )));
        }
        return Ok(Some(want));
    }
    Ok(plan.decoder.as_ref().and_then(|d| d.checksum()))
}

async fn receive_into(
    conn: &mut Conn,
    put: &mut PutHandle,
    plan: &mut Plan,
    raw: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<Checks, Fail> {
    let mut checks = Checks {
        sha256: plan.sha256.map(|_| Hasher::new(Algo::Sha256)),
        header: plan.header.map(|c| Hasher::new(c.algo())),
    };
    loop {
        raw.clear();
        let n = conn
            .read_body(raw)
            .await
            .map_err(|e| Fail::Put(PutError::Body(e)))?;
        if n == 0 {
            break;
        }
        match &mut plan.decoder {
            None => {
                checks.update(raw);
                out.extend_from_slice(raw);
            }
            Some(dec) => {
                let mut pos = 0;
                while pos < raw.len() {
                    if dec.is_done() {
                        return Err(Fail::S3(invalid_request(
                            "Bytes after the end of the aws-chunked body.",
                        )));
                    }
                    let step = dec
                        .step(&raw[pos..])
                        .map_err(|e| Fail::S3(of_chunked(&e)))?;
                    let data = &raw[pos..][step.data.clone()];
                    checks.update(data);
                    out.extend_from_slice(data);
                    pos += step.consumed;
                    if step.done && pos < raw.len() {
                        return Err(Fail::S3(invalid_request(
                            "Bytes after the end of the aws-chunked body.",
                        )));
                    }
                }
            }
        }
        if out.len() >= PUT_WRITE_BYTES_MIN {
            write(put, out).await?;
        }
    }
    if !out.is_empty() {
        write(put, out).await?;
    }
    Ok(checks)
}

async fn write(put: &mut PutHandle, out: &mut Vec<u8>) -> Result<(), Fail> {
    let (r, mut b) = put.write(std::mem::take(out)).await;
    b.clear();
    *out = b;
    r.map_err(|e| Fail::Put(PutError::Store(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_keys_round_trip() {
        // Goal: each algorithm's checksum is kept under its own canonical key and read back.
        for algo in Algo::ALL {
            let c = net::amzcksum::checksum(algo, b"data");
            let kv = vec![
                ("X-Amz-Meta-A".to_string(), "b".to_string()),
                (custom_key(algo), c.to_base64()),
            ];
            assert_eq!(stored_checksum(&kv), Some(c), "{algo:?}");
        }
        assert_eq!(custom_key(Algo::Crc64Nvme), "X-Amz-Checksum-Crc64nvme");
        assert_eq!(stored_checksum(&[]), None);
    }
}
