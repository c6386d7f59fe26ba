#!/usr/bin/env bash
# Build dfkit's release binaries twice, each time from an empty target dir, and compare
# their sha256s. What keeps the builds equal: the Cargo.lock (--locked), build paths
# remapped (--remap-path-prefix: the checkout, the cargo home and the target dir all show
# as fixed names), SOURCE_DATE_EPOCH from the last commit (nothing in dfkit embeds a build
# time; this is for any dependency that would), no incremental compilation.
# Exit 0 when every binary is bit-for-bit identical, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd -P)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
work=${REPRO_DIR:-$src/target/reproducible}
build=$work/build
tools=(df-backup-env df-dump-db df-git-update df-perms df-artisan df-restart df-verify df-upgrade df-migrate)

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export CARGO_INCREMENTAL=0
export RUSTFLAGS="--remap-path-prefix=$src=/dfkit --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$build=/target ${RUSTFLAGS:-}"

rm -rf "$work"
mkdir -p "$work"
for n in 1 2; do
  rm -rf "$build"
  echo "reproducible-check: build $n of 2 (empty $build)" >&2
  cargo build --locked --release --quiet --target-dir "$build"
  mkdir -p "$work/$n"
  for t in "${tools[@]}"; do cp "$build/release/$t" "$work/$n/$t"; done
done
rm -rf "$build"

status=0
for t in "${tools[@]}"; do
  a=$(sha256sum <"$work/1/$t" | cut -d' ' -f1)
  b=$(sha256sum <"$work/2/$t" | cut -d' ' -f1)
  if [ "$a" = "$b" ]; then
    echo "same      $a  $t"
  else
    echo "DIFFERENT $a $b  $t"
    status=1
  fi
done
# The checkout's path must not leak into a binary.
for t in "${tools[@]}"; do
  if grep -qaF "$src" "$work/1/$t"; then
    echo "path leak: $t holds $src" >&2
    status=1
  fi
done
if [ "$status" = 0 ]; then
  echo "reproducible-check: ${#tools[@]} binaries identical across two clean builds" >&2
else
  echo "reproducible-check: the builds differ (binaries kept in $work/1 and $work/2; try diffoscope)" >&2
fi
exit "$status"
