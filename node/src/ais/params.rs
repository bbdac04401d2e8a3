//! The parameter table: every query parameter and header AIS's API defines for objects and
//! buckets, with what this node does with it. The one place to look.
//!
//! Sources: AIS's `api/apc/query.go` and `api/apc/headers.go`, and how AIS's proxy and target
//! read each one (`ais/dpq.go`, `ais/proxy.go`, `ais/target.go`). Parameters AIS uses only
//! between its own nodes, or only on other endpoints (`/v1/daemon`, `/v1/cluster`, `/v1/sort`,
//! ETL webservers), are not listed: AIS does not read them on object or bucket requests.
//!
//! A request carrying a `Refused` parameter (with a non-empty value: AIS reads an empty value
//! as absent) is answered 501 by the router before any handler runs, so nothing changes. An
//! `Ignored` parameter changes nothing by AIS's own semantics on this node (only `ais://`
//! buckets, one node); the reason says why. Unknown parameters are ignored, as AIS does.

use std::borrow::Cow;

use net::head::RequestHead;
use net::url::percent_decode_cow;

/// What the node does with a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Honoured as AIS does.
    Implemented,
    /// Accepted and ignored; why that is harmless by AIS's own semantics.
    Ignored(&'static str),
    /// Answered 501; what it would do and which issue brings it.
    Refused(&'static str),
}

/// Which requests a parameter applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `/v1/objects/B/O` and `/ais/B/O`.
    Objects,
    /// `/v1/buckets[/B]` and `/ais[/B]`.
    Buckets,
    Both,
}

impl Scope {
    fn covers(self, target: Target) -> bool {
        matches!(
            (self, target),
            (Scope::Both, _) | (Scope::Objects, Target::Object) | (Scope::Buckets, Target::Bucket)
        )
    }
}

/// What a request addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Object,
    Bucket,
}

/// When AIS acts on a parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    /// Any non-empty value (AIS reads an empty value as absent).
    NonEmpty,
    /// A boolean that AIS's `cos.IsParseBool` reads as true (`false`, `0`, ... are absent).
    True,
    /// Its mere presence, even with an empty value (S3-style `?uploads`).
    Present,
}

/// One query parameter or header.
#[derive(Debug)]
pub struct Param {
    /// Query key, or header name in lower case.
    pub name: &'static str,
    pub scope: Scope,
    pub disposition: Disposition,
    pub takes: Takes,
    /// A value AIS would act on (used by the table test and the docs).
    pub example: &'static str,
}

impl Param {
    /// Whether AIS would act on this value.
    pub fn acts_on(&self, v: &[u8]) -> bool {
        match self.takes {
            Takes::NonEmpty => !v.is_empty(),
            Takes::True => is_true(v),
            Takes::Present => true,
        }
    }
}

/// AIS's `cos.IsParseBool`: Go's `strconv.ParseBool` trues plus `y`, `yes`, `on`.
fn is_true(v: &[u8]) -> bool {
    const TRUE: &[&[u8]] = &[b"1", b"t", b"true", b"y", b"yes", b"on"];
    TRUE.iter().any(|t| v.eq_ignore_ascii_case(t))
}

const fn p(
    name: &'static str,
    scope: Scope,
    disposition: Disposition,
    example: &'static str,
) -> Param {
    Param {
        name,
        scope,
        disposition,
        takes: Takes::NonEmpty,
        example,
    }
}

/// A boolean parameter: only a true value counts.
const fn flag(name: &'static str, scope: Scope, disposition: Disposition) -> Param {
    Param {
        name,
        scope,
        disposition,
        takes: Takes::True,
        example: "true",
    }
}

use Disposition::{Ignored, Implemented, Refused};
use Scope::{Both, Buckets, Objects};

/// Query parameters.
pub const QUERY: &[Param] = &[
    p("provider", Both, Implemented, "ais"),
    p("namespace", Both, Implemented, ""),
    p("props", Objects, Implemented, "size,checksum"),
    p(
        "presence",
        Both,
        Ignored("a presence filter (in-cluster vs remote); every ais:// bucket and object that exists here is present in the cluster, so each filter selects what the plain request does (AIS: proxy httpbckhead, target objHeadV2)"),
        "2",
    ),
    p(
        "dont_add_remote_bck_md",
        Both,
        Ignored("remote buckets only (do not add a remote bucket to the BMD on first access); this node has only ais:// buckets"),
        "true",
    ),
    p(
        "dont_head_remote_bck",
        Both,
        Ignored("remote buckets only (skip the backend HEAD when adding one); this node has only ais:// buckets"),
        "true",
    ),
    p(
        "keep_bck_md",
        Buckets,
        Ignored("evicting a remote bucket's data: keep its BMD entry; evict is remote-only and the action itself is refused"),
        "true",
    ),
    p(
        "latest-ver",
        Objects,
        Ignored("GET the latest version from the remote backend; AIS ignores it for ais:// buckets (target _validateWarmGet returns false unless the bucket is cloud or remote AIS)"),
        "true",
    ),
    p(
        "synchronize",
        Both,
        Ignored("like latest-ver, and also removes objects deleted remotely; remote buckets only, so nothing to do for ais://"),
        "true",
    ),
    p(
        "sln",
        Both,
        Ignored("silent: suppresses AIS's error logging only; the response is the same"),
        "true",
    ),
    p(
        "original_url",
        Objects,
        Ignored("the source URL of an ht:// (HTTP backend) object; read only for ht:// buckets, and provider=ht is refused with 400"),
        "http://example.com/x",
    ),
    p(
        "pid",
        Both,
        Ignored("intra-cluster: the id of the proxy that redirected the request; this node is its own proxy"),
        "p1",
    ),
    p(
        "utm",
        Both,
        Ignored("intra-cluster: the redirecting proxy's clock, for latency stats only"),
        "1700000000000000000",
    ),
    p(
        "gfn",
        Objects,
        Ignored("intra-cluster get-from-neighbor: look only locally; this node is the only target, so every GET is local"),
        "true",
    ),
    p(
        "bsumm_remote",
        Buckets,
        Refused("bucket summary (HEAD bucket answers 202 and a job id, then the summary); jobs come with issue 8"),
        "false",
    ),
    p(
        "uuid",
        Both,
        Refused("the id of a job (xaction) this request queries or joins, e.g. a bucket summary; jobs come with issue 8"),
        "job1",
    ),
    p(
        "jobid",
        Both,
        Refused("the id of a job (xaction); jobs come with issue 8"),
        "job1",
    ),
    p(
        "bck_to",
        Buckets,
        Refused("destination bucket of a bucket copy, move or transform job; jobs come with issue 8"),
        "ais://dst",
    ),
    // Object copy (`PUT ?object_to=`, ais/copy.rs); GET/HEAD/DELETE do not read it (AIS).
    p("object_to", Objects, Implemented, "ais/@#/dst/obj"),
    // Append (ais/append.rs, engine store/append.rs): PUT appends through a handle.
    p("append_type", Objects, Implemented, "append"),
    p("append_handle", Objects, Implemented, "h1"),
    // Custom metadata (ais/custom.rs): PATCH replaces instead of merging.
    flag("set-new-custom", Objects, Implemented),
    p(
        "archpath",
        Objects,
        Refused("read or write one file inside a shard (tar, tgz, zip, lz4) instead of the whole object; archives have no issue yet"),
        "a.txt",
    ),
    p(
        "archmime",
        Objects,
        Refused("the archive format of the shard, with archpath/archregx; archives have no issue yet"),
        ".tar",
    ),
    p(
        "archregx",
        Objects,
        Refused("read the files of a shard that match a pattern; archives have no issue yet"),
        "a",
    ),
    p(
        "archmode",
        Objects,
        Refused("how archregx matches (prefix, suffix, substr, wdskey, regexp); archives have no issue yet"),
        "prefix",
    ),
    p(
        "etl_name",
        Objects,
        Refused("run the object through an ETL transform on GET or copy; ETL is not planned yet"),
        "etl1",
    ),
    p(
        "etl_pipeline",
        Objects,
        Refused("a chain of ETL transforms; ETL is not planned yet"),
        "etl1,etl2",
    ),
    p(
        "etl_args",
        Objects,
        Refused("arguments of an ETL transform; ETL is not planned yet"),
        "{}",
    ),
    flag(
        "skip_vc",
        Objects,
        Refused("PUT without loading the existing object's metadata, so its version restarts; not implemented"),
    ),
    flag(
        "validate-checksum",
        Objects,
        Refused("verify the stored bytes against the stored checksum before answering; not implemented (LOMs are verified, the content is not re-hashed)"),
    ),
    flag(
        "frc",
        Both,
        Refused("force: override a refusal (e.g. destroy a bucket in use, evict); not implemented"),
    ),
    Param {
        name: "uploads",
        scope: Objects,
        disposition: Refused("S3's way to start a multipart upload; the native API starts one with the action mpt-upload"),
        takes: Takes::Present,
        example: "",
    },
    p("uploadId", Objects, Implemented, "u1"),
    p("partNumber", Objects, Implemented, "1"),
    p(
        "owt",
        Objects,
        Refused("intra-cluster object write transaction kind (copy, migrate, transform, ...); never sent by clients, and its kinds other than a plain PUT are not implemented"),
        "1",
    ),
];

/// Headers (names in lower case).
pub const HEADERS: &[Param] = &[
    p("range", Objects, Implemented, "bytes=0-1"),
    p("accept", Buckets, Implemented, "application/msgpack"),
    p("ais-checksum-type", Objects, Implemented, "xxhash2"),
    p("ais-checksum-value", Objects, Implemented, "0"),
    p(
        "authorization",
        Both,
        Ignored("an AuthN token; this node runs as AIS with authentication disabled, which does not read it"),
        "Bearer x",
    ),
    // Custom metadata stored with the object on PUT (ais/custom.rs).
    p("ais-custom-md", Objects, Implemented, "k=v"),
    p(
        "ais-pine",
        Objects,
        Refused("PUT or append a file into a shard (archive); archives have no issue yet"),
        "1",
    ),
    flag(
        "ais-blob-download",
        Objects,
        Refused("GET a large remote object with the blob downloader (a job); remote buckets and jobs are not implemented (issue 8)"),
    ),
    flag(
        "ais-bucket-inventory",
        Buckets,
        Refused("list a remote bucket through its S3 inventory; remote buckets are not implemented"),
    ),
];

/// The first refused query parameter or header `head` carries with a non-empty value, if any,
/// and whether it is a header. Cheap when there is nothing to refuse: an empty query costs
/// nothing and only the few refused headers are looked up.
pub fn refused(head: &RequestHead, target: Target) -> Option<(&'static Param, bool)> {
    if !head.query.is_empty() {
        for segment in head.query.split('&') {
            let (k, v) = segment.split_once('=').unwrap_or((segment, ""));
            let key: Cow<'_, str> = if k.contains(['%', '+']) {
                match percent_decode_cow(&k.replace('+', " ")) {
                    Ok(k) => Cow::Owned(k.into_owned()),
                    Err(_) => continue,
                }
            } else {
                Cow::Borrowed(k)
            };
            if let Some(p) = lookup(QUERY, &key, target) {
                if matches!(p.disposition, Refused(_)) {
                    let v = if v.contains(['%', '+']) {
                        percent_decode_cow(&v.replace('+', " "))
                            .map(|v| v.into_owned())
                            .unwrap_or_else(|_| v.to_string())
                    } else {
                        v.to_string()
                    };
                    if p.acts_on(v.as_bytes()) {
                        return Some((p, false));
                    }
                }
            }
        }
    }
    HEADERS
        .iter()
        .filter(|p| matches!(p.disposition, Refused(_)) && p.scope.covers(target))
        .find(|p| head.header(p.name).is_some_and(|v| p.acts_on(v)))
        .map(|p| (p, true))
}

/// The row for `name` that applies to `target`.
pub fn lookup(table: &'static [Param], name: &str, target: Target) -> Option<&'static Param> {
    table
        .iter()
        .find(|p| p.name == name && p.scope.covers(target))
}

/// The 501 message for a refused parameter.
pub fn refusal_message(p: &Param, header: bool) -> String {
    let why = match p.disposition {
        Refused(why) => why,
        _ => "",
    };
    if header {
        format!(
            "header {:?} is not implemented by this node yet: {why}",
            p.name
        )
    } else {
        format!(
            "query parameter {:?} is not implemented by this node yet: {why}",
            p.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_scope_and_headers_lowercase() {
        // Goal: one row per name and scope (the lookup takes the first), headers in lower case
        // (the head parser lowercases names), and every reason written out.
        for table in [QUERY, HEADERS] {
            for (i, a) in table.iter().enumerate() {
                for b in &table[i + 1..] {
                    let overlap = a.name == b.name
                        && (a.scope == b.scope || a.scope == Both || b.scope == Both);
                    assert!(!overlap, "{} listed twice", a.name);
                }
                match a.disposition {
                    Ignored(w) | Refused(w) => assert!(w.len() > 10, "{}: no reason", a.name),
                    Implemented => {}
                }
            }
        }
        for h in HEADERS {
            assert_eq!(h.name, h.name.to_ascii_lowercase());
        }
    }
}
