// SPDX-License-Identifier: Apache-2.0
// The policy compiler: what each selector puts into which kernel map.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PeregrineEvent } from '../events/types.js';
import { PgDim, PgKind, PgSet } from '../generated/records.js';
import { bitsOf, CompileError, compileFilter, globToRegExp, parseCidr } from './compile.js';
import { fnv1a64 } from './hash.js';
import type { Policy, PolicyRule } from './types.js';

function policy(
  name: string,
  rules: Array<Partial<PolicyRule>>,
  mode: 'enforce' | 'monitor' = 'enforce',
): Policy {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name },
    spec: {
      mode,
      rules: rules.map((r, i) => ({
        name: `rule-${i}`,
        kinds: ['file.open'],
        match: {},
        action: 'audit',
        ...r,
      })),
    },
    source: { file: 'test.yaml' },
  };
}

test('FNV-1a 64 matches the reference vectors the kernel side uses', () => {
  assert.equal(fnv1a64(''), 0xcbf29ce484222325n);
  assert.equal(fnv1a64('a'), 0xaf63dc4c8601ec8cn);
  assert.equal(fnv1a64('foobar'), 0x85944171f73967e8n);
});

test('each rule owns a slot; kinds and wildcards are set per slot', () => {
  const img = compileFilter([
    policy('a', [{ kinds: ['file.open'], match: { paths: { prefix: ['/etc/'] } } }]),
    policy('b', [{ kinds: ['network.connect'], match: { ports: { in: [443] } } }]),
  ]);
  assert.deepEqual(
    img.slots.map((s) => [s.slot, s.policy]),
    [
      [0, 'a'],
      [1, 'b'],
    ],
  );
  assert.deepEqual(bitsOf(img.sets.get(PgSet.PG_SET_KIND + PgKind.PG_KIND_FILE_OPEN)!), [0]);
  assert.deepEqual(bitsOf(img.sets.get(PgSet.PG_SET_KIND + PgKind.PG_KIND_NET_CONNECT)!), [1]);
  // Rule a constrains paths, rule b ports: each is wild on the other's dimension.
  assert.deepEqual(bitsOf(img.sets.get(PgSet.PG_SET_WILD + PgDim.PG_DIM_PATH)!), [1]);
  assert.deepEqual(bitsOf(img.sets.get(PgSet.PG_SET_WILD + PgDim.PG_DIM_PORT)!), [0]);
  assert.deepEqual(bitsOf(img.sets.get(PgSet.PG_SET_WILD + PgDim.PG_DIM_BINARY)!), [0, 1]);
  assert.deepEqual(
    img.values.map((v) => [v.dim, v.value, bitsOf(v.allow)]),
    [[PgDim.PG_DIM_PORT, 443n, [1]]],
  );
  assert.deepEqual([...img.kinds].sort(), ['file.open', 'network.connect']);
});

test('a longer prefix entry carries the rules of every shorter prefix it extends', () => {
  const img = compileFilter([
    policy('etc', [{ match: { paths: { prefix: ['/etc/'] } } }]),
    policy('ssh', [{ match: { paths: { prefix: ['/etc/ssh/'] } } }]),
    policy('usr', [{ match: { paths: { prefix: ['/usr/'] } } }]),
  ]);
  const by = new Map(img.prefixes.map((p) => [p.bytes.toString(), bitsOf(p.rules)]));
  assert.deepEqual(by.get('/etc/'), [0]);
  assert.deepEqual(by.get('/etc/ssh/'), [0, 1]);
  assert.deepEqual(by.get('/usr/'), [2]);
});

test('suffixes are stored reversed; globs give their literal prefix to the kernel and a user check', () => {
  const img = compileFilter([
    policy('keys', [{ match: { paths: { suffix: ['.pem'], glob: ['/home/*/.ssh/id_*'] } } }]),
  ]);
  assert.deepEqual(
    img.suffixes.map((s) => s.bytes.toString()),
    ['mep.'],
  );
  assert.deepEqual(
    img.prefixes.map((p) => p.bytes.toString()),
    ['/home/'],
  );
  const check = img.slots[0].userCheck!;
  const ev = (path: string) =>
    ({ file: { path, path_source: 'kernel' }, process: { args: [] } }) as unknown as PeregrineEvent;
  assert.ok(check(ev('/home/ana/.ssh/id_ed25519')));
  assert.ok(check(ev('/home/ana/x.pem')), 'the suffix still matches alone');
  assert.ok(!check(ev('/home/ana/notes.txt')));
  assert.ok(globToRegExp('/a/**/b').test('/a/x/y/b'));
  assert.ok(!globToRegExp('/a/*/b').test('/a/x/y/b'));
});

test('open access selectors accept every combination containing an asked bit', () => {
  const img = compileFilter([policy('w', [{ match: { access: ['write', 'truncate'] } }])]);
  const accepting = [];
  for (let c = 0; c < 16; c++)
    if (bitsOf(img.sets.get(PgSet.PG_SET_ACCESS + c) ?? new Uint32Array(8)).length) accepting.push(c);
  // bits: read 1, write 2, create 4, truncate 8
  assert.deepEqual(accepting, [2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
});

test('binaries in/notIn become allow/deny entries keyed by path or name hash', () => {
  const img = compileFilter([
    policy('curl', [{ kinds: ['network.connect'], match: { binaries: { in: ['curl', '/usr/bin/wget'] } } }]),
    policy('not-ssh', [{ kinds: ['network.connect'], match: { binaries: { notIn: ['sshd'] } } }]),
  ]);
  const entry = (v: string) =>
    img.values.find((e) => e.dim === PgDim.PG_DIM_BINARY && e.value === fnv1a64(v));
  assert.deepEqual(bitsOf(entry('curl')!.allow), [0]);
  assert.deepEqual(bitsOf(entry('/usr/bin/wget')!.allow), [0]);
  assert.deepEqual(bitsOf(entry('sshd')!.deny), [1]);
  assert.deepEqual(
    bitsOf(img.sets.get(PgSet.PG_SET_WILD + PgDim.PG_DIM_BINARY)!),
    [1],
    'a notIn-only rule stays open',
  );
});

test('CIDRs: masked, and a narrower entry carries the wider ones covering it', () => {
  assert.deepEqual(parseCidr('10.1.2.3/8'), {
    family: 2,
    addr: Buffer.from([10, ...Array(15).fill(0)]),
    bits: 8,
  });
  assert.equal(parseCidr('::1').addr.toString('hex'), `${'0'.repeat(30)}01`);
  assert.equal(parseCidr('fd00::/8').bits, 8);
  const img = compileFilter([
    policy('wide', [{ kinds: ['network.connect'], match: { addresses: { in: ['10.0.0.0/8'] } } }]),
    policy('narrow', [{ kinds: ['network.connect'], match: { addresses: { notIn: ['10.1.0.0/16'] } } }]),
  ]);
  const narrow = img.addrs.find((a) => a.bits === 16)!;
  assert.deepEqual(bitsOf(narrow.allow), [0]);
  assert.deepEqual(bitsOf(narrow.deny), [1]);
});

test('more rules than slots is a clear error', () => {
  const many = Array.from({ length: 257 }, () => ({}));
  assert.throws(() => compileFilter([policy('big', many)]), CompileError);
  assert.throws(() => compileFilter([policy('big', many)]), /257 rules in all, over the 256 rule slots/);
});

test('monitor mode and actions are carried per slot', () => {
  const img = compileFilter([policy('m', [{ action: 'kill' }], 'monitor')]);
  assert.equal(img.slots[0].action, 'kill');
  assert.equal(img.slots[0].monitor, true);
});
