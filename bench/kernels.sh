#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Kernel objects per kernel: verified instructions, deepest stack and load time
# of every program, measured by the verifier itself (scripts/verifier-stats.ts)
# on this machine's kernel and on each Debian kernel of the test matrix booted
# under ../shared/vmtest (QEMU, TCG: guest load times are ~10x the host's and
# say nothing about a real 6.1 machine; instruction and stack counts are exact).
# Prints the markdown tables of bench/README.md ("Kernel objects").
#
# Needs root; builds first. PEREGRINE_MATRIX as in scripts/test-matrix.sh.
set -eu
cd "$(dirname "$0")/.."
kernels=${PEREGRINE_MATRIX:-linux-image-amd64 linux-image-6.12-amd64}
out=build/bench/kernels
sh scripts/build.sh >&2
mkdir -p "$out" # after the build: a native rebuild starts from an empty build/
node dist/scripts/verifier-stats.js --json >"$out/host.json"
for k in $kernels; do
	pkg=$(apt-cache depends "$k" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	[ -n "$pkg" ] || pkg=$k
	echo "bench: kernels: $pkg" >&2
	VMTEST_KERNEL_PKG=$pkg ../shared/vmtest/vmtest.sh -t 900 "$PWD" \
		sh -c "node dist/scripts/verifier-stats.js --json > $out/$pkg.json"
done
node dist/bench/kernels.js "$out"/*.json
