// SPDX-License-Identifier: Apache-2.0
// The `webhook` output: each batch POSTed as a JSON array or NDJSON, signed
// with HMAC-SHA256 over "<timestamp>.<body>" so the receiver can check both
// who sent it and that it is not a replay (docs/outputs.md shows the check).
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { PermanentError } from './output.js';
import type { OutputRecord, OutputType, Transport } from './transport.js';

export interface WebhookOutputOptions {
  /** http:// or https:// URL the batches are POSTed to. */
  url: string;
  /** "json": one JSON array per batch (default); "ndjson": one line per record. */
  format?: 'json' | 'ndjson';
  /** Extra request headers (authorization, tenant). */
  headers?: Record<string, string>;
  /** HMAC key, or a file holding it (trailing newline ignored); no signature without one. */
  secret?: string;
  secretFile?: string;
  /** Header carrying "sha256=<hex>". Default X-Peregrine-Signature. */
  signatureHeader?: string;
  /** Header carrying the unix time in seconds that was signed. Default X-Peregrine-Timestamp. */
  timestampHeader?: string;
  /** PEM file of the CA that signed the server's certificate (https). */
  caFile?: string;
  /** A request without a response after this long fails (and is retried). Default 10000. */
  timeoutMs?: number;
}

export const webhookOutput: OutputType<WebhookOutputOptions> = {
  type: 'webhook',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      url: { type: 'string', pattern: '^https?://' },
      format: { enum: ['json', 'ndjson'] },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      secret: { type: 'string', minLength: 1 },
      secretFile: { type: 'string', minLength: 1 },
      signatureHeader: { type: 'string', pattern: '^[A-Za-z0-9-]+$' },
      timestampHeader: { type: 'string', pattern: '^[A-Za-z0-9-]+$' },
      caFile: { type: 'string', minLength: 1 },
      timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
    },
    // One key source: both would leave which one signs to chance.
    not: { required: ['secret', 'secretFile'] },
  },
  create: (options) => new WebhookTransport(options),
};

/** The signature a receiver recomputes: hex HMAC-SHA256 of "<timestamp>.<body>". */
export function webhookSignature(secret: string, timestamp: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** Longest response body kept for an error message: a hostile server cannot grow our memory. */
const MAX_ERROR_BODY = 1024;

export class WebhookTransport implements Transport {
  readonly type = 'webhook';
  private readonly url: URL;
  private readonly ndjson: boolean;
  private readonly headers: Record<string, string>;
  private readonly secret: string | undefined;
  private readonly signatureHeader: string;
  private readonly timestampHeader: string;
  private readonly ca: Buffer | undefined;
  private readonly timeoutMs: number;

  constructor(opts: WebhookOutputOptions) {
    this.url = new URL(opts.url);
    this.ndjson = opts.format === 'ndjson';
    this.headers = opts.headers ?? {};
    this.secret =
      opts.secret ??
      (opts.secretFile !== undefined
        ? readFileSync(opts.secretFile, 'utf8').replace(/\r?\n$/, '')
        : undefined);
    this.signatureHeader = opts.signatureHeader ?? 'X-Peregrine-Signature';
    this.timestampHeader = opts.timestampHeader ?? 'X-Peregrine-Timestamp';
    this.ca = opts.caFile !== undefined ? readFileSync(opts.caFile) : undefined;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  send(batch: readonly OutputRecord[]): Promise<void> {
    // The lines are already JSON: joined, not re-encoded.
    const body = this.ndjson
      ? `${batch.map((r) => r.line).join('\n')}\n`
      : `[${batch.map((r) => r.line).join(',')}]`;
    const headers: Record<string, string | number> = {
      ...this.headers,
      'content-type': this.ndjson ? 'application/x-ndjson' : 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    if (this.secret !== undefined) {
      const ts = String(Math.floor(Date.now() / 1000));
      headers[this.timestampHeader] = ts;
      headers[this.signatureHeader] = `sha256=${webhookSignature(this.secret, ts, body)}`;
    }
    const request = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        this.url,
        {
          method: 'POST',
          headers,
          timeout: this.timeoutMs,
          ...(this.ca !== undefined ? { ca: this.ca } : {}),
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            if (text.length < MAX_ERROR_BODY) text += c;
          });
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve();
            const msg =
              `POST ${this.url.host}${this.url.pathname}: HTTP ${status} ${text.slice(0, 200).trim()}`.trim();
            // 408 and 429 and 5xx may pass later; other 4xx never will.
            if (status >= 400 && status < 500 && status !== 408 && status !== 429)
              reject(new PermanentError(msg));
            else reject(new Error(msg));
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`POST ${this.url.host}: no response within ${this.timeoutMs} ms`)),
      );
      req.on('error', (err) =>
        reject(new Error(`POST ${this.url.host}${this.url.pathname}: ${err.message}`)),
      );
      req.end(body);
    });
  }

  async close(): Promise<void> {}
}
