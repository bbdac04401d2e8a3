#!/bin/bash
# GET over HTTPS vs plain HTTP on the same build and machine, with wrk (built with OpenSSL):
# two aisle-node processes (one with --tls-cert/--tls-key, one without) on their own
# mountpaths holding the same objects; per round one wrk run against each, the order
# alternated; medians of ROUNDS printed with the node's CPU µs per request.
#
#   SKIP_BUILD=1 ROUNDS=3 DURATION=5s scripts/bench-tls.sh
#
# Environment:
#   SIZES="4096 1048576"  object sizes; OBJECTS=64 objects of each size, read at random
#   ROUNDS=3  DURATION=5s  CONNS=16  THREADS=1  CORES=2 (node cores)
#   SKIP_BUILD=1           use target/release as it is
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODE=$ROOT/target/release/aisle-node
SIZES=${SIZES:-"4096 1048576"}
OBJECTS=${OBJECTS:-64}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-1}
CORES=${CORES:-2}
P_PLAIN=${PORT:-19400}
P_TLS=$((P_PLAIN + 1))
CLK=$(getconf CLK_TCK)
D=$(mktemp -d /tmp/aisle-tls-bench.XXXXXX)
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p node)
command -v wrk >/dev/null || { echo "wrk is needed" >&2; exit 1; }

# A test CA and a leaf for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$D/ca.key" \
  -out "$D/ca.pem" -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$D/key.pem" \
  -out "$D/leaf.csr" -subj /CN=bench 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$D/ext"
openssl x509 -req -in "$D/leaf.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -set_serial 1 -days 2 \
  -out "$D/cert.pem" -extfile "$D/ext" 2>/dev/null

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
mkdir -p "$D/plain/mp" "$D/tls/mp"
"$NODE" --listen 127.0.0.1:$P_PLAIN --cores "$CORES" --mountpath "$D/plain/mp" \
  2>"$D/plain.log" & PIDS+=($!); PID_PLAIN=$!
"$NODE" --listen 127.0.0.1:$P_TLS --cores "$CORES" --mountpath "$D/tls/mp" \
  --tls-cert "$D/cert.pem" --tls-key "$D/key.pem" 2>"$D/tls.log" & PIDS+=($!); PID_TLS=$!
CURL_TLS=(curl -sf --cacert "$D/ca.pem")
for i in $(seq 100); do
  curl -sf http://127.0.0.1:$P_PLAIN/v1/health >/dev/null && \
    "${CURL_TLS[@]}" https://127.0.0.1:$P_TLS/v1/health >/dev/null && break
  sleep 0.1
done
url() { [ "$1" = tls ] && echo "https://127.0.0.1:$P_TLS" || echo "http://127.0.0.1:$P_PLAIN"; }
cl() { [ "$1" = tls ] && echo "${CURL_TLS[*]}" || echo "curl -sf"; }
for side in plain tls; do
  $(cl $side) -X POST -H 'Content-Type: application/json' -d '{"action":"create-bck"}' \
    "$(url $side)/v1/buckets/bench" >/dev/null
done
for size in $SIZES; do
  head -c "$size" /dev/urandom >"$D/obj"
  for i in $(seq 0 $((OBJECTS - 1))); do
    for side in plain tls; do
      $(cl $side) -T "$D/obj" "$(url $side)/v1/objects/bench/s$size-$i" >/dev/null
    done
  done
  cat >"$D/get-$size.lua" <<EOF
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/objects/bench/s$size-" .. math.random(0, $((OBJECTS - 1))))
end
EOF
done

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TSV=$D/runs.tsv
run() { # side size round
  local side=$1 size=$2 round=$3 pid c0 c1 out rps
  pid=$([ "$side" = tls ] && echo $PID_TLS || echo $PID_PLAIN)
  c0=$(cpu "$pid")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$D/get-$size.lua" "$(url "$side")")
  c1=$(cpu "$pid")
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  cpu_us=$(awk -v c=$((c1 - c0)) -v k="$CLK" -v r="$reqs" 'BEGIN {printf "%.1f", c / k * 1e6 / r}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$size" "$side" "$rps" "$cpu_us" "$errs" | tee -a "$TSV"
}
for round in $(seq 1 "$ROUNDS"); do
  for size in $SIZES; do
    if [ $((round % 2)) = 1 ]; then run plain "$size" "$round"; run tls "$size" "$round"
    else run tls "$size" "$round"; run plain "$size" "$round"; fi
  done
done
echo
echo "medians of $ROUNDS rounds (wrk -t$THREADS -c$CONNS -d$DURATION, node --cores $CORES):"
printf 'size\tplain req/s\ttls req/s\ttls/plain\tplain CPU us/req\ttls CPU us/req\n'
for size in $SIZES; do
  med() { awk -F'\t' -v s="$size" -v side="$1" -v col="$2" '$2 == s && $3 == side {print $col}' "$TSV" | sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
  p=$(med plain 4); t=$(med tls 4); pc=$(med plain 5); tc=$(med tls 5)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$p" "$t" "$(awk -v a="$p" -v b="$t" 'BEGIN {printf "%.2f", b / a}')" "$pc" "$tc"
done
echo "runs: $TSV"
