// SPDX-License-Identifier: Apache-2.0
// tracefs must be mounted for libbpf to resolve tracepoint and legacy kprobe ids
// (`tp/`, `kprobe/` attach); minimal hosts and containers often lack it.
import { existsSync } from 'node:fs';
import { wrapNativeError } from './errors.js';
import { native } from './native.js';
import { findMount } from './sysfs.js';

const TRACEFS = '/sys/kernel/tracing';
let mounted: string | undefined;

/**
 * Returns where tracefs is mounted, mounting it at /sys/kernel/tracing when it
 * is not (needs root; the mount is left in place, like debugfs by perf).
 */
export function ensureTracefs(): string {
  if (mounted) return mounted;
  const found = findMount('tracefs');
  if (found) {
    mounted = found;
    return found;
  }
  if (!existsSync(TRACEFS))
    throw new Error(`mount tracefs: ${TRACEFS} does not exist (kernel without tracefs)`);
  try {
    native().mountTracefs(TRACEFS);
  } catch (e) {
    throw wrapNativeError(e, { op: 'mount tracefs', object: TRACEFS });
  }
  mounted = TRACEFS;
  return TRACEFS;
}
