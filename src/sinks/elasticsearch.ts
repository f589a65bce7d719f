// SPDX-License-Identifier: Apache-2.0
// The Elasticsearch / OpenSearch output: one `_bulk` request per batch, each
// record an ECS document (src/sinks/ecs.ts) created in a data stream or a daily index.
import { createHash } from 'node:crypto';
import { toEcs } from './ecs.js';
import { basicAuth, excerpt, httpClient } from './http-post.js';
import type { OutputContext, OutputRecord, OutputType, Transport } from './transport.js';

// A type alias, not an interface: it is then assignable to the registry's OutputType<Record<string, unknown>>.
export type ElasticsearchOptions = {
  /** Base URL of the cluster, e.g. "https://es:9200". */
  url: string;
  /** Data stream or index name. Default "logs-peregrine-default" (matches the built-in logs-*-* data stream template). */
  index?: string;
  /** Append "-YYYY.MM.DD" (the record's UTC day) to `index`: daily indices instead of a data stream. Default false. */
  dateSuffix?: boolean;
  username?: string;
  password?: string;
  /** An API key as Elasticsearch returns it encoded (sent as "Authorization: ApiKey …"). */
  apiKey?: string;
  /** PEM file of the CA that signed the cluster's certificate. */
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
    // Elasticsearch's index name rules: lowercase, no \ / * ? " < > | space , #, not starting with - _ +.
    index: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[a-z0-9][a-z0-9._-]*$' },
    dateSuffix: { type: 'boolean' },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string' },
    apiKey: { type: 'string', minLength: 1 },
    caFile: { type: 'string', minLength: 1 },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    timeoutMs: { type: 'integer', minimum: 100, maximum: 600000 },
  },
  dependencies: { password: ['username'] },
  // One way to authenticate: an API key or a username, not both.
  not: { required: ['apiKey', 'username'], properties: { apiKey: {}, username: {} } },
};

/** What `_bulk?filter_path=…` leaves of each item. */
interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string };
}

/** Item statuses worth sending again (the cluster was busy or failing), as opposed to a document it refuses. */
function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Document ids derived from the line, so a batch sent again after a failure
 * (or after a partial failure of some items) creates nothing twice: `create`
 * of an existing id answers 409, which counts as delivered.
 */
function docId(line: string): string {
  return createHash('sha256').update(line).digest('base64url').slice(0, 27);
}

function indexFor(opts: ElasticsearchOptions, time: string): string {
  const base = opts.index ?? 'logs-peregrine-default';
  if (!opts.dateSuffix) return base;
  const day = /^(\d{4})-(\d{2})-(\d{2})/.exec(time);
  return day
    ? `${base}-${day[1]}.${day[2]}.${day[3]}`
    : `${base}-${new Date().toISOString().slice(0, 10).replaceAll('-', '.')}`;
}

class ElasticsearchTransport implements Transport {
  readonly type = 'elasticsearch';
  private readonly post: ReturnType<typeof httpClient>;
  private readonly bulkUrl: URL;

  constructor(
    private readonly opts: ElasticsearchOptions,
    private readonly ctx: OutputContext,
  ) {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.username !== undefined) headers.authorization = basicAuth(opts.username, opts.password ?? '');
    if (opts.apiKey !== undefined) headers.authorization = `ApiKey ${opts.apiKey}`;
    this.post = httpClient({ timeoutMs: opts.timeoutMs ?? 10000, caFile: opts.caFile, headers });
    // filter_path: the cluster answers only what is read here, not every item's _index/_id/_shards.
    this.bulkUrl = new URL(
      '_bulk?filter_path=errors,items.*.status,items.*.error',
      opts.url.endsWith('/') ? opts.url : `${opts.url}/`,
    );
  }

  async send(batch: readonly OutputRecord[]): Promise<void> {
    if (batch.length === 0) return;
    const parts: string[] = [];
    for (const r of batch) {
      const doc = toEcs(r.value);
      parts.push(
        JSON.stringify({ create: { _index: indexFor(this.opts, r.value.time), _id: docId(r.line) } }),
      );
      parts.push(JSON.stringify(doc));
    }
    parts.push('');
    const res = await this.post(this.bulkUrl, parts.join('\n'), 'application/x-ndjson');
    if (res.status < 200 || res.status > 299) {
      throw new Error(`elasticsearch: bulk request answered ${res.status}: ${excerpt(res.body)}`);
    }
    let body: { errors?: boolean; items?: Array<Record<string, BulkItem>> };
    try {
      body = JSON.parse(res.body);
    } catch {
      throw new Error(`elasticsearch: bulk response is not JSON: ${excerpt(res.body)}`);
    }
    if (!body.errors) return;
    const items = body.items ?? [];
    if (items.length !== batch.length) {
      throw new Error(`elasticsearch: bulk response has ${items.length} items for ${batch.length} documents`);
    }
    let again = 0;
    let refused = 0;
    let firstAgain = '';
    let firstRefused = '';
    for (const item of items) {
      const r = item.create ?? Object.values(item)[0];
      if (!r || (r.status >= 200 && r.status < 300) || r.status === 409) continue;
      const why = `${r.status} ${r.error?.type ?? ''}: ${r.error?.reason ?? ''}`;
      if (retryable(r.status)) {
        again++;
        firstAgain ||= why;
      } else {
        refused++;
        firstRefused ||= why;
      }
    }
    // Busy items fail the whole send: the framework sends the batch again, the
    // items already created answer 409, and refused ones are counted then, once.
    if (again > 0) {
      throw new Error(
        `elasticsearch: ${again} of ${batch.length} documents not accepted (${excerpt(firstAgain)})`,
      );
    }
    if (refused > 0) {
      this.ctx.rejected(
        refused,
        'rejected',
        `elasticsearch: ${refused} of ${batch.length} documents refused (${excerpt(firstRefused)})`,
      );
    }
  }

  async close(): Promise<void> {}
}

export const elasticsearchOutput: OutputType<ElasticsearchOptions> = {
  type: 'elasticsearch',
  schema,
  create: (options, ctx) => new ElasticsearchTransport(options, ctx),
};
