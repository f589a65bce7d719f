// SPDX-License-Identifier: Apache-2.0
// Enforcement: attestation from the feature probe, the enforcement sensor, pinned state.
import { type FeatureReport, probeFeatures } from '../kernel/index.js';

export {
  type Attestation,
  AttestError,
  attestPolicies,
  attestRule,
  capabilitiesOf,
  failedAttestation,
  policyState,
} from './attest.js';
export { ensureBpffs, PinnedState, pinRoot, removePinnedState } from './pin.js';
export { BACKEND_NAMES, EnforceSensor, type RuleCounts } from './sensor.js';

let probed: Promise<FeatureReport> | undefined;

/** probeFeatures() once per process: the kernel's abilities do not change while it runs (~0.6 s). */
export function probeOnce(): Promise<FeatureReport> {
  probed ??= probeFeatures();
  return probed;
}
