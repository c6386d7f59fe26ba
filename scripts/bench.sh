#!/usr/bin/env bash
# Benchmarks (never timed tests):
#   scripts/bench.sh [perms|dump|restore|snapshot|startup|envshow|upgrade|chart|all]
# Each writes its table to stdout; docs/benchmarks.md records the results. perms, dump,
# restore, snapshot and startup also write their figures to target/bench/NAME.tsv, which
# `chart` (scripts/bench/chart.py) draws into docs/benchmarks.svg; `all` runs every
# benchmark, then `chart`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
what=${1:-all}
benches="perms dump restore snapshot startup envshow upgrade"
case "$what" in
  perms|dump|restore|snapshot|startup|envshow|upgrade) exec "$here/bench/$what.sh" ;;
  chart) exec python3 "$here/bench/chart.py" ;;
  all)
    for b in $benches; do [ -x "$here/bench/$b.sh" ] && "$here/bench/$b.sh"; done
    python3 "$here/bench/chart.py"
    ;;
  *) echo "usage: $0 [${benches// /|}|chart|all]" >&2; exit 64 ;;
esac
