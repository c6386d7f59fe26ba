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

# measure LABEL CMD… → appends "wall_s rss_kb" to $work/LABEL
# Each run starts with no dirty pages: otherwise it pays (through df-dump-db's fsync or
# the kernel's writeback) for the previous run's unsynced file.
measure() {
  local label=$1; shift
  sync
  /usr/bin/time -f '%e %M' -o "$work/t.out" "$@" >/dev/null 2>"$work/err.out" || { cat "$work/err.out" >&2; exit 1; }
  cat "$work/t.out" >> "$work/$label"
  if [ -n "${DFKIT_DUMP_PHASES:-}" ]; then grep -h 'phases:' "$work/err.out" | sed "s/^/$label /" >&2 || true; fi
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for i in $(seq "$RUNS"); do
  echo "run $i/$RUNS" >&2
  measure my-raw sh -c "mariadb-dump --defaults-extra-file=$work/my.cnf -h127.0.0.1 -P$myport -ubench --single-transaction --routines --triggers --events --hex-blob --no-tablespaces bench > $work/raw.sql"
  rm -rf "$work/set"; measure my-df "$DF" --quiet --root "$work/root-my" dump --into "$work/set"
  rm -rf "$work/set"; measure my-none "$DF" --quiet --root "$work/root-my" dump --into "$work/set" --compress none
  measure pg-raw sh -c "PGPASSFILE=$work/pgpass pg_dump -h 127.0.0.1 -p $pgport -U bench -F p bench > $work/raw.sql"
  rm -rf "$work/set"; measure pg-df "$DF" --quiet --root "$work/root-pg" dump --into "$work/set"
  rm -rf "$work/set"; measure pg-none "$DF" --quiet --root "$work/root-pg" dump --into "$work/set" --compress none
done
mysize=$(stat -c %s "$work/raw.sql")

echo
echo "Database ~${SIZE_MB} MB of rows (${rows} rows of ~1 KiB), ${RUNS} runs each, median; $(nproc) cores."
echo
echo "| server | raw dump wall s | df-dump-db (zstd) wall s | ratio | df-dump-db --compress none wall s | raw peak RSS MiB | df-dump-db peak RSS MiB |"
echo "|---|---|---|---|---|---|---|"
for s in my pg; do
  rw=$(cut -d' ' -f1 "$work/$s-raw" | median); dw=$(cut -d' ' -f1 "$work/$s-df" | median)
  nw=$(cut -d' ' -f1 "$work/$s-none" | median)
  rr=$(cut -d' ' -f2 "$work/$s-raw" | median); dr=$(cut -d' ' -f2 "$work/$s-df" | median)
  name=$([ $s = my ] && echo "MariaDB $(mariadb --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*-MariaDB' | head -1)" || echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}')")
  awk -v n="$name" -v rw="$rw" -v dw="$dw" -v nw="$nw" -v rr="$rr" -v dr="$dr" \
    'BEGIN {printf "| %s | %.2f | %.2f | %.2f× | %.2f | %.1f | %.1f |\n", n, rw, dw, dw/rw, nw, rr/1024, dr/1024}'
done
echo
echo "(last pg_dump output: $((mysize / 1048576)) MiB of SQL)"
