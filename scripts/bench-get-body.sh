#!/bin/bash
# GET body policy measurement: copy vs sendfile vs splice at 4 KiB, 64 KiB, 1 MiB (page-cached).
# Usage: cargo build --release && scripts/bench-get-body.sh
set -u
B=$(cd "$(dirname "$0")/.." && pwd)/target/release
D=/tmp/policy; rm -rf $D; mkdir -p $D/mp1 $D/mp2
PORT=19100
start() { $B/aisle-node --listen 127.0.0.1:$PORT --mountpath $D/mp1 --mountpath $D/mp2 --get-body $1 >$D/node.log 2>&1 & echo $! > $D/pid; sleep 0.4; }
stop() { kill $(cat $D/pid); wait $(cat $D/pid) 2>/dev/null; }
start auto
for s in 4KiB 64KiB 1MiB; do
  n=2000; [ $s = 1MiB ] && n=300
  $B/aisle-bench -ip 127.0.0.1 -port $PORT -bucket b$s -pctput 100 -maxputs $n -minsize $s -maxsize $s -numworkers 16 -statsinterval 0 -json >/dev/null 2>&1
done
stop
for round in 1 2 3; do
 for m in copy sendfile splice; do
  start $m
  for s in 4KiB 64KiB 1MiB; do
    r=$($B/aisle-bench -ip 127.0.0.1 -port $PORT -bucket b$s -pctput 0 -duration 4s -numworkers 64 -numcores 1 -statsinterval 0 -json 2>/dev/null)
    echo "$round $m $s $(echo "$r" | python3 -c 'import json,sys; d=json.load(sys.stdin)["get"]; print(round(d["req_per_s"]), round(d["mib_per_s"]), d["latency_us"]["p50"], d["latency_us"]["p99"], d["errors"])')"
  done
  stop
 done
done
