#!/usr/bin/env bash
# df-perms vs the guide's `chown -R u:g DIR && chmod -R 2775 DIR`, at several tree sizes.
#
#   scripts/bench/perms.sh                      # 10k, 100k and 1M entries, 5 runs each
#   SIZES="10 100" RUNS=5 scripts/bench/perms.sh  # sizes in thousands of entries
#
# Needs root (chown to another user), hyperfine, jq and GNU time. Per size, side by side:
#   changing: every entry starts root:root 0755/0644 (reset before each timed run);
#   no-op:    everything already www-data:www-data 2775;
# df-perms runs with its default threads (one per core) and, for comparison, with
# DFKIT_WALK_THREADS=1. Peak RSS (GNU time %M) of one df-perms run of each kind.
# Writes the figures to target/bench/perms.tsv (scripts/bench/results.sh) too.
# Not a test: nothing asserts on time. docs/benchmarks.md records the results.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/scripts/bench/results.sh"
runs=${RUNS:-5}
sizes=${SIZES:-10 100 1000}   # thousands of entries: top dirs × 10 subdirs × 99 files
owner=${OWNER:-www-data:www-data}

[ "$(id -u)" = 0 ] || { echo "perms.sh: needs root (chown)" >&2; exit 77; }
for p in hyperfine jq /usr/bin/time; do
  command -v "$p" >/dev/null || { echo "perms.sh: needs $p" >&2; exit 69; }
done

bin=${DF_PERMS:-$here/target/release/df-perms}
if [ -z "${DF_PERMS:-}" ]; then
  (cd "$here" && cargo build --release --locked --quiet --bin df-perms)
fi

work=$(mktemp -d /var/tmp/dfkit-bench-perms.XXXXXX)
trap 'rm -rf "$work"' EXIT

make_tree() { # root top_dirs
  local root=$1 n=$2 i j d
  mkdir -p "$root/bootstrap/cache" "$root/config"
  # The markers of an install: df-perms refuses a root without them.
  touch "$root/artisan" "$root/.env"
  for ((i = 0; i < n; i++)); do
    for ((j = 0; j < 10; j++)); do
      d=$root/storage/framework/cache/data/d$i/e$j
      mkdir -p "$d"
      (cd "$d" && touch f{00..98})
    done
  done
  for ((k = 0; k < 50; k++)); do touch "$root/bootstrap/cache/c$k.php"; done
}

bench() { # name prepare command → "median min max mean-cpu" (seconds)
  local out=$work/$1.json
  if [ -n "$2" ]; then
    hyperfine --style none --runs "$runs" --prepare "$2" --export-json "$out" "$3" >&2
  else
    hyperfine --style none --runs "$runs" --warmup 1 --export-json "$out" "$3" >&2
  fi
  jq -r '.results[0] | "\(.median) \(.min) \(.max) \(.user + .system)"' "$out"
}

rss() { # command → peak RSS in MiB (the largest of the process and its children)
  /usr/bin/time -f %M -o "$work/rss" sh -c "$1" >/dev/null
  awk '{ printf "%.1f", $1 / 1024 }' "$work/rss"
}

ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
cell() { # "median min max cpu" → "median (min–max)" in ms
  read -r m lo hi _ <<<"$1"
  echo "$(ms "$m") ($(ms "$lo")–$(ms "$hi"))"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, A, " "); split(b, B, " "); printf "%.2f×", A[1] / B[1] }'; }
cpu() { awk -v a="$1" 'BEGIN { split(a, A, " "); printf "%.0f", A[4] * 1000 }'; }
# row CASE DF GNU TARGET LOAD: one line of target/bench/perms.tsv, in ms.
row() {
  local d g
  read -r -a d <<<"$2"
  read -r -a g <<<"$3"
  results_row perms perms "$1" ms "$(ms "${d[0]}")" "$(ms "${d[1]}")" "$(ms "${d[2]}")" \
    "$(ms "${g[0]}")" "$(ms "${g[1]}")" "$(ms "${g[2]}")" "$4" "$5"
}

results_open perms

echo "Machine: $(nproc) cores, $(uname -sr), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); $runs runs per cell; ms as median (min–max); CPU = mean user+system."
echo
echo "| entries | run | GNU chown+chmod | df-perms (all cores) | ratio | df-perms (1 thread) | ratio | CPU GNU / df-perms | df-perms peak RSS | load before |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for k in $sizes; do
  root=$work/df$k
  echo "perms.sh: building a tree of ~${k}k entries in $root" >&2
  make_tree "$root" "$k"
  targets=("$root/storage" "$root/bootstrap/cache")
  entries=$(find "${targets[@]}" | wc -l)
  reset_cmd="chown -R 0:0 ${targets[*]} && find ${targets[*]} -type d -exec chmod 0755 {} + && find ${targets[*]} -type f -exec chmod 0644 {} +"
  gnu_cmd="chown -R $owner ${targets[*]} && chmod -R 2775 ${targets[*]}"
  df_cmd="$bin --root $root --user ${owner%%:*} --group ${owner##*:} --quiet >/dev/null"
  df1_cmd="DFKIT_WALK_THREADS=1 $df_cmd"

  load=$(cut -d' ' -f1 /proc/loadavg)
  sync
  gnu_change=$(bench gnu_change "$reset_cmd && sync" "$gnu_cmd")
  df_change=$(bench df_change "$reset_cmd && sync" "$df_cmd")
  df1_change=$(bench df1_change "$reset_cmd && sync" "$df1_cmd")
  eval "$reset_cmd"
  rss_change=$(rss "$df_cmd")
  eval "$gnu_cmd"
  gnu_noop=$(bench gnu_noop "" "$gnu_cmd")
  df_noop=$(bench df_noop "" "$df_cmd")
  df1_noop=$(bench df1_noop "" "$df1_cmd")
  rss_noop=$(rss "$df_cmd")

  # The no-op run really writes nothing: prove it on the tree before printing.
  "$bin" --root "$root" --user "${owner%%:*}" --group "${owner##*:}" --quiet |
    jq -e '.changed == false and .data.chowned == 0 and .data.chmodded == 0' >/dev/null ||
    { echo "perms.sh: the no-op run changed something" >&2; exit 1; }

  echo "| $entries | changing | $(cell "$gnu_change") | $(cell "$df_change") | $(ratio "$df_change" "$gnu_change") | $(cell "$df1_change") | $(ratio "$df1_change" "$gnu_change") | $(cpu "$gnu_change") / $(cpu "$df_change") | $rss_change MiB | $load |"
  echo "| $entries | no-op | $(cell "$gnu_noop") | $(cell "$df_noop") | $(ratio "$df_noop" "$gnu_noop") | $(cell "$df1_noop") | $(ratio "$df1_noop" "$gnu_noop") | $(cpu "$gnu_noop") / $(cpu "$df_noop") | $rss_noop MiB | $load |"
  row "changing, $entries entries" "$df_change" "$gnu_change" 0.60 "$load"
  row "no-op, $entries entries" "$df_noop" "$gnu_noop" 0.20 "$load"
  results_row perms perms-rss "changing, $entries entries" MiB "$rss_change" "" "" "" "" "" "" "$load"
  rm -rf "$root"
done
echo
echo "Targets at 100k: changing ≤ 0.60×, no-op ≤ 0.20× (wall, all cores). Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
