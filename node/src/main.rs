//! `aisle-node`: parse flags, set up logging, run the node.

use clap::Parser;

#[cfg(feature = "alloc-count")]
#[global_allocator]
static ALLOC: engine::io::alloc_count::CountingAlloc = engine::io::alloc_count::CountingAlloc;
use node::config::{Config, Flags};

fn main() {
    let flags = Flags::parse();
    let filter = match &flags.log_level {
        Some(l) => tracing_subscriber::EnvFilter::new(l),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    };
    // Colours only on a terminal: log files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
    let result = Config::from_flags(&flags).and_then(node::node::run);
    if let Err(e) = result {
        eprintln!("aisle-node: error: {e:#}");
        std::process::exit(1);
    }
}
