// SPDX-License-Identifier: Apache-2.0
// The flood sensor: loads bpf/flood.bpf.c (XDP) on the configured interfaces,
// writes thresholds and the drop list to its maps (live, no reload), and turns
// pg_flood_event records into network.flood events. An object of its own: it
// watches packets, not processes, so it shares no map with the other sensors.
import { readFileSync } from 'node:fs';
import {
  createPgFloodEvent,
  decodePgFloodEvent,
  PG_FLOOD_SRC_OFFSET,
  PgFloodKind,
  PgFloodStat,
  PgRecordType,
} from '../../generated/records.js';
import { BpfObject, forEachRecord, type Link, RingBuffer } from '../../kernel/index.js';
import { objectPath } from '../paths.js';
import { denyKey, encodeFloodConfig, estimatePorts, type FloodConfig, sourceText } from './config.js';

export type FloodKind = 'packet_flood' | 'syn_flood' | 'udp_flood' | 'port_scan';

/** A network.flood event: one source over one threshold in one window. */
export interface FloodEvent {
  time: string;
  node: string;
  kind: 'network.flood';
  flood: {
    kind: FloodKind;
    /** The source address (IPv4 dotted, IPv6 text). */
    source: string;
    family: 'inet' | 'inet6';
    /** Packets, SYNs or datagrams counted (distinct ports for port_scan, estimated) when it crossed. */
    count: number;
    threshold: number;
    window_ms: number;
    /** count per second over the part of the window elapsed. */
    rate_per_s: number;
    interface: string;
    /** The destination port of the packet that crossed, and its IP protocol. */
    port: number;
    protocol: 'tcp' | 'udp' | string;
    /** Whether packets of this source are dropped (a listed source with dropMode drop). */
    dropped: boolean;
  };
  /** MITRE ATT&CK: T1498 Network Denial of Service, T1046 Network Service Discovery. */
  mitre: { tactic: string; technique: string };
}

const KIND_NAMES: Readonly<Record<number, FloodKind>> = {
  [PgFloodKind.PG_FLOOD_PACKETS]: 'packet_flood',
  [PgFloodKind.PG_FLOOD_SYN]: 'syn_flood',
  [PgFloodKind.PG_FLOOD_UDP]: 'udp_flood',
  [PgFloodKind.PG_FLOOD_PORT_SCAN]: 'port_scan',
};

/** ATT&CK per kind: floods deny service (T1498, Impact), a scan discovers services (T1046, Discovery). */
export const FLOOD_MITRE: Readonly<Record<FloodKind, { tactic: string; technique: string }>> = {
  packet_flood: { tactic: 'Impact', technique: 'T1498' },
  syn_flood: { tactic: 'Impact', technique: 'T1498' },
  udp_flood: { tactic: 'Impact', technique: 'T1498' },
  port_scan: { tactic: 'Discovery', technique: 'T1046' },
};

const STATS: Readonly<Record<string, number>> = {
  packets: PgFloodStat.PG_FL_STAT_PACKETS,
  ip_packets: PgFloodStat.PG_FL_STAT_IP,
  syns: PgFloodStat.PG_FL_STAT_SYN,
  udp: PgFloodStat.PG_FL_STAT_UDP,
  alerts: PgFloodStat.PG_FL_STAT_ALERTS,
  alert_drops: PgFloodStat.PG_FL_STAT_ALERT_DROP,
  dropped: PgFloodStat.PG_FL_STAT_DROPPED,
  would_drop: PgFloodStat.PG_FL_STAT_WOULD_DROP,
  source_map_full: PgFloodStat.PG_FL_STAT_SRC_FULL,
  truncated: PgFloodStat.PG_FL_STAT_TRUNCATED,
};

export interface FloodSensorOptions {
  node?: string;
  /** Turns the kernel's CLOCK_MONOTONIC ns into an ISO time; default: now. */
  toIso?: (ktimeNs: number) => string;
  /** Ring buffer poll interval (ms). */
  pollIntervalMs?: number;
}

function ifindexOf(name: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  } catch {
    throw new Error(`flood: interface ${name} not found (/sys/class/net/${name})`);
  }
}

export class FloodSensor {
  readonly name = 'flood';
  private object: BpfObject | undefined;
  private ring: RingBuffer | undefined;
  private readonly links = new Map<string, Link>();
  private readonly ifnames = new Map<number, string>();
  private cfg: FloodConfig;
  private denied = new Set<string>();
  private readonly rec = createPgFloodEvent();
  private readonly counters = { records: 0, decode_errors: 0, unknown_records: 0, attach_errors: 0 };
  /** Interfaces whose attach failed, with the error (reported in stats and status). */
  readonly failed = new Map<string, string>();

  constructor(
    cfg: FloodConfig,
    private readonly onFlood: (ev: FloodEvent) => void,
    private readonly opts: FloodSensorOptions = {},
  ) {
    this.cfg = cfg;
  }

  /** Loads the object, writes the configuration, attaches to every interface it can; throws only when the load fails. */
  start(): void {
    const obj = BpfObject.open(objectPath('flood'));
    try {
      obj.setMaxEntries('pg_fl_srcs', this.cfg.maxSources);
      obj.load();
    } catch (err) {
      obj.close();
      throw err;
    }
    this.object = obj;
    this.configure(this.cfg);
    this.ring = new RingBuffer(obj.map('pg_fl_events'), (batch, used) => this.onBatch(batch, used), {
      pollIntervalMs: this.opts.pollIntervalMs ?? 100,
    });
    this.attachAll();
  }

  /**
   * Applies a new configuration live: thresholds and drop mode in one map
   * write, the drop list by difference, interfaces attached/detached.
   * maxSources needs a restart (a map's size is fixed at load).
   */
  configure(cfg: FloodConfig): void {
    const obj = this.object;
    this.cfg = cfg;
    if (obj === undefined) return;
    // Add new drop entries before removing old ones: no moment without the overlap listed.
    const deny = obj.map('pg_fl_deny');
    const want = new Set(cfg.dropSources);
    let i = 0;
    for (const cidr of cfg.dropSources) {
      const v = Buffer.alloc(4);
      v.writeUInt32LE(i++);
      deny.update(denyKey(cidr), v);
    }
    for (const cidr of this.denied) if (!want.has(cidr)) deny.delete(denyKey(cidr));
    this.denied = want;
    obj.map('pg_fl_config').update(Buffer.alloc(4), encodeFloodConfig(cfg));
    if (this.ring !== undefined) this.attachAll();
  }

  private attachAll(): void {
    const obj = this.object;
    if (obj === undefined) return;
    for (const [name, link] of this.links)
      if (!this.cfg.interfaces.includes(name)) {
        link.close();
        this.links.delete(name);
      }
    for (const name of [...this.failed.keys()])
      if (!this.cfg.interfaces.includes(name)) this.failed.delete(name);
    for (const name of this.cfg.interfaces) {
      if (this.links.has(name)) continue;
      try {
        const ifindex = ifindexOf(name);
        this.links.set(name, obj.attach('handle_xdp_flood', { ifindex }));
        this.ifnames.set(ifindex, name);
        this.failed.delete(name);
      } catch (err) {
        this.counters.attach_errors++;
        this.failed.set(name, err instanceof Error ? err.message : String(err));
      }
    }
  }

  /** Interfaces XDP is attached to now. */
  attached(): string[] {
    return [...this.links.keys()];
  }

  private onBatch(batch: Buffer, used: number): void {
    const view = new DataView(batch.buffer, batch.byteOffset, used);
    forEachRecord(batch, used, (_b, off, len) => {
      if (len < 2 || view.getUint16(off, true) !== PgRecordType.PG_REC_FLOOD) {
        this.counters.unknown_records++;
        return;
      }
      let r: typeof this.rec;
      try {
        r = decodePgFloodEvent(view, off, this.rec);
      } catch {
        this.counters.decode_errors++;
        return;
      }
      this.counters.records++;
      const kind = KIND_NAMES[r.kind] ?? 'packet_flood';
      const count = kind === 'port_scan' ? estimatePorts(r.count) : r.count;
      const threshold = kind === 'port_scan' ? this.cfg.thresholds.ports : r.threshold;
      const source = sourceText(r.family, r.addr);
      const elapsedS = Math.max(r.elapsedNs, 1_000_000) / 1e9;
      this.onFlood({
        time: this.opts.toIso?.(r.hdr.ktime) ?? new Date().toISOString(),
        node: this.opts.node ?? '',
        kind: 'network.flood',
        flood: {
          kind,
          source,
          family: r.family === 2 ? 'inet' : 'inet6',
          count,
          threshold,
          window_ms: r.windowNs / 1e6,
          rate_per_s: Math.round(count / elapsedS),
          interface: this.ifnames.get(r.ifindex) ?? String(r.ifindex),
          port: r.port,
          protocol: r.protocol === 6 ? 'tcp' : r.protocol === 17 ? 'udp' : String(r.protocol),
          dropped: this.cfg.dropMode === 'drop' && this.isListed(source),
        },
        mitre: FLOOD_MITRE[kind],
      });
    });
  }

  private isListed(source: string): boolean {
    const obj = this.object;
    if (obj === undefined || this.denied.size === 0) return false;
    // A bare address is a full-length prefix: the LPM lookup finds any listed CIDR holding it.
    return obj.map('pg_fl_deny').lookup(denyKey(source)) !== null;
  }

  /** Per-source drop counts of the listed sources still tracked (source → packets dropped). */
  dropsBySource(): Record<string, number> {
    const out: Record<string, number> = {};
    const obj = this.object;
    if (obj === undefined || this.denied.size === 0) return out;
    const srcs = obj.map('pg_fl_srcs');
    let key = srcs.nextKey(null);
    // Bounded: the map holds at most maxSources keys.
    for (let n = 0; key !== null && n < this.cfg.maxSources; n++) {
      const v = srcs.lookup(key);
      const dropped = v === null ? 0 : Number(v.readBigUInt64LE(PG_FLOOD_SRC_OFFSET.dropped));
      if (dropped > 0) {
        const mapped = key.subarray(0, 12).equals(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]));
        out[mapped ? sourceText(2, [...key.subarray(12)]) : sourceText(10, [...key])] = dropped;
      }
      key = srcs.nextKey(key);
    }
    return out;
  }

  /** Counters for `status`: kernel counts summed over CPUs, records, attach state. */
  stats(): Record<string, number> {
    const out: Record<string, number> = { ...this.counters, interfaces: this.links.size };
    const obj = this.object;
    if (obj === undefined) return out;
    const map = obj.map('pg_fl_stats');
    for (const [name, slot] of Object.entries(STATS)) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(slot);
      let sum = 0;
      for (const v of map.lookupPerCpu(key) ?? []) sum += Number(v.readBigUInt64LE(0));
      out[`kernel_${name}`] = sum;
    }
    out.ring_oversize = this.ring?.stats().oversize ?? 0;
    return out;
  }

  /** Detaches from every interface and closes everything; idempotent. */
  close(): void {
    this.ring?.close();
    this.ring = undefined;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.object?.close();
    this.object = undefined;
  }
}
