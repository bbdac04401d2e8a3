#!/usr/bin/env bash
# Overwrite vs fresh-name PUTs on one aisle-node (issue 11): node CPU per request (split by
# thread kind: core threads, io_uring io-wq workers, the rest), disk sectors written per request
# during the run, a perf cpu-clock profile of each (kernel and user symbols) and the syscalls
# per request (strace -f -c on a short extra run; io_uring operations do not show there).
#
#   scripts/profile-overwrite.sh                       # 64 KiB, 1000 objects, 32 connections
#   SIZE=1MiB N=256 scripts/profile-overwrite.sh
#   NODE=/path/to/other/aisle-node scripts/profile-overwrite.sh   # e.g. the build before a fix
#   NODE_ARGS="--overwrite rename" scripts/profile-overwrite.sh    # the rename-over behaviour
#
# Environment: SIZE=64KiB N=1000 CONNS=32 DURATION=8s ROUNDS=2 (fresh/overwrite alternated)
#   CORES=1 (node --cores; with 1 the node is pinned to CPU 1 and the client to CPU 0)
#   PERF=1 STRACE=1 (0 to skip), PORT=19400, NODE=target/release/aisle-node, DATA=/tmp (the
#   mountpath folders go under it), RD_WAIT=35: seconds to wait after removing a run's objects
#   (on an ext4 without a journal, inode allocation skips inodes deleted in the last 30-35 s,
#   scanning each: a run right after a large delete pays for it). Needs root for perf/strace on another process (or a low
#   perf_event_paranoid / ptrace_scope).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release
NODE=${NODE:-$BIN/aisle-node}
NODE_ARGS=${NODE_ARGS:-}
SIZE=${SIZE:-64KiB}
N=${N:-1000}
CONNS=${CONNS:-32}
DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-2}
CORES=${CORES:-1}
PERF=${PERF:-1}
STRACE=${STRACE:-1}
PORT=${PORT:-19400}
RD_WAIT=${RD_WAIT:-35}
D=$(mktemp -d "${DATA:-/tmp}/aisle-ow.XXXXXX")
CLK=$(getconf CLK_TCK)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
NPIN=(); CPIN=(); CCORES=$(nproc)
if [ "$CORES" = 1 ]; then NPIN=(taskset -c 1); CPIN=(taskset -c 0); CCORES=1; fi
DEV=$(basename "$(df --output=source "$D" | tail -1)")

start() {
  rm -rf "$D/mp"; mkdir -p "$D/mp/1" "$D/mp/2"
  "${NPIN[@]}" "$NODE" --listen 127.0.0.1:$PORT --mountpath "$D/mp/1" --mountpath "$D/mp/2" \
    --cores "$CORES" --log-level warn $NODE_ARGS >"$D/node.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v1/health" >/dev/null 2>&1 && return 0; sleep 0.05; done
  cat "$D/node.log"; echo "node did not start" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; rm -rf "$D/mp"; sync; sleep "$RD_WAIT"; }
bench() { "${CPIN[@]}" "$BIN/aisle-bench" -numcores "$CCORES" -ip 127.0.0.1 -port $PORT -bucket ow \
  -statsinterval 0 -json -pctput 100 -minsize "$SIZE" -maxsize "$SIZE" "$@" 2>>"$D/bench.err"; }
seed() { bench -maxputs "$N" -numworkers 16 -objprefix seed -putlist "$D/names" >/dev/null; sync; }
# Ticks per thread kind of the node: "core io-wq other" (live threads; exited ones are in total).
kinds() {
  local t comm f c=0 w=0 o=0
  for t in /proc/"$PID"/task/*; do
    comm=$(cat "$t/comm" 2>/dev/null) || continue
    f=$(sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
    case $comm in iou-wrk*) w=$((w + f));; aisle-core*|core*) c=$((c + f));; *) o=$((o + f));; esac
  done
  echo "$c $w $o"
}
total() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
sectors_w() { awk -v d="$DEV" '$3 == d {print $10}' /proc/diskstats; }
args_of() { # mode
  if [ "$1" = overwrite ]; then echo "-putexisting -objlist $D/names"; else echo "-objprefix fresh"; fi
}
run() { # mode round
  local mode=$1 r=$2 t0 t1 k0 k1 s0 s1 json
  start; seed; sleep 1
  t0=$(total); read -r -a k0 <<< "$(kinds)"; s0=$(sectors_w)
  # shellcheck disable=SC2046
  json=$(bench -duration "$DURATION" -numworkers "$CONNS" $(args_of "$mode"))
  t1=$(total); read -r -a k1 <<< "$(kinds)"; s1=$(sectors_w)
  J=$json python3 - "$mode" "$r" "$((t1 - t0))" "$((k1[0] - k0[0]))" "$((k1[1] - k0[1]))" \
    "$((k1[2] - k0[2]))" "$((s1 - s0))" "$CLK" "$(uptime | sed 's/.*load average: //')" <<'EOF'
import json, os, sys
mode, r, tot, core, wq, oth, sec, clk, load = sys.argv[1:]
p = json.loads(os.environ["J"])["put"]; n = max(p["count"], 1)
us = lambda t: int(t) * 1e6 / int(clk) / n
print(f"{mode:<9} round {r}: {p['req_per_s']:8.0f} req/s  errors {p['errors']}  node CPU {us(tot):6.1f} us/req "
      f"(core threads {us(core):5.1f}, io-wq {us(wq):5.1f}, other {us(oth):5.1f})  "
      f"disk written {int(sec) * 512 / n / 1024:6.1f} KiB/req  load {load}")
EOF
  stop
}
profile() { # mode
  local mode=$1
  start; seed; sleep 1
  # shellcheck disable=SC2046
  if [ "$PERF" = 1 ]; then
    perf record -q -e cpu-clock -F 1999 -g -p "$PID" -o "$D/perf-$mode.data" 2>/dev/null &
    local pp=$!; sleep 0.3
    bench -duration "$DURATION" -numworkers "$CONNS" $(args_of "$mode") > "$D/p.json"
    kill -INT $pp; wait $pp || true
    echo "--- perf $mode: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["put"]["count"])' "$D/p.json") PUTs; self time by symbol (top 30)"
    cp "$D/perf-$mode.data" "${PERF_KEEP:-/tmp}/ow-perf-$mode.data"; perf report -i "$D/perf-$mode.data" --no-children --sort sym --stdio --percent-limit 0.7 2>/dev/null \
      | grep -v '^#' | grep -E '^ +[0-9]' | head -30
  fi
  if [ "$STRACE" = 1 ]; then
    strace -f -c -o "$D/strace-$mode.txt" -p "$PID" 2>/dev/null &
    local sp=$!; sleep 0.5
    # shellcheck disable=SC2046
    bench -duration 3s -numworkers "$CONNS" $(args_of "$mode") > "$D/s.json"
    kill -INT $sp; wait $sp || true
    local n; n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["put"]["count"])' "$D/s.json")
    echo "--- strace -f -c $mode: $n PUTs; syscalls per PUT"
    awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 {c = $4; name = $NF; printf "  %-18s %7.3f\n", name, c / n}' \
      "$D/strace-$mode.txt" | sort -k2 -nr | head -20
  fi
  stop
}

echo "profile-overwrite: $SIZE x $N objects, $CONNS connections, $DURATION, node --cores $CORES, $(uname -r), node $NODE $NODE_ARGS ($(git -C "$ROOT" rev-parse --short HEAD)), data on $DEV"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then run fresh "$r"; run overwrite "$r"; else run overwrite "$r"; run fresh "$r"; fi
done
profile fresh
profile overwrite
