// SPDX-License-Identifier: Apache-2.0
// A minimal Kubernetes API client: in-cluster configuration, JSON requests, list and watch.
// Only what the policy controller needs; no dependency, so the agent image stays small.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';

/** Where the kubelet mounts the pod's service-account credentials. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfig {
  /** API server base URL, "https://10.96.0.1:443" (http only in tests). */
  server: string;
  /** Bearer token, or a file read before every request (bound tokens are rotated by the kubelet). */
  token?: string;
  tokenFile?: string;
  /** PEM CA bundle the server certificate must chain to. */
  ca?: string;
}

/** The in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT and the mounted service account. */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (host === undefined || host === '') {
    throw new KubeError('read in-cluster config: KUBERNETES_SERVICE_HOST is not set (not in a pod?)', 0);
  }
  let ca: string;
  try {
    ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  } catch (e) {
    throw new KubeError(`read in-cluster config: ${(e as Error).message}`, 0);
  }
  // An IPv6 host needs brackets in a URL.
  const h = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, tokenFile: join(dir, 'token'), ca };
}

/** A failed API call: `status` is the HTTP status (0 when no response), `reason` the Status reason. */
export class KubeError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason = '',
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

/** One line of a watch stream. */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface ObjectList<T> {
  metadata: { resourceVersion?: string };
  items: T[];
}

export class KubeClient {
  constructor(readonly config: KubeConfig) {}

  /** A JSON request; the parsed body, or a KubeError carrying the server's Status message. */
  async request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<unknown> {
    const res = await this.open(method, path, body, contentType);
    const text = await readAll(res);
    if ((res.statusCode ?? 0) >= 300) throw statusError(method, path, res.statusCode ?? 0, text);
    try {
      return text === '' ? undefined : JSON.parse(text);
    } catch (e) {
      throw new KubeError(`${method} ${path}: parse response: ${(e as Error).message}`, res.statusCode ?? 0);
    }
  }

  list<T>(path: string): Promise<ObjectList<T>> {
    return this.request('GET', path) as Promise<ObjectList<T>>;
  }

  /**
   * Watches `path` from `resourceVersion`, calling `onEvent` per event, until the
   * server closes the stream (resolves) or the connection fails (rejects).
   * `signal` aborts it.
   */
  async watch<T>(
    path: string,
    resourceVersion: string,
    onEvent: (ev: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const q = `watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    const full = `${path}${path.includes('?') ? '&' : '?'}${q}`;
    const res = await this.open('GET', full, undefined, 'application/json', signal);
    if ((res.statusCode ?? 0) >= 300) throw statusError('GET', full, res.statusCode ?? 0, await readAll(res));
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line === '') continue;
          try {
            onEvent(JSON.parse(line) as WatchEvent<T>);
          } catch (e) {
            res.destroy();
            reject(new KubeError(`watch ${path}: ${(e as Error).message}`, 0));
            return;
          }
        }
      });
      res.on('end', resolve);
      res.on('error', (e) => reject(new KubeError(`watch ${path}: ${e.message}`, 0)));
      // A stream cut mid-chunk ends with 'close' and no 'end' (res.complete false).
      res.on('close', () => {
        if (!res.complete) reject(new KubeError(`watch ${path}: connection closed`, 0));
      });
    });
  }

  private open(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.config.server);
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = this.config.tokenFile ? readToken(this.config.tokenFile) : this.config.token;
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers['content-type'] = contentType;
    const opts: RequestOptions & { ca?: string } = { method, headers, signal };
    if (this.config.ca !== undefined) opts.ca = this.config.ca;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, opts, resolve);
      req.on('error', (e) => reject(new KubeError(`${method} ${url.pathname}: ${e.message}`, 0)));
      req.end(payload);
    });
  }
}

function readToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new KubeError(`read token: ${(e as Error).message}`, 0);
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
    });
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}

function statusError(method: string, path: string, code: number, text: string): KubeError {
  let message = text.slice(0, 200);
  let reason = '';
  try {
    const s = JSON.parse(text) as { message?: string; reason?: string };
    message = s.message ?? message;
    reason = s.reason ?? '';
  } catch {
    // not a Status object: keep the start of the body
  }
  return new KubeError(`${method} ${path.split('?')[0]}: ${code} ${message}`, code, reason);
}
