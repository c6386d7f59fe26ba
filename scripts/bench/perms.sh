#!/usr/bin/env bash
# df-perms vs the guide's `chown -R u:g DIR && chmod -R 2775 DIR` on a ~100k-entry tree.
#
#   scripts/bench/perms.sh            # builds target/release/df-perms, prints a markdown table
#   ENTRIES_DIRS=100 RUNS=5 scripts/bench/perms.sh
#
# Needs root (chown to another user), hyperfine and jq. Two cases, median of $RUNS each:
#   changing: every entry starts root:root 0755/0644 (reset before each timed run);
#   no-op:    everything already www-data:www-data 2775.
# Not a test: nothing asserts on time. docs/benchmarks.md records the results.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
runs=${RUNS:-5}
top_dirs=${ENTRIES_DIRS:-100}   # × 10 subdirs × 99 files ≈ 100k entries at 100
owner=${OWNER:-www-data:www-data}

[ "$(id -u)" = 0 ] || { echo "perms.sh: needs root (chown)" >&2; exit 77; }
for p in hyperfine jq; do
  command -v "$p" >/dev/null || { echo "perms.sh: needs $p" >&2; exit 69; }
done

bin=${DF_PERMS:-$here/target/release/df-perms}
if [ -z "${DF_PERMS:-}" ]; then
  (cd "$here" && cargo build --release --locked --quiet --bin df-perms)
fi

work=$(mktemp -d /var/tmp/dfkit-bench-perms.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/df
mkdir -p "$root/bootstrap/cache" "$root/config"
# The markers of an install: df-perms refuses a root without them.
touch "$root/artisan" "$root/.env"
echo "perms.sh: building the tree in $root" >&2
for ((i = 0; i < top_dirs; i++)); do
  for ((j = 0; j < 10; j++)); do
    d=$root/storage/framework/cache/data/d$i/e$j
    mkdir -p "$d"
    (cd "$d" && touch f{00..98})
  done
done
for ((k = 0; k < 50; k++)); do touch "$root/bootstrap/cache/c$k.php"; done
targets=("$root/storage" "$root/bootstrap/cache")
entries=$(find "${targets[@]}" | wc -l)

reset_cmd="chown -R 0:0 ${targets[*]} && find ${targets[*]} -type d -exec chmod 0755 {} + && find ${targets[*]} -type f -exec chmod 0644 {} +"
gnu_cmd="chown -R $owner ${targets[*]} && chmod -R 2775 ${targets[*]}"
df_cmd="$bin --root $root --user ${owner%%:*} --group ${owner##*:} --quiet >/dev/null"

bench() { # name prepare command → "median-wall-seconds mean-cpu-seconds"
  local out=$work/$1.json
  if [ -n "$2" ]; then
    hyperfine --style none --runs "$runs" --prepare "$2" --export-json "$out" "$3" >&2
  else
    hyperfine --style none --runs "$runs" --warmup 1 --export-json "$out" "$3" >&2
  fi
  jq -r '.results[0] | "\(.median) \(.user + .system)"' "$out"
}

sync
gnu_change=$(bench gnu_change "$reset_cmd && sync" "$gnu_cmd")
df_change=$(bench df_change "$reset_cmd && sync" "$df_cmd")
eval "$gnu_cmd"
gnu_noop=$(bench gnu_noop "" "$gnu_cmd")
df_noop=$(bench df_noop "" "$df_cmd")

# The no-op run really writes nothing: prove it on the tree before printing.
"$bin" --root "$root" --user "${owner%%:*}" --group "${owner##*:}" --quiet |
  jq -e '.changed == false and .data.chowned == 0 and .data.chmodded == 0' >/dev/null ||
  { echo "perms.sh: the no-op run changed something" >&2; exit 1; }

row() { # case "gnu-wall gnu-cpu" "df-wall df-cpu" target
  awk -v c="$1" -v g="$2" -v d="$3" -v t="$4" 'BEGIN {
    split(g, G, " "); split(d, D, " ");
    r = D[1] / G[1]; rc = D[2] / G[2];
    met = (r <= t) ? "yes" : "NO"; metc = (rc <= t) ? "yes" : "NO";
    printf "| %s | %.0f ms | %.0f ms | %.2f× (%s) | %.0f ms | %.0f ms | %.2f× (%s) | ≤ %.1f× |\n",
      c, G[1] * 1000, D[1] * 1000, r, met, G[2] * 1000, D[2] * 1000, rc, metc, t }'
}

echo "Tree: $entries entries (storage + bootstrap/cache), owner $owner, $runs runs each, $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Wall: median of the runs; CPU: mean user+system time (steadier on a busy machine)."
echo
echo "| run | GNU wall | df-perms wall | wall ratio | GNU CPU | df-perms CPU | CPU ratio | target |"
echo "|---|---|---|---|---|---|---|---|"
row "changing (root:root 0755/0644 → $owner 2775)" "$gnu_change" "$df_change" 1.0
row "no-op (already right)" "$gnu_noop" "$df_noop" 0.5
