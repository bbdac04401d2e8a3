#!/bin/bash
# A/B of two aisle-node flag sets, or two aisle-node binaries, with aisle-bench, alternating
# A/B per round, medians printed.
#
#   A="--recv multishot" B="--recv single" scripts/bench-ab.sh
#   A_NODE=/path/to/old/aisle-node WORKLOADS="get4k get1m put64k put1m" scripts/bench-ab.sh
#
# Environment:
#   A, B            extra aisle-node flags of each side (default: none)
#   A_NODE, B_NODE  the aisle-node binary of each side (default: target/release/aisle-node);
#                   aisle-bench is always target/release/aisle-bench
#   WORKLOADS       space list of: get4k get4k-pinned get64k get256k get1m get4m get16m
#                   put4k put64k put1m put64k-ow put1m-ow
#                   (-ow: overwrites: 1000 x 64 KiB / 256 x 1 MiB objects seeded, then every PUT
#                   replaces one of them, aisle-bench -putexisting)
#                   (default: "get4k get4k-pinned")
#   ROUNDS=3        alternated rounds;  DURATION=8s per workload run;  CONNS=64 connections
#   SKIP_BUILD=1    use target/release as it is
#   WARM=1          GET workloads: after seeding, read every object file once (cat) and run one
#                   unrecorded 2 s GET pass before the measured run. Without it the measured run
#                   is the first read of freshly PUT files (large PUTs bypass the page cache),
#                   which on this VM leaves a `--get-body sendfile` node in a transient state
#                   ~1.5x faster than its steady state (bench/RESULTS.md, "GET 1 MiB hot").
# Output: one line per run, then per workload: median req/s, p50/p99 µs and node CPU µs per
# request of each side and the ratio B/A. Node CPU is the node process's utime+stime over the
# run (/proc/PID/stat), divided by the requests aisle-bench counted.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release
A=${A:-}
B=${B:-}
WORKLOADS=${WORKLOADS:-"get4k get4k-pinned"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
CONNS=${CONNS:-64}
PORT=${PORT:-19300}
D=$(mktemp -d /tmp/aisle-ab.XXXXXX)
TSV=$D/runs.tsv
NCPU=$(nproc)
CLK=$(getconf CLK_TCK)
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p node -p bench)

PID=
A_NODE=${A_NODE:-$BIN/aisle-node}
B_NODE=${B_NODE:-$BIN/aisle-node}
start() { # flags pinned node-binary
  local flags=$1 pinned=$2 node=$3 pre=()
  rm -rf "$D/mp"; mkdir -p "$D/mp/1" "$D/mp/2"
  [ "$pinned" = 1 ] && pre=(taskset -c 1) && flags="$flags --cores 1"
  # shellcheck disable=SC2086
  "${pre[@]}" "$node" --listen 127.0.0.1:$PORT --mountpath "$D/mp/1" --mountpath "$D/mp/2" \
    $flags >"$D/node.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/v1/health" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  cat "$D/node.log"; echo "node did not start" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

bench() { # args... -> json on stdout
  local pre=()
  [ "$PINNED" = 1 ] && pre=(taskset -c 0) && set -- -numcores 1 "$@"
  [ "$PINNED" = 1 ] || set -- -numcores "$NCPU" "$@"
  "${pre[@]}" "$BIN/aisle-bench" -ip 127.0.0.1 -port $PORT -statsinterval 0 -json "$@" 2>>"$D/bench.err"
}

run_workload() { # side workload
  local side=$1 w=$2 size op seed=0 n=0
  PINNED=0
  case $w in
    get4k) size=4KiB op=get n=1000 ;;
    get4k-pinned) size=4KiB op=get n=1000 PINNED=1 ;;
    get64k) size=64KiB op=get n=500 ;;
    get256k) size=256KiB op=get n=400 ;;
    get1m) size=1MiB op=get n=200 ;;
    get4m) size=4MiB op=get n=64 ;;
    get16m) size=16MiB op=get n=32 ;;
    put4k) size=4KiB op=put ;;
    put64k) size=64KiB op=put ;;
    put1m) size=1MiB op=put ;;
    put64k-ow) size=64KiB op=put n=1000 ;;
    put1m-ow) size=1MiB op=put n=256 ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
  esac
  local flags node; [ "$side" = A ] && flags=$A node=$A_NODE || flags=$B node=$B_NODE
  start "$flags" "$PINNED" "$node"
  if [ "$op" = get ]; then
    PINNED=0 bench -bucket ab -pctput 100 -maxputs $n -minsize $size -maxsize $size -numworkers 16 >/dev/null
    if [ "${WARM:-0}" = 1 ]; then
      find "$D/mp" -type f -exec cat {} + >/dev/null
      PINNED=0 bench -bucket ab -pctput 0 -duration 2s -minsize $size -maxsize $size -numworkers "$CONNS" >/dev/null
    fi
    [ "$w" = get4k-pinned ] && PINNED=1
  fi
  local over=()
  if [ "$op" = put ] && [ "$n" -gt 0 ]; then
    bench -bucket ab -pctput 100 -maxputs $n -minsize $size -maxsize $size -numworkers 16 \
      -objprefix seed -putlist "$D/names" >/dev/null
    sync
    over=(-putexisting -objlist "$D/names")
  fi
  local pct=0; [ "$op" = put ] && pct=100
  local t0; t0=$(cpu_ticks "$PID")
  local json; json=$(bench -bucket ab -pctput $pct -duration "$DURATION" -minsize $size -maxsize $size -numworkers "$CONNS" "${over[@]}")
  local t1; t1=$(cpu_ticks "$PID")
  stop
  J=$json python3 - "$side" "$w" "$op" "$((t1 - t0))" "$CLK" >>"$TSV" <<'EOF'
import json, os, sys
side, w, op, ticks, clk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
d = json.loads(os.environ["J"])[op]
cpu_us = ticks * 1e6 / clk / max(d["count"], 1)
print("\t".join(map(str, [w, side, round(d["req_per_s"]), d["latency_us"]["p50"], d["latency_us"]["p99"], round(cpu_us, 1), d["errors"]])))
EOF
  tail -1 "$TSV"
}

echo "A: ${A:-<defaults>}   B: ${B:-<defaults>}   rounds $ROUNDS × $DURATION   $(uname -r)   commit $(git -C "$ROOT" rev-parse --short HEAD)"
echo -e "workload\tside\treq/s\tp50us\tp99us\tcpu_us/req\terrors"
for r in $(seq "$ROUNDS"); do
  for w in $WORKLOADS; do
    if [ $((r % 2)) = 1 ]; then run_workload A "$w"; run_workload B "$w"; else run_workload B "$w"; run_workload A "$w"; fi
  done
done
python3 - "$TSV" <<'EOF'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print("\nmedians (B/A ratio)")
print("workload\treq/s A\treq/s B\tB/A\tp99 A\tp99 B\tcpu A\tcpu B\tcpu B/A\terrors")
for w in dict.fromkeys(r[0] for r in rows):
    m = {}
    for side in "AB":
        rs = [r for r in rows if r[0] == w and r[1] == side]
        m[side] = [st.median(float(r[i]) for r in rs) for i in (2, 4, 5)] + [sum(int(r[6]) for r in rs)]
    a, b = m["A"], m["B"]
    print(f"{w}\t{a[0]:.0f}\t{b[0]:.0f}\t{b[0]/a[0]:.3f}\t{a[1]:.0f}\t{b[1]:.0f}\t{a[2]:.1f}\t{b[2]:.1f}\t{b[2]/a[2]:.3f}\t{a[3]+b[3]}")
EOF
rm -rf "$D/mp"
echo "raw: $TSV"
