// SPDX-License-Identifier: Apache-2.0
// Debian version comparison (Debian Policy 5.6.12: [epoch:]upstream[-revision]),
// what dpkg --compare-versions does, so package fixes are judged like apt would.

/** A parsed Debian version; `upstream` keeps its own hyphens (only the last one starts the revision). */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

const VALID_UPSTREAM = /^[0-9][A-Za-z0-9.+~:-]*$/;

/** Parses `[epoch:]upstream[-revision]`; throws on what dpkg would refuse. */
export function parseDebianVersion(v: string): DebianVersion {
  const s = v.trim();
  let epoch = 0;
  let rest = s;
  const colon = s.indexOf(':');
  if (colon >= 0) {
    const e = s.slice(0, colon);
    if (!/^[0-9]+$/.test(e)) throw new Error(`version ${JSON.stringify(v)}: epoch must be a number`);
    epoch = Number(e);
    rest = s.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  const revision = dash >= 0 ? rest.slice(dash + 1) : '';
  if (!VALID_UPSTREAM.test(upstream))
    throw new Error(`version ${JSON.stringify(v)}: upstream part must start with a digit`);
  if (dash >= 0 && !/^[A-Za-z0-9.+~]+$/.test(revision))
    throw new Error(`version ${JSON.stringify(v)}: bad revision`);
  return { epoch, upstream, revision };
}

/** dpkg's character order: `~` before everything (even the end), then the end, letters, then the rest. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp: alternating non-digit and digit runs. */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let first = 0;
    while ((i < a.length && !/[0-9]/.test(a[i])) || (j < b.length && !/[0-9]/.test(b[j]))) {
      const ac = i < a.length && !/[0-9]/.test(a[i]) ? a[i] : undefined;
      const bc = j < b.length && !/[0-9]/.test(b[j]) ? b[j] : undefined;
      const d = order(ac) - order(bc);
      if (d !== 0) return d;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (i < a.length && /[0-9]/.test(a[i]) && j < b.length && /[0-9]/.test(b[j])) {
      if (first === 0) first = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && /[0-9]/.test(a[i])) return 1;
    if (j < b.length && /[0-9]/.test(b[j])) return -1;
    if (first !== 0) return first;
  }
  return 0;
}

/** Negative, zero or positive as `a` sorts before, with or after `b` (dpkg --compare-versions). */
export function compareDebianVersions(a: string, b: string): number {
  const x = parseDebianVersion(a);
  const y = parseDebianVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return compareFragment(x.upstream, y.upstream) || compareFragment(x.revision, y.revision);
}
