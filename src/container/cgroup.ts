// SPDX-License-Identifier: Apache-2.0
// Parse a cgroup path (v2 path or v1 path, same shapes) into the runtime, container id and pod it names.

/**
 * Which runtime's layout the path has. `cri` is the cgroupfs-driver kubelet shape
 * (`/kubepods/<qos>/pod<uid>/<64hex>`): the engine behind CRI (containerd, CRI-O, dockershim)
 * is not in the path, so the CRI endpoint is asked.
 */
export type CgroupRuntime = 'containerd' | 'cri' | 'cri-containerd' | 'crio' | 'docker' | 'podman';

/** The cgroup driver that produced the path: `systemd` uses `.slice`/`.scope` units. */
export type CgroupDriver = 'cgroupfs' | 'systemd';

/** Kubernetes QoS class, from the kubepods parent (no class segment means Guaranteed). */
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface ParsedCgroup {
  runtime: CgroupRuntime;
  containerId: string;
  driver: CgroupDriver;
  /** Kubernetes pod uid (dashes restored for the systemd shape). */
  podUid?: string;
  qos?: QosClass;
  /** containerd namespace, for the `/<ns>/<id>` shape that `ctr run` makes. */
  namespace?: string;
  /** Podman pod id, for containers inside a podman pod. */
  podmanPodId?: string;
  /**
   * False only for the bare `/<ns>/<id>` shape with a namespace that is not one of containerd's
   * well-known ones (`default`, `k8s.io`, `moby`): any two-level cgroup looks like that, so only
   * containerd's answer makes it a container.
   */
  certain: boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;
// containerd's identifier rule (namespaces and container ids): alnum runs joined by . _ -
const CONTAINERD_IDENT = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const CONTAINERD_IDENT_MAX = 76;
const KNOWN_CONTAINERD_NS = new Set(['default', 'k8s.io', 'moby']);
// First segments that are never a containerd namespace: other runtimes' parents and systemd units.
const NOT_A_NAMESPACE = new Set([
  'kubepods',
  'docker',
  'libpod_parent',
  'lxc',
  'lxc.payload',
  'machine',
  'user',
]);
const UNIT_SUFFIX = /\.(slice|scope|service|mount|socket|swap)$/;

// Leaf shapes that name a container with a runtime prefix. `.scope` is the systemd driver;
// CRI-O and podman use the same prefixes without `.scope` under cgroupfs.
const PREFIXED = /^(cri-containerd|crio|docker|libpod)-([0-9a-f]{64})(\.scope)?$/;
// conmon, the podman / CRI-O monitor, gets a sibling cgroup that is not the container.
const CONMON = /^(?:libpod|crio)-conmon-[0-9a-f]{64}(?:\.scope)?$/;

const PREFIX_RUNTIME: Record<string, CgroupRuntime> = {
  'cri-containerd': 'cri-containerd',
  crio: 'crio',
  docker: 'docker',
  libpod: 'podman',
};

/** Parse one segment that carries a runtime prefix, e.g. `docker-<id>.scope`. */
function parsePrefixed(seg: string): { runtime: CgroupRuntime; id: string; systemd: boolean } | undefined {
  const m = PREFIXED.exec(seg);
  if (m === null) return undefined;
  return { runtime: PREFIX_RUNTIME[m[1]], id: m[2], systemd: m[3] !== undefined };
}

// kubepods parents: cgroupfs `kubepods`, `burstable`, `pod<uid>`;
// systemd `kubepods.slice`, `kubepods-burstable.slice`, `kubepods-burstable-pod<uid_>.slice`.
const POD_CGROUPFS = /^pod([0-9a-fA-F-]{36}|[0-9a-fA-F]{32})$/;
const POD_SYSTEMD = /^kubepods(?:-(burstable|besteffort))?-pod([0-9a-fA-F_]{36}|[0-9a-fA-F]{32})\.slice$/;
const QOS_SYSTEMD = /^kubepods-(burstable|besteffort)\.slice$/;

function parseKubepods(segs: string[], start: number): ParsedCgroup | null {
  const driver: CgroupDriver = segs[start] === 'kubepods.slice' ? 'systemd' : 'cgroupfs';
  let qos: QosClass = 'guaranteed';
  let podUid: string | undefined;
  let i = start + 1;
  for (; i < segs.length; i++) {
    const s = segs[i];
    if (s === 'burstable' || s === 'besteffort') {
      qos = s;
      continue;
    }
    const q = QOS_SYSTEMD.exec(s);
    if (q !== null) {
      qos = q[1] as QosClass;
      continue;
    }
    const pc = POD_CGROUPFS.exec(s);
    if (pc !== null) {
      podUid = pc[1].toLowerCase();
      break;
    }
    const ps = POD_SYSTEMD.exec(s);
    if (ps !== null) {
      if (ps[1] !== undefined) qos = ps[1] as QosClass;
      podUid = ps[2].replaceAll('_', '-').toLowerCase();
      break;
    }
    return null;
  }
  if (podUid === undefined || i + 1 >= segs.length) return null; // pod-level or QoS-level cgroup
  const leaf = segs[i + 1];
  if (HEX64.test(leaf)) {
    return { runtime: 'cri', containerId: leaf, driver, podUid, qos, certain: true };
  }
  const p = parsePrefixed(leaf);
  if (p !== undefined && p.runtime !== 'podman') {
    return { runtime: p.runtime, containerId: p.id, driver, podUid, qos, certain: true };
  }
  return null; // conmon or something else inside the pod cgroup
}

const PODMAN_POD_SYSTEMD = /^machine-libpod_pod_([0-9a-f]{64})\.slice$/;

/**
 * Parse a cgroup path such as `/kubepods/burstable/pod<uid>/<id>` or a leaf name such as
 * `docker-<id>.scope`. Returns null when the path names no container (host cgroups, pod and
 * QoS parents, conmon). The outermost container segment wins: a nested runtime's inner
 * containers are unknown to the host's runtime, the outer one is not.
 */
export function parseCgroupPath(path: string): ParsedCgroup | null {
  const segs = path.split('/').filter((s) => s.length > 0);
  let podmanPodId: string | undefined;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (s === 'kubepods' || s === 'kubepods.slice') return parseKubepods(segs, i);
    if (CONMON.test(s)) return null;
    const p = parsePrefixed(s);
    if (p !== undefined) {
      const out: ParsedCgroup = {
        runtime: p.runtime,
        containerId: p.id,
        driver: p.systemd ? 'systemd' : 'cgroupfs',
        certain: true,
      };
      if (podmanPodId !== undefined && p.runtime === 'podman') out.podmanPodId = podmanPodId;
      return out;
    }
    const pp = PODMAN_POD_SYSTEMD.exec(s);
    if (pp !== null) {
      podmanPodId = pp[1];
      continue;
    }
    if (s === 'docker' && i + 1 < segs.length && HEX64.test(segs[i + 1])) {
      return { runtime: 'docker', containerId: segs[i + 1], driver: 'cgroupfs', certain: true };
    }
    if (s === 'libpod_parent') {
      // `/libpod_parent/libpod-<id>` or, in a pod, `/libpod_parent/<podid>/libpod-<id>`;
      // `/libpod_parent/conmon` is the monitor.
      const next = segs[i + 1];
      if (next !== undefined && HEX64.test(next)) {
        podmanPodId = next;
        i++;
      }
    }
  }
  // `ctr run` (cgroupfs): `/<containerd namespace>/<container id>`, exactly two levels.
  if (segs.length === 2) {
    const [ns, id] = segs;
    if (
      CONTAINERD_IDENT.test(ns) &&
      CONTAINERD_IDENT.test(id) &&
      ns.length <= CONTAINERD_IDENT_MAX &&
      id.length <= CONTAINERD_IDENT_MAX &&
      !NOT_A_NAMESPACE.has(ns) &&
      !UNIT_SUFFIX.test(ns) &&
      !UNIT_SUFFIX.test(id)
    ) {
      return {
        runtime: 'containerd',
        containerId: id,
        driver: 'cgroupfs',
        namespace: ns,
        certain: KNOWN_CONTAINERD_NS.has(ns),
      };
    }
  }
  return null;
}

/** The runtime name that goes into `ContainerInfo.runtime` when only the path is known. */
export function runtimeName(r: CgroupRuntime): string {
  switch (r) {
    case 'containerd':
    case 'cri-containerd':
      return 'containerd';
    case 'crio':
      return 'cri-o';
    case 'cri':
      return 'cri';
    default:
      return r;
  }
}
