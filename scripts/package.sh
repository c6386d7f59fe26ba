#!/usr/bin/env bash
# Man pages, shell completions and the Debian package, from built binaries.
#
#   scripts/package.sh man          -> $DIST/man/man1/df-*.1 (one page per tool and subcommand)
#   scripts/package.sh completions  -> $DIST/completions/{bash/df-*,zsh/_df-*,fish/df-*.fish}
#   scripts/package.sh deb          -> $DIST/dfkit_VERSION_ARCH.deb (binaries, man pages,
#                                      completions, docs), built with dpkg-deb alone
#
# BIN_DIR: where the built tools are (default target/release; `make` builds them first).
# DIST: where the output goes (default dist). DEB_COMPRESS: dpkg-deb's -Z (default xz). The man pages and completions come from each
# tool itself (its hidden --generate-man / --generate-completions flags, lib/report/generate.rs),
# so they always match the binaries. The output is reproducible: no dates, gzip -n, and
# SOURCE_DATE_EPOCH (the last commit's time when unset) for the .deb's file times.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=(df-backup-env df-dump-db df-git-update df-perms df-artisan df-restart df-verify df-upgrade df-migrate)
BIN_DIR=${BIN_DIR:-target/release}
DIST=${DIST:-dist}

die() { echo "package.sh: $*" >&2; exit 1; }

check_bins() {
  for t in "${TOOLS[@]}"; do
    [ -x "$BIN_DIR/$t" ] || die "$BIN_DIR/$t is missing: build first (make build)"
  done
}

man_pages() {
  check_bins
  rm -rf "$DIST/man"
  for t in "${TOOLS[@]}"; do
    "$BIN_DIR/$t" --generate-man "$DIST/man/man1"
  done
  echo "man pages in $DIST/man/man1 ($(ls "$DIST/man/man1" | wc -l) pages)"
}

completions() {
  check_bins
  rm -rf "$DIST/completions"
  for t in "${TOOLS[@]}"; do
    "$BIN_DIR/$t" --generate-completions "$DIST/completions"
  done
  echo "completions in $DIST/completions/{bash,zsh,fish}"
}

# Cargo.toml's package version, e.g. 0.1.0.
version() {
  sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n1
}

deb() {
  command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"
  man_pages
  completions
  local ver arch pkg root doc
  ver=$(version)
  arch=$(dpkg --print-architecture)
  pkg="$DIST/dfkit_${ver}_${arch}.deb"
  root=$(mktemp -d "${TMPDIR:-/tmp}/dfkit-deb.XXXXXX")
  trap 'rm -rf "$root"' RETURN
  chmod 0755 "$root"
  doc="$root/usr/share/doc/dfkit"
  install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" "$doc" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
  for t in "${TOOLS[@]}"; do
    install -m 0755 -s "$BIN_DIR/$t" "$root/usr/bin/$t"
  done
  for f in "$DIST"/man/man1/*.1; do
    gzip -9n <"$f" >"$root/usr/share/man/man1/$(basename "$f").gz"
  done
  install -m 0644 "$DIST"/completions/bash/* "$root/usr/share/bash-completion/completions/"
  install -m 0644 "$DIST"/completions/zsh/* "$root/usr/share/zsh/vendor-completions/"
  install -m 0644 "$DIST"/completions/fish/* "$root/usr/share/fish/vendor_completions.d/"
  install -m 0644 README.md "$doc/README.md"
  for f in docs/*.md docs/*.svg; do [ -e "$f" ] && install -m 0644 "$f" "$doc/$(basename "$f")"; done
  cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: dfkit
License: Apache-2.0

Files: *
Copyright: the dfkit authors
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
  local size
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  cat >"$root/DEBIAN/control" <<EOF
Package: dfkit
Version: $ver
Architecture: $arch
Maintainer: dfkit maintainers <dfkit@localhost>
Installed-Size: $size
Depends: libc6, libgcc-s1
Recommends: git, php-cli, composer
Suggests: mariadb-client, postgresql-client, sqlite3, zstd
Section: admin
Priority: optional
Description: safe tools to upgrade and migrate DreamFactory instances
 Small Unix tools (df-backup-env, df-dump-db, df-git-update, df-perms,
 df-artisan, df-restart, df-verify) and the wrappers df-upgrade and df-migrate
 that run them. Each prints one JSON object per run on stdout, with documented
 exit codes; --schema prints the JSON Schema of that object.
EOF
  (cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
  chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
  export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  mkdir -p "$DIST"
  dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$root" "$pkg" >/dev/null
  echo "$pkg"
}

case "${1:-}" in
  man) man_pages ;;
  completions) completions ;;
  deb) deb ;;
  *) die "usage: scripts/package.sh man|completions|deb" ;;
esac
