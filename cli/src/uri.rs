//! Parsing of `ais://bucket[/object]` arguments (and the bare `bucket[/object]` shorthand).
//!
//! Only AIS's own provider is supported: other schemes (`s3://`, `gs://`, ...) are refused
//! instead of being silently treated as ais buckets.

use std::fmt;

/// Longest bucket name AIS accepts (`cos.MaxNameLength`).
pub const BUCKET_NAME_BYTES_MAX: usize = 64;

/// A bucket, and an object or prefix inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AisUri {
    /// The bucket name, validated.
    pub bucket: String,
    /// Everything after the first `/` following the bucket; `None` when empty.
    pub object: Option<String>,
}

impl AisUri {
    /// The object name, or an error naming the argument when there is none.
    pub fn require_object(&self) -> anyhow::Result<&str> {
        match &self.object {
            Some(o) => Ok(o),
            None => anyhow::bail!("{self}: an object name is required (ais://bucket/object)"),
        }
    }
}

impl fmt::Display for AisUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(o) => write!(f, "ais://{}/{o}", self.bucket),
            None => write!(f, "ais://{}", self.bucket),
        }
    }
}

/// Parses `ais://bucket[/object]` or `bucket[/object]`.
pub fn parse(arg: &str) -> anyhow::Result<AisUri> {
    let rest = match arg.split_once("://") {
        Some(("ais", rest)) => rest,
        Some((scheme, _)) => {
            anyhow::bail!(
                "{arg:?}: unsupported scheme {scheme:?}; only ais:// buckets are supported"
            )
        }
        None => arg,
    };
    let (bucket, object) = match rest.split_once('/') {
        Some((b, o)) => (b, (!o.is_empty()).then(|| o.to_owned())),
        None => (rest, None),
    };
    validate_bucket(bucket).map_err(|why| anyhow::anyhow!("{arg:?}: {why}"))?;
    Ok(AisUri {
        bucket: bucket.to_owned(),
        object,
    })
}

/// AIS's bucket-name rule: `[A-Za-z0-9_.-]`, no `..`, at most 64 bytes.
fn validate_bucket(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing bucket name".into());
    }
    if name.len() > BUCKET_NAME_BYTES_MAX {
        return Err(format!(
            "bucket name longer than {BUCKET_NAME_BYTES_MAX} characters"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
    {
        return Err(format!(
            "invalid character {c:?} in bucket name (allowed: A-Z a-z 0-9 _ . -)"
        ));
    }
    if name.contains("..") {
        return Err("bucket name must not contain \"..\"".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(arg: &str, bucket: &str, object: Option<&str>) {
        let uri = parse(arg).unwrap_or_else(|e| panic!("{arg}: {e}"));
        assert_eq!(uri.bucket, bucket, "{arg}");
        assert_eq!(uri.object.as_deref(), object, "{arg}");
    }

    #[test]
    fn accepted_forms() {
        // Goal: scheme and bare forms, objects with slashes, trailing-slash prefixes.
        check("ais://b", "b", None);
        check("ais://b/", "b", None);
        check("ais://my-bck_1.x/o", "my-bck_1.x", Some("o"));
        check("ais://b/dir/sub/file.tar", "b", Some("dir/sub/file.tar"));
        check("ais://b/dir/", "b", Some("dir/"));
        check("ais://b/a b?c#d", "b", Some("a b?c#d"));
        check("b", "b", None);
        check("b/o/p", "b", Some("o/p"));
        let name = "x".repeat(BUCKET_NAME_BYTES_MAX);
        check(&format!("ais://{name}/o"), &name, Some("o"));
    }

    #[test]
    fn refused_forms() {
        // Goal: other providers, empty or invalid bucket names are errors with the argument.
        for bad in [
            "",
            "ais://",
            "ais:///o",
            "/b/o",
            "s3://b/o",
            "gs://b",
            "AIS://b",
            "http://h/b",
            "ais://b..c",
            "ais://b c/o",
            "ais://b@x",
            "ais://ü/o",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{bad}: {err}"
            );
        }
        let long = format!("ais://{}", "x".repeat(BUCKET_NAME_BYTES_MAX + 1));
        assert!(parse(&long).is_err());
    }

    #[test]
    fn display_and_require_object() {
        // Goal: Display gives the canonical form used in messages.
        let uri = parse("b/o/p").expect("valid");
        assert_eq!(uri.to_string(), "ais://b/o/p");
        assert_eq!(uri.require_object().expect("object"), "o/p");
        let bucket_only = parse("ais://b").expect("valid");
        assert_eq!(bucket_only.to_string(), "ais://b");
        assert!(bucket_only.require_object().is_err());
    }
}
