// SPDX-License-Identifier: Apache-2.0
// Virtual patches: the pack, whether this node is affected by each entry, and
// what this kernel can do about it (the attestation its policy would get).
import {
  AttestError,
  type AttestState,
  attestRule,
  type Capabilities,
  policyState,
} from '../enforce/attest.js';
import type { Policy } from '../policy/types.js';
import { type Affected, assessEntry, type NodeFacts } from './applicability.js';
import type { PatchEntry, PatchPack } from './pack.js';

export type { Affected, Applicability, NodeFacts } from './applicability.js';
export { assessEntry, kernelFacts, nodeFacts, packageFacts } from './applicability.js';
export { compareDebianVersions, parseDebianVersion } from './debian-version.js';
export type { KernelRange, PackageRange, PatchEntry, PatchPack } from './pack.js';
export { defaultPackPath, loadPatchPack, PatchPackError } from './pack.js';

export interface PatchStatus {
  id: string;
  cve: string;
  title: string;
  affected: Affected;
  /** Why, per component (kernel, packages). */
  reasons: string[];
  /**
   * The policy's summary here: enforced, degraded, audit, unsupported;
   * "detect" with detection rules only, "none" with neither; "refused" when
   * the policy cannot load on this kernel.
   */
  enforcement: AttestState | 'detect' | 'none' | 'refused';
  /** One line per rule of its policy: "vp-cve-2019-5736/runtime-binary-write: degraded (…)". */
  rules: string[];
  /** What this build lacks to cut the path fully. */
  missing?: string;
  policies: string[];
}

/** Each entry judged against this node's facts and this kernel's capabilities. */
export function patchStatus(pack: PatchPack, facts: NodeFacts, caps: Capabilities): PatchStatus[] {
  return pack.entries.map((e) => {
    const a = assessEntry(e, facts);
    const { enforcement, rules } = attestEntry(e, caps);
    for (const r of e.detect)
      rules.push(`detect: rule "${r}" (${pack.rulesFile ?? 'rules.yaml'}, load with --rules)`);
    return {
      id: e.id,
      cve: e.cve,
      title: e.title,
      affected: a.affected,
      reasons: a.reasons,
      enforcement,
      rules,
      missing: e.missing,
      policies: e.policies.map((p) => p.metadata.name),
    };
  });
}

function attestEntry(e: PatchEntry, caps: Capabilities): Pick<PatchStatus, 'enforcement' | 'rules'> {
  if (e.policies.length === 0) return { enforcement: e.detect.length > 0 ? 'detect' : 'none', rules: [] };
  const rules: string[] = [];
  const states = [];
  for (const p of e.policies) {
    for (const r of p.spec.rules) {
      try {
        const at = attestRule(p, r, caps);
        states.push(at);
        rules.push(`${p.metadata.name}/${r.name}: ${at.text}`);
      } catch (err) {
        if (!(err instanceof AttestError)) throw err;
        rules.push(`${p.metadata.name}/${r.name}: refused (${err.message})`);
        return { enforcement: 'refused', rules };
      }
    }
  }
  return { enforcement: policyState(states), rules };
}

/** Which entries `apply` picks: named ids, every affected ("yes" or "maybe") one, or all. */
export function selectEntries(
  pack: PatchPack,
  statuses: readonly PatchStatus[],
  how: { ids?: string[]; affected?: boolean; all?: boolean },
): { entries: PatchEntry[]; skipped: Array<{ id: string; why: string }> } {
  const entries: PatchEntry[] = [];
  const skipped: Array<{ id: string; why: string }> = [];
  const ids = new Set((how.ids ?? []).map((s) => s.toLowerCase()));
  for (const id of ids)
    if (!pack.entries.some((e) => e.id === id))
      throw new Error(`no entry ${id} in the pack (entries: ${pack.entries.map((e) => e.id).join(', ')})`);
  for (const [i, e] of pack.entries.entries()) {
    const st = statuses[i];
    const wanted = how.all === true || ids.has(e.id) || (how.affected === true && st.affected !== 'no');
    if (!wanted) {
      if (how.affected === true) skipped.push({ id: e.id, why: `not affected: ${st.reasons.join('; ')}` });
      continue;
    }
    if (e.policies.length === 0) {
      const rules = e.detect.length > 0 ? `; its detection rules are in the pack's rules.yaml (--rules)` : '';
      skipped.push({
        id: e.id,
        why: `no policy in this build${rules}: ${e.missing ?? 'nothing can see the path'}`,
      });
      continue;
    }
    entries.push(e);
  }
  return { entries, skipped };
}

/** The policies of the chosen entries, for one all-or-nothing apply. */
export function policiesOf(entries: readonly PatchEntry[]): Policy[] {
  return entries.flatMap((e) => e.policies);
}
