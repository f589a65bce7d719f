// SPDX-License-Identifier: Apache-2.0
// The syslog output against a real rsyslogd (Debian's rsyslog) started here with its
// own config: RFC 5424 over UDP, over TCP and over a unix stream socket (octet
// counting), every header field and the structured data checked as rsyslog parsed them.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Alert, PeregrineEvent } from '../../src/events/types.js';
import { Output } from '../../src/sinks/output.js';
import { type SyslogOutputOptions, SyslogTransport } from '../../src/sinks/syslog.js';
import type { OutputRecord } from '../../src/sinks/transport.js';

const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p));
// TLS needs rsyslog's GnuTLS driver (Debian's rsyslog-gnutls) and openssl for a throwaway certificate.
const GTLS = [
  '/usr/lib/x86_64-linux-gnu/rsyslog',
  '/usr/lib/aarch64-linux-gnu/rsyslog',
  '/usr/lib/rsyslog',
].some((d) => existsSync(join(d, 'lmnsd_gtls.so')));
const dir = mkdtempSync(join(tmpdir(), 'pg-rsyslog-'));
const out = join(dir, 'out.log');
const sock = join(dir, 'syslog.sock');
let rsyslog: ChildProcess | undefined;
let tcpPort = 0;
let udpPort = 0;
let tlsPort = 0;
const cert = join(dir, 'cert.pem');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  if (RSYSLOGD === undefined) return;
  tcpPort = await freePort();
  udpPort = await freePort(); // a free TCP number is very likely free for UDP too
  let tls = '';
  if (GTLS) {
    tlsPort = await freePort();
    const key = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'].concat([
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ]),
      { stdio: 'ignore' },
    );
    tls = `global(DefaultNetstreamDriverCAFile="${cert}" DefaultNetstreamDriverCertFile="${cert}" DefaultNetstreamDriverKeyFile="${key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="${tlsPort}")
`;
  }
  // One line per message: the fields as rsyslog parsed them, separated by '|'.
  writeFileSync(
    join(dir, 'rsyslog.conf'),
    `global(workDirectory="${dir}")
module(load="imudp")
module(load="imptcp")
template(name="fields" type="string" string="%pri%|%syslogfacility%|%syslogseverity%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\\n")
input(type="imudp" address="127.0.0.1" port="${udpPort}")
input(type="imptcp" address="127.0.0.1" port="${tcpPort}")
input(type="imptcp" path="${sock}" unlink="on")
${tls}*.* action(type="omfile" file="${out}" template="fields")
`,
  );
  rsyslog = spawn(RSYSLOGD, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], {
    stdio: 'ignore',
  });
  await until(() => existsSync(sock), 'rsyslogd listening');
  await new Promise<void>((resolve, reject) => {
    const tryConnect = (left: number) => {
      const c = connect(tcpPort, '127.0.0.1', () => {
        c.destroy();
        resolve();
      });
      c.on('error', () =>
        left > 0 ? setTimeout(() => tryConnect(left - 1), 50) : reject(new Error('no tcp')),
      );
    };
    tryConnect(100);
  });
});

after(() => {
  rsyslog?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

const event = {
  time: '2026-12-04T19:00:01.123456789Z',
  node: 'node-a',
  kind: 'file.open',
  process: { pid: 4242 },
  policy: { name: 'secrets' },
} as unknown as PeregrineEvent;

function records(tag: string): OutputRecord[] {
  const ev = { ...event, file: { path: `/etc/${tag}` } } as PeregrineEvent;
  const alert: Alert = {
    time: '2026-12-04T19:00:02.5Z',
    node: 'node-a',
    kind: 'alert',
    rule: 'Read "sensitive" file [x]',
    priority: 'CRITICAL',
    tags: [],
    output: `read of /etc/${tag}`,
    source_event: ev,
  };
  return [
    { kind: ev.kind, line: JSON.stringify(ev), value: ev },
    { kind: 'alert', line: JSON.stringify(alert), value: alert },
  ];
}

function lines(tag: string): string[][] {
  if (!existsSync(out)) return [];
  return readFileSync(out, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`/etc/${tag}`))
    .map((l) => l.split('|'));
}

for (const protocol of ['udp', 'tcp', 'unix', 'tls'] as const) {
  const skip =
    RSYSLOGD === undefined
      ? 'rsyslogd not installed (bootstrap.sh --test installs it)'
      : protocol === 'tls' && !GTLS && 'rsyslog-gnutls not installed (bootstrap.sh --test installs it)';
  test(`RFC 5424 over ${protocol}: priority, timestamp, host, app, procid, msgid, structured data and the JSON line`, {
    skip,
  }, async () => {
    const opts: SyslogOutputOptions =
      protocol === 'unix'
        ? { protocol, path: sock, facility: 'authpriv' }
        : protocol === 'tls'
          ? { protocol, host: '127.0.0.1', port: tlsPort, caFile: cert, facility: 'authpriv' }
          : {
              protocol,
              host: '127.0.0.1',
              port: protocol === 'udp' ? udpPort : tcpPort,
              facility: 'authpriv',
            };
    const o = new Output(
      { name: 's', type: 'syslog', batch: { maxWaitMs: 1 } },
      new SyslogTransport(opts, { node: 'node-a', name: 's', rejected: () => {} }),
    );
    o.start();
    for (const r of records(protocol)) o.offer(r);
    await until(() => lines(protocol).length === 2, `rsyslog to write both ${protocol} messages`);
    await o.close(1000);
    assert.equal(o.stats().sent, 2);
    const [ev, al] = lines(protocol);
    // authpriv (10) * 8 + informational (6) = 86; + critical (2) = 82.
    assert.deepEqual(ev.slice(0, 8), [
      '86',
      '10',
      '6',
      '2026-12-04T19:00:01.123456Z',
      'node-a',
      'peregrine',
      '4242',
      'file.open',
    ]);
    assert.equal(ev[8], '[peregrine@32473 kind="file.open" policy="secrets"]');
    assert.equal(JSON.parse(ev.slice(9).join('|')).file.path, `/etc/${protocol}`);
    assert.deepEqual(al.slice(0, 8), [
      '82',
      '10',
      '2',
      '2026-12-04T19:00:02.5Z',
      'node-a',
      'peregrine',
      '4242',
      'alert',
    ]);
    assert.equal(
      al[8],
      '[peregrine@32473 kind="alert" rule="Read \\"sensitive\\" file [x\\]" priority="CRITICAL" policy="secrets"]',
    );
    assert.equal(JSON.parse(al.slice(9).join('|')).rule, 'Read "sensitive" file [x]');
  });
}
