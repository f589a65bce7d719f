// SPDX-License-Identifier: Apache-2.0
// A sensor that failed on this kernel, said in one line: which sensor, which
// step, which program, the verifier's summary and a hint. Only the process
// sensor is fatal (processFailure); every other failure leaves the agent
// running without that sensor, and says what that costs.
import { appendFileSync } from 'node:fs';
import type { EventKind } from '../events/types.js';
import { type FeatureName, type FeatureReport, KernelError, VerifierError } from '../kernel/index.js';

export interface SensorFailure {
  /** The sensor: file, network, privilege, kernel, enforce. */
  sensor: string;
  /** What failed: loading its object, or attaching its programs. */
  stage: 'load' | 'attach';
  /** The program the kernel refused, when the error names one. */
  program?: string;
  /** The error, one line ("load program handle_x: permission denied (EACCES): <verifier summary>"). */
  error: string;
  /** What usually fixes it, when known. */
  hint?: string;
  /** Event kinds no sensor observes while this lasts (empty for the enforcement sensor). */
  kinds: EventKind[];
  /** "<sensor> sensor not loaded: <error>": what the rules it keeps out of force say. */
  summary: string;
  /** The whole story in one line: the summary and " (hint: <hint>)". */
  reason: string;
}

/** Describes a failed load or attach of a sensor other than the process sensor. */
export function sensorFailure(
  sensor: string,
  stage: 'load' | 'attach',
  err: unknown,
  kinds: readonly EventKind[],
  /** Further programs that failed the same way (only the first one's error is told). */
  more: readonly string[] = [],
): SensorFailure {
  keepVerifierLog(sensor, err);
  let error = oneLine(err instanceof Error ? err.message : String(err));
  if (more.length > 0) error += `; also ${more.join(', ')}`;
  const hint = hintOf(err);
  const program = err instanceof KernelError ? err.program : undefined;
  const summary = `${sensor} sensor ${stage === 'load' ? 'not loaded' : 'not attached'}: ${error}`;
  return {
    sensor,
    stage,
    program,
    error,
    hint,
    kinds: [...kinds],
    summary,
    reason: `${summary}${hint !== undefined ? ` (hint: ${hint})` : ''}`,
  };
}

/** Kernel features the process sensor cannot do without (bpf/process.bpf.c), as probed. */
const PROCESS_NEEDS: ReadonlyArray<[FeatureName, string]> = [
  ['tpBtf', 'tp_btf'],
  ['ringbuf', 'ring buffer'],
  ['iterTask', 'task iterator'],
];

/**
 * The one-line message of a process sensor that cannot load or attach: the
 * kernel features it needs that the probes found missing, else (every probe
 * passed, so the program itself is at fault) the error and its hint.
 */
export function processFailure(
  stage: 'load' | 'attach',
  err: unknown,
  features: FeatureReport | undefined,
): string {
  keepVerifierLog('process', err);
  const error = oneLine(err instanceof Error ? err.message : String(err));
  const missing = PROCESS_NEEDS.flatMap(([name, label]) => {
    const f = features?.[name];
    if (f === undefined) return [];
    return f.status === 'supported' ? [] : [`${label} ${f.status} (${oneLine(f.reason)})`];
  });
  if (missing.length > 0) return `process sensor cannot ${stage}: ${missing.join(', ')}; ${error}`;
  const hint = hintOf(err);
  return `process sensor cannot ${stage}: ${error}${hint !== undefined ? ` (hint: ${hint})` : ''}`;
}

/** The error's own hint (memlock, BTF, lockdown...), else one for verifier rejections. */
function hintOf(err: unknown): string | undefined {
  if (err instanceof KernelError && err.hint !== undefined) return err.hint;
  if (!(err instanceof VerifierError)) return undefined;
  const log = process.env.PEREGRINE_VERIFIER_LOG ? '' : '; PEREGRINE_VERIFIER_LOG=FILE keeps the full log';
  // E2BIG from a load is the verifier's 1M-instruction budget: nothing the user can tune.
  if (err.code === 'E2BIG')
    return `the program is too complex for this kernel's verifier (a build problem, not a setting)${log}`;
  return `this kernel's verifier rejects this build of the program${log}`;
}

/** With PEREGRINE_VERIFIER_LOG=FILE: the full verifier log of a rejected program is appended there. */
function keepVerifierLog(sensor: string, err: unknown): void {
  const file = process.env.PEREGRINE_VERIFIER_LOG;
  if (!file || !(err instanceof VerifierError)) return;
  try {
    appendFileSync(file, `--- ${sensor} sensor: ${err.message}\n${err.log}\n`);
  } catch {
    // the log is a debugging aid: failing to write it must not change what the agent does
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
