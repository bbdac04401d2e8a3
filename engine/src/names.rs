//! Validation of bucket and object names.
//!
//! A name that passes here can be joined under a bucket's `%ob` directory without escaping it,
//! cannot collide with the shortened ("fntl", `.x<sha256>`) names of `fqn.rs`, and cannot
//! carry bytes that break the LOM record format or HTTP headers.

/// Longest bucket name, in bytes (the AIS limit).
pub const BUCKET_NAME_LEN_MAX: usize = 64;
/// Longest object name, in bytes.
pub const OBJ_NAME_BYTES_MAX: usize = 4096;

/// Why a name was refused. Messages are shown to clients in 400 responses.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name is too long: {len} bytes, the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("invalid character {ch:?} at byte {pos}: bucket names may only contain letters, digits, '-', '_' and '.'")]
    BadChar { ch: char, pos: usize },
    #[error("bucket name must not start with '.'")]
    LeadingDot,
    #[error("bucket name must not contain \"..\"")]
    DoubleDot,
    #[error("object name must not contain a \".\" or \"..\" path component")]
    DotComponent,
    #[error("object name must not contain an empty path component (\"//\")")]
    EmptyComponent,
    #[error("object name must not start with '/'")]
    LeadingSlash,
    #[error("object name must not end with '/'")]
    TrailingSlash,
    #[error("name contains control byte 0x{byte:02x} at byte {pos}")]
    ControlByte { byte: u8, pos: usize },
    #[error("object name must not start with \"~/\"")]
    ReservedPrefix,
    #[error("object name component {component:?} is reserved for shortened long names")]
    ReservedName { component: String },
}

/// AIS bucket-name rules: 1..=64 bytes of `[A-Za-z0-9_.-]`, not starting with '.', no "..".
pub fn validate_bucket(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > BUCKET_NAME_LEN_MAX {
        return Err(NameError::TooLong {
            len: name.len(),
            max: BUCKET_NAME_LEN_MAX,
        });
    }
    for (pos, ch) in name.char_indices() {
        let ok = ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.';
        if !ok {
            return Err(NameError::BadChar { ch, pos });
        }
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot);
    }
    if name.contains("..") {
        return Err(NameError::DoubleDot);
    }
    Ok(())
}

/// Object-name rules, checked in this order: non-empty, at most `OBJ_NAME_BYTES_MAX` bytes,
/// no control byte (0x00-0x1f, 0x7f), not `~/`-prefixed, no leading or trailing '/', no empty,
/// `.` or `..` component, and no component shaped like a shortened name (`.x` + 64 lowercase
/// hex digits), since that name space belongs to `fqn::object_fqn`.
pub fn validate_object(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > OBJ_NAME_BYTES_MAX {
        return Err(NameError::TooLong {
            len: name.len(),
            max: OBJ_NAME_BYTES_MAX,
        });
    }
    if let Some(pos) = name.bytes().position(|b| b < 0x20 || b == 0x7f) {
        return Err(NameError::ControlByte {
            byte: name.as_bytes()[pos],
            pos,
        });
    }
    if name.starts_with("~/") {
        return Err(NameError::ReservedPrefix);
    }
    if name.starts_with('/') {
        return Err(NameError::LeadingSlash);
    }
    if name.ends_with('/') {
        return Err(NameError::TrailingSlash);
    }
    for component in name.split('/') {
        match component {
            "" => return Err(NameError::EmptyComponent),
            "." | ".." => return Err(NameError::DotComponent),
            _ if is_shortened_name(component) => {
                return Err(NameError::ReservedName {
                    component: component.to_string(),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// An object name or an S3 folder marker: a valid object name followed by one `/` (`a/`,
/// `a/b/`; a 0-byte key that S3 clients make to show a folder). A marker is stored as the file
/// `fqn::DIR_MARKER` inside its directory, so it coexists with the names under it. The store
/// accepts both; the AIS front end refuses markers, as AIS does (a trailing `/`).
pub fn validate_object_or_marker(name: &str) -> Result<(), NameError> {
    match name.strip_suffix('/') {
        Some(dir) if !dir.is_empty() => validate_object(dir).map_err(|e| match e {
            // `a//`: the directory part ends with '/' itself.
            NameError::TrailingSlash => NameError::EmptyComponent,
            e => e,
        }),
        _ => validate_object(name),
    }
}

/// True for `.x` followed by exactly 64 lowercase hex digits: the file name `fqn.rs` gives
/// an object whose name is too long for the filesystem.
pub fn is_shortened_name(component: &str) -> bool {
    let bytes = component.as_bytes();
    bytes.len() == 66
        && bytes.starts_with(b".x")
        && bytes[2..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the AIS bucket rules, one row per rule.
    #[test]
    fn bucket_table() {
        let max = "a".repeat(BUCKET_NAME_LEN_MAX);
        let over = "a".repeat(BUCKET_NAME_LEN_MAX + 1);
        let cases: Vec<(&str, Result<(), NameError>)> = vec![
            ("b", Ok(())),
            ("my-bucket_1.v2", Ok(())),
            ("A.b.C", Ok(())),
            (&max, Ok(())),
            ("", Err(NameError::Empty)),
            (&over, Err(NameError::TooLong { len: 65, max: 64 })),
            (".hidden", Err(NameError::LeadingDot)),
            ("a..b", Err(NameError::DoubleDot)),
            ("a/b", Err(NameError::BadChar { ch: '/', pos: 1 })),
            ("a b", Err(NameError::BadChar { ch: ' ', pos: 1 })),
            ("é", Err(NameError::BadChar { ch: 'é', pos: 0 })),
            ("a%", Err(NameError::BadChar { ch: '%', pos: 1 })),
            ("a\0", Err(NameError::BadChar { ch: '\0', pos: 1 })),
        ];
        for (name, want) in cases {
            assert_eq!(validate_bucket(name), want, "bucket {name:?}");
        }
    }

    /// Goal: the object rules, one row per rule, plus names that must pass.
    #[test]
    fn object_table() {
        let max = "a".repeat(OBJ_NAME_BYTES_MAX);
        let over = "a".repeat(OBJ_NAME_BYTES_MAX + 1);
        let short = format!(".x{}", "0a".repeat(32));
        let short_upper = format!(".x{}", "0A".repeat(32));
        let short_65 = format!(".x{}", "a".repeat(65));
        let reserved = Err(NameError::ReservedName {
            component: short.clone(),
        });
        let cases: Vec<(String, Result<(), NameError>)> = vec![
            ("a".into(), Ok(())),
            ("dir/sub/obj.bin".into(), Ok(())),
            ("...".into(), Ok(())),
            (".hidden/..x/x..".into(), Ok(())),
            ("a~/b".into(), Ok(())),
            ("ünï cödé/日本".into(), Ok(())),
            (max, Ok(())),
            (short_upper, Ok(())),
            (short_65, Ok(())),
            (format!("{short}x"), Ok(())),
            (String::new(), Err(NameError::Empty)),
            (
                over,
                Err(NameError::TooLong {
                    len: 4097,
                    max: 4096,
                }),
            ),
            ("/a".into(), Err(NameError::LeadingSlash)),
            ("a/".into(), Err(NameError::TrailingSlash)),
            ("/".into(), Err(NameError::LeadingSlash)),
            ("a//b".into(), Err(NameError::EmptyComponent)),
            (".".into(), Err(NameError::DotComponent)),
            ("..".into(), Err(NameError::DotComponent)),
            ("a/./b".into(), Err(NameError::DotComponent)),
            ("a/../../etc/passwd".into(), Err(NameError::DotComponent)),
            ("a/..".into(), Err(NameError::DotComponent)),
            (
                "a\0b".into(),
                Err(NameError::ControlByte { byte: 0, pos: 1 }),
            ),
            (
                "a\nb".into(),
                Err(NameError::ControlByte {
                    byte: b'\n',
                    pos: 1,
                }),
            ),
            (
                "\x1f".into(),
                Err(NameError::ControlByte { byte: 0x1f, pos: 0 }),
            ),
            (
                "ab\x7f".into(),
                Err(NameError::ControlByte { byte: 0x7f, pos: 2 }),
            ),
            ("~/a".into(), Err(NameError::ReservedPrefix)),
            (short.clone(), reserved.clone()),
            (format!("dir/{short}"), reserved.clone()),
            (format!("{short}/file"), reserved),
        ];
        for (name, want) in cases {
            assert_eq!(validate_object(&name), want, "object {name:?}");
        }
    }

    /// Goal: a folder marker is one valid name plus one '/'; everything else a name may not
    /// be, a marker may not be either.
    #[test]
    fn folder_markers() {
        for ok in ["a/", "a/b/", "a b/c/"] {
            assert_eq!(validate_object_or_marker(ok), Ok(()), "{ok:?}");
            assert_eq!(validate_object(ok), Err(NameError::TrailingSlash), "{ok:?}");
        }
        assert_eq!(validate_object_or_marker("a/b"), Ok(()));
        for (bad, want) in [
            ("/", NameError::LeadingSlash),
            ("a//", NameError::EmptyComponent),
            ("//", NameError::LeadingSlash),
            ("../", NameError::DotComponent),
            ("a/./", NameError::DotComponent),
            ("a\x01/", NameError::ControlByte { byte: 1, pos: 1 }),
        ] {
            assert_eq!(validate_object_or_marker(bad), Err(want), "{bad:?}");
        }
    }

    /// Goal: messages name the problem and the limit.
    #[test]
    fn messages() {
        let e = NameError::TooLong { len: 65, max: 64 };
        assert_eq!(e.to_string(), "name is too long: 65 bytes, the limit is 64");
        let e = NameError::ControlByte { byte: 0, pos: 3 };
        assert_eq!(e.to_string(), "name contains control byte 0x00 at byte 3");
    }
}
