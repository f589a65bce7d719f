// SPDX-License-Identifier: Apache-2.0
// Rules benchmark: events/s through the full default ruleset on one core (synthetic flood, counted), and alert latency from the syscall to onAlert with a live agent.
//
// Usage: node dist/bench/rules.js throughput [--seconds S] [--rounds R] [--pool N]
//        node dist/bench/rules.js latency [--count N] [--wakeup-bytes B] [--poll-ms MS]   (root)
//        node dist/bench/rules.js report FILE...   (the JSON lines of the above as a markdown table)
// throughput and latency print one JSON line each.
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../src/agent.js';
import { defaultRulesPath, loadRulePaths } from '../src/cli/rules.js';
import type { Alert, EventKind, FileInfo, PeregrineEvent, ProcessInfo } from '../src/events/types.js';
import { loadDefaultPolicy } from '../src/policy/load.js';
import { AlertCollapser } from '../src/rules/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    pool: { type: 'string', default: '100000' },
    count: { type: 'string', default: '200' },
    'wakeup-bytes': { type: 'string' },
    'poll-ms': { type: 'string' },
  },
});

// ---------------------------------------------------------------------------
// A synthetic host: processes shared by their events (as the process cache
// shares ProcessInfo objects), and a flood drawn from a busy server's mix.

let seq = 1;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) =>
  `${new Date(ms).toISOString().slice(0, 19)}.${String(ms % 1000).padStart(3, '0')}000000Z`;

function proc(binary: string, args: string[], cwd: string, uid: number, parent?: ProcessInfo): ProcessInfo {
  const pid = 1000 + seq++;
  return {
    exec_id: `bench-${pid}`,
    pid,
    tid: pid,
    ppid: parent?.pid ?? 1,
    uid,
    gid: uid,
    euid: uid,
    egid: uid,
    auid: uid === 0 ? 4294967295 : uid,
    binary,
    args,
    cwd,
    tty: '',
    start_time: iso(T0),
    parent_exec_id: parent?.exec_id ?? '',
    flags: ['exec'],
    cap: { effective: uid === 0 ? '000001ffffffffff' : '0000000000000000', permitted: '0000000000000000' },
    ns: {
      pid: 4026531836,
      mnt: 4026531832,
      net: 4026531833,
      user: 4026531837,
      uts: 4026531838,
      ipc: 4026531839,
      cgroup: 4026531835,
    },
    cgroup: { id: 1, name: '/system.slice/app.service' },
  };
}

/** Deterministic pseudo-random numbers (xorshift32). */
let rs = 0x9e3779b9;
function rnd(n: number): number {
  rs ^= rs << 13;
  rs ^= rs >>> 17;
  rs ^= rs << 5;
  return (rs >>> 0) % n;
}
const pick = <T>(a: readonly T[]): T => a[rnd(a.length)];

const PROGRAMS: Array<[string, string[], string, number]> = [
  ['/usr/bin/node', ['node', 'server.js'], '/srv/app/', 1000],
  ['/usr/bin/python3.11', ['python3', 'worker.py', '--queue', 'jobs'], '/srv/worker/', 1000],
  ['/usr/bin/bash', ['bash', '-c', 'make -j2 all'], '/home/dev/project/', 1000],
  ['/usr/bin/dash', ['sh', '-c', 'ls -la /var/lib/app'], '/', 0],
  ['/usr/bin/git', ['git', 'status', '--porcelain'], '/home/dev/project/', 1000],
  ['/usr/lib/gcc/x86_64-linux-gnu/12/cc1', ['cc1', '-quiet', 'a.c', '-O2'], '/home/dev/project/', 1000],
  ['/usr/bin/cat', ['cat', '/proc/meminfo'], '/', 0],
  ['/usr/bin/grep', ['grep', '-r', 'TODO', 'src'], '/home/dev/project/', 1000],
  ['/usr/sbin/nginx', ['nginx', '-g', 'daemon off;'], '/', 33],
  [
    '/usr/lib/postgresql/15/bin/postgres',
    ['postgres', '-D', '/var/lib/postgresql/15/main'],
    '/var/lib/postgresql/',
    105,
  ],
  ['/usr/sbin/sshd', ['sshd', '-D'], '/', 0],
  ['/usr/lib/systemd/systemd-journald', ['systemd-journald'], '/', 0],
  ['/usr/bin/curl', ['curl', '-fsS', 'https://api.example.com/health'], '/srv/app/', 1000],
  ['/usr/bin/java', ['java', '-jar', 'app.jar'], '/opt/app/', 1000],
  ['/usr/bin/ls', ['ls', '--color=auto'], '/home/dev/', 1000],
  ['/usr/sbin/cron', ['cron', '-f'], '/', 0],
];

const shells = [
  proc('/usr/bin/bash', ['bash'], '/home/dev/', 1000),
  proc('/usr/sbin/sshd', ['sshd', '-D'], '/', 0),
];
const processes: Array<{ p: ProcessInfo; parent: ProcessInfo }> = [];
for (let i = 0; i < 4000; i++) {
  const [bin, args, cwd, uid] = pick(PROGRAMS);
  const parent = pick(shells);
  processes.push({ p: proc(bin, [...args, `#${i}`], cwd, uid, parent), parent });
}

const WRITE_PATHS = [
  '/tmp/build-',
  '/home/dev/project/out/',
  '/var/lib/app/cache/',
  '/srv/app/logs/',
  '/run/user/1000/',
];
const READ_SECRETS = ['/etc/shadow', '/root/.ssh/id_ed25519', '/root/.aws/credentials'];

// Benign shapes keep benign actors: secrets are read by sshd, connections are not made by shells.
const SHELLS = new Set(['/usr/bin/bash', '/usr/bin/dash']);
const sshds = processes.filter((x) => x.p.binary === '/usr/sbin/sshd');
const talkers = processes.filter((x) => !SHELLS.has(x.p.binary));

function base(kind: EventKind, ms: number, from = processes): PeregrineEvent {
  const { p, parent } = pick(from);
  return { time: iso(ms), node: 'bench-node', kind, process: p, parent };
}

function fileEv(kind: EventKind, ms: number, file: FileInfo, rc = 0, from = processes): PeregrineEvent {
  return { ...base(kind, ms, from), file, return_code: rc };
}

/** One event of the flood; roughly 1 in 2000 is an attack the rules alert on. */
function makeEvent(i: number): PeregrineEvent {
  const ms = T0 + i;
  const r = rnd(10000);
  if (r < 1400) return base('process.exec', ms);
  if (r < 2800) return { ...base('process.exit', ms), exit: { code: 0, signal: 0 } };
  if (r < 6800) {
    const path = `${pick(WRITE_PATHS)}${rnd(5000)}.${pick(['o', 'json', 'log', 'tmp'])}`;
    return fileEv(
      'file.open',
      ms,
      {
        path,
        path_source: 'kernel',
        access: pick([
          ['write', 'create', 'truncate'],
          ['write', 'append'],
          ['write'],
        ] as FileInfo['access'][]),
        flags: 577,
        mode: 0o644,
      },
      3 + rnd(60),
    );
  }
  if (r < 7000)
    return fileEv(
      'file.open',
      ms,
      { path: pick(READ_SECRETS), path_source: 'kernel', access: ['read'], flags: 0 },
      3,
      sshds,
    );
  if (r < 7700)
    return fileEv('file.unlink', ms, { path: `${pick(WRITE_PATHS)}${rnd(5000)}.tmp`, path_source: 'kernel' });
  if (r < 8100) {
    const d = pick(WRITE_PATHS);
    return fileEv('file.rename', ms, {
      path: `${d}${rnd(5000)}.tmp`,
      path_source: 'kernel',
      new_path: `${d}${rnd(5000)}.json`,
    });
  }
  if (r < 8200)
    return fileEv('file.chmod', ms, {
      path: `/home/dev/project/out/${rnd(100)}`,
      path_source: 'kernel',
      mode: 0o755,
    });
  if (r < 9300) {
    return {
      ...base('network.connect', ms, talkers),
      network: {
        family: 'inet',
        protocol: 'tcp',
        local_address: '10.0.0.5',
        local_port: 30000 + rnd(30000),
        remote_address: pick(['10.0.0.7', '10.0.1.20', '93.184.216.34', '140.82.112.3', '127.0.0.1']),
        remote_port: pick([443, 5432, 6379, 80, 8080, 53]),
      },
      return_code: 0,
    };
  }
  if (r < 9700) {
    return {
      ...base('network.accept', ms),
      network: {
        family: 'inet',
        protocol: 'tcp',
        local_address: '10.0.0.5',
        local_port: 443,
        remote_address: '10.0.9.9',
        remote_port: 40000 + rnd(20000),
      },
      return_code: 7,
    };
  }
  if (r < 9800) {
    return {
      ...base('privilege.setuid', ms),
      privilege: {
        syscall: 'setresuid',
        old: { uid: 0, euid: 0, suid: 0, gid: 0, egid: 0, sgid: 0 },
        new: { uid: 33, euid: 33, suid: 33, gid: 0, egid: 0, sgid: 0 },
      },
      return_code: 0,
    };
  }
  if (r < 9850) {
    return {
      ...base('process.memfd_create', ms),
      kernel: { syscall: 'memfd_create', memfd_name: 'v8', memfd_flags: ['MFD_CLOEXEC'] },
      return_code: 9,
    };
  }
  if (r < 9995)
    return fileEv('file.truncate', ms, { path: `/var/lib/app/cache/${rnd(100)}`, path_source: 'kernel' });
  // Attacks: a miner, /etc/shadow by a script, a write below /etc.
  const { parent } = pick(processes);
  const kind = rnd(3);
  if (kind === 0) {
    return {
      time: iso(ms),
      node: 'bench-node',
      kind: 'process.exec',
      process: proc('/tmp/.x/xmrig', ['xmrig', '-o', 'stratum+tcp://p:3333'], '/tmp/', 1000, parent),
      parent,
    };
  }
  if (kind === 1) {
    return {
      ...fileEv('file.open', ms, { path: '/etc/shadow', path_source: 'kernel', access: ['read'] }, 3),
      process: proc('/usr/bin/python3.11', ['python3', 'x.py'], '/tmp/', 0, parent),
    };
  }
  return {
    ...fileEv(
      'file.open',
      ms,
      { path: '/etc/ld.so.preload', path_source: 'kernel', access: ['write', 'create'] },
      3,
    ),
    process: proc('/usr/bin/dash', ['sh'], '/tmp/', 0, parent),
  };
}

function throughput(): void {
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const poolSize = Number(values.pool);
  const rules = loadRulePaths([defaultRulesPath()]);
  const pool: PeregrineEvent[] = [];
  for (let i = 0; i < poolSize; i++) pool.push(makeEvent(i));
  const byKind: Record<string, number> = {};
  for (const e of pool) byKind[e.kind] = (byKind[e.kind] ?? 0) + 1;
  // The agent's path: evaluate, then every alert through the collapser.
  const collapser = new AlertCollapser({ windowMs: 10_000 });
  let offered = 0;
  let alerts = 0;
  let emitted = 0;
  const run = (n: number) => {
    for (let k = 0; k < n; k++) {
      const ev = pool[offered % poolSize];
      offered++;
      const found = rules.evaluate(ev);
      for (let j = 0; j < found.length; j++) {
        alerts++;
        emitted += collapser.add(found[j]).length;
      }
    }
  };
  run(poolSize); // warm-up: one pass over the pool
  const perRound: number[] = [];
  // Events per second of this process's own CPU time: on a shared host the wall rate also counts other processes' turns.
  const perCpuRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const cpu0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    const end = start + BigInt(seconds * 1e9);
    let n = 0;
    let now = start;
    while (now < end) {
      run(10_000);
      n += 10_000;
      now = process.hrtime.bigint();
    }
    perRound.push(Math.round(n / (Number(now - start) / 1e9)));
    const cpu = process.cpuUsage(cpu0);
    perCpuRound.push(Math.round(n / ((cpu.user + cpu.system) / 1e6)));
  }
  emitted += collapser.flush().length;
  // Cost per kind (CPU ns per event), to name where the time goes.
  const nsByKind: Record<string, number> = {};
  for (const kind of Object.keys(byKind)) {
    const evs = pool.filter((e) => e.kind === kind);
    const n = Math.max(200_000, evs.length);
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const found = rules.evaluate(evs[i % evs.length]);
      for (let j = 0; j < found.length; j++) collapser.add(found[j]);
    }
    const c = process.cpuUsage(c0);
    nsByKind[kind] = Math.round(((c.user + c.system) * 1000) / n);
    offered += n;
  }
  collapser.flush();
  const stats = rules.stats();
  const sorted = [...perRound].sort((a, b) => a - b);
  const evaluations = stats.perRule.reduce((s, r) => s + r.evaluations, 0);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'rules-throughput',
      rules_enabled: stats.rulesEnabled,
      pool: poolSize,
      mix: byKind,
      events_per_s: perRound,
      median_events_per_s: sorted[Math.floor(sorted.length / 2)],
      events_per_cpu_s: perCpuRound,
      median_events_per_cpu_s: [...perCpuRound].sort((a, b) => a - b)[Math.floor(perCpuRound.length / 2)],
      offered,
      evaluated: stats.events,
      lost: offered - stats.events,
      ignored_kind_without_rules: stats.eventsIgnored,
      rule_evaluations: evaluations,
      alerts,
      alerts_emitted_after_collapse: emitted,
      errors: stats.errors,
      cpu_ns_per_event_by_kind: nsByKind,
      matches_by_rule: Object.fromEntries(
        stats.perRule.filter((r) => r.matches > 0).map((r) => [r.name, r.matches]),
      ),
    })}\n`,
  );
}

// ---------------------------------------------------------------------------
// Latency: a live agent (default policy + rules); each trigger is a fresh
// process, so no alert is collapsed.

function pct(a: number[], p: number): number {
  const s = [...a].sort((x, y) => x - y);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 1000) / 1000;
}

const nowMs = () => performance.timeOrigin + performance.now();
const isoMs = (t: string) => {
  const m = /\.(\d+)Z$/.exec(t);
  const frac = m !== null ? Number(`0.${m[1]}`) * 1000 : 0;
  return Date.parse(`${t.slice(0, 19)}Z`) + frac;
};

async function latency(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('latency needs root (it loads the BPF sensors)');
  const count = Number(values.count);
  const dir = mkdtempSync(join(tmpdir(), 'pg-bench-rules-'));
  const miner = join(dir, 'xmrig');
  copyFileSync('/bin/true', miner);
  chmodSync(miner, 0o755);
  const waiting = new Map<number, (a: Alert) => void>();
  const agent = new Agent({
    output: 'none',
    socket: false,
    rules: loadRulePaths([defaultRulesPath()]),
    policies: loadDefaultPolicy(),
    wakeupBytes: values['wakeup-bytes'] !== undefined ? Number(values['wakeup-bytes']) : undefined,
    pollIntervalMs: values['poll-ms'] !== undefined ? Number(values['poll-ms']) : undefined,
    onAlert: (a) => {
      const w = waiting.get(a.source_event.process.pid);
      if (w !== undefined) w(a);
    },
  });
  const startT = Date.now();
  await agent.start();
  const startS = (Date.now() - startT) / 1000;
  const triggers: Array<[string, string, string[]]> = [
    ['exec (Crypto miner executed)', miner, []],
    ['file.open (Read shadow file)', '/usr/bin/cat', ['/etc/shadow']],
  ];
  const out: Record<string, unknown> = {};
  try {
    for (const [name, file, args] of triggers) {
      const fromSpawn: number[] = [];
      const fromKernel: number[] = [];
      let missed = 0;
      for (let i = 0; i < count; i++) {
        // A random pause, so triggers do not fall in step with the agent's poll timer.
        await new Promise((r) => setTimeout(r, rnd(60)));
        const t0 = nowMs();
        const child = spawn(file, args, { stdio: 'ignore' });
        const closed = new Promise((r) => child.once('close', r).once('error', r));
        const pid = child.pid ?? -1;
        const alert = await new Promise<Alert | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), 2000);
          waiting.set(pid, (a) => {
            clearTimeout(timer);
            resolve(a);
          });
        });
        const t1 = nowMs();
        waiting.delete(pid);
        await closed;
        if (alert === undefined) {
          missed++;
          continue;
        }
        fromSpawn.push(t1 - t0);
        fromKernel.push(t1 - isoMs(alert.source_event.time));
      }
      out[name] = {
        n: fromSpawn.length,
        missed,
        spawn_to_alert_ms: { p50: pct(fromSpawn, 50), p99: pct(fromSpawn, 99), max: pct(fromSpawn, 100) },
        event_to_alert_ms: { p50: pct(fromKernel, 50), p99: pct(fromKernel, 99), max: pct(fromKernel, 100) },
      };
    }
  } finally {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `${JSON.stringify({
      bench: 'rules-latency',
      wakeup_bytes: values['wakeup-bytes'] ?? 'default (65536)',
      poll_ms: values['poll-ms'] ?? 'default (50)',
      agent_start_s: startS,
      triggers: out,
    })}\n`,
  );
}

// ---------------------------------------------------------------------------
// Report: the JSON lines of the runs above as a markdown table.

interface LatencyStats {
  n: number;
  missed: number;
  spawn_to_alert_ms: { p50: number; p99: number; max: number };
  event_to_alert_ms: { p50: number; p99: number; max: number };
}

function report(files: string[]): void {
  const rows: string[] = ['| measure | result |', '| --- | --- |'];
  for (const f of files) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const d = JSON.parse(line);
      if (d.bench === 'rules-throughput') {
        const k = (n: number) => `${Math.round(n / 1000)}k`;
        rows.push(
          `| events/s through ${d.rules_enabled} default rules, one core, wall (median of ${d.events_per_s.length}) | ${k(d.median_events_per_s)} (rounds: ${d.events_per_s.map(k).join(', ')}) |`,
          `| events per CPU-second of the process (median) | ${k(d.median_events_per_cpu_s)} |`,
          `| offered / evaluated / lost | ${d.offered} / ${d.evaluated} / ${d.lost} |`,
          `| rule evaluations per event; alerts per 10k events | ${(d.rule_evaluations / d.evaluated).toFixed(1)}; ${((d.alerts / d.evaluated) * 1e4).toFixed(1)} |`,
        );
      } else if (d.bench === 'rules-latency') {
        for (const [name, t] of Object.entries(d.triggers as Record<string, LatencyStats>)) {
          rows.push(
            `| alert latency, ${name}, wakeup ${d.wakeup_bytes} B / poll ${d.poll_ms} ms: event → onAlert p50 / p99 / max (n=${t.n}, missed ${t.missed}) | ${t.event_to_alert_ms.p50} / ${t.event_to_alert_ms.p99} / ${t.event_to_alert_ms.max} ms |`,
            `| same, spawn() → onAlert p50 / p99 | ${t.spawn_to_alert_ms.p50} / ${t.spawn_to_alert_ms.p99} ms |`,
          );
        }
      }
    }
  }
  process.stdout.write(`${rows.join('\n')}\n`);
}

const mode = positionals[0] ?? 'throughput';
if (mode === 'throughput') throughput();
else if (mode === 'latency') await latency();
else if (mode === 'report') report(positionals.slice(1));
else throw new Error(`unknown mode ${mode}: throughput | latency | report FILE...`);
