// SPDX-License-Identifier: Apache-2.0
// Attestation: for every rule of every policy, what this kernel lets the
// agent do about it (enforced by which backend, monitor, degraded, audit only,
// unsupported) and the action the kernel maps are given for it. Chosen from
// the feature probe, never from version strings; `fallback: reject` refuses.
import type { EventKind } from '../events/types.js';
import type { FeatureReport } from '../kernel/index.js';
import type { Policy, PolicyAction, PolicyRule } from '../policy/types.js';

/** What the kernel can do here, from probeFeatures() (and the LSM object actually loading). */
export interface Capabilities {
  /** BPF-LSM programs load and attach (lsm=...,bpf). */
  lsm: boolean;
  lsmReason: string;
  /** cgroup sock_addr hooks attach on the cgroup2 root. */
  cgroup: boolean;
  cgroupReason: string;
  /** bpf_send_signal from tracing programs and tp_btf (the kill backends). */
  signal: boolean;
  signalReason: string;
}

export function capabilitiesOf(f: FeatureReport): Capabilities {
  const why = (s: FeatureReport[keyof FeatureReport]) =>
    typeof s === 'object' && s.status !== 'supported' ? s.reason : '';
  const signal = f.sendSignal.status === 'supported' && f.tpBtf.status === 'supported';
  return {
    lsm: f.lsm.status === 'supported',
    lsmReason: f.lsm.status === 'supported' ? '' : `BPF-LSM unavailable: ${why(f.lsm)}`,
    cgroup: f.cgroupConnect4.status === 'supported',
    cgroupReason: why(f.cgroupConnect4),
    signal,
    signalReason: signal ? '' : why(f.sendSignal) || why(f.tpBtf),
  };
}

export type AttestState = 'enforced' | 'monitor' | 'degraded' | 'unsupported' | 'audit';

export interface Attestation {
  state: AttestState;
  /** Program sections doing the work ("cgroup/connect4", "lsm/file_open", ...). */
  backends: string[];
  /** One line: "enforced (cgroup/connect4, cgroup/connect6)", "degraded (asked deny, doing kill)", ... */
  text: string;
  /** What the kernel maps get for the rule's slot (the compiled action rewritten to what runs here). */
  effective: PolicyAction;
  /**
   * The rule's kinds a backend acts on here: their operations are reported by
   * the enforcement sensor's own records, so the rule stays in force for them
   * even when the sensor that observes that kind failed to load.
   */
  kinds: EventKind[];
  /**
   * Set when the rule is not in force because something failed to load or
   * attach on this kernel (a degraded agent), not because the kernel lacks a
   * hook: the failure, in one line.
   */
  failure?: string;
}

/** Backends per kind and action; LSM ones only where BPF-LSM runs. */
const LSM_DENY: Partial<Record<EventKind, string[]>> = {
  'file.open': ['lsm/file_open'],
  'process.exec': ['lsm/bprm_check_security'],
  'network.connect': ['lsm/socket_connect'],
  'file.unlink': ['lsm/path_unlink'],
  'network.send': ['lsm/socket_sendmsg'],
};
const CGROUP_DENY: Partial<Record<EventKind, string[]>> = {
  'network.connect': ['cgroup/connect4', 'cgroup/connect6', 'cgroup/sock_create'],
  'network.bind': ['cgroup/bind4', 'cgroup/bind6'],
  'network.send': ['cgroup/sendmsg4', 'cgroup/sendmsg6'],
};
const KILL: Partial<Record<EventKind, string[]>> = {
  'process.exec': ['tp_btf/sched_process_exec'],
  'file.open': ['tracepoint/syscalls/sys_exit_openat'],
};

interface KindVerdict {
  state: AttestState;
  backends: string[];
  detail: string;
  effective: PolicyAction;
}

function verdictFor(kind: EventKind, rule: PolicyRule, caps: Capabilities): KindVerdict {
  const fallback = rule.fallback ?? 'reject';
  const asked = rule.action;
  const viaKill = (): KindVerdict | undefined =>
    caps.signal && KILL[kind] !== undefined
      ? {
          state: 'degraded',
          backends: KILL[kind] ?? [],
          detail: `asked ${asked}, doing kill`,
          effective: 'kill',
        }
      : undefined;
  const impossible = (reason: string): KindVerdict => {
    if (fallback === 'kill') {
      const k = asked !== 'kill' ? viaKill() : undefined;
      if (k !== undefined) return k;
      return {
        state: 'unsupported',
        backends: [],
        detail: `${reason}; no kill backend for ${kind}`,
        effective: 'audit',
      };
    }
    if (fallback === 'audit')
      return { state: 'audit', backends: [], detail: `asked ${asked}: ${reason}`, effective: 'audit' };
    throw new AttestError(
      `${asked} on ${kind} is impossible here (${reason}) and the rule says fallback: reject`,
    );
  };
  if (asked === 'audit') return { state: 'audit', backends: [], detail: '', effective: 'audit' };
  if (asked === 'deny') {
    // Network: cgroup hooks first (every kernel here has them, and they cover
    // containers from the cgroup2 root); BPF-LSM socket hooks where cgroup2 is missing.
    if (caps.cgroup && CGROUP_DENY[kind] !== undefined)
      return { state: 'enforced', backends: CGROUP_DENY[kind] ?? [], detail: '', effective: 'deny' };
    if (caps.lsm && LSM_DENY[kind] !== undefined)
      return { state: 'enforced', backends: LSM_DENY[kind] ?? [], detail: '', effective: 'deny' };
    const reason =
      LSM_DENY[kind] !== undefined
        ? `deny on ${kind} needs BPF-LSM (${caps.lsmReason || 'not active'})`
        : `no deny hook for ${kind} in this build`;
    return impossible(reason);
  }
  // kill and signal
  if (caps.signal && KILL[kind] !== undefined)
    return { state: 'enforced', backends: KILL[kind] ?? [], detail: '', effective: asked };
  if (asked === 'kill' && caps.cgroup && CGROUP_DENY[kind] !== undefined) {
    // cgroup hooks cannot send signals: the caller gets EPERM instead and lives.
    return {
      state: 'degraded',
      backends: CGROUP_DENY[kind] ?? [],
      detail: 'asked kill, doing deny',
      effective: 'kill',
    };
  }
  const reason = caps.signal
    ? `no ${asked} hook for ${kind} in this build`
    : `bpf_send_signal unavailable (${caps.signalReason})`;
  if (fallback === 'kill') {
    // asked signal, fall back to... kill needs the same hook: impossible too.
    return { state: 'unsupported', backends: [], detail: reason, effective: 'audit' };
  }
  return impossible(reason);
}

export class AttestError extends Error {}

/** A rule not in force because something failed to load or attach here (a degraded agent): audit only. */
export function failedAttestation(failure: string): Attestation {
  return {
    state: 'unsupported',
    backends: [],
    text: `unsupported (${failure})`,
    effective: 'audit',
    kinds: [],
    failure,
  };
}

const RANK: Record<AttestState, number> = { enforced: 0, monitor: 1, degraded: 2, audit: 3, unsupported: 4 };
const ACTION_RANK: Record<PolicyAction, number> = { audit: 0, signal: 1, deny: 2, kill: 3 };

/** Attests one rule of a policy (throws AttestError naming the policy and rule for fallback: reject). */
export function attestRule(policy: Policy, rule: PolicyRule, caps: Capabilities): Attestation {
  let verdicts: KindVerdict[];
  try {
    verdicts = rule.kinds.map((k) => verdictFor(k, rule, caps));
  } catch (err) {
    if (err instanceof AttestError)
      throw new AttestError(`policy ${policy.metadata.name}, rule ${rule.name}: ${err.message}`);
    throw err;
  }
  const worst = verdicts.reduce((a, b) => (RANK[b.state] > RANK[a.state] ? b : a));
  // One slot, one action: the strongest needed (a kill covers deny where cgroup hooks turn kill into deny).
  const effective = verdicts.reduce<PolicyAction>(
    (a, v) => (ACTION_RANK[v.effective] > ACTION_RANK[a] ? v.effective : a),
    'audit',
  );
  const backends = [...new Set(verdicts.flatMap((v) => v.backends))];
  const kinds = rule.kinds.filter(
    (_, i) => verdicts[i].effective !== 'audit' && verdicts[i].backends.length > 0,
  );
  let state = worst.state;
  if (policy.spec.mode === 'monitor' && rule.action !== 'audit' && state !== 'unsupported') state = 'monitor';
  const details = [...new Set(verdicts.map((v) => v.detail).filter((d) => d !== ''))];
  let text: string;
  if (state === 'enforced') text = `enforced (${backends.join(', ')})`;
  else if (state === 'monitor')
    text = `monitor (would ${rule.action} via ${backends.join(', ') || 'nothing'})`;
  else if (state === 'degraded') text = `degraded (${details.join('; ')}; ${backends.join(', ')})`;
  else if (state === 'unsupported') text = `unsupported (${details.join('; ')})`;
  else text = details.length > 0 ? `audit (${details.join('; ')})` : 'audit';
  return { state, backends, text, effective, kinds };
}

/** Every rule of every policy, by "policy/rule"; throws AttestError for a rule that refuses. */
export function attestPolicies(policies: readonly Policy[], caps: Capabilities): Map<string, Attestation> {
  const out = new Map<string, Attestation>();
  for (const p of policies)
    for (const r of p.spec.rules) out.set(`${p.metadata.name}/${r.name}`, attestRule(p, r, caps));
  return out;
}

/** A policy's summary: its rules' worst state ("enforced", "degraded", ...). */
export function policyState(rules: readonly Attestation[]): AttestState {
  const acting = rules.filter((r) => r.state !== 'audit');
  if (acting.length === 0) return 'audit';
  return acting.reduce((a, b) => (RANK[b.state] > RANK[a.state] ? b : a)).state;
}
