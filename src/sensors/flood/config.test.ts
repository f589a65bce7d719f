// SPDX-License-Identifier: Apache-2.0
// Flood settings: validation (every problem, with its field), defaults, and
// the kernel forms (config bytes, drop-list keys, the port sketch conversion).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { PG_FLOOD_CONFIG_OFFSET } from '../../generated/records.js';
import { packageRoot } from '../../kernel/native.js';
import {
  denyKey,
  encodeFloodConfig,
  estimatePorts,
  FloodConfigError,
  parseFloodConfig,
  portBits,
  sourceText,
} from './config.js';

describe('flood config', () => {
  test('defaults fill what is left out', () => {
    const c = parseFloodConfig({ interfaces: ['eth0'] });
    assert.deepEqual(c, {
      interfaces: ['eth0'],
      windowMs: 1000,
      thresholds: { packets: 20000, syns: 5000, udp: 10000, ports: 100 },
      dropSources: [],
      dropMode: 'drop',
      maxSources: 65536,
    });
  });

  test('every problem is listed with its field', () => {
    try {
      parseFloodConfig({
        interfaces: ['eth0', 'eth0', 'a/b'],
        windowMs: 5,
        thresholds: { syn: 10, ports: 5000, udp: -1 },
        dropSources: ['10.1.0.0/8', 'nope'],
        dropMode: 'block',
        extra: 1,
      });
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof FloodConfigError);
      assert.deepEqual(err.problems, [
        'extra: unknown field; allowed: interfaces, windowMs, thresholds, dropSources, dropMode, maxSources',
        'interfaces[1]: "eth0" listed twice',
        'interfaces[2]: "a/b" is not an interface name (1-15 characters)',
        'windowMs: 5 is out of range 10-3600000',
        'thresholds.syn: unknown field; allowed: packets, syns, udp, ports',
        'thresholds.ports: 5000 is out of range 0-1024',
        'thresholds.udp: -1 is out of range 0-4294967295',
        'dropSources[0]: "10.1.0.0/8": address has bits set after the /8 prefix; did you mean 10.0.0.0/8?',
        'dropSources[1]: "nope" is not an IPv4 or IPv6 address',
        'dropMode: must be drop or count, got "block"',
      ]);
    }
    assert.throws(() => parseFloodConfig({}), /interfaces: must be a non-empty list/);
    assert.throws(() => parseFloodConfig('eth0'), /must be a mapping/);
  });

  test('port sketch: thresholds in ports become bits, bits estimate ports', () => {
    assert.equal(portBits(0), 0);
    assert.equal(portBits(1), 1);
    assert.equal(portBits(100), 95);
    for (const n of [10, 50, 100, 500, 1024]) {
      const back = estimatePorts(portBits(n));
      assert.ok(Math.abs(back - n) <= Math.max(2, n * 0.01), `${n} → ${portBits(n)} → ${back}`);
    }
  });

  test('kernel forms: config bytes and drop-list keys (IPv4 as mapped IPv6)', () => {
    const c = parseFloodConfig({
      interfaces: ['eth0'],
      windowMs: 250,
      thresholds: { packets: 0, ports: 100 },
      dropMode: 'count',
    });
    const b = encodeFloodConfig(c);
    assert.equal(b.readBigUInt64LE(PG_FLOOD_CONFIG_OFFSET.window_ns), 250_000_000n);
    assert.equal(b.readUInt32LE(PG_FLOOD_CONFIG_OFFSET.packets), 0);
    assert.equal(b.readUInt32LE(PG_FLOOD_CONFIG_OFFSET.syns), 5000);
    assert.equal(b.readUInt32LE(PG_FLOOD_CONFIG_OFFSET.ports), 95);
    assert.equal(b.readUInt32LE(PG_FLOOD_CONFIG_OFFSET.drop), 0);
    assert.equal(denyKey('192.0.2.0/24').toString('hex'), `78000000${'00'.repeat(10)}ffffc0000200`);
    assert.equal(denyKey('2001:db8::/32').toString('hex'), `2000000020010db8${'00'.repeat(12)}`);
    assert.equal(sourceText(2, [10, 0, 0, 1, ...Array(12).fill(0)]), '10.0.0.1');
    assert.equal(sourceText(10, [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1]), '2001:db8::1');
  });

  test('the flood example in docs/network.md validates', () => {
    const md = readFileSync(join(packageRoot(), 'docs', 'network.md'), 'utf8');
    const blocks = [...md.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    const flood = blocks.filter((b) => !b.includes('apiVersion:'));
    assert.equal(flood.length, 1);
    const c = parseFloodConfig(parse(flood[0]));
    assert.deepEqual(c.dropSources, ['203.0.113.0/24', '2001:db8:bad::/48']);
  });
});
