#!/bin/bash
# Chunked vs monolithic storage of the same large object, on one node with 4 mountpaths:
# GET and Range GET throughput with aisle-bench and the node's CPU per GiB served; then PUT
# times of the same file stored monolithic, as a chunked PUT, and as a parallel multipart
# upload (the `aisle put` CLI). Rounds alternate mono/chunked; medians printed.
#
#   scripts/bench-chunked.sh
#
# Environment:
#   SIZE=1GiB (object size, MiB multiple)  CHUNK=64MiB  ROUNDS=3  DURATION=10s
#   WORKERS=4 (GET connections)  RANGE_OFF=60MiB RANGE_LEN=8MiB (crosses a chunk boundary)
#   REPEAT=1 (timed GET runs per object and kind in a round, alternating)
#   PARTS_PARALLEL=4  SKIP_BUILD=1  MP_ROOT=/tmp (where the 4 mountpath folders go)
#   NODE_ARGS="--chunk-readahead off" (extra aisle-node flags)
#   WARM=1: read each object once after its PUT, before the timed GETs (hot page cache; the
#   PUTs write with O_DIRECT, so without it each round's first GET run reads from disk)
#   COLD=1 (root): after the PUTs, drop the page cache and GET each object once with curl
#   (rows "cold": MiB/s of that one GET and the node's CPU per GiB for it); the timed GETs
#   that follow are then hot. The node's CPU is read from a cgroup made for it (cpuacct in
#   cgroup v1, cpu.stat in v2: nanosecond or microsecond counts, io-wq workers included),
#   else from /proc/PID/stat in clock ticks (too coarse for one GET).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release
SIZE_MIB=${SIZE_MIB:-1024}
CHUNK_MIB=${CHUNK_MIB:-64}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WORKERS=${WORKERS:-4}
RANGE_OFF_MIB=${RANGE_OFF_MIB:-60}
RANGE_LEN_MIB=${RANGE_LEN_MIB:-8}
PARTS_PARALLEL=${PARTS_PARALLEL:-4}
PORT=${PORT:-19400}
D=$(mktemp -d "${MP_ROOT:-/tmp}/aisle-chunked.XXXXXX")
URL=http://127.0.0.1:$PORT
CLK=$(getconf CLK_TCK)
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p node -p bench -p cli)
NODE_ARGS=${NODE_ARGS:-}

mkdir -p "$D"/mp{1,2,3,4}
# shellcheck disable=SC2086
"$BIN/aisle-node" --listen 127.0.0.1:$PORT --mountpath "$D/mp1" --mountpath "$D/mp2" \
  --mountpath "$D/mp3" --mountpath "$D/mp4" $NODE_ARGS >"$D/node.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "$URL/v1/health" >/dev/null && break; sleep 0.05; done
# The node's CPU time, in units of 1/CLK per second: a cgroup of its own when one can be made.
CG=""
if [ "$(id -u)" = 0 ]; then
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    CG=/sys/fs/cgroup/aisle-chunked-$$
    mkdir "$CG" && echo $PID >"$CG/cgroup.procs" && CLK=1000000 || CG=""
  elif [ -d /sys/fs/cgroup/cpuacct ]; then
    CG=/sys/fs/cgroup/cpuacct/aisle-chunked-$$
    mkdir "$CG" && echo $PID >"$CG/cgroup.procs" && CLK=1000000000 || CG=""
  fi
fi
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; [ -z "$CG" ] || rmdir "$CG"; rm -rf "$D"' EXIT
cpu_ticks() {
  if [ -z "$CG" ]; then awk '{print $14 + $15}' "/proc/$PID/stat"
  elif [ -f "$CG/cpu.stat" ]; then awk '$1 == "usage_usec" {print $2}' "$CG/cpu.stat"
  else cat "$CG/cpuacct.usage"; fi
}
echo "node CPU from: ${CG:-/proc/$PID/stat} ($CLK per second)"

curl -sf -X POST "$URL/v1/buckets/mono" -d '{"action":"create-bck"}'
curl -sf -X POST "$URL/v1/buckets/chnk" -d '{"action":"create-bck"}'
curl -sf -X POST "$URL/v1/buckets/mpu" -d '{"action":"create-bck"}'
# Chunk every PUT of at least half the object size (AIS's objsize_limit).
curl -sf -X PATCH "$URL/v1/buckets/chnk" \
  -d "{\"action\":\"set-bprops\",\"value\":{\"chunks\":{\"objsize_limit\":\"$((SIZE_MIB / 2))MiB\",\"chunk_size\":\"${CHUNK_MIB}MiB\"}}}"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$D/src.bin"
echo obj >"$D/list"

TSV=$D/runs.tsv
put_time() { # bucket -> seconds of one PUT of src.bin
  local t; t=$(curl -sf -X PUT -T "$D/src.bin" "$URL/v1/objects/$1/obj" -o /dev/null -w '%{time_total}')
  echo "$t"
}
mpu_time() { # seconds of `aisle put` as a parallel multipart upload
  local t0 t1; t0=$(date +%s.%N)
  AIS_ENDPOINT=$URL "$BIN/aisle" put --quiet --part-size ${CHUNK_MIB}MiB --parallel "$PARTS_PARALLEL" \
    "$D/src.bin" ais://mpu/obj >/dev/null
  t1=$(date +%s.%N)
  python3 -c "print(round($t1 - $t0, 3))"
}
cold_get() { # bucket -> tsv line: one GET after dropping the page cache
  local b=$1 t0 t1 out
  sync; echo 3 >/proc/sys/vm/drop_caches
  t0=$(cpu_ticks)
  out=$(curl -sf "$URL/v1/objects/$b/obj" -o /dev/null -w '%{size_download} %{time_total}')
  t1=$(cpu_ticks)
  python3 - "$b" $out "$((t1 - t0))" "$CLK" <<'EOF'
import sys
b, size, secs, ticks, clk = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
gib = size / 2**30
print("\t".join(map(str, ["cold", b, round(size / 2**20 / secs), round(ticks / clk / gib, 4), 0])))
EOF
}
get_run() { # bucket kind(get|range) -> tsv line
  local b=$1 kind=$2 extra=()
  [ "$kind" = range ] && extra=(-readoff "${RANGE_OFF_MIB}MiB" -readlen "${RANGE_LEN_MIB}MiB")
  local t0 t1 json
  t0=$(cpu_ticks)
  json=$("$BIN/aisle-bench" -ip 127.0.0.1 -port $PORT -bucket "$b" -objlist "$D/list" -pctput 0 \
    -duration "$DURATION" -numworkers "$WORKERS" -numcores 1 -statsinterval 0 -json "${extra[@]}")
  t1=$(cpu_ticks)
  J=$json python3 - "$b" "$kind" "$((t1 - t0))" "$CLK" <<'EOF'
import json, os, sys
b, kind, ticks, clk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = json.loads(os.environ["J"])["get"]
gib = d["bytes"] / 2**30
cpu_s_per_gib = ticks / clk / max(gib, 1e-9)
print("\t".join(map(str, [kind, b, round(d["mib_per_s"]), round(cpu_s_per_gib, 3), d["errors"]])))
EOF
}

echo "size ${SIZE_MIB}MiB chunk ${CHUNK_MIB}MiB rounds $ROUNDS x $DURATION workers $WORKERS  $(uname -r)  commit $(git -C "$ROOT" rev-parse --short HEAD)  node flags: ${NODE_ARGS:-<defaults>}  $(uptime)"
echo -e "what\tbucket\tMiB/s or s\tcpu s/GiB\terrors"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="mono chnk"; else order="chnk mono"; fi
  for b in $order; do echo -e "put\t$b\t$(put_time "$b")\t-\t0" | tee -a "$TSV"; done
  echo -e "put\tmpu\t$(mpu_time)\t-\t0" | tee -a "$TSV"
  if [ "${COLD:-0}" = 1 ]; then
    for b in $order; do cold_get "$b" | tee -a "$TSV"; done
  fi
  if [ "${WARM:-0}" = 1 ]; then
    for b in mono chnk; do curl -sf "$URL/v1/objects/$b/obj" -o /dev/null; done
  fi
  for kind in get range; do
    for _ in $(seq "${REPEAT:-1}"); do
      for b in $order; do get_run "$b" "$kind" | tee -a "$TSV"; done
    done
  done
done
curl -sf -I "$URL/v1/objects/chnk/obj?props=chunked" | grep -i chunks || true
python3 - "$TSV" <<'EOF'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
med = lambda what, b, i: st.median(float(r[i]) for r in rows if r[0] == what and r[1] == b)
print("\nmedians")
for kind in ("cold", "get", "range"):
    if not any(r[0] == kind for r in rows):
        continue
    m, c = med(kind, "mono", 2), med(kind, "chnk", 2)
    cm, cc = med(kind, "mono", 3), med(kind, "chnk", 3)
    print(f"{kind}: mono {m:.0f} MiB/s, chunked {c:.0f} MiB/s, ratio {c/m:.3f}; "
          f"cpu s/GiB mono {cm:.3f}, chunked {cc:.3f}, ratio {cc/cm:.3f}")
pm, pc, pp = med("put", "mono", 2), med("put", "chnk", 2), med("put", "mpu", 2)
print(f"put: mono {pm:.2f} s, chunked PUT {pc:.2f} s (speed ratio {pm/pc:.3f}), "
      f"multipart {pp:.2f} s (speed ratio {pm/pp:.3f})")
errs = sum(int(r[4]) for r in rows)
print(f"errors: {errs}")
EOF
