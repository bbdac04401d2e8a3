//! `aisle storage mountpath attach|detach|enable|disable|rescan|show`: the node's mountpaths
//! over AIS's API (`/v1/daemon/mountpaths` actions, `GET /v1/daemon?what=mountpaths`).

use std::io::Write;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use crate::api::Request;
use crate::session::{drain, Payload, Session};

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Manage the node's mountpaths (disks).
    #[command(subcommand)]
    Mountpath(MountpathCommand),
}

#[derive(Debug, Subcommand)]
pub enum MountpathCommand {
    /// Attach a directory (an existing, writable directory on a filesystem with user xattrs)
    /// as a new mountpath; a resilver then moves the objects HRW now places on it.
    Attach {
        path: String,
        /// Do not resilver (batching several changes: resilver once, after the last).
        #[arg(long)]
        no_resilver: bool,
    },
    /// Detach a mountpath: out of placement now; removed once a resilver moved its objects
    /// off (at once with --no-resilver, its objects left unread).
    Detach {
        path: String,
        #[arg(long)]
        no_resilver: bool,
    },
    /// Enable a disabled mountpath (a resilver moves objects back onto it).
    Enable { path: String },
    /// Disable a mountpath: as detach, but it stays listed (disabled).
    Disable {
        path: String,
        #[arg(long)]
        no_resilver: bool,
    },
    /// Check an attached mountpath again (directory, writable, user xattrs).
    Rescan { path: String },
    /// Show the mountpaths: state and owner core of each.
    Show,
}

/// The request for a mountpath action.
pub fn action_request(action: &str, path: &str, no_resilver: bool) -> Request {
    let method = match action {
        "attach-mp" => "PUT",
        "detach-mp" => "DELETE",
        _ => "POST",
    };
    let mut p = "/v1/daemon/mountpaths".to_string();
    if no_resilver {
        p.push_str("?dntres=true");
    }
    Request {
        method,
        path: p,
        headers: vec![("Content-Type", "application/json".to_owned())],
        json: Some(json!({"action": action, "value": path}).to_string()),
    }
}

/// Runs a storage command.
pub fn run(s: &mut Session, c: StorageCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let StorageCommand::Mountpath(c) = c;
    let (action, path, no_res) = match c {
        MountpathCommand::Attach { path, no_resilver } => ("attach-mp", path, no_resilver),
        MountpathCommand::Detach { path, no_resilver } => ("detach-mp", path, no_resilver),
        MountpathCommand::Enable { path } => ("enable-mp", path, false),
        MountpathCommand::Disable { path, no_resilver } => ("disable-mp", path, no_resilver),
        MountpathCommand::Rescan { path } => ("rescan-mp", path, false),
        MountpathCommand::Show => return show(s, out),
    };
    // The node resolves the path on its own filesystem: send it absolute.
    let abs = std::path::absolute(&path).with_context(|| format!("path {path:?}"))?;
    let abs = abs.to_string_lossy().to_string();
    drain(s.send(&action_request(action, &abs, no_res), Payload::None)?);
    let done = match action {
        "attach-mp" => "attached",
        "detach-mp" if no_res => "detached",
        "detach-mp" => "detaching (resilver started; it is removed when that finishes)",
        "enable-mp" => "enabled",
        "disable-mp" if no_res => "disabled",
        "disable-mp" => "disabling (resilver started; it is disabled when that finishes)",
        _ => "checked",
    };
    writeln!(out, "{abs}: {done}")?;
    Ok(())
}

fn show(s: &mut Session, out: &mut dyn Write) -> anyhow::Result<()> {
    let req = Request {
        method: "GET",
        path: "/v1/daemon?what=mountpaths".into(),
        headers: Vec::new(),
        json: None,
    };
    let body = s.send(&req, Payload::None)?.body_bytes()?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).context("decode the mountpaths reply")?;
    writeln!(out, "{:<48} {:<10} CORE", "MOUNTPATH", "STATE")?;
    let states = v["state"].as_object();
    for key in ["available", "waiting_dd", "disabled"] {
        for p in v[key].as_array().into_iter().flatten() {
            let p = p.as_str().unwrap_or_default();
            let state = states
                .and_then(|m| m.get(p))
                .and_then(|s| s.as_str())
                .unwrap_or(match key {
                    "available" => "enabled",
                    "waiting_dd" => "detaching",
                    _ => "disabled",
                });
            let core = v["owner_core"][p].as_u64().map(|c| c.to_string());
            writeln!(out, "{p:<48} {state:<10} {}", core.unwrap_or_default())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_use_ais_methods_and_body() {
        let r = action_request("attach-mp", "/d/mp5", false);
        assert_eq!(
            (r.method, r.path.as_str()),
            ("PUT", "/v1/daemon/mountpaths")
        );
        let body: serde_json::Value =
            serde_json::from_str(r.json.as_deref().expect("json")).expect("json");
        assert_eq!(body, json!({"action": "attach-mp", "value": "/d/mp5"}));
        let r = action_request("detach-mp", "/d/mp1", true);
        assert_eq!(
            (r.method, r.path.as_str()),
            ("DELETE", "/v1/daemon/mountpaths?dntres=true")
        );
        assert_eq!(action_request("disable-mp", "/x", false).method, "POST");
        assert_eq!(action_request("enable-mp", "/x", false).method, "POST");
    }
}
