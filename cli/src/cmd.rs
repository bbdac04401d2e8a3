//! The commands: each parses its `ais://` arguments, sends requests through a
//! [`Session`], and prints results to `out`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::progress::{self, Progress};
use crate::session::{drain, Payload, Session};
use crate::uri::{self, AisUri};
use crate::{api, multipart, size};

fn parse_bucket(arg: &str) -> anyhow::Result<AisUri> {
    let uri = uri::parse(arg)?;
    if uri.object.is_some() {
        bail!("{arg:?}: expected a bucket (ais://bucket), not an object");
    }
    Ok(uri)
}

/// `aisle bucket create ais://b`
pub fn bucket_create(s: &mut Session, arg: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let uri = parse_bucket(arg)?;
    drain(s.send(&api::create_bucket(&uri.bucket), Payload::None)?);
    writeln!(out, "created {uri}")?;
    Ok(())
}

/// `aisle bucket rm ais://b`
pub fn bucket_rm(s: &mut Session, arg: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let uri = parse_bucket(arg)?;
    drain(s.send(&api::destroy_bucket(&uri.bucket), Payload::None)?);
    writeln!(out, "destroyed {uri}")?;
    Ok(())
}

/// `aisle bucket ls`: one `provider://name` per line.
pub fn bucket_ls(s: &mut Session, out: &mut dyn Write) -> anyhow::Result<()> {
    let body = s.send(&api::list_buckets(), Payload::None)?.body_bytes()?;
    let buckets = api::parse_bucket_list(&body).context("decode the list-buckets reply")?;
    for b in buckets {
        let provider = if b.provider.is_empty() {
            "ais"
        } else {
            b.provider.as_str()
        };
        writeln!(out, "{provider}://{}", b.name)?;
    }
    Ok(())
}

/// `aisle ls ais://b[/prefix]`: every page, `name<TAB>size` per object.
pub fn ls(s: &mut Session, arg: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let uri = uri::parse(arg)?;
    let prefix = uri.object.as_deref().unwrap_or("");
    let mut uuid = String::new();
    let mut token = String::new();
    loop {
        let req = api::list_objects(&uri.bucket, prefix, &uuid, &token);
        let body = s.send(&req, Payload::None)?.body_bytes()?;
        let page = api::parse_object_page(&body).context("decode the list-objects reply")?;
        for entry in &page.entries {
            writeln!(out, "{}\t{}", entry.name, entry.size_text())?;
        }
        if page.continuation_token.is_empty() {
            return Ok(());
        }
        if page.continuation_token == token {
            bail!("listing {uri}: server repeated continuation token {token:?}");
        }
        token = page.continuation_token;
        if !page.uuid.is_empty() {
            uuid = page.uuid;
        }
    }
}

/// How `aisle put` sends a file.
#[derive(Debug, Clone, Copy)]
pub struct PutOptions {
    /// Send the file's xxhash2 (per part, for a multipart upload) for the server to verify.
    pub cksum: bool,
    /// Files larger than this go as a multipart upload in parts of this size.
    pub part_size: u64,
    /// Parts in flight at once.
    pub parallel: usize,
    /// Never use multipart upload.
    pub no_multipart: bool,
    /// Draw a progress bar (when at a terminal).
    pub show_progress: bool,
}

/// `aisle put FILE ais://b[/o]`; FILE `-` streams standard input. A regular file larger
/// than `--part-size` is sent as a parallel multipart upload unless `--no-multipart`.
pub fn put(
    s: &mut Session,
    file: &Path,
    dest: &str,
    opts: &PutOptions,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let uri = uri::parse(dest)?;
    if file == Path::new("-") {
        let Some(object) = uri.object.as_deref() else {
            bail!("{dest:?}: name the object (ais://bucket/object) when reading standard input");
        };
        if opts.cksum {
            bail!("--cksum needs a file; standard input cannot be read twice");
        }
        let stdin = io::stdin();
        let mut input = stdin.lock();
        let req = api::put_object(&uri.bucket, object, None);
        drain(s.send(&req, Payload::Stream(&mut input))?);
        writeln!(out, "PUT (standard input) => {}/{object}", bucket_uri(&uri))?;
        return Ok(());
    }
    let f = File::open(file).with_context(|| format!("open {}", file.display()))?;
    let meta = f
        .metadata()
        .with_context(|| format!("stat {}", file.display()))?;
    if !meta.is_file() {
        bail!("{}: not a regular file", file.display());
    }
    let object = match &uri.object {
        Some(o) => o.clone(),
        None => file
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .with_context(|| {
                format!("{}: cannot use its name as an object name", file.display())
            })?,
    };
    let size = meta.len();
    let label = format!("PUT {object}");
    if !opts.no_multipart && size > opts.part_size {
        let plan = multipart::Plan::new(size, opts.part_size)?;
        let progress = Progress::new(&label, Some(size), opts.show_progress);
        let upload = multipart::Upload {
            file: &f,
            path: file,
            bucket: &uri.bucket,
            object: &object,
            plan,
            parallel: opts.parallel,
            cksum: opts.cksum,
            progress: &progress,
        };
        let result = multipart::upload(s, &upload);
        progress.finish(result.is_ok());
        let done = result?;
        write!(
            out,
            "PUT {} => {}/{object} ({size} bytes, {} parts of {}, {} in parallel",
            file.display(),
            bucket_uri(&uri),
            done.parts,
            size::format(opts.part_size),
            opts.parallel.min(done.parts as usize)
        )?;
        match done.checksum {
            Some(c) => writeln!(out, ", {c})")?,
            None => writeln!(out, ")")?,
        }
        return Ok(());
    }
    let digest = if opts.cksum {
        let digest = multipart::xxhash2_range(&f, 0, size)
            .with_context(|| format!("checksum of {}", file.display()))?;
        Some(digest)
    } else {
        None
    };
    let progress = Progress::new(&label, Some(size), opts.show_progress);
    let mut reader = multipart::PartReader::new(&f, 0, size, &progress);
    let req = api::put_object(&uri.bucket, &object, digest);
    let result = s.send(&req, Payload::File(&mut reader, size));
    progress.finish(result.is_ok());
    drain(result?);
    writeln!(
        out,
        "PUT {} => {}/{object} ({size} bytes)",
        file.display(),
        bucket_uri(&uri),
    )?;
    Ok(())
}

fn bucket_uri(uri: &AisUri) -> String {
    format!("ais://{}", uri.bucket)
}

/// `aisle get ais://b/o [FILE|-] [--range R]`. The object is written to a temporary file
/// renamed into place at the end, so a failed download leaves no partial file.
pub fn get(
    s: &mut Session,
    src: &str,
    dest: Option<&Path>,
    range: Option<&str>,
    quiet: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let uri = uri::parse(src)?;
    let object = uri.require_object()?;
    let target = match dest {
        Some(d) if d == Path::new("-") => None,
        Some(d) if d.is_dir() => Some(d.join(base_name(object)?)),
        Some(d) => Some(d.to_owned()),
        None => Some(PathBuf::from(base_name(object)?)),
    };
    let resp = s.send(&api::get_object(&uri.bucket, object, range), Payload::None)?;
    let Some(target) = target else {
        let stdout = io::stdout();
        let mut lock = stdout.lock();
        resp.copy_body_to(&mut lock)?;
        lock.flush()?;
        return Ok(());
    };
    let total = resp
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let progress = Progress::new(&format!("GET {object}"), total, progress::wanted(quiet));
    let result = write_atomically(&target, |f| Ok(resp.copy_body_to(&mut progress.writer(f))?));
    progress.finish(result.is_ok());
    let bytes = result.with_context(|| format!("GET {uri} => {}", target.display()))?;
    writeln!(out, "GET {uri} => {} ({bytes} bytes)", target.display())?;
    Ok(())
}

/// The last path component of an object name, usable as a local file name.
fn base_name(object: &str) -> anyhow::Result<&str> {
    match object.rsplit('/').next() {
        Some(name) if !name.is_empty() && name != "." && name != ".." => Ok(name),
        _ => bail!("cannot derive a file name from object {object:?}; give a destination"),
    }
}

/// Runs `fill` on a new temporary file next to `target`, then syncs and renames it over
/// `target`. On any failure the temporary file is removed.
fn write_atomically(
    target: &Path,
    fill: impl FnOnce(&mut File) -> anyhow::Result<u64>,
) -> anyhow::Result<u64> {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .context("destination has no file name")?;
    let tmp = target.with_file_name(format!(".{name}.aisle-{}.tmp", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    let result = fill(&mut f)
        .and_then(|n| f.sync_all().map(|()| n).context("sync"))
        .and_then(|n| {
            fs::rename(&tmp, target)
                .map(|()| n)
                .context("rename into place")
        });
    if result.is_err() {
        // Best effort: the error being returned matters more than a failed cleanup.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `aisle object rm ais://b/o`
pub fn object_rm(s: &mut Session, arg: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let uri = uri::parse(arg)?;
    drain(s.send(
        &api::delete_object(&uri.bucket, uri.require_object()?),
        Payload::None,
    )?);
    writeln!(out, "deleted {uri}")?;
    Ok(())
}

/// `aisle object head ais://b/o`: `Ais-*` headers and Content-Length, `Name: value` lines.
/// It asks for every property AIS reports (size, checksum, version, ..., and for a chunked
/// object `Ais-Chunks-Count` and `Ais-Chunks-Max-Chunk-Size`).
pub fn object_head(s: &mut Session, arg: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let uri = uri::parse(arg)?;
    let resp = s.send(
        &api::head_object(&uri.bucket, uri.require_object()?),
        Payload::None,
    )?;
    for (name, value) in &resp.headers {
        if name.starts_with("ais-") || name == "content-length" {
            writeln!(out, "{}: {value}", canonical_header_name(name))?;
        }
    }
    drain(resp);
    Ok(())
}

/// `ais-checksum-type` → `Ais-Checksum-Type`.
fn canonical_header_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_and_base_names() {
        // Goal: canonical header casing; base names refuse unusable components.
        assert_eq!(
            canonical_header_name("ais-checksum-type"),
            "Ais-Checksum-Type"
        );
        assert_eq!(canonical_header_name("content-length"), "Content-Length");
        assert_eq!(base_name("dir/sub/f.txt").expect("name"), "f.txt");
        assert_eq!(base_name("f").expect("name"), "f");
        for bad in ["dir/", "dir/..", "."] {
            assert!(base_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn atomic_write_leaves_nothing_on_failure() {
        // Goal: success renames into place; failure removes the temporary file and keeps an
        // existing destination intact.
        let dir = std::env::temp_dir().join(format!("aisle-cli-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("mkdir");
        let target = dir.join("obj.bin");
        let n = write_atomically(&target, |f| {
            f.write_all(b"good")?;
            Ok(4)
        })
        .expect("write");
        assert_eq!(n, 4);
        assert_eq!(fs::read(&target).expect("read"), b"good");
        let err = write_atomically(&target, |f| {
            f.write_all(b"torn")?;
            bail!("network died")
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&target).expect("read"), b"good");
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("obj.bin")]);
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
