//! Construction of AIS native-API requests (paths, query, headers, action-message bodies) and
//! decoding of the replies the CLI reads. Pure functions, so every request can be unit-tested
//! without a server.

use net::url::percent_encode_path;
use serde::Deserialize;
use serde_json::json;

/// A request ready to send; bodies of data transfers are supplied separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// HTTP method.
    pub method: &'static str,
    /// Path and query, percent-encoded.
    pub path: String,
    /// Extra request headers.
    pub headers: Vec<(&'static str, String)>,
    /// JSON action-message body, if any.
    pub json: Option<String>,
}

impl Request {
    fn new(method: &'static str, path: String) -> Request {
        Request {
            method,
            path,
            headers: Vec::new(),
            json: None,
        }
    }

    /// Adds an action message `{"action":..,"name":"","value":..}` as the JSON body.
    fn action(mut self, action: &str, value: serde_json::Value) -> Request {
        let msg = json!({ "action": action, "name": "", "value": value });
        self.json = Some(msg.to_string());
        self.headers
            .push(("Content-Type", "application/json".to_owned()));
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }
}

fn bucket_path(bucket: &str) -> String {
    format!("/v1/buckets/{bucket}?provider=ais")
}

fn object_path(bucket: &str, object: &str) -> String {
    format!(
        "/v1/objects/{bucket}/{}?provider=ais",
        percent_encode_path(object)
    )
}

/// `POST /v1/buckets/B` create-bck.
pub fn create_bucket(bucket: &str) -> Request {
    Request::new("POST", bucket_path(bucket)).action("create-bck", serde_json::Value::Null)
}

/// `DELETE /v1/buckets/B` destroy-bck.
pub fn destroy_bucket(bucket: &str) -> Request {
    Request::new("DELETE", bucket_path(bucket)).action("destroy-bck", serde_json::Value::Null)
}

/// `GET /v1/buckets` list (a null value means "list buckets").
pub fn list_buckets() -> Request {
    Request::new("GET", "/v1/buckets?provider=ais".to_owned())
        .action("list", serde_json::Value::Null)
}

/// One page of `GET /v1/buckets/B` list-objects, asking for the JSON reply.
pub fn list_objects(bucket: &str, prefix: &str, uuid: &str, token: &str) -> Request {
    let lsmsg = json!({
        "prefix": prefix,
        "pagesize": 0,
        "uuid": uuid,
        "props": "name,size",
        "continuation_token": token,
        "flags": "0",
    });
    Request::new("GET", bucket_path(bucket))
        .action("list", lsmsg)
        .header("Accept", "application/json")
}

/// `PUT /v1/objects/B/O`; the body is streamed by the caller. With `xxhash2` the server
/// verifies the data end to end.
pub fn put_object(bucket: &str, object: &str, xxhash2: Option<u64>) -> Request {
    let mut req = Request::new("PUT", object_path(bucket, object))
        .header("Content-Type", "application/octet-stream")
        // Wait for the server's go-ahead so a redirect or an error costs no upload.
        .header("Expect", "100-continue");
    if let Some(digest) = xxhash2 {
        req = req
            .header("Ais-Checksum-Type", "xxhash2")
            .header("Ais-Checksum-Value", format!("{digest:016x}"));
    }
    req
}

/// `GET /v1/objects/B/O`, optionally one byte range (`bytes=` is added if missing).
pub fn get_object(bucket: &str, object: &str, range: Option<&str>) -> Request {
    let req = Request::new("GET", object_path(bucket, object));
    match range {
        Some(r) if r.contains('=') => req.header("Range", r),
        Some(r) => req.header("Range", format!("bytes={r}")),
        None => req,
    }
}

/// Object properties `aisle object head` asks for (HEAD v2 `props=`): everything AIS
/// reports as `Ais-*` headers, including the chunking of a chunked object.
pub const HEAD_PROPS: &str = "name,size,checksum,version,atime,custom,location,copies,chunked";

/// `HEAD /v1/objects/B/O?props=...` (see [`HEAD_PROPS`]).
pub fn head_object(bucket: &str, object: &str) -> Request {
    Request::new(
        "HEAD",
        format!("{}&props={HEAD_PROPS}", object_path(bucket, object)),
    )
}

fn upload_path(bucket: &str, object: &str, upload_id: &str) -> String {
    format!(
        "{}&uploadId={}",
        object_path(bucket, object),
        percent_encode_path(upload_id)
    )
}

/// `POST /v1/objects/B/O` mpt-upload: starts a multipart upload; the reply body is its id.
pub fn mpt_create(bucket: &str, object: &str) -> Request {
    Request::new("POST", object_path(bucket, object)).action("mpt-upload", serde_json::Value::Null)
}

/// `PUT /v1/objects/B/O?uploadId=ID&partNumber=N`: one part, its bytes streamed by the caller
/// with a Content-Length; with `xxhash2` the server verifies the part.
pub fn put_part(
    bucket: &str,
    object: &str,
    upload_id: &str,
    part: u32,
    xxhash2: Option<u64>,
) -> Request {
    let path = format!(
        "{}&partNumber={part}",
        upload_path(bucket, object, upload_id)
    );
    let mut req = Request::new("PUT", path)
        .header("Content-Type", "application/octet-stream")
        .header("Expect", "100-continue");
    if let Some(digest) = xxhash2 {
        req = req
            .header("Ais-Checksum-Type", "xxhash2")
            .header("Ais-Checksum-Value", format!("{digest:016x}"));
    }
    req
}

/// `POST /v1/objects/B/O?uploadId=ID` mpt-complete with parts `1..=parts`.
pub fn mpt_complete(bucket: &str, object: &str, upload_id: &str, parts: u32) -> Request {
    let list: Vec<serde_json::Value> = (1..=parts)
        .map(|n| json!({ "part-number": n, "etag": "" }))
        .collect();
    Request::new("POST", upload_path(bucket, object, upload_id))
        .action("mpt-complete", serde_json::Value::Array(list))
}

/// `DELETE /v1/objects/B/O?uploadId=ID` mpt-abort: drops the upload and its parts.
pub fn mpt_abort(bucket: &str, object: &str, upload_id: &str) -> Request {
    Request::new("DELETE", upload_path(bucket, object, upload_id))
        .action("mpt-abort", serde_json::Value::Null)
}

/// `DELETE /v1/objects/B/O`.
pub fn delete_object(bucket: &str, object: &str) -> Request {
    Request::new("DELETE", object_path(bucket, object))
}

/// One entry of the list-buckets reply.
#[derive(Debug, Deserialize)]
pub struct BucketEntry {
    /// Bucket name.
    pub name: String,
    /// Provider, `ais` for native buckets.
    #[serde(default)]
    pub provider: String,
}

/// Decodes the list-buckets reply, a JSON array (AIS may send `null` for none).
pub fn parse_bucket_list(body: &[u8]) -> anyhow::Result<Vec<BucketEntry>> {
    let list: Option<Vec<BucketEntry>> = serde_json::from_slice(body)?;
    Ok(list.unwrap_or_default())
}

/// One page of the JSON list-objects reply.
#[derive(Debug, Default, Deserialize)]
pub struct ObjectPage {
    /// Listing session, echoed back on the next page.
    #[serde(default)]
    pub uuid: String,
    /// Where the next page starts; empty on the last page.
    #[serde(default)]
    pub continuation_token: String,
    /// The objects on this page.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub entries: Vec<ObjectEntry>,
}

/// One listed object.
#[derive(Debug, Deserialize)]
pub struct ObjectEntry {
    /// Object name.
    pub name: String,
    /// Size in bytes: AIS encodes it as a JSON string, omitted when zero.
    #[serde(default)]
    pub size: serde_json::Value,
}

impl ObjectEntry {
    /// The size as text, whether sent as a string, a number or not at all.
    pub fn size_text(&self) -> String {
        match &self.size {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "0".to_owned(),
            other => other.to_string(),
        }
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ObjectEntry>, D::Error> {
    Ok(Option::<Vec<ObjectEntry>>::deserialize(d)?.unwrap_or_default())
}

/// Decodes one page of the JSON list-objects reply.
pub fn parse_object_page(body: &[u8]) -> anyhow::Result<ObjectPage> {
    Ok(serde_json::from_slice(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(req: &Request) -> serde_json::Value {
        serde_json::from_str(req.json.as_deref().expect("json body")).expect("valid json")
    }

    fn has_header(req: &Request, name: &str, value: &str) -> bool {
        req.headers.iter().any(|(n, v)| *n == name && v == value)
    }

    #[test]
    fn bucket_requests() {
        // Goal: bucket verbs match the SDK's wire form, all three message keys present.
        let req = create_bucket("b");
        assert_eq!(
            (req.method, req.path.as_str()),
            ("POST", "/v1/buckets/b?provider=ais")
        );
        assert_eq!(
            json_of(&req),
            json!({"action": "create-bck", "name": "", "value": null})
        );
        assert!(has_header(&req, "Content-Type", "application/json"));

        let req = destroy_bucket("b");
        assert_eq!(
            (req.method, req.path.as_str()),
            ("DELETE", "/v1/buckets/b?provider=ais")
        );
        assert_eq!(
            json_of(&req),
            json!({"action": "destroy-bck", "name": "", "value": null})
        );

        let req = list_buckets();
        assert_eq!(
            (req.method, req.path.as_str()),
            ("GET", "/v1/buckets?provider=ais")
        );
        assert_eq!(
            json_of(&req),
            json!({"action": "list", "name": "", "value": null})
        );
    }

    #[test]
    fn list_objects_request() {
        // Goal: the LsoMsg carries prefix, session and token, flags as a string, JSON accept.
        let req = list_objects("b", "dir/", "u1", "dir/x");
        assert_eq!(
            (req.method, req.path.as_str()),
            ("GET", "/v1/buckets/b?provider=ais")
        );
        assert!(has_header(&req, "Accept", "application/json"));
        let want = json!({"action": "list", "name": "", "value": {
            "prefix": "dir/", "pagesize": 0, "uuid": "u1", "props": "name,size",
            "continuation_token": "dir/x", "flags": "0"}});
        assert_eq!(json_of(&req), want);
    }

    #[test]
    fn object_requests() {
        // Goal: object names are percent-encoded (slashes kept), checksum and range headers.
        let req = put_object("b", "dir/a b+c%.bin", None);
        assert_eq!(req.method, "PUT");
        assert_eq!(req.path, "/v1/objects/b/dir/a%20b%2Bc%25.bin?provider=ais");
        assert!(req.json.is_none());
        assert!(has_header(&req, "Expect", "100-continue"));
        assert!(!req
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("Ais-Checksum")));

        let req = put_object("b", "o", Some(0xef46_db37_51d8_e999));
        assert!(has_header(&req, "Ais-Checksum-Type", "xxhash2"));
        assert!(has_header(&req, "Ais-Checksum-Value", "ef46db3751d8e999"));
        let req = put_object("b", "o", Some(0x1f));
        assert!(has_header(&req, "Ais-Checksum-Value", "000000000000001f"));

        let req = get_object("b", "o?", Some("bytes=0-99"));
        assert_eq!(
            (req.method, req.path.as_str()),
            ("GET", "/v1/objects/b/o%3F?provider=ais")
        );
        assert!(has_header(&req, "Range", "bytes=0-99"));
        assert!(has_header(
            &get_object("b", "o", Some("5-")),
            "Range",
            "bytes=5-"
        ));
        assert!(get_object("b", "o", None).headers.is_empty());

        assert_eq!(
            head_object("b", "é").path,
            "/v1/objects/b/%C3%A9?provider=ais\
             &props=name,size,checksum,version,atime,custom,location,copies,chunked"
        );
        assert_eq!(head_object("b", "o").method, "HEAD");
        assert_eq!(delete_object("b", "o").method, "DELETE");
        assert!(delete_object("b", "o").json.is_none());
    }

    #[test]
    fn multipart_requests() {
        // Goal: the four native multipart requests in AIS's wire form: mpt-upload on the
        // object, parts with uploadId and partNumber, completion listing every part in order,
        // abort as DELETE with mpt-abort; the upload id is encoded as a query value.
        let req = mpt_create("b", "dir/o x");
        assert_eq!(
            (req.method, req.path.as_str()),
            ("POST", "/v1/objects/b/dir/o%20x?provider=ais")
        );
        assert_eq!(
            json_of(&req),
            json!({"action":"mpt-upload","name":"","value":null})
        );

        let req = put_part("b", "o", "id&1", 7, None);
        assert_eq!(
            (req.method, req.path.as_str()),
            (
                "PUT",
                "/v1/objects/b/o?provider=ais&uploadId=id%261&partNumber=7"
            )
        );
        assert!(req.json.is_none());
        assert!(has_header(&req, "Expect", "100-continue"));
        let req = put_part("b", "o", "U", 1, Some(0xab));
        assert!(has_header(&req, "Ais-Checksum-Type", "xxhash2"));
        assert!(has_header(&req, "Ais-Checksum-Value", "00000000000000ab"));

        let req = mpt_complete("b", "o", "U", 3);
        assert_eq!(
            (req.method, req.path.as_str()),
            ("POST", "/v1/objects/b/o?provider=ais&uploadId=U")
        );
        assert_eq!(
            json_of(&req),
            json!({"action":"mpt-complete","name":"","value":[
                {"part-number":1,"etag":""},{"part-number":2,"etag":""},{"part-number":3,"etag":""}]})
        );

        let req = mpt_abort("b", "o", "U");
        assert_eq!(
            (req.method, req.path.as_str()),
            ("DELETE", "/v1/objects/b/o?provider=ais&uploadId=U")
        );
        assert_eq!(json_of(&req)["action"], "mpt-abort");
    }

    #[test]
    fn replies() {
        // Goal: sizes as strings, numbers or absent; null entries; bucket list with null.
        let page = parse_object_page(
            br#"{"uuid":"u","continuation_token":"t","entries":[
                {"name":"a","size":"12"},{"name":"b","size":7},{"name":"c"}],"flags":0}"#,
        )
        .expect("page");
        assert_eq!(
            (page.uuid.as_str(), page.continuation_token.as_str()),
            ("u", "t")
        );
        let sizes: Vec<(String, String)> = page
            .entries
            .iter()
            .map(|e| (e.name.clone(), e.size_text()))
            .collect();
        let want = [("a", "12"), ("b", "7"), ("c", "0")].map(|(n, s)| (n.to_owned(), s.to_owned()));
        assert_eq!(sizes, want);
        let empty = parse_object_page(br#"{"uuid":"u","entries":null}"#).expect("page");
        assert!(empty.entries.is_empty());
        assert_eq!(empty.continuation_token, "");

        let buckets = parse_bucket_list(
            br#"[{"name":"x","provider":"ais","namespace":{"uuid":"","name":""}},{"name":"y"}]"#,
        )
        .expect("buckets");
        assert_eq!(buckets.len(), 2);
        assert_eq!(
            (buckets[0].name.as_str(), buckets[0].provider.as_str()),
            ("x", "ais")
        );
        assert!(parse_bucket_list(b"null").expect("null").is_empty());
        assert!(parse_bucket_list(b"{").is_err());
    }
}
