// SPDX-License-Identifier: Apache-2.0
// The webhook output against a real node http server: batches arrive as a JSON
// array or NDJSON with the configured headers, and the HMAC verifies as docs/outputs.md says.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Output } from '../../src/sinks/output.js';
import type { OutputRecord } from '../../src/sinks/transport.js';
import { WebhookTransport } from '../../src/sinks/webhook.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

async function receiver(status = () => 200): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(status()).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

/** The receiver's check, as documented: HMAC-SHA256 of "<timestamp>.<raw body>", compared in constant time. */
function verify(secret: string, r: Received): boolean {
  const ts = String(r.headers['x-peregrine-timestamp']);
  const sig = String(r.headers['x-peregrine-signature']);
  const want = `sha256=${createHmac('sha256', secret).update(`${ts}.${r.body}`).digest('hex')}`;
  const fresh = Math.abs(Date.now() / 1000 - Number(ts)) < 300;
  return fresh && sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want));
}

function rec(n: number): OutputRecord {
  const value = { time: 't', node: 'n', kind: 'process.exec', process: { pid: n } };
  return { kind: value.kind, line: JSON.stringify(value), value: value as unknown as OutputRecord['value'] };
}

test('batches are POSTed as a JSON array with headers and a verifiable HMAC signature', async () => {
  const { server, url, got } = await receiver();
  try {
    const t = new WebhookTransport({ url, secret: 's3cret', headers: { Authorization: 'Bearer abc' } });
    await t.send([rec(1), rec(2)]);
    assert.equal(got.length, 1);
    assert.equal(got[0].headers['content-type'], 'application/json');
    assert.equal(got[0].headers.authorization, 'Bearer abc');
    assert.deepEqual(
      JSON.parse(got[0].body).map((e: { process: { pid: number } }) => e.process.pid),
      [1, 2],
    );
    assert.equal(verify('s3cret', got[0]), true);
    assert.equal(verify('wrong', got[0]), false);
    assert.equal(
      verify('s3cret', { ...got[0], body: got[0].body.replace('2', '3') }),
      false,
      'a changed body fails',
    );

    const nd = new WebhookTransport({ url, format: 'ndjson', secret: 'k' });
    await nd.send([rec(3), rec(4)]);
    assert.equal(got[1].headers['content-type'], 'application/x-ndjson');
    assert.equal(got[1].body.split('\n').filter(Boolean).length, 2);
    assert.equal(verify('k', got[1]), true);
  } finally {
    server.close();
  }
});

test('5xx is retried through the framework; 400 is dropped as rejected without retries', async () => {
  let answer = 503;
  const { server, url, got } = await receiver(() => answer);
  try {
    const o = new Output(
      { name: 'w', type: 'webhook', retry: { initialMs: 10, maxMs: 20 }, batch: { maxWaitMs: 1 } },
      new WebhookTransport({ url }),
    );
    o.start();
    o.offer(rec(1));
    while (got.length < 3) await new Promise((r) => setTimeout(r, 5));
    answer = 200;
    while (o.stats().sent < 1) await new Promise((r) => setTimeout(r, 5));
    assert.ok(o.stats().retried >= 2);
    answer = 400;
    const before = got.length;
    o.offer(rec(2));
    while (o.stats().dropped.rejected !== 1) await new Promise((r) => setTimeout(r, 5));
    assert.equal(got.length, before + 1, 'no retry of a refused batch');
    assert.match(o.stats().last_error ?? '', /HTTP 400/);
    await o.close(500);
  } finally {
    server.close();
  }
});

test('https with caFile: the server certificate is checked against that CA', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const got: string[] = [];
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        got.push(body);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      await new WebhookTransport({ url, caFile: cert }).send([rec(7)]);
      assert.equal(JSON.parse(got[0])[0].process.pid, 7);
      await assert.rejects(new WebhookTransport({ url }).send([rec(8)]), /self-signed|certificate/);
      assert.equal(got.length, 1);
    } finally {
      server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
