#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Rules benchmark: events/s through the full default ruleset on one core (synthetic flood, counted) and live alert latency (root); prints a markdown table.
#
# Knobs (environment): ROUND_SECONDS (default 2), ROUNDS (5), POOL (distinct events, 100000),
# COUNT (latency triggers per kind and configuration, 200), BUILT=1 to skip the build.
set -eu
cd "$(dirname "$0")/.."

ROUND_SECONDS=${ROUND_SECONDS:-2}
ROUNDS=${ROUNDS:-5}
POOL=${POOL:-100000}
COUNT=${COUNT:-200}
OUT=build/bench
say() { printf '%s\n' "$*" >&2; }

[ "${BUILT:-}" = 1 ] || sh scripts/build.sh >&2
mkdir -p "$OUT"
rm -f "$OUT"/rules-*.json

PIN=""
command -v taskset >/dev/null 2>&1 && PIN="taskset -c 1"
say "bench: rules throughput ($ROUNDS x ${ROUND_SECONDS}s, pool $POOL events, ${PIN:-unpinned})"
$PIN node dist/bench/rules.js throughput --seconds "$ROUND_SECONDS" --rounds "$ROUNDS" --pool "$POOL" >"$OUT/rules-throughput.json"

if [ "$(id -u)" = 0 ]; then
	say "bench: alert latency, agent defaults (wakeup 65536 B, poll 50 ms), $COUNT triggers per kind"
	node dist/bench/rules.js latency --count "$COUNT" >"$OUT/rules-latency-default.json"
	say "bench: alert latency, wakeup 0 (every record), poll 10 ms"
	node dist/bench/rules.js latency --count "$COUNT" --wakeup-bytes 0 --poll-ms 10 >"$OUT/rules-latency-wakeup0.json"
else
	say "bench: alert latency skipped (needs root: it loads the BPF sensors)"
fi

node dist/bench/rules.js report "$OUT"/rules-*.json
