//! Jobs (AIS xactions): `aisle start resilver|make-n-copies`, `aisle show job`, `aisle stop
//! job`, `aisle wait job`. Requests go to `/v1/cluster` as AIS's own CLI and SDK send them
//! (`start`/`stop` actions, `what=qryxstats|status` queries); the replies are AIS's `core.Snap`
//! and `nl.Status` JSON (with aisle's extra counters when the node is an aisle node).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::Request;
use crate::session::{Payload, Session};
use crate::size;

/// Job kinds (and AIS display names) an argument is taken as, rather than as a job id.
const KINDS: &[&str] = &[
    "resilver",
    "make-n-copies",
    "mirror",
    "cleanup-store",
    "cleanup",
    "rebalance",
    "lru",
    "copy-bck",
    "rechunk",
    "blob-download",
    "prefetch-listrange",
    "summary",
    "list",
];

/// How often a wait or a progress bar polls the node.
const POLL: Duration = Duration::from_millis(200);

/// Whether `arg` names a job kind (else it is a job id).
pub fn is_kind(arg: &str) -> bool {
    KINDS.contains(&arg)
}

fn cluster(method: &'static str, query: &str, body: Value) -> Request {
    let path = if query.is_empty() {
        "/v1/cluster".to_owned()
    } else {
        format!("/v1/cluster?{query}")
    };
    Request {
        method,
        path,
        headers: vec![("Content-Type", "application/json".to_owned())],
        json: Some(body.to_string()),
    }
}

fn bck(bucket: Option<&str>) -> Value {
    match bucket {
        Some(b) => json!({"name": b, "provider": "ais", "namespace": {"uuid": "", "name": ""}}),
        None => Value::Null,
    }
}

/// `PUT /v1/cluster` start: AIS's `ArgsMsg` (Go field names) with aisle's `copies`.
pub fn start_request(kind: &str, bucket: Option<&str>, copies: Option<u32>) -> Request {
    start_request_with(kind, bucket, copies, 0, false)
}

/// `start_request` with `ArgsMsg.Flags` (AIS's `FlagZeroSize` = 1, `FlagKeepMisplaced` = 8;
/// aisle's dry run = 1 << 16) and `Force`, as space cleanup sends them.
pub fn start_request_with(
    kind: &str,
    bucket: Option<&str>,
    copies: Option<u32>,
    flags: u32,
    force: bool,
) -> Request {
    let mut args = json!({"ID": "", "Kind": kind, "DaemonID": "", "Bck": bck(bucket)});
    if let Some(n) = copies {
        args["copies"] = json!(n);
    }
    if flags != 0 {
        args["flags"] = json!(flags);
    }
    if force {
        args["Force"] = json!(true);
    }
    cluster(
        "PUT",
        "",
        json!({"action": "start", "name": "", "value": args}),
    )
}

/// `PUT /v1/cluster` stop, by id or by kind.
pub fn stop_request(id_or_kind: &str) -> Request {
    let args = if is_kind(id_or_kind) {
        json!({"ID": "", "Kind": id_or_kind})
    } else {
        json!({"ID": id_or_kind, "Kind": ""})
    };
    cluster(
        "PUT",
        "",
        json!({"action": "stop", "name": "", "value": args}),
    )
}

/// `GET /v1/cluster?what=qryxstats`: AIS's `QueryMsg` (by id, or kind and running-only).
pub fn query_request(id: &str, kind: &str, only_running: bool) -> Request {
    cluster(
        "GET",
        "what=qryxstats",
        json!({"id": id, "kind": kind, "show_active": only_running}),
    )
}

/// `GET /v1/cluster?what=status` of one job.
pub fn status_request(id: &str) -> Request {
    cluster("GET", "what=status", json!({"ID": id, "Kind": ""}))
}

/// AIS's `core.Snap` fields the CLI shows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Snap {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default, rename = "start-time")]
    pub start_time: String,
    #[serde(default, rename = "end-time")]
    pub end_time: String,
    #[serde(default)]
    pub bck: Bck,
    #[serde(default)]
    pub stats: Stats,
    #[serde(default)]
    pub aborted: bool,
    #[serde(default, rename = "abort-err")]
    pub abort_err: String,
    #[serde(default)]
    pub err: String,
    /// aisle's extra object (absent from AIS nodes).
    #[serde(default)]
    pub aisle: Option<Value>,
}

/// A bucket in a snapshot.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Bck {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub provider: String,
}

/// The counters of a snapshot (int64 sent as strings).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Stats {
    #[serde(default, rename = "loc-objs")]
    pub objs: String,
    #[serde(default, rename = "loc-bytes")]
    pub bytes: String,
}

/// Go's zero time: a running job's end.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Snap {
    /// Whether the job has ended (an end time, or aborted).
    pub fn ended(&self) -> bool {
        !self.end_time.is_empty() && self.end_time != ZERO_TIME
    }

    /// running, finished, aborted (aisle's own word when the node gives one).
    pub fn state(&self) -> String {
        if let Some(s) = self
            .aisle
            .as_ref()
            .and_then(|a| a.get("state"))
            .and_then(Value::as_str)
        {
            return s.to_owned();
        }
        if self.aborted {
            "aborted".into()
        } else if self.ended() {
            "finished".into()
        } else {
            "running".into()
        }
    }

    fn objs(&self) -> u64 {
        self.stats.objs.parse().unwrap_or(0)
    }

    fn bytes(&self) -> u64 {
        self.stats.bytes.parse().unwrap_or(0)
    }
}

/// The snapshots of a `qryxstats` reply (`{"<node>":[Snap...]}`), all nodes, by start time.
pub fn parse_snaps(body: &[u8]) -> anyhow::Result<Vec<Snap>> {
    let by_node: std::collections::BTreeMap<String, Option<Vec<Snap>>> =
        serde_json::from_slice(body).context("decode the job snapshots")?;
    let mut all: Vec<Snap> = by_node.into_values().flatten().flatten().collect();
    all.sort_by(|a, b| a.start_time.cmp(&b.start_time).then(a.id.cmp(&b.id)));
    Ok(all)
}

/// AIS's `nl.Status`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub uuid: String,
    #[serde(default)]
    pub err: String,
    #[serde(default)]
    pub end_time: i64,
    #[serde(default)]
    pub aborted: bool,
}

/// `15:04:05` of an RFC 3339 time (`-` for the zero time).
fn clock(t: &str) -> &str {
    if t.is_empty() || t == ZERO_TIME {
        return "-";
    }
    t.get(11..19).unwrap_or(t)
}

/// The job table: a header and one row per snapshot.
pub fn table(snaps: &[Snap]) -> String {
    let rows: Vec<[String; 8]> = snaps
        .iter()
        .map(|s| {
            let bucket = if s.bck.name.is_empty() {
                "-".to_owned()
            } else {
                let p = if s.bck.provider.is_empty() {
                    "ais"
                } else {
                    &s.bck.provider
                };
                format!("{p}://{}", s.bck.name)
            };
            [
                s.id.clone(),
                s.kind.clone(),
                bucket,
                s.objs().to_string(),
                size::format(s.bytes()),
                clock(&s.start_time).to_owned(),
                clock(&s.end_time).to_owned(),
                s.state(),
            ]
        })
        .collect();
    let head = [
        "ID", "KIND", "BUCKET", "OBJECTS", "BYTES", "START", "END", "STATE",
    ];
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(head.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    // Errors follow the table, one line per failed or aborted job.
    for s in snaps {
        if !s.err.is_empty() {
            out.push_str(&format!("{}: error: {}\n", s.id, s.err));
        } else if s.aborted && !s.abort_err.is_empty() {
            out.push_str(&format!("{}: aborted: {}\n", s.id, s.abort_err));
        }
    }
    out
}

/// `--timeout`: `500ms`, `30s`, `5m`, `1h`, or plain seconds.
pub fn parse_duration(arg: &str) -> Result<Duration, String> {
    let a = arg.trim();
    let split = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
    let (num, unit) = a.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{arg:?}: expected a duration like 30s, 5m, 1h or 500ms"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("{arg:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if d.is_zero() {
        return Err(format!("{arg:?}: the timeout must be positive"));
    }
    Ok(d)
}

fn snaps(s: &mut Session, req: &Request) -> anyhow::Result<Vec<Snap>> {
    parse_snaps(&s.send(req, Payload::None)?.body_bytes()?)
}

/// One job's snapshot by id.
fn snap(s: &mut Session, id: &str) -> anyhow::Result<Snap> {
    snaps(s, &query_request(id, "", false))?
        .into_iter()
        .find(|x| x.id == id)
        .with_context(|| format!("job {id} not found"))
}

/// Polls the job's status until it ends (or `timeout` passes); errors if it failed or was
/// aborted. Shows a live bar while waiting when `show`.
fn wait(s: &mut Session, id: &str, timeout: Option<Duration>, show: bool) -> anyhow::Result<Snap> {
    let bar = show.then(|| live_bar(id));
    let started = Instant::now();
    let result = loop {
        let body = s.send(&status_request(id), Payload::None)?.body_bytes()?;
        let st: Status = serde_json::from_slice(&body).context("decode the job status")?;
        if let Some(bar) = &bar {
            if let Ok(x) = snap(s, id) {
                bar.set_message(progress_text(&x));
            }
        }
        if st.end_time > 0 {
            break Ok(st);
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            break Err(anyhow::anyhow!(
                "timed out after {:?} waiting for job {id} (still running)",
                timeout.unwrap_or_default()
            ));
        }
        std::thread::sleep(POLL);
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let st = result?;
    let x = snap(s, id)?;
    if st.aborted {
        let why = if st.err.is_empty() {
            "aborted".to_owned()
        } else {
            st.err.clone()
        };
        bail!("job {} ({}) was aborted: {why}", st.uuid, st.kind);
    }
    if !st.err.is_empty() {
        bail!("job {} ({}) failed: {}", st.uuid, st.kind, st.err);
    }
    Ok(x)
}

fn live_bar(id: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_style(style)
        .with_prefix(id.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn progress_text(x: &Snap) -> String {
    let mut t = format!(
        "{}: {} objects, {}",
        x.kind,
        x.objs(),
        size::format(x.bytes())
    );
    if let Some(v) = x
        .aisle
        .as_ref()
        .and_then(|a| a.get("visited"))
        .and_then(Value::as_str)
    {
        t.push_str(&format!(", {v} visited"));
    }
    t
}

fn done_line(x: &Snap) -> String {
    format!(
        "{}[{}] finished: {} objects, {}",
        x.kind,
        x.id,
        x.objs(),
        size::format(x.bytes())
    )
}

/// `aisle start KIND ...`: sends `req` (a `start_request*`), prints the job id; with `wait`,
/// waits and prints how it ended.
pub fn start(
    s: &mut Session,
    req: &Request,
    wait_for: Option<Option<Duration>>,
    show: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let id = s.send(req, Payload::None)?.body_bytes()?;
    let id = String::from_utf8_lossy(&id).trim().to_owned();
    if id.is_empty() {
        bail!("the node started the job but answered no job id");
    }
    writeln!(out, "{id}")?;
    if let Some(timeout) = wait_for {
        out.flush()?;
        let x = wait(s, &id, timeout, show)?;
        writeln!(out, "{}", done_line(&x))?;
    }
    Ok(())
}

/// `aisle show job [KIND|ID] [--all] [--progress]`.
pub fn show(
    s: &mut Session,
    which: Option<&str>,
    all: bool,
    follow: bool,
    show: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let req = match which {
        Some(k) if is_kind(k) => query_request("", k, !all),
        Some(id) => query_request(id, "", false),
        None => query_request("", "", !all),
    };
    let mut list = snaps(s, &req)?;
    if follow {
        let running: Vec<&Snap> = list.iter().filter(|x| !x.ended() && !x.aborted).collect();
        match running.as_slice() {
            [] => {}
            [one] => {
                let id = one.id.clone();
                // The wait's verdict is the table's STATE; a failure still shows the table.
                let _ = wait(s, &id, None, show);
                list = snaps(s, &req)?;
                if which.is_none() || which.is_some_and(is_kind) {
                    // A finished job drops out of the running-only list: show it anyway.
                    if !list.iter().any(|x| x.id == id) {
                        list.push(snap(s, &id)?);
                    }
                }
            }
            many => bail!(
                "{} jobs are running ({}); name one to follow its progress",
                many.len(),
                many.iter()
                    .map(|x| format!("{}[{}]", x.kind, x.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    if list.is_empty() {
        writeln!(
            out,
            "{}",
            if all {
                "no jobs"
            } else {
                "no running jobs (--all to show finished ones)"
            }
        )?;
        return Ok(());
    }
    write!(out, "{}", table(&list))?;
    // One job asked for by id: what it listed (space cleanup: the files it removed).
    if let ([x], Some(_)) = (list.as_slice(), which.filter(|w| !is_kind(w))) {
        let items = x.aisle.as_ref().and_then(|a| a.get("items"));
        if let Some(Value::Array(items)) = items {
            for i in items.iter().filter_map(Value::as_str) {
                writeln!(out, "{i}")?;
            }
        }
        let dropped = x
            .aisle
            .as_ref()
            .and_then(|a| a.get("items-dropped"))
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<u64>().ok())
            .unwrap_or(0);
        if dropped > 0 {
            writeln!(out, "... and {dropped} more")?;
        }
    }
    Ok(())
}

/// `aisle stop job ID|KIND`.
pub fn stop(s: &mut Session, which: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    crate::session::drain(s.send(&stop_request(which), Payload::None)?);
    if is_kind(which) {
        writeln!(out, "stopped running {which} jobs")?;
    } else {
        writeln!(out, "stopped {which}")?;
    }
    Ok(())
}

/// `aisle wait job ID [--timeout DUR]`.
pub fn wait_job(
    s: &mut Session,
    id: &str,
    timeout: Option<Duration>,
    show: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if is_kind(id) {
        bail!("{id:?} is a job kind; wait takes a job id (see `aisle show job {id}`)");
    }
    let x = wait(s, id, timeout, show)?;
    writeln!(out, "{}", done_line(&x))?;
    Ok(())
}
