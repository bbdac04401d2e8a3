//! `aisle`: a command-line client for AIS's native HTTP API. It talks to an aisle node or to a
//! real AIS cluster (following the proxy's redirects to targets).
//!
//! The command-line shape lives here; requests are built in [`api`], sent by [`session`], and
//! each command's logic is in [`cmd`].

#![forbid(unsafe_code)]

mod api;
mod cmd;
mod session;
mod uri;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command-line client for AIStore's native API (aisle nodes and AIS clusters).
#[derive(Debug, Parser)]
#[command(name = "aisle", version)]
struct Cli {
    /// Endpoint URL (http://host:port).
    #[arg(
        long,
        global = true,
        env = "AIS_ENDPOINT",
        default_value = "http://127.0.0.1:8080"
    )]
    endpoint: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list and destroy buckets.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// Upload FILE (`-` for standard input) as an object.
    Put {
        /// Local file, or `-` to stream standard input.
        file: PathBuf,
        /// ais://bucket/object; with no object name, the file's base name is used.
        dest: String,
        /// Send the file's xxhash2 checksum so the server verifies the upload.
        #[arg(long)]
        cksum: bool,
    },
    /// Download an object to FILE (default: the object's base name; `-` for standard output).
    Get {
        /// ais://bucket/object
        src: String,
        /// Local file or directory, or `-` for standard output.
        dest: Option<PathBuf>,
        /// Fetch one byte range only, e.g. `bytes=0-99`.
        #[arg(long)]
        range: Option<String>,
    },
    /// List objects in a bucket as `name<TAB>size`, optionally under a prefix.
    Ls {
        /// ais://bucket[/prefix]
        bucket: String,
    },
    /// Remove or inspect an object.
    #[command(subcommand)]
    Object(ObjectCommand),
}

#[derive(Debug, Subcommand)]
enum BucketCommand {
    /// Create a bucket.
    Create {
        /// ais://bucket
        bucket: String,
    },
    /// List buckets.
    Ls,
    /// Destroy a bucket and everything in it.
    Rm {
        /// ais://bucket
        bucket: String,
    },
}

#[derive(Debug, Subcommand)]
enum ObjectCommand {
    /// Delete an object.
    Rm {
        /// ais://bucket/object
        object: String,
    },
    /// Show an object's properties (Ais-* headers and Content-Length).
    Head {
        /// ais://bucket/object
        object: String,
    },
}

fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut session = session::Session::new(&cli.endpoint)?;
    let s = &mut session;
    match cli.command {
        Command::Bucket(BucketCommand::Create { bucket }) => cmd::bucket_create(s, &bucket, out),
        Command::Bucket(BucketCommand::Ls) => cmd::bucket_ls(s, out),
        Command::Bucket(BucketCommand::Rm { bucket }) => cmd::bucket_rm(s, &bucket, out),
        Command::Put { file, dest, cksum } => cmd::put(s, &file, &dest, cksum, out),
        Command::Get { src, dest, range } => {
            cmd::get(s, &src, dest.as_deref(), range.as_deref(), out)
        }
        Command::Ls { bucket } => cmd::ls(s, &bucket, out),
        Command::Object(ObjectCommand::Rm { object }) => cmd::object_rm(s, &object, out),
        Command::Object(ObjectCommand::Head { object }) => cmd::object_head(s, &object, out),
    }?;
    out.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match run(cli, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        // `aisle ls ... | head`: the reader left; that is not a failure worth a message.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests;
