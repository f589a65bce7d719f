// SPDX-License-Identifier: Apache-2.0
// The safety net of enforcing policies (`spec.safety`): counts the actions each one takes in a
// sliding window and says when one took more than it may, so the agent puts it back in monitor mode.
import type { PolicySafety } from './types.js';

/** "60s", "5m", "1h", "500ms" or whole seconds → milliseconds; undefined when malformed. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isInteger(text) && text > 0 ? text * 1000 : undefined;
  const m = /^([1-9][0-9]*)(ms|s|m|h)$/.exec(text);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
}

/** A rollback the net decided: which policy, how many actions in which window. */
export interface Rollback {
  policy: string;
  denials: number;
  windowMs: number;
  maxDenials: number;
  /** Epoch ms. */
  at: number;
}

/** Per policy: the safety settings, the times of recent actions, the last rollback. */
export interface SafetyState {
  maxDenials: number;
  windowMs: number;
  /** Actions taken within the window now. */
  recent: number;
  /** Every action counted since the policy was applied in enforce mode. */
  total: number;
  rolledBack?: Rollback;
}

/**
 * Sliding-window counters, one per policy with `spec.safety`. `record()` is
 * called once per action the kernel took for a policy (an event with
 * `action.taken` deny, kill or signal) and returns the rollback when the
 * count within the window exceeds `maxDenials`; the counter then resets, so
 * one burst gives one rollback.
 */
export class SafetyNet {
  private readonly nets = new Map<
    string,
    { safety: PolicySafety; windowMs: number; times: number[]; total: number }
  >();
  private readonly rollbacks = new Map<string, Rollback>();

  /** Sets the policies being watched (those in enforce mode with a safety net); others are forgotten. */
  watch(policies: ReadonlyArray<{ name: string; safety?: PolicySafety; enforcing: boolean }>): void {
    const keep = new Set<string>();
    for (const p of policies) {
      if (p.safety === undefined || !p.enforcing) continue;
      keep.add(p.name);
      const windowMs = parseDuration(p.safety.window) ?? 60_000;
      const cur = this.nets.get(p.name);
      if (cur !== undefined && cur.windowMs === windowMs && cur.safety.maxDenials === p.safety.maxDenials)
        continue;
      this.nets.set(p.name, { safety: p.safety, windowMs, times: [], total: 0 });
    }
    for (const name of [...this.nets.keys()]) if (!keep.has(name)) this.nets.delete(name);
  }

  /** Counts one action of `policy` at `now` (ms); the rollback when this one crossed the threshold. */
  record(policy: string, now: number): Rollback | undefined {
    const n = this.nets.get(policy);
    if (n === undefined) return undefined;
    n.total++;
    n.times.push(now);
    while (n.times.length > 0 && n.times[0] <= now - n.windowMs) n.times.shift();
    if (n.times.length <= n.safety.maxDenials) return undefined;
    const rb: Rollback = {
      policy,
      denials: n.times.length,
      windowMs: n.windowMs,
      maxDenials: n.safety.maxDenials,
      at: now,
    };
    this.rollbacks.set(policy, rb);
    this.nets.delete(policy);
    return rb;
  }

  /** The last rollback of a policy, if any (kept after it returns to monitor). */
  lastRollback(policy: string): Rollback | undefined {
    return this.rollbacks.get(policy);
  }

  /** A policy promoted again starts with a clean slate (its last rollback stays reported). */
  state(policy: string, safety: PolicySafety | undefined, now: number): SafetyState | undefined {
    if (safety === undefined) return undefined;
    const n = this.nets.get(policy);
    const windowMs = n?.windowMs ?? parseDuration(safety.window) ?? 60_000;
    const recent = n !== undefined ? n.times.filter((t) => t > now - windowMs).length : 0;
    const out: SafetyState = { maxDenials: safety.maxDenials, windowMs, recent, total: n?.total ?? 0 };
    const rb = this.rollbacks.get(policy);
    if (rb !== undefined) out.rolledBack = rb;
    return out;
  }
}
