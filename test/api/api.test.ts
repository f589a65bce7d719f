// SPDX-License-Identifier: Apache-2.0
// The HTTP API against a real agent on this kernel: SSE with filters, process
// search and detail, the alerts ring, policy apply / mode switch / delete
// (a kill policy scoped to this test's own directory), the OpenAPI document,
// bearer tokens off loopback, TLS, and a real Prometheus scraping /metrics.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { controlRequest } from '../../src/api/control.js';
import { HttpApi } from '../../src/api/http.js';
import type { PeregrineEvent } from '../../src/events/types.js';
import { openHandles } from '../../src/kernel/index.js';
import { loadPolicyText } from '../../src/policy/load.js';
import { loadRules } from '../../src/rules/index.js';
import { kernelTest, listen, portOf, sleep, waitUntil } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';
import { call, openSse, type SseReader } from './helpers.js';

const RULE = 'API test exec';

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs `file args` to its end; resolves with its exit code and signal. */
function run(file: string, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const c = spawn(file, args, { stdio: 'ignore' });
    c.once('error', reject);
    c.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

describe('HTTP API on a real agent', { skip: kernelTest.skip }, () => {
  let rec: RecordingAgent;
  let dir: string;
  let sock: string;
  let base: string;
  let sh: string;
  let data: string;
  const readers: SseReader[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-api-'));
    sock = join(dir, 'control.sock');
    sh = join(dir, 'pg-api-sh');
    copyFileSync('/bin/sh', sh);
    chmodSync(sh, 0o755);
    data = join(dir, 'data');
    writeFileSync(data, 'x');
    const rules = loadRules([
      {
        path: 'api-test-rules.yaml',
        text: `- rule: ${RULE}
  desc: an executable under the API test's directory ran
  condition: evt.type = execve and proc.exepath startswith "${dir}/"
  output: api test exec (%proc.exepath)
  priority: WARNING
`,
      },
    ]);
    rec = await startAgent({
      socket: sock,
      rules,
      parsePolicies: loadPolicyText,
      policies: loadPolicyText(
        `apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata: { name: api-test-files }
spec:
  mode: monitor
  rules:
    - name: opens
      kinds: [file.open]
      match: { paths: { prefix: ["${dir}/"] } }
      action: audit
`,
        'api-test-files.yaml',
      ),
      api: { listen: '127.0.0.1:0', stream: { heartbeatMs: 200 } },
    });
    base = rec.agent.stats().api?.url ?? '';
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  after(async () => {
    for (const r of readers) r.close();
    await rec?.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(openHandles().total, 0, `handles left: ${JSON.stringify(openHandles())}`);
  });

  test('SSE delivers events and alerts, filtered by kind, policy, priority and alerts_only; heartbeats', async () => {
    const execs = openSse(`${base}/api/v1/stream?kind=process.exec`);
    const files = openSse(`${base}/api/v1/stream?kind=file&policy=api-test-files`);
    const alerts = openSse(`${base}/api/v1/stream?alerts_only=true&priority=WARNING`);
    const critical = openSse(`${base}/api/v1/stream?priority=CRITICAL`);
    readers.push(execs, files, alerts, critical);
    for (const r of readers) assert.equal(await r.status, 200);
    assert.deepEqual(await run(sh, ['-c', `: < ${data}`]), { code: 0, signal: null });

    const exec = await execs.waitFor(
      (m) => m.event === 'process.exec' && (JSON.parse(m.data) as PeregrineEvent).process.binary === sh,
      10_000,
      'exec event',
    );
    assert.equal((JSON.parse(exec.data) as PeregrineEvent).kind, 'process.exec');
    const open = await files.waitFor(
      (m) => m.event === 'file.open' && (JSON.parse(m.data) as PeregrineEvent).file?.path === data,
      10_000,
      'open event',
    );
    assert.equal((JSON.parse(open.data) as PeregrineEvent).process.binary, sh);
    const alert = await alerts.waitFor((m) => JSON.parse(m.data).rule === RULE, 10_000, 'alert');
    assert.equal(JSON.parse(alert.data).source_event.process.binary, sh);

    // Filters: kinds by prefix (alerts pass by their source event), alerts only, minimum priority.
    assert.ok(execs.messages.every((m) => m.event === 'process.exec' || m.event === 'alert'));
    assert.ok(files.messages.every((m) => m.event.startsWith('file.')));
    assert.ok(alerts.messages.every((m) => m.event === 'alert'));
    await sleep(300);
    assert.equal(critical.messages.filter((m) => m.data.includes(RULE)).length, 0);
    assert.ok(execs.comments.includes(': heartbeat'), 'no heartbeat comment');
    assert.equal(rec.agent.stats().api?.stream.clients, 4);

    for (const r of readers.splice(0)) r.close();
    await waitUntil('clients gone', () => rec.agent.stats().api?.stream.clients === 0, 5000);
    // Bad filters are refused by the schema, not ignored.
    assert.equal((await call(`${base}/api/v1/stream?priority=LOUD`)).status, 400);
    assert.equal((await call(`${base}/api/v1/stream?color=red`)).status, 400);
  });

  test('processes: search by binary and pid, detail with ancestry to init, children, exit and events', async () => {
    const found = (await call(`${base}/api/v1/processes?binary=pg-api-sh&limit=5`)).json() as {
      total: number;
      processes: Array<{ exec_id: string; binary: string; pid: number }>;
    };
    assert.ok(found.total >= 1);
    const p = found.processes[0];
    assert.equal(p.binary, sh);
    const byExecId = (await call(`${base}/api/v1/processes?exec_id=${p.exec_id}`)).json() as {
      total: number;
    };
    assert.equal(byExecId.total, 1);

    await rec.waitFor((e) => e.kind === 'process.exit' && e.process.exec_id === p.exec_id, 10_000, 'exit');
    const detail = (await call(`${base}/api/v1/processes/${p.exec_id}`)).json() as {
      process: { pid: number; binary: string; parent_exec_id: string };
      alive: boolean;
      exit: { code: number } | null;
      ancestry: Array<{ pid: number; exec_id: string; parent_exec_id: string }>;
      ancestry_complete: boolean;
      events: PeregrineEvent[];
    };
    assert.equal(detail.process.binary, sh);
    assert.equal(detail.alive, false);
    assert.equal(detail.exit?.code, 0);
    assert.equal(detail.ancestry[0].pid, process.pid, 'parent is this test process');
    // Each link is the previous one's parent, as far as the cache knows them (init when it saw it all).
    let parent = detail.process.parent_exec_id;
    for (const a of detail.ancestry) {
      assert.equal(a.exec_id, parent);
      parent = a.parent_exec_id;
    }
    assert.equal(detail.ancestry_complete, parent === '');
    if (detail.ancestry.at(-1)?.pid === 1) assert.equal(detail.ancestry_complete, true);
    const kinds = detail.events.map((e) => e.kind);
    assert.ok(
      kinds.includes('process.exec') && kinds.includes('file.open') && kinds.includes('process.exit'),
    );
    assert.ok(detail.events.some((e) => e.file?.path === data));

    const me = (await call(`${base}/api/v1/processes?pid=${process.pid}`)).json() as {
      processes: Array<{ exec_id: string }>;
    };
    const mine = (await call(`${base}/api/v1/processes/${me.processes[0].exec_id}`)).json() as {
      children: Array<{ exec_id: string }>;
    };
    assert.ok(
      mine.children.some((c) => c.exec_id === p.exec_id),
      'the test process lists its child',
    );

    assert.equal((await call(`${base}/api/v1/processes/bm9wZQ`)).status, 404);
    assert.equal((await call(`${base}/api/v1/processes?limit=0`)).status, 400);
    assert.equal((await call(`${base}/api/v1/processes?pid=abc`)).status, 400);
  });

  test('alerts: the recent ring with rule, priority, since and since_seq filters', async () => {
    type Alerts = { alerts: Array<{ seq: number; alert: { rule: string } }>; last_seq: number };
    const got = (await call(`${base}/api/v1/alerts?rule=${encodeURIComponent(RULE)}`)).json() as Alerts;
    assert.ok(got.alerts.length >= 1);
    assert.equal(got.alerts[0].alert.rule, RULE);
    const crit = (await call(`${base}/api/v1/alerts?priority=CRITICAL`)).json() as Alerts;
    assert.equal(crit.alerts.filter((a) => a.alert.rule === RULE).length, 0);
    const later = (await call(`${base}/api/v1/alerts?since=2099-01-01T00:00:00Z`)).json() as Alerts;
    assert.equal(later.alerts.length, 0);
    const newer = (await call(`${base}/api/v1/alerts?since_seq=${got.last_seq}`)).json() as Alerts;
    assert.equal(newer.alerts.length, 0);
    assert.equal((await call(`${base}/api/v1/alerts?limit=100000`)).status, 400);
  });

  test("policies: a bad file is refused whole with the loader's message; apply, PATCH mode in the kernel, delete", async () => {
    const before = (await call(`${base}/api/v1/policies`)).text;
    const bad = await call(`${base}/api/v1/policies?file=bad.yaml`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: 'apiVersion: peregrine.dev/v1alpha1\nkind: Policy\nmetadata: { name: bad }\nspec:\n  rules:\n    - name: r\n      kinds: [file.open]\n      match: { colour: red }\n      action: audit\n',
    });
    assert.equal(bad.status, 400);
    const msg = (bad.json() as { error: string }).error;
    assert.match(msg, /bad\.yaml/);
    assert.match(msg, /colour/);
    assert.equal((await call(`${base}/api/v1/policies`)).text, before, 'a refused file changed nothing');

    const killDir = join(dir, 'kill');
    mkdirSync(killDir);
    const victim = join(killDir, 'victim');
    copyFileSync('/bin/sh', victim);
    chmodSync(victim, 0o755);
    const policy = {
      apiVersion: 'peregrine.dev/v1alpha1',
      kind: 'Policy',
      metadata: { name: 'api-test-kill' },
      spec: {
        mode: 'monitor',
        rules: [
          {
            name: 'exec',
            kinds: ['process.exec'],
            match: { paths: { prefix: [`${killDir}/`] } },
            action: 'kill',
          },
        ],
      },
    };
    const ok = await call(`${base}/api/v1/policies?file=kill.json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(policy),
    });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual((ok.json() as { applied: string[] }).applied, ['api-test-kill']);
    type Status = {
      name: string;
      mode: string;
      rules: Array<{ enforcement: string; actions?: { would: number } }>;
    };
    const listed = ((await call(`${base}/api/v1/policies`)).json() as Status[]).find(
      (p) => p.name === 'api-test-kill',
    );
    assert.match(listed?.rules[0].enforcement ?? '', /^monitor \(would kill/);

    // Monitor: the victim runs to its end; the kernel counts the would-be kill.
    assert.deepEqual(await run(victim, ['-c', 'exit 0']), { code: 0, signal: null });
    const patched = await call(`${base}/api/v1/policies/api-test-kill`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"mode":"enforce"}',
    });
    assert.equal(patched.status, 200, patched.text);
    const enforced = patched.json() as Status;
    assert.equal(enforced.mode, 'enforce');
    assert.match(enforced.rules[0].enforcement, /^enforced/);
    // Enforce: killed at exec, before its first instruction.
    assert.deepEqual(await run(victim, ['-c', 'exit 0']), { code: null, signal: 'SIGKILL' });

    const patch = (body: string, name = 'api-test-kill') =>
      call(`${base}/api/v1/policies/${name}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body,
      });
    assert.equal((await patch('{"mode":"loud"}')).status, 400);
    assert.equal((await patch('{"mode":"monitor","x":1}')).status, 400);
    assert.equal((await patch('{"mode":"monitor"}', 'no-such-policy')).status, 404);
    assert.equal((await call(`${base}/api/v1/policies/api-test-kill`, { method: 'DELETE' })).status, 200);
    assert.equal((await call(`${base}/api/v1/policies/api-test-kill`, { method: 'DELETE' })).status, 404);
    assert.deepEqual(await run(victim, ['-c', 'exit 0']), { code: 0, signal: null });
  });

  test('status and containers over the API; the control socket keeps answering with the API counters', async () => {
    const status = (await call(`${base}/api/v1/status`)).json() as { events: { emitted: number } };
    assert.ok(status.events.emitted > 0);
    assert.equal((await call(`${base}/api/v1/containers`)).status, 200);
    const viaSocket = (await controlRequest(sock, 'GET', '/v1/status')) as { api?: { url: string } };
    assert.equal(viaSocket.api?.url, base);
  });

  test('OpenAPI document lists every route with its schemas', async () => {
    const doc = (await call(`${base}/api/v1/openapi.json`)).json() as {
      openapi: string;
      paths: Record<string, Record<string, { parameters?: unknown[]; requestBody?: unknown }>>;
    };
    assert.match(doc.openapi, /^3\./);
    const want: Array<[string, string]> = [
      ['/api/v1/status', 'get'],
      ['/api/v1/stream', 'get'],
      ['/api/v1/alerts', 'get'],
      ['/api/v1/processes', 'get'],
      ['/api/v1/processes/{exec_id}', 'get'],
      ['/api/v1/containers', 'get'],
      ['/api/v1/policies', 'get'],
      ['/api/v1/policies', 'post'],
      ['/api/v1/policies/{name}', 'patch'],
      ['/api/v1/policies/{name}', 'delete'],
      ['/api/v1/metrics', 'get'],
      ['/api/v1/openapi.json', 'get'],
    ];
    for (const [path, method] of want) assert.ok(doc.paths[path]?.[method], `${method} ${path} missing`);
    assert.ok((doc.paths['/api/v1/stream'].get.parameters?.length ?? 0) >= 6, 'stream filters documented');
    assert.ok(doc.paths['/api/v1/policies/{name}'].patch.requestBody, 'PATCH body documented');
  });

  test('a non-loopback address needs a token; without or with a wrong one: 401', async () => {
    assert.throws(
      () => new HttpApi(rec.agent, { listen: '0.0.0.0:0' }),
      /not a loopback address\) needs a bearer token/,
    );
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'short\n');
    assert.throws(() => new HttpApi(rec.agent, { listen: '127.0.0.1:0', tokenFile }), /under 16 characters/);
    const token = 'pg-api-test-token-0123456789abcdef';
    writeFileSync(tokenFile, `${token}\n`);
    // The host's own address when it has one (else loopback, with the same token rule).
    const own = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
    const api = new HttpApi(rec.agent, {
      listen: `${own ?? '127.0.0.1'}:0`,
      tokenFile,
      metrics: { enabled: false },
    });
    const url = await api.listen();
    try {
      const none = await call(`${url}/api/v1/status`);
      assert.equal(none.status, 401);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      assert.equal(
        (await call(`${url}/api/v1/status`, { headers: { authorization: 'Bearer wrong' } })).status,
        401,
      );
      assert.equal(
        (await call(`${url}/api/v1/status`, { headers: { authorization: `Bearer ${token}x` } })).status,
        401,
      );
      const ok = await call(`${url}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.equal(api.stats().unauthorized, 3);
      // Metrics off: not served.
      assert.equal(
        (await call(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status,
        404,
      );
    } finally {
      await api.close();
    }
  });

  test("a slow SSE client loses messages (counted, then told) instead of growing the agent's memory", async () => {
    const api = new HttpApi(rec.agent, {
      listen: '127.0.0.1:0',
      metrics: { enabled: false },
      stream: { maxBufferedBytes: 64 * 1024 },
    });
    const url = new URL(await api.listen());
    const sock = connect(Number(url.port), url.hostname);
    try {
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write('GET /api/v1/stream?policy=api-test-files HTTP/1.1\r\nHost: x\r\n\r\n');
      let text = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        text += d;
      });
      await waitUntil('stream open', () => text.includes('peregrine event stream'), 5000);
      sock.pause(); // reads nothing more: the kernel's buffers fill, then the agent's
      const flood = (n: number) =>
        run(sh, ['-c', `i=0; while [ $i -lt ${n} ]; do : < ${data}; i=$((i+1)); done`]);
      for (let round = 0; round < 10 && api.stats().stream.dropped === 0; round++) {
        await flood(20_000);
        await sleep(200);
      }
      assert.ok(api.stats().stream.dropped > 0, 'messages dropped for the slow client');
      sock.resume();
      const notice = /event: dropped\ndata: \{"dropped":(\d+)\}/;
      // The notice rides on the first message the client gets once it has caught up.
      for (let i = 0; i < 40 && !notice.test(text); i++) {
        await sleep(250);
        await flood(5);
      }
      assert.match(text, notice);
      const told = Number(notice.exec(text)?.[1]);
      assert.ok(told > 0 && told <= api.stats().stream.dropped);
    } finally {
      sock.destroy();
      await api.close();
    }
  });

  test("--bpf-stats: program run counts grow for the agent's own programs while the metrics hold the stats fd", async () => {
    const api = new HttpApi(rec.agent, {
      listen: '127.0.0.1:0',
      metrics: { programRunTime: true, processMetrics: false },
    });
    const url = await api.listen();
    const runs = async () => {
      const text = (await call(`${url}/metrics`)).text;
      assert.match(text, /^peregrine_bpf_stats_enabled 1$/m);
      return Number(
        /^peregrine_bpf_program_runs_total\{program="handle_exec"\} (\d+)/m.exec(text)?.[1] ?? Number.NaN,
      );
    };
    try {
      const first = await runs();
      assert.ok(first >= 0, 'handle_exec listed');
      assert.deepEqual(await run(sh, ['-c', 'exit 0']), { code: 0, signal: null });
      assert.ok((await runs()) > first, 'handle_exec ran and was counted');
    } finally {
      await api.close();
    }
  });

  test('TLS with a certificate and key (self-signed, made here)', {
    skip: !hasCommand('openssl') && 'openssl missing',
  }, async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const api = new HttpApi(rec.agent, { listen: '127.0.0.1:0', tls: { cert, key } });
    const url = await api.listen();
    try {
      assert.match(url, /^https:\/\//);
      const ok = await call(`${url}/api/v1/policies`, { ca: readFileSync(cert) });
      assert.equal(ok.status, 200);
      await assert.rejects(call(`${url}/api/v1/policies`), /self[- ]signed/);
    } finally {
      await api.close();
    }
    assert.throws(
      () => new HttpApi(rec.agent, { tls: { cert: join(dir, 'nope'), key } }),
      /read TLS certificate/,
    );
  });

  test('a real Prometheus scrapes /metrics: up == 1, events by kind > 0', {
    skip: !hasCommand('prometheus') && 'prometheus missing (bootstrap.sh --test)',
  }, async () => {
    const metrics = await call(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.text, /^peregrine_events_total\{kind="process\.exec"\} [1-9]/m);
    // The ring buffer's fill is read from the kernel's producer and consumer positions.
    assert.match(metrics.text, /^peregrine_ring_buffer_size_bytes 8388608$/m);
    assert.match(metrics.text, /^peregrine_ring_buffer_used_bytes \d+$/m);
    assert.equal(
      (await call(`${base}/api/v1/metrics`)).text.includes('peregrine_policy_matches_total'),
      true,
    );

    const free = await listen();
    const promPort = portOf(free);
    await new Promise<void>((r) => free.close(() => r()));
    const promDir = join(dir, 'prometheus');
    mkdirSync(promDir);
    writeFileSync(
      join(promDir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: peregrine
    static_configs: [{ targets: ["${new URL(base).host}"] }]
`,
    );
    const prom = spawn(
      'prometheus',
      [
        `--config.file=${join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: 'ignore' },
    );
    const query = async (
      q: string,
    ): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
      try {
        const r = await call(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        return r.status === 200 ? (r.json() as { data: { result: [] } }).data.result : [];
      } catch {
        return []; // not listening yet
      }
    };
    try {
      let up: Awaited<ReturnType<typeof query>> = [];
      let execs: Awaited<ReturnType<typeof query>> = [];
      const end = Date.now() + 30_000;
      while (Date.now() < end) {
        up = await query('up{job="peregrine"}');
        execs = await query('peregrine_events_total{kind="process.exec"}');
        if (up[0]?.value[1] === '1' && Number(execs[0]?.value[1]) > 0) break;
        await sleep(500);
      }
      assert.equal(up[0]?.value[1], '1', 'Prometheus scraped the agent');
      assert.ok(Number(execs[0]?.value[1]) > 0, 'process.exec events counted');
      const opens = await query('peregrine_events_total{kind="file.open"}');
      assert.ok(Number(opens[0]?.value[1]) > 0, 'file.open events counted');
      const matches = await query('peregrine_policy_matches_total{policy="api-test-files"}');
      assert.ok(Number(matches[0]?.value[1]) > 0, 'policy matches counted');
      const alerts = await query(`peregrine_alerts_total{rule="${RULE}",priority="WARNING"}`);
      assert.ok(Number(alerts[0]?.value[1]) > 0, 'alerts counted by rule');
    } finally {
      prom.kill('SIGTERM');
      await new Promise((r) => prom.once('exit', r));
    }
  });
});
