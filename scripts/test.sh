#!/usr/bin/env bash
# The one command that runs the whole test suite from a fresh clone.
#  1. Python test deps: creates .venv (python3 -m venv) if missing and installs the pinned
#     scripts/requirements-test.txt into it, only when they are not installed yet (a stamp
#     holds the hash of the requirements file last installed).
#  2. Hygiene: `cargo fmt --check` and `cargo clippy --all-targets -- -D warnings` over the
#     workspace (the tidy rules themselves are a test: engine/tests/tidy.rs).
#  3. Every Rust test of the workspace in release mode (the scale tests move ~100 MiB through a
#     real node; release keeps them fast). Extra arguments go to `cargo test`, e.g.
#     `scripts/test.sh -p node --test scale -- --nocapture`. --no-fail-fast: one failing test
#     binary does not hide the results of the others (the exit code still reports it).
#     Every binary is built first: node tests run `aisle-faultfs` (faultfs/, a FUSE fault
#     layer) from beside `aisle-node`, and `cargo test` alone does not build another
#     package's binary.
# The SDK acceptance test (node/tests/python_sdk.rs) finds the interpreter via AISLE_PYTHON.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
venv=$root/.venv
req=$root/scripts/requirements-test.txt
stamp=$venv/.requirements-test.sha256

if [ ! -x "$venv/bin/python" ]; then
  echo "scripts/test.sh: creating $venv" >&2
  if ! python3 -m venv "$venv"; then
    echo "scripts/test.sh: 'python3 -m venv' failed; on Debian/Ubuntu install python3-venv" >&2
    exit 1
  fi
fi
want=$(sha256sum "$req" | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$want" != "$have" ] || ! "$venv/bin/python" -c 'import aistore.sdk, xxhash' 2>/dev/null; then
  echo "scripts/test.sh: installing Python test deps ($req)" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  echo "$want" > "$stamp"
fi
export AISLE_PYTHON=$venv/bin/python

# The TLS and token tests make their certificates and keys with openssl(1).
if ! command -v openssl >/dev/null 2>&1; then
  echo "scripts/test.sh: installing openssl (apt-get)" >&2
  apt-get install -y -q openssl >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q openssl >/dev/null; }
fi

start=$SECONDS
echo "scripts/test.sh: cargo fmt --check" >&2
cargo fmt --all -- --check
echo "scripts/test.sh: cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --workspace --all-targets -- -D warnings
echo "scripts/test.sh: cargo build --release --workspace --bins" >&2
cargo build --release --workspace --bins
status=0
cargo test --workspace --release --no-fail-fast "$@" || status=$?
echo "scripts/test.sh: cargo test exited with $status after $((SECONDS - start)) s" >&2
exit "$status"
