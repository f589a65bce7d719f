#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The kernel matrix: on this machine's kernel and on each Debian kernel of the
# matrix (booted under QEMU by ../shared/vmtest/vmtest.sh, with BPF-LSM on),
# load every kernel object and run the smoke test (dist/test/matrix: exec,
# open, connect, an alert, a deny), check every program against the verifier
# budget (bpf/budget.json), and in the guests run the BPF-LSM / fentry tests
# (dist/**/vm/). Ends with one line per kernel; exits non-zero when any failed.
#
# PEREGRINE_MATRIX lists Debian kernel packages (metapackages are resolved to
# the kernel they depend on today); default: Debian 12's 6.1 and 6.12.
# Build first (npm run build): the guests run the host's files.
set -u
cd "$(dirname "$0")/.."
vmtest=../shared/vmtest/vmtest.sh
kernels=${PEREGRINE_MATRIX:-linux-image-amd64 linux-image-6.12-amd64}

smoke=$(find dist/test/matrix -name '*.test.js' 2>/dev/null | sort | tr '\n' ' ')
vmtests=$(find dist -path '*/vm/*' -name '*.test.js' 2>/dev/null | sort | tr '\n' ' ')
if [ -z "$smoke" ]; then
	echo "peregrine: no compiled matrix tests under dist/test/matrix (npm run build first)" >&2
	exit 1
fi
budget=""
if [ -f dist/scripts/verifier-stats.js ] && [ -f bpf/budget.json ]; then
	budget="node dist/scripts/verifier-stats.js --check bpf/budget.json"
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=""
failed=0

# The kernel package a (meta)package depends on today; empty when apt does not know it.
resolve() {
	apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}

# One line from a run's log: the kernel, the test counts, the budget verdict.
line() { # name log rc
	kernel=$(sed -n 's/^matrix-kernel: //p' "$2" | head -n 1)
	pass=$(sed -n 's/^# pass //p' "$2" | tail -n 1)
	fail=$(sed -n 's/^# fail //p' "$2" | tail -n 1)
	skipped=$(sed -n 's/^# skipped //p' "$2" | tail -n 1)
	if [ -z "$budget" ]; then
		bud="budget not checked"
	elif grep -q '^verifier-stats: within budget' "$2"; then
		bud=$(sed -n 's/^verifier-stats: //p' "$2" | tail -n 1)
	else
		bud="budget FAILED"
	fi
	verdict=ok
	[ "$3" = 0 ] || verdict=FAILED
	printf 'matrix: %-28s %-6s tests %s passed, %s failed, %s skipped; %s (%s)\n' \
		"${kernel:-?}" "$verdict" "${pass:-0}" "${fail:-?}" "${skipped:-0}" "$bud" "$1"
}

# The commands each kernel runs (test files $1), in one shell so a guest boots once.
inner() {
	cmd="echo matrix-kernel: \$(uname -r); rc=0; node --test --test-concurrency=1 --test-timeout=300000 $1 || rc=1"
	[ -z "$budget" ] || cmd="$cmd; $budget || rc=1"
	echo "$cmd; exit \$rc"
}

echo "peregrine: kernel matrix: this machine ($(uname -r)), then $kernels" >&2
sh -c "$(inner "$smoke")" >"$logs/host" 2>&1 &
pid=$!
# Progress while the host part runs: its output as it comes.
tail -n +1 -f "$logs/host" --pid=$pid 2>/dev/null || true
wait $pid
rc=$?
[ "$rc" = 0 ] || failed=1
summary="$(line host "$logs/host" $rc)"

if [ ! -x "$vmtest" ]; then
	summary="$summary
matrix: guests skipped: $vmtest not found (it boots Debian kernels under QEMU)"
elif [ "$(id -u)" != 0 ]; then
	summary="$summary
matrix: guests skipped: vmtest needs root"
else
	for k in $kernels; do
		pkg=$(resolve "$k")
		if [ -z "$pkg" ] && [ -z "${updated:-}" ]; then
			# A fresh machine's package lists may not know the metapackage yet.
			apt-get update -qq >&2 || true
			updated=1
			pkg=$(resolve "$k")
		fi
		[ -n "$pkg" ] || pkg=$k
		echo "peregrine: kernel matrix: booting $pkg" >&2
		log="$logs/$pkg"
		(
			VMTEST_KERNEL_PKG=$pkg "$vmtest" -t 1200 -e CI "$PWD" sh -c "$(inner "$smoke $vmtests")"
			echo $? >"$log.rc"
		) 2>&1 | tee "$log"
		rc=$(cat "$log.rc" 2>/dev/null || echo 1)
		[ "$rc" = 0 ] || failed=1
		summary="$summary
$(line "$pkg" "$log" "$rc")"
	done
fi

echo "$summary"
exit $failed
