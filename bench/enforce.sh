#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Enforcement overhead: an exec storm and a connect storm timed with no agent,
# with the agent observing the same kinds through audit-only rules (baseline),
# and with enforcing policies loaded (every exec goes through the kill hook's
# path walk and filter, every connect through cgroup/connect4's filter; none
# matches, so nothing is killed or denied and the loops do the same work).
# Prints a markdown table; targets: exec <= 1.03x, connect <= 1.10x of the
# baseline. Needs root, the built tree (npm run build) and python3.
#
#   sh bench/enforce.sh [EXECS] [CONNECTS] [ROUNDS]
set -eu
cd "$(dirname "$0")/.."

EXECS=${1:-3000}
CONNECTS=${2:-20000}
ROUNDS=${3:-5}
work=$(mktemp -d)
agent_pid=
stats_was=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
	sysctl -qw kernel.bpf_stats_enabled="$stats_was" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

now_ns() { date +%s%N; }

exec_storm() {
	start=$(now_ns)
	i=0
	while [ $i -lt "$EXECS" ]; do
		/bin/true
		i=$((i + 1))
	done
	echo $(($(now_ns) - start))
}

cat >"$work/connect.py" <<'EOF'
import socket, sys, time
n = int(sys.argv[1])
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(128)
port = srv.getsockname()[1]
t = time.perf_counter_ns()
for _ in range(n):
    c = socket.socket(); c.connect(('127.0.0.1', port))
    a, _ = srv.accept(); a.close(); c.close()
print(time.perf_counter_ns() - t)
EOF

connect_storm() { python3 "$work/connect.py" "$CONNECTS"; }

cat >"$work/baseline.yaml" <<'EOF'
apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata:
  name: bench-observe
spec:
  mode: monitor
  rules:
    - name: connects
      kinds: [network.connect]
      match:
        binaries:
          in: [curl]
EOF

cat >"$work/enforce.yaml" <<'EOF'
apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata:
  name: bench-enforce
spec:
  mode: enforce
  rules:
    - name: no-curl
      kinds: [network.connect]
      match:
        binaries:
          in: [curl]
      action: deny
    - name: no-sinkhole
      kinds: [network.connect]
      match:
        ports:
          in: [9]
        addresses:
          in: [10.255.255.1/32]
      action: deny
      fallback: audit
EOF

start_agent() {
	node bin/peregrine.js run --no-rules --output compact --wakeup-bytes 65536 \
		--socket "$work/agent.sock" "$@" >/dev/null 2>"$work/agent.err" &
	agent_pid=$!
	i=0
	until grep -q 'peregrine: running on' "$work/agent.err" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 3000 ] || ! kill -0 "$agent_pid" 2>/dev/null; then
			cat "$work/agent.err" >&2
			echo "bench/enforce.sh: agent did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
	sleep 1
}

stop_agent() {
	kill "$agent_pid"
	wait "$agent_pid" 2>/dev/null || true
	agent_pid=
}

apply() { node bin/peregrine.js policy apply "$@" --socket "$work/agent.sock" >/dev/null; }
drop() { node bin/peregrine.js policy delete "$@" --socket "$work/agent.sock" >/dev/null 2>&1 || true; }

# Alternating rounds (the machine drifts; interleaving cancels most of it).
# The agent runs throughout; enforcement is switched on and off with live
# policy applies, which attach and detach the enforcement programs.
: >"$work/none_exec"
: >"$work/none_conn"
: >"$work/base_exec"
: >"$work/base_conn"
: >"$work/enf_exec"
: >"$work/enf_conn"
r=0
while [ $r -lt "$ROUNDS" ]; do
	exec_storm >>"$work/none_exec"
	connect_storm >>"$work/none_conn"
	r=$((r + 1))
done
# In-kernel cost of the enforcement programs themselves (run_time_ns / run_cnt
# with kernel.bpf_stats_enabled): noise-free, unlike the wall-clock storms on
# a shared machine.
sysctl -qw kernel.bpf_stats_enabled=1
prog_ns() {
	bpftool prog show -j | python3 -c '
import json, sys
want = sys.argv[1:]
d = json.load(sys.stdin)
for name in want:
    t = sum(p.get("run_time_ns", 0) for p in d if p.get("name") == name)
    c = sum(p.get("run_cnt", 0) for p in d if p.get("name") == name)
    print(name, t, c)
' handle_connect4 handle_sock_create handle_exec_enf
}
: >"$work/progs"
start_agent --policy "$work/baseline.yaml"
r=0
while [ $r -lt "$ROUNDS" ]; do
	drop bench-enforce kill-exec-from-tmp
	exec_storm >>"$work/base_exec"
	connect_storm >>"$work/base_conn"
	apply "$work/enforce.yaml" examples/policies/kill-exec-from-tmp.yaml
	sysctl -qw kernel.bpf_stats_enabled=1 # again: another benchmark may have switched it off
	exec_storm >>"$work/enf_exec"
	connect_storm >>"$work/enf_conn"
	prog_ns >>"$work/progs" # cumulative while attached; the last round's line per program wins
	r=$((r + 1))
done
stop_agent

med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
none_exec=$(med "$work/none_exec")
none_conn=$(med "$work/none_conn")
base_exec=$(med "$work/base_exec")
base_conn=$(med "$work/base_conn")
enf_exec=$(med "$work/enf_exec")
enf_conn=$(med "$work/enf_conn")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
per() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.1f", t / n / 1000 }'; }

echo "| storm | no agent (µs/op) | agent, audit only (µs/op) | agent, enforcing (µs/op) | enforcing / audit only | enforcing / no agent | target |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
echo "| exec ($EXECS × /bin/true, median of $ROUNDS) | $(per "$none_exec" "$EXECS") | $(per "$base_exec" "$EXECS") | $(per "$enf_exec" "$EXECS") | $(ratio "$enf_exec" "$base_exec")× | $(ratio "$enf_exec" "$none_exec")× | ≤ 1.03× |"
echo "| connect ($CONNECTS × TCP loopback, median of $ROUNDS) | $(per "$none_conn" "$CONNECTS") | $(per "$base_conn" "$CONNECTS") | $(per "$enf_conn" "$CONNECTS") | $(ratio "$enf_conn" "$base_conn")× | $(ratio "$enf_conn" "$none_conn")× | ≤ 1.10× |"

# Average ns per run of each enforcement program (the last snapshot: programs
# stay loaded across rounds, so their counters accumulate).
tail -n 3 "$work/progs" | while read -r name t c; do
	[ "$c" -gt 0 ] || continue
	echo "| in-kernel: $name | $(awk -v t="$t" -v c="$c" 'BEGIN { printf "%.0f ns per run (%d runs)", t / c, c }') |"
done
conn_ns=$(tail -n 3 "$work/progs" | awk '$1 != "handle_exec_enf" && $3 > 0 { s += $2 / $3 } END { print s + 0 }')
exec_ns=$(tail -n 3 "$work/progs" | awk '$1 == "handle_exec_enf" && $3 > 0 { print $2 / $3 }')
echo "| in-kernel share of a connect (connect4 + sock_create over the no-agent connect) | $(awk -v k="$conn_ns" -v t="$none_conn" -v n="$CONNECTS" 'BEGIN { printf "%.4f×", 1 + k / (t / n) }') |"
echo "| in-kernel share of an exec (exec hook over the no-agent exec) | $(awk -v k="${exec_ns:-0}" -v t="$none_exec" -v n="$EXECS" 'BEGIN { printf "%.4f×", 1 + k / (t / n) }') |"
