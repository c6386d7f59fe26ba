#!/usr/bin/env bash
# df-backup-env snapshot vs `cp -a` (the guide's `cp -r dreamfactory dreamfactory.backup`)
# on a DreamFactory-shaped tree.
#
#   scripts/bench/snapshot.sh                               # VENDOR_FILES="10000 100000" RUNS=5
#   VENDOR_FILES=10000 RUNS=5 scripts/bench/snapshot.sh
#
# The tree: a sandbox install (scripts/make-sandbox.sh: a Laravel 8 skeleton, .git, a
# composer-installed vendor/, storage/, a SQLite database), plus, per size, a generated
# vendor/ of about VENDOR_FILES more files shaped like composer packages
# (vendor/bench-vendorNNN/packageN/{composer.json,README.md,src/DirN/ClassN.php}, PHP-like
# text of log-normal sizes, median ~2.4 KB, mean ~4 KB) and a few vendor/bin symlinks.
# Side by side, per size, $RUNS runs each (hyperfine; warm page cache: the tree is read
# once and each command gets a warm-up run; before every run the copy is removed and the
# machine synced, so no run pays for the previous one's dirty pages):
#   cp -a:          cp -a ROOT DEST                 (nothing flushed to disk)
#   cp -a + sync:   cp -a ROOT DEST && sync         (for comparison: durable, like the snapshot;
#                                                    `sync` flushes the whole machine)
#   df-backup-env:  df-backup-env --root ROOT --quiet snapshot --into SET
#                   (owners, modes, symlinks, hard links, mtimes; counted again by a
#                   second walk; flushed to disk before the rename)
# CPU is hyperfine's mean user+system time (steadier than wall on a busy machine). Peak RSS
# is GNU time's %M of one more run of each. Prints a markdown table, writes the
# figures to target/bench/snapshot.tsv (scripts/bench/results.sh). Needs hyperfine, jq, GNU
# time, and what make-sandbox.sh needs (php, composer, git, sqlite3). Not a test: nothing
# asserts on time.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/scripts/bench/results.sh"
runs=${RUNS:-5}
sizes=${VENDOR_FILES:-10000 100000}

for p in hyperfine jq /usr/bin/time php composer git sqlite3 python3; do
  command -v "$p" >/dev/null || { echo "snapshot.sh: needs $p" >&2; exit 69; }
done
bin=${DF_BACKUP_ENV:-$here/target/release/df-backup-env}
if [ -z "${DF_BACKUP_ENV:-}" ]; then
  (cd "$here" && cargo build --release --locked --quiet --bin df-backup-env)
fi

work=$(mktemp -d /var/tmp/dfkit-bench-snapshot.XXXXXX)
trap 'rm -rf "$work"' EXIT
export COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_DISABLE_NETWORK=1

echo "snapshot.sh: building the sandbox install" >&2
root=$(SANDBOX_QUIET=1 "$here/scripts/make-sandbox.sh" "$work/sandbox" | tail -1)
[ -f "$root/artisan" ] || { echo "snapshot.sh: no install at '$root'" >&2; exit 1; }

gen_vendor() { # gen_vendor VENDOR_DIR FILES: the generated packages, replacing earlier ones
  rm -rf "$1"/bench-vendor* "$1/bin"
  python3 - "$1" "$2" <<'PY'
import os, random, sys
base, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(14)
text = b"<?php\n\nnamespace Bench\\Generated;\n\n" + b"    public function value(): int { return 42; } // a line of a class\n" * 900
made, v = 0, 0
while made < n:
    for p in range(8):  # 8 packages per vendor, 4 source directories of up to 50 classes each
        pkg = os.path.join(base, "bench-vendor%03d" % v, "package%d" % p)
        os.makedirs(pkg, exist_ok=True)
        for name in ("composer.json", "README.md"):
            with open(os.path.join(pkg, name), "wb") as f:
                f.write(text[: rnd.randint(300, 3000)])
            made += 1
        for d in range(4):
            dd = os.path.join(pkg, "src", "Dir%d" % d)
            os.makedirs(dd, exist_ok=True)
            for c in range(50):
                size = min(int(rnd.lognormvariate(7.8, 1.0)), len(text))
                with open(os.path.join(dd, "Class%d.php" % c), "wb") as f:
                    f.write(text[:size])
                made += 1
                if made >= n:
                    break
            if made >= n:
                break
        if made >= n:
            break
    v += 1
os.makedirs(os.path.join(base, "bin"), exist_ok=True)
for i in range(10):
    os.symlink("../bench-vendor000/package0/src/Dir0/Class%d.php" % i, os.path.join(base, "bin", "tool%d" % i))
PY
}

bench() { # name command → "median min max cpu" (ms; cpu: mean user+system)
  local out=$work/$1.json
  hyperfine --style none --runs "$runs" --warmup 1 --prepare "rm -rf $work/dest $work/set && sync" \
    --export-json "$out" "$2" >&2
  jq -r '.results[0] | [.median, .min, .max, .user + .system] | map(. * 10000 | round / 10) | join(" ")' "$out"
}
rss() { # command → peak RSS in MiB
  rm -rf "$work/dest" "$work/set"
  /usr/bin/time -f %M -o "$work/rss" sh -c "$1" >/dev/null
  awk '{ printf "%.1f", $1 / 1024 }' "$work/rss"
}
cell() { read -r m lo hi _ <<<"$1"; printf '%.0f (%.0f–%.0f)' "$m" "$lo" "$hi"; }
cpu() { read -r _ _ _ c <<<"$1"; printf '%.0f' "$c"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, A, " "); split(b, B, " "); printf "%.2f×", A[1] / B[1] }'; }

cp_cmd="cp -a $root $work/dest"
sync_cmd="cp -a $root $work/dest && sync"
df_cmd="$bin --root $root --quiet snapshot --into $work/set >/dev/null"

results_open snapshot
echo "Machine: $(nproc) cores, $(uname -sr), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(df -T "$work" | awk 'NR==2 {print $2}'); $runs runs per cell; ms as median (min–max); CPU = mean user+system; warm page cache."
echo
echo "| vendor files | entries | MiB | cp -a | df-backup-env snapshot | ratio | cp -a && sync | ratio | CPU cp -a / snapshot | df-backup-env peak RSS | cp -a peak RSS | load before |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in $sizes; do
  echo "snapshot.sh: generating ~$n vendor files" >&2
  gen_vendor "$root/vendor" "$n"
  entries=$(($(find "$root" | wc -l) - 1))
  mib=$(du -sm --apparent-size "$root" | cut -f1)
  find "$root" -type f -exec cat {} + >/dev/null # warm the page cache
  load=$(load1)
  cp_t=$(bench cp "$cp_cmd")
  df_t=$(bench df "$df_cmd")
  sync_t=$(bench sync "$sync_cmd")
  cp_rss=$(rss "$cp_cmd")
  df_rss=$(rss "$df_cmd")
  # The snapshot really is a faithful, verified copy of every entry: check one run's report.
  rm -rf "$work/set"
  "$bin" --root "$root" --quiet snapshot --into "$work/set" |
    jq -e --argjson n "$entries" '.ok and .data.verified and .data.entries == $n' >/dev/null ||
    { echo "snapshot.sh: the snapshot's report does not say $entries entries, verified" >&2; exit 1; }
  rm -rf "$work/dest" "$work/set"

  echo "| $n | $entries | $mib | $(cell "$cp_t") | $(cell "$df_t") | $(ratio "$df_t" "$cp_t") | $(cell "$sync_t") | $(ratio "$df_t" "$sync_t") | $(cpu "$cp_t") / $(cpu "$df_t") | $df_rss MiB | $cp_rss MiB | $load |"
  read -r dm dlo dhi _ <<<"$df_t"
  read -r cm clo chi _ <<<"$cp_t"
  results_row snapshot snapshot "vendor $((n / 1000))k ($entries entries)" ms "$dm" "$dlo" "$dhi" "$cm" "$clo" "$chi" "${SNAPSHOT_TARGET:-}" "$load"
  results_row snapshot snapshot-rss "vendor $((n / 1000))k ($entries entries)" MiB "$df_rss" "" "" "" "" "" "" "$load"
done
echo
echo "Ratios are df-backup-env / cp -a (then / cp -a && sync). Load average after: $(cut -d' ' -f1-3 /proc/loadavg). Figures in $results_dir/snapshot.tsv."
