//! Node endpoints: `/v1/health`, `/v1/daemon?what=smap|snode|mountpaths|bmd` and the TLS
//! certificate reload (`load-x509`). The Smap
//! presents this node as both the (primary) proxy and the only target, so AIS clients that
//! discover targets (the Python SDK's `cluster().get_info()`, `is_ready()`, direct reads) work.

use serde_json::json;

use super::reply;
use super::Req;
use crate::ctx::NodeInfo;
use crate::http::Conn;

pub async fn health(conn: &mut Conn, req: &Req<'_>) -> bool {
    let up = conn.core.node.started.elapsed().as_nanos().to_string();
    let headers: [(&str, &[u8]); 2] = [
        ("Ais-Cluster-Uptime", up.as_bytes()),
        ("Ais-Node-Uptime", up.as_bytes()),
    ];
    reply::ok(conn, req.head, 200, None, &headers, b"").await
}

fn snode(node: &NodeInfo, daemon_type: &str) -> serde_json::Value {
    let net = json!({
        "node_ip_addr": node.host,
        "daemon_port": node.port.to_string(),
        "direct_url": node.url,
    });
    json!({
        "public_net": net,
        "intra_control_net": net,
        "intra_data_net": net,
        "daemon_type": daemon_type,
        "daemon_id": node.daemon_id,
        "flags": 0,
        "id_digest": engine::hrw::digest(node.daemon_id.as_bytes()),
    })
}

/// `/metrics`: every core's counters in Prometheus text format (read without stopping them).
pub async fn metrics(conn: &mut Conn, req: &Req<'_>) -> bool {
    let node = conn.core.node.clone();
    let info = crate::stats::ScrapeInfo {
        fshc: conn.core.store.fshc_counts(),
        capacity: conn.core.store.capacity(),
        node_id: &node.daemon_id,
        uptime_ns: node.started.elapsed().as_nanos() as u64,
        mountpaths: conn
            .core
            .store
            .mountpaths()
            .iter()
            .map(|m| (m.id.index(), m.path.to_string_lossy().to_string()))
            .collect(),
        direct_refused: conn
            .core
            .store
            .mountpaths()
            .iter()
            .map(|m| conn.core.store.direct_refused(m.id))
            .collect(),
    };
    let bmd = conn.core.store.bmd();
    let body = crate::stats::render(&node.stats, &bmd, &info);
    reply::ok(
        conn,
        req.head,
        200,
        Some("text/plain; version=0.0.4"),
        &[],
        body.as_bytes(),
    )
    .await
}

pub fn smap(node: &NodeInfo) -> serde_json::Value {
    let id = node.daemon_id.clone();
    json!({
        "pmap": { id.clone(): snode(node, "proxy") },
        "tmap": { id.clone(): snode(node, "target") },
        "proxy_si": snode(node, "proxy"),
        "uuid": super::cluster_uuid(&id),
        "creation_time": super::time::http_date(node.started_unix_ns),
        "version": "1",
    })
}

/// `PUT /v1/cluster` or `/v1/daemon` (`path`): AIS's cluster and node actions. Job start and
/// stop on `/v1/cluster` go to `cluster`; other known ones are not implemented yet (501);
/// others are bad input (400).
async fn admin_action(conn: &mut Conn, req: &Req<'_>, path: &str) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return super::bucket::body_error(conn, req, e).await,
    };
    let (status, msg) = match super::parse_action(&body) {
        Ok(Some(m)) if path == "/v1/cluster" && matches!(m.action.as_str(), "start" | "stop") => {
            return super::cluster::action(conn, req, m).await;
        }
        Err(m) => (400, m),
        Ok(None) => (400, format!("{path}: missing action")),
        Ok(Some(m)) if super::ADMIN_ACTIONS_NOT_YET.contains(&m.action.as_str()) => (
            501,
            format!(
                "{path}: action {:?} is not implemented by this node yet",
                m.action
            ),
        ),
        Ok(Some(m)) => (400, format!("{path}: invalid action {:?}", m.action)),
    };
    reply::error(conn, req.head, status, &msg, true).await
}

pub async fn daemon(conn: &mut Conn, req: &Req<'_>) -> bool {
    let path = if req.head.path.starts_with("/v1/cluster") {
        "/v1/cluster"
    } else {
        "/v1/daemon"
    };
    match req.head.method {
        net::head::Method::Get => {}
        net::head::Method::Put => return admin_action(conn, req, path).await,
        _ => {
            let msg = format!(
                "method {} not allowed on {path} (GET and PUT are)",
                req.head.method_str
            );
            return reply::error(conn, req.head, 405, &msg, true).await;
        }
    }
    let node = conn.core.node.clone();
    let what = req.q("what").unwrap_or_default().to_string();
    let body = match what.as_str() {
        "smap" => smap(&node),
        "snode" => snode(&node, "target"),
        "mountpaths" => super::mountpaths::list_json(
            &conn.core.store.mountpaths(),
            &conn.core.owners(),
            node.cores,
            &conn.core.store.capacity(),
        ),
        "bmd" => serde_json::to_value(&*conn.core.store.bmd()).unwrap_or(json!({})),
        _ => {
            let m = format!("invalid what={what:?} (supported: smap, snode, mountpaths, bmd)");
            return reply::error(conn, req.head, 400, &m, true).await;
        }
    };
    let body = body.to_string();
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

/// AIS's path segment of the certificate reload (`apc.LoadX509`).
pub const LOAD_X509: &str = "load-x509";

/// `PUT /v1/daemon/load-x509` and `PUT /v1/cluster/load-x509[/<node id>]` (AIS's
/// `api.LoadX509Cert`): reloads the TLS certificate and key from their files. Without HTTPS:
/// 404 on the node path, 400 on the cluster path (as AIS); a bad pair: 400, the certificate in
/// use stays.
pub async fn load_x509(
    conn: &mut Conn,
    req: &Req<'_>,
    cluster: bool,
    node_id: Option<&str>,
) -> bool {
    if req.head.method != net::head::Method::Put {
        let msg = format!(
            "method {} not allowed on {} (PUT is)",
            req.head.method_str, req.head.path
        );
        return reply::error(conn, req.head, 405, &msg, true).await;
    }
    let node = conn.core.node.clone();
    let Some(tls) = node.tls.clone() else {
        return if cluster {
            let msg = "invalid request to reload X509 certs (running plain HTTP)";
            reply::error(conn, req.head, 400, msg, true).await
        } else {
            let msg = "no TLS certificate loaders configured";
            reply::error(conn, req.head, 404, msg, true).await
        };
    };
    if let Some(id) = node_id.filter(|id| *id != node.daemon_id) {
        let msg = format!(
            "X.509 load failure: node {id:?} does not exist (this node is {:?})",
            node.daemon_id
        );
        return reply::error(conn, req.head, 404, &msg, true).await;
    }
    match engine::io::spawn_blocking(move || tls.reload("load-x509 request")).await {
        Ok(()) => reply::ok(conn, req.head, 200, None, &[], b"").await,
        Err(e) => reply::error(conn, req.head, 400, &e, true).await,
    }
}
