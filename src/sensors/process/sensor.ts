// SPDX-License-Identifier: Apache-2.0
// The process sensor: loads bpf/process.bpf.c, seeds the cache from the task
// iterator, then turns exec / fork / exit records into events.
import { readFileSync } from 'node:fs';
import type { PinnedState } from '../../enforce/pin.js';
import type { EventContext } from '../../events/encode.js';
import type { PeregrineEvent } from '../../events/types.js';
import {
  createPgExecEvent,
  createPgExitEvent,
  createPgForkEvent,
  decodePgExecEvent,
  decodePgExitEvent,
  decodePgForkEvent,
  PgRecordType,
  PgStat,
} from '../../generated/records.js';
import {
  type BpfMap,
  BpfObject,
  type Link,
  RingBuffer,
  type RingBufferStats,
  readIterator,
} from '../../kernel/index.js';
import type { ProcessCache } from '../../process/cache.js';
import type { KernelClock } from '../../process/identity.js';
import { signalName, splitExitStatus } from '../../process/signals.js';
import { objectPath } from '../paths.js';
import { execRecord, forkRecord, splitArgs } from './decode.js';

export interface ProcessSensorOptions {
  cache: ProcessCache;
  clock: KernelClock;
  /** Node name printed in events. */
  node: string;
  /** Ring buffer bytes: a power of two, at least one page. */
  ringBytes: number;
  /** Kernel wakes the consumer once this many bytes wait; 0 wakes on every record. */
  wakeupBytes: number;
  /** Safety-net consume interval (ms): bounds the latency of records below the threshold. */
  pollIntervalMs: number;
  /** Capacity of the kernel's identity map (pg_execs). */
  execsMax: number;
  /** Also emit `process.fork` events (forks always update the cache). */
  forks?: boolean;
  emit: (ev: PeregrineEvent, ctx: EventContext) => void;
  /** Records of other sensors (one shared ring buffer): their decoder, by record type. */
  other?: (view: DataView, at: number, type: number) => boolean;
  /** Called after each batch: sinks write what the batch produced in one go. */
  flush: () => void;
  /** A pinned map to reuse for a shared map before load (--keep-enforcing adopts pinned state). */
  reuse?: (name: string) => BpfMap | undefined;
  /**
   * --keep-enforcing: the lifecycle hooks' links are pinned here, so exec
   * kill rules keep acting and pg_execs keeps every identity (binary
   * selectors) after the agent is gone; an earlier agent's pins are replaced.
   */
  pinned?: () => PinnedState | undefined;
}

export interface ProcessSensorStats {
  /** Records decoded, per type. */
  records: { exec: number; fork: number; exit: number; proc: number };
  /** Records the kernel could not submit (ring buffer full), per type. */
  kernel_drops: { exec: number; fork: number; exit: number; proc: number };
  /** Kernel-side counters worth watching. */
  kernel: { key_miss: number; execs_full: number; path_truncated: number; args_truncated: number };
  decode_errors: number;
  unknown_types: number;
  /** Exits of identities the cache no longer knew (emitted with ids only). */
  exit_unresolved: number;
  ring: RingBufferStats | undefined;
  /** pg_events now: its size and the bytes waiting to be consumed. */
  ring_fill?: { size: number; used: number };
}

const PROGRAMS = ['handle_exec', 'handle_fork', 'handle_exit', 'handle_cgroup_mkdir'] as const;

export class ProcessSensor {
  readonly attached: string[] = [];
  private readonly opts: ProcessSensorOptions;
  private object: BpfObject | undefined;
  private readonly links: Link[] = [];
  private ring: RingBuffer | undefined;
  private batch: Buffer | undefined;
  private view: DataView | undefined;
  // One decode target per record type, reused for every record (no allocation per decode).
  private readonly execRec = createPgExecEvent();
  private readonly forkRec = createPgForkEvent();
  private readonly exitRec = createPgExitEvent();
  private readonly counters = {
    records: { exec: 0, fork: 0, exit: 0, proc: 0 },
    decode_errors: 0,
    unknown_types: 0,
    exit_unresolved: 0,
  };

  constructor(opts: ProcessSensorOptions) {
    this.opts = opts;
  }

  static emptyStats(): ProcessSensorStats {
    const zero = { exec: 0, fork: 0, exit: 0, proc: 0 };
    return {
      records: { ...zero },
      kernel_drops: { ...zero },
      kernel: { key_miss: 0, execs_full: 0, path_truncated: 0, args_truncated: 0 },
      decode_errors: 0,
      unknown_types: 0,
      exit_unresolved: 0,
      ring: undefined,
    };
  }

  /** Opens and loads the object with this run's configuration. */
  load(): void {
    const obj = BpfObject.open(objectPath('process'));
    this.object = obj;
    obj.setConst('wakeup_bytes', this.opts.wakeupBytes);
    obj.setConst('self_tgid', process.pid);
    obj.setMaxEntries('pg_events', this.opts.ringBytes);
    obj.setMaxEntries('pg_execs', this.opts.execsMax);
    // --keep-enforcing: the shared maps pinned by an earlier agent (src/enforce/pin.ts) are adopted.
    for (const name of ProcessSensor.SHARED_MAPS) {
      const pinned = this.opts.reuse?.(name);
      if (pinned !== undefined) obj.reuseMap(name, pinned);
    }
    obj.load();
  }

  /**
   * Attaches the lifecycle hooks, seeds the cache from the task iterator, then
   * starts consuming. Hooks go first so nothing starting meanwhile is missed;
   * records queued during the seed are consumed after it, so their parents
   * resolve. Returns how many processes were seeded.
   */
  start(): number {
    const obj = this.mustObject();
    for (const name of PROGRAMS) {
      const link = obj.attach(name);
      this.links.push(link);
      this.attached.push(obj.programs().find((p) => p.name === name)?.section ?? name);
      // Attached first, then the earlier agent's pin is replaced: no moment without the hook.
      const pinned = this.opts.pinned?.();
      if (pinned !== undefined) {
        pinned.dropLink(name);
        pinned.pinLink(link);
      }
    }
    const seeded = this.seed(obj);
    this.ring = new RingBuffer(obj.map('pg_events'), (batch, used) => this.onBatch(batch, used), {
      batchBytes: 1024 * 1024,
      pollIntervalMs: this.opts.pollIntervalMs,
    });
    return seeded;
  }

  /** The loaded object's maps, for the sensors that share them. */
  map(name: string): BpfMap {
    return this.mustObject().map(name);
  }

  /** Names of the maps every sensor object shares with this one (bpf/lib/maps.h, bpf/lib/filter.h). */
  static readonly SHARED_MAPS = [
    'pg_events',
    'pg_execs',
    'pg_stats',
    'pg_f_config',
    'pg_f_sets',
    'pg_f_values',
    'pg_f_paths',
    'pg_f_prefix',
    'pg_f_suffix',
    'pg_f_addrs',
    'pg_f_actions',
    'pg_enf_counts',
  ] as const;

  private mustObject(): BpfObject {
    if (this.object === undefined) throw new Error('process sensor: not loaded');
    return this.object;
  }

  private seed(obj: BpfObject): number {
    const link = obj.attach('handle_task_iter');
    let out: Buffer;
    try {
      out = readIterator(link);
    } finally {
      link.close();
    }
    this.attached.push('iter/task (seed)');
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const rec = this.execRec;
    let off = 0;
    let n = 0;
    while (off + 16 <= out.byteLength) {
      const size = view.getUint32(off + 4, true);
      if (size < 16 || off + size > out.byteLength) {
        this.counters.decode_errors++;
        break;
      }
      try {
        decodePgExecEvent(view, off, rec);
        // The iterator leaves argv to /proc: reading another process's memory needs a sleepable program.
        const args = rec.argsLen === 0 ? readCmdline(rec.pid) : undefined;
        this.opts.cache.upsert(execRecord(rec, args));
        this.counters.records.proc++;
        n++;
      } catch {
        this.counters.decode_errors++;
      }
      off += size;
    }
    return n;
  }

  /** Decodes one ring-buffer batch: `[u32 length][record]...`, the Buffer reused across batches. */
  onBatch(batch: Buffer, used: number): void {
    if (batch !== this.batch) {
      this.batch = batch;
      this.view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    }
    const view = this.view as DataView;
    let off = 0;
    while (off + 4 <= used) {
      const len = view.getUint32(off, true);
      const at = off + 4;
      off = at + len;
      if (len < 16 || off > used) {
        this.counters.decode_errors++;
        break;
      }
      try {
        this.onRecord(view, at, view.getUint16(at, true));
      } catch {
        this.counters.decode_errors++;
      }
    }
    this.opts.flush();
  }

  private onRecord(view: DataView, at: number, type: number): void {
    const { cache, clock, node } = this.opts;
    switch (type) {
      case PgRecordType.PG_REC_EXEC: {
        const rec = decodePgExecEvent(view, at, this.execRec);
        this.counters.records.exec++;
        // The identity this exec replaced (the forked shell child, or the previous image) ends here.
        const prev = rec.prev.ktime !== 0 ? cache.get(rec.prev.pid, rec.prev.ktime) : undefined;
        if (prev !== undefined) cache.markExited(prev, performance.now());
        const entry = cache.upsert(execRecord(rec));
        const parent = cache.parentOf(entry);
        this.opts.emit(
          {
            time: clock.toIso(rec.hdr.ktime),
            node,
            kind: 'process.exec',
            process: entry.info,
            parent: parent?.info,
          },
          { process: entry, parent },
        );
        return;
      }
      case PgRecordType.PG_REC_FORK: {
        const rec = decodePgForkEvent(view, at, this.forkRec);
        this.counters.records.fork++;
        const parent = cache.get(rec.parent.pid, rec.parent.ktime);
        const entry = cache.upsert(forkRecord(rec, parent));
        if (this.opts.forks === true) {
          this.opts.emit(
            {
              time: clock.toIso(rec.hdr.ktime),
              node,
              kind: 'process.fork',
              process: entry.info,
              parent: parent?.info,
            },
            { process: entry, parent },
          );
        }
        return;
      }
      case PgRecordType.PG_REC_EXIT: {
        const rec = decodePgExitEvent(view, at, this.exitRec);
        this.counters.records.exit++;
        let entry = cache.get(rec.key.pid, rec.key.ktime);
        if (entry === undefined) {
          this.counters.exit_unresolved++;
          entry = this.opts.cache.idsOnly(rec.key.pid, rec.key.ktime);
        }
        const parent = cache.parentOf(entry);
        const { code, signal } = splitExitStatus(rec.exitCode);
        const exit = signal !== 0 ? { code, signal, signal_name: signalName(signal) } : { code, signal };
        this.opts.emit(
          {
            time: clock.toIso(rec.hdr.ktime),
            node,
            kind: 'process.exit',
            process: entry.info,
            parent: parent?.info,
            exit,
          },
          { process: entry, parent },
        );
        cache.markExited(entry, performance.now());
        return;
      }
      default:
        if (this.opts.other === undefined || !this.opts.other(view, at, type)) this.counters.unknown_types++;
    }
  }

  /** Consumes whatever the ring buffer holds now (before stop, so nothing queued is lost). */
  drain(): void {
    this.ring?.drain();
  }

  stats(): ProcessSensorStats {
    const k = this.kernelCounters();
    return {
      records: { ...this.counters.records },
      kernel_drops: {
        exec: k[PgStat.PG_STAT_EXEC_DROP],
        fork: k[PgStat.PG_STAT_FORK_DROP],
        exit: k[PgStat.PG_STAT_EXIT_DROP],
        proc: k[PgStat.PG_STAT_PROC_DROP],
      },
      kernel: {
        key_miss: k[PgStat.PG_STAT_KEY_MISS],
        execs_full: k[PgStat.PG_STAT_EXECS_FULL],
        path_truncated: k[PgStat.PG_STAT_PATH_TRUNCATED],
        args_truncated: k[PgStat.PG_STAT_ARGS_TRUNCATED],
      },
      decode_errors: this.counters.decode_errors,
      unknown_types: this.counters.unknown_types,
      exit_unresolved: this.counters.exit_unresolved,
      ring: this.ring?.stats(),
      ring_fill: this.ring?.fill(),
    };
  }

  /** pg_stats summed over CPUs, by index. */
  private kernelCounters(): number[] {
    const out = new Array<number>(PgStat.PG_STAT_PROCESS_LAST + 1).fill(0);
    if (this.object === undefined || !this.object.loaded) return out;
    const map = this.object.map('pg_stats');
    const key = Buffer.alloc(4);
    for (let i = 0; i < out.length; i++) {
      key.writeUInt32LE(i);
      for (const v of map.lookupPerCpu(key) ?? []) out[i] += Number(v.readBigUInt64LE(0));
    }
    return out;
  }

  close(): void {
    this.ring?.close();
    this.ring = undefined;
    for (const l of this.links.splice(0)) l.close();
    this.object?.close();
    this.object = undefined;
  }
}

function readCmdline(pid: number): string[] {
  try {
    // A process that retitled itself (node's process.title, setproctitle) leaves its
    // argv area padded with NULs: /proc shows them as empty trailing arguments.
    const args = splitArgs(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
    while (args.length > 1 && args[args.length - 1] === '') args.pop();
    return args;
  } catch {
    return []; // exited since the iterator ran
  }
}
