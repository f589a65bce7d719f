// SPDX-License-Identifier: Apache-2.0
// The flood sensor against the real kernel: a veth pair into a network
// namespace of the test's own, XDP on the host end, and a bounded generator
// (fixtures/flood-gen.py) sending SYNs and datagrams from two addresses in
// the namespace: alerts above the thresholds, none below, drop of a listed source.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { openHandles } from '../../src/kernel/index.js';
import { type FloodConfig, parseFloodConfig } from '../../src/sensors/flood/config.js';
import { type FloodEvent, FloodSensor } from '../../src/sensors/flood/sensor.js';
import { findPython, kernelTest, root, sleep, waitUntil } from '../kernel/helpers.js';
import { startAgent } from '../process/agent.js';

const PYTHON = findPython();
const skip = kernelTest.skip || (PYTHON === undefined ? 'python3 not found' : false);
const GEN = join(root, 'test', 'sensors', 'fixtures', 'flood-gen.py');

// Unique per run: other tests on this machine may build namespaces too.
const tag = (process.pid % 10000).toString(36) + Math.floor(Math.random() * 1296).toString(36);
const NS = `pgfl-${tag}`;
const HOST_IF = `pgfh${tag}`;
const PEER_IF = `pgfp${tag}`;
const NET = `10.251.${Math.floor(Math.random() * 250)}`;
const HOST = `${NET}.1`;
const LOUD = `${NET}.2`; // the flooder
const QUIET = `${NET}.3`; // below every threshold, then a scanner, then listed

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

async function gen(mode: 'syn' | 'udp', src: string, port: number, nports: number, count: number) {
  const { stdout } = await promisify(execFile)('ip', [
    'netns',
    'exec',
    NS,
    PYTHON as string,
    GEN,
    mode,
    src,
    HOST,
    String(port),
    String(nports),
    String(count),
  ]);
  assert.equal(stdout.trim(), String(count));
}

describe('flood sensor (XDP on a veth pair, real packets)', { skip }, () => {
  let sensor: FloodSensor;
  const events: FloodEvent[] = [];
  let cfg: FloodConfig;

  before(() => {
    ip('netns', 'add', NS);
    ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', PEER_IF);
    ip('link', 'set', PEER_IF, 'netns', NS);
    ip('addr', 'add', `${HOST}/29`, 'dev', HOST_IF);
    ip('link', 'set', HOST_IF, 'up');
    ip('-n', NS, 'addr', 'add', `${LOUD}/29`, 'dev', PEER_IF);
    ip('-n', NS, 'addr', 'add', `${QUIET}/29`, 'dev', PEER_IF);
    ip('-n', NS, 'link', 'set', PEER_IF, 'up');
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    // A window longer than any step of the test: each burst is counted whole.
    cfg = parseFloodConfig({
      interfaces: [HOST_IF],
      windowMs: 60_000,
      thresholds: { packets: 0, syns: 500, udp: 500, ports: 50 },
    });
    sensor = new FloodSensor(cfg, (ev) => events.push(ev), { pollIntervalMs: 20 });
    sensor.start();
    assert.deepEqual(sensor.attached(), [HOST_IF]);
  });

  after(() => {
    sensor?.close();
    try {
      ip('link', 'del', HOST_IF);
    } catch {}
    try {
      ip('netns', 'del', NS);
    } catch {}
    assert.equal(openHandles().total, 0, `handles left: ${JSON.stringify(openHandles())}`);
  });

  const of = (source: string, kind: string) =>
    events.filter((e) => e.flood.source === source && e.flood.kind === kind);

  test('below the thresholds: packets counted, no event', async () => {
    await gen('syn', QUIET, 8000, 1, 100);
    await gen('udp', QUIET, 9000, 1, 100);
    await waitUntil('packets counted', () => (sensor.stats().kernel_syns ?? 0) >= 100, 5000);
    await sleep(200);
    assert.deepEqual(
      events.filter((e) => e.flood.source === QUIET),
      [],
    );
    const st = sensor.stats();
    assert.ok(st.kernel_udp >= 100, JSON.stringify(st));
  });

  test('SYN flood: one syn_flood event for the source, with count, rate and ATT&CK T1498', async () => {
    await gen('syn', LOUD, 8000, 1, 1000);
    await waitUntil('syn_flood', () => of(LOUD, 'syn_flood').length > 0, 5000);
    await sleep(200);
    const evs = of(LOUD, 'syn_flood');
    assert.equal(evs.length, 1, 'once per source per window');
    const f = evs[0].flood;
    assert.equal(f.count, 500);
    assert.equal(f.threshold, 500);
    assert.equal(f.interface, HOST_IF);
    assert.equal(f.protocol, 'tcp');
    assert.equal(f.port, 8000);
    assert.equal(f.window_ms, 60_000);
    assert.ok(f.rate_per_s > 0);
    assert.deepEqual(evs[0].mitre, { tactic: 'Impact', technique: 'T1498' });
    assert.equal(of(LOUD, 'port_scan').length, 0, 'one port is no scan');
  });

  test('UDP flood: udp_flood event', async () => {
    await gen('udp', LOUD, 9000, 1, 800);
    await waitUntil('udp_flood', () => of(LOUD, 'udp_flood').length > 0, 5000);
    assert.equal(of(LOUD, 'udp_flood')[0].flood.protocol, 'udp');
    assert.equal(of(QUIET, 'udp_flood').length, 0);
  });

  test('port scan: 200 ports with few SYNs is a port_scan (T1046), not a SYN flood', async () => {
    await gen('syn', QUIET, 20000, 200, 200);
    await waitUntil('port_scan', () => of(QUIET, 'port_scan').length > 0, 5000);
    const f = of(QUIET, 'port_scan')[0];
    assert.deepEqual(f.mitre, { tactic: 'Discovery', technique: 'T1046' });
    // The sketch estimate is within a few ports of the threshold it crossed.
    assert.ok(f.flood.count >= 45 && f.flood.count <= 60, `estimate ${f.flood.count}`);
    assert.equal(of(QUIET, 'syn_flood').length, 0);
  });

  test('listed source: dropped at XDP (receiver sees none, per-source count), others pass; count mode passes', async () => {
    const rx: Socket = createSocket('udp4');
    const got = new Map<string, number>();
    rx.on('message', (_m, r) => got.set(r.address, (got.get(r.address) ?? 0) + 1));
    await new Promise<void>((resolve) => rx.bind(0, HOST, () => resolve()));
    const port = rx.address().port;
    try {
      sensor.configure({ ...cfg, dropSources: [`${QUIET}/32`] });
      const before = sensor.stats().kernel_dropped;
      await gen('udp', QUIET, port, 1, 200);
      await gen('udp', LOUD, port, 1, 20);
      await waitUntil('the other source received', () => (got.get(LOUD) ?? 0) === 20, 5000);
      await sleep(200);
      assert.equal(got.get(QUIET) ?? 0, 0, 'the receiver saw none of the listed source');
      assert.equal(sensor.stats().kernel_dropped - before, 200);
      assert.ok((sensor.dropsBySource()[QUIET] ?? 0) >= 200, JSON.stringify(sensor.dropsBySource()));
      assert.equal(sensor.dropsBySource()[LOUD], undefined);

      // count mode: passed, counted as would-drop
      sensor.configure({ ...cfg, dropSources: [`${QUIET}/32`], dropMode: 'count' });
      const would = sensor.stats().kernel_would_drop;
      await gen('udp', QUIET, port, 1, 30);
      await waitUntil('listed source received in count mode', () => (got.get(QUIET) ?? 0) === 30, 5000);
      assert.equal(sensor.stats().kernel_would_drop - would, 30);

      // unlisted again: nothing dropped
      sensor.configure(cfg);
      const dropped = sensor.stats().kernel_dropped;
      await gen('udp', QUIET, port, 1, 10);
      await waitUntil('received after unlisting', () => (got.get(QUIET) ?? 0) === 40, 5000);
      assert.equal(sensor.stats().kernel_dropped, dropped);
    } finally {
      rx.close();
    }
  });

  test('in the agent: --flood config attached, events through onFlood and the output, counters in status, a missing interface degrades', async () => {
    sensor.close(); // one XDP program per interface: the agent's takes its place
    const seen: FloodEvent[] = [];
    const degraded: string[] = [];
    const rec = await startAgent({
      policies: [],
      flood: { ...cfg, interfaces: [HOST_IF, 'pgnone0'] },
      onFlood: (ev) => seen.push(ev),
      onDegraded: (st) => degraded.push(...st.sensors.map((f) => f.summary)),
    });
    try {
      await gen('syn', LOUD, 8000, 1, 600);
      await waitUntil('syn_flood from the agent', () => seen.some((e) => e.flood.kind === 'syn_flood'), 5000);
      const ev = seen.find((e) => e.flood.kind === 'syn_flood');
      assert.equal(ev?.flood.source, LOUD);
      assert.match(ev?.time ?? '', /^\d{4}-\d\d-\d\dT/);
      const st = rec.agent.stats();
      const flood = st.sensors.flood as Record<string, number>;
      assert.equal(flood.interfaces, 1);
      assert.ok(flood.kernel_syns >= 600, JSON.stringify(flood));
      assert.ok(flood.kernel_alerts >= 1);
      assert.equal(st.events.by_kind['network.flood'], seen.length);
      assert.equal(st.health, 'degraded');
      assert.match(st.degraded?.sensors.find((f) => f.sensor === 'flood')?.summary ?? '', /pgnone0/);
    } finally {
      await rec.stop();
    }
  });
});
