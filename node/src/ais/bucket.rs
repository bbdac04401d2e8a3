//! Bucket requests: create and destroy (action messages), HEAD with `Ais-Bucket-Props`, list
//! buckets, list objects (msgpack for AIS clients that ask for it, JSON otherwise), set props,
//! make-n-copies (mirroring).

use engine::bmd::Bmd;
use engine::io as rio;
use engine::store::{ListEntry, ListQuery, StoreError};
use net::head::Method;
use serde::{Deserialize, Serialize};

use super::reply;
use super::time;
use super::{access, Req};
use crate::auth::ace;
use crate::http::{BodyError, Conn};

pub async fn body_error(conn: &mut Conn, req: &Req<'_>, e: BodyError) -> bool {
    match e {
        BodyError::TooLarge => {
            reply::error(conn, req.head, 413, "request body too large", false).await
        }
        BodyError::Malformed(m) => {
            reply::error(
                conn,
                req.head,
                400,
                &format!("malformed chunked body: {m}"),
                false,
            )
            .await
        }
        BodyError::Truncated | BodyError::Io(_) => false,
    }
}

pub async fn handle(conn: &mut Conn, req: &Req<'_>, bucket: Option<&str>) -> bool {
    let body = match req.head.method {
        Method::Head => Vec::new(),
        _ => match conn.read_small_body().await {
            Ok(b) => b,
            Err(e) => return body_error(conn, req, e).await,
        },
    };
    let msg = match super::parse_action(&body) {
        Ok(m) => m,
        Err(m) => return reply::error(conn, req.head, 400, &m, true).await,
    };
    let action = msg.as_ref().map(|m| m.action.as_str()).unwrap_or("");
    match (req.head.method, bucket) {
        (Method::Get, None) => {
            if !matches!(action, "" | "list") {
                return bad_action(conn, req, None, action).await;
            }
            let name = msg.as_ref().map(|m| m.name.clone()).unwrap_or_default();
            list_buckets(conn, req, &name).await
        }
        (Method::Get, Some(b)) => {
            if !matches!(action, "" | "list") {
                return bad_action(conn, req, Some(b), action).await;
            }
            match msg {
                // `{"action":"list","value":null}` on a named bucket queries buckets by name.
                Some(m) if m.action == "list" && m.value.is_null() => {
                    list_buckets(conn, req, b).await
                }
                Some(m) => list_objects(conn, req, b, &m.value).await,
                None => list_objects(conn, req, b, &serde_json::Value::Null).await,
            }
        }
        (Method::Head, Some(b)) => head_bucket(conn, req, b).await,
        (Method::Post, Some(b)) => match action {
            "create-bck" => {
                if let Some(keep) = access::require(conn, req, None, ace::CREATE_BUCKET).await {
                    return keep;
                }
                let props = msg.and_then(|m| {
                    if m.value.is_null() {
                        None
                    } else {
                        Some(m.value)
                    }
                });
                let store = conn.core.store.clone();
                match store.create_bucket(b, props).await {
                    Ok(trashed) => {
                        tracing::info!(bucket = b, "bucket created");
                        conn.core.request_empty_trash(&trashed);
                        reply::ok(conn, req.head, 200, None, &[], b"").await
                    }
                    Err(e) => reply::store_error(conn, req.head, &e).await,
                }
            }
            "make-n-copies" => {
                // AIS checks no bit of its own for it; it changes the bucket's mirroring as
                // a set-bprops does, so it asks what set-bprops asks.
                if let Some(keep) = access::require(conn, req, Some(b), ace::PATCH).await {
                    return keep;
                }
                let value = msg.map(|m| m.value).unwrap_or(serde_json::Value::Null);
                make_n_copies(conn, req, b, &value).await
            }
            _ => bad_action(conn, req, Some(b), action).await,
        },
        (Method::Delete, Some(b)) => match action {
            "destroy-bck" => {
                if let Some(keep) = access::require(conn, req, Some(b), ace::DESTROY_BUCKET).await {
                    return keep;
                }
                let store = conn.core.store.clone();
                match store.destroy_bucket(b).await {
                    Ok(trashed) => {
                        tracing::info!(bucket = b, "bucket destroyed");
                        conn.core.request_empty_trash(&trashed);
                        reply::ok(conn, req.head, 200, None, &[], b"").await
                    }
                    Err(e) => reply::store_error(conn, req.head, &e).await,
                }
            }
            _ => bad_action(conn, req, Some(b), action).await,
        },
        (Method::Patch, Some(b)) => match action {
            "set-bprops" => {
                let value = msg.map(|m| m.value).unwrap_or(serde_json::Value::Null);
                if !value.is_object() {
                    let m = format!("bucket \"ais://{b}\": set-bprops needs an object value");
                    return reply::error(conn, req.head, 400, &m, true).await;
                }
                let store = conn.core.store.clone();
                match store.set_bucket_props(b, value).await {
                    // As AIS: the id of the make-n-copies job a mirror change started.
                    Ok(Some(xid)) => {
                        reply::ok(conn, req.head, 200, None, &[], xid.as_bytes()).await
                    }
                    Ok(None) => reply::ok(conn, req.head, 200, None, &[], b"").await,
                    Err(e) => reply::store_error(conn, req.head, &e).await,
                }
            }
            _ => bad_action(conn, req, Some(b), action).await,
        },
        (m, b) => {
            let what = b
                .map(|b| format!("ais://{b}"))
                .unwrap_or_else(|| "/v1/buckets".into());
            let msg = format!("method {m:?} not allowed on {what}");
            reply::error(conn, req.head, 405, &msg, true).await
        }
    }
}

/// `make-n-copies` (AIS `apc.ActMakeNCopies`): the value is the number of copies (a JSON
/// number, or a string of digits as AIS also takes); answers the job id as plain text.
async fn make_n_copies(
    conn: &mut Conn,
    req: &Req<'_>,
    bucket: &str,
    value: &serde_json::Value,
) -> bool {
    let n = match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    let Some(n) = n.and_then(|n| u32::try_from(n).ok()) else {
        let m = format!(
            "bucket \"ais://{bucket}\": make-n-copies: failed to parse 'copies' ({value}): \
             expected a non-negative integer"
        );
        return reply::error(conn, req.head, 400, &m, true).await;
    };
    let store = conn.core.store.clone();
    let b = bucket.to_string();
    let r =
        rio::spawn_blocking(move || store.start_make_n_copies(&b, n).map(|x| x.id.clone())).await;
    match r {
        Ok(xid) => {
            tracing::info!(bucket, copies = n, xid = %xid, "make-n-copies started");
            reply::ok(conn, req.head, 200, None, &[], xid.as_bytes()).await
        }
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}

async fn bad_action(conn: &mut Conn, req: &Req<'_>, bucket: Option<&str>, action: &str) -> bool {
    let what = bucket
        .map(|b| format!("bucket \"ais://{b}\""))
        .unwrap_or_else(|| "buckets".into());
    if action.is_empty() {
        return reply::error(
            conn,
            req.head,
            400,
            &format!("{what}: missing action"),
            true,
        )
        .await;
    }
    if super::ACTIONS_NOT_YET.contains(&action) {
        let m = format!("{what}: action {action:?} is not implemented by this node yet");
        return reply::error(conn, req.head, 501, &m, true).await;
    }
    let m = format!(
        "{what}: invalid action {action:?} for {}",
        req.head.method_str
    );
    reply::error(conn, req.head, 400, &m, true).await
}

async fn head_bucket(conn: &mut Conn, req: &Req<'_>, bucket: &str) -> bool {
    if let Err(e) = engine::names::validate_bucket(bucket) {
        let e = StoreError::BadBucketName(bucket.into(), e);
        return reply::store_error(conn, req.head, &e).await;
    }
    match conn.core.store.bucket(bucket) {
        Ok(p) => {
            let props = Bmd::ais_props_json(bucket, &p).to_string();
            let headers: [(&str, &[u8]); 1] = [("Ais-Bucket-Props", props.as_bytes())];
            reply::ok(conn, req.head, 200, None, &headers, b"").await
        }
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}

#[derive(Serialize)]
struct BucketName<'a> {
    name: &'a str,
    provider: &'static str,
    namespace: Namespace,
}

#[derive(Serialize)]
struct Namespace {
    uuid: &'static str,
    name: &'static str,
}

async fn list_buckets(conn: &mut Conn, req: &Req<'_>, name: &str) -> bool {
    let bmd = conn.core.store.bmd();
    let list: Vec<BucketName> = bmd
        .buckets
        .keys()
        .filter(|b| name.is_empty() || b.as_str() == name)
        .map(|b| BucketName {
            name: b,
            provider: "ais",
            namespace: Namespace { uuid: "", name: "" },
        })
        .collect();
    let body = serde_json::to_vec(&list).expect("serialising bucket names");
    reply::ok(conn, req.head, 200, Some("application/json"), &[], &body).await
}

/// AIS's list-objects request (`apc.LsoMsg`); unknown keys are ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LsoMsg {
    uuid: String,
    props: String,
    prefix: String,
    start_after: String,
    continuation_token: String,
    #[serde(deserialize_with = "de_pagesize")]
    pagesize: i64,
    #[serde(deserialize_with = "super::lsflags::de_flags")]
    flags: u64,
}

fn de_pagesize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    // Clients send an int; tolerate a string or null too.
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(-1),
        serde_json::Value::String(s) => s.parse().unwrap_or(-1),
        serde_json::Value::Null => 0,
        _ => -1,
    })
}

/// AIS entry flag: the object is present on this node.
const ENTRY_IS_CACHED: u16 = 1 << 6;
/// AIS entry flag: a virtual directory (non-recursive listing).
const ENTRY_IS_DIR: u16 = 1 << 8;
/// AIS entry flag (v4.0): the object is stored chunked.
const ENTRY_IS_CHUNKED: u16 = 1 << 13;

#[derive(Serialize)]
struct MsgpackEntry<'a> {
    n: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    cs: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    a: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    v: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    t: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    s: i64,
    #[serde(skip_serializing_if = "is_zero_i16")]
    c: i16,
    #[serde(skip_serializing_if = "str::is_empty")]
    m: &'a str,
    f: u16,
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
fn is_zero_i16(v: &i16) -> bool {
    *v == 0
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct MsgpackList<'a> {
    UUID: &'a str,
    ContinuationToken: &'a str,
    Entries: Vec<MsgpackEntry<'a>>,
    Flags: u32,
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    checksum: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    atime: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    location: String,
    /// AIS encodes the size as a JSON string (`json:"size,string"`).
    #[serde(skip_serializing_if = "String::is_empty")]
    size: String,
    #[serde(skip_serializing_if = "is_zero_i16")]
    copies: i16,
    #[serde(rename = "custom-md", skip_serializing_if = "str::is_empty")]
    custom: &'a str,
    flags: u16,
}

#[derive(Serialize)]
struct JsonList<'a> {
    uuid: &'a str,
    continuation_token: &'a str,
    entries: Vec<JsonEntry<'a>>,
    flags: u32,
}

/// Which properties a listing returns (`props`): empty means `name,size`.
struct Props {
    size: bool,
    checksum: bool,
    atime: bool,
    version: bool,
    location: bool,
    copies: bool,
    custom: bool,
}

const LIST_PROPS: &[&str] = &[
    "name",
    "size",
    "checksum",
    "atime",
    "version",
    "cached",
    "status",
    "copies",
    "ec",
    "custom",
    "location",
    "chunked",
    "last-modified",
    "etag",
];

fn parse_props(s: &str) -> Result<Props, String> {
    let list: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(bad) = list.iter().find(|p| !LIST_PROPS.contains(p)) {
        return Err(format!("unknown list property {bad:?}"));
    }
    if list.is_empty() {
        return Ok(Props {
            size: true,
            checksum: false,
            atime: false,
            version: false,
            location: false,
            copies: false,
            custom: false,
        });
    }
    let has = |p: &str| list.contains(&p);
    Ok(Props {
        size: has("size"),
        checksum: has("checksum"),
        atime: has("atime"),
        version: has("version"),
        location: has("location"),
        copies: has("copies"),
        custom: has("custom"),
    })
}

fn new_uuid() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}",
        engine::hrw::digest(&n.to_le_bytes()) & 0x00ff_ffff_ffff
    )
}

async fn list_objects(
    conn: &mut Conn,
    req: &Req<'_>,
    bucket: &str,
    value: &serde_json::Value,
) -> bool {
    let lso: LsoMsg = if value.is_null() {
        LsoMsg::default()
    } else {
        match serde_json::from_value(value.clone()) {
            Ok(m) => m,
            Err(e) => {
                let m = format!("bucket \"ais://{bucket}\": malformed list-objects message: {e}");
                return reply::error(conn, req.head, 400, &m, true).await;
            }
        }
    };
    if lso.pagesize < 0 {
        let m = format!("bucket \"ais://{bucket}\": invalid page size");
        return reply::error(conn, req.head, 400, &m, true).await;
    }
    let fl = match super::lsflags::check(bucket, lso.flags) {
        Ok(f) => f,
        Err((status, m)) => {
            // A missing bucket is the first error, as in AIS.
            if let Err(e) = conn.core.store.bucket(bucket) {
                return reply::store_error(conn, req.head, &e).await;
            }
            return reply::error(conn, req.head, status, &m, true).await;
        }
    };
    // AIS (`NormalizeNameSizeDflt`): no props with LsCached means its default AIS props.
    let props_s = if lso.props.is_empty() && fl.cached {
        "name,size,checksum,atime"
    } else {
        lso.props.as_str()
    };
    let props = match parse_props(props_s) {
        Ok(p) => p,
        Err(m) => {
            return reply::error(
                conn,
                req.head,
                400,
                &format!("bucket \"ais://{bucket}\": {m}"),
                true,
            )
            .await
        }
    };
    let after = std::cmp::max(lso.continuation_token.clone(), lso.start_after.clone());
    let q = ListQuery {
        prefix: lso.prefix.clone(),
        after,
        page_size: lso.pagesize as usize,
        with_lom: (props.checksum || props.version || props.custom) && !fl.name_only,
        name_only: fl.name_only,
        no_recursion: fl.no_recursion,
    };
    let store = conn.core.store.clone();
    let t0 = std::time::Instant::now();
    let page = store.list_objects(bucket, q).await;
    let outcome = crate::stats::Outcome {
        op: crate::stats::Op::List,
        ok: page.is_ok(),
        bytes: 0,
        ns: t0.elapsed().as_nanos() as u64,
        err_io: false,
        err_cksum: false,
    };
    conn.core.record(bucket, None, &outcome);
    let page = match page {
        Ok(p) => p,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    let uuid = if lso.uuid.is_empty() {
        new_uuid()
    } else {
        lso.uuid.clone()
    };
    let daemon = conn.core.node.daemon_id.clone();
    // A directory entry or a name-only listing carries the name and flags alone (AIS's `ls`).
    let bare = |e: &ListEntry| e.is_dir || fl.name_only;
    let eflags = |e: &ListEntry| {
        if e.is_dir {
            ENTRY_IS_DIR
        } else if e.chunked {
            ENTRY_IS_CACHED | ENTRY_IS_CHUNKED
        } else {
            ENTRY_IS_CACHED
        }
    };
    let loc = |e: &ListEntry| {
        if props.location && !bare(e) {
            format!("t[{daemon}]:{}", e.location)
        } else {
            String::new()
        }
    };
    let msgpack = req.head.headers_all("accept").any(|v| {
        String::from_utf8_lossy(v)
            .to_ascii_lowercase()
            .contains("application/msgpack")
    });
    let (body, ctype) = if msgpack {
        let list = MsgpackList {
            UUID: &uuid,
            ContinuationToken: &page.continuation_token,
            Entries: page
                .entries
                .iter()
                .map(|e| MsgpackEntry {
                    n: &e.name,
                    cs: if props.checksum && !bare(e) {
                        &e.checksum
                    } else {
                        ""
                    },
                    a: if props.atime && !bare(e) {
                        time::rfc822(e.atime_ns)
                    } else {
                        String::new()
                    },
                    v: if props.version && !bare(e) {
                        &e.version
                    } else {
                        ""
                    },
                    t: loc(e),
                    s: if props.size && !bare(e) {
                        e.size as i64
                    } else {
                        0
                    },
                    c: if props.copies && !bare(e) { 1 } else { 0 },
                    m: if props.custom && !bare(e) {
                        &e.custom
                    } else {
                        ""
                    },
                    f: eflags(e),
                })
                .collect(),
            Flags: 0,
        };
        (
            rmp_serde::to_vec_named(&list).expect("serialising a listing"),
            "application/msgpack",
        )
    } else {
        let list = JsonList {
            uuid: &uuid,
            continuation_token: &page.continuation_token,
            entries: page
                .entries
                .iter()
                .map(|e| JsonEntry {
                    name: &e.name,
                    checksum: if props.checksum && !bare(e) {
                        &e.checksum
                    } else {
                        ""
                    },
                    atime: if props.atime && !bare(e) {
                        time::rfc822(e.atime_ns)
                    } else {
                        String::new()
                    },
                    version: if props.version && !bare(e) {
                        &e.version
                    } else {
                        ""
                    },
                    location: loc(e),
                    size: if props.size && !bare(e) {
                        e.size.to_string()
                    } else {
                        String::new()
                    },
                    copies: if props.copies && !bare(e) { 1 } else { 0 },
                    custom: if props.custom && !bare(e) {
                        &e.custom
                    } else {
                        ""
                    },
                    flags: eflags(e),
                })
                .collect(),
            flags: 0,
        };
        (
            serde_json::to_vec(&list).expect("serialising a listing"),
            "application/json",
        )
    };
    reply::ok(conn, req.head, 200, Some(ctype), &[], &body).await
}
