// SPDX-License-Identifier: Apache-2.0
// What a runtime metadata source answers, and the one error class of the runtime-API boundary.

import type { ContainerInfo, PodInfo } from '../events/types.js';
import type { ParsedCgroup } from './cgroup.js';

/** What a runtime's API says about one container. */
export interface Metadata {
  container: ContainerInfo;
  pod?: PodInfo;
  /** Host pid of the container's first process (the OCI init), when the runtime reports it. */
  initPid?: number;
}

/**
 * One runtime API. `lookup` resolves to null when the runtime does not know the container
 * (removed, or not its container) and rejects with a RuntimeApiError otherwise.
 */
export interface MetadataSource {
  /** Counter key in `stats().runtimes`, e.g. "containerd", "cri", "docker", "podman". */
  readonly name: string;
  lookup(key: ParsedCgroup, signal: AbortSignal): Promise<Metadata | null>;
  close(): void;
}

/**
 * Why a runtime API call failed: `unavailable` (socket missing, refused, daemon down),
 * `timeout` (no answer in time), `protocol` (an answer we could not use).
 */
export type RuntimeFailure = 'unavailable' | 'timeout' | 'protocol';

export class RuntimeApiError extends Error {
  override readonly name = 'RuntimeApiError';
  constructor(
    readonly runtime: string,
    readonly failure: RuntimeFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${runtime}: ${message}`, options);
  }
}

/** Socket errors that mean "nobody is listening". */
export function isUnavailableErrno(code: unknown): boolean {
  return (
    code === 'ENOENT' ||
    code === 'ECONNREFUSED' ||
    code === 'EACCES' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE'
  );
}
