// SPDX-License-Identifier: Apache-2.0
// Linux capability bit sets as names (include/uapi/linux/capability.h order).

export const CAPABILITY_NAMES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

// Most processes share a handful of capability sets: convert each once.
const memo = new Map<number, readonly string[]>();

/** Names of the bits set in a capability mask (u64 as a number: caps use < 53 bits). */
export function capabilityNames(mask: number): readonly string[] {
  let names = memo.get(mask);
  if (names !== undefined) return names;
  const out: string[] = [];
  let rest = mask;
  for (let bit = 0; rest > 0 && bit < 64; bit++) {
    const lo = rest % 2;
    if (lo === 1) out.push(CAPABILITY_NAMES[bit] ?? `CAP_${bit}`);
    rest = Math.floor(rest / 2);
  }
  names = Object.freeze(out);
  if (memo.size < 4096) memo.set(mask, names);
  return names;
}

/** The mask for a list of names (for policies); throws on an unknown name. */
export function capabilityMask(names: readonly string[]): number {
  let mask = 0;
  for (const raw of new Set(names)) {
    const name = raw.toUpperCase().startsWith('CAP_') ? raw.toUpperCase() : `CAP_${raw.toUpperCase()}`;
    const bit = CAPABILITY_NAMES.indexOf(name as CapabilityName);
    if (bit < 0) throw new Error(`unknown capability ${raw}`);
    if (Math.floor(mask / 2 ** bit) % 2 === 0) mask += 2 ** bit;
  }
  return mask;
}

/** A mask as 16 hex digits, the form of CapEff in /proc/PID/status. */
export function capabilityHex(mask: number): string {
  const hi = Math.floor(mask / 4294967296);
  const lo = mask % 4294967296;
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** Inverse of capabilityHex. */
export function parseCapabilityHex(hex: string): number {
  return Number.parseInt(hex.slice(0, 8), 16) * 4294967296 + Number.parseInt(hex.slice(8), 16);
}
