// SPDX-License-Identifier: Apache-2.0
// Is this node affected by a pack entry? Kernel versions from /proc/version and
// uname, package versions from dpkg-query, compared like dpkg; what cannot be
// known (a distribution kernel's backports, a binary outside dpkg) is "maybe".
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { compareDebianVersions, parseDebianVersion } from './debian-version.js';
import type { KernelRange, PackageRange, PatchEntry } from './pack.js';

export type Affected = 'yes' | 'no' | 'maybe';

export interface KernelFacts {
  /** uname -r. */
  release: string;
  /** The upstream version it is built from ("6.1.76"), or undefined when it cannot be read. */
  upstream?: string;
  /** The distribution that built it (fixes may be backported), or undefined for an upstream build. */
  distro?: 'debian' | 'ubuntu' | 'rhel';
  /** Debian's package version ("6.1.76-1"), from /proc/version. */
  debianVersion?: string;
}

export interface PackageFacts {
  /** dpkg-query answered (false: no dpkg here, package versions unknown). */
  dpkg: boolean;
  /** Installed packages asked about: name → Debian version. */
  installed: Map<string, string>;
}

export interface NodeFacts {
  kernel: KernelFacts;
  packages: PackageFacts;
  /** Whether a path exists (injected so tests can describe any node). */
  exists: (path: string) => boolean;
}

export interface Applicability {
  affected: Affected;
  /** One reason per component checked (kernel, each package), in order. */
  reasons: string[];
}

/** Reads the running kernel's version: Debian and Ubuntu name the upstream release they build from. */
export function kernelFacts(rel: string = release(), procVersion?: string, signature?: string): KernelFacts {
  const pv = procVersion ?? readOr('/proc/version');
  const sig = signature ?? readOr('/proc/version_signature');
  const deb = /Debian ([0-9]+\.[0-9]+\.[0-9]+)-([A-Za-z0-9.+~]+)/.exec(pv);
  if (deb) return { release: rel, upstream: deb[1], distro: 'debian', debianVersion: `${deb[1]}-${deb[2]}` };
  const ubu = /^Ubuntu \S+ ([0-9]+\.[0-9]+\.[0-9]+)/.exec(sig);
  if (ubu) return { release: rel, upstream: ubu[1], distro: 'ubuntu' };
  const m = /^([0-9]+\.[0-9]+(\.[0-9]+)?)/.exec(rel);
  const upstream = m ? (m[2] === undefined ? `${m[1]}.0` : m[1]) : undefined;
  if (/\.el[0-9]+/.test(rel)) return { release: rel, upstream, distro: 'rhel' };
  return { release: rel, upstream };
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Installed versions of `names` from dpkg-query (one call). */
export function packageFacts(names: readonly string[]): PackageFacts {
  const installed = new Map<string, string>();
  if (names.length === 0) return { dpkg: true, installed };
  const r = spawnSync(
    'dpkg-query',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query format
    ['-W', '-f', '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n', ...names],
    {
      encoding: 'utf8',
    },
  );
  // dpkg-query exits 1 when some name is unknown, and still lists the others.
  if (r.error !== undefined || (r.status !== 0 && r.status !== 1)) return { dpkg: false, installed };
  for (const line of r.stdout.split('\n')) {
    const [pkg, version, status] = line.split('\t');
    if (pkg && version && status?.startsWith('ii')) installed.set(pkg.split(':')[0], version);
  }
  return { dpkg: true, installed };
}

/** Everything the pack's entries ask about this node. */
export function nodeFacts(entries: readonly PatchEntry[]): NodeFacts {
  const names = [...new Set(entries.flatMap((e) => (e.affects.packages ?? []).flatMap((p) => p.names)))];
  return { kernel: kernelFacts(), packages: packageFacts(names), exists: existsSync };
}

/** Numeric kernel version compare ("5.10.93" vs "5.17"; missing parts are 0). */
export function compareKernelVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const branchOf = (v: string) => v.split('.').slice(0, 2).join('.');

export function assessKernel(k: KernelRange, facts: KernelFacts): { affected: Affected; reason: string } {
  const v = facts.upstream;
  const name = `kernel ${facts.release}${v !== undefined && !facts.release.startsWith(v) ? ` (${v})` : ''}`;
  if (v === undefined) return { affected: 'maybe', reason: `${name}: version not understood` };
  if (k.introduced !== undefined && compareKernelVersions(v, k.introduced) < 0)
    return { affected: 'no', reason: `${name} is older than the bug (${k.introduced})` };
  if (k.fixed !== undefined && compareKernelVersions(v, k.fixed) >= 0)
    return { affected: 'no', reason: `${name} has the fix (${k.fixed})` };
  if (facts.distro === 'debian' && facts.debianVersion !== undefined) {
    const b = (k.debian ?? []).find((d) => branchOf(parseDebianVersion(d).upstream) === branchOf(v));
    if (b !== undefined && compareDebianVersions(facts.debianVersion, b) >= 0)
      return { affected: 'no', reason: `${name} has the fix (Debian ${b})` };
  }
  const stable = (k.stable ?? []).find((s) => branchOf(s) === branchOf(v));
  if (stable !== undefined && compareKernelVersions(v, stable) >= 0)
    return { affected: 'no', reason: `${name} has the fix (${stable})` };
  if (k.fixed === undefined) return { affected: 'yes', reason: `${name}: not fixed upstream` };
  const below = stable !== undefined ? `older than the fix (${stable})` : `older than the fix (${k.fixed})`;
  // Distribution kernels backport fixes the version does not show.
  if (facts.distro === 'ubuntu' || facts.distro === 'rhel')
    return {
      affected: 'maybe',
      reason: `${name} is ${below}, but ${facts.distro} kernels backport fixes: check its changelog`,
    };
  if (stable === undefined)
    return { affected: 'maybe', reason: `${name} is ${below}; no fixed ${branchOf(v)}.y release is listed` };
  return { affected: 'yes', reason: `${name} is ${below}` };
}

/** A stable-update version without its suite suffix: 0.105-31+deb11u1 → 0.105-31. */
function suiteBase(v: string): string {
  return v.replace(/\+deb[0-9]+u[0-9]+$/, '');
}

export function assessPackage(p: PackageRange, facts: NodeFacts): { affected: Affected; reason: string } {
  const found = (p.files ?? []).find((f) => facts.exists(f));
  const label = p.names.join('/');
  if (!facts.packages.dpkg) {
    if (found !== undefined)
      return { affected: 'maybe', reason: `${found} exists; no dpkg to learn its version` };
    return {
      affected: 'no',
      reason: `${label}: not found (no dpkg; none of ${(p.files ?? []).join(', ') || 'its files'})`,
    };
  }
  const name = p.names.find((n) => facts.packages.installed.has(n));
  if (name === undefined) {
    if (found !== undefined)
      return {
        affected: 'maybe',
        reason: `${found} exists but no ${label} package is installed: version unknown`,
      };
    return { affected: 'no', reason: `${label} not installed` };
  }
  const version = facts.packages.installed.get(name) as string;
  const pv = parseDebianVersion(version);
  const up = pv.upstream;
  const what = `${name} ${version}`;
  if (p.introduced !== undefined && compareDebianVersions(up, p.introduced) < 0)
    return { affected: 'no', reason: `${what} is older than the bug (${p.introduced})` };
  if (p.fixed !== undefined && compareDebianVersions(up, p.fixed) >= 0)
    return { affected: 'no', reason: `${what} has the fix (${p.fixed})` };
  // Several suites may patch one upstream version (buster 0.105-25+deb10u1,
  // bullseye 0.105-31+deb11u1): the fix that counts is the one of the newest
  // suite package this version is built on (its version without +debNuM).
  const backport = (p.debian ?? [])
    .filter((d) => {
      const b = parseDebianVersion(d);
      return b.epoch === pv.epoch && b.upstream === up && compareDebianVersions(suiteBase(d), version) <= 0;
    })
    .sort((a, b) => compareDebianVersions(suiteBase(b), suiteBase(a)))[0];
  if (backport !== undefined) {
    if (compareDebianVersions(version, backport) >= 0)
      return { affected: 'no', reason: `${what} has the fix (Debian ${backport})` };
    return { affected: 'yes', reason: `${what} is older than the fixed Debian package ${backport}` };
  }
  if (p.fixed === undefined) return { affected: 'yes', reason: `${what}: not fixed upstream` };
  if (pv.revision !== '')
    return {
      affected: 'maybe',
      reason: `${what} is older than the fix (${p.fixed}); no fixed distribution package is listed for ${up}`,
    };
  return { affected: 'yes', reason: `${what} is older than the fix (${p.fixed})` };
}

/**
 * An entry applies when every component it names is affected (a kernel
 * fix can close a package's bug: PwnKit needs an empty argv, gone in 5.18):
 * any "no" wins, then any "maybe".
 */
export function assessEntry(entry: PatchEntry, facts: NodeFacts): Applicability {
  const parts: Array<{ affected: Affected; reason: string }> = [];
  if (entry.affects.kernel !== undefined) parts.push(assessKernel(entry.affects.kernel, facts.kernel));
  for (const p of entry.affects.packages ?? []) parts.push(assessPackage(p, facts));
  const affected: Affected = parts.some((p) => p.affected === 'no')
    ? 'no'
    : parts.some((p) => p.affected === 'maybe')
      ? 'maybe'
      : 'yes';
  return { affected, reasons: parts.map((p) => p.reason) };
}
