// SPDX-License-Identifier: Apache-2.0
// XDP flood program cost per packet: BPF_PROG_TEST_RUN of handle_xdp_flood on
// crafted packets (repeat N in the kernel), one row per path, as a markdown table.
//
// Usage: node dist/bench/flood.js [--repeat N] [--rounds R] [--sources K]   (root)
// Prints the table on stdout; one JSON line per row on stderr.
import { parseArgs } from 'node:util';
import { BpfObject } from '../src/kernel/index.js';
import { denyKey, encodeFloodConfig, parseFloodConfig } from '../src/sensors/flood/config.js';
import { objectPath } from '../src/sensors/paths.js';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '5' },
    sources: { type: 'string', default: '20000' },
  },
});
const REPEAT = Number(values.repeat);
const ROUNDS = Number(values.rounds);
const SOURCES = Number(values.sources);

const XDP_DROP = 1;
const XDP_PASS = 2;

/** Ethernet + IPv4 + TCP (flags) or UDP, 64 bytes on the wire without FCS; `src` as a.b.c.d. */
function v4(src: string, proto: 'tcp' | 'udp', flags = 0x02, dport = 80): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(50, 16);
  b[22] = 64;
  b[23] = proto === 'tcp' ? 6 : 17;
  src.split('.').forEach((x, i) => {
    b[26 + i] = Number(x);
  });
  [10, 0, 0, 1].forEach((x, i) => {
    b[30 + i] = x;
  });
  b.writeUInt16BE(40000, 34);
  b.writeUInt16BE(dport, 36);
  if (proto === 'tcp') {
    b[46] = 5 << 4;
    b[47] = flags;
  } else {
    b.writeUInt16BE(30, 38);
  }
  return b;
}

/** Ethernet + IPv6 + UDP from fd00::<n>. */
function v6udp(n: number): Buffer {
  const b = Buffer.alloc(78);
  b.writeUInt16BE(0x86dd, 12);
  b[14] = 0x60;
  b.writeUInt16BE(16, 18);
  b[20] = 17;
  b[21] = 64;
  b[22] = 0xfd;
  b.writeUInt16BE(n, 36);
  b[38] = 0xfd;
  b[53] = 1;
  b.writeUInt16BE(40000, 54);
  b.writeUInt16BE(53, 56);
  return b;
}

function arp(): Buffer {
  const b = Buffer.alloc(60);
  b.writeUInt16BE(0x0806, 12);
  return b;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Row {
  path: string;
  what: string;
  verdict: string;
  ns: number;
  min: number;
  max: number;
}

const obj = BpfObject.open(objectPath('flood'));
try {
  obj.load();
  const cfg = parseFloodConfig({
    interfaces: ['lo'],
    windowMs: 1000,
    // Thresholds far above what one source sends here: the count path never alerts.
    thresholds: { packets: 4_000_000_000, syns: 4_000_000_000, udp: 4_000_000_000, ports: 1024 },
    dropSources: ['192.0.2.0/24'],
  });
  obj.map('pg_fl_config').update(Buffer.alloc(4), encodeFloodConfig(cfg));
  const deny = obj.map('pg_fl_deny');
  deny.update(denyKey('192.0.2.0/24'), Buffer.alloc(4));

  const rows: Row[] = [];
  const measure = (path: string, what: string, pkt: Buffer, want: number) => {
    const ns: number[] = [];
    let verdict = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const res = obj.testRun('handle_xdp_flood', pkt, REPEAT);
      verdict = res.retval;
      ns.push(res.durationNs);
    }
    if (verdict !== want) throw new Error(`${path}: verdict ${verdict}, expected ${want}`);
    const row = {
      path,
      what,
      verdict: verdict === XDP_DROP ? 'XDP_DROP' : 'XDP_PASS',
      ns: median(ns),
      min: Math.min(...ns),
      max: Math.max(...ns),
    };
    process.stderr.write(`${JSON.stringify(row)}\n`);
    rows.push(row);
  };

  // Baseline: the test-run loop around a program that only returns XDP_PASS (bpf/probes.bpf.c).
  const probes = BpfObject.open(objectPath('probes'));
  try {
    for (const p of probes.programs()) probes.setAutoload(p.name, p.name === 'probe_xdp');
    probes.load();
    const ns: number[] = [];
    for (let r = 0; r < ROUNDS; r++)
      ns.push(probes.testRun('probe_xdp', v4('10.1.1.1', 'tcp'), REPEAT).durationNs);
    const row = {
      path: 'baseline',
      what: 'an XDP program that only returns XDP_PASS (probe_xdp)',
      verdict: 'XDP_PASS',
      ns: median(ns),
      min: Math.min(...ns),
      max: Math.max(...ns),
    };
    process.stderr.write(`${JSON.stringify(row)}\n`);
    rows.push(row);
  } finally {
    probes.close();
  }
  measure('pass: not IP', 'ARP frame: parsed, passed, not counted', arp(), XDP_PASS);
  measure(
    'count: TCP ACK',
    'IPv4 TCP ACK from a tracked source: packets counted',
    v4('10.1.1.1', 'tcp', 0x10),
    XDP_PASS,
  );
  measure('count: TCP SYN', 'IPv4 SYN: packets, SYNs, port sketch', v4('10.1.1.2', 'tcp', 0x02), XDP_PASS);
  measure('count: UDP', 'IPv4 UDP: packets, datagrams, port sketch', v4('10.1.1.3', 'udp'), XDP_PASS);
  measure('count: IPv6 UDP', 'IPv6 UDP from fd00::1', v6udp(1), XDP_PASS);
  measure(
    'drop: listed source',
    'IPv4 SYN from 192.0.2.7 (listed /24): counted, dropped',
    v4('192.0.2.7', 'tcp'),
    XDP_DROP,
  );

  // A new source per packet (LRU insert): repeat 1 over many sources, the mean of the kernel's ns.
  const fresh: number[] = [];
  for (let i = 0; i < SOURCES; i++) {
    const src = `10.${100 + ((i >> 16) & 0x7f)}.${(i >> 8) & 0xff}.${i & 0xff}`;
    fresh.push(obj.testRun('handle_xdp_flood', v4(src, 'tcp'), 1).durationNs);
  }
  const freshRow = {
    path: 'count: new source',
    what: `first SYN of each of ${SOURCES} sources (LRU insert); repeat 1 per source`,
    verdict: 'XDP_PASS',
    ns: median(fresh),
    min: Math.min(...fresh),
    max: Math.max(...fresh),
  };
  process.stderr.write(`${JSON.stringify(freshRow)}\n`);
  rows.push(freshRow);

  console.log(`| path | packet | verdict | ns/packet (median of ${ROUNDS} × ${REPEAT}) | min | max |`);
  console.log('|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(`| ${r.path} | ${r.what} | ${r.verdict} | ${r.ns} | ${r.min} | ${r.max} |`);
} finally {
  obj.close();
}
