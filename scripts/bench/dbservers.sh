# Sourced by scripts/bench/dump.sh and scripts/bench/restore.sh, never run on its own.
#
# Builds df-dump-db (release), starts a throwaway MariaDB and PostgreSQL (as the
# mysql/postgres users, on free ports, in a temp dir removed at exit — never the
# machine's servers) and writes df-dump-db roots for them. `fill MB` then (re)fills one
# table `t` of database `bench` on each with about MB of hex text (~1 KiB a row); the
# scripts call it once for each size of SIZES_MB (default "200"; SIZE_MB=N, the old
# single-size form, still works).
# Sets: here DF work myport pgport pgbin; after fill: SIZE_MB rows. Functions: fill myroot
# pgsu measure median col lo hi span rss_mib server_name about_runs, and those of results.sh.
# Needs root (the servers run as mysql/postgres) and /usr/bin/time.
SIZES_MB=${SIZES_MB:-${SIZE_MB:-200}}
RUNS=${RUNS:-5}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$here/scripts/bench/results.sh"
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

# --- roots for df-dump-db
mkdir -p "$work/root-my" "$work/root-pg"
printf 'DB_CONNECTION=mysql\nDB_HOST=127.0.0.1\nDB_PORT=%s\nDB_DATABASE=bench\nDB_USERNAME=bench\nDB_PASSWORD=benchpw\n' "$myport" > "$work/root-my/.env"
printf 'DB_CONNECTION=pgsql\nDB_HOST=127.0.0.1\nDB_PORT=%s\nDB_DATABASE=bench\nDB_USERNAME=bench\nDB_PASSWORD=benchpw\n' "$pgport" > "$work/root-pg/.env"
printf '[client]\npassword=benchpw\n' > "$work/my.cnf"; chmod 600 "$work/my.cnf"
printf '*:*:*:*:benchpw\n' > "$work/pgpass"; chmod 600 "$work/pgpass"

# fill MB: table `t` of `bench` on both servers, replaced by ~MB of rows (~1 KiB each);
# forgets the runs measured at the previous size.
fill() {
  SIZE_MB=$1
  rows=$((SIZE_MB * 1024))
  rm -rf "$work/r" && mkdir "$work/r"
  echo "filling MariaDB with ~${SIZE_MB} MB…" >&2
  myroot bench -e "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(1024), b INT) ENGINE=InnoDB;
    INSERT INTO t SELECT seq, CONCAT(SHA2(seq,512), SHA2(seq+1,512), SHA2(seq+2,512), SHA2(seq+3,512),
      SHA2(seq+4,512), SHA2(seq+5,512), SHA2(seq+6,512), LEFT(SHA2(seq+7,512),96)), seq % 977 FROM seq_1_to_${rows};"
  echo "filling PostgreSQL with ~${SIZE_MB} MB…" >&2
  PGOPTIONS="-c client_min_messages=warning" PGPASSWORD=benchpw psql -X -q -h 127.0.0.1 -p "$pgport" -U bench -d bench -c "DROP TABLE IF EXISTS t;" -c "CREATE TABLE t (id INT PRIMARY KEY, a TEXT, b INT);
    INSERT INTO t SELECT g, repeat(md5(g::text) || md5((g+1)::text), 14) || md5((g+2)::text), g % 977 FROM generate_series(1, ${rows}) g;"
}

# measure LABEL CMD… → appends "wall_s rss_kb user_s sys_s" to $work/r/LABEL, and passes
# df-dump-db's phase line (DFKIT_DUMP_PHASES / DFKIT_RESTORE_PHASES) through to stderr.
# Each run starts with no dirty pages: otherwise it pays (through df-dump-db's fsync or
# the kernel's writeback) for the previous run's unsynced file. Wall time is taken to the
# millisecond around GNU time (whose %e has only 10 ms steps, too coarse at 10 MB).
measure() {
  local label=$1 t0 t1; shift
  sync
  t0=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o "$work/t.out" "$@" >/dev/null 2>"$work/err.out" || { cat "$work/err.out" >&2; exit 1; }
  t1=$(date +%s%N)
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}') $(cat "$work/t.out")" >> "$work/r/$label"
  grep -h 'phases:' "$work/err.out" | sed "s/^/$label /" >&2 || true
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# col LABEL N: the median of field N (1 wall s, 2 peak RSS KiB, 3 user s, 4 sys s) of
# LABEL's runs at this size; lo/hi LABEL: the min/max of its wall seconds; span LABEL:
# "min–max" of them; rss_mib LABEL: the largest peak RSS of its runs, in MiB.
col() { cut -d' ' -f"$2" "$work/r/$1" | median; }
lo() { cut -d' ' -f1 "$work/r/$1" | sort -n | head -1; }
hi() { cut -d' ' -f1 "$work/r/$1" | sort -n | tail -1; }
span() { printf '%.2f–%.2f' "$(lo "$1")" "$(hi "$1")"; }
rss_mib() { cut -d' ' -f2 "$work/r/$1" | sort -n | tail -1 | awk '{printf "%.1f", $1 / 1024}'; }
server_name() {
  if [ "$1" = my ]; then echo "MariaDB $(mariadb --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*-MariaDB' | head -1)"
  else echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}')"; fi
}
# The line above each table: what was measured, and on what machine.
about_runs() {
  echo
  echo "Databases of ~${SIZES_MB// / / } MB of rows (1024 rows of ~1 KiB a MB), ${RUNS} runs each, median (min–max); $(nproc) cores, $(uname -sr), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
}
