// SPDX-License-Identifier: Apache-2.0
// Policy loader: the shipped policies, examples and docs load; malformed files are rejected whole with file, line, field and reason.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../sensors/paths.js';
import { compileFilter } from './compile.js';
import { PolicyError } from './errors.js';
import {
  defaultPolicyPath,
  loadDefaultPolicy,
  loadPolicyPath,
  loadPolicyText,
  parseCidr,
  validatePolicyPath,
  validatePolicyText,
} from './load.js';

const root = packageRoot();

/** A valid one-rule policy; `rule` is the rule's YAML lines after "- ", indented by six spaces. */
function policy(name: string, rule: string): string {
  return [
    'apiVersion: peregrine.dev/v1alpha1',
    'kind: Policy',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  rules:',
    `    - ${rule.trim().split('\n').join('\n      ')}`,
    '',
  ].join('\n');
}

/** The PolicyError loadPolicyText throws for `text`. */
function rejection(text: string, file = 'p.yaml'): PolicyError {
  try {
    loadPolicyText(text, file);
  } catch (e) {
    assert.ok(e instanceof PolicyError, `expected a PolicyError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the policy to be rejected');
}

function expectError(
  text: string,
  want: { line: number; field: string; reason: RegExp; code?: string },
): void {
  const e = rejection(text);
  assert.equal(e.file, 'p.yaml');
  assert.equal(e.field, want.field, e.message);
  assert.equal(e.line, want.line, e.message);
  assert.match(e.reason, want.reason, e.message);
  if (want.code) assert.equal(e.code, want.code, e.message);
  assert.equal(e.message, `p.yaml:${want.line}: ${want.field}: ${e.reason}`);
}

test('the default policy loads, audits only, and names each concern', () => {
  const policies = loadDefaultPolicy();
  assert.ok(defaultPolicyPath().endsWith(join('policies', 'default.yaml')));
  assert.deepEqual(
    policies.map((p) => p.metadata.name),
    [
      'default-sensitive-writes',
      'default-credential-reads',
      'default-privilege-changes',
      'default-kernel-changes',
      'default-outbound-connections',
    ],
  );
  const rules = policies.flatMap((p) => p.spec.rules);
  assert.ok(rules.every((r) => r.action === 'audit' && r.fallback === undefined));
  const kinds = new Set(rules.flatMap((r) => r.kinds));
  for (const k of [
    'file.open',
    'file.unlink',
    'file.rename',
    'file.chmod',
    'file.chown',
    'namespace.unshare',
    'namespace.setns',
    'privilege.setuid',
    'privilege.capset',
    'process.ptrace',
    'kernel.module_load',
    'kernel.kexec',
    'kernel.bpf',
    'process.memfd_create',
    'network.connect',
  ]) {
    assert.ok(kinds.has(k as never), `default policy covers ${k}`);
  }
  // Exclusions are full paths only: a base name would let any renamed binary through.
  for (const r of rules) {
    for (const b of r.match.binaries?.notIn ?? []) assert.ok(b.startsWith('/'), `${r.name}: ${b}`);
  }
});

test('every example policy loads', () => {
  const dir = join(root, 'examples', 'policies');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  for (const want of [
    'sensitive-file-writes.yaml',
    'credential-reads.yaml',
    'outbound-connections-curl.yaml',
    'userns-creation.yaml',
    'module-loads.yaml',
  ]) {
    assert.ok(files.includes(want), `examples/policies/${want} exists`);
  }
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    assert.ok(
      text.startsWith('# SPDX-License-Identifier: Apache-2.0\n#'),
      `${f} has the SPDX line and a comment header`,
    );
    const policies = loadPolicyPath(join(dir, f));
    assert.ok(policies.length > 0, f);
    assert.equal(policies[0].source.file, join(dir, f));
  }
  // The directory loads as one set, in name order.
  const all = loadPolicyPath(dir);
  assert.deepEqual(
    all.map((p) => p.source.file),
    files.sort().map((f) => join(dir, f)),
  );
  const curl = all.find((p) => p.metadata.name === 'outbound-connections-curl');
  assert.deepEqual(curl?.spec.rules[0].match.binaries, { in: ['curl', 'wget'] });
});

for (const doc of ['docs/policies.md', 'README.md', 'docs/learn.md']) {
  test(`every yaml block in ${doc} loads`, () => {
    const md = readFileSync(join(root, ...doc.split('/')), 'utf8');
    const blocks = [...md.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    assert.ok(blocks.length >= 1, `${doc} has yaml examples (found ${blocks.length})`);
    blocks.forEach((text, i) => {
      const policies = loadPolicyText(text, `${doc} block ${i + 1}`);
      assert.ok(policies.length > 0);
    });
  });
}

test('defaults: mode enforce, rule names rule-<index>, action audit, fallback reject only for enforcing actions', () => {
  const text = `${policy('d', 'kinds: [file.open]')}    - kinds: [process.exec]\n      action: deny\n    - kinds: [process.exec]\n      action: kill\n      fallback: audit\n`;
  const [p] = loadPolicyText(text, 'd.yaml');
  assert.equal(p.spec.mode, 'enforce');
  assert.deepEqual(
    p.spec.rules.map((r) => [r.name, r.action, r.fallback]),
    [
      ['rule-0', 'audit', undefined],
      ['rule-1', 'deny', 'reject'],
      ['rule-2', 'kill', 'audit'],
    ],
  );
  assert.deepEqual(p.spec.rules[0].match, {});
  assert.deepEqual(p.source, { file: 'd.yaml' });
});

test('defaultMode (run --default-mode) applies only where spec.mode is not set', () => {
  const unset = policy('u', 'kinds: [process.exec]');
  assert.equal(loadPolicyText(unset, 'u.yaml', { defaultMode: 'monitor' })[0].spec.mode, 'monitor');
  const set = unset.replace('spec:\n', 'spec:\n  mode: enforce\n');
  assert.notEqual(set, unset);
  assert.equal(loadPolicyText(set, 's.yaml', { defaultMode: 'monitor' })[0].spec.mode, 'enforce');
});

test('values are normalised: capabilities to CAP_X, signals to SIGX, bare addresses to /32 and /128', () => {
  const [p] = loadPolicyText(
    policy(
      'n',
      `kinds: [network.connect]
match:
  capabilities: [sys_admin, CAP_NET_RAW, Net_Admin]
  addresses:
    in: [192.0.2.1, "2001:DB8::/32", 10.0.0.0/8]
action: signal
signal: stop`,
    ),
    'n.yaml',
  );
  const r = p.spec.rules[0];
  assert.deepEqual(r.match.capabilities, ['CAP_SYS_ADMIN', 'CAP_NET_RAW', 'CAP_NET_ADMIN']);
  assert.deepEqual(r.match.addresses?.in, ['192.0.2.1/32', '2001:db8::/32', '10.0.0.0/8']);
  assert.equal(r.signal, 'SIGSTOP');
  assert.equal(r.fallback, 'reject');
});

test('a YAML syntax error is reported at its line', () => {
  const e = rejection(
    'apiVersion: peregrine.dev/v1alpha1\nkind: Policy\nmetadata: {name: x\nspec:\n  rules: []\n',
  );
  assert.equal(e.code, 'yaml');
  assert.equal(e.field, '');
  assert.ok(e.line >= 3 && e.line <= 5, e.message);
  assert.match(e.message, /^p\.yaml:\d+: /);
});

test('unknown fields are errors naming the field, at every level', () => {
  const ok = policy('u', 'kinds: [file.open]');
  expectError(ok.replace('kind: Policy', 'kind: Policy\nstatus: {}'), {
    line: 3,
    field: 'status',
    reason: /^unknown field; allowed: apiVersion, kind, metadata, spec$/,
    code: 'unknown_field',
  });
  expectError(ok.replace('  rules:', '  rulez: []\n  rules:'), {
    line: 6,
    field: 'spec.rulez',
    reason: /unknown field \(did you mean "rules"\?\)/,
  });
  expectError(policy('u', 'kinds: [file.open]\nactoin: deny'), {
    line: 8,
    field: 'spec.rules[0].actoin',
    reason: /did you mean "action"/,
  });
  expectError(policy('u', 'kinds: [file.open]\nmatch:\n  paths:\n    prefix: [/etc/]\n  acess: [read]'), {
    line: 11,
    field: 'spec.rules[0].match.acess',
    reason: /unknown field \(did you mean "access"\?\); allowed: paths, access,/,
  });
  expectError(policy('u', 'kinds: [file.open]\nmatch:\n  paths:\n    prefixes: [/etc/]'), {
    line: 10,
    field: 'spec.rules[0].match.paths.prefixes',
    reason: /did you mean "prefix"/,
  });
});

test('wrong types, unknown kinds and missing fields', () => {
  expectError(policy('t', 'kinds: [network.connect]\nmatch:\n  ports:\n    in: [443, "80"]'), {
    line: 10,
    field: 'spec.rules[0].match.ports.in[1]',
    reason: /^must be an integer, got "80"$/,
    code: 'schema',
  });
  expectError(
    policy('t', 'kinds: [network.connect]\nmatch:\n  ports:\n    in:\n      - 443\n      - 70000'),
    {
      line: 12,
      field: 'spec.rules[0].match.ports.in[1]',
      reason: /between 1 and 65535, got 70000/,
    },
  );
  expectError(policy('t', 'kinds: [file.open, file.opne]'), {
    line: 7,
    field: 'spec.rules[0].kinds[1]',
    reason: /^unknown event kind "file.opne" \(did you mean "file.open"\?\)$/,
  });
  expectError(policy('t', 'match: {}'), {
    line: 7,
    field: 'spec.rules[0].kinds',
    reason: /required field missing/,
  });
  expectError(policy('t', 'kinds: [file.open]').replace('v1alpha1', 'v1'), {
    line: 1,
    field: 'apiVersion',
    reason: /must be "peregrine.dev\/v1alpha1", got "peregrine.dev\/v1"/,
  });
  expectError(policy('Not_A_Label', 'kinds: [file.open]'), {
    line: 4,
    field: 'metadata.name',
    reason: /DNS-1123 label/,
  });
  expectError(policy('x'.repeat(64), 'kinds: [file.open]'), {
    line: 4,
    field: 'metadata.name',
    reason: /63/,
  });
  expectError(
    policy('t', 'kinds: [file.open]').replace('  rules:\n    - kinds: [file.open]', '  rules: []'),
    {
      line: 6,
      field: 'spec.rules',
      reason: /must not be empty/,
    },
  );
});

test('paths: absolute, at most 4096 bytes, suffixes without "/", globs well formed', () => {
  const rule = (paths: string) => policy('p', `kinds: [file.open]\nmatch:\n  paths:\n    ${paths}`);
  expectError(rule('prefix: [/etc/, etc/ssh/]'), {
    line: 10,
    field: 'spec.rules[0].match.paths.prefix[1]',
    reason: /must be an absolute path/,
    code: 'value',
  });
  expectError(rule(`exact: [/${'a'.repeat(4999)}]`), {
    line: 10,
    field: 'spec.rules[0].match.paths.exact[0]',
    reason: /^5000 bytes long; paths are at most 4096 bytes$/,
    code: 'limit',
  });
  expectError(rule('suffix: [.ssh/id_rsa]'), {
    line: 10,
    field: 'spec.rules[0].match.paths.suffix[0]',
    reason: /must not contain "\/"/,
  });
  expectError(rule('glob: ["/etc/[ab"]'), {
    line: 10,
    field: 'spec.rules[0].match.paths.glob[0]',
    reason: /unclosed "\["/,
  });
  // Long prefixes load: the kernel matches the first 248 bytes, user space the rest.
  assert.equal(loadPolicyText(rule(`prefix: [/${'b'.repeat(1000)}/]`), 'p.yaml').length, 1);
});

test('addresses must be valid CIDRs, v4 and v6', () => {
  const rule = (a: string) => policy('a', `kinds: [network.connect]\nmatch:\n  addresses:\n    in: [${a}]`);
  expectError(rule('10.0.0.0/33'), {
    line: 10,
    field: 'spec.rules[0].match.addresses.in[0]',
    reason: /prefix length 33 is out of range 0-32 for IPv4/,
  });
  expectError(rule('"::1/129"'), { line: 10, field: 'spec.rules[0].match.addresses.in[0]', reason: /0-128/ });
  expectError(rule('10.0.0.256/8'), {
    line: 10,
    field: 'spec.rules[0].match.addresses.in[0]',
    reason: /not an IPv4/,
  });
  expectError(rule('10.1.0.0/8'), {
    line: 10,
    field: 'spec.rules[0].match.addresses.in[0]',
    reason: /did you mean 10.0.0.0\/8\?/,
  });
  assert.deepEqual(parseCidr('fe80::1:0:0:0/64'), {
    reason: '"fe80::1:0:0:0/64": address has bits set after the /64 prefix; did you mean fe80::/64?',
  });
  assert.deepEqual(parseCidr('::ffff:10.0.0.0/104'), { cidr: '::ffff:10.0.0.0/104' });
  assert.deepEqual(parseCidr('0.0.0.0/0'), { cidr: '0.0.0.0/0' });
});

test('selectors must apply to the rule kinds', () => {
  expectError(policy('c', 'kinds: [file.open, file.unlink]\nmatch:\n  access: [write]'), {
    line: 9,
    field: 'spec.rules[0].match.access',
    reason: /^applies only to file.open, not file.unlink$/,
    code: 'coherence',
  });
  expectError(policy('c', 'kinds: [file.open]\nmatch:\n  ports:\n    in: [22]'), {
    line: 9,
    field: 'spec.rules[0].match.ports',
    reason: /applies only to network.\* kinds, not file.open/,
  });
  expectError(policy('c', 'kinds: [network.connect, process.exec]\nmatch:\n  paths:\n    prefix: [/tmp/]'), {
    line: 9,
    field: 'spec.rules[0].match.paths',
    // process.exec takes paths (the exec'd binary, for kill rules): only network.connect is off.
    reason: /not network.connect$/,
  });
  expectError(policy('c', 'kinds: [network.bind]\nmatch:\n  addresses:\n    in: [10.0.0.0/8]'), {
    line: 9,
    field: 'spec.rules[0].match.addresses',
    reason: /not network.bind/,
  });
});

test('uids, capabilities, actions, signals and fallbacks', () => {
  expectError(policy('v', 'kinds: [process.exec]\nmatch:\n  uids:\n    in: [-1]'), {
    line: 10,
    field: 'spec.rules[0].match.uids.in[0]',
    reason: /between 0 and 4294967295/,
  });
  expectError(policy('v', 'kinds: [process.exec]\nmatch:\n  capabilities: [sys_admn]'), {
    line: 9,
    field: 'spec.rules[0].match.capabilities[0]',
    reason: /^unknown capability "sys_admn" \(did you mean "CAP_SYS_ADMIN"\?\)$/,
  });
  expectError(policy('v', 'kinds: [process.exec]\naction: signal'), {
    line: 7,
    field: 'spec.rules[0].signal',
    reason: /required with action signal/,
  });
  expectError(policy('v', 'kinds: [process.exec]\naction: signal\nsignal: SIGFOO'), {
    line: 9,
    field: 'spec.rules[0].signal',
    reason: /unknown signal "SIGFOO"/,
  });
  expectError(policy('v', 'kinds: [process.exec]\nsignal: SIGSTOP'), {
    line: 8,
    field: 'spec.rules[0].signal',
    reason: /only valid with action signal/,
  });
  expectError(policy('v', 'kinds: [process.exec]\nfallback: kill'), {
    line: 8,
    field: 'spec.rules[0].fallback',
    reason: /only valid with action deny, kill or signal/,
  });
  expectError(policy('v', 'kinds: [process.exit]\naction: kill'), {
    line: 8,
    field: 'spec.rules[0].action',
    reason: /cannot act on process.exit/,
  });
  expectError(policy('v', 'kinds: [network.connect]\nmatch:\n  binaries:\n    in: [bin/curl]'), {
    line: 10,
    field: 'spec.rules[0].match.binaries.in[0]',
    reason: /full path .* or a base name/,
  });
});

test('duplicate names: rules in a policy, policies in a file and across a directory', () => {
  const two = `${policy('r', 'name: a\nkinds: [file.open]')}    - name: a\n      kinds: [file.unlink]\n`;
  expectError(two, {
    line: 9,
    field: 'spec.rules[1].name',
    reason: /duplicate rule name "a"/,
    code: 'duplicate',
  });
  const twoDocs = `${policy('same', 'kinds: [file.open]')}---\n${policy('same', 'kinds: [file.unlink]')}`;
  expectError(twoDocs, {
    line: 12,
    field: 'metadata.name',
    reason: /duplicate policy name "same" \(also at line 4\)/,
  });

  const dir = mkdtempSync(join(tmpdir(), 'pg-policy-'));
  try {
    writeFileSync(join(dir, 'a.yaml'), policy('same', 'kinds: [file.open]'));
    writeFileSync(join(dir, 'b.yml'), policy('same', 'kinds: [file.open]'));
    writeFileSync(join(dir, 'c.yaml'), policy('other', 'kinds: [file.open]'));
    writeFileSync(join(dir, 'notes.txt'), 'not a policy');
    writeFileSync(join(dir, '.hidden.yaml'), 'not: a policy');
    const r = validatePolicyPath(dir);
    assert.equal(r.ok, false);
    assert.equal(r.errors.length, 1);
    assert.equal(
      r.errors[0].message,
      `${join(dir, 'b.yml')}:4: metadata.name: duplicate policy name "same" (also at ${join(dir, 'a.yaml')}:4)`,
    );
    assert.deepEqual(
      r.policies.map((p) => p.source.file),
      [join(dir, 'a.yaml'), join(dir, 'c.yaml')],
    );
    assert.throws(() => loadPolicyPath(dir), /b\.yml:4: metadata\.name: duplicate/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a multi-document file whose second document is bad is rejected whole', () => {
  const text = `${policy('first', 'kinds: [file.open]')}---\n${policy('second', 'kinds: [file.open]\nmatch:\n  paths:\n    prefix: [relative/]')}`;
  const e = rejection(text);
  assert.equal(e.line, 18);
  assert.equal(e.field, 'spec.rules[0].match.paths.prefix[0]');
  const r = validatePolicyText(text, 'p.yaml');
  assert.equal(r.ok, false);
  assert.deepEqual(r.policies, []);
  // Without the bad document both load; empty documents are skipped.
  assert.equal(
    loadPolicyText(`---\n${policy('first', 'kinds: [file.open]')}---\n# nothing\n`, 'p.yaml').length,
    1,
  );
});

test('validate collects every error, ordered by line; load throws the first', () => {
  const text = policy('v', 'kinds: [file.open]\nextra: 1\nmatch:\n  paths:\n    prefix: [a, b]').replace(
    'kind: Policy',
    'kind: Polisy',
  );
  const r = validatePolicyText(text, 'p.yaml');
  assert.deepEqual(
    r.errors.map((e) => `${e.line} ${e.field}`),
    [
      '2 kind',
      '8 spec.rules[0].extra',
      '11 spec.rules[0].match.paths.prefix[0]',
      '11 spec.rules[0].match.paths.prefix[1]',
    ],
  );
  assert.equal(rejection(text).field, 'kind');
});

test('10,000 values load whole, and compile into one kernel entry each', () => {
  // Speed is a benchmark's business (shared CI machines vary); here: nothing is cut or capped.
  const names = Array.from({ length: 10_000 }, (_, i) => `        - /opt/app${i}/bin/tool`).join('\n');
  const text = policy('big', `kinds: [network.connect]\nmatch:\n  binaries:\n    notIn:\n${names}`);
  const [p] = loadPolicyText(text, 'big.yaml');
  assert.equal(p.spec.rules[0].match.binaries?.notIn?.length, 10_000);
  assert.equal(p.spec.rules[0].match.binaries?.notIn?.[9_999], '/opt/app9999/bin/tool');
  const img = compileFilter([p]);
  assert.equal(img.values.filter((v) => v.deny[0] === 1).length, 10_000);
});

test('the per-file value cap is a clear error at the value that crosses it', () => {
  const text = policy(
    'cap',
    'kinds: [network.connect]\nmatch:\n  ports:\n    in: [1, 2, 3]\n    notIn: [4, 5]',
  );
  assert.equal(loadPolicyText(text, 'p.yaml', { maxValuesPerFile: 5 }).length, 1);
  let err: unknown;
  try {
    loadPolicyText(text, 'p.yaml', { maxValuesPerFile: 4 });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PolicyError);
  assert.equal(err.code, 'limit');
  assert.equal(err.field, 'spec.rules[0].match.ports.notIn[1]');
  assert.match(err.reason, /more than 4 values in this file's match lists/);
});

test('files: a missing path and an empty directory are io errors; an empty file is an error', () => {
  const r = validatePolicyPath('/nonexistent/policy.yaml');
  assert.equal(r.ok, false);
  assert.equal(r.errors[0].code, 'io');
  assert.match(r.errors[0].message, /^\/nonexistent\/policy\.yaml: read: enoent/);
  const dir = mkdtempSync(join(tmpdir(), 'pg-policy-'));
  try {
    assert.throws(() => loadPolicyPath(dir), /holds no \*\.yaml or \*\.yml files/);
    writeFileSync(join(dir, 'empty.yaml'), '# nothing yet\n');
    assert.throws(() => loadPolicyPath(dir), /empty\.yaml: file holds no Policy documents/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
