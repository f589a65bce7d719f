// SPDX-License-Identifier: Apache-2.0
// The policy compiler: validated policies → the contents of the in-kernel
// filter maps (bpf/include/policy.h explains the model), plus the user-space
// checks for what kernel maps cannot express (globs, argv, long paths).
import type { EventKind, PeregrineEvent } from '../events/types.js';
import { PgAccess, PgDim, PgKind, PgPolicyLimits, PgSet } from '../generated/records.js';
import { CAPABILITY_NAMES } from '../process/capabilities.js';
import { fnv1a64 } from './hash.js';
import type { OpenAccess, Policy, PolicyRule } from './types.js';

/** A set of rule slots: 8 little-endian u32 words (= the kernel's 4 u64 words). */
export type RuleBits = Uint32Array;

const WORDS32 = PgPolicyLimits.PG_RULE_WORDS * 2;
export const RULE_SLOTS = PgPolicyLimits.PG_RULE_SLOTS;

export function emptyBits(): RuleBits {
  return new Uint32Array(WORDS32);
}

function bitsFor<K>(map: Map<K, RuleBits>, key: K): RuleBits {
  let b = map.get(key);
  if (b === undefined) {
    b = emptyBits();
    map.set(key, b);
  }
  return b;
}

function setBit(bits: RuleBits, slot: number): void {
  bits[slot >>> 5] |= 1 << (slot & 31);
}

function orInto(dst: RuleBits, src: RuleBits): void {
  for (let i = 0; i < WORDS32; i++) dst[i] |= src[i];
}

export function bitsOf(bits: RuleBits): number[] {
  const out: number[] = [];
  for (let i = 0; i < WORDS32; i++) {
    let w = bits[i];
    while (w !== 0) {
      const b = 31 - Math.clz32(w & -w);
      out.push(i * 32 + b);
      w &= w - 1;
    }
  }
  return out;
}

/** Event kinds as the kernel's enum pg_kind. */
export const KIND_INDEX: Readonly<Partial<Record<EventKind, number>>> = {
  'process.exec': PgKind.PG_KIND_EXEC,
  'process.exit': PgKind.PG_KIND_EXIT,
  'file.open': PgKind.PG_KIND_FILE_OPEN,
  'file.unlink': PgKind.PG_KIND_FILE_UNLINK,
  'file.rename': PgKind.PG_KIND_FILE_RENAME,
  'file.link': PgKind.PG_KIND_FILE_LINK,
  'file.symlink': PgKind.PG_KIND_FILE_SYMLINK,
  'file.chmod': PgKind.PG_KIND_FILE_CHMOD,
  'file.chown': PgKind.PG_KIND_FILE_CHOWN,
  'file.truncate': PgKind.PG_KIND_FILE_TRUNCATE,
  'file.mount': PgKind.PG_KIND_FILE_MOUNT,
  'network.connect': PgKind.PG_KIND_NET_CONNECT,
  'network.accept': PgKind.PG_KIND_NET_ACCEPT,
  'network.bind': PgKind.PG_KIND_NET_BIND,
  'network.listen': PgKind.PG_KIND_NET_LISTEN,
  'network.send': PgKind.PG_KIND_NET_SEND,
  'privilege.setuid': PgKind.PG_KIND_PRIV_SETUID,
  'privilege.setgid': PgKind.PG_KIND_PRIV_SETGID,
  'privilege.capset': PgKind.PG_KIND_PRIV_CAPSET,
  'privilege.prctl': PgKind.PG_KIND_PRIV_PRCTL,
  'namespace.unshare': PgKind.PG_KIND_NS_UNSHARE,
  'namespace.setns': PgKind.PG_KIND_NS_SETNS,
  'process.ptrace': PgKind.PG_KIND_PTRACE,
  'kernel.module_load': PgKind.PG_KIND_MODULE_LOAD,
  'kernel.bpf': PgKind.PG_KIND_BPF,
  'kernel.kexec': PgKind.PG_KIND_KEXEC,
  'process.memfd_create': PgKind.PG_KIND_MEMFD_CREATE,
};

const ACCESS_BIT: Record<OpenAccess, number> = {
  read: PgAccess.PG_ACCESS_READ,
  write: PgAccess.PG_ACCESS_WRITE,
  create: PgAccess.PG_ACCESS_CREATE,
  truncate: PgAccess.PG_ACCESS_TRUNCATE,
};

/** One rule of one policy, owning one slot. */
export interface RuleSlot {
  slot: number;
  policy: string;
  rule: string;
  kinds: EventKind[];
  action: PolicyRule['action'];
  signal?: string;
  monitor: boolean;
  /** What the kernel maps cannot decide; undefined when the kernel's answer is final. */
  userCheck?: (ev: PeregrineEvent) => boolean;
}

export interface ValueEntry {
  dim: number;
  value: bigint;
  allow: RuleBits;
  deny: RuleBits;
}

export interface PrefixEntry {
  /** Prefix bytes (≤ PG_PREFIX_MAX); for suffixes, the reversed suffix bytes. */
  bytes: Buffer;
  rules: RuleBits;
}

export interface AddrEntry {
  family: 2 | 10;
  addr: Buffer; // 16 bytes, network order, v4 in the first 4
  bits: number;
  allow: RuleBits;
  deny: RuleBits;
}

/** Everything one generation of the filter maps holds. */
export interface FilterImage {
  slots: RuleSlot[];
  /** pg_f_sets by enum pg_set index (within a generation); absent = empty. */
  sets: Map<number, RuleBits>;
  values: ValueEntry[];
  paths: Array<{ hash: bigint; rules: RuleBits }>;
  prefixes: PrefixEntry[];
  suffixes: PrefixEntry[];
  addrs: AddrEntry[];
  /** Every kind some rule watches: which programs to attach. */
  kinds: Set<EventKind>;
}

export class CompileError extends Error {}

const DIMS = [
  PgDim.PG_DIM_BINARY,
  PgDim.PG_DIM_PARENT,
  PgDim.PG_DIM_UID,
  PgDim.PG_DIM_GID,
  PgDim.PG_DIM_PATH,
  PgDim.PG_DIM_PORT,
  PgDim.PG_DIM_ADDR,
  PgDim.PG_DIM_CGROUP,
  PgDim.PG_DIM_CAP,
  PgDim.PG_DIM_ACCESS,
  PgDim.PG_DIM_NS,
];

/** The literal part of a glob before its first wildcard. */
export function globLiteralPrefix(glob: string): string {
  const i = glob.search(/[*?[]/);
  return i < 0 ? glob : glob.slice(0, i);
}

/** A shell glob as a RegExp: `*` and `?` stay within one component, `**` crosses "/". */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end);
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function pathOf(ev: PeregrineEvent): string[] {
  const f = ev.file;
  if (f === undefined) return ev.kernel?.path !== undefined ? [ev.kernel.path] : [];
  return f.new_path !== undefined ? [f.path, f.new_path] : [f.path];
}

/** The user-space part of a rule's match, or undefined when the kernel decides alone. */
function userCheckOf(rule: PolicyRule): ((ev: PeregrineEvent) => boolean) | undefined {
  const m = rule.match;
  const checks: Array<(ev: PeregrineEvent) => boolean> = [];
  const p = m.paths;
  const max = PgPolicyLimits.PG_PREFIX_MAX;
  const needsPathCheck =
    p !== undefined &&
    ((p.glob?.length ?? 0) > 0 ||
      (p.prefix ?? []).some((x) => Buffer.byteLength(x) > max) ||
      (p.suffix ?? []).some((x) => Buffer.byteLength(x) > PgPolicyLimits.PG_SUFFIX_MAX));
  if (p !== undefined && needsPathCheck) {
    const exact = new Set(p.exact ?? []);
    const prefixes = p.prefix ?? [];
    const suffixes = p.suffix ?? [];
    const globs = (p.glob ?? []).map(globToRegExp);
    checks.push((ev) =>
      pathOf(ev).some(
        (path) =>
          exact.has(path) ||
          prefixes.some((x) => path.startsWith(x)) ||
          suffixes.some((x) => path.endsWith(x)) ||
          globs.some((g) => g.test(path)),
      ),
    );
  }
  const contains = m.args?.contains;
  if (contains !== undefined && contains.length > 0) {
    checks.push((ev) => ev.process.args.some((a) => contains.some((c) => a.includes(c))));
  }
  if (checks.length === 0) return undefined;
  if (checks.length === 1) return checks[0];
  return (ev) => checks.every((c) => c(ev));
}

function capBit(name: string): number {
  const up = name.toUpperCase();
  const bit = CAPABILITY_NAMES.indexOf(
    (up.startsWith('CAP_') ? up : `CAP_${up}`) as (typeof CAPABILITY_NAMES)[number],
  );
  if (bit < 0) throw new CompileError(`unknown capability ${name}`);
  return bit;
}

/** Parses "a.b.c.d/n" or "v6/n" into a 16-byte network-order address. */
export function parseCidr(cidr: string): { family: 2 | 10; addr: Buffer; bits: number } {
  const [ip, len] = cidr.includes('/') ? cidr.split('/') : [cidr, undefined];
  const addr = Buffer.alloc(16);
  if (ip.includes(':')) {
    const bits = len === undefined ? 128 : Number(len);
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
    const h = head === '' ? [] : head.split(':');
    const t = tail === undefined || tail === '' ? [] : tail.split(':');
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    if (groups.length !== 8) throw new CompileError(`bad IPv6 address ${cidr}`);
    groups.forEach((g, i) => {
      addr.writeUInt16BE(Number.parseInt(g || '0', 16), i * 2);
    });
    return { family: 10, addr: maskAddr(addr, bits), bits };
  }
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((x) => !(x >= 0 && x <= 255)))
    throw new CompileError(`bad IPv4 address ${cidr}`);
  parts.forEach((x, i) => {
    addr.writeUInt8(x, i);
  });
  const bits = len === undefined ? 32 : Number(len);
  return { family: 2, addr: maskAddr(addr, bits), bits };
}

function maskAddr(addr: Buffer, bits: number): Buffer {
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    addr[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return addr;
}

function addrCovers(outer: AddrEntry, inner: AddrEntry): boolean {
  if (outer.family !== inner.family || outer.bits > inner.bits) return false;
  return maskAddr(Buffer.from(inner.addr), outer.bits).equals(outer.addr);
}

/**
 * Compiles policies into one generation's map contents. Slots are given in
 * order (policy, then rule); more than PG_RULE_SLOTS rules in all is an error
 * naming the limit.
 */
export function compileFilter(policies: readonly Policy[]): FilterImage {
  const img: FilterImage = {
    slots: [],
    sets: new Map(),
    values: [],
    paths: [],
    prefixes: [],
    suffixes: [],
    addrs: [],
    kinds: new Set(),
  };
  const set = (index: number): RuleBits => {
    let b = img.sets.get(index);
    if (b === undefined) {
      b = emptyBits();
      img.sets.set(index, b);
    }
    return b;
  };
  const values = new Map<string, ValueEntry>();
  const value = (dim: number, v: bigint): ValueEntry => {
    const k = `${dim}:${v}`;
    let e = values.get(k);
    if (e === undefined) {
      e = { dim, value: v, allow: emptyBits(), deny: emptyBits() };
      values.set(k, e);
      img.values.push(e);
    }
    return e;
  };
  const paths = new Map<bigint, RuleBits>();
  const prefixes = new Map<string, RuleBits>();
  const suffixes = new Map<string, RuleBits>();
  const addrs = new Map<string, AddrEntry>();

  const total = policies.reduce((n, p) => n + p.spec.rules.length, 0);
  if (total > RULE_SLOTS) {
    throw new CompileError(
      `compile policies: ${total} rules in all, over the ${RULE_SLOTS} rule slots of this build`,
    );
  }

  let slot = 0;
  for (const policy of policies) {
    for (const rule of policy.spec.rules) {
      const s = slot++;
      const m = rule.match;
      img.slots.push({
        slot: s,
        policy: policy.metadata.name,
        rule: rule.name,
        kinds: rule.kinds,
        action: rule.action,
        signal: rule.signal,
        monitor: policy.spec.mode === 'monitor',
        userCheck: userCheckOf(rule),
      });
      setBit(set(PgSet.PG_SET_ALL), s);
      for (const kind of rule.kinds) {
        img.kinds.add(kind);
        const k = KIND_INDEX[kind];
        if (k !== undefined) setBit(set(PgSet.PG_SET_KIND + k), s);
      }
      const constrained = new Set<number>();
      const inNotIn = <T>(dim: number, sel: { in?: T[]; notIn?: T[] } | undefined, key: (v: T) => bigint) => {
        if (sel === undefined) return;
        if ((sel.in?.length ?? 0) + (sel.notIn?.length ?? 0) > 0) setBit(set(PgSet.PG_SET_LOOKUP + dim), s);
        if (sel.in !== undefined && sel.in.length > 0) {
          constrained.add(dim);
          for (const v of sel.in) setBit(value(dim, key(v)).allow, s);
        }
        for (const v of sel.notIn ?? []) setBit(value(dim, key(v)).deny, s);
      };
      inNotIn(PgDim.PG_DIM_BINARY, m.binaries, fnv1a64);
      inNotIn(PgDim.PG_DIM_PARENT, m.parentBinaries, fnv1a64);
      inNotIn(PgDim.PG_DIM_UID, m.uids, BigInt);
      inNotIn(PgDim.PG_DIM_GID, m.gids, BigInt);
      inNotIn(PgDim.PG_DIM_PORT, m.ports, BigInt);
      inNotIn(PgDim.PG_DIM_CGROUP, m.cgroupIds, BigInt);
      // Scoped to containers: cgroups created after this compile are let through until re-applied.
      if ((m.cgroupIds?.in?.length ?? 0) > 0) setBit(set(PgSet.PG_SET_CGROUP_NEW), s);

      if (m.paths !== undefined) {
        constrained.add(PgDim.PG_DIM_PATH);
        const p = m.paths;
        for (const x of p.exact ?? []) {
          setBit(bitsFor(paths, fnv1a64(x)), s);
        }
        const addPrefix = (x: string) => {
          const bytes = Buffer.from(x).subarray(0, PgPolicyLimits.PG_PREFIX_MAX).toString('latin1');
          setBit(bitsFor(prefixes, bytes), s);
        };
        for (const x of p.prefix ?? []) addPrefix(x);
        for (const g of p.glob ?? []) addPrefix(globLiteralPrefix(g));
        for (const x of p.suffix ?? []) {
          const bytes = Buffer.from(x).reverse().subarray(0, PgPolicyLimits.PG_SUFFIX_MAX).toString('latin1');
          setBit(bitsFor(suffixes, bytes), s);
        }
      }

      if (m.access !== undefined && m.access.length > 0) {
        constrained.add(PgDim.PG_DIM_ACCESS);
        const mask = m.access.reduce((acc, a) => acc | ACCESS_BIT[a], 0);
        for (let c = 0; c < PgAccess.PG_ACCESS_COMBOS; c++)
          if (c & mask) setBit(set(PgSet.PG_SET_ACCESS + c), s);
      } else {
        for (let c = 0; c < PgAccess.PG_ACCESS_COMBOS; c++) setBit(set(PgSet.PG_SET_ACCESS + c), s);
      }

      if (m.namespaces !== 'container') setBit(set(PgSet.PG_SET_NS_HOST), s);
      if (m.namespaces !== 'host') setBit(set(PgSet.PG_SET_NS_CONTAINER), s);

      if (m.capabilities !== undefined && m.capabilities.length > 0) {
        constrained.add(PgDim.PG_DIM_CAP);
        for (const c of m.capabilities) setBit(set(PgSet.PG_SET_CAP + capBit(c)), s);
      }

      const addr = m.addresses;
      if (addr !== undefined) {
        if (addr.in !== undefined && addr.in.length > 0) constrained.add(PgDim.PG_DIM_ADDR);
        setBit(set(PgSet.PG_SET_LOOKUP + PgDim.PG_DIM_ADDR), s);
        const add = (cidr: string, side: 'allow' | 'deny') => {
          const c = parseCidr(cidr);
          const k = `${c.family}/${c.addr.toString('hex')}/${c.bits}`;
          let e = addrs.get(k);
          if (e === undefined) {
            e = { ...c, allow: emptyBits(), deny: emptyBits() };
            addrs.set(k, e);
          }
          setBit(e[side], s);
        };
        for (const c of addr.in ?? []) add(c, 'allow');
        for (const c of addr.notIn ?? []) add(c, 'deny');
      }

      for (const dim of DIMS) if (!constrained.has(dim)) setBit(set(PgSet.PG_SET_WILD + dim), s);
    }
  }

  for (const [h, rules] of paths) img.paths.push({ hash: h, rules });
  // The LPM trie returns only the longest match: each entry also carries every shorter entry it extends.
  const withAncestors = (m: Map<string, RuleBits>): PrefixEntry[] => {
    const keys = [...m.keys()].sort((a, b) => a.length - b.length);
    return keys.map((k) => {
      const rules = emptyBits();
      for (const other of keys)
        if (other.length <= k.length && k.startsWith(other)) orInto(rules, m.get(other)!);
      return { bytes: Buffer.from(k, 'latin1'), rules };
    });
  };
  img.prefixes = withAncestors(prefixes);
  img.suffixes = withAncestors(suffixes);
  const cidrs = [...addrs.values()];
  img.addrs = cidrs.map((e) => {
    const out: AddrEntry = { ...e, allow: emptyBits(), deny: emptyBits() };
    for (const o of cidrs) {
      if (addrCovers(o, e)) {
        orInto(out.allow, o.allow);
        orInto(out.deny, o.deny);
      }
    }
    return out;
  });
  return img;
}
