// SPDX-License-Identifier: Apache-2.0
// One HTTP(S) POST for the transports that speak plain HTTP (Loki, Elasticsearch):
// a timeout, an optional CA bundle, the response body kept for error messages.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpResponse {
  status: number;
  body: string;
}

export interface HttpClientOptions {
  /** Per-request timeout; the request is abandoned (and the send rejects) after it. */
  timeoutMs: number;
  /** PEM file of the CA that signed the server's certificate (https only). */
  caFile?: string;
  /** Headers sent with every request (auth, tenant). */
  headers: Record<string, string>;
}

/** Longest response body kept: enough for any error message, bounded against a hostile server. */
const MAX_BODY = 4 << 20;

/** A POST function bound to one server's options; the CA file is read once, at creation. */
export function httpClient(
  opts: HttpClientOptions,
): (url: URL, body: string | Buffer, contentType: string) => Promise<HttpResponse> {
  const ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
  return (url, body, contentType) =>
    new Promise((resolve, reject) => {
      const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            ...opts.headers,
            'content-type': contentType,
            'content-length': Buffer.byteLength(body),
          },
          timeout: opts.timeoutMs,
          ...(ca ? { ca } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < MAX_BODY) chunks.push(c);
            size += c.length;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no response within ${opts.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
}

/** "Basic …" header value for a username and password. */
export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** The first `max` characters of a server's answer, on one line, for an error message. */
export function excerpt(text: string, max = 300): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}
