#!/usr/bin/env bash
# Cold-read A/B of two aisle-node builds on the same files: one dataset seeded once (COUNT
# objects of SIZE, 2 mountpaths under BENCH_DIR), then per round, alternating which build goes
# first: start the build's node on the data, drop the page cache, one aisle-bench epoch over the
# object list, stop. Prints each run and the medians (objects/s) and B/A.
#
#   sudo scripts/bench-cold-ab.sh A_BIN_DIR B_BIN_DIR [COUNT] [SIZE]    # defaults 100000 4KiB
#
# A_BIN_DIR/B_BIN_DIR each hold an aisle-node (and the seed and epochs use B's aisle-bench).
# Environment: ROUNDS=3 CONNS=32 BENCH_DIR=/tmp/aisle-cold-ab PORT=18994 KEEP_DATA=0
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 2 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
A=$1 B=$2 COUNT=${3:-100000} SIZE=${4:-4KiB}
ROUNDS=${ROUNDS:-3} CONNS=${CONNS:-32} BENCH_DIR=${BENCH_DIR:-/tmp/aisle-cold-ab} PORT=${PORT:-18994}
NODE_PID=
stop() { [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null || true; NODE_PID=; }
trap 'stop; [ "${KEEP_DATA:-0}" = 1 ] || rm -rf "$BENCH_DIR"' EXIT
start() {
  "$1/aisle-node" --listen "127.0.0.1:$PORT" --mountpath "$BENCH_DIR/mp1" --mountpath "$BENCH_DIR/mp2" \
    >>"$BENCH_DIR/node.log" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v1/health" >/dev/null && return; sleep 0.1; done
  echo "node did not start" >&2; exit 1
}
rm -rf "$BENCH_DIR"; mkdir -p "$BENCH_DIR/mp1" "$BENCH_DIR/mp2"
start "$B"
URL="http://127.0.0.1:$PORT" BUCKET=cold PREFIX=d NAMES="$BENCH_DIR/names" BENCH="$B/aisle-bench" \
  scripts/bench-seed.sh "$COUNT" "$SIZE" >/dev/null
stop
epoch() { # build -> objects/s
  start "$1"
  sync; echo 3 >/proc/sys/vm/drop_caches
  "$B/aisle-bench" --endpoint "http://127.0.0.1:$PORT" --bucket cold --objlist "$BENCH_DIR/names" \
    --epochs 1 --numworkers "$CONNS" --duration 0 | sed -n 's/.* in [0-9.]*s: \([0-9.]*\) obj\/s.*/\1/p' | tail -1
  stop
}
ra=(); rb=()
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then a=$(epoch "$A"); b=$(epoch "$B"); else b=$(epoch "$B"); a=$(epoch "$A"); fi
  echo "round $r: A $a obj/s, B $b obj/s"
  ra+=("$a"); rb+=("$b")
done
med() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ma=$(med "${ra[@]}"); mb=$(med "${rb[@]}")
echo "cold $COUNT x $SIZE, $CONNS conns, $ROUNDS rounds: median A $ma obj/s, B $mb obj/s, B/A $(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%.2f", b/a}')"
