//! AWS Signature Version 4 for S3, sans I/O: verifies `Authorization: AWS4-HMAC-SHA256 ...`
//! headers and presigned URLs, and holds the chunk signer for `aws-chunked` bodies.
//!
//! The canonical request follows S3's rules, which differ from other AWS services: the path is
//! not normalised and not double-encoded. Each raw path segment is percent-decoded and encoded
//! again (unreserved characters `A-Za-z0-9-._~` kept, everything else `%XX`, `/` kept), so a
//! client that escaped more or fewer characters than another still signs the same string.
//! Query parameters are decoded form-style (`+` is a space), encoded the same way, and sorted
//! by name, then value. Signed header values are trimmed and inner runs of blanks collapsed;
//! repeated headers are joined with `,`.
//!
//! Every `x-amz-*` header of a header-signed request must be signed, as AWS requires. Not
//! checked here: the `x-amz-security-token` of temporary credentials.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a header-signed request's `x-amz-date` may be from the server clock.
pub const CLOCK_SKEW_MAX: Duration = Duration::from_secs(15 * 60);
/// Longest lifetime of a presigned URL (`X-Amz-Expires`): seven days.
pub const PRESIGNED_EXPIRES_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// SHA-256 of the empty string, hex: the "previous payload" line of chunk signatures.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// `x-amz-content-sha256` value: body not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `x-amz-content-sha256` value: `aws-chunked` body with signed chunks.
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// `x-amz-content-sha256` value: `aws-chunked` body, signed chunks and a signed trailer.
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// `x-amz-content-sha256` value: `aws-chunked` body, unsigned chunks and trailer.
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// The parts of an HTTP request that SigV4 covers, as received.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `PUT`, ...
    pub method: &'a str,
    /// The request-target's path, still percent-encoded (`/bucket/a%20b`).
    pub raw_path: &'a str,
    /// The query string after `?`, still encoded; empty if none.
    pub raw_query: &'a str,
    /// Every header as received, names in any case, repeats allowed.
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// What the signature says about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// `UNSIGNED-PAYLOAD`, and every presigned URL: the body is not covered.
    Unsigned,
    /// The signed SHA-256 of the body. The caller hashes the body and refuses a mismatch with
    /// `XAmzContentSHA256Mismatch` (400) before the object becomes visible.
    Sha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: an `aws-chunked` body whose chunks are signed.
    StreamingSigned,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: an `aws-chunked` body with an unsigned trailer.
    StreamingUnsignedTrailer,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    StreamingSignedTrailer,
}

impl Payload {
    /// True for the three `aws-chunked` forms.
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Payload::StreamingSigned
                | Payload::StreamingUnsignedTrailer
                | Payload::StreamingSignedTrailer
        )
    }

    /// Parses an `x-amz-content-sha256` value.
    pub fn parse(value: &str) -> Result<Payload, AuthError> {
        Ok(match value {
            UNSIGNED_PAYLOAD => Payload::Unsigned,
            STREAMING_SIGNED => Payload::StreamingSigned,
            STREAMING_UNSIGNED_TRAILER => Payload::StreamingUnsignedTrailer,
            STREAMING_SIGNED_TRAILER => Payload::StreamingSignedTrailer,
            hex if hex.len() == 64 => {
                let mut sum = [0; 32];
                decode_hex(hex, &mut sum).ok_or(AuthError::BadContentSha256)?;
                Payload::Sha256(sum)
            }
            _ => return Err(AuthError::BadContentSha256),
        })
    }
}

/// A request whose signature checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The access key that signed it (shared with the key cache: a check allocates nothing).
    pub access_key: Arc<str>,
    /// The region in the credential scope.
    pub region: Arc<str>,
    /// What the signature covers of the body.
    pub payload: Payload,
    /// For [`Payload::StreamingSigned`] and [`Payload::StreamingSignedTrailer`]: the state that
    /// verifies each chunk's signature, seeded with the request's signature.
    pub chunk_signer: Option<ChunkSigner>,
}

/// Why a request was refused. [`AuthError::code`] and [`AuthError::status`] give the S3 answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// No SigV4 header or query parameters, where they are required.
    #[error("access denied: the request is not signed")]
    Missing,
    /// An `Authorization` header that does not parse.
    #[error("the authorization header is malformed: {0}")]
    Malformed(String),
    /// Presigned-URL query parameters that do not parse or are out of range.
    #[error("the authorization query parameters are malformed: {0}")]
    QueryMalformed(String),
    /// An algorithm other than `AWS4-HMAC-SHA256` (for example Signature Version 2).
    #[error("unsupported authorization type: {0}; use AWS4-HMAC-SHA256")]
    Unsupported(String),
    /// Both an `Authorization` header and `X-Amz-Algorithm` in the query.
    #[error("only one auth mechanism allowed")]
    Ambiguous,
    /// The access key is not known.
    #[error("the access key id you provided does not exist in our records")]
    InvalidAccessKeyId,
    /// The signature is wrong: a wrong secret, or the request changed after signing.
    #[error("the request signature we calculated does not match the signature you provided")]
    SignatureDoesNotMatch,
    /// A presigned URL past its `X-Amz-Expires`.
    #[error("request has expired")]
    Expired,
    /// A presigned URL dated in the future (beyond the clock-skew allowance).
    #[error("request is not valid yet")]
    NotYetValid,
    /// A header-signed request with an `x-amz-*` header its signature does not cover.
    #[error("there were headers present in the request which were not signed: {0}")]
    HeadersNotSigned(String),
    /// A header-signed request dated more than [`CLOCK_SKEW_MAX`] from the server clock.
    #[error("the difference between the request time and the server's time is too large")]
    RequestTimeTooSkewed,
    /// A header-signed request without `x-amz-content-sha256`.
    #[error("missing required header for this request: x-amz-content-sha256")]
    MissingContentSha256,
    /// An `x-amz-content-sha256` that is neither a known keyword nor 64 hex digits.
    #[error(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* keyword, or a SHA-256 in hex"
    )]
    BadContentSha256,
}

impl AuthError {
    /// The S3 error code for the XML `<Code>`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing
            | AuthError::Expired
            | AuthError::NotYetValid
            | AuthError::HeadersNotSigned(_) => "AccessDenied",
            AuthError::Malformed(_) => "AuthorizationHeaderMalformed",
            AuthError::QueryMalformed(_) => "AuthorizationQueryParametersError",
            AuthError::Unsupported(_) | AuthError::MissingContentSha256 => "InvalidRequest",
            AuthError::Ambiguous | AuthError::BadContentSha256 => "InvalidArgument",
            AuthError::InvalidAccessKeyId => "InvalidAccessKeyId",
            AuthError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            AuthError::RequestTimeTooSkewed => "RequestTimeTooSkewed",
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Malformed(_)
            | AuthError::QueryMalformed(_)
            | AuthError::Unsupported(_)
            | AuthError::Ambiguous
            | AuthError::MissingContentSha256
            | AuthError::BadContentSha256 => 400,
            AuthError::Missing
            | AuthError::HeadersNotSigned(_)
            | AuthError::InvalidAccessKeyId
            | AuthError::SignatureDoesNotMatch
            | AuthError::Expired
            | AuthError::NotYetValid
            | AuthError::RequestTimeTooSkewed => 403,
        }
    }
}

/// True if the request carries any SigV4 (or other) credentials: an `Authorization` header or
/// `X-Amz-Algorithm` / `X-Amz-Signature` / `X-Amz-Credential` in the query.
pub fn is_signed(req: &Request) -> bool {
    header(req, "authorization").is_some() || presign_params_present(req.raw_query)
}

fn presign_params_present(raw_query: &str) -> bool {
    raw_query.split('&').any(|p| {
        let key = p.split_once('=').map_or(p, |(k, _)| k);
        ["X-Amz-Algorithm", "X-Amz-Signature", "X-Amz-Credential"]
            .iter()
            .any(|name| key.eq_ignore_ascii_case(name))
    })
}

/// Verifies the request's signature, by header or presigned URL, at time `now`.
///
/// `secret_of` maps an access key to its secret. The body is not read here: for
/// [`Payload::Sha256`] the caller compares the body's hash, and for the streaming forms the
/// caller decodes the body with [`crate::awschunked`], giving it [`Verified::chunk_signer`].
pub fn verify<S: AsRef<str>>(
    req: &Request,
    secret_of: impl Fn(&str) -> Option<S>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    verify_cached(req, secret_of, now, &mut KeyCache::default())
}

/// [`verify`], reusing signing keys from `cache` (one per core, say): a key is derived once
/// per access key, secret and day rather than once per request, and the canonical request is
/// built in the cache's buffer. A header-signed request then costs no heap allocation beyond
/// the two strings of [`Verified`].
pub fn verify_cached<S: AsRef<str>>(
    req: &Request,
    secret_of: impl Fn(&str) -> Option<S>,
    now: SystemTime,
    cache: &mut KeyCache,
) -> Result<Verified, AuthError> {
    let found = AuthHeaders::find(req)?;
    let presigned = presign_params_present(req.raw_query);
    match (found.authorization, presigned) {
        (Some(_), true) => Err(AuthError::Ambiguous),
        (Some(value), false) => verify_header(req, &found, value, secret_of, now, cache),
        (None, true) => verify_presigned(req, secret_of, now, cache),
        (None, false) => Err(AuthError::Missing),
    }
}

/// The headers a header signature is read from, found in one pass.
#[derive(Default)]
struct AuthHeaders<'a> {
    authorization: Option<&'a [u8]>,
    amz_date: Option<&'a [u8]>,
    content_sha256: Option<&'a [u8]>,
    date: Option<&'a [u8]>,
}

impl<'a> AuthHeaders<'a> {
    /// Refuses a repeated `authorization`, `x-amz-date` or `x-amz-content-sha256`.
    fn find(req: &Request<'a>) -> Result<AuthHeaders<'a>, AuthError> {
        let mut found = AuthHeaders::default();
        for &(name, value) in req.headers {
            let (slot, unique) = if name.eq_ignore_ascii_case("authorization") {
                (&mut found.authorization, true)
            } else if name.eq_ignore_ascii_case("x-amz-date") {
                (&mut found.amz_date, true)
            } else if name.eq_ignore_ascii_case("x-amz-content-sha256") {
                (&mut found.content_sha256, true)
            } else if name.eq_ignore_ascii_case("date") {
                (&mut found.date, false)
            } else {
                continue;
            };
            if slot.is_some() {
                if unique {
                    let name = name.to_ascii_lowercase();
                    return Err(AuthError::Malformed(format!("repeated {name} header")));
                }
                continue;
            }
            *slot = Some(value);
        }
        Ok(found)
    }
}

/// Most signing keys a [`KeyCache`] holds.
pub const KEY_CACHE_ENTRIES_MAX: usize = 16;

/// Recently derived signing keys, by access key, secret and credential scope; a changed
/// secret or a new day misses. Replacement is round-robin.
#[derive(Default)]
pub struct KeyCache {
    entries: Vec<CachedKey>,
    next: usize,
    /// The canonical request being built (kept to reuse its capacity).
    scratch: Vec<u8>,
}

struct CachedKey {
    access_key: Arc<str>,
    secret: String,
    scope: String,
    region: Arc<str>,
    key: [u8; 32],
    /// HMAC keyed with `key`, its inner and outer pads already hashed: cloned per signature.
    mac: HmacSha256,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The signing key of `credential` under `secret`: derived on a miss, else from the cache.
    fn key(&mut self, secret: &str, credential: &Credential) -> &CachedKey {
        let hit = self.entries.iter().position(|e| {
            *e.access_key == *credential.access_key
                && e.secret == secret
                && e.scope == credential.scope
        });
        if let Some(i) = hit {
            return &self.entries[i];
        }
        let key = signing_key(
            secret,
            credential.date,
            credential.region,
            credential.service,
        );
        let entry = CachedKey {
            access_key: credential.access_key.into(),
            secret: secret.to_owned(),
            scope: credential.scope.to_owned(),
            region: credential.region.into(),
            key,
            mac: HmacSha256::new_from_slice(&key).expect("HMAC takes any key length"),
        };
        let i = if self.entries.len() < KEY_CACHE_ENTRIES_MAX {
            self.entries.push(entry);
            self.entries.len() - 1
        } else {
            let i = self.next;
            self.entries[i] = entry;
            self.next = (self.next + 1) % KEY_CACHE_ENTRIES_MAX;
            i
        };
        assert!(self.entries.len() <= KEY_CACHE_ENTRIES_MAX);
        &self.entries[i]
    }
}

/// A credential, `<access key>/<scope>`, the scope being `<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Credential<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    scope: &'a str,
}

impl<'a> Credential<'a> {
    fn parse(text: &'a str) -> Option<Credential<'a>> {
        // From the right: the access key may itself hold a '/'.
        let (rest, terminal) = rsplit_once_ascii(text, b'/')?;
        let (rest, service) = rsplit_once_ascii(rest, b'/')?;
        let (rest, region) = rsplit_once_ascii(rest, b'/')?;
        let (access_key, date) = rsplit_once_ascii(rest, b'/')?;
        let ok = terminal == "aws4_request"
            && !access_key.is_empty()
            && date.len() == 8
            && date.bytes().all(|b| b.is_ascii_digit())
            && !region.is_empty()
            && !service.is_empty();
        ok.then(|| Credential {
            access_key,
            date,
            region,
            service,
            scope: &text[access_key.len() + 1..],
        })
    }
}

/// The parsed `Authorization` header, borrowing from it.
struct AuthHeader<'a> {
    credential: Credential<'a>,
    /// Lowercase names joined by `;`, checked by [`parse_signed_headers`].
    signed_headers: &'a str,
    signature: [u8; 32],
}

fn parse_auth_header(value: &str) -> Result<AuthHeader<'_>, AuthError> {
    let malformed = |what: &str| AuthError::Malformed(what.to_owned());
    let (algorithm, rest) = split_once_ascii(value.trim_ascii(), b' ').ok_or_else(|| {
        malformed("expected '<algorithm> Credential=..., SignedHeaders=..., Signature=...'")
    })?;
    if algorithm != ALGORITHM {
        return Err(AuthError::Unsupported(algorithm.to_owned()));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for field in split_ascii(rest, b',') {
        let (name, val) = split_once_ascii(field.trim_ascii(), b'=')
            .ok_or_else(|| malformed("a field without '='"))?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(malformed("unknown field")),
        };
        if slot.replace(val).is_some() {
            return Err(malformed("a repeated field"));
        }
    }
    let credential = credential.ok_or_else(|| malformed("missing Credential"))?;
    let credential = Credential::parse(credential).ok_or_else(|| {
        malformed("Credential must be <access-key>/<yyyymmdd>/<region>/<service>/aws4_request")
    })?;
    let signed_headers =
        parse_signed_headers(signed.ok_or_else(|| malformed("missing SignedHeaders"))?)
            .ok_or_else(|| malformed("SignedHeaders must be lowercase names joined by ';'"))?;
    let signature = parse_signature(signature.ok_or_else(|| malformed("missing Signature"))?)
        .ok_or_else(|| malformed("Signature must be 64 hex digits"))?;
    Ok(AuthHeader {
        credential,
        signed_headers,
        signature,
    })
}

/// `text` split at each `sep`, an ASCII byte: `str::split` by `memchr`, which costs less than
/// `str::split`'s char searcher on the short fields of a signature (measured with
/// `tests/sigv4_cost.rs`: verify 1.15 µs → 1.04 with a byte loop, ~1.0 with memchr).
fn split_ascii(text: &str, sep: u8) -> SplitAscii<'_> {
    assert!(
        sep.is_ascii(),
        "split_ascii: an ASCII separator keeps pieces on char boundaries"
    );
    SplitAscii {
        rest: Some(text),
        sep,
    }
}

/// The iterator of [`split_ascii`].
#[derive(Clone)]
struct SplitAscii<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for SplitAscii<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match memchr::memchr(self.sep, rest.as_bytes()) {
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// `str::split_once` at the first ASCII byte `sep`.
fn split_once_ascii(text: &str, sep: u8) -> Option<(&str, &str)> {
    debug_assert!(sep.is_ascii());
    let i = memchr::memchr(sep, text.as_bytes())?;
    Some((&text[..i], &text[i + 1..]))
}

/// `str::rsplit_once` at the last ASCII byte `sep`.
fn rsplit_once_ascii(text: &str, sep: u8) -> Option<(&str, &str)> {
    debug_assert!(sep.is_ascii());
    let i = memchr::memrchr(sep, text.as_bytes())?;
    Some((&text[..i], &text[i + 1..]))
}

/// `text` if it is lowercase header names joined by `;`.
fn parse_signed_headers(text: &str) -> Option<&str> {
    let ok = split_ascii(text, b';').all(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase() && b != b':')
    });
    ok.then_some(text)
}

fn parse_signature(text: &str) -> Option<[u8; 32]> {
    let mut sig = [0; 32];
    decode_hex(text, &mut sig)?;
    Some(sig)
}

fn verify_header<S: AsRef<str>>(
    req: &Request,
    found: &AuthHeaders,
    value: &[u8],
    secret_of: impl Fn(&str) -> Option<S>,
    now: SystemTime,
    cache: &mut KeyCache,
) -> Result<Verified, AuthError> {
    let value =
        std::str::from_utf8(value).map_err(|_| AuthError::Malformed("not ASCII".to_owned()))?;
    let auth = parse_auth_header(value)?;
    // x-amz-date, else Date (IMF-fixdate), which SigV4 allows and botocore uses when a
    // Date header is present; the string to sign takes it in the x-amz-date form.
    let from_date_header;
    let (amz_date, time) = match found.amz_date {
        Some(d) => {
            let d = std::str::from_utf8(d).ok();
            let time = d.and_then(parse_amz_date).ok_or_else(|| {
                AuthError::Malformed("x-amz-date must be yyyymmddThhmmssZ".to_owned())
            })?;
            (d.unwrap_or_default(), time)
        }
        None => {
            let date = found
                .date
                .and_then(|d| std::str::from_utf8(d).ok())
                .ok_or_else(|| {
                    AuthError::Malformed("missing x-amz-date or Date header".to_owned())
                })?;
            let time = parse_http_date(date)
                .ok_or_else(|| AuthError::Malformed("Date must be an IMF-fixdate".to_owned()))?;
            from_date_header = format_amz_date(time);
            (from_date_header.as_str(), time)
        }
    };
    if amz_date[..8] != *auth.credential.date {
        return Err(AuthError::Malformed(
            "the credential date does not match x-amz-date".to_owned(),
        ));
    }
    let content_sha = found
        .content_sha256
        .and_then(|v| std::str::from_utf8(v).ok())
        .ok_or(AuthError::MissingContentSha256)?
        .trim();
    let payload = Payload::parse(content_sha)?;
    let secret = secret_of(auth.credential.access_key).ok_or(AuthError::InvalidAccessKeyId)?;
    // Every x-amz-* header must be signed (AWS: "HeadersNotSigned"), else a replayed request
    // could gain, say, x-amz-copy-source or x-amz-meta-* on the way.
    if let Some((name, _)) = req.headers.iter().find(|(n, _)| {
        n.len() > 6
            && n.as_bytes()[..6].eq_ignore_ascii_case(b"x-amz-")
            && !split_ascii(auth.signed_headers, b';').any(|s| s.eq_ignore_ascii_case(n))
    }) {
        return Err(AuthError::HeadersNotSigned(name.to_ascii_lowercase()));
    }
    let mut canonical = std::mem::take(&mut cache.scratch);
    canonical.clear();
    let built = write_canonical_request(
        req,
        split_ascii(auth.signed_headers, b';'),
        content_sha,
        false,
        &mut canonical,
    );
    let creq_sha = Sha256::digest(&canonical);
    cache.scratch = canonical;
    built.ok_or(AuthError::SignatureDoesNotMatch)?;
    let cached = cache.key(secret.as_ref(), &auth.credential);
    check_signature(
        &cached.mac,
        amz_date,
        auth.credential.scope,
        &creq_sha.into(),
        &auth.signature,
    )?;
    // The clock is judged only once the signature is right, so an unsigned guess learns
    // nothing but SignatureDoesNotMatch.
    if skew(time, now) > CLOCK_SKEW_MAX {
        return Err(AuthError::RequestTimeTooSkewed);
    }
    let chunk_signer = matches!(
        payload,
        Payload::StreamingSigned | Payload::StreamingSignedTrailer
    )
    .then(|| ChunkSigner::new(cached.key, amz_date, auth.credential.scope, auth.signature));
    Ok(Verified {
        access_key: Arc::clone(&cached.access_key),
        region: Arc::clone(&cached.region),
        payload,
        chunk_signer,
    })
}

fn verify_presigned<S: AsRef<str>>(
    req: &Request,
    secret_of: impl Fn(&str) -> Option<S>,
    now: SystemTime,
    cache: &mut KeyCache,
) -> Result<Verified, AuthError> {
    let bad = |what: &str| AuthError::QueryMalformed(what.to_owned());
    let params = decode_query(req.raw_query);
    let one = |name: &str| -> Result<String, AuthError> {
        let mut found = params
            .iter()
            .filter(|(k, _)| k.as_slice() == name.as_bytes());
        let (_, v) = found
            .next()
            .ok_or_else(|| bad(&format!("missing {name}")))?;
        if found.next().is_some() {
            return Err(bad(&format!("repeated {name}")));
        }
        String::from_utf8(v.clone()).map_err(|_| bad(&format!("{name} is not UTF-8")))
    };
    let algorithm = one("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(AuthError::Unsupported(algorithm));
    }
    let credential_text = one("X-Amz-Credential")?;
    let credential = Credential::parse(&credential_text).ok_or_else(|| {
        bad("X-Amz-Credential must be <access-key>/<yyyymmdd>/<region>/<service>/aws4_request")
    })?;
    let amz_date = one("X-Amz-Date")?;
    let time =
        parse_amz_date(&amz_date).ok_or_else(|| bad("X-Amz-Date must be yyyymmddThhmmssZ"))?;
    if amz_date[..8] != *credential.date {
        return Err(bad("the credential date does not match X-Amz-Date"));
    }
    let expires = one("X-Amz-Expires")?;
    let expires_secs: u64 = (!expires.is_empty() && expires.bytes().all(|b| b.is_ascii_digit()))
        .then(|| expires.parse().ok())
        .flatten()
        .ok_or_else(|| bad("X-Amz-Expires must be a number of seconds"))?;
    let expires = Duration::from_secs(expires_secs);
    if expires > PRESIGNED_EXPIRES_MAX {
        return Err(bad(
            "X-Amz-Expires must be less than a week (604800 seconds)",
        ));
    }
    let signed_headers = one("X-Amz-SignedHeaders")?;
    let signed_headers = parse_signed_headers(&signed_headers)
        .ok_or_else(|| bad("X-Amz-SignedHeaders must be lowercase names joined by ';'"))?;
    let signature = parse_signature(&one("X-Amz-Signature")?)
        .ok_or_else(|| bad("X-Amz-Signature must be 64 hex digits"))?;
    let secret = secret_of(credential.access_key).ok_or(AuthError::InvalidAccessKeyId)?;
    let mut canonical = Vec::with_capacity(256);
    write_canonical_request(
        req,
        split_ascii(signed_headers, b';'),
        UNSIGNED_PAYLOAD,
        true,
        &mut canonical,
    )
    .ok_or(AuthError::SignatureDoesNotMatch)?;
    let cached = cache.key(secret.as_ref(), &credential);
    let creq_sha = Sha256::digest(&canonical).into();
    check_signature(
        &cached.mac,
        &amz_date,
        credential.scope,
        &creq_sha,
        &signature,
    )?;
    if time > now + CLOCK_SKEW_MAX {
        return Err(AuthError::NotYetValid);
    }
    if now > time + expires {
        return Err(AuthError::Expired);
    }
    Ok(Verified {
        access_key: Arc::clone(&cached.access_key),
        region: Arc::clone(&cached.region),
        payload: Payload::Unsigned,
        chunk_signer: None,
    })
}

/// Checks `claimed` against the signature of the string to sign (SigV4 task 2) made of
/// `amz_date`, `scope` and the canonical request's SHA-256; `mac` is keyed with the signing key.
fn check_signature(
    mac: &HmacSha256,
    amz_date: &str,
    scope: &str,
    canonical_sha256: &[u8; 32],
    claimed: &[u8; 32],
) -> Result<(), AuthError> {
    let mut mac = mac.clone();
    update_string_to_sign(&mut mac, amz_date, scope, canonical_sha256);
    // verify_slice compares in constant time.
    mac.verify_slice(claimed)
        .map_err(|_| AuthError::SignatureDoesNotMatch)
}

/// Feeds the string to sign to `mac`, piece by piece.
fn update_string_to_sign(
    mac: &mut HmacSha256,
    amz_date: &str,
    scope: &str,
    canonical_sha256: &[u8; 32],
) {
    let mut digest_hex = [0; 64];
    hex_into(canonical_sha256, &mut digest_hex);
    for piece in [
        ALGORITHM.as_bytes(),
        b"\n",
        amz_date.as_bytes(),
        b"\n",
        scope.as_bytes(),
        b"\n",
        &digest_hex,
    ] {
        mac.update(piece);
    }
}

fn skew(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap_or(Duration::ZERO)
}

/// The canonical request (SigV4 task 1) for S3, as bytes.
///
/// `signed_headers` are lowercase names in the order they were signed (SDKs sort them). For a
/// presigned URL (`presigned = true`), `X-Amz-Signature` is left out of the canonical query.
/// `None` if a signed header is absent from the request.
pub fn canonical_request(
    req: &Request,
    signed_headers: &[&str],
    payload_hash: &str,
    presigned: bool,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    write_canonical_request(
        req,
        signed_headers.iter().copied(),
        payload_hash,
        presigned,
        &mut out,
    )?;
    Some(out)
}

/// [`canonical_request`], appended to `out`; `signed_headers` is walked twice (the header
/// lines, then the list). `None` if a signed header is absent (`out` then holds a part).
fn write_canonical_request<'n>(
    req: &Request,
    signed_headers: impl Iterator<Item = &'n str> + Clone,
    payload_hash: &str,
    presigned: bool,
    out: &mut Vec<u8>,
) -> Option<()> {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    canonical_uri(req.raw_path, out);
    out.push(b'\n');
    canonical_query(req.raw_query, presigned, out);
    out.push(b'\n');
    for name in signed_headers.clone() {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut first = true;
        for (_, value) in req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            if !first {
                out.push(b',');
            }
            first = false;
            canonical_header_value(value, out);
        }
        if first {
            return None;
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    for (i, name) in signed_headers.enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    Some(())
}

/// A header signature, as a client makes it.
#[derive(Debug, Clone)]
pub struct ClientSignature {
    /// The `Authorization` header value.
    pub authorization: String,
    /// The signature (the seed of an `aws-chunked` body's chunk signatures).
    pub signature: [u8; 32],
    /// The signing key (for [`ChunkSigner::new`]).
    pub key: [u8; 32],
    /// The credential scope (`<date>/<region>/s3/aws4_request`).
    pub scope: String,
}

/// Signs `req` as an S3 client does (for load generators and tests): `req` must already
/// carry every header named in `signed_headers` (lowercase, sorted), among them `host`,
/// `x-amz-date: <amz_date>` and `x-amz-content-sha256: <payload_hash>`. `None` if one is
/// absent.
pub fn sign_request(
    req: &Request,
    signed_headers: &[&str],
    payload_hash: &str,
    access_key: &str,
    secret: &str,
    region: &str,
    amz_date: &str,
) -> Option<ClientSignature> {
    let date = amz_date.get(..8)?;
    let scope = format!("{date}/{region}/s3/aws4_request");
    let creq = canonical_request(req, signed_headers, payload_hash, false)?;
    let sts = string_to_sign(amz_date, &scope, &creq);
    let key = signing_key(secret, date, region, "s3");
    let signature = hmac_sha256(&key, sts.as_bytes());
    let authorization = format!(
        "{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={}, Signature={}",
        signed_headers.join(";"),
        hex(&signature)
    );
    Some(ClientSignature {
        authorization,
        signature,
        key,
        scope,
    })
}

/// [`sign_request`] for a client signing many requests: the signing key and its HMAC state
/// come from `cache` (derived once per key, secret and day), the canonical request is built
/// in the cache's buffer, and the string to sign goes straight into the HMAC.
#[allow(clippy::too_many_arguments)]
pub fn sign_request_cached(
    req: &Request,
    signed_headers: &[&str],
    payload_hash: &str,
    access_key: &str,
    secret: &str,
    region: &str,
    amz_date: &str,
    cache: &mut KeyCache,
) -> Option<ClientSignature> {
    let date = amz_date.get(..8)?;
    let mut credential_text = String::with_capacity(access_key.len() + region.len() + 32);
    for piece in [access_key, "/", date, "/", region, "/s3/aws4_request"] {
        credential_text.push_str(piece);
    }
    let credential = Credential::parse(&credential_text)?;
    let mut canonical = std::mem::take(&mut cache.scratch);
    canonical.clear();
    let built = write_canonical_request(
        req,
        signed_headers.iter().copied(),
        payload_hash,
        false,
        &mut canonical,
    );
    let creq_sha: [u8; 32] = Sha256::digest(&canonical).into();
    cache.scratch = canonical;
    built?;
    let cached = cache.key(secret, &credential);
    let mut mac = cached.mac.clone();
    update_string_to_sign(&mut mac, amz_date, credential.scope, &creq_sha);
    let signature: [u8; 32] = mac.finalize().into_bytes().into();
    let mut signature_hex = [0; 64];
    hex_into(&signature, &mut signature_hex);
    let mut authorization = String::with_capacity(credential_text.len() + 160);
    authorization.push_str(ALGORITHM);
    authorization.push_str(" Credential=");
    authorization.push_str(&credential_text);
    authorization.push_str(", SignedHeaders=");
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            authorization.push(';');
        }
        authorization.push_str(name);
    }
    authorization.push_str(", Signature=");
    authorization.push_str(std::str::from_utf8(&signature_hex).expect("hex digits are ASCII"));
    Some(ClientSignature {
        authorization,
        signature,
        key: cached.key,
        scope: credential.scope.to_owned(),
    })
}

/// The string to sign (SigV4 task 2).
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request))
    )
}

/// The signing key (SigV4 task 3): HMAC chain over date, region, service, `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    hex_into(bytes, &mut out);
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Lowercase hex of `bytes` into `out`, which is twice as long.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    assert_eq!(out.len(), bytes.len() * 2, "hex_into: two digits per byte");
    for (&b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
}

/// Decodes exactly `out.len() * 2` hex digits (either case) into `out`.
pub fn decode_hex(text: &str, out: &mut [u8]) -> Option<()> {
    let bytes = text.as_bytes();
    if bytes.len() != out.len() * 2 {
        return None;
    }
    // Every digit is looked up; a bad one sets the high bit of `bad`, judged once at the end.
    let mut bad = 0;
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (h, l) = (
            HEX_VALUES[usize::from(pair[0])],
            HEX_VALUES[usize::from(pair[1])],
        );
        bad |= h | l;
        *o = (h << 4) | (l & 15);
    }
    (bad & 0x80 == 0).then_some(())
}

/// The value of each byte as a hex digit (either case), or `NOT_HEX`: a table, so that random
/// digits cost no mispredicted branches (a signature has 64 of them).
const HEX_VALUES: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const NOT_HEX: u8 = 0xff;

fn hex_value(b: u8) -> Option<u8> {
    let v = HEX_VALUES[usize::from(b)];
    (v != NOT_HEX).then_some(v)
}

/// Parses `yyyymmddThhmmssZ`.
pub fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = &b[range];
        digits.iter().all(u8::is_ascii_digit).then(|| {
            digits
                .iter()
                .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let valid = (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && day >= 1
        && day <= month_days[(month - 1) as usize]
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Parses an HTTP IMF-fixdate such as `Fri, 24 May 2013 00:00:00 GMT` (RFC 9110 §5.6.7),
/// also with the zone written `+0000` or `-0000` (Python's `email.utils.formatdate`, which
/// botocore uses for the Date header).
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let text = match text
        .strip_suffix(" +0000")
        .or_else(|| text.strip_suffix(" -0000"))
    {
        Some(t) => format!("{t} GMT"),
        None => text.to_owned(),
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = text.as_bytes();
    // "Www, DD Mon YYYY HH:MM:SS GMT"
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let fixed = [(7, b' '), (11, b' '), (16, b' '), (19, b':'), (22, b':')];
    if fixed.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let month = MONTHS.iter().position(|m| m.as_bytes() == &b[8..11])?;
    let s = std::str::from_utf8(b).ok()?;
    let amz = format!(
        "{}{:02}{}T{}{}{}Z",
        &s[12..16],
        month + 1,
        &s[5..7],
        &s[17..19],
        &s[20..22],
        &s[23..25]
    );
    parse_amz_date(&amz)
}

/// Formats a time as `yyyymmddThhmmssZ` (for signing in tests and clients).
pub fn format_amz_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .expect("a time after 1970")
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (year >= 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    // Howard Hinnant's algorithm, with eras starting in March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

fn header<'a>(req: &Request<'a>, name: &str) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// S3's URI encoding: unreserved bytes kept, `/` kept if `keep_slash`, the rest `%XX`.
fn uri_encode(bytes: &[u8], keep_slash: bool, out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[
                b'%',
                DIGITS[usize::from(b >> 4)],
                DIGITS[usize::from(b & 15)],
            ]);
        }
    }
}

/// `A-Za-z0-9-._~`: what S3's URI encoding keeps as is.
fn is_unreserved(b: u8) -> bool {
    URI_CLASS[usize::from(b)] == UNRESERVED
}

/// Each byte's class for the URI encoding: a table, so that a path is judged with one load
/// per byte (the `match` cost ~0.1 µs of a ~1 µs check on a 30-byte path).
const URI_CLASS: [u8; 256] = {
    let mut t = [0; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            t[b] = UNRESERVED;
        } else if c == b'/' {
            t[b] = SLASH;
        }
        b += 1;
    }
    t
};
const UNRESERVED: u8 = 1;
const SLASH: u8 = 2;

/// Decodes `%XX` escapes (an invalid escape stays literal); `+` becomes a space if `plus_space`.
fn uri_decode(text: &[u8], plus_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'%' if i + 2 < text.len() => match (hex_value(text[i + 1]), hex_value(text[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn canonical_uri(raw_path: &str, out: &mut Vec<u8>) {
    if raw_path.is_empty() {
        out.push(b'/');
        return;
    }
    if raw_path.bytes().all(|b| URI_CLASS[usize::from(b)] != 0) {
        // Only unreserved bytes and slashes: every segment stays as it is (most paths).
        out.extend_from_slice(raw_path.as_bytes());
        return;
    }
    for (i, segment) in raw_path.as_bytes().split(|&b| b == b'/').enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        reencode_segment(segment, out);
    }
}

/// One path segment decoded as [`uri_decode`] does (`+` kept) and encoded again as
/// [`uri_encode`] does (`/` escaped), with no buffer between the two.
fn reencode_segment(text: &[u8], out: &mut Vec<u8>) {
    if text.iter().all(|&b| is_unreserved(b)) {
        // Nothing to decode or escape (most object names).
        out.extend_from_slice(text);
        return;
    }
    out.reserve(text.len());
    let mut i = 0;
    while i < text.len() {
        let mut b = text[i];
        i += 1;
        if b == b'%' && i + 1 < text.len() {
            if let (Some(h), Some(l)) = (hex_value(text[i]), hex_value(text[i + 1])) {
                b = (h << 4) | l;
                i += 2;
            }
        }
        uri_encode(&[b], false, out);
    }
}

fn decode_query(raw_query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw_query
        .as_bytes()
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(eq) => (uri_decode(&p[..eq], true), uri_decode(&p[eq + 1..], true)),
            None => (uri_decode(p, true), Vec::new()),
        })
        .collect()
}

fn canonical_query(raw_query: &str, presigned: bool, out: &mut Vec<u8>) {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = decode_query(raw_query)
        .into_iter()
        .filter(|(k, _)| !(presigned && k.as_slice() == b"X-Amz-Signature"))
        .map(|(k, v)| {
            let (mut ek, mut ev) = (Vec::new(), Vec::new());
            uri_encode(&k, false, &mut ek);
            uri_encode(&v, false, &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
    }
}

/// Trims blanks at both ends and collapses inner runs of blanks to one space.
fn canonical_header_value(value: &[u8], out: &mut Vec<u8>) {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    if memchr::memchr2(b' ', b'\t', value).is_none() {
        // No blank at all (dates, hashes, host names).
        out.extend_from_slice(value);
        return;
    }
    let already = value.first().is_none_or(|b| !is_blank(b))
        && value.last().is_none_or(|b| !is_blank(b))
        && !value.contains(&b'\t')
        && !value.windows(2).any(|w| w == b"  ");
    if already {
        // No blank to trim or collapse (what SDKs send).
        out.extend_from_slice(value);
        return;
    }
    let mut pending_space = false;
    let mut started = false;
    for b in value {
        if is_blank(b) {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(*b);
            started = true;
        }
    }
}

/// Verifies the chained signatures of an `aws-chunked` body (`STREAMING-AWS4-HMAC-SHA256-*`).
///
/// Each chunk's signature signs the previous signature (the request's, for the first chunk)
/// and the SHA-256 of the chunk's data, so chunks cannot be dropped, reordered or changed.
#[derive(Clone)]
pub struct ChunkSigner {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: [u8; 32],
}

impl std::fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigner")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("previous", &hex(&self.previous))
            .finish_non_exhaustive()
    }
}

impl ChunkSigner {
    /// A signer seeded with the request's own signature (`seed`).
    pub fn new(signing_key: [u8; 32], amz_date: &str, scope: &str, seed: [u8; 32]) -> ChunkSigner {
        ChunkSigner {
            key: signing_key,
            amz_date: amz_date.to_owned(),
            scope: scope.to_owned(),
            previous: seed,
        }
    }

    /// The signature the next chunk must carry, given the SHA-256 of its data.
    pub fn chunk_signature(&self, chunk_sha256: &[u8; 32]) -> [u8; 32] {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256_HEX}\n{}",
            self.amz_date,
            self.scope,
            hex(&self.previous),
            hex(chunk_sha256)
        );
        hmac_sha256(&self.key, sts.as_bytes())
    }

    /// The signature the trailer must carry, given the SHA-256 of its canonical form
    /// (`name:value\n` per trailer field).
    pub fn trailer_signature(&self, trailer_sha256: &[u8; 32]) -> [u8; 32] {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            hex(&self.previous),
            hex(trailer_sha256)
        );
        hmac_sha256(&self.key, sts.as_bytes())
    }

    /// Checks the next chunk's signature; on success it becomes the previous signature.
    pub fn verify_chunk(&mut self, chunk_sha256: &[u8; 32], claimed: &[u8; 32]) -> bool {
        self.accept(self.chunk_signature(chunk_sha256), claimed)
    }

    /// Checks the trailer's signature; on success it becomes the previous signature.
    pub fn verify_trailer(&mut self, trailer_sha256: &[u8; 32], claimed: &[u8; 32]) -> bool {
        self.accept(self.trailer_signature(trailer_sha256), claimed)
    }

    /// Advances the chain as a signer: returns the next chunk's signature and records it.
    pub fn sign_chunk(&mut self, chunk_sha256: &[u8; 32]) -> [u8; 32] {
        let sig = self.chunk_signature(chunk_sha256);
        self.previous = sig;
        sig
    }

    fn accept(&mut self, expected: [u8; 32], claimed: &[u8; 32]) -> bool {
        // Constant-time comparison.
        let diff = expected
            .iter()
            .zip(claimed)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            self.previous = expected;
        }
        diff == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The canonical header value by its definition, one byte at a time (no fast path).
    fn header_value_by_definition(value: &[u8]) -> Vec<u8> {
        let blank = |b: u8| b == b' ' || b == b'\t';
        let mut out = Vec::new();
        for word in value.split(|&b| blank(b)).filter(|w| !w.is_empty()) {
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(word);
        }
        out
    }

    /// A path segment decoded, then encoded, through the two general functions.
    fn segment_by_definition(segment: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        uri_encode(&uri_decode(segment, false), false, &mut out);
        out
    }

    #[test]
    fn the_uri_table_is_the_unreserved_set() {
        // Goal: the byte table says exactly what S3's definition says, for all 256 bytes.
        for b in 0..=255u8 {
            let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
            assert_eq!(is_unreserved(b), unreserved, "byte {b:#04x}");
            assert_eq!(
                URI_CLASS[usize::from(b)] == SLASH,
                b == b'/',
                "byte {b:#04x}"
            );
        }
    }

    proptest! {
        #[test]
        fn fast_paths_match_the_definitions(
            value in proptest::collection::vec(
                prop_oneof![Just(b' '), Just(b'\t'), Just(b'a'), Just(b'%'), Just(b'2'),
                            Just(b'F'), Just(b'/'), Just(b'+'), any::<u8>()],
                0..24,
            ),
            digits in prop_oneof!["[0-9a-fA-F]{64}", "[0-9a-fA-F]{0,63}[g:/ G][0-9a-fA-F]{0,63}"]
                .prop_filter("64 characters", |d| d.len() == 64),
        ) {
            // Goal: the header value, path segment, whole path and hex fast paths give exactly
            // what the byte-at-a-time definitions give, on inputs mixing blanks, escapes and others.
            let mut out = b"x".to_vec();
            canonical_header_value(&value, &mut out);
            prop_assert_eq!(&out[1..], &header_value_by_definition(&value)[..]);
            let mut out = Vec::new();
            reencode_segment(&value, &mut out);
            prop_assert_eq!(out, segment_by_definition(&value));
            if let Ok(path) = std::str::from_utf8(&value) {
                let mut out = Vec::new();
                canonical_uri(path, &mut out);
                let expected = if path.is_empty() {
                    b"/".to_vec()
                } else {
                    value.split(|&b| b == b'/').map(segment_by_definition).collect::<Vec<_>>().join(&b'/')
                };
                prop_assert_eq!(out, expected);
            }
            let mut got = [0; 32];
            let expected: Option<Vec<u8>> = digits
                .as_bytes()
                .chunks(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
                .collect();
            let expected = expected.filter(|_| digits.bytes().all(|b| b.is_ascii_hexdigit()));
            match decode_hex(&digits, &mut got) {
                Some(()) => prop_assert_eq!(Some(got.to_vec()), expected),
                None => prop_assert!(expected.is_none()),
            }
        }
    }
}
