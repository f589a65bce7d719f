// SPDX-License-Identifier: Apache-2.0
// Writes a compiled FilterImage into the kernel's pg_f_* maps without a gap:
// fill the inactive generation, flip pg_f_config.gen, then clear the old one
// (bpf/include/policy.h). A hook reads the generation once per event, so it
// always evaluates one complete policy set.
import {
  PG_ADDR_KEY_OFFSET,
  PG_ADDR_KEY_SIZE,
  PG_ALLOW_DENY_SIZE,
  PG_PATH_KEY_SIZE,
  PG_PREFIX_KEY_OFFSET,
  PG_PREFIX_KEY_SIZE,
  PG_RULE_ACTION_SIZE,
  PG_RULES_OFFSET,
  PG_RULES_SIZE,
  PG_VALUE_KEY_SIZE,
  PgAction,
  PgSet,
} from '../generated/records.js';
import type { BpfMap } from '../kernel/index.js';
import { signalNumber } from '../process/signals.js';
import { type FilterImage, RULE_SLOTS, type RuleBits } from './compile.js';

/** The pg_f_* maps, by their kernel names. */
export interface FilterMaps {
  get(name: string): BpfMap;
}

function rulesBuf(bits: RuleBits): Buffer {
  return Buffer.from(bits.buffer, bits.byteOffset, PG_RULES_SIZE);
}

function allowDeny(allow: RuleBits, deny: RuleBits): Buffer {
  const b = Buffer.alloc(PG_ALLOW_DENY_SIZE);
  rulesBuf(allow).copy(b, 0);
  rulesBuf(deny).copy(b, PG_RULES_SIZE);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** Keys of a hash or LPM map whose generation (u32 at `genOffset`) is `gen`. */
function keysOfGen(map: BpfMap, genOffset: number, gen: number): Buffer[] {
  const out: Buffer[] = [];
  let key = map.nextKey(null);
  while (key !== null) {
    if (key.readUInt32LE(genOffset) === gen) out.push(key);
    key = map.nextKey(key);
  }
  return out;
}

const ACTION_CODE = {
  audit: PgAction.PG_ACTION_AUDIT,
  deny: PgAction.PG_ACTION_DENY,
  kill: PgAction.PG_ACTION_KILL,
  signal: PgAction.PG_ACTION_SIGNAL,
} as const;

export class FilterWriter {
  constructor(private readonly maps: FilterMaps) {}

  /** The live generation (0 or 1). */
  activeGeneration(): number {
    const v = this.maps.get('pg_f_config').lookup(u32(0));
    return v === null ? 0 : v.readUInt32LE(0) & 1;
  }

  /**
   * Makes `img` the live policy set. On a failure before the flip the live
   * set is untouched (the half-written generation is cleared); the error says
   * which map refused.
   */
  apply(img: FilterImage): void {
    const live = this.activeGeneration();
    const next = live ^ 1;
    this.clear(next);
    try {
      this.write(next, img);
    } catch (err) {
      this.clear(next);
      throw err;
    }
    const cfg = Buffer.alloc(8);
    cfg.writeUInt32LE(next, 0);
    this.maps.get('pg_f_config').update(u32(0), cfg);
    this.clear(live);
  }

  private write(gen: number, img: FilterImage): void {
    const sets = this.maps.get('pg_f_sets');
    for (const [index, bits] of img.sets) sets.update(u32(gen * PgSet.PG_SET_MAX + index), rulesBuf(bits));

    const values = this.maps.get('pg_f_values');
    for (const v of img.values) {
      const key = Buffer.alloc(PG_VALUE_KEY_SIZE);
      key.writeUInt32LE(gen, 0);
      key.writeUInt32LE(v.dim, 4);
      key.writeBigUInt64LE(v.value, 8);
      values.update(key, allowDeny(v.allow, v.deny));
    }

    const paths = this.maps.get('pg_f_paths');
    for (const p of img.paths) {
      const key = Buffer.alloc(PG_PATH_KEY_SIZE);
      key.writeUInt32LE(gen, 0);
      key.writeBigUInt64LE(p.hash, 8);
      paths.update(key, rulesBuf(p.rules));
    }

    for (const [name, entries] of [
      ['pg_f_prefix', img.prefixes],
      ['pg_f_suffix', img.suffixes],
    ] as const) {
      const map = this.maps.get(name);
      for (const e of entries) {
        const key = Buffer.alloc(PG_PREFIX_KEY_SIZE);
        key.writeUInt32LE(32 + 8 * e.bytes.length, PG_PREFIX_KEY_OFFSET.prefixlen);
        key.writeUInt32LE(gen, PG_PREFIX_KEY_OFFSET.gen);
        e.bytes.copy(key, PG_PREFIX_KEY_OFFSET.data);
        map.update(key, rulesBuf(e.rules));
      }
    }

    const addrs = this.maps.get('pg_f_addrs');
    for (const a of img.addrs) {
      const key = Buffer.alloc(PG_ADDR_KEY_SIZE);
      key.writeUInt32LE(64 + a.bits, PG_ADDR_KEY_OFFSET.prefixlen);
      key.writeUInt32LE(gen, PG_ADDR_KEY_OFFSET.gen);
      key.writeUInt32LE(a.family, PG_ADDR_KEY_OFFSET.family);
      a.addr.copy(key, PG_ADDR_KEY_OFFSET.addr);
      addrs.update(key, allowDeny(a.allow, a.deny));
    }

    // Rules that can act: hooks skip their per-rule action scan when none of theirs is here.
    const acting = Buffer.alloc(PG_RULES_SIZE);
    for (const s of img.slots) {
      if (s.action === 'audit') continue;
      const word = PG_RULES_OFFSET.w + 8 * Math.floor(s.slot / 64);
      acting.writeBigUInt64LE(acting.readBigUInt64LE(word) | (1n << BigInt(s.slot % 64)), word);
    }
    this.maps.get('pg_f_sets').update(u32(gen * PgSet.PG_SET_MAX + PgSet.PG_SET_ACTING), acting);

    const actions = this.maps.get('pg_f_actions');
    for (const s of img.slots) {
      const v = Buffer.alloc(PG_RULE_ACTION_SIZE);
      v.writeUInt32LE(ACTION_CODE[s.action], 0);
      v.writeUInt32LE(s.signal !== undefined ? (signalNumber(s.signal) ?? 0) : 0, 4);
      v.writeUInt32LE(s.monitor ? 1 : 0, 8);
      actions.update(u32(gen * RULE_SLOTS + s.slot), v);
    }
  }

  /** Empties one generation of every filter map. */
  private clear(gen: number): void {
    const zeroRules = Buffer.alloc(PG_RULES_SIZE);
    const sets = this.maps.get('pg_f_sets');
    for (let i = 0; i < PgSet.PG_SET_MAX; i++) sets.update(u32(gen * PgSet.PG_SET_MAX + i), zeroRules);
    const zeroAction = Buffer.alloc(PG_RULE_ACTION_SIZE);
    const actions = this.maps.get('pg_f_actions');
    for (let i = 0; i < RULE_SLOTS; i++) actions.update(u32(gen * RULE_SLOTS + i), zeroAction);
    for (const name of ['pg_f_values', 'pg_f_paths']) {
      const map = this.maps.get(name);
      for (const k of keysOfGen(map, 0, gen)) map.delete(k);
    }
    for (const name of ['pg_f_prefix', 'pg_f_suffix']) {
      const map = this.maps.get(name);
      for (const k of keysOfGen(map, PG_PREFIX_KEY_OFFSET.gen, gen)) map.delete(k);
    }
    const addrs = this.maps.get('pg_f_addrs');
    for (const k of keysOfGen(addrs, PG_ADDR_KEY_OFFSET.gen, gen)) addrs.delete(k);
  }
}
