#!/usr/bin/env bash
# Cold-read comparison (issue 11): one epoch over a dataset larger than what sits in the page
# cache (caches dropped before every run), read by aisle-bench from aisle-node and from nginx,
# and by fio straight from the node's object files. Alternated rounds, medians, ratios.
#
#   sudo scripts/bench-cold.sh                              # 2 GiB of 1 MiB + 100k x 4 KiB, 3 rounds
#   ROUNDS=1 COLD_SETS="64KiB:20000" scripts/bench-cold.sh  # a quick try
#   FULL=1 scripts/bench-cold.sh                            # issue 11's sizes: 8 GiB of 1 MiB, 1M x 4 KiB
#
# Each set SIZE:COUNT is seeded separately into both servers (aisle: bucket cold-<size>;
# nginx: /bench/cold-<size>/), with the same count and size (scripts/bench-seed.sh); the node
# and nginx lay files out differently, so each reads its own copy, on the same filesystem.
# Per round and set, in this order, each after scripts/drop-caches.sh:
#   aisle  aisle-bench -epochs EPOCHS -objlist <names> -numworkers CONNS (ais API)
#   nginx  the same, -api http against nginx (sendfile, worker_processes = nproc)
#   fio    fio --rw=randread --bs=SIZE --ioengine=io_uring --iodepth=IODEPTH, buffered (direct=0),
#          over the node's object files (one job per mountpath, --opendir=<mp>/@ais/<bucket>/%ob,
#          the depth split between them; group_reporting; openfiles=FIO_OPENFILES, so files
#          are opened and closed as the run goes, as a server opens each object). Each file is
#          one block, so one fio pass reads every object once: its IOPS are objects/s. fio
#          reads data only (no xattr metadata, no HTTP). A small openfiles makes fio itself
#          the bottleneck (measured here, 100k x 4 KiB cold: openfiles=32 8.8k IOPS, 256 29k,
#          1024 40k, 4096 39k), hence 1024.
# Epoch 1 of each aisle-bench run is the cold one; with EPOCHS=2 (default) epoch 2 reads the
# same objects again right away: warm as far as the dataset fits in memory (2 GiB does here;
# it stands in for the node's hot rate on the same files).
# The GETs use an object list, not the bucket listing: a listing would read every inode and
# xattr before the epoch and warm exactly the metadata a cold GET has to read.
#
# Environment (defaults):
#   COLD_SETS="1MiB:2048 4KiB:100000"   SIZE:COUNT pairs (FULL=1: "1MiB:8192 4KiB:1000000")
#   ROUNDS=3 EPOCHS=2 CONNS=32 IODEPTH=$CONNS FIO_OPENFILES=1024 (per fio job)
#   FIO_DIRECT=1      also the same fio job with direct=1 (O_DIRECT: no page cache, no
#                     readahead), rows `fio-direct`: what the disk gives past the page cache
#   BENCH_DIR=/tmp/aisle-bench-cold  data of both servers (wiped at start, removed at exit unless
#                                    KEEP_DATA=1)
#   AISLE_PORT=18090 NGINX_PORT=18091 (127.0.0.1)   AISLE_ARGS=""  extra aisle-node flags
#   SKIP_BUILD=0 SKIP_INSTALL=0 (installs nginx-light and fio with apt when missing)
# Needs root (dropping the page cache). Output: stdout, also bench/results/cold-<UTC>.log and the
# per-run figures as TSV in bench/results/cold-<UTC>.tsv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD

FULL=${FULL:-0}
if [ "$FULL" = 1 ]; then DEFAULT_SETS="1MiB:8192 4KiB:1000000"; else DEFAULT_SETS="1MiB:2048 4KiB:100000"; fi
COLD_SETS=${COLD_SETS:-$DEFAULT_SETS}
ROUNDS=${ROUNDS:-3}
EPOCHS=${EPOCHS:-2}
CONNS=${CONNS:-32}
IODEPTH=${IODEPTH:-$CONNS}
FIO_OPENFILES=${FIO_OPENFILES:-1024}
FIO_DIRECT=${FIO_DIRECT:-0}
BENCH_DIR=${BENCH_DIR:-/tmp/aisle-bench-cold}
AISLE_PORT=${AISLE_PORT:-18090}
NGINX_PORT=${NGINX_PORT:-18091}
AISLE_ARGS=${AISLE_ARGS:-}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_INSTALL=${SKIP_INSTALL:-0}
KEEP_DATA=${KEEP_DATA:-0}

NCPU=$(nproc)
BIN=$REPO/target/release
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$REPO/bench/results
LOG=$RESULTS/cold-$STAMP.log
TSV=$RESULTS/cold-$STAMP.tsv

say() { printf '%s\n' "$*"; }
hdr() { printf '\n=== %s ===\n' "$*"; }
die() { say "bench-cold: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root: every run starts from a dropped page cache (scripts/drop-caches.sh)"
[ "$EPOCHS" -ge 1 ] 2>/dev/null || die "EPOCHS must be >= 1 (got $EPOCHS)"
[ "$ROUNDS" -ge 1 ] 2>/dev/null || die "ROUNDS must be >= 1 (got $ROUNDS)"

# Bytes of an aisle-bench size (every unit a power of 1024).
bytes() {
  python3 - "$1" <<'PY'
import re, sys
m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(i?b)?\s*", sys.argv[1], re.I)
if not m:
    sys.exit(f"bench-cold: bad size {sys.argv[1]!r} (e.g. 4KiB, 1MiB)")
print(int(m.group(1)) << (10 * " kmgt".index((m.group(2) or " ").lower())))
PY
}
SETS=()
for s in $COLD_SETS; do
  size=${s%%:*}; count=${s##*:}
  case $count in ''|*[!0-9]*|0) die "COLD_SETS: bad count in '$s' (SIZE:COUNT)";; esac
  b=$(bytes "$size") || exit 1
  [ "$b" -gt 0 ] || die "COLD_SETS: size 0 in '$s'"
  SETS+=("$size:$count:$b")
done
[ ${#SETS[@]} -gt 0 ] || die "COLD_SETS is empty"

if [ "$SKIP_INSTALL" != 1 ]; then
  need=()
  command -v nginx >/dev/null || need+=(nginx-light)
  command -v fio >/dev/null || need+=(fio)
  command -v curl >/dev/null || need+=(curl)
  if [ ${#need[@]} -gt 0 ]; then
    say "bench-cold: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
command -v fio >/dev/null || die "fio missing"
nginx -V 2>&1 | grep -qo with-http_dav_module || die "nginx missing or without the WebDAV module"
if [ "$SKIP_BUILD" != 1 ]; then
  cargo build --release --bin aisle-node --bin aisle-bench
fi
[ -x "$BIN/aisle-node" ] && [ -x "$BIN/aisle-bench" ] || die "missing $BIN/aisle-node or aisle-bench"

mkdir -p "$RESULTS"
TMPD=$(mktemp -d /tmp/bench-cold.XXXXXX)
exec > >(tee "$LOG") 2>&1

AISLE_PID=
NGINX_PID=
stop_pid() { # pid [signal]
  local p=$1 sig=${2:-TERM} i
  [ -n "$p" ] || return 0
  kill -0 "$p" 2>/dev/null || return 0
  kill "-$sig" "$p" 2>/dev/null || true
  for i in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$AISLE_PID"
  stop_pid "$NGINX_PID" QUIT
  rm -rf "$TMPD"
  if [ "$KEEP_DATA" != 1 ]; then rm -rf "$BENCH_DIR"; fi
  say "bench-cold: exit $rc; log $LOG"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

hdr "bench-cold $STAMP"
say "command: $0 (COLD_SETS=\"$COLD_SETS\" ROUNDS=$ROUNDS EPOCHS=$EPOCHS CONNS=$CONNS IODEPTH=$IODEPTH FIO_OPENFILES=$FIO_OPENFILES AISLE_ARGS=$AISLE_ARGS)"
say "nproc: $NCPU; $(lscpu | grep 'Model name' | sed 's/  */ /g'); kernel $(uname -r); memory $(free -h | awk '/^Mem:/{print $2}')"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
say "commit: $commit$( [ "$dirty" -gt 0 ] && echo " (+ $dirty modified tracked files)"); nginx $(nginx -v 2>&1 | sed 's/.*: //'); $(fio --version)"

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR/nginx/bench" "$BENCH_DIR/nginx/tmp" "$BENCH_DIR/aisle/mp1" "$BENCH_DIR/aisle/mp2"
MPS=("$BENCH_DIR/aisle/mp1" "$BENCH_DIR/aisle/mp2")
say "data: $BENCH_DIR on $(df -T "$BENCH_DIR" | awk 'NR==2{print $2" "$1" (mounted on "$7")"}')"
A_URL=http://127.0.0.1:$AISLE_PORT
B_URL=http://127.0.0.1:$NGINX_PORT

wait_port() { # port pid name
  local i
  for i in $(seq 1 200); do
    kill -0 "$2" 2>/dev/null || die "$3 exited during start (see its log in $TMPD)"
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.05
  done
  die "$3 did not come up on port $1"
}
mkdir -p "$TMPD/nginx"
sed -e "s|@WORKERS@|$NCPU|g" -e "s|@RUN@|$TMPD/nginx|g" -e "s|@DATA@|$BENCH_DIR/nginx|g" \
    -e "s|@PORT@|$NGINX_PORT|g" "$REPO/scripts/nginx-bench.conf.tmpl" > "$TMPD/nginx/nginx.conf"
nginx -c "$TMPD/nginx/nginx.conf" -p "$TMPD/nginx" -g 'daemon off;' 2>>"$TMPD/nginx/stderr.log" &
NGINX_PID=$!
# shellcheck disable=SC2086
"$BIN/aisle-node" --listen "127.0.0.1:$AISLE_PORT" --mountpath "${MPS[0]}" --mountpath "${MPS[1]}" \
    --cores "$NCPU" --log-level warn $AISLE_ARGS 2>>"$TMPD/aisle-node.log" &
AISLE_PID=$!
wait_port "$NGINX_PORT" "$NGINX_PID" nginx
wait_port "$AISLE_PORT" "$AISLE_PID" aisle-node
say "servers: aisle-node pid $AISLE_PID --cores $NCPU (2 mountpaths); nginx pid $NGINX_PID worker_processes $NCPU"

printf 'set\tround\twho\tepoch\tobj_s\tmib_s\tp50_us\tp99_us\terrors\tobjects\n' > "$TSV"

# -------------------------------------------------------------------------------------------
# Seeding
# -------------------------------------------------------------------------------------------
tag_of() { echo "$1" | tr 'A-Z' 'a-z'; }
for s in "${SETS[@]}"; do
  IFS=: read -r size count b <<< "$s"
  tag=$(tag_of "$size")
  hdr "seeding set $tag: $count x $size into aisle (bucket cold-$tag) and nginx (/bench/cold-$tag/)"
  URL=$A_URL BUCKET="ais://cold-$tag" PREFIX=d NAMES="$TMPD/names-a-$tag" BENCH="$BIN/aisle-bench" \
    "$REPO/scripts/bench-seed.sh" "$count" "$size"
  API=http URL="$B_URL/bench/cold-$tag" PREFIX=d NAMES="$TMPD/names-b-$tag" BENCH="$BIN/aisle-bench" \
    "$REPO/scripts/bench-seed.sh" "$count" "$size"
  files=0
  for mp in "${MPS[@]}"; do
    d="$mp/@ais/cold-$tag/%ob"
    [ -d "$d" ] || continue
    files=$(( files + $(find "$d" -type f | wc -l) ))
  done
  [ "$files" = "$count" ] || die "set $tag: the node holds $files object files, expected $count"
  nfiles=$(find "$BENCH_DIR/nginx/bench/cold-$tag" -type f | wc -l)
  [ "$nfiles" = "$count" ] || die "set $tag: nginx holds $nfiles files, expected $count"
  # fio: one job per mountpath that holds objects of the set, the queue depth split between them.
  jobs=()
  for mp in "${MPS[@]}"; do [ -d "$mp/@ais/cold-$tag/%ob" ] && jobs+=("$mp/@ais/cold-$tag/%ob"); done
  depth=$(( IODEPTH / ${#jobs[@]} )); [ "$depth" -ge 1 ] || depth=1
  {
    printf '[global]\nrw=randread\nbs=%s\nioengine=io_uring\niodepth=%s\ndirect=0\ngroup_reporting=1\nopenfiles=%s\n' \
      "$b" "$depth" "$FIO_OPENFILES"
    i=0
    for d in "${jobs[@]}"; do i=$((i + 1)); printf '\n[mp%s]\nopendir=%s\n' "$i" "$d"; done
  } > "$TMPD/fio-$tag.job"
  [ "$FIO_DIRECT" = 1 ] && sed 's/^direct=0$/direct=1/' "$TMPD/fio-$tag.job" > "$TMPD/fio-$tag-direct.job"
  say "  fio job: ${#jobs[@]} job(s) of iodepth $depth over $files files (total depth $(( depth * ${#jobs[@]} )))"
done
sync

# -------------------------------------------------------------------------------------------
# Rounds
# -------------------------------------------------------------------------------------------
drop() { "$REPO/scripts/drop-caches.sh"; }
run_bench() { # set-tag round who args...
  local tag=$1 round=$2 who=$3; shift 3
  local out=$TMPD/run.json err=$TMPD/run.err rc=0
  drop
  timeout 3600 "$BIN/aisle-bench" -numcores "$NCPU" -numworkers "$CONNS" -epochs "$EPOCHS" \
    -statsinterval 0 -json "$@" > "$out" 2> "$err" || rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then cat "$err"; die "aisle-bench failed (exit $rc): $tag round $round $who"; fi
  grep '^Epoch' "$err" | sed "s/^/  $who  /"
  [ "$rc" = 0 ] || sed -n '1,8p' "$err"
  python3 - "$out" "$tag" "$round" "$who" >> "$TSV" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); tag, rnd, who = sys.argv[2:5]
for e in j["epochs"]:
    l = e["latency_us"]
    print(f"{tag}\t{rnd}\t{who}\t{e['epoch']}\t{e['objects_per_s']:.1f}\t{e['mib_per_s']:.1f}\t{l['p50']}\t{l['p99']}\t{e['errors']}\t{e['objects']}")
PY
}
run_fio() { # set-tag round count [-direct]
  local tag=$1 round=$2 count=$3 variant=${4:-} out=$TMPD/fio.json
  drop
  # fio keeps per-file state in its smalloc pool (16 MiB by default): 1 M files exhaust it
  # ("smalloc: pool ... free/total blocks 0/..."); give it about 1 KiB per file.
  local pool=$(( count > 16384 ? count : 16384 ))
  timeout 3600 fio --alloc-size="$pool" --output-format=json --output="$out" "$TMPD/fio-$tag$variant.job" \
    || die "fio$variant failed: $tag round $round"
  python3 - "$out" "$tag" "$round" "$count" "fio$variant" >> "$TSV" <<'PY'
import json, sys
text = open(sys.argv[1]).read()  # fio writes "opendir added N files" lines before the JSON
j = json.loads(text[text.index("{"):]); tag, rnd, count, who = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
r = j["jobs"][0]["read"]
pct = r.get("clat_ns", {}).get("percentile", {})
p = lambda k: int(pct.get(k, 0) / 1000)
ios = r["total_ios"]
errs = j["jobs"][0].get("error", 0)
if ios != count:
    print(f"bench-cold: fio read {ios} blocks, expected {count}", file=sys.stderr)
print(f"{tag}\t{rnd}\t{who}\t1\t{r['iops']:.1f}\t{r['bw_bytes'] / 2**20:.1f}\t{p('50.000000')}\t{p('99.000000')}\t{errs}\t{ios}")
PY
  tail -1 "$TSV" | awk -F'\t' '{printf "  %-6s randread: %s blocks, %s IOPS, %s MiB/s, clat p50 %s us p99 %s us\n", $3, $10, $5, $6, $7, $8}'
}

for ((r = 1; r <= ROUNDS; r++)); do
  for s in "${SETS[@]}"; do
    IFS=: read -r size count b <<< "$s"
    tag=$(tag_of "$size")
    hdr "round $r/$ROUNDS, set $tag ($count x $size): caches dropped before each run"
    run_bench "$tag" "$r" aisle -api ais --endpoint "$A_URL" -bucket "ais://cold-$tag" -objlist "$TMPD/names-a-$tag"
    run_bench "$tag" "$r" nginx -api http --endpoint "$B_URL/bench/cold-$tag" -objlist "$TMPD/names-b-$tag"
    run_fio "$tag" "$r" "$count"
    [ "$FIO_DIRECT" = 1 ] && run_fio "$tag" "$r" "$count" -direct
  done
done

# -------------------------------------------------------------------------------------------
# Summary
# -------------------------------------------------------------------------------------------
hdr "summary: medians over $ROUNDS rounds (epoch 1 = cold; epoch 2 = warm, same objects again)"
python3 - "$TSV" <<'PY'
import sys, statistics as st
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
d = defaultdict(dict)  # (set, who, epoch) -> round -> row
for s, rnd, who, ep, *v in rows:
    d[(s, who, int(ep))][rnd] = [float(x) for x in v]
sets = list(dict.fromkeys(k[0] for k in d))
print(f"{'set':<8}{'who':<12}{'epoch':<8}{'obj/s':>10}{'MiB/s':>10}{'p50 us':>10}{'p99 us':>10}{'errors':>8}")
def med(key, i):
    vals = [v[i] for v in d[key].values()]
    return st.median(vals) if vals else float("nan")
def pair_ratio(a, b):
    rs = [d[a][r][0] / d[b][r][0] for r in d[a] if r in d[b] and d[b][r][0]]
    return st.median(rs) if rs else float("nan")
for s in sets:
    for who in ("aisle", "nginx", "fio", "fio-direct"):
        for ep in sorted(e for (x, w, e) in d if x == s and w == who):
            k = (s, who, ep)
            errs = sum(v[4] for v in d[k].values())
            label = "cold" if ep == 1 else f"warm {ep}"
            print(f"{s:<8}{who:<12}{label:<8}{med(k,0):>10.1f}{med(k,1):>10.1f}{med(k,2):>10.0f}{med(k,3):>10.0f}{errs:>8.0f}")
print("\nratios (median of per-round ratios, objects/s):")
for s in sets:
    a, n, f = (s, "aisle", 1), (s, "nginx", 1), (s, "fio", 1)
    line = f"  {s:<8} cold aisle/nginx {pair_ratio(a, n):.2f}x"
    if f in d:
        line += f"   cold aisle/fio {pair_ratio(a, f):.2f}x"
    if (s, "fio-direct", 1) in d:
        fd = (s, "fio-direct", 1)
        line += f"   aisle/fio-direct {pair_ratio(a, fd):.2f}x   nginx/fio-direct {pair_ratio(n, fd):.2f}x"
    if (s, "aisle", 2) in d:
        line += f"   aisle cold/warm {pair_ratio(a, (s, 'aisle', 2)):.2f}x"
        line += f"   warm aisle/nginx {pair_ratio((s, 'aisle', 2), (s, 'nginx', 2)):.2f}x"
    print(line)
print("\nissue 11 targets for the cold epoch: >= 1.5x nginx; for 1 MiB also >= 0.70 of the lower of")
print("fio's IOPS and the node's hot rate (here: its warm epoch 2, if the dataset fit in memory).")
PY
say
say "per-run figures: $TSV"
