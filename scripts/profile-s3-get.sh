#!/bin/bash
# Instructions per GET in aisle-node, native API vs S3, counted by valgrind's callgrind (stable
# under machine load, unlike timings): 1,000 objects seeded by a one-core node, then that node
# restarted under callgrind with instrumentation off, and on only while aisle-bench GETs
# them through one API.
#
#   scripts/profile-s3-get.sh                       # GET 4 KiB, ais then s3
#   NODE=/tmp/old/aisle-node SIZE=4KiB DURATION=5s WORKERS=1 APIS="s3" scripts/profile-s3-get.sh
#
# Prints per API: requests, instructions (Ir) in the node, Ir per request, and the callgrind
# output file (read it with callgrind_annotate --inclusive=yes FILE). User-space instructions
# only: syscalls and the kernel's work are not counted. One connection by default, so that no
# batching of several requests per reactor turn (which varies with machine load) enters the count.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODE=${NODE:-$ROOT/target/release/aisle-node}
BENCH=${BENCH:-$ROOT/target/release/aisle-bench}
SIZE=${SIZE:-4KiB}
DURATION=${DURATION:-5s}
APIS=${APIS:-"ais s3"}
WORKERS=${WORKERS:-1}
PORT=${PORT:-19410}
D=$(mktemp -d /tmp/aisle-cg.XXXXXX)
VG=
# The node under valgrind does not act on SIGTERM (its signals arrive through io_uring), so the
# counts are dumped with callgrind_control and the node killed.
trap '[ -n "$VG" ] && kill -9 "$VG" 2>/dev/null; true' EXIT
if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then echo "port $PORT is in use" >&2; exit 1; fi
up() {
  for _ in $(seq 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/v1/health" && return 0
    sleep 0.1
  done
  echo "node did not start" >&2; exit 1
}
for api in $APIS; do
  # Seeded by the node running natively (PUTs under valgrind stall), then served under callgrind.
  rm -rf "$D/mp"; mkdir -p "$D/mp/1"
  "$NODE" --listen 127.0.0.1:$PORT --mountpath "$D/mp/1" --cores 1 >"$D/seed.log" 2>&1 &
  SEEDER=$!
  up
  b=(-ip 127.0.0.1 -port $PORT -bucket cg -statsinterval 0 -json -numcores 1)
  "$BENCH" "${b[@]}" -pctput 100 -maxputs 1000 -minsize "$SIZE" -maxsize "$SIZE" -numworkers 8 -objprefix seed >/dev/null 2>>"$D/bench.err"
  # The names, so that the measured run lists nothing (-objlist).
  curl -sf "http://127.0.0.1:$PORT/s3/cg?list-type=2" |
    python3 -c 'import re,sys; print("\n".join(re.findall(r"<Key>([^<]*)</Key>", sys.stdin.read())))' >"$D/names"
  kill "$SEEDER"; wait "$SEEDER" 2>/dev/null || true
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$D/cg.$api" \
    "$NODE" --listen 127.0.0.1:$PORT --mountpath "$D/mp/1" --cores 1 >"$D/node.$api.log" 2>&1 &
  VG=$!
  up
  case $api in
    ais) b+=(-api ais) ;;
    s3) b=(--endpoint "http://127.0.0.1:$PORT/s3" -api s3 -bucket cg -statsinterval 0 -json -numcores 1) ;;
  esac
  # Warm-up (valgrind translates code on first use), not counted.
  "$BENCH" "${b[@]}" -objlist "$D/names" -pctput 0 -duration 2s -numworkers "$WORKERS" >/dev/null 2>>"$D/bench.err"
  callgrind_control -i on "$VG" >/dev/null
  json=$("$BENCH" "${b[@]}" -objlist "$D/names" -pctput 0 -duration "$DURATION" -numworkers "$WORKERS" 2>>"$D/bench.err")
  callgrind_control -i off "$VG" >/dev/null
  callgrind_control -d "$VG" >/dev/null
  kill -9 "$VG"; wait "$VG" 2>/dev/null || true
  VG=
  n=$(J=$json python3 -c 'import json,os; d=json.loads(os.environ["J"])["get"]; print(d["count"], d["errors"])')
  ir=$(callgrind_annotate "$D/cg.$api".1 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  read -r count errors <<<"$n"
  echo "$api: $count GETs ($errors errors), $ir Ir, $((ir / count)) Ir/GET, $D/cg.$api.1"
done
