// SPDX-License-Identifier: Apache-2.0
// The ECS mapping: every field it writes exists in ECS (per @elastic/ecs's
// definitions) with a value of the field's type, and docs/ecs.md lists exactly those fields.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Alert, PeregrineEvent } from '../../src/events/types.js';
import { packageRoot } from '../../src/kernel/native.js';
import { ECS_VERSION, type EcsDocument, ecsFieldPaths, toEcs } from '../../src/sinks/ecs.js';
import {
  alerts,
  chown,
  deniedSymlink,
  events,
  podAccept,
  podAlert,
  podConnect,
  podListen,
} from './records.js';

interface EcsField {
  type: string;
  normalize?: string[];
  allowed_values?: Array<{ name: string; expected_event_types?: string[] }>;
}
const { EcsFlat, EcsVersion } = createRequire(import.meta.url)('@elastic/ecs') as {
  EcsFlat: Record<string, EcsField>;
  EcsVersion: string;
};

const docs: EcsDocument[] = [...events, ...alerts].map((r) => toEcs(r.value));
docs.push(...[podConnect, podAccept, podListen, podAlert, deniedSymlink, chown].map(toEcs));

function valueAt(doc: EcsDocument, path: string): unknown {
  let v: unknown = doc;
  for (const part of path === '@timestamp' ? [path] : path.split('.'))
    v = (v as Record<string, unknown>)?.[part];
  return v;
}

function fitsType(type: string, v: unknown): boolean {
  switch (type) {
    case 'keyword':
    case 'constant_keyword':
    case 'wildcard':
    case 'match_only_text':
    case 'text':
      return typeof v === 'string';
    case 'long':
      return Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'date':
      return typeof v === 'string' && !Number.isNaN(Date.parse(v));
    case 'ip':
      return typeof v === 'string' && /^[0-9a-f.:]+$/i.test(v);
    default:
      return false;
  }
}

test('the ECS version written is the one of the field definitions the tests check against', () => {
  assert.equal(ECS_VERSION, EcsVersion);
});

test('every field the mapper writes is an ECS field with a value of its type (peregrine.* aside)', () => {
  const problems: string[] = [];
  for (const doc of docs) {
    for (const path of ecsFieldPaths(doc)) {
      if (path.startsWith('peregrine.')) continue;
      const def = EcsFlat[path];
      if (!def) {
        problems.push(`${path}: not in ECS ${EcsVersion}`);
        continue;
      }
      const v = valueAt(doc, path);
      const isArray = def.normalize?.includes('array') ?? false;
      const values = Array.isArray(v) ? v : [v];
      if (Array.isArray(v) && !isArray && !['process.args', 'tags'].includes(path))
        problems.push(`${path}: array`);
      for (const x of values)
        if (!fitsType(def.type, x)) problems.push(`${path}: ${JSON.stringify(x)} is not ${def.type}`);
    }
  }
  assert.deepEqual([...new Set(problems)], []);
});

test('event.kind, category, type and outcome use ECS allowed values, types allowed for their category', () => {
  const allowed = (field: string) => new Map((EcsFlat[field].allowed_values ?? []).map((a) => [a.name, a]));
  const kinds = allowed('event.kind');
  const categories = allowed('event.category');
  const outcomes = allowed('event.outcome');
  for (const doc of docs) {
    const event = doc.event as { kind: string; category: string[]; type: string[]; outcome: string };
    assert.ok(kinds.has(event.kind), event.kind);
    assert.ok(outcomes.has(event.outcome), event.outcome);
    for (const c of event.category) {
      const expected = categories.get(c)?.expected_event_types ?? [];
      for (const t of event.type)
        assert.ok(expected.includes(t), `event.type ${t} not expected for category ${c}`);
    }
  }
});

test('a process event maps to process.*, process.parent.*, user and host', () => {
  const src = events.find((r) => r.kind === 'process.exec')?.value as PeregrineEvent;
  const at = (path: string) => valueAt(toEcs(src), path);
  assert.equal(at('@timestamp'), src.time);
  assert.deepEqual(at('event.category'), ['process']);
  assert.deepEqual(at('event.type'), ['start']);
  assert.equal(at('event.action'), 'process.exec');
  assert.equal(at('process.pid'), src.process.pid);
  assert.equal(at('process.entity_id'), src.process.exec_id);
  assert.equal(at('process.executable'), '/usr/bin/dash');
  assert.equal(at('process.name'), 'dash');
  assert.deepEqual(at('process.args'), src.process.args);
  assert.equal(at('process.parent.pid'), src.parent?.pid);
  assert.equal(at('process.parent.executable'), src.parent?.binary);
  assert.equal(at('user.id'), '0');
  assert.equal(at('host.hostname'), 'vm');
});

test('an alert maps to rule, severity and MITRE ATT&CK threat fields, with its event', () => {
  const at = (path: string) => valueAt(toEcs(podAlert), path);
  assert.equal(at('event.kind'), 'alert');
  assert.equal(at('event.severity'), 2);
  assert.equal(at('log.level'), 'critical');
  assert.equal(at('rule.name'), podAlert.rule);
  assert.equal(at('message'), podAlert.output);
  assert.deepEqual(at('threat.tactic'), { id: ['TA0011'], name: ['Command and Control'] });
  assert.deepEqual(at('threat.technique.id'), ['T1105']);
  assert.equal(at('container.name'), 'web');
  assert.equal(at('container.runtime'), 'containerd');
  assert.deepEqual(at('orchestrator'), {
    type: 'kubernetes',
    namespace: 'shop',
    resource: { type: 'pod', name: 'web-7d9f', id: podConnect.pod?.uid },
  });
  assert.deepEqual(at('source'), { ip: '10.244.1.7', port: 40112 });
  assert.deepEqual(at('destination'), { ip: '10.96.0.10', port: 443 });
  assert.equal(at('network.transport'), 'tcp');
  assert.equal(at('peregrine.collapsed'), 2);
  const withSub = alerts.find((r) => (r.value as Alert).mitre?.technique === 'T1059.004')?.value as Alert;
  assert.deepEqual(valueAt(toEcs(withSub), 'threat.technique.id'), ['T1059']);
  assert.deepEqual(valueAt(toEcs(withSub), 'threat.technique.subtechnique.id'), ['T1059.004']);
});

test('an accept puts the remote end in source; listen is server; a denied symlink is a failure on the link', () => {
  const acc = toEcs(podAccept);
  assert.deepEqual(valueAt(acc, 'source'), { ip: '::2', port: 51000 });
  assert.equal(valueAt(acc, 'network.direction'), 'ingress');
  assert.equal(valueAt(acc, 'network.type'), 'ipv6');
  assert.deepEqual(valueAt(toEcs(podListen), 'server'), { ip: '0.0.0.0', port: 8080 });
  assert.equal(valueAt(toEcs(chown), 'file.mode'), '0644');
  assert.equal(valueAt(toEcs(chown), 'file.uid'), '1000');
  const link = toEcs(deniedSymlink);
  assert.equal(valueAt(link, 'file.path'), '/tmp/x/link');
  assert.equal(valueAt(link, 'file.target_path'), '/etc/shadow');
  assert.equal(valueAt(link, 'event.outcome'), 'failure');
  assert.equal(valueAt(link, 'peregrine.policy'), 'no-shadow-links');
});

test('docs/ecs.md lists exactly the fields the mapper writes', () => {
  const md = readFileSync(join(packageRoot(), 'docs', 'ecs.md'), 'utf8');
  const documented = new Set<string>();
  for (const line of md.split('\n')) {
    const m = /^\| `([^`]+)` \|/.exec(line);
    if (m) documented.add(m[1]);
  }
  const written = new Set<string>();
  for (const doc of docs) for (const p of ecsFieldPaths(doc)) written.add(p);
  assert.deepEqual([...written].filter((f) => !documented.has(f)).sort(), [], 'written but not documented');
  assert.deepEqual([...documented].filter((f) => !written.has(f)).sort(), [], 'documented but never written');
});
