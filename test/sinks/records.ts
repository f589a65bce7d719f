// SPDX-License-Identifier: Apache-2.0
// Output records for the transport tests: the recorded scenario run (test/fixtures)
// plus events in a container and a pod, which that host-only run has none of.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, PeregrineEvent } from '../../src/events/types.js';
import { packageRoot } from '../../src/kernel/native.js';
import type { OutputContext, OutputRecord } from '../../src/sinks/transport.js';

const fixtures = join(packageRoot(), 'test', 'fixtures');

export function record(value: PeregrineEvent | Alert): OutputRecord {
  return { kind: value.kind, line: JSON.stringify(value), value };
}

function load(name: string): OutputRecord[] {
  return readFileSync(join(fixtures, name), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const value = JSON.parse(line) as PeregrineEvent | Alert;
      return { kind: value.kind, line, value };
    });
}

export const events = load('scenarios.events.jsonl');
export const alerts = load('scenarios.alerts.jsonl');

const exec = events.find((r) => r.kind === 'process.exec')?.value as PeregrineEvent;

/** A connect from a pod's container to 10.96.0.10:443. */
export const podConnect: PeregrineEvent = {
  ...exec,
  time: '2026-11-23T11:46:00.000000123Z',
  kind: 'network.connect',
  container: {
    id: '3f1c0d9a2b7e',
    name: 'web',
    image: 'registry.example/web:1.2',
    image_id: 'sha256:0123',
    runtime: 'containerd',
    labels: {},
  },
  pod: { namespace: 'shop', name: 'web-7d9f', uid: '5b8e2c1a-1111-2222-3333-444455556666', labels: {} },
  network: {
    family: 'inet',
    protocol: 'tcp',
    local_address: '10.244.1.7',
    local_port: 40112,
    remote_address: '10.96.0.10',
    remote_port: 443,
  },
  return_code: 0,
};

/** An accepted IPv6 connection in the same pod. */
export const podAccept: PeregrineEvent = {
  ...podConnect,
  time: '2026-11-23T11:46:01.5Z',
  kind: 'network.accept',
  network: {
    family: 'inet6',
    protocol: 'tcp',
    local_address: '::1',
    local_port: 8080,
    remote_address: '::2',
    remote_port: 51000,
  },
};

/** A listening socket in the pod. */
export const podListen: PeregrineEvent = {
  ...podConnect,
  kind: 'network.listen',
  network: {
    family: 'inet',
    protocol: 'tcp',
    local_address: '0.0.0.0',
    local_port: 8080,
    remote_address: '',
    remote_port: 0,
  },
};

/** A chown of a file to 1000:1000, mode 0644. */
export const chown: PeregrineEvent = {
  ...exec,
  kind: 'file.chown',
  file: { path: '/srv/data/a.txt', path_source: 'kernel', uid: 1000, gid: 1000, mode: 0o100644 },
  return_code: 0,
};

/** A symlink (path: the target, new_path: the link) that a policy denied. */
export const deniedSymlink: PeregrineEvent = {
  ...exec,
  kind: 'file.symlink',
  file: { path: '/etc/shadow', path_source: 'kernel', new_path: '/tmp/x/link' },
  return_code: -1,
  policy: { name: 'no-shadow-links' },
  action: { taken: 'deny', backend: 'lsm' },
};

/** An alert about the pod's connect. */
export const podAlert: Alert = {
  time: podConnect.time,
  node: podConnect.node,
  kind: 'alert',
  rule: 'Outbound connection from web pod',
  priority: 'CRITICAL',
  tags: ['network', 'mitre_command_and_control', 'T1105'],
  output: 'Outbound connection (pod=web-7d9f)',
  mitre: { tactic: 'command_and_control', technique: 'T1105' },
  source_event: podConnect,
  collapsed: 2,
};

/** An OutputContext that records what the transport reports as rejected. */
export function recordingContext(
  node = 'vm',
): OutputContext & { rejections: Array<[number, string, string]> } {
  const rejections: Array<[number, string, string]> = [];
  return {
    node,
    name: 'test',
    rejections,
    rejected: (count, reason, message) => {
      rejections.push([count, reason, message]);
    },
  };
}
