#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the kernel objects (bpf/ → build/bpf/*.bpf.o), the native addon
# (native/ → build/Release/peregrine_native.node) and the TypeScript (→ dist/).
# The addon goes first: node-gyp rebuild empties build/.
# Each step is skipped when its outputs are newer than its inputs.
set -eu
cd "$(dirname "$0")/.."

addon=build/Release/peregrine_native.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" 2>/dev/null | head -n 1)" ]; then
	printf 'peregrine: building native addon\n' >&2
	nodedir=""
	# Build against the installed Node headers when present (no download needed).
	for d in /usr /usr/local; do
		if [ -f "$d/include/node/node_api.h" ]; then nodedir="--nodedir=$d"; break; fi
	done
	# shellcheck disable=SC2086
	npx --no-install node-gyp rebuild --silent $nodedir >&2
fi

# After the addon: node-gyp rebuild starts from an empty build/ folder.
sh scripts/build-bpf.sh

stamp=dist/.tsbuild
if [ ! -f "$stamp" ] || [ -n "$(find src test scripts bench tsconfig.json -name '*.ts' -newer "$stamp" -o -name tsconfig.json -newer "$stamp" 2>/dev/null | head -n 1)" ]; then
	printf 'peregrine: compiling TypeScript\n' >&2
	npx --no-install tsc -p tsconfig.json
	mkdir -p dist && touch "$stamp"
fi
