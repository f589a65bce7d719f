// SPDX-License-Identifier: Apache-2.0
// IPv4/IPv6 address parsing and CIDR matching for fd.ip / fd.net comparisons.

/** A parsed address: 4 or 16 bytes. */
export type IpBytes = Uint8Array;

/** A network: address bytes and prefix length. */
export interface Cidr {
  bytes: IpBytes;
  bits: number;
}

function parseV4(s: string): IpBytes | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): IpBytes | undefined {
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) return undefined;
  const words: number[] = [];
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const res: number[] = [];
    const groups = part.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = parseV4(g);
        if (!v4) return undefined;
        res.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      res.push(Number.parseInt(g, 16));
    }
    return res;
  };
  if (dbl >= 0) {
    const head = parseGroups(s.slice(0, dbl));
    const tail = parseGroups(s.slice(dbl + 2));
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    words.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else {
    const all = parseGroups(s);
    if (all?.length !== 8) return undefined;
    words.push(...all);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}

/** Parse an address; IPv4-mapped IPv6 (::ffff:a.b.c.d) comes back as IPv4. */
export function parseIp(s: string): IpBytes | undefined {
  if (s.includes(':')) {
    const b = parseV6(s);
    if (!b) return undefined;
    let mapped = b[10] === 0xff && b[11] === 0xff;
    for (let i = 0; i < 10 && mapped; i++) if (b[i] !== 0) mapped = false;
    return mapped ? b.slice(12) : b;
  }
  return parseV4(s);
}

/** Canonical text of an address (IPv4 dotted, IPv6 compressed lower-case), or the input when it does not parse. */
export function normalizeIp(s: string): string {
  const b = parseIp(s);
  if (!b) return s;
  if (b.length === 4) return b.join('.');
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[2 * i] << 8) | b[2 * i + 1]);
  // longest run of zero words becomes "::"
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return hex.slice(0, best).join(':') + '::' + hex.slice(best + bestLen).join(':');
}

/** Parse "a.b.c.d/n", "x::/n" or a bare address (a host network). */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const bytes = parseIp(addr);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  if (slash < 0) return { bytes, bits: max };
  const bitsText = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bitsText)) return undefined;
  let bits = Number(bitsText);
  // An IPv4-mapped IPv6 network like ::ffff:10.0.0.0/104 became IPv4 bytes.
  if (bytes.length === 4 && addr.includes(':')) bits -= 96;
  if (bits < 0 || bits > max) return undefined;
  return { bytes, bits };
}

/** Whether `ip` is inside `net`; families must agree. */
export function inCidr(ip: IpBytes, net: Cidr): boolean {
  if (ip.length !== net.bytes.length) return false;
  let bits = net.bits;
  for (let i = 0; i < ip.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i] & mask) !== (net.bytes[i] & mask)) return false;
  }
  return true;
}
