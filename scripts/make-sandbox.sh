#!/usr/bin/env bash
# Build, offline, a DreamFactory-shaped Laravel 8 install for tests, `make demo` and trying
# the tools without a real DreamFactory (design §6):
#
#   DIR/origin.git    bare repo, branch master; tags v1 (7.0.0) and v2 (7.1.0: one more
#                     migration, a changed composer.json/composer.lock); master = v2
#   DIR/dreamfactory  a clone made when origin was at v1 (so `git pull --ff-only` goes to
#                     v2), composer-installed, .env from .env-dist with a random APP_KEY,
#                     migrated and seeded
#
# Usage: scripts/make-sandbox.sh DIR [--driver sqlite|mysql|pgsql]
#          [--db-host H] [--db-port P] [--db-name N] [--db-user U]
#          [--owner USER[:GROUP]] [--at v1|v2]
# The mysql/pgsql password comes from the environment variable SANDBOX_DB_PASSWORD
# (never argv). The database must exist and be empty. Progress goes to stderr; the last
# (only) line on stdout is the install's root path.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixtures=$here/sandbox

die() {
  echo "make-sandbox: $*" >&2
  exit 1
}
usage() { # usage EXIT: the header's Usage paragraph (stdout for --help, else stderr)
  local text
  text=$(sed -n '/^# Usage:/,/root path\.$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//')
  if [ "$1" = 0 ]; then echo "$text"; else echo "$text" >&2; fi
  exit "$1"
}
say() { [ -n "${SANDBOX_QUIET:-}" ] || echo "make-sandbox: $*" >&2; }

dir=""
driver=sqlite
db_host=127.0.0.1
db_port=""
db_name=dreamfactory
db_user=dfadmin
owner=""
at=v1
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage 0 ;;
    --driver | --db-host | --db-port | --db-name | --db-user | --owner | --at)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --driver) driver=$2 ;;
        --db-host) db_host=$2 ;;
        --db-port) db_port=$2 ;;
        --db-name) db_name=$2 ;;
        --db-user) db_user=$2 ;;
        --owner) owner=$2 ;;
        --at) at=$2 ;;
      esac
      shift 2
      ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      [ -z "$dir" ] || die "only one DIR, got '$dir' and '$1'"
      dir=$1
      shift
      ;;
  esac
done
[ -n "$dir" ] || usage 64
case "$driver" in
  sqlite) ;;
  mysql) db_port=${db_port:-3306} ;;
  pgsql) db_port=${db_port:-5432} ;;
  *) die "--driver must be sqlite, mysql or pgsql, not '$driver'" ;;
esac
case "$at" in v1 | v2) ;; *) die "--at must be v1 or v2, not '$at'" ;; esac
if [ -n "$owner" ]; then
  id -u "${owner%%:*}" >/dev/null 2>&1 || die "--owner: no such user '${owner%%:*}'"
  case "$owner" in
    *:?*) getent group "${owner#*:}" >/dev/null || die "--owner: no such group '${owner#*:}'" ;;
  esac
fi
if [ "$driver" != sqlite ] && [ -z "${SANDBOX_DB_PASSWORD+set}" ]; then
  die "--driver $driver needs the database password in SANDBOX_DB_PASSWORD (may be empty)"
fi

for prog in git php composer; do
  command -v "$prog" >/dev/null 2>&1 || die "$prog not found (run scripts/install-deps.sh)"
done
[ -e /usr/share/php/Illuminate/autoload.php ] ||
  die "Debian's php-laravel-framework is missing (run scripts/install-deps.sh)"
# (captured first: grep -q closing the pipe early would fail the pipeline under pipefail)
php_modules=$(php -m)
grep -qix "pdo_$driver" <<<"$php_modules" || die "PHP extension pdo_$driver missing (run scripts/install-deps.sh)"
[ -d "$fixtures/skeleton" ] || die "fixtures missing: $fixtures/skeleton"

mkdir -p "$dir" || die "cannot create $dir"
dir=$(cd "$dir" && pwd)
origin=$dir/origin.git
root=$dir/dreamfactory
for p in "$origin" "$root"; do
  [ ! -e "$p" ] || die "$p already exists; remove it or choose another DIR"
done

work=$(mktemp -d "$dir/.make-sandbox.XXXXXX")
# Nothing half-done: on failure remove what this run created (SANDBOX_KEEP_FAILED=1 keeps it).
cleanup() {
  local rc=$?
  rm -rf "$work"
  if [ $rc -ne 0 ]; then
    if [ -n "${SANDBOX_KEEP_FAILED:-}" ]; then
      echo "make-sandbox: failed (exit $rc); kept $origin and $root" >&2
    else
      rm -rf "$origin" "$root"
      echo "make-sandbox: failed (exit $rc); removed the partial sandbox" >&2
    fi
  fi
}
trap cleanup EXIT

# Fixed identity and dates: the same fixtures give the same commit ids on every build;
# no global git config is touched.
export GIT_AUTHOR_NAME="DreamFactory Sandbox" GIT_AUTHOR_EMAIL="sandbox@dfkit.invalid"
export GIT_COMMITTER_NAME="DreamFactory Sandbox" GIT_COMMITTER_EMAIL="sandbox@dfkit.invalid"
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
git() { command git -c init.defaultBranch=master -c commit.gpgsign=false -c tag.gpgsign=false \
  -c advice.detachedHead=false "$@"; }
export COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_NO_INTERACTION=1 COMPOSER_DISABLE_NETWORK=1
[ -n "${COMPOSER_HOME:-}" ] || export COMPOSER_HOME="$work/.composer-home"
composer_q() { composer --no-interaction --no-ansi --quiet "$@"; }

release() { # release TAG VERSION DATE: commit the work tree and tag it
  composer_q update --no-install --no-dev --ignore-platform-reqs --working-dir="$work/src" ||
    die "composer update (lock for $2) failed"
  git -C "$work/src" add -A
  GIT_AUTHOR_DATE="$3" GIT_COMMITTER_DATE="$3" git -C "$work/src" commit -q -m "DreamFactory $2"
  GIT_COMMITTER_DATE="$3" git -C "$work/src" tag -a "$1" -m "DreamFactory $2"
}

say "origin: $origin"
mkdir "$work/src"
git init -q "$work/src"
cp -a "$fixtures/skeleton/." "$work/src/"
release v1 7.0.0 "2024-01-15T12:00:00Z"
git init -q --bare "$origin"
git -C "$work/src" push -q "$origin" refs/heads/master refs/tags/v1

# The install is cloned while origin is at v1, as on a server installed before 7.1.0.
say "clone: $root"
git clone -q "$origin" "$root"

cp -a "$fixtures/v2/." "$work/src/"
sed -i "s/'version' => '7.0.0'/'version' => '7.1.0'/" "$work/src/config/app.php"
sed -i 's/"release": "7.0.0"/"release": "7.1.0"/' "$work/src/composer.json"
grep -q "'version' => '7.1.0'" "$work/src/config/app.php" || die "version bump for v2 failed"
release v2 7.1.0 "2024-06-01T12:00:00Z"
git -C "$work/src" push -q "$origin" refs/heads/master refs/tags/v2

if [ "$at" = v2 ]; then
  git -C "$root" pull -q --ff-only origin master
  git -C "$root" fetch -q --tags origin
fi

say "composer install"
(cd "$root" && composer_q install --no-dev --ignore-platform-reqs) || die "composer install failed"

# .env from the .env-dist template: replace KEY= or #KEY= in place, else append.
# Values travel through the environment, never through argv.
set_env() {
  ENV_KEY=$1 ENV_VAL=$2 awk '
    BEGIN { k = ENVIRON["ENV_KEY"]; v = ENVIRON["ENV_VAL"]; done = 0 }
    !done && ($0 ~ "^#?" k "=") { print k "=" v; done = 1; next }
    { print }
    END { if (!done) print k "=" v }
  ' "$root/.env" >"$work/env.tmp"
  cat "$work/env.tmp" >"$root/.env" # keeps the file's mode
}
# phpdotenv double quotes: \ " and $ need a backslash; everything else is literal.
dq() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//\$/\\\$}
  printf '"%s"' "$s"
}
# A plain copy, as DreamFactory's installer makes it (mode from the umask).
cp "$root/.env-dist" "$root/.env"
set_env APP_KEY "base64:$(head -c 32 /dev/urandom | base64 -w0)"
set_env DB_CONNECTION "$driver"
if [ "$driver" = sqlite ]; then
  : >"$root/storage/databases/database.sqlite"
else
  set_env DB_HOST "$db_host"
  set_env DB_PORT "$db_port"
  set_env DB_DATABASE "$db_name"
  set_env DB_USERNAME "$db_user"
  set_env DB_PASSWORD "$(dq "$SANDBOX_DB_PASSWORD")"
fi

say "php artisan migrate --seed --force"
out=$(cd "$root" && php artisan migrate --seed --force --no-interaction 2>&1) || {
  printf '%s\n' "$out" >&2
  die "php artisan migrate --seed failed"
}

if [ -n "$owner" ]; then
  chown -R "$owner" "$root/storage" "$root/bootstrap/cache" || die "chown $owner failed"
fi

[ -z "$(git -C "$root" status --porcelain)" ] || die "the install's work tree is not clean"
trap - EXIT
rm -rf "$work"
say "done ($driver, at $at)"
echo "$root"
