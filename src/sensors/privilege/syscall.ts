// SPDX-License-Identifier: Apache-2.0
// What the privilege and kernel sensors share: their records' common part
// (struct pg_sys_common) turned into an event's process, parent and policy,
// syscall names, and their kernel counters.
import type { EventKind, PeregrineEvent } from '../../events/types.js';
import { type PgSysCommon, PgSyscall, PgSysFlag } from '../../generated/records.js';
import type { BpfMap } from '../../kernel/index.js';
import type { ProcessEntry } from '../../process/cache.js';
import type { DecodeContext } from '../sensor.js';

const SYSCALL_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(PgSyscall).map(([name, value]) => [
    value as number,
    name.slice('PG_SYS_'.length).toLowerCase(),
  ]),
);

/** enum pg_syscall → the syscall's name ("setresuid", "finit_module"). */
export function syscallName(syscall: number): string {
  return SYSCALL_NAMES.get(syscall) ?? `syscall_${syscall}`;
}

/** Names of the bits of `mask` found in `table` (bit value → name), in table order; unknown bits as hex. */
export function bitNames(mask: number, table: ReadonlyArray<readonly [number, string]>): string[] {
  const out: string[] = [];
  let rest = mask >>> 0;
  for (const [bit, name] of table) {
    if ((rest & bit) >>> 0 === bit && bit !== 0) {
      out.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest !== 0) out.push(`0x${rest.toString(16)}`);
  return out;
}

/** Counters of the decoders, besides the kernel's. */
export interface DecodeCounters {
  records: number;
  decode_errors: number;
  unknown_kinds: number;
  unresolved: number;
}

export function newCounters(): DecodeCounters {
  return { records: 0, decode_errors: 0, unknown_kinds: 0, unresolved: 0 };
}

/**
 * The event for a record's common part: its process (from the cache by the
 * record's identity; ids only when the cache lost it), parent, result and
 * the names of the policies whose rules matched (rules at `rulesAt`).
 */
export function sysEvent(
  view: DataView,
  rulesAt: number,
  sys: PgSysCommon,
  ktime: number,
  kind: EventKind,
  ctx: DecodeContext,
  counters: DecodeCounters,
): { ev: PeregrineEvent; process: ProcessEntry; parent: ProcessEntry | undefined } {
  let process = ctx.process(sys.key.pid, sys.key.ktime);
  if (process === undefined) {
    counters.unresolved++;
    process = ctx.cache.idsOnly(sys.key.pid, sys.key.ktime, sys.tid);
  }
  const parent = ctx.cache.parentOf(process);
  const ev: PeregrineEvent = {
    time: ctx.clock.toIso(ktime),
    node: ctx.node,
    kind,
    process: process.info,
    parent: parent?.info,
    return_code: sys.ret,
  };
  const names = ctx.policies(view, rulesAt);
  if (names.length > 0) ev.policy = { name: names[0], names };
  return { ev, process, parent };
}

/** True when the record's caller is the agent itself. */
export function isSelf(sys: PgSysCommon): boolean {
  return (sys.flags & PgSysFlag.PG_SYS_SELF) !== 0;
}

/** pg_stats entries summed over CPUs, by the names given. */
export function kernelCounters(
  stats: BpfMap,
  indexes: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  const key = Buffer.alloc(4);
  for (const [name, index] of Object.entries(indexes)) {
    key.writeUInt32LE(index);
    let sum = 0;
    for (const v of stats.lookupPerCpu(key) ?? []) sum += Number(v.readBigUInt64LE(0));
    out[name] = sum;
  }
  return out;
}
