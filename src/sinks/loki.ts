// SPDX-License-Identifier: Apache-2.0
// The Grafana Loki output: one push (/loki/api/v1/push, JSON) per batch, the
// JSON lines grouped into streams by a few low-cardinality labels.
import type { Alert, PeregrineEvent } from '../events/types.js';
import { basicAuth, excerpt, httpClient } from './http-post.js';
import { unixNanos } from './nanos.js';
import type { OutputContext, OutputRecord, OutputType, Transport } from './transport.js';

// A type alias, not an interface: it is then assignable to the registry's OutputType<Record<string, unknown>>.
export type LokiOptions = {
  /** Base URL of Loki, e.g. "http://loki:3100"; the push path is appended. */
  url: string;
  /** Tenant, sent as X-Scope-OrgID (multi-tenant Loki). */
  tenant?: string;
  username?: string;
  password?: string;
  /** PEM file of the CA that signed Loki's certificate. */
  caFile?: string;
  /** Extra HTTP headers. */
  headers?: Record<string, string>;
  /** Per-request timeout. Default 10000. */
  timeoutMs?: number;
};

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: { type: 'string', pattern: '^https?://[^\\s]+$' },
    tenant: { type: 'string', minLength: 1, maxLength: 150 },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string' },
    caFile: { type: 'string', minLength: 1 },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    timeoutMs: { type: 'integer', minimum: 100, maximum: 600000 },
  },
  dependencies: { password: ['username'] },
};

/**
 * A record's stream labels. Only values with few distinct values per node are
 * labels (node, kind, priority, container name, pod namespace): each label set
 * is a stream Loki indexes, so a pid, path or exec_id as a label would create
 * a stream per process. Those stay in the line, found with `| json`.
 */
export function lokiLabels(value: PeregrineEvent | Alert): Record<string, string> {
  const labels: Record<string, string> = { node: value.node, kind: value.kind };
  const event = value.kind === 'alert' ? value.source_event : value;
  if (value.kind === 'alert') labels.priority = value.priority;
  // Loki drops empty label values; leaving them out keeps host events in one stream.
  if (event.container?.name) labels.container = event.container.name;
  if (event.pod?.namespace) labels.namespace = event.pod.namespace;
  return labels;
}

/** The number Loki names in "total ignored: N out of M" (400 on too old / out of order), if it does. */
function ignoredCount(body: string): number | undefined {
  const m = /total ignored: (\d+) out of (\d+)/.exec(body);
  return m ? Number(m[1]) : undefined;
}

class LokiTransport implements Transport {
  readonly type = 'loki';
  private readonly post: ReturnType<typeof httpClient>;
  private readonly pushUrl: URL;

  constructor(
    opts: LokiOptions,
    private readonly ctx: OutputContext,
  ) {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.tenant !== undefined) headers['x-scope-orgid'] = opts.tenant;
    if (opts.username !== undefined) headers.authorization = basicAuth(opts.username, opts.password ?? '');
    this.post = httpClient({ timeoutMs: opts.timeoutMs ?? 10000, caFile: opts.caFile, headers });
    this.pushUrl = new URL('loki/api/v1/push', opts.url.endsWith('/') ? opts.url : `${opts.url}/`);
  }

  async send(batch: readonly OutputRecord[]): Promise<void> {
    if (batch.length === 0) return;
    const streams = new Map<string, { stream: Record<string, string>; values: Array<[string, string]> }>();
    for (const r of batch) {
      const labels = lokiLabels(r.value);
      const key = JSON.stringify(labels);
      let s = streams.get(key);
      if (!s) {
        s = { stream: labels, values: [] };
        streams.set(key, s);
      }
      s.values.push([`${unixNanos(r.value.time)}`, r.line]);
    }
    // Loki wants each stream's entries in time order; a batch is in arrival order, nearly the same.
    for (const s of streams.values()) {
      s.values.sort((a, b) => a[0].length - b[0].length || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    }
    const res = await this.post(
      this.pushUrl,
      JSON.stringify({ streams: [...streams.values()] }),
      'application/json',
    );
    if (res.status >= 200 && res.status < 300) return;
    // 400: Loki refused entries for good (too old, out of order, line too long, bad labels) and
    // kept the rest; sending them again would be refused again, so they are counted, not retried.
    if (res.status === 400) {
      const n = Math.min(ignoredCount(res.body) ?? batch.length, batch.length);
      this.ctx.rejected(n, 'rejected', `loki: ${n} of ${batch.length} entries refused: ${excerpt(res.body)}`);
      return;
    }
    throw new Error(`loki: push answered ${res.status}: ${excerpt(res.body)}`);
  }

  async close(): Promise<void> {}
}

export const lokiOutput: OutputType<LokiOptions> = {
  type: 'loki',
  schema,
  create: (options, ctx) => new LokiTransport(options, ctx),
};
