//! Jobs (AIS "xactions") over `/v1/cluster`: `PUT` actions `start` and `stop`, and `GET
//! ?what=qryxstats|status|status_all|running_all`, in AIS's JSON shapes (`core.Snap`,
//! `nl.Status`, `kind[id]`) so AIS clients (the CLI, the Python SDK's `Job`) work unchanged.
//!
//! The jobs themselves live in the store's registry (`engine::xact`); this module parses AIS's
//! `ArgsMsg`/`QueryMsg` (keys matched case-insensitively, as Go's JSON decoder does), starts a
//! kind through the one dispatch (`start_job`), and renders registry entries. aisle's own
//! counters ride in an extra `aisle` object of each snapshot, which AIS clients ignore.

use std::sync::Arc;

use engine::store::{Store, StoreError};
use engine::xact::{Xact, XactState};
use net::head::Method;
use serde_json::{json, Map, Value};

use super::reply;
use super::time::{rfc3339_nano, ZERO_TIME_RFC3339};
use super::Req;
use crate::http::Conn;

/// AIS's `xact.FlagZeroSize`: space cleanup also removes zero-size objects.
pub const FLAG_ZERO_SIZE: u32 = 1;
/// AIS's `xact.FlagKeepMisplaced`: space cleanup keeps misplaced objects.
pub const FLAG_KEEP_MISPLACED: u32 = 1 << 3;
/// aisle's extension (a bit AIS does not use): space cleanup only lists what it would remove.
pub const FLAG_DRY_RUN: u32 = 1 << 16;

/// The `what=` queries this module answers on `/v1/cluster`.
pub const WHATS: &[&str] = &["qryxstats", "status", "status_all", "running_all"];

/// A job request's error: HTTP status and message (sent as AIS's JSON error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub status: u16,
    pub msg: String,
}

impl JobError {
    fn new(status: u16, msg: impl Into<String>) -> Self {
        JobError {
            status,
            msg: msg.into(),
        }
    }
}

/// AIS's `xact.ArgsMsg` (start, stop) and `xact.QueryMsg` (queries) in one: every field either
/// carries, with aisle's `copies` for `make-n-copies`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobArgs {
    /// Job id (`ID`, `id`).
    pub id: String,
    /// Kind, display names mapped to kinds (`cleanup` → `cleanup-store`, `mirror` →
    /// `make-n-copies`).
    pub kind: String,
    /// Node that should run it (`DaemonID`, `node`): empty or this node.
    pub daemon_id: String,
    /// Bucket (`Bck`, `bck`), ais provider only.
    pub bucket: Option<String>,
    /// `flags` bits (`FLAG_*`).
    pub flags: u32,
    /// `Force`.
    pub force: bool,
    /// `OnlyRunning` / `show_active`.
    pub only_running: bool,
    /// `copies` (aisle's extension for `make-n-copies`).
    pub copies: Option<u32>,
}

/// What `start_job` hands the space cleanup (AIS's `ais space-cleanup` flags, plus dry-run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupArgs {
    /// Only this bucket's objects (None: every bucket).
    pub bucket: Option<String>,
    /// Also remove zero-size objects (`FLAG_ZERO_SIZE`, `--rm-zero-size`).
    pub rm_zero_size: bool,
    /// Keep misplaced objects (`FLAG_KEEP_MISPLACED`, `--keep-misplaced`).
    pub keep_misplaced: bool,
    /// Remove misplaced objects even while a resilver runs or was interrupted (`Force`).
    pub force: bool,
    /// List what would be removed, remove nothing (`FLAG_DRY_RUN`, `--dry-run`).
    pub dry_run: bool,
}

impl CleanupArgs {
    /// The cleanup options a start request carries.
    pub fn from_args(a: &JobArgs) -> Self {
        CleanupArgs {
            bucket: a.bucket.clone(),
            rm_zero_size: a.flags & FLAG_ZERO_SIZE != 0,
            keep_misplaced: a.flags & FLAG_KEEP_MISPLACED != 0,
            force: a.force,
            dry_run: a.flags & FLAG_DRY_RUN != 0,
        }
    }
}

/// The kind a kind or display name stands for.
fn kind_of(name: &str) -> &str {
    match name {
        "cleanup" => "cleanup-store",
        "mirror" => "make-n-copies",
        k => k,
    }
}

/// The value of `key` in `obj`, the key matched case-insensitively (exact match first).
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn str_field(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("{key:?} must be a string")),
    }
}

fn bool_field(obj: &Map<String, Value>, key: &str) -> Result<bool, String> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{key:?} must be a boolean")),
    }
}

fn u32_field(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, String> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{key:?} must be a non-negative 32-bit integer")),
    }
}

/// The bucket of a `cmn.Bck` object (`{"name","provider","namespace"}`); an empty name is none.
fn parse_bck(v: &Value) -> Result<Option<String>, String> {
    let o = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => return Err("\"bck\" must be an object".into()),
    };
    let name = str_field(o, "name")?;
    let provider = str_field(o, "provider")?;
    if !provider.is_empty() && provider != "ais" {
        return Err(format!(
            "provider {provider:?} is not supported by this node (only ais)"
        ));
    }
    if let Some(Value::Object(ns)) = field(o, "namespace") {
        let uuid = str_field(ns, "uuid")?;
        let nm = str_field(ns, "name")?;
        if !uuid.is_empty() || !nm.is_empty() {
            return Err(
                "bucket namespaces are not supported by this node (only the global namespace)"
                    .into(),
            );
        }
    }
    Ok((!name.is_empty()).then_some(name))
}

/// Parses AIS's `ArgsMsg` / `QueryMsg` JSON object (`Null`: all defaults).
pub fn parse_args(v: &Value) -> Result<JobArgs, String> {
    let o = match v {
        Value::Null => return Ok(JobArgs::default()),
        Value::Object(o) => o,
        _ => return Err("job arguments must be a JSON object".into()),
    };
    let mut a = JobArgs {
        id: str_field(o, "id")?,
        kind: kind_of(&str_field(o, "kind")?).to_string(),
        daemon_id: str_field(o, "daemonid")?,
        bucket: parse_bck(field(o, "bck").unwrap_or(&Value::Null))?,
        flags: u32_field(o, "flags")?.unwrap_or(0),
        force: bool_field(o, "force")?,
        only_running: bool_field(o, "onlyrunning")? || bool_field(o, "show_active")?,
        copies: u32_field(o, "copies")?,
    };
    if a.daemon_id.is_empty() {
        a.daemon_id = str_field(o, "node")?;
    }
    if a.bucket.is_none() {
        if let Some(Value::Array(bs)) = field(o, "buckets") {
            match bs.as_slice() {
                [] => {}
                [b] => a.bucket = parse_bck(b)?,
                _ => return Err("jobs over more than one bucket are not supported".into()),
            }
        }
    }
    Ok(a)
}

/// Parses a query body (empty: no filter).
fn parse_query_body(body: &[u8]) -> Result<JobArgs, String> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(JobArgs::default());
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("malformed JSON request body: {e}"))?;
    parse_args(&v)
}

/// Whether `name` is an existing bucket (404 otherwise).
fn check_bucket(store: &Store, name: &str) -> Result<(), JobError> {
    store
        .bucket(name)
        .map(|_| ())
        .map_err(|e| JobError::new(reply::status_of(&e), e.to_string()))
}

/// Starts a job of `args.kind` and returns its id. The one kind → function dispatch. May block
/// (it runs on the blocking pool).
pub fn start_job(store: &Arc<Store>, args: &JobArgs) -> Result<String, JobError> {
    match args.kind.as_str() {
        "" => Err(JobError::new(
            400,
            "cannot start xaction: unspecified (empty) xaction kind",
        )),
        // Through the lifecycle: a clean end also finishes pending detaches and disables.
        "resilver" => Ok(store.resilver_and_settle("started by request").id.clone()),
        "make-n-copies" => {
            if args.bucket.is_none() {
                return Err(JobError::new(
                    400,
                    "xaction \"make-n-copies\" requires a bucket to start",
                ));
            }
            let b = args.bucket.as_deref().unwrap_or_default();
            let store_err = |e: StoreError| JobError::new(reply::status_of(&e), e.to_string());
            // Without aisle's `copies`, the bucket's configured count (AIS's ArgsMsg has none).
            let copies = match args.copies {
                Some(n) => n,
                None => store.bucket(b).map_err(store_err)?.mirror.want(),
            };
            store
                .start_make_n_copies(b, copies)
                .map(|x| x.id.clone())
                .map_err(store_err)
        }
        "cleanup-store" => {
            let c = CleanupArgs::from_args(args);
            let opts = engine::store::CleanupOpts {
                bucket: c.bucket,
                dry_run: c.dry_run,
                keep_misplaced: c.keep_misplaced,
                rm_zero_size: c.rm_zero_size,
                keep_unknown: false,
                force: c.force,
            };
            store
                .start_cleanup(opts)
                .map(|x| x.id.clone())
                .map_err(|e| JobError::new(reply::status_of(&e), e.to_string()))
        }
        k => Err(JobError::new(
            501,
            format!("cannot start xaction {k} - operation not supported"),
        )),
    }
}

/// Asks the jobs `args` selects to stop: by id (404 if unknown), else by kind and/or bucket
/// (running ones; none is fine). Returns how many were asked.
pub fn stop_jobs(store: &Store, args: &JobArgs) -> Result<usize, JobError> {
    const WHY: &str = "stopped by the user";
    let xs = store.xacts();
    if !args.id.is_empty() {
        let x = xs
            .get(&args.id)
            .ok_or_else(|| JobError::new(404, format!("xaction \"ID={}\" not found", args.id)))?;
        if !args.kind.is_empty() && x.kind != args.kind {
            return Err(JobError::new(
                404,
                format!("xaction \"[kind={} vs {}]\" not found", args.kind, x.kind),
            ));
        }
        return Ok(usize::from(x.abort(WHY)));
    }
    if args.kind.is_empty() && args.bucket.is_none() {
        return Err(JobError::new(
            400,
            "cannot stop xaction: expecting a valid kind and/or UUID",
        ));
    }
    let kind = (!args.kind.is_empty()).then_some(args.kind.as_str());
    Ok(xs
        .find(kind, args.bucket.as_deref(), true)
        .iter()
        .filter(|x| x.abort(WHY))
        .count())
}

/// The jobs a query selects, oldest first: by id (404 if unknown or of another kind), else
/// by kind, bucket and running-only.
fn select(store: &Store, q: &JobArgs) -> Result<Vec<Arc<Xact>>, JobError> {
    let xs = store.xacts();
    if !q.id.is_empty() {
        let x = xs
            .get(&q.id)
            .ok_or_else(|| JobError::new(404, format!("xaction \"ID={}\" not found", q.id)))?;
        if (!q.kind.is_empty() && x.kind != q.kind) || (q.only_running && !x.is_running()) {
            return Err(JobError::new(
                404,
                format!("xaction \"[{}] {}\" not found", q.id, q.kind),
            ));
        }
        return Ok(vec![x]);
    }
    if let Some(b) = &q.bucket {
        check_bucket(store, b)?;
    }
    let kind = (!q.kind.is_empty()).then_some(q.kind.as_str());
    Ok(xs.find(kind, q.bucket.as_deref(), q.only_running))
}

fn bck_json(bucket: Option<&str>) -> Value {
    match bucket {
        Some(b) => json!({"name": b, "provider": "ais", "namespace": {"uuid": "", "name": ""}}),
        None => json!({"name": "", "provider": "", "namespace": {"uuid": "", "name": ""}}),
    }
}

/// The error a job reports: its first error, else (aborted) why it was aborted.
fn job_err(x: &Xact) -> String {
    x.err()
        .or_else(|| x.is_aborted().then(|| x.abort_reason()).flatten())
        .unwrap_or_default()
}

/// One job in AIS's `core.Snap` JSON; `with_items` adds the listed items (cleanup's files).
pub fn snap_json(x: &Xact, with_items: bool) -> Value {
    let c = x.counters.snap();
    let end = x.end_ns();
    let s = |n: u64| Value::String(n.to_string());
    let aborted = x.is_aborted();
    let mut aisle = json!({
        "state": x.state().as_str(),
        "visited": s(c.visited),
        "skipped-busy": s(c.skipped_busy),
        "errors": s(c.errors),
        "copies-added": s(c.copies_added),
        "removed": s(c.removed),
        "removed-bytes": s(c.removed_bytes),
    });
    if with_items {
        let (items, dropped) = x.items();
        aisle["items"] = json!(items);
        aisle["items-dropped"] = s(dropped);
    }
    json!({
        "ext": null,
        "start-time": rfc3339_nano(x.start_ns),
        "end-time": if end == 0 { ZERO_TIME_RFC3339.to_string() } else { rfc3339_nano(end) },
        "bck": bck_json(x.bucket.as_deref()),
        "src-bck": bck_json(None),
        "dst-bck": bck_json(None),
        "id": x.id,
        "kind": x.kind,
        "abort-err": if aborted { x.abort_reason().unwrap_or_default() } else { String::new() },
        "err": x.err().unwrap_or_default(),
        "glob.id": "0",
        "stats": {
            "loc-objs": s(c.objs),
            "loc-bytes": s(c.bytes),
            "out-objs": "0",
            "out-bytes": "0",
            "in-objs": "0",
            "in-bytes": "0",
        },
        "aborted": aborted,
        "is_idle": x.state() != XactState::Running,
        "aisle": aisle,
    })
}

/// One job in AIS's `nl.Status` JSON (what `what=status` answers).
pub fn status_json(x: &Xact) -> Value {
    let mut v = json!({
        "kind": x.kind,
        "uuid": x.id,
        "err": job_err(x),
        "end_time": x.end_ns(),
        "aborted": x.is_aborted(),
    });
    if !x.is_running() {
        v["is_idle"] = json!(true);
    }
    v
}

/// The answer to `GET /v1/cluster?what=<what>` with query `q` on node `node_id`.
pub fn query(store: &Store, node_id: &str, what: &str, q: &JobArgs) -> Result<Value, JobError> {
    match what {
        "qryxstats" => {
            let one = !q.id.is_empty();
            let snaps: Vec<Value> = select(store, q)?
                .iter()
                .map(|x| snap_json(x, one))
                .collect();
            let mut m = Map::new();
            m.insert(node_id.to_string(), Value::Array(snaps));
            Ok(Value::Object(m))
        }
        "status" => {
            if q.id.is_empty() && q.kind.is_empty() {
                return Err(JobError::new(
                    400,
                    "invalid job status query: expecting a job id and/or kind",
                ));
            }
            let all = select(store, q)?;
            // By kind: the running one if any, else the newest.
            let x = all
                .iter()
                .rev()
                .find(|x| x.is_running())
                .or_else(|| all.last())
                .ok_or_else(|| {
                    JobError::new(404, format!("xaction \"kind={}\" not found", q.kind))
                })?;
            Ok(status_json(x))
        }
        "status_all" => Ok(Value::Array(
            select(store, q)?.iter().map(|x| status_json(x)).collect(),
        )),
        "running_all" => {
            let kind = (!q.kind.is_empty()).then_some(q.kind.as_str());
            let running = store.xacts().find(kind, None, true);
            Ok(json!(running
                .iter()
                .map(|x| format!("{}[{}]", x.kind, x.id))
                .collect::<Vec<_>>()))
        }
        _ => Err(JobError::new(400, format!("invalid what={what:?}"))),
    }
}

/// `GET /v1/cluster?what=qryxstats|status|status_all|running_all` (the query in the body).
pub async fn get(conn: &mut Conn, req: &Req<'_>, what: &str) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return super::bucket::body_error(conn, req, e).await,
    };
    let q = match parse_query_body(&body) {
        Ok(q) => q,
        Err(m) => return reply::error(conn, req.head, 400, &m, true).await,
    };
    let node_id = conn.core.node.daemon_id.clone();
    match query(&conn.core.store, &node_id, what, &q) {
        Ok(v) => {
            let body = v.to_string();
            reply::ok(
                conn,
                req.head,
                200,
                Some("application/json"),
                &[],
                body.as_bytes(),
            )
            .await
        }
        Err(e) => reply::error(conn, req.head, e.status, &e.msg, true).await,
    }
}

/// `PUT /v1/cluster` with action `start` or `stop` (`m`, already read and parsed).
pub async fn action(conn: &mut Conn, req: &Req<'_>, m: super::ActionMsg) -> bool {
    debug_assert!(req.head.method == Method::Put);
    let args = match parse_args(&m.value) {
        Ok(a) => a,
        Err(e) => {
            let msg = format!("/v1/cluster: action {:?}: {e}", m.action);
            return reply::error(conn, req.head, 400, &msg, true).await;
        }
    };
    let node_id = conn.core.node.daemon_id.clone();
    if !args.daemon_id.is_empty() && args.daemon_id != node_id {
        let msg = format!(
            "node {:?} not found (this node is t[{node_id}])",
            args.daemon_id
        );
        return reply::error(conn, req.head, 404, &msg, true).await;
    }
    let store = conn.core.store.clone();
    let res = match m.action.as_str() {
        "start" => {
            if let Some(b) = &args.bucket {
                if let Err(e) = check_bucket(&store, b) {
                    return reply::error(conn, req.head, e.status, &e.msg, true).await;
                }
            }
            engine::io::spawn_blocking(move || start_job(&store, &args)).await
        }
        _ => stop_jobs(&store, &args).map(|_| String::new()),
    };
    match res {
        Ok(id) => {
            reply::ok(
                conn,
                req.head,
                200,
                Some("text/plain; charset=utf-8"),
                &[],
                id.as_bytes(),
            )
            .await
        }
        Err(e) => reply::error(conn, req.head, e.status, &e.msg, true).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::xact::Xacts;

    #[test]
    fn args_keys_match_case_insensitively_and_display_names_map() {
        // Goal: the SDK's `{"ID","Kind","DaemonID","Bck"}`, Go's ArgsMsg field names and
        // QueryMsg's lower-case tags all parse to the same thing.
        let sdk = json!({"ID": "", "Kind": "mirror", "DaemonID": "t1",
            "Bck": {"name": "b", "provider": "ais", "namespace": {"uuid": "", "name": ""}},
            "Buckets": null});
        let a = parse_args(&sdk).expect("sdk args");
        assert_eq!(a.kind, "make-n-copies");
        assert_eq!(a.daemon_id, "t1");
        assert_eq!(a.bucket.as_deref(), Some("b"));
        let q = json!({"id": "x1", "kind": "cleanup", "bck": {"name": ""}, "show_active": true,
            "flags": 9 | FLAG_DRY_RUN, "Force": true, "copies": 2});
        let a = parse_args(&q).expect("query");
        assert_eq!(a.id, "x1");
        assert_eq!(a.kind, "cleanup-store");
        assert!(a.only_running && a.force);
        assert_eq!(a.bucket, None);
        assert_eq!(a.copies, Some(2));
        let c = CleanupArgs::from_args(&a);
        assert!(c.rm_zero_size && c.keep_misplaced && c.dry_run && c.force);
        assert_eq!(parse_args(&Value::Null).expect("null"), JobArgs::default());
    }

    #[test]
    fn bad_args_are_refused() {
        assert!(parse_args(&json!("resilver")).is_err());
        assert!(parse_args(&json!({"kind": 5})).is_err());
        assert!(parse_args(&json!({"bck": {"name": "b", "provider": "aws"}})).is_err());
        assert!(parse_args(&json!({"flags": -1})).is_err());
        assert!(parse_args(&json!({"buckets": [{"name": "a"}, {"name": "b"}]})).is_err());
        assert!(parse_query_body(b"{nope").is_err());
        assert_eq!(parse_query_body(b"  ").expect("empty"), JobArgs::default());
    }

    #[test]
    fn a_running_job_renders_as_ais_snap_with_zero_end_time() {
        let xs = Xacts::default();
        let x = xs.begin("resilver", None);
        x.counters.add_obj(4096);
        x.counters.add_obj(100);
        x.counters
            .visited
            .fetch_add(7, std::sync::atomic::Ordering::Relaxed);
        let v = snap_json(&x, false);
        assert_eq!(v["id"], json!(x.id));
        assert_eq!(v["kind"], json!("resilver"));
        assert_eq!(v["end-time"], json!("0001-01-01T00:00:00Z"));
        assert_eq!(v["start-time"], json!(rfc3339_nano(x.start_ns)));
        assert_eq!(v["stats"]["loc-objs"], json!("2"));
        assert_eq!(v["stats"]["loc-bytes"], json!("4196"));
        assert_eq!(v["aisle"]["visited"], json!("7"));
        assert_eq!(v["aisle"]["state"], json!("running"));
        assert_eq!(v["aborted"], json!(false));
        assert_eq!(v["is_idle"], json!(false));
        assert_eq!(v["bck"]["name"], json!(""));
        assert!(v["aisle"].get("items").is_none(), "items only when asked");
        let st = status_json(&x);
        assert_eq!(st["end_time"], json!(0));
        assert_eq!(st["uuid"], json!(x.id));
        assert!(st.get("is_idle").is_none());
    }

    #[test]
    fn finished_and_aborted_jobs_render_their_end_errors_and_items() {
        let xs = Xacts::default();
        let x = xs.begin("cleanup-store", Some("b"));
        x.note_item("/mp1/%ob/b/old");
        x.note_error("EIO on /mp2");
        x.finish(None);
        let v = snap_json(&x, true);
        assert_ne!(v["end-time"], json!(ZERO_TIME_RFC3339));
        assert_eq!(v["end-time"], json!(rfc3339_nano(x.end_ns())));
        assert_eq!(v["err"], json!("EIO on /mp2"));
        assert_eq!(v["aisle"]["errors"], json!("1"));
        assert_eq!(v["aisle"]["items"], json!(["/mp1/%ob/b/old"]));
        assert_eq!(v["aisle"]["state"], json!("finished"));
        assert_eq!(
            v["bck"],
            json!({"name": "b", "provider": "ais", "namespace": {"uuid": "", "name": ""}})
        );
        assert_eq!(v["is_idle"], json!(true));
        assert_eq!(status_json(&x)["end_time"], json!(x.end_ns()));
        assert_eq!(status_json(&x)["err"], json!("EIO on /mp2"));

        let y = xs.begin("resilver", None);
        assert!(y.abort("stopped by the user"));
        let v = snap_json(&y, false);
        assert_eq!(
            v["aborted"],
            json!(true),
            "aborted as soon as asked, like AIS"
        );
        assert_eq!(v["abort-err"], json!("stopped by the user"));
        y.finish(None);
        let st = status_json(&y);
        assert_eq!(st["aborted"], json!(true));
        assert_eq!(st["err"], json!("stopped by the user"));
        assert!(st["end_time"].as_i64().unwrap_or(0) > 0);
    }
}
