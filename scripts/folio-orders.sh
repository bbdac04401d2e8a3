#!/bin/bash
# Page-cache folio sizes a cold GET leaves behind, monolithic vs chunked (issue 7): one node with
# 4 mountpaths, the same SIZE object PUT to a plain and a chunked bucket, the page cache dropped,
# one cold GET of each (CONC concurrent curls) traced with the `filemap:mm_filemap_add_to_page_cache`
# tracepoint (folio order per insertion; order 9 = 2 MiB), then a hot GET run of each with the
# node's CPU per GiB. Needs root (drop_caches, perf). The trace is system-wide: run it on an
# otherwise quiet machine.
#
#   sudo scripts/folio-orders.sh
#   SIZE=1G CHUNK=64MiB CONC=1 NODE_ARGS="--chunk-readahead off" scripts/folio-orders.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release
SIZE=${SIZE:-1G}
CHUNK=${CHUNK:-64MiB}
CONC=${CONC:-1}
PORT=${PORT:-19480}
URL=http://127.0.0.1:$PORT
D=$(mktemp -d /tmp/aisle-folio.XXXXXX)
mkdir -p "$D"/mp{1,2,3,4}
# shellcheck disable=SC2086
"$BIN/aisle-node" --listen 127.0.0.1:$PORT --mountpath "$D/mp1" --mountpath "$D/mp2" \
  --mountpath "$D/mp3" --mountpath "$D/mp4" ${NODE_ARGS:-} >"$D/node.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 100); do curl -sf "$URL/v1/health" >/dev/null && break; sleep 0.05; done
curl -sf -X POST "$URL/v1/buckets/mono" -d '{"action":"create-bck"}'
curl -sf -X POST "$URL/v1/buckets/chnk" -d '{"action":"create-bck"}'
curl -sf -X PATCH "$URL/v1/buckets/chnk" \
  -d "{\"action\":\"set-bprops\",\"value\":{\"chunks\":{\"objsize_limit\":\"1MiB\",\"chunk_size\":\"$CHUNK\"}}}"
head -c "$SIZE" /dev/urandom >"$D/src.bin"
for b in mono chnk; do curl -sf -X PUT -T "$D/src.bin" "$URL/v1/objects/$b/obj" -o /dev/null; done
sync
echo 3 >/proc/sys/vm/drop_caches
echo "size $SIZE chunk $CHUNK, $CONC concurrent cold GET(s); $(uname -r); commit $(git -C "$ROOT" rev-parse --short HEAD); node flags: ${NODE_ARGS:-<defaults>}; $(uptime)"
for b in mono chnk; do
  perf record -q -e filemap:mm_filemap_add_to_page_cache -a -o "$D/perf.$b" -- \
    sh -c "for i in \$(seq $CONC); do curl -sf $URL/v1/objects/$b/obj -o /dev/null & done; wait" 2>/dev/null
  perf script -i "$D/perf.$b" 2>/dev/null | grep -o "order=[0-9]*" | sort -t= -k2 -n | uniq -c |
    awk -v b="$b" '{split($2, o, "="); mib = $1 * 4 * 2^o[2] / 1024; printf "%s%s%s×order%s (%.0f MiB)", (NR == 1 ? b " cold GET folios: " : ""), (NR == 1 ? "" : ", "), $1, o[2], mib} END {print ""}'
done
echo obj >"$D/list"
for b in mono chnk; do
  t0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
  J=$("$BIN/aisle-bench" -ip 127.0.0.1 -port $PORT -bucket $b -objlist "$D/list" -pctput 0 \
    -duration 5s -numworkers 4 -numcores 1 -statsinterval 0 -json 2>/dev/null)
  t1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
  J=$J python3 -c "
import json, os
d = json.loads(os.environ['J'])['get']; g = d['bytes'] / 2**30
print('$b hot GET: %d MiB/s, node CPU %.3f s/GiB' % (d['mib_per_s'], ($t1 - $t0) / $(getconf CLK_TCK) / g))"
done
