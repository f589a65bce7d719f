// SPDX-License-Identifier: Apache-2.0
// Alerts: MITRE ATT&CK from Falco-style tags, and the collapser that folds repeated identical alerts without losing counts.

import type { Alert } from '../events/types.js';
import { parseTime } from './fields.js';

const RE_TECHNIQUE = /^T\d{4}(?:\.\d{3})?$/;

/**
 * MITRE ATT&CK from tags: the tactic from the first `mitre_<tactic>` tag
 * (e.g. "credential_access"), the technique from the first `T####` or
 * `T####.###` tag. Undefined when the tags name neither.
 */
export function mitreFromTags(tags: readonly string[]): { tactic: string; technique: string } | undefined {
  let tactic = '';
  let technique = '';
  for (const t of tags) {
    if (!tactic && t.startsWith('mitre_') && t.length > 6) tactic = t.slice(6);
    else if (!technique && RE_TECHNIQUE.test(t)) technique = t;
  }
  return tactic || technique ? { tactic, technique } : undefined;
}

export interface CollapserOptions {
  /** Identical alerts (same rule, same process exec_id) within this many ms of the last emitted one are folded. Default 10000. */
  windowMs?: number;
  /** Keys tracked at most; the oldest pending ones are flushed beyond it. Default 10000. */
  maxKeys?: number;
}

export interface CollapserStats {
  /** Alerts given to add(). */
  received: number;
  /** Alerts returned by add() and flush(). */
  emitted: number;
  /** Alerts folded into a later alert's `collapsed` count. */
  collapsed: number;
  /** Alerts folded but not yet reported (reported on the next emission or flush). */
  pending: number;
}

interface Slot {
  /** Time (ms) of the last emitted alert for this key. */
  since: number;
  /** Folded alerts not yet reported, and the latest of them. */
  count: number;
  last: Alert | undefined;
}

function alertMs(a: Alert): number {
  const t = parseTime(a.time);
  return t ? t[0] * 1000 + t[1] / 1e6 : Date.now();
}

/**
 * Folds repeated alerts: the first of a key is emitted, identical ones within
 * the window are counted, and the count rides on the next emitted alert of
 * that key (`collapsed`) or comes out on flush()/expiry as the last folded
 * alert carrying the rest. Invariant: every alert given to add() is either
 * emitted or counted in exactly one emitted alert's `collapsed`.
 */
export class AlertCollapser {
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly slots = new Map<string, Slot>();
  private readonly counters: CollapserStats = { received: 0, emitted: 0, collapsed: 0, pending: 0 };
  private lastSweep = 0;

  constructor(options: CollapserOptions = {}) {
    this.windowMs = options.windowMs ?? 10_000;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /** Offer one alert; returns what to emit now (possibly nothing, possibly older pending summaries too). */
  add(alert: Alert): Alert[] {
    this.counters.received++;
    const now = alertMs(alert);
    const key = alert.rule + '\u0000' + (alert.source_event?.process?.exec_id ?? '');
    const out: Alert[] = [];
    const slot = this.slots.get(key);
    if (slot && now - slot.since < this.windowMs) {
      slot.count++;
      slot.last = alert;
      this.counters.pending++;
    } else {
      let a = alert;
      if (slot && slot.count > 0) {
        a = { ...alert, collapsed: slot.count };
        this.counters.collapsed += slot.count;
        this.counters.pending -= slot.count;
      }
      this.slots.delete(key); // re-insert: Map order stays oldest-first
      this.slots.set(key, { since: now, count: 0, last: undefined });
      out.push(a);
    }
    if (now - this.lastSweep >= this.windowMs || this.slots.size > this.maxKeys) {
      this.lastSweep = now;
      this.sweep(now, out);
    }
    this.counters.emitted += out.length;
    return out;
  }

  /** Report every pending count now (e.g. at shutdown). */
  flush(): Alert[] {
    const out: Alert[] = [];
    for (const [key, slot] of this.slots) {
      if (slot.count > 0) out.push(this.summary(slot));
      this.slots.delete(key);
    }
    this.counters.emitted += out.length;
    return out;
  }

  stats(): CollapserStats {
    return { ...this.counters };
  }

  /** The last folded alert stands for itself plus the others folded before it. */
  private summary(slot: Slot): Alert {
    const last = slot.last!;
    const others = slot.count - 1;
    this.counters.collapsed += others;
    this.counters.pending -= slot.count;
    slot.count = 0;
    slot.last = undefined;
    return others > 0 ? { ...last, collapsed: others } : last;
  }

  private sweep(now: number, out: Alert[]): void {
    for (const [key, slot] of this.slots) {
      const expired = now - slot.since >= this.windowMs;
      if (!expired && this.slots.size <= this.maxKeys) continue;
      if (slot.count > 0) out.push(this.summary(slot));
      this.slots.delete(key);
    }
  }
}
