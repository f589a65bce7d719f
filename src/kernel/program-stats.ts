// SPDX-License-Identifier: Apache-2.0
// Run time and run count of the BPF programs this process holds, from
// bpf_prog_info: what each hook costs the kernel, for the metrics.
import { closeSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { wrapNativeError } from './errors.js';
import { native } from './native.js';

export interface ProgramRunStats {
  /** The kernel's copy of the program name (first 15 characters). */
  name: string;
  /** Loaded instances of the program in this process (a sensor loaded twice, an adopted pinned link). */
  instances: number;
  /** Nanoseconds spent in the program, summed over instances; grows only while bpf_stats_enabled is 1. */
  runTimeNs: number;
  /** Runs, summed over instances; grows only while bpf_stats_enabled is 1. */
  runCnt: number;
}

/** Whether the kernel counts program run time now (/proc/sys/kernel/bpf_stats_enabled, 5.1+). */
export function bpfStatsEnabled(): boolean {
  try {
    return readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * Turns on run-time counting (BPF_ENABLE_STATS, 5.8+) until close(): for
 * every program on the host, two clock reads per run (tens of ns). The kernel
 * counts holders, so closing never turns off what the sysctl or another
 * holder asked for.
 */
export function enableProgramRunStats(): { close(): void } {
  let fd: number;
  try {
    fd = native().enableRunStats();
  } catch (e) {
    throw wrapNativeError(e, { op: 'enable program run stats' });
  }
  let open = true;
  return {
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/**
 * Every BPF program this process holds an fd to, by name. Found through
 * /proc/self/fd (anon_inode:bpf-prog) rather than through the sensors, so
 * the metrics need nothing from sensor internals; programs another agent in
 * the same process loaded are counted too (one agent per process in practice).
 */
export function programRunStats(): ProgramRunStats[] {
  const byName = new Map<string, ProgramRunStats>();
  const seen = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  for (const name of fds) {
    const fd = Number(name);
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // closed since the listing
    }
    if (target !== 'anon_inode:bpf-prog') continue;
    const info = native().programRunStats(fd);
    // Two fds of one program (libbpf keeps one, a link another) count once.
    if (info === null || seen.has(info.id)) continue;
    seen.add(info.id);
    const row = byName.get(info.name) ?? { name: info.name, instances: 0, runTimeNs: 0, runCnt: 0 };
    row.instances++;
    row.runTimeNs += info.runTimeNs;
    row.runCnt += info.runCnt;
    byName.set(info.name, row);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
