// SPDX-License-Identifier: Apache-2.0
// Metadata from the Docker Engine API and from Podman's libpod API, both REST over a unix socket.

import type { ParsedCgroup } from './cgroup.js';
import { getJson } from './http-unix.js';
import { type Metadata, type MetadataSource, RuntimeApiError } from './source.js';

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function labels(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

function pidOf(state: unknown): number | undefined {
  const p = obj(state).Pid;
  return typeof p === 'number' && p > 0 ? p : undefined;
}

/** Docker image ids are `sha256:<hex>`; podman reports the bare hex. One form for both. */
function imageId(v: unknown): string {
  const s = str(v);
  return /^[0-9a-f]{64}$/.test(s) ? `sha256:${s}` : s;
}

/** Docker Engine API: `GET /containers/<id>/json` (unversioned path: the daemon's own API version). */
export class DockerSource implements MetadataSource {
  readonly name = 'docker';
  constructor(readonly socketPath = '/var/run/docker.sock') {}

  async lookup(key: ParsedCgroup, signal: AbortSignal): Promise<Metadata | null> {
    const res = await getJson(this.name, this.socketPath, `/containers/${key.containerId}/json`, signal);
    if (res.status === 404) return null;
    if (res.status !== 200) throw new RuntimeApiError(this.name, 'protocol', `inspect: HTTP ${res.status}`);
    const b = obj(res.body);
    const cfg = obj(b.Config);
    return {
      container: {
        id: str(b.Id) || key.containerId,
        name: str(b.Name).replace(/^\//, ''),
        image: str(cfg.Image),
        image_id: imageId(b.Image),
        runtime: 'docker',
        labels: labels(cfg.Labels),
      },
      initPid: pidOf(b.State),
    };
  }

  close(): void {}
}

/**
 * Podman's libpod API: `GET /v4.0.0/libpod/containers/<id>/json`. Several sockets may be given
 * (rootful service, another location); the first that answers is used and remembered.
 */
export class PodmanSource implements MetadataSource {
  readonly name = 'podman';
  private preferred = 0;
  constructor(readonly socketPaths: string[] = ['/run/podman/podman.sock']) {}

  async lookup(key: ParsedCgroup, signal: AbortSignal): Promise<Metadata | null> {
    let lastErr: unknown;
    const n = this.socketPaths.length;
    for (let k = 0; k < n; k++) {
      const i = (this.preferred + k) % n;
      try {
        const md = await this.lookupAt(this.socketPaths[i], key, signal);
        this.preferred = i;
        return md;
      } catch (err) {
        lastErr = err;
        if (!(err instanceof RuntimeApiError) || err.failure !== 'unavailable') throw err;
      }
    }
    throw lastErr ?? new RuntimeApiError(this.name, 'unavailable', 'no podman socket configured');
  }

  private async lookupAt(socket: string, key: ParsedCgroup, signal: AbortSignal): Promise<Metadata | null> {
    const res = await getJson(this.name, socket, `/v4.0.0/libpod/containers/${key.containerId}/json`, signal);
    if (res.status === 404) return null;
    if (res.status !== 200) throw new RuntimeApiError(this.name, 'protocol', `inspect: HTTP ${res.status}`);
    const b = obj(res.body);
    const cfg = obj(b.Config);
    return {
      container: {
        id: str(b.Id) || key.containerId,
        name: str(b.Name),
        image: str(b.ImageName) || str(cfg.Image),
        image_id: imageId(b.Image),
        runtime: 'podman',
        labels: labels(cfg.Labels),
      },
      initPid: pidOf(b.State),
    };
  }

  close(): void {}
}
