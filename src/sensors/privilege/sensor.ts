// SPDX-License-Identifier: Apache-2.0
// The privilege sensor: loads bpf/privilege.bpf.c on the process object's
// shared maps, attaches the syscall hooks of the kinds the policies watch, and
// turns setid / capset / namespace / ptrace / prctl records into events.
import type { EventKind, PtraceInfo } from '../../events/types.js';
import {
  createPgCapsetEvent,
  createPgNsEvent,
  createPgPrctlEvent,
  createPgPtraceEvent,
  createPgSetidEvent,
  decodePgCapsetEvent,
  decodePgNsEvent,
  decodePgPrctlEvent,
  decodePgPtraceEvent,
  decodePgSetidEvent,
  PG_SYS_COMMON_OFFSET,
  PgRecordType,
  PgStat,
  type PgSysCommon,
  PgSysFlag,
} from '../../generated/records.js';
import { type BpfMap, BpfObject, type Link } from '../../kernel/index.js';
import { objectPath } from '../paths.js';
import type { AttachReport, DecodeContext, Sensor, SensorConfig, SharedMaps } from '../sensor.js';
import { capsetInfo, nsInfo, PRIV_KINDS, prctlInfo, ptraceRequestName, setidInfo } from './decode.js';
import { type DecodeCounters, kernelCounters, newCounters, sysEvent } from './syscall.js';

const pair = (sys: string): string[] => [`handle_enter_${sys}`, `handle_exit_${sys}`];

/**
 * Programs per kind (bpf/privilege.bpf.c says why each hook). Only the kinds
 * some policy watches are attached: clone runs on every fork, and costs
 * nothing here while no rule watches namespace.unshare.
 */
const PROGRAMS: Readonly<Partial<Record<EventKind, readonly string[]>>> = {
  'privilege.setuid': ['setuid', 'setreuid', 'setresuid', 'setfsuid'].flatMap(pair),
  'privilege.setgid': ['setgid', 'setregid', 'setresgid', 'setfsgid'].flatMap(pair),
  'privilege.capset': pair('capset'),
  'privilege.prctl': pair('prctl'),
  'namespace.unshare': ['unshare', 'clone', 'clone3'].flatMap(pair),
  'namespace.setns': pair('setns'),
  'process.ptrace': pair('ptrace'),
};

/** Kernel counters of this sensor (enum pg_stat, 96..127), by the name stats() reports. */
const KERNEL_COUNTERS = {
  kernel_records: PgStat.PG_STAT_PRIV,
  kernel_drops: PgStat.PG_STAT_PRIV_DROP,
  kernel_filtered: PgStat.PG_STAT_PRIV_FILTERED,
  kernel_state_full: PgStat.PG_STAT_PRIV_STATE_FULL,
  kernel_ptrace_no_target: PgStat.PG_STAT_PTRACE_NO_TARGET,
} as const;

// Every record of this sensor has its pg_sys_common at 16 (after the header).
const SYS_AT = 16;

export class PrivilegeSensor implements Sensor {
  readonly name = 'privilege';
  readonly kinds: readonly EventKind[] = [...PRIV_KINDS.values()];
  readonly recordTypes: readonly number[] = [
    PgRecordType.PG_REC_SETID,
    PgRecordType.PG_REC_CAPSET,
    PgRecordType.PG_REC_NS,
    PgRecordType.PG_REC_PTRACE,
    PgRecordType.PG_REC_PRCTL,
  ];
  private object: BpfObject | undefined;
  private readonly links = new Map<string, Link>();
  // One decode target per record type, reused (no allocation per decode but the event).
  private readonly setid = createPgSetidEvent();
  private readonly capset = createPgCapsetEvent();
  private readonly ns = createPgNsEvent();
  private readonly ptrace = createPgPtraceEvent();
  private readonly prctl = createPgPrctlEvent();
  private readonly counters: DecodeCounters = newCounters();

  load(shared: SharedMaps, config: SensorConfig): void {
    const obj = BpfObject.open(objectPath('privilege'));
    this.object = obj;
    const own = new Set(obj.maps().map((m) => m.name));
    for (const name of shared.names()) if (own.has(name)) obj.reuseMap(name, shared.get(name));
    obj.setConst('wakeup_bytes', config.wakeupBytes);
    obj.setConst('self_tgid', config.selfPid);
    obj.setConst('host_mnt_ns', config.hostMntNs);
    obj.setConst('host_pid_ns', config.hostPidNs);
    obj.load();
  }

  attach(kinds: ReadonlySet<EventKind>): AttachReport {
    const obj = this.object;
    if (obj === undefined) throw new Error('privilege sensor: not loaded');
    const want = new Set<string>();
    for (const k of kinds) for (const p of PROGRAMS[k] ?? []) want.add(p);
    for (const [name, link] of this.links) {
      if (!want.has(name)) {
        link.close();
        this.links.delete(name);
      }
    }
    for (const name of want) if (!this.links.has(name)) this.links.set(name, obj.attach(name));
    const sections = new Map(obj.programs().map((p) => [p.name, p.section]));
    return { attached: [...this.links.keys()].map((n) => sections.get(n) ?? n), unsupported: [] };
  }

  decode(view: DataView, at: number, type: number, ctx: DecodeContext): void {
    try {
      this.decodeRecord(view, at, type, ctx);
    } catch {
      this.counters.decode_errors++;
    }
  }

  private decodeRecord(view: DataView, at: number, type: number, ctx: DecodeContext): void {
    const rulesAt = at + SYS_AT + PG_SYS_COMMON_OFFSET.rules;
    const start = (sys: PgSysCommon, ktime: number) => {
      const kind = PRIV_KINDS.get(sys.kind);
      if (kind === undefined) {
        this.counters.unknown_kinds++;
        return undefined;
      }
      this.counters.records++;
      return sysEvent(view, rulesAt, sys, ktime, kind, ctx, this.counters);
    };
    switch (type) {
      case PgRecordType.PG_REC_SETID: {
        const rec = decodePgSetidEvent(view, at, this.setid);
        const e = start(rec.sys, rec.hdr.ktime);
        if (e === undefined) return;
        e.ev.privilege = setidInfo(rec);
        ctx.emit(e.ev, e);
        return;
      }
      case PgRecordType.PG_REC_CAPSET: {
        const rec = decodePgCapsetEvent(view, at, this.capset);
        const e = start(rec.sys, rec.hdr.ktime);
        if (e === undefined) return;
        e.ev.privilege = capsetInfo(rec);
        ctx.emit(e.ev, e);
        return;
      }
      case PgRecordType.PG_REC_NS: {
        const rec = decodePgNsEvent(view, at, this.ns);
        const e = start(rec.sys, rec.hdr.ktime);
        if (e === undefined) return;
        e.ev.privilege = nsInfo(rec);
        ctx.emit(e.ev, e);
        return;
      }
      case PgRecordType.PG_REC_PTRACE: {
        const rec = decodePgPtraceEvent(view, at, this.ptrace);
        const e = start(rec.sys, rec.hdr.ktime);
        if (e === undefined) return;
        const info: PtraceInfo = {
          request: ptraceRequestName(rec.request),
          target_pid: rec.targetVpid,
          target_exec_id: '',
          target_binary: '',
        };
        if (rec.sys.flags & PgSysFlag.PG_SYS_TARGET_FOUND) {
          // target_pid in the init pid namespace, like every pid in events.
          info.target_pid = rec.targetPid;
          const target = ctx.process(rec.target.pid, rec.target.ktime);
          if (target !== undefined) {
            info.target_exec_id = target.info.exec_id;
            info.target_binary = target.info.binary;
          }
        }
        e.ev.ptrace = info;
        ctx.emit(e.ev, e);
        return;
      }
      case PgRecordType.PG_REC_PRCTL: {
        const rec = decodePgPrctlEvent(view, at, this.prctl);
        const e = start(rec.sys, rec.hdr.ktime);
        if (e === undefined) return;
        e.ev.privilege = prctlInfo(rec);
        ctx.emit(e.ev, e);
        return;
      }
      default:
        this.counters.unknown_kinds++;
    }
  }

  stats(stats: BpfMap): Record<string, number> {
    return { ...this.counters, ...kernelCounters(stats, KERNEL_COUNTERS) };
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.object?.close();
    this.object = undefined;
  }
}
