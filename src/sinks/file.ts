// SPDX-License-Identifier: Apache-2.0
// The `file` output: JSON lines appended to one file, rotated by size and by
// age; a rotated file is renamed before the next line is written (nothing is
// lost across a rotation), then gzip-compressed in the background, keeping N.
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { type FileHandle, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { OutputRecord, OutputType, Transport } from './transport.js';

export interface FileOutputOptions {
  /** The file lines are appended to (its directory is created). */
  path: string;
  /** Rotate before a write would take the file past this size. Default 100 MiB; 0: never. */
  maxBytes?: number;
  /** Rotate a file this old (checked at each write). Default 0: never. */
  maxAgeSeconds?: number;
  /** Rotated files kept (oldest deleted first). Default 5. */
  keep?: number;
  /** Gzip rotated files (`.gz`). Default true. */
  compress?: boolean;
}

export const fileOutput: OutputType<FileOutputOptions> = {
  type: 'file',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      path: { type: 'string', minLength: 1 },
      maxBytes: { type: 'integer', minimum: 0 },
      maxAgeSeconds: { type: 'integer', minimum: 0 },
      keep: { type: 'integer', minimum: 0, maximum: 10000 },
      compress: { type: 'boolean' },
    },
  },
  create: (options) => new FileTransport(options),
};

export class FileTransport implements Transport {
  readonly type = 'file';
  private readonly path: string;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly keep: number;
  private readonly compress: boolean;
  private fh: FileHandle | undefined;
  private size = 0;
  private openedAt = 0;
  private seq = 0;
  /** Compressions and pruning run behind the writes, one after another. */
  private background: Promise<void> = Promise.resolve();

  constructor(opts: FileOutputOptions) {
    this.path = opts.path;
    this.maxBytes = opts.maxBytes ?? 100 * 1024 * 1024;
    this.maxAgeMs = (opts.maxAgeSeconds ?? 0) * 1000;
    this.keep = opts.keep ?? 5;
    this.compress = opts.compress !== false;
    mkdirSync(dirname(this.path), { recursive: true });
  }

  async send(batch: readonly OutputRecord[]): Promise<void> {
    let chunk = '';
    for (const r of batch) chunk += `${r.line}\n`;
    const bytes = Buffer.byteLength(chunk);
    if (this.fh === undefined) await this.open();
    const tooBig = this.maxBytes > 0 && this.size > 0 && this.size + bytes > this.maxBytes;
    const tooOld = this.maxAgeMs > 0 && this.size > 0 && Date.now() - this.openedAt >= this.maxAgeMs;
    if (tooBig || tooOld) await this.rotate();
    const fh = this.fh as FileHandle;
    await fh.appendFile(chunk);
    this.size += bytes;
  }

  private async open(): Promise<void> {
    this.fh = await open(this.path, 'a', 0o640);
    const st = await this.fh.stat();
    this.size = st.size;
    // An existing file's age counts from its last change: a restart does not reset it.
    this.openedAt = st.size > 0 ? st.mtimeMs : Date.now();
  }

  /** Renames the current file aside and opens a fresh one; compression and pruning follow in the background. */
  private async rotate(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    const aside = `${this.path}.${stamp}-${String(this.seq++).padStart(4, '0')}`;
    await rename(this.path, aside);
    await this.open();
    this.background = this.background.then(() => this.finish(aside)).catch(() => {});
  }

  private async finish(aside: string): Promise<void> {
    if (this.compress) {
      await pipeline(createReadStream(aside), createGzip(), createWriteStream(`${aside}.gz`));
      await unlink(aside);
    }
    await this.prune();
  }

  /** Deletes rotated files beyond `keep`, oldest first (names sort by time). */
  private async prune(): Promise<void> {
    const dir = dirname(this.path);
    const prefix = `${basename(this.path)}.`;
    const rotated = (await readdir(dir))
      .filter((n) => n.startsWith(prefix) && /^\d{8}T\d{9}Z-\d{4}(\.gz)?$/.test(n.slice(prefix.length)))
      .sort();
    for (const n of rotated.slice(0, Math.max(0, rotated.length - this.keep))) {
      await unlink(join(dir, n)).catch(() => {});
    }
  }

  /** Rotated files of this output, oldest first (for status and tests). */
  async rotated(): Promise<string[]> {
    await this.background;
    const dir = dirname(this.path);
    const prefix = `${basename(this.path)}.`;
    return (await readdir(dir))
      .filter((n) => n.startsWith(prefix))
      .sort()
      .map((n) => join(dir, n));
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
    await this.background;
  }
}
