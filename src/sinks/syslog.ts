// SPDX-License-Identifier: Apache-2.0
// The `syslog` output: RFC 5424 messages (severity from the alert's priority,
// kind and rule as structured data, the JSON line as the message) over UDP,
// TCP or a unix stream socket with octet-counting framing (RFC 6587), or TLS (RFC 5425).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Alert, PeregrineEvent } from '../events/types.js';
import { severityOf } from './filter.js';
import type { OutputContext, OutputRecord, OutputType, Transport } from './transport.js';

export interface SyslogOutputOptions {
  /** Default udp. */
  protocol?: 'udp' | 'tcp' | 'tls' | 'unix';
  /** Server host (udp, tcp, tls). Default 127.0.0.1. */
  host?: string;
  /** Default 514 (udp, tcp), 6514 (tls). */
  port?: number;
  /** Unix stream socket path (unix). */
  path?: string;
  /** PEM file of the CA that signed the server's certificate (tls). */
  caFile?: string;
  /** Facility name. Default local0. */
  facility?: keyof typeof FACILITIES;
  /** APP-NAME field. Default peregrine. */
  appName?: string;
  /** HOSTNAME field. Default the node name. */
  hostname?: string;
  /** Connecting or writing longer than this fails the batch (retried). Default 10000. */
  timeoutMs?: number;
}

const FACILITIES = {
  kern: 0,
  user: 1,
  daemon: 3,
  auth: 4,
  syslog: 5,
  authpriv: 10,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

export const syslogOutput: OutputType<SyslogOutputOptions> = {
  type: 'syslog',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      protocol: { enum: ['udp', 'tcp', 'tls', 'unix'] },
      host: { type: 'string', minLength: 1 },
      port: { type: 'integer', minimum: 1, maximum: 65535 },
      path: { type: 'string', minLength: 1 },
      caFile: { type: 'string', minLength: 1 },
      facility: { enum: Object.keys(FACILITIES) },
      appName: { type: 'string', pattern: '^[!-~]{1,48}$' },
      hostname: { type: 'string', pattern: '^[!-~]{1,255}$' },
      timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
    },
    // A unix socket needs its path; the others must not carry one.
    if: { properties: { protocol: { const: 'unix' } }, required: ['protocol'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable.
    then: { required: ['path'] },
    else: { not: { required: ['path'] } },
  },
  create: (options, ctx) => new SyslogTransport(options, ctx),
};

/** Structured-data ID: "name@<private enterprise number>" (32473 is the number RFC 5612 reserves for examples). */
const SD_ID = 'peregrine@32473';
/** Largest UDP payload over IPv4; longer messages are refused (counted), not cut. */
const MAX_UDP = 65507;

/** One RFC 5424 message for a record (no framing). */
export function formatSyslog(
  r: OutputRecord,
  o: { facility: number; hostname: string; appName: string },
): string {
  const alert = r.kind === 'alert' ? (r.value as Alert) : undefined;
  const ev = alert !== undefined ? alert.source_event : (r.value as PeregrineEvent);
  // Events carry no priority: informational (6).
  const severity = alert !== undefined ? severityOf(alert.priority) : 6;
  const pid = ev?.process?.pid;
  let sd = `[${SD_ID} kind="${sdEscape(r.kind)}"`;
  if (alert !== undefined) sd += ` rule="${sdEscape(alert.rule)}" priority="${alert.priority}"`;
  const policy = ev?.policy?.name;
  if (policy !== undefined) sd += ` policy="${sdEscape(policy)}"`;
  sd += ']';
  return (
    `<${o.facility * 8 + severity}>1 ${timestamp(r.value.time)} ${o.hostname} ${o.appName} ` +
    `${pid !== undefined ? pid : '-'} ${msgId(r.kind)} ${sd} ${r.line}`
  );
}

/** RFC 5424 allows at most 6 fractional digits; the events carry nanoseconds. */
function timestamp(t: string | undefined): string {
  if (typeof t !== 'string' || t === '') return new Date().toISOString();
  return t.replace(/(\.\d{6})\d+/, '$1');
}

function msgId(kind: string): string {
  return kind.replace(/[^!-~]/g, '_').slice(0, 32) || '-';
}

/** PARAM-VALUE escaping: '"', '\' and ']' take a backslash. */
function sdEscape(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

export class SyslogTransport implements Transport {
  readonly type = 'syslog';
  private readonly opts: SyslogOutputOptions;
  private readonly ctx: OutputContext;
  private readonly fmt: { facility: number; hostname: string; appName: string };
  private readonly timeoutMs: number;
  private stream: Socket | undefined;
  private udp: UdpSocket | undefined;

  constructor(opts: SyslogOutputOptions, ctx: OutputContext) {
    this.opts = opts;
    this.ctx = ctx;
    this.fmt = {
      facility: FACILITIES[opts.facility ?? 'local0'],
      hostname: (opts.hostname ?? ctx.node).replace(/[^!-~]/g, '_') || '-',
      appName: opts.appName ?? 'peregrine',
    };
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async send(batch: readonly OutputRecord[]): Promise<void> {
    const messages = batch.map((r) => formatSyslog(r, this.fmt));
    if ((this.opts.protocol ?? 'udp') === 'udp') return this.sendUdp(messages);
    // Octet counting: "<bytes> <message>", so messages may hold newlines and any length.
    let chunk = '';
    for (const m of messages) chunk += `${Buffer.byteLength(m)} ${m}`;
    const sock = this.stream ?? (await this.connect());
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        sock.destroy(new Error(`write: no progress within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      sock.write(chunk, (err) => {
        clearTimeout(timer);
        if (err) {
          this.dropStream(sock);
          reject(new Error(`syslog ${this.where()}: ${err.message}`));
        } else resolve();
      });
    });
  }

  private where(): string {
    const o = this.opts;
    return o.protocol === 'unix' ? (o.path as string) : `${o.host ?? '127.0.0.1'}:${this.port()}`;
  }

  private port(): number {
    return this.opts.port ?? (this.opts.protocol === 'tls' ? 6514 : 514);
  }

  private connect(): Promise<Socket> {
    const o = this.opts;
    return new Promise((resolve, reject) => {
      const host = o.host ?? '127.0.0.1';
      let sock: Socket;
      const ready = () => {
        sock.setTimeout(0);
        resolve(sock);
      };
      if (o.protocol === 'unix') sock = netConnect({ path: o.path as string }, ready);
      else if (o.protocol === 'tls')
        sock = tlsConnect(
          { host, port: this.port(), servername: host, ...(o.caFile ? { ca: readFileSync(o.caFile) } : {}) },
          ready,
        );
      else sock = netConnect({ host, port: this.port() }, ready);
      sock.setTimeout(this.timeoutMs, () =>
        sock.destroy(new Error(`connect: no answer within ${this.timeoutMs} ms`)),
      );
      sock.once('error', (err) => {
        this.dropStream(sock);
        reject(new Error(`syslog ${this.where()}: ${err.message}`));
      });
      // The server closing on us: the next send reconnects.
      sock.once('close', () => this.dropStream(sock));
      sock.on('data', () => {});
      this.stream = sock;
    });
  }

  private dropStream(sock: Socket): void {
    if (this.stream === sock) this.stream = undefined;
    sock.destroy();
  }

  private async sendUdp(messages: string[]): Promise<void> {
    if (this.udp === undefined) {
      const sock = createSocket(this.opts.host?.includes(':') ? 'udp6' : 'udp4');
      sock.on('error', () => {});
      sock.unref();
      this.udp = sock;
    }
    const udp = this.udp;
    let tooLarge = 0;
    for (const m of messages) {
      const buf = Buffer.from(m);
      if (buf.length > MAX_UDP) {
        tooLarge++;
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        udp.send(buf, this.port(), this.opts.host ?? '127.0.0.1', (err) =>
          err ? reject(new Error(`syslog ${this.where()}: ${err.message}`)) : resolve(),
        );
      });
    }
    if (tooLarge > 0)
      this.ctx.rejected(tooLarge, 'too_large', `syslog: ${tooLarge} messages longer than a UDP datagram`);
  }

  async close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    // end() flushes what the socket holds; a peer that never reads must not hold the close up.
    if (s !== undefined)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        s.end(() => {
          clearTimeout(t);
          resolve();
        });
      });
    s?.destroy();
    this.udp?.close();
    this.udp = undefined;
  }
}
