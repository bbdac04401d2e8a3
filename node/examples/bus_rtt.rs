//! Measures what forwarding a request's file I/O to another core would cost: the round trip of
//! a message over the cross-core bus between two pinned reactor threads (the peer asleep in
//! `io_uring_enter`, woken through its eventfd, as it would be under a light load), and while
//! both cores are busy (peer awake). Prints median and p99 in microseconds.
//!
//! `cargo run --release -p node --example bus_rtt`

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::io::{self as rio, Reactor};
use node::bus::{Bus, BusMsg};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn run(busy_peer: bool, rounds: usize) -> (f64, f64) {
    let bus = Bus::new(2);
    let b1 = bus.clone();
    let peer = std::thread::spawn(move || {
        let _ = rio::sys::pin_to_cpu(1);
        let r = Reactor::new(1, &Default::default()).unwrap();
        r.block_on(async move {
            if busy_peer {
                // Keep the peer's loop spinning, as a loaded core's would.
                rio::spawn(async {
                    loop {
                        rio::yield_now().await;
                    }
                })
                .detach();
            }
            loop {
                let (from, m) = b1.recv(1).await;
                match m {
                    BusMsg::Ping(v) => while b1.send(1, from, BusMsg::Pong(v)).is_err() {},
                    BusMsg::Shutdown => break,
                    _ => {}
                }
            }
        });
        std::process::exit(0);
    });
    let _ = rio::sys::pin_to_cpu(0);
    let r = Reactor::new(0, &Default::default()).unwrap();
    let b0: Arc<Bus> = bus.clone();
    let samples = r.block_on(async move {
        let mut s = Vec::with_capacity(rounds);
        for i in 0..rounds as u64 {
            if i % 64 == 0 {
                rio::sleep(Duration::from_micros(200)).await; // let an idle peer fall asleep
            }
            let t = Instant::now();
            b0.send(0, 1, BusMsg::Ping(i)).unwrap();
            loop {
                let (_, m) = b0.recv(0).await;
                if let BusMsg::Pong(v) = m {
                    assert_eq!(v, i);
                    break;
                }
            }
            s.push(t.elapsed().as_secs_f64() * 1e6);
        }
        s
    });
    drop(peer);
    let mut s = samples;
    (pct(&mut s, 0.5), pct(&mut s, 0.99))
}

fn main() {
    let busy = std::env::args().any(|a| a == "--busy-peer");
    let (p50, p99) = run(busy, 20_000);
    println!(
        "bus round trip core0→core1→core0 ({}): p50 {:.1} us, p99 {:.1} us",
        if busy { "peer busy" } else { "peer idle" },
        p50,
        p99
    );
}
