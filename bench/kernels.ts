// SPDX-License-Identifier: Apache-2.0
// Renders bench/kernels.sh's measurements (verifier-stats --json, one file per
// kernel) as the markdown tables of bench/README.md: per kernel and object, the
// programs loaded, the largest verified-instruction count and deepest stack
// (with the program), and the object's load time; then the whole start-up load.
import { readFileSync } from 'node:fs';
import type { Measurement } from '../scripts/verifier-stats.js';

interface Row {
  kernel: string;
  object: string;
  programs: string;
  insns: string;
  stack: string;
  loadMs: number;
}

function rows(m: Measurement): Row[] {
  return m.objects.map((o) => {
    const mine = m.programs.filter(
      (p) => p.object === o.object && p.status === 'ok' && p.stats !== undefined,
    );
    const all = m.programs.filter((p) => p.object === o.object);
    let insns = { n: 0, at: '' };
    let stack = { n: 0, at: '' };
    for (const p of mine) {
      const i = p.stats?.processedInsns ?? 0;
      const s = p.stats?.combinedStack ?? 0;
      if (i > insns.n) insns = { n: i, at: p.program };
      if (s > stack.n) stack = { n: s, at: p.program };
    }
    return {
      kernel: m.kernel,
      object: o.object,
      programs: `${mine.length}/${all.length}`,
      insns: mine.length > 0 ? `${insns.n.toLocaleString('en-US')} (${insns.at})` : '-',
      stack: mine.length > 0 ? `${stack.n} (${stack.at})` : '-',
      loadMs: o.loadMs,
    };
  });
}

const files = process.argv.slice(2);
const all = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Measurement);
const lines = [
  '| kernel | object | programs loaded | max verified insns (program) | deepest stack, bytes (program) | load ms |',
  '| --- | --- | --- | --- | --- | --- |',
];
for (const m of all)
  for (const r of rows(m))
    lines.push(
      `| ${r.kernel} | ${r.object} | ${r.programs} | ${r.insns} | ${r.stack} | ${r.loadMs.toFixed(0)} |`,
    );
lines.push(
  '',
  '| kernel | programs | max verified insns | deepest stack | all objects loaded in |',
  '| --- | --- | --- | --- | --- |',
);
for (const m of all) {
  const ok = m.programs.filter((p) => p.status === 'ok' && p.stats !== undefined);
  const insns = Math.max(0, ...ok.map((p) => p.stats?.processedInsns ?? 0));
  const stack = Math.max(0, ...ok.map((p) => p.stats?.combinedStack ?? 0));
  const ms = m.objects.reduce((a, o) => a + o.loadMs, 0);
  lines.push(
    `| ${m.kernel} | ${ok.length} | ${insns.toLocaleString('en-US')} | ${stack} | ${ms.toFixed(0)} ms |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
