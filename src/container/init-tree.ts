// SPDX-License-Identifier: Apache-2.0
// Does a process descend from its container's first process, or was it put there by `exec`?

/** One process in an ancestry: host pid and v2 cgroup id. */
export interface AncestorRef {
  pid: number;
  cgroupId: number;
}

/**
 * True when `self` is the container's init process or descends from it.
 *
 * The rule: walk `ancestry` (nearest parent first, host pids). The answer is true as soon as a
 * process with pid `initPid` is met while still inside the container, and false as soon as an
 * ancestor is outside the container. "Inside" means `inContainer(cgroupId)`, by default the same
 * cgroup id as `self`. `docker exec`, `crictl exec`, `ctr task exec` and `podman exec` start
 * the process from the runtime (runc/crun `exec`, which then exits), so it is reparented to the
 * shim or conmon (its subreaper), which lives outside the container's cgroup: the walk leaves
 * the container before it meets the init pid.
 *
 * The answer follows the ancestry it is given. With the kernel's current parent links, an
 * orphan of an exec'd shell is adopted by the container's init (the pid namespace's reaper;
 * the shim is outside that namespace) and then counts as in the tree; with parentage recorded
 * at exec time (the exec map) it keeps its exec'd origin. Prefer the latter.
 *
 * Returns false for an empty ancestry unless `self` is the init. Callers with nested cgroups
 * inside containers (systemd in a container) pass `inContainer` that accepts the whole subtree.
 */
export function inContainerInitTree(
  self: AncestorRef,
  ancestry: readonly AncestorRef[],
  initPid: number,
  inContainer: (cgroupId: number) => boolean = (id) => id === self.cgroupId,
): boolean {
  if (self.pid === initPid) return true;
  for (const a of ancestry) {
    if (!inContainer(a.cgroupId)) return false;
    if (a.pid === initPid) return true;
  }
  return false;
}
