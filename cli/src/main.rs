//! `aisle`: a command-line client for AIS's native HTTP API. It talks to an aisle node or to a
//! real AIS cluster (following the proxy's redirects to targets).
//!
//! The command-line shape lives here; requests are built in [`api`], sent by [`session`], and
//! each command's logic is in [`cmd`].

#![forbid(unsafe_code)]

mod api;
mod cmd;
mod job;
mod multipart;
mod progress;
mod session;
mod size;
mod space;
mod storage;
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
    /// No progress bars (they are drawn only when standard output is a terminal anyway).
    #[arg(long, short, global = true)]
    quiet: bool,
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
        /// Send the file's xxhash2 checksum (per part for a multipart upload) so the server
        /// verifies the upload.
        #[arg(long)]
        cksum: bool,
        /// A file larger than this is sent as a multipart upload in parts of this size
        /// (binary units: 64MiB, 1G, 512k, or bytes).
        #[arg(long, default_value = "64MiB", value_parser = parse_part_size)]
        part_size: u64,
        /// Parts sent at once, each over its own connection.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: u16,
        /// Always send one plain PUT, however large the file.
        #[arg(long)]
        no_multipart: bool,
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
    /// Remove what nothing can reach (old work files, orphan chunks, leftovers of destroyed
    /// buckets, verified misplaced duplicates, ...): starts `cleanup-store`, waits, lists.
    SpaceCleanup {
        /// Only this bucket (ais://bucket); default: all, with destroyed buckets' leftovers.
        bucket: Option<String>,
        /// List what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep misplaced objects even when their proper copy is verified.
        #[arg(long)]
        keep_misplaced: bool,
        /// Also remove zero-size objects.
        #[arg(long)]
        rm_zero_size: bool,
        /// Remove verified misplaced objects even while a resilver runs or was interrupted.
        #[arg(long)]
        force: bool,
        /// Stop waiting after this many seconds (the job goes on).
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// The node's storage: mountpaths.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
    /// Start a job (prints its id).
    #[command(subcommand)]
    Start(StartCommand),
    /// Show jobs.
    #[command(subcommand)]
    Show(ShowCommand),
    /// Stop jobs.
    #[command(subcommand)]
    Stop(StopCommand),
    /// Wait for a job to end.
    #[command(subcommand)]
    Wait(WaitCommand),
}

#[derive(Debug, Subcommand)]
enum StartCommand {
    /// Resilver: move objects to their HRW mountpaths and restore their copies.
    Resilver {
        /// Wait for the job to end (fails if it fails or is aborted).
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (30s, 5m, 1h, 500ms).
        #[arg(long, value_parser = job::parse_duration, requires = "wait")]
        timeout: Option<std::time::Duration>,
    },
    /// Make N copies of every object of a bucket, on N mountpaths.
    MakeNCopies {
        /// ais://bucket
        bucket: String,
        /// Copies of each object (1 = no extra copy).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32))]
        copies: u32,
        /// Wait for the job to end (fails if it fails or is aborted).
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (30s, 5m, 1h, 500ms).
        #[arg(long, value_parser = job::parse_duration, requires = "wait")]
        timeout: Option<std::time::Duration>,
    },
}

#[derive(Debug, Subcommand)]
enum ShowCommand {
    /// Jobs as a table (running ones; --all for finished ones too).
    Job {
        /// A job kind (resilver, make-n-copies, cleanup-store, ...) or a job id.
        which: Option<String>,
        /// Include finished and aborted jobs.
        #[arg(long)]
        all: bool,
        /// Follow the one running job with a live progress bar until it ends.
        #[arg(long, alias = "watch")]
        progress: bool,
    },
}

#[derive(Debug, Subcommand)]
enum StopCommand {
    /// Stop a job by id, or every running job of a kind.
    Job {
        /// A job id or a job kind.
        which: String,
    },
}

#[derive(Debug, Subcommand)]
enum WaitCommand {
    /// Wait for a job to end; fails if it fails, is aborted, or the timeout passes.
    Job {
        /// The job id.
        id: String,
        /// Give up after this long (30s, 5m, 1h, 500ms).
        #[arg(long, value_parser = job::parse_duration)]
        timeout: Option<std::time::Duration>,
    },
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
    /// Show an object's properties (Ais-* headers and Content-Length): size, checksum,
    /// version, and for a chunked object its chunk count and largest chunk size.
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
        Command::Put {
            file,
            dest,
            cksum,
            part_size,
            parallel,
            no_multipart,
        } => {
            let opts = cmd::PutOptions {
                cksum,
                part_size,
                parallel: usize::from(parallel),
                no_multipart,
                show_progress: progress::wanted(cli.quiet),
            };
            cmd::put(s, &file, &dest, &opts, out)
        }
        Command::Get { src, dest, range } => {
            cmd::get(s, &src, dest.as_deref(), range.as_deref(), cli.quiet, out)
        }
        Command::Ls { bucket } => cmd::ls(s, &bucket, out),
        Command::Object(ObjectCommand::Rm { object }) => cmd::object_rm(s, &object, out),
        Command::Object(ObjectCommand::Head { object }) => cmd::object_head(s, &object, out),
        Command::Storage(c) => storage::run(s, c, out),
        Command::Start(StartCommand::Resilver { wait, timeout }) => {
            let show = progress::wanted(cli.quiet);
            let req = job::start_request("resilver", None, None);
            job::start(s, &req, wait.then_some(timeout), show, out)
        }
        Command::Start(StartCommand::MakeNCopies {
            bucket,
            copies,
            wait,
            timeout,
        }) => {
            let uri = uri::parse(&bucket)?;
            if uri.object.is_some() {
                anyhow::bail!("{bucket:?}: expected a bucket (ais://bucket), not an object");
            }
            let show = progress::wanted(cli.quiet);
            let wait = wait.then_some(timeout);
            let req = job::start_request("make-n-copies", Some(&uri.bucket), Some(copies));
            job::start(s, &req, wait, show, out)
        }
        Command::Show(ShowCommand::Job {
            which,
            all,
            progress: follow,
        }) => {
            let show = progress::wanted(cli.quiet);
            job::show(s, which.as_deref(), all, follow, show, out)
        }
        Command::Stop(StopCommand::Job { which }) => job::stop(s, &which, out),
        Command::Wait(WaitCommand::Job { id, timeout }) => {
            job::wait_job(s, &id, timeout, progress::wanted(cli.quiet), out)
        }
        Command::SpaceCleanup {
            bucket,
            dry_run,
            keep_misplaced,
            rm_zero_size,
            force,
            timeout,
        } => {
            let flags = space::CleanupFlags {
                dry_run,
                keep_misplaced,
                rm_zero_size,
                force,
                timeout: timeout.map(std::time::Duration::from_secs),
            };
            space::cleanup(s, bucket.as_deref(), &flags, out)
        }
    }?;
    out.flush()?;
    Ok(())
}

/// `--part-size`: a size of at least 1 KiB (AIS's smallest chunk).
fn parse_part_size(arg: &str) -> Result<u64, String> {
    match size::parse(arg) {
        Ok(n) if n >= 1024 => Ok(n),
        Ok(_) => Err(format!("{arg:?}: a part must be at least 1KiB")),
        Err(e) => Err(e.to_string()),
    }
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
