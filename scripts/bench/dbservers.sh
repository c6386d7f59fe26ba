# Sourced by scripts/bench/dump.sh and scripts/bench/restore.sh, never run on its own.
#
# Builds df-dump-db (release), starts a throwaway MariaDB and PostgreSQL (as the
# mysql/postgres users, on free ports, in a temp dir removed at exit — never the
# machine's servers), fills one table `t` of database `bench` on each with about SIZE_MB
# of hex text (~1 KiB a row), and writes df-dump-db roots for them.
# Sets: here DF work rows myport pgport pgbin; functions: myroot pgsu measure median.
# Needs root (the servers run as mysql/postgres) and /usr/bin/time.
SIZE_MB=${SIZE_MB:-200}
RUNS=${RUNS:-5}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
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

# measure LABEL CMD… → appends "wall_s rss_kb user_s sys_s" to $work/LABEL, and passes
# df-dump-db's phase line (DFKIT_DUMP_PHASES / DFKIT_RESTORE_PHASES) through to stderr.
# Each run starts with no dirty pages: otherwise it pays (through df-dump-db's fsync or
# the kernel's writeback) for the previous run's unsynced file.
measure() {
  local label=$1; shift
  sync
  /usr/bin/time -f '%e %M %U %S' -o "$work/t.out" "$@" >/dev/null 2>"$work/err.out" || { cat "$work/err.out" >&2; exit 1; }
  cat "$work/t.out" >> "$work/$label"
  grep -h 'phases:' "$work/err.out" | sed "s/^/$label /" >&2 || true
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# col LABEL N: the median of field N (1 wall s, 2 peak RSS KiB, 3 user s, 4 sys s) of
# LABEL's runs; span LABEL: "min–max" of its wall seconds.
col() { cut -d' ' -f"$2" "$work/$1" | median; }
span() { cut -d' ' -f1 "$work/$1" | sort -n | awk 'NR==1 {a=$1} {b=$1} END {printf "%.2f–%.2f", a, b}'; }
server_name() {
  if [ "$1" = my ]; then echo "MariaDB $(mariadb --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*-MariaDB' | head -1)"
  else echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}')"; fi
}
# The line above each table: what was measured, and how loaded the machine was.
about_runs() {
  echo
  echo "Database ~${SIZE_MB} MB of rows (${rows} rows of ~1 KiB), ${RUNS} runs each, median (min–max); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
}
