#!/usr/bin/env bash
# Drops the kernel's clean page cache, dentries and inodes so that the next reads come from the
# disk: `sync; echo 3 > /proc/sys/vm/drop_caches`. Needs root; refuses without it.
#
#   sudo scripts/drop-caches.sh
#
# Dirty pages are written back first (sync), so nothing is lost; only clean, cached copies go.
# It drops them machine-wide: every process on the host reads cold afterwards.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "drop-caches: needs root (it writes /proc/sys/vm/drop_caches); run: sudo $0" >&2
  exit 1
fi
if [ ! -w /proc/sys/vm/drop_caches ]; then
  echo "drop-caches: /proc/sys/vm/drop_caches is not writable here (read-only /proc, e.g. an unprivileged container)" >&2
  exit 1
fi
sync
echo 3 > /proc/sys/vm/drop_caches
