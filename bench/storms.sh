#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Open and connect storm benchmarks: Peregrine file/network policies vs no agent, auditd and bpftrace; prints markdown tables.
#
# Needs root. Installs auditd and bpftrace with apt-get when missing. Method and results: bench/README.md.
# Knobs (environment): OPENS (openat+close per storm, default 50000), FILES (distinct files, default 100),
# CONNECTS (connects per storm, default 10000), REPS (default 5), PORT (default 47123, must match
# bench/policies/connect-port.yaml), SOCK (agent control socket), RING_MB (extra `--ring-mb` run of (2)
# when the default ring dropped, default 64), PARTS (which benchmarks, default "1 2 3"), BUILT=1 skips the build.
set -eu
cd "$(dirname "$0")/.."

OPENS=${OPENS:-50000}
FILES=${FILES:-100}
CONNECTS=${CONNECTS:-10000}
REPS=${REPS:-5}
PORT=${PORT:-47123}
SOCK=${SOCK:-/tmp/pg-storms.sock}
RING_MB=${RING_MB:-64}
PARTS=${PARTS:-1 2 3}
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
OUT=build/bench
RAW=
POL=bench/policies
BT_ETC='tracepoint:syscalls:sys_enter_openat /strncmp(str(args->filename), "/etc/", 5) == 0/ { printf("%s\n", str(args->filename)); }'

say() { printf '%s\n' "$*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

if [ "$(id -u)" != 0 ]; then
	say "storms: needs root (loads BPF programs, runs auditd)"
	exit 1
fi

missing=""
command -v auditctl >/dev/null 2>&1 && command -v auditd >/dev/null 2>&1 || missing="$missing auditd"
command -v bpftrace >/dev/null 2>&1 || missing="$missing bpftrace"
if [ -n "$missing" ]; then
	say "storms: installing$missing"
	apt-get update -qq >&2
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
fi
[ "${BUILT:-}" = 1 ] || sh scripts/build.sh
# Drivers and raw lines live in a private temp dir (build/ is shared and may be rebuilt meanwhile);
# the raw lines are copied to build/bench/storms-raw.txt at the end.
TMP=$(mktemp -d)
cc -O2 -Wall -o "$TMP/openstorm" bench/openstorm.c
cc -O2 -Wall -o "$TMP/connectstorm" bench/connectstorm.c
TDIR=$(mktemp -d /tmp/peregrine-bench-XXXX)
EDIR=$(mktemp -d /etc/peregrine-bench-XXXX)
RAW=$TMP/raw.txt
: >"$RAW"
echo "load_start $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW"

AGENT=""
BT=""
AUDITD_STARTED=""
AUDIT_RULE=""
AUDIT_ENABLED_BEFORE=""
cleanup() {
	set +e
	[ -n "$AGENT" ] && kill -TERM "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
	[ -n "$BT" ] && kill -TERM "$BT" 2>/dev/null && wait "$BT" 2>/dev/null
	[ -n "$AUDIT_RULE" ] && auditctl -W /etc -p wa >/dev/null 2>&1
	if [ -n "$AUDITD_STARTED" ]; then
		kill -TERM "$AUDITD_STARTED" 2>/dev/null
		[ -n "$AUDIT_ENABLED_BEFORE" ] && auditctl -e "$AUDIT_ENABLED_BEFORE" >/dev/null 2>&1
	fi
	rm -rf "$TMP" "$TDIR" "$EDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Agent counters as "<file.open events> <network.connect events> <kernel drops>": drops sum every
# counter named kernel_drops* or *pending_full in every sensor.
COUNTS='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s).agent;let d=0;
const walk=(o,k)=>{if(typeof o==="number"){if(/kernel_drops|pending_full/.test(k))d+=o;}else if(o&&typeof o==="object")for(const [kk,v] of Object.entries(o))walk(v,/kernel_drops|pending_full/.test(k)?k:kk);};
walk(j.sensors,"");const b=j.events.by_kind;console.log((b["file.open"]||0)+" "+(b["network.connect"]||0)+" "+d);});'
# The status answer has "agent": null until the agent has finished starting: retry for up to 10 s.
counts() {
	i=0
	until node bin/peregrine.js status --json --socket "$SOCK" 2>/dev/null | node -e "$COUNTS" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 50 ] || { say "storms: no counters from the agent"; exit 1; }
		sleep 0.2
	done
}

# start_agent POLICY [peregrine run options]: starts the agent, waits until it is attached and seeded.
start_agent() {
	pol=$1
	shift
	node bin/peregrine.js run --policy "$pol" --no-rules --socket "$SOCK" "$@" >/dev/null 2>"$TMP/agent.err" &
	AGENT=$!
	i=0
	until grep -q 'running on' "$TMP/agent.err" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 1800 ] || ! kill -0 "$AGENT" 2>/dev/null; then
			say "storms: agent did not start:"; cat "$TMP/agent.err" >&2; exit 1
		fi
		sleep 0.1
	done
	counts >"$TMP/c0"
}

# stop_agent: lets the agent consume what is queued (10x its 50 ms poll), writes the counter
# differences over the storm ("<file.open> <connect> <drops>") to $TMP/delta, stops it.
stop_agent() {
	sleep 0.5
	counts >"$TMP/c1"
	paste -d' ' "$TMP/c0" "$TMP/c1" | awk '{ print $4 - $1, $5 - $2, $6 - $3 }' >"$TMP/delta"
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
	auditctl -w /etc -p wa >/dev/null
	AUDIT_RULE=1
}

stop_auditd() {
	auditctl -W /etc -p wa >/dev/null
	AUDIT_RULE=""
	if [ -n "$AUDITD_STARTED" ]; then
		kill -TERM "$AUDITD_STARTED"
		while kill -0 "$AUDITD_STARTED" 2>/dev/null; do sleep 0.1; done
		AUDITD_STARTED=""
	fi
	auditctl -e "${AUDIT_ENABLED_BEFORE:-0}" >/dev/null
}

start_bpftrace() {
	bpftrace -e "$BT_ETC" >/dev/null 2>"$TMP/bt.err" &
	BT=$!
	sleep 3 # attaches in < 1 s here; its "Attaching" line goes to /dev/null
	kill -0 "$BT" 2>/dev/null || { say "storms: bpftrace failed:"; cat "$TMP/bt.err" >&2; exit 1; }
}

stop_bpftrace() {
	kill -TERM "$BT"
	wait "$BT" || true
	BT=""
}

# run BENCH CFG REP: one configuration once; appends "run BENCH CFG REP secs load_before load_after ev_open ev_conn drops".
run() {
	bench=$1 cfg=$2 rep=$3
	case $bench in
	tmp) storm="$TMP/openstorm $TDIR $OPENS $FILES w" ;;
	tmpr) storm="$TMP/openstorm $TDIR $OPENS $FILES r" ;;
	etc) storm="$TMP/openstorm $EDIR $OPENS $FILES w" ;;
	conn) storm="$TMP/connectstorm $PORT $CONNECTS" ;;
	esac
	echo "0 0 0" >"$TMP/delta"
	case $cfg in
	none) ;;
	pg-writes) start_agent $POL/etc-writes.yaml ;;
	pg-writes-ring) start_agent $POL/etc-writes.yaml --ring-mb "$RING_MB" ;;
	pg-reads) start_agent $POL/etc-reads.yaml ;;
	pg-connect) start_agent $POL/connect-port.yaml ;;
	pg-connect-other) start_agent $POL/connect-other-port.yaml ;;
	pg-noconnect) start_agent bench/process-only.yaml ;;
	auditd) start_auditd ;;
	bpftrace) start_bpftrace ;;
	esac
	lb=$(load1)
	# shellcheck disable=SC2086
	$storm >"$TMP/storm.out" || { say "storms: storm failed: $(cat "$TMP/storm.out")"; exit 1; }
	la=$(load1)
	case $cfg in
	pg-*) stop_agent ;;
	auditd) stop_auditd ;;
	bpftrace) stop_bpftrace ;;
	esac
	t=$(cut -d' ' -f1 "$TMP/storm.out")
	echo "run $bench $cfg $rep $t $lb $la $(cat "$TMP/delta")" >>"$RAW"
	say "  $bench rep $rep $cfg ${t}s load $lb->$la events/drops $(cat "$TMP/delta")"
}

# interleave BENCH "CFGS": REPS repetitions, the order rotated by one each repetition.
interleave() {
	bench=$1 cfgs=$2
	n=$(echo "$cfgs" | wc -w)
	r=1
	while [ $r -le "$REPS" ]; do
		# shellcheck disable=SC2086
		set -- $cfgs
		k=1
		while [ $k -lt $r ] && [ $k -lt "$n" ]; do c=$1; shift; set -- "$@" "$c"; k=$((k + 1)); done
		for c in "$@"; do run "$bench" "$c" "$r"; done
		r=$((r + 1))
	done
}

if part 1; then
	say "storms: (1) $OPENS opens over $FILES files under /tmp, policies watching /etc only, $REPS reps"
	interleave tmp "none pg-writes auditd bpftrace"
	interleave tmpr "none pg-reads"
fi
if part 2; then
	say "storms: (2) $OPENS write opens over $FILES files under /etc, policy matching them, $REPS reps"
	interleave etc "none pg-writes auditd bpftrace"
	if awk '$1 == "run" && $2 == "etc" && $3 == "pg-writes" && $10 > 0 { d = 1 } END { exit !d }' "$RAW"; then
		say "storms: (2) kernel drops with the default ring: again with --ring-mb $RING_MB"
		interleave etc "none pg-writes-ring"
	fi
fi
if part 3; then
	say "storms: (3) $CONNECTS connects to 127.0.0.1:$PORT, $REPS reps"
	interleave conn "none pg-connect pg-connect-other pg-noconnect"
fi
echo "load_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW"
mkdir -p "$OUT" && cp "$RAW" "$OUT/storms-raw.txt"

# --- report --------------------------------------------------------------------
awk -v opens="$OPENS" -v conns="$CONNECTS" -v files="$FILES" -v reps="$REPS" '
function med(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function mn(list,   a, n, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
function mx(list,   a, n, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
$1 == "load_start" { ls = $2 " " $3 " " $4 }
$1 == "load_end" { le = $2 " " $3 " " $4 }
$1 == "run" {
	k = $2 SUBSEP $3
	if (!(k in T)) { order[++no] = k }
	T[k] = T[k] " " $5; L[k] = L[k] " " $6 " " $7; LB[k] = LB[k] " " $6; LA[k] = LA[k] " " $7
	# Events from the storm: under /etc the driver first creates its FILES files (untimed, reported too).
	ev = ($2 == "conn") ? $9 : $8; sev = ($2 == "etc") ? ev - files : ev
	E[k] = E[k] " " ev; R[k] = R[k] " " ($5 > 0 ? sev / $5 : 0); D[k] = D[k] + $10
	if (($2 == "etc" || $3 == "pg-connect") && sev < ($2 == "conn" ? conns : opens)) short[k]++
}
END {
	printf "Load average at start %s, at end %s. Medians of %d interleaved repetitions.\n\n", ls, le, reps
	printf "| storm | configuration | median s | µs/op | slowdown | runs (s) | agent events per run (median) | storm events/s delivered (median) | kernel drops (all runs) | load 1-min before / after (min–max) |\n"
	printf "|---|---|---|---|---|---|---|---|---|---|\n"
	for (i = 1; i <= no; i++) {
		k = order[i]; split(k, p, SUBSEP)
		m = med(T[k]); base = med(T[p[1] SUBSEP "none"])
		ops = p[1] == "conn" ? conns : opens
		runs = ""; nr = split(T[k], rr, " "); for (j = 1; j <= nr; j++) runs = runs (j > 1 ? ", " : "") sprintf("%.3f", rr[j])
		if (p[2] ~ /^pg-/) {
			evs = med(E[k]) (short[k] ? " (" short[k] " runs short of " ops ")" : ""); rate = sprintf("%.0f", med(R[k])); dr = D[k]
		} else { evs = "n/a"; rate = "n/a"; dr = "n/a" }
		printf "| %s | %s | %.3f | %.1f | %.3f× | %s | %s | %s | %s | %s–%s / %s–%s |\n", p[1], p[2], m, m / ops * 1e6, m / base, runs, evs, rate, dr, mn(LB[k]), mx(LB[k]), mn(LA[k]), mx(LA[k])
	}
}' "$RAW"
