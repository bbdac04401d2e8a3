#!/bin/bash
# Resilver vs `cp -r` between two loop-mounted ext4 filesystems of the same size, and foreground
# GET 4 KiB p99 idle vs during a resilver (issue 8's targets: resilver throughput >= 80 % of
# cp's; p99 during <= 2x idle). Per round, on fresh images:
#   load:  one node on fs1 only; aisle-bench PUTs SIZE_GIB of objects (bucket `big`, sizes
#          MINSIZE..MAXSIZE) and SMALL_OBJS 4 KiB objects (bucket `small`); sync
#   (i)    caches dropped; `cp -r` of fs1's bucket tree to fs2, plus sync, timed
#   idle:  GET 4 KiB p99 of `small` (aisle-bench, GET_DUR, WORKERS connections)
#   (ii)   caches dropped; attach fs2 (?dntres=true), detach fs1: everything moves; timed from
#          the attach to the last resilver job's end-time (qryxstats), no foreground load
#   (iii)  attach fs1 again, detach fs2: everything moves back, with the GET 4 KiB run inside
#          that resilver (its duration: 70 % of (ii)'s time, at most GET_DUR); p99 during
# Throughput = bytes of the bucket tree on fs1 (du -sb) / time. Medians over ROUNDS printed,
# with lines to paste into bench/RESULTS.md.
#
#   scripts/bench-resilver.sh
#
# Environment:
#   SIZE_GIB=2  MINSIZE=256KiB MAXSIZE=4MiB  SMALL_OBJS=5000  ROUNDS=3  GET_DUR=10
#   WORKERS=8 (GET connections)  PORT=19450  SKIP_BUILD=1  IMG_ROOT=/tmp (where the images go)
#   BASELINE_ONLY=1: stop after (i) and the idle p99 (no mountpath API needed)
# Needs root (loop mounts, drop_caches).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release
SIZE_GIB=${SIZE_GIB:-2}
MINSIZE=${MINSIZE:-256KiB}
MAXSIZE=${MAXSIZE:-4MiB}
SMALL_OBJS=${SMALL_OBJS:-5000}
ROUNDS=${ROUNDS:-3}
GET_DUR=${GET_DUR:-10}
WORKERS=${WORKERS:-8}
PORT=${PORT:-19450}
BASELINE_ONLY=${BASELINE_ONLY:-0}
URL=http://127.0.0.1:$PORT
# Each image holds the whole data set once plus ext4 overhead and slack.
IMG_MIB=$((SIZE_GIB * 1024 * 3 / 2 + SMALL_OBJS * 8 / 1024 + 512))
D=$(mktemp -d "${IMG_ROOT:-/tmp}/aisle-resilver.XXXXXX")
[ "$(id -u)" = 0 ] || { echo "needs root (loop mounts, drop_caches)" >&2; exit 2; }
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p node -p bench)

PID=
cleanup() {
  [ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
  for m in "$D"/mnt1 "$D"/mnt2; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  rm -rf "$D"
}
trap cleanup EXIT

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
fsub() { python3 -c "print(round($1 - $2, 3))"; }

mkfs_pair() {
  for i in 1 2; do
    mountpoint -q "$D/mnt$i" 2>/dev/null && umount "$D/mnt$i"
    rm -f "$D/fs$i.img"
    truncate -s "${IMG_MIB}M" "$D/fs$i.img"
    mkfs.ext4 -q -F -m 0 "$D/fs$i.img"
    mkdir -p "$D/mnt$i"
    mount -o loop "$D/fs$i.img" "$D/mnt$i"
    mkdir -p "$D/mnt$i/mp"
  done
}

start_node() {
  "$BIN/aisle-node" --listen 127.0.0.1:$PORT --mountpath "$D/mnt1/mp" >>"$D/node.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do curl -sf "$URL/v1/health" >/dev/null && return; sleep 0.05; done
  echo "node did not start; log:" >&2; tail -20 "$D/node.log" >&2; exit 1
}

stop_node() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

mp_call() { # method action path [query] -> fails unless 200
  local out code
  out=$(curl -s -w '\n%{http_code}' -X "$1" "$URL/v1/daemon/mountpaths${4:-}" \
    -H 'Content-Type: application/json' -d "{\"action\":\"$2\",\"value\":\"$3\"}") || true
  code=$(tail -n1 <<<"$out")
  if [ "$code" != 200 ]; then
    echo "$1 $2 $3: HTTP $code $(head -n -1 <<<"$out")" >&2
    return 1
  fi
}

# Waits until no mountpath waits for detach, more than $1 resilver jobs exist and every one
# ended; prints the latest end-time (unix seconds), the summed loc-objs and loc-bytes of the
# jobs after the first $1, and the job count.
wait_resilver() {
  python3 - "$URL" "$1" <<'EOF'
import json, sys, time, urllib.request, urllib.error, datetime as dt
url, skip = sys.argv[1], int(sys.argv[2])
def get(path, body=None):
    req = urllib.request.Request(url + path, data=body, method="GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        if e.code == 404 and body is not None:
            return {}  # no job of the kind yet
        raise
def ts(s):
    if not s or s.startswith("0001-"):
        return None
    s = s.replace("Z", "+00:00")
    if "." in s:  # at most microseconds for fromisoformat
        head, rest = s.split(".", 1)
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        s = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
    return dt.datetime.fromisoformat(s).timestamp()
quiet, deadline = 0, time.time() + 3600
while True:
    snaps = [s for v in get("/v1/cluster?what=qryxstats", b'{"kind":"resilver"}').values() for s in v]
    snaps.sort(key=lambda s: ts(s.get("start-time")) or 0)
    waiting = get("/v1/daemon?what=mountpaths").get("waiting_dd") or []
    ends = [ts(s.get("end-time")) for s in snaps]
    done = len(snaps) > skip and not waiting and all(e is not None for e in ends)
    quiet = quiet + 1 if done else 0
    if quiet >= 2:
        break
    if time.time() > deadline:
        sys.exit(f"resilver did not settle: {snaps}")
    time.sleep(0.05)
objs = sum(int(s["stats"]["loc-objs"]) for s in snaps[skip:])
byts = sum(int(s["stats"]["loc-bytes"]) for s in snaps[skip:])
print(f"{max(ends):.6f} {objs} {byts} {len(snaps)}")
EOF
}

get_p99() { # duration -> "p99_ms errors"
  "$BIN/aisle-bench" -ip 127.0.0.1 -port $PORT -bucket small -pctput 0 -duration "$1" \
    -numworkers "$WORKERS" -numcores 1 -statsinterval 0 -uniquegets=false -json |
    python3 -c 'import json,sys; g=json.load(sys.stdin)["get"]; print(g["latency_us"]["p99"]/1000, g["errors"], g["count"])'
}

TSV=$D/runs.tsv
echo "data ${SIZE_GIB}GiB (${MINSIZE}..${MAXSIZE}) + ${SMALL_OBJS} x 4KiB, images ${IMG_MIB}MiB, rounds $ROUNDS, GET ${WORKERS} conns  $(uname -r)  commit $(git -C "$ROOT" rev-parse --short HEAD)"
echo -e "round\tbytes\tcp_s\tres_s\tres_loaded_s\tp99_idle_ms\tp99_during_ms\tget_during_s\tloc_objs\tloc_bytes\tsync_after_res_s"
for r in $(seq "$ROUNDS"); do
  mkfs_pair
  start_node
  "$BIN/aisle-bench" -ip 127.0.0.1 -port $PORT -bucket big -pctput 100 -totalputsize "${SIZE_GIB}GiB" \
    -minsize "$MINSIZE" -maxsize "$MAXSIZE" -numworkers 8 -statsinterval 0 -json >/dev/null
  "$BIN/aisle-bench" -ip 127.0.0.1 -port $PORT -bucket small -pctput 100 -maxputs "$SMALL_OBJS" \
    -minsize 4KiB -maxsize 4KiB -numworkers 8 -statsinterval 0 -json >/dev/null
  sync
  BYTES=$(du -sb "$D/mnt1/mp/@ais" | cut -f1)

  # (i) cp -r fs1 -> fs2, cold caches, including the sync that makes it durable
  drop_caches
  t0=$(now); cp -r "$D/mnt1/mp/@ais" "$D/mnt2/cp"; sync; t1=$(now)
  CP_S=$(fsub "$t1" "$t0")
  rm -rf "$D/mnt2/cp"; sync; fstrim "$D/mnt2" 2>/dev/null || true

  read -r P99_IDLE _ _ <<<"$(get_p99 "${GET_DUR}s")"
  if [ "$BASELINE_ONLY" = 1 ]; then
    echo -e "$r\t$BYTES\t$CP_S\t-\t-\t$P99_IDLE\t-\t-\t-\t-\t-" | tee -a "$TSV"
    stop_node
    continue
  fi

  # (ii) everything moves fs1 -> fs2, cold caches, no foreground load
  drop_caches
  t0=$(now)
  mp_call PUT attach-mp "$D/mnt2/mp" "?dntres=true"
  mp_call DELETE detach-mp "$D/mnt1/mp"
  read -r END LOC_OBJS LOC_BYTES NJOBS <<<"$(wait_resilver 0)"
  RES_S=$(fsub "$END" "$t0")
  # What the resilver left dirty (cp's figure includes its sync): reported, not added.
  ts0=$(now); sync; ts1=$(now)
  SYNC_S=$(fsub "$ts1" "$ts0")
  left=$(find "$D/mnt1/mp/@ais" -type f 2>/dev/null | wc -l)
  [ "$left" = 0 ] || echo "WARNING: $left files left on the detached fs1" >&2

  # (iii) everything moves back fs2 -> fs1 with the GET run inside the resilver
  GD=$(python3 -c "print(max(1.0, min($GET_DUR, round(0.7 * $RES_S, 1))))")
  t0=$(now)
  mp_call PUT attach-mp "$D/mnt1/mp" "?dntres=true"
  mp_call DELETE detach-mp "$D/mnt2/mp"
  read -r P99_DURING GERR GCOUNT <<<"$(get_p99 "${GD}s")"
  read -r END2 _ _ _ <<<"$(wait_resilver "$NJOBS")"
  RES2_S=$(fsub "$END2" "$t0")
  [ "$GERR" = 0 ] || echo "WARNING: $GERR GET errors during the resilver (of $GCOUNT)" >&2
  python3 -c "import sys; sys.exit(0 if $RES2_S >= $GD else 1)" ||
    echo "WARNING: the resilver (${RES2_S}s) ended before the ${GD}s GET run did" >&2
  echo -e "$r\t$BYTES\t$CP_S\t$RES_S\t$RES2_S\t$P99_IDLE\t$P99_DURING\t$GD\t$LOC_OBJS\t$LOC_BYTES\t$SYNC_S" | tee -a "$TSV"
  stop_node
done

python3 - "$TSV" "$BASELINE_ONLY" <<'EOF'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
med = lambda i: st.median(float(r[i]) for r in rows)
mib = med(1) / 2**20
cp = mib / med(2)
print(f"\nmedians over {len(rows)} round(s), {mib:.0f} MiB moved per run")
print(f"cp -r fs1->fs2 (cold, + sync): {med(2):.2f} s = {cp:.0f} MiB/s")
print(f"GET 4KiB p99 idle: {med(5):.3f} ms")
if sys.argv[2] != "1":
    res = mib / med(3)
    print(f"resilver fs1->fs2 (detach, cold): {med(3):.2f} s = {res:.0f} MiB/s; "
          f"ratio resilver/cp throughput {res / cp:.3f} (target >= 0.80)")
    print(f"sync right after the resilver: {med(10):.2f} s (not in the resilver time)")
    print(f"resilver fs2->fs1 under GET load: {med(4):.2f} s = {mib / med(4):.0f} MiB/s")
    print(f"GET 4KiB p99 during a resilver: {med(6):.3f} ms; ratio during/idle "
          f"{med(6) / med(5):.3f} (target <= 2)")
EOF
