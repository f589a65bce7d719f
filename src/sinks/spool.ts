// SPDX-License-Identifier: Apache-2.0
// An output's disk spool: JSON lines in numbered segment files under one
// directory, bounded in bytes, read back oldest first. Appends are buffered and
// written asynchronously (one write in flight), so the consumer loop never
// waits for the disk; segments left by an earlier run are replayed first.

import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { appendFile, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface SpoolConfig {
  /** Directory of this output's segments (created; one directory per output). */
  dir: string;
  /** Bound on the bytes on disk plus those waiting to be written; beyond it records are dropped (spool_full). */
  maxBytes: number;
  /** A segment is closed (and becomes replayable) at this size. Default min(maxBytes / 4, 4 MiB). */
  segmentBytes?: number;
}

interface Segment {
  id: number;
  bytes: number;
  records: number;
}

/** A segment read back: its lines, and the id to remove() once they are delivered. */
export interface SpoolChunk {
  id: number;
  lines: string[];
}

const SEGMENT = /^(\d{16})\.jsonl$/;
// Fresh spools start high so a shutdown can write older records below the oldest segment.
const FIRST_ID = 1_000_000_000;

export class Spool {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  /** Every segment on disk, oldest first; the last one is open for appends. */
  private readonly segments: Segment[] = [];
  private pending: string[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> | undefined;
  /** Lines taken from `pending` whose write has not finished: still counted against the bound. */
  private writingLines = 0;
  private writingBytes = 0;
  private bytesTotal = 0;
  private recordsTotal = 0;
  /** Lines lost to a failed write, reported once through onError. */
  onError: (lines: number, err: Error) => void = () => {};
  /** Called when appended lines reached the disk (the output may replay them). */
  onWritten: () => void = () => {};

  constructor(cfg: SpoolConfig) {
    this.dir = cfg.dir;
    this.maxBytes = cfg.maxBytes;
    this.segmentBytes = cfg.segmentBytes ?? Math.max(1, Math.min(Math.floor(cfg.maxBytes / 4), 4 << 20));
    // Events name processes, files and peers: only the agent's user reads the spool.
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // Segments a previous run left: counted now (startup may read), replayed before anything new.
    for (const name of readdirSync(this.dir).sort()) {
      const m = SEGMENT.exec(name);
      if (m === null) continue;
      const path = join(this.dir, name);
      const bytes = statSync(path).size;
      const records = countLines(readFileSync(path, 'utf8'));
      this.segments.push({ id: Number(m[1]), bytes, records });
      this.bytesTotal += bytes;
      this.recordsTotal += records;
    }
    const last = this.segments.at(-1);
    this.segments.push({ id: last !== undefined ? last.id + 1 : FIRST_ID, bytes: 0, records: 0 });
  }

  /** Records on disk and waiting to be written. */
  get records(): number {
    return this.recordsTotal + this.writingLines + this.pending.length;
  }

  get bytes(): number {
    return this.bytesTotal + this.writingBytes + this.pendingBytes;
  }

  /** Queues one line for the disk; false (nothing kept) when the spool is at its bound. O(1). */
  append(line: string): boolean {
    const size = Buffer.byteLength(line) + 1;
    if (this.bytes + size > this.maxBytes) return false;
    this.pending.push(line);
    this.pendingBytes += size;
    if (this.writing === undefined) this.writing = this.write();
    return true;
  }

  private async write(): Promise<void> {
    while (this.pending.length > 0) {
      const seg = this.segments[this.segments.length - 1];
      // Up to what fills the open segment, so segments stay near segmentBytes and replay in small steps.
      let n = 0;
      let bytes = 0;
      while (n < this.pending.length && (n === 0 || seg.bytes + bytes < this.segmentBytes)) {
        bytes += Buffer.byteLength(this.pending[n]) + 1;
        n++;
      }
      const lines = this.pending.splice(0, n);
      this.pendingBytes -= bytes;
      this.writingLines = n;
      this.writingBytes = bytes;
      try {
        await appendFile(this.path(seg.id), `${lines.join('\n')}\n`, { mode: 0o600 });
        seg.bytes += bytes;
        seg.records += n;
        this.bytesTotal += bytes;
        this.recordsTotal += n;
      } catch (err) {
        this.onError(n, err as Error);
      }
      this.writingLines = 0;
      this.writingBytes = 0;
      if (seg.bytes >= this.segmentBytes) this.roll();
    }
    this.writing = undefined;
    this.onWritten();
  }

  private roll(): void {
    const seg = this.segments[this.segments.length - 1];
    this.segments.push({ id: seg.id + 1, bytes: 0, records: 0 });
  }

  private path(id: number): string {
    return join(this.dir, `${String(id).padStart(16, '0')}.jsonl`);
  }

  /** The oldest segment's lines (closing the open segment when it is the only one); undefined when empty. */
  async oldest(): Promise<SpoolChunk | undefined> {
    if (this.writing !== undefined) await this.writing;
    let seg = this.segments[0];
    if (seg.records === 0 && this.segments.length === 1) return undefined;
    if (this.segments.length === 1) this.roll();
    seg = this.segments[0];
    if (seg.records === 0) {
      // An empty closed segment (its writes failed): forget it.
      this.segments.shift();
      await unlink(this.path(seg.id)).catch(() => {});
      return this.oldest();
    }
    const text = await readFile(this.path(seg.id), 'utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return { id: seg.id, lines };
  }

  /** Deletes a segment whose lines were all delivered. */
  async remove(id: number): Promise<void> {
    const i = this.segments.findIndex((s) => s.id === id);
    if (i < 0 || i === this.segments.length - 1) return;
    const [seg] = this.segments.splice(i, 1);
    this.bytesTotal -= seg.bytes;
    this.recordsTotal -= seg.records;
    await unlink(this.path(seg.id)).catch(() => {});
  }

  /**
   * At shutdown: writes records older than everything spooled (the memory
   * queue, a batch in flight) into a segment before the oldest, synchronously,
   * and waits for buffered appends. Returns how many lines did not fit.
   */
  async persistOlder(lines: readonly string[]): Promise<number> {
    if (this.writing !== undefined) await this.writing;
    let kept = 0;
    let bytes = 0;
    for (const l of lines) {
      const size = Buffer.byteLength(l) + 1;
      if (this.bytes + bytes + size > this.maxBytes) break;
      bytes += size;
      kept++;
    }
    if (kept > 0) {
      const id = this.segments[0].id - 1;
      try {
        writeFileSync(this.path(id), `${lines.slice(0, kept).join('\n')}\n`, { mode: 0o600 });
        this.segments.unshift({ id, bytes, records: kept });
        this.bytesTotal += bytes;
        this.recordsTotal += kept;
      } catch (err) {
        this.onError(kept, err as Error);
        return lines.length;
      }
    }
    return lines.length - kept;
  }

  /** Waits for buffered appends to reach the disk. */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
