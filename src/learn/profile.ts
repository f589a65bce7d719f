// SPDX-License-Identifier: Apache-2.0
// What `peregrine learn` records about a workload (binaries, files by access, peers, ports,
// capabilities) and the least-privilege Policy and report it writes from that record.
import { matchSelector, SELECTOR_KEYS, selectorLabels } from '../container/enrich.js';
import type { EventKind, PeregrineEvent } from '../events/types.js';
import type { Policy, PolicyRule, RuleMatch } from '../policy/types.js';
import { CAPABILITY_NAMES } from '../process/capabilities.js';
import { generaliseAddresses, generalisePaths } from './generalise.js';

/** The workload to learn: one container by name, containers by labels, one cgroup, or one binary. */
export type LearnTarget =
  | { container: string }
  | { selector: Record<string, string> }
  | { cgroup: string; cgroupId: number }
  | { binary: string };

/** The kinds learning records; the learning policy audits them for the target only. */
export const LEARN_KINDS: readonly EventKind[] = [
  'process.exec',
  'file.open',
  'network.connect',
  'network.bind',
  'network.listen',
];

export function describeTarget(t: LearnTarget): string {
  if ('container' in t) return `container ${t.container}`;
  if ('selector' in t)
    return `containers with ${Object.entries(t.selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}`;
  if ('cgroup' in t) return `cgroup ${t.cgroup} (id ${t.cgroupId})`;
  return `binary ${t.binary}`;
}

/** spec.selector for container targets; undefined for the others (scoped per rule instead). */
function selectorOf(t: LearnTarget): Record<string, unknown> | undefined {
  if ('container' in t) return { matchLabels: { [SELECTOR_KEYS.containerName]: t.container } };
  if ('selector' in t) return { matchLabels: { ...t.selector } };
  return undefined;
}

/** The per-rule part of the scope: the cgroup id, or the binary (its children, for exec). */
function scopeMatch(t: LearnTarget, kind: EventKind): RuleMatch {
  if ('cgroup' in t) return { cgroupIds: { in: [t.cgroupId] } };
  if ('binary' in t)
    return kind === 'process.exec'
      ? { parentBinaries: { in: [t.binary] } }
      : { binaries: { in: [t.binary] } };
  return {};
}

/** Whether an event belongs to the target (a running agent's stream carries every process). */
export function targetMatcher(t: LearnTarget): (ev: PeregrineEvent) => boolean {
  if ('container' in t) return (ev) => ev.container?.name === t.container;
  if ('selector' in t) {
    const sel = { matchLabels: t.selector };
    return (ev) => ev.container !== undefined && matchSelector(sel, selectorLabels(ev.container, ev.pod));
  }
  if ('cgroup' in t) return (ev) => ev.process.cgroup.id === t.cgroupId;
  return (ev) =>
    ev.process.binary === t.binary || (ev.kind === 'process.exec' && ev.parent?.binary === t.binary);
}

/** The audit-only policy that makes the kernel report the target's activity while learning. */
export function learningPolicy(name: string, t: LearnTarget): Policy {
  const spec: Policy['spec'] = {
    mode: 'monitor',
    rules: LEARN_KINDS.map((k) => ({
      name: k.replace('.', '-'),
      kinds: [k],
      match: scopeMatch(t, k),
      action: 'audit',
    })),
  };
  const selector = selectorOf(t);
  if (selector !== undefined) spec.selector = selector;
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name, labels: { 'peregrine.dev/learning': 'true' } },
    spec,
    source: { file: '(learn)' },
  };
}

interface Seen {
  count: number;
  examples: Set<string>;
}

function note(map: Map<string, Seen>, key: string, example: string): void {
  let s = map.get(key);
  if (s === undefined) {
    s = { count: 0, examples: new Set() };
    map.set(key, s);
  }
  s.count++;
  if (s.examples.size < 3) s.examples.add(example);
}

/** Counts of what was seen, for progress lines. */
export interface ProfileCounts {
  events: number;
  binaries: number;
  files: number;
  peers: number;
  ports: number;
}

/** The record of one learning run: every distinct thing the workload did, with counts and examples. */
export class Profile {
  events = 0;
  readonly binaries = new Map<string, Seen>();
  readonly reads = new Map<string, Seen>();
  readonly writes = new Map<string, Seen>();
  /** "addr" → connects; ports separately. */
  readonly peers = new Map<string, Seen>();
  readonly remotePorts = new Map<string, Seen>();
  readonly unixPeers = new Map<string, Seen>();
  readonly listens = new Map<string, Seen>();
  readonly binds = new Map<string, Seen>();
  /** OR of the effective capability masks seen, per binary. */
  readonly caps = new Map<string, bigint>();

  observe(ev: PeregrineEvent): void {
    this.events++;
    const full = ev.process.args.length > 0 ? ev.process.args.slice(0, 3).join(' ') : ev.process.binary;
    // Examples are for reading: a long `sh -c` script is cut.
    const who = full.length > 60 ? `${full.slice(0, 57)}...` : full;
    const cap = /^[0-9a-f]{1,16}$/i.test(ev.process.cap.effective)
      ? BigInt(`0x${ev.process.cap.effective}`)
      : 0n;
    this.caps.set(ev.process.binary, (this.caps.get(ev.process.binary) ?? 0n) | cap);
    switch (ev.kind) {
      case 'process.exec':
        note(this.binaries, ev.process.binary, who);
        break;
      case 'file.open': {
        const f = ev.file;
        if (f === undefined || f.path === '' || !f.path.startsWith('/')) break;
        const acc = f.access ?? [];
        const writes = acc.some((a) => a === 'write' || a === 'create' || a === 'truncate' || a === 'append');
        note(writes ? this.writes : this.reads, f.path, who);
        break;
      }
      case 'network.connect': {
        const n = ev.network;
        if (n === undefined) break;
        if (n.family === 'unix') {
          note(this.unixPeers, n.remote_address || '(unnamed)', who);
          break;
        }
        note(this.peers, n.remote_address, `${who} → ${n.remote_address}:${n.remote_port}`);
        if (n.remote_port > 0) note(this.remotePorts, String(n.remote_port), `${who} → ${n.remote_address}`);
        break;
      }
      case 'network.listen':
        if (ev.network !== undefined && ev.network.local_port > 0)
          note(this.listens, String(ev.network.local_port), who);
        break;
      case 'network.bind':
        if (ev.network !== undefined && ev.network.local_port > 0)
          note(this.binds, String(ev.network.local_port), who);
        break;
      default:
        break;
    }
  }

  counts(): ProfileCounts {
    return {
      events: this.events,
      binaries: this.binaries.size,
      files: this.reads.size + this.writes.size,
      peers: this.peers.size + this.unixPeers.size,
      ports: this.listens.size,
    };
  }
}

/**
 * Reads the learned policy denies unless the workload was seen doing them:
 * credentials and keys (docs/policies.md, the default credential rules).
 */
export const SENSITIVE_READS = {
  exact: ['/etc/gshadow', '/etc/gshadow-', '/etc/shadow', '/etc/shadow-', '/etc/sudoers'],
  prefix: ['/etc/ssh/ssh_host_', '/etc/sudoers.d/', '/root/.aws/', '/root/.ssh/', '/var/run/secrets/'],
  suffix: ['id_dsa', 'id_ecdsa', 'id_ed25519', 'id_rsa'],
};

/** Directories the learned policy forbids writing to unless the workload was seen writing there. */
export const SYSTEM_DIRS = [
  '/bin/',
  '/boot/',
  '/etc/',
  '/lib/',
  '/lib64/',
  '/root/',
  '/sbin/',
  '/usr/',
  '/var/spool/cron/',
];

export interface LearnOptions {
  /** Policy name (a DNS label). */
  name: string;
  target: LearnTarget;
  /** Seconds the workload was observed (for the report). */
  durationS: number;
  /** The host's ephemeral port range. */
  ephemeral: [number, number];
  /** Files under one directory from which the directory is allowed. Default 5. */
  dirThreshold?: number;
  /** Peers in one /24 from which the /24 is allowed. Default 3. */
  subnetThreshold?: number;
  /** Safety net written into the policy. Default 10 denials in 60 s. */
  safety?: { maxDenials: number; window: string };
}

/** One line of the learned policy and what it came from. */
export interface ReportLine {
  rule: string;
  field: string;
  value: string;
  /** Observations (events) behind it. */
  count: number;
  examples: string[];
  how: string;
}

export interface LearnReport {
  policy: string;
  target: string;
  duration_s: number;
  events: number;
  lines: ReportLine[];
  /** What was seen but is not in the policy, and why. */
  notes: string[];
}

function sumCounts(map: Map<string, Seen>, keys: readonly string[]): { count: number; examples: string[] } {
  let count = 0;
  const examples: string[] = [];
  for (const k of keys) {
    const s = map.get(k);
    if (s === undefined) continue;
    count += s.count;
    for (const e of s.examples) if (examples.length < 3 && !examples.includes(e)) examples.push(e);
  }
  return { count, examples };
}

function byValue(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The learned policy (monitor mode, with a safety net) and the report of how each line came to be. */
export function buildLearned(p: Profile, o: LearnOptions): { policy: Policy; report: LearnReport } {
  const t = o.target;
  const lines: ReportLine[] = [];
  const notes: string[] = [];
  const rules: PolicyRule[] = [];
  const scoped = (kind: EventKind, m: RuleMatch): RuleMatch => ({ ...m, ...scopeMatch(t, kind) });

  // Executions: everything not seen is killed as its image starts.
  const binaries = [...p.binaries.keys()].sort(byValue);
  for (const b of binaries) {
    const s = p.binaries.get(b) as Seen;
    lines.push({
      rule: 'exec',
      field: 'binaries.notIn',
      value: b,
      count: s.count,
      examples: [...s.examples].sort(),
      how: 'exact path (a base name would let any file of that name run)',
    });
  }
  if (binaries.length > 0)
    rules.push({
      name: 'exec',
      kinds: ['process.exec'],
      match: scoped('process.exec', { binaries: { notIn: binaries } }),
      action: 'kill',
      fallback: 'reject',
    });
  else notes.push('exec: no exec was seen; no exec rule (an empty allow-list would kill every exec)');

  // Files: the allow-lists are reported (and written as comments); the policy forbids what matters.
  const readAllow = generalisePaths(p.reads.keys(), { dirThreshold: o.dirThreshold });
  const writeAllow = generalisePaths(p.writes.keys(), { dirThreshold: o.dirThreshold });
  const sensitive = {
    exact: SENSITIVE_READS.exact.filter((x) => !p.reads.has(x)),
    prefix: SENSITIVE_READS.prefix.filter((x) => ![...p.reads.keys()].some((r) => r.startsWith(x))),
    suffix: SENSITIVE_READS.suffix.filter((x) => ![...p.reads.keys()].some((r) => r.endsWith(x))),
  };
  for (const kept of ['exact', 'prefix', 'suffix'] as const) {
    for (const x of SENSITIVE_READS[kept])
      if (!sensitive[kept].includes(x))
        notes.push(`sensitive-reads: ${x} left out: the workload read it while learning`);
    for (const x of sensitive[kept])
      lines.push({
        rule: 'sensitive-reads',
        field: `paths.${kept}`,
        value: x,
        count: 0,
        examples: [],
        how: 'credential or key never read while learning: reading it kills',
      });
  }
  const paths: NonNullable<RuleMatch['paths']> = {};
  if (sensitive.exact.length > 0) paths.exact = sensitive.exact;
  if (sensitive.prefix.length > 0) paths.prefix = sensitive.prefix;
  if (sensitive.suffix.length > 0) paths.suffix = sensitive.suffix;
  if (Object.keys(paths).length > 0)
    rules.push({
      name: 'sensitive-reads',
      kinds: ['file.open'],
      match: scoped('file.open', { access: ['read'], paths }),
      action: 'kill',
      fallback: 'reject',
    });
  const writtenDirs = SYSTEM_DIRS.filter((d) => ![...p.writes.keys()].some((w) => w.startsWith(d)));
  for (const d of SYSTEM_DIRS) {
    if (writtenDirs.includes(d)) {
      lines.push({
        rule: 'system-writes',
        field: 'paths.prefix',
        value: d,
        count: 0,
        examples: [],
        how: 'never written while learning: opening for write, create or truncate kills',
      });
    } else {
      const under = [...p.writes.keys()].filter((w) => w.startsWith(d)).sort(byValue);
      notes.push(`system-writes: ${d} left out: written while learning (${under.slice(0, 3).join(', ')})`);
    }
  }
  if (writtenDirs.length > 0)
    rules.push({
      name: 'system-writes',
      kinds: ['file.open'],
      match: scoped('file.open', { access: ['write', 'create', 'truncate'], paths: { prefix: writtenDirs } }),
      action: 'kill',
      fallback: 'reject',
    });
  for (const [rule, list, map] of [
    ['files-read', readAllow, p.reads],
    ['files-written', writeAllow, p.writes],
  ] as const) {
    for (const g of list) {
      const c = sumCounts(map, g.seen);
      lines.push({
        rule,
        field: `paths.${g.form}`,
        value: g.value,
        count: c.count,
        examples: g.seen.slice(0, 3),
        how: g.how || 'exact path',
      });
    }
  }
  if (readAllow.length + writeAllow.length > 0)
    notes.push(
      'files-read, files-written: allow-lists for review, written as comments: the policy language has no paths.notIn, so opens outside them are not refused; sensitive-reads and system-writes forbid the opens that matter',
    );

  // Outbound peers and ports.
  const peers = generaliseAddresses(p.peers.keys(), { subnetThreshold: o.subnetThreshold });
  for (const g of peers) {
    const c = sumCounts(p.peers, g.seen);
    lines.push({
      rule: 'connect-peers',
      field: 'addresses.notIn',
      value: g.value,
      count: c.count,
      examples: c.examples,
      how: g.how || 'exact address',
    });
  }
  if (peers.length > 0)
    rules.push({
      name: 'connect-peers',
      kinds: ['network.connect'],
      match: scoped('network.connect', { addresses: { notIn: peers.map((g) => g.value) } }),
      action: 'deny',
      fallback: 'audit',
    });
  else if (p.unixPeers.size === 0) {
    rules.push({
      name: 'connect-peers',
      kinds: ['network.connect'],
      match: scoped('network.connect', {}),
      action: 'deny',
      fallback: 'audit',
    });
    lines.push({
      rule: 'connect-peers',
      field: '(no match)',
      value: 'every connect',
      count: 0,
      examples: [],
      how: 'no outbound connection was seen: every IP connect is refused',
    });
  }
  if (p.peers.size > 0)
    notes.push(
      'connect-peers: DNS names are not learned (no DNS sensor): peers are kept as addresses, pods of one /24 as the /24',
    );
  if (p.unixPeers.size > 0)
    notes.push(
      `connect-peers: unix sockets are not restricted (${[...p.unixPeers.keys()].sort(byValue).slice(0, 3).join(', ')})`,
    );
  const [lo, hi] = o.ephemeral;
  const ports = [...p.remotePorts.keys()].map(Number).sort((a, b) => a - b);
  const ephemeralPeers = ports.filter((x) => x >= lo && x <= hi);
  if (ports.length > 0 && ephemeralPeers.length === 0) {
    for (const port of ports) {
      const s = p.remotePorts.get(String(port)) as Seen;
      lines.push({
        rule: 'connect-ports',
        field: 'ports.notIn',
        value: String(port),
        count: s.count,
        examples: [...s.examples].sort(),
        how: 'exact port',
      });
    }
    rules.push({
      name: 'connect-ports',
      kinds: ['network.connect'],
      match: scoped('network.connect', { ports: { notIn: ports } }),
      action: 'deny',
      fallback: 'audit',
    });
  } else if (ephemeralPeers.length > 0)
    notes.push(
      `connect-ports: no port rule: peers were reached on ephemeral ports (${ephemeralPeers.join(', ')}, range ${lo}-${hi}), which no fixed list can hold`,
    );

  // Listening ports: binds to ephemeral ports without a listen are client sockets, dropped.
  const listens = [...p.listens.keys()].map(Number).sort((a, b) => a - b);
  const dropped = [...p.binds.keys()].map(Number).filter((x) => !listens.includes(x) && x >= lo && x <= hi);
  const bound = [...p.binds.keys()].map(Number).filter((x) => !dropped.includes(x) && !listens.includes(x));
  const allowedPorts = [...new Set([...listens, ...bound])].sort((a, b) => a - b);
  if (dropped.length > 0)
    notes.push(
      `listen: ephemeral binds dropped (client sockets, range ${lo}-${hi}): ${dropped.sort((a, b) => a - b).join(', ')}`,
    );
  for (const port of allowedPorts) {
    const s = p.listens.get(String(port)) ?? (p.binds.get(String(port)) as Seen);
    lines.push({
      rule: 'listen',
      field: 'ports.notIn',
      value: String(port),
      count: s.count,
      examples: [...s.examples].sort(),
      how: listens.includes(port) ? 'listening port' : 'bound port (no listen seen)',
    });
  }
  rules.push({
    name: 'listen',
    kinds: ['network.listen'],
    match: scoped('network.listen', allowedPorts.length > 0 ? { ports: { notIn: allowedPorts } } : {}),
    action: 'audit',
  });
  notes.push('listen: audited, not refused: no kernel hook refuses listen() here (docs/enforcement.md)');

  // Capabilities: an exec while holding one never seen is killed. Only the workload's own
  // binaries count: a runtime's init (runc init) acts in the container's cgroup with every
  // capability before it drops them and execs the workload, and its exec is never seen there.
  let mask = 0n;
  const own = new Set([...p.binaries.keys(), ...('binary' in t ? [t.binary] : [])]);
  const others: string[] = [];
  for (const [bin, m] of p.caps) {
    if (own.has(bin)) mask |= m;
    else others.push(bin);
  }
  if (others.length > 0)
    notes.push(
      `capabilities: not learned from processes whose exec was not seen in the workload (${others.sort(byValue).slice(0, 3).join(', ')})`,
    );
  const held = CAPABILITY_NAMES.filter((_, i) => (mask >> BigInt(i)) & 1n);
  const never = CAPABILITY_NAMES.filter((n) => !held.includes(n));
  for (const c of held)
    lines.push({
      rule: 'capabilities',
      field: '(held)',
      value: c,
      count: p.events,
      examples: [],
      how: 'effective while learning: allowed',
    });
  if (never.length > 0 && held.length > 0) {
    rules.push({
      name: 'capabilities',
      kinds: ['process.exec'],
      match: scoped('process.exec', { capabilities: [...never] }),
      action: 'kill',
      fallback: 'reject',
    });
    for (const c of never)
      lines.push({
        rule: 'capabilities',
        field: 'capabilities',
        value: c,
        count: 0,
        examples: [],
        how: 'never effective while learning: an exec holding it kills',
      });
  }

  const spec: Policy['spec'] = { mode: 'monitor', rules };
  const selector = selectorOf(t);
  if (selector !== undefined) spec.selector = selector;
  spec.safety = o.safety ?? { maxDenials: 10, window: '60s' };
  const policy: Policy = {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name: o.name, labels: { 'peregrine.dev/learned': 'true' } },
    spec,
    source: { file: '(learned)' },
  };
  const report: LearnReport = {
    policy: o.name,
    target: describeTarget(t),
    duration_s: o.durationS,
    events: p.events,
    lines,
    notes: notes.sort(byValue),
  };
  return { policy, report };
}

/** The "files-read"/"files-written" allow-lists as YAML comment lines for the reviewer. */
export function allowListComments(report: LearnReport): string[] {
  const out: string[] = [];
  for (const rule of ['files-read', 'files-written']) {
    const ls = report.lines.filter((l) => l.rule === rule);
    if (ls.length === 0) continue;
    out.push(`# ${rule} (allow-list for review; not enforced: see the report):`);
    for (const l of ls) out.push(`#   ${l.field.replace('paths.', '')} ${l.value}  (${l.count} opens)`);
  }
  return out;
}
