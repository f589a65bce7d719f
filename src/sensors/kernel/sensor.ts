// SPDX-License-Identifier: Apache-2.0
// The kernel-change sensor: loads bpf/kernel.bpf.c on the process object's
// shared maps, attaches the hooks of the kinds the policies watch (module
// load, bpf(), kexec, memfd_create), and turns their records into events.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EventKind, PeregrineEvent } from '../../events/types.js';
import {
  createPgBpfEvent,
  createPgKexecEvent,
  createPgMemfdEvent,
  createPgModuleEvent,
  decodePgBpfEvent,
  decodePgKexecEvent,
  decodePgMemfdEvent,
  decodePgModuleEvent,
  PG_SYS_COMMON_OFFSET,
  PgRecordType,
  PgStat,
  type PgSysCommon,
} from '../../generated/records.js';
import { type BpfMap, BpfObject, ensureTracefs, type Link } from '../../kernel/index.js';
import { objectPath } from '../paths.js';
import { type DecodeCounters, kernelCounters, newCounters, sysEvent } from '../privilege/syscall.js';
import type { AttachReport, DecodeContext, Sensor, SensorConfig, SharedMaps } from '../sensor.js';
import { bpfInfo, KERNEL_KINDS, kexecInfo, memfdInfo, moduleInfo } from './decode.js';

/** The syscalls behind each kind (bpf/kernel.bpf.c says why each hook); each has an enter and an exit program. */
const SYSCALLS: Readonly<Partial<Record<EventKind, readonly string[]>>> = {
  'kernel.module_load': ['init_module', 'finit_module'],
  'kernel.bpf': ['bpf'],
  'kernel.kexec': ['kexec_load', 'kexec_file_load'],
  'process.memfd_create': ['memfd_create'],
};

// tp_btf/module_load: the module's name; exists only with CONFIG_MODULES.
const MODULE_NAME_PROGRAM = 'handle_module_load';

/** Kernel counters of this sensor (enum pg_stat, 128..159), by the name stats() reports. */
const KERNEL_COUNTERS = {
  kernel_records: PgStat.PG_STAT_KERNEL,
  kernel_drops: PgStat.PG_STAT_KERNEL_DROP,
  kernel_filtered: PgStat.PG_STAT_KERNEL_FILTERED,
  kernel_state_full: PgStat.PG_STAT_KERNEL_STATE_FULL,
  kernel_self: PgStat.PG_STAT_KERNEL_SELF,
  kernel_path_truncated: PgStat.PG_STAT_KERNEL_PATH_TRUNCATED,
} as const;

// Every record of this sensor has its pg_sys_common at 16 (after the header).
const SYS_AT = 16;

/** A tracepoint's tracefs directory exists: the kernel has that syscall (or event) to trace. */
function hasTracepoint(category: string, event: string): boolean {
  try {
    return existsSync(join(ensureTracefs(), 'events', category, event));
  } catch {
    return false;
  }
}

export class KernelSensor implements Sensor {
  readonly name = 'kernel';
  readonly kinds: readonly EventKind[] = [...KERNEL_KINDS.values()];
  readonly recordTypes: readonly number[] = [
    PgRecordType.PG_REC_MODULE,
    PgRecordType.PG_REC_BPF,
    PgRecordType.PG_REC_KEXEC,
    PgRecordType.PG_REC_MEMFD,
  ];
  private object: BpfObject | undefined;
  private moduleNames = false;
  private readonly links = new Map<string, Link>();
  private readonly module = createPgModuleEvent();
  private readonly bpf = createPgBpfEvent();
  private readonly kexec = createPgKexecEvent();
  private readonly memfd = createPgMemfdEvent();
  private readonly counters: DecodeCounters = newCounters();

  load(shared: SharedMaps, config: SensorConfig): void {
    const obj = BpfObject.open(objectPath('kernel'));
    this.object = obj;
    const own = new Set(obj.maps().map((m) => m.name));
    for (const name of shared.names()) if (own.has(name)) obj.reuseMap(name, shared.get(name));
    obj.setConst('wakeup_bytes', config.wakeupBytes);
    obj.setConst('self_tgid', config.selfPid);
    obj.setConst('host_mnt_ns', config.hostMntNs);
    obj.setConst('host_pid_ns', config.hostPidNs);
    // A tp_btf program for a tracepoint the kernel lacks fails the whole load: leave it out.
    this.moduleNames = hasTracepoint('module', 'module_load');
    if (!this.moduleNames) obj.setAutoload(MODULE_NAME_PROGRAM, false);
    obj.load();
  }

  attach(kinds: ReadonlySet<EventKind>): AttachReport {
    const obj = this.object;
    if (obj === undefined) throw new Error('kernel sensor: not loaded');
    const want = new Set<string>();
    const unsupported: string[] = [];
    for (const k of kinds) {
      const syscalls = SYSCALLS[k];
      if (syscalls === undefined) continue;
      const present = syscalls.filter((s) => hasTracepoint('syscalls', `sys_enter_${s}`));
      if (present.length < syscalls.length) {
        const missing = syscalls.filter((s) => !present.includes(s));
        unsupported.push(`${k}: this kernel has no ${missing.join(', ')} syscall (no tracepoint)`);
      }
      for (const s of present) {
        want.add(`handle_enter_${s}`);
        want.add(`handle_exit_${s}`);
      }
      if (k === 'kernel.module_load' && present.length > 0 && this.moduleNames) want.add(MODULE_NAME_PROGRAM);
    }
    for (const [name, link] of this.links) {
      if (!want.has(name)) {
        link.close();
        this.links.delete(name);
      }
    }
    for (const name of want) if (!this.links.has(name)) this.links.set(name, obj.attach(name));
    const sections = new Map(obj.programs().map((p) => [p.name, p.section]));
    return { attached: [...this.links.keys()].map((n) => sections.get(n) ?? n), unsupported };
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
    const emit = (sys: PgSysCommon, ktime: number, part: PeregrineEvent['kernel']) => {
      const kind = KERNEL_KINDS.get(sys.kind);
      if (kind === undefined) {
        this.counters.unknown_kinds++;
        return;
      }
      this.counters.records++;
      const e = sysEvent(view, rulesAt, sys, ktime, kind, ctx, this.counters);
      e.ev.kernel = part;
      ctx.emit(e.ev, e);
    };
    switch (type) {
      case PgRecordType.PG_REC_MODULE: {
        const rec = decodePgModuleEvent(view, at, this.module);
        emit(rec.sys, rec.hdr.ktime, moduleInfo(rec));
        return;
      }
      case PgRecordType.PG_REC_BPF: {
        const rec = decodePgBpfEvent(view, at, this.bpf);
        emit(rec.sys, rec.hdr.ktime, bpfInfo(rec));
        return;
      }
      case PgRecordType.PG_REC_KEXEC: {
        const rec = decodePgKexecEvent(view, at, this.kexec);
        emit(rec.sys, rec.hdr.ktime, kexecInfo(rec));
        return;
      }
      case PgRecordType.PG_REC_MEMFD: {
        const rec = decodePgMemfdEvent(view, at, this.memfd);
        emit(rec.sys, rec.hdr.ktime, memfdInfo(rec));
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
