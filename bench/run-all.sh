#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs every Peregrine benchmark (exec storm vs auditd/bpftrace, kernel drops, pipeline throughput, memory) and prints a markdown table.
#
# Needs root. Installs auditd and bpftrace with apt-get when missing; builds first.
# Knobs (environment): EXECS (execs per storm run, default 10000), REPS (default 5),
# DROP_EXECS (execs per worker in the drops runs, default 3000), SOCK (agent control socket).
set -eu
cd "$(dirname "$0")/.."

EXECS=${EXECS:-10000}
REPS=${REPS:-5}
DROP_EXECS=${DROP_EXECS:-3000}
SOCK=${SOCK:-/tmp/pg-bench.sock}
# The agent as the issue measures it: process sensor only (bench/process-only.yaml attaches no
# other sensor), rules as shipped. Set PG_ARGS to measure another configuration.
PG_ARGS=${PG_ARGS:---policy bench/process-only.yaml}
OUT=build/bench
STORM=$OUT/execstorm
BTPROG='tracepoint:sched:sched_process_exec { printf("%s\n", str(args->filename)); }'

say() { printf '%s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
	say "bench: needs root (loads BPF programs, runs auditd)"
	exit 1
fi

# --- prerequisites -----------------------------------------------------------
missing=""
command -v auditctl >/dev/null 2>&1 && command -v auditd >/dev/null 2>&1 || missing="$missing auditd"
command -v bpftrace >/dev/null 2>&1 || missing="$missing bpftrace"
if [ -n "$missing" ]; then
	say "bench: installing$missing"
	apt-get update -qq >&2
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
fi
sh scripts/build.sh
mkdir -p "$OUT"
cc -O2 -Wall -o "$STORM" bench/execstorm.c
TMP=$(mktemp -d)
RAW=$OUT/results-raw.txt
: >"$RAW"
echo "load_start $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW"
echo "pg_args $PG_ARGS" >>"$RAW"

AGENT=""
BT=""
AUDITD_STARTED=""
AUDIT_RULE=""
AUDIT_ENABLED_BEFORE=""
cleanup() {
	[ -n "$AGENT" ] && kill -TERM "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
	[ -n "$BT" ] && kill -TERM "$BT" 2>/dev/null && wait "$BT" 2>/dev/null
	[ -n "$AUDIT_RULE" ] && auditctl -d always,exit -F arch=b64 -S execve >/dev/null 2>&1
	if [ -n "$AUDITD_STARTED" ]; then
		kill -TERM "$AUDITD_STARTED" 2>/dev/null
		[ -n "$AUDIT_ENABLED_BEFORE" ] && auditctl -e "$AUDIT_ENABLED_BEFORE" >/dev/null 2>&1
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers -----------------------------------------------------------------
# start_agent [peregrine run options]: starts the agent, waits until it is attached and seeded.
start_agent() {
	# shellcheck disable=SC2086
	node bin/peregrine.js run --output json --socket "$SOCK" $PG_ARGS "$@" >/dev/null 2>"$TMP/agent.err" &
	AGENT=$!
	i=0
	until grep -q 'running on' "$TMP/agent.err" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 1800 ] || ! kill -0 "$AGENT" 2>/dev/null; then
			say "bench: agent did not start:"; cat "$TMP/agent.err" >&2; exit 1
		fi
		sleep 0.1
	done
}

# stop_agent: lets the agent consume what is queued (> poll interval), reads its
# counters over the control socket into $TMP/stats.json, then stops it.
stop_agent() {
	sleep 0.5
	node dist/bench/agent-stats.js "$SOCK" >"$TMP/stats.json"
	# Agent CPU time since start (utime + stime, clock ticks), seeding included.
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$AGENT/stat" >"$TMP/cpu"
	kill -TERM "$AGENT"
	wait "$AGENT" || true
	AGENT=""
}

start_auditd() {
	AUDIT_ENABLED_BEFORE=$(auditctl -s | awk '$1 == "enabled" { print $2 }')
	if ! pgrep -x auditd >/dev/null 2>&1; then
		auditd
		sleep 1
		AUDITD_STARTED=$(cat /var/run/auditd.pid 2>/dev/null || pgrep -x -n auditd)
	fi
	auditctl -e 1 >/dev/null
	auditctl -a always,exit -F arch=b64 -S execve >/dev/null
	AUDIT_RULE=1
}

stop_auditd() {
	auditctl -d always,exit -F arch=b64 -S execve >/dev/null
	AUDIT_RULE=""
	if [ -n "$AUDITD_STARTED" ]; then
		kill -TERM "$AUDITD_STARTED"
		while kill -0 "$AUDITD_STARTED" 2>/dev/null; do sleep 0.1; done
		AUDITD_STARTED=""
	fi
	auditctl -e "${AUDIT_ENABLED_BEFORE:-0}" >/dev/null
}

start_bpftrace() {
	bpftrace -e "$BTPROG" >/dev/null 2>"$TMP/bt.err" &
	BT=$!
	# bpftrace says "Attaching 1 probe..." on stdout, which goes to /dev/null; it attaches in < 1 s here.
	sleep 3
	kill -0 "$BT" 2>/dev/null || { say "bench: bpftrace failed:"; cat "$TMP/bt.err" >&2; exit 1; }
}

stop_bpftrace() {
	kill -TERM "$BT"
	wait "$BT" || true
	BT=""
}

# storm N [P]: runs the driver, prints elapsed seconds; fails if any exec failed.
storm() {
	"$STORM" "$@" >"$TMP/storm.out"
	cut -d' ' -f1 "$TMP/storm.out"
}

# --- (a) exec storm slowdown -------------------------------------------------
CONFIGS="none peregrine peregrine-wakeup0 auditd bpftrace"
say "bench: (a) exec storm, $EXECS execs x $REPS reps x 5 configurations, interleaved"
rep=1
while [ $rep -le "$REPS" ]; do
	# Rotate the order each repetition so no configuration always runs first.
	set -- $CONFIGS
	k=1
	while [ $k -lt $rep ] && [ $k -lt 5 ]; do c=$1; shift; set -- "$@" "$c"; k=$((k + 1)); done
	for cfg in "$@"; do
		case $cfg in
		none) t=$(storm "$EXECS") ;;
		peregrine | peregrine-wakeup0)
			if [ "$cfg" = peregrine ]; then start_agent; else start_agent --wakeup-bytes 0; fi
			t=$(storm "$EXECS")
			stop_agent
			echo "agent $cfg $rep $(cat "$TMP/cpu") $(cat "$TMP/stats.json")" >>"$RAW"
			;;
		auditd) start_auditd; t=$(storm "$EXECS"); stop_auditd ;;
		bpftrace) start_bpftrace; t=$(storm "$EXECS"); stop_bpftrace ;;
		esac
		echo "storm $cfg $rep $t" >>"$RAW"
		say "  rep $rep $cfg ${t}s"
	done
	rep=$((rep + 1))
done

# --- (b) kernel drops vs offered rate ----------------------------------------
say "bench: (b) drops vs offered rate ($DROP_EXECS execs per worker)"
# One agent per ring size; its counters are read after each storm and the report takes differences.
for ring in 1 8; do
	start_agent --ring-mb "$ring"
	for p in 1 2 4; do
		t=$(storm "$DROP_EXECS" "$p")
		sleep 0.5
		node dist/bench/agent-stats.js "$SOCK" >"$TMP/stats.json"
		echo "drops $ring $p $((DROP_EXECS * p)) $t 0 $(cat "$TMP/stats.json")" >>"$RAW"
		say "  ring ${ring} MiB, $p storms: ${t}s"
	done
	stop_agent
done

# --- (b) pipeline throughput (in-process, one core) ---------------------------
say "bench: (b) pipeline throughput on one core"
PIN=""
command -v taskset >/dev/null 2>&1 && PIN="taskset -c 1"
$PIN node dist/bench/pipeline.js >"$TMP/pipe.json"
$PIN node dist/bench/pipeline.js --json >"$TMP/pipe-json.json"
echo "pipeline $(cat "$TMP/pipe.json")" >>"$RAW"
echo "pipeline $(cat "$TMP/pipe-json.json")" >>"$RAW"

# --- (c) memory ---------------------------------------------------------------
say "bench: (c) memory"
start_agent
sleep 5
idle_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$AGENT/status")
stop_agent
node --expose-gc dist/bench/memory.js --count 50000 >"$TMP/mem.json"
echo "idle_rss_kb $idle_kb" >>"$RAW"
echo "memory $(cat "$TMP/mem.json")" >>"$RAW"

echo "load_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW"

# --- report -------------------------------------------------------------------
node dist/bench/report.js "$RAW" "$EXECS" "$REPS"
BUILT=1 sh bench/rules.sh # rules engine: default-ruleset throughput and alert latency (bench/README.md)
BUILT=1 sh bench/storms.sh # open/connect storms vs auditd and bpftrace (bench/README.md)
sh bench/kernels.sh # kernel objects per kernel: verified insns, stack, load time (bench/README.md)
