// SPDX-License-Identifier: Apache-2.0
// Process identities: the kernel's (pid, ktime) key turned into a node-unique
// exec_id, and kernel monotonic timestamps turned into wall-clock time.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** Who this node is: the name in every event and the parts of every exec_id. */
export interface NodeIdentity {
  /** Node name printed in events (Kubernetes node name when NODE_NAME is set). */
  name: string;
  /** First 8 hex digits of the kernel boot id: makes exec_ids unique across reboots. */
  boot: string;
}

export function nodeIdentity(name?: string): NodeIdentity {
  let boot = '00000000';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replace(/-/g, '').slice(0, 8);
  } catch {
    // No procfs (tests off Linux): exec_ids stay unique within this boot only.
  }
  return { name: name || process.env.NODE_NAME || hostname(), boot };
}

/**
 * exec_id = base64url("node:boot:ktime:pid"). ktime is the identity's start in
 * kernel monotonic ns (exact below 2^53 ns ≈ 104 days of uptime, deterministic
 * above), so the same kernel key always gives the same id.
 */
export function execId(node: NodeIdentity, pid: number, ktime: number): string {
  return Buffer.from(`${node.name}:${node.boot}:${ktime}:${pid}`).toString('base64url');
}

/** Inverse of execId, for tools and tests. */
export function parseExecId(
  id: string,
): { node: string; boot: string; ktime: number; pid: number } | undefined {
  const text = Buffer.from(id, 'base64url').toString();
  const parts = text.split(':');
  if (parts.length < 4) return undefined;
  const pid = Number(parts.pop());
  const ktime = Number(parts.pop());
  const boot = parts.pop() as string;
  return { node: parts.join(':'), boot, ktime, pid };
}

/**
 * Converts kernel monotonic nanoseconds (bpf_ktime_get_ns, task->start_time)
 * to ISO-8601 wall-clock time with nanoseconds. Node's hrtime is the same
 * clock (CLOCK_MONOTONIC), so one offset taken at start serves every event.
 */
export class KernelClock {
  // offset = offsetMs * 1e6 + offsetNs, split so sums stay exact in doubles.
  private readonly offsetMs: number;
  private readonly offsetNs: number;

  constructor() {
    const mono = process.hrtime.bigint();
    const wallNs = BigInt(Date.now()) * 1_000_000n;
    const offset = wallNs - mono;
    this.offsetMs = Number(offset / 1_000_000n);
    this.offsetNs = Number(offset % 1_000_000n);
  }

  /** Wall-clock ms since the epoch for a kernel timestamp. */
  toEpochMs(ktime: number): number {
    return this.offsetMs + (ktime + this.offsetNs) / 1e6;
  }

  // "YYYY-MM-DDTHH:MM:SS." of the last second formatted: events come in bursts
  // within one second, so most timestamps only format their nanoseconds.
  private secondMs = Number.NaN;
  private secondPrefix = '';

  toIso(ktime: number): string {
    const rest = ktime + this.offsetNs;
    const wholeMs = Math.floor(rest / 1e6);
    const epochMs = this.offsetMs + wholeMs;
    const second = epochMs - (epochMs % 1000);
    if (second !== this.secondMs) {
      this.secondMs = second;
      this.secondPrefix = new Date(second).toISOString().slice(0, 20);
    }
    const ns = (epochMs - second) * 1e6 + Math.floor(rest - wholeMs * 1e6);
    return `${this.secondPrefix}${String(ns).padStart(9, '0')}Z`;
  }
}
