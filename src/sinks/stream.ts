// SPDX-License-Identifier: Apache-2.0
// A line sink over a file descriptor (stdout by default) that never blocks the
// consumer loop: writes go through libuv's thread pool, and when the reader
// falls behind past a byte bound, lines are dropped and counted, not queued
// without limit.
import { createWriteStream, type WriteStream } from 'node:fs';

export interface StreamSinkOptions {
  /** File descriptor to write to. Default 1 (stdout). */
  fd?: number;
  /** Bytes allowed to wait for the reader before lines are dropped. Default 64 MiB. */
  maxBufferedBytes?: number;
}

export interface SinkStats {
  lines: number;
  bytes: number;
  dropped: number;
  errors: number;
}

export class StreamSink {
  private readonly stream: WriteStream;
  private readonly maxBuffered: number;
  private pending: string[] = [];
  private readonly counters: SinkStats = { lines: 0, bytes: 0, dropped: 0, errors: 0 };
  private closed = false;

  constructor(opts: StreamSinkOptions = {}) {
    this.stream = createWriteStream('', { fd: opts.fd ?? 1, autoClose: false });
    this.maxBuffered = opts.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.stream.on('error', () => {
      // EPIPE (reader went away) and friends: count, stop writing, keep the agent alive.
      this.counters.errors++;
      this.closed = true;
    });
  }

  /** Queues one line (without newline); written at the next flush. */
  push(line: string): void {
    this.pending.push(line);
  }

  /** Writes everything queued since the last flush as one chunk. Call once per batch. */
  flush(): void {
    const n = this.pending.length;
    if (n === 0) return;
    const lines = this.pending;
    this.pending = [];
    if (this.closed || this.stream.writableLength > this.maxBuffered) {
      this.counters.dropped += n;
      return;
    }
    const chunk = `${lines.join('\n')}\n`;
    this.counters.lines += n;
    this.counters.bytes += chunk.length;
    this.stream.write(chunk);
  }

  stats(): SinkStats {
    return { ...this.counters };
  }

  /** Flushes and waits until everything queued reached the descriptor. */
  async close(): Promise<void> {
    this.flush();
    if (this.closed) return;
    this.closed = true;
    // end() calls back once every queued write reached the descriptor ('drain'
    // alone may never come for a last small write); autoClose is off, so the fd stays open.
    await new Promise<void>((resolve) => {
      this.stream.once('error', () => resolve());
      this.stream.end(() => resolve());
    });
  }
}
