// SPDX-License-Identifier: Apache-2.0
// Test helpers: synthetic PeregrineEvents, the repo root, and a one-call rule loader.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EventKind, PeregrineEvent, ProcessInfo } from '../../src/events/types.js';
import { loadRules, type RuleSet, staticUserDb } from '../../src/rules/index.js';

/** The repository root: the nearest directory above this file holding package.json. */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'src'))) return d;
    const up = dirname(d);
    if (up === d) throw new Error('repository root not found');
    d = up;
  }
}

export const users = staticUserDb(
  { 0: 'root', 33: 'www-data', 1000: 'alice', 1: 'daemon' },
  { 0: 'root', 1000: 'alice' },
);

let pidSeq = 2000;

/** A process identity; `binary` and `args` say what it runs. */
export function proc(
  binary: string,
  args: string[] = [binary.split('/').pop() ?? binary],
  over: Partial<ProcessInfo> = {},
): ProcessInfo {
  const pid = over.pid ?? pidSeq++;
  return {
    exec_id: `exec-${pid}`,
    pid,
    tid: pid,
    ppid: 1,
    uid: 1000,
    gid: 1000,
    euid: 1000,
    egid: 1000,
    auid: 1000,
    binary,
    args,
    cwd: '/home/alice',
    tty: '',
    start_time: '2025-01-01T00:00:00.000000000Z',
    parent_exec_id: '',
    flags: ['exec'],
    cap: { effective: '0000000000000000', permitted: '0000000000000000' },
    ns: { pid: 1, mnt: 1, net: 1, user: 1, uts: 1, ipc: 1, cgroup: 1 },
    cgroup: { id: 1, name: '/user.slice' },
    ...over,
  };
}

/** An event of `kind` by `process` (default: cat run by alice from bash). */
export function ev(kind: EventKind, over: Partial<PeregrineEvent> = {}): PeregrineEvent {
  return {
    time: '2025-01-01T00:00:10.000000000Z',
    node: 'node-1',
    kind,
    process: proc('/usr/bin/cat', ['cat']),
    parent: proc('/usr/bin/bash', ['bash']),
    ...over,
  };
}

/** An exec of `args` (argv[0] resolved under /usr/bin unless absolute) with optional parent. */
export function execEv(
  args: string[],
  over: Partial<PeregrineEvent> & { proc?: Partial<ProcessInfo> } = {},
): PeregrineEvent {
  const bin = args[0].startsWith('/') ? args[0] : `/usr/bin/${args[0]}`;
  const { proc: po, ...rest } = over;
  return ev('process.exec', { process: proc(bin, args, po), ...rest });
}

/** Load one in-memory rules file. */
export function load(text: string, path = 'test.yaml'): RuleSet {
  return loadRules([{ path, text }], { users });
}

/** Names of rules matching the event. */
export function hits(set: RuleSet, e: PeregrineEvent): string[] {
  return set.evaluate(e).map((a) => a.rule);
}

/** The Falco stable ruleset shipped beside the repository, or undefined when absent. */
export function falcoRulesPath(): string | undefined {
  const p = join(repoRoot(), '..', 'shared', 'falco', 'falco_rules.yaml');
  return existsSync(p) ? p : undefined;
}

export function readText(p: string): string {
  return readFileSync(p, 'utf8');
}
