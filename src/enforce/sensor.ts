// SPDX-License-Identifier: Apache-2.0
// The enforcement sensor: loads bpf/enforce.bpf.c (and bpf/enforce_lsm.bpf.c
// where BPF-LSM runs) on the process object's shared maps, rewrites each rule
// slot's action to what this kernel can do (attest.ts), attaches the backends
// the loaded policies need, and turns pg_enforce_event / pg_tamper_event
// records into events and alerts. Kill and signal on exec and open run in the
// process and file sensors' own hooks (one pass per hook): those backends have
// no program here, and with --keep-enforcing those sensors pin their links.
import type { EventKind, PeregrineEvent } from '../events/types.js';
import {
  createPgEnforceEvent,
  createPgTamperEvent,
  decodePgEnforceEvent,
  decodePgTamperEvent,
  PG_ENFORCE_EVENT_OFFSET,
  PgAction,
  PgEnforceBackend,
  PgEnforceFlag,
  PgKind,
  PgRecordType,
  PgStat,
  PgTamperKind,
} from '../generated/records.js';
import { type BpfMap, BpfObject, type FeatureReport, findMount, type Link } from '../kernel/index.js';
import type { FilterImage, RuleSlot } from '../policy/compile.js';
import type { Policy } from '../policy/types.js';
import type { ProcessEntry } from '../process/cache.js';
import { objectPath } from '../sensors/paths.js';
import type { AttachReport, DecodeContext, Sensor, SensorConfig, SharedMaps } from '../sensors/sensor.js';
import {
  type Attestation,
  attestPolicies,
  type Capabilities,
  capabilitiesOf,
  failedAttestation,
} from './attest.js';
import { type PinnedState, pinRoot } from './pin.js';

/** Backend (enum pg_enforce_backend) → the program section named in events and attestations. */
export const BACKEND_NAMES: Readonly<Record<number, string>> = {
  [PgEnforceBackend.PG_ENF_CONNECT4]: 'cgroup/connect4',
  [PgEnforceBackend.PG_ENF_CONNECT6]: 'cgroup/connect6',
  [PgEnforceBackend.PG_ENF_BIND4]: 'cgroup/bind4',
  [PgEnforceBackend.PG_ENF_BIND6]: 'cgroup/bind6',
  [PgEnforceBackend.PG_ENF_SENDMSG4]: 'cgroup/sendmsg4',
  [PgEnforceBackend.PG_ENF_SENDMSG6]: 'cgroup/sendmsg6',
  [PgEnforceBackend.PG_ENF_SOCK_CREATE]: 'cgroup/sock_create',
  [PgEnforceBackend.PG_ENF_EXEC]: 'tp_btf/sched_process_exec',
  [PgEnforceBackend.PG_ENF_SYS_OPEN]: 'tracepoint/syscalls/sys_exit_openat',
  [PgEnforceBackend.PG_ENF_LSM_FILE_OPEN]: 'lsm/file_open',
  [PgEnforceBackend.PG_ENF_LSM_BPRM]: 'lsm/bprm_check_security',
  [PgEnforceBackend.PG_ENF_LSM_SOCKET_CONNECT]: 'lsm/socket_connect',
  [PgEnforceBackend.PG_ENF_LSM_PATH_UNLINK]: 'lsm/path_unlink',
  [PgEnforceBackend.PG_ENF_LSM_SOCKET_SENDMSG]: 'lsm/socket_sendmsg',
};

/** Attestation backend → programs (of enforce.bpf.c, or enforce_lsm.bpf.c for lsm/). */
const PROGRAMS: Readonly<Record<string, readonly string[]>> = {
  'cgroup/connect4': ['handle_connect4'],
  'cgroup/connect6': ['handle_connect6'],
  'cgroup/sock_create': ['handle_sock_create'],
  'cgroup/bind4': ['handle_bind4'],
  'cgroup/bind6': ['handle_bind6'],
  'cgroup/sendmsg4': ['handle_sendmsg4'],
  'cgroup/sendmsg6': ['handle_sendmsg6'],
  // No program here: they act in the process sensor's handle_exec and the file sensor's open exits.
  'tp_btf/sched_process_exec': [],
  'tracepoint/syscalls/sys_exit_openat': [],
  'lsm/file_open': ['handle_file_open'],
  'lsm/bprm_check_security': ['handle_bprm_check'],
  'lsm/path_unlink': ['handle_path_unlink'],
  'lsm/socket_connect': ['handle_socket_connect'],
  'lsm/socket_sendmsg': ['handle_socket_sendmsg'],
};

/** Self-protection (detect and alert): always attached while the sensor runs. */
const GUARD_PROGRAMS = ['handle_signal_generate', 'handle_enter_bpf'];
/** Self-protection that denies (BPF-LSM, with guardDeny); never pinned, so `peregrine cleanup` always works. */
const LSM_GUARD_PROGRAMS = ['handle_task_kill', 'handle_bpf'];

const KIND_NAMES: Readonly<Record<number, EventKind>> = {
  [PgKind.PG_KIND_NET_CONNECT]: 'network.connect',
  [PgKind.PG_KIND_NET_BIND]: 'network.bind',
  [PgKind.PG_KIND_NET_SEND]: 'network.send',
  [PgKind.PG_KIND_EXEC]: 'process.exec',
  [PgKind.PG_KIND_FILE_OPEN]: 'file.open',
  [PgKind.PG_KIND_FILE_UNLINK]: 'file.unlink',
};

const ACTION_NAMES: Readonly<Record<number, 'audit' | 'deny' | 'kill' | 'signal'>> = {
  [PgAction.PG_ACTION_AUDIT]: 'audit',
  [PgAction.PG_ACTION_DENY]: 'deny',
  [PgAction.PG_ACTION_KILL]: 'kill',
  [PgAction.PG_ACTION_SIGNAL]: 'signal',
};

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function ip(family: number, addr: readonly number[]): string {
  if (family === 2) return addr.slice(0, 4).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((addr[i] << 8) | addr[i + 1]).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

export interface RuleCounts {
  policy: string;
  rule: string;
  taken: number;
  would: number;
}

export class EnforceSensor implements Sensor {
  readonly name = 'enforce';
  readonly kinds: readonly EventKind[] = Object.values(KIND_NAMES);
  readonly recordTypes: readonly number[] = [PgRecordType.PG_REC_ENFORCE, PgRecordType.PG_REC_TAMPER];
  private object: BpfObject | undefined;
  private lsmObject: BpfObject | undefined;
  private shared: SharedMaps | undefined;
  private config: SensorConfig | undefined;
  private caps: Capabilities | undefined;
  private readonly links = new Map<string, Link>();
  private attestations = new Map<string, Attestation>();
  private slots: RuleSlot[] = [];
  private readonly countBase = new Map<number, { taken: number; would: number }>();
  private active = new Set<string>();
  private next = new Set<string>();
  private phase = 0;
  private readonly rec = createPgEnforceEvent();
  private readonly tamperRec = createPgTamperEvent();
  private readonly counters = { records: 0, tamper: 0, decode_errors: 0, attach_errors: 0 };
  /** Programs wanted but refused by the kernel at their last attach, with the error (retried on every apply). */
  private readonly failed = new Map<string, unknown>();
  /** --keep-enforcing: pin links and maps there, adopt what is pinned (set before load). */
  pinned: PinnedState | undefined;
  /** Self-protection denies (BPF-LSM only) instead of only alerting (set before useFeatures). */
  guardDeny = false;
  /** Called for every tamper record (the agent wires its alert path). */
  onTamper: ((ev: PeregrineEvent, what: string, ctx: { process: ProcessEntry }) => void) | undefined;

  load(shared: SharedMaps, config: SensorConfig): void {
    this.shared = shared;
    this.config = config;
    const obj = BpfObject.open(objectPath('enforce'));
    this.object = obj;
    this.configure(obj, shared, config);
    obj.load();
    // The per-rule counters are a shared map (every hook that acts counts there), pinned with the rest.
    if (this.pinned !== undefined) for (const name of shared.names()) this.pinned.pinMap(shared.get(name));
  }

  private configure(obj: BpfObject, shared: SharedMaps, config: SensorConfig): void {
    const own = new Set(obj.maps().map((m) => m.name));
    for (const name of shared.names()) if (own.has(name)) obj.reuseMap(name, shared.get(name));
    obj.setConst('wakeup_bytes', config.wakeupBytes);
    obj.setConst('self_tgid', config.selfPid);
    obj.setConst('host_mnt_ns', config.hostMntNs);
    obj.setConst('host_pid_ns', config.hostPidNs);
    const root = pinRoot();
    const prefix = Buffer.alloc(64);
    prefix.write(root);
    obj.setConst('pin_prefix', prefix);
    obj.setConst('pin_prefix_len', Math.min(root.length, 64));
    // Not with pins: a deny that outlived the agent would lock out `peregrine cleanup` too.
    obj.setConst('guard_deny', this.guardDeny && this.pinned === undefined);
  }

  /**
   * What this kernel can do, from probeFeatures(). Where the probe says BPF-LSM
   * works, the LSM object is loaded now; if it still fails, LSM is reported
   * unavailable with the loader's reason (never assumed).
   */
  useFeatures(report: FeatureReport): Capabilities {
    const caps = capabilitiesOf(report);
    if (caps.lsm && this.lsmObject === undefined && this.shared !== undefined && this.config !== undefined) {
      let obj: BpfObject | undefined;
      try {
        obj = BpfObject.open(objectPath('enforce_lsm'));
        this.configure(obj, this.shared, this.config);
        obj.load();
        this.lsmObject = obj;
      } catch (err) {
        obj?.close();
        caps.lsm = false;
        caps.lsmReason = `BPF-LSM object did not load: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    if (findMount('cgroup2') === undefined) {
      caps.cgroup = false;
      caps.cgroupReason = 'no cgroup2 mount in /proc/self/mounts';
    }
    this.caps = caps;
    return caps;
  }

  get capabilities(): Capabilities | undefined {
    return this.caps;
  }

  /**
   * Attests the policies and rewrites each slot's kernel action to the one
   * that runs here (deny → kill where only kill is possible, → audit where
   * the rule accepts audit). Throws AttestError (nothing changed) when a rule
   * with `fallback: reject` cannot be enforced.
   */
  resolve(img: FilterImage, policies: readonly Policy[]): void {
    const caps = this.caps ?? capabilitiesOf(NO_FEATURES);
    const att = attestPolicies(policies, caps);
    const want = new Set<string>();
    for (const slot of img.slots) {
      const a = att.get(`${slot.policy}/${slot.rule}`);
      if (a === undefined) continue; // the agent's own rules policy: audit only
      slot.action = a.effective;
      if (a.effective !== 'audit') for (const b of a.backends) want.add(b);
    }
    // Counters live per slot in the kernel; a slot that changes owner starts from the current value.
    const before = new Map(this.slots.map((x) => [x.slot, `${x.policy}/${x.rule}`]));
    for (const slot of img.slots) {
      if (before.get(slot.slot) !== `${slot.policy}/${slot.rule}`)
        this.countBase.set(slot.slot, this.rawCounts(slot.slot));
    }
    this.attestations = att;
    this.slots = img.slots;
    this.next = want;
    this.phase = 0;
  }

  /**
   * The attestation of one rule, or undefined when the rule is unknown. A rule
   * whose backend's program did not attach is unsupported, with the error:
   * the probe said the kernel can, but this attach did not.
   */
  attestation(policy: string, rule: string): Attestation | undefined {
    const a = this.attestations.get(`${policy}/${rule}`);
    if (a === undefined || a.effective === 'audit' || this.failed.size === 0) return a;
    const broken = a.backends.flatMap((b) =>
      (PROGRAMS[b] ?? []).filter((p) => this.failed.has(p)).map((p) => [b, p] as const),
    );
    if (broken.length === 0) return a;
    return failedAttestation(
      broken.map(([b, p]) => `${b} not attached: ${errorText(this.failed.get(p))}`).join('; '),
    );
  }

  /** Programs the kernel refused at their last attach, with the error; empty when all attached. */
  attachErrors(): ReadonlyMap<string, unknown> {
    return this.failed;
  }

  /**
   * Whether the enforcement record of `slot` already reports an operation of
   * `kind` (the slot's action runs in one of our backends for that kind): the
   * other sensors' record of the same operation then drops that slot, so one
   * operation gives one event per rule.
   */
  owns(slot: RuleSlot, kind: EventKind): boolean {
    if (slot.action === 'audit' || !Object.values(KIND_NAMES).includes(kind)) return false;
    const a = this.attestation(slot.policy, slot.rule);
    return a !== undefined && a.effective !== 'audit' && a.backends.length > 0 && slot.kinds.includes(kind);
  }

  attach(_kinds: ReadonlySet<EventKind>): AttachReport {
    const obj = this.object;
    if (obj === undefined) throw new Error('enforce sensor: not loaded');
    // First call after resolve(): old ∪ new (no gap before the generation flip); second: new only.
    const wantBackends = this.phase === 0 ? new Set([...this.active, ...this.next]) : this.next;
    this.phase = 1;
    this.active = new Set(this.next);
    const want = new Map<string, BpfObject>();
    for (const b of wantBackends) {
      const target = b.startsWith('lsm/') ? this.lsmObject : obj;
      if (target === undefined) continue;
      for (const p of PROGRAMS[b] ?? []) want.set(p, target);
    }
    const pinned = this.pinned;
    const guards = new Set(GUARD_PROGRAMS);
    if (this.lsmObject !== undefined && this.guardDeny && pinned === undefined)
      for (const p of LSM_GUARD_PROGRAMS) {
        want.set(p, this.lsmObject);
        guards.add(p);
      }
    for (const p of GUARD_PROGRAMS) want.set(p, obj);
    for (const p of [...this.failed.keys()]) if (!want.has(p)) this.failed.delete(p);
    for (const [name, link] of this.links) {
      if (!want.has(name)) {
        if (pinned !== undefined && !guards.has(name)) link.unpin();
        link.close();
        this.links.delete(name);
      }
    }
    // Adopted links (pinned by an earlier agent) keep enforcing; dropped when no policy needs them.
    // Only this sensor's own: the process and file sensors manage the pins of their hooks.
    const own = new Set(
      [...(obj.programs() ?? []), ...(this.lsmObject?.programs() ?? [])].map((p) => p.name),
    );
    for (const name of [...(pinned?.adoptedLinks ?? [])])
      if (own.has(name) && !want.has(name)) pinned?.dropLink(name);
    const cgroup = findMount('cgroup2');
    for (const [name, target] of want) {
      if (this.links.has(name) || pinned?.adoptedLinks.has(name) === true) continue;
      try {
        const link = target.attach(name, { cgroupPath: cgroup });
        this.links.set(name, link);
        this.failed.delete(name);
        if (pinned !== undefined && !guards.has(name)) pinned.pinLink(link);
      } catch (err) {
        // Reported by the agent as a degraded enforcement sensor; the rules using it attest unsupported.
        this.counters.attach_errors++;
        this.failed.set(name, err);
      }
    }
    const sections = new Map<string, string>();
    for (const o of [obj, this.lsmObject])
      for (const p of o?.programs() ?? []) sections.set(p.name, p.section);
    const names = [...this.links.keys(), ...(pinned?.adoptedLinks ?? [])];
    return { attached: names.map((n) => sections.get(n) ?? n), unsupported: [] };
  }

  /** Links by program name (for --keep-enforcing pins). */
  attachedLinks(): ReadonlyMap<string, Link> {
    return this.links;
  }

  map(name: string): BpfMap {
    if (this.object === undefined) throw new Error('enforce sensor: not loaded');
    return this.object.map(name);
  }

  decode(view: DataView, at: number, type: number, ctx: DecodeContext): void {
    if (type === PgRecordType.PG_REC_TAMPER) {
      this.decodeTamper(view, at, ctx);
      return;
    }
    let rec: typeof this.rec;
    try {
      rec = decodePgEnforceEvent(view, at, this.rec);
    } catch {
      this.counters.decode_errors++;
      return;
    }
    this.counters.records++;
    const process =
      ctx.process(rec.key.pid, rec.key.ktime) ?? ctx.cache.idsOnly(rec.pid, rec.key.ktime, rec.tid);
    const parent = ctx.cache.parentOf(process);
    const names = ctx.policies(view, at + PG_ENFORCE_EVENT_OFFSET.rules);
    const kind = KIND_NAMES[rec.kind] ?? 'process.exec';
    const backend = BACKEND_NAMES[rec.backend] ?? `backend ${rec.backend}`;
    const action = ACTION_NAMES[rec.action] ?? 'audit';
    const monitor = (rec.flags & PgEnforceFlag.PG_ENF_MONITOR) !== 0;
    const ev: PeregrineEvent = {
      time: ctx.clock.toIso(rec.hdr.ktime),
      node: ctx.node,
      kind,
      process: process.info,
      parent: parent?.info,
      action: monitor ? { taken: 'none', would: action, backend } : { taken: action, backend },
    };
    if (rec.family !== 0) {
      const addr = ip(rec.family, rec.addr);
      const remote = kind !== 'network.bind';
      ev.network = {
        family: rec.family === 2 ? 'inet' : 'inet6',
        protocol: rec.protocol === 6 ? 'tcp' : rec.protocol === 17 ? 'udp' : String(rec.protocol),
        local_address: remote ? '' : addr,
        local_port: remote ? 0 : rec.port,
        remote_address: remote ? addr : '',
        remote_port: remote ? rec.port : 0,
      };
    }
    if (rec.pathLen > 0 && kind !== 'process.exec') ev.file = { path: rec.path, path_source: 'kernel' };
    if ((rec.flags & PgEnforceFlag.PG_ENF_DENIED) !== 0) ev.return_code = -1; // -EPERM
    if (names.length > 0) ev.policy = { name: names[0], names };
    ctx.emit(ev, { process, parent });
  }

  private decodeTamper(view: DataView, at: number, ctx: DecodeContext): void {
    let rec: typeof this.tamperRec;
    try {
      rec = decodePgTamperEvent(view, at, this.tamperRec);
    } catch {
      this.counters.decode_errors++;
      return;
    }
    this.counters.tamper++;
    const process =
      ctx.process(rec.key.pid, rec.key.ktime) ?? ctx.cache.idsOnly(rec.pid, rec.key.ktime, rec.tid);
    if (this.onTamper === undefined) return;
    const ev: PeregrineEvent = {
      time: ctx.clock.toIso(rec.hdr.ktime),
      node: ctx.node,
      kind: 'kernel.bpf',
      process: process.info,
      kernel: {
        syscall: rec.what === PgTamperKind.PG_TAMPER_SIGNAL ? 'kill' : 'bpf',
        path: rec.path || undefined,
      },
      return_code: rec.result,
    };
    const what =
      rec.what === PgTamperKind.PG_TAMPER_SIGNAL
        ? `signal ${rec.signal} sent to the agent (pid ${rec.target}) by ${rec.comm} (pid ${rec.pid})`
        : `bpf() command ${rec.bpfCmd} on the agent's objects${rec.path ? ` (${rec.path})` : ''} by ${rec.comm} (pid ${rec.pid})`;
    this.onTamper(ev, what, { process });
  }

  /** Per rule: actions taken and would-be actions (monitor), summed over CPUs, since the rule got its slot. */
  ruleCounts(): RuleCounts[] {
    const out: RuleCounts[] = [];
    for (const s of this.slots) {
      if (!this.attestations.has(`${s.policy}/${s.rule}`)) continue;
      const now = this.rawCounts(s.slot);
      const base = this.countBase.get(s.slot) ?? { taken: 0, would: 0 };
      out.push({
        policy: s.policy,
        rule: s.rule,
        taken: now.taken - base.taken,
        would: now.would - base.would,
      });
    }
    return out;
  }

  private rawCounts(slot: number): { taken: number; would: number } {
    let taken = 0;
    let would = 0;
    if (this.object === undefined) return { taken, would };
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot);
    const counts = this.shared?.get('pg_enf_counts');
    for (const v of counts?.lookupPerCpu(key) ?? []) {
      taken += Number(v.readBigUInt64LE(0));
      would += Number(v.readBigUInt64LE(8));
    }
    return { taken, would };
  }

  /** The backends the loaded policies act through now (attestation names, e.g. 'cgroup/connect4'). */
  activeBackends(): ReadonlySet<string> {
    return this.active;
  }

  stats(stats: BpfMap): Record<string, number> {
    let taken = 0;
    let would = 0;
    for (const c of this.ruleCounts()) {
      taken += c.taken;
      would += c.would;
    }
    let drops = 0;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(PgStat.PG_STAT_ENFORCE_DROP);
    for (const v of stats.lookupPerCpu(key) ?? []) drops += Number(v.readBigUInt64LE(0));
    return {
      ...this.counters,
      // Actions were taken; their records were lost (ring buffer full).
      kernel_record_drops: drops,
      links: this.links.size,
      adopted_links: this.pinned?.adoptedLinks.size ?? 0,
      actions_taken: taken,
      actions_would: would,
    };
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.lsmObject?.close();
    this.lsmObject = undefined;
    this.object?.close();
    this.object = undefined;
  }
}

// Before the probe ran: nothing but what every kernel here has is assumed.
const NO: FeatureReport[keyof FeatureReport] = { status: 'inconclusive', reason: 'not probed yet' };
const NO_FEATURES = {
  tracepoint: NO,
  tpBtf: NO,
  rawTracepoint: NO,
  lsm: NO,
  fentry: NO,
  fexit: NO,
  kprobe: NO,
  kprobeOverride: NO,
  cgroupConnect4: NO,
  cgroupSockCreate: NO,
  xdp: NO,
  ringbuf: NO,
  sendSignal: NO,
  iterTask: NO,
  bpfLsm: NO,
  durationMs: 0,
} as FeatureReport;
