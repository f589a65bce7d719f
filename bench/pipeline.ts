// SPDX-License-Identifier: Apache-2.0
// Pipeline throughput: synthetic ring-buffer batches fed to ProcessSensor.onBatch on one core, with and without JSON.
//
// Usage: node dist/bench/pipeline.js [--json] [--seconds S] [--rounds R]
// Prints one JSON line: records/s per round, the median, and the zero-loss check.
import { parseArgs } from 'node:util';
import { type EventContext, JsonEncoder } from '../src/events/encode.js';
import type { PeregrineEvent } from '../src/events/types.js';
import { ProcessCache } from '../src/process/cache.js';
import { KernelClock, nodeIdentity } from '../src/process/identity.js';
import { ProcessSensor } from '../src/sensors/process/sensor.js';
import { BatchWriter, SHAPES } from './records.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '5' },
    'batch-kb': { type: 'string', default: '1024' },
  },
});
const withJson = values.json === true;
const roundMs = Number(values.seconds) * 1000;
const rounds = Number(values.rounds);

// The agent's setup: one cache, one clock, the emit of Agent.emit (counters,
// per-event counter on the entry) and, with --json, JsonEncoder into a
// pending list that flush() joins into one chunk per batch, as StreamSink does
// (the chunk is not written: this measures the pipeline, not the pipe).
const node = nodeIdentity('bench-node');
const clock = new KernelClock();
const cache = new ProcessCache({ node, clock, maxEntries: 65536 });
const json = new JsonEncoder(node.name);
let emitted = 0;
const byKind: Record<string, number> = {};
let pending: string[] = [];
let chunkBytes = 0;
let lastTime = '';

const sensor = new ProcessSensor({
  cache,
  clock,
  node: node.name,
  ringBytes: 8 * 1024 * 1024,
  wakeupBytes: 65536,
  pollIntervalMs: 50,
  execsMax: 65536,
  emit: (ev: PeregrineEvent, ctx: EventContext) => {
    emitted++;
    byKind[ev.kind] = (byKind[ev.kind] ?? 0) + 1;
    ctx.process.events++;
    if (withJson) pending.push(json.encode(ev, ctx));
    else lastTime = ev.time;
  },
  flush: () => {
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    chunkBytes += `${lines.join('\n')}\n`.length;
  },
});

// init (seeded at start, never re-stamped) → per batch: a shell exec'd under
// init, then fork + exec + exit of children of that shell, then the shell's exit.
const INIT = { pid: 1, ktime: 2_000_000_000 };
cache.upsert({
  origin: 'procfs',
  pid: 1,
  tid: 1,
  ppid: 0,
  ktime: INIT.ktime,
  parentPid: 0,
  parentKtime: 0,
  uid: 0,
  gid: 0,
  euid: 0,
  egid: 0,
  auid: 4294967295,
  capEffective: 0x1ffffffffff,
  capPermitted: 0x1ffffffffff,
  ns: {
    pid: 4026531836,
    mnt: 4026531841,
    net: 4026531840,
    user: 4026531837,
    uts: 4026531838,
    ipc: 4026531839,
    cgroup: 4026531835,
  },
  cgroupId: 1,
  cgroupName: 'init.scope',
  binary: '/usr/lib/systemd/systemd',
  args: ['/sbin/init'],
  cwd: '/',
  tty: '',
  flags: ['procfs'],
});

const w = new BatchWriter(Number(values['batch-kb']) * 1024);
let t = 1_000_000_000_000; // ~17 min of uptime, ns
const shell = { pid: 900, ktime: t };
w.exec(SHAPES[3], shell.pid, shell.ktime, INIT, 0, false);
let children = 0;
for (let i = 0; ; i++) {
  const pid = 2000 + i;
  t += 20_000;
  const forkT = t;
  t += 150_000;
  const execT = t;
  t += 400_000;
  const exitT = t;
  // Stop before the batch is full, leaving room for the shell's exit.
  if (w.used + 2048 + 76 + 52 + 52 > w.bytes.byteLength) break;
  w.fork(pid, forkT, shell);
  w.exec(SHAPES[i % SHAPES.length], pid, execT, shell, forkT);
  w.exit(pid, exitT, execT, 0);
  children++;
}
t += 10_000;
w.exit(shell.pid, t, shell.ktime, 0);
const span = t - shell.ktime + 1_000_000;
const perBatch = w.records;

// Warm-up (JIT), then timed rounds; only onBatch is timed, re-stamping is not.
let fed = 0;
function pass(): number {
  w.shift(span);
  const t0 = performance.now();
  sensor.onBatch(w.bytes, w.used);
  const dt = performance.now() - t0;
  fed += perBatch;
  return dt;
}
const warmEnd = performance.now() + 1000;
while (performance.now() < warmEnd) pass();

const rates: number[] = [];
for (let r = 0; r < rounds; r++) {
  let busy = 0;
  let n = 0;
  const end = performance.now() + roundMs;
  while (performance.now() < end) {
    busy += pass();
    n += perBatch;
  }
  rates.push(n / (busy / 1000));
}

const st = sensor.stats();
const decoded = st.records.exec + st.records.fork + st.records.exit;
const sorted = [...rates].sort((a, b) => a - b);
const out = {
  variant: withJson ? 'decode+cache+event+json' : 'decode+cache+event',
  batch_bytes: w.used,
  records_per_batch: perBatch,
  children_per_batch: children,
  rounds: rates.map(Math.round),
  median_records_per_s: Math.round(sorted[Math.floor(sorted.length / 2)]),
  fed,
  decoded,
  records: st.records,
  decode_errors: st.decode_errors,
  unknown_types: st.unknown_types,
  exit_unresolved: st.exit_unresolved,
  emitted,
  by_kind: byKind,
  expected_events: st.records.exec + st.records.exit,
  json_bytes: chunkBytes,
  zero_loss:
    decoded === fed &&
    st.decode_errors === 0 &&
    st.unknown_types === 0 &&
    st.exit_unresolved === 0 &&
    emitted === st.records.exec + st.records.exit,
  cache: cache.stats(),
  last_time: lastTime,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
