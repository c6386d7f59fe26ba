#!/usr/bin/env bash
# Each binary's start-up time (`TOOL --version`) and size.
#
#   scripts/bench/startup.sh              # builds target/release, RUNS=200
#   BIN_DIR=/usr/local/bin RUNS=500 scripts/bench/startup.sh
#
# Start-up: hyperfine -N (no shell in between) --warmup 20 --runs $RUNS of `TOOL
# --version`: the process start, the dynamic loader, Rust's runtime set-up and clap's
# parsing, i.e. the fixed cost every run of a tool pays. /usr/bin/true, timed the same way,
# is the floor of a process start on this machine. Size: the binary as built (release
# profile: thin LTO, no debug info, symbols kept) and stripped (`strip --strip-all` of a
# copy). Prints a markdown table, writes the figures to target/bench/startup.tsv
# (scripts/bench/results.sh). Target: start-up ≤ 5 ms. Not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/scripts/bench/results.sh"
runs=${RUNS:-200}
for p in hyperfine jq strip; do
  command -v "$p" >/dev/null || { echo "startup.sh: needs $p" >&2; exit 69; }
done
if [ -z "${BIN_DIR:-}" ]; then
  (cd "$here" && cargo build --release --locked --quiet)
fi
bin_dir=${BIN_DIR:-$here/target/release}
mapfile -t tools < <(cd "$here/tools" && ls df-*.rs | sed 's/\.rs$//')

work=$(mktemp -d /tmp/dfkit-bench-startup.XXXXXX)
trap 'rm -rf "$work"' EXIT

time_it() { # command… → "median min max mean" in ms
  hyperfine --style none -N --warmup 20 --runs "$runs" --export-json "$work/h.json" "$*" >&2
  jq -r '.results[0] | [.median, .min, .max, .mean] | map(. * 1000000 | round / 1000) | join(" ")' "$work/h.json"
}
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

results_open startup
load=$(load1)
echo "Machine: $(nproc) cores, $(uname -sr), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load average before $(cut -d' ' -f1-3 /proc/loadavg); $runs runs each after 20 warm-up runs (hyperfine -N); ms."
echo
echo "| binary | \`--version\` median | min–max | mean | size as built | stripped |"
echo "|---|---|---|---|---|---|"
read -r m lo hi mean <<<"$(time_it /usr/bin/true)"
printf '| /usr/bin/true (floor) | %.2f | %.2f–%.2f | %.2f | — | — |\n' "$m" "$lo" "$hi" "$mean"
for t in "${tools[@]}"; do
  b=$bin_dir/$t
  [ -x "$b" ] || { echo "startup.sh: no $b" >&2; exit 1; }
  read -r m lo hi mean <<<"$(time_it "$b" --version)"
  size=$(stat -c %s "$b")
  strip --strip-all -o "$work/$t" "$b"
  stripped=$(stat -c %s "$work/$t")
  printf '| %s | %.2f | %.2f–%.2f | %.2f | %s MiB | %s MiB |\n' "$t" "$m" "$lo" "$hi" "$mean" "$(mib "$size")" "$(mib "$stripped")"
  results_row startup startup "$t" ms "$m" "$lo" "$hi" "" "" "" 5 "$load"
  results_row startup size "$t" MiB "$(mib "$size")" "" "" "" "" "" "" "$load"
done
echo
echo "Target: start-up ≤ 5 ms (median). Load average after: $(cut -d' ' -f1-3 /proc/loadavg). Figures in $results_dir/startup.tsv."
