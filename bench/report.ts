// SPDX-License-Identifier: Apache-2.0
// Turns the raw lines written by bench/run-all.sh into the markdown results table (checks included).
//
// Usage: node dist/bench/report.js RAW_FILE EXECS REPS
import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';

interface Proc {
  records: { exec: number; fork: number; exit: number; proc: number };
  kernel_drops: { exec: number; fork: number; exit: number; proc: number };
  decode_errors: number;
  ring?: { wakeups: number; timerRuns: number; batches: number };
}

const [file, execsArg, repsArg] = process.argv.slice(2);
const execs = Number(execsArg);
const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);

function rest(line: string, n: number): { head: string[]; tail: string } {
  const head: string[] = [];
  let s = line;
  for (let i = 0; i < n; i++) {
    const sp = s.indexOf(' ');
    head.push(s.slice(0, sp));
    s = s.slice(sp + 1);
  }
  return { head, tail: s };
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const drops = (p: Proc) => p.kernel_drops.exec + p.kernel_drops.fork + p.kernel_drops.exit;
const fmt = (x: number, d = 2) => x.toFixed(d);
const out: string[] = [];

out.push(
  `Machine: ${availableParallelism()} CPUs, kernel ${release()}, Node ${process.version}; ` +
    `run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ` +
    `load average at start ${lines.find((l) => l.startsWith('load_start '))?.slice(11) ?? '?'}, ` +
    `at end ${lines.find((l) => l.startsWith('load_end '))?.slice(9) ?? '?'}; ` +
    `agent options: ${lines.find((l) => l.startsWith('pg_args '))?.slice(8) ?? ''}`,
);
out.push('');

// (a) exec storm
const times = new Map<string, number[]>();
const agents = new Map<string, { cpu: number; p: Proc }[]>();
for (const l of lines) {
  if (l.startsWith('storm ')) {
    const [, cfg, , t] = l.split(' ');
    times.set(cfg, [...(times.get(cfg) ?? []), Number(t)]);
  } else if (l.startsWith('agent ')) {
    const { head, tail } = rest(l, 4);
    const p = (JSON.parse(tail) as { sensors: { process: Proc } }).sensors.process;
    agents.set(head[1], [...(agents.get(head[1]) ?? []), { cpu: Number(head[3]), p }]);
  }
}
const base = median(times.get('none') ?? [Number.NaN]);
out.push(`### (a) Exec storm: ${execs} × fork+execve(/bin/true)+waitpid, ${repsArg} interleaved repetitions`);
out.push('');
out.push('| configuration | median s | µs/exec | slowdown | runs (s) | every exec reported |');
out.push('|---|---|---|---|---|---|');
const labels: Record<string, string> = {
  none: 'no agent',
  peregrine: 'peregrine run (default: wake-up at 64 KiB)',
  'peregrine-wakeup0': 'peregrine run --wakeup-bytes 0',
  auditd: 'auditd + execve rule',
  bpftrace: 'bpftrace printing each exec',
};
for (const cfg of ['none', 'peregrine', 'peregrine-wakeup0', 'auditd', 'bpftrace']) {
  const ts = times.get(cfg);
  if (ts === undefined) continue;
  const m = median(ts);
  let reported = 'n/a';
  const runs = agents.get(cfg);
  if (runs !== undefined) {
    const ok = runs.every((r) => r.p.records.exec >= execs && drops(r.p) === 0 && r.p.decode_errors === 0);
    const minExec = Math.min(...runs.map((r) => r.p.records.exec));
    const allDrops = runs.reduce((n, r) => n + drops(r.p), 0);
    const wakeups = median(runs.map((r) => r.p.ring?.wakeups ?? 0));
    const cpu = median(runs.map((r) => r.cpu));
    reported =
      `${ok ? 'yes' : 'NO'}: records.exec ≥ ${minExec} in every run, kernel drops ${allDrops}; ` +
      `median ${wakeups} wake-ups, agent CPU ${fmt(cpu)} s`;
  }
  out.push(
    `| ${labels[cfg]} | ${fmt(m, 3)} | ${fmt((m / execs) * 1e6, 0)} | ${fmt(m / base, 3)}× | ${ts.map((t) => fmt(t, 2)).join(', ')} | ${reported} |`,
  );
}
out.push('');

// (b) drops vs offered rate
out.push('### (b) Kernel drops vs offered rate (concurrent exec storms, agent running)');
out.push('');
out.push(
  '| ring | storms | execs | elapsed s | offered execs/s | records exec/fork/exit | kernel drops exec/fork/exit | wake-ups |',
);
out.push('|---|---|---|---|---|---|---|---|');
// One agent per ring size: each row is the difference from the previous reading of that agent.
let prev: Proc | undefined;
for (const l of lines) {
  if (!l.startsWith('drops ')) continue;
  const { head, tail } = rest(l, 6);
  const [, ring, p, n, t] = head;
  const s = (JSON.parse(tail) as { sensors: { process: Proc } }).sensors.process;
  if (p === '1') prev = undefined;
  const r0 = prev?.records ?? { exec: 0, fork: 0, exit: 0 };
  const d0 = prev?.kernel_drops ?? { exec: 0, fork: 0, exit: 0 };
  const w0 = prev?.ring?.wakeups ?? 0;
  const r = s.records;
  const d = s.kernel_drops;
  out.push(
    `| ${ring} MiB | ${p} | ${n} | ${fmt(Number(t))} | ${fmt(Number(n) / Number(t), 0)} | ` +
      `${r.exec - r0.exec}/${r.fork - r0.fork}/${r.exit - r0.exit} | ` +
      `${d.exec - d0.exec}/${d.fork - d0.fork}/${d.exit - d0.exit} | ${(s.ring?.wakeups ?? 0) - w0} |`,
  );
  prev = s;
}
out.push('');

// (b) pipeline
out.push('### (b) Pipeline throughput: synthetic batches → ProcessSensor.onBatch, one core (taskset)');
out.push('');
out.push('| variant | median records/s | rounds (records/s) | records fed = decoded | events | zero loss |');
out.push('|---|---|---|---|---|---|');
for (const l of lines) {
  if (!l.startsWith('pipeline ')) continue;
  const j = JSON.parse(l.slice(9));
  out.push(
    `| ${j.variant} | ${j.median_records_per_s.toLocaleString('en-US')} | ${j.rounds.map((x: number) => x.toLocaleString('en-US')).join(', ')} | ${j.fed} = ${j.decoded} | ${j.emitted} | ${j.zero_loss ? 'yes' : 'NO'} |`,
  );
}
out.push('');

// (c) memory
out.push('### (c) Memory');
out.push('');
out.push('| measurement | value |');
out.push('|---|---|');
for (const l of lines) {
  if (l.startsWith('idle_rss_kb ')) {
    out.push(
      `| peregrine run, idle 5 s after start: VmRSS | ${fmt(Number(l.split(' ')[1]) / 1024, 1)} MiB |`,
    );
  } else if (l.startsWith('memory ')) {
    const j = JSON.parse(l.slice(7));
    out.push(
      `| in-process: RSS before → after ${j.count} cached processes (after GC) | ${j.rss_before_mb} → ${j.rss_after_mb} MiB (+${j.rss_delta_mb}) |`,
    );
    out.push(
      `| in-process: V8 heap used before → after | ${j.heap_before_mb} → ${j.heap_after_mb} MiB (+${j.heap_delta_mb}; ${j.bytes_per_entry} B/entry, of which cached JSON ${j.json_bytes_per_entry} B) |`,
    );
    const idle = lines.find((x) => x.startsWith('idle_rss_kb '));
    if (idle !== undefined) {
      const est = Number(idle.split(' ')[1]) / 1024 + j.rss_delta_mb;
      out.push(`| estimate: agent idle RSS + cache RSS delta | ${fmt(est, 1)} MiB |`);
    }
  }
}
process.stdout.write(`${out.join('\n')}\n`);
