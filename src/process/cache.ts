// SPDX-License-Identifier: Apache-2.0
// The process cache: every process identity the kernel reported (exec, fork,
// or seeded at start), its context built and serialised once, its ancestry,
// bounded in size and reclaimed after exit with a grace period.
import type { ProcessFlag, ProcessInfo } from '../events/types.js';
import { capabilityHex } from './capabilities.js';
import { execId, type KernelClock, type NodeIdentity } from './identity.js';

/** What a sensor hands the cache: one decoded exec, fork or seed record. */
export interface ProcessRecord {
  origin: 'exec' | 'fork' | 'procfs';
  pid: number;
  tid: number;
  ppid: number;
  /** Identity start (kernel monotonic ns): the key's second half. */
  ktime: number;
  parentPid: number;
  /** 0 when the parent is unknown (kernel threads, pid 1). */
  parentKtime: number;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  auid: number;
  capEffective: number;
  capPermitted: number;
  ns: ProcessInfo['ns'];
  cgroupId: number;
  cgroupName: string;
  binary: string;
  args: string[];
  cwd: string;
  tty: string;
  flags: ProcessFlag[];
}

/**
 * One cached identity. `info` (the public ProcessInfo) and `json` (it,
 * serialised) are built on first use and then reused for every event: most
 * forks exec at once and are never printed, so they never pay for either
 * (bench/pipeline: JSON.stringify per upsert was 39% of the decode path).
 */
export class ProcessEntry {
  readonly pid: number;
  readonly ktime: number;
  readonly parentPid: number;
  readonly parentKtime: number;
  /** Capability masks behind `info.cap` (a forked child inherits them). */
  readonly capMasks: { readonly effective: number; readonly permitted: number };
  /** Monotonic ms when the process exited, 0 while alive. */
  exitedAt = 0;
  /** Events attributed to this identity (for `peregrine` listings and tests). */
  events = 0;
  private rec: ProcessRecord | undefined;
  private built: ProcessInfo | undefined;
  private serialised: string | undefined;
  private readonly owner: ProcessCache;

  constructor(rec: ProcessRecord, owner: ProcessCache) {
    this.pid = rec.pid;
    this.ktime = rec.ktime;
    this.parentPid = rec.parentPid;
    this.parentKtime = rec.parentKtime;
    this.capMasks = { effective: rec.capEffective, permitted: rec.capPermitted };
    this.rec = rec;
    this.owner = owner;
  }

  get info(): ProcessInfo {
    if (this.built === undefined) {
      this.built = this.owner.buildInfo(this.rec as ProcessRecord);
      this.rec = undefined; // info holds the same strings and arrays
    }
    return this.built;
  }

  get json(): string {
    if (this.serialised === undefined) this.serialised = JSON.stringify(this.info);
    return this.serialised;
  }
}

export interface ProcessCacheOptions {
  /** Upper bound on cached identities; the oldest exited ones go first. Default 65536. */
  maxEntries?: number;
  /** How long an exited identity stays resolvable for late events. Default 30 s. */
  graceMs?: number;
  node: NodeIdentity;
  clock: KernelClock;
}

export interface ProcessCacheStats {
  size: number;
  alive: number;
  inserted: number;
  updated: number;
  hits: number;
  misses: number;
  reclaimed: number;
  evictedAlive: number;
}

/** Key of an identity whose start time another identity already holds in `byKtime`. */
function keyOf(pid: number, ktime: number): string {
  return `${pid}:${ktime}`;
}

export class ProcessCache {
  // Identities by start time: a number key (no string built per lookup; string
  // keys were a third of the decode path in bench/pipeline). Two identities
  // with the same start time (different CPUs, the same ns; or doubles rounding
  // past 2^53 ns of uptime) are kept apart in `collisions`, keyed by pid too.
  private readonly byKtime = new Map<number, ProcessEntry>();
  private readonly collisions = new Map<string, ProcessEntry>();
  // The newest identity per pid: most lookups hit here without building a key string.
  private readonly byPid = new Map<number, ProcessEntry>();
  private readonly maxEntries: number;
  private readonly graceMs: number;
  private readonly node: NodeIdentity;
  private readonly clock: KernelClock;
  private alive = 0;
  // Exited identities in exit order: sweeping and eviction take from the head.
  private exitedQueue: ProcessEntry[] = [];
  private exitedHead = 0;
  private readonly counters = { inserted: 0, updated: 0, hits: 0, misses: 0, reclaimed: 0, evictedAlive: 0 };

  constructor(opts: ProcessCacheOptions) {
    this.maxEntries = opts.maxEntries ?? 65536;
    this.graceMs = opts.graceMs ?? 30_000;
    this.node = opts.node;
    this.clock = opts.clock;
  }

  /** Caches an identity (its context is built on first use). A repeated record (seed and exec racing) keeps the first. */
  upsert(rec: ProcessRecord): ProcessEntry {
    const existing = this.lookup(rec.pid, rec.ktime);
    if (existing !== undefined) {
      this.counters.updated++;
      return existing;
    }
    const entry = new ProcessEntry(rec, this);
    if (this.byKtime.has(rec.ktime)) this.collisions.set(keyOf(rec.pid, rec.ktime), entry);
    else this.byKtime.set(rec.ktime, entry);
    const previous = this.byPid.get(rec.pid);
    if (previous === undefined || previous.ktime <= rec.ktime) this.byPid.set(rec.pid, entry);
    this.alive++;
    this.counters.inserted++;
    if (this.size > this.maxEntries) this.evict();
    return entry;
  }

  private lookup(pid: number, ktime: number): ProcessEntry | undefined {
    const byTime = this.byKtime.get(ktime);
    if (byTime !== undefined && byTime.pid === pid) return byTime;
    return this.collisions.size === 0 ? undefined : this.collisions.get(keyOf(pid, ktime));
  }

  /**
   * An identity the cache lost (evicted, or exited before it was seen) when a
   * later record still names it: ids only, so that record's event still goes out.
   */
  idsOnly(pid: number, ktime: number, tid = pid): ProcessEntry {
    return this.upsert({
      origin: 'fork',
      pid,
      tid,
      ppid: 0,
      ktime,
      parentPid: 0,
      parentKtime: 0,
      uid: 0,
      gid: 0,
      euid: 0,
      egid: 0,
      auid: 4294967295,
      capEffective: 0,
      capPermitted: 0,
      ns: { pid: 0, mnt: 0, net: 0, user: 0, uts: 0, ipc: 0, cgroup: 0 },
      cgroupId: 0,
      cgroupName: '',
      binary: '',
      args: [],
      cwd: '',
      tty: '',
      flags: [],
    });
  }

  /** The public ProcessInfo of a record (ProcessEntry.info calls it once). */
  buildInfo(rec: ProcessRecord): ProcessInfo {
    return {
      exec_id: execId(this.node, rec.pid, rec.ktime),
      pid: rec.pid,
      tid: rec.tid,
      ppid: rec.ppid,
      uid: rec.uid,
      gid: rec.gid,
      euid: rec.euid,
      egid: rec.egid,
      auid: rec.auid,
      binary: rec.binary,
      args: rec.args,
      cwd: rec.cwd,
      tty: rec.tty,
      start_time: this.clock.toIso(rec.ktime),
      parent_exec_id: rec.parentKtime !== 0 ? execId(this.node, rec.parentPid, rec.parentKtime) : '',
      flags: rec.flags,
      cap: { effective: capabilityHex(rec.capEffective), permitted: capabilityHex(rec.capPermitted) },
      ns: rec.ns,
      cgroup: { id: rec.cgroupId, name: rec.cgroupName },
    };
  }

  /** The identity for a kernel key, or undefined (counted as a miss). */
  get(pid: number, ktime: number): ProcessEntry | undefined {
    const latest = this.byPid.get(pid);
    if (latest !== undefined && latest.ktime === ktime) {
      this.counters.hits++;
      return latest;
    }
    const entry = this.lookup(pid, ktime);
    if (entry === undefined) this.counters.misses++;
    else this.counters.hits++;
    return entry;
  }

  parentOf(entry: ProcessEntry): ProcessEntry | undefined {
    if (entry.parentKtime === 0) return undefined;
    return this.get(entry.parentPid, entry.parentKtime);
  }

  /** Ancestors above the parent, nearest first, at most `max`. Stops at a cycle or an unknown identity. */
  ancestors(entry: ProcessEntry, max = 64): ProcessEntry[] {
    const out: ProcessEntry[] = [];
    const parent = this.parentOf(entry);
    let cur = parent !== undefined ? this.parentOf(parent) : undefined;
    while (cur !== undefined && out.length < max && cur !== entry && !out.includes(cur)) {
      out.push(cur);
      cur = this.parentOf(cur);
    }
    return out;
  }

  /** Marks an identity exited; it stays resolvable for the grace period. */
  markExited(entry: ProcessEntry, nowMs: number): void {
    if (entry.exitedAt !== 0) return;
    entry.exitedAt = nowMs;
    this.alive--;
    this.exitedQueue.push(entry);
  }

  /** Reclaims identities that exited more than the grace period ago. Call periodically. */
  sweep(nowMs: number): number {
    let n = 0;
    while (this.exitedHead < this.exitedQueue.length) {
      const entry = this.exitedQueue[this.exitedHead];
      if (nowMs - entry.exitedAt < this.graceMs) break;
      this.exitedHead++;
      if (this.remove(entry)) n++;
    }
    this.compactQueue();
    this.counters.reclaimed += n;
    return n;
  }

  get size(): number {
    return this.byKtime.size + this.collisions.size;
  }

  stats(): ProcessCacheStats {
    return { size: this.size, alive: this.alive, ...this.counters };
  }

  *entries(): IterableIterator<ProcessEntry> {
    yield* this.byKtime.values();
    yield* this.collisions.values();
  }

  private remove(entry: ProcessEntry): boolean {
    if (this.byKtime.get(entry.ktime) === entry) this.byKtime.delete(entry.ktime);
    else {
      const key = keyOf(entry.pid, entry.ktime);
      if (this.collisions.get(key) !== entry) return false;
      this.collisions.delete(key);
    }
    if (this.byPid.get(entry.pid) === entry) this.byPid.delete(entry.pid);
    return true;
  }

  private compactQueue(): void {
    if (this.exitedHead > 1024 && this.exitedHead * 2 > this.exitedQueue.length) {
      this.exitedQueue = this.exitedQueue.slice(this.exitedHead);
      this.exitedHead = 0;
    }
  }

  // Over the bound: drop exited identities oldest first, then the oldest alive
  // one (counted: its later events resolve without context).
  private evict(): void {
    while (this.size > this.maxEntries && this.exitedHead < this.exitedQueue.length) {
      const entry = this.exitedQueue[this.exitedHead++];
      if (this.remove(entry)) this.counters.reclaimed++;
    }
    this.compactQueue();
    while (this.size > this.maxEntries) {
      const oldest = (this.byKtime.values().next().value ??
        this.collisions.values().next().value) as ProcessEntry;
      this.remove(oldest);
      if (oldest.exitedAt === 0) {
        this.alive--;
        this.counters.evictedAlive++;
      }
    }
  }
}
