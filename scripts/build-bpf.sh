#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds every bpf/*.bpf.c into build/bpf/<name>.bpf.o (CO-RE, one object per concern).
# Kernel types come from the committed bpf/vmlinux/<arch>/vmlinux.h (generated from a
# pinned Debian kernel by scripts/gen-vmlinux.sh), so the same objects are built whatever
# kernel the build host runs, and load unchanged on every kernel of the test matrix.
# An architecture without a committed header falls back to the running kernel's BTF
# (build/vmlinux.h, regenerated when older than /sys/kernel/btf/vmlinux). Objects are
# rebuilt only when older than their source or any header. Prints one line per object.
set -eu

cd "$(dirname "$0")/.."

CLANG=${CLANG:-clang}
BPFTOOL=${BPFTOOL:-bpftool}
VMLINUX_BTF=${VMLINUX_BTF:-/sys/kernel/btf/vmlinux}
# The target arch macro selects the pt_regs layout in bpf_tracing.h; map uname -m to libbpf's names.
case "$(uname -m)" in
x86_64) ARCH=x86 ;;
aarch64) ARCH=arm64 ;;
*) ARCH=$(uname -m) ;;
esac

mkdir -p build/bpf

# "A is newer than B" without GNU-only stat flags: find prints A only when it is newer.
newer() {
	[ -n "$(find "$1" -prune -newer "$2" 2>/dev/null)" ]
}

pinned=bpf/vmlinux/$ARCH/vmlinux.h
if [ -s "$pinned" ]; then
	vmlinux=$pinned
else
	vmlinux=build/vmlinux.h
	echo "build-bpf: no committed $pinned: using this kernel's BTF (objects are tied to it)" >&2
fi

if [ "$vmlinux" = build/vmlinux.h ] && { [ ! -s build/vmlinux.h ] || newer "$VMLINUX_BTF" build/vmlinux.h; }; then
	if [ ! -r "$VMLINUX_BTF" ]; then
		echo "build-bpf: $VMLINUX_BTF not readable; this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)" >&2
		exit 1
	fi
	"$BPFTOOL" btf dump file "$VMLINUX_BTF" format c >build/vmlinux.h.tmp
	mv build/vmlinux.h.tmp build/vmlinux.h
	echo "generated build/vmlinux.h"
fi

headers=$(find bpf/include bpf/lib -name '*.h' 2>/dev/null || true)

for src in bpf/*.bpf.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	obj=build/bpf/$name.o
	stale=0
	if [ ! -e "$obj" ]; then
		stale=1
	else
		for dep in "$src" "$vmlinux" $headers; do
			if newer "$dep" "$obj"; then
				stale=1
				break
			fi
		done
	fi
	[ "$stale" -eq 1 ] || continue
	"$CLANG" -g -O2 -target bpf -D__TARGET_ARCH_$ARCH -Wall \
		-I "$(dirname "$vmlinux")" -I bpf/include -I bpf \
		-c "$src" -o "$obj.tmp"
	mv "$obj.tmp" "$obj"
	echo "built $obj"
done
