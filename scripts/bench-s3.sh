#!/bin/bash
# The S3 front end against the native API on one aisle-node, and against the s3s-fs peer (issue 9):
# aisle-bench GET 4 KiB and PUT 64 KiB, `-api ais` vs `-api s3` on the same node, alternated per
# round, medians printed; with S3S_FS set, the same client flags with `-api s3` against s3s-fs.
#
#   scripts/bench-s3.sh
#   S3S_FS=/work/peers/s3s-fs-nd/target/release/s3s-fs ROUNDS=3 DURATION=8s scripts/bench-s3.sh
#
# Environment:
#   S3S_FS          the s3s-fs binary (patched to set TCP_NODELAY; see shared/PEERS.md); unset = no peer
#   NODE, BENCH     the aisle-node and aisle-bench binaries (default: target/release/...)
#   NODE_FLAGS      extra aisle-node flags
#   S3_KEY=ID:SECRET  SigV4 on: the node gets `--s3-access-key ID:SECRET` and every `-api s3`
#                   request of aisle-bench is signed with it (UNSIGNED-PAYLOAD bodies); the
#                   native side is not affected
#   WORKLOADS       space list of: get4k put64k (default: both)
#   ROUNDS=3        alternated rounds;  DURATION=8s per run;  WORKERS=64 connections
#   SKIP_BUILD=1    use target/release as it is
# Output: one line per run (with the load average at its start), then per workload the median
# req/s, p50/p99 µs and server CPU µs per request of each side, and the ratios s3/ais and
# s3/s3s-fs. Server CPU is the server process's utime+stime over the run (/proc/PID/stat) divided
# by the requests aisle-bench counted. GETs walk 1,000 seeded objects; every PUT run writes new
# names. The node runs with two mountpaths under /tmp, s3s-fs with one directory under /tmp.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release
NODE=${NODE:-$BIN/aisle-node}
BENCH=${BENCH:-$BIN/aisle-bench}
NODE_FLAGS=${NODE_FLAGS:-}
S3_KEY=${S3_KEY:-}
SIGN=()
if [ -n "$S3_KEY" ]; then
  NODE_FLAGS="$NODE_FLAGS --s3-access-key $S3_KEY"
  SIGN=(-s3-access-key "${S3_KEY%%:*}" -s3-secret-key "${S3_KEY#*:}")
fi
S3S_FS=${S3S_FS:-}
WORKLOADS=${WORKLOADS:-"get4k put64k"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
WORKERS=${WORKERS:-64}
PORT=${PORT:-19400}
PEER_PORT=${PEER_PORT:-19401}
D=$(mktemp -d /tmp/aisle-s3b.XXXXXX)
TSV=$D/runs.tsv
NCPU=$(nproc)
CLK=$(getconf CLK_TCK)
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p node -p bench --bins)

PID=
wait_up() { # url
  for _ in $(seq 200); do
    curl -s -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
start_node() {
  rm -rf "$D/mp"; mkdir -p "$D/mp/1" "$D/mp/2"
  # shellcheck disable=SC2086
  "$NODE" --listen 127.0.0.1:$PORT --mountpath "$D/mp/1" --mountpath "$D/mp/2" $NODE_FLAGS \
    >"$D/node.log" 2>&1 &
  PID=$!
  wait_up "http://127.0.0.1:$PORT/v1/health" || { cat "$D/node.log"; echo "node did not start" >&2; exit 1; }
}
start_peer() {
  rm -rf "$D/peer"; mkdir -p "$D/peer"
  "$S3S_FS" --host 127.0.0.1 --port "$PEER_PORT" "$D/peer" >"$D/peer.log" 2>&1 &
  PID=$!
  wait_up "http://127.0.0.1:$PEER_PORT/" || { cat "$D/peer.log"; echo "s3s-fs did not start" >&2; exit 1; }
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

bench() { # side args... -> json on stdout
  local side=$1; shift
  case $side in
    ais) set -- -api ais -ip 127.0.0.1 -port $PORT "$@" ;;
    s3) set -- -api s3 --endpoint "http://127.0.0.1:$PORT/s3" "${SIGN[@]}" "$@" ;;
    s3s-fs) set -- -api s3 --endpoint "http://127.0.0.1:$PEER_PORT" "$@" ;;
  esac
  "$BENCH" -numcores "$NCPU" -bucket s3b -statsinterval 0 -json "$@" 2>>"$D/bench.err"
}

seed() { # side: 1,000 objects of 4 KiB in bucket s3b
  bench "$1" -pctput 100 -maxputs 1000 -minsize 4KiB -maxsize 4KiB -numworkers 16 -objprefix seed >/dev/null
}

measure() { # side workload
  local side=$1 w=$2 size op pct
  case $w in
    get4k) size=4KiB op=get pct=0 ;;
    put64k) size=64KiB op=put pct=100 ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
  esac
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  sync
  local t0; t0=$(cpu_ticks "$PID")
  local json; json=$(bench "$side" -pctput $pct -duration "$DURATION" -minsize $size -maxsize $size -numworkers "$WORKERS")
  local t1; t1=$(cpu_ticks "$PID")
  J=$json python3 - "$side" "$w" "$op" "$((t1 - t0))" "$CLK" "$load" >>"$TSV" <<'EOF'
import json, os, sys
side, w, op, ticks, clk, load = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
d = json.loads(os.environ["J"])[op]
cpu_us = ticks * 1e6 / clk / max(d["count"], 1)
print("\t".join(map(str, [w, side, round(d["req_per_s"]), d["latency_us"]["p50"], d["latency_us"]["p99"], round(cpu_us, 1), d["errors"], load])))
EOF
  tail -1 "$TSV"
}

echo "aisle-bench: $WORKERS workers, $NCPU client threads, $DURATION per run, $ROUNDS rounds; node $NODE ${NODE_FLAGS:+($NODE_FLAGS)}"
echo "peer: ${S3S_FS:-<none>}   $(uname -r)   commit $(git -C "$ROOT" rev-parse --short HEAD)   $(uptime)"
echo -e "workload\tside\treq/s\tp50us\tp99us\tcpu_us/req\terrors\tload1"
for r in $(seq "$ROUNDS"); do
  order="ais s3"; [ $((r % 2)) = 0 ] && order="s3 ais"
  start_node
  seed ais
  for w in $WORKLOADS; do
    for side in $order; do measure "$side" "$w"; done
  done
  stop
  if [ -n "$S3S_FS" ]; then
    start_peer
    seed s3s-fs
    for w in $WORKLOADS; do measure s3s-fs "$w"; done
    stop
  fi
done
python3 - "$TSV" <<'EOF'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print("\nmedians")
print("workload\tside\treq/s\tp50us\tp99us\tcpu_us/req\terrors\truns")
med = {}
for w in dict.fromkeys(r[0] for r in rows):
    for side in ("ais", "s3", "s3s-fs"):
        rs = [r for r in rows if r[0] == w and r[1] == side]
        if not rs:
            continue
        m = [st.median(float(r[i]) for r in rs) for i in (2, 3, 4, 5)]
        med[(w, side)] = m
        print(f"{w}\t{side}\t{m[0]:.0f}\t{m[1]:.0f}\t{m[2]:.0f}\t{m[3]:.1f}\t{sum(int(r[6]) for r in rs)}\t{len(rs)}")
print("\nratios of medians")
for w in dict.fromkeys(r[0] for r in rows):
    s3, ais, peer = med.get((w, "s3")), med.get((w, "ais")), med.get((w, "s3s-fs"))
    line = f"{w}\ts3/ais req/s {s3[0]/ais[0]:.3f}  cpu/req {s3[3]/ais[3]:.3f}"
    if peer:
        line += f"\ts3/s3s-fs req/s {s3[0]/peer[0]:.2f}  cpu/req {s3[3]/peer[3]:.3f}"
    print(line)
EOF
rm -rf "$D/mp" "$D/peer"
echo "raw: $TSV"
