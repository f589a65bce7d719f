// SPDX-License-Identifier: Apache-2.0
// The output framework against a scripted transport: batching, one batch in
// flight, backoff, filters, the rate limit, the bounded queue and the spool.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Alert, PeregrineEvent } from '../events/types.js';
import { compileOutputFilter, TokenBucket } from './filter.js';
import { backoffMs, Output, type OutputConfig, PermanentError } from './output.js';
import type { OutputRecord, Transport } from './transport.js';

function event(n: number, extra: Partial<PeregrineEvent> = {}): OutputRecord {
  const value = {
    time: `t${n}`,
    node: 'n',
    kind: 'process.exec',
    process: { pid: n },
    ...extra,
  } as PeregrineEvent;
  return { kind: value.kind, line: JSON.stringify(value), value };
}

function alert(priority: Alert['priority'], source: Partial<PeregrineEvent> = {}): OutputRecord {
  const value = { kind: 'alert', rule: 'r', priority, source_event: source } as unknown as Alert;
  return { kind: 'alert', line: JSON.stringify(value), value };
}

/** Records what it got; `down` makes every send fail; checks that sends never overlap. */
class ScriptedTransport implements Transport {
  readonly type = 'test';
  batches: string[][] = [];
  down = false;
  attempts = 0;
  private busy = false;
  overlapped = false;
  delayMs = 0;
  permanent = false;

  async send(batch: readonly OutputRecord[]): Promise<void> {
    if (this.busy) this.overlapped = true;
    this.busy = true;
    this.attempts++;
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      if (this.permanent) throw new PermanentError('HTTP 400');
      if (this.down) throw new Error('connection refused');
      this.batches.push(batch.map((r) => r.line));
    } finally {
      this.busy = false;
    }
  }
  async close(): Promise<void> {}
  lines(): string[] {
    return this.batches.flat();
  }
}

const fast: Partial<OutputConfig> = {
  retry: { initialMs: 5, maxMs: 20 },
  batch: { maxRecords: 10, maxWaitMs: 5 },
};

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('the filter takes kinds by dot-boundary prefix, alerts by minimum priority, policies and namespaces', () => {
  const f = compileOutputFilter({ kinds: ['file', 'alert'], minPriority: 'WARNING' });
  assert.ok(f);
  assert.equal(f({ ...event(1), kind: 'file.open' }), true);
  assert.equal(f({ ...event(1), kind: 'filesystem.mount' }), false);
  assert.equal(f(event(1)), false);
  assert.equal(f(alert('CRITICAL')), true);
  assert.equal(f(alert('NOTICE')), false);
  const byPolicy = compileOutputFilter({ policies: ['p2'] });
  assert.equal(byPolicy?.(event(1, { policy: { name: 'p1', names: ['p1', 'p2'] } })), true);
  assert.equal(byPolicy?.(event(1)), false);
  assert.equal(byPolicy?.(alert('ERROR', { policy: { name: 'p2' } } as Partial<PeregrineEvent>)), true);
  const byNs = compileOutputFilter({ namespaces: ['prod'] });
  const pod = { namespace: 'prod', name: 'x', uid: 'u', labels: {} };
  assert.equal(byNs?.(event(1, { pod })), true);
  assert.equal(byNs?.(event(1)), false);
  assert.equal(compileOutputFilter({ events: false })?.(event(1)), false);
  assert.equal(compileOutputFilter({}), null, 'an empty filter costs nothing');
});

test('the token bucket passes a burst, then the refill rate', () => {
  let now = 0;
  const b = new TokenBucket({ perSecond: 10, burst: 3 }, () => now);
  assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
  now += 100; // one token at 10/s
  assert.deepEqual([b.take(), b.take()], [true, false]);
  now += 10_000;
  assert.equal([1, 2, 3, 4].filter(() => b.take()).length, 3, 'the bucket never holds more than burst');
});

test('backoff doubles from initialMs up to maxMs, jittered within [half, full]', () => {
  assert.equal(
    backoffMs(1, 100, 1000, () => 0),
    50,
  );
  assert.equal(
    backoffMs(1, 100, 1000, () => 1),
    100,
  );
  assert.equal(
    backoffMs(3, 100, 1000, () => 1),
    400,
  );
  assert.equal(
    backoffMs(10, 100, 1000, () => 1),
    1000,
  );
  assert.equal(
    backoffMs(80, 100, 1000, () => 0.5),
    750,
  );
});

test('records go out in order, in batches of at most maxRecords, one batch in flight', async () => {
  const t = new ScriptedTransport();
  t.delayMs = 2;
  const o = new Output({ name: 'x', type: 'test', ...fast }, t);
  o.start();
  for (let i = 0; i < 95; i++) o.offer(event(i));
  await until(() => t.lines().length === 95, 'all records');
  assert.ok(t.batches.every((b) => b.length <= 10));
  assert.deepEqual(
    t.lines().map((l) => JSON.parse(l).process.pid),
    Array.from({ length: 95 }, (_, i) => i),
  );
  assert.equal(t.overlapped, false);
  await o.close(1000);
  assert.equal(o.stats().sent, 95);
});

test('a batch waits up to maxWaitMs for company', async () => {
  const t = new ScriptedTransport();
  const o = new Output({ name: 'x', type: 'test', batch: { maxRecords: 100, maxWaitMs: 80 } }, t);
  o.start();
  o.offer(event(1));
  await new Promise((r) => setTimeout(r, 30));
  o.offer(event(2));
  assert.equal(t.batches.length, 0);
  await until(() => t.batches.length === 1, 'the timed batch');
  assert.equal(t.batches[0].length, 2);
  await o.close(1000);
});

test('a failing server is retried with backoff, counted, and loses nothing that fits the queue', async () => {
  const t = new ScriptedTransport();
  t.down = true;
  const o = new Output({ name: 'x', type: 'test', ...fast }, t);
  o.start();
  for (let i = 0; i < 20; i++) o.offer(event(i));
  await until(() => t.attempts >= 4, 'retries');
  assert.equal(o.stats().healthy, false);
  assert.match(o.stats().last_error ?? '', /connection refused/);
  t.down = false;
  await until(() => t.lines().length === 20, 'delivery after recovery');
  const s = o.stats();
  assert.equal(s.healthy, true);
  assert.ok(s.retried >= 3, `retried ${s.retried}`);
  assert.equal(s.sent, 20);
  await o.close(1000);
});

test('without a spool a full queue drops exactly the overflow (queue_full), and the rate limit counts its drops', async () => {
  const t = new ScriptedTransport();
  t.down = true;
  const o = new Output({ name: 'x', type: 'test', ...fast, queue: { maxRecords: 50 } }, t);
  o.start();
  for (let i = 0; i < 80; i++) o.offer(event(i));
  assert.equal(o.stats().dropped.queue_full, 30);
  await o.close(50);
  // The 10 in flight and 40 queued are lost at shutdown, counted.
  assert.equal(o.stats().dropped.shutdown, 50);

  const r = new Output(
    { name: 'r', type: 'test', ...fast, rateLimit: { perSecond: 1, burst: 5 } },
    new ScriptedTransport(),
  );
  for (let i = 0; i < 12; i++) r.offer(event(i));
  assert.equal(r.stats().dropped.rate_limited, 7);
  await r.close(100);
});

test('a batch the server refuses for good is dropped as rejected, not retried', async () => {
  const t = new ScriptedTransport();
  t.permanent = true;
  const o = new Output({ name: 'x', type: 'test', ...fast }, t);
  o.start();
  for (let i = 0; i < 5; i++) o.offer(event(i));
  await until(() => o.stats().dropped.rejected === 5, 'rejection');
  assert.equal(t.attempts, 1);
  await o.close(100);
});

test('the spool takes over while the server is down and replays in order once it is back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-spool-'));
  try {
    const t = new ScriptedTransport();
    t.down = true;
    const o = new Output(
      {
        name: 'x',
        type: 'test',
        ...fast,
        queue: { maxRecords: 20 },
        spool: { dir, maxBytes: 1 << 20, segmentBytes: 2000 },
      },
      t,
    );
    o.start();
    o.offer(event(0));
    await until(() => t.attempts >= 1, 'first failure');
    for (let i = 1; i < 300; i++) o.offer(event(i));
    await until(() => o.stats().spooled === 299, 'spooled');
    await until(() => readdirSync(dir).length > 5, 'several segments on disk');
    t.down = false;
    await until(() => t.lines().length === 300, 'replay');
    assert.deepEqual(
      t.lines().map((l) => JSON.parse(l).process.pid),
      Array.from({ length: 300 }, (_, i) => i),
    );
    await until(() => o.stats().spooled === 0, 'spool emptied');
    await until(() => readdirSync(dir).length === 0, 'delivered segments deleted');
    const s = o.stats();
    assert.equal(s.sent, 300);
    assert.deepEqual(s.dropped, {});
    await o.close(1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a full spool drops exactly what is past its bound, and what it holds survives a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-spool-'));
  try {
    const line = event(0).line;
    const per = Buffer.byteLength(line) + 1;
    const t = new ScriptedTransport();
    t.down = true;
    const o = new Output({ name: 'x', type: 'test', ...fast, spool: { dir, maxBytes: per * 40 } }, t);
    o.start();
    o.offer(event(0));
    await until(() => t.attempts >= 1, 'first failure');
    for (let i = 1; i < 101; i++) o.offer(event(i % 10));
    const s = o.stats();
    assert.equal(s.spooled, 40);
    assert.equal(s.dropped.spool_full, 60);
    await o.close(50);
    // The in-flight record found no room either: counted at shutdown.
    assert.equal(o.stats().dropped.shutdown, 1);

    const t2 = new ScriptedTransport();
    const again = new Output({ name: 'x', type: 'test', ...fast, spool: { dir, maxBytes: per * 40 } }, t2);
    assert.equal(again.stats().spooled, 40);
    again.start();
    await until(() => t2.lines().length === 40, 'replay after restart');
    await again.close(1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('close() persists the memory queue in the spool, older than what was spooled, for the next run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-spool-'));
  try {
    const t = new ScriptedTransport();
    t.down = true;
    const o = new Output({ name: 'x', type: 'test', ...fast, spool: { dir, maxBytes: 1 << 20 } }, t);
    for (let i = 0; i < 5; i++) o.offer(event(i)); // queued in memory (healthy until the first failure)
    o.start();
    await until(() => t.attempts >= 1, 'first failure');
    for (let i = 5; i < 8; i++) o.offer(event(i)); // spooled
    await o.close(30);
    assert.deepEqual(o.stats().dropped, {});
    const t2 = new ScriptedTransport();
    const again = new Output({ name: 'x', type: 'test', ...fast, spool: { dir, maxBytes: 1 << 20 } }, t2);
    again.start();
    await until(() => t2.lines().length === 8, 'replay');
    assert.deepEqual(
      t2.lines().map((l) => JSON.parse(l).process.pid),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
    await again.close(1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
