// SPDX-License-Identifier: Apache-2.0
// The Elasticsearch / OpenSearch output against a bulk endpoint started by the
// test (neither server installs from Debian 12 or npm): documents created as
// ECS, auth headers, per-item refusals counted, busy items retried without duplicates.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { Ajv } from 'ajv';
import { elasticsearchOutput } from '../../src/sinks/elasticsearch.js';
import type { OutputRecord } from '../../src/sinks/transport.js';
import { alerts, events, recordingContext } from './records.js';

interface BulkCall {
  url: string;
  headers: IncomingMessage['headers'];
  actions: Array<{ create: { _index: string; _id: string } }>;
  docs: Array<Record<string, unknown>>;
}

/**
 * A `_bulk` endpoint as Elasticsearch documents it: NDJSON action/document
 * pairs in, `{ errors, items: [{ create: { _index, _id, status, error? } }] }`
 * out, 409 for a `create` of an existing id. `verdict` may refuse a document.
 */
class BulkServer {
  readonly calls: BulkCall[] = [];
  readonly stored = new Map<string, Record<string, unknown>>();
  verdict: (doc: Record<string, unknown>) => { status: number; type: string; reason: string } | undefined =
    () => undefined;
  answer: { status: number; body: string } | undefined;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.answer) {
          res.writeHead(this.answer.status, { 'content-type': 'application/json' }).end(this.answer.body);
          return;
        }
        const lines = Buffer.concat(chunks).toString('utf8').split('\n');
        assert.equal(lines.pop(), '', 'bulk body ends with a newline');
        const call: BulkCall = { url: req.url ?? '', headers: req.headers, actions: [], docs: [] };
        const items = [];
        for (let i = 0; i < lines.length; i += 2) {
          const action = JSON.parse(lines[i]);
          const doc = JSON.parse(lines[i + 1]);
          call.actions.push(action);
          call.docs.push(doc);
          const { _index, _id } = action.create;
          const key = `${_index}/${_id}`;
          const refused = this.verdict(doc);
          if (refused) {
            items.push({
              create: {
                _index,
                _id,
                status: refused.status,
                error: { type: refused.type, reason: refused.reason },
              },
            });
          } else if (this.stored.has(key)) {
            items.push({
              create: {
                _index,
                _id,
                status: 409,
                error: {
                  type: 'version_conflict_engine_exception',
                  reason: `[${_id}]: version conflict, document already exists`,
                },
              },
            });
          } else {
            this.stored.set(key, doc);
            items.push({ create: { _index, _id, _version: 1, result: 'created', status: 201 } });
          }
        }
        this.calls.push(call);
        const errors = items.some((i) => i.create.status > 299);
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ took: 3, errors, items }));
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    return `http://127.0.0.1:${addr.port}`;
  }

  reset(): void {
    this.calls.length = 0;
    this.stored.clear();
    this.verdict = () => undefined;
    this.answer = undefined;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server?.close(() => r()));
  }
}

const es = new BulkServer();
let url = '';
const all: OutputRecord[] = [...events, ...alerts];

before(async () => {
  url = await es.start();
});
after(() => es.close());

test('every recorded event and alert is created, as ECS, in the data stream, with basic auth', async () => {
  es.reset();
  const ctx = recordingContext();
  const t = elasticsearchOutput.create({ url, username: 'peregrine', password: 's3cret' }, ctx);
  for (let i = 0; i < all.length; i += 100) await t.send(all.slice(i, i + 100));
  await t.close();
  assert.equal(es.stored.size, all.length);
  assert.deepEqual(ctx.rejections, []);
  const call = es.calls[0];
  assert.match(call.url, /^\/_bulk\?filter_path=/);
  assert.equal(call.headers['content-type'], 'application/x-ndjson');
  assert.equal(call.headers.authorization, `Basic ${Buffer.from('peregrine:s3cret').toString('base64')}`);
  assert.ok(call.actions.every((a) => a.create._index === 'logs-peregrine-default'));
  const first = call.docs[0] as { '@timestamp': string; event: { kind: string }; process: { pid: number } };
  assert.equal(first['@timestamp'], events[0].value.time);
  assert.equal(first.event.kind, 'event');
  assert.equal(first.process.pid, events[0].value.kind === 'alert' ? -1 : events[0].value.process.pid);
  const alertDoc = es.calls.at(-1)?.docs.at(-1) as { event: { kind: string }; rule: { name: string } };
  assert.equal(alertDoc.event.kind, 'alert');
  assert.equal(alertDoc.rule.name, (alerts[alerts.length - 1].value as { rule: string }).rule);
});

test('daily indices and an API key', async () => {
  es.reset();
  const t = elasticsearchOutput.create(
    { url, index: 'peregrine', dateSuffix: true, apiKey: 'a2V5OnNlY3JldA==' },
    recordingContext(),
  );
  await t.send(all.slice(0, 3));
  assert.deepEqual(
    es.calls[0].actions.map((a) => a.create._index),
    ['peregrine-2026.11.23', 'peregrine-2026.11.23', 'peregrine-2026.11.23'],
  );
  assert.equal(es.calls[0].headers.authorization, 'ApiKey a2V5OnNlY3JldA==');
});

test('documents the cluster refuses are counted as rejected, the rest delivered, nothing retried', async () => {
  es.reset();
  const pid = (events[0].value as { process: { pid: number } }).process.pid;
  es.verdict = (doc) =>
    (doc.process as { pid: number }).pid === pid
      ? { status: 400, type: 'mapper_parsing_exception', reason: 'failed to parse field [process.pid]' }
      : undefined;
  const ctx = recordingContext();
  const t = elasticsearchOutput.create({ url }, ctx);
  const batch = all.slice(0, 50);
  const refused = batch.filter((r) => r.value.kind !== 'alert' && r.value.process.pid === pid).length;
  assert.ok(refused > 0 && refused < batch.length);
  await t.send(batch);
  assert.equal(es.calls.length, 1);
  assert.equal(es.stored.size, batch.length - refused);
  assert.equal(ctx.rejections.length, 1);
  assert.equal(ctx.rejections[0][0], refused);
  assert.equal(ctx.rejections[0][1], 'rejected');
  assert.match(ctx.rejections[0][2], /mapper_parsing_exception: failed to parse field \[process.pid\]/);
});

test('busy items fail the send; sending the batch again creates each document once', async () => {
  es.reset();
  let busy = 5;
  es.verdict = () =>
    busy-- > 0
      ? {
          status: 429,
          type: 'es_rejected_execution_exception',
          reason: 'rejected execution of coordinating operation',
        }
      : undefined;
  const ctx = recordingContext();
  const t = elasticsearchOutput.create({ url }, ctx);
  const batch = all.slice(0, 40);
  await assert.rejects(t.send(batch), /5 of 40 documents not accepted \(429 es_rejected_execution_exception/);
  assert.equal(es.stored.size, 35);
  await t.send(batch);
  assert.equal(es.stored.size, 40);
  assert.deepEqual(ctx.rejections, []);
});

test('a refused request or an unreachable cluster rejects the send with what happened', async () => {
  es.reset();
  es.answer = {
    status: 401,
    body: '{"error":{"type":"security_exception","reason":"missing authentication credentials"}}',
  };
  const t = elasticsearchOutput.create({ url }, recordingContext());
  await assert.rejects(t.send(all.slice(0, 1)), /answered 401: .*missing authentication credentials/);
  const closed = elasticsearchOutput.create(
    { url: 'http://127.0.0.1:1', timeoutMs: 2000 },
    recordingContext(),
  );
  await assert.rejects(closed.send(all.slice(0, 1)), /ECONNREFUSED/);
});

test('options are validated: unknown fields, an API key with a username, a bad index name', () => {
  const validate = new Ajv({ allErrors: true, strict: true }).compile(elasticsearchOutput.schema);
  assert.ok(
    validate({ url: 'https://es:9200', index: 'peregrine', dateSuffix: true, username: 'u', password: 'p' }),
  );
  assert.ok(!validate({ url: 'https://es:9200', idnex: 'x' }));
  assert.ok(!validate({ url: 'https://es:9200', apiKey: 'k', username: 'u' }));
  assert.ok(!validate({ url: 'https://es:9200', index: 'Peregrine' }));
  assert.ok(!validate({ url: 'es:9200' }));
});
