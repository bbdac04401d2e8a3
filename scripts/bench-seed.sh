#!/usr/bin/env bash
# Seeds a dataset of COUNT objects of SIZE bytes each with aisle-bench PUTs (many connections,
# every client core), into an aisle node's bucket or under an nginx WebDAV URL prefix, and
# optionally writes the names it PUT (an -objlist for later epochs).
#
#   scripts/bench-seed.sh COUNT SIZE
#   scripts/bench-seed.sh 20000 64KiB                                   # node at 127.0.0.1:8080, bucket bench
#   URL=http://127.0.0.1:18080 BUCKET=cold NAMES=/tmp/names scripts/bench-seed.sh 2048 1MiB
#   API=http URL=http://127.0.0.1:18081/bench/cold NAMES=/tmp/n scripts/bench-seed.sh 2048 1MiB   # nginx
#
# SIZE takes aisle-bench's units (every unit a power of 1024: 4KiB = 4KB = 4096).
# Environment (defaults):
#   API=ais            ais (bucket BUCKET, created if missing), s3 (path-style, URL may end in /s3)
#                      or http (objects go under URL, e.g. nginx WebDAV with create_full_put_path)
#   URL=http://127.0.0.1:8080   the server (API=http: the URL prefix objects go under)
#   BUCKET=bench       ais/s3 bucket; a plain name or ais://name / s3://name
#   PREFIX=ds          objects are named PREFIX/<16 hex digits>
#   NAMES=             if set, the names PUT (PREFIX/...) are written there, one per line
#   WORKERS=64 CORES=$(nproc) SEED=1   connections, client cores, aisle-bench's seed
#   BENCH=target/release/aisle-bench
# Exit status: 0 only when exactly COUNT PUTs succeeded and none failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ $# -ne 2 ]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
COUNT=$1
SIZE=$2
API=${API:-ais}
URL=${URL:-http://127.0.0.1:8080}
BUCKET=${BUCKET:-bench}
PREFIX=${PREFIX:-ds}
NAMES=${NAMES:-}
WORKERS=${WORKERS:-64}
CORES=${CORES:-$(nproc)}
SEED=${SEED:-1}
BENCH=${BENCH:-target/release/aisle-bench}

case $COUNT in ''|*[!0-9]*|0) echo "bench-seed: COUNT must be a positive integer (got '$COUNT')" >&2; exit 2;; esac
[ -x "$BENCH" ] || { echo "bench-seed: $BENCH missing (cargo build --release -p bench)" >&2; exit 2; }
[ "$WORKERS" -le "$COUNT" ] || WORKERS=$COUNT

args=(-api "$API" --endpoint "$URL" -pctput 100 -maxputs "$COUNT" -minsize "$SIZE" -maxsize "$SIZE"
      -objprefix "$PREFIX" -numworkers "$WORKERS" -numcores "$CORES" -seed "$SEED"
      -duration 0 -statsinterval 0 -json)
[ "$API" = http ] || args+=(-bucket "$BUCKET")
[ -z "$NAMES" ] || args+=(-putlist "$NAMES")

out=$(mktemp /tmp/bench-seed.XXXXXX)
trap 'rm -f "$out" "$out.err"' EXIT
t0=$(date +%s.%N)
rc=0
"$BENCH" "${args[@]}" > "$out" 2> "$out.err" || rc=$?
t1=$(date +%s.%N)
if [ "$rc" != 0 ]; then
  cat "$out.err" >&2
  echo "bench-seed: aisle-bench exited $rc" >&2
  exit 1
fi
python3 - "$out" "$COUNT" "$SIZE" "$API" "$URL" "$BUCKET" "$PREFIX" "$t0" "$t1" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
count, size, api, url, bucket, prefix = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
secs = float(sys.argv[9]) - float(sys.argv[8])
p = j["put"]
where = url if api == "http" else f"{url} bucket {bucket}"
print(f"bench-seed: {p['count']} x {size} PUT ({p['bytes'] / 2**20:.1f} MiB) to {where} under {prefix}/ "
      f"in {secs:.1f} s ({p['req_per_s']:.0f} PUT/s, {p['mib_per_s']:.1f} MiB/s), {p['errors']} errors")
if p["count"] != count or p["errors"]:
    sys.exit(f"bench-seed: wanted {count} PUTs without errors")
PY
if [ -n "$NAMES" ]; then
  n=$(wc -l < "$NAMES")
  [ "$n" = "$COUNT" ] || { echo "bench-seed: $NAMES has $n names, expected $COUNT" >&2; exit 1; }
fi
