#!/usr/bin/env bash
# Benchmark df-dump-db restore against the raw client programs on throwaway servers.
#
#   scripts/bench/restore.sh                          # SIZES_MB=200 RUNS=5
#   SIZES_MB="10 100 1000" scripts/bench/restore.sh   # several sizes, one run of the script
#   DF_BEFORE=/path/to/old/df-dump-db scripts/bench/restore.sh   # also time an older build, side by side
#
# Same servers and data as scripts/bench/dump.sh (one table of ~MB of ~1 KiB rows, for
# each size of SIZES_MB). The table is dumped once with df-dump-db (zstd); the same SQL,
# decompressed, feeds the raw clients. Then RUNS times each, into a second database `benchr`:
#   raw:        mariadb benchr < db.sql            /  psql --single-transaction -f db.sql (into a fresh benchr)
#   zpipe:      zstd -dc SET/db.sql.zst | the same raw client (decompression alone)
#   rawrep:     PostgreSQL only: psql replacing the full benchr as df-dump-db does
#               (BEGIN; DROP TABLE t; the dump; COMMIT)
#   df-dump-db: df-dump-db restore --from SET --replace over a full benchr (zstd, sha256,
#               stream checks, row counts; MariaDB: scratch database + RENAME swap;
#               PostgreSQL: drop + import in one transaction, COMMIT after the checked end)
# Prints a markdown table (median (min–max) wall s, ratio, CPU, peak RSS: GNU time's %M,
# the largest of the RUNS runs and of the measured process and its children — for
# df-dump-db, max(df-dump-db, the client it runs)) and df-dump-db's phases
# (DFKIT_RESTORE_PHASES): sha256, connect, prescan, import (or scratch_import_swap), count.
# Before each measured run the servers are settled (settle: CHECKPOINT, InnoDB's dirty
# pages flushed). Writes the figures to target/bench/restore.tsv (scripts/bench/results.sh).
# Needs root.
# Targets: ≤ 1.05× wall; peak RSS flat across sizes.
set -euo pipefail
source "$(dirname "$0")/dbservers.sh"

myroot -e "CREATE DATABASE benchr; GRANT ALL ON benchr.* TO 'bench'@'%'; GRANT ALL ON \`benchr\\_dfkit\\_%\`.* TO 'bench'@'%';"
pgsu -d postgres -c "CREATE DATABASE benchr OWNER bench"
mkdir -p "$work/root-myr" "$work/root-pgr"
sed 's/^DB_DATABASE=bench$/DB_DATABASE=benchr/' "$work/root-my/.env" > "$work/root-myr/.env"
sed 's/^DB_DATABASE=bench$/DB_DATABASE=benchr/' "$work/root-pg/.env" > "$work/root-pgr/.env"

export DFKIT_RESTORE_PHASES=1
# Before every measured run the servers write out what earlier runs left dirty
# (PostgreSQL: CHECKPOINT; InnoDB: its dirty pages flushed), as measure() syncs the page
# cache: each run pays for its own writes, not for the run before it. Without this the
# raw PostgreSQL run alone started clean (its fresh database's DROP DATABASE forces a
# checkpoint), the others after a 200 MB load still being written out.
settle() {
  pgsu -d postgres -c CHECKPOINT >/dev/null
  myroot -e "SET GLOBAL innodb_max_dirty_pages_pct = 0;"
  for _ in $(seq 300); do
    [ "$(myroot -N -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" | cut -f2)" = 0 ] && break
    sleep 0.1
  done
  myroot -e "SET GLOBAL innodb_max_dirty_pages_pct = 90;"
}
settled() { local label=$1; shift; settle; measure "$label" "$@"; }
fresh_pg() { pgsu -d postgres -c "DROP DATABASE benchr" -c "CREATE DATABASE benchr OWNER bench" >/dev/null; }
fresh_my() { myroot -e "DROP DATABASE benchr; CREATE DATABASE benchr;"; }

results_open restore
: >"$work/table" >"$work/before" >"$work/zpipe" >"$work/rawrep"
for size in $SIZES_MB; do
  fill "$size"
  rm -rf "$work/set-my" "$work/set-pg"
  "$DF" --quiet --root "$work/root-my" dump --into "$work/set-my" >/dev/null
  "$DF" --quiet --root "$work/root-pg" dump --into "$work/set-pg" >/dev/null
  zstd -q -f -dc "$work/set-my/db.sql.zst" > "$work/my.sql"
  zstd -q -f -dc "$work/set-pg/db.sql.zst" > "$work/pg.sql"

  # benchr starts full (and only with this size's table), so every df-dump-db run
  # replaces a full database.
  fresh_my
  fresh_pg
  mariadb --defaults-extra-file="$work/my.cnf" -h127.0.0.1 -P"$myport" -ubench benchr < "$work/my.sql"
  PGPASSFILE=$work/pgpass psql -X -q -h 127.0.0.1 -p "$pgport" -U bench -v ON_ERROR_STOP=1 --single-transaction -f "$work/pg.sql" benchr >/dev/null
  load=$(load1)
  for i in $(seq "$RUNS"); do
    echo "restore ${size} MB: run $i/$RUNS" >&2
    settled my-raw sh -c "mariadb --defaults-extra-file=$work/my.cnf -h127.0.0.1 -P$myport -ubench benchr < $work/my.sql"
    settled my-df "$DF" --quiet --root "$work/root-myr" restore --from "$work/set-my" --replace
    # The raw client fed by zstd's own CLI through a pipe: what decompressing costs alone.
    settled my-zpipe sh -c "zstd -q -dc $work/set-my/db.sql.zst | mariadb --defaults-extra-file=$work/my.cnf -h127.0.0.1 -P$myport -ubench benchr"
    if [ -n "${DF_BEFORE:-}" ]; then settled my-before "$DF_BEFORE" --quiet --root "$work/root-myr" restore --from "$work/set-my" --replace; fi
    fresh_pg
    settled pg-raw sh -c "PGPASSFILE=$work/pgpass psql -X -q -h 127.0.0.1 -p $pgport -U bench -v ON_ERROR_STOP=1 --single-transaction -f $work/pg.sql benchr"
    settled pg-df "$DF" --quiet --root "$work/root-pgr" restore --from "$work/set-pg" --replace
    # psql doing the same replace: the old table dropped and the dump loaded, in one
    # transaction (mariadb-dump's own DROP TABLE makes the MariaDB raw run one already).
    settled pg-rawrep sh -c "(echo 'BEGIN;'; echo 'DROP TABLE public.t CASCADE;'; cat $work/pg.sql; echo 'COMMIT;') | PGPASSFILE=$work/pgpass psql -X -q -h 127.0.0.1 -p $pgport -U bench -v ON_ERROR_STOP=1 -f - benchr"
    fresh_pg
    settled pg-zpipe sh -c "zstd -q -dc $work/set-pg/db.sql.zst | PGPASSFILE=$work/pgpass psql -X -q -h 127.0.0.1 -p $pgport -U bench -v ON_ERROR_STOP=1 --single-transaction -f - benchr"
    if [ -n "${DF_BEFORE:-}" ]; then settled pg-before "$DF_BEFORE" --quiet --root "$work/root-pgr" restore --from "$work/set-pg" --replace; fi
  done
  rm -f "$work/my.sql" "$work/pg.sql"

  for s in my pg; do
    name=$(server_name $s)
    awk -v mb="$size" -v n="$name" -v rw="$(col $s-raw 1)" -v dw="$(col $s-df 1)" -v rs="$(span $s-raw)" -v ds="$(span $s-df)" \
      -v ru="$(col $s-raw 3)" -v rk="$(col $s-raw 4)" -v du="$(col $s-df 3)" -v dk="$(col $s-df 4)" \
      -v rr="$(rss_mib $s-raw)" -v dr="$(rss_mib $s-df)" -v l="$load" \
      'BEGIN {printf "| %s | %s | %.2f (%s) | %.2f (%s) | %.2f× | %.2f | %.2f | %s | %s | %s |\n", mb, n, rw, rs, dw, ds, dw/rw, ru+rk, du+dk, rr, dr, l}' >>"$work/table"
    results_row restore restore "${name%% *} $size MB" s "$(col $s-df 1)" "$(lo $s-df)" "$(hi $s-df)" \
      "$(col $s-raw 1)" "$(lo $s-raw)" "$(hi $s-raw)" 1.05 "$load"
    results_row restore restore-rss "${name%% *} $size MB" MiB "$(rss_mib $s-df)" "" "" "" "" "" "" "$load"
    awk -v mb="$size" -v n="$name" -v rw="$(col $s-raw 1)" -v zw="$(col $s-zpipe 1)" -v zs="$(span $s-zpipe)" \
      -v dw="$(col $s-df 1)" -v zu="$(col $s-zpipe 3)" -v zk="$(col $s-zpipe 4)" \
      'BEGIN {printf "| %s | %s | %.2f (%s) | %.2f× | %.2f× | %.2f |\n", mb, n, zw, zs, zw/rw, dw/zw, zu+zk}' >>"$work/zpipe"
    if [ "$s" = pg ]; then
      awk -v mb="$size" -v n="$name" -v rw="$(col pg-raw 1)" -v pw="$(col pg-rawrep 1)" -v ps="$(span pg-rawrep)" \
        -v dw="$(col pg-df 1)" 'BEGIN {printf "| %s | %s | %.2f (%s) | %.2f× | %.2f× |\n", mb, n, pw, ps, pw/rw, dw/pw}' >>"$work/rawrep"
    fi
    if [ -n "${DF_BEFORE:-}" ]; then
      awk -v mb="$size" -v n="$name" -v rw="$(col $s-raw 1)" -v bw="$(col $s-before 1)" -v bs="$(span $s-before)" \
        -v bu="$(col $s-before 3)" -v bk="$(col $s-before 4)" -v br="$(rss_mib $s-before)" \
        'BEGIN {printf "| %s | %s | %.2f (%s) | %.2f× | %.2f | %s |\n", mb, n, bw, bs, bw/rw, bu+bk, br}' >>"$work/before"
    fi
  done
done

about_runs
echo "| MB | server | raw restore wall s | df-dump-db restore --replace wall s | ratio | raw client CPU s (user+sys) | df-dump-db CPU s (user+sys, with its children) | raw client peak RSS MiB | df-dump-db peak RSS MiB | load before |"
echo "|---|---|---|---|---|---|---|---|---|---|"
cat "$work/table"
echo
echo "The raw client fed through a pipe by \`zstd -dc\` (what decompressing alone costs next to the server):"
echo
echo "| MB | server | zstd -dc \| client wall s | ratio to raw | df-dump-db / this | CPU s (zstd + client) |"
echo "|---|---|---|---|---|---|"
cat "$work/zpipe"
echo
echo 'PostgreSQL: psql doing the same replace as df-dump-db (`BEGIN; DROP TABLE t;` the dump `COMMIT;` over the full database; the MariaDB raw run is one already, by mariadb-dump'"'"'s `DROP TABLE IF EXISTS`):'
echo
echo "| MB | server | psql replace wall s | ratio to raw | df-dump-db / this |"
echo "|---|---|---|---|---|"
cat "$work/rawrep"
if [ -n "${DF_BEFORE:-}" ]; then
  echo
  echo "| MB | server | DF_BEFORE restore --replace wall s | ratio to raw | DF_BEFORE CPU s (user+sys, with its children) | DF_BEFORE peak RSS MiB |"
  echo "|---|---|---|---|---|---|"
  cat "$work/before"
fi
echo
echo "Targets: wall ≤ 1.05× the raw client; df-dump-db peak RSS flat across sizes. Figures in $results_dir/restore.tsv."
