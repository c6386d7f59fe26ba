#!/usr/bin/env bash
# Install the Debian/Ubuntu packages dfkit's tests and demo use, when missing
# (`--bench`: also what scripts/bench.sh uses). As root it runs apt-get; otherwise it
# prints the apt-get line to run.
set -euo pipefail
bench=0
[ "${1:-}" = "--bench" ] && bench=1

# program-or-file  package
wanted=(
  "php:php-cli"
  "/usr/share/php/Illuminate/autoload.php:php-laravel-framework"
  "composer:composer"
  "sqlite3:sqlite3"
  "mariadbd:mariadb-server"
  "mariadb-dump:mariadb-client"
  "pg_dump:postgresql-client"
  "/usr/lib/postgresql:postgresql"
  "nginx:nginx"
  "git:git"
  "curl:curl"
  "jq:jq"
  "zstd:zstd"
  "gzip:gzip"
  "runuser:util-linux"
  # df-migrate's tests: a real sshd, a real Docker daemon with a busybox image, age
  "/usr/sbin/sshd:openssh-server"
  "dockerd:docker.io"
  "/bin/busybox:busybox-static"
  "age-keygen:age"
  # make deb and its test: dpkg-deb, man to render the pages
  "dpkg-deb:dpkg"
  "man:man-db"
  # df-restart's and df-verify's Apache tests; CI parses flake.nix with nix-instantiate
  "apache2:apache2"
  "nix-instantiate:nix-bin"
)
# PHP extensions (checked through php -m once php is there)
php_ext=(
  "pdo_mysql:php-mysql"
  "pdo_pgsql:php-pgsql"
  "pdo_sqlite:php-sqlite3"
  "mbstring:php-mbstring"
  "dom:php-xml"
)

missing=()
have() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
  esac
}
for w in "${wanted[@]}"; do
  have "${w%%:*}" || missing+=("${w##*:}")
done
if command -v php >/dev/null 2>&1; then
  mods=$(php -m 2>/dev/null | tr 'A-Z' 'a-z')
  for w in "${php_ext[@]}"; do
    grep -qx "${w%%:*}" <<<"$mods" || missing+=("${w##*:}")
  done
else
  for w in "${php_ext[@]}"; do missing+=("${w##*:}"); done
fi
ls /usr/sbin/php-fpm* >/dev/null 2>&1 || missing+=("php-fpm")
command -v cargo >/dev/null 2>&1 || missing+=("cargo")
# The fleet tests' virtualenv (scripts/fleet-venv.sh): Debian's python3 with venv, and
# its headers and a C compiler for the one dependency PyPI ships as source only (timelib).
have /usr/bin/python3 || missing+=("python3")
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=("python3-venv")
/usr/bin/python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
  >/dev/null 2>&1 || missing+=("python3-dev")
have cc || missing+=("gcc")
if [ "$bench" = 1 ]; then
  have hyperfine || missing+=("hyperfine")
  have /usr/bin/time || missing+=("time")
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
# de-duplicate, keep order
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages; run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start services: the tests start their own, on free ports.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
