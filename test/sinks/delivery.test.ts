// SPDX-License-Identifier: Apache-2.0
// Delivery guarantees with a real agent and real kernel events: a webhook output
// and a file output; the webhook server (a child process) is killed mid-stream and
// restarted. The agent keeps running, the file output loses nothing, and the
// webhook's gap is either resent whole from its spool or, at the spool's bound,
// counted exactly as dropped.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openHandles } from '../../src/kernel/index.js';
import { Outputs } from '../../src/sinks/registry.js';
import type { OutputStats } from '../../src/sinks/transport.js';
import { kernelTest } from '../kernel/helpers.js';
import { run, startAgent } from '../process/agent.js';

/** An NDJSON receiver that appends each body to a file before answering 200 (at-least-once). */
const RECEIVER = `
const fs = require('node:fs');
const [port, file] = process.argv.slice(1);
require('node:http').createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => { fs.appendFileSync(file, body); res.end(); });
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startReceiver(port: number, file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', RECEIVER, String(port), file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`receiver exited ${code}`)));
  });
  return child;
}

async function until(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function linesOf(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
}

/** Lines of execs of our own marker binary. */
function ours(lines: string[], bin: string): string[] {
  return lines.filter((l) => l.includes('"process.exec"') && JSON.parse(l).process.binary === bin);
}

async function scenario(spoolBytes: number) {
  const dir = mkdtempSync(join(tmpdir(), 'pg-delivery-'));
  // A copy of true at a path of our own: its execs are ours alone among the node's events.
  const bin = join(dir, 'pg-delivery-true');
  copyFileSync(realpathSync('/bin/true'), bin);
  const received = join(dir, 'received.ndjson');
  const port = await freePort();
  let server = await startReceiver(port, received);
  const outputs = Outputs.create(
    [
      {
        name: 'hook',
        type: 'webhook',
        queue: { maxRecords: 50 },
        batch: { maxRecords: 50, maxWaitMs: 20 },
        retry: { initialMs: 20, maxMs: 200 },
        spool: { dir: join(dir, 'spool'), maxBytes: spoolBytes },
        options: { url: `http://127.0.0.1:${port}/`, format: 'ndjson', timeoutMs: 2000 },
      },
      {
        name: 'archive',
        type: 'file',
        batch: { maxWaitMs: 20 },
        options: { path: join(dir, 'events.json') },
      },
    ],
    'delivery-test',
  );
  const stat = (name: string) => outputs.stats().find((s) => s.name === name) as OutputStats;
  const a = await startAgent({ outputs, outputsCloseMs: 10_000 });
  try {
    for (let i = 0; i < 20; i++) await run(bin, []);
    await until(() => ours(linesOf(received), bin).length === 20, 'the first 20 execs at the webhook');
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
    for (let i = 0; i < 150; i++) await run(bin, []);
    await until(() => !stat('hook').healthy, 'the webhook output to notice');
    // While the webhook is down, the file output keeps up on its own.
    await until(
      () => ours(linesOf(join(dir, 'events.json')), bin).length === 170,
      'the file output to keep up',
    );
    const down = stat('hook');
    assert.equal(stat('archive').healthy, true, 'the file output is unaffected');
    assert.ok(
      down.queued + down.spooled + (down.dropped.spool_full ?? 0) > 0,
      'the webhook holds or counts the gap',
    );
    server = await startReceiver(port, received);
    for (let i = 0; i < 20; i++) await run(bin, []);
    await until(
      () => ours(linesOf(join(dir, 'events.json')), bin).length === 190,
      'all 190 execs in the file',
    );
    await until(
      () => stat('hook').healthy && stat('hook').spooled === 0 && stat('hook').queued === 0,
      'the webhook to catch up',
    );
  } finally {
    await a.stop(); // closes the outputs: flushes both
    server.kill('SIGKILL');
  }
  const file = linesOf(join(dir, 'events.json'));
  // A batch answered by a dying server is sent again: count once. A body cut short by the
  // kill leaves a partial line, which is no record.
  const inFile = new Set(file);
  const got = new Set(linesOf(received).filter((l) => inFile.has(l)));
  const result = { hook: stat('hook'), archive: stat('archive'), file, got, bin };
  rmSync(dir, { recursive: true, force: true });
  assert.equal(openHandles().total, 0, 'every kernel handle is closed after stop');
  return result;
}

describe('delivery guarantees', kernelTest, () => {
  test('with room in the spool the webhook gets every record once its server is back; the file output lost nothing', async () => {
    const r = await scenario(64 << 20);
    assert.deepEqual(r.archive.dropped, {});
    assert.equal(ours(r.file, r.bin).length, 190);
    assert.deepEqual(r.hook.dropped, {});
    assert.ok(r.hook.retried > 0, 'retries counted');
    for (const l of r.file) assert.ok(r.got.has(l), 'every record the file got reached the webhook');
    assert.equal(r.hook.sent, r.archive.sent);
  });

  test('past the spool bound the webhook drops, and exactly the records it did not deliver are counted', async () => {
    const r = await scenario(32 << 10);
    assert.deepEqual(r.archive.dropped, {});
    assert.equal(ours(r.file, r.bin).length, 190);
    const dropped = Object.values(r.hook.dropped).reduce((n, v) => n + v, 0);
    assert.ok((r.hook.dropped.spool_full ?? 0) > 0, `spool_full counted: ${JSON.stringify(r.hook.dropped)}`);
    assert.equal(
      r.hook.sent + dropped,
      r.archive.sent,
      'every record offered is either sent or counted as dropped',
    );
    const missing = r.file.filter((l) => !r.got.has(l)).length;
    assert.equal(missing, dropped, 'the records the webhook never got are exactly the dropped ones');
    assert.equal(r.got.size, r.hook.sent);
  });
});
