#!/usr/bin/env bash
# Makes what the bureau's IT installs from, into dist/ (issue 36 §1):
#   fayuan_<version>-1_amd64.deb          统信UOS, Debian (cargo deb)
#   fayuan-<version>-1.x86_64.rpm         银河麒麟 server, openEuler (cargo generate-rpm)
#   fayuan-<version>-vendored.tar.gz      the source with every crate (cargo vendor): builds
#                                         with no network (`cargo build --release --offline`)
#   SHA256SUMS
#
#   packaging/build.sh          a release build first (25–30 minutes from nothing)
#   packaging/build.sh --dev    from the dev-profile binary the tests built (CI: a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
fast=()
if [ "${1:-}" = --dev ]; then
  profile=dev
  fast=(--fast)
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# The packagers, at the versions this script was written for.
command -v cargo-deb >/dev/null || CARGO_TARGET_DIR=/var/tmp/fayuan-tools cargo install --locked --quiet cargo-deb@3.8.0
command -v cargo-generate-rpm >/dev/null || CARGO_TARGET_DIR=/var/tmp/fayuan-tools cargo install --locked --quiet cargo-generate-rpm@0.21.1

rm -rf dist
mkdir -p dist
if [ "$profile" = release ]; then
  cargo build --locked --release --bin fayuan
else
  cargo build --locked --bin fayuan
fi

# cargo-deb warns that a dev-profile package is not for release: it is not (CI installs it to
# check the package, then removes it).
cargo deb --locked --no-build --profile "$profile" "${fast[@]}" --quiet -o dist/
cargo generate-rpm --profile "$profile" --payload-compress gzip -o dist/

# The source, from the commit in hand, with every crate it builds with.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name="fayuan-$version"
git archive --format=tar --prefix="$name/" HEAD | tar -x -C "$tmp"
(
  cd "$tmp/$name"
  mkdir -p .cargo
  cargo vendor --locked vendor > .cargo/config.toml 2>/dev/null
)
tar -C "$tmp" -czf "dist/$name-vendored.tar.gz" "$name"

(cd dist && sha256sum -- *.deb *.rpm *.tar.gz > SHA256SUMS)
ls -l dist
