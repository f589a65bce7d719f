// SPDX-License-Identifier: Apache-2.0
// Small readers of kernel state in procfs/securityfs used by probes, hints and attach.
import { readFileSync } from 'node:fs';

/** Mount point of the first filesystem of `type` in /proc/self/mounts, if any. */
export function findMount(type: string): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[2] === type) return f[1].replace(/\\040/g, ' ');
    }
  } catch {
    // no procfs: the caller decides
  }
  return undefined;
}

/** The active LSM list ("lockdown,capability,bpf"), or undefined when securityfs is not mounted. */
export function readLsmList(): string | undefined {
  try {
    return readFileSync('/sys/kernel/security/lsm', 'utf8').trim().replace(/,$/, '');
  } catch {
    return undefined;
  }
}

/** The kernel lockdown mode when one is active ("integrity", "confidentiality"). */
export function readLockdown(): string | undefined {
  try {
    const m = /\[(\w+)\]/.exec(readFileSync('/sys/kernel/security/lockdown', 'utf8'));
    return m && m[1] !== 'none' ? m[1] : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the BPF LSM is in the active list: true/false, or undefined when unknown. */
export function bpfLsmActive(): boolean | undefined {
  const list = readLsmList();
  return list === undefined ? undefined : list.split(',').includes('bpf');
}
