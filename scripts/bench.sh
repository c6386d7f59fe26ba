#!/usr/bin/env bash
# Benchmarks (never timed tests): scripts/bench.sh [perms|dump|restore|envshow|all]
# Each writes its table to stdout; docs/benchmarks.md records the results.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
what=${1:-all}
case "$what" in
  perms|dump|restore|envshow) exec "$here/bench/$what.sh" ;;
  all) for b in perms dump restore envshow; do [ -x "$here/bench/$b.sh" ] && "$here/bench/$b.sh"; done ;;
  *) echo "usage: $0 [perms|dump|restore|envshow|all]" >&2; exit 64 ;;
esac
