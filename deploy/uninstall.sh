#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Removes what install.sh created, exactly the entries of PREFIX/install-manifest:
# stops and disables the unit (where systemd runs), drops the pinned BPF state
# (`peregrine cleanup`), deletes the files, then the directories it made when
# they are empty. /etc/peregrine stays unless --purge. Idempotent.
#   uninstall.sh [--prefix DIR] [--root DESTDIR] [--purge]
set -eu

say() { printf 'uninstall: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}
usage() {
	printf 'usage: uninstall.sh [--prefix DIR] [--root DESTDIR] [--purge]\n' >&2
	exit 2
}

prefix=
destdir=
purge=no
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
	--prefix=*) prefix=${1#--prefix=}; shift ;;
	--root) [ $# -ge 2 ] || usage; destdir=$2; shift 2 ;;
	--root=*) destdir=${1#--root=}; shift ;;
	--purge) purge=yes; shift ;;
	-h | --help) usage ;;
	*) say "unknown option: $1"; usage ;;
	esac
done
destdir=${destdir%/}
if [ -z "$prefix" ]; then
	# Run from an installed tree: its own prefix. Otherwise the default.
	here=$(cd "$(dirname "$0")" && pwd)
	if [ -f "$here/install-manifest" ]; then prefix=${here#"$destdir"}; else prefix=/opt/peregrine; fi
fi
prefix=${prefix%/}
manifest=$destdir$prefix/install-manifest

if [ ! -f "$manifest" ]; then
	say "nothing to do: no $manifest (not installed, or already removed)"
	exit 0
fi
if [ -z "$destdir" ] && [ "$(id -u)" != 0 ]; then
	die "run as root (or with --root DESTDIR for a staging root)"
fi

# The manifest lists itself: work from a copy.
entries=$(mktemp)
trap 'rm -f "$entries"' EXIT
cp "$manifest" "$entries"

# 1. Stop the agent where systemd runs it (a --root tree is never started).
if [ -z "$destdir" ] && [ -d /run/systemd/system ] && systemctl cat peregrine.service >/dev/null 2>&1; then
	systemctl disable --now peregrine.service
	say "systemd: peregrine.service stopped and disabled"
else
	say "systemd: nothing to stop"
fi

# 2. Pinned enforcement (--keep-enforcing) outlives the agent: drop it while
# the agent's code is still here. A failure is reported, not fatal: the files
# still go, and `peregrine cleanup` from another install removes the pins.
agent=$destdir$prefix/bin/peregrine.js
if [ -f "$agent" ] && command -v node >/dev/null 2>&1; then
	if out=$(node "$agent" cleanup 2>&1); then
		say "pins: $(printf '%s' "$out" | head -n 1)"
	else
		say "warning: peregrine cleanup failed, pinned state may remain: $out"
	fi
else
	say "warning: cannot run peregrine cleanup (no node or no $agent)"
fi

# 3. Files first (config only with --purge), then directories deepest first,
# each only when empty: whatever an operator added keeps its directory.
kept=0
while read -r kind path; do
	case "$kind" in
	file) rm -f "$destdir$path" ;;
	conf) if [ "$purge" = yes ]; then rm -f "$destdir$path"; else kept=$((kept + 1)); fi ;;
	esac
done <"$entries"
say "files: removed (configuration $([ "$purge" = yes ] && echo purged || echo "kept: $kept files, --purge removes them"))"
grep -E '^(dir|confdir) ' "$entries" | sort -r -k2 | while read -r kind path; do
	[ "$kind" = confdir ] && [ "$purge" != yes ] && continue
	# /etc/peregrine itself is a plain dir entry: it goes only once empty.
	rmdir "$destdir$path" 2>/dev/null || [ ! -e "$destdir$path" ] || say "kept $path (not empty)"
done

# 4. systemd forgets the unit.
if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
say "done"
