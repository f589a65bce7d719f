// SPDX-License-Identifier: Apache-2.0
// Applies ClusterPolicy objects (node-wide) and Policy objects (scoped to their namespace's pods)
// from the API server through the agent's applyPolicies, and writes back each node's attestation
// into their status.
import type { PolicyStatus } from '../agent.js';
import { SELECTOR_KEYS } from '../container/enrich.js';
import { PolicyError } from '../policy/errors.js';
import { type LoadOptions, loadPolicyText } from '../policy/load.js';
import { API_VERSION } from '../policy/schema.js';
import type { Policy } from '../policy/types.js';
import { type KubeClient, KubeError, type WatchEvent } from './client.js';

/** The agent side the controller drives: the Agent has both. */
export interface PolicyTarget {
  applyPolicies(policies: Policy[]): void;
  policyStatus(): PolicyStatus[];
}

export interface ControllerOptions {
  client: KubeClient;
  target: PolicyTarget;
  /** This node's name (status entry key, field manager). */
  node: string;
  /** Mode of a policy whose spec sets none (`run --default-mode`); default enforce. */
  defaultMode?: LoadOptions['defaultMode'];
  /** Policies applied alongside the cluster's (files given with --policy); default none. */
  base?: () => Policy[];
  /** First reconnect delay in ms, doubled per failure up to maxBackoffMs; default 500. */
  backoffMs?: number;
  /** Default 30,000. */
  maxBackoffMs?: number;
  /** A line about a failure the controller recovers from; default stderr. */
  log?: (line: string) => void;
}

/** The parts of a Policy / ClusterPolicy object the controller reads. */
export interface PolicyObject {
  apiVersion: string;
  kind: 'Policy' | 'ClusterPolicy';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    generation?: number;
    resourceVersion?: string;
  };
  spec: unknown;
}

export interface NodeStatus {
  node: string;
  observedGeneration?: number;
  state: string;
  message?: string;
  rules?: Array<{ name: string; state: string; text?: string }>;
  lastUpdateTime: string;
}

const RESOURCES = {
  ClusterPolicy: `/apis/${API_VERSION}/clusterpolicies`,
  Policy: `/apis/${API_VERSION}/policies`,
} as const;

type Kind = keyof typeof RESOURCES;

/**
 * An object's name in the agent: a ClusterPolicy by its name, a Policy as "namespace/name", so a
 * Policy named like a ClusterPolicy, or like one in another namespace, never clashes with it.
 */
export function keyOf(o: PolicyObject): string {
  return o.metadata.namespace === undefined ? o.metadata.name : `${o.metadata.namespace}/${o.metadata.name}`;
}

/**
 * A Policy or ClusterPolicy as the loader sees it: what it validates is the spec, not Kubernetes'
 * metadata. A namespaced Policy comes back named "namespace/name", with its selector narrowed to
 * the pods of its namespace (a policy without a selector selects the whole namespace), so its
 * events and enforcement never reach a process outside that namespace.
 */
export function toPolicy(o: PolicyObject, options: LoadOptions = {}): Policy {
  const metadata: { name: string; labels?: Record<string, string> } = { name: o.metadata.name };
  if (o.metadata.labels !== undefined && Object.keys(o.metadata.labels).length > 0)
    metadata.labels = o.metadata.labels;
  const doc = { apiVersion: API_VERSION, kind: 'Policy', metadata, spec: o.spec };
  const ns = o.metadata.namespace;
  const source = ns === undefined ? `clusterpolicy/${o.metadata.name}` : `policy/${ns}/${o.metadata.name}`;
  const [p] = loadPolicyText(JSON.stringify(doc), source, options);
  if (ns === undefined) return p;
  const own = (p.spec.selector ?? {}) as LabelSelectorLike;
  const selector: LabelSelectorLike = {
    ...own,
    matchExpressions: [
      ...(own.matchExpressions ?? []),
      { key: SELECTOR_KEYS.podNamespace, operator: 'In', values: [ns] },
    ],
  };
  return {
    ...p,
    metadata: { ...p.metadata, name: keyOf(o), namespace: ns },
    spec: { ...p.spec, selector: selector as Record<string, unknown> },
  };
}

interface LabelSelectorLike {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

export class PolicyController {
  private readonly objects: Record<Kind, Map<string, PolicyObject>> = {
    ClusterPolicy: new Map(),
    Policy: new Map(),
  };
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private synced = 0;
  /** Status entries last written, per object key: unchanged ones are not written again. */
  private readonly written = new Map<string, string>();
  private readonly log: (line: string) => void;
  /** Generation of each object ("Kind/key") in the last set the agent accepted. */
  private applied = new Map<string, number | undefined>();
  /** The cluster's policies in that set. */
  private appliedPolicies: Policy[] = [];
  /** Resolves when a reconcile finishes; tests wait on it. */
  onReconciled?: () => void;

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.log ?? ((l) => process.stderr.write(`peregrine: k8s: ${l}\n`));
  }

  /** The cluster's policies the agent has applied: a reload of the files' policies keeps them. */
  policies(): Policy[] {
    return this.appliedPolicies;
  }

  start(): void {
    for (const kind of Object.keys(RESOURCES) as Kind[]) this.loops.push(this.run(kind));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }

  /** List, then watch from the list's resourceVersion; on any failure, back off and list again. */
  private async run(kind: Kind): Promise<void> {
    const path = RESOURCES[kind];
    const base = this.opts.backoffMs ?? 500;
    let delay = base;
    let listed = false;
    while (!this.abort.signal.aborted) {
      try {
        const list = await this.opts.client.list<PolicyObject>(path);
        const map = this.objects[kind];
        map.clear();
        for (const o of list.items) map.set(keyOf(o), { ...o, kind });
        if (!listed) {
          listed = true;
          this.synced++;
        }
        delay = base;
        await this.reconcile();
        let rv = list.metadata.resourceVersion ?? '';
        // Watch until the server ends the stream, then resume from the last version seen.
        for (;;) {
          let gone = false;
          await this.opts.client.watch<PolicyObject>(
            path,
            rv,
            (ev: WatchEvent<PolicyObject>) => {
              if (ev.type === 'ERROR') {
                // 410 Gone: the version is compacted away; only a fresh list recovers.
                gone = true;
                return;
              }
              if (ev.object.metadata.resourceVersion !== undefined) rv = ev.object.metadata.resourceVersion;
              if (ev.type === 'BOOKMARK') return;
              const o = { ...ev.object, kind };
              if (ev.type === 'DELETED') map.delete(keyOf(o));
              else map.set(keyOf(o), o);
              void this.reconcile();
            },
            this.abort.signal,
          );
          if (gone || this.abort.signal.aborted) break;
        }
      } catch (e) {
        if (this.abort.signal.aborted) return;
        this.log(`${kind}: ${(e as Error).message}; retrying in ${delay} ms`);
        await sleep(delay, this.abort.signal);
        delay = Math.min(delay * 2, this.opts.maxBackoffMs ?? 30_000);
      }
    }
  }

  private reconciling: Promise<void> = Promise.resolve();

  /** Serialised: one reconcile at a time, each seeing the latest objects. */
  reconcile(): Promise<void> {
    this.reconciling = this.reconciling
      .then(() => this.reconcileNow())
      .catch((e) => this.log((e as Error).message));
    return this.reconciling;
  }

  private async reconcileNow(): Promise<void> {
    // Until both kinds are listed, applying would drop the other kind's policies for a moment.
    if (this.synced < Object.keys(RESOURCES).length) return;
    const statuses = new Map<PolicyObject, Omit<NodeStatus, 'node' | 'lastUpdateTime'>>();
    const loadOpts: LoadOptions = { defaultMode: this.opts.defaultMode };
    const cluster: Array<{ o: PolicyObject; p: Policy }> = [];
    const namespaced: Array<{ o: PolicyObject; p: Policy }> = [];
    let clusterRefused = false;
    for (const kind of ['ClusterPolicy', 'Policy'] as const) {
      for (const o of this.objects[kind].values()) {
        try {
          (kind === 'ClusterPolicy' ? cluster : namespaced).push({ o, p: toPolicy(o, loadOpts) });
        } catch (e) {
          const message =
            e instanceof PolicyError ? `${e.field ? `${e.field}: ` : ''}${e.reason}` : String(e);
          statuses.set(o, { state: 'rejected', message });
          // ClusterPolicies go all or nothing; a namespace's broken Policy holds back only itself.
          if (kind === 'ClusterPolicy') clusterRefused = true;
        }
      }
    }
    const idOf = (o: PolicyObject) => `${o.kind}/${keyOf(o)}`;
    const inForceNow = (o: PolicyObject) =>
      this.applied.has(idOf(o)) && this.applied.get(idOf(o)) === o.metadata.generation;
    let applyError = '';
    /** Namespaced objects left out of the set the agent took, and why. */
    const heldBack = new Map<PolicyObject, string>();
    const tryApply = (set: Array<{ o: PolicyObject; p: Policy }>): boolean => {
      try {
        this.opts.target.applyPolicies([...(this.opts.base?.() ?? []), ...set.map((x) => x.p)]);
        this.applied = new Map(set.map((x) => [idOf(x.o), x.o.metadata.generation]));
        this.appliedPolicies = set.map((x) => x.p);
        return true;
      } catch (e) {
        applyError = (e as Error).message;
        return false;
      }
    };
    if (!clusterRefused && !tryApply([...cluster, ...namespaced])) {
      // The agent refused the set. Without the namespaced objects that changed since the last
      // set (they are the likelier cause), the cluster's own changes still go through.
      const changed = namespaced.filter((x) => !inForceNow(x.o));
      const first = applyError;
      if (changed.length > 0 && tryApply([...cluster, ...namespaced.filter((x) => inForceNow(x.o))])) {
        for (const x of changed)
          heldBack.set(x.o, `not applied: the agent refused the set with it: ${first}`);
        applyError = '';
      } else applyError = first;
    }
    // All or nothing: while a ClusterPolicy is refused, none is applied and the agent keeps what
    // it had. An object whose generation is in force keeps its status; the others say why not.
    const inForce = new Map(this.opts.target.policyStatus().map((s) => [s.name, s]));
    for (const { o, p } of [...cluster, ...namespaced]) {
      const held = heldBack.get(o);
      if (clusterRefused || applyError !== '' || held !== undefined) {
        if (inForceNow(o)) continue;
        statuses.set(o, {
          state: 'rejected',
          message: held ?? (applyError || 'not applied: another ClusterPolicy is refused (all or nothing)'),
        });
        continue;
      }
      const s = inForce.get(p.metadata.name);
      statuses.set(o, {
        state: s?.enforcement ?? 'audit',
        rules: (s?.rules ?? []).map((r) => ({
          name: r.name,
          state: (r.enforcement ?? 'audit').split(' ')[0],
          text: r.enforcement ?? 'audit',
        })),
      });
    }
    for (const [o, st] of statuses) await this.writeStatus(o, st);
    this.onReconciled?.();
  }

  /** Server-side apply of this node's entry: the map-list keyed by node leaves other nodes' entries alone. */
  private async writeStatus(o: PolicyObject, st: Omit<NodeStatus, 'node' | 'lastUpdateTime'>): Promise<void> {
    const entry: Omit<NodeStatus, 'lastUpdateTime'> = { node: this.opts.node, ...st };
    if (o.metadata.generation !== undefined) entry.observedGeneration = o.metadata.generation;
    const key = `${o.kind}/${keyOf(o)}`;
    const same = JSON.stringify(entry);
    if (this.written.get(key) === same) return;
    const kind = o.kind as Kind;
    const base = RESOURCES[kind];
    const path =
      o.metadata.namespace === undefined
        ? `${base}/${o.metadata.name}`
        : `/apis/${API_VERSION}/namespaces/${o.metadata.namespace}/policies/${o.metadata.name}`;
    const body = {
      apiVersion: API_VERSION,
      kind: o.kind,
      metadata: {
        name: o.metadata.name,
        ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
      },
      status: { nodes: [{ ...entry, lastUpdateTime: new Date().toISOString() }] },
    };
    const manager = encodeURIComponent(`peregrine-${this.opts.node}`);
    try {
      await this.opts.client.request(
        'PATCH',
        `${path}/status?fieldManager=${manager}&force=true`,
        body,
        'application/apply-patch+yaml',
      );
      this.written.set(key, same);
    } catch (e) {
      // The object may be gone already; the next event or relist writes again.
      if (!(e instanceof KubeError && e.status === 404))
        this.log(`write status of ${key}: ${(e as Error).message}`);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
