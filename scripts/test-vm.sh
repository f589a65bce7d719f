#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the tests that need BPF-LSM, fentry or kprobes (test/kernel/vm/ and any
# other dist/**/vm/ folder) inside a QEMU guest booting Debian's stock kernel
# with BPF-LSM on, through ../shared/vmtest/vmtest.sh next to this repository.
# Build on the host first (npm run build): the guest runs the host's files.
set -eu
cd "$(dirname "$0")/.."
vmtest=../shared/vmtest/vmtest.sh
if [ ! -x "$vmtest" ]; then
	echo "peregrine: vm tests skipped: $vmtest not found (it boots a BPF-LSM kernel under QEMU)" >&2
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "peregrine: vm tests skipped: vmtest needs root" >&2
	exit 0
fi
files=$(find dist -path '*/vm/*' -name '*.test.js' | sort)
if [ -z "$files" ]; then
	echo "peregrine: no compiled vm tests under dist/ (npm run build first)" >&2
	exit 1
fi
echo "peregrine: running $(echo "$files" | wc -l) vm test files in a BPF-LSM guest" >&2
# shellcheck disable=SC2086
exec "$vmtest" -t 900 -e CI "$PWD" node --test --test-concurrency=1 $files
