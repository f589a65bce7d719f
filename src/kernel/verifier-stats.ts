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
   * The deepest call chain's stack as the verifier's own check adds it (each
   * frame rounded up to 32 bytes, a bpf_loop callback on top of its caller;
   * the kernel caps it at 512): measured from the loaded instructions' call
   * graph. Without the instructions, the sum of every frame (an upper bound).
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
    combinedStack:
      p.stackDepths.length === 0
        ? null
        : raw.insns !== null && raw.insns !== undefined
          ? deepestChain(raw.insns, p.stackDepths)
          : p.stackDepths.reduce((a, b) => a + b, 0),
    verifyTimeUs: p.verifyTimeUs,
    totalStates: p.totalStates,
    peakStates: p.peakStates,
  };
}

/** A frame as check_max_stack_depth counts it: at least 1 byte, rounded up to 32. */
function frameBytes(depth: number): number {
  return Math.ceil(Math.max(depth, 1) / 32) * 32;
}

const BPF_CALL = 0x85; // BPF_JMP | BPF_CALL
const BPF_LD_IMM64 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
const BPF_PSEUDO_CALL = 1;
const BPF_PSEUDO_FUNC = 4;

/**
 * The largest stack of any call chain of a loaded program. Subprograms start
 * at instruction 0 and at every bpf-to-bpf call or callback (ld_imm64 of a
 * function) target, in the order the verifier numbers them, which is the
 * order of its "stack depth A+B+C" line. Falls back to the sum when the two
 * disagree (a layout this reading does not know).
 */
export function deepestChain(insns: Buffer, depths: readonly number[]): number {
  const n = Math.floor(insns.length / 8);
  const starts = new Set<number>([0]);
  const edges: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const code = insns[i * 8];
    const src = insns[i * 8 + 1] >> 4;
    const imm = insns.readInt32LE(i * 8 + 4);
    if (
      (code === BPF_CALL && src === BPF_PSEUDO_CALL) ||
      (code === BPF_LD_IMM64 && src === BPF_PSEUDO_FUNC)
    ) {
      starts.add(i + imm + 1);
      edges.push([i, i + imm + 1]);
    }
    if (code === BPF_LD_IMM64) i++; // two slots
  }
  const sorted = [...starts].sort((a, b) => a - b);
  if (sorted.length !== depths.length) return depths.reduce((a, b) => a + b, 0);
  const indexOf = (insn: number): number => {
    let k = 0;
    while (k + 1 < sorted.length && sorted[k + 1] <= insn) k++;
    return k;
  };
  const callees = sorted.map(() => new Set<number>());
  for (const [from, to] of edges) callees[indexOf(from)].add(sorted.indexOf(to));
  const memo = new Map<number, number>();
  const deepest = (k: number, seen: Set<number>): number => {
    const known = memo.get(k);
    if (known !== undefined) return known;
    let below = 0;
    for (const c of callees[k]) if (!seen.has(c)) below = Math.max(below, deepest(c, new Set([...seen, c])));
    const total = frameBytes(depths[k]) + below;
    memo.set(k, total);
    return total;
  };
  return deepest(0, new Set([0]));
}
