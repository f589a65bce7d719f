// SPDX-License-Identifier: Apache-2.0
// Public surface of the kernel boundary: the only module that talks to the addon.
export { hintFor, KernelError, NotSupportedError, summarizeVerifierLog, VerifierError } from './errors.js';
export type { FeatureName, FeatureReport, FeatureStatus, ProbeOptions } from './features.js';
export { FEATURE_PROBES, probeFeatures } from './features.js';
export { readIterator } from './iterator.js';
export { Link } from './link.js';
export type { MapSpec } from './map.js';
export { BpfMap, MapUpdateFlags } from './map.js';
export type { OpenHandleCounts } from './native.js';
export { openHandles } from './native.js';
export type { AttachOptions, ConstValue, LoadObserver, LoadReport, MapInfo, ProgramInfo } from './object.js';
export { BpfObject } from './object.js';
export type { ProgramRunStats } from './program-stats.js';
export { bpfStatsEnabled, enableProgramRunStats, programRunStats } from './program-stats.js';
export type { BatchHandler, RingBufferOptions, RingBufferStats } from './ring-buffer.js';
export { forEachRecord, RingBuffer } from './ring-buffer.js';
export { bpfLsmActive, findMount, readLockdown, readLsmList } from './sysfs.js';
export { ensureTracefs } from './tracefs.js';
export type { ObjectStats, ProgramStats, VerifierLogStats } from './verifier-stats.js';
export { parseVerifierStats } from './verifier-stats.js';
