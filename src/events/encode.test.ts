// SPDX-License-Identifier: Apache-2.0
// Event encoders: JSON lines keep the contract's names and validate against the published schema.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { ProcessCache } from '../process/cache.js';
import { KernelClock } from '../process/identity.js';
import { encodeCompact, JsonEncoder } from './encode.js';
import { eventSchema } from './schema.js';
import type { PeregrineEvent } from './types.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');

function sample() {
  const c = new ProcessCache({ node: { name: 'n1', boot: '00000000' }, clock: new KernelClock() });
  const base = {
    tid: 0,
    uid: 1000,
    gid: 1000,
    euid: 1000,
    egid: 1000,
    auid: 1000,
    capEffective: 0,
    capPermitted: 0,
    ns: { pid: 1, mnt: 2, net: 3, user: 4, uts: 5, ipc: 6, cgroup: 7 },
    cgroupId: 1,
    cgroupName: '',
    cwd: '/home/u',
    tty: 'pts0',
  };
  const parent = c.upsert({
    ...base,
    origin: 'procfs',
    pid: 100,
    ppid: 1,
    ktime: 5,
    parentPid: 1,
    parentKtime: 0,
    binary: '/bin/bash',
    args: ['-bash'],
    flags: ['procfs'],
  });
  const child = c.upsert({
    ...base,
    origin: 'exec',
    pid: 101,
    ppid: 100,
    ktime: 9,
    parentPid: 100,
    parentKtime: 5,
    binary: '/usr/bin/echo',
    args: ['echo', 'a "quoted"\nline'],
    flags: ['exec'],
  });
  return { parent, child };
}

test('a process.exit line is valid JSON with the contract names and validates against the schema', () => {
  const { parent, child } = sample();
  const ev: PeregrineEvent = {
    time: '2026-11-23T10:00:00.000000001Z',
    node: 'n1',
    kind: 'process.exit',
    process: child.info,
    parent: parent.info,
    exit: { code: 3, signal: 0 },
  };
  const line = new JsonEncoder('n1').encode(ev, { process: child, parent, ancestors: [] });
  const parsed = JSON.parse(line);
  assert.deepEqual(parsed, { ...ev, ancestors: [] });
  assert.equal(parsed.process.parent_exec_id, parent.info.exec_id);
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(eventSchema);
  assert.ok(validate(parsed), JSON.stringify(validate.errors));
  assert.ok(!validate({ ...parsed, kind: 'process.nope' }), 'an unknown kind is rejected');
});

test('the compact form is one readable line', () => {
  const { parent, child } = sample();
  const line = encodeCompact({
    time: 't',
    node: 'n1',
    kind: 'process.exec',
    process: child.info,
    parent: parent.info,
  });
  assert.ok(!line.includes('\n'), 'control characters are escaped');
  assert.ok(line.includes('quoted"\\x0aline'), line);
  assert.match(line, /^exec\s+101 \/usr\/bin\/echo a "quoted"/);
  assert.match(line, /\(parent \/bin\/bash 100\)$/);
});

test('docs/event.schema.json is the published copy of the schema object', () => {
  const published = JSON.parse(readFileSync(join(root, 'docs', 'event.schema.json'), 'utf8'));
  assert.deepEqual(published, JSON.parse(JSON.stringify(eventSchema)), 'run `npm run schema` to update it');
});

test('a frozen container part is serialised once and reused; an unfrozen one every time', () => {
  const { parent, child } = sample();
  const enc = new JsonEncoder('n1');
  const container = Object.freeze({
    id: 'abc',
    name: 'web',
    image: 'nginx',
    image_id: '',
    runtime: 'containerd',
    labels: {},
  });
  const ev: PeregrineEvent = { time: 't', node: 'n1', kind: 'process.exec', process: child.info, container };
  const first = JSON.parse(enc.encode(ev, { process: child, parent }));
  assert.deepEqual(first.container, container);
  const open = { id: 'def', name: '', image: '', image_id: '', runtime: 'docker', labels: {} };
  const ev2: PeregrineEvent = { ...ev, container: open };
  assert.equal(JSON.parse(enc.encode(ev2, { process: child })).container.name, '');
  open.name = 'later';
  assert.equal(JSON.parse(enc.encode(ev2, { process: child })).container.name, 'later', 'not cached');
});
