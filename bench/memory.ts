// SPDX-License-Identifier: Apache-2.0
// Memory: RSS and heap of a ProcessCache holding N realistic cached processes, after a full GC (run with --expose-gc).
//
// Usage: node --expose-gc dist/bench/memory.js [--count N]
// Prints one JSON line (MB are MiB).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ProcessCache } from '../src/process/cache.js';
import { KernelClock, nodeIdentity } from '../src/process/identity.js';
import { processRecord } from './records.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '50000' } } });
const count = Number(values.count);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function rssMiB(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

function settle(): void {
  for (let i = 0; i < 3; i++) gc?.();
}

const round = (x: number) => Math.round(x * 10) / 10;
const node = nodeIdentity('bench-node');
const cache = new ProcessCache({ node, clock: new KernelClock(), maxEntries: Math.max(65536, count) });
// The modules the agent's cache path uses are loaded; measure before any entry.
processRecord(0, 1);
settle();
const before = { rss: rssMiB(), heap: process.memoryUsage().heapUsed / 2 ** 20 };

let ktime = 1_000_000_000_000;
for (let i = 0; i < count; i++) {
  ktime += 250_000;
  cache.upsert(processRecord(i, ktime));
}
settle();
const after = { rss: rssMiB(), heap: process.memoryUsage().heapUsed / 2 ** 20 };

let jsonChars = 0;
for (const e of cache.entries()) jsonChars += e.json.length;

process.stdout.write(
  `${JSON.stringify({
    count,
    cached: cache.size,
    rss_before_mb: round(before.rss),
    rss_after_mb: round(after.rss),
    rss_delta_mb: round(after.rss - before.rss),
    heap_before_mb: round(before.heap),
    heap_after_mb: round(after.heap),
    heap_delta_mb: round(after.heap - before.heap),
    bytes_per_entry: Math.round(((after.heap - before.heap) * 2 ** 20) / count),
    // One-byte strings: about one byte per character plus a 16-byte header.
    json_bytes_per_entry: Math.round(jsonChars / count + 16),
  })}\n`,
);
