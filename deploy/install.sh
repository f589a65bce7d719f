#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs an unpacked Peregrine release: the tree to PREFIX (/opt/peregrine),
# /usr/local/bin/peregrine, the systemd unit, and the default policies and rules
# into /etc/peregrine/ when that has none (an operator's files are never
# touched). Writes PREFIX/install-manifest, the list uninstall.sh removes.
# Idempotent: a second run replaces the tree and changes nothing else.
#   install.sh [--prefix DIR] [--root DESTDIR] [--no-start]
# --root installs under DESTDIR (packaging, tests) and never touches systemd.
set -eu

say() { printf 'install: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}
usage() {
	printf 'usage: install.sh [--prefix DIR] [--root DESTDIR] [--no-start]\n' >&2
	exit 2
}

prefix=/opt/peregrine
destdir=
start=yes
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
	--prefix=*) prefix=${1#--prefix=}; shift ;;
	--root) [ $# -ge 2 ] || usage; destdir=$2; shift 2 ;;
	--root=*) destdir=${1#--root=}; shift ;;
	--no-start) start=no; shift ;;
	-h | --help) usage ;;
	*) say "unknown option: $1"; usage ;;
	esac
done
case "$prefix" in /*) ;; *) die "--prefix wants an absolute path, got $prefix" ;; esac
case "$destdir" in '' | /*) ;; *) die "--root wants an absolute path, got $destdir" ;; esac
prefix=${prefix%/}
destdir=${destdir%/}
[ -n "$prefix" ] || die "--prefix / would install over the root"

src=$(cd "$(dirname "$0")" && pwd)
[ -f "$src/bin/peregrine.js" ] && [ -f "$src/build/Release/peregrine_native.node" ] ||
	die "$src is not an unpacked release (bin/peregrine.js, build/Release/peregrine_native.node missing)"

# Node.js 20 or newer is the one thing the node needs; its path goes into the unit.
node=$(command -v node 2>/dev/null) || die "node not found in PATH: Peregrine needs Node.js 20 or newer"
major=$("$node" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "$node is Node.js $major: Peregrine needs Node.js 20 or newer"

if [ -z "$destdir" ] && [ "$(id -u)" != 0 ]; then
	die "run as root (or with --root DESTDIR to install into a staging root)"
fi

target=$destdir$prefix
manifest=$target/install-manifest
bindir=/usr/local/bin
unitdir=/etc/systemd/system
confdir=/etc/peregrine
list=$(mktemp)
trap 'rm -f "$list"' EXIT

# Directories this run creates (parents included), recorded so uninstall can
# remove them again when they are empty; existing ones are left out.
mkdirs() {
	_d=$1
	_new=
	while [ ! -d "$destdir$_d" ]; do
		_new="$_d $_new"
		_d=$(dirname "$_d")
	done
	for _n in $_new; do
		mkdir -m 0755 "$destdir$_n"
		printf 'dir %s\n' "$_n" >>"$list"
	done
}

# 1. The tree. An existing PREFIX must be an earlier install (it has a manifest).
if [ -e "$target" ] && [ ! -f "$manifest" ] && [ -n "$(ls -A "$target" 2>/dev/null)" ]; then
	die "$target exists and was not installed by install.sh (no install-manifest): refusing to overwrite it"
fi
old=
if [ -f "$manifest" ]; then
	# Keep what the earlier run recorded outside the tree (directories it made,
	# the config it seeded): this run finds them present and would not.
	old=$(grep -v "^[a-z]* $prefix/" "$manifest" | grep -v "^[a-z]* $prefix\$" || true)
fi
if [ "$src" = "$(cd "$target" 2>/dev/null && pwd || true)" ]; then
	say "tree: already at $target"
else
	mkdirs "$(dirname "$prefix")"
	say "tree: copying $src to $target"
	# Copy beside, then swap: a running agent keeps its open files, and a failed
	# copy leaves the earlier install whole.
	rm -rf "$target.new.$$"
	cp -R "$src" "$target.new.$$"
	rm -f "$target.new.$$/install-manifest"
	if [ -e "$target" ]; then
		mv "$target" "$target.old.$$"
		mv "$target.new.$$" "$target"
		rm -rf "$target.old.$$"
	else
		mv "$target.new.$$" "$target"
	fi
fi
[ -n "$old" ] && printf '%s\n' "$old" | grep -v '^dir '"$prefix"'$' >>"$list" || true
# Every file and directory of the tree, deepest last (uninstall walks backwards).
(cd "$target" && find . -mindepth 1 ! -name install-manifest) | sort | while read -r p; do
	p=$prefix/${p#./}
	if [ -d "$destdir$p" ] && [ ! -L "$destdir$p" ]; then kind=dir; else kind=file; fi
	printf '%s %s\n' "$kind" "$p"
done >"$list.tree"
printf 'dir %s\n' "$prefix" >>"$list"
cat "$list.tree" >>"$list"
rm -f "$list.tree"

# 2. The command.
mkdirs "$bindir"
ln -sfn "$prefix/bin/peregrine.js" "$destdir$bindir/peregrine"
printf 'file %s\n' "$bindir/peregrine" >>"$list"
say "command: $bindir/peregrine -> $prefix/bin/peregrine.js"

# 3. The unit, pointing at this node and this prefix.
mkdirs "$unitdir"
# Only the ExecStart= and Documentation= lines: the comments stay as shipped.
sed -e "/^ExecStart=/s#^ExecStart=/usr/bin/node #ExecStart=$node #" \
	-e "/^ExecStart=/s#/opt/peregrine#$prefix#g" -e "/^Documentation=/s#/opt/peregrine#$prefix#g" \
	"$target/deploy/systemd/peregrine.service" >"$destdir$unitdir/peregrine.service.tmp"
chmod 0644 "$destdir$unitdir/peregrine.service.tmp"
mv "$destdir$unitdir/peregrine.service.tmp" "$destdir$unitdir/peregrine.service"
printf 'file %s\n' "$unitdir/peregrine.service" >>"$list"
say "unit: $unitdir/peregrine.service (node $node)"

# 4. Config: seeded from the embedded defaults only where absent. Recorded as
# "conf" so uninstall keeps it unless --purge.
mkdirs "$confdir"
for kind in policies rules; do
	if [ -e "$destdir$confdir/$kind" ]; then
		say "config: $confdir/$kind exists, left as it is"
		continue
	fi
	mkdir -m 0755 "$destdir$confdir/$kind"
	printf 'confdir %s\n' "$confdir/$kind" >>"$list"
	for f in "$target/$kind"/*; do
		cp "$f" "$destdir$confdir/$kind/"
		chmod 0644 "$destdir$confdir/$kind/${f##*/}"
		printf 'conf %s\n' "$confdir/$kind/${f##*/}" >>"$list"
	done
	say "config: seeded $confdir/$kind from the defaults"
done

# 5. The manifest, unique lines in creation order, itself last.
awk '!seen[$0]++' "$list" >"$manifest.tmp"
printf 'file %s\n' "$prefix/install-manifest" >>"$manifest.tmp"
mv "$manifest.tmp" "$manifest"
say "manifest: $prefix/install-manifest ($(wc -l <"$manifest") entries)"

# 6. systemd, only on a host it runs (PID 1) and only for a real-root install.
if [ -n "$destdir" ]; then
	say "systemd: skipped (--root)"
elif [ ! -d /run/systemd/system ]; then
	say "systemd: skipped (PID 1 is not systemd); start with: peregrine run"
else
	systemctl daemon-reload
	if [ "$start" = yes ]; then
		systemctl enable --now peregrine.service
		say "systemd: peregrine.service enabled and started"
	else
		systemctl enable peregrine.service
		say "systemd: peregrine.service enabled (not started: --no-start)"
	fi
fi
say "done"
