#!/usr/bin/env bash
# Runs AIS's own Python SDK integration suite (python/tests/integration/sdk in NVIDIA/aistore)
# against a fresh release aisle-node. A standing check, NOT part of scripts/test.sh: the suite's
# code stays outside this repository, so it is run from a checkout of AIS's python/ tree.
#
#   scripts/ais-sdk-suite.sh AIS_PYTHON_TREE [VENV] [-- PYTEST_ARGS...]
#
#   AIS_PYTHON_TREE  AIS's python/ directory (holds aistore/ and tests/integration/sdk); or set
#                    AIS_PY_TREE.
#   VENV             a venv with that SDK installed (`pip install -e AIS_PYTHON_TREE`) plus
#                    pytest and pytest-timeout; default $AIS_PY_VENV, else AIS_PYTHON_TREE/../.venv.
#   PYTEST_ARGS      extra pytest arguments, e.g. `-k test_object_ops` (after `--`).
#
# Environment: AISLE_NODE (binary to run; default: `cargo build --release` of this tree and its
# target/release/aisle-node), SDK_TEST_TIMEOUT (per-test timeout in seconds, default 120),
# SDK_JUNIT (junit xml path, default /tmp/ais-sdk-suite-junit.xml), SDK_KEEP=1 (keep the temp
# directory with the node's log and mountpaths).
#
# It starts the node on 4 fresh temporary mountpaths and a free 127.0.0.1 port, runs
#   pytest tests/integration/sdk -m "not etl and not authn" --timeout=... --junitxml=...
# with AIS_ENDPOINT pointing at the node, stops the node (SIGTERM), and prints the pass/fail/skip
# counts and each failing test with the first line of its error. Exit status: pytest's.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

tree=${AIS_PY_TREE:-}
venv=${AIS_PY_VENV:-}
if [ $# -gt 0 ] && [ "$1" != "--" ]; then tree=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then venv=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi
if [ -z "$tree" ] || [ ! -d "$tree/tests/integration/sdk" ]; then
  echo "usage: $0 AIS_PYTHON_TREE [VENV] [-- PYTEST_ARGS...]" >&2
  echo "  AIS_PYTHON_TREE must be AIS's python/ directory (with tests/integration/sdk)" >&2
  exit 2
fi
tree=$(cd "$tree" && pwd)
venv=${venv:-$tree/../.venv}
py=$venv/bin/python
if ! "$py" -c 'import aistore.sdk, pytest, pytest_timeout' 2>/dev/null; then
  echo "$0: $py lacks aistore (from $tree), pytest or pytest-timeout;" >&2
  echo "  python3 -m venv $venv && $venv/bin/pip install -e $tree -r $tree/aistore/common_requirements pytest-timeout" >&2
  exit 2
fi
timeout_s=${SDK_TEST_TIMEOUT:-120}
junit=${SDK_JUNIT:-/tmp/ais-sdk-suite-junit.xml}

node_bin=${AISLE_NODE:-}
if [ -z "$node_bin" ]; then
  (cd "$root" && cargo build --release -j1 --bin aisle-node)
  node_bin=$root/target/release/aisle-node
fi

work=$(mktemp -d /tmp/ais-sdk-suite.XXXXXX)
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mps=()
for i in 1 2 3 4; do mkdir -p "$work/mp$i"; mps+=(--mountpath "$work/mp$i"); done
RUST_LOG=${RUST_LOG:-info} "$node_bin" --listen "127.0.0.1:$port" --no-pin --cores 2 "${mps[@]}" \
  >"$work/node.log" 2>&1 &
node_pid=$!
cleanup() {
  if kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  if [ "${SDK_KEEP:-0}" = 1 ]; then
    echo "$0: node log and mountpaths kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

endpoint=http://127.0.0.1:$port
for _ in $(seq 1 200); do
  if "$py" -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('$endpoint/v1/health', timeout=1).status == 200 else 1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$node_pid" 2>/dev/null; then
    echo "$0: aisle-node exited at start; log:" >&2
    cat "$work/node.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "$0: aisle-node ($node_bin) at $endpoint, data in $work" >&2

status=0
(cd "$tree" && AIS_ENDPOINT=$endpoint "$py" -m pytest tests/integration/sdk \
  -m "not etl and not authn" -p no:cacheprovider -q -rfE \
  --timeout="$timeout_s" --junitxml="$junit" "$@") || status=$?

if kill -0 "$node_pid" 2>/dev/null; then
  kill -TERM "$node_pid"
  wait "$node_pid" || echo "$0: aisle-node exited with $? on SIGTERM" >&2
else
  echo "$0: aisle-node DIED during the suite; log tail:" >&2
  tail -20 "$work/node.log" >&2
fi

"$py" - "$junit" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
bad = []
for tc in root.iter("testcase"):
    tid = f'{tc.get("classname")}::{tc.get("name")}'
    kind = "passed"
    for child in tc:
        if child.tag in ("failure", "error"):
            kind = "failed" if child.tag == "failure" else "error"
            msg = (child.get("message") or child.text or "").strip().splitlines()
            bad.append((kind, tid, msg[0][:160] if msg else ""))
            break
        if child.tag == "skipped":
            kind = "skipped"
    counts[kind] += 1
print("\n== ais-sdk-suite summary ==")
for kind, tid, msg in bad:
    print(f"{kind.upper():7} {tid}: {msg}")
print(", ".join(f"{v} {k}" for k, v in counts.items()))
EOF
echo "$0: junit xml in $junit" >&2
exit "$status"
