#!/usr/bin/env bash
# df-backup-env show on large .env files: parsing is linear in the number of lines.
#
#   scripts/bench/envshow.sh                      # builds target/release/df-backup-env, prints a table
#   LINES="40000 500000" RUNS=3 scripts/bench/envshow.sh
#
# The generated .env mixes what real ones hold: comments, blank lines, plain, double- and
# single-quoted values, `${VAR}` expansion, `export`, inline comments, duplicates (last
# wins), multi-line values, and three secrets (APP_KEY, DB_PASSWORD, a token). Each size is
# run $RUNS times (median wall and CPU time, peak RSS), both `show` (the whole file as JSON: every
# variable and every definition) and `--dry-run save` (reading, checking and warning, with a
# small report); one run's JSON is checked with jq (the number of keys). Not a test: nothing asserts on time. docs/benchmarks.md
# records the results.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
runs=${RUNS:-3}
sizes=${LINES:-"40000 200000 500000"}

command -v jq >/dev/null || { echo "envshow.sh: needs jq" >&2; exit 69; }
bin=${DF_BACKUP_ENV:-$here/target/release/df-backup-env}
if [ -z "${DF_BACKUP_ENV:-}" ]; then
  (cd "$here" && cargo build --release --locked --quiet --bin df-backup-env)
fi

work=$(mktemp -d /var/tmp/dfkit-bench-env.XXXXXX)
trap 'rm -rf "$work"' EXIT

gen() { # LINES FILE
  awk -v n="$1" 'BEGIN {
    print "APP_KEY=base64:Wd4hV6oYqvEPi1ZlbA5Cy0IH6uMfU0Tkuvy0pi2Wb3k="
    print "DB_CONNECTION=sqlite"
    print "DB_PASSWORD=\"s3cr#t pass\""
    print "DF_API_TOKEN=tok3nvalue"
    i = 4
    while (i < n) {
      m = i % 8
      if (m == 0) printf "# section %d: a comment line\n", i
      else if (m == 1) printf "K%d=value%d\n", i, i
      else if (m == 2) printf "Q%d=\"quoted ${K%d} %d\"\n", i, i - 1, i
      else if (m == 3) printf "S%d=%csingle %d%c\n", i, 39, i, 39
      else if (m == 4) printf "export LONGNAME%d=v%d # note\n", i, i
      else if (m == 5) printf "K%d=dup%d\n", i - 4, i
      else if (m == 6) printf "\n"
      else { printf "M%d=\"multi\nline %d\"\n", i, i; i++ }
      i++
    }
  }' > "$2"
}

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

echo "envshow.sh: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| lines | size | keys | \`show\` wall | \`show\` CPU | peak RSS | \`--dry-run save\` wall | \`--dry-run save\` CPU |"
echo "|---|---|---|---|---|---|---|---|"
med() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
# $RUNS timed runs of "$@": median wall (ms), median CPU = user + system (ms; steadier on
# a busy machine), peak RSS (MiB).
timed() {
  local walls=() cpus=() out kb u s
  rss=0
  for ((r = 0; r < runs; r++)); do
    t0=$(date +%s%N)
    out=$( { /usr/bin/time -f '%M %U %S' "$@" >/dev/null; } 2>&1 | tail -1)
    walls+=("$(ms "$t0")")
    read -r kb u s <<<"$out"
    cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%d", (u + s) * 1000 }')")
    [ "$kb" -gt "$rss" ] && rss=$kb
  done
  wall=$(med "${walls[@]}")
  cpu=$(med "${cpus[@]}")
  rss=$((rss / 1024))
}
for n in $sizes; do
  f=$work/env-$n
  gen "$n" "$f"
  size=$(du -h "$f" | cut -f1)
  keys=$("$bin" --env "$f" show 2>/dev/null | jq '.data.keys | length')
  timed "$bin" --quiet --env "$f" show
  show="| ${wall} ms | ${cpu} ms | ${rss} MiB"
  # Parse + warnings + a small report: what every subcommand pays for reading the file.
  timed "$bin" --quiet --env "$f" --dry-run save --into "$work/set"
  echo "| $n | $size | $keys $show | ${wall} ms | ${cpu} ms |"
done
