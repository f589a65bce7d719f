// SPDX-License-Identifier: Apache-2.0
// One output: a Transport behind a bounded in-memory queue, with its filter,
// rate limit, batching, retries with backoff, optional disk spool and counters.
// offer() runs on the agent's consumer loop: O(1), never waits, never throws.
import { compileOutputFilter, type OutputFilterConfig, type RateLimitConfig, TokenBucket } from './filter.js';
import { Spool, type SpoolChunk, type SpoolConfig } from './spool.js';
import type { OutputRecord, OutputStats, Transport } from './transport.js';

/** One entry of the config file's `outputs:` list (options are the type's own). */
export interface OutputConfig {
  name: string;
  type: string;
  filter?: OutputFilterConfig;
  rateLimit?: RateLimitConfig;
  queue?: { maxRecords?: number };
  batch?: { maxRecords?: number; maxWaitMs?: number };
  retry?: { initialMs?: number; maxMs?: number };
  spool?: SpoolConfig;
  options?: Record<string, unknown>;
}

export const DEFAULTS = {
  queueMax: 10_000,
  batchMax: 500,
  batchWaitMs: 1000,
  retryInitialMs: 500,
  retryMaxMs: 30_000,
};

/**
 * A transport throws this for a batch the server refused for good (HTTP 400,
 * 413): retrying cannot help, so the batch is dropped and counted as `rejected`.
 */
export class PermanentError extends Error {
  override name = 'PermanentError';
}

/**
 * Delay before retry `attempt` (1, 2, …): exponential from `initialMs`, capped
 * at `maxMs`, with "equal jitter" (half fixed, half random) so outputs that
 * failed together do not retry in lockstep, yet never retry at once.
 */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
  return base / 2 + (base / 2) * random();
}

interface Batch {
  records: OutputRecord[];
  /** The spool segment these came from, removed once all are delivered. */
  chunk?: SpoolChunk;
}

export class Output {
  readonly name: string;
  readonly type: string;
  private readonly transport: Transport;
  private readonly filter: ((r: OutputRecord) => boolean) | null;
  private readonly bucket: TokenBucket | undefined;
  private readonly spool: Spool | undefined;
  private readonly queueMax: number;
  private readonly batchMax: number;
  private readonly batchWaitMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  // The memory queue: an array consumed from `head`, compacted now and then (amortised O(1)).
  private queue: OutputRecord[] = [];
  private head = 0;
  private firstAt = 0;
  private inFlight: Batch | undefined;
  /** Spooled lines read back but not yet delivered (the rest of a segment). */
  private replay: { chunk: SpoolChunk; pos: number } | undefined;
  private sent = 0;
  private retried = 0;
  private filtered = 0;
  private readonly dropped: Record<string, number> = {};
  private healthy = true;
  private lastError: string | undefined;
  private rejectedInSend = 0;
  private waker: (() => void) | undefined;
  private cancelBackoff: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(cfg: OutputConfig, transport: Transport) {
    this.name = cfg.name;
    this.type = cfg.type;
    this.transport = transport;
    this.filter = compileOutputFilter(cfg.filter);
    this.bucket = cfg.rateLimit !== undefined ? new TokenBucket(cfg.rateLimit) : undefined;
    this.queueMax = cfg.queue?.maxRecords ?? DEFAULTS.queueMax;
    this.batchMax = cfg.batch?.maxRecords ?? DEFAULTS.batchMax;
    this.batchWaitMs = cfg.batch?.maxWaitMs ?? DEFAULTS.batchWaitMs;
    this.retryInitialMs = cfg.retry?.initialMs ?? DEFAULTS.retryInitialMs;
    this.retryMaxMs = cfg.retry?.maxMs ?? DEFAULTS.retryMaxMs;
    if (cfg.spool !== undefined) {
      this.spool = new Spool(cfg.spool);
      this.spool.onError = (n, err) => {
        this.drop('spool_error', n);
        this.lastError = `spool: ${err.message}`;
      };
      this.spool.onWritten = () => this.wake();
    }
  }

  /** Starts delivering (spooled records of an earlier run first). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Takes one record, or counts why not. Synchronous and O(1): the consumer loop never waits here. */
  offer(record: OutputRecord): void {
    if (this.closing) {
      this.drop('closed', 1);
      return;
    }
    if (this.filter !== null && !this.filter(record)) {
      this.filtered++;
      return;
    }
    if (this.bucket !== undefined && !this.bucket.take()) {
      this.drop('rate_limited', 1);
      return;
    }
    const queued = this.queue.length - this.head;
    const spool = this.spool;
    // Once anything is spooled, everything newer goes behind it (order); a down server spools at once.
    if (spool !== undefined && (queued >= this.queueMax || !this.healthy || spool.records > 0)) {
      if (!spool.append(record.line)) this.drop('spool_full', 1);
      return;
    }
    if (queued >= this.queueMax) {
      this.drop('queue_full', 1);
      return;
    }
    this.queue.push(record);
    if (queued === 0) {
      this.firstAt = performance.now();
      this.wake();
    } else if (queued + 1 >= this.batchMax) this.wake();
  }

  /** The transport reported records refused inside an accepted response (OutputContext.rejected). */
  rejected(count: number, reason: string, message: string): void {
    this.drop(reason, count);
    this.rejectedInSend += count;
    this.lastError = message;
  }

  stats(): OutputStats {
    const s: OutputStats = {
      name: this.name,
      type: this.type,
      sent: this.sent,
      retried: this.retried,
      dropped: { ...this.dropped },
      filtered: this.filtered,
      queued:
        this.queue.length -
        this.head +
        (this.inFlight?.chunk === undefined ? (this.inFlight?.records.length ?? 0) : 0),
      spooled: this.spool?.records ?? 0,
      healthy: this.healthy,
    };
    if (this.lastError !== undefined) s.last_error = this.lastError;
    return s;
  }

  /**
   * Delivers what it can until `deadlineMs` has passed, then stops: records
   * still in memory go to the spool (replayed by the next run) or are counted
   * as dropped `shutdown`.
   */
  async close(deadlineMs = 5000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.start();
    this.wake();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([this.loop, timedOut]);
    clearTimeout(timer);
    this.stopped = true;
    this.wake();
    this.cancelBackoff?.();
    if (this.timer !== undefined) clearTimeout(this.timer);
    // A send still pending is abandoned: its records count with the queue's.
    const left: OutputRecord[] = [];
    if (this.inFlight !== undefined && this.inFlight.chunk === undefined) left.push(...this.inFlight.records);
    left.push(...this.queue.slice(this.head));
    this.queue = [];
    this.head = 0;
    this.inFlight = undefined;
    if (left.length > 0) {
      const lost =
        this.spool !== undefined ? await this.spool.persistOlder(left.map((r) => r.line)) : left.length;
      if (lost > 0) this.drop('shutdown', lost);
    }
    await this.spool?.flush();
    await this.transport.close().catch(() => {});
  }

  private drop(reason: string, n: number): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
  }

  private wake(): void {
    const w = this.waker;
    if (w === undefined) return;
    this.waker = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    w();
  }

  /** Waits `ms` or until a record arrives (wake). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.waker = resolve;
      this.timer = setTimeout(() => this.wake(), ms);
    });
  }

  /** Waits out a backoff: new records do not cut it short, only close() does (at its deadline). */
  private backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.cancelBackoff = undefined;
        resolve();
      }, ms);
      this.cancelBackoff = () => {
        clearTimeout(t);
        this.cancelBackoff = undefined;
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const batch = await this.next();
      if (this.stopped) return;
      if (batch === undefined) {
        if (this.closing) return;
        continue;
      }
      this.inFlight = batch;
      const ok = await this.deliver(batch.records);
      if (this.stopped) return;
      this.inFlight = undefined;
      if (
        batch.chunk !== undefined &&
        ok &&
        this.replay?.chunk === batch.chunk &&
        this.replay.pos >= batch.chunk.lines.length
      ) {
        this.replay = undefined;
        await this.spool?.remove(batch.chunk.id);
      }
    }
  }

  /** The next batch: memory queue first (oldest), then the spool; waits for a full batch or maxWaitMs. */
  private async next(): Promise<Batch | undefined> {
    for (;;) {
      if (this.stopped) return undefined;
      const queued = this.queue.length - this.head;
      if (queued > 0) {
        const wait = this.firstAt + this.batchWaitMs - performance.now();
        if (queued >= this.batchMax || wait <= 0 || this.closing) return { records: this.take(queued) };
        await this.sleep(wait);
        continue;
      }
      if (this.replay === undefined && this.spool !== undefined && this.spool.records > 0) {
        const chunk = await this.spool.oldest();
        if (chunk !== undefined) this.replay = { chunk, pos: 0 };
      }
      const r = this.replay;
      if (r !== undefined) {
        const lines = r.chunk.lines.slice(r.pos, r.pos + this.batchMax);
        r.pos += lines.length;
        return { records: lines.map(fromLine), chunk: r.chunk };
      }
      if (this.closing) return undefined;
      await new Promise<void>((resolve) => {
        this.waker = resolve;
      });
    }
  }

  private take(queued: number): OutputRecord[] {
    const n = Math.min(queued, this.batchMax);
    const out = this.queue.slice(this.head, this.head + n);
    this.head += n;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.head < this.queue.length) this.firstAt = performance.now();
    return out;
  }

  /** Sends until accepted, refused for good, or stopped; true when the batch is done with. */
  private async deliver(records: OutputRecord[]): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      this.rejectedInSend = 0;
      try {
        await this.transport.send(records);
        this.sent += records.length - Math.min(this.rejectedInSend, records.length);
        this.healthy = true;
        return true;
      } catch (err) {
        this.healthy = false;
        this.lastError = err instanceof Error ? err.message : String(err);
        if (err instanceof PermanentError) {
          this.drop('rejected', records.length);
          return true;
        }
      }
      if (this.stopped) return false;
      await this.backoff(backoffMs(attempt, this.retryInitialMs, this.retryMaxMs));
      if (this.stopped) return false;
      this.retried++;
    }
  }
}

/** A spooled line back as a record (the kind is read from the line itself). */
function fromLine(line: string): OutputRecord {
  const value = JSON.parse(line) as OutputRecord['value'];
  return { kind: value.kind, line, value };
}
