#!/usr/bin/env bash
# Benchmark df-dump-db restore against the raw client programs on throwaway servers.
#
#   scripts/bench/restore.sh                     # SIZE_MB=200 RUNS=5
#   SIZE_MB=50 RUNS=3 scripts/bench/restore.sh
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
SIZE_MB=${SIZE_MB:-200}
RUNS=${RUNS:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root (servers run as mysql/postgres)" >&2; exit 77; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 69; }

(cd "$here" && cargo build --release --locked --bin df-dump-db >&2)
DF="$here/target/release/df-dump-db"

work=$(mktemp -d /tmp/dfkit-bench-XXXXXX)
chmod 755 "$work"
cleanup() {
  [ -f "$work/my/pid" ] && kill "$(cat "$work/my/pid")" 2>/dev/null || true
  [ -f "$work/pg/data/postmaster.pid" ] && kill -INT "$(head -1 "$work/pg/data/postmaster.pid")" 2>/dev/null || true
  sleep 2
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rows=$(( SIZE_MB * 1024 ))   # ~1 KiB a row

# --- MariaDB
mkdir -p "$work/my" && chown mysql:mysql "$work/my"
mariadb-install-db --no-defaults --user=mysql --datadir="$work/my/data" \
  --auth-root-authentication-method=socket --skip-test-db >/dev/null
myport=$(free_port)
mariadbd --no-defaults --user=mysql --datadir="$work/my/data" --socket="$work/my/sock" \
  --port="$myport" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$work/my/pid" \
  --log-error="$work/my/err.log" --innodb-buffer-pool-size=256M </dev/null >/dev/null 2>&1 &
for _ in $(seq 100); do mariadb --no-defaults -S "$work/my/sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
myroot() { mariadb --no-defaults -S "$work/my/sock" -uroot "$@"; }
myroot -e "CREATE DATABASE bench; CREATE USER 'bench'@'%' IDENTIFIED BY 'benchpw'; GRANT ALL ON bench.* TO 'bench'@'%';"
echo "filling MariaDB with ~${SIZE_MB} MB…" >&2
myroot bench -e "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(1024), b INT) ENGINE=InnoDB;
  INSERT INTO t SELECT seq, CONCAT(SHA2(seq,512), SHA2(seq+1,512), SHA2(seq+2,512), SHA2(seq+3,512),
    SHA2(seq+4,512), SHA2(seq+5,512), SHA2(seq+6,512), LEFT(SHA2(seq+7,512),96)), seq % 977 FROM seq_1_to_${rows};"

# --- PostgreSQL
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$work/pg" && chown postgres:postgres "$work/pg"
echo benchsu > "$work/pg/pw" && chown postgres "$work/pg/pw"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg/data" -U postgres --auth=scram-sha-256 --pwfile="$work/pg/pw" >/dev/null
pgport=$(free_port)
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-p $pgport -k $work/pg -h 127.0.0.1 -c shared_buffers=128MB" start >/dev/null
pgsu() { PGPASSWORD=benchsu psql -X -q -h 127.0.0.1 -p "$pgport" -U postgres "$@"; }
pgsu -d postgres -c "CREATE ROLE bench LOGIN PASSWORD 'benchpw'" -c "CREATE DATABASE bench OWNER bench"
echo "filling PostgreSQL with ~${SIZE_MB} MB…" >&2
PGPASSWORD=benchpw psql -X -q -h 127.0.0.1 -p "$pgport" -U bench -d bench -c "CREATE TABLE t (id INT PRIMARY KEY, a TEXT, b INT);
  INSERT INTO t SELECT g, repeat(md5(g::text) || md5((g+1)::text), 14) || md5((g+2)::text), g % 977 FROM generate_series(1, ${rows}) g;"

# --- roots for df-dump-db
mkdir -p "$work/root-my" "$work/root-pg"
printf 'DB_CONNECTION=mysql\nDB_HOST=127.0.0.1\nDB_PORT=%s\nDB_DATABASE=bench\nDB_USERNAME=bench\nDB_PASSWORD=benchpw\n' "$myport" > "$work/root-my/.env"
printf 'DB_CONNECTION=pgsql\nDB_HOST=127.0.0.1\nDB_PORT=%s\nDB_DATABASE=bench\nDB_USERNAME=bench\nDB_PASSWORD=benchpw\n' "$pgport" > "$work/root-pg/.env"
printf '[client]\npassword=benchpw\n' > "$work/my.cnf"; chmod 600 "$work/my.cnf"
printf '*:*:*:*:benchpw\n' > "$work/pgpass"; chmod 600 "$work/pgpass"


myroot -e "CREATE DATABASE benchr; GRANT ALL ON benchr.* TO 'bench'@'%'; GRANT ALL ON \`benchr\\_dfkit\\_%\`.* TO 'bench'@'%';"
pgsu -d postgres -c "CREATE DATABASE benchr OWNER bench"
mkdir -p "$work/root-myr" "$work/root-pgr"
sed 's/^DB_DATABASE=bench$/DB_DATABASE=benchr/' "$work/root-my/.env" > "$work/root-myr/.env"
sed 's/^DB_DATABASE=bench$/DB_DATABASE=benchr/' "$work/root-pg/.env" > "$work/root-pgr/.env"
"$DF" --quiet --root "$work/root-my" dump --into "$work/set-my" >/dev/null
"$DF" --quiet --root "$work/root-pg" dump --into "$work/set-pg" >/dev/null
zstd -q -dc "$work/set-my/db.sql.zst" > "$work/my.sql"
zstd -q -dc "$work/set-pg/db.sql.zst" > "$work/pg.sql"

measure() {
  local label=$1; shift
  sync
  /usr/bin/time -f '%e %M' -o "$work/t.out" env DFKIT_RESTORE_PHASES=1 "$@" >/dev/null 2>"$work/err.out" || { cat "$work/err.out" >&2; exit 1; }
  cat "$work/t.out" >> "$work/$label"
  grep -h 'phases:' "$work/err.out" | sed "s/^/$label /" >&2 || true
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
fresh_pg() { pgsu -d postgres -c "DROP DATABASE benchr" -c "CREATE DATABASE benchr OWNER bench" >/dev/null; }

# benchr starts full, so every df-dump-db run replaces a full database.
mariadb --defaults-extra-file="$work/my.cnf" -h127.0.0.1 -P"$myport" -ubench benchr < "$work/my.sql"
PGPASSFILE=$work/pgpass psql -X -q -h 127.0.0.1 -p "$pgport" -U bench -v ON_ERROR_STOP=1 --single-transaction -f "$work/pg.sql" benchr >/dev/null
for i in $(seq "$RUNS"); do
  echo "run $i/$RUNS" >&2
  measure my-raw sh -c "mariadb --defaults-extra-file=$work/my.cnf -h127.0.0.1 -P$myport -ubench benchr < $work/my.sql"
  measure my-df "$DF" --quiet --root "$work/root-myr" restore --from "$work/set-my" --replace
  fresh_pg
  measure pg-raw sh -c "PGPASSFILE=$work/pgpass psql -X -q -h 127.0.0.1 -p $pgport -U bench -v ON_ERROR_STOP=1 --single-transaction -f $work/pg.sql benchr"
  measure pg-df "$DF" --quiet --root "$work/root-pgr" restore --from "$work/set-pg" --replace
done

echo
echo "Database ~${SIZE_MB} MB of rows (${rows} rows of ~1 KiB), ${RUNS} runs each, median (min–max); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| server | raw restore wall s | df-dump-db restore --replace wall s | ratio |"
echo "|---|---|---|---|"
for s in my pg; do
  rw=$(cut -d' ' -f1 "$work/$s-raw" | median); dw=$(cut -d' ' -f1 "$work/$s-df" | median)
  rmin=$(cut -d' ' -f1 "$work/$s-raw" | sort -n | head -1); rmax=$(cut -d' ' -f1 "$work/$s-raw" | sort -n | tail -1)
  dmin=$(cut -d' ' -f1 "$work/$s-df" | sort -n | head -1); dmax=$(cut -d' ' -f1 "$work/$s-df" | sort -n | tail -1)
  name=$([ $s = my ] && echo MariaDB || echo PostgreSQL)
  awk -v n="$name" -v rw="$rw" -v dw="$dw" -v a="$rmin" -v b="$rmax" -v c="$dmin" -v d="$dmax" \
    'BEGIN {printf "| %s | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.2f× |\n", n, rw, a, b, dw, c, d, dw/rw}'
done
