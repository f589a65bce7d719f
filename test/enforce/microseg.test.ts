// SPDX-License-Identifier: Apache-2.0
// Microsegmentation against the real kernel: docs/network.md's default-deny
// egress policy, scoped to a cgroup of the test's own, between two network
// namespaces joined by a veth pair. A client in that cgroup reaches only the
// allowed peer/port pairs (TCP and UDP), gets EPERM elsewhere and keeps
// running; the same client outside the cgroup is unaffected; monitor mode
// only reports.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { findCgroup2Mount } from '../../src/container/index.js';
import { openHandles } from '../../src/kernel/index.js';
import { loadPolicyText } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { findPython, kernelTest, root, sleep } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';

const PYTHON = findPython();
const CG2 = findCgroup2Mount();
const skip =
  kernelTest.skip ||
  (PYTHON === undefined ? 'python3 not found' : CG2 === undefined ? 'no cgroup2 mount' : false);
const PEER = join(root, 'test', 'enforce', 'fixtures', 'microseg.py');

const tag = (process.pid % 10000).toString(36) + Math.floor(Math.random() * 1296).toString(36);
const NS_A = `pgms-a-${tag}`; // the workload
const NS_B = `pgms-b-${tag}`; // the peers
const NET = `10.252.${Math.floor(Math.random() * 250)}`;
const CLIENT = `${NET}.1`;
const DB = `${NET}.2`; // the database host: only port DB_PORT
const DNS = `${NET}.3`; // the resolver: only port 53
const OTHER = `${NET}.4`; // not allowed at all
const DB_PORT = 5432;
const OTHER_PORT = 8080;

/** The docs' policy blocks, by name (every block must load). */
function docsPolicies(): Map<string, Policy> {
  const md = readFileSync(join(root, 'docs', 'network.md'), 'utf8');
  const out = new Map<string, Policy>();
  [...md.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].forEach((m, i) => {
    if (!m[1].includes('apiVersion:')) return; // a flood configuration block
    for (const p of loadPolicyText(m[1], `docs/network.md block ${i + 1}`)) out.set(p.metadata.name, p);
  });
  return out;
}

/**
 * The docs policy with the test's addresses, ports and cgroup: the same
 * rules, kinds and actions; `spec.selector` replaced by the cgroup id it
 * would resolve to (src/container/ does that for real containers).
 */
function forTest(p: Policy, cgroupId: number, mode: 'enforce' | 'monitor'): Policy {
  const swap: Record<string, string> = { '10.20.0.0/16': `${DB}/32`, '10.96.0.10/32': `${DNS}/32` };
  const rules = p.spec.rules.map((r) => ({
    ...r,
    match: {
      ...r.match,
      addresses: r.match.addresses && {
        in: r.match.addresses.in?.map((a) => swap[a] ?? a),
        notIn: r.match.addresses.notIn?.map((a) => swap[a] ?? a),
      },
      cgroupIds: { in: [cgroupId] },
    },
  }));
  const { selector: _, ...spec } = p.spec;
  return { ...p, spec: { ...spec, mode, rules } };
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

describe('microsegmentation: default-deny egress per workload between network namespaces', { skip }, () => {
  let rec: RecordingAgent;
  let server: ChildProcess;
  let cgroup: string;
  let cgroupId: number;
  let docs: Policy;

  /** The client in netns A; in the workload's cgroup unless `outside`. Resolves with its two lines. */
  async function client(
    proto: 'tcp' | 'udp',
    host: string,
    port: number,
    outside = false,
  ): Promise<string[]> {
    const cmd = `exec nsenter --net=/run/netns/${NS_A} ${PYTHON} ${PEER} ${proto} ${host} ${port}`;
    const script = outside ? cmd : `echo $$ > ${cgroup}/cgroup.procs && ${cmd}`;
    const { stdout } = await promisify(execFile)('/bin/sh', ['-c', script]);
    return stdout.trim().split('\n');
  }

  before(async () => {
    docs = docsPolicies().get('payments-egress') as Policy;
    assert.ok(docs, 'docs/network.md has the payments-egress example');
    ip('netns', 'add', NS_A);
    ip('netns', 'add', NS_B);
    ip('-n', NS_A, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS_B);
    ip('-n', NS_A, 'addr', 'add', `${CLIENT}/24`, 'dev', 'eth0');
    for (const a of [DB, DNS, OTHER]) ip('-n', NS_B, 'addr', 'add', `${a}/24`, 'dev', 'eth0');
    for (const ns of [NS_A, NS_B]) {
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    server = spawn(
      'ip',
      ['netns', 'exec', NS_B, PYTHON as string, PEER, 'serve', '53', `${DB_PORT}`, `${OTHER_PORT}`],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`peer server exited ${code}`)));
      server.stdout?.once('data', () => resolve());
    });
    cgroup = join(CG2 as string, `pg-microseg-${tag}`);
    mkdirSync(cgroup);
    cgroupId = statSync(cgroup).ino; // a cgroup v2 id is its directory's inode number
    rec = await startAgent({ policies: [], containers: false });
  });

  after(async () => {
    await rec?.stop();
    server?.kill();
    await sleep(100);
    for (const ns of [NS_A, NS_B])
      try {
        ip('netns', 'del', ns);
      } catch {}
    try {
      rmdirSync(cgroup);
    } catch {}
    assert.equal(openHandles().total, 0, `handles left: ${JSON.stringify(openHandles())}`);
  });

  test('before any policy every peer answers', async () => {
    assert.deepEqual(await client('tcp', OTHER, OTHER_PORT), ['ok', 'alive']);
    assert.deepEqual(await client('udp', OTHER, 53), ['ok', 'alive']);
  });

  test('enforce: only DB:5432 and DNS:53 (TCP and UDP); everything else EPERM, the client keeps running', async () => {
    rec.agent.applyPolicies([forTest(docs, cgroupId, 'enforce')]);
    const st = rec.agent.policyStatus().find((p) => p.name === 'payments-egress');
    for (const r of st?.rules ?? [])
      assert.match(r.enforcement ?? '', /^enforced \(cgroup\/connect4/, r.name);
    const cases: Array<[proto: 'tcp' | 'udp', host: string, port: number, want: string]> = [
      ['tcp', DB, DB_PORT, 'ok'],
      ['tcp', DNS, 53, 'ok'],
      ['udp', DNS, 53, 'ok'],
      ['tcp', DB, OTHER_PORT, 'EPERM'], // allowed host, other port
      ['udp', DB, 53, 'EPERM'],
      ['tcp', DNS, DB_PORT, 'EPERM'], // the resolver only for DNS
      ['tcp', OTHER, OTHER_PORT, 'EPERM'], // not an allowed peer
      ['udp', OTHER, 53, 'EPERM'],
    ];
    for (const [proto, host, port, want] of cases)
      assert.deepEqual(await client(proto, host, port), [want, 'alive'], `${proto} ${host}:${port}`);
    const ev = await rec.waitFor(
      (e) =>
        e.action?.taken === 'deny' && e.network?.remote_address === OTHER && e.network.protocol === 'udp',
      5000,
      'the UDP deny event',
    );
    assert.equal(ev.action?.backend, 'cgroup/sendmsg4');
    assert.equal(ev.policy?.name, 'payments-egress');
  });

  test('a process outside the workload cgroup is unaffected', async () => {
    assert.deepEqual(await client('tcp', OTHER, OTHER_PORT, true), ['ok', 'alive']);
    assert.deepEqual(await client('udp', OTHER, 53, true), ['ok', 'alive']);
    assert.deepEqual(await client('tcp', DB, OTHER_PORT, true), ['ok', 'alive']);
  });

  test('monitor mode: nothing denied, the would-be denies reported', async () => {
    rec.agent.applyPolicies([forTest(docs, cgroupId, 'monitor')]);
    assert.deepEqual(await client('tcp', OTHER, OTHER_PORT), ['ok', 'alive']);
    const ev = await rec.waitFor(
      (e) => e.action?.taken === 'none' && e.network?.remote_address === OTHER,
      5000,
      'the would-be deny',
    );
    assert.equal(ev.action?.would, 'deny');
    rec.agent.applyPolicies([]);
  });
});
