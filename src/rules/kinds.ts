// SPDX-License-Identifier: Apache-2.0
// Peregrine event kinds as Falco syscall names (evt.type), and kind sets as bitmasks for rule indexing.

import type { EventKind } from '../events/types.js';

/**
 * Falco `evt.type` names each Peregrine kind answers to. The first name is the
 * canonical one printed by `%evt.type`; every name matches in conditions, so
 * `evt.type in (open, openat)` is true for a `file.open` event.
 */
export const SYSCALLS_BY_KIND: Readonly<Record<EventKind, readonly string[]>> = {
  'process.exec': ['execve', 'execveat'],
  'process.exit': ['procexit'],
  'process.fork': ['clone', 'clone3', 'fork', 'vfork'],
  'file.open': ['openat', 'open', 'openat2', 'creat'],
  'file.unlink': ['unlinkat', 'unlink'],
  'file.rename': ['renameat', 'rename', 'renameat2'],
  'file.link': ['linkat', 'link'],
  'file.symlink': ['symlinkat', 'symlink'],
  'file.chmod': ['chmod', 'fchmodat', 'fchmod', 'fchmodat2'],
  'file.chown': ['chown', 'fchownat', 'fchown', 'lchown'],
  'file.truncate': ['truncate', 'ftruncate'],
  'file.mount': ['mount'],
  'network.connect': ['connect'],
  'network.accept': ['accept', 'accept4'],
  'network.bind': ['bind'],
  'network.listen': ['listen'],
  'network.send': ['sendto', 'sendmsg', 'sendmmsg'],
  'privilege.setuid': ['setuid', 'setresuid', 'setreuid'],
  'privilege.setgid': ['setgid', 'setresgid', 'setregid'],
  'privilege.capset': ['capset'],
  'privilege.prctl': ['prctl'],
  'namespace.unshare': ['unshare'],
  'namespace.setns': ['setns'],
  'process.ptrace': ['ptrace'],
  'kernel.module_load': ['init_module', 'finit_module'],
  'kernel.bpf': ['bpf'],
  'kernel.kexec': ['kexec_load', 'kexec_file_load'],
  'process.memfd_create': ['memfd_create'],
};

/** Every kind, in a fixed order: a kind's index is its bit in a kind mask. */
export const KINDS: readonly EventKind[] = Object.keys(SYSCALLS_BY_KIND) as EventKind[];

/** Bit of each kind in a kind mask (28 kinds fit a 32-bit integer). */
export const KIND_BIT: Readonly<Record<string, number>> = Object.fromEntries(
  KINDS.map((k, i) => [k, 1 << i]),
);

/** Index of each kind, for array-indexed rule tables. */
export const KIND_INDEX: Readonly<Record<string, number>> = Object.fromEntries(KINDS.map((k, i) => [k, i]));

/** The mask of every kind: a rule without an evt.type constraint. */
export const ALL_KINDS = (1 << KINDS.length) - 1;

/** Kinds a Falco syscall name maps to (several kinds never share a name today, but the type allows it). */
export const KINDS_BY_SYSCALL: ReadonlyMap<string, readonly EventKind[]> = (() => {
  const m = new Map<string, EventKind[]>();
  for (const k of KINDS) {
    for (const s of SYSCALLS_BY_KIND[k]) {
      const list = m.get(s);
      if (list) list.push(k);
      else m.set(s, [k]);
    }
  }
  return m;
})();

/** The kinds in a mask, in KINDS order. */
export function maskToKinds(mask: number): EventKind[] {
  const out: EventKind[] = [];
  for (let i = 0; i < KINDS.length; i++) if (mask & (1 << i)) out.push(KINDS[i]);
  return out;
}
