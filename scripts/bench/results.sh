# Sourced by the scripts in scripts/bench/, never run on its own.
#
# Besides its markdown table, each benchmark writes its figures as a small TSV file,
# $BENCH_OUT/NAME.tsv (default target/bench/), which scripts/bench/chart.py draws into
# docs/benchmarks.svg. One row per figure, tab-separated, with this header:
#
#   bench case unit dfkit dfkit_min dfkit_max baseline baseline_min baseline_max target date load
#
#   bench, case   what was measured ("dump", "MariaDB 100 MB")
#   unit          of the six figures: s, ms or MiB
#   dfkit*        dfkit's median, min and max
#   baseline*     the program it is compared with (same run, side by side), or empty when
#                 the figure stands alone (start-up time, size, peak RSS)
#   target        with a baseline: the target ratio dfkit/baseline (e.g. 1.10); without:
#                 the target in unit (e.g. 5 ms); empty when there is none
#   date, load    when (UTC) and the 1-minute load average before the case ran
#
# Functions: results_open NAME (truncates the file, writes the header), results_row NAME
# BENCH CASE UNIT DF DFMIN DFMAX BASE BMIN BMAX TARGET LOAD.
results_dir=${BENCH_OUT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/bench}

results_open() {
  mkdir -p "$results_dir"
  printf 'bench\tcase\tunit\tdfkit\tdfkit_min\tdfkit_max\tbaseline\tbaseline_min\tbaseline_max\ttarget\tdate\tload\n' \
    >"$results_dir/$1.tsv"
}

results_row() {
  local name=$1
  shift
  [ $# -eq 11 ] || { echo "results_row: 11 fields after the file name, got $#" >&2; return 1; }
  local IFS=$'\t'
  printf '%s\t%s\n' "${*:1:10}" "$(date -u +%Y-%m-%dT%H:%MZ)	${11}" >>"$results_dir/$name.tsv"
}

# load1: the 1-minute load average now.
load1() { cut -d' ' -f1 /proc/loadavg; }
