// SPDX-License-Identifier: Apache-2.0
// How `peregrine learn` turns what one run saw into what the next runs may do: version-numbered
// and temporary path segments become globs, busy directories become prefixes, addresses become CIDRs.

/** What one generalised value stands for: the values seen, and how (and why) they were widened. */
export interface Generalised {
  /** The policy value: an exact path, a prefix ending in "/", a glob, a CIDR, a port. */
  value: string;
  form: 'exact' | 'prefix' | 'glob' | 'cidr' | 'port';
  /** The observed values it covers, sorted. */
  seen: string[];
  /** How it was generalised, in words ("" when kept as seen). */
  how: string;
}

export interface PathOptions {
  /** Distinct files under one directory from which the directory itself is allowed. Default 5. */
  dirThreshold?: number;
}

// A version: digits, then one or more ".digits" (3.11, 1.2.3); the major number is kept.
const VERSION = /(\d+)((?:\.\d+)+)/g;
// A shared-object version suffix: libfoo.so.1.2.3 → libfoo.so.*
const SO_VERSION = /\.so(?:\.\d+)+$/;
// Generated names: mktemp's tmp.XXXXXXXXXX, hex ids, UUIDs, pids and other all-digit names.
const TEMP_NAME = /^(?:tmp|temp)[._-]?[A-Za-z0-9]{6,}$/i;
const HEX_ID = /^[0-9a-f]{12,}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^\d+$/;
// A name with a numeric tail after a dot: out.1234, log.20261204 (rotations, pids).
const NUMERIC_TAIL = /^(.+\.)\d+$/;

/**
 * One path segment as a glob segment, and why; `why` is "" when the segment
 * is kept as it is. Globs never contain a `/`, so a segment stays a segment.
 */
export function generaliseSegment(seg: string): { seg: string; why: string } {
  if (UUID.test(seg)) return { seg: '*', why: `uuid "${seg}"` };
  if (NUMBER.test(seg)) return { seg: '*', why: `number "${seg}"` };
  if (HEX_ID.test(seg)) return { seg: '*', why: `hex id "${seg}"` };
  if (TEMP_NAME.test(seg) && /\d/.test(seg)) return { seg: 'tmp*', why: `temporary name "${seg}"` };
  if (SO_VERSION.test(seg)) return { seg: seg.replace(SO_VERSION, '.so.*'), why: `library version "${seg}"` };
  if (VERSION.test(seg)) {
    VERSION.lastIndex = 0;
    return { seg: seg.replace(VERSION, '$1.*'), why: `version "${seg}"` };
  }
  const tail = NUMERIC_TAIL.exec(seg);
  if (tail !== null) return { seg: `${tail[1]}*`, why: `numeric suffix "${seg}"` };
  return { seg, why: '' };
}

/** A path with its version-numbered and generated segments as globs; `why` lists each change. */
export function generalisePath(path: string): { path: string; glob: boolean; why: string[] } {
  const parts = path.split('/');
  const why: string[] = [];
  let glob = false;
  for (let i = 1; i < parts.length; i++) {
    const g = generaliseSegment(parts[i]);
    if (g.why !== '') {
      parts[i] = g.seg;
      glob = true;
      why.push(g.why);
    }
  }
  return { path: parts.join('/'), glob, why };
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i + 1);
}

/**
 * The observed paths (one access class) as allowed paths: each generalised by
 * segment, then every directory with at least `dirThreshold` distinct entries
 * allowed as a whole (a prefix, or a glob when the directory is itself a
 * glob). Deterministic: sorted by value, each `seen` sorted.
 */
export function generalisePaths(paths: Iterable<string>, opts: PathOptions = {}): Generalised[] {
  const threshold = opts.dirThreshold ?? 5;
  const byValue = new Map<string, { glob: boolean; seen: Set<string>; why: Set<string> }>();
  for (const p of new Set(paths)) {
    const g = generalisePath(p);
    let e = byValue.get(g.path);
    if (e === undefined) {
      e = { glob: g.glob, seen: new Set(), why: new Set() };
      byValue.set(g.path, e);
    }
    e.seen.add(p);
    for (const w of g.why) e.why.add(w);
  }
  // Directories with many entries: allow the directory instead of listing its files.
  const byDir = new Map<string, string[]>();
  for (const value of byValue.keys()) {
    if (value === '/') continue;
    const d = dirOf(value);
    if (d === '/') continue; // never the whole root
    const list = byDir.get(d) ?? [];
    list.push(value);
    byDir.set(d, list);
  }
  const out: Generalised[] = [];
  const folded = new Set<string>();
  for (const [dir, values] of [...byDir].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (values.length < threshold) continue;
    const seen = new Set<string>();
    for (const v of values) {
      folded.add(v);
      for (const s of byValue.get(v)?.seen ?? []) seen.add(s);
    }
    const isGlob = /[*?[]/.test(dir);
    out.push({
      value: isGlob ? `${dir}**` : dir,
      form: isGlob ? 'glob' : 'prefix',
      seen: [...seen].sort(),
      how: `${values.length} distinct entries under ${dir} (threshold ${threshold}): the directory is allowed`,
    });
  }
  for (const [value, e] of byValue) {
    if (folded.has(value)) continue;
    // A glob already covered by a folded directory's prefix adds nothing.
    if (out.some((o) => o.form === 'prefix' && value.startsWith(o.value))) {
      const o = out.find((x) => x.form === 'prefix' && value.startsWith(x.value));
      for (const s of e.seen) if (o !== undefined && !o.seen.includes(s)) o.seen.push(s);
      o?.seen.sort();
      continue;
    }
    out.push({
      value,
      form: e.glob ? 'glob' : 'exact',
      seen: [...e.seen].sort(),
      how: e.glob ? [...e.why].sort().join('; ') : '',
    });
  }
  return out.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}

/** IPv4 dotted quad → 32-bit number, or undefined for anything else. */
function v4(addr: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (m === null) return undefined;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return undefined;
  return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
}

function v4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface AddressOptions {
  /** Distinct IPv4 peers in one /24 from which the /24 is allowed (per-pod IPs of a service). Default 3. */
  subnetThreshold?: number;
}

/**
 * Remote addresses as CIDRs: loopback as 127.0.0.0/8 (and ::1/128), peers
 * sharing a /24 with at least `subnetThreshold` others as that /24 (the pods
 * behind one service come and go with new IPs in their node's range), the
 * rest as /32 or /128. Sorted.
 */
export function generaliseAddresses(addrs: Iterable<string>, opts: AddressOptions = {}): Generalised[] {
  const threshold = opts.subnetThreshold ?? 3;
  const out: Generalised[] = [];
  const bySubnet = new Map<number, string[]>();
  const loop4: string[] = [];
  for (const a of [...new Set(addrs)].sort()) {
    const n = v4(a.startsWith('::ffff:') ? a.slice(7) : a);
    if (n === undefined) {
      out.push({ value: a === '::1' ? '::1/128' : `${a}/128`, form: 'cidr', seen: [a], how: '' });
      continue;
    }
    if (n >>> 24 === 127) {
      loop4.push(a);
      continue;
    }
    const net = (n & 0xffffff00) >>> 0;
    const list = bySubnet.get(net) ?? [];
    list.push(a);
    bySubnet.set(net, list);
  }
  if (loop4.length > 0)
    out.push({ value: '127.0.0.0/8', form: 'cidr', seen: loop4, how: 'loopback: the whole of 127.0.0.0/8' });
  for (const [net, list] of bySubnet) {
    if (list.length >= threshold) {
      out.push({
        value: `${v4Text(net)}/24`,
        form: 'cidr',
        seen: list,
        how: `${list.length} peers in one /24 (threshold ${threshold}): the subnet is allowed`,
      });
    } else for (const a of list) out.push({ value: `${a}/32`, form: 'cidr', seen: [a], how: '' });
  }
  return out.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}

/** This host's ephemeral port range (net.ipv4.ip_local_port_range), [32768, 60999] when unreadable. */
export function ephemeralRange(text?: string): [number, number] {
  const m = /^\s*(\d+)\s+(\d+)/.exec(text ?? '');
  return m !== null ? [Number(m[1]), Number(m[2])] : [32768, 60999];
}
