// SPDX-License-Identifier: Apache-2.0
// Table-driven tests of the cgroup path parser, with paths the runtimes on the test host produced.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ParsedCgroup, parseCgroupPath } from '../../src/container/cgroup.js';

const ID = '2448ca8a5e6f4b1a0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9fe848';
const ID2 = '3d95db78a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a6c85';
const POD = '955d1146-5e73-46ba-834d-0acfd1f1e02b';
const POD_ = POD.replaceAll('-', '_');
const PODMAN_POD = 'ab'.repeat(32);

type Row = [string, Partial<ParsedCgroup> | null];

const rows: Row[] = [
  // ---- measured on this host (cgroupfs driver, hybrid v1+v2; same path in v1 and v2) ----
  [
    '/default/chk-ctr-runc',
    { runtime: 'containerd', containerId: 'chk-ctr-runc', namespace: 'default', certain: true },
  ],
  [
    '/default/probe1',
    { runtime: 'containerd', containerId: 'probe1', namespace: 'default', driver: 'cgroupfs' },
  ],
  [`/k8s.io/${ID}`, { runtime: 'containerd', containerId: ID, namespace: 'k8s.io', certain: true }],
  [`/moby/${ID}`, { runtime: 'containerd', containerId: ID, namespace: 'moby', certain: true }],
  [`/docker/${ID}`, { runtime: 'docker', containerId: ID, driver: 'cgroupfs' }],
  [
    `/libpod_parent/libpod-${ID}`,
    { runtime: 'podman', containerId: ID, driver: 'cgroupfs', podmanPodId: undefined },
  ],
  [
    `/libpod_parent/${PODMAN_POD}/libpod-${ID}`,
    { runtime: 'podman', containerId: ID, podmanPodId: PODMAN_POD },
  ],
  ['/libpod_parent/conmon', null],
  [
    `/kubepods/burstable/pod${POD}/${ID2}`,
    { runtime: 'cri', containerId: ID2, podUid: POD, qos: 'burstable' },
  ],
  [
    `/kubepods/besteffort/pod${POD}/${ID2}`,
    { runtime: 'cri', containerId: ID2, podUid: POD, qos: 'besteffort' },
  ],
  [`/kubepods/pod${POD}/${ID2}`, { runtime: 'cri', containerId: ID2, podUid: POD, qos: 'guaranteed' }],
  // pod, QoS and kubepods parents are not containers
  [`/kubepods/burstable/pod${POD}`, null],
  ['/kubepods/burstable', null],
  ['/kubepods', null],
  // host cgroups
  ['/', null],
  ['', null],
  ['/process_api/cd01c5056fdde0abbb4e00ab02b9b26b', { runtime: 'containerd', certain: false }],
  // ---- systemd driver (production shapes; made here by hand with ctr --cgroup) ----
  [
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/cri-containerd-${ID2}.scope`,
    { runtime: 'cri-containerd', containerId: ID2, podUid: POD, qos: 'burstable', driver: 'systemd' },
  ],
  [
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/cri-containerd-${ID2}.scope`,
    { runtime: 'cri-containerd', containerId: ID2, podUid: POD, qos: 'besteffort', driver: 'systemd' },
  ],
  [
    `/kubepods.slice/kubepods-pod${POD_}.slice/cri-containerd-${ID2}.scope`,
    { runtime: 'cri-containerd', containerId: ID2, podUid: POD, qos: 'guaranteed', driver: 'systemd' },
  ],
  [
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-${ID2}.scope`,
    { runtime: 'crio', containerId: ID2, podUid: POD, qos: 'burstable' },
  ],
  [
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-conmon-${ID2}.scope`,
    null,
  ],
  [
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/docker-${ID2}.scope`,
    { runtime: 'docker', containerId: ID2, podUid: POD },
  ],
  // CRI-O, cgroupfs driver
  [
    `/kubepods/burstable/pod${POD}/crio-${ID2}`,
    { runtime: 'crio', containerId: ID2, podUid: POD, driver: 'cgroupfs' },
  ],
  [`/kubepods/burstable/pod${POD}/crio-conmon-${ID2}`, null],
  // CRI-O outside Kubernetes pods, systemd
  [`/machine.slice/crio-${ID}.scope`, { runtime: 'crio', containerId: ID, driver: 'systemd' }],
  // Docker, systemd driver
  [`/system.slice/docker-${ID}.scope`, { runtime: 'docker', containerId: ID, driver: 'systemd' }],
  ['/system.slice/docker.service', null],
  ['/system.slice/containerd.service', null],
  // Podman, systemd driver (rootful and rootless), conmon beside it
  [`/machine.slice/libpod-${ID}.scope`, { runtime: 'podman', containerId: ID, driver: 'systemd' }],
  [`/machine.slice/libpod-${ID}.scope/container`, { runtime: 'podman', containerId: ID }],
  [`/machine.slice/libpod-conmon-${ID}.scope`, null],
  [
    `/machine.slice/machine-libpod_pod_${PODMAN_POD}.slice/libpod-${ID}.scope`,
    { runtime: 'podman', containerId: ID, podmanPodId: PODMAN_POD },
  ],
  [
    `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`,
    { runtime: 'podman', containerId: ID, driver: 'systemd' },
  ],
  ['/user.slice/user-1000.slice/session-3.scope', null],
  ['/system.slice/sshd.service', null],
  ['/init.scope', null],
  // leaf names alone, as the kernel's cgroup name gives them
  [`docker-${ID}.scope`, { runtime: 'docker', containerId: ID }],
  [`libpod-${ID}`, { runtime: 'podman', containerId: ID }],
  [`cri-containerd-${ID2}.scope`, { runtime: 'cri-containerd', containerId: ID2 }],
  [`libpod-conmon-${ID}`, null],
  // nested: the outermost container wins (the host's runtime knows only that one)
  [`/docker/${ID}/docker/${ID2}`, { runtime: 'docker', containerId: ID }],
  // not quite: wrong id length, upper-case hex
  [`/docker/${ID.slice(1)}`, null],
  [`/system.slice/docker-${ID.toUpperCase()}.scope`, null],
];

for (const [path, want] of rows) {
  test(`parseCgroupPath(${JSON.stringify(path.length > 90 ? `…${path.slice(-70)}` : path)})`, () => {
    const got = parseCgroupPath(path);
    if (want === null) {
      assert.equal(got, null);
      return;
    }
    assert.ok(got !== null, 'expected a container');
    for (const [k, v] of Object.entries(want)) {
      assert.deepEqual(got[k as keyof ParsedCgroup], v, `field ${k}`);
    }
  });
}
