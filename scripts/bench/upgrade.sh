#!/usr/bin/env bash
# df-upgrade vs the guide's commands typed as a plain bash script, on the same sandbox.
#
#   scripts/bench/upgrade.sh              # builds target/release, prints a markdown table
#   RUNS=5 scripts/bench/upgrade.sh
#
# For each run, two fresh SQLite sandboxes at release v1 (scripts/make-sandbox.sh):
#   script:     cp -a (the tree backup), sqlite3 .dump, git stash / checkout master /
#               pull origin master, chown -R / chmod -R 2775, composer install --no-dev
#               --ignore-platform-reqs, artisan migrate --seed, cache:clear, config:clear
#               (the guide takes no maintenance window: the site is exposed for the whole run)
#   df-upgrade: --skip restart (no web server serves the sandbox); its maintenance window
#               is its report's maintenance_ms: from the end of `down` (the down file is
#               written) to the end of `up`. Also printed: the sum of its steps from `down`
#               to `up`, which counts down's own PHP run (the site still serves then).
# Then the no-op: df-upgrade again on the upgraded sandbox, vs the script again.
# Then the window a client sees: $RUNS runs of tests/df_upgrade.rs's
# no_error_page_during_the_upgrade (real nginx + php-fpm, a graceful reload) with this
# release build's df-upgrade and a prober every $PROBE_MS ms (default 10): the span of
# its 503 answers, next to df-upgrade's own down→up sum. PROBE=0 leaves this out.
# Median, min and max of $RUNS. Not a test: nothing asserts on time.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
runs=${RUNS:-5}
for p in jq git composer php sqlite3; do
  command -v "$p" >/dev/null || { echo "upgrade.sh: needs $p" >&2; exit 69; }
done
(cd "$here" && cargo build --release --locked --quiet)
bin=$here/target/release
work=$(mktemp -d /var/tmp/dfkit-bench-upgrade.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DFKIT_LOCK_DIR=$work/locks COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_DISABLE_NETWORK=1
user=$(id -un)
group=$(id -gn)

ms() { date +%s%3N; }

guide() { # guide ROOT: the guide's commands, by hand
  local root=$1
  cp -a "$root" "$root.backup"
  sqlite3 "$root/storage/databases/database.sqlite" .dump >"$root.backup.sql"
  git -C "$root" stash -q || true
  git -C "$root" checkout -q master
  git -C "$root" pull -q origin master
  chown -R "$user:$group" "$root/storage" "$root/bootstrap/cache"
  chmod -R 2775 "$root/storage" "$root/bootstrap/cache"
  (cd "$root" && composer install -q --no-dev --ignore-platform-reqs --no-interaction)
  (cd "$root" && php artisan migrate --seed --force -q)
  (cd "$root" && php artisan cache:clear -q && php artisan config:clear -q)
}

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%d", m}'; }
minmax() { sort -n | awk 'NR==1{mn=$1} {mx=$1} END {printf "%d–%d", mn, mx}'; }

: >"$work/mwin" >"$work/steps" >"$work/script" >"$work/dfk" >"$work/window" >"$work/noop_script" >"$work/noop_dfk"
for ((i = 1; i <= runs; i++)); do
  echo "upgrade.sh: run $i/$runs" >&2
  a=$(SANDBOX_QUIET=1 "$here/scripts/make-sandbox.sh" "$work/a$i")
  b=$(SANDBOX_QUIET=1 "$here/scripts/make-sandbox.sh" "$work/b$i")
  sync
  t0=$(ms); guide "$a"; t1=$(ms)
  echo $((t1 - t0)) >>"$work/script"
  t0=$(ms); guide "$a"; t1=$(ms)
  echo $((t1 - t0)) >>"$work/noop_script"
  t0=$(ms)
  "$bin/df-upgrade" --root "$b" --user "$user" --group "$group" --skip restart -q \
    --into "$work/sets$i/s" >"$work/r$i.json"
  t1=$(ms)
  echo $((t1 - t0)) >>"$work/dfk"
  jq '[.data.steps as $s | ($s | map(.name) | index("down")) as $d | ($s | map(.name) | index("up")) as $u
       | $s[$d:$u+1][] | .duration_ms] | add' "$work/r$i.json" >>"$work/window"
  jq '.data.maintenance_ms' "$work/r$i.json" >>"$work/mwin"
  echo "run $i" >>"$work/steps"
  jq -r '.data.steps[] | select(.skipped | not) | "\(.name) \(.duration_ms)"' "$work/r$i.json" >>"$work/steps"
  t0=$(ms)
  "$bin/df-upgrade" --root "$b" --user "$user" --group "$group" --skip restart -q >"$work/n$i.json"
  t1=$(ms)
  jq -e '.changed == false' "$work/n$i.json" >/dev/null || { echo "upgrade.sh: the no-op run changed something" >&2; exit 1; }
  echo $((t1 - t0)) >>"$work/noop_dfk"
done

s=$(median <"$work/script"); d=$(median <"$work/dfk"); w=$(median <"$work/window")
ns=$(median <"$work/noop_script"); nd=$(median <"$work/noop_dfk")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
echo "Sandbox v1 → v2 (SQLite), $runs runs, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| measure | guide's script | df-upgrade | ratio | target |"
echo "|---|---|---|---|---|"
echo "| whole run, ms (median, min–max) | $s ($(minmax <"$work/script")) | $d ($(minmax <"$work/dfk")) | $(ratio "$d" "$s") | — |"
m=$(median <"$work/mwin")
echo "| maintenance window (maintenance_ms: down file written → up), ms | $s (no window: exposed the whole run) | $m ($(minmax <"$work/mwin")) | $(ratio "$m" "$s") | ≤ 0.5× |"
echo "| steps from down to up, summed (down's PHP run included), ms | $s | $w ($(minmax <"$work/window")) | $(ratio "$w" "$s") | — |"
echo "| no-op run, ms | $ns ($(minmax <"$work/noop_script")) | $nd ($(minmax <"$work/noop_dfk")) | $(ratio "$nd" "$ns") | ≤ 0.5× |"
echo
echo "df-upgrade's steps before the window (median ms of $runs runs; stage: the sum of its three parts):"
for step in backup fetch stage; do
  v=$(awk -v s="$step" '$1 == "run" { r = $2 } $1 == s { sum[r] += $2 } END { for (k in sum) print sum[k] }' "$work/steps" | median)
  echo "  $step $v"
done
echo "df-upgrade's window, step by step (median ms of $runs runs):"
for step in down dump git composer migrate clear perms up; do
  v=$(awk -v s="$step" '$1 == s { print $2 }' "$work/steps" | median)
  echo "  $step $v"
done

if [ "${PROBE:-1}" != 0 ]; then
  (cd "$here" && cargo test --locked --test df_upgrade --no-run --quiet 2>/dev/null)
  t=$(cd "$here" && cargo test --locked --test df_upgrade --no-run --message-format=json 2>/dev/null \
      | jq -r 'select(.profile.test == true and .target.name == "df_upgrade") | .executable' | tail -1)
  : >"$work/probe"
  for ((i = 1; i <= runs; i++)); do
    echo "upgrade.sh: served run $i/$runs" >&2
    DFKIT_BENCH_BIN_DIR=$bin DFKIT_PROBE_MS=${PROBE_MS:-10} DFKIT_BENCH_WINDOW_OUT=$work/probe \
      "$t" --exact no_error_page_during_the_upgrade --quiet >/dev/null 2>&1 \
      || { echo "upgrade.sh: the served run failed (run the test by hand)" >&2; exit 1; }
  done
  echo
  echo "Served by nginx + php-fpm, graceful reload, a prober every ${PROBE_MS:-10} ms ($runs runs):"
  echo "  503s seen by the prober, ms: $(cut -d' ' -f1 "$work/probe" | median) ($(cut -d' ' -f1 "$work/probe" | minmax))"
  echo "  df-upgrade's down→up, ms:    $(cut -d' ' -f2 "$work/probe" | median) ($(cut -d' ' -f2 "$work/probe" | minmax))"
fi
