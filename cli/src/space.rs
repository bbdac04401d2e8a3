//! `aisle space-cleanup [BUCKET]`: starts the `cleanup-store` job the way AIS's
//! `ais space-cleanup` does (`PUT /v1/cluster` start with `xact.ArgsMsg`: its `flags` bits
//! `FlagZeroSize`/`FlagKeepMisplaced`, `Force`, and aisle's dry-run bit), waits for it by
//! polling `GET /v1/cluster?what=status`, then prints the files it removed (or would remove)
//! from the job's snap (`what=qryxstats`, aisle's `items`) and the totals.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::api::Request;
use crate::session::{Payload, Session};
use crate::uri;

/// AIS `xact.FlagZeroSize`.
pub const FLAG_ZERO_SIZE: u32 = 1;
/// AIS `xact.FlagKeepMisplaced`.
pub const FLAG_KEEP_MISPLACED: u32 = 1 << 3;
/// aisle's extension: list only, remove nothing.
pub const FLAG_DRY_RUN: u32 = 1 << 16;

/// How long between two status polls.
const POLL: Duration = Duration::from_millis(200);

/// The command's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupFlags {
    pub dry_run: bool,
    pub keep_misplaced: bool,
    pub rm_zero_size: bool,
    pub force: bool,
    /// Give up waiting after this long (the job goes on); `None`: wait until it ends.
    pub timeout: Option<Duration>,
}

/// `PUT /v1/cluster` `{"action":"start","value":{"kind":"cleanup-store",...}}` (AIS
/// `api.StartXaction`: the bucket also in the query, `force=true` with `Force`).
pub fn start_request(bucket: Option<&str>, f: &CleanupFlags) -> Request {
    let mut flags = 0;
    if f.rm_zero_size {
        flags |= FLAG_ZERO_SIZE;
    }
    if f.keep_misplaced {
        flags |= FLAG_KEEP_MISPLACED;
    }
    if f.dry_run {
        flags |= FLAG_DRY_RUN;
    }
    let mut value = json!({"kind": "cleanup-store", "flags": flags});
    let mut query = Vec::new();
    if let Some(b) = bucket {
        value["bck"] = json!({"name": b, "provider": "ais"});
        query.push("provider=ais");
    }
    if f.force {
        value["Force"] = json!(true);
        query.push("force=true");
    }
    let path = if query.is_empty() {
        "/v1/cluster".to_string()
    } else {
        format!("/v1/cluster?{}", query.join("&"))
    };
    let msg = json!({"action": "start", "name": "", "value": value});
    Request {
        method: "PUT",
        path,
        headers: vec![("Content-Type", "application/json".to_owned())],
        json: Some(msg.to_string()),
    }
}

/// `GET /v1/cluster?what=<what>` with the query `{"id": id}` in the body (AIS `xact.QueryMsg`).
pub fn query_request(what: &str, id: &str) -> Request {
    Request {
        method: "GET",
        path: format!("/v1/cluster?what={what}"),
        headers: vec![("Content-Type", "application/json".to_owned())],
        json: Some(json!({"id": id}).to_string()),
    }
}

/// Whether a `what=status` reply says the job ended.
pub fn status_ended(v: &Value) -> bool {
    let end = v.get("end_time").and_then(Value::as_i64).unwrap_or(0);
    end != 0 || v.get("is_idle").and_then(Value::as_bool) == Some(true)
}

/// What the job did, from its `what=qryxstats` snap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub items: Vec<String>,
    pub items_dropped: u64,
    pub removed: u64,
    pub removed_bytes: u64,
    pub visited: u64,
    pub errors: u64,
    pub err: String,
    pub aborted: bool,
}

/// A counter AIS encodes as a string (or a number).
fn counter(v: &Value, key: &str) -> u64 {
    match v.get(key) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(n) => n.as_u64().unwrap_or(0),
        None => 0,
    }
}

/// Reads the job `id`'s snap out of a `qryxstats` reply `{"<node>": [snap, ...]}`.
pub fn parse_outcome(body: &[u8], id: &str) -> anyhow::Result<Outcome> {
    let v: Value = serde_json::from_slice(body).context("decode the job stats reply")?;
    let snap = v
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_array)
        .flatten()
        .find(|s| s.get("id").and_then(Value::as_str) == Some(id))
        .with_context(|| format!("job {id} is not in the stats reply"))?;
    let aisle = snap.get("aisle").cloned().unwrap_or(Value::Null);
    let items = aisle
        .get("items")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Outcome {
        items,
        items_dropped: counter(&aisle, "items-dropped"),
        removed: counter(&aisle, "removed"),
        removed_bytes: counter(&aisle, "removed-bytes"),
        visited: counter(&aisle, "visited"),
        errors: counter(&aisle, "errors"),
        err: snap
            .get("err")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        aborted: snap.get("aborted").and_then(Value::as_bool) == Some(true),
    })
}

/// Prints the outcome: one line per file (`<reason> <path>`, prefixed `would remove` on a dry
/// run), then the totals.
pub fn print_outcome(o: &Outcome, dry_run: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let verb = if dry_run { "would remove" } else { "removed" };
    for item in &o.items {
        writeln!(out, "{verb} {item}")?;
    }
    if o.items_dropped > 0 {
        writeln!(out, "... and {} more not listed", o.items_dropped)?;
    }
    writeln!(
        out,
        "{verb}: {} files, {} bytes ({} files visited{})",
        o.removed,
        o.removed_bytes,
        o.visited,
        if o.errors > 0 {
            format!(", {} errors", o.errors)
        } else {
            String::new()
        }
    )?;
    if o.aborted {
        writeln!(out, "the job was aborted")?;
    }
    Ok(())
}

/// `aisle space-cleanup [ais://bucket] [--dry-run] [--keep-misplaced] [--rm-zero-size]`.
pub fn cleanup(
    s: &mut Session,
    bucket: Option<&str>,
    f: &CleanupFlags,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let bucket = match bucket {
        Some(arg) => {
            let u = uri::parse(arg)?;
            if u.object.is_some() {
                bail!("{arg:?}: expected a bucket (ais://bucket), not an object");
            }
            Some(u.bucket)
        }
        None => None,
    };
    let id = s
        .send(&start_request(bucket.as_deref(), f), Payload::None)?
        .body_bytes()?;
    let id = String::from_utf8(id)
        .context("the job id is not text")?
        .trim()
        .to_owned();
    if id.is_empty() {
        bail!("the node started no job (empty id)");
    }
    writeln!(out, "started space cleanup {id}")?;
    let start = Instant::now();
    loop {
        let body = s
            .send(&query_request("status", &id), Payload::None)?
            .body_bytes()?;
        let v: Value = serde_json::from_slice(&body).context("decode the job status reply")?;
        if status_ended(&v) {
            break;
        }
        if f.timeout.is_some_and(|t| start.elapsed() >= t) {
            bail!("job {id} still running after {:?}", start.elapsed());
        }
        std::thread::sleep(POLL);
    }
    let body = s
        .send(&query_request("qryxstats", &id), Payload::None)?
        .body_bytes()?;
    let o = parse_outcome(&body, &id)?;
    print_outcome(&o, f.dry_run, out)?;
    if !o.err.is_empty() {
        bail!("job {id}: {}", o.err);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Request) -> Value {
        serde_json::from_str(r.json.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn start_is_ais_start_xaction() {
        // Goal: AIS's ArgsMsg shape and flag bits; the bucket and Force also in the query.
        let all = CleanupFlags {
            dry_run: true,
            keep_misplaced: true,
            rm_zero_size: true,
            force: true,
            timeout: None,
        };
        let r = start_request(Some("b"), &all);
        assert_eq!(r.method, "PUT");
        assert_eq!(r.path, "/v1/cluster?provider=ais&force=true");
        let v = body(&r);
        assert_eq!(v["action"], "start");
        assert_eq!(v["value"]["kind"], "cleanup-store");
        assert_eq!(v["value"]["bck"], json!({"name": "b", "provider": "ais"}));
        assert_eq!(v["value"]["flags"], json!(1 | 8 | (1 << 16)));
        assert_eq!(v["value"]["Force"], json!(true));
        let r = start_request(None, &CleanupFlags::default());
        assert_eq!(r.path, "/v1/cluster");
        let v = body(&r);
        assert_eq!(v["value"], json!({"kind": "cleanup-store", "flags": 0}));
    }

    #[test]
    fn status_and_stats_replies() {
        // Goal: the IC status ends on end_time or is_idle; the snap gives items and totals.
        assert!(!status_ended(
            &json!({"kind": "cleanup-store", "uuid": "x", "end_time": 0, "aborted": false})
        ));
        assert!(status_ended(&json!({"end_time": 1700000000000000000i64})));
        assert!(status_ended(&json!({"end_time": 0, "is_idle": true})));
        let reply = json!({"t1": [
            {"id": "other", "aisle": {"removed": "9"}},
            {"id": "jobid1234", "err": "", "aborted": false, "aisle": {
                "items": ["old-work /mp1/@ais/b/%wk/put.1", "zero-size /mp2/@ais/b/%ob/z"],
                "items-dropped": "0", "removed": "2", "removed-bytes": "10",
                "visited": "40", "errors": "0"}}
        ]});
        let o = parse_outcome(reply.to_string().as_bytes(), "jobid1234").unwrap();
        assert_eq!(o.items.len(), 2);
        assert_eq!((o.removed, o.removed_bytes, o.visited), (2, 10, 40));
        let mut out = Vec::new();
        print_outcome(&o, true, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("would remove old-work /mp1/@ais/b/%wk/put.1\n"));
        assert!(text.contains("would remove: 2 files, 10 bytes"));
        assert!(parse_outcome(reply.to_string().as_bytes(), "nosuch").is_err());
    }
}
