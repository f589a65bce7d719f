// SPDX-License-Identifier: Apache-2.0
// Bounded in-memory stores behind the HTTP API: each process's recent events
// (for GET /api/v1/processes/:exec_id) and the recent alerts (GET /api/v1/alerts).
// Both hold JSON lines as encoded once for every consumer, and count what they evict.

/** Bounds of the per-process event store. */
export interface ProcessEventBounds {
  /** Events kept per process, newest win. Default 64. */
  perProcess: number;
  /** Events kept in all. Default 20000. */
  maxEvents: number;
  /** Bytes of JSON kept in all. Default 16 MiB. */
  maxBytes: number;
}

interface Stored {
  execId: string;
  line: string;
  /** False once evicted (its slot in the ring is then skipped). */
  live: boolean;
}

export interface ProcessExit {
  time: string;
  code: number;
  signal: number;
  signal_name?: string;
}

interface ProcessEvents {
  events: Stored[];
  exit?: ProcessExit;
}

export interface ProcessEventStats {
  processes: number;
  events: number;
  bytes: number;
  /** Events evicted because their process had over perProcess. */
  evicted_per_process: number;
  /** Events evicted because the store was over maxEvents or maxBytes. */
  evicted_total_bound: number;
}

/**
 * Recent events by exec_id. One ring of every stored event in arrival order
 * bounds the total: when full, the oldest goes, whichever process it was.
 */
export class ProcessEventStore {
  private readonly bounds: ProcessEventBounds;
  private readonly byProcess = new Map<string, ProcessEvents>();
  private readonly ring: Array<Stored | undefined>;
  private head = 0;
  private count = 0;
  private events = 0;
  private bytes = 0;
  private evictedPerProcess = 0;
  private evictedTotal = 0;

  constructor(bounds: Partial<ProcessEventBounds> = {}) {
    this.bounds = {
      perProcess: bounds.perProcess ?? 64,
      maxEvents: bounds.maxEvents ?? 20_000,
      maxBytes: bounds.maxBytes ?? 16 * 1024 * 1024,
    };
    this.ring = new Array(this.bounds.maxEvents);
  }

  add(execId: string, line: string, exit?: ProcessExit): void {
    let p = this.byProcess.get(execId);
    if (p === undefined) {
      p = { events: [] };
      this.byProcess.set(execId, p);
    }
    if (exit !== undefined) p.exit = exit;
    const s: Stored = { execId, line, live: true };
    p.events.push(s);
    this.events++;
    this.bytes += line.length;
    if (p.events.length > this.bounds.perProcess) {
      this.kill(p.events.shift() as Stored);
      this.evictedPerProcess++;
    }
    // The ring's slot count bounds events; a slot whose event was already evicted is just reused.
    if (this.count === this.ring.length) this.evictOldest();
    this.ring[(this.head + this.count) % this.ring.length] = s;
    this.count++;
    while (this.bytes > this.bounds.maxBytes && this.count > 0) this.evictOldest();
  }

  /** The process's stored events, oldest first, as JSON lines; and its exit when seen. */
  get(execId: string): { events: string[]; exit?: ProcessExit } {
    const p = this.byProcess.get(execId);
    if (p === undefined) return { events: [] };
    return { events: p.events.map((s) => s.line), exit: p.exit };
  }

  stats(): ProcessEventStats {
    return {
      processes: this.byProcess.size,
      events: this.events,
      bytes: this.bytes,
      evicted_per_process: this.evictedPerProcess,
      evicted_total_bound: this.evictedTotal,
    };
  }

  private evictOldest(): void {
    const s = this.ring[this.head];
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
    if (s === undefined || !s.live) return;
    const p = this.byProcess.get(s.execId);
    // A process's events are in arrival order too: the globally oldest live one is its first.
    if (p !== undefined && p.events[0] === s) p.events.shift();
    this.kill(s);
    this.evictedTotal++;
  }

  private kill(s: Stored): void {
    s.live = false;
    this.events--;
    this.bytes -= s.line.length;
    const p = this.byProcess.get(s.execId);
    if (p !== undefined && p.events.length === 0) this.byProcess.delete(s.execId);
  }
}

/** One stored alert: its sequence number (for `since_seq`), time and JSON. */
export interface StoredAlert<A> {
  seq: number;
  alert: A;
  line: string;
}

/** The last `max` alerts, oldest evicted first (counted). */
export class AlertRing<A> {
  private readonly items: Array<StoredAlert<A> | undefined>;
  private head = 0;
  private count = 0;
  private seq = 0;
  private evicted = 0;

  constructor(max = 1000) {
    this.items = new Array(Math.max(1, max));
  }

  add(alert: A, line: string): void {
    if (this.count === this.items.length) {
      this.head = (this.head + 1) % this.items.length;
      this.count--;
      this.evicted++;
    }
    this.items[(this.head + this.count) % this.items.length] = { seq: ++this.seq, alert, line };
    this.count++;
  }

  /** Newest first, the ones `keep` accepts, at most `limit`. */
  newest(keep: (a: StoredAlert<A>) => boolean, limit: number): StoredAlert<A>[] {
    const out: StoredAlert<A>[] = [];
    for (let i = this.count - 1; i >= 0 && out.length < limit; i--) {
      const a = this.items[(this.head + i) % this.items.length] as StoredAlert<A>;
      if (keep(a)) out.push(a);
    }
    return out;
  }

  stats(): { stored: number; evicted: number; last_seq: number } {
    return { stored: this.count, evicted: this.evicted, last_seq: this.seq };
  }
}
