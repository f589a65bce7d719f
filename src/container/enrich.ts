// SPDX-License-Identifier: Apache-2.0
// The glue between the container layer and the agent: enriches events, scopes selector policies to cgroup ids, lists containers.

import type { EventContext } from '../events/encode.js';
import type { ContainerInfo, PeregrineEvent, PodInfo } from '../events/types.js';
import type { FilterImage, RuleSlot } from '../policy/compile.js';
import type { Policy, PolicyRule } from '../policy/types.js';
import type { ProcessCache, ProcessEntry } from '../process/cache.js';
import type { ParsedCgroup } from './cgroup.js';
import type { AncestorRef } from './init-tree.js';
import {
  ContainerResolver,
  type ContainerResolverOptions,
  type ResolveResult,
  type ResolverStats,
} from './resolver.js';
import { CgroupWatcher, type CgroupWatcherStats } from './watch.js';

/**
 * Label keys a selector can use besides the container's and the pod's own labels. Image
 * references contain "/" and ":", which label values may not: select images with
 * matchExpressions (`{key: peregrine.dev/image, operator: In, values: [...]}`).
 */
export const SELECTOR_KEYS = {
  containerName: 'peregrine.dev/container-name',
  containerId: 'peregrine.dev/container-id',
  image: 'peregrine.dev/image',
  imageRepository: 'peregrine.dev/image-repository',
  runtime: 'peregrine.dev/runtime',
  podNamespace: 'io.kubernetes.pod.namespace',
  podName: 'io.kubernetes.pod.name',
} as const;

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }>;
}

/** Image reference without tag or digest ("docker.io/library/nginx:1.25@sha256:…" → "docker.io/library/nginx"). */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at >= 0 ? image.slice(0, at) : image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/** The labels a selector sees for one container: its own, its pod's, and the reserved keys. */
export function selectorLabels(c: ContainerInfo, pod: PodInfo | undefined): Record<string, string> {
  const out: Record<string, string> = { ...c.labels };
  if (pod !== undefined) {
    Object.assign(out, pod.labels);
    if (pod.namespace !== '') out[SELECTOR_KEYS.podNamespace] = pod.namespace;
    if (pod.name !== '') out[SELECTOR_KEYS.podName] = pod.name;
  }
  if (c.name !== '') out[SELECTOR_KEYS.containerName] = c.name;
  out[SELECTOR_KEYS.containerId] = c.id;
  if (c.image !== '') {
    out[SELECTOR_KEYS.image] = c.image;
    out[SELECTOR_KEYS.imageRepository] = imageRepository(c.image);
  }
  if (c.runtime !== '') out[SELECTOR_KEYS.runtime] = c.runtime;
  return out;
}

/** Kubernetes label-selector semantics (an empty selector matches everything; NotIn matches an absent key). */
export function matchSelector(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const ex of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, ex.key);
    const values = ex.values ?? [];
    switch (ex.operator) {
      case 'In':
        if (!has || !values.includes(labels[ex.key])) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[ex.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** A cgroup id no process has: the kernel set of a selector that matches nothing. */
export const NO_CGROUP = 0;

/**
 * The policies as compiled: every rule of a policy with `spec.selector` gets `match.cgroupIds.in`
 * = the given cgroup ids (intersected with the rule's own `in`). An empty list selects nothing
 * (`in: [NO_CGROUP]`).
 */
export function scopePolicies(policies: readonly Policy[], idsFor: (p: Policy) => number[]): Policy[] {
  return policies.map((p) => {
    if (p.spec.selector === undefined) return p;
    const ids = idsFor(p);
    const rules: PolicyRule[] = p.spec.rules.map((r) => {
      const own = r.match.cgroupIds;
      const inIds =
        own?.in !== undefined && own.in.length > 0 ? ids.filter((id) => own.in?.includes(id)) : ids;
      // Cgroup id 0 names no cgroup (kernfs ids start at 1): `in: [0]` selects no process, where an
      // empty `in` would leave the dimension open.
      return {
        ...r,
        match: { ...r.match, cgroupIds: { ...own, in: inIds.length > 0 ? inIds : [NO_CGROUP] } },
      };
    });
    return { ...p, spec: { ...p.spec, rules } };
  });
}

export interface ContainerEnricherOptions {
  /** A resolver to use (tests), or options for the one the enricher makes. */
  resolver?: ContainerResolver | ContainerResolverOptions;
  /** Watch the cgroup2 tree with inotify for containers starting and stopping. Default true. */
  watch?: boolean;
  /** Longest time an event of a selector policy waits for its container's metadata (ms). Default 3000. */
  holdMs?: number;
  /** Most events held at once; past it they are decided on what is known (counted). Default 4096. */
  maxHeld?: number;
  /** How long start() waits for the lookups of the containers already running (ms). Default 2000. */
  startWaitMs?: number;
}

export interface EnricherHooks {
  cache: ProcessCache;
  /** The selector sets changed: re-apply the policies (calls scope() and wrap() again). */
  reapply(): void;
  /** An event held for metadata is ready: emit it with the slots it had. */
  release(ev: PeregrineEvent, ctx: EventContext, slots: RuleSlot[] | undefined): void;
}

/** One row of `peregrine containers` / GET /v1/containers. */
export interface ContainerListing {
  cgroup_id: number;
  cgroup: string;
  container: ContainerInfo;
  pod?: PodInfo;
  /** Metadata lookup still running. */
  pending: boolean;
  events: number;
  /** Selector policies that currently cover this container in the kernel. */
  policies: string[];
}

export interface EnricherStats {
  /** Events given a container. */
  events: number;
  /** Of those, events that went out with only what the cgroup path tells (id, runtime, pod uid): lookup pending or failed. */
  id_only: number;
  /** Events held for a selector policy until their container's metadata arrived. */
  held: number;
  held_now: number;
  /** Held events decided on what was known because the bound (time or count) ran out. */
  held_timeouts: number;
  /** Container cgroups first seen through an event rather than the watcher. */
  late_cgroups: number;
  /** Policy re-applications because a selector's cgroup set changed. */
  reapplies: number;
  /** First execs in a container cgroup while a selector policy was loaded: covered = its id was in the kernel sets before the exec. */
  first_exec: { seen: number; covered: number; uncovered: number; min_margin_ms: number | null };
  containers: number;
  watcher?: CgroupWatcherStats;
  resolver: ResolverStats;
}

interface Known {
  readonly id: number;
  readonly path: string;
  readonly parsed: ParsedCgroup;
  events: number;
  /** Date.now() when its id first went into the kernel sets; 0 when never. */
  coveredAt: number;
  firstExecSeen: boolean;
}

interface Held {
  ev: PeregrineEvent;
  ctx: EventContext;
  slots: RuleSlot[] | undefined;
  until: number;
}

/**
 * Adds `container`, `pod` and `process.in_container_init_tree` to events (never waiting for a
 * runtime), keeps the cgroup-id sets of selector policies current (inotify on the cgroup2 tree
 * plus the resolver's answers), and holds, for a bounded time, the events of selector policies
 * whose container's metadata is still being looked up.
 */
export class ContainerEnricher {
  readonly resolver: ContainerResolver;
  private readonly ownResolver: boolean;
  private readonly watcher: CgroupWatcher | undefined;
  private readonly known = new Map<number, Known>();
  private readonly initDone = new WeakSet<ProcessEntry>();
  private readonly released = new WeakSet<PeregrineEvent>();
  private readonly labelCache = new WeakMap<ContainerInfo, Record<string, string>>();
  private held: Held[] = [];
  private holdTimer: NodeJS.Timeout | undefined;
  private selectors = new Map<string, LabelSelector>();
  /** Names of the namespaced Kubernetes Policies among them (never cover a pending container). */
  private namespaced = new Set<string>();
  /** Last ids per selector policy, as a string, to notice changes. */
  private lastSets = new Map<string, string>();
  private recomputeQueued = false;
  private readonly holdMs: number;
  private readonly maxHeld: number;
  private readonly startWaitMs: number;
  private closed = false;
  private readonly s = {
    events: 0,
    id_only: 0,
    held: 0,
    held_timeouts: 0,
    late_cgroups: 0,
    reapplies: 0,
  };
  private readonly firstExec = { seen: 0, covered: 0, uncovered: 0, min_margin_ms: null as number | null };

  constructor(
    private readonly hooks: EnricherHooks,
    opts: ContainerEnricherOptions = {},
  ) {
    const onUpdate = () => {
      this.scheduleRecompute();
      if (this.held.length > 0) setImmediate(() => this.flushHeld(false));
    };
    if (opts.resolver instanceof ContainerResolver) {
      this.resolver = opts.resolver;
      this.ownResolver = false;
    } else {
      this.resolver = new ContainerResolver({ ...opts.resolver, onUpdate });
      this.ownResolver = true;
    }
    this.holdMs = opts.holdMs ?? 3000;
    this.maxHeld = opts.maxHeld ?? 4096;
    this.startWaitMs = opts.startWaitMs ?? 2000;
    const root = this.resolver.index.root;
    if (opts.watch !== false && root !== undefined) {
      this.watcher = new CgroupWatcher(root, {
        created: (path, id) => this.cgroupCreated(path, id),
        removed: (_path, id) => this.cgroupRemoved(id),
      });
    }
  }

  /** First walk, watches, and (bounded) the lookups of the containers already running. */
  async start(): Promise<void> {
    // Bounded like everything else on the way to the first event: a cgroup
    // walk or a runtime that does not answer must not hold the agent's start.
    const bounded = async (p: Promise<unknown>) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        p,
        new Promise<void>((res) => {
          timer = setTimeout(res, this.startWaitMs);
        }),
      ]);
      clearTimeout(timer);
    };
    await bounded(this.resolver.ready());
    this.watcher?.start();
    await bounded(this.resolver.settled());
  }

  private cgroupCreated(path: string, id: number): void {
    const parsed = this.resolver.notePath(id, path);
    if (parsed === null || this.known.has(id)) return;
    this.known.set(id, { id, path, parsed, events: 0, coveredAt: 0, firstExecSeen: false });
    // Start the lookup now: the first process usually execs tens of ms later.
    this.resolver.resolve(id, path.slice(path.lastIndexOf('/') + 1), 0);
    this.scheduleRecompute();
  }

  private cgroupRemoved(id: number): void {
    if (this.known.delete(id)) this.scheduleRecompute();
  }

  /**
   * Enriches one event in place. Returns true when the event is held (a selector policy's
   * event whose container is still being looked up): it is handed back through hooks.release.
   */
  enrich(ev: PeregrineEvent, ctx: EventContext, slots: RuleSlot[] | undefined): boolean {
    const entry = ctx.process;
    const info = entry.info;
    const cgid = info.cgroup.id;
    if (cgid === this.resolver.index.rootId) return false;
    const r = this.resolver.resolve(cgid, info.cgroup.name, info.pid);
    const c = r.container;
    if (c === undefined) {
      if (r.pending && this.mustHold(ev, slots)) return this.hold(ev, ctx, slots);
      return false;
    }
    ev.container = c;
    if (r.pod !== undefined) ev.pod = r.pod;
    let k = this.known.get(cgid);
    if (k === undefined) {
      const parsed = this.resolver.notePath(cgid, info.cgroup.name);
      if (parsed !== null) {
        k = { id: cgid, path: info.cgroup.name, parsed, events: 0, coveredAt: 0, firstExecSeen: false };
        this.known.set(cgid, k);
        if (this.selectors.size > 0) this.s.late_cgroups++;
        this.scheduleRecompute();
      }
    }
    if (k !== undefined) {
      if (ev.kind === 'process.exec' && !k.firstExecSeen) this.noteFirstExec(k, ev);
    }
    if (r.pending && this.mustHold(ev, slots)) return this.hold(ev, ctx, slots);
    this.s.events++;
    if (k !== undefined) k.events++;
    if (r.pending || c.name === '') this.s.id_only++;
    if (!this.initDone.has(entry)) this.initTree(entry, r);
    return false;
  }

  private noteFirstExec(k: Known, ev: PeregrineEvent): void {
    k.firstExecSeen = true;
    if (this.selectors.size === 0) return;
    this.firstExec.seen++;
    const at = Date.parse(ev.time);
    if (k.coveredAt !== 0 && k.coveredAt <= at) {
      this.firstExec.covered++;
      const margin = at - k.coveredAt;
      if (this.firstExec.min_margin_ms === null || margin < this.firstExec.min_margin_ms)
        this.firstExec.min_margin_ms = margin;
    } else this.firstExec.uncovered++;
  }

  /** Sets process.in_container_init_tree once per process identity (re-serialising its JSON once). */
  private initTree(entry: ProcessEntry, r: ResolveResult): void {
    if (r.pending) return;
    const self: AncestorRef = { pid: entry.pid, cgroupId: entry.info.cgroup.id };
    const ancestry: AncestorRef[] = [];
    let p = this.hooks.cache.parentOf(entry);
    for (let i = 0; i < 64 && p !== undefined; i++) {
      ancestry.push({ pid: p.pid, cgroupId: p.info.cgroup.id });
      p = this.hooks.cache.parentOf(p);
    }
    const v = this.resolver.inInitTree(self, ancestry);
    if (v === undefined) {
      // The init pid was not known when the runtime answered (task still being created): ask again.
      this.resolver.revalidate(entry.info.cgroup.id);
      return;
    }
    entry.info.in_container_init_tree = v;
    reserialise(entry);
    this.initDone.add(entry);
  }

  private mustHold(ev: PeregrineEvent, slots: RuleSlot[] | undefined): boolean {
    if (ev.policy === undefined || slots === undefined || this.selectors.size === 0 || this.released.has(ev))
      return false;
    for (const s of slots) if (this.selectors.has(s.policy)) return true;
    return false;
  }

  private hold(ev: PeregrineEvent, ctx: EventContext, slots: RuleSlot[] | undefined): boolean {
    if (this.held.length >= this.maxHeld) {
      this.s.held_timeouts++;
      this.released.add(ev);
      return false;
    }
    this.s.held++;
    this.held.push({ ev, ctx, slots, until: performance.now() + this.holdMs });
    if (this.holdTimer === undefined) {
      this.holdTimer = setInterval(() => this.flushHeld(false), 50);
      this.holdTimer.unref();
    }
    return true;
  }

  /** Releases held events whose metadata arrived (or whose bound ran out; all when `all`). */
  private flushHeld(all: boolean): void {
    const now = performance.now();
    const keep: Held[] = [];
    const ready: Held[] = [];
    for (const h of this.held) {
      const info = h.ctx.process.info;
      const r = this.resolver.resolve(info.cgroup.id, info.cgroup.name, info.pid);
      if (!r.pending || all || now >= h.until) {
        if (r.pending) this.s.held_timeouts++;
        if (r.container !== undefined) h.ev.container = r.container;
        if (r.pod !== undefined) h.ev.pod = r.pod;
        ready.push(h);
      } else keep.push(h);
    }
    this.held = keep;
    if (keep.length === 0 && this.holdTimer !== undefined) {
      clearInterval(this.holdTimer);
      this.holdTimer = undefined;
    }
    for (const h of ready) {
      this.released.add(h.ev);
      this.hooks.release(h.ev, h.ctx, h.slots);
    }
  }

  /** The labels of an event's container for selectors (cached per container object). */
  private labelsOf(c: ContainerInfo, pod: PodInfo | undefined): Record<string, string> {
    let l = this.labelCache.get(c);
    if (l === undefined) {
      l = selectorLabels(c, pod);
      this.labelCache.set(c, l);
    }
    return l;
  }

  /**
   * Cgroup ids a selector covers now: matching containers, and those still being looked up —
   * except for a namespaced policy (`pending` false), which must never act outside its namespace:
   * it covers a container only once its pod is known.
   */
  private idsFor(sel: LabelSelector, pending = true): number[] {
    const ids: number[] = [];
    for (const k of this.known.values()) {
      const r = this.resolver.resolve(k.id, k.path.slice(k.path.lastIndexOf('/') + 1), 0);
      if (r.pending) {
        if (pending) ids.push(k.id);
      } else if (r.container !== undefined && matchSelector(sel, this.labelsOf(r.container, r.pod)))
        ids.push(k.id);
    }
    return ids.sort((a, b) => a - b);
  }

  /** Policies as the kernel gets them: selector policies narrowed to their cgroup ids. Remembers the selectors. */
  scope(policies: readonly Policy[]): Policy[] {
    this.selectors = new Map();
    this.namespaced = new Set();
    for (const p of policies) {
      if (p.spec.selector !== undefined)
        this.selectors.set(p.metadata.name, p.spec.selector as LabelSelector);
      if (p.metadata.namespace !== undefined) this.namespaced.add(p.metadata.name);
    }
    const now = Date.now();
    const sets = new Map<string, string>();
    const out = scopePolicies(policies, (p) => {
      const ids = this.idsFor(p.spec.selector as LabelSelector, p.metadata.namespace === undefined);
      sets.set(p.metadata.name, ids.join(','));
      for (const id of ids) {
        const k = this.known.get(id);
        if (k !== undefined && k.coveredAt === 0) k.coveredAt = now;
      }
      return ids;
    });
    this.lastSets = sets;
    return out;
  }

  /**
   * Adds the selector to the user-space check of each selector policy's slots: the kernel
   * passes a container while its metadata is being looked up; this decides on the labels.
   */
  wrap(img: FilterImage): void {
    for (const slot of img.slots) {
      const sel = this.selectors.get(slot.policy);
      if (sel === undefined) continue;
      const own = slot.userCheck;
      const bySelector = (ev: PeregrineEvent) =>
        ev.container !== undefined && matchSelector(sel, this.labelsOf(ev.container, ev.pod));
      slot.userCheck = own === undefined ? bySelector : (ev) => own(ev) && bySelector(ev);
    }
  }

  private scheduleRecompute(): void {
    if (this.recomputeQueued || this.closed) return;
    this.recomputeQueued = true;
    setImmediate(() => {
      this.recomputeQueued = false;
      if (this.closed || this.selectors.size === 0) return;
      let changed = false;
      for (const [name, sel] of this.selectors) {
        if (this.lastSets.get(name) !== this.idsFor(sel, !this.namespaced.has(name)).join(','))
          changed = true;
      }
      if (!changed) return;
      this.s.reapplies++;
      this.hooks.reapply();
    });
  }

  /** The containers known now (cgroup present), with their event counts. */
  list(): ContainerListing[] {
    const out: ContainerListing[] = [];
    for (const k of this.known.values()) {
      const r = this.resolver.resolve(k.id, k.path.slice(k.path.lastIndexOf('/') + 1), 0);
      if (r.container === undefined) continue;
      const policies: string[] = [];
      for (const [name, ids] of this.lastSets) if (ids.split(',').includes(String(k.id))) policies.push(name);
      const row: ContainerListing = {
        cgroup_id: k.id,
        cgroup: k.path,
        container: r.container,
        pending: r.pending,
        events: k.events,
        policies,
      };
      if (r.pod !== undefined) row.pod = r.pod;
      out.push(row);
    }
    return out.sort((a, b) => a.cgroup_id - b.cgroup_id);
  }

  stats(): EnricherStats {
    return {
      ...this.s,
      held_now: this.held.length,
      first_exec: { ...this.firstExec },
      containers: this.known.size,
      watcher: this.watcher?.stats(),
      resolver: this.resolver.stats(),
    };
  }

  close(): void {
    if (this.closed) return;
    this.flushHeld(true);
    this.closed = true;
    this.watcher?.close();
    if (this.ownResolver) this.resolver.close();
  }
}

/**
 * Makes the entry's cached JSON include a field set on `info` after it was serialised. The cache
 * serialises lazily (usually after this layer set the field); when an earlier event already
 * serialised it, the cached text is dropped (a data property is rewritten; for the lazy getter,
 * its cache field is cleared). Never throws: the event path must not fail here.
 */
function reserialise(entry: ProcessEntry): void {
  try {
    const own = Object.getOwnPropertyDescriptor(entry, 'json');
    if (own?.writable === true) {
      (entry as { json: string }).json = JSON.stringify(entry.info);
      return;
    }
    const e = entry as unknown as Record<string, unknown>;
    if (typeof e.serialised === 'string') e.serialised = undefined;
  } catch {
    // keep the old text: the field is still on the event object
  }
}

/** Filter for GET /v1/events: `container` = name, id or id prefix; `pod` = "NS/NAME" or "NAME". */
export function containerFilter(
  container: string | null,
  pod: string | null,
): ((ev: PeregrineEvent) => boolean) | undefined {
  if (container === null && pod === null) return undefined;
  const slash = pod?.indexOf('/') ?? -1;
  const podNs = pod !== null && slash >= 0 ? pod.slice(0, slash) : undefined;
  const podName = pod !== null ? (slash >= 0 ? pod.slice(slash + 1) : pod) : undefined;
  return (ev) => {
    if (container !== null) {
      const c = ev.container;
      if (c === undefined) return false;
      if (
        c.name !== container &&
        c.id !== container &&
        !(container.length >= 6 && c.id.startsWith(container))
      )
        return false;
    }
    if (podName !== undefined) {
      const p = ev.pod;
      if (p === undefined || p.name !== podName) return false;
      if (podNs !== undefined && p.namespace !== podNs) return false;
    }
    return true;
  };
}
