#!/usr/bin/env bash
# Counts the disk reads a cold GET costs: a node on its own loop-mounted ext4 image (so the
# device's counters in /proc/diskstats see only the node), COUNT objects of SIZE seeded, the page
# cache, dentries and inodes dropped, one epoch read with aisle-bench; prints the device's reads
# and sectors per GET, and whether the LOM xattr sits in the inode or in a block of its own.
#
#   scripts/cold-reads-per-get.sh [COUNT] [SIZE]        # defaults 20000 4KiB
#
# Needs root (loop device, drop_caches) and release builds of aisle-node and aisle-bench.
# Environment: BIN=target/release, IMG_MIB=2048 INODE_SIZE=256 (mkfs.ext4 -I), WORKERS=32, PORT=18993.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
COUNT=${1:-20000}
SIZE=${2:-4KiB}
IMG_MIB=${IMG_MIB:-2048}
INODE_SIZE=${INODE_SIZE:-256}
WORKERS=${WORKERS:-32}
PORT=${PORT:-18993}
BIN=${BIN:-target/release}
DIR=$(mktemp -d /tmp/aisle-coldreads.XXXXXX)
NODE_PID=
cleanup() {
  [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null || true
  umount "$DIR/mnt" 2>/dev/null || umount -l "$DIR/mnt" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
truncate -s "${IMG_MIB}M" "$DIR/img"
mkfs.ext4 -q -F -I "$INODE_SIZE" "$DIR/img"
mkdir -p "$DIR/mnt"
mount -o loop "$DIR/img" "$DIR/mnt"
DEV=$(findmnt -n -o SOURCE "$DIR/mnt")
DEVNAME=$(basename "$DEV")
mkdir -p "$DIR/mnt/mp"
"$BIN/aisle-node" --listen "127.0.0.1:$PORT" --mountpath "$DIR/mnt/mp" --no-pin >"$DIR/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/v1/health" >/dev/null && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT" BUCKET=cold PREFIX=d NAMES="$DIR/names" BENCH="$BIN/aisle-bench" \
  scripts/bench-seed.sh "$COUNT" "$SIZE" >/dev/null
one=$(find "$DIR/mnt/mp/@ais/cold/%ob" -type f -print -quit)
acl=$(debugfs -R "stat <$(stat -c %i "$one")>" "$DIR/img" 2>/dev/null | sed -n 's/.*File ACL: \([0-9]*\).*/\1/p')
lom=$(python3 -c 'import os,sys; print(len(os.getxattr(sys.argv[1], "user.ais.lom")))' "$one")
reads() { awk -v d="$DEVNAME" '$3==d {print $4, $6}' /proc/diskstats; }
sync
echo 3 >/proc/sys/vm/drop_caches
read -r r0 s0 < <(reads)
"$BIN/aisle-bench" --endpoint "http://127.0.0.1:$PORT" --bucket cold --objlist "$DIR/names" \
  --epochs 1 --numworkers "$WORKERS" --duration 0 >"$DIR/epoch.txt"
read -r r1 s1 < <(reads)
gets=$(wc -l <"$DIR/names")
echo "device $DEVNAME (ext4, inode size $INODE_SIZE): $gets cold GETs of $SIZE"
echo "LOM xattr: $lom bytes; external xattr block: $([ "${acl:-0}" != 0 ] && echo "yes (block $acl)" || echo no)"
awk -v r=$((r1 - r0)) -v s=$((s1 - s0)) -v g="$gets" \
  'BEGIN {printf "disk reads: %d (%.2f per GET), sectors: %d (%.1f KiB per GET)\n", r, r/g, s, s*512/1024/g}'
grep -E "obj/s|epoch" "$DIR/epoch.txt" | tail -3
