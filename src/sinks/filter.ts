// SPDX-License-Identifier: Apache-2.0
// What one output takes (a filter over kind, priority, policy and namespace)
// and how fast (a token bucket): both run on the agent's consumer loop, so
// each is a few comparisons per record and allocates nothing.
import type { Alert, PeregrineEvent, Priority } from '../events/types.js';
import type { OutputRecord } from './transport.js';

/** An output's `filter:` section. Every listed dimension must match; an empty or absent one matches all. */
export interface OutputFilterConfig {
  /** Event kinds, prefix match on dot boundaries ("file" takes "file.open"); "alert" names alerts. */
  kinds?: string[];
  /** Take alerts. Default true. */
  alerts?: boolean;
  /** Take events. Default true. */
  events?: boolean;
  /** Alerts below this priority are skipped (events have no priority and pass). */
  minPriority?: Priority;
  /** Policy names: events selected by one of them (an alert: its source event). */
  policies?: string[];
  /** Kubernetes namespaces: events of pods in one of them (an alert: its source event). */
  namespaces?: string[];
}

/** Most to least severe, as syslog and Falco order them. */
export const PRIORITIES: readonly Priority[] = [
  'EMERGENCY',
  'ALERT',
  'CRITICAL',
  'ERROR',
  'WARNING',
  'NOTICE',
  'INFORMATIONAL',
  'DEBUG',
];

/** 0 (EMERGENCY) … 7 (DEBUG): the syslog severity of a priority. */
export function severityOf(p: Priority): number {
  const i = PRIORITIES.indexOf(p);
  return i < 0 ? 6 : i;
}

/** A predicate for `cfg`, or null when it takes everything (the caller then tests one pointer). */
export function compileOutputFilter(
  cfg: OutputFilterConfig | undefined,
): ((r: OutputRecord) => boolean) | null {
  if (cfg === undefined) return null;
  const takeAlerts = cfg.alerts !== false;
  const takeEvents = cfg.events !== false;
  const kinds = cfg.kinds !== undefined && cfg.kinds.length > 0 ? cfg.kinds : undefined;
  const maxSeverity = cfg.minPriority !== undefined ? severityOf(cfg.minPriority) : 7;
  const policies = cfg.policies !== undefined && cfg.policies.length > 0 ? new Set(cfg.policies) : undefined;
  const namespaces =
    cfg.namespaces !== undefined && cfg.namespaces.length > 0 ? new Set(cfg.namespaces) : undefined;
  if (takeAlerts && takeEvents && kinds === undefined && maxSeverity === 7 && !policies && !namespaces)
    return null;
  return (r) => {
    const alert = r.kind === 'alert';
    if (alert ? !takeAlerts : !takeEvents) return false;
    if (kinds !== undefined && !kinds.some((k) => r.kind === k || r.kind.startsWith(`${k}.`))) return false;
    const ev = alert ? (r.value as Alert).source_event : (r.value as PeregrineEvent);
    if (alert && severityOf((r.value as Alert).priority) > maxSeverity) return false;
    if (policies !== undefined) {
      const p = ev?.policy;
      if (p === undefined || !(policies.has(p.name) || (p.names?.some((n) => policies.has(n)) ?? false)))
        return false;
    }
    if (namespaces !== undefined) {
      const ns = ev?.pod?.namespace;
      if (ns === undefined || !namespaces.has(ns)) return false;
    }
    return true;
  };
}

/** An output's `rateLimit:` section: records per second on average, `burst` at once. */
export interface RateLimitConfig {
  perSecond: number;
  /** Bucket size. Default: one second's worth (perSecond). */
  burst?: number;
}

/** A token bucket refilled lazily from the clock at each take, so an idle output costs nothing. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;

  constructor(
    cfg: RateLimitConfig,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.rate = cfg.perSecond / 1000;
    this.burst = cfg.burst ?? Math.max(1, cfg.perSecond);
    this.tokens = this.burst;
    this.last = now();
  }

  /** True when a record may pass (one token taken). */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (t - this.last) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
