// SPDX-License-Identifier: Apache-2.0
// RingBuffer: consumes a BPF_MAP_TYPE_RINGBUF on the libuv loop without blocking
// it, delivering records in batches inside one reused Buffer.
import { wrapNativeError } from './errors.js';
import type { BpfMap } from './map.js';
import { type NativeRingBufferStats, native, type RingBufferHandle } from './native.js';

/**
 * Receives one batch: `batch[0, used)` holds records back to back, each as
 * `[u32 little-endian length][record bytes]` (no padding). The same Buffer is
 * reused for every batch: decode synchronously, copy what must outlive the call.
 */
export type BatchHandler = (batch: Buffer, used: number) => void;

export interface RingBufferOptions {
  /** Size of the reused batch Buffer; a record larger than batchBytes - 4 is dropped and counted. Default 256 KiB. */
  batchBytes?: number;
  /**
   * Safety-net consume interval in ms (default 100; 0 disables). Producers that
   * submit with BPF_RB_NO_WAKEUP never wake epoll; this timer collects them.
   */
  pollIntervalMs?: number;
}

export type RingBufferStats = NativeRingBufferStats;

export class RingBuffer {
  readonly map: string;
  #handle: RingBufferHandle | undefined;
  #last: RingBufferStats | undefined;
  readonly #mapFd: number;

  /** Starts consuming `map` (a ringbuf map of a loaded object; requires 5.8+). Close it when done. */
  constructor(map: BpfMap, onBatch: BatchHandler, options: RingBufferOptions = {}) {
    this.map = map.name;
    this.#mapFd = map.fd;
    try {
      this.#handle = native().ringbufOpen(map.fd, onBatch, {
        batchBytes: options.batchBytes,
        pollIntervalMs: options.pollIntervalMs,
      });
    } catch (e) {
      throw wrapNativeError(e, { op: 'open ring buffer', object: map.name });
    }
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  /** Consumes everything available now, synchronously (e.g. before close()). */
  drain(): void {
    if (!this.#handle) throw new Error(`drain ring buffer ${this.map}: ring buffer is closed`);
    native().ringbufDrain(this.#handle);
  }

  /**
   * Counters: epoll wakeups, timer runs, records and bytes delivered (and those
   * delivered by the timer), consume rounds with records (batches), JS
   * callbacks, records dropped as larger than the batch (oversize).
   */
  /** How full the ring is now: bytes the kernel produced that the consumer has not read yet. */
  fill(): { size: number; used: number } | undefined {
    return this.#handle ? (native().ringbufFill(this.#mapFd) ?? undefined) : undefined;
  }

  stats(): RingBufferStats {
    return this.#handle ? native().ringbufStats(this.#handle) : (this.#last as RingBufferStats);
  }

  /** Stops polling and frees the consumer; safe inside the batch handler; idempotent. */
  close(): void {
    if (!this.#handle) return;
    const n = native();
    this.#last = n.ringbufStats(this.#handle);
    n.ringbufClose(this.#handle);
    this.#handle = undefined;
  }
}

/** Calls `fn(batch, offset, length)` for each record of a batch, in order. */
export function forEachRecord(
  batch: Buffer,
  used: number,
  fn: (batch: Buffer, offset: number, length: number) => void,
): void {
  let off = 0;
  while (off + 4 <= used) {
    const len = batch.readUInt32LE(off);
    fn(batch, off + 4, len);
    off += 4 + len;
  }
}
