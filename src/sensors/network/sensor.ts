// SPDX-License-Identifier: Apache-2.0
// The network sensor: loads bpf/network.bpf.c on the process object's shared
// maps, attaches the syscall hooks of the kinds the policies watch, and turns
// pg_net_event records into network.* events.
import type { EventKind, PeregrineEvent } from '../../events/types.js';
import {
  createPgNetEvent,
  decodePgNetEvent,
  PG_NET_EVENT_OFFSET,
  PgRecordType,
  PgStat,
} from '../../generated/records.js';
import { type BpfMap, BpfObject, type Link } from '../../kernel/index.js';
import { objectPath } from '../paths.js';
import type { AttachReport, DecodeContext, Sensor, SensorConfig, SharedMaps } from '../sensor.js';
import { NET_KINDS, networkInfo } from './decode.js';

/**
 * Programs per kind (bpf/network.bpf.c says why each hook). Only the kinds
 * some policy watches are attached: a connect storm costs nothing here while
 * no rule watches network.connect.
 */
const PROGRAMS: Readonly<Partial<Record<EventKind, readonly string[]>>> = {
  'network.connect': ['handle_enter_connect', 'handle_exit_connect'],
  'network.accept': ['handle_exit_accept', 'handle_exit_accept4'],
  'network.bind': ['handle_enter_bind', 'handle_exit_bind'],
  'network.listen': ['handle_enter_listen', 'handle_exit_listen'],
  'network.send': [
    'handle_enter_sendto',
    'handle_exit_sendto',
    'handle_enter_sendmsg',
    'handle_exit_sendmsg',
    'handle_enter_sendmmsg',
    'handle_exit_sendmmsg',
  ],
};

/** Kernel counters of this sensor (enum pg_stat, 64..95), by the name stats() reports. */
const KERNEL_COUNTERS = {
  kernel_records: PgStat.PG_STAT_NET,
  kernel_drops: PgStat.PG_STAT_NET_DROP,
  kernel_filtered: PgStat.PG_STAT_NET_FILTERED,
  kernel_filtered_sock: PgStat.PG_STAT_NET_FILTERED_SOCK,
  kernel_no_sock: PgStat.PG_STAT_NET_NO_SOCK,
  kernel_pending_full: PgStat.PG_STAT_NET_PENDING_FULL,
  kernel_send_repeat: PgStat.PG_STAT_NET_SEND_REPEAT,
  kernel_addr_user: PgStat.PG_STAT_NET_ADDR_USER,
  kernel_key_miss: PgStat.PG_STAT_NET_KEY_MISS,
} as const;

export class NetworkSensor implements Sensor {
  readonly name = 'network';
  readonly kinds: readonly EventKind[] = [...NET_KINDS.values()];
  readonly recordTypes: readonly number[] = [PgRecordType.PG_REC_NET];
  private object: BpfObject | undefined;
  private readonly links = new Map<string, Link>();
  // One decode target reused for every record (no allocation per decode but strings).
  private readonly rec = createPgNetEvent();
  private readonly counters = { records: 0, decode_errors: 0, unknown_kinds: 0, unresolved: 0 };

  load(shared: SharedMaps, config: SensorConfig): void {
    const obj = BpfObject.open(objectPath('network'));
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
    if (obj === undefined) throw new Error('network sensor: not loaded');
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

  decode(view: DataView, at: number, _type: number, ctx: DecodeContext): void {
    let rec: typeof this.rec;
    try {
      rec = decodePgNetEvent(view, at, this.rec);
    } catch {
      this.counters.decode_errors++;
      return;
    }
    const kind = NET_KINDS.get(rec.kind);
    if (kind === undefined) {
      this.counters.unknown_kinds++;
      return;
    }
    this.counters.records++;
    let process = ctx.process(rec.key.pid, rec.key.ktime);
    if (process === undefined) {
      this.counters.unresolved++;
      process = ctx.cache.idsOnly(rec.key.pid, rec.key.ktime, rec.tid);
    }
    const parent = ctx.cache.parentOf(process);
    const names = ctx.policies(view, at + PG_NET_EVENT_OFFSET.rules);
    const ev: PeregrineEvent = {
      time: ctx.clock.toIso(rec.hdr.ktime),
      node: ctx.node,
      kind,
      process: process.info,
      parent: parent?.info,
      network: networkInfo(rec),
      return_code: rec.ret,
    };
    if (names.length > 0) ev.policy = { name: names[0], names };
    ctx.emit(ev, { process, parent });
  }

  stats(stats: BpfMap): Record<string, number> {
    const out: Record<string, number> = {
      records: this.counters.records,
      decode_errors: this.counters.decode_errors,
      unknown_kinds: this.counters.unknown_kinds,
      unresolved: this.counters.unresolved,
    };
    const key = Buffer.alloc(4);
    for (const [name, index] of Object.entries(KERNEL_COUNTERS)) {
      key.writeUInt32LE(index);
      let sum = 0;
      for (const v of stats.lookupPerCpu(key) ?? []) sum += Number(v.readBigUInt64LE(0));
      out[name] = sum;
    }
    return out;
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.object?.close();
    this.object = undefined;
  }
}
