//! Token access control over raw HTTP: a node started with `--auth-secret-file` (HS256) or
//! `--auth-pubkey` (RS256, key made by `openssl` at test time) refuses requests without a
//! valid token (401: none, bad signature, expired, not yet valid, `alg: none`, malformed) and
//! requests whose token lacks the permission (403: read-only bucket token PUTs, a token for
//! one bucket reads another, non-admin mountpath attach / job start / bucket create and
//! destroy); admin tokens may do all; health and metrics stay open; with auth off nothing
//! changes. Tokens are minted here in AIS AuthN's claim format.
mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "aisle-auth-test-secret";
// AIS access bits (api/apc/access.go).
const ACE_GET: u64 = 1;
const ACCESS_RO: u64 = 1 | 2 | (1 << 8) | (1 << 9);
const ACCESS_RW: u64 = ACCESS_RO | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5);
const CLUSTER_RO: u64 = (1 << 12) | (1 << 13);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs(claims: &Value) -> String {
    hs_with(claims, SECRET.as_bytes())
}

fn hs_with(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// AuthN's claims: `sub`, `exp`, `admin`, cluster ACLs, bucket ACLs (`perm` as a string).
fn claims(sub: &str, admin: bool, clusters: Value, buckets: Value) -> Value {
    json!({"sub": sub, "exp": now() + 600, "admin": admin, "clusters": clusters, "buckets": buckets})
}

fn admin_claims() -> Value {
    claims("admin", true, json!([]), json!([]))
}

fn bucket_acl(cluster: &str, bucket: &str, perm: u64) -> Value {
    json!({"bck": {"name": bucket, "provider": "ais", "namespace": {"uuid": cluster, "name": ""}},
           "perm": perm.to_string()})
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn call(node: &Node, token: Option<&str>, method: &str, path: &str, body: &[u8]) -> Resp {
    let auth = token.map(bearer);
    let mut h: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        h.push(("Authorization", a));
    }
    node.req(method, path, &h, body)
}

fn assert_ais_error(r: &Resp, status: u16, needle: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    let v = r.json();
    assert_eq!(v["status"], json!(status), "{what}: AIS error body {v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{what}: {msg:?} lacks {needle:?}");
}

fn secret_file(dir: &Path) -> PathBuf {
    let p = dir.join("authn.secret");
    std::fs::write(&p, format!("{SECRET}\n")).unwrap();
    p
}

fn start_hs_node(mountpaths: usize) -> Node {
    let dir = tempdir("auth");
    let mps: Vec<PathBuf> = (1..=mountpaths)
        .map(|i| dir.join(format!("mp{i}")))
        .collect();
    for m in &mps {
        std::fs::create_dir_all(m).unwrap();
    }
    let secret = secret_file(&dir);
    let s = secret.to_str().unwrap().to_string();
    Node::start_on_with_args(dir, mps, free_port(), &["--auth-secret-file", &s])
}

/// The cluster UUID AuthN puts in tokens (the Smap's `uuid`).
fn cluster_uuid(node: &Node) -> String {
    let r = call(
        node,
        Some(&hs(&admin_claims())),
        "GET",
        "/v1/daemon?what=smap",
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["uuid"].as_str().unwrap().to_string()
}

fn create(node: &Node, token: Option<&str>, b: &str) -> Resp {
    call(
        node,
        token,
        "POST",
        &format!("/v1/buckets/{b}"),
        br#"{"action":"create-bck","name":"","value":null}"#,
    )
}

#[test]
fn tokens_are_required_and_checked() {
    let node = start_hs_node(2);
    let admin = hs(&admin_claims());

    // Open endpoints.
    assert_eq!(node.req("GET", "/v1/health", &[], b"").status, 200);
    assert_eq!(node.req("GET", "/metrics", &[], b"").status, 200);

    // No token, and tokens that must not pass.
    assert_ais_error(
        &call(&node, None, "GET", "/v1/objects/a/x", b""),
        401,
        "token required",
        "no token",
    );
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let bad: Vec<(&str, String)> = vec![
        ("bad signature", hs_with(&admin_claims(), b"not-the-secret")),
        (
            "expired",
            hs(&json!({"sub": "admin", "admin": true, "exp": now() - 120})),
        ),
        (
            "not yet valid",
            hs(&json!({"sub": "admin", "admin": true, "exp": now() + 600, "nbf": now() + 300})),
        ),
        ("no exp", hs(&json!({"sub": "admin", "admin": true}))),
        ("no sub", hs(&json!({"admin": true, "exp": now() + 600}))),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#),
                b64(&admin_claims().to_string())
            ),
        ),
        (
            "alg HS512",
            encode(
                &Header::new(Algorithm::HS512),
                &admin_claims(),
                &EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap(),
        ),
        ("malformed", "not.a.jwt".to_string()),
        ("garbage", "garbage".to_string()),
    ];
    for (what, t) in &bad {
        let r = call(&node, Some(t), "GET", "/v1/buckets", b"");
        assert_ais_error(&r, 401, "invalid token", what);
    }
    // A scheme other than Bearer is no token.
    let r = node.req(
        "GET",
        "/v1/buckets",
        &[("Authorization", &format!("Basic {admin}"))],
        b"",
    );
    assert_ais_error(&r, 401, "token required", "Basic scheme");
    // HEAD: no body, the error in Hdr-Error.
    let r = call(&node, None, "HEAD", "/v1/objects/a/x", b"");
    assert_eq!(r.status, 401);
    assert!(r
        .header("hdr-error")
        .is_some_and(|h| h.contains("token required")));

    // Admin: everything.
    let clu = cluster_uuid(&node);
    assert_eq!(create(&node, Some(&admin), "a").status, 200);
    assert_eq!(create(&node, Some(&admin), "b").status, 200);
    for b in ["a", "b"] {
        let r = call(
            &node,
            Some(&admin),
            "PUT",
            &format!("/v1/objects/{b}/x"),
            b"payload-x",
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }

    // Read-only on bucket a.
    let ro_a = hs(&claims(
        "reader",
        false,
        json!([]),
        json!([bucket_acl(&clu, "a", ACCESS_RO)]),
    ));
    let r = call(&node, Some(&ro_a), "GET", "/v1/objects/a/x", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"payload-x");
    assert_eq!(
        call(&node, Some(&ro_a), "HEAD", "/v1/objects/a/x", b"").status,
        200
    );
    let r = call(&node, Some(&ro_a), "GET", "/v1/buckets/a", b"");
    assert_eq!(r.status, 200, "list a: {}", r.text());
    let r = call(&node, Some(&ro_a), "PUT", "/v1/objects/a/y", b"nope");
    assert_ais_error(&r, 403, "insufficient permissions", "ro token PUT");
    let r = call(&node, Some(&ro_a), "DELETE", "/v1/objects/a/x", b"");
    assert_ais_error(&r, 403, "insufficient permissions", "ro token DELETE");
    let r = call(&node, Some(&ro_a), "GET", "/v1/objects/b/x", b"");
    assert_ais_error(&r, 403, "insufficient permissions", "token for a reads b");
    let r = call(&node, Some(&ro_a), "GET", "/ais/b/x", b"");
    assert_ais_error(
        &r,
        403,
        "insufficient permissions",
        "token for a reads b (easy URL)",
    );
    // Nothing was written or removed by the refused requests.
    assert_eq!(node.get("a", "y").status, 401);
    assert_eq!(
        call(&node, Some(&admin), "GET", "/v1/objects/a/y", b"").status,
        404
    );
    assert_eq!(
        call(&node, Some(&admin), "GET", "/v1/objects/a/x", b"").body,
        b"payload-x"
    );

    // A bucket ACL of another cluster does not apply here.
    let other = hs(&claims(
        "reader",
        false,
        json!([]),
        json!([bucket_acl("some-other-cluster", "a", ACCESS_RW)]),
    ));
    let r = call(&node, Some(&other), "GET", "/v1/objects/a/x", b"");
    assert_ais_error(&r, 403, "insufficient permissions", "other cluster's ACL");

    // Read-write on a: PUT and DELETE there, still nothing on b; a copy into b is refused.
    let rw_a = hs(&claims(
        "writer",
        false,
        json!([]),
        json!([bucket_acl(&clu, "a", ACCESS_RW)]),
    ));
    let r = call(&node, Some(&rw_a), "PUT", "/v1/objects/a/y", b"payload-y");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(&node, Some(&rw_a), "PUT", "/v1/objects/b/y", b"nope");
    assert_ais_error(&r, 403, "insufficient permissions", "rw a PUT b");
    let r = call(
        &node,
        Some(&rw_a),
        "PUT",
        "/v1/objects/a/y?object_to=ais/@%23/b/z",
        b"",
    );
    assert_ais_error(&r, 403, "insufficient permissions", "copy a → b");
    let r = call(&node, Some(&admin), "GET", "/v1/objects/b/z", b"");
    assert_eq!(r.status, 404, "the refused copy wrote nothing");
    let r = call(&node, Some(&rw_a), "DELETE", "/v1/objects/a/y", b"");
    assert_eq!(r.status, 200, "{}", r.text());

    // A read-only token on one bucket plus GET-only on every bucket through the default
    // cluster ACL reads b too, but lists b only through its own bits (none for b).
    let clu_get = hs(&claims(
        "cluster-reader",
        false,
        json!([{"id": "", "perm": (ACE_GET | CLUSTER_RO).to_string()}]),
        json!([bucket_acl(&clu, "a", ACCESS_RO)]),
    ));
    assert_eq!(
        call(&node, Some(&clu_get), "GET", "/v1/objects/b/x", b"").status,
        200
    );
    let r = call(&node, Some(&clu_get), "GET", "/v1/buckets/b", b"");
    assert_ais_error(&r, 403, "insufficient permissions", "list b with GET only");
    assert_eq!(
        call(&node, Some(&clu_get), "GET", "/v1/buckets", b"").status,
        200
    );
    assert_eq!(
        call(&node, Some(&clu_get), "GET", "/v1/daemon?what=smap", b"").status,
        200
    );

    // Administration: non-admin refused, admin allowed.
    let mp3 = node.dir.join("mp3");
    std::fs::create_dir_all(&mp3).unwrap();
    let attach = json!({"action": "attach-mp", "value": mp3.to_str().unwrap()}).to_string();
    for t in [&ro_a, &rw_a, &clu_get] {
        let r = call(
            &node,
            Some(t),
            "PUT",
            "/v1/daemon/mountpaths?dntres=true",
            attach.as_bytes(),
        );
        assert_ais_error(&r, 403, "insufficient permissions", "non-admin attach-mp");
        let r = call(
            &node,
            Some(t),
            "PUT",
            "/v1/cluster",
            br#"{"action":"start","value":{"kind":"resilver"}}"#,
        );
        assert_ais_error(&r, 403, "insufficient permissions", "non-admin job start");
        assert_ais_error(
            &create(&node, Some(t), "c"),
            403,
            "insufficient permissions",
            "create",
        );
        let r = call(
            &node,
            Some(t),
            "DELETE",
            "/v1/buckets/b",
            br#"{"action":"destroy-bck"}"#,
        );
        assert_ais_error(&r, 403, "insufficient permissions", "destroy");
    }
    let r = call(
        &node,
        Some(&admin),
        "GET",
        "/v1/daemon?what=mountpaths",
        b"",
    );
    assert_eq!(
        r.json()["available"].as_array().unwrap().len(),
        2,
        "no attach happened"
    );
    let r = call(
        &node,
        Some(&admin),
        "PUT",
        "/v1/daemon/mountpaths?dntres=true",
        attach.as_bytes(),
    );
    assert_eq!(r.status, 200, "admin attach-mp: {}", r.text());
    let r = call(
        &node,
        Some(&admin),
        "GET",
        "/v1/daemon?what=mountpaths",
        b"",
    );
    assert_eq!(r.json()["available"].as_array().unwrap().len(), 3);
    let r = call(
        &node,
        Some(&admin),
        "PUT",
        "/v1/cluster",
        br#"{"action":"start","value":{"kind":"resilver"}}"#,
    );
    assert_eq!(r.status, 200, "admin job start: {}", r.text());

    // Cluster ACL with create/destroy (AIS ClusterAccessRW) but not admin: may create and
    // destroy buckets, still not administer.
    let clu_rw = hs(&claims(
        "ops",
        false,
        json!([{"id": clu, "perm": ((1u64 << 14) | (1 << 15) | CLUSTER_RO).to_string()}]),
        json!([]),
    ));
    assert_eq!(create(&node, Some(&clu_rw), "c").status, 200);
    let r = call(
        &node,
        Some(&clu_rw),
        "DELETE",
        "/v1/buckets/c",
        br#"{"action":"destroy-bck"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(
        &node,
        Some(&clu_rw),
        "PUT",
        "/v1/daemon/mountpaths",
        attach.as_bytes(),
    );
    assert_ais_error(&r, 403, "insufficient permissions", "cluster-rw attach");

    // S3 carries the token too (Bearer, or X-Amz-Security-Token), with AIS's permissions;
    // no token and no S3 keys configured: refused.
    let r = node.req("GET", "/s3/a/x", &[], b"");
    assert_eq!(r.status, 403, "S3 without a token: {}", r.text());
    assert!(
        r.text().contains("<Code>AccessDenied</Code>"),
        "{}",
        r.text()
    );
    let r = node.req("GET", "/s3/a/x", &[("Authorization", &bearer(&ro_a))], b"");
    assert_eq!(r.status, 200, "S3 GET with a read token: {}", r.text());
    assert_eq!(r.body, b"payload-x");
    let r = node.req("GET", "/s3/a/x", &[("X-Amz-Security-Token", &ro_a)], b"");
    assert_eq!(
        r.status,
        200,
        "S3 GET, token in X-Amz-Security-Token: {}",
        r.text()
    );
    let r = node.req(
        "PUT",
        "/s3/a/s3y",
        &[("Authorization", &bearer(&ro_a))],
        b"no",
    );
    assert_eq!(r.status, 403, "S3 PUT with a read token: {}", r.text());
    let r = node.req("GET", "/s3/b/x", &[("Authorization", &bearer(&ro_a))], b"");
    assert_eq!(
        r.status,
        403,
        "S3 GET of b with a token for a: {}",
        r.text()
    );
    let r = node.req(
        "GET",
        "/s3/a/x",
        &[("Authorization", &bearer(&bad[0].1))],
        b"",
    );
    assert_eq!(r.status, 403, "S3 GET with a forged token: {}", r.text());
    let r = node.req(
        "PUT",
        "/s3/a/s3y",
        &[("Authorization", &bearer(&rw_a))],
        b"yes",
    );
    assert_eq!(r.status, 200, "S3 PUT with a write token: {}", r.text());

    // Refusals are counted.
    assert!(node.metric_sum("aisle_core_auth_refused_count") >= bad.len() as u64 + 2);
    assert!(node.metric_sum("aisle_core_auth_denied_count") >= 10);
}

#[test]
fn auth_off_accepts_everything_as_before() {
    let node = Node::start(1);
    node.create_bucket("a");
    assert_eq!(node.put("a", "x", b"data").status, 200);
    assert_eq!(node.get("a", "x").body, b"data");
    // A token is ignored, valid or not.
    let r = call(&node, Some("garbage"), "GET", "/v1/objects/a/x", b"");
    assert_eq!(r.status, 200);
    let r = node.req(
        "PUT",
        "/v1/cluster",
        &[],
        br#"{"action":"start","value":{"kind":"resilver"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

fn openssl(args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn rs256_tokens_are_checked_with_the_public_key() {
    let dir = tempdir("auth-rs");
    let key = dir.join("key.pem");
    let other = dir.join("other.pem");
    let public = dir.join("pub.pem");
    let (k, o, p) = (
        key.to_str().unwrap(),
        other.to_str().unwrap(),
        public.to_str().unwrap(),
    );
    if !(openssl(&["genrsa", "-out", k, "2048"])
        && openssl(&["genrsa", "-out", o, "2048"])
        && openssl(&["rsa", "-in", k, "-pubout", "-out", p]))
    {
        println!("SKIPPED: openssl cannot make an RSA key here");
        return;
    }
    let mp = dir.join("mp1");
    std::fs::create_dir_all(&mp).unwrap();
    let node = Node::start_on_with_args(dir.clone(), vec![mp], free_port(), &["--auth-pubkey", p]);
    let rs = |pem: &Path, c: &Value| {
        let der = std::fs::read(pem).unwrap();
        encode(
            &Header::new(Algorithm::RS256),
            c,
            &EncodingKey::from_rsa_pem(&der).unwrap(),
        )
        .unwrap()
    };
    let admin = rs(&key, &admin_claims());
    assert_eq!(create(&node, Some(&admin), "a").status, 200);
    let r = call(&node, Some(&admin), "PUT", "/v1/objects/a/x", b"rsa");
    assert_eq!(r.status, 200, "{}", r.text());
    let forged = rs(&other, &admin_claims());
    assert_ais_error(
        &call(&node, Some(&forged), "GET", "/v1/objects/a/x", b""),
        401,
        "invalid token",
        "RS256 by another key",
    );
    // No secret configured: HS256 tokens are not accepted (also not one "signed" with the
    // public key's PEM as an HMAC secret, the classic key-confusion attack).
    let pem = std::fs::read(&public).unwrap();
    assert_ais_error(
        &call(
            &node,
            Some(&hs_with(&admin_claims(), &pem)),
            "GET",
            "/v1/objects/a/x",
            b"",
        ),
        401,
        "invalid token",
        "HS256 with the public key as secret",
    );
    let r = call(&node, Some(&admin), "GET", "/v1/objects/a/x", b"");
    assert_eq!(r.body, b"rsa");
}

#[test]
fn bad_auth_flags_stop_the_node_with_a_message() {
    // A public key file that is no RSA PEM, and an empty secret file: the node does not start.
    let dir = tempdir("auth-flags");
    let mp = dir.join("mp1");
    std::fs::create_dir_all(&mp).unwrap();
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a key").unwrap();
    let empty = dir.join("empty.secret");
    std::fs::write(&empty, "\n").unwrap();
    for (flag, path, needle) in [
        ("--auth-pubkey", &junk, "RSA PEM"),
        ("--auth-secret-file", &empty, "empty"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_aisle-node"))
            .args([
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
                "--no-pin",
            ])
            .arg("--mountpath")
            .arg(&mp)
            .arg(flag)
            .arg(path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag}: started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{flag}: {err}");
    }
}

/// SigV4 headers of a GET (empty payload) signed with `secret` for key id `ak`.
fn sigv4_get(node: &Node, path: &str, ak: &str, secret: &str) -> Vec<(String, String)> {
    use net::sigv4;
    let date = sigv4::format_amz_date(SystemTime::now());
    let payload = "UNSIGNED-PAYLOAD";
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), format!("127.0.0.1:{}", node.port)),
        ("x-amz-content-sha256".into(), payload.into()),
        ("x-amz-date".into(), date.clone()),
    ];
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let pairs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let req = sigv4::Request {
        method: "GET",
        raw_path: path,
        raw_query: "",
        headers: &pairs,
    };
    let s = sigv4::sign_request(&req, &names, payload, ak, secret, "us-east-1", &date)
        .expect("headers present");
    headers.retain(|(n, _)| n != "host");
    headers.push(("authorization".into(), s.authorization));
    headers
}

#[test]
fn s3_with_keys_takes_a_signature_or_a_token() {
    // With token auth and S3 keys both on, an S3 request gets in by a valid SigV4 signature
    // (no token) or by a token with the permission (no signature); neither: refused.
    let dir = tempdir("auth-s3");
    let mp = dir.join("mp1");
    std::fs::create_dir_all(&mp).unwrap();
    let secret = secret_file(&dir);
    let node = Node::start_on_with_args(
        dir.clone(),
        vec![mp],
        free_port(),
        &[
            "--auth-secret-file",
            secret.to_str().unwrap(),
            "--s3-access-key",
            "AKAUTHTEST:s3-secret",
        ],
    );
    let admin = hs(&admin_claims());
    assert_eq!(create(&node, Some(&admin), "a").status, 200);
    let r = call(&node, Some(&admin), "PUT", "/v1/objects/a/x", b"via-ais");
    assert_eq!(r.status, 200, "{}", r.text());

    let h = sigv4_get(&node, "/s3/a/x", "AKAUTHTEST", "s3-secret");
    let hv: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let r = node.req("GET", "/s3/a/x", &hv, b"");
    assert_eq!(r.status, 200, "SigV4, no token: {}", r.text());
    assert_eq!(r.body, b"via-ais");

    let h = sigv4_get(&node, "/s3/a/x", "AKAUTHTEST", "wrong-secret");
    let hv: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(
        node.req("GET", "/s3/a/x", &hv, b"").status,
        403,
        "bad signature"
    );
    assert_eq!(node.req("GET", "/s3/a/x", &[], b"").status, 403, "neither");
    let r = node.req("GET", "/s3/a/x", &[("Authorization", &bearer(&admin))], b"");
    assert_eq!(r.status, 200, "token, no signature: {}", r.text());
    // The AIS API is not opened by S3 keys: it still needs a token.
    assert_eq!(call(&node, None, "GET", "/v1/objects/a/x", b"").status, 401);
}
