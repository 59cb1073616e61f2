#!/usr/bin/env bash
# Makes what the bureau's IT installs from, into dist/ (issue 36 §1):
#   fayuan_<version>-1_amd64.deb          统信UOS, Debian (cargo deb)
#   fayuan-<version>-1.x86_64.rpm         银河麒麟 server, openEuler (cargo generate-rpm)
#   fayuan-<version>-vendored.tar.gz      the source with every crate (cargo vendor): builds
#                                         with no network (`cargo build --release --offline`)
#   SHA256SUMS
#
#   packaging/build.sh          a release build first (25–30 minutes from nothing)
#   packaging/build.sh --dev    a dev-profile build (CI: about 7 minutes from nothing)
#
# The program is linked against glibc 2.28 (cargo zigbuild, the target
# x86_64-unknown-linux-gnu.2.28), so the packages install on 银河麒麟 V10, 统信UOS V20 and
# openEuler as on Debian 12 — a plain build would need the glibc of the machine it was built on.
# It builds in a target folder of its own (`$CARGO_TARGET_DIR-package`): the tests' build stays.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
fast=()
if [ "${1:-}" = --dev ]; then
  profile=dev
  fast=(--fast)
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}-package"
triple=x86_64-unknown-linux-gnu
glibc=2.28

# The packagers, at the versions this script was written for.
command -v cargo-deb >/dev/null || CARGO_TARGET_DIR=/var/tmp/fayuan-tools cargo install --locked --quiet cargo-deb@3.8.0
command -v cargo-generate-rpm >/dev/null || CARGO_TARGET_DIR=/var/tmp/fayuan-tools cargo install --locked --quiet cargo-generate-rpm@0.21.1
# zig as the linker, with the glibc 2.28 symbol lists (both from PyPI); their programs are in
# Python's scripts folder, which may not be on PATH (pyenv's shims are made only on a rehash).
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
command -v cargo-zigbuild >/dev/null || python3 -m pip install -q --root-user-action=ignore ziglang==0.17.1 cargo-zigbuild==0.24.1
command -v cargo-zigbuild >/dev/null || { echo "build.sh: cargo-zigbuild not found after installing it" >&2; exit 1; }

rm -rf dist
mkdir -p dist
if [ "$profile" = release ]; then
  cargo zigbuild --locked --release --target "$triple.$glibc" --bin fayuan
else
  cargo zigbuild --locked --target "$triple.$glibc" --bin fayuan
fi
# No symbol newer than glibc 2.28.
newest=$(objdump -T "$CARGO_TARGET_DIR/$triple/$( [ "$profile" = dev ] && echo debug || echo release )/fayuan" \
  | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1)
[ "$newest" = "GLIBC_$glibc" ] || { echo "build.sh: the program needs $newest, not GLIBC_$glibc" >&2; exit 1; }

# cargo-deb warns that a dev-profile package is not for release: it is not (CI installs it to
# check the package, then removes it).
cargo deb --locked --no-build --target "$triple" --profile "$profile" "${fast[@]}" --quiet -o dist/
cargo generate-rpm --target "$triple" --profile "$profile" --payload-compress gzip -o dist/

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
