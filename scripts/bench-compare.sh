#!/usr/bin/env bash
# Side-by-side benchmark: aisle-node (A) against nginx (B), same client (aisle-bench), same
# filesystem, same objects, alternating A/B/A/B (issue 3, "Side-by-side comparison").
#
#   scripts/bench-compare.sh                    # everything, 3 rounds of 10 s per workload
#   ROUNDS=5 DURATION=20s scripts/bench-compare.sh
#   ONLY=get4k,put1m ROUNDS=1 scripts/bench-compare.sh
#
# Environment (defaults):
#   ROUNDS=3           A/B pairs per workload (median over them)
#   DURATION=10s       each measured run; WARMUP=2s: one unrecorded run per server first
#   BENCH_DIR=/tmp/aisle-bench-compare   data of both servers (same filesystem), wiped at start
#                      and removed at exit unless KEEP_DATA=1
#   AISLE_PORT=18080 NGINX_PORT=18081 IPERF_PORT=18082   all on 127.0.0.1
#   CONNS_SMALL=64     connections for 4 KiB GETs;  CONNS_LARGE=32 for 1 MiB/16 MiB GETs, PUTs, mixed
#   AISLE_ARGS=""      extra aisle-node flags (e.g. "--put-write ring")
#   ONLY=all           comma list of: get4k get1m get16m put64k put1m put64k-ow put1m-ow mixed wrk
#                      iperf mem pinned cold
#   put64k-ow, put1m-ow: overwrite PUTs (issue 11): N_OW64K=1000 x 64 KiB / N_OW1M=256 x 1 MiB
#                      objects are seeded on both servers, then aisle-bench -putexisting PUTs over
#                      exactly those names (a shared cursor, in turn), at CONNS_OW="32 64"
#                      connections (workloads put64k-ow-c32, put64k-ow-c64, ...)
#   cold: cold reads (scripts/bench-cold.sh, run after the others with these servers stopped):
#                      one epoch per server after dropping the page cache, aisle vs nginx vs fio;
#                      needs root (skipped with a note otherwise); sizes by its COLD_SETS (default
#                      2 GiB of 1 MiB and 100k x 4 KiB; FULL=1 for issue 11's 8 GiB and 1M x 4 KiB)
#   SOAK_SECS=60       memory soak under a 4 KiB GET load (RSS sampled every 10 s)
#   MEM_OBJECTS=100000 1-byte objects stored before the memory figures; IDLE_CONNS=1000
#   PROFILE=           comma list of workloads to profile after their rounds: one extra aisle run
#                      and one extra nginx run under `perf record -e cpu-clock` (not counted);
#                      the perf.data files are kept in PERF_KEEP=/tmp/bench-compare-perf
#   SKIP_BUILD=0 SKIP_INSTALL=0
#
# Durability (both sides, default settings): neither fsyncs a PUT. aisle acknowledges after
# write + xattr + rename of the work file (engine/FORMAT.md); nginx WebDAV after writing its temp
# file and renaming it into place.
#
# Server CPU per request = (utime+stime of the server's processes after − before the run)
# / requests completed; aisle-node: its one process (all threads); nginx: master + workers.
#
# Output: everything on stdout, also written to bench/results/compare-<UTC time>.log, with the
# per-run figures as TSV in bench/results/compare-<UTC time>.tsv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
BENCH_DIR=${BENCH_DIR:-/tmp/aisle-bench-compare}
AISLE_PORT=${AISLE_PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}
IPERF_PORT=${IPERF_PORT:-18082}
CONNS_SMALL=${CONNS_SMALL:-64}
CONNS_LARGE=${CONNS_LARGE:-32}
ONLY=${ONLY:-all}
AISLE_ARGS=${AISLE_ARGS:-}   # extra aisle-node flags, e.g. "--put-write ring" or "--get-body splice"
SOAK_SECS=${SOAK_SECS:-60}
MEM_OBJECTS=${MEM_OBJECTS:-100000}
IDLE_CONNS=${IDLE_CONNS:-1000}
PROFILE=${PROFILE:-}
PERF_KEEP=${PERF_KEEP:-/tmp/bench-compare-perf}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_INSTALL=${SKIP_INSTALL:-0}
KEEP_DATA=${KEEP_DATA:-0}

N4K=${N4K:-1000}
N1M=${N1M:-200}
N16M=${N16M:-32}
N_OW64K=${N_OW64K:-1000}
N_OW1M=${N_OW1M:-256}
CONNS_OW=${CONNS_OW:-"32 64"}

NCPU=$(nproc)
BIN=$REPO/target/release
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$REPO/bench/results
LOG=$RESULTS/compare-$STAMP.log
TSV=$RESULTS/compare-$STAMP.tsv

want() { [ "$ONLY" = all ] || [[ ",$ONLY," == *",$1,"* ]]; }
profiled() { [[ ",$PROFILE," == *",$1,"* ]]; }
say() { printf '%s\n' "$*"; }
hdr() { printf '\n=== %s ===\n' "$*"; }
die() { say "bench-compare: $*" >&2; exit 1; }

# Seconds of a Go-style duration as used here: 10s, 2m, 500ms, or a bare number.
secs() {
  case $1 in
    *ms) echo $(( ${1%ms} / 1000 + 1 ));;
    *s) echo "${1%s}";;
    *m) echo $(( ${1%m} * 60 ));;
    *) echo "$1";;
  esac
}

# ---------------------------------------------------------------------------------------------
# 1. Tools and build
# ---------------------------------------------------------------------------------------------
if [ "$SKIP_INSTALL" != 1 ]; then
  need=()
  command -v nginx >/dev/null || need+=(nginx-light)
  command -v wrk >/dev/null || need+=(wrk)
  command -v iperf3 >/dev/null || need+=(iperf3)
  command -v curl >/dev/null || need+=(curl)
  command -v python3 >/dev/null || need+=(python3)
  if want cold; then command -v fio >/dev/null || need+=(fio); fi
  if [ ${#need[@]} -gt 0 ]; then
    say "bench-compare: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
nginx -V 2>&1 | grep -qo with-http_dav_module || die "nginx lacks the WebDAV module (with-http_dav_module)"
if [ "$SKIP_BUILD" != 1 ]; then
  cargo build --release --bin aisle-node --bin aisle-bench
fi
[ -x "$BIN/aisle-node" ] && [ -x "$BIN/aisle-bench" ] || die "missing $BIN/aisle-node or aisle-bench"

mkdir -p "$RESULTS"
TMPD=$(mktemp -d /tmp/bench-compare.XXXXXX)
exec > >(tee "$LOG") 2>&1

# ---------------------------------------------------------------------------------------------
# Process bookkeeping and cleanup
# ---------------------------------------------------------------------------------------------
AISLE_PID=
NGINX_PID=
IPERF_PID=
HOLDER_PID=
SOAK_PID=

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
  stop_pid "$SOAK_PID"
  stop_pid "$HOLDER_PID"
  stop_pid "$IPERF_PID"
  stop_pid "$AISLE_PID"
  stop_pid "$NGINX_PID" QUIT
  rm -rf "$TMPD"
  if [ "$KEEP_DATA" != 1 ]; then rm -rf "$BENCH_DIR"; fi
  say "bench-compare: exit $rc; log $LOG"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---------------------------------------------------------------------------------------------
# Header: machine, commit, tools
# ---------------------------------------------------------------------------------------------
hdr "bench-compare $STAMP"
say "command: ${0} (AISLE_ARGS=$AISLE_ARGS ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS_SMALL=$CONNS_SMALL CONNS_LARGE=$CONNS_LARGE ONLY=$ONLY SOAK_SECS=$SOAK_SECS MEM_OBJECTS=$MEM_OBJECTS IDLE_CONNS=$IDLE_CONNS PROFILE=$PROFILE)"
say "nproc: $NCPU; $(lscpu | grep 'Model name' | sed 's/  */ /g')"
say "kernel: $(uname -r)"
say "memory: $(free -h | awk '/^Mem:/{print $2" total"}')"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
say "commit: $commit$( [ "$dirty" -gt 0 ] && echo " (+ $dirty modified tracked files)")"
say "rustc: $(rustc --version 2>/dev/null || echo '?')"
say "nginx: $(nginx -v 2>&1 | sed 's/.*: //') ($(dpkg-query -W -f='${Package} ${Version}' nginx-light 2>/dev/null || echo '?')); wrk: $(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?'); iperf3: $(iperf3 --version | head -1)"

# ---------------------------------------------------------------------------------------------
# 2. Data dir, servers
# ---------------------------------------------------------------------------------------------
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR/nginx/bench" "$BENCH_DIR/nginx/tmp" "$BENCH_DIR/aisle/mp1" "$BENCH_DIR/aisle/mp2"
say "data: $BENCH_DIR on $(df -T "$BENCH_DIR" | awk 'NR==2{print $2" "$1" (mounted on "$7")"}')"
MP1=$BENCH_DIR/aisle/mp1
MP2=$BENCH_DIR/aisle/mp2
A_URL=http://127.0.0.1:$AISLE_PORT
B_URL=http://127.0.0.1:$NGINX_PORT

wait_port() { # port pid name
  local i
  for i in $(seq 1 200); do
    kill -0 "$2" 2>/dev/null || die "$3 exited during start (see $TMPD)"
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.05
  done
  die "$3 did not come up on port $1"
}

MODE=
start_servers() { # unpinned|pinned
  MODE=$1
  local cores=$NCPU workers=$NCPU pin=()
  if [ "$MODE" = pinned ]; then cores=1; workers=1; pin=(taskset -c 1); fi
  mkdir -p "$TMPD/nginx"
  sed -e "s|@WORKERS@|$workers|g" -e "s|@RUN@|$TMPD/nginx|g" -e "s|@DATA@|$BENCH_DIR/nginx|g" \
      -e "s|@PORT@|$NGINX_PORT|g" "$REPO/scripts/nginx-bench.conf.tmpl" > "$TMPD/nginx/nginx.conf"
  "${pin[@]}" nginx -c "$TMPD/nginx/nginx.conf" -p "$TMPD/nginx" -g 'daemon off;' \
      2>>"$TMPD/nginx/stderr.log" &
  NGINX_PID=$!
  "${pin[@]}" "$BIN/aisle-node" --listen "127.0.0.1:$AISLE_PORT" --mountpath "$MP1" \
      --mountpath "$MP2" --cores "$cores" --log-level warn $AISLE_ARGS 2>>"$TMPD/aisle-node.log" &
  AISLE_PID=$!
  wait_port "$NGINX_PORT" "$NGINX_PID" nginx
  wait_port "$AISLE_PORT" "$AISLE_PID" aisle-node
  say "servers ($MODE): aisle-node pid $AISLE_PID --cores $cores${pin:+ under taskset -c 1}; nginx pid $NGINX_PID worker_processes $workers${pin:+ under taskset -c 1} (workers: $(nginx_workers | tr '\n' ' '))"
}
stop_servers() {
  stop_pid "$AISLE_PID"; AISLE_PID=
  stop_pid "$NGINX_PID" QUIT; NGINX_PID=
}
nginx_workers() { cat "/proc/$NGINX_PID/task/$NGINX_PID/children" 2>/dev/null | tr ' ' '\n' | grep . || true; }
server_pids() { # A|B
  if [ "$1" = A ]; then echo "$AISLE_PID"; else echo "$NGINX_PID"; nginx_workers; fi
}
# utime+stime in clock ticks summed over pids (fields 14, 15 of /proc/PID/stat, after the comm).
cpu_ticks() {
  local p t=0 line f
  for p in "$@"; do
    line=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    read -r -a f <<< "$line"
    t=$(( t + f[11] + f[12] ))
  done
  echo "$t"
}
CLK_TCK=$(getconf CLK_TCK)
# Machine-wide jiffies from /proc/stat: "total busy steal" (busy = total - idle - iowait).
host_jiffies() { awk '/^cpu /{t=0; for (i=2;i<=NF;i++) t+=$i; print t, t-$5-$6, $9}' /proc/stat; }
host_note() { # "t0 b0 s0" "t1 b1 s1" -> "host busy X% steal Y%" (of all CPUs)
  local a b; read -r -a a <<< "$1"; read -r -a b <<< "$2"
  awk -v dt=$(( b[0] - a[0] )) -v db=$(( b[1] - a[1] )) -v ds=$(( b[2] - a[2] )) \
    'BEGIN{ if (dt > 0) printf "host busy %d%% steal %.1f%%", 100*db/dt, 100*ds/dt }'
}
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------------------------------------
# 3. Seed identical objects: o4k/NNNNNN (4 KiB), o1m/ (1 MiB), o16m/ (16 MiB), same bytes
# ---------------------------------------------------------------------------------------------
head -c 4096 /dev/urandom > "$TMPD/f4k"
head -c 1048576 /dev/urandom > "$TMPD/f1m"
head -c 16777216 /dev/urandom > "$TMPD/f16m"
names() { # dir count -> names file
  local i
  for ((i = 0; i < $2; i++)); do printf '%s/%06d\n' "$1" "$i"; done > "$TMPD/names-$1"
}
names o4k "$N4K"; names o1m "$N1M"; names o16m "$N16M"
cat "$TMPD/names-o4k" "$TMPD/names-o1m" > "$TMPD/names-mixed"
# PUT every name of a list with one curl (keep-alive); fail on any non-2xx.
curl_put() { # url-prefix names-file body-file
  local cfg=$TMPD/curl.cfg
  awk -v p="$1" -v f="$3" '{printf "upload-file = \"%s\"\nurl = \"%s/%s\"\n", f, p, $0}' "$2" > "$cfg"
  curl -s -o /dev/null -w '%{http_code}\n' -K "$cfg" > "$TMPD/curl.codes" || true
  local n ok
  n=$(wc -l < "$2"); ok=$(grep -c '^20[0-9]$' "$TMPD/curl.codes" || true)
  [ "$ok" = "$n" ] || die "seeding $1 from $2: $ok of $n PUTs got 2xx ($(sort "$TMPD/curl.codes" | uniq -c | tr '\n' ' '))"
}
create_bck() { curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d '{"action":"create-bck"}' "$A_URL/v1/buckets/$1" | grep -qE '^(200|409)$' || die "create-bck $1"; }
destroy_bck() { curl -s -o /dev/null -X DELETE -H 'Content-Type: application/json' \
  -d '{"action":"destroy-bck"}' "$A_URL/v1/buckets/$1" || true; }
# Destroyed buckets go to each mountpath's trash, emptied in the background: wait for that.
wait_trash() {
  local i
  for i in $(seq 1 600); do
    if [ -z "$(find "$MP1/.\$deleted" "$MP2/.\$deleted" -mindepth 1 -maxdepth 1 2>/dev/null | head -1)" ]; then return 0; fi
    sleep 0.2
  done
  say "warning: aisle trash not empty after 120 s"
}
seed() {
  hdr "seeding: $N4K x 4 KiB, $N1M x 1 MiB, $N16M x 16 MiB (same names and bytes in both)"
  local t0=$SECONDS b
  for b in bench mixed; do
    create_bck "$b"
    curl_put "$A_URL/v1/objects/$b" "$TMPD/names-o4k" "$TMPD/f4k"
    curl_put "$A_URL/v1/objects/$b" "$TMPD/names-o1m" "$TMPD/f1m"
  done
  curl_put "$B_URL/bench" "$TMPD/names-o4k" "$TMPD/f4k"
  curl_put "$B_URL/bench" "$TMPD/names-o1m" "$TMPD/f1m"
  mkdir -p "$BENCH_DIR/nginx/bench/mixed"
  cp -r "$BENCH_DIR/nginx/bench/o4k" "$BENCH_DIR/nginx/bench/o1m" "$BENCH_DIR/nginx/bench/mixed/"
  curl_put "$A_URL/v1/objects/bench" "$TMPD/names-o16m" "$TMPD/f16m"
  curl_put "$B_URL/bench" "$TMPD/names-o16m" "$TMPD/f16m"
  local sa sb
  for n in o4k/000000 o1m/000001 o16m/000002; do
    sa=$(curl -s "$A_URL/v1/objects/bench/$n" | sha256sum | cut -c1-16)
    sb=$(curl -s "$B_URL/bench/$n" | sha256sum | cut -c1-16)
    [ "$sa" = "$sb" ] || die "seeded $n differs: aisle $sa nginx $sb"
  done
  say "seeded in $((SECONDS - t0)) s; spot check of 3 objects: identical bytes from both"
  sync
}

# ---------------------------------------------------------------------------------------------
# 4. Runs
# ---------------------------------------------------------------------------------------------
printf 'workload\tround\tserver\treq_s\tmib_s\tp50_us\tp99_us\tcpu_us_per_req\terrors\trequests\n' > "$TSV"
BENCH_TIMEOUT=$(( $(secs "$DURATION") + 120 ))

# The client for the current mode: unpinned: 2 client cores; pinned: taskset -c 0, 1 core.
client() {
  if [ "$MODE" = pinned ]; then echo "taskset -c 0 $BIN/aisle-bench -numcores 1"
  else echo "$BIN/aisle-bench -numcores $NCPU"; fi
}
# Target args of server A or B for a workload's "where" (bucket name for A, URL path for B).
target() { # A|B where
  if [ "$1" = A ]; then echo "-api ais -ip 127.0.0.1 -port $AISLE_PORT -bucket $2"
  else echo "-api http --endpoint $B_URL/$2"; fi
}

LAST=
# run_one workload round A|B duration args... -> appends to TSV (unless round = warmup/profile)
run_one() {
  local wl=$1 round=$2 srv=$3 dur=$4; shift 4
  local out=$TMPD/run.json err=$TMPD/run.err rc=0 pids c0 c1 h0 h1
  sync; sleep 1
  pids=$(server_pids "$srv")
  c0=$(cpu_ticks $pids); h0=$(host_jiffies)
  # shellcheck disable=SC2046
  timeout "$BENCH_TIMEOUT" $(client) -duration "$dur" -statsinterval 0 -json "$@" >"$out" 2>"$err" || rc=$?
  c1=$(cpu_ticks $pids); h1=$(host_jiffies)
  if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
    cat "$err"; die "aisle-bench failed (exit $rc): $wl round $round server $srv"
  fi
  LAST=$(python3 - "$out" "$((c1 - c0))" "$CLK_TCK" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); ticks = int(sys.argv[2]); hz = int(sys.argv[3])
g, p = j["get"], j["put"]
n = g["count"] + p["count"]
rps = g["req_per_s"] + p["req_per_s"]
mib = g["mib_per_s"] + p["mib_per_s"]
# latency of the dominant op (mixed: GET)
op = g if g["count"] >= p["count"] else p
cpu = ticks * 1e6 / hz / n if n else 0.0
print(f"{rps:.0f}\t{mib:.1f}\t{op['latency_us']['p50']}\t{op['latency_us']['p99']}\t{cpu:.2f}\t{g['errors'] + p['errors']}\t{n}")
EOF
)
  local f; IFS=$'\t' read -r -a f <<< "$LAST"
  printf '  %-13s %-7s %s  %8s req/s %9s MiB/s  p50 %6s us  p99 %7s us  srv CPU %6s us/req  errors %s  (%s)\n' \
    "$wl" "$round" "$([ "$srv" = A ] && echo aisle || echo nginx)" "${f[0]}" "${f[1]}" "${f[2]}" "${f[3]}" "${f[4]}" "${f[5]}" "$(host_note "$h0" "$h1")"
  if [ "${f[5]}" != 0 ]; then sed -n '1,12p' "$err"; fi
  case $round in warmup|profile) ;; *) printf '%s\t%s\t%s\t%s\n' "$wl" "$round" "$srv" "$LAST" >> "$TSV";; esac
}

# after-run hook per workload (PUT cleanup), set by the workload
after_run() { :; }

# compare workload where_A where_B args... : warmup, R rounds A/B, per-pair ratios
compare() {
  local wl=$1 wa=$2 wb=$3; shift 3
  hdr "$wl ($MODE): $(client) -duration $DURATION $* ; A = aisle ($(target A "$wa")), B = nginx ($(target B "$wb"))"
  if [ "$WARMUP" != 0 ]; then
    # shellcheck disable=SC2046
    run_one "$wl" warmup A "$WARMUP" $(target A "$wa") "$@"; after_run A
    # shellcheck disable=SC2046
    run_one "$wl" warmup B "$WARMUP" $(target B "$wb") "$@"; after_run B
  fi
  local r a b
  for ((r = 1; r <= ROUNDS; r++)); do
    # shellcheck disable=SC2046
    run_one "$wl" "$r" A "$DURATION" $(target A "$wa") "$@"; a=$LAST; after_run A
    # shellcheck disable=SC2046
    run_one "$wl" "$r" B "$DURATION" $(target B "$wb") "$@"; b=$LAST; after_run B
    python3 - "$a" "$b" <<'EOF'
import sys
a = sys.argv[1].split("\t"); b = sys.argv[2].split("\t")
r = lambda x, y: float(x) / float(y) if float(y) else float("nan")
print(f"  pair: aisle/nginx req/s {r(a[0], b[0]):.2f}x   p99 {r(a[3], b[3]):.2f}x   srv CPU/req {r(a[4], b[4]):.2f}x")
EOF
  done
  if profiled "$wl"; then profile "$wl" "$wa" "$wb" "$@"; fi
}

# One extra (uncounted) run per server under perf record; top symbols to the log.
profile() {
  local wl=$1 wa=$2 wb=$3; shift 3
  command -v perf >/dev/null || { say "profile: perf not installed"; return 0; }
  local srv pids data
  for srv in A B; do
    pids=$(server_pids "$srv" | paste -sd,)
    data=$TMPD/perf-$wl-$srv.data
    perf record -q -e cpu-clock -F 2999 -p "$pids" -o "$data" 2>"$TMPD/perf.err" &
    local ppid=$!
    sleep 0.5
    if [ "$srv" = A ]; then
      # shellcheck disable=SC2046
      run_one "$wl" profile A "$DURATION" $(target A "$wa") "$@"
    else
      # shellcheck disable=SC2046
      run_one "$wl" profile B "$DURATION" $(target B "$wb") "$@"
    fi
    kill -INT "$ppid" 2>/dev/null || true
    wait "$ppid" || true
    after_run "$srv"
    mkdir -p "$PERF_KEEP" && cp "$data" "$PERF_KEEP/"
    hdr "profile $wl $([ "$srv" = A ] && echo aisle-node || echo nginx): perf record -e cpu-clock, self time by symbol (top 45)"
    perf report -i "$data" --no-children --sort dso,sym --stdio --percent-limit 0.4 2>"$TMPD/perf.err" </dev/null \
      | grep -v '^#' | grep -v '^$' | head -45 || true
    if [ -s "$TMPD/perf.err" ]; then sed -n 1,5p "$TMPD/perf.err"; fi
    hdr "profile $wl $([ "$srv" = A ] && echo aisle-node || echo nginx): user vs kernel"
    perf report -i "$data" --no-children --sort dso --stdio 2>>"$TMPD/perf.err" </dev/null | grep -v '^#' | grep -v '^$' | head -8 || true
  done
}

# ---------------------------------------------------------------------------------------------
start_servers unpinned
seed

IPERF_MIBS=
if want iperf || want get16m; then
  hdr "iperf3 loopback (one stream, 5 s): iperf3 -c 127.0.0.1 -p $IPERF_PORT -t 5"
  iperf3 -s -1 -B 127.0.0.1 -p "$IPERF_PORT" >/dev/null 2>&1 &
  IPERF_PID=$!
  sleep 0.5
  iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -t 5 -J > "$TMPD/iperf.json"
  wait "$IPERF_PID" 2>/dev/null || true; IPERF_PID=
  IPERF_MIBS=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.0f" % (j["end"]["sum_received"]["bits_per_second"]/8/1048576))' "$TMPD/iperf.json")
  say "  iperf3 loopback: $IPERF_MIBS MiB/s received ($(python3 -c "print('%.1f' % ($IPERF_MIBS*8*1048576/1e9))") Gbit/s)"
fi

if want get4k; then
  compare get4k bench bench -objlist "$TMPD/names-o4k" -pctput 0 -numworkers "$CONNS_SMALL"
fi
if want get1m; then
  compare get1m bench bench -objlist "$TMPD/names-o1m" -pctput 0 -numworkers "$CONNS_LARGE"
fi
if want get16m; then
  compare get16m bench bench -objlist "$TMPD/names-o16m" -pctput 0 -numworkers "$CONNS_LARGE"
fi

# PUTs: every run creates new objects; after each run they are deleted outside the measured
# window (aisle: destroy-bck, then wait until the trash is emptied; nginx: rm -rf) so that every
# run starts from the same filesystem state. aisle-bench creates the bucket at start.
put_cleanup() { # A|B bucket
  if [ "$1" = A ]; then destroy_bck "$2"; wait_trash; else rm -rf "${BENCH_DIR:?}/nginx/bench/$2"; fi
  sync
}
if want put64k; then
  after_run() { put_cleanup "$1" put64k; }
  compare put64k put64k bench/put64k -pctput 100 -minsize 64KiB -maxsize 64KiB -numworkers "$CONNS_LARGE"
  after_run() { :; }
fi
if want put1m; then
  after_run() { put_cleanup "$1" put1m; }
  compare put1m put1m bench/put1m -pctput 100 -minsize 1MiB -maxsize 1MiB -numworkers "$CONNS_LARGE"
  after_run() { :; }
fi
# Overwrite PUTs (issue 11): the same names on both sides exist before every run (seeded once,
# outside the measured window) and every PUT of a run replaces one of them; nothing is cleaned
# up between runs (the set stays the same size). aisle: bucket ow<size>; nginx: bench/ow<size>/.
overwrite() { # label size count
  local wl=$1 size=$2 n=$3 c bytes
  case $size in 64KiB) bytes=65536;; 1MiB) bytes=1048576;; *) die "overwrite: size $size";; esac
  head -c "$bytes" /dev/urandom > "$TMPD/f-$wl"
  names "$wl" "$n"
  hdr "seeding $wl: $n x $size on both servers (names $wl/NNNNNN)"
  create_bck "$wl"
  curl_put "$A_URL/v1/objects/$wl" "$TMPD/names-$wl" "$TMPD/f-$wl"
  curl_put "$B_URL/bench/$wl" "$TMPD/names-$wl" "$TMPD/f-$wl"
  sync
  for c in $CONNS_OW; do
    compare "$wl-c$c" "$wl" "bench/$wl" -objlist "$TMPD/names-$wl" -putexisting -pctput 100 \
      -minsize "$size" -maxsize "$size" -numworkers "$c"
  done
  destroy_bck "$wl"; wait_trash; rm -rf "${BENCH_DIR:?}/nginx/bench/$wl"; sync
}
if want put64k-ow; then overwrite put64k-ow 64KiB "$N_OW64K"; fi
if want put1m-ow; then overwrite put1m-ow 1MiB "$N_OW1M"; fi
if want mixed; then
  # GETs walk the seeded o4k + o1m objects of bucket/folder "mixed" (and this run's PUTs);
  # PUTs (20 %) create new objects of 4 KiB..1 MiB (uniform). New objects accumulate over the
  # rounds on both sides alike.
  compare mixed mixed bench/mixed -objlist "$TMPD/names-mixed" -pctput 20 -minsize 4KiB -maxsize 1MiB -numworkers "$CONNS_LARGE"
fi

# wrk: independent client, GET 4 KiB, walking the same names round-robin.
cat > "$TMPD/get.lua" <<'EOF'
local names, i, prefix = {}, 0, ""
function init(args)
  prefix = args[1]
  for line in io.lines(args[2]) do names[#names + 1] = line end
  i = math.random(#names)
end
function request()
  i = i % #names + 1
  return wrk.format("GET", prefix .. names[i])
end
EOF
wrk_pair() { # label threads conns prefix...
  local wl=$1 t=$2 c=$3 r srv url out pin=() pids c0 c1 h0 h1 a b
  [ "$MODE" = pinned ] && pin=(taskset -c 0)
  hdr "$wl ($MODE): ${pin[*]} wrk -t$t -c$c -d$DURATION --latency -s get.lua (GET 4 KiB, names walked round-robin)"
  for ((r = 1; r <= ROUNDS; r++)); do
    for srv in A B; do
      if [ "$srv" = A ]; then url="$A_URL /v1/objects/bench/"; else url="$B_URL /bench/"; fi
      set -- $url
      sync; sleep 1
      pids=$(server_pids "$srv"); c0=$(cpu_ticks $pids); h0=$(host_jiffies)
      out=$(timeout "$BENCH_TIMEOUT" "${pin[@]}" wrk -t"$t" -c"$c" -d"$DURATION" --latency --timeout 30s \
              -s "$TMPD/get.lua" "$1" -- "$2" "$TMPD/names-o4k")
      c1=$(cpu_ticks $pids); h1=$(host_jiffies)
      LAST=$(python3 - "$((c1 - c0))" "$CLK_TCK" "$out" <<'EOF'
import re, sys
ticks, hz, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def ms(s):
    v, u = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
n = int(re.search(r"(\d+) requests in", out).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1)); p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))
errs = 0
m = re.search(r"Non-2xx or 3xx responses: (\d+)", out); errs += int(m.group(1)) if m else 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
errs += sum(map(int, m.groups())) if m else 0
mib = rps * 4096 / 1048576
print(f"{rps:.0f}\t{mib:.1f}\t{p50:.0f}\t{p99:.0f}\t{ticks * 1e6 / hz / n:.2f}\t{errs}\t{n}")
EOF
)
      local f; IFS=$'\t' read -r -a f <<< "$LAST"
      printf '  %-13s %-7s %s  %8s req/s %9s MiB/s  p50 %6s us  p99 %7s us  srv CPU %6s us/req  errors %s  (%s)\n' \
        "$wl" "$r" "$([ "$srv" = A ] && echo aisle || echo nginx)" "${f[0]}" "${f[1]}" "${f[2]}" "${f[3]}" "${f[4]}" "${f[5]}" "$(host_note "$h0" "$h1")"
      printf '%s\t%s\t%s\t%s\n' "$wl" "$r" "$srv" "$LAST" >> "$TSV"
      if [ "$srv" = A ]; then a=$LAST; else b=$LAST; fi
    done
    python3 - "$a" "$b" <<'EOF'
import sys
a = sys.argv[1].split("\t"); b = sys.argv[2].split("\t")
r = lambda x, y: float(x) / float(y) if float(y) else float("nan")
print(f"  pair: aisle/nginx req/s {r(a[0], b[0]):.2f}x   p99 {r(a[3], b[3]):.2f}x   srv CPU/req {r(a[4], b[4]):.2f}x")
EOF
  done
}
if want wrk; then wrk_pair wrk-get4k "$NCPU" "$CONNS_SMALL"; fi

# ---------------------------------------------------------------------------------------------
# Memory: RSS of aisle-node: idle, with MEM_OBJECTS more objects, with IDLE_CONNS idle
# keep-alive connections (each made one GET), then a soak under a 4 KiB GET load.
# ---------------------------------------------------------------------------------------------
if want mem; then
  hdr "memory (aisle-node pid $AISLE_PID)"
  say "  RSS after the runs above: $(rss_kib "$AISLE_PID") KiB"
  t0=$SECONDS
  timeout 1800 "$BIN/aisle-bench" -numcores "$NCPU" -ip 127.0.0.1 -port "$AISLE_PORT" -bucket mem \
    -pctput 100 -maxputs "$MEM_OBJECTS" -minsize 1B -maxsize 1B -numworkers 64 -objprefix m \
    -statsinterval 0 -json > "$TMPD/mem.json" 2> "$TMPD/mem.err" || { cat "$TMPD/mem.err"; die "storing $MEM_OBJECTS objects failed"; }
  say "  stored $MEM_OBJECTS more 1-byte objects (bucket mem) in $((SECONDS - t0)) s: $(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["put"]; print("%d PUTs, %d errors, %.0f req/s" % (p["count"], p["errors"], p["req_per_s"]))' "$TMPD/mem.json")"
  total=$(( MEM_OBJECTS + 2 * (N4K + N1M) + N16M ))
  say "  RSS with ~$total objects stored: $(rss_kib "$AISLE_PID") KiB"
  # The GET of every object once (fills the metadata/fd caches as far as they go), then RSS.
  timeout 600 "$BIN/aisle-bench" -numcores "$NCPU" -ip 127.0.0.1 -port "$AISLE_PORT" -bucket mem \
    -pctput 0 -duration 10s -numworkers 64 -statsinterval 0 -json > "$TMPD/memget.json" 2> "$TMPD/memget.err" || true
  say "  after GETs over bucket mem (listing + 10 s, $(python3 -c 'import json,sys; g=json.load(open(sys.argv[1]))["get"]; print("%d GETs, %d errors" % (g["count"], g["errors"]))' "$TMPD/memget.json")): RSS $(rss_kib "$AISLE_PID") KiB"
  cat > "$TMPD/holder.py" <<'EOF'
import socket, sys, time
port, n, path, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, body = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    clen = int([l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(body) < clen:
        body += s.recv(65536)
    socks.append(s)
open(ready, "w").write("ok")
time.sleep(3600)
EOF
  python3 "$TMPD/holder.py" "$AISLE_PORT" "$IDLE_CONNS" /v1/objects/bench/o4k/000000 "$TMPD/holder.ready" &
  HOLDER_PID=$!
  for i in $(seq 1 600); do [ -e "$TMPD/holder.ready" ] && break; kill -0 "$HOLDER_PID" || die "holder died"; sleep 0.1; done
  [ -e "$TMPD/holder.ready" ] || die "holder: connections not ready"
  sleep 1
  say "  RSS with $IDLE_CONNS idle keep-alive connections (each made one GET): $(rss_kib "$AISLE_PID") KiB; established to :$AISLE_PORT: $(ss -Htn state established "( sport = :$AISLE_PORT )" | wc -l)"
  say "  soak: $SOAK_SECS s of GET 4 KiB, $CONNS_SMALL connections, idle connections still open; RSS every 10 s:"
  timeout $((SOAK_SECS + 120)) "$BIN/aisle-bench" -numcores "$NCPU" -ip 127.0.0.1 -port "$AISLE_PORT" -bucket bench \
    -objlist "$TMPD/names-o4k" -pctput 0 -numworkers "$CONNS_SMALL" -duration "${SOAK_SECS}s" -statsinterval 0 -json \
    > "$TMPD/soak.json" 2> "$TMPD/soak.err" &
  SOAK_PID=$!
  t0=$SECONDS
  samples=()
  while kill -0 "$SOAK_PID" 2>/dev/null; do
    samples+=("$(rss_kib "$AISLE_PID")")
    say "    t=$((SECONDS - t0))s RSS ${samples[-1]} KiB"
    for i in $(seq 1 100); do kill -0 "$SOAK_PID" 2>/dev/null || break; sleep 0.1; done
  done
  wait "$SOAK_PID" || true; SOAK_PID=
  say "  soak result: $(python3 -c 'import json,sys; g=json.load(open(sys.argv[1]))["get"]; print("%d GETs, %d errors, %.0f req/s, p99 %d us" % (g["count"], g["errors"], g["req_per_s"], g["latency_us"]["p99"]))' "$TMPD/soak.json")"
  say "  RSS after the soak: $(rss_kib "$AISLE_PID") KiB (first sample ${samples[0]}, max $(printf '%s\n' "${samples[@]}" | sort -n | tail -1), last ${samples[-1]})"
  stop_pid "$HOLDER_PID"; HOLDER_PID=
  sleep 1
  say "  RSS after closing the idle connections: $(rss_kib "$AISLE_PID") KiB"
  printf 'mem\t-\tA\tidle_conns=%s\tobjects=%s\tsoak_secs=%s\trss_samples_kib=%s\n' "$IDLE_CONNS" "$total" "$SOAK_SECS" "$(IFS=,; echo "${samples[*]}")" >> "$TSV"
  destroy_bck mem; wait_trash
fi

# ---------------------------------------------------------------------------------------------
# Pinned: node on CPU 1 (1 core) / nginx on CPU 1 (1 worker), client on CPU 0
# ---------------------------------------------------------------------------------------------
if want pinned; then
  stop_servers
  start_servers pinned
  compare get4k-pinned bench bench -objlist "$TMPD/names-o4k" -pctput 0 -numworkers "$CONNS_SMALL"
  if want wrk; then wrk_pair wrk-get4k-pinned 1 "$CONNS_SMALL"; fi
fi

# ---------------------------------------------------------------------------------------------
# Cold reads: scripts/bench-cold.sh with its own servers, data and results files (these servers
# stopped so that they hold no memory and take no CPU).
# ---------------------------------------------------------------------------------------------
if want cold; then
  if [ "$(id -u)" != 0 ]; then
    hdr "cold reads: skipped (dropping the page cache needs root)"
  else
    stop_servers
    hdr "cold reads: scripts/bench-cold.sh (ROUNDS=$ROUNDS)"
    SKIP_BUILD=1 SKIP_INSTALL="$SKIP_INSTALL" ROUNDS="$ROUNDS" AISLE_ARGS="$AISLE_ARGS" \
      "$REPO/scripts/bench-cold.sh" || die "bench-cold.sh failed"
  fi
fi

# ---------------------------------------------------------------------------------------------
# 5. Summary: medians, ratios, targets
# ---------------------------------------------------------------------------------------------
hdr "summary: medians over $ROUNDS rounds (ratio = aisle/nginx; 'pairs' = median of the per-pair ratios)"
python3 - "$TSV" "${IPERF_MIBS:-0}" <<'EOF'
import sys, statistics as st
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
iperf = float(sys.argv[2])
runs = defaultdict(lambda: defaultdict(dict))  # wl -> round -> srv -> fields
for r in rows:
    if r[0] == "mem":
        continue
    runs[r[0]][r[1]][r[2]] = [float(x) for x in r[3:]]
F = ["req/s", "MiB/s", "p50 us", "p99 us", "CPU us/req", "errors"]
targets = {  # wl: (min req/s ratio, p99 ratio max, cpu ratio max)
    "get4k": (1.5, 1.0, 0.7), "get4k-pinned": (1.3, 1.0, 0.7), "get1m": (1.5, None, None),
    "get16m": (1.1, None, None), "put64k": (1.5, None, None), "put1m": (1.5, None, None),
    "put64k-ow-c32": (1.5, None, None), "put64k-ow-c64": (1.5, None, None),
    "put1m-ow-c32": (1.5, None, None), "put1m-ow-c64": (1.5, None, None),
}
print(f"{'workload':<17}{'server':<7}" + "".join(f"{f:>12}" for f in F))
verdicts = []
for wl, rounds in runs.items():
    med = {}
    for srv in "AB":
        vals = [rounds[k][srv] for k in rounds if srv in rounds[k]]
        if not vals:
            continue
        med[srv] = [st.median(v[i] for v in vals) for i in range(6)]
        errs = sum(v[5] for v in vals)
        name = "aisle" if srv == "A" else "nginx"
        print(f"{wl:<17}{name:<7}" + "".join(f"{x:>12.1f}" for x in med[srv][:5]) + f"{errs:>12.0f}")
    if "A" in med and "B" in med:
        pr = lambda i: st.median(rounds[k]["A"][i] / rounds[k]["B"][i] for k in rounds
                                 if "A" in rounds[k] and "B" in rounds[k] and rounds[k]["B"][i])
        rr, rp, rc = pr(0), pr(3), pr(4)
        print(f"{wl:<17}{'ratio':<7}{med['A'][0]/med['B'][0]:>12.2f}{med['A'][1]/med['B'][1]:>12.2f}"
              f"{med['A'][2]/med['B'][2]:>12.2f}{med['A'][3]/med['B'][3]:>12.2f}{med['A'][4]/med['B'][4]:>12.2f}"
              f"   (pairs: req/s {rr:.2f}x, p99 {rp:.2f}x, CPU {rc:.2f}x)")
        t = targets.get(wl)
        if t:
            v = []
            v.append(("req/s", rr, f">= {t[0]}x", rr >= t[0]))
            if t[1] is not None:
                v.append(("p99", rp, f"<= {t[1]}x", rp <= t[1]))
            if t[2] is not None:
                v.append(("CPU/req", rc, f"<= {t[2]}x", rc <= t[2]))
            if wl == "get16m" and iperf:
                f = med["A"][1] / iperf
                v.append(("MiB/s vs iperf3", f, ">= 0.80", f >= 0.8))
            for name, x, want, ok in v:
                verdicts.append(f"{'PASS' if ok else 'MISS'}  {wl:<13} {name:<16} {x:6.2f}  (target {want})")
    if wl.startswith("mixed") and "A" in med:
        errs = sum(rounds[k]["A"][5] for k in rounds if "A" in rounds[k])
        verdicts.append(f"{'PASS' if errs == 0 else 'MISS'}  {wl:<13} {'aisle errors':<16} {errs:6.0f}  (target 0)")
if iperf:
    print(f"\niperf3 loopback: {iperf:.0f} MiB/s")
print("\ntargets (judged on the median of the per-pair ratios):")
for v in verdicts:
    print("  " + v)
EOF
say
say "per-run figures: $TSV"
