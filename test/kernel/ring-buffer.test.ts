// SPDX-License-Identifier: Apache-2.0
// RingBuffer against the real kernel: exact delivery in order, batching into one
// reused Buffer, an event loop that keeps turning, and the NO_WAKEUP safety net.
import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { BpfObject, forEachRecord, type Link, RingBuffer } from '../../src/kernel/index.js';
import { fixture, kernelTest, leakGuard, sleep } from './helpers.js';

interface Setup {
  obj: BpfObject;
  link: Link;
}

function setup(noWakeup: boolean): Setup {
  const obj = BpfObject.open(fixture('fixture'));
  try {
    obj.setConst('target_tgid', process.pid);
    obj.setConst('magic', 42n);
    obj.setConst('no_wakeup', noWakeup);
    obj.setAutoload('handle_iter', false);
    obj.load();
    return { obj, link: obj.attach('handle_getprio') };
  } catch (e) {
    obj.close();
    throw e;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(5);
}

describe('RingBuffer', kernelTest, () => {
  let guard: ReturnType<typeof leakGuard>;
  beforeEach(() => {
    fixture('fixture');
    guard = leakGuard();
  });
  afterEach(() => guard.check());

  test('delivers every record exactly once, in order, while the event loop keeps running', async () => {
    const N = 5000;
    const { obj, link } = setup(false);
    const seqs: number[] = [];
    const buffers = new Set<Buffer>();
    // The loop must keep turning while records flow: track the longest gap between 1 ms ticks.
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 1);
    const rb = new RingBuffer(
      obj.map('pg_events'),
      (batch, used) => {
        buffers.add(batch);
        forEachRecord(batch, used, (b, off, len) => {
          assert.equal(len, 16);
          assert.equal(b.readUInt32LE(off + 4), process.pid);
          assert.equal(b.readBigUInt64LE(off + 8), 42n);
          seqs.push(b.readUInt32LE(off));
        });
      },
      { batchBytes: 64 * 1024, pollIntervalMs: 100 },
    );
    try {
      for (let sent = 0; sent < N; ) {
        for (let i = 0; i < 250; i++, sent++) getPriority(0);
        await new Promise((r) => setImmediate(r)); // let the consumer run between bursts
      }
      const ticksBefore = ticks;
      await waitFor(() => seqs.length >= N, 3000);
      await sleep(20);
      assert.ok(ticks > ticksBefore, 'timers fired while waiting for records');
      assert.ok(maxGap < 250, `event loop stalled ${maxGap.toFixed(1)} ms`);
      assert.equal(seqs.length, N);
      assert.deepEqual(
        seqs,
        Array.from({ length: N }, (_, i) => i),
      );
      assert.equal(buffers.size, 1, 'one reused Buffer');
      const s = rb.stats();
      assert.equal(s.records, N);
      assert.equal(s.bytes, N * 16);
      assert.equal(s.oversize, 0);
      assert.ok(s.wakeups > 0, 'epoll woke the consumer');
      assert.ok(s.callbacks >= s.batches && s.batches > 0);
    } finally {
      clearInterval(ticker);
      rb.close();
      link.close();
      obj.close();
    }
    assert.equal(rb.stats().records, N, 'stats survive close');
  });

  test('a full batch is flushed mid-consume into the same Buffer', async () => {
    const { obj, link } = setup(false);
    let records = 0;
    let maxUsed = 0;
    const rb = new RingBuffer(
      obj.map('pg_events'),
      (batch, used) => {
        maxUsed = Math.max(maxUsed, used);
        forEachRecord(batch, used, () => records++);
      },
      { batchBytes: 100, pollIntervalMs: 0 }, // 5 records of 4+16 bytes
    );
    try {
      for (let i = 0; i < 200; i++) getPriority(0); // no yield: one consume sees all
      rb.drain();
      assert.equal(records, 200);
      assert.ok(maxUsed <= 100);
      const s = rb.stats();
      assert.ok(s.callbacks >= 40, `callbacks ${s.callbacks}`);
      assert.ok(s.callbacks > s.batches, 'several callbacks per consume round');
    } finally {
      rb.close();
      link.close();
      obj.close();
    }
  });

  test('the safety-net timer delivers records submitted with BPF_RB_NO_WAKEUP', async () => {
    const N = 100;
    const { obj, link } = setup(true);
    let records = 0;
    const rb = new RingBuffer(obj.map('pg_events'), (b, used) => forEachRecord(b, used, () => records++), {
      pollIntervalMs: 20,
    });
    try {
      for (let i = 0; i < N; i++) getPriority(0);
      await waitFor(() => records >= N, 2000);
      assert.equal(records, N);
      const s = rb.stats();
      assert.equal(s.timerRecords, N, 'all records came through the timer');
      assert.ok(s.timerRuns > 0);
    } finally {
      rb.close();
      link.close();
      obj.close();
    }
  });

  test('closing from inside the batch handler stops delivery safely', async () => {
    const { obj, link } = setup(false);
    let calls = 0;
    const rb: RingBuffer = new RingBuffer(
      obj.map('pg_events'),
      () => {
        calls++;
        rb.close();
      },
      { batchBytes: 64, pollIntervalMs: 0 },
    );
    try {
      for (let i = 0; i < 50; i++) getPriority(0);
      await waitFor(() => calls > 0, 1000);
      await sleep(10);
      assert.equal(calls, 1);
      assert.ok(rb.closed);
    } finally {
      rb.close();
      link.close();
      obj.close();
    }
  });
});
