//! The three API variants: where an object's URL path is (`ais`, `s3`, `http`), and the
//! blocking control calls made before and after the load (create the bucket, list it, read
//! `-objlist`, delete what the run PUT), over `net::client`.
//!
//! What works per API:
//! - `ais`: `PUT/GET/DELETE /v1/objects/<bucket>/<name>`; the bucket is created at start
//!   (`create-bck`; 409 "exists" is fine); listing is the native JSON list-objects call,
//!   paged by `continuation_token`.
//! - `s3`: path-style `<prefix>/<bucket>/<name>` at an endpoint such as
//!   `http://host:8080/s3`; unsigned requests (AIS checks no SigV4 without AuthN), or SigV4-signed
//!   ones with `-s3-access-key`/`-s3-secret-key` (UNSIGNED-PAYLOAD bodies); the bucket is
//!   created with `PUT <prefix>/<bucket>` (409 is fine); listing is ListObjectsV2 (XML, paged by
//!   `continuation-token`). No multipart, no aws-chunked bodies.
//! - `http`: `<prefix>/<name>` under the `--endpoint` URL (nginx with WebDAV PUT and
//!   `create_full_put_path on`, or any server taking PUT); no bucket and no listing: GETs use
//!   `-objlist FILE` or the objects this run PUT.

use std::time::Duration;

use anyhow::{bail, Context};
use net::client::{Body, Client};

use crate::flags::{Api, Config};
use crate::objects::SIZE_UNKNOWN;
use crate::stats::ErrorLog;

/// Page size asked for when listing (AIS's maximum for ais buckets).
const LIST_PAGE_SIZE: u32 = 10_000;
/// Threads that delete objects at `-cleanup`.
const CLEANUP_THREADS_MAX: usize = 16;

/// Builds object request paths for one API, endpoint and bucket.
#[derive(Debug, Clone)]
pub struct Target {
    /// `Host` header value.
    pub host: String,
    /// Everything before the encoded object name, ending in `/`.
    object_base: String,
}

impl Target {
    pub fn new(cfg: &Config) -> Target {
        let bucket = crate::http::encode_name(&cfg.bucket);
        let prefix = &cfg.endpoint.path_prefix;
        let object_base = match cfg.api {
            Api::Ais => format!("/v1/objects/{bucket}/"),
            Api::S3 => format!("{prefix}/{bucket}/"),
            Api::Http => format!("{prefix}/"),
        };
        Target {
            host: cfg.endpoint.host.clone(),
            object_base,
        }
    }

    /// Writes the path of object `encoded_name` into `out` (cleared first).
    pub fn object_path(&self, encoded_name: &str, out: &mut String) {
        out.clear();
        out.push_str(&self.object_base);
        out.push_str(encoded_name);
    }
}

/// The authentication headers of a control request: SigV4 when the run signs S3 requests,
/// and the `-token` (none otherwise).
fn s3_headers(cfg: &Config, method: &str, path: &str) -> Vec<(&'static str, String)> {
    let mut h = match (&cfg.s3_creds, cfg.api) {
        (Some(creds), Api::S3) => crate::http::s3_sign(
            creds,
            method,
            path,
            &cfg.endpoint.host,
            std::time::SystemTime::now(),
        )
        .to_vec(),
        _ => Vec::new(),
    };
    if let Some(t) = cfg.token_header() {
        h.push(t);
    }
    h
}

fn pairs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    h.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

fn client(cfg: &Config) -> anyhow::Result<Client> {
    let mut c = Client::new(&format!("http://{}", cfg.endpoint.host))?;
    c.set_timeout(cfg.timeout.max(Duration::from_secs(1)));
    Ok(c)
}

/// Creates the bucket when the API has buckets; "already exists" is fine.
pub fn create_bucket(cfg: &Config) -> anyhow::Result<()> {
    let mut c = client(cfg)?;
    let b = crate::http::encode_name(&cfg.bucket);
    let resp = match cfg.api {
        Api::Http => return Ok(()),
        Api::Ais => {
            let path = format!("/v1/buckets/{b}");
            let auth = s3_headers(cfg, "POST", &path);
            let mut h = pairs(&auth);
            h.push(("Content-Type", "application/json"));
            c.request(
                "POST",
                &path,
                &h,
                Body::Bytes(br#"{"action":"create-bck"}"#),
            )?
        }
        Api::S3 => {
            let path = format!("{}/{b}", cfg.endpoint.path_prefix);
            let h = s3_headers(cfg, "PUT", &path);
            c.request("PUT", &path, &pairs(&h), Body::Empty)?
        }
    };
    let status = resp.status;
    let body = resp.body_bytes()?;
    match status {
        200..=299 | 409 => Ok(()),
        _ => bail!(
            "creating bucket {}: status {status}: {}",
            cfg.bucket,
            String::from_utf8_lossy(&body)
        ),
    }
}

/// The objects GETs start with: `-objlist`, else a listing (unless skipped), else none.
pub fn initial_objects(cfg: &Config) -> anyhow::Result<Vec<(String, u64)>> {
    if let Some(path) = &cfg.obj_list {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading -objlist {}", path.display()))?;
        return Ok(parse_objlist(&text));
    }
    if cfg.skip_list || cfg.pct_put == 100 {
        return Ok(Vec::new());
    }
    match cfg.api {
        Api::Ais => list_ais(cfg),
        Api::S3 => list_s3(cfg),
        Api::Http => Ok(Vec::new()),
    }
}

/// One name per line; blank lines and surrounding whitespace are ignored.
pub fn parse_objlist(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| (l.to_string(), SIZE_UNKNOWN))
        .collect()
}

fn list_ais(cfg: &Config) -> anyhow::Result<Vec<(String, u64)>> {
    let mut c = client(cfg)?;
    let path = format!("/v1/buckets/{}", crate::http::encode_name(&cfg.bucket));
    let mut out = Vec::new();
    let mut token = String::new();
    let mut uuid = String::new();
    loop {
        let msg = serde_json::json!({
            "action": "list",
            "value": {
                "pagesize": LIST_PAGE_SIZE,
                "continuation_token": token,
                "uuid": uuid,
                "props": "name,size",
            }
        });
        let body = serde_json::to_vec(&msg).expect("serialising a list message");
        let auth = s3_headers(cfg, "GET", &path);
        let mut headers = pairs(&auth);
        headers.push(("Accept", "application/json"));
        headers.push(("Content-Type", "application/json"));
        let resp = c.request("GET", &path, &headers, Body::Bytes(&body))?;
        let status = resp.status;
        let bytes = resp.body_bytes()?;
        if status != 200 {
            bail!(
                "listing bucket {}: status {status}: {}",
                cfg.bucket,
                String::from_utf8_lossy(&bytes)
            );
        }
        let page = parse_ais_page(&bytes)?;
        out.extend(page.entries);
        if page.continuation_token.is_empty() {
            return Ok(out);
        }
        token = page.continuation_token;
        uuid = page.uuid;
    }
}

/// One page of a listing.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<(String, u64)>,
    pub continuation_token: String,
    pub uuid: String,
}

/// Parses AIS's JSON list-objects page (`size` is a JSON string, `json:"size,string"`).
pub fn parse_ais_page(body: &[u8]) -> anyhow::Result<Page> {
    let v: serde_json::Value = serde_json::from_slice(body).context("listing is not JSON")?;
    let str_of = |k: &str| v.get(k).and_then(|t| t.as_str()).unwrap_or("").to_string();
    let mut entries = Vec::new();
    for e in v
        .get("entries")
        .and_then(|e| e.as_array())
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let name = e
            .get("name")
            .and_then(|n| n.as_str())
            .context("list entry without a name")?;
        let size = match e.get("size") {
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(SIZE_UNKNOWN),
            Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(SIZE_UNKNOWN),
            _ => SIZE_UNKNOWN,
        };
        entries.push((name.to_string(), size));
    }
    Ok(Page {
        entries,
        continuation_token: str_of("continuation_token"),
        uuid: str_of("uuid"),
    })
}

fn list_s3(cfg: &Config) -> anyhow::Result<Vec<(String, u64)>> {
    let mut c = client(cfg)?;
    let base = format!(
        "{}/{}",
        cfg.endpoint.path_prefix,
        crate::http::encode_name(&cfg.bucket)
    );
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let mut path = format!("{base}?list-type=2&max-keys=1000");
        if !token.is_empty() {
            path.push_str("&continuation-token=");
            path.push_str(&query_encode(&token));
        }
        let h = s3_headers(cfg, "GET", &path);
        let resp = c.request("GET", &path, &pairs(&h), Body::Empty)?;
        let status = resp.status;
        let bytes = resp.body_bytes()?;
        let text = String::from_utf8_lossy(&bytes);
        if status != 200 {
            bail!("ListObjectsV2 {}: status {status}: {text}", cfg.bucket);
        }
        let page = parse_s3_page(&text);
        out.extend(page.entries);
        if page.continuation_token.is_empty() {
            return Ok(out);
        }
        token = page.continuation_token;
    }
}

fn query_encode(s: &str) -> String {
    net::url::percent_encode_path(s).replace('/', "%2F")
}

/// Parses a ListObjectsV2 `ListBucketResult` page: `Contents/Key`, `Contents/Size`, and
/// `NextContinuationToken` when `IsTruncated` is true. A tag scanner, not an XML parser: the
/// elements it reads hold text only.
pub fn parse_s3_page(xml: &str) -> Page {
    let mut entries = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Contents>") {
        let after = &rest[start + "<Contents>".len()..];
        let end = after.find("</Contents>").unwrap_or(after.len());
        let contents = &after[..end];
        if let Some(key) = tag_text(contents, "Key") {
            let size = tag_text(contents, "Size")
                .and_then(|s| s.parse().ok())
                .unwrap_or(SIZE_UNKNOWN);
            entries.push((key, size));
        }
        rest = &after[end..];
    }
    let truncated = tag_text(xml, "IsTruncated").is_some_and(|t| t == "true");
    let continuation_token = if truncated {
        tag_text(xml, "NextContinuationToken").unwrap_or_default()
    } else {
        String::new()
    };
    Page {
        entries,
        continuation_token,
        uuid: String::new(),
    }
}

fn tag_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(xml_unescape(&xml[start..start + len]))
}

fn xml_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let Some(semi) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let ent = &tail[1..semi];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if ent.starts_with("#x") => u32::from_str_radix(&ent[2..], 16)
                .ok()
                .and_then(char::from_u32),
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Deletes `encoded_names` with a few blocking clients in parallel; returns (deleted,
/// errors). Errors go to `log`.
pub fn delete_objects(
    cfg: &Config,
    target: &Target,
    encoded_names: &[String],
    log: &ErrorLog,
) -> (u64, u64) {
    if encoded_names.is_empty() {
        return (0, 0);
    }
    let threads = cfg
        .workers
        .clamp(1, CLEANUP_THREADS_MAX)
        .min(encoded_names.len());
    let chunk = encoded_names.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = encoded_names
            .chunks(chunk)
            .map(|names| s.spawn(move || delete_some(cfg, target, names, log)))
            .collect();
        handles.into_iter().fold((0, 0), |(d, e), h| {
            let (d2, e2) = h.join().expect("cleanup thread panicked");
            (d + d2, e + e2)
        })
    })
}

fn delete_some(cfg: &Config, target: &Target, names: &[String], log: &ErrorLog) -> (u64, u64) {
    let mut c = match client(cfg) {
        Ok(c) => c,
        Err(e) => {
            log.report(format_args!("cleanup: {e:#}"));
            return (0, names.len() as u64);
        }
    };
    let (mut deleted, mut errors) = (0, 0);
    let mut path = String::new();
    for name in names {
        target.object_path(name, &mut path);
        let h = s3_headers(cfg, "DELETE", &path);
        match c
            .request("DELETE", &path, &pairs(&h), Body::Empty)
            .and_then(|r| {
                let status = r.status;
                r.body_bytes().map(|b| (status, b))
            }) {
            Ok((200..=299, _)) => deleted += 1,
            Ok((status, body)) => {
                errors += 1;
                let body = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                log.report(format_args!(
                    "cleanup DELETE {path}: status {status}: {body}"
                ));
            }
            Err(e) => {
                errors += 1;
                log.report(format_args!("cleanup DELETE {path}: {e}"));
            }
        }
    }
    (deleted, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ais_page_with_string_sizes() {
        let body = br#"{"uuid":"u1","continuation_token":"p/b","entries":[
            {"name":"p/a","size":"4096","flags":64},{"name":"p/b","size":"17","flags":64},
            {"name":"p/c","flags":64}],"flags":0}"#;
        let page = parse_ais_page(body).unwrap();
        assert_eq!(
            page.entries,
            [
                ("p/a".into(), 4096),
                ("p/b".into(), 17),
                ("p/c".into(), SIZE_UNKNOWN)
            ]
        );
        assert_eq!(page.continuation_token, "p/b");
        assert_eq!(page.uuid, "u1");
        let last =
            parse_ais_page(br#"{"uuid":"u1","continuation_token":"","entries":null,"flags":0}"#)
                .unwrap();
        assert!(last.entries.is_empty() && last.continuation_token.is_empty());
        assert!(parse_ais_page(b"\x93\x01").is_err(), "msgpack is refused");
    }

    #[test]
    fn s3_page() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>b</Name><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>p/a&amp;b</Key><LastModified>x</LastModified><ETag>&quot;e&quot;</ETag><Size>10</Size></Contents>
<Contents><Key>p/&#x41;</Key><Size>3</Size></Contents>
<NextContinuationToken>dG9rZW4=</NextContinuationToken></ListBucketResult>"#;
        let page = parse_s3_page(xml);
        assert_eq!(page.entries, [("p/a&b".into(), 10), ("p/A".into(), 3)]);
        assert_eq!(page.continuation_token, "dG9rZW4=");
        let done = parse_s3_page("<ListBucketResult><IsTruncated>false</IsTruncated><NextContinuationToken>x</NextContinuationToken></ListBucketResult>");
        assert!(done.entries.is_empty() && done.continuation_token.is_empty());
        assert_eq!(query_encode("a/b+c="), "a%2Fb%2Bc%3D");
        assert_eq!(xml_unescape("a&bogus;b&"), "a&bogus;b&");
    }

    #[test]
    fn objlist_and_paths() {
        assert_eq!(
            parse_objlist(" a \n\nb/c\r\n"),
            [("a".into(), SIZE_UNKNOWN), ("b/c".into(), SIZE_UNKNOWN)]
        );
        let mut cfg = Config::from_flags(
            &clap::Parser::try_parse_from(["x", "--ip", "127.0.0.1", "--bucket", "bk"]).unwrap(),
            1,
        )
        .unwrap();
        let mut path = String::new();
        Target::new(&cfg).object_path("p/0a", &mut path);
        assert_eq!(path, "/v1/objects/bk/p/0a");
        cfg.api = Api::S3;
        cfg.endpoint.path_prefix = "/s3".into();
        Target::new(&cfg).object_path("p/0a", &mut path);
        assert_eq!(path, "/s3/bk/p/0a");
        cfg.api = Api::Http;
        cfg.endpoint.path_prefix = "/files".into();
        Target::new(&cfg).object_path("p/0a", &mut path);
        assert_eq!(path, "/files/p/0a");
    }
}
