// SPDX-License-Identifier: Apache-2.0
// The local control API: HTTP over a root-only unix socket. The running agent
// serves it; `peregrine status` (and later `policy`, `events`) are its clients.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';

export const DEFAULT_SOCKET = '/run/peregrine/peregrine.sock';

export function socketPath(explicit?: string): string {
  return explicit || process.env.PEREGRINE_SOCKET || DEFAULT_SOCKET;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** Routes are "METHOD /path" → handler. */
export class ControlServer {
  private server: Server | undefined;
  private readonly routes = new Map<string, Handler>();

  constructor(private readonly path: string) {}

  route(method: string, path: string, handler: Handler): void {
    this.routes.set(`${method} ${path}`, handler);
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    // A socket left by an agent that was killed: nobody is listening on it.
    if (existsSync(this.path)) {
      if (await isListening(this.path)) throw new Error(`listen on ${this.path}: another agent is running`);
      unlinkSync(this.path);
    }
    const server = createServer((req, res) => this.dispatch(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://peregrine');
    const handler = this.routes.get(`${req.method} ${url.pathname}`);
    if (handler === undefined) {
      sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}` });
      return;
    }
    Promise.resolve(handler(req, res, url)).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.end();
    });
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function isListening(path: string): Promise<boolean> {
  try {
    await controlRequest(path, 'GET', '/v1/ping');
    return true;
  } catch {
    return false;
  }
}

/** One request to the control socket; resolves with the parsed JSON body, rejects on non-2xx. */
export function controlRequest(path: string, method: string, url: string, body?: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, method, path: url, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        if ((res.statusCode ?? 500) >= 300) {
          const msg = (parsed as { error?: string })?.error ?? text;
          reject(new Error(`${method} ${url}: ${msg}`));
        } else resolve(parsed);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
