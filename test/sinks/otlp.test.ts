// SPDX-License-Identifier: Apache-2.0
// The OTLP logs output against receivers started by the test that decode the
// real protobuf (ExportLogsServiceRequest, from the OpenTelemetry protos as
// generated for protobufjs), over HTTP/protobuf and gRPC: resource and record
// attributes, severity, body, errors and partial success.
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import {
  Server as GrpcServer,
  status as grpcStatus,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { Ajv } from 'ajv';
import type { PeregrineEvent } from '../../src/events/types.js';
import { unixNanos } from '../../src/sinks/nanos.js';
import { type OtlpOptions, otlpOutput } from '../../src/sinks/otlp.js';
import { events, podAlert, record, recordingContext } from './records.js';

interface ProtoType {
  decode(b: Uint8Array): unknown;
  encode(m: unknown): { finish(): Uint8Array };
  fromObject(o: unknown): unknown;
  toObject(m: unknown, o: Record<string, unknown>): Record<string, unknown>;
}
const root = createRequire(import.meta.url)(
  '@opentelemetry/otlp-proto-exporter-base/build/src/generated/root.js',
);
const v1 = root.opentelemetry.proto.collector.logs.v1 as Record<string, ProtoType>;
const Request = v1.ExportLogsServiceRequest;
const Response = v1.ExportLogsServiceResponse;

type AnyValue = {
  stringValue?: string;
  intValue?: string;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
};
type KeyValue = { key: string; value: AnyValue };
interface LogRecord {
  timeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: AnyValue;
  attributes: KeyValue[];
  eventName?: string;
}
interface Decoded {
  resourceLogs: Array<{
    resource: { attributes: KeyValue[] };
    scopeLogs: Array<{ scope: { name: string }; logRecords: LogRecord[] }>;
  }>;
}

function plain(v: AnyValue): unknown {
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plain);
  // int64 values come as decimal strings (toObject's longs: String), exactly as sent.
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.boolValue ?? v.doubleValue;
}

function attrs(kvs: KeyValue[]): Record<string, unknown> {
  return Object.fromEntries(kvs.map((kv) => [kv.key, plain(kv.value)]));
}

function decode(buf: Uint8Array): Decoded {
  return Request.toObject(Request.decode(buf), {
    longs: String,
    enums: Number,
    defaults: false,
    arrays: true,
  }) as unknown as Decoded;
}

/** What the receivers answer next: accept, accept with a partial success, or fail. */
type Mode = { kind: 'ok' } | { kind: 'partial'; rejected: number; message: string } | { kind: 'fail' };

let mode: Mode = { kind: 'ok' };
const received: Decoded[] = [];
/** The x-tenant header (HTTP) or metadata (gRPC) of the last export. */
let tenant: unknown;

function responseBytes(): Uint8Array {
  const body =
    mode.kind === 'partial'
      ? { partialSuccess: { rejectedLogRecords: mode.rejected, errorMessage: mode.message } }
      : {};
  return Response.encode(Response.fromObject(body)).finish();
}

let http: HttpServer;
let grpc: GrpcServer;
let httpUrl = '';
let grpcUrl = '';

before(async () => {
  http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      assert.equal(req.url, '/v1/logs');
      assert.equal(req.headers['content-type'], 'application/x-protobuf');
      received.push(decode(Buffer.concat(chunks)));
      tenant = req.headers['x-tenant'];
      if (mode.kind === 'fail') {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('bad logs: attribute limit exceeded');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(responseBytes());
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const addr = http.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  httpUrl = `http://127.0.0.1:${addr.port}/v1/logs`;

  grpc = new GrpcServer();
  grpc.addService(
    {
      Export: {
        path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: (m: unknown) => Buffer.from(Request.encode(m).finish()),
        requestDeserialize: (b: Buffer) => decode(b),
        responseSerialize: (b: Uint8Array) => Buffer.from(b),
        responseDeserialize: (b: Buffer) => b,
      },
    },
    {
      Export: (call: ServerUnaryCall<Decoded, Uint8Array>, cb: sendUnaryData<Uint8Array>) => {
        received.push(call.request);
        tenant = call.metadata.get('x-tenant')[0];
        if (mode.kind === 'fail')
          cb({ code: grpcStatus.INVALID_ARGUMENT, details: 'bad logs: attribute limit exceeded' });
        else cb(null, responseBytes());
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  grpcUrl = `http://127.0.0.1:${port}`;
});

after(async () => {
  await new Promise<void>((r) => http.close(() => r()));
  await new Promise<void>((r) => grpc.tryShutdown(() => r()));
});

const exec = events.find((r) => r.kind === 'process.exec')?.value as PeregrineEvent;
const protocols: Array<{ protocol: OtlpOptions['protocol']; url: () => string }> = [
  { protocol: 'http/protobuf', url: () => httpUrl },
  { protocol: 'grpc', url: () => grpcUrl },
];

for (const { protocol, url } of protocols) {
  test(`${protocol}: a process event and an alert arrive with OTel resource and record attributes`, async () => {
    mode = { kind: 'ok' };
    received.length = 0;
    const ctx = recordingContext('vm');
    const t = otlpOutput.create({ protocol, url: url(), headers: { 'x-tenant': 'blue' } }, ctx);
    await t.send([record(exec), record(podAlert)]);
    await t.close();
    assert.equal(received.length, 1);
    assert.equal(tenant, 'blue');
    const rl = received[0].resourceLogs;
    assert.equal(rl.length, 1);
    assert.deepEqual(attrs(rl[0].resource.attributes), { 'service.name': 'peregrine', 'host.name': 'vm' });
    assert.equal(rl[0].scopeLogs[0].scope.name, 'peregrine');
    const [ev, al] = rl[0].scopeLogs[0].logRecords;

    assert.equal(ev.timeUnixNano, `${unixNanos(exec.time)}`);
    assert.equal(ev.severityNumber, 9);
    assert.equal(ev.severityText, 'INFO');
    assert.equal(ev.body.stringValue, JSON.stringify(exec));
    const ea = attrs(ev.attributes);
    assert.equal(ea['process.pid'], exec.process.pid);
    assert.equal(ea['process.parent_pid'], exec.process.ppid);
    assert.equal(ea['process.executable.path'], '/usr/bin/dash');
    assert.equal(ea['process.executable.name'], 'dash');
    assert.deepEqual(ea['process.command_args'], exec.process.args);
    assert.equal(ea['process.user.id'], exec.process.euid);
    assert.equal(ea['user.id'], String(exec.process.uid));
    assert.equal(ea['peregrine.kind'], 'process.exec');
    assert.equal(ea['peregrine.exec_id'], exec.process.exec_id);
    assert.equal(ea['container.id'], undefined);

    assert.equal(al.severityNumber, 21);
    assert.equal(al.severityText, 'CRITICAL');
    assert.equal(al.body.stringValue, podAlert.output);
    const aa = attrs(al.attributes);
    assert.equal(aa['peregrine.kind'], 'alert');
    assert.equal(aa['peregrine.rule'], podAlert.rule);
    assert.equal(aa['peregrine.mitre.technique'], 'T1105');
    assert.equal(aa['container.id'], '3f1c0d9a2b7e');
    assert.equal(aa['container.name'], 'web');
    assert.equal(aa['container.image.name'], 'registry.example/web:1.2');
    assert.equal(aa['container.runtime.name'], 'containerd');
    assert.equal(aa['k8s.pod.name'], 'web-7d9f');
    assert.equal(aa['k8s.pod.uid'], podAlert.source_event.pod?.uid);
    assert.equal(aa['k8s.namespace.name'], 'shop');
    assert.equal(aa['network.peer.address'], '10.96.0.10');
    assert.equal(aa['network.peer.port'], 443);
    assert.equal(aa['server.address'], '10.96.0.10');
    assert.equal(aa['network.transport'], 'tcp');
    assert.deepEqual(ctx.rejections, []);
  });

  test(`${protocol}: a receiver that fails the export makes the send reject with its answer`, async () => {
    mode = { kind: 'fail' };
    const t = otlpOutput.create({ protocol, url: url(), timeoutMs: 3000 }, recordingContext());
    await assert.rejects(t.send([record(exec)]), /bad logs: attribute limit exceeded/);
    await t.close();
  });

  test(`${protocol}: a partial success is reported as rejected records, the send resolves`, async () => {
    mode = { kind: 'partial', rejected: 2, message: 'log records too old' };
    const ctx = recordingContext();
    const t = otlpOutput.create({ protocol, url: url() }, ctx);
    await t.send(events.slice(0, 5));
    await t.close();
    assert.equal(ctx.rejections.length, 1);
    assert.deepEqual(ctx.rejections[0].slice(0, 2), [2, 'rejected']);
    assert.match(ctx.rejections[0][2], /2 of 5 log records rejected: log records too old/);
  });
}

test('an unreachable collector rejects the send', async () => {
  const t = otlpOutput.create(
    { protocol: 'http/protobuf', url: 'http://127.0.0.1:1/v1/logs', timeoutMs: 2000 },
    recordingContext(),
  );
  await assert.rejects(t.send([record(exec)]), /otlp \(http\/protobuf\)/);
  await t.close();
});

test('options are validated: protocol required, unknown fields refused', () => {
  const validate = new Ajv({ allErrors: true, strict: true }).compile(otlpOutput.schema);
  assert.ok(
    validate({ protocol: 'grpc', url: 'http://collector:4317', compression: 'gzip', timeoutMs: 5000 }),
  );
  assert.ok(!validate({ url: 'http://collector:4317' }));
  assert.ok(!validate({ protocol: 'http/json', url: 'http://collector:4318/v1/logs' }));
  assert.ok(!validate({ protocol: 'grpc', url: 'http://collector:4317', insecure: true }));
});
