// SPDX-License-Identifier: Apache-2.0
// Clients for the HTTP API tests: JSON requests and an SSE reader, over HTTP or HTTPS.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
  json: () => unknown;
}

export interface RequestOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  /** CA certificate for HTTPS. */
  ca?: Buffer;
}

/** One request; resolves with status, headers and body whatever the status. */
export function call(url: string, opts: RequestOptions = {}): Promise<Reply> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      { method: opts.method ?? 'GET', headers: opts.headers, ca: opts.ca, timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

export interface SseMessage {
  event: string;
  data: string;
}

export interface SseReader {
  messages: SseMessage[];
  /** Comment lines seen (": heartbeat"). */
  comments: string[];
  status: Promise<number>;
  waitFor(pred: (m: SseMessage) => boolean, timeoutMs?: number, what?: string): Promise<SseMessage>;
  close(): void;
}

/** Opens an SSE stream and parses its messages as they arrive. */
export function openSse(url: string, headers: Record<string, string> = {}): SseReader {
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  let onStatus: (n: number) => void = () => {};
  const status = new Promise<number>((r) => {
    onStatus = r;
  });
  let buf = '';
  const req = httpRequest(new URL(url), { headers }, (res) => {
    onStatus(res.statusCode ?? 0);
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
      let end = buf.indexOf('\n\n');
      while (end >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const m: SseMessage = { event: 'message', data: '' };
        let isMessage = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comments.push(line);
          else if (line.startsWith('event: ')) {
            m.event = line.slice(7);
            isMessage = true;
          } else if (line.startsWith('data: ')) {
            m.data += line.slice(6);
            isMessage = true;
          }
        }
        if (isMessage) messages.push(m);
        end = buf.indexOf('\n\n');
      }
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  return {
    messages,
    comments,
    status,
    async waitFor(pred, timeoutMs = 10_000, what = 'message') {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find(pred);
        if (found !== undefined) return found;
        if (Date.now() > end)
          throw new Error(`timed out waiting for ${what} (${messages.length} messages seen)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close() {
      req.destroy();
    },
  };
}
