#!/usr/bin/env bash
# `make demo`: lay out a fresh DreamFactory-shaped sandbox (sqlite) under ./demo and run
# the tools against it. Each tool's JSON report goes to stdout, under a heading on stderr.
# Exit status: 0 when every step succeeded, else the number of failed steps.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bin=$repo/target/release
demo=$repo/demo

die() {
  echo "demo: $*" >&2
  exit 1
}
for t in df-backup-env df-dump-db df-git-update df-perms df-artisan df-verify; do
  [ -x "$bin/$t" ] || die "$bin/$t missing: run 'make build' (or 'make demo')"
done

# Fresh each run; only ever ./demo under this checkout.
rm -rf "$demo"
echo "== scripts/make-sandbox.sh demo" >&2
root=$(SANDBOX_QUIET=1 scripts/make-sandbox.sh "$demo") || die "make-sandbox.sh failed"
echo "install: $root" >&2

user=$(id -un)
group=$(id -gn)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$demo/backups"

failed=0
step() { # step HEADING TOOL ARGS...: print the heading, run, show the JSON, count failures
  local heading=$1 tool=$2
  shift 2
  echo >&2
  echo "== $heading" >&2
  local rc=0
  "$bin/$tool" --root "$root" --pretty "$@" || rc=$?
  if [ $rc -ne 0 ]; then
    echo "demo: $tool exited $rc" >&2
    failed=$((failed + 1))
  fi
}

set_dir=$demo/backups/$stamp
# The guide's minor upgrade, one tool per documented step (what df-upgrade will wrap):
step "1. back up .env" df-backup-env save --into "$set_dir"
step "1. back up the system database" df-dump-db dump --into "$set_dir"
step "1. what the backed-up .env holds (secrets as fingerprints)" df-backup-env show
step "maintenance mode on" df-artisan down
step "2-3. git stash, checkout master, pull" df-git-update update --branch master
step "4. composer install" df-artisan composer-install
step "4. php artisan migrate --seed" df-artisan migrate --seed
step "4. cache:clear and config:clear" df-artisan clear
step "4. chown/chmod storage and bootstrap/cache" df-perms --user "$user" --group "$group"
step "maintenance mode off" df-artisan up
step "verify against the backup set" df-verify --against "$set_dir"
echo >&2
if [ $failed -eq 0 ]; then
  echo "demo: all steps succeeded; the sandbox is in $demo" >&2
else
  echo "demo: $failed step(s) failed; the sandbox is in $demo" >&2
fi
exit $failed
