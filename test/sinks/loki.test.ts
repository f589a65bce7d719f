// SPDX-License-Identifier: Apache-2.0
// The Loki output against a push endpoint started by the test that checks the
// documented request format (Grafana Loki installs from neither Debian 12 nor
// npm): streams by bounded labels, lines, nanosecond timestamps, tenant and auth,
// refused entries counted, throttling and errors rejecting the send.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { Ajv } from 'ajv';
import { lokiLabels, lokiOutput } from '../../src/sinks/loki.js';
import { unixNanos } from '../../src/sinks/nanos.js';
import type { OutputRecord } from '../../src/sinks/transport.js';
import { alerts, events, podAlert, podConnect, record, recordingContext } from './records.js';

interface Push {
  headers: IncomingMessage['headers'];
  streams: Array<{ stream: Record<string, string>; values: Array<[string, string]> }>;
}

const pushes: Push[] = [];
let answer: { status: number; body: string } | undefined;
let server: Server;
let url = '';

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/loki/api/v1/push');
      assert.equal(req.headers['content-type'], 'application/json');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Push;
      // The push API's documented shape: label values strings, entries [ns-string, line].
      for (const s of body.streams) {
        for (const v of Object.values(s.stream)) assert.equal(typeof v, 'string');
        for (const [ts, line] of s.values) {
          assert.match(ts, /^\d{19}$/);
          assert.equal(typeof line, 'string');
        }
      }
      pushes.push({ headers: req.headers, streams: body.streams });
      if (answer) res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body);
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  url = `http://127.0.0.1:${addr.port}`;
});

after(() => new Promise<void>((r) => server.close(() => r())));

const all: OutputRecord[] = [...events, ...alerts];

test('every event and alert is pushed once, its JSON line under node/kind/priority labels, in time order', async () => {
  pushes.length = 0;
  answer = undefined;
  const ctx = recordingContext();
  const t = lokiOutput.create({ url, tenant: 'team-a', username: 'pg', password: 'pw' }, ctx);
  for (let i = 0; i < all.length; i += 100) await t.send(all.slice(i, i + 100));
  await t.close();
  assert.deepEqual(ctx.rejections, []);
  assert.equal(pushes[0].headers['x-scope-orgid'], 'team-a');
  assert.equal(pushes[0].headers.authorization, `Basic ${Buffer.from('pg:pw').toString('base64')}`);
  const lines = new Map<string, Record<string, string>>();
  for (const p of pushes) {
    for (const s of p.streams) {
      for (let i = 1; i < s.values.length; i++)
        assert.ok(BigInt(s.values[i - 1][0]) <= BigInt(s.values[i][0]));
      for (const [ts, line] of s.values) {
        const value = JSON.parse(line);
        assert.equal(ts, `${unixNanos(value.time)}`);
        lines.set(line, s.stream);
      }
    }
  }
  assert.equal(lines.size, new Set(all.map((r) => r.line)).size);
  for (const r of all) {
    const labels = lines.get(r.line);
    assert.ok(labels, 'line pushed');
    if (r.value.kind === 'alert')
      assert.deepEqual(labels, { node: 'vm', kind: 'alert', priority: r.value.priority });
    else assert.deepEqual(labels, { node: 'vm', kind: r.value.kind });
  }
});

test('container and namespace are labels; pids, paths and ids never are', () => {
  assert.deepEqual(lokiLabels(podConnect), {
    node: 'vm',
    kind: 'network.connect',
    container: 'web',
    namespace: 'shop',
  });
  assert.deepEqual(lokiLabels(podAlert), {
    node: 'vm',
    kind: 'alert',
    priority: 'CRITICAL',
    container: 'web',
    namespace: 'shop',
  });
  // Bounded: as many streams as distinct (kind, priority) pairs in a whole recorded run.
  const streams = new Set(all.map((r) => JSON.stringify(lokiLabels(r.value))));
  assert.ok(streams.size <= 25, `${streams.size} streams`);
});

test('entries Loki refuses (400, too old / out of order) are counted as rejected, not retried', async () => {
  pushes.length = 0;
  answer = {
    status: 400,
    body:
      'entry with timestamp 2026-11-23 11:45:33.446636357 +0000 UTC ignored, reason: \'entry too far behind, oldest acceptable timestamp is: 2026-12-04T18:00:00Z\' for stream: {kind="process.exec", node="vm"},\n' +
      'total ignored: 3 out of 10',
  };
  const ctx = recordingContext();
  const t = lokiOutput.create({ url }, ctx);
  await t.send(all.slice(0, 10));
  assert.equal(pushes.length, 1);
  assert.equal(ctx.rejections.length, 1);
  assert.deepEqual(ctx.rejections[0].slice(0, 2), [3, 'rejected']);
  assert.match(ctx.rejections[0][2], /3 of 10 entries refused: .*entry too far behind/);
});

test('throttling (429), server errors and an unreachable Loki reject the send with what happened', async () => {
  answer = { status: 429, body: 'Ingestion rate limit exceeded for user team-a (limit: 4194304 bytes/sec)' };
  const t = lokiOutput.create({ url }, recordingContext());
  await assert.rejects(
    t.send([record(podConnect)]),
    /loki: push answered 429: Ingestion rate limit exceeded/,
  );
  answer = { status: 500, body: 'rpc error: code = Unavailable desc = no ingesters' };
  await assert.rejects(t.send([record(podConnect)]), /answered 500: .*no ingesters/);
  answer = undefined;
  const down = lokiOutput.create({ url: 'http://127.0.0.1:1', timeoutMs: 2000 }, recordingContext());
  await assert.rejects(down.send([record(podConnect)]), /ECONNREFUSED/);
});

test('options are validated: url required, unknown fields refused, password needs a username', () => {
  const validate = new Ajv({ allErrors: true, strict: true }).compile(lokiOutput.schema);
  assert.ok(
    validate({ url: 'https://loki:3100', tenant: 't', username: 'u', password: 'p', timeoutMs: 5000 }),
  );
  assert.ok(!validate({ tenant: 't' }));
  assert.ok(!validate({ url: 'https://loki:3100', labels: { pid: '1' } }));
  assert.ok(!validate({ url: 'https://loki:3100', password: 'p' }));
});
