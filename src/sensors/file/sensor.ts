// SPDX-License-Identifier: Apache-2.0
// The file sensor: loads bpf/file.bpf.c against the shared maps, attaches the
// syscall tracepoints the policies' file kinds need, and turns PG_REC_FILE
// records into file.* events.

import type { PinnedState } from '../../enforce/pin.js';
import type { EventKind, PeregrineEvent } from '../../events/types.js';
import {
  createPgFileEvent,
  decodePgFileEvent,
  PG_FILE_EVENT_OFFSET,
  PgRecordType,
  PgStat,
} from '../../generated/records.js';
import { type BpfMap, BpfObject, type Link } from '../../kernel/index.js';
import type { ProcessEntry } from '../../process/cache.js';
import { objectPath } from '../paths.js';
import type { AttachReport, DecodeContext, Sensor, SensorConfig, SharedMaps } from '../sensor.js';
import { fileEventParts } from './decode.js';

/*
 * Programs per kind. Opens are pairs: the exit program first, so an enter
 * never saves state no exit will take (and detached after the enter).
 */
const PROGRAMS: Readonly<Record<string, readonly string[]>> = {
  'file.open': [
    'handle_exit_openat',
    'handle_enter_openat',
    'handle_exit_openat2',
    'handle_enter_openat2',
    'handle_exit_open',
    'handle_enter_open',
    'handle_exit_creat',
    'handle_enter_creat',
  ],
  'file.unlink': ['handle_unlink', 'handle_unlinkat', 'handle_rmdir'],
  'file.rename': ['handle_rename', 'handle_renameat', 'handle_renameat2'],
  'file.link': ['handle_link', 'handle_linkat'],
  'file.symlink': ['handle_symlink', 'handle_symlinkat'],
  'file.chmod': ['handle_chmod', 'handle_fchmodat', 'handle_fchmodat2', 'handle_fchmod'],
  'file.chown': ['handle_chown', 'handle_lchown', 'handle_fchownat', 'handle_fchown'],
  'file.truncate': ['handle_truncate', 'handle_ftruncate'],
  'file.mount': ['handle_mount'],
};

/** The attestation backend of kill/signal on open, which runs in this sensor's open exits. */
const OPEN_BACKEND = 'tracepoint/syscalls/sys_exit_openat';

/*
 * Syscalls some kernels or architectures lack (no tracepoint, so no attach):
 * open/creat on arm64 and riscv, fchmodat2 before 6.6. The kind is still
 * covered by its *at() form.
 */
const OPTIONAL = new Set([
  'handle_enter_open',
  'handle_exit_open',
  'handle_enter_creat',
  'handle_exit_creat',
  'handle_fchmodat2',
]);

export class FileSensor implements Sensor {
  readonly name = 'file';
  readonly kinds = Object.keys(PROGRAMS) as EventKind[];
  readonly recordTypes = [PgRecordType.PG_REC_FILE];
  private object: BpfObject | undefined;
  private readonly links = new Map<string, Link>();
  /** Optional programs whose tracepoint this kernel lacks (tried once). */
  private readonly absent = new Set<string>();
  private readonly rec = createPgFileEvent();
  private readonly counters = { records: 0, decode_errors: 0, unknown_kinds: 0, unresolved: 0 };

  load(shared: SharedMaps, config: SensorConfig): void {
    const obj = BpfObject.open(objectPath('file'));
    this.object = obj;
    try {
      for (const name of shared.names()) obj.reuseMap(name, shared.get(name));
      obj.setConst('wakeup_bytes', config.wakeupBytes);
      obj.setConst('self_tgid', config.selfPid);
      obj.setConst('host_mnt_ns', config.hostMntNs);
      obj.setConst('host_pid_ns', config.hostPidNs);
      obj.load();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  attach(kinds: ReadonlySet<EventKind>): AttachReport {
    const obj = this.object;
    const report: AttachReport = { attached: [], unsupported: [] };
    if (obj === undefined) return report;
    const wanted = new Set<string>();
    for (const kind of kinds) for (const p of PROGRAMS[kind] ?? []) wanted.add(p);
    // Detach first what is no longer wanted (enter programs before their exits).
    for (const name of [...this.links.keys()].reverse()) {
      if (wanted.has(name)) continue;
      this.links.get(name)?.close();
      this.links.delete(name);
    }
    for (const kind of kinds) {
      const programs = PROGRAMS[kind];
      if (programs === undefined) continue;
      for (const name of programs) {
        if (this.links.has(name) || this.absent.has(name)) continue;
        try {
          this.links.set(name, obj.attach(name));
        } catch (err) {
          if (OPTIONAL.has(name)) {
            this.absent.add(name);
            continue;
          }
          report.unsupported.push(
            `${kind}: attach ${name}: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
    }
    const sections = new Map(obj.programs().map((p) => [p.name, p.section]));
    for (const name of this.links.keys()) report.attached.push(sections.get(name) ?? name);
    return report;
  }

  /** Open programs' links pinned for --keep-enforcing (kill/signal on open acts in them). */
  private readonly pinnedLinks = new Set<string>();

  keepEnforcing(pinned: PinnedState, backends: ReadonlySet<string>): void {
    const keep = backends.has(OPEN_BACKEND);
    for (const name of PROGRAMS['file.open']) {
      const link = this.links.get(name);
      if (keep && link !== undefined && !this.pinnedLinks.has(name)) {
        // Attached already: replacing an earlier agent's pin leaves no moment without the hook.
        pinned.dropLink(name);
        pinned.pinLink(link);
        this.pinnedLinks.add(name);
      } else if (!keep && this.pinnedLinks.has(name)) {
        link?.unpin();
        pinned.dropLink(name);
        this.pinnedLinks.delete(name);
      } else if (!keep) {
        pinned.dropLink(name); // an earlier agent's, no longer needed
      }
    }
  }

  decode(view: DataView, at: number, type: number, ctx: DecodeContext): void {
    if (type !== PgRecordType.PG_REC_FILE) return;
    let parts: ReturnType<typeof fileEventParts>;
    const rec = this.rec;
    try {
      decodePgFileEvent(view, at, rec);
      parts = fileEventParts(rec);
    } catch {
      this.counters.decode_errors++;
      return;
    }
    if (parts === undefined) {
      this.counters.unknown_kinds++;
      return;
    }
    this.counters.records++;
    const process =
      ctx.process(rec.key.pid, rec.key.ktime) ?? this.idsOnly(ctx, rec.pid, rec.key.ktime, rec.tid);
    const parent = ctx.cache.parentOf(process);
    const names = ctx.policies(view, at + PG_FILE_EVENT_OFFSET.rules);
    const ev: PeregrineEvent = {
      time: ctx.clock.toIso(rec.hdr.ktime),
      node: ctx.node,
      kind: parts.kind,
      process: process.info,
      parent: parent?.info,
      file: parts.file,
    };
    if (parts.return_code !== undefined) ev.return_code = parts.return_code;
    if (names.length > 0) ev.policy = { name: names[0], names };
    ctx.emit(ev, { process, parent });
  }

  stats(stats: BpfMap): Record<string, number> {
    const k = (i: number): number => {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(i);
      let n = 0;
      for (const v of stats.lookupPerCpu(key) ?? []) n += Number(v.readBigUInt64LE(0));
      return n;
    };
    return {
      records: this.counters.records,
      decode_errors: this.counters.decode_errors,
      unknown_kinds: this.counters.unknown_kinds,
      unresolved: this.counters.unresolved,
      kernel_submitted: k(PgStat.PG_STAT_FILE),
      kernel_drops: k(PgStat.PG_STAT_FILE_DROP),
      kernel_filtered: k(PgStat.PG_STAT_FILE_FILTERED),
      kernel_truncated: k(PgStat.PG_STAT_FILE_TRUNCATED),
      kernel_faults: k(PgStat.PG_STAT_FILE_FAULT),
      kernel_pending_full: k(PgStat.PG_STAT_FILE_PENDING_FULL),
    };
  }

  // A process the cache no longer knows: ids only, so the event still goes out (counted).
  private idsOnly(ctx: DecodeContext, pid: number, ktime: number, tid: number): ProcessEntry {
    this.counters.unresolved++;
    return ctx.cache.idsOnly(pid, ktime, tid);
  }

  close(): void {
    // Enter programs before their exits: the reverse of attach order.
    for (const name of [...this.links.keys()].reverse()) this.links.get(name)?.close();
    this.links.clear();
    this.object?.close();
    this.object = undefined;
  }
}
