// SPDX-License-Identifier: Apache-2.0
// The virtual-patch pack (patches/pack.yaml): entries naming a CVE, the kernel
// and package versions it affects, the exploit path cut and the policy that
// cuts it. Loaded whole or refused whole, each error with file, line and field.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import { packageRoot } from '../kernel/native.js';
import { loadPolicyPath } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { loadRules } from '../rules/index.js';
import { parseDebianVersion } from './debian-version.js';

/** Kernel versions an entry affects: upstream numbers ("5.10.93"). */
export interface KernelRange {
  /** First mainline release with the bug; absent: every release before the fix. */
  introduced?: string;
  /** First mainline release with the fix; absent: not fixed upstream yet. */
  fixed?: string;
  /** First fixed release of each stable branch (one per major.minor). */
  stable?: string[];
  /** Debian kernel packages (from /proc/version) that backported the fix before their stable release. */
  debian?: string[];
}

/** A package an entry affects, by Debian version (dpkg-query). */
export interface PackageRange {
  /** Package names that ship it (renamed across releases: pkexec, policykit-1). */
  names: string[];
  /** First upstream version with the bug. */
  introduced?: string;
  /** First upstream version with the fix. */
  fixed?: string;
  /** Distribution package versions with the fix backported (same upstream part as the node's package). */
  debian?: string[];
  /** Where the program lives when installed without dpkg (a static runc): found there, version unknown. */
  files?: string[];
}

export interface PatchEntry {
  /** Lowercase CVE id: "cve-2022-0847"; the policy's `peregrine.dev/patch` label. */
  id: string;
  cve: string;
  title: string;
  affects: { kernel?: KernelRange; packages?: PackageRange[] };
  /** The exploit's distinguishing steps and what the policy cuts. */
  path: string;
  /** Legitimate use the policy may break. */
  breaks: string;
  /** What this build lacks to cut the path fully (absent: nothing). */
  missing?: string;
  /** The policy file (relative to the pack), absent where no rule can see the path. */
  policyFile?: string;
  /** Its policies (one per file, validated with the Policy loader). */
  policies: Policy[];
  /** Detection rules of the pack's rules file (rules.yaml beside it) for what no kernel rule sees. */
  detect: string[];
  /** The test reproducing the exploit's steps. */
  test: string;
}

export interface PatchPack {
  name: string;
  /** The pack file as shown in messages (relative to the working directory). */
  file: string;
  /** Absolute directory of the pack: its policy files are relative to it. */
  dir: string;
  /** The pack's detection rules (rules.yaml beside the pack), when it has any. */
  rulesFile?: string;
  entries: PatchEntry[];
}

/** A pack that does not validate: "FILE:LINE: FIELD: REASON". */
export class PatchPackError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${file}${line > 0 ? `:${line}` : ''}: ${field ? `${field}: ` : ''}${reason}`);
  }
}

/** The pack shipped with Peregrine. */
export function defaultPackPath(): string {
  return join(packageRoot(), 'patches', 'pack.yaml');
}

const KERNEL_VERSION = /^[0-9]+(\.[0-9]+){1,2}$/;
const ENTRY_FIELDS = [
  'id',
  'cve',
  'title',
  'affects',
  'path',
  'breaks',
  'missing',
  'policy',
  'detect',
  'test',
];
const KERNEL_FIELDS = ['introduced', 'fixed', 'stable', 'debian'];
const PACKAGE_FIELDS = ['names', 'introduced', 'fixed', 'debian', 'files'];

/** Loads and validates a pack file (a directory means its pack.yaml); throws the first PatchPackError. */
export function loadPatchPack(path: string = defaultPackPath()): PatchPack {
  const file = existsSync(join(path, 'pack.yaml')) ? join(path, 'pack.yaml') : path;
  const shown = relative(process.cwd(), resolve(file)) || file;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PatchPackError(shown, 0, '', `cannot read: ${(err as Error).message}`);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new PatchPackError(shown, e.linePos?.[0].line ?? 0, '', e.message.split('\n')[0]);
  }
  const lineOf = (p: Array<string | number>): number => {
    const n = doc.getIn(p, true) as { range?: [number, number, number] } | undefined;
    const at = n?.range?.[0] ?? (p.length > 0 ? undefined : 0);
    return at === undefined ? lineOf(p.slice(0, -1)) : lc.linePos(at).line;
  };
  const fail = (p: Array<string | number>, reason: string): never => {
    const field = p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
    throw new PatchPackError(shown, lineOf(p), field, reason);
  };
  const raw = doc.toJS() as unknown;
  const obj = (v: unknown, p: Array<string | number>, allowed: string[]): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(p, 'must be a mapping');
    for (const k of Object.keys(v))
      if (!allowed.includes(k)) fail([...p, k], `unknown field; allowed: ${allowed.join(', ')}`);
    return v as Record<string, unknown>;
  };
  const str = (o: Record<string, unknown>, k: string, p: Array<string | number>, required = true) => {
    const v = o[k];
    if (v === undefined) return required ? fail([...p, k], 'required') : undefined;
    if (typeof v !== 'string' || v.trim() === '') return fail([...p, k], 'must be a non-empty string');
    return v.trim();
  };
  const list = (
    o: Record<string, unknown>,
    k: string,
    p: Array<string | number>,
    check: (s: string) => void,
  ) => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0) return fail([...p, k], 'must be a non-empty list');
    return v.map((s, i) => {
      if (typeof s !== 'string') return fail([...p, k, i], 'must be a string');
      try {
        check(s);
      } catch (err) {
        fail([...p, k, i], (err as Error).message);
      }
      return s;
    });
  };
  const kernelVersion = (s: string) => {
    if (!KERNEL_VERSION.test(s)) throw new Error(`${JSON.stringify(s)} is not a kernel version like 5.10.93`);
  };
  const debianVersion = (s: string) => void parseDebianVersion(s);

  const top = obj(raw, [], ['apiVersion', 'kind', 'metadata', 'entries']);
  if (top.apiVersion !== 'peregrine.dev/v1alpha1') fail(['apiVersion'], 'must be peregrine.dev/v1alpha1');
  if (top.kind !== 'PatchPack') fail(['kind'], 'must be PatchPack');
  const meta = obj(top.metadata, ['metadata'], ['name']);
  const name = str(meta, 'name', ['metadata']) as string;
  if (!Array.isArray(top.entries) || top.entries.length === 0) fail(['entries'], 'must be a non-empty list');
  const rulesPath = join(dirname(file), 'rules.yaml');
  let ruleNames = new Set<string>();
  if (existsSync(rulesPath)) {
    try {
      const set = loadRules([{ path: rulesPath, text: readFileSync(rulesPath, 'utf8') }]);
      ruleNames = new Set(set.rules().map((r) => r.name));
    } catch (err) {
      throw new PatchPackError(shown, 0, '', `rules.yaml does not load: ${(err as Error).message}`);
    }
  }
  const entries: PatchEntry[] = [];
  const seen = new Set<string>();
  const policyNames = new Set<string>();
  for (const [i, e] of (top.entries as unknown[]).entries()) {
    const p = ['entries', i];
    const o = obj(e, p, ENTRY_FIELDS);
    const id = str(o, 'id', p) as string;
    if (!/^cve-[0-9]{4}-[0-9]{4,}$/.test(id))
      fail([...p, 'id'], `must be a lowercase CVE id (cve-2022-0847), got ${id}`);
    if (seen.has(id)) fail([...p, 'id'], `duplicate entry ${id}`);
    seen.add(id);
    const cve = str(o, 'cve', p) as string;
    if (cve.toLowerCase() !== id) fail([...p, 'cve'], `must be ${id.toUpperCase()} (the id in capitals)`);
    const aff = obj(o.affects, [...p, 'affects'], ['kernel', 'packages']);
    const affects: PatchEntry['affects'] = {};
    if (aff.kernel !== undefined) {
      const kp = [...p, 'affects', 'kernel'];
      const k = obj(aff.kernel, kp, KERNEL_FIELDS);
      const introduced = str(k, 'introduced', kp, false);
      const fixed = str(k, 'fixed', kp, false);
      for (const [f, v] of [
        ['introduced', introduced],
        ['fixed', fixed],
      ] as const) {
        if (v !== undefined && !KERNEL_VERSION.test(v))
          fail([...kp, f], `${JSON.stringify(v)} is not a kernel version like 5.17`);
      }
      affects.kernel = {
        introduced,
        fixed,
        stable: list(k, 'stable', kp, kernelVersion),
        debian: list(k, 'debian', kp, debianVersion),
      };
    }
    if (aff.packages !== undefined) {
      if (!Array.isArray(aff.packages) || aff.packages.length === 0)
        fail([...p, 'affects', 'packages'], 'must be a non-empty list');
      affects.packages = (aff.packages as unknown[]).map((pk, j) => {
        const pp = [...p, 'affects', 'packages', j];
        const po = obj(pk, pp, PACKAGE_FIELDS);
        const names = list(po, 'names', pp, (s) => {
          if (!/^[a-z0-9][a-z0-9+.-]+$/.test(s))
            throw new Error(`${JSON.stringify(s)} is not a Debian package name`);
        });
        if (names === undefined) fail([...pp, 'names'], 'required');
        const introduced = str(po, 'introduced', pp, false);
        const fixed = str(po, 'fixed', pp, false);
        for (const [f, v] of [
          ['introduced', introduced],
          ['fixed', fixed],
        ] as const) {
          try {
            if (v !== undefined) parseDebianVersion(v);
          } catch (err) {
            fail([...pp, f], (err as Error).message);
          }
        }
        return {
          names: names as string[],
          introduced,
          fixed,
          debian: list(po, 'debian', pp, debianVersion),
          files: list(po, 'files', pp, (s) => {
            if (!s.startsWith('/')) throw new Error('must be an absolute path');
          }),
        };
      });
    }
    if (affects.kernel === undefined && affects.packages === undefined)
      fail([...p, 'affects'], 'needs kernel or packages');
    const policyFile = str(o, 'policy', p, false);
    let policies: Policy[] = [];
    if (policyFile !== undefined) {
      try {
        policies = loadPolicyPath(join(dirname(file), policyFile));
      } catch (err) {
        fail([...p, 'policy'], `does not load: ${(err as Error).message}`);
      }
      for (const pol of policies) {
        if (pol.metadata.labels?.['peregrine.dev/patch'] !== id)
          fail(
            [...p, 'policy'],
            `policy ${pol.metadata.name} must carry the label peregrine.dev/patch: ${id}`,
          );
        if (policyNames.has(pol.metadata.name))
          fail([...p, 'policy'], `duplicate policy ${pol.metadata.name}`);
        policyNames.add(pol.metadata.name);
      }
    }
    const detect =
      list(o, 'detect', p, (r) => {
        if (!ruleNames.has(r)) throw new Error(`no rule ${JSON.stringify(r)} in ${rulesPath}`);
      }) ?? [];
    if (policies.length === 0 && detect.length === 0 && o.missing === undefined)
      fail(p, 'an entry without policy or detect must say what is missing');
    entries.push({
      id,
      cve,
      title: str(o, 'title', p) as string,
      affects,
      path: str(o, 'path', p) as string,
      breaks: str(o, 'breaks', p) as string,
      missing: str(o, 'missing', p, false),
      policyFile,
      policies,
      detect,
      test: str(o, 'test', p) as string,
    });
  }
  if (isSeq(doc.contents) || !isMap(doc.contents)) fail([], 'must be a mapping');
  return {
    name,
    file: shown,
    dir: dirname(resolve(file)),
    rulesFile: existsSync(rulesPath) ? relative(process.cwd(), resolve(rulesPath)) || rulesPath : undefined,
    entries,
  };
}
