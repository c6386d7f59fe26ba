#!/usr/bin/env bash
# Benchmark df-dump-db (zstd) against the raw dump programs on throwaway servers.
#
#   scripts/bench/dump.sh                       # SIZES_MB=200 RUNS=5
#   SIZES_MB="10 100 1000" scripts/bench/dump.sh   # several sizes, one run of the script
#   DFKIT_DUMP_PHASES=1 scripts/bench/dump.sh   # also print df-dump-db's per-phase times
#
# Starts its own MariaDB and PostgreSQL (as the mysql/postgres users, on free ports, in a
# temp dir removed at exit — never the machine's servers); for each size, fills one table
# with about that many MB of hex text (about 1 KiB per row), then times RUNS dumps of each,
# side by side:
#   raw:        mariadb-dump --single-transaction … DB > file   /   pg_dump -F p DB > file
#   df-dump-db: df-dump-db dump --into SET (zstd, sha256, trailer check, row counts)
# Prints a markdown table: median (min–max) wall seconds, ratio, peak RSS (the largest of
# the RUNS runs; GNU time's %M, the largest of the measured process and its children — for
# df-dump-db that is max(df-dump-db, the dump program it runs)), and writes the figures to
# target/bench/dump.tsv (scripts/bench/results.sh). Needs root.
# Targets: ≤ 1.10× wall, ≤ 32 MiB RSS, flat across sizes.
set -euo pipefail
source "$(dirname "$0")/dbservers.sh"

results_open dump
: >"$work/table"
for size in $SIZES_MB; do
  fill "$size"
  load=$(load1)
  for i in $(seq "$RUNS"); do
    echo "dump ${size} MB: run $i/$RUNS" >&2
    measure my-raw sh -c "mariadb-dump --defaults-extra-file=$work/my.cnf -h127.0.0.1 -P$myport -ubench --single-transaction --routines --triggers --events --no-tablespaces bench > $work/raw.sql"
    rm -rf "$work/set"; measure my-df "$DF" --quiet --root "$work/root-my" dump --into "$work/set"
    rm -rf "$work/set"; measure my-none "$DF" --quiet --root "$work/root-my" dump --into "$work/set" --compress none
    measure pg-raw sh -c "PGPASSFILE=$work/pgpass pg_dump -h 127.0.0.1 -p $pgport -U bench -F p bench > $work/raw.sql"
    rm -rf "$work/set"; measure pg-df "$DF" --quiet --root "$work/root-pg" dump --into "$work/set"
    rm -rf "$work/set"; measure pg-none "$DF" --quiet --root "$work/root-pg" dump --into "$work/set" --compress none
  done
  sqlmib=$(( $(stat -c %s "$work/raw.sql") / 1048576 ))
  rm -rf "$work/set" "$work/raw.sql"
  for s in my pg; do
    name=$(server_name $s)
    awk -v mb="$size" -v q="$sqlmib" -v n="$name" -v rw="$(col $s-raw 1)" -v dw="$(col $s-df 1)" -v nw="$(col $s-none 1)" \
      -v rr="$(rss_mib $s-raw)" -v dr="$(rss_mib $s-df)" -v rs="$(span $s-raw)" -v ds="$(span $s-df)" -v l="$load" \
      'BEGIN {printf "| %s | %s | %s | %.2f (%s) | %.2f (%s) | %.2f× | %.2f | %s | %s | %s |\n", mb, q, n, rw, rs, dw, ds, dw/rw, nw, rr, dr, l}' >>"$work/table"
    results_row dump dump "${name%% *} $size MB" s "$(col $s-df 1)" "$(lo $s-df)" "$(hi $s-df)" \
      "$(col $s-raw 1)" "$(lo $s-raw)" "$(hi $s-raw)" 1.10 "$load"
    results_row dump dump-rss "${name%% *} $size MB" MiB "$(rss_mib $s-df)" "" "" "" "" "" 32 "$load"
  done
done

about_runs
echo "| MB | SQL MiB (pg_dump) | server | raw dump wall s | df-dump-db (zstd) wall s | ratio | df-dump-db --compress none wall s | raw peak RSS MiB | df-dump-db peak RSS MiB | load before |"
echo "|---|---|---|---|---|---|---|---|---|---|"
cat "$work/table"
echo
echo "Targets: wall ≤ 1.10× the raw dump; df-dump-db peak RSS ≤ 32 MiB and flat across sizes. Figures in $results_dir/dump.tsv."
