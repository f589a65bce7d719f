// SPDX-License-Identifier: Apache-2.0
// The scenario suite: one real agent (default policy + default rules) watches every attack scenario and must raise each one's alert; its recording, replayed through the CLI, must raise the same alerts.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { defaultRulesPath, loadRulePaths } from '../../src/cli/rules.js';
import type { Alert, PeregrineEvent, ProcessInfo } from '../../src/events/types.js';
import { loadDefaultPolicy } from '../../src/policy/load.js';
import { kernelTest, root, sleep } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';
import {
  type Expect,
  expectedComm,
  SCENARIOS,
  type Scenario,
  type ScenarioContext,
  spawnIn,
  type Tools,
} from './scenarios.js';

const execFileP = promisify(execFile);
const BIN = join(root, 'bin', 'peregrine.js');
/** Every scenario directory starts with this: the recording keeps the events of processes running there. */
const PREFIX = join(realpathSync(tmpdir()), 'pg-scn-');

export function commOf(p: ProcessInfo | undefined): string {
  return (p?.binary.split('/').pop() ?? '').slice(0, 15);
}

/** Installs netcat-traditional and socat with apt-get when missing (cheap); failures only skip those scenarios. */
function installNetTools(): void {
  const missing = [
    ['/bin/nc.traditional', 'netcat-traditional'],
    ['/usr/bin/socat', 'socat'],
  ]
    .filter(([p]) => !existsSync(p))
    .map(([, pkg]) => pkg);
  if (missing.length === 0 || !existsSync('/usr/bin/apt-get')) return;
  try {
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: 'ignore',
      timeout: 120_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch {
    // The scenarios needing them report the skip.
  }
}

function dockerImage(): string | undefined {
  if (process.env.PEREGRINE_SCENARIO_IMAGE) return process.env.PEREGRINE_SCENARIO_IMAGE;
  try {
    const out = execFileSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}'], {
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    const image = out.split('\n').find((l) => /busybox|alpine/.test(l) && !l.includes('<none>'));
    if (image === undefined) return undefined;
    // The scenario needs a privileged container; some hosts (nested sandboxes) refuse those.
    execFileSync('docker', ['run', '--rm', '--privileged', '--network', 'none', image, 'true'], {
      timeout: 30_000,
      stdio: 'ignore',
    });
    return image;
  } catch {
    return undefined;
  }
}

function hostIp(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

interface Outcome {
  scenario: Scenario;
  status: 'pass' | 'fail' | 'skip';
  note: string;
}

describe('attack scenarios (default policy + default rules)', kernelTest, () => {
  let a: RecordingAgent;
  let tools: Tools;
  let toolsDir: string;
  let http: HttpServer;
  let tcp: TcpServer;
  const outcomes: Outcome[] = [];
  /** exec_ids of the processes each passing scenario's alerts name. */
  const scenarioAlerts: Alert[] = [];

  before(async () => {
    installNetTools();
    toolsDir = realpathSync(mkdtempSync(PREFIX));
    const helper = join(toolsDir, 'pgscn');
    execFileSync('cc', ['-O1', '-o', helper, join(root, 'test', 'scenarios', 'helper.c')]);
    http = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/x-shellscript' });
      res.end('echo peregrine-scenario >/dev/null\n');
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    tcp = createTcpServer((s) => {
      s.on('error', () => {});
      s.resume();
      s.setTimeout(1000, () => s.destroy());
    });
    await new Promise<void>((r) => tcp.listen(0, '0.0.0.0', r));
    const port = (srv: HttpServer | TcpServer) => {
      const addr = srv.address();
      return typeof addr === 'object' && addr !== null ? addr.port : 0;
    };
    tools = {
      helper,
      httpPort: port(http),
      tcpPort: port(tcp),
      hostIp: hostIp(),
      dockerImage: dockerImage(),
    };
    a = await startAgent({ rules: loadRulePaths([defaultRulesPath()]), policies: loadDefaultPolicy() });
  });

  after(async () => {
    await a?.stop();
    http?.close();
    tcp?.close();
    if (toolsDir !== undefined) rmSync(toolsDir, { recursive: true, force: true });
    const lines = outcomes.map(
      (o) =>
        `| ${o.scenario.name} | ${o.scenario.expect
          .map((e) => e.rule)
          .filter(uniq)
          .join('; ')} | ` +
        `${o.scenario.expect
          .map((e) => e.technique)
          .filter(uniq)
          .join(', ')} | ${o.status}${o.note ? ` (${o.note})` : ''} |`,
    );
    const techniques = new Set(
      outcomes.filter((o) => o.status === 'pass').flatMap((o) => o.scenario.expect.map((e) => e.technique)),
    );
    process.stderr.write(
      `\nscenario | rule | technique | result\n${lines.join('\n')}\n` +
        `${outcomes.filter((o) => o.status === 'pass').length}/${outcomes.length} scenarios passed, ` +
        `${techniques.size} techniques\n`,
    );
  });

  const mine = (al: Alert, e: Expect, dir: string, s: Scenario): boolean => {
    const p = al.source_event.process;
    if (al.rule !== e.rule) return false;
    if (s.name === 'container-mounts-host-disk') {
      return al.source_event.container !== undefined && commOf(p) === e.comm;
    }
    if (!p.cwd.startsWith(dir)) return false;
    if (e.comm === '<memfd>') return p.flags.includes('exe_from_memfd');
    return commOf(p) === expectedComm(e, tools);
  };

  for (const s of SCENARIOS) {
    test(`${s.name}: ${s.does}`, async (t) => {
      const why = s.skip?.(tools);
      if (why !== undefined) {
        outcomes.push({ scenario: s, status: 'skip', note: why });
        t.skip(why);
        return;
      }
      const dir = realpathSync(mkdtempSync(`${PREFIX}${s.name}-`));
      const undo: Array<() => void> = [];
      const ctx: ScenarioContext = {
        dir,
        tools,
        tag: `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
        run: (file, args, env) => spawnIn(dir, file, args, env),
        sh: (script, env) => spawnIn(dir, '/bin/sh', ['-c', script], env),
        cleanup: (fn) => undo.push(fn),
      };
      try {
        await s.run(ctx);
        for (const e of s.expect) {
          const deadline = Date.now() + 5000;
          let found = a.alerts.find((al) => mine(al, e, dir, s));
          while (found === undefined && Date.now() < deadline) {
            await sleep(20);
            found = a.alerts.find((al) => mine(al, e, dir, s));
          }
          const near = a.alerts
            .filter((al) => al.source_event.process.cwd.startsWith(dir))
            .map((al) => `${al.rule} by ${commOf(al.source_event.process)}`);
          assert.ok(
            found,
            `no '${e.rule}' alert naming ${expectedComm(e, tools)}; scenario alerts: ${near.join(', ') || 'none'}`,
          );
          assert.equal(found.kind, 'alert');
          assert.equal(found.priority, e.priority);
          assert.equal(found.mitre?.technique, e.technique);
          assert.ok(
            found.source_event.parent !== undefined || s.name === 'container-mounts-host-disk',
            'parent',
          );
          scenarioAlerts.push(found);
        }
        outcomes.push({ scenario: s, status: 'pass', note: '' });
      } catch (err) {
        outcomes.push({
          scenario: s,
          status: 'fail',
          note: err instanceof Error ? err.message.split('\n')[0] : '',
        });
        throw err;
      } finally {
        for (const fn of undo.reverse()) {
          try {
            fn();
          } catch {
            // best effort: the rest still runs
          }
        }
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('at least 30 scenarios across at least 12 techniques passed', () => {
    const passed = outcomes.filter((o) => o.status === 'pass');
    const techniques = new Set(passed.flatMap((o) => o.scenario.expect.map((e) => e.technique)));
    assert.ok(passed.length >= 30, `${passed.length} scenarios passed`);
    assert.ok(techniques.size >= 12, `${techniques.size} techniques`);
  });

  test('peregrine replay of the recorded scenario events raises the same alerts', async () => {
    const events = a.events.filter(scenarioEvent);
    const dir = mkdtempSync(join(tmpdir(), 'pg-replay-'));
    try {
      const file = join(dir, 'events.jsonl');
      writeFileSync(file, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      const fixtures = process.env.PEREGRINE_WRITE_FIXTURES;
      if (fixtures) {
        // test/fixtures/scenarios.*.jsonl: the repository's own path is replaced so no machine path is committed.
        const scrub = (o: unknown) => JSON.stringify(o).split(root).join('<repo>');
        writeFileSync(join(fixtures, 'scenarios.events.jsonl'), events.map((e) => `${scrub(e)}\n`).join(''));
        const alerts = a.alerts.filter((al) => scenarioEvent(al.source_event));
        writeFileSync(
          join(fixtures, 'scenarios.alerts.jsonl'),
          alerts.map((al) => `${scrub(al)}\n`).join(''),
        );
      }
      const { stdout } = await execFileP(process.execPath, [BIN, 'replay', file], { maxBuffer: 1 << 26 });
      const replayed = new Set(
        stdout
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Alert)
          .map(alertKey),
      );
      const live = new Set(a.alerts.filter((al) => scenarioEvent(al.source_event)).map(alertKey));
      assert.ok(live.size >= 30, `${live.size} live scenario alerts`);
      assert.deepEqual([...replayed].sort(), [...live].sort());
      for (const al of scenarioAlerts) assert.ok(replayed.has(alertKey(al)), `replay lacks ${alertKey(al)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Events of the scenarios' processes (their cwd is a scenario directory) or of containers. */
export function scenarioEvent(e: PeregrineEvent): boolean {
  return e.process.cwd.startsWith(PREFIX) || e.container !== undefined;
}

/** What identifies an alert across a live run and a replay: rule and the process it names. */
export function alertKey(al: Alert): string {
  return `${al.rule} | ${al.source_event.process.exec_id}`;
}

function uniq<T>(v: T, i: number, all: T[]): boolean {
  return all.indexOf(v) === i;
}
