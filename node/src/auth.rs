//! Token access control as AIS does it (AuthN JWTs in `Authorization: Bearer`): the access
//! bits (`apc.Ace*`), token verification (HS256 with a shared secret, RS256/384/512 with a
//! public key), AIS's claims (`sub`, `exp`, `admin`, `clusters`, `buckets`) and permission
//! rules (`AISClaims.CheckPermissions`), and the per-core cache of verified tokens.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// AIS's access bits (`api/apc/access.go`, `AccessAttrs`), same values.
pub mod ace {
    pub const GET: u64 = 1 << 0;
    pub const OBJ_HEAD: u64 = 1 << 1;
    pub const PUT: u64 = 1 << 2;
    pub const APPEND: u64 = 1 << 3;
    pub const OBJ_DELETE: u64 = 1 << 4;
    pub const OBJ_MOVE: u64 = 1 << 5;
    pub const PROMOTE: u64 = 1 << 6;
    pub const OBJ_UPDATE: u64 = 1 << 7;
    pub const BCK_HEAD: u64 = 1 << 8;
    pub const OBJ_LIST: u64 = 1 << 9;
    pub const PATCH: u64 = 1 << 10;
    pub const BCK_SET_ACL: u64 = 1 << 11;
    pub const LIST_BUCKETS: u64 = 1 << 12;
    pub const SHOW_CLUSTER: u64 = 1 << 13;
    pub const CREATE_BUCKET: u64 = 1 << 14;
    pub const DESTROY_BUCKET: u64 = 1 << 15;
    pub const MOVE_BUCKET: u64 = 1 << 16;
    pub const ADMIN: u64 = 1 << 17;

    /// Read-only access to a bucket (`apc.AccessRO`).
    pub const ACCESS_RO: u64 = GET | OBJ_HEAD | BCK_HEAD | OBJ_LIST;
    /// Read-write access to a bucket (`apc.AccessRW`).
    pub const ACCESS_RW: u64 = ACCESS_RO | PUT | APPEND | OBJ_DELETE | OBJ_MOVE;
    /// Bucket administration (`apc.AccessBucketAdmin`).
    pub const BUCKET_ADMIN: u64 = PATCH | BCK_SET_ACL | OBJ_UPDATE;
    /// Read-only access to the cluster (`apc.ClusterAccessRO`).
    pub const CLUSTER_RO: u64 = LIST_BUCKETS | SHOW_CLUSTER;
    /// Read-write access to the cluster (`apc.ClusterAccessRW`).
    pub const CLUSTER_RW: u64 = CLUSTER_RO | CREATE_BUCKET | DESTROY_BUCKET | MOVE_BUCKET;
}

/// Verified tokens each core keeps (then the oldest-expiring half is dropped).
pub const TOKEN_CACHE_MAX: usize = 1024;

/// Why a request is not authenticated (HTTP 401). AIS's words (`api/authn/errors.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` (nor `X-Amz-Security-Token`) header.
    NoToken,
    /// Expired (`exp` passed).
    Expired,
    /// Bad signature, algorithm, claims or encoding.
    Invalid(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::NoToken => write!(f, "token required"),
            AuthError::Expired => write!(f, "invalid token [err: token expired]"),
            AuthError::Invalid(m) => write!(f, "invalid token [err: {m}]"),
        }
    }
}

/// A token's bucket ACL: the bucket (AuthN names it with the cluster's UUID as namespace
/// UUID) and its access bits.
#[derive(Debug, Clone)]
pub struct BckAcl {
    pub ns_uuid: String,
    pub ns_name: String,
    pub name: String,
    pub provider: String,
    pub access: u64,
}

/// A verified token's claims.
#[derive(Debug, Clone)]
pub struct Claims {
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    pub admin: bool,
    /// Cluster ACLs: (cluster id, access); id `""` is the default for any cluster.
    pub clusters: Vec<(String, u64)>,
    pub buckets: Vec<BckAcl>,
}

impl Claims {
    /// AIS's `AISClaims.CheckPermissions`: admin may do anything; cluster bits need a cluster
    /// ACL (this cluster's, else the default one); bucket bits need the bucket's ACL, else
    /// the cluster ACL. `Err` is the 403 message.
    pub fn check(&self, cluster_id: &str, bucket: Option<&str>, perms: u64) -> Result<(), String> {
        if self.admin {
            return Ok(());
        }
        let sub = &self.sub;
        if perms == 0 {
            return Err("empty permissions requested".into());
        }
        let clu_perms = perms & (ace::CLUSTER_RW | ace::ADMIN);
        let obj_perms = perms & (ace::ACCESS_RW | ace::BUCKET_ADMIN | ace::PROMOTE);
        let clu_acl = self.acl_for_cluster(cluster_id);
        if clu_perms != 0 {
            match clu_acl {
                Some(a) if a & clu_perms == clu_perms => {}
                Some(a) => {
                    return Err(format!(
                        "user `{sub}` has insufficient permissions: [cluster {cluster_id}, \
                         granted({}), needed({})]",
                        describe(a),
                        describe(clu_perms)
                    ))
                }
                None => return Err(format!("user `{sub}` has insufficient permissions")),
            }
        }
        if obj_perms == 0 {
            return Ok(());
        }
        let Some(bucket) = bucket else {
            return Err("requested bucket permissions without a bucket".into());
        };
        if let Some(a) = self.acl_for_bucket(cluster_id, bucket) {
            if a & obj_perms == obj_perms {
                return Ok(());
            }
            return Err(format!(
                "user `{sub}` has insufficient permissions: [bucket ais://{bucket}, \
                 granted({}), needed({})]",
                describe(a),
                describe(obj_perms)
            ));
        }
        match clu_acl {
            Some(a) if a & obj_perms == obj_perms => Ok(()),
            a => Err(format!(
                "user `{sub}` has insufficient permissions: [bucket ais://{bucket}, \
                 granted({}), needed({})]",
                describe(a.unwrap_or(0)),
                describe(obj_perms)
            )),
        }
    }

    fn acl_for_cluster(&self, cluster_id: &str) -> Option<u64> {
        let mut default = None;
        for (id, a) in &self.clusters {
            if id == cluster_id {
                return Some(*a);
            }
            if id.is_empty() {
                default = Some(*a);
            }
        }
        default
    }

    fn acl_for_bucket(&self, cluster_id: &str, bucket: &str) -> Option<u64> {
        self.buckets
            .iter()
            .find(|b| {
                b.ns_uuid == cluster_id
                    && b.name == bucket
                    && (b.provider == "ais" || b.provider.is_empty())
            })
            .map(|b| b.access)
    }
}

/// AIS's names of the access bits set in `a` (`AccessAttrs.Describe`).
pub fn describe(a: u64) -> String {
    const NAMES: [&str; 18] = [
        "GET",
        "HEAD-OBJECT",
        "PUT",
        "APPEND",
        "DELETE-OBJECT",
        "MOVE-OBJECT",
        "PROMOTE",
        "UPDATE-OBJECT",
        "HEAD-BUCKET",
        "LIST-OBJECTS",
        "PATCH",
        "SET-BUCKET-ACL",
        "LIST-BUCKETS",
        "SHOW-CLUSTER",
        "CREATE-BUCKET",
        "DESTROY-BUCKET",
        "MOVE-BUCKET",
        "ADMIN",
    ];
    if a == 0 {
        return "none".into();
    }
    let names: Vec<&str> = NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| a & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    names.join(",")
}

// ---- wire forms (AuthN's `tok.AISClaims`, `authn.CluACL`, `authn.BckACL`) ----

#[derive(Deserialize)]
struct WireClaims {
    #[serde(default)]
    sub: Option<String>,
    exp: f64,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    clusters: Option<Vec<Option<WireCluAcl>>>,
    #[serde(default)]
    buckets: Option<Vec<Option<WireBckAcl>>>,
}

#[derive(Deserialize)]
struct WireCluAcl {
    #[serde(default)]
    id: String,
    #[serde(default, deserialize_with = "perm")]
    perm: u64,
}

#[derive(Deserialize)]
struct WireBckAcl {
    bck: WireBck,
    #[serde(default, deserialize_with = "perm")]
    perm: u64,
}

#[derive(Deserialize)]
struct WireBck {
    #[serde(default)]
    name: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    namespace: WireNs,
}

#[derive(Deserialize, Default)]
struct WireNs {
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    name: String,
}

/// AuthN writes access bits as a decimal string (`json:"perm,string"`); a bare number is
/// taken too.
fn perm<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum P {
        S(String),
        N(u64),
    }
    match P::deserialize(d)? {
        P::N(n) => Ok(n),
        P::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("perm {s:?} is not a number"))),
    }
}

/// The node's token checker: the keys it accepts and its cluster id (the Smap UUID, which
/// AuthN puts in cluster ACLs and bucket namespaces).
pub struct Verifier {
    hs: Option<DecodingKey>,
    rs: Option<DecodingKey>,
    pub cluster_id: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("hs256", &self.hs.is_some())
            .field("rs256", &self.rs.is_some())
            .field("cluster_id", &self.cluster_id)
            .finish()
    }
}

impl Verifier {
    /// A checker for HS256 tokens signed with `secret` and/or RS256/384/512 tokens signed by
    /// the key whose public half is `pubkey_pem`.
    pub fn new(
        secret: Option<&[u8]>,
        pubkey_pem: Option<&[u8]>,
        cluster_id: String,
    ) -> anyhow::Result<Verifier> {
        let hs = match secret {
            Some([]) => anyhow::bail!("the token secret is empty"),
            Some(s) => Some(DecodingKey::from_secret(s)),
            None => None,
        };
        let rs = match pubkey_pem {
            Some(p) => Some(
                DecodingKey::from_rsa_pem(p)
                    .map_err(|e| anyhow::anyhow!("the token public key is not an RSA PEM: {e}"))?,
            ),
            None => None,
        };
        if hs.is_none() && rs.is_none() {
            anyhow::bail!("no token key given");
        }
        Ok(Verifier { hs, rs, cluster_id })
    }

    /// Verifies `token` at `now` (seconds since the epoch): signature by an accepted
    /// algorithm and key, `exp` present and not passed, `nbf` (if any) reached, `sub`
    /// present and not empty, AIS's claims well-formed.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Invalid(format!("malformed token: {e}")))?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs.as_ref(),
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => self.rs.as_ref(),
            _ => None,
        };
        let Some(key) = key else {
            return Err(AuthError::Invalid(format!(
                "unexpected signing method {:?}",
                header.alg
            )));
        };
        let mut v = Validation::new(header.alg);
        v.leeway = 0;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<WireClaims>(token, key, &v).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid(e.to_string()),
            })?;
        let w = data.claims;
        let sub = w.sub.unwrap_or_default();
        if sub.is_empty() {
            return Err(AuthError::Invalid("missing 'sub' claim".into()));
        }
        if !w.exp.is_finite() || w.exp < 0.0 {
            return Err(AuthError::Invalid("bad 'exp' claim".into()));
        }
        let exp = w.exp as u64;
        if exp < now {
            return Err(AuthError::Expired);
        }
        Ok(Claims {
            sub,
            exp,
            admin: w.admin,
            clusters: w
                .clusters
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .map(|c| (c.id, c.perm))
                .collect(),
            buckets: w
                .buckets
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .map(|b| BckAcl {
                    ns_uuid: b.bck.namespace.uuid,
                    ns_name: b.bck.namespace.name,
                    name: b.bck.name,
                    provider: b.bck.provider,
                    access: b.perm,
                })
                .collect(),
        })
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The token of a request: `Authorization: Bearer <token>`, else `X-Amz-Security-Token`
/// (AIS's `tok.ExtractToken`).
pub fn extract_token(head: &net::head::RequestHead) -> Option<&str> {
    if let Some(v) = head.header("authorization") {
        if let Ok(s) = std::str::from_utf8(v) {
            if let Some((scheme, t)) = s.split_once(' ') {
                if scheme == "Bearer" && !t.is_empty() {
                    return Some(t);
                }
            }
        }
    }
    head.header("x-amz-security-token")
        .and_then(|v| std::str::from_utf8(v).ok())
        .filter(|t| !t.is_empty())
}

/// A core's verified tokens (token string → claims), each kept until its `exp`: a token is
/// verified (signature, JSON) once per core, later requests cost one hash lookup and a clock
/// read. Failures are not kept. Bounded by `TOKEN_CACHE_MAX`.
#[derive(Default)]
pub struct TokenCache {
    map: HashMap<Box<str>, Rc<Claims>>,
}

impl TokenCache {
    /// The claims of `token`, verified now or earlier by this core.
    pub fn claims(&mut self, v: &Verifier, token: &str) -> Result<Rc<Claims>, AuthError> {
        self.claims_at(v, token, now_secs())
    }

    /// `claims` at `now` (seconds since the epoch).
    pub fn claims_at(
        &mut self,
        v: &Verifier,
        token: &str,
        now: u64,
    ) -> Result<Rc<Claims>, AuthError> {
        if let Some(c) = self.map.get(token) {
            if c.exp >= now {
                return Ok(c.clone());
            }
            self.map.remove(token);
            return Err(AuthError::Expired);
        }
        let c = Rc::new(v.verify(token, now)?);
        if self.map.len() >= TOKEN_CACHE_MAX {
            self.map.retain(|_, c| c.exp >= now);
            if self.map.len() >= TOKEN_CACHE_MAX {
                // Keep the half that lives longest.
                let mut exps: Vec<u64> = self.map.values().map(|c| c.exp).collect();
                exps.sort_unstable();
                let cut = exps[exps.len() / 2];
                self.map.retain(|_, c| c.exp > cut);
            }
        }
        self.map.insert(token.into(), c.clone());
        Ok(c)
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"unit-test-secret";
    const CLU: &str = "aisle-t1";

    fn mint(claims: serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    fn verifier() -> Verifier {
        Verifier::new(Some(SECRET), None, CLU.into()).unwrap()
    }

    #[test]
    fn ais_claims_are_read() {
        let now = now_secs();
        let t = mint(json!({
            "sub": "alice", "exp": now + 60, "admin": false,
            "clusters": [{"id": "", "perm": ace::CLUSTER_RO.to_string()}],
            "buckets": [{"bck": {"name": "b1", "provider": "ais",
                "namespace": {"uuid": CLU, "name": ""}}, "perm": ace::ACCESS_RO.to_string()}],
        }));
        let c = verifier().verify(&t, now).unwrap();
        assert_eq!(c.sub, "alice");
        assert!(c.check(CLU, Some("b1"), ace::GET).is_ok());
        assert!(c.check(CLU, Some("b1"), ace::PUT).is_err());
        // No bucket ACL for b2 and the cluster ACL has no object bits.
        assert!(c.check(CLU, Some("b2"), ace::GET).is_err());
        assert!(c.check(CLU, None, ace::LIST_BUCKETS).is_ok());
        assert!(c.check(CLU, None, ace::ADMIN).is_err());
        assert!(c.check(CLU, None, ace::CREATE_BUCKET).is_err());
        // A bucket ACL of another cluster does not apply here.
        assert!(c.check("other", Some("b1"), ace::GET).is_err());
    }

    #[test]
    fn cluster_acl_covers_buckets_without_their_own() {
        let now = now_secs();
        let t = mint(json!({"sub": "bob", "exp": now + 60,
            "clusters": [{"id": CLU, "perm": (ace::ACCESS_RW | ace::CLUSTER_RW).to_string()}]}));
        let c = verifier().verify(&t, now).unwrap();
        assert!(c.check(CLU, Some("any"), ace::PUT).is_ok());
        assert!(c.check(CLU, Some("any"), ace::DESTROY_BUCKET).is_ok());
        assert!(c.check(CLU, None, ace::ADMIN).is_err());
    }

    #[test]
    fn admin_may_do_anything() {
        let now = now_secs();
        let t = mint(json!({"sub": "root", "exp": now + 60, "admin": true}));
        let c = verifier().verify(&t, now).unwrap();
        assert!(c.check(CLU, None, ace::ADMIN).is_ok());
        assert!(c.check(CLU, Some("x"), ace::PUT | ace::PATCH).is_ok());
    }

    #[test]
    fn bad_tokens_are_refused() {
        let now = now_secs();
        let v = verifier();
        let expired = mint(json!({"sub": "a", "exp": now - 10}));
        assert_eq!(v.verify(&expired, now).unwrap_err(), AuthError::Expired);
        let no_exp = mint(json!({"sub": "a"}));
        assert!(v.verify(&no_exp, now).is_err());
        let no_sub = mint(json!({"exp": now + 60}));
        assert!(v.verify(&no_sub, now).is_err());
        let empty_sub = mint(json!({"sub": "", "exp": now + 60}));
        assert!(v.verify(&empty_sub, now).is_err());
        let early = mint(json!({"sub": "a", "exp": now + 60, "nbf": now + 30}));
        assert!(v.verify(&early, now).is_err());
        let other_key = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "a", "exp": now + 60}),
            &EncodingKey::from_secret(b"another"),
        )
        .unwrap();
        assert!(v.verify(&other_key, now).is_err());
        // alg none: header {"alg":"none"}, no signature.
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
        };
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&json!({"sub": "a", "exp": now + 60, "admin": true}).to_string())
        );
        assert!(v.verify(&none, now).is_err());
        // RS256 with no public key configured.
        let rs_hdr = format!(
            "{}.{}.AAAA",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64(&json!({"sub": "a", "exp": now + 60}).to_string())
        );
        assert!(v.verify(&rs_hdr, now).is_err());
        for junk in ["", "a.b", "a.b.c", "....", "eyJ.eyJ.sig"] {
            assert!(v.verify(junk, now).is_err(), "{junk:?}");
        }
        let bad_perm = mint(json!({"sub": "a", "exp": now + 60,
            "clusters": [{"id": "", "perm": "lots"}]}));
        assert!(v.verify(&bad_perm, now).is_err());
    }

    #[test]
    fn cache_keeps_verdicts_until_expiry_and_stays_bounded() {
        let now = now_secs();
        let v = verifier();
        let mut cache = TokenCache::default();
        let t = mint(json!({"sub": "a", "exp": now + 60}));
        let c1 = cache.claims(&v, &t).unwrap();
        let c2 = cache.claims(&v, &t).unwrap();
        assert!(
            Rc::ptr_eq(&c1, &c2),
            "the second lookup is served from the cache"
        );
        // Past its exp the cached verdict is not used, and the token is dropped.
        assert_eq!(
            cache.claims_at(&v, &t, now + 61).unwrap_err(),
            AuthError::Expired
        );
        assert!(cache.is_empty());
        cache.claims(&v, &t).unwrap();
        assert!(cache.claims(&v, "junk").is_err());
        assert_eq!(cache.len(), 1, "failures are not kept");
        for i in 0..(TOKEN_CACHE_MAX + 10) {
            let t = mint(json!({"sub": format!("u{i}"), "exp": now + 100 + i as u64}));
            cache.claims(&v, &t).unwrap();
            assert!(cache.len() <= TOKEN_CACHE_MAX);
        }
    }
}
