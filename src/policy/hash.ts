// SPDX-License-Identifier: Apache-2.0
// FNV-1a 64 over UTF-8 bytes: the same function as bpf/lib/hash.h, so policy
// maps keyed by binary paths, base names and exact paths match the kernel's.

const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

export function fnv1a64(text: string): bigint {
  let h = OFFSET;
  for (const byte of Buffer.from(text)) h = ((h ^ BigInt(byte)) * PRIME) & MASK;
  return h;
}
