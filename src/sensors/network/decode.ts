// SPDX-License-Identifier: Apache-2.0
// Network records (struct pg_net_event) turned into the public NetworkInfo:
// family and protocol names, addresses as text, unix socket paths.
import type { EventKind, NetworkInfo } from '../../events/types.js';
import { PgKind, type PgNetEvent } from '../../generated/records.js';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;

const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_SEQPACKET = 5;

/** enum pg_kind → event kind, for the kinds this sensor reports. */
export const NET_KINDS: ReadonlyMap<number, EventKind> = new Map<number, EventKind>([
  [PgKind.PG_KIND_NET_CONNECT, 'network.connect'],
  [PgKind.PG_KIND_NET_ACCEPT, 'network.accept'],
  [PgKind.PG_KIND_NET_BIND, 'network.bind'],
  [PgKind.PG_KIND_NET_LISTEN, 'network.listen'],
  [PgKind.PG_KIND_NET_SEND, 'network.send'],
]);

export function familyName(family: number): NetworkInfo['family'] {
  if (family === AF_INET) return 'inet';
  if (family === AF_INET6) return 'inet6';
  return 'unix';
}

/**
 * The protocol name: the IP protocol for inet sockets ("tcp", "udp", "icmp"
 * for ping sockets, "raw" for SOCK_RAW whatever its protocol), the socket
 * type for unix sockets ("stream", "dgram", "seqpacket"); a number otherwise.
 */
export function protocolName(family: number, type: number, protocol: number): string {
  if (family === AF_UNIX) {
    if (type === SOCK_STREAM) return 'stream';
    if (type === SOCK_DGRAM) return 'dgram';
    if (type === SOCK_SEQPACKET) return 'seqpacket';
    return String(type);
  }
  if (type === SOCK_RAW) return 'raw';
  switch (protocol) {
    case 6:
      return 'tcp';
    case 17:
      return 'udp';
    case 136:
      return 'udplite';
    case 1:
    case 58:
      return 'icmp';
    case 132:
      return 'sctp';
    case 262:
      return 'mptcp';
    default:
      return String(protocol);
  }
}

function isV4Mapped(a: ArrayLike<number>): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

function dotted(a: ArrayLike<number>, at: number): string {
  return `${a[at]}.${a[at + 1]}.${a[at + 2]}.${a[at + 3]}`;
}

/**
 * An address as text. IPv4 dotted; IPv6 in RFC 5952 form (lower case, the
 * longest run of two or more zero groups compressed, the first on ties).
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack socket
 * reports for an IPv4 peer) are shown as the IPv4 address they are, so one
 * peer has one spelling whatever socket reached it; `family` still says
 * inet6.
 */
export function formatAddress(family: number, a: ArrayLike<number>): string {
  if (family === AF_INET) return dotted(a, 0);
  if (isV4Mapped(a)) return dotted(a, 12);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((a[i] << 8) | a[i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** A unix socket name as text: filesystem paths as they are, abstract names as "@name" (like ss). */
export function unixName(path: string): string {
  return path.startsWith('\0') ? `@${path.slice(1)}` : path;
}

/**
 * The event's network part. For unix sockets the record carries one name:
 * the peer's for connect and send (remote_address), the socket's own for
 * bind, listen and accept (local_address); ports are 0.
 */
export function networkInfo(rec: PgNetEvent): NetworkInfo {
  const family = rec.family;
  if (family === AF_UNIX) {
    const name = unixName(rec.path);
    const remote = rec.kind === PgKind.PG_KIND_NET_CONNECT || rec.kind === PgKind.PG_KIND_NET_SEND;
    return {
      family: 'unix',
      protocol: protocolName(family, rec.type, rec.protocol),
      local_address: remote ? '' : name,
      local_port: 0,
      remote_address: remote ? name : '',
      remote_port: 0,
    };
  }
  return {
    family: familyName(family),
    protocol: protocolName(family, rec.type, rec.protocol),
    local_address: formatAddress(family, rec.localAddr),
    local_port: rec.localPort,
    remote_address: formatAddress(family, rec.remoteAddr),
    remote_port: rec.remotePort,
  };
}
