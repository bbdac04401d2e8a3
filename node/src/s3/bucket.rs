//! S3 bucket requests: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, Get/PutBucketVersioning. An S3 bucket is an ais bucket.

use engine::store::{ListQuery, StoreError};

use super::error::{self, S3Error};
use super::time;
use super::xml::{self, Xml};
use super::Req;
use crate::http::Conn;

/// The region this node reports (`x-amz-bucket-region`, GetBucketLocation): S3's default, so
/// clients configured for it never try to redirect.
pub const REGION: &str = "us-east-1";

pub async fn list_buckets(conn: &mut Conn, req: &Req<'_>) -> bool {
    let bmd = conn.core.store.bmd();
    let mut x = Xml::new();
    x.root("ListAllMyBucketsResult")
        .open("Owner")
        .elem("ID", &conn.core.node.daemon_id)
        .elem("DisplayName", "aisle")
        .close("Owner")
        .open("Buckets");
    for (name, p) in bmd.buckets.iter() {
        x.open("Bucket")
            .elem("Name", name)
            .elem("CreationDate", &time::iso8601(p.created_ns))
            .close("Bucket");
    }
    x.close("Buckets").close("ListAllMyBucketsResult");
    super::ok_xml(conn, req.head, x.finish()).await
}

pub async fn create(conn: &mut Conn, req: &Req<'_>, b: &str) -> bool {
    // The body (CreateBucketConfiguration: a location constraint) has nothing to apply here.
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return error::body_error(conn, req.head, e).await,
    };
    if !body.iter().all(u8::is_ascii_whitespace) {
        if let Err(xml::Malformed(m)) = xml::flatten(&body) {
            return error::send(conn, req.head, &S3Error::malformed_xml(m)).await;
        }
    }
    let store = conn.core.store.clone();
    match store.create_bucket(b, None).await {
        Ok(trashed) => {
            tracing::info!(bucket = b, "bucket created (S3)");
            conn.core.request_empty_trash(&trashed);
            let loc = format!("/{b}");
            let h: [(&str, &[u8]); 1] = [("Location", loc.as_bytes())];
            super::ok_empty(conn, req.head, 200, &h).await
        }
        Err(e) => error::send(conn, req.head, &S3Error::of_store(&e)).await,
    }
}

/// The bucket's properties, or the S3 error to answer with.
fn props(conn: &Conn, b: &str) -> Result<engine::bmd::BucketProps, S3Error> {
    if let Err(e) = engine::names::validate_bucket(b) {
        return Err(S3Error::of_store(&StoreError::BadBucketName(b.into(), e)));
    }
    conn.core.store.bucket(b).map_err(|e| S3Error::of_store(&e))
}

pub async fn head(conn: &mut Conn, req: &Req<'_>, b: &str) -> bool {
    match props(conn, b) {
        Ok(_) => {
            let h: [(&str, &[u8]); 1] = [("x-amz-bucket-region", REGION.as_bytes())];
            super::ok_empty(conn, req.head, 200, &h).await
        }
        Err(e) => error::send(conn, req.head, &e).await,
    }
}

pub async fn delete(conn: &mut Conn, req: &Req<'_>, b: &str) -> bool {
    if let Err(e) = props(conn, b) {
        return error::send(conn, req.head, &e).await;
    }
    let store = conn.core.store.clone();
    let q = ListQuery {
        page_size: 1,
        name_only: true,
        ..Default::default()
    };
    match store.list_objects(b, q).await {
        Ok(p) if !p.entries.is_empty() => {
            let e = S3Error::new(
                409,
                "BucketNotEmpty",
                format!("The bucket you tried to delete is not empty: {b}"),
            );
            return error::send(conn, req.head, &e).await;
        }
        Ok(_) => {}
        Err(e) => return error::send(conn, req.head, &S3Error::of_store(&e)).await,
    }
    match store.destroy_bucket(b).await {
        Ok(trashed) => {
            tracing::info!(bucket = b, "bucket destroyed (S3)");
            conn.core.request_empty_trash(&trashed);
            super::ok_empty(conn, req.head, 204, &[]).await
        }
        Err(e) => error::send(conn, req.head, &S3Error::of_store(&e)).await,
    }
}

pub async fn location(conn: &mut Conn, req: &Req<'_>, b: &str) -> bool {
    if let Err(e) = props(conn, b) {
        return error::send(conn, req.head, &e).await;
    }
    // us-east-1 is the empty constraint.
    let mut x = Xml::new();
    x.root("LocationConstraint").close("LocationConstraint");
    super::ok_xml(conn, req.head, x.finish()).await
}

/// GetBucketVersioning: `Enabled` when the ais bucket keeps object versions; with versioning
/// off the reply has no status (S3's "never enabled"). Note that an ais bucket numbers
/// versions but keeps only the newest object, which is all a client sees here.
pub async fn get_versioning(conn: &mut Conn, req: &Req<'_>, b: &str) -> bool {
    let p = match props(conn, b) {
        Ok(p) => p,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let mut x = Xml::new();
    x.root("VersioningConfiguration");
    if p.versioning {
        x.elem("Status", "Enabled");
    }
    x.close("VersioningConfiguration");
    super::ok_xml(conn, req.head, x.finish()).await
}

/// PutBucketVersioning: `Enabled` / `Suspended` set the ais bucket's `versioning.enabled`.
pub async fn put_versioning(conn: &mut Conn, req: &Req<'_>, b: &str) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return error::body_error(conn, req.head, e).await,
    };
    let kv = match xml::flatten(&body) {
        Ok(v) => v,
        Err(xml::Malformed(m)) => {
            return error::send(conn, req.head, &S3Error::malformed_xml(m)).await
        }
    };
    if kv.first().map(|(p, _)| p.as_str()) != Some("VersioningConfiguration") {
        let e = S3Error::malformed_xml("expecting a VersioningConfiguration document");
        return error::send(conn, req.head, &e).await;
    }
    if let Some((_, v)) = kv
        .iter()
        .find(|(p, _)| p == "VersioningConfiguration/MfaDelete")
    {
        if v == "Enabled" {
            let e = S3Error::not_implemented("MFA delete");
            return error::send(conn, req.head, &e).await;
        }
    }
    let status = kv
        .iter()
        .find(|(p, _)| p == "VersioningConfiguration/Status")
        .map(|(_, v)| v.as_str());
    let enabled = match status {
        Some("Enabled") => true,
        Some("Suspended") => false,
        None => {
            // Nothing to change.
            if let Err(e) = props(conn, b) {
                return error::send(conn, req.head, &e).await;
            }
            return super::ok_empty(conn, req.head, 200, &[]).await;
        }
        Some(o) => {
            let e = S3Error::malformed_xml(format!("versioning status {o:?}"));
            return error::send(conn, req.head, &e).await;
        }
    };
    let store = conn.core.store.clone();
    let patch = serde_json::json!({ "versioning": { "enabled": enabled } });
    match store.set_bucket_props(b, patch).await {
        Ok(_) => super::ok_empty(conn, req.head, 200, &[]).await,
        Err(e) => error::send(conn, req.head, &S3Error::of_store(&e)).await,
    }
}
