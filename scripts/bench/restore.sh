#!/usr/bin/env bash
# Benchmark df-dump-db restore against the raw client programs on throwaway servers.
#
#   scripts/bench/restore.sh                     # SIZE_MB=200 RUNS=5
#   SIZE_MB=50 RUNS=3 scripts/bench/restore.sh
#   DF_BEFORE=/path/to/old/df-dump-db scripts/bench/restore.sh   # also time an older build, side by side
#
# Same servers and data as scripts/bench/dump.sh (one table of ~SIZE_MB of ~1 KiB rows).
# The table is dumped once with df-dump-db (zstd); the same SQL, decompressed, feeds the
# raw clients. Then RUNS times each, into a second database `benchr`:
#   raw:        mariadb benchr < db.sql            /  psql --single-transaction -f db.sql (into a fresh benchr)
#   df-dump-db: df-dump-db restore --from SET --replace over a full benchr (zstd, sha256,
#               stream checks, row counts; MariaDB: scratch database + RENAME swap;
#               PostgreSQL: drop + import in one transaction, COMMIT after the checked end)
# Prints a markdown table (median wall s, ratio) and df-dump-db's phases
# (DFKIT_RESTORE_PHASES): sha256, connect, prescan, import (or scratch_import_swap), count.
# Needs root.
set -euo pipefail
source "$(dirname "$0")/dbservers.sh"

myroot -e "CREATE DATABASE benchr; GRANT ALL ON benchr.* TO 'bench'@'%'; GRANT ALL ON \`benchr\\_dfkit\\_%\`.* TO 'bench'@'%';"
pgsu -d postgres -c "CREATE DATABASE benchr OWNER bench"
mkdir -p "$work/root-myr" "$work/root-pgr"
sed 's/^DB_DATABASE=bench$/DB_DATABASE=benchr/' "$work/root-my/.env" > "$work/root-myr/.env"
sed 's/^DB_DATABASE=bench$/DB_DATABASE=benchr/' "$work/root-pg/.env" > "$work/root-pgr/.env"
"$DF" --quiet --root "$work/root-my" dump --into "$work/set-my" >/dev/null
"$DF" --quiet --root "$work/root-pg" dump --into "$work/set-pg" >/dev/null
zstd -q -dc "$work/set-my/db.sql.zst" > "$work/my.sql"
zstd -q -dc "$work/set-pg/db.sql.zst" > "$work/pg.sql"

export DFKIT_RESTORE_PHASES=1
fresh_pg() { pgsu -d postgres -c "DROP DATABASE benchr" -c "CREATE DATABASE benchr OWNER bench" >/dev/null; }

# benchr starts full, so every df-dump-db run replaces a full database.
mariadb --defaults-extra-file="$work/my.cnf" -h127.0.0.1 -P"$myport" -ubench benchr < "$work/my.sql"
PGPASSFILE=$work/pgpass psql -X -q -h 127.0.0.1 -p "$pgport" -U bench -v ON_ERROR_STOP=1 --single-transaction -f "$work/pg.sql" benchr >/dev/null
for i in $(seq "$RUNS"); do
  echo "run $i/$RUNS" >&2
  measure my-raw sh -c "mariadb --defaults-extra-file=$work/my.cnf -h127.0.0.1 -P$myport -ubench benchr < $work/my.sql"
  measure my-df "$DF" --quiet --root "$work/root-myr" restore --from "$work/set-my" --replace
  if [ -n "${DF_BEFORE:-}" ]; then measure my-before "$DF_BEFORE" --quiet --root "$work/root-myr" restore --from "$work/set-my" --replace; fi
  fresh_pg
  measure pg-raw sh -c "PGPASSFILE=$work/pgpass psql -X -q -h 127.0.0.1 -p $pgport -U bench -v ON_ERROR_STOP=1 --single-transaction -f $work/pg.sql benchr"
  measure pg-df "$DF" --quiet --root "$work/root-pgr" restore --from "$work/set-pg" --replace
  if [ -n "${DF_BEFORE:-}" ]; then measure pg-before "$DF_BEFORE" --quiet --root "$work/root-pgr" restore --from "$work/set-pg" --replace; fi
done

about_runs
echo "| server | raw restore wall s | df-dump-db restore --replace wall s | ratio | raw client CPU s (user+sys) | df-dump-db CPU s (user+sys, with its children) |"
echo "|---|---|---|---|---|---|"
for s in my pg; do
  awk -v n="$(server_name $s)" -v rw="$(col $s-raw 1)" -v dw="$(col $s-df 1)" -v rs="$(span $s-raw)" -v ds="$(span $s-df)" \
    -v ru="$(col $s-raw 3)" -v rk="$(col $s-raw 4)" -v du="$(col $s-df 3)" -v dk="$(col $s-df 4)" \
    'BEGIN {printf "| %s | %.2f (%s) | %.2f (%s) | %.2f× | %.2f | %.2f |\n", n, rw, rs, dw, ds, dw/rw, ru+rk, du+dk}'
done
if [ -n "${DF_BEFORE:-}" ]; then
  echo
  echo "| server | DF_BEFORE restore --replace wall s | ratio to raw | DF_BEFORE CPU s (user+sys, with its children) |"
  echo "|---|---|---|---|"
  for s in my pg; do
    awk -v n="$(server_name $s)" -v rw="$(col $s-raw 1)" -v bw="$(col $s-before 1)" -v bs="$(span $s-before)" \
      -v bu="$(col $s-before 3)" -v bk="$(col $s-before 4)" \
      'BEGIN {printf "| %s | %.2f (%s) | %.2f× | %.2f |\n", n, bw, bs, bw/rw, bu+bk}'
  done
fi
