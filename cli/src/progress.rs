//! Transfer progress: a byte counter shared by the threads of one transfer, drawn as an
//! indicatif bar (bytes, rate, ETA) on standard error when the user is at a terminal.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether a progress bar should be drawn: not with `--quiet`, and only when standard output
/// is a terminal (a script or a pipe gets none).
pub fn wanted(quiet: bool) -> bool {
    !quiet && io::stdout().is_terminal() && io::stderr().is_terminal()
}

/// Bytes moved so far, and the bar that shows them (if any).
pub struct Progress {
    bytes: AtomicU64,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A counter for a transfer of `total` bytes (unknown: `None`), drawn only if `show`.
    pub fn new(label: &str, total: Option<u64>, show: bool) -> Progress {
        let bar = show.then(|| {
            let template = match total {
                Some(_) => "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
                None => "{msg} {spinner} {binary_bytes} {binary_bytes_per_sec}",
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr())
                .with_style(style)
                .with_message(label.to_owned())
        });
        Progress {
            bytes: AtomicU64::new(0),
            bar,
        }
    }

    /// `n` more bytes moved.
    pub fn add(&self, n: u64) {
        let now = self.bytes.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        if let Some(bar) = &self.bar {
            bar.set_position(now);
        }
    }

    /// `n` bytes taken back (a body rewound to be sent again after a redirect).
    pub fn sub(&self, n: u64) {
        let before = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(n))
            })
            .unwrap_or(0);
        if let Some(bar) = &self.bar {
            bar.set_position(before.saturating_sub(n));
        }
    }

    /// Bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The transfer is over: leave the bar's last state on screen (`ok`) or mark it abandoned.
    pub fn finish(&self, ok: bool) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.bytes());
            if ok {
                bar.finish();
            } else {
                bar.abandon();
            }
            // The bar's line has no newline of its own; end it before the command's report.
            eprintln!();
        }
    }

    /// A writer that counts what passes through it.
    pub fn writer<'a, W: Write + ?Sized>(&'a self, inner: &'a mut W) -> CountingWriter<'a, W> {
        CountingWriter {
            inner,
            progress: self,
        }
    }
}

/// See [`Progress::writer`].
pub struct CountingWriter<'a, W: Write + ?Sized> {
    inner: &'a mut W,
    progress: &'a Progress,
}

impl<W: Write + ?Sized> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_forward_and_back() {
        // Goal: add/sub keep an exact count (never below zero); the writer counts bytes.
        let p = Progress::new("t", Some(100), false);
        p.add(60);
        p.sub(10);
        assert_eq!(p.bytes(), 50);
        p.sub(80);
        assert_eq!(p.bytes(), 0);
        let mut sink = Vec::new();
        p.writer(&mut sink).write_all(b"hello").expect("write");
        assert_eq!((p.bytes(), sink.as_slice()), (5, b"hello".as_slice()));
        p.finish(true);
    }
}
