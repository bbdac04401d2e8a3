//! Starting and stopping a node: probe the kernel, open the store, start one pinned reactor
//! thread per core, wait for SIGINT/SIGTERM, then shut the cores down within a bounded time.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::io::{self as rio, sys};
use engine::store::Store;

use crate::bus::{Bus, BusMsg};
use crate::config::Config;
use crate::core::{run_core, CoreStart};
use crate::ctx::{NodeInfo, OBJECTS_CACHED_PER_CORE_MAX};
use crate::stats::CoreStats;

/// Test-only: with this set to `1` the node starts a resilver at start-up (the tests of a
/// preemption at a chosen moment need it; others use the jobs API); `2` starts a second one
/// right after, which preempts the first.
pub const TEST_RESILVER_AT_START_ENV: &str = "AISLE_TEST_RESILVER_AT_START";

/// A stable daemon ID derived from the listen port (AIS IDs are short alphanumerics).
fn daemon_id(port: u16) -> String {
    format!("aisle{port}")
}

/// Runs a node until SIGINT or SIGTERM; returns after a clean shutdown.
/// How long a start waits for its listen address to come free (see `run`).
const LISTEN_FREE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

pub fn run(cfg: Config) -> anyhow::Result<()> {
    sys::ignore_sigpipe();
    // Block the shutdown signals (and SIGHUP, which reloads the TLS certificate) before any
    // thread starts, so only `wait_for_signals` sees them.
    let signals: &[libc::c_int] = if cfg.tls.is_some() {
        &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
    } else {
        &[libc::SIGINT, libc::SIGTERM]
    };
    sys::block_signals(signals)?;
    // Before anything else: a node already on this address would share its connections with
    // this one (SO_REUSEPORT), each answering for its own buckets. A node just killed on it
    // holds its listeners a moment longer (its rings are torn down after the process exits),
    // so the address gets LISTEN_FREE_WAIT to come free.
    let deadline = std::time::Instant::now() + LISTEN_FREE_WAIT;
    while let Err(e) = sys::check_listen_free(cfg.listen) {
        if e.kind() != std::io::ErrorKind::AddrInUse || std::time::Instant::now() > deadline {
            anyhow::bail!(
                "cannot listen on {}: {e} (is another node or server running on it?)",
                cfg.listen
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let tls = match &cfg.tls {
        Some(files) => {
            let tls =
                Arc::new(crate::tls::Tls::new(files.clone()).map_err(|e| anyhow::anyhow!(e))?);
            tls.start_watcher(cfg.tls_check_interval);
            tracing::info!(cert = %files.cert.display(), key = %files.key.display(), "HTTPS on the listener");
            Some(tls)
        }
        None => None,
    };
    let probe = rio::probe(256).map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(
        defer_taskrun = probe.defer_taskrun,
        memlock_bytes = probe.memlock_bytes,
        "io_uring probe ok"
    );
    rio::BlockingPool::init(2);
    let nofile = sys::raise_nofile_limit();
    tracing::info!(nofile, "open-file limit");

    let store = Arc::new(
        Store::open_as(&cfg.mountpaths, &daemon_id(cfg.listen.port()))
            .map_err(|e| anyhow::anyhow!("opening the store: {e}"))?,
    );
    store.set_put_write_direct(cfg.put_write == crate::config::PutWrite::Direct);
    store.set_overwrite_exchange(cfg.overwrite == crate::config::Overwrite::Exchange);
    store.set_put_direct_min(cfg.put_direct_min);
    store.set_dont_cleanup_time(cfg.dont_cleanup_time);
    store.enable_fshc(cfg.fshc.clone());
    store
        .set_space_conf(cfg.space)
        .map_err(|e| anyhow::anyhow!("capacity watermarks: {e}"))?;
    store.start_capacity_monitor(cfg.space_check_interval);
    tracing::info!(
        put_direct_min = ?cfg.put_direct_min,
        put_direct_bufs = cfg.put_direct_bufs,
        put_fixed_bufs = cfg.put_fixed_bufs,
        "PUT write path"
    );
    let mps = store.mountpaths();
    let owners = mps.owners(cfg.cores);
    for m in mps.iter() {
        tracing::info!(mountpath = %m.path.display(), id = %m.id, state = engine::vmd::state_word(m.state), core = owners[m.id.index()], "mountpath");
    }
    tracing::info!(
        buckets = store.bmd().buckets.len(),
        "bucket metadata loaded"
    );

    let host = cfg.listen.ip().to_string();
    let node = Arc::new(NodeInfo {
        // The VMD's node id when the mountpaths already carry one, else derived from the port.
        daemon_id: store.node_id(),
        url: format!(
            "{}://{}",
            if tls.is_some() { "https" } else { "http" },
            cfg.listen
        ),
        host,
        port: cfg.listen.port(),
        started: Instant::now(),
        started_unix_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
        cores: cfg.cores,
        defer_taskrun: probe.defer_taskrun,
        recv_multishot: cfg.recv == crate::config::RecvMode::Multishot,
        s3_at_root: cfg.s3_at_root,
        tcp_congestion: cfg.tcp_congestion.clone(),
        s3_keys: cfg.s3_keys.clone(),
        conns_per_core_max: cfg.conns_per_core_max,
        put_inflight_bytes_per_core: cfg.put_inflight_bytes_per_core,
        auth: if cfg.auth.is_on() {
            // The cluster id AuthN names in cluster ACLs and bucket namespaces: the Smap UUID.
            let cluster_id = crate::ais::cluster_uuid(&store.node_id());
            let v = crate::auth::Verifier::new(
                cfg.auth.secret.as_deref(),
                cfg.auth.pubkey_pem.as_deref(),
                cluster_id,
            )?;
            tracing::info!(verifier = ?v, "token access control on");
            Some(Arc::new(v))
        } else {
            None
        },
        stats: (0..cfg.cores)
            .map(|c| Arc::new(CoreStats::new(c, crate::stats::MOUNTPATH_IDS_COUNTED)))
            .collect(),
        // A quarter of the descriptors go to cached objects, the rest to connections and I/O.
        objects_cached_per_core: ((nofile as usize) / (4 * cfg.cores))
            .clamp(64, OBJECTS_CACHED_PER_CORE_MAX),
        body_send: cfg.body_send,
        idle_timeout: Duration::from_secs(cfg.idle_timeout_secs.max(1)),
        body_timeout: Duration::from_secs(cfg.body_timeout_secs.max(1)),
        put_direct_bufs: if cfg.put_direct_min.is_some() {
            cfg.put_direct_bufs
        } else {
            0
        },
        put_fixed_bufs: cfg.put_fixed_bufs,
        test_panic: std::env::var(crate::ctx::TEST_PANIC_ENV).is_ok_and(|v| v == "1"),
        tls: tls.clone(),
    });
    if node.test_panic {
        tracing::warn!(
            "{} is set: requests with header {} panic on purpose (tests only)",
            crate::ctx::TEST_PANIC_ENV,
            crate::ctx::TEST_PANIC_HEADER
        );
    }
    let bus = Bus::new(cfg.cores);
    let cpus = sys::allowed_cpus();
    let timeout = Duration::from_secs(cfg.shutdown_timeout_secs);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let core_cpus: Vec<Option<usize>> = (0..cfg.cores)
        .map(|core| (cfg.pin && !cpus.is_empty()).then(|| cpus[core % cpus.len()]))
        .collect();
    store.set_core_cpus(core_cpus.clone());
    let stats = node.stats.clone();
    store.set_foreground_probe(Arc::new(move || {
        stats
            .iter()
            .map(|c| {
                let t = &c.total;
                t.get_count.get() + t.put_count.get() + t.head_count.get() + t.del_count.get()
            })
            .sum()
    }));
    let mut threads = Vec::new();
    for (core, &cpu) in core_cpus.iter().enumerate() {
        let start = CoreStart {
            core,
            cpu,
            listen: cfg.listen,
            store: store.clone(),
            node: node.clone(),
            bus: bus.clone(),
            ready: ready_tx.clone(),
            shutdown_timeout: timeout,
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("aisle-core-{core}"))
                .spawn(move || run_core(start))?,
        );
    }
    drop(ready_tx);
    for _ in 0..cfg.cores {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => anyhow::bail!("{e}"),
            Err(_) => anyhow::bail!("a core thread died during startup"),
        }
    }
    let pending = store.mountpaths().iter().any(|m| {
        matches!(
            m.state,
            engine::mountpath::MpState::Detaching | engine::mountpath::MpState::Disabling
        )
    });
    if store.resilver_interrupted() || pending {
        // Resumed through the lifecycle, so a detach or disable it was for finishes with it.
        store.resilver_and_settle("a resilver was interrupted (or a detach/disable pending)");
    } else {
        // `1`: one resilver; `2`: two in a row, the second preempting the first.
        let n = std::env::var(TEST_RESILVER_AT_START_ENV).map_or(0, |v| match v.as_str() {
            "1" => 1,
            "2" => 2,
            _ => 0,
        });
        if n > 0 {
            let first = store.resilver_and_settle(TEST_RESILVER_AT_START_ENV);
            if n == 2 {
                // Preempt it once it has moved something (or ended), so the abort is mid-way.
                let deadline = Instant::now() + Duration::from_secs(10);
                while first.is_running()
                    && first.counters.snap().objs == 0
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                store.resilver_and_settle(TEST_RESILVER_AT_START_ENV);
            }
        }
    }
    spawn_heap_trimmer(node.clone())?;
    tracing::info!(listen = %cfg.listen, cores = cfg.cores, daemon_id = %node.daemon_id, "aisle-node ready");
    eprintln!("aisle-node listening on {} ({} cores)", node.url, cfg.cores);

    let sig = loop {
        let sig = sys::wait_for_signals(signals);
        if sig != libc::SIGHUP {
            break sig;
        }
        if let Some(tls) = &tls {
            let _ = tls.reload("SIGHUP");
        }
    };
    tracing::info!(
        signal = sig,
        "shutting down: no new connections, finishing requests in flight"
    );
    for core in 0..cfg.cores {
        let mut msg = BusMsg::Shutdown;
        // A full queue pushes back: retry until the core has room.
        while let Err(m) = bus.send(bus.control(), core, msg) {
            msg = m;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let deadline = Instant::now() + timeout + Duration::from_secs(2);
    for t in threads {
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// How often the heap trimmer looks at the connection counters.
const HEAP_TRIM_TICK: Duration = Duration::from_secs(5);
/// Connections closed since the last trim that make the next tick trim.
const HEAP_TRIM_CONNS_CLOSED: u64 = 1024;

/// A thread that gives freed connection memory back to the kernel once many connections went
/// away (a burst of idle or slow clients, then quiet): without it the resident set stays at the
/// burst's high-water mark (bench/RESULTS.md, idle connections). At most one trim per tick, off
/// the core threads, and only after that many connections closed.
fn spawn_heap_trimmer(node: Arc<NodeInfo>) -> anyhow::Result<()> {
    let closed = move || -> u64 { node.stats.iter().map(|c| c.conns_closed.get()).sum() };
    std::thread::Builder::new()
        .name("aisle-heap-trim".into())
        .spawn(move || {
            let mut last = closed();
            loop {
                std::thread::sleep(HEAP_TRIM_TICK);
                let now = closed();
                if now - last >= HEAP_TRIM_CONNS_CLOSED {
                    let released = sys::release_free_heap();
                    tracing::debug!(closed = now - last, released, "heap trimmed");
                    last = now;
                }
            }
        })?;
    Ok(())
}
