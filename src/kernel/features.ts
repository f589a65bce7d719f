// SPDX-License-Identifier: Apache-2.0
// Feature probes: learn which hooks and helpers this kernel allows by loading and
// attaching one tiny program per kind from bpf/probes.bpf.c — never by version.
import { join } from 'node:path';
import { KernelError, NotSupportedError } from './errors.js';
import { packageRoot } from './native.js';
import { BpfObject } from './object.js';
import { findMount, readLsmList } from './sysfs.js';

/** Three outcomes, as in cilium/ebpf's features package. */
export type FeatureStatus =
  | { status: 'supported' }
  | { status: 'unsupported'; reason: string }
  | { status: 'inconclusive'; reason: string };

/** Probe kinds, each backed by one program of bpf/probes.bpf.c. */
export const FEATURE_PROBES = {
  /** tp/syscalls/sys_enter_getpid: syscall tracepoints (tracefs needed to attach). */
  tracepoint: 'probe_tp',
  /** tp_btf/sched_process_exec: BTF-typed tracepoints (5.5+). */
  tpBtf: 'probe_tp_btf',
  /** raw_tp/sys_enter (4.17+). */
  rawTracepoint: 'probe_raw_tp',
  /** lsm/file_open: BPF-LSM, the preferred deny path (5.7+, needs lsm=...,bpf). */
  lsm: 'probe_lsm',
  /** fentry/do_unlinkat (5.5+, needs trampolines). */
  fentry: 'probe_fentry',
  /** fexit/do_unlinkat (5.5+). */
  fexit: 'probe_fexit',
  /** kprobe/do_unlinkat. */
  kprobe: 'probe_kprobe',
  /** kprobe calling bpf_override_return (CONFIG_BPF_KPROBE_OVERRIDE; absent on most distros). */
  kprobeOverride: 'probe_override',
  /** cgroup/connect4 on the cgroup2 root (4.17+). */
  cgroupConnect4: 'probe_connect4',
  /** cgroup/sock_create on the cgroup2 root (4.10+). */
  cgroupSockCreate: 'probe_sock',
  /** xdp on loopback via bpf_link (5.9+). */
  xdp: 'probe_xdp',
  /** BPF_MAP_TYPE_RINGBUF reserve/discard (5.8+). */
  ringbuf: 'probe_ringbuf',
  /** bpf_send_signal from a tracepoint (5.3+): the kill fallback. */
  sendSignal: 'probe_signal',
  /** iter/task (5.8+). */
  iterTask: 'probe_iter',
} as const;

export type FeatureName = keyof typeof FEATURE_PROBES;

export type FeatureReport = Record<FeatureName, FeatureStatus> & {
  /** Whether "bpf" is in /sys/kernel/security/lsm (inconclusive when securityfs is absent). */
  bpfLsm: FeatureStatus;
  /** Wall time of the whole probe run. */
  durationMs: number;
};

export interface ProbeOptions {
  /** Compiled probes object; default <repo>/build/bpf/probes.bpf.o. */
  objectPath?: string;
  /** cgroup v2 directory for cgroup probes; default the cgroup2 mount from /proc/self/mounts. */
  cgroupPath?: string;
  /** Interface for the XDP probe; default 1 (loopback). */
  ifindex?: number;
}

/** errnos meaning "the kernel does not offer this", as opposed to "we may not" or "we broke it". */
const UNSUPPORTED_ERRNOS = new Set([2, 3, 22, 95, 524]);

function probeOne(
  name: FeatureName,
  program: string,
  options: Required<Omit<ProbeOptions, 'cgroupPath'>> & { cgroupPath: string | undefined },
): FeatureStatus {
  let obj: BpfObject | undefined;
  let stage = 'open';
  try {
    obj = BpfObject.open(options.objectPath);
    for (const p of obj.programs()) obj.setAutoload(p.name, p.name === program);
    stage = 'load';
    obj.load();
    stage = 'attach';
    const type = obj.programs().find((p) => p.name === program)?.type ?? '';
    if (type.startsWith('cgroup') && !options.cgroupPath) {
      return { status: 'inconclusive', reason: 'no cgroup2 mount found in /proc/self/mounts' };
    }
    const link = obj.attach(program, { cgroupPath: options.cgroupPath, ifindex: options.ifindex });
    link.close();
    return { status: 'supported' };
  } catch (e) {
    if (e instanceof NotSupportedError) return { status: 'unsupported', reason: e.reason };
    if (e instanceof KernelError && stage !== 'open' && UNSUPPORTED_ERRNOS.has(e.errno)) {
      return { status: 'unsupported', reason: `${name} program ${stage} failed: ${e.code}: ${e.message}` };
    }
    return {
      status: 'inconclusive',
      reason: `${name} probe ${stage} failed: ${e instanceof Error ? e.message : String(e)}`,
    };
  } finally {
    obj?.close();
  }
}

/**
 * Loads and attaches each probe alone (detaching at once) and reports per kind
 * whether this kernel supports it. Needs root (or CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN);
 * without privileges the outcomes are inconclusive, not unsupported.
 */
export async function probeFeatures(options: ProbeOptions = {}): Promise<FeatureReport> {
  const start = performance.now();
  const opts = {
    objectPath: options.objectPath ?? join(packageRoot(), 'build', 'bpf', 'probes.bpf.o'),
    cgroupPath: options.cgroupPath ?? findMount('cgroup2'),
    ifindex: options.ifindex ?? 1,
  };
  const report = {} as Record<FeatureName, FeatureStatus>;
  for (const [name, program] of Object.entries(FEATURE_PROBES) as [FeatureName, string][]) {
    report[name] = probeOne(name, program, opts);
  }
  const list = readLsmList();
  let bpfLsm: FeatureStatus;
  if (list === undefined) {
    bpfLsm = {
      status: 'inconclusive',
      reason: `/sys/kernel/security/lsm absent (securityfs not mounted); lsm probe: ${report.lsm.status}`,
    };
  } else if (list.split(',').includes('bpf')) {
    bpfLsm = { status: 'supported' };
  } else {
    bpfLsm = { status: 'unsupported', reason: `bpf not in lsm list: ${list}` };
  }
  return { ...report, bpfLsm, durationMs: performance.now() - start };
}
