// SPDX-License-Identifier: Apache-2.0
// Attestation units: per kernel ability (no BPF-LSM like the 6.18 hosts, BPF-LSM
// like the VM), what each action on each kind becomes, and fallback handling.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventKind } from '../events/types.js';
import type { Policy, PolicyRule } from '../policy/types.js';
import { AttestError, attestRule, type Capabilities, policyState } from './attest.js';

const HOST: Capabilities = {
  lsm: false,
  lsmReason: 'BPF-LSM unavailable: lsm program load failed: EPERM',
  cgroup: true,
  cgroupReason: '',
  signal: true,
  signalReason: '',
};
const VM: Capabilities = { ...HOST, lsm: true, lsmReason: '' };

function attest(
  caps: Capabilities,
  kinds: EventKind[],
  action: PolicyRule['action'],
  fallback?: PolicyRule['fallback'],
  mode: 'enforce' | 'monitor' = 'enforce',
) {
  const rule: PolicyRule = { name: 'r', kinds, match: {}, action, fallback };
  const policy: Policy = {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name: 'p' },
    spec: { mode, rules: [rule] },
    source: { file: 'attest.test.ts' },
  };
  return attestRule(policy, rule, caps);
}

test('network deny is enforced by cgroup hooks on both kernels', () => {
  for (const caps of [HOST, VM]) {
    const a = attest(caps, ['network.connect'], 'deny');
    assert.equal(a.text, 'enforced (cgroup/connect4, cgroup/connect6, cgroup/sock_create)');
    assert.equal(a.effective, 'deny');
    assert.equal(attest(caps, ['network.bind'], 'deny').text, 'enforced (cgroup/bind4, cgroup/bind6)');
  }
});

test('LSM-only denies are never enforced without BPF-LSM', () => {
  const kill = attest(HOST, ['file.open'], 'deny', 'kill');
  assert.equal(kill.state, 'degraded');
  assert.equal(kill.effective, 'kill');
  assert.equal(kill.text, 'degraded (asked deny, doing kill; tracepoint/syscalls/sys_exit_openat)');
  const audit = attest(HOST, ['file.open'], 'deny', 'audit');
  assert.equal(audit.state, 'audit');
  assert.equal(audit.effective, 'audit');
  assert.throws(() => attest(HOST, ['file.open'], 'deny', 'reject'), AttestError);
  assert.throws(() => attest(HOST, ['process.exec'], 'deny'), /fallback: reject/);
  const unlink = attest(HOST, ['file.unlink'], 'deny', 'kill');
  assert.equal(unlink.state, 'unsupported');
  assert.equal(unlink.effective, 'audit');
});

test('with BPF-LSM the same denies are enforced by lsm programs', () => {
  assert.equal(attest(VM, ['file.open'], 'deny', 'reject').text, 'enforced (lsm/file_open)');
  assert.equal(attest(VM, ['process.exec'], 'deny').text, 'enforced (lsm/bprm_check_security)');
  assert.equal(attest(VM, ['file.unlink'], 'deny').text, 'enforced (lsm/path_unlink)');
});

test('kill: exec and open enforced; network degraded to deny; monitor says would', () => {
  assert.equal(attest(HOST, ['process.exec'], 'kill').text, 'enforced (tp_btf/sched_process_exec)');
  const net = attest(HOST, ['network.connect'], 'kill');
  assert.equal(net.state, 'degraded');
  assert.match(net.text, /^degraded \(asked kill, doing deny; cgroup\/connect4/);
  const mon = attest(HOST, ['network.connect'], 'deny', undefined, 'monitor');
  assert.equal(mon.state, 'monitor');
  assert.match(mon.text, /^monitor \(would deny via cgroup\/connect4/);
  assert.equal(mon.effective, 'deny');
  assert.equal(policyState([attest(HOST, ['process.exec'], 'kill'), kill()]), 'degraded');
});

function kill() {
  return attest(HOST, ['file.open'], 'deny', 'kill');
}

test('without bpf_send_signal, kill rules have no backend', () => {
  const caps = { ...HOST, signal: false, signalReason: 'sendSignal probe failed' };
  assert.throws(() => attest(caps, ['process.exec'], 'kill'), /bpf_send_signal unavailable/);
  assert.equal(attest(caps, ['process.exec'], 'kill', 'audit').state, 'audit');
});
