// SPDX-License-Identifier: Apache-2.0
// ContainerResolver: cgroup id → container and pod, from a cache that runtime API lookups fill
// in the background. `resolve` never waits for a runtime.

import type { ContainerInfo, PodInfo } from '../events/types.js';
import { type CgroupRuntime, type ParsedCgroup, parseCgroupPath, runtimeName } from './cgroup.js';
import { CgroupIndex, type RefreshResult, readProcCgroups, v1Path } from './cgroups.js';
import { ContainerdApi, ContainerdSource, CriSource } from './containerd.js';
import { DockerSource, PodmanSource } from './engine.js';
import { type AncestorRef, inContainerInitTree } from './init-tree.js';
import { type Metadata, type MetadataSource, RuntimeApiError } from './source.js';

export interface ResolveResult {
  readonly container?: ContainerInfo;
  readonly pod?: PodInfo;
  /** True while a runtime lookup for this container is in flight: metadata will follow. */
  readonly pending: boolean;
  /** Host pid of the container's init process, when the runtime reported it. */
  readonly initPid?: number;
}

export interface ContainerResolverOptions {
  /** cgroup2 mount point. Default: the first cgroup2 mount in /proc/self/mounts. */
  cgroupRoot?: string;
  /** procfs mount. Default "/proc". */
  procRoot?: string;
  /** containerd gRPC socket (containers, tasks, images and its CRI plugin). */
  containerdSocket?: string;
  /** CRI socket for `/kubepods/...` paths. Default: the containerd socket. */
  criSocket?: string;
  /** CRI-O socket for `crio-<id>` paths. Default "/var/run/crio/crio.sock". */
  crioSocket?: string;
  /** Docker Engine API socket. Default "/var/run/docker.sock". */
  dockerSocket?: string;
  /** Podman libpod API sockets, tried in order. Default ["/run/podman/podman.sock"]. */
  podmanSockets?: string[];
  /** Replace the source used for a layout (tests; other runtimes). */
  sources?: Partial<Record<CgroupRuntime, MetadataSource>>;
  /** Per-lookup time limit (ms). Default 2000. */
  timeoutMs?: number;
  /** Lookups running at once. Default 4. */
  concurrency?: number;
  /** Lookups waiting for a slot; past it a miss is answered id-only and counted in `dropped`. Default 1024. */
  maxQueue?: number;
  /** Containers whose metadata is kept. Default 4096. */
  maxContainers?: number;
  /** Cgroup ids remembered. Default 16384. */
  maxCgroups?: number;
  /** Period of the cgroup tree walk that notices removed cgroups (ms); 0: no timer. Default 10000. */
  refreshIntervalMs?: number;
  /** Minimum time between walks started by index misses (ms). Default 250. */
  minIndexRefreshMs?: number;
  /** A failed lookup (runtime down, slow, broken) is retried after this long (ms). Default 5000. */
  retryAfterMs?: number;
  /** A "no such container" answer is kept this long (ms). Default 60000. */
  absentTtlMs?: number;
  /**
   * Also attribute processes whose v2 cgroup is the root by their v1 path (/proc/PID/cgroup),
   * for hosts where a runtime writes only v1 hierarchies. Costs one procfs read per event of
   * such a process. Default false: every runtime measured here populates v2.
   */
  v1Fallback?: boolean;
  /** Called after each lookup settles (found, not found, failed): metadata may have changed. */
  onUpdate?: () => void;
}

/** Counters of one runtime API. */
export interface RuntimeCounters {
  /** Lookups started. */
  lookups: number;
  found: number;
  notFound: number;
  /** Failed lookups other than timeouts (includes `unavailable`). */
  errors: number;
  timeouts: number;
  /** Failures because the socket was missing or refused. */
  unavailable: number;
  /** Times the runtime went from answering (or unknown) to unavailable. */
  downPeriods: number;
  /** Whether the last call found it unavailable. */
  down: boolean;
  /** Total time spent down, closed periods plus the current one (ms). */
  downMs: number;
  /** resolve() calls answered id-only because this runtime's lookup failed: the attribution gap. */
  degraded: number;
}

export interface ResolverStats {
  resolves: number;
  /** Answered from a settled cache entry (metadata, host, "not found", or a recent failure). */
  hits: number;
  /** No settled entry: a lookup was started, joined, or could not be queued. */
  misses: number;
  /** resolve() calls that returned pending: true. */
  pending: number;
  /** Cgroup ids that could not be mapped to a path yet (index miss, process gone). */
  unknownCgroups: number;
  /** Misses not queued because the queue was full. */
  dropped: number;
  inflight: number;
  queued: number;
  containers: number;
  cgroups: number;
  indexSize: number;
  indexWalks: number;
  /** Containers dropped because their cgroup directory disappeared. */
  invalidations: number;
  /** Entries dropped to stay within maxContainers / maxCgroups. */
  evictions: number;
  runtimes: Record<string, RuntimeCounters>;
}

type MetaState = 'pending' | 'ok' | 'absent' | 'failed';

interface MetaEntry {
  readonly key: string;
  parsed: ParsedCgroup;
  readonly source: MetadataSource | undefined;
  state: MetaState;
  result: ResolveResult;
  retryAt: number;
  /** Set while a revalidation runs: the answer kept if the new lookup fails. */
  previous?: ResolveResult;
  revalidatedAt?: number;
}

interface CgEntry {
  /** null: not a container (host cgroup, pod parent, conmon). */
  readonly parsed: ParsedCgroup | null;
  readonly key: string;
  /** performance.now() when cached: a walk that started later and misses the id proves it gone. */
  at: number;
}

const NOT_CONTAINER: ResolveResult = Object.freeze({ pending: false });
const UNKNOWN_PENDING: ResolveResult = Object.freeze({ pending: true });
const HOST_CG: CgEntry = Object.freeze({ parsed: null, key: '', at: 0 });

function metaKey(p: ParsedCgroup): string {
  return `${p.runtime}/${p.namespace ?? ''}/${p.containerId}`;
}

/** What is known from the path alone: the id, the runtime, the pod uid. */
function idOnly(p: ParsedCgroup, pending: boolean): ResolveResult {
  if (!p.certain) return pending ? UNKNOWN_PENDING : NOT_CONTAINER;
  const container: ContainerInfo = {
    id: p.containerId,
    name: '',
    image: '',
    image_id: '',
    runtime: runtimeName(p.runtime),
    labels: {},
  };
  const pod: PodInfo | undefined =
    p.podUid !== undefined ? { namespace: '', name: '', uid: p.podUid, labels: {} } : undefined;
  return Object.freeze(pod !== undefined ? { container, pod, pending } : { container, pending });
}

function freshCounters(): RuntimeCounters {
  return {
    lookups: 0,
    found: 0,
    notFound: 0,
    errors: 0,
    timeouts: 0,
    unavailable: 0,
    downPeriods: 0,
    down: false,
    downMs: 0,
    degraded: 0,
  };
}

/**
 * Attributes cgroup ids to containers and pods. Lookups go to each runtime's own API
 * (containerd and CRI gRPC, Docker and Podman REST); results are cached per container and
 * dropped when the container's cgroup directory disappears (noticed by the periodic walk of
 * the cgroup2 tree) or when the cache is full. Call `close()` to stop the timer and sockets.
 */
export class ContainerResolver {
  readonly index: CgroupIndex;
  private readonly procRoot: string;
  private readonly sources: Partial<Record<CgroupRuntime, MetadataSource>>;
  private readonly byCgroup = new Map<number, CgEntry>();
  private readonly byV1Path = new Map<string, CgEntry>();
  private readonly meta = new Map<string, MetaEntry>();
  private readonly queue: MetaEntry[] = [];
  private running = 0;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly first: Promise<void>;
  private closed = false;
  private readonly settledWaiters = new Set<() => void>();
  private readonly onUpdate: (() => void) | undefined;
  private readonly o: Required<
    Pick<
      ContainerResolverOptions,
      | 'timeoutMs'
      | 'concurrency'
      | 'maxQueue'
      | 'maxContainers'
      | 'maxCgroups'
      | 'retryAfterMs'
      | 'absentTtlMs'
      | 'v1Fallback'
    >
  >;
  private readonly counters = new Map<string, RuntimeCounters>();
  private readonly downSince = new Map<string, number>();
  private s = {
    resolves: 0,
    hits: 0,
    misses: 0,
    pending: 0,
    unknownCgroups: 0,
    dropped: 0,
    invalidations: 0,
    evictions: 0,
  };

  constructor(opts: ContainerResolverOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.onUpdate = opts.onUpdate;
    this.index = new CgroupIndex({ root: opts.cgroupRoot, minRefreshIntervalMs: opts.minIndexRefreshMs });
    this.o = {
      timeoutMs: opts.timeoutMs ?? 2000,
      concurrency: opts.concurrency ?? 4,
      maxQueue: opts.maxQueue ?? 1024,
      maxContainers: opts.maxContainers ?? 4096,
      maxCgroups: opts.maxCgroups ?? 16384,
      retryAfterMs: opts.retryAfterMs ?? 5000,
      absentTtlMs: opts.absentTtlMs ?? 60_000,
      v1Fallback: opts.v1Fallback ?? false,
    };
    const containerdSock = opts.containerdSocket ?? '/run/containerd/containerd.sock';
    const containerd = new ContainerdApi(containerdSock, 'containerd');
    const criSock = opts.criSocket ?? containerdSock;
    const cri = criSock === containerdSock ? containerd : new ContainerdApi(criSock, 'cri');
    const criSource = new CriSource(cri, 'cri', criSock === containerdSock ? containerd : undefined);
    this.sources = {
      containerd: new ContainerdSource(containerd),
      cri: criSource,
      'cri-containerd': criSource,
      crio: new CriSource(new ContainerdApi(opts.crioSocket ?? '/var/run/crio/crio.sock', 'cri-o'), 'cri-o'),
      docker: new DockerSource(opts.dockerSocket),
      podman: new PodmanSource(opts.podmanSockets),
      ...opts.sources,
    };
    this.first = this.refresh().then(
      () => undefined,
      () => undefined,
    );
    const every = opts.refreshIntervalMs ?? 10_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.refresh().catch(() => undefined), every);
      this.timer.unref();
    }
  }

  /** Resolves once the first walk of the cgroup tree is done. */
  ready(): Promise<void> {
    return this.first;
  }

  /**
   * What is known about the container of a process, now. Never waits: on a miss it starts a
   * lookup (deduplicated, bounded, with a time limit) and answers with the id from the cgroup
   * path and `pending: true`. `cgroupName` is the v2 leaf name the kernel reported; `pid` is
   * used only when the cgroup id is not in the index yet (one read of /proc/PID/cgroup).
   */
  resolve(cgroupId: number, cgroupName: string, pid: number): ResolveResult {
    this.s.resolves++;
    let cg = this.byCgroup.get(cgroupId);
    if (cg === undefined) {
      cg = this.classify(cgroupId, cgroupName, pid);
      if (cg === undefined) {
        this.s.unknownCgroups++;
        this.s.misses++;
        this.s.pending++;
        return UNKNOWN_PENDING;
      }
    }
    if (cg.parsed === null) {
      this.s.hits++;
      return NOT_CONTAINER;
    }
    return this.forContainer(cg);
  }

  /**
   * Whether the process descends from its container's init (see inContainerInitTree), using
   * the init pid the runtime reported; undefined when that is not known (yet).
   */
  inInitTree(self: AncestorRef, ancestry: readonly AncestorRef[]): boolean | undefined {
    const cg = this.byCgroup.get(self.cgroupId);
    if (cg === undefined || cg.parsed === null) return undefined;
    const initPid = this.meta.get(cg.key)?.result.initPid;
    if (initPid === undefined) return undefined;
    return inContainerInitTree(self, ancestry, initPid);
  }

  /**
   * Places a cgroup id whose path is already known (a watcher saw the directory appear), so a
   * bare-hex leaf need not wait for the next walk. Returns the parse (null: not a container).
   */
  notePath(cgroupId: number, path: string): ParsedCgroup | null {
    const known = this.byCgroup.get(cgroupId);
    if (known !== undefined) return known.parsed;
    const parsed = parseCgroupPath(path);
    this.putCgroup(cgroupId, { parsed, key: parsed === null ? '' : metaKey(parsed), at: performance.now() });
    return parsed;
  }

  /**
   * Asks the runtime again about a container already answered (e.g. its init pid was not known
   * yet because the task was still being created), at most once per `minIntervalMs`. The current
   * answer stays in place until the new one arrives, and is kept if the new lookup fails.
   */
  revalidate(cgroupId: number, minIntervalMs = 1000): void {
    const cg = this.byCgroup.get(cgroupId);
    if (cg === undefined || cg.parsed === null) return;
    const m = this.meta.get(cg.key);
    if (m === undefined || m.state !== 'ok' || m.source === undefined) return;
    const now = Date.now();
    if (m.revalidatedAt !== undefined && now - m.revalidatedAt < minIntervalMs) return;
    if (this.queue.length >= this.o.maxQueue) return;
    m.revalidatedAt = now;
    m.previous = m.result;
    m.state = 'pending';
    this.queue.push(m);
    this.pump();
  }

  private forContainer(cg: CgEntry): ResolveResult {
    const parsed = cg.parsed as ParsedCgroup;
    let m = this.meta.get(cg.key);
    if (m !== undefined) {
      if (m.state === 'ok' || m.previous !== undefined) {
        this.s.hits++;
        return m.result;
      }
      if (m.state === 'pending') {
        this.s.misses++;
        this.s.pending++;
        return m.result;
      }
      if (Date.now() < m.retryAt) {
        this.s.hits++;
        if (m.state === 'failed' && m.source !== undefined) this.counter(m.source.name).degraded++;
        return m.result;
      }
      // retry: fall through with the same entry
    }
    this.s.misses++;
    const source = this.sources[parsed.runtime];
    if (source === undefined) {
      return idOnly(parsed, false);
    }
    if (this.queue.length >= this.o.maxQueue) {
      this.s.dropped++;
      this.s.pending++;
      return idOnly(parsed, true);
    }
    if (m === undefined) {
      m = { key: cg.key, parsed, source, state: 'pending', result: idOnly(parsed, true), retryAt: 0 };
      this.putMeta(m);
    } else {
      m.state = 'pending';
      m.result = idOnly(parsed, true);
    }
    this.queue.push(m);
    this.pump();
    this.s.pending++;
    return m.result;
  }

  /** Map a cgroup id to a parsed path; undefined when the id cannot be placed yet. */
  private classify(cgroupId: number, cgroupName: string, pid: number): CgEntry | undefined {
    const rootId = this.index.rootId;
    if (cgroupId === rootId || (rootId === undefined && (cgroupName === '/' || cgroupName === ''))) {
      if (this.o.v1Fallback) return this.classifyV1(pid);
      if (rootId !== undefined) this.putCgroup(cgroupId, { parsed: null, key: '', at: performance.now() });
      return HOST_CG;
    }
    let path = this.index.pathOf(cgroupId);
    if (path === undefined) {
      // Not indexed yet (created since the last walk). The process's own v2 path is that cgroup
      // when its leaf matches the name the kernel reported (it could have moved since); ids are
      // never reused, so the answer can be cached.
      this.refreshOnMiss();
      const pc = readProcCgroups(pid, this.procRoot);
      const v2 = pc?.v2;
      if (v2 !== undefined && v2.slice(v2.lastIndexOf('/') + 1) === cgroupName) path = v2;
    }
    let parsed: ParsedCgroup | null;
    let cacheable = true;
    if (path !== undefined) {
      parsed = parseCgroupPath(path);
    } else {
      // Process gone and the id not indexed: the leaf name alone still names most shapes.
      parsed = parseCgroupPath(cgroupName);
      if (parsed === null) return undefined;
      cacheable = false;
    }
    const cg: CgEntry = { parsed, key: parsed === null ? '' : metaKey(parsed), at: performance.now() };
    if (cacheable) this.putCgroup(cgroupId, cg);
    return cg;
  }

  private classifyV1(pid: number): CgEntry {
    const pc = readProcCgroups(pid, this.procRoot);
    const path = pc !== undefined ? v1Path(pc) : undefined;
    if (path === undefined || path === '/') return HOST_CG;
    let cg = this.byV1Path.get(path);
    if (cg === undefined) {
      const parsed = parseCgroupPath(path);
      cg = parsed === null ? HOST_CG : { parsed, key: metaKey(parsed), at: 0 };
      if (this.byV1Path.size >= this.o.maxCgroups) this.evictOldest(this.byV1Path);
      this.byV1Path.set(path, cg);
    }
    return cg;
  }

  private refreshOnMiss(): void {
    const p = this.index.refreshSoon();
    if (p !== undefined) void p.then((r) => this.invalidate(r)).catch(() => undefined);
  }

  /** Walk the cgroup2 tree now and drop what belonged to removed cgroups. */
  async refresh(): Promise<RefreshResult> {
    const r = await this.index.refresh();
    this.invalidate(r);
    return r;
  }

  private invalidate(r: RefreshResult): void {
    // Every id cached before the walk started that the walk did not find is gone: the ids the
    // walk reports as removed, and those placed from /proc/PID/cgroup that lived and died
    // between two walks. Ids cached during the walk may have been created after it read
    // their parent directory, so they wait for the next walk.
    for (const [id, cg] of this.byCgroup) {
      if (cg.at >= r.startedAt || this.index.pathOf(id) !== undefined) continue;
      this.byCgroup.delete(id);
      if (cg.key !== '' && this.meta.delete(cg.key)) this.s.invalidations++;
    }
    // v1 paths are not in the v2 index; forget them all on each walk (re-parsed on next use).
    this.byV1Path.clear();
  }

  private putCgroup(id: number, cg: CgEntry): void {
    if (this.byCgroup.size >= this.o.maxCgroups) this.evictOldest(this.byCgroup);
    this.byCgroup.set(id, cg);
  }

  private putMeta(m: MetaEntry): void {
    if (this.meta.size >= this.o.maxContainers) {
      // oldest first (Map keeps insertion order); an evicted pending lookup still completes but is not stored
      this.evictOldest(this.meta);
    }
    this.meta.set(m.key, m);
  }

  private evictOldest<K, V>(map: Map<K, V>): void {
    const first = map.keys().next();
    if (!first.done) {
      map.delete(first.value);
      this.s.evictions++;
    }
  }

  private pump(): void {
    while (this.running < this.o.concurrency && this.queue.length > 0) {
      const m = this.queue.shift() as MetaEntry;
      this.running++;
      void this.run(m).finally(() => {
        this.running--;
        this.pump();
        if (this.running === 0 && this.queue.length === 0) {
          for (const w of this.settledWaiters) w();
          this.settledWaiters.clear();
        }
      });
    }
  }

  private async run(m: MetaEntry): Promise<void> {
    const source = m.source as MetadataSource;
    const c = this.counter(source.name);
    c.lookups++;
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(
          new RuntimeApiError(source.name, 'timeout', `lookup ${m.parsed.containerId}: no answer in time`),
        );
      }, this.o.timeoutMs);
    });
    let md: Metadata | null;
    try {
      md = await Promise.race([source.lookup(m.parsed, ac.signal), deadline]);
      this.markUp(source.name, c);
    } catch (err) {
      const failure = err instanceof RuntimeApiError ? err.failure : 'protocol';
      if (failure === 'timeout') c.timeouts++;
      else c.errors++;
      if (failure === 'unavailable') {
        c.unavailable++;
        this.markDown(source.name, c);
      }
      if (m.previous !== undefined) this.settle(m, 'ok', m.previous, 0);
      else this.settle(m, 'failed', idOnly(m.parsed, false), this.o.retryAfterMs);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (md === null) {
      c.notFound++;
      this.settle(m, 'absent', idOnly(m.parsed, false), this.o.absentTtlMs);
      return;
    }
    c.found++;
    const r: ResolveResult = { container: md.container, pending: false };
    const out = r as { pod?: PodInfo; initPid?: number };
    if (md.pod !== undefined) out.pod = md.pod;
    else if (m.parsed.podUid !== undefined)
      out.pod = { namespace: '', name: '', uid: m.parsed.podUid, labels: {} };
    if (md.initPid !== undefined) out.initPid = md.initPid;
    this.settle(m, 'ok', Object.freeze(r), 0);
  }

  private settle(m: MetaEntry, state: MetaState, result: ResolveResult, ttl: number): void {
    m.state = state;
    m.result = result;
    m.retryAt = ttl > 0 ? Date.now() + ttl : 0;
    m.previous = undefined;
    this.onUpdate?.();
  }

  private counter(name: string): RuntimeCounters {
    let c = this.counters.get(name);
    if (c === undefined) {
      c = freshCounters();
      this.counters.set(name, c);
    }
    return c;
  }

  private markDown(name: string, c: RuntimeCounters): void {
    if (c.down) return;
    c.down = true;
    c.downPeriods++;
    this.downSince.set(name, Date.now());
  }

  private markUp(name: string, c: RuntimeCounters): void {
    if (!c.down) return;
    c.down = false;
    c.downMs += Date.now() - (this.downSince.get(name) ?? Date.now());
    this.downSince.delete(name);
  }

  /** Resolves when no lookup is running or queued (tests, shutdown). */
  settled(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.add(resolve));
  }

  stats(): ResolverStats {
    const runtimes: Record<string, RuntimeCounters> = {};
    const now = Date.now();
    for (const [name, c] of this.counters) {
      const since = this.downSince.get(name);
      runtimes[name] = { ...c, downMs: c.downMs + (since !== undefined ? now - since : 0) };
    }
    return {
      ...this.s,
      inflight: this.running,
      queued: this.queue.length,
      containers: this.meta.size,
      cgroups: this.byCgroup.size,
      indexSize: this.index.size,
      indexWalks: this.index.walks,
      runtimes,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const seen = new Set<MetadataSource>();
    for (const s of Object.values(this.sources)) {
      if (s !== undefined && !seen.has(s)) {
        seen.add(s);
        s.close();
      }
    }
  }
}
