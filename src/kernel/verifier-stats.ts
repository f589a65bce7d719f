// SPDX-License-Identifier: Apache-2.0
// The verifier's own statistics of a program (its BPF_LOG_STATS summary lines
// plus verified_insns from bpf_prog_info), parsed into numbers: what the
// complexity budgets (bpf/budget.json, scripts/verifier-stats.ts) are made of.
import type { NativeProgramStats } from './native.js';

/** The numbers of the summary lines; null where the log lacks the line (older kernel, truncated log). */
export interface VerifierLogStats {
  /** "processed N insns": instructions the verifier walked over all paths, what its limit caps. */
  processedInsns: number | null;
  /** "(limit N)": the kernel's cap on processedInsns (1,000,000 since 5.2 for privileged loads). */
  insnLimit: number | null;
  maxStatesPerInsn: number | null;
  totalStates: number | null;
  peakStates: number | null;
  /** "verification time N usec". */
  verifyTimeUs: number | null;
  /** "stack depth A+B+C": bytes of stack per subprogram, the main program first. */
  stackDepths: number[];
}

export interface ProgramStats {
  name: string;
  /** bpf_prog_info.verified_insns (5.16+): the same count as processedInsns, read back from the loaded program; null when unavailable. */
  verifiedInsns: number | null;
  processedInsns: number | null;
  stackDepths: number[];
  /**
   * Sum of every subprogram's stack depth: an upper bound of the deepest call
   * chain's stack (the verifier caps that chain at 512 bytes), not the chain itself.
   */
  combinedStack: number | null;
  verifyTimeUs: number | null;
  totalStates: number | null;
  peakStates: number | null;
}

export interface ObjectStats {
  object: string;
  /** Wall time of the object's load (maps created, every program verified), in ms. */
  loadMs: number;
  /** Programs that reached the verifier, loaded or rejected, in the object's order. */
  programs: ProgramStats[];
}

function lastNumber(log: string, re: RegExp): number | null {
  let found: number | null = null;
  for (const m of log.matchAll(re)) found = Number(m[1]);
  return found;
}

/**
 * Parses the summary lines the verifier writes at BPF_LOG_STATS (they appear at
 * level 1 too, without time and stack): the last occurrence of each wins.
 */
export function parseVerifierStats(log: string): VerifierLogStats {
  let stackDepths: number[] = [];
  for (const m of log.matchAll(/^stack depth (\d+(?:\+\d+)*)\s*$/gm))
    stackDepths = m[1].split('+').map(Number);
  return {
    processedInsns: lastNumber(log, /^processed (\d+) insns/gm),
    insnLimit: lastNumber(log, /^processed \d+ insns \(limit (\d+)\)/gm),
    maxStatesPerInsn: lastNumber(log, /^processed .*\bmax_states_per_insn (\d+)/gm),
    totalStates: lastNumber(log, /^processed .*\btotal_states (\d+)/gm),
    peakStates: lastNumber(log, /^processed .*\bpeak_states (\d+)/gm),
    verifyTimeUs: lastNumber(log, /^verification time (\d+) usec/gm),
    stackDepths,
  };
}

/** One program's statistics from what the addon returned; undefined when it never reached the verifier. */
export function programStats(raw: NativeProgramStats): ProgramStats | undefined {
  if (raw.log === '' && raw.verifiedInsns === null) return undefined;
  const p = parseVerifierStats(raw.log);
  return {
    name: raw.name,
    verifiedInsns: raw.verifiedInsns,
    processedInsns: p.processedInsns ?? raw.verifiedInsns,
    stackDepths: p.stackDepths,
    combinedStack: p.stackDepths.length > 0 ? p.stackDepths.reduce((a, b) => a + b, 0) : null,
    verifyTimeUs: p.verifyTimeUs,
    totalStates: p.totalStates,
    peakStates: p.peakStates,
  };
}
