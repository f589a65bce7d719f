// SPDX-License-Identifier: Apache-2.0
// Flood detection settings: validation of the `flood` section (every error at
// once, with its field), and their kernel form (pg_fl_config, pg_fl_deny keys).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse } from 'yaml';
import { PG_FLOOD_CONFIG_OFFSET, PG_FLOOD_CONFIG_SIZE, PgFloodLimits } from '../../generated/records.js';
import { parseCidr as cidrBytes } from '../../policy/compile.js';
import { parseCidr } from '../../policy/load.js';

/** Per source, per window; 0 turns a detection off. */
export interface FloodThresholds {
  /** Packets of any kind (packet_flood). */
  packets: number;
  /** TCP SYNs without ACK (syn_flood). */
  syns: number;
  /** UDP datagrams (udp_flood). */
  udp: number;
  /** Distinct destination ports of SYNs and datagrams (port_scan); at most MAX_SCAN_PORTS. */
  ports: number;
}

export interface FloodConfig {
  /** Interface names to attach XDP to (each must exist when the sensor starts). */
  interfaces: string[];
  /** Counting window in ms (10 … 3,600,000). */
  windowMs: number;
  thresholds: FloodThresholds;
  /** Sources (CIDRs) whose packets are dropped at XDP (or only counted with dropMode count). */
  dropSources: string[];
  /** drop: XDP_DROP; count: pass and count (try a list before dropping). */
  dropMode: 'drop' | 'count';
  /** Sources tracked at once (LRU; the quietest are evicted). */
  maxSources: number;
}

export const FLOOD_DEFAULTS: Omit<FloodConfig, 'interfaces'> = {
  windowMs: 1000,
  // Defaults sized for a server port: 20k packets/s or 5k SYNs/s from one source is no client.
  thresholds: { packets: 20000, syns: 5000, udp: 10000, ports: 100 },
  dropSources: [],
  dropMode: 'drop',
  maxSources: 65536,
};

/**
 * Above this the 1024-bit sketch saturates (the count grows too slowly to
 * tell one threshold from the next); a scan of more ports crosses it anyway.
 */
export const MAX_SCAN_PORTS = 1024;

const FIELDS = ['interfaces', 'windowMs', 'thresholds', 'dropSources', 'dropMode', 'maxSources'];
const THRESHOLDS = ['packets', 'syns', 'udp', 'ports'];

export class FloodConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`flood: ${problems.join('; ')}`);
    this.name = 'FloodConfigError';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(v: unknown, field: string, min: number, max: number, problems: string[]): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    problems.push(`${field}: must be an integer, got ${JSON.stringify(v)}`);
    return undefined;
  }
  if (v < min || v > max) {
    problems.push(`${field}: ${v} is out of range ${min}-${max}`);
    return undefined;
  }
  return v;
}

/** Validates a `flood` section (parsed YAML/JSON); throws FloodConfigError listing every problem. */
export function parseFloodConfig(raw: unknown): FloodConfig {
  const problems: string[] = [];
  if (!isObject(raw)) throw new FloodConfigError(['must be a mapping']);
  for (const k of Object.keys(raw))
    if (!FIELDS.includes(k)) problems.push(`${k}: unknown field; allowed: ${FIELDS.join(', ')}`);
  const cfg: FloodConfig = {
    ...FLOOD_DEFAULTS,
    thresholds: { ...FLOOD_DEFAULTS.thresholds },
    interfaces: [],
  };
  if (!Array.isArray(raw.interfaces) || raw.interfaces.length === 0) {
    problems.push('interfaces: must be a non-empty list of interface names');
  } else {
    raw.interfaces.forEach((n, i) => {
      if (typeof n !== 'string' || !/^[A-Za-z0-9_.:@-]{1,15}$/.test(n))
        problems.push(`interfaces[${i}]: ${JSON.stringify(n)} is not an interface name (1-15 characters)`);
      else if (cfg.interfaces.includes(n)) problems.push(`interfaces[${i}]: "${n}" listed twice`);
      else cfg.interfaces.push(n);
    });
  }
  if (raw.windowMs !== undefined) cfg.windowMs = int(raw.windowMs, 'windowMs', 10, 3_600_000, problems) ?? 0;
  if (raw.thresholds !== undefined) {
    if (!isObject(raw.thresholds)) problems.push('thresholds: must be a mapping');
    else
      for (const [k, v] of Object.entries(raw.thresholds)) {
        if (!THRESHOLDS.includes(k)) {
          problems.push(`thresholds.${k}: unknown field; allowed: ${THRESHOLDS.join(', ')}`);
          continue;
        }
        const max = k === 'ports' ? MAX_SCAN_PORTS : 0xffffffff;
        cfg.thresholds[k as keyof FloodThresholds] = int(v, `thresholds.${k}`, 0, max, problems) ?? 0;
      }
  }
  if (raw.dropSources !== undefined) {
    if (!Array.isArray(raw.dropSources)) problems.push('dropSources: must be a list of CIDRs');
    else if (raw.dropSources.length > 16384) problems.push('dropSources: at most 16384 entries');
    else
      raw.dropSources.forEach((s, i) => {
        if (typeof s !== 'string') {
          problems.push(`dropSources[${i}]: must be a CIDR string`);
          return;
        }
        const r = parseCidr(s);
        if ('reason' in r) problems.push(`dropSources[${i}]: ${r.reason}`);
        else cfg.dropSources.push(r.cidr);
      });
  }
  if (raw.dropMode !== undefined) {
    if (raw.dropMode !== 'drop' && raw.dropMode !== 'count')
      problems.push(`dropMode: must be drop or count, got ${JSON.stringify(raw.dropMode)}`);
    else cfg.dropMode = raw.dropMode;
  }
  if (raw.maxSources !== undefined)
    cfg.maxSources = int(raw.maxSources, 'maxSources', 1024, 16_777_216, problems) ?? 0;
  if (problems.length > 0) throw new FloodConfigError(problems);
  return cfg;
}

/** Reads a flood configuration file (YAML, the mapping above); errors name the file. */
export function loadFloodFile(file: string): FloodConfig {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'), { uniqueKeys: true });
  } catch (err) {
    throw new FloodConfigError([`${file}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  try {
    return parseFloodConfig(raw);
  } catch (err) {
    if (err instanceof FloodConfigError) throw new FloodConfigError(err.problems.map((p) => `${file}: ${p}`));
    throw err;
  }
}

const PORT_BITS = PgFloodLimits.PG_FLOOD_PORT_BITS;

/**
 * Distinct ports → bits set in the kernel's 1024-bit sketch (linear
 * counting: n ports set m·(1 − e^(−n/m)) bits on average), so the kernel
 * compares bits and user space thinks in ports. Rounded down: a scan of
 * exactly `ports` ports crosses on average.
 */
export function portBits(ports: number): number {
  if (ports <= 0) return 0;
  return Math.max(1, Math.floor(PORT_BITS * (1 - Math.exp(-ports / PORT_BITS))));
}

/** Bits set → estimated distinct ports (the linear-counting estimate). */
export function estimatePorts(bits: number): number {
  if (bits >= PORT_BITS) return Math.round(PORT_BITS * Math.log(PORT_BITS));
  return Math.round(-PORT_BITS * Math.log(1 - bits / PORT_BITS));
}

/** struct pg_flood_config for pg_fl_config[0]. */
export function encodeFloodConfig(cfg: FloodConfig): Buffer {
  const b = Buffer.alloc(PG_FLOOD_CONFIG_SIZE);
  const o = PG_FLOOD_CONFIG_OFFSET;
  b.writeBigUInt64LE(BigInt(cfg.windowMs) * 1_000_000n, o.window_ns);
  b.writeUInt32LE(cfg.thresholds.packets, o.packets);
  b.writeUInt32LE(cfg.thresholds.syns, o.syns);
  b.writeUInt32LE(cfg.thresholds.udp, o.udp);
  b.writeUInt32LE(portBits(cfg.thresholds.ports), o.ports);
  b.writeUInt32LE(cfg.dropMode === 'drop' ? 1 : 0, o.drop);
  return b;
}

/**
 * pg_fl_deny key (struct pg_flood_lpm: u32 prefixlen, u8 addr[16]): IPv4 as
 * the IPv4-mapped IPv6 prefix ::ffff:a.b.c.d/(96 + n), like the sources.
 */
export function denyKey(cidr: string): Buffer {
  const { family, addr, bits } = cidrBytes(cidr);
  const key = Buffer.alloc(20);
  if (family === 2) {
    key.writeUInt32LE(96 + bits, 0);
    key[14] = 0xff;
    key[15] = 0xff;
    addr.copy(key, 16, 0, 4);
  } else {
    key.writeUInt32LE(bits, 0);
    addr.copy(key, 4);
  }
  return key;
}

/** The text form of a record's source (IPv4 in the first 4 bytes for family 2). */
export function sourceText(family: number, addr: readonly number[]): string {
  if (family === 2) return addr.slice(0, 4).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((addr[i] << 8) | addr[i + 1]).toString(16));
  const text = groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  return isIP(text) === 6 ? text : groups.join(':');
}
