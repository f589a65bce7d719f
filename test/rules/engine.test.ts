// SPDX-License-Identifier: Apache-2.0
// Language units: parser, every operator, field families, macros/lists, append/override, exceptions, errors with file:line.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PeregrineEvent } from '../../src/events/types.js';
import { loadRules, RuleError, renderOutput, staticUserDb } from '../../src/rules/index.js';
import { parseCondition } from '../../src/rules/parser.js';
import { ev, execEv, load, proc, users } from './helpers.js';

/** Does `cond` match `e`? (one rule, compiled for real) */
function matches(cond: string, e: PeregrineEvent, extra = ''): boolean {
  const set = load(`${extra}
- rule: t
  desc: t
  condition: ${JSON.stringify(cond)}
  output: o
  priority: INFO
`);
  return set.evaluate(e).length === 1;
}

function ruleError(text: string, files?: Array<{ path: string; text: string }>): RuleError {
  try {
    loadRules(files ?? [{ path: 'bad.yaml', text }], { users });
  } catch (err) {
    if (err instanceof RuleError) return err;
    throw err;
  }
  assert.fail('expected a RuleError');
}

const shadowRead = ev('file.open', {
  process: proc('/usr/bin/python3', ['python3', '-c', 'print(1)'], { cwd: '/srv' }),
  file: { path: '/etc/shadow', path_source: 'kernel', access: ['read'], flags: 0o2000000 },
  return_code: 3,
});
const connect = ev('network.connect', {
  network: {
    family: 'inet',
    protocol: 'tcp',
    local_address: '10.1.2.3',
    local_port: 51000,
    remote_address: '93.184.216.34',
    remote_port: 443,
  },
  return_code: 0,
});

test('parser: precedence is not > and > or, parentheses group', () => {
  const n = parseCondition('a or b and not c');
  assert.equal(n.t, 'or');
  assert.equal((n as { items: Array<{ t: string }> }).items[1].t, 'and');
  assert.equal(parseCondition('(a or b) and c').t, 'and');
  assert.equal(parseCondition('not(a)').t, 'not');
});

test("parser: Falco's bare words and quoted strings", () => {
  const n = parseCondition(
    'proc.name in (runc:[0:PARENT], \'a b\', "c\\"d") and fd.name glob /home/*/.ssh/* and evt.res startswith E and fd.num>=0',
  );
  assert.equal(n.t, 'and');
  const items = (n as { items: Array<Record<string, unknown>> }).items;
  assert.deepEqual(
    (items[0].list as Array<{ v: string }>).map((x) => x.v),
    ['runc:[0:PARENT]', 'a b', 'c"d'],
  );
  assert.equal((items[1].value as { v: string }).v, '/home/*/.ssh/*');
  assert.equal(items[3].op, '>=');
  assert.equal(parseCondition('proc.aname[2]=sshd').t, 'check');
  assert.equal(parseCondition('k8s.pod.label[app.kubernetes.io/name] = web').t, 'check');
});

test('operators: = != < <= > >= on strings and numbers', () => {
  assert.ok(matches('proc.name = python3', shadowRead));
  assert.ok(matches('proc.name == python3', shadowRead));
  assert.ok(matches('proc.name != bash', shadowRead));
  assert.ok(!matches('proc.name != python3', shadowRead));
  assert.ok(
    matches(
      'evt.rawres = 3 and evt.rawres >= 3 and evt.rawres <= 3 and evt.rawres > 2 and evt.rawres < 4',
      shadowRead,
    ),
  );
  assert.ok(!matches('evt.rawres > 3', shadowRead));
});

test('operators: contains icontains bcontains startswith bstartswith endswith', () => {
  assert.ok(matches('proc.cmdline contains "print(1)"', shadowRead));
  assert.ok(matches('proc.cmdline icontains PRINT', shadowRead));
  assert.ok(matches('proc.name bcontains 7079', shadowRead)); // "py"
  assert.ok(matches('proc.name bstartswith 7079', shadowRead));
  assert.ok(matches('fd.name startswith /etc/ and fd.name endswith shadow', shadowRead));
  assert.ok(!matches('fd.name startswith /var/', shadowRead));
});

test('operators: glob iglob pmatch regex in intersects exists', () => {
  assert.ok(matches('fd.name glob "/etc/sha*"', shadowRead));
  assert.ok(matches('fd.name glob "/etc/shado?"', shadowRead));
  assert.ok(matches('fd.name glob "/etc/[rs]hadow"', shadowRead));
  assert.ok(matches('fd.name iglob "/ETC/SHA*"', shadowRead));
  assert.ok(matches('fd.name pmatch (/usr, /etc)', shadowRead));
  assert.ok(!matches('fd.name pmatch (/et)', shadowRead));
  assert.ok(matches("fd.name regex '/etc/s[a-z]+'", shadowRead));
  assert.ok(
    !matches("fd.name regex 'shadow'", shadowRead),
    'regex matches the whole value, like RE2 ANCHOR_BOTH',
  );
  assert.ok(matches('proc.name in (bash, python3)', shadowRead));
  assert.ok(matches('proc.aname intersects (bash)', shadowRead));
  assert.ok(matches('proc.pname exists', shadowRead));
  assert.ok(!matches('fd.sip exists', shadowRead));
  assert.ok(!matches('proc.name in ()', shadowRead));
});

test('a field with no value makes every comparison false, even !=', () => {
  assert.ok(!matches('fd.sip != 1.2.3.4', shadowRead));
  assert.ok(matches('not fd.sip = 1.2.3.4', shadowRead));
});

test('evt.type: each kind answers to all its syscall names; evt.dir is always <', () => {
  assert.ok(matches('evt.type in (open, openat)', shadowRead));
  assert.ok(matches('evt.type = openat2', shadowRead));
  assert.ok(!matches('evt.type != open', shadowRead));
  assert.ok(matches('evt.type = connect', connect));
  assert.ok(matches('evt.dir = <', shadowRead));
  assert.ok(!matches('evt.dir = >', shadowRead));
  const set = load(
    '- rule: t\n  desc: t\n  condition: evt.type in (open, execve)\n  output: "%evt.type"\n  priority: INFO\n',
  );
  assert.deepEqual(set.requiredKinds(), ['process.exec', 'file.open']);
  assert.equal(set.evaluate(shadowRead)[0].output, 'openat');
  assert.equal(set.evaluate(connect).length, 0);
  assert.equal(set.stats().eventsIgnored, 1);
});

test('rules without evt.type apply to every kind; not of kind checks is exact', () => {
  const set = load(
    '- rule: t\n  desc: t\n  condition: proc.name = x and not evt.type in (connect)\n  output: o\n  priority: INFO\n',
  );
  assert.equal(set.requiredKinds().length, 27);
});

test('process fields: name, exe, exepath, cmdline, args, lineage, tty, duration, user, group', () => {
  const e = execEv(['/usr/local/bin/dpkg-preconfigure-long', '-f', 'x'], {
    proc: {
      tty: 'pts3',
      uid: 0,
      euid: 0,
      egid: 0,
      auid: 1000,
      start_time: '2025-01-01T00:00:09.500000000Z',
      cap: { effective: '0000000000200000', permitted: '0000000000200000' },
    },
    parent: proc('/usr/bin/bash', ['-bash'], { pid: 77 }),
    ancestors: [proc('/usr/sbin/sshd', ['sshd'], { pid: 5 })],
  });
  const set = load(`- rule: t
  desc: t
  condition: evt.type = execve
  output: "%proc.name|%proc.exe|%proc.exepath|%proc.cmdline|%proc.args|%proc.pname|%proc.aname[2]|%proc.apid[1]|%proc.tty|%proc.duration|%user.name|%user.uid|%user.loginname|%group.name|%thread.cap_effective|%container.id|%proc.sname"
  priority: INFO
`);
  assert.equal(
    set.evaluate(e)[0].output,
    'dpkg-preconfigu|/usr/local/bin/dpkg-preconfigure-long|/usr/local/bin/dpkg-preconfigure-long|dpkg-preconfigu -f x|-f x|bash|sshd|77|34819|500000000|root|0|alice|root|CAP_SYS_ADMIN|host|<NA>',
  );
  assert.ok(
    matches(
      'proc.aname = sshd and proc.aname[0] = dpkg-preconfigu and proc.tty != 0 and proc.duration < 1000000000',
      e,
    ),
  );
});

test('fd and network fields: sip/cip/lip/rip, ports, typechar, l4proto, fd.net CIDRs', () => {
  assert.ok(matches('fd.typechar = 4 and fd.type = ipv4 and fd.l4proto = tcp', connect));
  assert.ok(
    matches(
      'fd.sip = 93.184.216.34 and fd.sport = 443 and fd.cip = 10.1.2.3 and fd.lport = 51000 and fd.rport = 443',
      connect,
    ),
  );
  assert.ok(
    matches('fd.net = "93.184.0.0/16" and fd.snet in ("93.0.0.0/8") and fd.cnet = "10.0.0.0/8"', connect),
  );
  assert.ok(matches('not fd.snet in ("10.0.0.0/8", "192.168.0.0/16")', connect));
  assert.ok(matches('fd.ip = 10.1.2.3 and fd.port = 443', connect));
  const v6 = ev('network.connect', {
    network: {
      family: 'inet6',
      protocol: 'tcp',
      local_address: '::1',
      local_port: 1,
      remote_address: '2001:db8:0:0::1',
      remote_port: 80,
    },
  });
  assert.ok(matches('fd.typechar = 6 and fd.sip = "2001:db8::1" and fd.snet = "2001:db8::/32"', v6));
  assert.ok(
    matches('fd.typechar = f and fd.directory = /etc and fd.filename = shadow and fd.num = 3', shadowRead),
  );
  assert.ok(matches('evt.is_open_read = true and evt.is_open_write = false', shadowRead));
  const accept = ev('network.accept', {
    network: {
      family: 'inet',
      protocol: 'tcp',
      local_address: '10.0.0.1',
      local_port: 22,
      remote_address: '198.51.100.2',
      remote_port: 5555,
    },
    return_code: 4,
  });
  assert.ok(matches('fd.sport = 22 and fd.cip = 198.51.100.2 and fd.num = 4', accept));
});

test('evt.arg / evt.rawarg / evt.arg[N] / evt.res per kind', () => {
  assert.ok(
    matches(
      'evt.arg.flags contains O_CLOEXEC and evt.arg.flags contains O_RDONLY and evt.arg.name = /etc/shadow',
      shadowRead,
    ),
  );
  assert.ok(matches('evt.arg[2] = /etc/shadow and evt.res = SUCCESS', shadowRead));
  const chmod = ev('file.chmod', {
    file: { path: '/tmp/x', path_source: 'kernel', mode: 0o4755 },
    return_code: -1,
  });
  assert.ok(
    matches(
      'evt.arg.mode contains S_ISUID and evt.rawarg.mode = 2541 and evt.res = EPERM and evt.failed = true',
      chmod,
    ),
  );
  const pt = ev('process.ptrace', {
    ptrace: { request: 'ATTACH', target_pid: 9, target_exec_id: 'x', target_binary: '/b' },
  });
  assert.ok(matches('evt.arg.request = PTRACE_ATTACH and evt.arg.pid = 9', pt));
  const un = ev('namespace.unshare', { privilege: { namespaces: ['CLONE_NEWUSER', 'CLONE_NEWNS'] } });
  assert.ok(matches('evt.arg.flags contains CLONE_NEWUSER', un));
  const ln = ev('file.link', { file: { path: '/etc/shadow', path_source: 'user', new_path: '/tmp/s' } });
  assert.ok(
    matches('evt.arg.oldpath = /etc/shadow and evt.arg.newpath = /tmp/s and fs.path.target = /tmp/s', ln),
  );
});

test('container and k8s fields', () => {
  const e = ev('process.exec', {
    container: {
      id: 'a'.repeat(64),
      name: 'web',
      image: 'registry.example:5000/team/app:1.2@sha256:abc',
      image_id: 'sha256:def',
      runtime: 'containerd',
      labels: { tier: 'fe' },
    },
    pod: { namespace: 'prod', name: 'app-1', uid: 'u1', labels: { app: 'web' } },
  });
  assert.ok(
    matches(
      `container.id = ${'a'.repeat(12)} and container.name = web and container.image.repository = registry.example:5000/team/app`,
      e,
    ),
  );
  assert.ok(
    matches(
      'container.image.tag = "1.2" and container.label[tier] = fe and k8s.ns.name = prod and k8s.pod.name = app-1',
      e,
    ),
  );
  assert.ok(
    matches('k8s.pod.label[app] = web and k8s.pod.label.app = web and k8s.pod.labels in ("app:web")', e),
  );
  assert.ok(matches('container.id = host', ev('process.exec')));
});

test('macros expand, lists expand (also nested and quoted items), later definitions override', () => {
  const extra = `
- list: inner
  items: ['"(systemd)"', python3]
- list: outer
  items: [inner, bash]
- macro: m
  condition: proc.name in (outer)
- macro: m2
  condition: m and fd.name = /etc/shadow
`;
  assert.ok(matches('m2', shadowRead, extra));
  assert.ok(matches('proc.name in (outer) and not proc.name in ("(systemd)")', shadowRead, extra));
});

test('append (legacy) and override append/replace for lists, macros and rules; multiple files in order', () => {
  const base = `
- list: l
  items: [bash]
- macro: m
  condition: proc.name in (l)
- rule: r
  desc: d
  condition: m
  output: "base"
  priority: WARNING
  tags: [a]
`;
  const more = `
- list: l
  append: true
  items: [python3]
- rule: r
  override: {output: replace, priority: replace, tags: append}
  output: "new %proc.name"
  priority: error
  tags: [b]
`;
  const set = loadRules(
    [
      { path: 'a.yaml', text: base },
      { path: 'b.yaml', text: more },
    ],
    { users },
  );
  const [a] = set.evaluate(shadowRead);
  assert.equal(a.output, 'new python3');
  assert.equal(a.priority, 'ERROR');
  assert.deepEqual(a.tags, ['a', 'b']);
  const narrowed = loadRules(
    [
      { path: 'a.yaml', text: base + more },
      { path: 'c.yaml', text: '- rule: r\n  append: true\n  condition: and fd.name = /nope\n' },
    ],
    { users },
  );
  assert.equal(narrowed.evaluate(shadowRead).length, 0);
  const replaced = loadRules(
    [
      {
        path: 'a.yaml',
        text: base + more + '- macro: m\n  override: {condition: replace}\n  condition: proc.name = nobody\n',
      },
    ],
    { users },
  );
  assert.equal(replaced.evaluate(shadowRead).length, 0);
  const disabled = loadRules([{ path: 'a.yaml', text: base + '- rule: r\n  enabled: false\n' }], { users });
  assert.equal(disabled.evaluate(ev('file.open', { process: proc('/bin/bash', ['bash']) })).length, 0);
  assert.equal(disabled.stats().rulesDisabled, 1);
});

test('exceptions: single field with in, tuples of fields, comps, values naming lists; appended exceptions', () => {
  const text = `
- list: trusted
  items: [python3]
- rule: r
  desc: d
  condition: evt.type = openat
  output: o
  priority: WARNING
  exceptions:
    - name: by_name
      fields: proc.name
      values: [nope]
    - name: by_pair
      fields: [proc.name, fd.directory]
      comps: [=, startswith]
      values:
        - [bash, /etc]
`;
  assert.equal(load(text).evaluate(shadowRead).length, 1);
  const withList = `${text}
- rule: r
  override: {exceptions: append}
  exceptions:
    - name: by_name
      values: [trusted]
`;
  assert.equal(load(withList).evaluate(shadowRead).length, 0, 'list name in exception values expands');
  const pair = `${text}
- rule: r
  override: {exceptions: append}
  exceptions:
    - name: by_pair
      values:
        - [python3, /et]
`;
  assert.equal(load(pair).evaluate(shadowRead).length, 0);
});

test('errors: file, line, rule and offending token', () => {
  let e = ruleError(
    '- rule: r\n  desc: d\n  condition: >\n    evt.type = openat\n    and proc.nmae = x\n  output: o\n  priority: INFO\n',
  );
  assert.equal(e.file, 'bad.yaml');
  assert.equal(e.line, 5);
  assert.equal(e.rule, 'r');
  assert.equal(e.token, 'proc.nmae');
  assert.equal(e.code, 'unknown_field');
  assert.match(e.message, /^bad\.yaml:5: 'r': unknown field 'proc.nmae'/);

  e = ruleError(
    '- rule: r\n  desc: d\n  condition: proc.name = x and (fd.name = y\n  output: o\n  priority: INFO\n',
  );
  assert.equal(e.code, 'syntax');
  assert.equal(e.line, 3);

  e = ruleError(
    '- macro: m\n  condition: proc.name in (a,\n- rule: r\n  desc: d\n  condition: m\n  output: o\n  priority: INFO\n',
  );
  assert.equal(e.rule, 'm');

  e = ruleError(
    '- rule: r\n  desc: d\n  condition: undefined_macro and proc.name = x\n  output: o\n  priority: INFO\n',
  );
  assert.equal(e.token, 'undefined_macro');
  assert.equal(e.code, 'reference');

  e = ruleError('- rule: r\n  desc: d\n  condition: proc.pid = abc\n  output: o\n  priority: INFO\n');
  assert.equal(e.token, 'abc');
  e = ruleError('- rule: r\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: LOUD\n');
  assert.equal(e.token, 'LOUD');
  assert.equal(e.line, 5);
  e = ruleError(
    '- rule: r\n  desc: d\n  condition: proc.name = x\n  output: "x %proc.nam"\n  priority: INFO\n',
  );
  assert.equal(e.token, 'proc.nam');
  e = ruleError('- rule: r\n  desc: d\n  condition: proc.name = x\n  priority: INFO\n');
  assert.equal(e.token, 'output');
  e = ruleError('- rule: r\n  desc: d\n  condition: proc.name <= x\n  output: o\n  priority: INFO\n');
  assert.equal(e.token, '<=');
  e = ruleError('- rule: r\n  append: true\n  condition: and x\n');
  assert.equal(e.code, 'reference');
  e = ruleError('- macro: a\n  condition: b\n- macro: b\n  condition: a\n');
  assert.match(e.reason, /refers to itself/);
  e = ruleError('- rule: [\n');
  assert.equal(e.code, 'yaml');
  e = ruleError('', [
    { path: 'good.yaml', text: '- list: l\n  items: [a]\n' },
    {
      path: 'second.yaml',
      text: '- rule: r\n  desc: d\n  condition: proc.name in (l) and bogus.field = 1\n  output: o\n  priority: INFO\n',
    },
  ]);
  assert.equal(e.file, 'second.yaml');
});

test('sources other than syscall are skipped and counted; skip-if-unknown-filter skips', () => {
  const set = load(`
- rule: k
  desc: d
  condition: ka.verb = create
  output: o
  priority: INFO
  source: k8s_audit
- rule: u
  desc: d
  condition: some.future_field = 1
  output: o
  priority: INFO
  skip-if-unknown-filter: true
`);
  const st = set.stats();
  assert.equal(st.rulesSkipped, 2);
  assert.deepEqual(st.skippedBySource, { k8s_audit: 1 });
});

test('unsupported fields: the rule loads, is marked not fully evaluable, and is reported', () => {
  const set = load(
    '- rule: r\n  desc: d\n  condition: evt.type = execve and proc.env contains X\n  output: o\n  priority: INFO\n',
  );
  const [r] = set.rules();
  assert.equal(r.evaluable, false);
  assert.deepEqual(r.unsupportedFields, ['proc.env']);
  assert.ok(set.warnings.some((w) => w.fields?.includes('proc.env')));
});

test('renderOutput: %field, %field[arg], <NA>, %%', () => {
  const out = renderOutput('%proc.name %proc.aname[1] %fd.sip 100%% %evt.arg.flags.', shadowRead, {
    users,
    eventNumber: () => 0,
  });
  assert.equal(out, 'python3 bash <NA> 100% O_RDONLY|O_CLOEXEC.');
});

test('priorities are case-insensitive and INFO = INFORMATIONAL; minPriority filters evaluation', () => {
  const text = '- rule: r\n  desc: d\n  condition: proc.name = python3\n  output: o\n  priority: info\n';
  assert.equal(load(text).evaluate(shadowRead)[0].priority, 'INFORMATIONAL');
  const set = loadRules([{ path: 't', text }], { users, minPriority: 'WARNING' });
  assert.equal(set.evaluate(shadowRead).length, 0);
});

test('stats count evaluations and matches per rule; evaluate returns a shared empty array', () => {
  const set = load(
    '- rule: r\n  desc: d\n  condition: evt.type = openat and proc.name = bash\n  output: o\n  priority: INFO\n',
  );
  const a = set.evaluate(shadowRead);
  const b = set.evaluate(shadowRead);
  assert.equal(a, b);
  assert.equal(a.length, 0);
  set.evaluate(ev('file.open', { process: proc('/bin/bash', ['bash']) }));
  const st = set.stats();
  assert.deepEqual(st.perRule, [{ name: 'r', evaluations: 3, matches: 1, errors: 0 }]);
  assert.equal(st.events, 3);
});

test('a malformed event is counted as an error, not thrown', () => {
  const set = load('- rule: r\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n');
  const bad = {
    kind: 'file.open',
    time: 'x',
    node: 'n',
    process: { args: null },
  } as unknown as PeregrineEvent;
  assert.doesNotThrow(() => set.evaluate(bad));
});

test('user names come from the user database', () => {
  const set = loadRules(
    [
      {
        path: 't',
        text: '- rule: r\n  desc: d\n  condition: user.name = svc\n  output: o\n  priority: INFO\n',
      },
    ],
    {
      users: staticUserDb({ 1000: 'svc' }),
    },
  );
  assert.equal(set.evaluate(shadowRead).length, 1);
});
