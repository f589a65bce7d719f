// SPDX-License-Identifier: Apache-2.0
// RuleSet: compiled rules indexed by event kind; evaluate() is the hot path and allocates nothing when no rule matches.

import type { Alert, EventKind, PeregrineEvent, Priority } from '../events/types.js';
import { evalGeneration, type Pred } from './compile.js';
import { KIND_INDEX, KINDS, maskToKinds } from './kinds.js';
import type { CompiledOutput } from './output.js';

/** Falco priorities, most severe first; the index is the severity order. */
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

/** Parse a priority as Falco does: case-insensitive, INFO = INFORMATIONAL. */
export function parsePriority(s: string): Priority | undefined {
  const u = s.trim().toUpperCase();
  if (u === 'INFO') return 'INFORMATIONAL';
  return (PRIORITIES as readonly string[]).includes(u) ? (u as Priority) : undefined;
}

/** A loaded rule, as reported by RuleSet.rules(). */
export interface RuleInfo {
  name: string;
  desc: string;
  priority: Priority;
  tags: string[];
  mitre?: { tactic: string; technique: string };
  enabled: boolean;
  file: string;
  line: number;
  /** Kinds the rule is evaluated for. */
  kinds: EventKind[];
  /** Every condition field can be filled from Peregrine events. */
  evaluable: boolean;
  /** Condition fields Peregrine cannot fill (comparisons on them are false). */
  unsupportedFields: string[];
  /** Output fields that will print <NA>. */
  unsupportedOutputFields: string[];
  /** Fields read by the condition. */
  fields: string[];
}

/** One compiled rule; counters are plain fields so the hot path only increments. */
export interface CompiledRule extends RuleInfo {
  fn: Pred;
  /** `fn` specialised per kind bit (kind-only checks folded); absent: `fn` for every kind. */
  spec?: (bit: number) => Pred;
  mask: number;
  output: CompiledOutput;
  /** Evaluations not counted per kind (stats() adds the per-kind event counts; the hot path leaves this 0). */
  evaluations: number;
  matches: number;
  errors: number;
}

/** Something worth telling the rule author that does not reject the file. */
export interface LoadWarning {
  file: string;
  line: number;
  rule: string;
  message: string;
  fields?: string[];
}

export interface RuleSetStats {
  /** Rules defined by the files (after overrides), every source. */
  rulesLoaded: number;
  /** Syscall rules enabled and evaluated. */
  rulesEnabled: number;
  /** Rules disabled by `enabled: false`. */
  rulesDisabled: number;
  /** Rules not for the syscall source, or skipped by skip-if-unknown-filter, or below minPriority. */
  rulesSkipped: number;
  /** Skipped rules by source name. */
  skippedBySource: Record<string, number>;
  /** Enabled rules using fields Peregrine cannot fill. */
  rulesNotFullyEvaluable: number;
  events: number;
  /** Events of kinds no rule needs. */
  eventsIgnored: number;
  alerts: number;
  /** Extractor exceptions on malformed events, counted not thrown. */
  errors: number;
  perRule: Array<{ name: string; evaluations: number; matches: number; errors: number }>;
}

const EMPTY: readonly Alert[] = Object.freeze([]) as readonly Alert[];

export interface RuleSetInit {
  rules: CompiledRule[];
  warnings: LoadWarning[];
  skippedBySource: Record<string, number>;
  skippedOther: number;
  /** Enabled rules at or above this priority are indexed. */
  minPriority: Priority;
  eventCounter: { n: number };
}

/**
 * The result of loadRules(). Immutable once built: reload by loading again and
 * swapping the reference.
 */
export class RuleSet {
  /** Load-time warnings: unsupported fields, unobservable evt.types, skipped items. */
  readonly warnings: readonly LoadWarning[];
  private readonly all: CompiledRule[];
  /** The rules evaluated (enabled, at or above the minimum priority). */
  private readonly indexed: CompiledRule[] = [];
  private readonly byKind: Array<CompiledRule[] | null>;
  /** Per kind, each listed rule's condition specialised for that kind (same order as byKind). */
  private readonly fnsByKind: Array<Pred[] | null>;
  /** Events evaluated per kind (index as byKind). */
  private readonly kindEvents = new Float64Array(KINDS.length);
  private readonly kindsMask: number;
  private readonly skippedBySource: Record<string, number>;
  private readonly skippedUnknown: number;
  private readonly belowMin: number;
  private readonly counter: { n: number };
  private eventsIgnored = 0;
  private alertsTotal = 0;
  private errorsTotal = 0;

  constructor(init: RuleSetInit) {
    this.all = init.rules;
    this.warnings = init.warnings;
    this.skippedBySource = init.skippedBySource;
    this.counter = init.eventCounter;
    const minLevel = PRIORITIES.indexOf(init.minPriority);
    let belowMin = 0;
    // Empty kind lists become null so the hot path tests one pointer (fastify's trick).
    this.byKind = KINDS.map(() => null);
    this.fnsByKind = KINDS.map(() => null);
    let mask = 0;
    for (const r of init.rules) {
      if (!r.enabled) continue;
      if (PRIORITIES.indexOf(r.priority) > minLevel) {
        belowMin++;
        continue;
      }
      mask |= r.mask;
      this.indexed.push(r);
      for (let i = 0; i < KINDS.length; i++) {
        if (!(r.mask & (1 << i))) continue;
        const fn = r.spec !== undefined ? r.spec(1 << i) : r.fn;
        const list = this.byKind[i];
        const fns = this.fnsByKind[i];
        if (list && fns) {
          list.push(r);
          fns.push(fn);
        } else {
          this.byKind[i] = [r];
          this.fnsByKind[i] = [fn];
        }
      }
    }
    this.skippedUnknown = init.skippedOther;
    this.belowMin = belowMin;
    this.kindsMask = mask;
  }

  /**
   * Evaluate every rule that applies to the event's kind. Returns the alerts
   * (without `collapsed`; see AlertCollapser), or a shared empty array when
   * nothing matches. A rule whose extractor throws on a malformed event counts
   * an error and does not match.
   */
  evaluate(event: PeregrineEvent): readonly Alert[] {
    this.counter.n++;
    evalGeneration.n++;
    const k = KIND_INDEX[event.kind];
    const list = this.byKind[k];
    const fns = this.fnsByKind[k];
    if (!list || !fns) {
      this.eventsIgnored++;
      return EMPTY;
    }
    // Every rule of the list is evaluated once: per-rule evaluation counts are derived in stats().
    this.kindEvents[k]++;
    let out: Alert[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const r = list[i];
      let hit: boolean;
      try {
        hit = fns[i](event);
      } catch {
        r.errors++;
        this.errorsTotal++;
        continue;
      }
      if (!hit) continue;
      r.matches++;
      this.alertsTotal++;
      if (out === undefined) out = [];
      out.push(this.toAlert(r, event));
    }
    return out ?? EMPTY;
  }

  private toAlert(r: CompiledRule, event: PeregrineEvent): Alert {
    const a: Alert = {
      time: event.time,
      node: event.node,
      kind: 'alert',
      rule: r.name,
      priority: r.priority,
      tags: r.tags,
      output: r.output.render(event),
      source_event: event,
    };
    if (r.mitre) a.mitre = r.mitre;
    return a;
  }

  /** Event kinds the enabled rules need: attach only these hooks. */
  requiredKinds(): EventKind[] {
    return maskToKinds(this.kindsMask);
  }

  /**
   * The evaluated rules that cannot see their events while `missing` kinds are
   * not observed (a sensor failed to load): `blind` lack every kind they need,
   * `partial` some of them; `of` is how many rules are evaluated.
   */
  blindTo(missing: ReadonlySet<EventKind>): { blind: string[]; partial: string[]; of: number } {
    const blind: string[] = [];
    const partial: string[] = [];
    for (const r of this.indexed) {
      const lost = r.kinds.filter((k) => missing.has(k)).length;
      if (lost === 0) continue;
      if (lost === r.kinds.length) blind.push(r.name);
      else partial.push(r.name);
    }
    return { blind, partial, of: this.indexed.length };
  }

  /** Every loaded syscall rule (enabled or not), in file order. */
  rules(): RuleInfo[] {
    return this.all.map(
      ({ fn: _f, spec: _s, mask: _m, output: _o, evaluations: _e, matches: _x, errors: _r, ...info }) => info,
    );
  }

  stats(): RuleSetStats {
    let enabled = 0;
    let disabled = 0;
    let partial = 0;
    for (const r of this.all) {
      if (r.enabled) {
        enabled++;
        if (!r.evaluable) partial++;
      } else disabled++;
    }
    let skippedSources = 0;
    for (const v of Object.values(this.skippedBySource)) skippedSources += v;
    const evaluations = new Map<CompiledRule, number>();
    for (let i = 0; i < KINDS.length; i++) {
      const n = this.kindEvents[i];
      for (const r of this.byKind[i] ?? []) evaluations.set(r, (evaluations.get(r) ?? 0) + n);
    }
    return {
      rulesLoaded: this.all.length + skippedSources + this.skippedUnknown,
      rulesEnabled: enabled - this.belowMin,
      rulesDisabled: disabled,
      rulesSkipped: skippedSources + this.skippedUnknown + this.belowMin,
      skippedBySource: { ...this.skippedBySource },
      rulesNotFullyEvaluable: partial,
      events: this.counter.n,
      eventsIgnored: this.eventsIgnored,
      alerts: this.alertsTotal,
      errors: this.errorsTotal,
      perRule: this.all.map((r) => ({
        name: r.name,
        evaluations: r.evaluations + (evaluations.get(r) ?? 0),
        matches: r.matches,
        errors: r.errors,
      })),
    };
  }
}
