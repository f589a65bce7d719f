#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs what a fresh Debian 12 machine lacks (system packages with apt, npm
# packages from the lockfile) and builds everything: kernel objects, the native
# addon and the TypeScript. Idempotent and quiet when nothing is missing; every
# step prints one progress line.
set -eu
cd "$(dirname "$0")/.."

say() { printf 'peregrine: %s\n' "$*" >&2; }

# System packages: command or file that proves each one is present.
need=""
command -v clang >/dev/null 2>&1 || need="$need clang llvm"
command -v bpftool >/dev/null 2>&1 || need="$need bpftool"
[ -f /usr/include/bpf/libbpf.h ] || need="$need libbpf-dev"
[ -f /usr/include/libelf.h ] || need="$need libelf-dev"
[ -f /usr/include/zlib.h ] || need="$need zlib1g-dev"
command -v make >/dev/null 2>&1 || need="$need make"
command -v g++ >/dev/null 2>&1 || need="$need g++"
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
command -v clang-format >/dev/null 2>&1 || need="$need clang-format"
command -v python3 >/dev/null 2>&1 || need="$need python3"
# `npm test` (bootstrap.sh --test) also needs the real servers and tools its tests drive.
if [ "${1:-}" = --test ]; then
	# test/sinks/syslog.test.ts starts its own rsyslogd (RFC 5424 receiver).
	[ -x /usr/sbin/rsyslogd ] || need="$need rsyslog"
	ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need="$need rsyslog-gnutls"
	# test/api scrapes the agent with a real Prometheus.
	command -v prometheus >/dev/null 2>&1 || need="$need prometheus"
	# test/sinks/webhook.test.ts and test/api make throwaway certificates for their TLS servers.
	command -v openssl >/dev/null 2>&1 || need="$need openssl"
	# helm and kubectl come zipped inside an npm package (test/kubernetes/tools.ts).
	command -v unzip >/dev/null 2>&1 || need="$need unzip"
	# network namespaces and veth pairs (test/sensors/flood.test.ts, test/enforce/microseg.test.ts)
	command -v ip >/dev/null 2>&1 || need="$need iproute2"
	command -v nsenter >/dev/null 2>&1 || need="$need util-linux"
fi
if [ -n "$need" ]; then
	if [ "$(id -u)" != 0 ]; then
		say "missing system packages:$need (run as root, or install them with apt-get)"
		exit 1
	fi
	say "installing system packages:$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# npm packages from the lockfile, only when they changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	say "installing npm packages from the lockfile"
	# Not `npm ci`: it rejects a lockfile that lacks optional packages for other
	# platforms (biome's CLI builds), which a registry serving only this
	# platform's builds never lets npm record. `npm install --no-save` installs
	# the locked versions and never rewrites the lockfile.
	npm install --no-save --no-audit --no-fund --loglevel=error
fi

say "building kernel objects, native addon and TypeScript"
sh scripts/build.sh
