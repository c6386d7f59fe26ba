#!/usr/bin/env bash
# Benchmark df-dump-db (zstd) against the raw dump programs on throwaway servers.
#
#   scripts/bench/dump.sh            # SIZE_MB=200 RUNS=5
#   DFKIT_DUMP_PHASES=1 scripts/bench/dump.sh   # also print df-dump-db's per-phase times
#   SIZE_MB=50 RUNS=5 scripts/bench/dump.sh
#
# Starts its own MariaDB and PostgreSQL (as the mysql/postgres users, on free ports, in a
# temp dir removed at exit — never the machine's servers), fills one table with about
# SIZE_MB of hex text (about 1 KiB per row), then times RUNS dumps of each:
#   raw:        mariadb-dump --single-transaction … DB > file   /   pg_dump -F p DB > file
#   df-dump-db: df-dump-db dump --into SET (zstd, sha256, trailer check, row counts)
# Prints a markdown table: median wall seconds, ratio, peak RSS (the largest of the
# measured process and its children, from /usr/bin/time -v — for df-dump-db that is
# max(df-dump-db, the dump program it runs)). Needs root. Targets: ≤1.10× wall, ≤32 MiB RSS.
set -euo pipefail
source "$(dirname "$0")/dbservers.sh"

for i in $(seq "$RUNS"); do
  echo "run $i/$RUNS" >&2
  measure my-raw sh -c "mariadb-dump --defaults-extra-file=$work/my.cnf -h127.0.0.1 -P$myport -ubench --single-transaction --routines --triggers --events --no-tablespaces bench > $work/raw.sql"
  rm -rf "$work/set"; measure my-df "$DF" --quiet --root "$work/root-my" dump --into "$work/set"
  rm -rf "$work/set"; measure my-none "$DF" --quiet --root "$work/root-my" dump --into "$work/set" --compress none
  measure pg-raw sh -c "PGPASSFILE=$work/pgpass pg_dump -h 127.0.0.1 -p $pgport -U bench -F p bench > $work/raw.sql"
  rm -rf "$work/set"; measure pg-df "$DF" --quiet --root "$work/root-pg" dump --into "$work/set"
  rm -rf "$work/set"; measure pg-none "$DF" --quiet --root "$work/root-pg" dump --into "$work/set" --compress none
done
mysize=$(stat -c %s "$work/raw.sql")

about_runs
echo "| server | raw dump wall s | df-dump-db (zstd) wall s | ratio | df-dump-db --compress none wall s | raw peak RSS MiB | df-dump-db peak RSS MiB |"
echo "|---|---|---|---|---|---|---|"
for s in my pg; do
  awk -v n="$(server_name $s)" -v rw="$(col $s-raw 1)" -v dw="$(col $s-df 1)" -v nw="$(col $s-none 1)" \
    -v rr="$(col $s-raw 2)" -v dr="$(col $s-df 2)" -v rs="$(span $s-raw)" -v ds="$(span $s-df)" \
    'BEGIN {printf "| %s | %.2f (%s) | %.2f (%s) | %.2f× | %.2f | %.1f | %.1f |\n", n, rw, rs, dw, ds, dw/rw, nw, rr/1024, dr/1024}'
done
echo
echo "(last pg_dump output: $((mysize / 1048576)) MiB of SQL)"
