// SPDX-License-Identifier: Apache-2.0
// GET a JSON document over a unix socket (Docker Engine and Podman libpod REST APIs).

import { request } from 'node:http';
import { isUnavailableErrno, RuntimeApiError } from './source.js';

/** Largest response body accepted; an inspect document is a few KiB. */
const MAX_BODY = 4 << 20;

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** GET `path` on the HTTP server listening on `socketPath`; rejects with RuntimeApiError. */
export function getJson(
  runtime: string,
  socketPath: string,
  path: string,
  signal: AbortSignal,
): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path, method: 'GET', headers: { Host: 'localhost' }, signal },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) {
            req.destroy(new RuntimeApiError(runtime, 'protocol', `GET ${path}: body over ${MAX_BODY} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json')) {
            try {
              body = JSON.parse(text);
            } catch (err) {
              reject(new RuntimeApiError(runtime, 'protocol', `GET ${path}: bad JSON`, { cause: err }));
              return;
            }
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', (err) => reject(wrap(runtime, path, err, signal)));
      },
    );
    req.on('error', (err) => reject(wrap(runtime, path, err, signal)));
    req.end();
  });
}

function wrap(runtime: string, path: string, err: Error, signal: AbortSignal): RuntimeApiError {
  if (err instanceof RuntimeApiError) return err;
  if (signal.aborted)
    return new RuntimeApiError(runtime, 'timeout', `GET ${path}: timed out`, { cause: err });
  const code = (err as NodeJS.ErrnoException).code;
  if (isUnavailableErrno(code)) {
    return new RuntimeApiError(runtime, 'unavailable', `GET ${path}: ${code}`, { cause: err });
  }
  return new RuntimeApiError(runtime, 'protocol', `GET ${path}: ${err.message}`, { cause: err });
}
