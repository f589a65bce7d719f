// SPDX-License-Identifier: Apache-2.0
// The policy controller against a local HTTP server replaying API-server responses (list, watch
// streams, server-side-apply status patches): no API server is installed here. It applies
// ClusterPolicies all or nothing and namespaced Policies scoped to their namespace, writes each
// node's attestation, relists on 410 Gone and reconnects when the connection drops.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import type { PolicyStatus } from '../agent.js';
import { loadPolicyText } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { packageRoot } from '../sensors/paths.js';
import { inClusterConfig, KubeClient, KubeError } from './client.js';
import { type NodeStatus, PolicyController, type PolicyObject } from './policies.js';

const GROUP = '/apis/peregrine.dev/v1alpha1';

function nsPolicy(ns: string, name: string, generation: number, spec: unknown, rv = '1'): PolicyObject {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name, namespace: ns, generation, resourceVersion: rv },
    spec,
  };
}

function clusterPolicy(name: string, generation: number, spec: unknown, rv: string): PolicyObject {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'ClusterPolicy',
    metadata: { name, generation, resourceVersion: rv, labels: { team: 'sec' } },
    spec,
  };
}

const GOOD_SPEC = {
  mode: 'enforce',
  rules: [
    { name: 'no-network', kinds: ['network.connect'], match: { binaries: { in: ['curl'] } }, action: 'deny' },
  ],
};
// Valid for the CRD's schema, refused by the loader: a relative path prefix.
const BAD_SPEC = { rules: [{ kinds: ['file.open'], match: { paths: { prefix: ['tmp/'] } } }] };

interface Patch {
  path: string;
  contentType: string;
  auth: string;
  body: { kind: string; metadata: { name: string; namespace?: string }; status: { nodes: NodeStatus[] } };
}

/** Replays list and watch responses; watch streams stay open until the test writes to or ends them. */
class FakeApi {
  server: Server;
  lists: Record<string, unknown[]> = { clusterpolicies: [], policies: [] };
  listCalls: Record<string, number> = { clusterpolicies: 0, policies: 0 };
  watches: Record<string, ServerResponse[]> = { clusterpolicies: [], policies: [] };
  watchVersions: string[] = [];
  patches: Patch[] = [];
  private waiters: Array<() => void> = [];

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const kind = url.pathname.split('/')[4] === 'namespaces' ? 'policies' : url.pathname.split('/')[4];
    if (req.method === 'GET' && url.searchParams.get('watch') === '1') {
      this.watchVersions.push(`${kind}@${url.searchParams.get('resourceVersion')}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.watches[kind].push(res);
      this.wake();
      return;
    }
    if (req.method === 'GET') {
      this.listCalls[kind]++;
      const list = {
        apiVersion: 'peregrine.dev/v1alpha1',
        kind: 'List',
        metadata: { resourceVersion: `${100 + this.listCalls[kind]}` },
        items: this.lists[kind],
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(list));
      this.wake();
      return;
    }
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      this.patches.push({
        path: `${url.pathname}${url.search}`,
        contentType: req.headers['content-type'] ?? '',
        auth: req.headers.authorization ?? '',
        body: JSON.parse(text),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(text);
      this.wake();
    });
  }

  /** Sends one watch event on the newest stream of `kind`. */
  send(kind: string, type: string, object: unknown): void {
    const streams = this.watches[kind];
    streams[streams.length - 1].write(`${JSON.stringify({ type, object })}\n`);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `cond` holds, re-checked after every request; fails after 5 s. */
  async until(cond: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  /** The last entry written for `name` (a ClusterPolicy) or `namespace/name` (a Policy). */
  lastStatus(name: string): NodeStatus | undefined {
    const key = (b: Patch['body']) =>
      b.metadata.namespace === undefined ? b.metadata.name : `${b.metadata.namespace}/${b.metadata.name}`;
    const p = this.patches.filter((x) => key(x.body) === name).at(-1);
    return p?.body.status.nodes[0];
  }

  close(): Promise<void> {
    for (const list of Object.values(this.watches)) for (const r of list) r.destroy();
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** An agent stand-in: records what it is asked to apply, attests every rule as enforced. */
class FakeAgent {
  applied: Policy[][] = [];
  current: Policy[] = [];
  refuse = '';
  /** Refuses any set holding a policy of this name (as the agent does for fallback: reject). */
  refuseName = '';
  applyPolicies(p: Policy[]): void {
    if (this.refuse !== '') throw new Error(this.refuse);
    if (p.some((x) => x.metadata.name === this.refuseName))
      throw new Error(`resolve policy ${this.refuseName}: deny needs cgroup hooks (fallback: reject)`);
    this.applied.push(p);
    this.current = p;
  }
  policyStatus(): PolicyStatus[] {
    return this.current.map((p) => ({
      name: p.metadata.name,
      mode: p.spec.mode,
      kinds: p.spec.rules.flatMap((r) => r.kinds),
      rules: p.spec.rules.map((r) => ({
        name: r.name,
        kinds: r.kinds,
        action: r.action,
        user_check: false,
        enforcement: r.action === 'audit' ? 'audit' : 'enforced (cgroup/connect4, cgroup/connect6)',
      })),
      enforcement: p.spec.rules.some((r) => r.action !== 'audit') ? 'enforced' : 'audit',
      source: p.source.file,
      matches: 0,
    }));
  }
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(
  base?: () => Policy[],
  defaultMode?: 'enforce' | 'monitor',
): Promise<{ api: FakeApi; agent: FakeAgent; ctl: PolicyController; logs: string[] }> {
  const api = new FakeApi();
  const server = await api.listen();
  const agent = new FakeAgent();
  const logs: string[] = [];
  const ctl = new PolicyController({
    client: new KubeClient({ server, token: 'tok-123' }),
    target: agent,
    node: 'node-a',
    backoffMs: 20,
    log: (l) => logs.push(l),
    base,
    defaultMode,
  });
  cleanup.push(() => api.close());
  cleanup.push(() => ctl.stop());
  return { api, agent, ctl, logs };
}

describe('in-cluster config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-sa-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reads the service host and port, the CA and the token file', () => {
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\n');
    writeFileSync(join(dir, 'token'), 'abc\n');
    const c = inClusterConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    assert.deepEqual(c, {
      server: 'https://10.96.0.1:443',
      tokenFile: join(dir, 'token'),
      ca: '-----BEGIN CERTIFICATE-----\n',
    });
    assert.equal(
      inClusterConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1' }, dir).server,
      'https://[fd00::1]:443',
    );
  });

  test('`run --kubernetes` outside a pod fails before loading anything', () => {
    const env = { ...process.env };
    delete env.KUBERNETES_SERVICE_HOST;
    const r = spawnSync(
      process.execPath,
      [join(packageRoot(), 'bin', 'peregrine.js'), 'run', '--kubernetes'],
      {
        env,
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^peregrine: read in-cluster config: KUBERNETES_SERVICE_HOST is not set/);
  });

  test('outside a pod it says so', () => {
    assert.throws(
      () => inClusterConfig({}, dir),
      (e: unknown) => e instanceof KubeError && /KUBERNETES_SERVICE_HOST/.test(e.message),
    );
  });
});

describe('policy controller against recorded API responses', () => {
  test('applies the listed ClusterPolicies and writes this node attestation by server-side apply', async () => {
    const { api, agent, ctl } = await setup();
    api.lists.clusterpolicies = [clusterPolicy('no-curl', 3, GOOD_SPEC, '90')];
    api.lists.policies = [
      {
        apiVersion: 'peregrine.dev/v1alpha1',
        kind: 'Policy',
        metadata: { name: 'ns-pol', namespace: 'team-a', generation: 1 },
        spec: GOOD_SPEC,
      },
    ];
    ctl.start();
    await api.until(() => api.patches.length >= 2, 'two status patches');
    assert.equal(agent.applied.length, 1);
    assert.deepEqual(
      agent.applied[0].map((p) => p.metadata),
      [
        { name: 'no-curl', labels: { team: 'sec' } },
        { name: 'team-a/ns-pol', namespace: 'team-a' },
      ],
    );
    assert.equal(agent.applied[0][0].spec.rules[0].fallback, 'reject', 'the loader applied its defaults');
    assert.equal(agent.applied[0][0].spec.selector, undefined, 'a ClusterPolicy stays node-wide');
    assert.deepEqual(agent.applied[0][1].spec.selector, {
      matchExpressions: [{ key: 'io.kubernetes.pod.namespace', operator: 'In', values: ['team-a'] }],
    });
    assert.deepEqual(
      ctl.policies().map((p) => p.metadata.name),
      ['no-curl', 'team-a/ns-pol'],
    );

    const cp = api.patches.find((p) => p.body.metadata.name === 'no-curl') as Patch;
    assert.equal(cp.path, `${GROUP}/clusterpolicies/no-curl/status?fieldManager=peregrine-node-a&force=true`);
    assert.equal(cp.contentType, 'application/apply-patch+yaml');
    assert.equal(cp.auth, 'Bearer tok-123');
    const { lastUpdateTime, ...entry } = cp.body.status.nodes[0];
    assert.ok(!Number.isNaN(Date.parse(lastUpdateTime)));
    assert.deepEqual(entry, {
      node: 'node-a',
      state: 'enforced',
      observedGeneration: 3,
      rules: [{ name: 'no-network', state: 'enforced', text: 'enforced (cgroup/connect4, cgroup/connect6)' }],
    });

    const ns = api.patches.find((p) => p.body.metadata.name === 'ns-pol') as Patch;
    assert.equal(ns.path.split('?')[0], `${GROUP}/namespaces/team-a/policies/ns-pol/status`);
    assert.deepEqual(ns.body.metadata, { name: 'ns-pol', namespace: 'team-a' });
    assert.equal(ns.body.kind, 'Policy');
    assert.equal(ns.body.status.nodes[0].state, 'enforced');
    assert.equal(ns.body.status.nodes[0].observedGeneration, 1);
    await api.until(() => api.watchVersions.length === 2, 'both watches');
    assert.deepEqual(api.watchVersions.sort(), ['clusterpolicies@101', 'policies@101']);
  });

  test('a ClusterPolicy the loader refuses changes nothing applied and reports the loader field and reason', async () => {
    const { api, agent, ctl } = await setup();
    api.lists.clusterpolicies = [clusterPolicy('no-curl', 1, GOOD_SPEC, '90')];
    ctl.start();
    await api.until(
      () => api.watches.clusterpolicies.length === 1 && api.watches.policies.length === 1,
      'watches',
    );
    await api.until(() => api.lastStatus('no-curl') !== undefined, 'first status');
    const patches = api.patches.length;

    api.send('clusterpolicies', 'ADDED', clusterPolicy('bad', 1, BAD_SPEC, '120'));
    await api.until(() => api.lastStatus('bad') !== undefined, 'status of bad');
    assert.equal(agent.applied.length, 1, 'nothing re-applied');
    const bad = api.lastStatus('bad') as NodeStatus;
    assert.equal(bad.state, 'rejected');
    assert.match(bad.message ?? '', /^spec\.rules\[0\]\.match\.paths\.prefix\[0\]: /);
    assert.equal(api.patches.length, patches + 1, 'the policy still in force keeps its status');

    // A change to the good one while the bad one is there is not applied either, and says why.
    api.send(
      'clusterpolicies',
      'MODIFIED',
      clusterPolicy('no-curl', 2, { ...GOOD_SPEC, mode: 'monitor' }, '121'),
    );
    await api.until(() => api.lastStatus('no-curl')?.observedGeneration === 2, 'status of gen 2');
    assert.equal(api.lastStatus('no-curl')?.state, 'rejected');
    assert.match(api.lastStatus('no-curl')?.message ?? '', /all or nothing/);
    assert.equal(agent.applied.length, 1);

    // Deleting the bad one lets the whole set through.
    api.send('clusterpolicies', 'DELETED', clusterPolicy('bad', 1, BAD_SPEC, '122'));
    await api.until(() => agent.applied.length === 2, 'the set re-applied');
    assert.equal(agent.applied[1][0].spec.mode, 'monitor');
    await api.until(() => api.lastStatus('no-curl')?.state === 'enforced', 'enforced again');
  });

  test('an agent that refuses the set keeps its policies; the status carries its error', async () => {
    const { api, agent, ctl } = await setup();
    ctl.start();
    await api.until(
      () => api.watches.clusterpolicies.length === 1 && api.watches.policies.length === 1,
      'watches',
    );
    await api.until(() => agent.applied.length === 1, 'the empty set applied');
    agent.refuse = 'resolve policy no-curl: deny on network.connect needs cgroup hooks (fallback: reject)';
    api.send('clusterpolicies', 'ADDED', clusterPolicy('no-curl', 1, GOOD_SPEC, '130'));
    await api.until(() => api.lastStatus('no-curl') !== undefined, 'status');
    assert.deepEqual(agent.current, []);
    assert.equal(api.lastStatus('no-curl')?.state, 'rejected');
    assert.match(api.lastStatus('no-curl')?.message ?? '', /fallback: reject/);
  });

  test("the files' policies stay applied under the cluster's", async () => {
    const filePolicy = loadPolicyText(
      'apiVersion: peregrine.dev/v1alpha1\nkind: Policy\nmetadata: {name: from-file}\nspec: {rules: [{kinds: [process.exec]}]}\n',
      'local.yaml',
    );
    const { api, agent, ctl } = await setup(() => filePolicy);
    api.lists.clusterpolicies = [clusterPolicy('no-curl', 1, GOOD_SPEC, '90')];
    ctl.start();
    await api.until(() => agent.applied.length === 1, 'applied');
    assert.deepEqual(
      agent.applied[0].map((p) => p.metadata.name),
      ['from-file', 'no-curl'],
    );
    assert.deepEqual(
      ctl.policies().map((p) => p.metadata.name),
      ['no-curl'],
    );
  });

  test('410 Gone relists; a dropped connection reconnects with backoff and relists', async () => {
    const { api, agent, ctl, logs } = await setup();
    ctl.start();
    await api.until(
      () => api.watches.clusterpolicies.length === 1 && api.watches.policies.length === 1,
      'watches',
    );
    api.lists.clusterpolicies = [clusterPolicy('no-curl', 1, GOOD_SPEC, '140')];
    api.send('clusterpolicies', 'ERROR', {
      kind: 'Status',
      code: 410,
      reason: 'Expired',
      message: 'too old resource version',
    });
    api.watches.clusterpolicies[0].end();
    await api.until(
      () => api.listCalls.clusterpolicies === 2 && agent.current.length === 1,
      'relist after 410',
    );

    await api.until(() => api.watches.clusterpolicies.length === 2, 'second watch');
    api.lists.clusterpolicies = [];
    api.watches.clusterpolicies[1].destroy();
    await api.until(
      () => api.listCalls.clusterpolicies === 3 && agent.current.length === 0,
      'relist after a drop',
    );
    assert.ok(
      logs.some((l) => /ClusterPolicy: .*retrying in 20 ms/.test(l)),
      logs.join('\n'),
    );
    assert.equal(api.watches.clusterpolicies.length, 3);
  });

  test('a watch the server ends cleanly resumes from the last resourceVersion seen', async () => {
    const { api, ctl } = await setup();
    ctl.start();
    await api.until(
      () => api.watches.clusterpolicies.length === 1 && api.watches.policies.length === 1,
      'watches',
    );
    api.send('clusterpolicies', 'BOOKMARK', { kind: 'ClusterPolicy', metadata: { resourceVersion: '777' } });
    api.watches.clusterpolicies[0].end();
    await api.until(() => api.watches.clusterpolicies.length === 2, 'second watch');
    assert.ok(api.watchVersions.includes('clusterpolicies@777'), api.watchVersions.join(', '));
    assert.equal(api.listCalls.clusterpolicies, 1, 'no relist');
  });

  test("a Policy named like another namespace's and like a ClusterPolicy: three policies, three statuses", async () => {
    const { api, agent, ctl } = await setup();
    api.lists.clusterpolicies = [clusterPolicy('same', 1, GOOD_SPEC, '90')];
    api.lists.policies = [nsPolicy('team-a', 'same', 4, GOOD_SPEC), nsPolicy('team-b', 'same', 7, GOOD_SPEC)];
    ctl.start();
    await api.until(() => api.patches.length >= 3, 'three status patches');
    assert.deepEqual(
      agent.applied[0].map((p) => p.metadata.name),
      ['same', 'team-a/same', 'team-b/same'],
    );
    const paths = api.patches.map((p) => p.path.split('?')[0]).sort();
    assert.deepEqual(paths, [
      `${GROUP}/clusterpolicies/same/status`,
      `${GROUP}/namespaces/team-a/policies/same/status`,
      `${GROUP}/namespaces/team-b/policies/same/status`,
    ]);
    assert.equal(api.lastStatus('team-a/same')?.observedGeneration, 4);
    assert.equal(api.lastStatus('team-b/same')?.observedGeneration, 7);
    assert.equal(api.lastStatus('same')?.state, 'enforced');
  });

  test("a namespace's Policy the loader refuses holds back only itself", async () => {
    const { api, agent, ctl } = await setup();
    api.lists.clusterpolicies = [clusterPolicy('no-curl', 1, GOOD_SPEC, '90')];
    api.lists.policies = [
      nsPolicy('team-a', 'broken', 1, BAD_SPEC),
      nsPolicy('team-b', 'fine', 1, GOOD_SPEC),
    ];
    ctl.start();
    await api.until(() => api.patches.length >= 3, 'three status patches');
    assert.deepEqual(
      agent.current.map((p) => p.metadata.name),
      ['no-curl', 'team-b/fine'],
    );
    const broken = api.lastStatus('team-a/broken') as NodeStatus;
    assert.equal(broken.state, 'rejected');
    assert.match(broken.message ?? '', /^spec\.rules\[0\]\.match\.paths\.prefix\[0\]: /);
    assert.equal(api.lastStatus('team-b/fine')?.state, 'enforced');
  });

  test("a namespace's Policy the agent refuses is held back; the cluster's changes still apply", async () => {
    const { api, agent, ctl } = await setup();
    api.lists.clusterpolicies = [clusterPolicy('no-curl', 1, GOOD_SPEC, '90')];
    ctl.start();
    await api.until(
      () => api.watches.clusterpolicies.length === 1 && api.watches.policies.length === 1,
      'watches',
    );
    await api.until(() => api.lastStatus('no-curl')?.state === 'enforced', 'first status');
    agent.refuseName = 'team-a/needs-lsm';
    api.send('policies', 'ADDED', nsPolicy('team-a', 'needs-lsm', 1, GOOD_SPEC, '150'));
    await api.until(() => api.lastStatus('team-a/needs-lsm') !== undefined, 'status of the refused one');
    const st = api.lastStatus('team-a/needs-lsm') as NodeStatus;
    assert.equal(st.state, 'rejected');
    assert.match(st.message ?? '', /^not applied: the agent refused the set with it: .*fallback: reject/);
    api.send(
      'clusterpolicies',
      'MODIFIED',
      clusterPolicy('no-curl', 2, { ...GOOD_SPEC, mode: 'monitor' }, '151'),
    );
    await api.until(() => api.lastStatus('no-curl')?.observedGeneration === 2, 'the ClusterPolicy change');
    assert.deepEqual(
      agent.current.map((p) => [p.metadata.name, p.spec.mode]),
      [['no-curl', 'monitor']],
    );
  });

  test('--default-mode monitor: a policy that sets no mode monitors, one that sets enforce enforces', async () => {
    const { api, agent, ctl } = await setup(undefined, 'monitor');
    const { mode: _, ...noMode } = GOOD_SPEC;
    api.lists.clusterpolicies = [
      clusterPolicy('no-curl', 1, noMode, '90'),
      clusterPolicy('strict', 1, GOOD_SPEC, '91'),
    ];
    api.lists.policies = [nsPolicy('team-a', 'p', 1, noMode)];
    ctl.start();
    await api.until(() => agent.applied.length === 1, 'applied');
    assert.deepEqual(
      agent.applied[0].map((p) => [p.metadata.name, p.spec.mode]),
      [
        ['no-curl', 'monitor'],
        ['strict', 'enforce'],
        ['team-a/p', 'monitor'],
      ],
    );
  });
});
