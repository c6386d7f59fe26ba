#!/usr/bin/env bash
# `make demo`: lay out a fresh DreamFactory-shaped sandbox (SQLite) at release v1 under
# ./demo, upgrade it to v2 with df-upgrade (printing its JSON report), then run df-upgrade
# again to show that a second run has nothing to do (`changed: false`).
# Exit status: 0 when both runs did what they should.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bin=$repo/target/release
demo=$repo/demo

die() {
  echo "demo: $*" >&2
  exit 1
}
for t in df-backup-env df-dump-db df-git-update df-perms df-artisan df-restart df-verify df-upgrade; do
  [ -x "$bin/$t" ] || die "$bin/$t missing: run 'make build' (or 'make demo')"
done

# Fresh each run; only ever ./demo under this checkout.
rm -rf "$demo"
echo "== scripts/make-sandbox.sh demo" >&2
root=$(SANDBOX_QUIET=1 scripts/make-sandbox.sh "$demo") || die "make-sandbox.sh failed"
echo "install: $root (release v1, 7.0.0)" >&2

# The demo's lock and backup sets stay under ./demo; on a server the defaults are
# /run/lock/dfkit and /var/backups/dreamfactory/<UTC stamp>.
export DFKIT_LOCK_DIR=$demo/locks
user=$(id -un)
group=$(id -gn)
# No web server serves the sandbox, so the restart step is skipped here; on a server
# df-upgrade reloads nginx/apache and php-fpm and probes --url.
common=(--root "$root" --user "$user" --group "$group" --skip restart --pretty)

echo >&2
echo "== df-upgrade: v1 → v2 (backup, down, dump, git, composer, migrate, clear, perms, up, verify)" >&2
"$bin/df-upgrade" "${common[@]}" --into "$demo/backups/$(date -u +%Y%m%dT%H%M%SZ)" ||
  die "df-upgrade failed (exit $?)"

echo >&2
echo "== df-upgrade again: nothing to do" >&2
out=$("$bin/df-upgrade" "${common[@]}" --into "$demo/backups/second-run") || die "second run failed"
printf '%s\n' "$out"
printf '%s' "$out" | grep -q '"changed": false' || die "the second run changed something"

echo >&2
echo "demo: upgraded $root to $(git -C "$root" describe --tags); the backup set is under $demo/backups" >&2
