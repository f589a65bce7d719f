// SPDX-License-Identifier: Apache-2.0
// The HTTP API (fastify): status, event and alert stream (SSE), recent alerts,
// process search and detail, containers, policies, Prometheus metrics and the
// OpenAPI document — the contract the dashboard and scripts use (docs/api.md).
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AgentStats, AgentSubscriber, DegradedStatus, PolicyStatus } from '../agent.js';
import type { ContainerListing } from '../container/enrich.js';
import type { Alert, PeregrineEvent, Priority } from '../events/types.js';
import type { ProcessCache, ProcessEntry } from '../process/cache.js';
import { parseExecId } from '../process/identity.js';
import { PRIORITIES } from '../rules/ruleset.js';
import { AgentMetrics } from './metrics.js';
import { AlertRing, type ProcessEventBounds, type ProcessEventStats, ProcessEventStore } from './recent.js';

export const DEFAULT_API_LISTEN = '127.0.0.1:9440';
const PREFIX = '/api/v1';

/** Options of the HTTP API; the JSON Schema below is the config file's `api:` section. */
export interface ApiOptions {
  /** HOST:PORT ("[::1]:9440" for IPv6); port 0 picks a free one. Default 127.0.0.1:9440. */
  listen?: string;
  /** File holding the bearer token clients send; required when `listen` is not a loopback address. */
  tokenFile?: string;
  /** Serve HTTPS with this PEM certificate (chain) and key. */
  tls?: { cert: string; key: string };
  /** Prometheus metrics, at `path` and at /api/v1/metrics. Default enabled at /metrics. */
  metrics?: { enabled?: boolean; path?: string; processMetrics?: boolean; programRunTime?: boolean };
  /** SSE: heartbeat comment interval (default 15000 ms); bytes buffered per client before messages drop (default 1 MiB). */
  stream?: { heartbeatMs?: number; maxBufferedBytes?: number };
  /** Recent alerts kept for GET /alerts. Default 1000. */
  alerts?: { max?: number };
  /** Recent events kept per process for GET /processes/:exec_id. */
  processEvents?: Partial<ProcessEventBounds>;
  /** Start without the API (said in the start report) when `listen` cannot be bound, instead of failing. */
  bestEffort?: boolean;
}

/** JSON Schema of ApiOptions (ajv; unknown fields are errors). */
export const API_OPTIONS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\[\\]]+):[0-9]{1,5}$' },
    tokenFile: { type: 'string', minLength: 1 },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['cert', 'key'],
      properties: { cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        path: { type: 'string', pattern: '^/' },
        processMetrics: { type: 'boolean' },
        programRunTime: { type: 'boolean' },
      },
    },
    stream: {
      type: 'object',
      additionalProperties: false,
      properties: {
        heartbeatMs: { type: 'integer', minimum: 100, maximum: 3_600_000 },
        maxBufferedBytes: { type: 'integer', minimum: 4096, maximum: 1 << 30 },
      },
    },
    alerts: {
      type: 'object',
      additionalProperties: false,
      properties: { max: { type: 'integer', minimum: 1, maximum: 1_000_000 } },
    },
    processEvents: {
      type: 'object',
      additionalProperties: false,
      properties: {
        perProcess: { type: 'integer', minimum: 1, maximum: 100_000 },
        maxEvents: { type: 'integer', minimum: 1, maximum: 10_000_000 },
        maxBytes: { type: 'integer', minimum: 1024, maximum: 1 << 34 },
      },
    },
    bestEffort: { type: 'boolean' },
  },
} as const;

/** What the API needs from the agent (src/agent.ts implements it). */
export interface ApiAgent {
  readonly cache: ProcessCache;
  readonly parsesPolicies: boolean;
  stats(): AgentStats;
  policyStatus(): PolicyStatus[];
  listContainers(): ContainerListing[];
  subscribe(s: AgentSubscriber): () => void;
  applyPolicyText(
    text: string,
    file: string,
  ): { applied: string[]; not_in_force: DegradedStatus['policy_rules'] };
  setPolicyMode(name: string, mode: 'monitor' | 'enforce'): boolean;
  deletePolicy(name: string): boolean;
}

export interface ApiStats {
  url: string;
  /** Requests answered, by status class ("2xx", "4xx", ...). */
  requests: Record<string, number>;
  unauthorized: number;
  stream: { clients: number; sent: number; dropped: number };
  alerts: { stored: number; evicted: number; last_seq: number };
  process_events: ProcessEventStats;
}

interface SseClient {
  reply: FastifyReply;
  filter: StreamFilter;
  dropped: number;
}

interface StreamFilter {
  kind?: string[];
  priority?: Priority;
  container?: string;
  namespace?: string;
  pod?: string;
  policy?: string;
  alerts_only?: boolean;
}

/** Parses "HOST:PORT" / "[v6]:PORT". */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const port = m !== null ? Number(m[3]) : Number.NaN;
  if (m === null || port > 65535)
    throw new Error(`api: listen wants HOST:PORT, got ${JSON.stringify(listen)}`);
  return { host: m[1] ?? m[2], port };
}

/** Whether clients from other hosts cannot reach `host`. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

const severity = (p: Priority): number => PRIORITIES.indexOf(p);

export class HttpApi {
  private readonly app: FastifyInstance;
  private readonly opts: ApiOptions;
  private readonly tokenDigest: Buffer | undefined;
  private readonly host: string;
  private readonly port: number;
  private readonly metrics: AgentMetrics | undefined;
  private readonly alerts: AlertRing<Alert>;
  private readonly processEvents: ProcessEventStore;
  private readonly clients = new Set<SseClient>();
  private unsubscribe: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private url = '';
  private readonly counters = {
    requests: {} as Record<string, number>,
    unauthorized: 0,
    sent: 0,
    dropped: 0,
  };

  /** Validates the options (address, token, TLS files) and builds the routes; nothing listens yet. */
  constructor(
    private readonly agent: ApiAgent,
    opts: ApiOptions = {},
  ) {
    this.opts = opts;
    const { host, port } = parseListen(opts.listen ?? DEFAULT_API_LISTEN);
    this.host = host;
    this.port = port;
    if (opts.tokenFile !== undefined) {
      let token: string;
      try {
        token = readFileSync(opts.tokenFile, 'utf8').trim();
      } catch (err) {
        throw new Error(`api: read token file ${opts.tokenFile}: ${(err as Error).message}`);
      }
      if (token.length < 16) throw new Error(`api: token in ${opts.tokenFile} is under 16 characters`);
      this.tokenDigest = digest(token);
    } else if (!isLoopback(host)) {
      throw new Error(
        `api: listening on ${host} (not a loopback address) needs a bearer token: give --api-token-file FILE`,
      );
    }
    let https: { cert: Buffer; key: Buffer } | undefined;
    if (opts.tls !== undefined) {
      try {
        https = { cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) };
      } catch (err) {
        throw new Error(`api: read TLS certificate or key: ${(err as Error).message}`);
      }
    }
    this.alerts = new AlertRing(opts.alerts?.max ?? 1000);
    this.processEvents = new ProcessEventStore(opts.processEvents);
    if (opts.metrics?.enabled !== false)
      this.metrics = new AgentMetrics(agent, {
        processMetrics: opts.metrics?.processMetrics,
        programRunTime: opts.metrics?.programRunTime,
      });
    this.app = Fastify({
      ...(https !== undefined ? { https } : {}),
      logger: false,
      // Unknown query parameters and body fields are errors, not silently dropped.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
      bodyLimit: 1024 * 1024,
    } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  }

  /** Starts listening; resolves with the base URL ("http://127.0.0.1:9440"). */
  async listen(): Promise<string> {
    await this.register();
    try {
      await this.app.listen({ host: this.host, port: this.port });
    } catch (err) {
      throw new Error(`api: listen on ${this.opts.listen ?? DEFAULT_API_LISTEN}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const addr = this.app.server.address();
    const port = addr !== null && typeof addr === 'object' ? addr.port : this.port;
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.url = `${this.opts.tls !== undefined ? 'https' : 'http'}://${host}:${port}`;
    this.unsubscribe = this.agent.subscribe({
      event: (ev, _ctx, json) => this.onEvent(ev, json),
      alert: (alert, json) => this.onAlert(alert, json),
    });
    const every = this.opts.stream?.heartbeatMs ?? 15_000;
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) this.write(c, ': heartbeat\n\n', true);
    }, every);
    this.heartbeat.unref();
    return this.url;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    for (const c of this.clients) c.reply.raw.end();
    this.clients.clear();
    this.metrics?.close();
    await this.app.close();
  }

  stats(): ApiStats {
    return {
      url: this.url,
      requests: { ...this.counters.requests },
      unauthorized: this.counters.unauthorized,
      stream: { clients: this.clients.size, sent: this.counters.sent, dropped: this.counters.dropped },
      alerts: this.alerts.stats(),
      process_events: this.processEvents.stats(),
    };
  }

  /** The OpenAPI document (after listen()). */
  openapi(): Record<string, unknown> {
    return this.app.swagger() as unknown as Record<string, unknown>;
  }

  private onEvent(ev: PeregrineEvent, json: () => string): void {
    const line = json();
    this.processEvents.add(
      ev.process.exec_id,
      line,
      ev.kind === 'process.exit' && ev.exit !== undefined ? { time: ev.time, ...ev.exit } : undefined,
    );
    this.metrics?.observeEvent(ev);
    if (this.clients.size === 0) return;
    let message: string | undefined;
    for (const c of this.clients) {
      if (c.filter.alerts_only === true || !matchesEvent(c.filter, ev)) continue;
      message ??= `event: ${ev.kind}\ndata: ${line}\n\n`;
      this.write(c, message);
    }
  }

  private onAlert(alert: Alert, json: string): void {
    this.alerts.add(alert, json);
    this.metrics?.observeAlert(alert);
    let message: string | undefined;
    for (const c of this.clients) {
      if (!matchesAlert(c.filter, alert)) continue;
      message ??= `event: alert\ndata: ${json}\n\n`;
      this.write(c, message);
    }
  }

  // A client that does not read fast enough loses messages (counted, and told
  // once it catches up) instead of growing the agent's memory.
  private write(c: SseClient, message: string, heartbeat = false): void {
    const raw = c.reply.raw;
    if (raw.writableLength > (this.opts.stream?.maxBufferedBytes ?? 1024 * 1024)) {
      if (!heartbeat) {
        c.dropped++;
        this.counters.dropped++;
      }
      return;
    }
    if (c.dropped > 0) {
      raw.write(`event: dropped\ndata: {"dropped":${c.dropped}}\n\n`);
      c.dropped = 0;
    }
    raw.write(message);
    if (!heartbeat) this.counters.sent++;
  }

  private async register(): Promise<void> {
    const app = this.app;
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Peregrine agent API',
          version: '1',
          description: 'Events, alerts, processes, containers, policies and metrics of one Peregrine agent.',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: this.tokenDigest !== undefined ? [{ bearer: [] }] : [],
      },
    });
    app.addHook('onRequest', async (req, reply) => {
      if (this.tokenDigest === undefined) return;
      const header = req.headers.authorization ?? '';
      const given = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
      // Digests of equal length, compared in constant time: neither the token nor its length leaks.
      if (given !== '' && timingSafeEqual(digest(given), this.tokenDigest)) return;
      this.counters.unauthorized++;
      reply.header('www-authenticate', 'Bearer realm="peregrine"');
      return reply.code(401).send({ error: 'missing or wrong bearer token' });
    });
    app.addHook('onResponse', async (_req, reply) => {
      const k = `${Math.floor(reply.statusCode / 100)}xx`;
      this.counters.requests[k] = (this.counters.requests[k] ?? 0) + 1;
    });
    app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
      const code = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500;
      reply.code(code).send({ error: err.message });
    });
    app.setNotFoundHandler((req, reply) => {
      reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` });
    });

    const error = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] };
    const tags = (t: string) => [t];

    app.get(
      `${PREFIX}/status`,
      {
        schema: {
          summary: "The agent's counters (as `peregrine status --json` shows under `agent`)",
          tags: tags('status'),
          response: { 200: { type: 'object', additionalProperties: true } },
        },
      },
      async () => this.agent.stats(),
    );

    app.get(
      `${PREFIX}/stream`,
      {
        schema: {
          summary: 'Events and alerts as Server-Sent Events',
          description:
            'Each message has `event:` set to the event kind (e.g. process.exec) or `alert`, and `data:` one JSON object ' +
            '(docs/event.schema.json). A client that reads too slowly loses messages; it then receives an ' +
            '`event: dropped` message with the count. Comment lines (": heartbeat") keep idle connections open.',
          tags: tags('events'),
          querystring: streamQuery,
          response: { 200: { description: 'text/event-stream', type: 'string' } },
        },
      },
      (req, reply) => this.openStream(req as FastifyRequest<{ Querystring: StreamFilter }>, reply),
    );

    app.get(
      `${PREFIX}/alerts`,
      {
        schema: {
          summary: 'Recent alerts, newest first (a bounded ring)',
          tags: tags('events'),
          querystring: {
            ...alertQuery,
            properties: {
              ...alertQuery.properties,
              rule: { type: 'string', description: 'Only alerts of rules whose name contains this' },
              since: {
                type: 'string',
                format: 'date-time',
                description: 'Only alerts after this time (RFC 3339)',
              },
              since_seq: { type: 'integer', minimum: 0, description: 'Only alerts with a larger `seq`' },
              limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 },
            },
          },
          response: {
            200: {
              type: 'object',
              description: '{ alerts: [{ seq, alert }], stored, evicted, last_seq }',
            },
          },
        },
      },
      async (req, reply) => {
        const q = req.query as StreamFilter & {
          rule?: string;
          since?: string;
          since_seq?: number;
          limit: number;
        };
        const since = q.since !== undefined ? Date.parse(q.since) : undefined;
        const found = this.alerts.newest(
          (a) =>
            (q.rule === undefined || a.alert.rule.includes(q.rule)) &&
            (q.since_seq === undefined || a.seq > q.since_seq) &&
            (since === undefined || Date.parse(a.alert.time) > since) &&
            matchesAlert(q, a.alert),
          q.limit,
        );
        const s = this.alerts.stats();
        // The alerts as encoded once when they were emitted, not serialised again.
        reply.type('application/json');
        return `{"alerts":[${found.map((a) => `{"seq":${a.seq},"alert":${a.line}}`).join(',')}],"stored":${s.stored},"evicted":${s.evicted},"last_seq":${s.last_seq}}`;
      },
    );

    app.get(
      `${PREFIX}/processes`,
      {
        schema: {
          summary: 'Search the process cache, newest first, paged',
          tags: tags('processes'),
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              pid: { type: 'integer', minimum: 0 },
              binary: { type: 'string', description: 'Substring of the binary path' },
              exec_id: { type: 'string' },
              container: { type: 'string', description: 'Container name, id or id prefix (6+ characters)' },
              alive: { type: 'boolean' },
              limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
              offset: { type: 'integer', minimum: 0, default: 0 },
            },
          },
          response: {
            200: {
              type: 'object',
              properties: {
                total: { type: 'integer' },
                offset: { type: 'integer' },
                limit: { type: 'integer' },
                processes: { type: 'array', items: processSummarySchema },
              },
            },
          },
        },
      },
      async (req) => this.searchProcesses(req.query as ProcessQuery),
    );

    app.get(
      `${PREFIX}/processes/:exec_id`,
      {
        schema: {
          summary:
            'One process: its context, ancestry up to init, children, exit, container and recent events',
          tags: tags('processes'),
          params: {
            type: 'object',
            required: ['exec_id'],
            properties: { exec_id: { type: 'string', minLength: 1, maxLength: 512 } },
          },
          response: { 200: { type: 'object', description: 'See docs/api.md' }, 404: error },
        },
      },
      async (req, reply) => {
        const id = (req.params as { exec_id: string }).exec_id;
        const body = this.processDetail(id);
        if (body === undefined) return reply.code(404).send({ error: `no process ${id} in the cache` });
        reply.type('application/json');
        return body;
      },
    );

    app.get(
      `${PREFIX}/containers`,
      {
        schema: {
          summary: 'Containers seen, with pods and the selector policies covering them',
          tags: tags('containers'),
          response: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } } },
        },
      },
      async () => this.agent.listContainers(),
    );

    app.get(
      `${PREFIX}/policies`,
      {
        schema: {
          summary: 'Applied policies with per-rule attestation (what this kernel enforces) and counters',
          tags: tags('policies'),
          response: { 200: { type: 'array', items: policyStatusSchema } },
        },
      },
      async () => this.agent.policyStatus(),
    );

    // Policy files go to the project's loader as text: YAML or JSON, its line numbers intact.
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 4 * 1024 * 1024 }, (_req, body, done) =>
        done(null, body),
      );
      scope.post(
        `${PREFIX}/policies`,
        {
          schema: {
            summary: 'Apply a policy file (YAML or JSON, one or more documents): all or nothing',
            description:
              'Policies are added, or replace those of the same name. A file that does not validate changes ' +
              "nothing and returns 400 with the loader's message (file, line, field).",
            tags: tags('policies'),
            querystring: {
              type: 'object',
              additionalProperties: false,
              properties: {
                file: { type: 'string', maxLength: 256, description: 'Name used in error messages' },
              },
            },
            body: { type: 'string', minLength: 1, maxLength: 4 * 1024 * 1024 },
            response: {
              200: {
                type: 'object',
                properties: {
                  applied: { type: 'array', items: { type: 'string' } },
                  not_in_force: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        policy: { type: 'string' },
                        rule: { type: 'string' },
                        enforcement: { type: 'string' },
                      },
                    },
                  },
                },
              },
              400: error,
              501: error,
            },
          },
        },
        async (req, reply) => {
          if (!this.agent.parsesPolicies)
            return reply.code(501).send({ error: 'this agent cannot parse policy files' });
          try {
            return this.agent.applyPolicyText(
              req.body as string,
              (req.query as { file?: string }).file ?? 'request',
            );
          } catch (err) {
            return reply.code(400).send({ error: err instanceof Error ? err.message : String(err) });
          }
        },
      );
    });

    const nameParams = {
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string', minLength: 1, maxLength: 253 } },
    };
    app.patch(
      `${PREFIX}/policies/:name`,
      {
        schema: {
          summary: "Switch a policy's mode; takes effect in the kernel's maps at once (no reload)",
          tags: tags('policies'),
          params: nameParams,
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['mode'],
            properties: { mode: { type: 'string', enum: ['monitor', 'enforce'] } },
          },
          response: { 200: policyStatusSchema, 400: error, 404: error },
        },
      },
      async (req, reply) => {
        const { name } = req.params as { name: string };
        const { mode } = req.body as { mode: 'monitor' | 'enforce' };
        try {
          if (!this.agent.setPolicyMode(name, mode))
            return reply.code(404).send({ error: `no policy named ${name}` });
        } catch (err) {
          return reply.code(400).send({ error: err instanceof Error ? err.message : String(err) });
        }
        return this.agent.policyStatus().find((p) => p.name === name);
      },
    );

    app.delete(
      `${PREFIX}/policies/:name`,
      {
        schema: {
          summary: 'Remove a policy',
          tags: tags('policies'),
          params: nameParams,
          response: {
            200: { type: 'object', properties: { deleted: { type: 'string' } } },
            404: error,
          },
        },
      },
      async (req, reply) => {
        const { name } = req.params as { name: string };
        if (!this.agent.deletePolicy(name)) return reply.code(404).send({ error: `no policy named ${name}` });
        return { deleted: name };
      },
    );

    const metrics = this.metrics;
    if (metrics !== undefined) {
      const serve = async (_req: FastifyRequest, reply: FastifyReply) => {
        reply.type(metrics.contentType);
        return metrics.text();
      };
      const schema = {
        summary: 'Prometheus metrics (text exposition format; docs/metrics.md)',
        tags: tags('metrics'),
        response: { 200: { type: 'string' } },
      };
      app.get(`${PREFIX}/metrics`, { schema }, serve);
      const path = this.opts.metrics?.path ?? '/metrics';
      if (path !== `${PREFIX}/metrics`) app.get(path, { schema: { ...schema, hide: true } }, serve);
    }

    app.get(
      `${PREFIX}/openapi.json`,
      { schema: { summary: 'This OpenAPI document', tags: tags('status') } },
      async () => app.swagger(),
    );
  }

  private openStream(req: FastifyRequest<{ Querystring: StreamFilter }>, reply: FastifyReply): void {
    const client: SseClient = { reply, filter: req.query, dropped: 0 };
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // The first bytes tell the client the stream is open before any event.
    raw.write(': peregrine event stream\n\n');
    this.clients.add(client);
    const done = () => this.clients.delete(client);
    req.raw.on('close', done);
    raw.on('close', done);
    raw.on('error', done);
  }

  private searchProcesses(q: ProcessQuery): {
    total: number;
    offset: number;
    limit: number;
    processes: ProcessSummary[];
  } {
    const cache = this.agent.cache;
    const containers = this.containersByCgroup();
    let wanted: ProcessEntry[];
    if (q.exec_id !== undefined) {
      const e = this.byExecId(q.exec_id);
      wanted = e !== undefined ? [e] : [];
    } else wanted = [...cache.entries()];
    const matched = wanted.filter((e) => {
      if (q.pid !== undefined && e.pid !== q.pid) return false;
      if (q.alive !== undefined && (e.exitedAt === 0) !== q.alive) return false;
      if (q.binary !== undefined && !e.info.binary.includes(q.binary)) return false;
      if (q.container !== undefined) {
        const c = containers.get(e.info.cgroup.id)?.container;
        if (c === undefined || !nameOrId(q.container, c)) return false;
      }
      return true;
    });
    matched.sort((a, b) => b.ktime - a.ktime);
    return {
      total: matched.length,
      offset: q.offset,
      limit: q.limit,
      processes: matched.slice(q.offset, q.offset + q.limit).map((e) => summary(e, containers)),
    };
  }

  private containersByCgroup(): Map<number, ContainerListing> {
    const m = new Map<number, ContainerListing>();
    for (const c of this.agent.listContainers()) m.set(c.cgroup_id, c);
    return m;
  }

  private byExecId(id: string): ProcessEntry | undefined {
    const parsed = parseExecId(id);
    if (parsed === undefined || !Number.isSafeInteger(parsed.pid) || !Number.isSafeInteger(parsed.ktime))
      return undefined;
    const e = this.agent.cache.get(parsed.pid, parsed.ktime);
    return e !== undefined && e.info.exec_id === id ? e : undefined;
  }

  private processDetail(id: string): string | undefined {
    const entry = this.byExecId(id);
    const stored = this.processEvents.get(id);
    if (entry === undefined && stored.events.length === 0) return undefined;
    const containers = this.containersByCgroup();
    const ancestry: ProcessSummary[] = [];
    const children: ProcessSummary[] = [];
    let container: ContainerListing | undefined;
    let complete = false;
    if (entry !== undefined) {
      // Parent first, up to init (or the first identity the cache no longer knows).
      const seen = new Set<ProcessEntry>([entry]);
      let top = entry;
      for (let p = this.agent.cache.parentOf(entry); p !== undefined && !seen.has(p) && seen.size < 256; ) {
        seen.add(p);
        ancestry.push(summary(p, containers));
        top = p;
        p = this.agent.cache.parentOf(p);
      }
      complete = top.parentKtime === 0;
      for (const e of this.agent.cache.entries())
        if (e.parentPid === entry.pid && e.parentKtime === entry.ktime) children.push(summary(e, containers));
      children.sort((a, b) => (a.start_time < b.start_time ? -1 : 1));
      container = containers.get(entry.info.cgroup.id);
    }
    const head = {
      process: entry?.info ?? null,
      alive: entry !== undefined ? entry.exitedAt === 0 && stored.exit === undefined : false,
      exit: stored.exit ?? null,
      container: container?.container ?? null,
      pod: container?.pod ?? null,
      ancestry,
      // False when the chain stops at a parent the cache no longer (or never) knew.
      ancestry_complete: complete,
      children,
    };
    // Stored events are JSON already: spliced in, not parsed and serialised again.
    return `${JSON.stringify(head).slice(0, -1)},"events":[${stored.events.join(',')}]}`;
  }
}

interface ProcessQuery {
  pid?: number;
  binary?: string;
  exec_id?: string;
  container?: string;
  alive?: boolean;
  limit: number;
  offset: number;
}

interface ProcessSummary {
  exec_id: string;
  pid: number;
  ppid: number;
  binary: string;
  args: string[];
  start_time: string;
  parent_exec_id: string;
  alive: boolean;
  events: number;
  cgroup_id: number;
  container?: { id: string; name: string };
  pod?: { namespace: string; name: string };
}

function summary(e: ProcessEntry, containers: Map<number, ContainerListing> | undefined): ProcessSummary {
  const i = e.info;
  const s: ProcessSummary = {
    exec_id: i.exec_id,
    pid: i.pid,
    ppid: i.ppid,
    binary: i.binary,
    args: i.args,
    start_time: i.start_time,
    parent_exec_id: i.parent_exec_id,
    alive: e.exitedAt === 0,
    events: e.events,
    cgroup_id: i.cgroup.id,
  };
  const c = containers?.get(i.cgroup.id);
  if (c !== undefined) {
    s.container = { id: c.container.id, name: c.container.name };
    if (c.pod !== undefined) s.pod = { namespace: c.pod.namespace, name: c.pod.name };
  }
  return s;
}

function nameOrId(want: string, c: { id: string; name: string }): boolean {
  return c.name === want || c.id === want || (want.length >= 6 && c.id.startsWith(want));
}

function matchesCommon(f: StreamFilter, ev: PeregrineEvent): boolean {
  if (
    f.kind !== undefined &&
    f.kind.length > 0 &&
    !f.kind.some((k) => ev.kind === k || ev.kind.startsWith(k))
  )
    return false;
  if (f.container !== undefined && (ev.container === undefined || !nameOrId(f.container, ev.container)))
    return false;
  if (f.namespace !== undefined && ev.pod?.namespace !== f.namespace) return false;
  if (f.pod !== undefined && ev.pod?.name !== f.pod) return false;
  if (f.policy !== undefined && ev.policy?.name !== f.policy && ev.policy?.names?.includes(f.policy) !== true)
    return false;
  return true;
}

function matchesEvent(f: StreamFilter, ev: PeregrineEvent): boolean {
  // A minimum priority asks for alerts: events have none.
  return f.priority === undefined && matchesCommon(f, ev);
}

function matchesAlert(f: StreamFilter, a: Alert): boolean {
  if (f.priority !== undefined && severity(a.priority) > severity(f.priority)) return false;
  return matchesCommon(f, a.source_event);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

const alertQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kind: {
      type: 'array',
      items: { type: 'string', maxLength: 64 },
      description:
        'Event kind prefix (repeatable): "file" matches file.open, file.unlink, …; for alerts, their source event',
    },
    priority: {
      type: 'string',
      enum: [...PRIORITIES],
      description: 'Alerts of this priority or more severe (events have none: given, only alerts pass)',
    },
    container: { type: 'string', description: 'Container name, id or id prefix (6+ characters)' },
    namespace: { type: 'string', description: 'Kubernetes namespace of the pod' },
    pod: { type: 'string', description: 'Pod name' },
    policy: { type: 'string', description: 'Only events a policy of this name selected' },
  },
} as const;

const streamQuery = {
  ...alertQuery,
  properties: {
    ...alertQuery.properties,
    alerts_only: { type: 'boolean', description: 'Alerts only, no events' },
  },
};

const processSummarySchema = {
  type: 'object',
  properties: {
    exec_id: { type: 'string' },
    pid: { type: 'integer' },
    ppid: { type: 'integer' },
    binary: { type: 'string' },
    args: { type: 'array', items: { type: 'string' } },
    start_time: { type: 'string' },
    parent_exec_id: { type: 'string' },
    alive: { type: 'boolean' },
    events: { type: 'integer' },
    cgroup_id: { type: 'integer' },
    container: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
    pod: { type: 'object', properties: { namespace: { type: 'string' }, name: { type: 'string' } } },
  },
} as const;

const policyStatusSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    mode: { type: 'string', enum: ['monitor', 'enforce'] },
    kinds: { type: 'array', items: { type: 'string' } },
    enforcement: { type: 'string' },
    source: { type: 'string' },
    matches: { type: 'integer' },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          kinds: { type: 'array', items: { type: 'string' } },
          action: { type: 'string' },
          user_check: { type: 'boolean' },
          enforcement: {
            type: 'string',
            description: 'Attestation: enforced (backend), monitor, degraded, unsupported, audit',
          },
          actions: { type: 'object', properties: { taken: { type: 'integer' }, would: { type: 'integer' } } },
        },
      },
    },
  },
} as const;
