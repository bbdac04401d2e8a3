#!/bin/bash
# Cold reads of one large object stored monolithic and chunked (issue 7 / issue 11): the page
# cache is dropped before every GET (root), one connection (curl), and for each GET the node's
# CPU per GiB, the disk's read requests (/proc/diskstats: count, average size, average number in
# flight) and the node's body-method counters (/metrics). Two node flag sets A and B alternate
# per round on the same files (the node restarts between sides), so a flag's A/B needs no
# re-PUT; mono/chunked alternate within each side. Medians printed.
#
#   sudo scripts/bench-chunked-cold.sh
#   A="--chunk-readahead off" B="" ROUNDS=5 scripts/bench-chunked-cold.sh
#
# Environment:
#   A, B            extra aisle-node flags of each side (default: both none -> one side only)
#   A_NODE, B_NODE  aisle-node binary of each side (default: target/release/aisle-node)
#   SIZE_MIB=1024  CHUNK_MIB=64  ROUNDS=3  RANGE_OFF_MIB=60 RANGE_LEN_MIB=8 (a cold Range GET
#   across the first chunk boundary)  MP_ROOT=/tmp  PORT=19500  SKIP_BUILD=1
# The disk figures are the whole device's: other processes' I/O during a GET counts too.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release
SIZE_MIB=${SIZE_MIB:-1024}
CHUNK_MIB=${CHUNK_MIB:-64}
ROUNDS=${ROUNDS:-3}
RANGE_OFF_MIB=${RANGE_OFF_MIB:-60}
RANGE_LEN_MIB=${RANGE_LEN_MIB:-8}
PORT=${PORT:-19500}
A=${A:-}
B=${B:-}
A_NODE=${A_NODE:-$BIN/aisle-node}
B_NODE=${B_NODE:-$BIN/aisle-node}
SIDES="A B"
[ "$A" = "$B" ] && [ "$A_NODE" = "$B_NODE" ] && SIDES=A
D=$(mktemp -d "${MP_ROOT:-/tmp}/aisle-chunked-cold.XXXXXX")
URL=http://127.0.0.1:$PORT
[ "$(id -u)" = 0 ] || { echo "needs root (drops the page cache)" >&2; exit 1; }
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p node)
DEV=$(lsblk -no PKNAME "$(df --output=source "$D" | tail -1)" 2>/dev/null || true)
[ -n "$DEV" ] || DEV=$(basename "$(df --output=source "$D" | tail -1)")

PID=
start() { # side
  local flags node
  if [ "$1" = A ]; then flags=$A node=$A_NODE; else flags=$B node=$B_NODE; fi
  # shellcheck disable=SC2086
  "$node" --listen 127.0.0.1:$PORT --mountpath "$D/mp1" --mountpath "$D/mp2" \
    --mountpath "$D/mp3" --mountpath "$D/mp4" $flags >>"$D/node.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do curl -sf "$URL/v1/health" >/dev/null 2>&1 && return 0; sleep 0.05; done
  cat "$D/node.log"; echo "node did not start" >&2; exit 1
}
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=; fi; }
trap 'stop; rm -rf "$D"' EXIT
# ns on CPU of the node's threads (io-wq workers included; /proc/PID/stat's ticks are too coarse
# for one 8 MiB range)
cpu_ns() { cat /proc/"$PID"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'; }
# reads completed, sectors read, ms spent reading (summed over requests) of the device
disk() { awk -v d="$DEV" '$3 == d {print $4, $6, $7}' /proc/diskstats; }
counter() { # summed over cores
  curl -sf "$URL/metrics" | awk -v n="$1" 'index($1, n "{") == 1 || $1 == n {s += $2} END {printf "%d", s}'
}

mkdir -p "$D"/mp{1,2,3,4}
start A
curl -sf -X POST "$URL/v1/buckets/mono" -d '{"action":"create-bck"}'
curl -sf -X POST "$URL/v1/buckets/chnk" -d '{"action":"create-bck"}'
curl -sf -X PATCH "$URL/v1/buckets/chnk" \
  -d "{\"action\":\"set-bprops\",\"value\":{\"chunks\":{\"objsize_limit\":\"$((SIZE_MIB / 2))MiB\",\"chunk_size\":\"${CHUNK_MIB}MiB\"}}}"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$D/src.bin"
for b in mono chnk; do curl -sf -X PUT -T "$D/src.bin" "$URL/v1/objects/$b/obj" -o /dev/null; done
SUM=$(sha256sum <"$D/src.bin" | cut -c1-64)
rm -f "$D/src.bin"
curl -sf -I "$URL/v1/objects/chnk/obj?props=chunked" | grep -i chunks || true
stop

TSV=$D/runs.tsv
get_cold() { # side bucket kind(get|range) -> tsv line
  local side=$1 b=$2 kind=$3 hdr=() check=0
  [ "$kind" = range ] && hdr=(-H "Range: bytes=$((RANGE_OFF_MIB << 20))-$((((RANGE_OFF_MIB + RANGE_LEN_MIB) << 20) - 1))")
  sync; echo 3 >/proc/sys/vm/drop_caches
  local sf0 sp0 t0 d0 out t1 d1 sf1 sp1
  sf0=$(counter aisle_core_body_sendfile_count); sp0=$(counter aisle_core_body_splice_count)
  d0=$(disk); t0=$(cpu_ns)
  out=$(curl -sf "${hdr[@]}" "$URL/v1/objects/$b/obj" -o /dev/null -w '%{size_download} %{time_total}')
  t1=$(cpu_ns); d1=$(disk)
  sf1=$(counter aisle_core_body_sendfile_count); sp1=$(counter aisle_core_body_splice_count)
  python3 - "$side" "$kind" "$b" "$out" "$((t1 - t0))" "$d0" "$d1" \
    "$((sf1 - sf0))" "$((sp1 - sp0))" <<'EOF'
import sys
side, kind, b, out, ns, d0, d1, sf, sp = sys.argv[1:]
size, secs = (float(x) for x in out.split())
r0, s0, ms0 = map(int, d0.split()); r1, s1, ms1 = map(int, d1.split())
reqs, kib = r1 - r0, (s1 - s0) / 2
print("\t".join(map(str, [
    side, kind, b, round(size / secs / 2**20), round(int(ns) / 1e9 / (size / 2**30), 3),
    reqs, round(kib / max(reqs, 1)), round((ms1 - ms0) / (secs * 1000), 1), sf, sp])))
EOF
}

echo "size ${SIZE_MIB}MiB chunk ${CHUNK_MIB}MiB rounds $ROUNDS  dev $DEV  $(uname -r)  commit $(git -C "$ROOT" rev-parse --short HEAD)"
echo "A: ${A:-<defaults>} ${A_NODE}   B: ${B:-<defaults>} ${B_NODE}   $(uptime)"
echo -e "side\tkind\tbucket\tMiB/s\tcpu s/GiB\tdisk reads\tKiB/read\tin flight\tsendfile\tsplice"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="mono chnk" sides=$SIDES; else order="chnk mono" sides=$(echo "$SIDES" | rev); fi
  for side in $sides; do
    start "$side"
    [ "$r" = 1 ] && for b in mono chnk; do # byte-exact once per side
      s=$(curl -sf "$URL/v1/objects/$b/obj" | sha256sum | cut -c1-64)
      [ "$s" = "$SUM" ] || { echo "$b: body differs from the source" >&2; exit 1; }
    done
    for kind in get range; do
      for b in $order; do get_cold "$side" "$b" "$kind" | tee -a "$TSV"; done
    done
    stop
  done
done
echo "end: $(uptime)"
python3 - "$TSV" <<'EOF'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print("\nmedians: MiB/s, cpu s/GiB, KiB/read, in flight (chunked/mono ratios)")
for side in dict.fromkeys(r[0] for r in rows):
    for kind in ("get", "range"):
        m = {b: [st.median(float(r[i]) for r in rows if r[:3] == [side, kind, b]) for i in (3, 4, 6, 7)]
             for b in ("mono", "chnk")}
        mo, ch = m["mono"], m["chnk"]
        print(f"{side} {kind}: mono {mo[0]:.0f} MiB/s {mo[1]:.3f} s/GiB {mo[2]:.0f} KiB/read {mo[3]:.1f} in flight | "
              f"chunked {ch[0]:.0f} MiB/s {ch[1]:.3f} s/GiB {ch[2]:.0f} KiB/read {ch[3]:.1f} in flight | "
              f"ratio {ch[0]/mo[0]:.3f}, cpu {ch[1]/mo[1]:.3f}")
EOF
