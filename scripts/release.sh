#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds everything and packs build/release/peregrine-<version>-linux-<arch>.tar.gz:
# a tree that runs as is on a node with Node.js 20 and nothing else (no clang, no
# compiler, no download): the compiled JS, the CO-RE kernel objects, the native
# addon, the default policies and rules, production npm packages, the systemd
# unit and install.sh / uninstall.sh. Every step prints one progress line.
set -eu
cd "$(dirname "$0")/.."

say() { printf 'release: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# The objects must come from the committed vmlinux.h: built against the build
# host's own BTF they would be tied to its kernel (docs/kernels.md).
case "$(uname -m)" in
x86_64) karch=x86 ;;
aarch64) karch=arm64 ;;
*) karch=$(uname -m) ;;
esac
[ -s "bpf/vmlinux/$karch/vmlinux.h" ] || die "no committed bpf/vmlinux/$karch/vmlinux.h: objects would be tied to this host's kernel"

say "building (scripts/bootstrap.sh)"
sh scripts/bootstrap.sh

version=$(node -p 'require("./package.json").version')
# Node's name for the architecture, like Node's own tarballs: the addon is per Node arch.
arch=$(node -p process.arch)
name=peregrine-$version-linux-$arch
out=build/release
stage=$out/$name
tarball=$out/$name.tar.gz

say "staging $stage"
rm -rf "$stage" "$tarball"
mkdir -p "$stage/bin" "$stage/build/bpf" "$stage/build/Release" "$stage/dist" "$stage/docs" "$stage/deploy/systemd"

cp bin/peregrine.js "$stage/bin/"
chmod 0755 "$stage/bin/peregrine.js"
# The agent's compiled JS only: no unit tests, no source maps (they point at
# TypeScript the tree does not hold), nothing from test/, scripts/ or bench/.
(cd dist && find src -name '*.js' ! -name '*.test.js' -print) | while read -r f; do
	mkdir -p "$stage/dist/$(dirname "$f")"
	cp "dist/$f" "$stage/dist/$f"
done
cp build/bpf/*.bpf.o "$stage/build/bpf/"
cp build/Release/peregrine_native.node "$stage/build/Release/"
cp -R policies rules patches proto "$stage/"
cp deploy/systemd/peregrine.service "$stage/deploy/systemd/"
cp deploy/install.sh deploy/uninstall.sh "$stage/"
chmod 0755 "$stage/install.sh" "$stage/uninstall.sh"
cp docs/install.md "$stage/docs/"
cp package-lock.json "$stage/"
# package.json without its scripts: they build from sources the tree does not
# hold (npm start would run scripts/bootstrap.sh).
node -e '
const p = require("./package.json");
delete p.scripts;
process.stdout.write(JSON.stringify(p, null, 2) + "\n");
' >"$stage/package.json"
git rev-parse HEAD >"$stage/COMMIT" 2>/dev/null || echo unknown >"$stage/COMMIT"

say "installing production npm packages from the lockfile"
# npm install --no-save, not npm ci: npm ci checks the whole lockfile against
# package.json, dev packages included, even with --omit=dev, so it rejects the
# lockfile for the reason scripts/bootstrap.sh gives (biome's per-platform
# optional packages). --no-save never rewrites the lockfile; --ignore-scripts:
# no production package needs an install script, and none may compile or
# download anything. --prefer-offline reuses the cache the build just filled.
(cd "$stage" && npm install --omit=dev --no-save --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
# npm's own bookkeeping file is not part of the package set.
rm -f "$stage/node_modules/.package-lock.json"

# Nothing in the tree may need a compiler: none of our C or TypeScript sources
# or gyp files, and no npm package that builds native code (some packages ship
# their .ts sources beside the JS; those are never compiled, so they may stay).
stray=$(find "$stage" -path "$stage/node_modules" -prune -o \( -name '*.c' -o -name '*.h' -o -name '*.ts' -o -name '*.gyp' \) -print | head -n 5)
[ -z "$stray" ] || die "build sources in the release tree: $stray"
stray=$(find "$stage/node_modules" \( -name binding.gyp -o -name '*.node' \) -print | head -n 5)
[ -z "$stray" ] || die "npm packages with native code in the release tree: $stray"

say "packing $tarball"
# Owner root, numeric: the tree unpacks the same whoever built it.
tar -C "$out" --owner=0 --group=0 --numeric-owner -czf "$tarball" "$name"
say "done: $tarball ($(du -k "$tarball" | cut -f1) KiB)"
