#!/usr/bin/env bash
# Do idle and slow connections cost other clients anything? (issue 10, "Hostile and broken
# clients"). One node; per round, alternating the order: an aisle-bench GET run (4 KiB, 64
# keep-alive connections) alone, and the same run while IDLE more connections are held open —
# half connected and silent, half with a request head started and never finished (slowloris).
# Prints req/s and p99 of each run, the node's RSS and open connections, medians and the ratio.
#
#   sudo scripts/bench-idle-conns.sh                # IDLE=10000 ROUNDS=3 DURATION=10s
#
# Environment: IDLE=10000 ROUNDS=3 DURATION=10s PORT=18995 SKIP_BUILD=0. Needs a file limit
# above IDLE for this shell (raised with ulimit -n; root may raise the hard limit).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
IDLE=${IDLE:-10000} ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} PORT=${PORT:-18995}
BIN=target/release
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --bin aisle-node --bin aisle-bench >&2
ulimit -n $((IDLE + 4096)) 2>/dev/null || ulimit -Hn $((IDLE + 4096)) && ulimit -n $((IDLE + 4096))
D=$(mktemp -d /tmp/aisle-idle.XXXXXX)
NODE_PID= HOLD_PID=
trap '[ -n "$HOLD_PID" ] && kill $HOLD_PID 2>/dev/null; [ -n "$NODE_PID" ] && kill $NODE_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
mkdir -p "$D/mp1" "$D/mp2"
"$BIN/aisle-node" --listen "127.0.0.1:$PORT" --mountpath "$D/mp1" --mountpath "$D/mp2" >"$D/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v1/health" >/dev/null && break; sleep 0.1; done
bench() {
  "$BIN/aisle-bench" -ip 127.0.0.1 -port "$PORT" -statsinterval 0 -json -numcores 2 "$@" 2>>"$D/bench.err"
}
bench -bucket idle -pctput 100 -maxputs 1000 -minsize 4KiB -maxsize 4KiB -numworkers 16 >/dev/null
rss() { awk '/VmRSS/ {print $2}' "/proc/$NODE_PID/status"; }
conns() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^aisle_core_conns_open/ {s += $2} END {print s+0}'; }
hold() { # starts the holder; returns when all IDLE connections are open
  python3 - "$PORT" "$IDLE" "$D/ready" <<'PY' &
import socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if i % 2:
        s.sendall(b"GET /v1/objects/idle/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    socks.append(s)
open(ready, "w").write(str(len(socks)))
time.sleep(3600)
PY
  HOLD_PID=$!
  for _ in $(seq 600); do [ -s "$D/ready" ] && return; sleep 0.1; done
  echo "holder did not open $IDLE connections" >&2; exit 1
}
unhold() { kill "$HOLD_PID"; wait "$HOLD_PID" 2>/dev/null || true; HOLD_PID=; rm -f "$D/ready"; sleep 1; }
run() { # label -> a TSV row
  local r0 c; r0=$(rss); c=$(conns)
  local j; j=$(bench -bucket idle -pctput 0 -duration "$DURATION" -minsize 4KiB -maxsize 4KiB -numworkers 64)
  J=$j python3 - "$1" "$r0" "$(rss)" "$c" <<'PY'
import json, os, sys
d = json.loads(os.environ["J"])["get"]
print("\t".join(map(str, [sys.argv[1], round(d["req_per_s"]), d["latency_us"]["p50"], d["latency_us"]["p99"], d["errors"], sys.argv[2], sys.argv[3], sys.argv[4]])))
PY
}
echo "idle/slow connections: $IDLE; rounds $ROUNDS x $DURATION; $(nproc) CPUs; $(uname -r); commit $(git rev-parse --short HEAD)"
echo -e "run\treq/s\tp50us\tp99us\terrors\trss_kib_before\trss_kib_after\tconns_open"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    run alone | tee -a "$D/tsv"; hold; run "with-$IDLE" | tee -a "$D/tsv"; unhold
  else
    hold; run "with-$IDLE" | tee -a "$D/tsv"; unhold; run alone | tee -a "$D/tsv"
  fi
done
python3 - "$D/tsv" "$IDLE" <<'PY'
import sys, statistics as st
rows = [l.split("\t") for l in open(sys.argv[1])]
a = [r for r in rows if r[0] == "alone"]; b = [r for r in rows if r[0] != "alone"]
m = lambda rs, i: st.median(float(r[i]) for r in rs)
print(f"medians: alone {m(a,1):.0f} req/s p99 {m(a,3):.0f} us; with {sys.argv[2]} idle/slow "
      f"{m(b,1):.0f} req/s p99 {m(b,3):.0f} us; ratio {m(b,1)/m(a,1):.2f}; node RSS with them "
      f"{m(b,6)/1024:.1f} MiB (alone {m(a,6)/1024:.1f} MiB), {m(b,7):.0f} connections open")
PY
