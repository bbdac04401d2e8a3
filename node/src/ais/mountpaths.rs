//! The node's mountpaths over AIS's API: `GET /v1/daemon?what=mountpaths` (`available`,
//! `waiting_dd`, `disabled`) and the mountpath actions on `/v1/daemon/mountpaths` (also as
//! `/v1/reverse/daemon/mountpaths`, this node being its own proxy): attach (`PUT attach-mp`),
//! enable/disable/rescan (`POST enable-mp|disable-mp|rescan-mp`), detach (`DELETE detach-mp`),
//! with `?dntres=true` to skip the resilver. The body is `{"action":..,"value":"<path>"}`.
//! A change that moves placement starts a resilver; detach and disable finish after it.

use std::path::PathBuf;

use engine::io as rio;
use engine::mountpath::MountpathSet;
use engine::store::{FshcVerdict, MpChange, StoreError};
use engine::vmd::state_word;
use net::head::Method;
use serde_json::json;

use super::{reply, Req};
use crate::http::Conn;

/// The `what=mountpaths` answer: AIS's lists plus each mountpath's state, owner core and
/// capacity (as last read), and the node's watermarks and capacity state.
pub fn list_json(
    set: &MountpathSet,
    owners: &[usize],
    cores: usize,
    cap: &engine::store::Capacity,
) -> serde_json::Value {
    let paths = |f: &dyn Fn(&engine::mountpath::Mountpath) -> bool| -> Vec<String> {
        set.iter()
            .filter(|m| f(m))
            .map(|m| m.path.to_string_lossy().to_string())
            .collect()
    };
    use engine::mountpath::MpState::*;
    let available = paths(&|m| m.state == Enabled);
    let waiting_dd = paths(&|m| matches!(m.state, Detaching | Disabling));
    let disabled = paths(&|m| matches!(m.state, Disabled | Faulty));
    let owner_core: serde_json::Map<String, serde_json::Value> = set
        .iter()
        .map(|m| {
            (
                m.path.to_string_lossy().to_string(),
                json!(owners.get(m.id.index()).copied().unwrap_or(0)),
            )
        })
        .collect();
    let states: serde_json::Map<String, serde_json::Value> = set
        .iter()
        .map(|m| {
            (
                m.path.to_string_lossy().to_string(),
                json!(state_word(m.state)),
            )
        })
        .collect();
    let capacity: serde_json::Map<String, serde_json::Value> = cap
        .mountpaths
        .iter()
        .map(|m| {
            (
                m.path.to_string_lossy().to_string(),
                json!({"total": m.total, "avail": m.avail, "used_pct": m.used_pct}),
            )
        })
        .collect();
    json!({
        "available": available,
        "waiting_dd": waiting_dd,
        "disabled": disabled,
        "state": states,
        "owner_core": owner_core,
        "cores": cores,
        "capacity": capacity,
        "space": {
            "lowwm": cap.conf.low_wm,
            "highwm": cap.conf.high_wm,
            "out_of_space": cap.conf.oos,
            "pct_max": cap.pct_max,
            "state": cap.state,
        },
    })
}

/// Whether `path` is the mountpath actions' path.
pub fn is_mountpaths_path(path: &str) -> bool {
    matches!(
        path,
        "/v1/daemon/mountpaths" | "/v1/reverse/daemon/mountpaths"
    )
}

/// A mountpath action.
pub async fn handle(conn: &mut Conn, req: &Req<'_>) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return super::bucket::body_error(conn, req, e).await,
    };
    let msg = match super::parse_action(&body) {
        Err(m) => return reply::error(conn, req.head, 400, &m, true).await,
        Ok(None) => {
            let m = "mountpath request: missing action (attach-mp, enable-mp, disable-mp, \
                     detach-mp, rescan-mp)";
            return reply::error(conn, req.head, 400, m, true).await;
        }
        Ok(Some(m)) => m,
    };
    let want = match msg.action.as_str() {
        "attach-mp" => Method::Put,
        "enable-mp" | "disable-mp" | "rescan-mp" | "fshc-mp" => Method::Post,
        "detach-mp" => Method::Delete,
        a => {
            let m = format!("invalid mountpath action {a:?}");
            return reply::error(conn, req.head, 400, &m, true).await;
        }
    };
    if req.head.method != want {
        let m = format!(
            "mountpath action {:?} takes {want:?}, not {}",
            msg.action, req.head.method_str
        );
        return reply::error(conn, req.head, 405, &m, true).await;
    }
    let path = match msg.value.as_str() {
        Some(p) if !p.trim().is_empty() => PathBuf::from(p.trim()),
        _ => {
            let m = format!("{}: the value must be the mountpath (a string)", msg.action);
            return reply::error(conn, req.head, 400, &m, true).await;
        }
    };
    if !path.is_absolute() {
        let m = format!(
            "{}: mountpath {} is not an absolute path",
            msg.action,
            path.display()
        );
        return reply::error(conn, req.head, 400, &m, true).await;
    }
    if msg.action == "fshc-mp" {
        // The health check, now: its verdict in the reply; a faulted mountpath is taken out.
        let store = conn.core.store.clone();
        let res = rio::spawn_blocking(move || store.fshc_now(&path)).await;
        return match res {
            Ok(v) => {
                let (word, why) = match &v {
                    FshcVerdict::Healthy => ("healthy", ""),
                    FshcVerdict::Degraded(w) => ("degraded", w.as_str()),
                    FshcVerdict::Faulted(w) => ("faulted", w.as_str()),
                };
                let body = json!({ "verdict": word, "reason": why }).to_string();
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
            Err(e) => reply::store_error(conn, req.head, &e).await,
        };
    }
    let dont_resilver = req.q("dntres").is_some_and(|v| v == "true");
    let resilver = !dont_resilver;
    let store = conn.core.store.clone();
    let action = msg.action.clone();
    let res: Result<MpChange, StoreError> = rio::spawn_blocking(move || {
        let r = match action.as_str() {
            "attach-mp" => store.attach_mountpath(&path),
            "enable-mp" => store.enable_mountpath(&path),
            "disable-mp" => store.disable_mountpath(&path, resilver),
            "detach-mp" => store.detach_mountpath(&path, resilver),
            _ => store.rescan_mountpath(&path),
        }?;
        if r == MpChange::NeedsResilver && resilver {
            let x = store.resilver_and_settle(&format!("{action} {}", path.display()));
            tracing::info!(job = %x.id, "{action} {}: resilver started", path.display());
        }
        Ok(r)
    })
    .await;
    match res {
        Ok(_) => reply::ok(conn, req.head, 200, None, &[], b"").await,
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}
