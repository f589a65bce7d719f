// SPDX-License-Identifier: Apache-2.0
// Unit tests of the network record decoding: address text, protocol names, unix names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPgNetEvent, PgKind } from '../../generated/records.js';
import { AF_INET, AF_INET6, AF_UNIX, formatAddress, networkInfo, protocolName, unixName } from './decode.js';

function v6(text: string): number[] {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t].map((g) =>
    Number.parseInt(g, 16),
  );
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

test('IPv4 addresses are dotted quads', () => {
  assert.equal(formatAddress(AF_INET, [127, 0, 0, 1, ...new Array(12).fill(0)]), '127.0.0.1');
});

test('IPv6 addresses are RFC 5952 text: longest zero run compressed, first on ties, single zero groups kept', () => {
  assert.equal(formatAddress(AF_INET6, v6('::1')), '::1');
  assert.equal(formatAddress(AF_INET6, v6('::')), '::');
  assert.equal(formatAddress(AF_INET6, v6('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  assert.equal(formatAddress(AF_INET6, v6('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1');
  assert.equal(formatAddress(AF_INET6, v6('fe80::abcd:ef01')), 'fe80::abcd:ef01');
  assert.equal(formatAddress(AF_INET6, v6('1:0:0:2:0:0:0:3')), '1:0:0:2::3');
});

test('IPv4-mapped IPv6 addresses are shown as the IPv4 address', () => {
  assert.equal(formatAddress(AF_INET6, [...new Array(10).fill(0), 0xff, 0xff, 10, 1, 2, 3]), '10.1.2.3');
});

test('protocol names follow the socket type for unix and raw sockets, the IP protocol otherwise', () => {
  assert.equal(protocolName(AF_INET, 1, 6), 'tcp');
  assert.equal(protocolName(AF_INET6, 2, 17), 'udp');
  assert.equal(protocolName(AF_INET, 3, 1), 'raw');
  assert.equal(protocolName(AF_INET, 2, 1), 'icmp');
  assert.equal(protocolName(AF_UNIX, 1, 0), 'stream');
  assert.equal(protocolName(AF_UNIX, 2, 0), 'dgram');
  assert.equal(protocolName(AF_INET, 1, 99), '99');
});

test('abstract unix names are shown with a leading @', () => {
  assert.equal(unixName('\0pg-abstract'), '@pg-abstract');
  assert.equal(unixName('/run/x.sock'), '/run/x.sock');
});

test('a unix connect names the peer as remote; a bind names the socket as local', () => {
  const rec = createPgNetEvent();
  rec.family = AF_UNIX;
  rec.type = 1;
  rec.path = '/run/docker.sock';
  rec.kind = PgKind.PG_KIND_NET_CONNECT;
  assert.equal(networkInfo(rec).remote_address, '/run/docker.sock');
  assert.equal(networkInfo(rec).local_address, '');
  rec.kind = PgKind.PG_KIND_NET_BIND;
  assert.equal(networkInfo(rec).local_address, '/run/docker.sock');
});
